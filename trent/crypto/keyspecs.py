"""What AWS KMS allows, as data: each KeySpec, its KeyUsages and the algorithms of each.

Sources: the botocore KMS model enums (KeySpec, SigningAlgorithmSpec, EncryptionAlgorithmSpec,
MacAlgorithmSpec, KeyAgreementAlgorithmSpec, EncapsulationAlgorithmSpec, DataKeyPairSpec) and the
AWS KMS Developer Guide: "Asymmetric key specs" (RSA encryption and signing algorithms, the ECDSA
hash for each curve), "HMAC keys in AWS KMS" (one MAC algorithm per HMAC spec), "ML-DSA keys in
AWS KMS", the CreateKey KeySpec documentation (NIST curves: signing or key agreement; SECG P-256K1
and Ed25519: signing only) and the Sign MessageType documentation (ED25519_SHA_512 takes RAW,
ED25519_PH_SHA_512 takes DIGEST). The order of each list is the order AWS reports it in: RSA
SigningAlgorithms as in the aws CLI's ``describe-key`` example 2 (PKCS#1 v1.5 first), the others
in model enum order.

SM2 (China Regions only) is not here: the caller refuses it as AWS does outside China.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeySpecInfo:
    name: str
    family: str  # "symmetric" | "rsa" | "ec" | "ed25519" | "mldsa" | "mlkem" | "hmac"
    algorithms: dict[str, tuple[str, ...]]  # KeyUsage -> the algorithms AWS offers for it


# The DescribeKey / GetPublicKey member that lists the algorithms of each KeyUsage.
ALGORITHM_FIELDS: dict[str, str] = {
    "ENCRYPT_DECRYPT": "EncryptionAlgorithms",
    "SIGN_VERIFY": "SigningAlgorithms",
    "GENERATE_VERIFY_MAC": "MacAlgorithms",
    "KEY_AGREEMENT": "KeyAgreementAlgorithms",
    "ENCAPSULATE_DECAPSULATE": "EncapsulationAlgorithms",
}

_Algorithms = dict[str, tuple[str, ...]]
_RSA: _Algorithms = {
    "ENCRYPT_DECRYPT": ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"),
    "SIGN_VERIFY": (
        "RSASSA_PKCS1_V1_5_SHA_256",
        "RSASSA_PKCS1_V1_5_SHA_384",
        "RSASSA_PKCS1_V1_5_SHA_512",
        "RSASSA_PSS_SHA_256",
        "RSASSA_PSS_SHA_384",
        "RSASSA_PSS_SHA_512",
    ),
}
_MLDSA: _Algorithms = {"SIGN_VERIFY": ("ML_DSA_SHAKE_256",)}
_MLKEM: _Algorithms = {"ENCAPSULATE_DECAPSULATE": ("ML_KEM",)}


def _nist(ecdsa: str) -> _Algorithms:
    return {"SIGN_VERIFY": (ecdsa,), "KEY_AGREEMENT": ("ECDH",)}


def _hmac(algorithm: str) -> _Algorithms:
    return {"GENERATE_VERIFY_MAC": (algorithm,)}


_TABLE: tuple[tuple[str, str, _Algorithms], ...] = (
    ("RSA_2048", "rsa", _RSA),
    ("RSA_3072", "rsa", _RSA),
    ("RSA_4096", "rsa", _RSA),
    ("ECC_NIST_P256", "ec", _nist("ECDSA_SHA_256")),
    ("ECC_NIST_P384", "ec", _nist("ECDSA_SHA_384")),
    ("ECC_NIST_P521", "ec", _nist("ECDSA_SHA_512")),
    ("ECC_SECG_P256K1", "ec", {"SIGN_VERIFY": ("ECDSA_SHA_256",)}),
    ("SYMMETRIC_DEFAULT", "symmetric", {"ENCRYPT_DECRYPT": ("SYMMETRIC_DEFAULT",)}),
    ("HMAC_224", "hmac", _hmac("HMAC_SHA_224")),
    ("HMAC_256", "hmac", _hmac("HMAC_SHA_256")),
    ("HMAC_384", "hmac", _hmac("HMAC_SHA_384")),
    ("HMAC_512", "hmac", _hmac("HMAC_SHA_512")),
    ("ML_DSA_44", "mldsa", _MLDSA),
    ("ML_DSA_65", "mldsa", _MLDSA),
    ("ML_DSA_87", "mldsa", _MLDSA),
    (
        "ECC_NIST_EDWARDS25519",
        "ed25519",
        {"SIGN_VERIFY": ("ED25519_SHA_512", "ED25519_PH_SHA_512")},
    ),
    ("ML_KEM_512", "mlkem", _MLKEM),
    ("ML_KEM_768", "mlkem", _MLKEM),
    ("ML_KEM_1024", "mlkem", _MLKEM),
)

SPECS: dict[str, KeySpecInfo] = {
    name: KeySpecInfo(name, family, dict(algorithms)) for name, family, algorithms in _TABLE
}

# In SPECS because AWS offers them, but Trent cannot do them with `cryptography` 50: it has no
# ML-KEM-512 (only 768 and 1024). The caller refuses them.
UNSUPPORTED_SPECS: frozenset[str] = frozenset({"ML_KEM_512"})
UNSUPPORTED_ALGORITHMS: frozenset[str] = frozenset()

# GenerateDataKeyPair KeyPairSpecs: the model's DataKeyPairSpec enum minus SM2 (China Regions
# only) and minus ML_KEM_512 (unsupported, above).
DATA_KEY_PAIR_SPECS: frozenset[str] = frozenset(
    {
        "RSA_2048",
        "RSA_3072",
        "RSA_4096",
        "ECC_NIST_P256",
        "ECC_NIST_P384",
        "ECC_NIST_P521",
        "ECC_SECG_P256K1",
        "ECC_NIST_EDWARDS25519",
        "ML_KEM_768",
        "ML_KEM_1024",
    }
)


def is_valid(spec: str, usage: str) -> bool:
    """Whether AWS allows a key of this spec with this KeyUsage."""
    info = SPECS.get(spec)
    return info is not None and usage in info.algorithms


def algorithm_fields(spec: str, usage: str) -> dict[str, list[str]]:
    """The DescribeKey / GetPublicKey algorithm member of a key of this spec and usage, e.g.
    ``{"SigningAlgorithms": ["ECDSA_SHA_256"]}``. ValueError if AWS does not allow the pair."""
    if not is_valid(spec, usage):
        raise ValueError(f"KeyUsage {usage} is not valid for KeySpec {spec}")
    return {ALGORITHM_FIELDS[usage]: list(SPECS[spec].algorithms[usage])}
