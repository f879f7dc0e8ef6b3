"""Encrypt and decrypt everything secret that goes to storage, under a keyring of root keys.

Sealed value layouts (AES-256-GCM under ``HKDF-SHA256(root key of that version,
info="trent barrier v1")``):

- ``0x02 || version (4 bytes, big-endian) || nonce (12) || ciphertext+tag``: what ``seal`` writes,
  under the keyring's newest version;
- ``0x01 || nonce (12) || ciphertext+tag``: written before the keyring existed; opens under
  version 1 (for such data version 1 is the old root key file's key).

The associated data is ``b"trent-barrier\\x00" + purpose + b"\\x00" + owner`` so a sealed value
only opens for the owner (and purpose) it was sealed for. Older versions keep opening what they
sealed (Vault's barrier keyring); ``trent admin reseal`` moves values to the newest one.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LEGACY_FORMAT = 0x01
FORMAT = 0x02
_NONCE_BYTES = 12
_TAG_BYTES = 16
_VERSION = struct.Struct(">I")
_HEADER_BYTES = 1 + _VERSION.size


class BarrierError(Exception):
    """A sealed value did not open: wrong root key, wrong owner, or tampered bytes."""


def derive_subkey(root_key: bytes, purpose: bytes) -> bytes:
    """A 256-bit key for one purpose, derived from the root key with HKDF-SHA256."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(root_key)


def version_prefix(version: int) -> bytes:
    """The first bytes of every value sealed under ``version`` (``0x02 || version``)."""
    return bytes([FORMAT]) + _VERSION.pack(version)


def sealed_version(sealed: bytes) -> int | None:
    """The keyring version a sealed value needs, or None for an unknown format."""
    if sealed[:1] == bytes([LEGACY_FORMAT]):
        return 1
    if sealed[:1] == bytes([FORMAT]) and len(sealed) >= _HEADER_BYTES:
        return int(_VERSION.unpack(sealed[1:_HEADER_BYTES])[0])
    return None


@dataclass(frozen=True)
class KeyringView:
    """The root keys by version (32 bytes each) and the newest version, which seals."""

    keys: Mapping[int, bytes]
    newest: int


class Barrier:
    """Seal and open values under a keyring of root keys.

    ``Barrier(root_key)`` is a keyring of one version (1). ``refresh``, when given, returns the
    current keyring whenever the stored one may have changed (``trent admin rotate-root-key`` in
    another process): ``seal`` asks it before sealing (``force=False``: only if the store
    changed) and ``open`` when a value needs a version it does not know (``force=True``). It
    returns None when nothing changed."""

    def __init__(
        self,
        keyring: bytes | KeyringView,
        refresh: Callable[[bool], KeyringView | None] | None = None,
    ) -> None:
        view = keyring if isinstance(keyring, KeyringView) else KeyringView({1: keyring}, 1)
        self._refresh = refresh
        self._use(view)

    def _use(self, view: KeyringView) -> None:
        if view.newest not in view.keys:
            raise ValueError("the newest root key version is missing from the keyring")
        self._aeads = {
            version: AESGCM(derive_subkey(key, b"trent barrier v1"))
            for version, key in view.keys.items()
        }
        self.newest = view.newest

    def _maybe_refresh(self, force: bool = False) -> None:
        if self._refresh is not None:
            view = self._refresh(force)
            if view is not None:
                self._use(view)

    @staticmethod
    def _aad(purpose: str, owner: str) -> bytes:
        return b"trent-barrier\x00" + purpose.encode() + b"\x00" + owner.encode()

    def seal(self, purpose: str, owner: str, plaintext: bytes) -> bytes:
        """``0x02 || newest version || nonce || AES-256-GCM(plaintext)``."""
        self._maybe_refresh()
        nonce = os.urandom(_NONCE_BYTES)
        aead = self._aeads[self.newest]
        body = aead.encrypt(nonce, plaintext, self._aad(purpose, owner))
        return version_prefix(self.newest) + nonce + body

    def open(self, purpose: str, owner: str, sealed: bytes) -> bytes:
        """The plaintext; ``BarrierError`` for another owner or purpose, another root key, an
        unknown version or format, or any altered byte."""
        version = sealed_version(sealed)
        if version is None:
            raise BarrierError("sealed value has an unknown format")
        header = 1 if sealed[0] == LEGACY_FORMAT else _HEADER_BYTES
        if len(sealed) < header + _NONCE_BYTES + _TAG_BYTES:
            raise BarrierError("sealed value is truncated")
        if version not in self._aeads:
            self._maybe_refresh(force=True)
        aead = self._aeads.get(version)
        if aead is None:
            raise BarrierError(f"sealed value needs root key version {version}, not in the keyring")
        nonce, body = sealed[header : header + _NONCE_BYTES], sealed[header + _NONCE_BYTES :]
        try:
            return aead.decrypt(nonce, body, self._aad(purpose, owner))
        except InvalidTag as exc:
            raise BarrierError("sealed value failed to open") from exc
