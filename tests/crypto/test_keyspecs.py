"""trent.crypto.keyspecs against the botocore KMS model (the API contract) and AWS's documented
spec/usage/algorithm table."""

from __future__ import annotations

from typing import Any

import botocore.loaders
import pytest

from trent.crypto import keyspecs

SHAPES: dict[str, Any] = botocore.loaders.Loader().load_service_model("kms", "service-2")["shapes"]


def enum(shape: str) -> list[str]:
    return list(SHAPES[shape]["enum"])


# The model's enum of each DescribeKey algorithm member.
FIELD_ENUMS = {
    "EncryptionAlgorithms": "EncryptionAlgorithmSpec",
    "SigningAlgorithms": "SigningAlgorithmSpec",
    "MacAlgorithms": "MacAlgorithmSpec",
    "KeyAgreementAlgorithms": "KeyAgreementAlgorithmSpec",
    "EncapsulationAlgorithms": "EncapsulationAlgorithmSpec",
}


def test_every_model_key_spec_but_sm2_is_present() -> None:
    assert set(keyspecs.SPECS) == set(enum("KeySpec")) - {"SM2"}
    assert "SM2" not in keyspecs.SPECS


def test_every_usage_and_algorithm_is_in_the_model() -> None:
    usages = set(enum("KeyUsageType"))
    for info in keyspecs.SPECS.values():
        assert info.algorithms, info.name
        for usage, algorithms in info.algorithms.items():
            assert usage in usages
            field = keyspecs.ALGORITHM_FIELDS[usage]
            assert set(algorithms) <= set(enum(FIELD_ENUMS[field])), (info.name, usage)
            assert len(set(algorithms)) == len(algorithms)


def test_algorithm_fields_are_describe_key_members() -> None:
    members = SHAPES["KeyMetadata"]["members"]
    public_members = SHAPES["GetPublicKeyResponse"]["members"]
    for field, enum_shape in FIELD_ENUMS.items():
        assert field in members
        # GetPublicKey has every member but MacAlgorithms: HMAC keys have no public key.
        assert (field in public_members) == (field != "MacAlgorithms")
        assert SHAPES[members[field]["shape"]]["member"]["shape"] == enum_shape


