"""AES-256-GCM as the XKS proxy API specifies it, under Trent key material.

What the spec fixes ("Encrypt", "Decrypt", Appendix C):

- the AAD given to AES-GCM is ``len(additionalAuthenticatedData) (2 bytes, big-endian) ||
  additionalAuthenticatedData || len(ciphertextMetadata) (1 byte) || ciphertextMetadata``
  (an absent field counts as empty, length 0);
- the IV is 12 bytes (Trent always makes 12, random), the tag 16, and the ciphertext is as long
  as the plaintext;
- ``ciphertextDataIntegrityValue`` = SHA-256 over ``AAD || ciphertextMetadata || IV ||
  ciphertext || tag`` (no lengths), computed *before* the decrypt check that precedes the reply.

What Trent chooses: ``ciphertextMetadata`` is 17 bytes, ``0x01 || the first 16 bytes of the key
material id`` (which material of a rotated key to decrypt with; at most 20 bytes as the spec
allows), and the AES key is never the key material itself but a key derived for this one
message: ``derived_key(b"trent xks v1" || 0x00 || key id (16) || material id (32) || IV)``, the
same SP 800-108 KDF as Trent's own ciphertexts (``trent.crypto.ciphertext``) with a context that
cannot equal one of theirs (those are 81 bytes starting 0x02), so an XKS ciphertext is bound to
its key, its material and its IV, and GCM's per-key limits apply to keys used once.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trent.crypto.ciphertext import SymmetricKey

IV_BYTES = 12
TAG_BYTES = 16
METADATA_VERSION = 1
MATERIAL_PREFIX_BYTES = 16
METADATA_BYTES = 1 + MATERIAL_PREFIX_BYTES
MAX_METADATA_BYTES = 20  # the spec's bound on ciphertextMetadata
_CONTEXT_TAG = b"trent xks v1\x00"


class CipherError(Exception):
    """The ciphertext failed to authenticate, or its parts have the wrong sizes."""


@dataclass(frozen=True, slots=True)
class Sealed:
    """An XKS Encrypt result: the four binary fields of the spec's response."""

    ciphertext: bytes
    metadata: bytes
    iv: bytes
    tag: bytes


def gcm_aad(aad: bytes, metadata: bytes) -> bytes:
    """The spec's AES-GCM AAD: 2-byte big-endian AAD length, AAD, 1-byte metadata length,
    metadata. Raises ``ValueError`` when AAD exceeds 65535 bytes or metadata 255."""
    return len(aad).to_bytes(2, "big") + aad + len(metadata).to_bytes(1, "big") + metadata


def integrity_value(aad: bytes, sealed: Sealed) -> bytes:
    """The spec's ciphertextDataIntegrityValue (SHA_256), 32 raw bytes (Appendix C)."""
    digest = hashlib.sha256(aad)
    for part in (sealed.metadata, sealed.iv, sealed.ciphertext, sealed.tag):
        digest.update(part)
    return digest.digest()


def metadata_for(material_id: str) -> bytes:
    """The ciphertextMetadata Trent writes for a material id (64 hex digits): 17 bytes."""
    return bytes([METADATA_VERSION]) + bytes.fromhex(material_id)[:MATERIAL_PREFIX_BYTES]


def material_prefix(metadata: bytes) -> str:
    """The material-id prefix (32 hex digits) a ciphertextMetadata names; ``CipherError``
    when it is not one Trent wrote."""
    if len(metadata) != METADATA_BYTES or metadata[0] != METADATA_VERSION:
        raise CipherError("ciphertextMetadata was not written by this proxy")
    return metadata[1:].hex()


def _aead(key: SymmetricKey, key_id: str, material_id: str, iv: bytes) -> AESGCM:
    context = _CONTEXT_TAG + uuid.UUID(key_id).bytes + bytes.fromhex(material_id) + iv
    return AESGCM(key.derived_key(context))


def encrypt(
    key: SymmetricKey, key_id: str, material_id: str, plaintext: bytes, aad: bytes
) -> Sealed:
    """Encrypt ``plaintext`` with a fresh random 12-byte IV; the spec's response fields."""
    iv = os.urandom(IV_BYTES)
    metadata = metadata_for(material_id)
    out = _aead(key, key_id, material_id, iv).encrypt(iv, plaintext, gcm_aad(aad, metadata))
    return Sealed(out[:-TAG_BYTES], metadata, iv, out[-TAG_BYTES:])


def decrypt(key: SymmetricKey, key_id: str, material_id: str, sealed: Sealed, aad: bytes) -> bytes:
    """The plaintext of ``sealed``; ``CipherError`` on a wrong size or a failed tag."""
    if len(sealed.iv) != IV_BYTES or len(sealed.tag) != TAG_BYTES:
        raise CipherError("the IV must be 12 bytes and the tag 16")
    try:
        return _aead(key, key_id, material_id, sealed.iv).decrypt(
            sealed.iv, sealed.ciphertext + sealed.tag, gcm_aad(aad, sealed.metadata)
        )
    except InvalidTag as exc:
        raise CipherError("the ciphertext failed to authenticate") from exc
