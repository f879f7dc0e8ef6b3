"""Trent's symmetric ciphertext blob: version 2 is written, versions 1 and 2 are read.

Version 2 (every blob Trent writes)::

    offset  size  field
    0       1     version, 0x02
    1       16    key id (the UUID's 16 bytes)
    17      32    key material id (SHA-256 output, see material.py)
    49      32    request nonce, 256 random bits per call
    81      n+16  AES-256-GCM ciphertext and tag, under the derived key, IV = 12 zero bytes

The derived key is ``KDF(material, LABEL, header)``: NIST SP 800-108r1 counter mode with
HMAC-SHA256 (``derivation.derive_key``), keyed with the key material, ``LABEL`` naming the
purpose and the whole 81-byte header as the context, so the derived key is bound to the format
version, the key id, the material id and the request nonce. A fresh request nonce gives a fresh
key for every encryption, so the key material itself never meets AES-GCM and GCM's per-key
limits (NIST SP 800-38D: at most 2^32 messages under one key with random 96-bit IVs) apply to
keys that are used once. The material only keys HMAC-SHA256 as a PRF; what bounds its use is a
repeated request nonce, with probability about q^2 / 2^257 after q encryptions (2^-157 after
2^50), which is how one key material safely serves far more than 2^50 requests. This is what
AWS KMS does (seed 002, "The curious case of faster AWS KMS symmetric key rotation"; AWS KMS
Cryptographic Details, "Encrypt": a random nonce N, a derived AES-256-GCM key K from the
material and N).

Why the IV is fixed (zero): SP 800-38D requires that no (key, IV) pair repeat, and each derived
key encrypts exactly one message, so any fixed IV meets it. A random IV would cost 12 bytes and
a second read of the RNG and would add nothing: a derived key repeats only when the request
nonce repeats, and an RNG that repeats a 256-bit nonce would repeat an IV drawn from it too.
The one thing a fixed IV allows is a batch key search across many messages of a known
plaintext (each derived key's first keystream block is AES_K(0^96 || 2)); against 256-bit keys
and 2^64 messages that still leaves about 2^192 work.

The associated data is the header (81 bytes) followed by the canonical encryption context, as
in version 1: a flipped bit anywhere, a truncation, another key, another material or another
context fails to decrypt (the header also changes the derived key).

Version 3 is version 2 for a multi-Region key (issue 15): the same layout and derivation, the
16 key id bytes being the 32 hex digits of its ``mrk-`` id. So a blob names the key by the id
its related keys share, and a replica in any region decrypts what another one encrypted.

Version 1 (written before version 2; still read)::

    offset  size  field
    0       1     version, 0x01
    1       16    key id
    17      32    key material id
    49      12    AES-GCM nonce, random per call
    61      n+16  AES-256-GCM ciphertext and tag under the key material itself

with the 61-byte header followed by the canonical encryption context as associated data.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trent.crypto.derivation import derive_key

VERSION_1 = 1
VERSION_2 = 2
VERSION_2_MRK = 3  # version 2 under a multi-Region (``mrk-``) key id
VERSION = VERSION_2  # the version Trent writes (VERSION_2_MRK for multi-Region keys)
MRK_PREFIX = "mrk-"
PREFIX_BYTES = 49  # version, key id, material id
V1_HEADER_BYTES = 61
V2_HEADER_BYTES = 81
HEADER_BYTES = V2_HEADER_BYTES
V1_NONCE_BYTES = 12
REQUEST_NONCE_BYTES = 32
TAG_BYTES = 16
GCM_IV = bytes(12)  # fixed: each derived key encrypts one message (module docstring)
LABEL = b"trent symmetric ciphertext"
KEY_BYTES = 32

_HEADER_BYTES = {
    VERSION_1: V1_HEADER_BYTES,
    VERSION_2: V2_HEADER_BYTES,
    VERSION_2_MRK: V2_HEADER_BYTES,
}
_VERSION_BYTE = bytes([VERSION])
_MRK_VERSION_BYTE = bytes([VERSION_2_MRK])


class CiphertextError(Exception):
    """The blob is malformed, tampered with, or was made under another key or context."""


class SymmetricKey:
    """One symmetric key material, ready to encrypt and decrypt blobs.

    Holds the 32 material bytes (the KDF key of version 2) and, for version 1 blobs, an AES-GCM
    instance under the material itself. Nothing per request is kept. Never printed.
    """

    __slots__ = ("_material", "v1")

    def __init__(self, material: bytes) -> None:
        if len(material) != KEY_BYTES:
            raise ValueError("symmetric key material must be 32 bytes")
        self._material = material
        self.v1 = AESGCM(material)  # version 1: AES-GCM under the material itself

    def __repr__(self) -> str:
        return "SymmetricKey(<secret>)"

    def derived_key(self, header: bytes) -> bytes:
        """The version-2 AES-256 key for one blob's 81-byte header."""
        return derive_key(self._material, LABEL, header)


