"""HMAC keys: generation, validation of imported material, GenerateMac and VerifyMac.

The key material is stored as the raw key bytes (sealed by the caller). HMAC is RFC 2104 as
`cryptography` implements it; verification is its constant-time ``verify``.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidSignature as _PycaInvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

from trent.crypto.keyerrors import AlgorithmError, InvalidMac, MaterialError, UnsupportedSpec

_DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "HMAC_SHA_224": hashes.SHA224,
    "HMAC_SHA_256": hashes.SHA256,
    "HMAC_SHA_384": hashes.SHA384,
    "HMAC_SHA_512": hashes.SHA512,
}

# Generated keys are as long as the spec says: "The length of the key determines the MAC
# algorithm" (AWS KMS Developer Guide, "HMAC keys in AWS KMS", Key specs for HMAC KMS keys).
GENERATED_KEY_BYTES: dict[str, int] = {
    "HMAC_224": 28,
    "HMAC_256": 32,
    "HMAC_384": 48,
    "HMAC_512": 64,
}

# Imported HMAC key material, inclusive bounds in bytes: HMAC_224 224-512 bits, HMAC_256 256-512,
# HMAC_384 384-1024, HMAC_512 512-1024 (AWS KMS Developer Guide, "Requirements for imported key
# material", importing-keys-conceptual.html#importing-keys-material-requirements; LocalStack's
# KMS provider enforces the same ranges as HMAC_RANGE_KEY_LENGTHS).
IMPORT_KEY_BYTES: dict[str, tuple[int, int]] = {
    "HMAC_224": (28, 64),
    "HMAC_256": (32, 64),
    "HMAC_384": (48, 128),
    "HMAC_512": (64, 128),
}


def generate_key(spec: str) -> bytes:
    if spec not in GENERATED_KEY_BYTES:
        raise UnsupportedSpec(f"{spec} is not an HMAC key spec")
    return os.urandom(GENERATED_KEY_BYTES[spec])


def import_key(spec: str, material: bytes) -> bytes:
    """Check imported HMAC key material against the spec's allowed lengths; returns it."""
    if spec not in IMPORT_KEY_BYTES:
        raise UnsupportedSpec(f"{spec} is not an HMAC key spec")
    low, high = IMPORT_KEY_BYTES[spec]
    if not low <= len(material) <= high:
        raise MaterialError(
            f"{spec} key material must be {low * 8} to {high * 8} bits, not {len(material) * 8}"
        )
    return bytes(material)


def _mac(key_bytes: bytes, algorithm: str, message: bytes) -> hmac.HMAC:
    digest = _DIGESTS.get(algorithm)
    if digest is None:
        raise AlgorithmError(f"{algorithm} is not an HMAC algorithm")
    mac = hmac.HMAC(key_bytes, digest())
    mac.update(message)
    return mac


def generate_mac(key_bytes: bytes, algorithm: str, message: bytes) -> bytes:
    return _mac(key_bytes, algorithm, message).finalize()


def verify_mac(key_bytes: bytes, algorithm: str, message: bytes, mac: bytes) -> None:
    """Constant-time comparison; raises InvalidMac on any mismatch (length included)."""
    try:
        _mac(key_bytes, algorithm, message).verify(mac)
    except _PycaInvalidSignature as exc:
        raise InvalidMac("the MAC does not verify") from exc
