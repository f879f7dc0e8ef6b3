"""GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext through boto3, for every KeyPairSpec
Trent offers (keyspecs.DATA_KEY_PAIR_SPECS), checked with the independent ``cryptography``
package and a small DER reader for the PKCS#8 structure.

AWS (GenerateDataKeyPair, API Reference): the private key is a DER PKCS#8 PrivateKeyInfo, the
public key a DER SubjectPublicKeyInfo; PrivateKeyCiphertextBlob is the private key encrypted
under a symmetric encryption KMS key (with the given encryption context), which Decrypt opens;
the KMS key must be a symmetric encryption key; SM2 is China Regions only. ML_KEM_512 is left out
(no primitive in pyca/cryptography 50, README).
"""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mlkem, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from tests.operations.test_asymmetric_import import (
    AUDIT_SECRETS,
    CURVES,
    RSA_BITS,
    describe,
    expect_error,
    shared_key,
)
from trent.crypto import keyspecs

CONTEXT = {"purpose": "data-key-pair-test", "tenant": "42"}
# DER-encoded algorithm OIDs of the PKCS#8 AlgorithmIdentifier.
OIDS = {
    "rsa": bytes.fromhex("06092a864886f70d010101"),  # 1.2.840.113549.1.1.1 rsaEncryption
    "ec": bytes.fromhex("06072a8648ce3d0201"),  # 1.2.840.10045.2.1 id-ecPublicKey
    "ed25519": bytes.fromhex("06032b6570"),  # 1.3.101.112 id-Ed25519
    "ML_KEM_768": bytes.fromhex("0609608648016503040402"),  # 2.16.840.1.101.3.4.4.2
    "ML_KEM_1024": bytes.fromhex("0609608648016503040403"),  # 2.16.840.1.101.3.4.4.3
}
SPECS = sorted(keyspecs.DATA_KEY_PAIR_SPECS)


