"""Encrypt and decrypt everything secret that goes to storage.

Sealed value layout: ``version (1 byte, 0x01) || nonce (12) || AES-256-GCM ciphertext+tag``.
The associated data is ``b"trent-barrier\\x00" + purpose + b"\\x00" + owner`` so a sealed value
only opens for the owner (and purpose) it was sealed for.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"
_NONCE_BYTES = 12


class BarrierError(Exception):
    """A sealed value did not open: wrong root key, wrong owner, or tampered bytes."""


def derive_subkey(root_key: bytes, purpose: bytes) -> bytes:
    """A 256-bit key for one purpose, derived from the root key with HKDF-SHA256."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(root_key)


class Barrier:
    def __init__(self, root_key: bytes) -> None:
        self._aead = AESGCM(derive_subkey(root_key, b"trent barrier v1"))

    @staticmethod
    def _aad(purpose: str, owner: str) -> bytes:
        return b"trent-barrier\x00" + purpose.encode() + b"\x00" + owner.encode()

    def seal(self, purpose: str, owner: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, self._aad(purpose, owner))

    def open(self, purpose: str, owner: str, sealed: bytes) -> bytes:
        if len(sealed) < 1 + _NONCE_BYTES + 16 or sealed[:1] != _VERSION:
            raise BarrierError("sealed value has an unknown format")
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, self._aad(purpose, owner))
        except InvalidTag as exc:
            raise BarrierError("sealed value failed to open") from exc
