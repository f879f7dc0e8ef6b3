"""GenerateDataKey, GenerateDataKeyWithoutPlaintext and GenerateRandom through boto3, with the
data keys checked by using them the way a user does: AES-GCM from ``cryptography``."""

from __future__ import annotations

import os
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.expect import expect_error
from tests.server import TrentServer

EITHER = "specify either number of bytes or key spec"


@pytest.fixture(scope="module")
def raw_kms(server: TrentServer) -> Any:
    """A client without botocore's own parameter validation, so the server's answers show."""
    config = Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"})
    return server.client(config=config)


def describe(kms: Any, key_id: str) -> dict[str, Any]:
    return dict(kms.describe_key(KeyId=key_id)["KeyMetadata"])


# --- GenerateDataKey -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "size"),
    [
        ({"KeySpec": "AES_256"}, 32),
        ({"KeySpec": "AES_128"}, 16),
        ({"NumberOfBytes": 1}, 1),
        ({"NumberOfBytes": 64}, 64),
        ({"NumberOfBytes": 1024}, 1024),
    ],
    ids=["AES_256", "AES_128", "1-byte", "64-bytes", "1024-bytes"],
)
def test_generate_data_key_sizes(kms: Any, key_id: str, spec: dict[str, Any], size: int) -> None:
    meta = describe(kms, key_id)
    out = kms.generate_data_key(KeyId=key_id, **spec)
    assert len(out["Plaintext"]) == size
    assert out["KeyId"] == meta["Arn"]
    assert out["KeyMaterialId"] == meta["CurrentKeyMaterialId"]
    # Decrypt of the blob returns exactly the plaintext data key and the same material.
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"])
    assert back["Plaintext"] == out["Plaintext"]
    assert back["KeyMaterialId"] == out["KeyMaterialId"]
    assert back["KeyId"] == meta["Arn"]


def test_generate_data_key_by_alias(kms: Any, key_id: str, alias_name: str) -> None:
    kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    out = kms.generate_data_key(KeyId=alias_name, KeySpec="AES_256")
    assert out["KeyId"] == describe(kms, key_id)["Arn"]
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"] == out["Plaintext"]


def test_data_keys_are_fresh(kms: Any, key_id: str) -> None:
    keys = [kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["Plaintext"] for _ in range(5)]
    assert len(set(keys)) == 5


def test_envelope_encryption_with_aes_gcm(kms: Any, key_id: str) -> None:
    """Encrypt locally under the data key; later recover the key through KMS and decrypt."""
    context = {"file": "report.pdf"}
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)
    document = os.urandom(5000)
    nonce = os.urandom(12)
    sealed = AESGCM(data_key["Plaintext"]).encrypt(nonce, document, b"report.pdf")
    stored = (data_key["CiphertextBlob"], nonce, sealed)  # what the user keeps
    del data_key

    blob, nonce, sealed = stored
    recovered = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"]
    assert AESGCM(recovered).decrypt(nonce, sealed, b"report.pdf") == document
    # Another data key does not open it.
    wrong = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["Plaintext"]
    with pytest.raises(InvalidTag):
        AESGCM(wrong).decrypt(nonce, sealed, b"report.pdf")


def test_aes_128_data_key_works_with_aes_gcm(kms: Any, key_id: str) -> None:
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_128")
    nonce = os.urandom(12)
    sealed = AESGCM(data_key["Plaintext"]).encrypt(nonce, b"payload", None)
    recovered = kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"]
    assert AESGCM(recovered).decrypt(nonce, sealed, None) == b"payload"


def test_both_key_spec_and_number_of_bytes(kms: Any, key_id: str) -> None:
    for call in (kms.generate_data_key, kms.generate_data_key_without_plaintext):
        message = expect_error(
            call, "ValidationException", "", KeyId=key_id, KeySpec="AES_256", NumberOfBytes=32
        )
        assert EITHER in message.lower(), message


def test_neither_key_spec_nor_number_of_bytes(kms: Any, key_id: str) -> None:
    for call in (kms.generate_data_key, kms.generate_data_key_without_plaintext):
        message = expect_error(call, "ValidationException", "", KeyId=key_id)
        assert EITHER in message.lower(), message


@pytest.mark.parametrize(
    ("count", "bound"),
    [(0, "greater than or equal to 1"), (1025, "less than or equal to 1024")],
)
def test_number_of_bytes_bounds(raw_kms: Any, key_id: str, count: int, bound: str) -> None:
    for call in (raw_kms.generate_data_key, raw_kms.generate_data_key_without_plaintext):
        expect_error(
            call,
            "ValidationException",
            f"1 validation error detected: Value '{count}' at 'numberOfBytes' failed to satisfy "
            f"constraint: Member must have value {bound}",
            KeyId=key_id,
            NumberOfBytes=count,
        )


