"""Key lifecycle through boto3: CreateKey, DescribeKey, ListKeys, UpdateKeyDescription,
EnableKey/DisableKey, ScheduleKeyDeletion/CancelKeyDeletion, and DryRun on Encrypt."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.expect import expect_error

REGION = "us-east-1"
KEY_ARN = re.compile(
    r"^arn:aws:kms:us-east-1:(\d{12}):key/"
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)


def account_of(kms: Any, key_id: str) -> str:
    return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["AWSAccountId"])


def arn_of(kms: Any, key_id: str) -> str:
    return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])


def near(when: datetime, target: datetime, slack: float = 120.0) -> bool:
    return abs((when - target).total_seconds()) <= slack


# --- CreateKey -------------------------------------------------------------------------------
def test_create_key_defaults(kms: Any) -> None:
    before = datetime.now(UTC)
    meta = kms.create_key()["KeyMetadata"]
    assert re.fullmatch(r"\d{12}", meta["AWSAccountId"])
    match = KEY_ARN.fullmatch(meta["Arn"])
    assert match is not None, meta["Arn"]
    assert match.group(1) == meta["AWSAccountId"]
    assert match.group(2) == meta["KeyId"]
    assert str(uuid.UUID(meta["KeyId"])) == meta["KeyId"]
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert meta["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert meta["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert meta["Origin"] == "AWS_KMS"
    assert meta["KeyManager"] == "CUSTOMER"
    assert meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert meta["MultiRegion"] is False
    assert meta["Enabled"] is True
    assert meta["KeyState"] == "Enabled"
    assert meta["Description"] == ""
    assert re.fullmatch(r"[0-9a-f]{64}", meta["CurrentKeyMaterialId"])
    assert "DeletionDate" not in meta
    assert near(meta["CreationDate"], before)
    # DescribeKey answers the same metadata.
    described = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]
    for field in ("AWSAccountId", "Arn", "KeyId", "KeySpec", "KeyUsage", "Origin", "KeyState"):
        assert described[field] == meta[field]
    assert described["CurrentKeyMaterialId"] == meta["CurrentKeyMaterialId"]
    assert described["CreationDate"] == meta["CreationDate"]


def test_create_key_ids_are_distinct(kms: Any) -> None:
    first = kms.create_key()["KeyMetadata"]
    second = kms.create_key()["KeyMetadata"]
    assert first["KeyId"] != second["KeyId"]
    assert first["CurrentKeyMaterialId"] != second["CurrentKeyMaterialId"]


def test_create_key_description(kms: Any) -> None:
    meta = kms.create_key(Description="payroll data key")["KeyMetadata"]
    assert meta["Description"] == "payroll data key"
    described = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]
    assert described["Description"] == "payroll data key"


def test_create_key_tags_visible_in_list_resource_tags(kms: Any) -> None:
    tags = [{"TagKey": "team", "TagValue": "payments"}, {"TagKey": "env", "TagValue": ""}]
    key_id = kms.create_key(Tags=tags)["KeyMetadata"]["KeyId"]
    listed = kms.list_resource_tags(KeyId=key_id)
    assert sorted(listed["Tags"], key=lambda t: t["TagKey"]) == sorted(
        tags, key=lambda t: t["TagKey"]
    )
    assert listed["Truncated"] is False


def test_create_key_policy_is_stored_verbatim(kms: Any) -> None:
    account = account_of(kms, kms.create_key()["KeyMetadata"]["KeyId"])
    policy = (
        '{"Version":"2012-10-17",  "Id": "custom-1",\n "Statement": [{"Sid": "Root", '
        '"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::' + account + ':root"}, '
        '"Action": "kms:*", "Resource": "*"}]}\n'
    )
    key_id = kms.create_key(Policy=policy)["KeyMetadata"]["KeyId"]
    assert kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"] == policy


def test_create_key_default_policy(kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    document = json.loads(kms.get_key_policy(KeyId=meta["KeyId"])["Policy"])
    assert document["Version"] == "2012-10-17"
    assert document["Id"] == "key-default-1"
    assert len(document["Statement"]) == 1
    statement = document["Statement"][0]
    assert statement["Sid"] == "Enable IAM User Permissions"
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{meta['AWSAccountId']}:root"}
    assert statement["Action"] == "kms:*"
    assert statement["Resource"] == "*"


@pytest.mark.parametrize("policy", ["{not json", "[]", '"just a string"'])
def test_create_key_malformed_policy(kms: Any, policy: str) -> None:
    expect_error(kms.create_key, "MalformedPolicyDocumentException", "", Policy=policy)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"KeySpec": "SM2", "KeyUsage": "SIGN_VERIFY"},
        {"KeySpec": "ML_KEM_512", "KeyUsage": "ENCAPSULATE_DECAPSULATE"},
        {"Origin": "AWS_CLOUDHSM"},
    ],
    ids=["sm2", "ml-kem-512", "cloudhsm"],
)
def test_create_key_unsupported(kms: Any, kwargs: dict[str, str]) -> None:
    expect_error(kms.create_key, "UnsupportedOperationException", "", **kwargs)


def test_create_key_sign_verify_with_symmetric_default(kms: Any) -> None:
    expect_error(
        kms.create_key,
        "ValidationException",
        "SIGN_VERIFY",
        KeySpec="SYMMETRIC_DEFAULT",
        KeyUsage="SIGN_VERIFY",
    )


def test_create_key_invalid_enum(kms: Any) -> None:
    enum = kms.meta.service_model.shape_for("KeyUsageType").enum
    message = expect_error(kms.create_key, "ValidationException", "", KeyUsage="RANDOM")
    assert message == (
        "1 validation error detected: Value 'RANDOM' at 'keyUsage' failed to satisfy "
        f"constraint: Member must satisfy enum value set: [{', '.join(enum)}]"
    )


def test_create_key_invalid_key_spec_enum(kms: Any) -> None:
    message = expect_error(kms.create_key, "ValidationException", "", KeySpec="AES_999")
    assert message.startswith(
        "1 validation error detected: Value 'AES_999' at 'keySpec' failed to satisfy "
        "constraint: Member must satisfy enum value set: ["
    )
    assert "SYMMETRIC_DEFAULT" in message


# --- DescribeKey -----------------------------------------------------------------------------
def test_describe_key_by_every_identifier(kms: Any, key_id: str, alias_name: str) -> None:
    arn = arn_of(kms, key_id)
    kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    alias_arn = arn.split(":key/")[0] + ":" + alias_name
    for ref in (key_id, arn, alias_name, alias_arn):
        meta = kms.describe_key(KeyId=ref)["KeyMetadata"]
        assert meta["KeyId"] == key_id, ref
        assert meta["Arn"] == arn, ref


def test_describe_unknown_key_by_id(kms: Any, key_id: str) -> None:
    account = account_of(kms, key_id)
    missing = str(uuid.uuid4())
    message = expect_error(kms.describe_key, "NotFoundException", "", KeyId=missing)
    assert message == f"Key 'arn:aws:kms:{REGION}:{account}:key/{missing}' does not exist"


def test_describe_unknown_key_by_arn(kms: Any, key_id: str) -> None:
    account = account_of(kms, key_id)
    arn = f"arn:aws:kms:{REGION}:{account}:key/{uuid.uuid4()}"
    message = expect_error(kms.describe_key, "NotFoundException", "", KeyId=arn)
    assert message == f"Key '{arn}' does not exist"


def test_describe_malformed_key_id(kms: Any) -> None:
    expect_error(kms.describe_key, "NotFoundException", "Invalid keyId", KeyId="fake-key-id")


def test_describe_unknown_alias(kms: Any, key_id: str, alias_name: str) -> None:
    account = account_of(kms, key_id)
    message = expect_error(kms.describe_key, "NotFoundException", "", KeyId=alias_name)
    short = alias_name.removeprefix("alias/")
    assert message == f"Alias arn:aws:kms:{REGION}:{account}:alias/{short} is not found."


# --- ListKeys --------------------------------------------------------------------------------
def test_list_keys_paging(kms: Any) -> None:
    created = {kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)}
    seen: list[str] = []
    arns: dict[str, str] = {}
    marker: str | None = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"Limit": 2}
        if marker is not None:
            kwargs["Marker"] = marker
        page = kms.list_keys(**kwargs)
        pages += 1
        assert len(page["Keys"]) <= 2
        for entry in page["Keys"]:
            seen.append(entry["KeyId"])
            arns[entry["KeyId"]] = entry["KeyArn"]
        if page["Truncated"]:
            assert len(page["Keys"]) == 2
            assert page["NextMarker"]
            assert page["NextMarker"] != marker
            marker = page["NextMarker"]
        else:
            assert "NextMarker" not in page
            break
        assert pages < 10_000
    assert len(seen) == len(set(seen)), "a key was listed twice"
    assert created <= set(seen)
    assert pages >= 3
    for key_id in created:
        match = KEY_ARN.fullmatch(arns[key_id])
        assert match is not None and match.group(2) == key_id


def test_list_keys_bad_marker(kms: Any) -> None:
    expect_error(kms.list_keys, "InvalidMarkerException", "", Marker="%%% not a marker %%%")


# --- UpdateKeyDescription --------------------------------------------------------------------
def test_update_key_description(kms: Any, key_id: str) -> None:
    kms.update_key_description(KeyId=key_id, Description="rotated quarterly")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "rotated quarterly"
    kms.update_key_description(KeyId=key_id, Description="")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == ""


# --- EnableKey / DisableKey ------------------------------------------------------------------
def test_disable_and_enable_key(kms: Any, key_id: str) -> None:
    arn = arn_of(kms, key_id)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
    kms.disable_key(KeyId=key_id)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["Enabled"] is False
    assert meta["KeyState"] == "Disabled"
    message = expect_error(
        kms.encrypt, "DisabledException", "is disabled.", KeyId=key_id, Plaintext=b"x"
    )
    assert message == f"{arn} is disabled."
    expect_error(kms.decrypt, "DisabledException", "is disabled.", CiphertextBlob=blob)
    kms.disable_key(KeyId=key_id)  # disabling a disabled key is allowed
    kms.enable_key(KeyId=key_id)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["Enabled"] is True
    assert meta["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"
    kms.enable_key(KeyId=key_id)  # enabling an enabled key is allowed


def test_enable_unknown_key(kms: Any) -> None:
    expect_error(kms.enable_key, "NotFoundException", "does not exist", KeyId=str(uuid.uuid4()))


# --- ScheduleKeyDeletion / CancelKeyDeletion -------------------------------------------------
@pytest.mark.parametrize("days", [None, 7, 30])
def test_schedule_key_deletion(kms: Any, key_id: str, days: int | None) -> None:
    arn = arn_of(kms, key_id)
    kwargs: dict[str, Any] = {"KeyId": key_id}
    if days is not None:
        kwargs["PendingWindowInDays"] = days
    before = datetime.now(UTC)
    out = kms.schedule_key_deletion(**kwargs)
    window = days or 30
    assert out["KeyId"] == arn
    assert out["KeyState"] == "PendingDeletion"
    assert out["PendingWindowInDays"] == window
    assert near(out["DeletionDate"], before + timedelta(days=window))
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"
    assert meta["Enabled"] is False
    assert meta["DeletionDate"] == out["DeletionDate"]


@pytest.mark.parametrize("days", [1, 6, 31, 365])
def test_schedule_key_deletion_window_out_of_range(kms: Any, key_id: str, days: int) -> None:
    message = expect_error(
        kms.schedule_key_deletion,
        "ValidationException",
        "",
        KeyId=key_id,
        PendingWindowInDays=days,
    )
    assert message == "PendingWindowInDays must be between 7 and 30"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_pending_deletion_key_refuses_use(kms: Any, key_id: str) -> None:
    arn = arn_of(kms, key_id)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    pending = f"{arn} is pending deletion."
    message = expect_error(
        kms.encrypt,
        "KMSInvalidStateException",
        "is pending deletion.",
        KeyId=key_id,
        Plaintext=b"x",
    )
    assert message == pending
    message = expect_error(
        kms.decrypt, "KMSInvalidStateException", "is pending deletion.", CiphertextBlob=blob
    )
    assert message == pending
    message = expect_error(kms.enable_key, "KMSInvalidStateException", "", KeyId=key_id)
    assert message == pending
    message = expect_error(kms.disable_key, "KMSInvalidStateException", "", KeyId=key_id)
    assert message == pending
    message = expect_error(
        kms.update_key_description,
        "KMSInvalidStateException",
        "",
        KeyId=key_id,
        Description="nope",
    )
    assert message == pending
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"
    assert "DeletionDate" in meta


def test_schedule_key_deletion_twice(kms: Any, key_id: str) -> None:
    arn = arn_of(kms, key_id)
    first = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    message = expect_error(
        kms.schedule_key_deletion,
        "KMSInvalidStateException",
        "is pending deletion.",
        KeyId=key_id,
        PendingWindowInDays=30,
    )
    assert message == f"{arn} is pending deletion."
    # The first schedule stands.
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["DeletionDate"] == first["DeletionDate"]


def test_schedule_deletion_of_disabled_key(kms: Any, key_id: str) -> None:
    kms.disable_key(KeyId=key_id)
    out = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert out["KeyState"] == "PendingDeletion"


def test_cancel_key_deletion(kms: Any, key_id: str) -> None:
    arn = arn_of(kms, key_id)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"kept")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=key_id)
    out = kms.cancel_key_deletion(KeyId=key_id)
    assert out["KeyId"] == arn
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled"
    assert meta["Enabled"] is False
    assert "DeletionDate" not in meta
    expect_error(kms.encrypt, "DisabledException", "is disabled.", KeyId=key_id, Plaintext=b"x")
    kms.enable_key(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"


@pytest.mark.parametrize("disable", [False, True], ids=["enabled", "disabled"])
def test_cancel_key_deletion_when_not_pending(kms: Any, key_id: str, disable: bool) -> None:
    arn = arn_of(kms, key_id)
    if disable:
        kms.disable_key(KeyId=key_id)
    message = expect_error(
        kms.cancel_key_deletion,
        "KMSInvalidStateException",
        "is not pending deletion.",
        KeyId=key_id,
    )
    assert message == f"{arn} is not pending deletion."


# --- DryRun ----------------------------------------------------------------------------------
def test_encrypt_dry_run(kms: Any, key_id: str) -> None:
    expect_error(
        kms.encrypt,
        "DryRunOperationException",
        "The request would have succeeded, but the DryRun option is set.",
        KeyId=key_id,
        Plaintext=b"x",
        DryRun=True,
    )


def test_encrypt_dry_run_still_checks_state(kms: Any, key_id: str) -> None:
    kms.disable_key(KeyId=key_id)
    expect_error(
        kms.encrypt, "DisabledException", "is disabled.", KeyId=key_id, Plaintext=b"x", DryRun=True
    )
