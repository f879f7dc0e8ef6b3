"""Asymmetric key material (RSA, EC, Ed25519, ML-DSA, ML-KEM): generate, import, load, use.

Stored private material (sealed by the caller) is a DER PKCS#8 PrivateKeyInfo for every
asymmetric spec; for ML-DSA and ML-KEM it holds the FIPS 204/203 seed only (32/64 bytes, the seed
format `cryptography` writes and AWS uses for ML-KEM data key pairs), and its algorithm OID lets
load_private check the parameter set, which a bare seed would not. HMAC specs go to ``hmac_keys``.
This module is the layer's API: it re-exports the errors (``keyerrors``), PrivateKey
(``privatekey``), sign / verify (``signing``) and generate_mac / verify_mac (``hmac_keys``).
Every primitive is `cryptography`'s.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from trent.crypto import hmac_keys, keyspecs
from trent.crypto.hmac_keys import generate_mac, verify_mac
from trent.crypto.keyerrors import (
    AlgorithmError,
    CryptoError,
    InvalidCiphertext,
    InvalidMac,
    InvalidSignature,
    MaterialError,
    MessageError,
    PublicKeyError,
    UnsupportedSpec,
)
from trent.crypto.privatekey import PrivateKey
from trent.crypto.signing import sign, verify

__all__ = [
    "AlgorithmError",
    "CryptoError",
    "InvalidCiphertext",
    "InvalidMac",
    "InvalidSignature",
    "MaterialError",
    "MessageError",
    "PrivateKey",
    "PublicKeyError",
    "UnsupportedSpec",
    "decapsulate",
    "decrypt",
    "derive_shared_secret",
    "encapsulate",
    "encrypt",
    "generate_data_key_pair",
    "generate_mac",
    "generate_private",
    "import_private",
    "load_private",
    "max_plaintext",
    "public_key_der",
    "sign",
    "verify",
    "verify_mac",
]

RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}
_MLDSAKey = mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey
_MLKEMKey = mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey
_MLDSA: dict[str, type[_MLDSAKey]] = {
    "ML_DSA_44": mldsa.MLDSA44PrivateKey,
    "ML_DSA_65": mldsa.MLDSA65PrivateKey,
    "ML_DSA_87": mldsa.MLDSA87PrivateKey,
}
_MLKEM: dict[str, type[_MLKEMKey]] = {
    "ML_KEM_768": mlkem.MLKEM768PrivateKey,
    "ML_KEM_1024": mlkem.MLKEM1024PrivateKey,
}
_OAEP: dict[str, type[hashes.HashAlgorithm]] = {
    "RSAES_OAEP_SHA_1": hashes.SHA1,
    "RSAES_OAEP_SHA_256": hashes.SHA256,
}
_DER = serialization.Encoding.DER
_PKCS8 = serialization.PrivateFormat.PKCS8
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def _family(spec: str) -> str:
    if spec in keyspecs.UNSUPPORTED_SPECS:
        raise UnsupportedSpec(f"{spec} is not supported: cryptography 50 has no ML-KEM-512")
    info = keyspecs.SPECS.get(spec)
    if info is None:
        raise UnsupportedSpec(f"{spec} is not a key spec Trent supports")
    return info.family


def _fits(spec: str, key: PrivateKeyTypes) -> bool:
    """Whether a `cryptography` private key is exactly of this spec (type, size, curve)."""
    if spec in RSA_BITS:
        return isinstance(key, rsa.RSAPrivateKey) and key.key_size == RSA_BITS[spec]
    if spec in CURVES:
        return isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, CURVES[spec])
    if spec == "ECC_NIST_EDWARDS25519":
        return isinstance(key, ed25519.Ed25519PrivateKey)
    if spec in _MLDSA:
        return isinstance(key, _MLDSA[spec])
    return spec in _MLKEM and isinstance(key, _MLKEM[spec])


def _generate(spec: str) -> PrivateKeyTypes:
    family = _family(spec)
    if family == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS[spec])
    if family == "ec":
        return ec.generate_private_key(CURVES[spec]())
    if family == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if family == "mldsa":
        return _MLDSA[spec].generate()
    if family == "mlkem":
        return _MLKEM[spec].generate()
    raise UnsupportedSpec(f"{spec} is not an asymmetric key spec")


def _stored(key: PrivateKeyTypes) -> bytes:
    # ML-DSA / ML-KEM: the seed form only; ValueError if the key was loaded without its seed.
    return key.private_bytes(_DER, _PKCS8, serialization.NoEncryption())


def generate_private(spec: str) -> bytes:
    """Fresh key material in its stored form (HMAC specs: the raw key bytes)."""
    if _family(spec) == "hmac":
        return hmac_keys.generate_key(spec)
    return _stored(_generate(spec))


def load_private(spec: str, material: bytes) -> PrivateKey:
    """Load stored material (as generate_private / import_private returned it).

    RSA keys are loaded without OpenSSL's consistency check (``unsafe_skip_rsa_key_validation``):
    stored material is either a key OpenSSL generated or one ``import_private`` checked, and it
    reaches here only through the barrier's authenticated decryption. The check tests p and q
    for primality again, about 0.2 s for RSA_4096 on the event loop at every load."""
    if _family(spec) not in ("rsa", "ec", "ed25519", "mldsa", "mlkem"):
        raise UnsupportedSpec(f"{spec} is not an asymmetric key spec")
    try:
        key = serialization.load_der_private_key(
            material, password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise MaterialError(f"stored key material is not a valid {spec} private key") from exc
    if not _fits(spec, key):
        raise MaterialError(f"stored key material is not a {spec} private key")
    return PrivateKey(spec, key)


def _is_pkcs8(der: bytes) -> bool:
    """PrivateKeyInfo (RFC 5958) has an AlgorithmIdentifier SEQUENCE after its version INTEGER;
    PKCS#1 RSAPrivateKey has an INTEGER there, SEC1 ECPrivateKey an OCTET STRING. Only called on
    DER that `cryptography` has already parsed as a private key."""
    if len(der) < 2 or der[0] != 0x30:
        return False
    at = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)  # past the outer SEQUENCE header
    if der[at : at + 1] != b"\x02" or at + 1 >= len(der):
        return False
    at += 2 + der[at + 1]  # past the version INTEGER (always short)
    return der[at : at + 1] == b"\x30"


def import_private(spec: str, material: bytes) -> bytes:
    """Validate imported key material and return its stored form.

    RSA, EC, Ed25519: a DER PKCS#8 PrivateKeyInfo of exactly this spec (AWS requires PKCS#8 DER
    for imported asymmetric private keys). ML-DSA, ML-KEM: a DER PKCS#8 PrivateKeyInfo that holds
    the seed (the form AWS's GenerateDataKeyPair returns for ML-KEM). HMAC: the key bytes, within
    the spec's lengths (see hmac_keys). Anything else: MaterialError. The stored form is the
    key re-serialized by `cryptography` (PKCS#8 DER, seed-only for ML-DSA / ML-KEM).
    """
    family = _family(spec)
    if family == "hmac":
        return hmac_keys.import_key(spec, material)
    if family not in ("rsa", "ec", "ed25519", "mldsa", "mlkem"):
        raise UnsupportedSpec(f"{spec} is not an asymmetric key spec")
    try:
        key = serialization.load_der_private_key(bytes(material), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise MaterialError(f"the key material is not a DER PKCS#8 {spec} private key") from exc
    if not _is_pkcs8(bytes(material)):
        raise MaterialError(f"the key material must be PKCS#8 (PrivateKeyInfo), for {spec}")
    if not _fits(spec, key):
        raise MaterialError(f"the key material is a private key, but not a {spec} one")
    try:
        return _stored(key)
    except (ValueError, UnsupportedAlgorithm) as exc:  # an expanded-only ML-DSA/ML-KEM key
        raise MaterialError(f"the {spec} private key must contain its seed") from exc


def public_key_der(key: PrivateKey) -> bytes:
    """DER SubjectPublicKeyInfo, what GetPublicKey returns."""
    return key.public_der


def generate_data_key_pair(spec: str) -> tuple[bytes, bytes]:
    """(DER PKCS#8 private key, DER SubjectPublicKeyInfo) for GenerateDataKeyPair. ML-KEM
    private keys are PKCS#8 in seed format, as AWS returns them."""
    if spec not in keyspecs.DATA_KEY_PAIR_SPECS:
        _family(spec)  # the precise UnsupportedSpec where there is one
        raise UnsupportedSpec(f"{spec} is not a data key pair spec Trent supports")
    private = _generate(spec)
    public = private.public_key().public_bytes(_DER, _SPKI)
    return private.private_bytes(_DER, _PKCS8, serialization.NoEncryption()), public


def _rsa_encryption(key: PrivateKey, algorithm: str) -> tuple[rsa.RSAPrivateKey, padding.OAEP]:
    digest = _OAEP.get(algorithm)
    if digest is None or not isinstance(key.key, rsa.RSAPrivateKey):
        raise AlgorithmError(f"{algorithm} is not an encryption algorithm of {key.spec} keys")
    # AWS: "the RSAES_OAEP algorithms always use the same hash function for both hashing
    # purposes and for the mask generation function (MGF1)", with an empty label.
    return key.key, padding.OAEP(mgf=padding.MGF1(digest()), algorithm=digest(), label=None)


def max_plaintext(spec: str, algorithm: str) -> int:
    """AWS's limit: key_bytes - 2 * hash_bytes - 2 (RSA_2048: 214 with SHA-1, 190 with SHA-256;
    RSA_3072: 342/318; RSA_4096: 470/446), from "Asymmetric key specs", RSA encryption."""
    digest = _OAEP.get(algorithm)
    if spec not in RSA_BITS or digest is None:
        raise AlgorithmError(f"{algorithm} is not an encryption algorithm of {spec} keys")
    return RSA_BITS[spec] // 8 - 2 * digest().digest_size - 2


def encrypt(key: PrivateKey, algorithm: str, plaintext: bytes) -> bytes:
    """RSAES-OAEP with the public half of an RSA key."""
    private, oaep = _rsa_encryption(key, algorithm)
    limit = max_plaintext(key.spec, algorithm)
    if len(plaintext) > limit:
        raise MessageError(f"{algorithm} with {key.spec} encrypts at most {limit} bytes")
    return private.public_key().encrypt(plaintext, oaep)


def decrypt(key: PrivateKey, algorithm: str, ciphertext: bytes) -> bytes:
    private, oaep = _rsa_encryption(key, algorithm)
    try:
        return private.decrypt(ciphertext, oaep)
    except ValueError as exc:
        raise InvalidCiphertext("the ciphertext does not decrypt under this key") from exc


def derive_shared_secret(key: PrivateKey, peer_public_der: bytes) -> bytes:
    """ECDH: the raw shared secret (the x-coordinate, field-size bytes) with the peer's DER
    SubjectPublicKeyInfo, which must be on the key's curve. NIST curves have cofactor 1, so
    this is also the cofactor Diffie-Hellman primitive AWS names."""
    if "KEY_AGREEMENT" not in keyspecs.SPECS[key.spec].algorithms:
        raise AlgorithmError(f"{key.spec} keys cannot derive shared secrets")
    assert isinstance(key.key, ec.EllipticCurvePrivateKey)
    try:
        peer = serialization.load_der_public_key(bytes(peer_public_der))
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PublicKeyError("the public key is not a DER SubjectPublicKeyInfo") from exc
    if not isinstance(peer, ec.EllipticCurvePublicKey):
        raise PublicKeyError("the public key is not an elliptic curve key")
    if peer.curve.name != key.key.curve.name:
        raise PublicKeyError(f"the public key is on {peer.curve.name}, not {key.key.curve.name}")
    try:
        return key.key.exchange(ec.ECDH(), peer)
    except ValueError as exc:
        raise PublicKeyError("the public key is not a valid point for ECDH") from exc


def _mlkem(key: PrivateKey) -> _MLKEMKey:
    if not isinstance(key.key, _MLKEMKey):
        raise AlgorithmError(f"{key.spec} keys cannot encapsulate")
    return key.key


def encapsulate(key: PrivateKey) -> tuple[bytes, bytes]:
    """(shared secret, ciphertext) with the public half of an ML-KEM key."""
    return _mlkem(key).public_key().encapsulate()


def decapsulate(key: PrivateKey, ciphertext: bytes) -> bytes:
    """The shared secret. A ciphertext of the right length always decapsulates (FIPS 203
    implicit rejection gives an unrelated secret); a wrong length is InvalidCiphertext."""
    try:
        return _mlkem(key).decapsulate(ciphertext)
    except ValueError as exc:
        raise InvalidCiphertext(f"not a {key.spec} ciphertext") from exc
