"""Keyset paging shared by the List* operations: a page costs O(page), never O(all)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from trent.errors import catalogue as errors

T = TypeVar("T")
DEFAULT_LIMIT = 100
_MARKER_PREFIX = "trent-page:"  # markers are opaque to callers; made-up ones are refused


def decode_marker(request: dict[str, Any]) -> str | None:
    marker = request.get("Marker")
    if marker is None:
        return None
    try:
        text = base64.urlsafe_b64decode(marker.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise errors.INVALID_MARKER() from exc
    if not text.startswith(_MARKER_PREFIX):
        raise errors.INVALID_MARKER()
    return text[len(_MARKER_PREFIX) :]


def page(
    request: dict[str, Any],
    fetch: Callable[[str | None, int], Sequence[T]],
    position: Callable[[T], str],
    default_limit: int = DEFAULT_LIMIT,
) -> tuple[Sequence[T], dict[str, Any]]:
    """Fetch one page; return its items and the ``Truncated``/``NextMarker`` members."""
    limit = request.get("Limit") or default_limit
    items = fetch(decode_marker(request), limit + 1)
    if len(items) > limit:
        items = items[:limit]
        text = _MARKER_PREFIX + position(items[-1])
        marker = base64.urlsafe_b64encode(text.encode()).decode()
        return items, {"Truncated": True, "NextMarker": marker}
    return items, {"Truncated": False}