@pytest.mark.parametrize(
    ("spec", "usage", "expected"),
    [
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", {"EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]}),
        (
            "RSA_2048",
            "ENCRYPT_DECRYPT",
            {"EncryptionAlgorithms": ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]},
        ),
        (
            "RSA_4096",
            "SIGN_VERIFY",
            {
                "SigningAlgorithms": [  # as in the aws CLI describe-key example
                    "RSASSA_PKCS1_V1_5_SHA_256",
                    "RSASSA_PKCS1_V1_5_SHA_384",
                    "RSASSA_PKCS1_V1_5_SHA_512",
                    "RSASSA_PSS_SHA_256",
                    "RSASSA_PSS_SHA_384",
                    "RSASSA_PSS_SHA_512",
                ]
            },
        ),
        ("ECC_NIST_P256", "SIGN_VERIFY", {"SigningAlgorithms": ["ECDSA_SHA_256"]}),
        ("ECC_NIST_P384", "SIGN_VERIFY", {"SigningAlgorithms": ["ECDSA_SHA_384"]}),
        ("ECC_NIST_P521", "SIGN_VERIFY", {"SigningAlgorithms": ["ECDSA_SHA_512"]}),
        ("ECC_SECG_P256K1", "SIGN_VERIFY", {"SigningAlgorithms": ["ECDSA_SHA_256"]}),
        ("ECC_NIST_P256", "KEY_AGREEMENT", {"KeyAgreementAlgorithms": ["ECDH"]}),
        ("ECC_NIST_P384", "KEY_AGREEMENT", {"KeyAgreementAlgorithms": ["ECDH"]}),
        ("ECC_NIST_P521", "KEY_AGREEMENT", {"KeyAgreementAlgorithms": ["ECDH"]}),
        (
            "ECC_NIST_EDWARDS25519",
            "SIGN_VERIFY",
            {"SigningAlgorithms": ["ED25519_SHA_512", "ED25519_PH_SHA_512"]},
        ),
        ("ML_DSA_44", "SIGN_VERIFY", {"SigningAlgorithms": ["ML_DSA_SHAKE_256"]}),
        ("ML_DSA_87", "SIGN_VERIFY", {"SigningAlgorithms": ["ML_DSA_SHAKE_256"]}),
        ("HMAC_224", "GENERATE_VERIFY_MAC", {"MacAlgorithms": ["HMAC_SHA_224"]}),
        ("HMAC_256", "GENERATE_VERIFY_MAC", {"MacAlgorithms": ["HMAC_SHA_256"]}),
        ("HMAC_384", "GENERATE_VERIFY_MAC", {"MacAlgorithms": ["HMAC_SHA_384"]}),
        ("HMAC_512", "GENERATE_VERIFY_MAC", {"MacAlgorithms": ["HMAC_SHA_512"]}),
        ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE", {"EncapsulationAlgorithms": ["ML_KEM"]}),
        ("ML_KEM_512", "ENCAPSULATE_DECAPSULATE", {"EncapsulationAlgorithms": ["ML_KEM"]}),
    ],
)
def test_algorithm_fields(spec: str, usage: str, expected: dict[str, list[str]]) -> None:
    assert keyspecs.algorithm_fields(spec, usage) == expected


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("ECC_SECG_P256K1", "KEY_AGREEMENT"),  # AWS: secp256k1 signs only
        ("ECC_NIST_EDWARDS25519", "KEY_AGREEMENT"),
        ("ECC_NIST_P256", "ENCRYPT_DECRYPT"),
        ("RSA_2048", "KEY_AGREEMENT"),
        ("ML_DSA_65", "ENCRYPT_DECRYPT"),
        ("HMAC_256", "SIGN_VERIFY"),
        ("SYMMETRIC_DEFAULT", "SIGN_VERIFY"),
        ("ML_KEM_1024", "KEY_AGREEMENT"),
        ("SM2", "SIGN_VERIFY"),
    ],
)
def test_combinations_aws_refuses(spec: str, usage: str) -> None:
    assert not keyspecs.is_valid(spec, usage)
    with pytest.raises(ValueError):
        keyspecs.algorithm_fields(spec, usage)


def test_usages_per_family() -> None:
    for info in keyspecs.SPECS.values():
        usages = set(info.algorithms)
        expected = {
            "symmetric": {"ENCRYPT_DECRYPT"},
            "rsa": {"ENCRYPT_DECRYPT", "SIGN_VERIFY"},
            "ed25519": {"SIGN_VERIFY"},
            "mldsa": {"SIGN_VERIFY"},
            "mlkem": {"ENCAPSULATE_DECAPSULATE"},
            "hmac": {"GENERATE_VERIFY_MAC"},
        }.get(info.family)
        if info.family == "ec":
            expected = {"SIGN_VERIFY"} | (
                {"KEY_AGREEMENT"} if info.name.startswith("ECC_NIST_P") else set()
            )
        assert usages == expected, info.name


def test_data_key_pair_specs() -> None:
    pair_specs = keyspecs.DATA_KEY_PAIR_SPECS
    assert pair_specs == set(enum("DataKeyPairSpec")) - {"SM2", "ML_KEM_512"}
    assert pair_specs <= set(keyspecs.SPECS)


def test_unsupported_are_aws_names() -> None:
    specs, algorithms = keyspecs.UNSUPPORTED_SPECS, keyspecs.UNSUPPORTED_ALGORITHMS
    assert specs <= set(keyspecs.SPECS)
    assert algorithms <= set(enum("SigningAlgorithmSpec"))
