"""HMAC keys through boto3: GenerateMac and VerifyMac against Python's own ``hmac`` module with
imported key material, for HMAC_224 / 256 / 384 / 512.

AWS ("HMAC keys in AWS KMS"): each HMAC key spec has one MAC algorithm (HMAC_SHA_224 ...
HMAC_SHA_512); VerifyMac answers KMSInvalidMacException when the MAC does not verify; an
algorithm the key does not support is InvalidKeyUsageException; imported HMAC material must be
within the spec's lengths ("Requirements for imported key material").
"""

from __future__ import annotations

import hmac
import os
from typing import Any

import pytest

from tests.operations.test_asymmetric_import import (
    OAEP_256,
    WRAP_AES_256,
    expect_error,
    imported_key,
    shared_key,
)

SPECS = {
    "HMAC_224": ("HMAC_SHA_224", "sha224", 28),
    "HMAC_256": ("HMAC_SHA_256", "sha256", 32),
    "HMAC_384": ("HMAC_SHA_384", "sha384", 48),
    "HMAC_512": ("HMAC_SHA_512", "sha512", 64),
}


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_generate_mac_matches_local_hmac(kms: Any, spec: str) -> None:
    algorithm, digest, length = SPECS[spec]
    material = os.urandom(length)
    wrapping = OAEP_256 if spec != "HMAC_512" else WRAP_AES_256
    key_id = imported_key(kms, spec, "GENERATE_VERIFY_MAC", material, wrapping)
    message = b"authenticate me " + os.urandom(16)

    out = kms.generate_mac(KeyId=key_id, Message=message, MacAlgorithm=algorithm)
    expected = hmac.new(material, message, digest).digest()
    assert out["Mac"] == expected
    assert out["MacAlgorithm"] == algorithm
    assert out["KeyId"].endswith(f":key/{key_id}")

    verified = kms.verify_mac(KeyId=key_id, Message=message, MacAlgorithm=algorithm, Mac=expected)
    assert (verified["MacValid"], verified["MacAlgorithm"]) == (True, algorithm)
    assert verified["KeyId"] == out["KeyId"]

    for bit in (0, len(expected) * 8 - 1):
        flipped = bytearray(expected)
        flipped[bit // 8] ^= 1 << (bit % 8)
        expect_error(
            kms.verify_mac,
            "KMSInvalidMacException",
            "",
            KeyId=key_id,
            Message=message,
            MacAlgorithm=algorithm,
            Mac=bytes(flipped),
        )
    for wrong_message, wrong_mac in ((message + b".", expected), (message, expected[:-1])):
        expect_error(
            kms.verify_mac,
            "KMSInvalidMacException",
            "",
            KeyId=key_id,
            Message=wrong_message,
            MacAlgorithm=algorithm,
            Mac=wrong_mac,
        )


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_generated_hmac_key(kms: Any, spec: str) -> None:
    """A key Trent generated: MACs of the algorithm's length, the same for the same message."""
    algorithm, _, length = SPECS[spec]
    key_id = shared_key(kms, spec, "GENERATE_VERIFY_MAC")
    first = kms.generate_mac(KeyId=key_id, Message=b"one", MacAlgorithm=algorithm)["Mac"]
    assert len(first) == length
    assert kms.generate_mac(KeyId=key_id, Message=b"one", MacAlgorithm=algorithm)["Mac"] == first
    assert kms.generate_mac(KeyId=key_id, Message=b"two", MacAlgorithm=algorithm)["Mac"] != first
    assert kms.verify_mac(KeyId=key_id, Message=b"one", MacAlgorithm=algorithm, Mac=first)[
        "MacValid"
    ]
    expect_error(
        kms.verify_mac,
        "KMSInvalidMacException",
        "",
        KeyId=key_id,
        Message=b"two",
        MacAlgorithm=algorithm,
        Mac=first,
    )


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        ("HMAC_256", "HMAC_SHA_512"),
        ("HMAC_224", "HMAC_SHA_256"),
        ("HMAC_384", "HMAC_SHA_224"),
        ("HMAC_512", "HMAC_SHA_384"),
    ],
)
def test_wrong_mac_algorithm_for_the_spec(kms: Any, spec: str, algorithm: str) -> None:
    key_id = shared_key(kms, spec, "GENERATE_VERIFY_MAC")
    expect_error(
        kms.generate_mac,
        "InvalidKeyUsageException",
        algorithm,
        KeyId=key_id,
        Message=b"m",
        MacAlgorithm=algorithm,
    )
    expect_error(
        kms.verify_mac,
        "InvalidKeyUsageException",
        algorithm,
        KeyId=key_id,
        Message=b"m",
        MacAlgorithm=algorithm,
        Mac=b"\x00" * 32,
    )


def test_mac_operations_need_an_hmac_key(kms: Any) -> None:
    for spec, usage in (
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
        ("ECC_NIST_P256", "SIGN_VERIFY"),
    ):
        key_id = shared_key(kms, spec, usage)
        expect_error(
            kms.generate_mac,
            "InvalidKeyUsageException",
            f"key usage is {usage} which is not valid for GenerateMac",
            KeyId=key_id,
            Message=b"m",
            MacAlgorithm="HMAC_SHA_256",
        )
    hmac_key = shared_key(kms, "HMAC_256", "GENERATE_VERIFY_MAC")
    expect_error(
        kms.encrypt,
        "InvalidKeyUsageException",
        "key usage is GENERATE_VERIFY_MAC which is not valid for Encrypt",
        KeyId=hmac_key,
        Plaintext=b"m",
    )
    expect_error(
        kms.sign,
        "InvalidKeyUsageException",
        "key usage is GENERATE_VERIFY_MAC which is not valid for Sign",
        KeyId=hmac_key,
        Message=b"m",
        SigningAlgorithm="ECDSA_SHA_256",
    )


def test_mac_on_a_disabled_key(kms: Any) -> None:
    key_id = kms.create_key(KeySpec="HMAC_224", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"][
        "KeyId"
    ]
    mac = kms.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_224")["Mac"]
    kms.disable_key(KeyId=key_id)
    common = {"KeyId": key_id, "Message": b"m", "MacAlgorithm": "HMAC_SHA_224"}
    expect_error(kms.generate_mac, "DisabledException", "disabled", **common)
    expect_error(kms.verify_mac, "DisabledException", "disabled", Mac=mac, **common)
