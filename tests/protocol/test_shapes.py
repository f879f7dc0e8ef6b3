"""Model-driven input parsing and AWS-shaped validation messages."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from trent.errors import (
    SerializationException,
    UnknownOperationException,
    ValidationException,
    catalogue,
)
from trent.protocol.shapes import ServiceModel

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
ENCRYPT = {"KeyId": "k", "Plaintext": "AA=="}


@pytest.fixture(scope="module")
def model() -> ServiceModel:
    return ServiceModel.load()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def validation_message(model: ServiceModel, op: str, body: object) -> str:
    with pytest.raises(ValidationException) as info:
        model.parse_input(op, body)
    return info.value.message


def serialization_message(model: ServiceModel, op: str, body: object) -> str:
    with pytest.raises(SerializationException) as info:
        model.parse_input(op, body)
    return info.value.message


def test_all_56_operations(model: ServiceModel) -> None:
    names = model.operation_names
    assert len(names) == 56
    assert {"Encrypt", "Decrypt", "CreateKey", "GenerateDataKey", "ImportKeyMaterial"} <= names
    assert ServiceModel.load() is model


def test_errors_and_enums(model: ServiceModel) -> None:
    assert "NotFoundException" in model.error_names("Encrypt")
    assert "InvalidCiphertextException" not in model.error_names("CreateKey")
    assert model.enum_values("KeyUsageType")[:2] == ("SIGN_VERIFY", "ENCRYPT_DECRYPT")
    assert "SYMMETRIC_DEFAULT" in model.enum_values("KeySpec")


def test_valid_encrypt(model: ServiceModel) -> None:
    plaintext = os.urandom(100)
    body = {
        "KeyId": KEY_ID,
        "Plaintext": b64(plaintext),
        "EncryptionContext": {"purpose": "test", "tenant": "acme"},
        "GrantTokens": ["token"],
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "DryRun": False,
    }
    out = model.parse_input("Encrypt", body)
    assert out == {**body, "Plaintext": plaintext}
    assert out is not body


def test_valid_create_key_and_generate_data_key(model: ServiceModel) -> None:
    body: dict[str, Any] = {
        "Description": "d",
        "KeyUsage": "SIGN_VERIFY",
        "KeySpec": "ECC_NIST_P256",
        "Tags": [{"TagKey": "k", "TagValue": ""}],
        "MultiRegion": True,
    }
    assert model.parse_input("CreateKey", body) == body
    assert model.parse_input("CreateKey", {}) == {}
    out = model.parse_input("GenerateDataKey", {"KeyId": KEY_ID, "NumberOfBytes": 1024})
    assert out == {"KeyId": KEY_ID, "NumberOfBytes": 1024}


def test_blob_bytes_exact(model: ServiceModel) -> None:
    blob = bytes(range(256)) * 4
    out = model.parse_input("Decrypt", {"CiphertextBlob": b64(blob)})
    assert out["CiphertextBlob"] == blob
    assert isinstance(out["CiphertextBlob"], bytes)


def test_missing_required(model: ServiceModel) -> None:
    body = {"KeyId": KEY_ID, "Message": b64(b"m")}
    assert validation_message(model, "Sign", body) == (
        "1 validation error detected: Value null at 'signingAlgorithm' failed to satisfy "
        "constraint: Member must not be null"
    )
    # the model does not mark Decrypt's CiphertextBlob required: its handler must check
    assert model.parse_input("Decrypt", {}) == {}
    # an explicit JSON null counts as missing
    msg = validation_message(model, "Encrypt", {"KeyId": None, "Plaintext": b64(b"x")})
    assert msg.endswith(
        "Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    )


def test_enum_violation(model: ServiceModel) -> None:
    assert validation_message(model, "CreateKey", {"KeyUsage": "FOO"}) == (
        "1 validation error detected: Value 'FOO' at 'keyUsage' failed to satisfy constraint: "
        "Member must satisfy enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, "
        "KEY_AGREEMENT, ENCAPSULATE_DECAPSULATE]"
    )


@pytest.mark.parametrize(
    ("size", "constraint"),
    [(0, "greater than or equal to 1"), (4097, "less than or equal to 4096")],
)
def test_plaintext_length_is_never_echoed(model: ServiceModel, size: int, constraint: str) -> None:
    plaintext = b"S" * size
    msg = validation_message(model, "Encrypt", {"KeyId": KEY_ID, "Plaintext": b64(plaintext)})
    assert msg == (
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        f"Member must have length {constraint}"
    )
    assert model.parse_input("Encrypt", {"KeyId": KEY_ID, "Plaintext": b64(b"S" * 4096)})


def test_sensitive_string_is_never_echoed(model: ServiceModel) -> None:
    msg = validation_message(
        model, "CreateCustomKeyStore", {"CustomKeyStoreName": "s", "KeyStorePassword": "secret"}
    )
    assert "secret" not in msg
    assert "Value at 'keyStorePassword' failed" in msg


@pytest.mark.parametrize(
    ("op", "body", "expected"),
    [
        ("GenerateRandom", {"NumberOfBytes": 0}, "Value '0' at 'numberOfBytes' failed to satisfy "
         "constraint: Member must have value greater than or equal to 1"),
        ("GenerateRandom", {"NumberOfBytes": 1025}, "Value '1025' at 'numberOfBytes' failed to "
         "satisfy constraint: Member must have value less than or equal to 1024"),
        ("ScheduleKeyDeletion", {"KeyId": KEY_ID, "PendingWindowInDays": 0}, "Value '0' at "
         "'pendingWindowInDays' failed to satisfy constraint: Member must have value greater "
         "than or equal to 1"),
        ("ScheduleKeyDeletion", {"KeyId": KEY_ID, "PendingWindowInDays": 366}, "Value '366' at "
         "'pendingWindowInDays' failed to satisfy constraint: Member must have value less than "
         "or equal to 365"),
        ("EnableKeyRotation", {"KeyId": KEY_ID, "RotationPeriodInDays": 89}, "Value '89' at "
         "'rotationPeriodInDays' failed to satisfy constraint: Member must have value greater "
         "than or equal to 90"),
    ],
)  # fmt: skip
def test_integer_ranges(model: ServiceModel, op: str, body: dict[str, Any], expected: str) -> None:
    assert validation_message(model, op, body) == "1 validation error detected: " + expected


def test_integer_range_bounds_accepted(model: ServiceModel) -> None:
    assert model.parse_input("GenerateRandom", {"NumberOfBytes": 1}) == {"NumberOfBytes": 1}
    body = {"KeyId": KEY_ID, "RotationPeriodInDays": 90}
    assert model.parse_input("EnableKeyRotation", body) == body


def test_pattern(model: ServiceModel) -> None:
    msg = validation_message(model, "CreateAlias", {"AliasName": "alias/a b", "TargetKeyId": "k"})
    assert msg == (
        "1 validation error detected: Value 'alias/a b' at 'aliasName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
    )
    # the whole value must match, even past a trailing newline
    validation_message(model, "CreateAlias", {"AliasName": "alias/a\n", "TargetKeyId": "k"})
    model.parse_input("CreateAlias", {"AliasName": "alias/ok_1", "TargetKeyId": "k"})


def test_two_errors(model: ServiceModel) -> None:
    assert validation_message(model, "GenerateDataKey", {"NumberOfBytes": 0}) == (
        "2 validation errors detected: Value null at 'keyId' failed to satisfy constraint: "
        "Member must not be null; Value '0' at 'numberOfBytes' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


def test_nested_list_path(model: ServiceModel) -> None:
    tags = [{"TagKey": "ok", "TagValue": "v"}, {"TagKey": "", "TagValue": "v"}, {"TagValue": "v"}]
    assert validation_message(model, "CreateKey", {"Tags": tags}) == (
        "2 validation errors detected: Value '' at 'tags.2.member.tagKey' failed to satisfy "
        "constraint: Member must have length greater than or equal to 1; Value null at "
        "'tags.3.member.tagKey' failed to satisfy constraint: Member must not be null"
    )


def test_list_length(model: ServiceModel) -> None:
    msg = validation_message(
        model, "Decrypt", {"CiphertextBlob": "AA==", "GrantTokens": ["t"] * 11}
    )
    assert msg.endswith(
        "at 'grantTokens' failed to satisfy constraint: "
        "Member must have length less than or equal to 10"
    )


@pytest.mark.parametrize(
    ("op", "body", "where", "expected", "got"),
    [
        ("Encrypt", {**ENCRYPT, "KeyId": 5}, "keyId", "a string", "integer"),
        ("Encrypt", {**ENCRYPT, "KeyId": {"a": 1}}, "keyId", "a string", "object"),
        ("Encrypt", {**ENCRYPT, "Plaintext": 7}, "plaintext", "a base64-encoded string", "integer"),
        ("Encrypt", {**ENCRYPT, "EncryptionContext": ["a"]}, "encryptionContext", "an object",
         "array"),
        ("Encrypt", {**ENCRYPT, "EncryptionContext": {"a": 1}}, "encryptionContext.a", "a string",
         "integer"),
        ("Encrypt", {**ENCRYPT, "DryRun": "true"}, "dryRun", "a boolean", "string"),
        ("GenerateRandom", {"NumberOfBytes": "32"}, "numberOfBytes", "an integer", "string"),
        ("GenerateRandom", {"NumberOfBytes": True}, "numberOfBytes", "an integer", "boolean"),
        ("GenerateRandom", {"NumberOfBytes": 32.0}, "numberOfBytes", "an integer", "number"),
        ("CreateKey", {"Tags": {"TagKey": "k"}}, "tags", "an array", "object"),
        ("CreateKey", {"Tags": [{"TagKey": 1, "TagValue": "v"}]}, "tags.1.member.tagKey",
         "a string", "integer"),
        ("CreateKey", {"Tags": [None]}, "tags.1.member", "an object", "null"),
    ],
)  # fmt: skip
def test_type_mismatch(
    model: ServiceModel, op: str, body: dict[str, Any], where: str, expected: str, got: str
) -> None:
    assert serialization_message(model, op, body) == catalogue.TYPE_MISMATCH.message(
        path=where, expected=expected, got=got
    )


@pytest.mark.parametrize("body", [[], "x", 1, None, True])
def test_non_object_body(model: ServiceModel, body: object) -> None:
    assert serialization_message(model, "ListKeys", body) == catalogue.BODY_NOT_OBJECT.message()


@pytest.mark.parametrize("bad", ["!!!!", "AAA", "AA=A", "é"])
def test_bad_base64(model: ServiceModel, bad: str) -> None:
    msg = serialization_message(model, "Encrypt", {"KeyId": "k", "Plaintext": bad})
    assert msg == catalogue.NOT_BASE64.message(path="plaintext")
    assert bad not in msg


def test_unknown_operation_has_no_message(model: ServiceModel) -> None:
    with pytest.raises(UnknownOperationException) as info:
        model.parse_input("NoSuchOperation", {})
    assert info.value.message is None  # as AWS: {"__type"} alone


def test_unknown_member_dropped(model: ServiceModel) -> None:
    out = model.parse_input("DescribeKey", {"KeyId": KEY_ID, "Bogus": {"x": [1]}, "keyId": 3})
    assert out == {"KeyId": KEY_ID}


@pytest.mark.parametrize(
    ("valid_to", "expected"),
    [
        (1893456000, 1893456000.0),
        (1893456000.5, 1893456000.5),
        ("2030-01-01T00:00:00Z", 1893456000.0),
        ("2030-01-01T01:00:00+01:00", 1893456000.0),
    ],
)
def test_timestamps(model: ServiceModel, valid_to: object, expected: float) -> None:
    body = {
        "KeyId": KEY_ID,
        "ImportToken": "AA==",
        "EncryptedKeyMaterial": "AQ==",
        "ValidTo": valid_to,
    }
    out = model.parse_input("ImportKeyMaterial", body)
    assert type(out["ValidTo"]) is float
    assert out["ValidTo"] == expected
    assert out["EncryptedKeyMaterial"] == b"\x01"


@pytest.mark.parametrize("valid_to", ["tomorrow", True, [1]])
def test_bad_timestamps(model: ServiceModel, valid_to: object) -> None:
    body = {
        "KeyId": KEY_ID,
        "ImportToken": "AA==",
        "EncryptedKeyMaterial": "AQ==",
        "ValidTo": valid_to,
    }
    expected = (
        catalogue.NOT_TIMESTAMP.message(path="validTo")
        if isinstance(valid_to, str)
        else catalogue.TYPE_MISMATCH.message(
            path="validTo", expected="a timestamp", got="boolean" if valid_to is True else "array"
        )
    )
    assert serialization_message(model, "ImportKeyMaterial", body) == expected
