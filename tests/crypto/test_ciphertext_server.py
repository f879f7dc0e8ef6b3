"""Ciphertext versions through boto3 against the session server, with key material the test
knows (an EXTERNAL key with imported material), so that every blob is built or opened by the
independent implementation in reference.py.

- Version-1 blobs (as Trent wrote them before version 2) still decrypt, and ReEncrypt turns them
  into version 2.
- Every producer of symmetric ciphertext writes version 2: Encrypt, ReEncrypt,
  GenerateDataKey(WithoutPlaintext), GenerateDataKeyPair(WithoutPlaintext).
- Two encryptions of one plaintext use two different derived keys.
- A changed byte anywhere in a version-2 header is InvalidCiphertextException.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.crypto import reference

INVALID_CIPHERTEXT = ""  # AWS sends InvalidCiphertextException with no message at all


@dataclass(frozen=True)
class Imported:
    key_id: str
    arn: str
    material: bytes
    material_id: str


def import_key(kms: Any) -> Imported:
    """An EXTERNAL symmetric key whose 32 material bytes the test chose."""
    meta = kms.create_key(Origin="EXTERNAL", Description="ciphertext versions")["KeyMetadata"]
    key_id = meta["KeyId"]
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    public = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    material = os.urandom(32)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    out = kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=public.encrypt(material, oaep),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    return Imported(key_id, meta["Arn"], material, out["KeyMaterialId"])


@pytest.fixture(scope="module")
def imported(kms: Any) -> Imported:
    return import_key(kms)


def refused_as_invalid(kms: Any, blob: bytes, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as info:
        kms.decrypt(CiphertextBlob=blob, **kwargs)
    err = info.value.response
    assert err["Error"]["Code"] == "InvalidCiphertextException", err["Error"]
    assert err["Error"].get("Message", "") == INVALID_CIPHERTEXT
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400


def assert_v2(imported: Imported, blob: bytes) -> None:
    assert blob[0] == 2
    assert blob[1:17].hex() == imported.key_id.replace("-", "")
    assert blob[17:49].hex() == imported.material_id


@pytest.mark.parametrize("context", [None, {"purpose": "legacy", "tenant": "ä"}])
def test_version_1_blobs_still_decrypt(kms: Any, imported: Imported, context: Any) -> None:
    plaintext = os.urandom(64)
    blob = reference.seal_v1(
        imported.material, imported.key_id, imported.material_id, plaintext, context
    )
    assert blob[0] == 1 and len(blob) == 61 + 64 + 16
    extra = {"EncryptionContext": context} if context else {}
    out = kms.decrypt(CiphertextBlob=blob, **extra)
    assert out["Plaintext"] == plaintext
    assert out["KeyId"] == imported.arn
    assert out["KeyMaterialId"] == imported.material_id
    # Still bound to the context and authenticated like before.
    refused_as_invalid(kms, blob, EncryptionContext={"other": "context"})
    tampered = bytearray(blob)
    tampered[55] ^= 0x01  # in the version-1 nonce
    refused_as_invalid(kms, bytes(tampered), **extra)
    # ReEncrypt opens version 1 and writes version 2.
    again = kms.re_encrypt(
        CiphertextBlob=blob,
        DestinationKeyId=imported.key_id,
        **({"SourceEncryptionContext": context} if context else {}),
    )["CiphertextBlob"]
    assert_v2(imported, again)
    assert reference.open_blob(imported.material, again) == plaintext


def test_an_independently_built_version_2_blob_decrypts(kms: Any, imported: Imported) -> None:
    context = {"built": "outside"}
    blob = reference.seal_v2(
        imported.material, imported.key_id, imported.material_id, b"from outside", context
    )
    out = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert out["Plaintext"] == b"from outside"
    assert out["KeyMaterialId"] == imported.material_id


def test_encrypt_writes_version_2_with_a_fresh_derived_key(kms: Any, imported: Imported) -> None:
    context = {"k": "v"}
    blobs = [
        kms.encrypt(KeyId=imported.key_id, Plaintext=b"same", EncryptionContext=context)[
            "CiphertextBlob"
        ]
        for _ in range(2)
    ]
    for blob in blobs:
        assert_v2(imported, blob)
        assert len(blob) == 81 + 4 + 16
        assert reference.open_blob(imported.material, blob, context) == b"same"
        assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"same"
    first, second = blobs
    assert first[49:81] != second[49:81]
    assert reference.derived_key(imported.material, first[:81]) != reference.derived_key(
        imported.material, second[:81]
    )


def test_every_producer_writes_version_2(kms: Any, imported: Imported) -> None:
    context = {"producer": "all"}
    key = imported.key_id
    data_key = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext=context)
    assert_v2(imported, data_key["CiphertextBlob"])
    opened = reference.open_blob(imported.material, data_key["CiphertextBlob"], context)
    assert opened == data_key["Plaintext"]

    blind = kms.generate_data_key_without_plaintext(
        KeyId=key, NumberOfBytes=48, EncryptionContext=context
    )["CiphertextBlob"]
    assert_v2(imported, blind)
    assert len(reference.open_blob(imported.material, blind, context)) == 48

    pair = kms.generate_data_key_pair(
        KeyId=key, KeyPairSpec="ECC_NIST_P256", EncryptionContext=context
    )
    assert_v2(imported, pair["PrivateKeyCiphertextBlob"])
    private_der = reference.open_blob(imported.material, pair["PrivateKeyCiphertextBlob"], context)
    assert private_der == pair["PrivateKeyPlaintext"]

    blind_pair = kms.generate_data_key_pair_without_plaintext(
        KeyId=key, KeyPairSpec="ECC_NIST_P256", EncryptionContext=context
    )
    assert_v2(imported, blind_pair["PrivateKeyCiphertextBlob"])
    der = reference.open_blob(imported.material, blind_pair["PrivateKeyCiphertextBlob"], context)
    private = serialization.load_der_private_key(der, password=None)
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public == blind_pair["PublicKey"]

    other = import_key(kms)
    moved = kms.re_encrypt(
        CiphertextBlob=data_key["CiphertextBlob"],
        SourceEncryptionContext=context,
        DestinationKeyId=other.key_id,
    )["CiphertextBlob"]
    assert_v2(other, moved)
    assert reference.open_blob(other.material, moved) == data_key["Plaintext"]


def test_any_changed_header_byte_is_invalid_ciphertext(kms: Any, imported: Imported) -> None:
    blob = kms.encrypt(KeyId=imported.key_id, Plaintext=b"tamper me")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"tamper me"
    for pos in range(81):
        tampered = bytearray(blob)
        tampered[pos] ^= 0x01
        with pytest.raises(ClientError) as info:
            kms.decrypt(CiphertextBlob=bytes(tampered))
        err = info.value.response
        # A changed key id names a key that does not exist: also InvalidCiphertextException.
        assert err["Error"]["Code"] == "InvalidCiphertextException", (pos, err["Error"])
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
