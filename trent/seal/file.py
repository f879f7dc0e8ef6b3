"""The file seal: 32 random bytes in a file readable by its owner only wrap the root keyring.

Wrapped layout: ``nonce (12) || AES-256-GCM ciphertext+tag`` under
``HKDF-SHA256(file key, info="trent keyring wrap v1")`` with associated data
``b"trent root keyring\\x00" + context`` (``context`` names the version being wrapped).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trent.seal.barrier import derive_subkey
from trent.seal.errors import SealError

ROOT_KEY_BYTES = 32
WRAP_INFO = b"trent keyring wrap v1"
WRAP_AAD = b"trent root keyring\x00"
_NONCE_BYTES = 12


class Seal(Protocol):
    """What guards the root keyring: wraps and unwraps 32-byte root keys.

    ``kind`` is recorded with the data (``"file"`` or ``"pkcs11"``); ``describe()`` names the
    key for error messages (never any key bytes)."""

    kind: str

    def describe(self) -> str: ...
    def wrap(self, key: bytes, context: bytes) -> bytes: ...
    def unwrap(self, wrapped: bytes, context: bytes) -> bytes: ...
    def close(self) -> None: ...


class FileSeal:
    kind = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._aead: AESGCM | None = None

    def describe(self) -> str:
        return f"root key file {self.path}"

    def create_if_missing(self) -> bool:
        """Write a fresh root key (mode 0600) unless one exists; True when it created one."""
        if self.path.exists():
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, os.urandom(ROOT_KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def root_key(self) -> bytes:
        """The file's 32 bytes; ``SealError`` (one line) when missing or malformed."""
        try:
            key = self.path.read_bytes()
        except FileNotFoundError as exc:
            raise SealError(f"root key file {self.path} is missing") from exc
        except OSError as exc:
            raise SealError(f"root key file {self.path} cannot be read: {exc.strerror}") from exc
        if len(key) != ROOT_KEY_BYTES:
            raise SealError(f"root key file {self.path} must hold exactly {ROOT_KEY_BYTES} bytes")
        return key

    def _cipher(self) -> AESGCM:
        if self._aead is None:
            self._aead = AESGCM(derive_subkey(self.root_key(), WRAP_INFO))
        return self._aead

    def wrap(self, key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._cipher().encrypt(nonce, key, WRAP_AAD + context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        nonce, body = wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:]
        try:
            return self._cipher().decrypt(nonce, body, WRAP_AAD + context)
        except (InvalidTag, ValueError) as exc:
            raise SealError(f"{self.describe()} does not open the root keyring") from exc

    def close(self) -> None:
        self._aead = None
