"""Sign and Verify with asymmetric keys, by AWS signing algorithm and MessageType.

- RSASSA_PSS_SHA_*: PKCS#1 v2.2 section 8.1, MGF1 with the same hash, a salt as long as the
  digest ("a 256-bit salt" for SHA-256, AWS KMS Developer Guide, "Asymmetric key specs").
- RSASSA_PKCS1_V1_5_SHA_*: PKCS#1 v2.2 section 8.2. ECDSA_SHA_*: DER-encoded (r, s).
  All of these take MessageType RAW (hashed here) or DIGEST (exactly the hash's length).
- ED25519_SHA_512: pure Ed25519 (RFC 8032), RAW only. ED25519_PH_SHA_512: Ed25519ph over the
  given 64-byte value, DIGEST only (Sign MessageType documentation: KMS still applies Ed25519ph's
  own SHA-512 prehash to it). `cryptography` 50 has no Ed25519ph, so it comes from libsodium
  (PyNaCl's crypto_sign_ed25519ph_*), checked against RFC 8032's test vector in the tests.
- ML_DSA_SHAKE_256: FIPS 204 ML-DSA with an empty context; RAW (the message) or EXTERNAL_MU (the
  64-byte mu of FIPS 204 section 6.2, signed as is). Both give signatures that verify either way.
"""

from __future__ import annotations

import nacl.bindings as sodium
import nacl.exceptions
from cryptography.exceptions import InvalidSignature as _PycaInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa, utils

from trent.crypto import keyspecs
from trent.crypto.keyerrors import AlgorithmError, InvalidSignature, MessageError
from trent.crypto.privatekey import PrivateKey

MU_BYTES = 64

_Hash = type[hashes.HashAlgorithm]
_SCHEMES: dict[str, tuple[str, _Hash | None]] = {
    "RSASSA_PSS_SHA_256": ("pss", hashes.SHA256),
    "RSASSA_PSS_SHA_384": ("pss", hashes.SHA384),
    "RSASSA_PSS_SHA_512": ("pss", hashes.SHA512),
    "RSASSA_PKCS1_V1_5_SHA_256": ("pkcs1", hashes.SHA256),
    "RSASSA_PKCS1_V1_5_SHA_384": ("pkcs1", hashes.SHA384),
    "RSASSA_PKCS1_V1_5_SHA_512": ("pkcs1", hashes.SHA512),
    "ECDSA_SHA_256": ("ecdsa", hashes.SHA256),
    "ECDSA_SHA_384": ("ecdsa", hashes.SHA384),
    "ECDSA_SHA_512": ("ecdsa", hashes.SHA512),
    "ED25519_SHA_512": ("ed25519", None),
    "ED25519_PH_SHA_512": ("ed25519ph", hashes.SHA512),
    "ML_DSA_SHAKE_256": ("mldsa", None),
}
# The MessageTypes each scheme takes, as the Sign MessageType documentation gives them.
MESSAGE_TYPES: dict[str, tuple[str, ...]] = {
    "pss": ("RAW", "DIGEST"),
    "pkcs1": ("RAW", "DIGEST"),
    "ecdsa": ("RAW", "DIGEST"),
    "ed25519": ("RAW",),
    "ed25519ph": ("DIGEST",),
    "mldsa": ("RAW", "EXTERNAL_MU"),
}
_MLDSAPrivate = mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey
_MLDSAPublic = mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey


def message_types(algorithm: str) -> tuple[str, ...]:
    """The MessageTypes AWS accepts with this signing algorithm (empty if it is not one)."""
    scheme = _SCHEMES.get(algorithm)
    return MESSAGE_TYPES[scheme[0]] if scheme else ()