def _tlv(der: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER element at ``at``."""
    tag, length = der[at], der[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(der[at : at + count], "big")
        at += count
    return tag, at, at + length


def pkcs8_algorithm(der: bytes) -> bytes:
    """The AlgorithmIdentifier OID (as DER) of a PKCS#8 PrivateKeyInfo; asserts the structure
    SEQUENCE { INTEGER 0, SEQUENCE { OID, ... }, OCTET STRING, ... } spanning all of ``der``."""
    tag, start, end = _tlv(der, 0)
    assert tag == 0x30 and end == len(der)
    tag, v_start, v_end = _tlv(der, start)
    assert tag == 0x02 and der[v_start:v_end] == b"\x00"
    tag, a_start, a_end = _tlv(der, v_end)
    assert tag == 0x30
    tag, _, o_end = _tlv(der, a_start)
    assert tag == 0x06
    tag, _, _ = _tlv(der, a_end)
    assert tag == 0x04  # privateKey OCTET STRING
    return der[a_start:o_end]


def expected_oid(spec: str) -> bytes:
    if spec in RSA_BITS:
        return OIDS["rsa"]
    if spec in CURVES:
        return OIDS["ec"]
    if spec == "ECC_NIST_EDWARDS25519":
        return OIDS["ed25519"]
    return OIDS[spec]


def check_private_key(spec: str, private_der: bytes, public_der: bytes) -> PrivateKeyTypes:
    assert pkcs8_algorithm(private_der) == expected_oid(spec)
    private = serialization.load_der_private_key(private_der, password=None)
    if spec in RSA_BITS:
        assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == RSA_BITS[spec]
    elif spec in CURVES:
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        assert isinstance(private.curve, CURVES[spec])
    elif spec == "ECC_NIST_EDWARDS25519":
        assert isinstance(private, ed25519.Ed25519PrivateKey)
    elif spec == "ML_KEM_768":
        assert isinstance(private, mlkem.MLKEM768PrivateKey)
    else:
        assert isinstance(private, mlkem.MLKEM1024PrivateKey)
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public == public_der
    assert serialization.load_der_public_key(public_der).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == (public_der)
    return private


@pytest.fixture(scope="module")
def symmetric(kms: Any) -> str:
    return shared_key(kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")


def test_specs_are_the_model_enum_less_the_known_limits() -> None:
    model = botocore.session.get_session().get_service_model("kms")
    enum = set(model.shape_for("DataKeyPairSpec").enum)
    assert enum - {"SM2", "ML_KEM_512"} == keyspecs.DATA_KEY_PAIR_SPECS


@pytest.mark.parametrize("spec", SPECS)
def test_generate_data_key_pair(kms: Any, symmetric: str, spec: str) -> None:
    out = kms.generate_data_key_pair(KeyId=symmetric, KeyPairSpec=spec, EncryptionContext=CONTEXT)
    AUDIT_SECRETS.append(out["PrivateKeyPlaintext"])
    assert out["KeyPairSpec"] == spec
    meta = describe(kms, symmetric)
    assert out["KeyId"] == meta["Arn"]
    assert out["KeyMaterialId"] == meta["CurrentKeyMaterialId"]
    check_private_key(spec, out["PrivateKeyPlaintext"], out["PublicKey"])

    opened = kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext=CONTEXT)
    assert opened["Plaintext"] == out["PrivateKeyPlaintext"]
    assert opened["KeyId"] == meta["Arn"]
    expect_error(
        kms.decrypt,
        "InvalidCiphertextException",
        "",
        CiphertextBlob=out["PrivateKeyCiphertextBlob"],
    )


@pytest.mark.parametrize("spec", SPECS)
def test_generate_data_key_pair_without_plaintext(kms: Any, symmetric: str, spec: str) -> None:
    out = kms.generate_data_key_pair_without_plaintext(
        KeyId=symmetric, KeyPairSpec=spec, EncryptionContext=CONTEXT
    )
    assert "PrivateKeyPlaintext" not in out
    assert out["KeyPairSpec"] == spec
    assert out["KeyId"].endswith(f":key/{symmetric}")
    opened = kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext=CONTEXT)
    AUDIT_SECRETS.append(opened["Plaintext"])
    check_private_key(spec, opened["Plaintext"], out["PublicKey"])


def test_each_call_makes_a_new_pair(kms: Any, symmetric: str) -> None:
    first = kms.generate_data_key_pair(KeyId=symmetric, KeyPairSpec="ECC_NIST_P256")
    second = kms.generate_data_key_pair(KeyId=symmetric, KeyPairSpec="ECC_NIST_P256")
    AUDIT_SECRETS.extend([first["PrivateKeyPlaintext"], second["PrivateKeyPlaintext"]])
    assert first["PublicKey"] != second["PublicKey"]
    assert first["PrivateKeyPlaintext"] != second["PrivateKeyPlaintext"]
    # Without an encryption context, Decrypt needs none.
    opened = kms.decrypt(CiphertextBlob=first["PrivateKeyCiphertextBlob"])
    assert opened["Plaintext"] == first["PrivateKeyPlaintext"]


def test_known_limits(kms: Any, symmetric: str) -> None:
    for generate in (kms.generate_data_key_pair, kms.generate_data_key_pair_without_plaintext):
        expect_error(
            generate, "ValidationException", "China Regions", KeyId=symmetric, KeyPairSpec="SM2"
        )
        expect_error(
            generate,
            "UnsupportedOperationException",
            "ML_KEM_512",
            KeyId=symmetric,
            KeyPairSpec="ML_KEM_512",
        )


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("RSA_2048", "ENCRYPT_DECRYPT"),
        ("ECC_NIST_P256", "SIGN_VERIFY"),
        ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE"),
        ("HMAC_256", "GENERATE_VERIFY_MAC"),
    ],
)
def test_needs_a_symmetric_encryption_key(kms: Any, spec: str, usage: str) -> None:
    key_id = shared_key(kms, spec, usage)
    fragment = spec if usage == "ENCRYPT_DECRYPT" else f"key usage is {usage}"
    for generate, name in (
        (kms.generate_data_key_pair, "GenerateDataKeyPair"),
        (kms.generate_data_key_pair_without_plaintext, "GenerateDataKeyPairWithoutPlaintext"),
    ):
        message = expect_error(
            generate,
            "InvalidKeyUsageException",
            fragment,
            KeyId=key_id,
            KeyPairSpec="ECC_NIST_P256",
        )
        assert name in message


def test_on_a_disabled_key(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key_id)
    expect_error(
        kms.generate_data_key_pair,
        "DisabledException",
        "disabled",
        KeyId=key_id,
        KeyPairSpec="ECC_NIST_P256",
    )