@dataclass(frozen=True, slots=True)
class BlobHeader:
    key_id: str
    material_id: str  # 64 hex characters
    version: int


def parse_header(blob: bytes) -> BlobHeader:
    """The key id, material id and version of a blob of either version; ``CiphertextError``
    when it is too short for its header and tag or names an unknown version."""
    size = _HEADER_BYTES.get(blob[0]) if blob else None
    if size is None or len(blob) < size + TAG_BYTES:
        raise CiphertextError("not a Trent ciphertext blob")
    if blob[0] == VERSION_2_MRK:
        key_id = MRK_PREFIX + blob[1:17].hex()
    else:
        key_id = str(uuid.UUID(bytes=blob[1:17]))
    return BlobHeader(key_id, blob[17:49].hex(), blob[0])


def header_prefix(key_id: str, material_id: str) -> bytes:
    """The first 49 header bytes Trent writes (version 2), fixed for one key material
    (compute once, reuse); version 3 for a multi-Region key id."""
    if key_id.startswith(MRK_PREFIX):
        return _MRK_VERSION_BYTE + bytes.fromhex(key_id[4:]) + bytes.fromhex(material_id)
    return _VERSION_BYTE + uuid.UUID(key_id).bytes + bytes.fromhex(material_id)


def encrypt(key: SymmetricKey, prefix: bytes, plaintext: bytes, context: bytes) -> bytes:
    """A version-2 blob of ``plaintext`` under a fresh derived key; ``prefix`` is the
    material's ``header_prefix``, ``context`` the canonical encryption context."""
    return encrypt_with_nonce(key, prefix, os.urandom(REQUEST_NONCE_BYTES), plaintext, context)


def encrypt_with_nonce(
    key: SymmetricKey, prefix: bytes, request_nonce: bytes, plaintext: bytes, context: bytes
) -> bytes:
    """``encrypt`` with a given 32-byte request nonce: for test vectors only (a repeated
    nonce repeats the derived key and the IV, which breaks AES-GCM)."""
    if len(prefix) != PREFIX_BYTES or prefix[0] not in (VERSION_2, VERSION_2_MRK):
        raise ValueError("not a version 2 header prefix")
    if len(request_nonce) != REQUEST_NONCE_BYTES:
        raise ValueError("the request nonce must be 32 bytes")
    header = prefix + request_nonce
    aead = AESGCM(key.derived_key(header))
    return header + aead.encrypt(GCM_IV, plaintext, header + context)


def decrypt(key: SymmetricKey, blob: bytes, context: bytes) -> bytes:
    """The plaintext of a version 1 or 2 blob made under ``key``; ``CiphertextError`` when it
    is malformed or fails to authenticate with this key and ``context``."""
    version = parse_header(blob).version
    try:
        if version in (VERSION_2, VERSION_2_MRK):
            header = blob[:V2_HEADER_BYTES]
            aead = AESGCM(key.derived_key(header))
            return aead.decrypt(GCM_IV, blob[V2_HEADER_BYTES:], header + context)
        header = blob[:V1_HEADER_BYTES]
        return key.v1.decrypt(header[PREFIX_BYTES:], blob[V1_HEADER_BYTES:], header + context)
    except InvalidTag as exc:
        raise CiphertextError("ciphertext failed to authenticate") from exc
