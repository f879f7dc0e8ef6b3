"""Import wrapping: the RSA key pair GetParametersForImport hands out, and unwrapping what the
caller encrypted under its public key, by each AWS wrapping algorithm.

- ``RSAES_OAEP_SHA_1`` / ``RSAES_OAEP_SHA_256``: the material is RSA-OAEP encrypted directly
  (MGF1 with the same hash).
- ``RSA_AES_KEY_WRAP_SHA_1`` / ``RSA_AES_KEY_WRAP_SHA_256``: an ephemeral AES-256 key,
  RSA-OAEP encrypted (the first modulus-length bytes), followed by the material wrapped under
  it with AES key wrap with padding (RFC 5649).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

WRAPPING_KEY_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RSAES_OAEP_SHA_1": hashes.SHA1,
    "RSAES_OAEP_SHA_256": hashes.SHA256,
    "RSA_AES_KEY_WRAP_SHA_1": hashes.SHA1,
    "RSA_AES_KEY_WRAP_SHA_256": hashes.SHA256,
}
SUPPORTED_ALGORITHMS = frozenset(_HASHES)
EPHEMERAL_AES_BYTES = 32


class UnwrapError(Exception):
    """The wrapped material does not open with this wrapping key and algorithm."""


def generate_wrapping_key(spec: str) -> tuple[bytes, bytes]:
    """A fresh RSA key pair: (PKCS#8 DER private key, DER SubjectPublicKeyInfo public key)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=WRAPPING_KEY_BITS[spec])
    private_der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_der, public_der


def unwrap(algorithm: str, private_der: bytes, wrapped: bytes) -> bytes:
    private = serialization.load_der_private_key(private_der, password=None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise UnwrapError("the wrapping key is not an RSA key")
    digest = _HASHES[algorithm]
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=digest()), algorithm=digest(), label=None)
    modulus_bytes = (private.key_size + 7) // 8
    try:
        if algorithm.startswith("RSAES_OAEP"):
            return private.decrypt(wrapped, oaep)
        ephemeral = private.decrypt(wrapped[:modulus_bytes], oaep)
        if len(ephemeral) != EPHEMERAL_AES_BYTES:
            raise UnwrapError("the ephemeral key must be an AES-256 key")
        return aes_key_unwrap_with_padding(ephemeral, wrapped[modulus_bytes:])
    except (ValueError, InvalidUnwrap) as exc:
        raise UnwrapError("the wrapped key material does not open") from exc
