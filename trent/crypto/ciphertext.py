"""Trent's symmetric ciphertext blob, version 1.

```
offset  size  field
0       1     version, 0x01
1       16    key id (the UUID's 16 bytes)
17      32    key material id (SHA-256 output, see material.py)
49      12    AES-GCM nonce, random per call
61      n+16  AES-256-GCM ciphertext and tag
```
The 61-byte header followed by the canonical encryption context is the associated data, so a
flipped bit anywhere, a truncation, another key or another context fails to decrypt.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 1
_VERSION_BYTE = bytes([VERSION])
HEADER_BYTES = 61
TAG_BYTES = 16
NONCE_BYTES = 12


class CiphertextError(Exception):
    """The blob is malformed, tampered with, or was made under another key or context."""


@dataclass(frozen=True, slots=True)
class BlobHeader:
    key_id: str
    material_id: str  # 64 hex characters


def parse_header(blob: bytes) -> BlobHeader:
    if len(blob) < HEADER_BYTES + TAG_BYTES or blob[0] != VERSION:
        raise CiphertextError("not a Trent ciphertext blob")
    return BlobHeader(str(uuid.UUID(bytes=blob[1:17])), blob[17:49].hex())


def header_prefix(key_id: str, material_id: str) -> bytes:
    """The first 49 header bytes, fixed for one key material (compute once, reuse)."""
    return _VERSION_BYTE + uuid.UUID(key_id).bytes + bytes.fromhex(material_id)


def encrypt(aead: AESGCM, prefix: bytes, plaintext: bytes, context: bytes) -> bytes:
    """Encrypt under one key material; ``prefix`` is that material's ``header_prefix``."""
    nonce = os.urandom(NONCE_BYTES)
    header = prefix + nonce
    return header + aead.encrypt(nonce, plaintext, header + context)


def decrypt(aead: AESGCM, blob: bytes, context: bytes) -> bytes:
    header = blob[:HEADER_BYTES]
    try:
        return aead.decrypt(header[49:], blob[HEADER_BYTES:], header + context)
    except InvalidTag as exc:
        raise CiphertextError("ciphertext failed to authenticate") from exc