def _check(
    key: PrivateKey, algorithm: str, message: bytes, message_type: str
) -> tuple[hashes.HashAlgorithm | None, bool]:
    """Validate the request; returns (the hash, or None; whether the message is prehashed)."""
    if algorithm not in keyspecs.SPECS[key.spec].algorithms.get("SIGN_VERIFY", ()):
        raise AlgorithmError(f"{algorithm} is not a signing algorithm of {key.spec} keys")
    scheme, digest_class = _SCHEMES[algorithm]
    allowed = MESSAGE_TYPES[scheme]
    if message_type not in allowed:
        raise MessageError(
            f"{algorithm} takes MessageType {' or '.join(allowed)}, not {message_type}"
        )
    digest = digest_class() if digest_class else None
    if message_type == "DIGEST" and digest and len(message) != digest.digest_size:
        raise MessageError(
            f"a {algorithm} DIGEST message must be {digest.digest_size} bytes, not {len(message)}"
        )
    if message_type == "EXTERNAL_MU" and len(message) != MU_BYTES:
        raise MessageError(f"an EXTERNAL_MU message must be {MU_BYTES} bytes, not {len(message)}")
    return digest, message_type != "RAW"


def _hash(
    digest: hashes.HashAlgorithm | None, prehashed: bool
) -> hashes.HashAlgorithm | utils.Prehashed:
    if digest is None:
        raise AlgorithmError("this signing algorithm has no hash")
    return utils.Prehashed(digest) if prehashed else digest


def _rsa_padding(algorithm: str, digest: hashes.HashAlgorithm | None) -> padding.AsymmetricPadding:
    if digest is None:
        raise AlgorithmError(f"{algorithm} is not an RSA signing algorithm")
    if algorithm.startswith("RSASSA_PSS"):
        return padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
    return padding.PKCS1v15()


def sign(key: PrivateKey, algorithm: str, message: bytes, message_type: str) -> bytes:
    """A signature as AWS Sign returns it (ECDSA: DER). MessageError, AlgorithmError or
    UnsupportedSpec when the request does not fit the key."""
    digest, prehashed = _check(key, algorithm, message, message_type)
    private = key.key
    if isinstance(private, rsa.RSAPrivateKey):
        return private.sign(message, _rsa_padding(algorithm, digest), _hash(digest, prehashed))
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return private.sign(message, ec.ECDSA(_hash(digest, prehashed)))
    if isinstance(private, ed25519.Ed25519PrivateKey):
        if algorithm == "ED25519_PH_SHA_512":
            _, secret = sodium.crypto_sign_seed_keypair(private.private_bytes_raw())
            state = sodium.crypto_sign_ed25519ph_state()
            sodium.crypto_sign_ed25519ph_update(state, message)
            return bytes(sodium.crypto_sign_ed25519ph_final_create(state, secret))
        return private.sign(message)
    if isinstance(private, _MLDSAPrivate):
        return private.sign_mu(message) if prehashed else private.sign(message)
    raise AlgorithmError(f"{key.spec} keys cannot sign")


def verify(
    key: PrivateKey, algorithm: str, message: bytes, message_type: str, signature: bytes
) -> None:
    """Returns if the signature verifies with the key's public half; InvalidSignature if not."""
    digest, prehashed = _check(key, algorithm, message, message_type)
    public = key.public
    try:
        if isinstance(public, rsa.RSAPublicKey):
            padded = _rsa_padding(algorithm, digest)
            public.verify(signature, message, padded, _hash(digest, prehashed))
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, message, ec.ECDSA(_hash(digest, prehashed)))
        elif isinstance(public, ed25519.Ed25519PublicKey):
            if algorithm == "ED25519_PH_SHA_512":
                state = sodium.crypto_sign_ed25519ph_state()
                sodium.crypto_sign_ed25519ph_update(state, message)
                sodium.crypto_sign_ed25519ph_final_verify(
                    state, signature, public.public_bytes_raw()
                )
            else:
                public.verify(signature, message)
        elif isinstance(public, _MLDSAPublic):
            if prehashed:
                public.verify_mu(signature, message)
            else:
                public.verify(signature, message)
        else:
            raise AlgorithmError(f"{key.spec} keys cannot verify")
    except (_PycaInvalidSignature, ValueError, nacl.exceptions.CryptoError) as exc:
        raise InvalidSignature(f"the signature does not verify with {algorithm}") from exc