def test_bad_key_spec(raw_kms: Any, key_id: str) -> None:
    expect_error(
        raw_kms.generate_data_key,
        "ValidationException",
        "Value 'AES-256' at 'keySpec' failed to satisfy constraint: Member must satisfy enum "
        "value set:",
        KeyId=key_id,
        KeySpec="AES-256",
    )


def test_generate_data_key_on_disabled_key(kms: Any, key_id: str) -> None:
    kms.disable_key(KeyId=key_id)
    arn = describe(kms, key_id)["Arn"]
    for call in (kms.generate_data_key, kms.generate_data_key_without_plaintext):
        expect_error(
            call, "DisabledException", f"{arn} is disabled.", KeyId=key_id, KeySpec="AES_256"
        )


def test_generate_data_key_dry_run(kms: Any, key_id: str) -> None:
    for call in (kms.generate_data_key, kms.generate_data_key_without_plaintext):
        expect_error(
            call,
            "DryRunOperationException",
            "The request would have succeeded, but the DryRun option is set.",
            KeyId=key_id,
            KeySpec="AES_256",
            DryRun=True,
        )


# --- GenerateDataKeyWithoutPlaintext ---------------------------------------------------------
def test_generate_data_key_without_plaintext(kms: Any, key_id: str) -> None:
    meta = describe(kms, key_id)
    out = kms.generate_data_key_without_plaintext(KeyId=key_id, KeySpec="AES_256")
    assert "Plaintext" not in out
    assert out["KeyId"] == meta["Arn"]
    assert out["KeyMaterialId"] == meta["CurrentKeyMaterialId"]
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"])
    assert len(back["Plaintext"]) == 32
    assert back["KeyMaterialId"] == meta["CurrentKeyMaterialId"]
    # The recovered key is usable as an AES-256-GCM key.
    nonce = os.urandom(12)
    sealed = AESGCM(back["Plaintext"]).encrypt(nonce, b"later", None)
    again = kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"]
    assert AESGCM(again).decrypt(nonce, sealed, None) == b"later"


@pytest.mark.parametrize(("spec", "size"), [("AES_128", 16), (None, 7)])
def test_generate_data_key_without_plaintext_sizes(
    kms: Any, key_id: str, spec: str | None, size: int
) -> None:
    args: dict[str, Any] = {"KeySpec": spec} if spec else {"NumberOfBytes": size}
    out = kms.generate_data_key_without_plaintext(KeyId=key_id, **args)
    assert "Plaintext" not in out
    assert len(kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"]) == size


# --- encryption context ----------------------------------------------------------------------
@pytest.mark.parametrize("operation", ["generate_data_key", "generate_data_key_without_plaintext"])
def test_data_key_bound_to_context(kms: Any, key_id: str, operation: str) -> None:
    context = {"bucket": "b1", "object": "o1"}
    out = getattr(kms, operation)(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)
    blob = out["CiphertextBlob"]
    back = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"object": "o1", "bucket": "b1"})
    if "Plaintext" in out:
        assert back["Plaintext"] == out["Plaintext"]
    for wrong in (None, {"bucket": "b1"}, {"bucket": "b1", "object": "o2"}, {**context, "x": ""}):
        extra = {} if wrong is None else {"EncryptionContext": wrong}
        with pytest.raises(ClientError) as info:
            kms.decrypt(CiphertextBlob=blob, **extra)
        err = info.value.response
        assert err["Error"]["Code"] == "InvalidCiphertextException", (wrong, err["Error"])
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert err["Error"].get("Message", "") == ""  # AWS sends no message


# --- GenerateRandom --------------------------------------------------------------------------
@pytest.mark.parametrize("count", [1, 2, 15, 16, 17, 32, 255, 256, 1000, 1023, 1024])
def test_generate_random_lengths(kms: Any, count: int) -> None:
    assert len(kms.generate_random(NumberOfBytes=count)["Plaintext"]) == count


def test_generate_random_differs(kms: Any) -> None:
    first = kms.generate_random(NumberOfBytes=32)["Plaintext"]
    second = kms.generate_random(NumberOfBytes=32)["Plaintext"]
    assert first != second
    # 1024 random bytes use most byte values (a constant or counter would not).
    assert len(set(kms.generate_random(NumberOfBytes=1024)["Plaintext"])) > 200


@pytest.mark.parametrize(
    ("count", "bound"),
    [(0, "greater than or equal to 1"), (1025, "less than or equal to 1024")],
)
def test_generate_random_bounds(raw_kms: Any, count: int, bound: str) -> None:
    expect_error(
        raw_kms.generate_random,
        "ValidationException",
        f"1 validation error detected: Value '{count}' at 'numberOfBytes' failed to satisfy "
        f"constraint: Member must have value {bound}",
        NumberOfBytes=count,
    )


def test_generate_random_requires_number_of_bytes(kms: Any) -> None:
    message = expect_error(kms.generate_random, "ValidationException", "NumberOfBytes is required.")
    assert message == "NumberOfBytes is required."
