"""The canonical, unambiguous byte form of an encryption context, bound to ciphertext as AAD.

``count (4 bytes BE) || for each pair sorted by key bytes: len(key) (4) || key || len(value) (4)
|| value`` with keys and values UTF-8 encoded. Length prefixes make two different contexts
always give different bytes (``{"a": "bc"}`` vs ``{"ab": "c"}``).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

_U32 = struct.Struct(">I")


def canonical(context: Mapping[str, str] | None) -> bytes:
    if not context:
        return _U32.pack(0)
    pairs = sorted((k.encode(), v.encode()) for k, v in context.items())
    out = [_U32.pack(len(pairs))]
    for key, value in pairs:
        out += [_U32.pack(len(key)), key, _U32.pack(len(value)), value]
    return b"".join(out)
