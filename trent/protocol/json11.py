"""AWS JSON 1.1 bodies: blobs travel as base64, timestamps as epoch seconds."""

from __future__ import annotations

import base64
from typing import Any

import orjson

CONTENT_TYPE = b"application/x-amz-json-1.1"


def _default(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body, default=_default)


def error_body(type_name: str, message: str | None) -> bytes:
    """``{"__type", "message"}``; ``{"__type"}`` alone when ``message`` is None (as AWS sends
    e.g. ``InvalidCiphertextException``, so SDKs show an empty message)."""
    if message is None:
        return orjson.dumps({"__type": type_name})
    return orjson.dumps({"__type": type_name, "message": message})
