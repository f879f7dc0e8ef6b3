"""Aliases through boto3: CreateAlias, UpdateAlias, DeleteAlias, ListAliases, and aliases as
KeyId arguments."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.expect import expect_error

REGION = "us-east-1"


def describe(kms: Any, key_id: str) -> dict[str, Any]:
    return dict(kms.describe_key(KeyId=key_id)["KeyMetadata"])


def alias_arn(account: str, name: str) -> str:
    return f"arn:aws:kms:{REGION}:{account}:{name}"


def all_aliases(kms: Any, **kwargs: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        page = kms.list_aliases(**kwargs, **({"Marker": marker} if marker else {}))
        entries += page["Aliases"]
        if not page["Truncated"]:
            return entries
        marker = page["NextMarker"]


def new_alias() -> str:
    return f"alias/test-{uuid.uuid4().hex[:12]}"


# --- CreateAlias and use ---------------------------------------------------------------------
def test_create_alias_and_use_it(kms: Any, key_id: str, alias_name: str) -> None:
    meta = describe(kms, key_id)
    assert (
        kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)["ResponseMetadata"][
            "HTTPStatusCode"
        ]
        == 200
    )
    arn = alias_arn(meta["AWSAccountId"], alias_name)
    for ref in (alias_name, arn):
        out = kms.encrypt(KeyId=ref, Plaintext=b"via alias")
        assert out["KeyId"] == meta["Arn"]
        assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"] == b"via alias"
        assert describe(kms, ref)["KeyId"] == key_id


def test_create_alias_with_key_arn_target(kms: Any, key_id: str, alias_name: str) -> None:
    meta = describe(kms, key_id)
    kms.create_alias(AliasName=alias_name, TargetKeyId=meta["Arn"])
    assert describe(kms, alias_name)["KeyId"] == key_id


def test_list_aliases_fields_with_key_id(kms: Any, key_id: str) -> None:
    meta = describe(kms, key_id)
    names = sorted([new_alias(), new_alias()])
    before = datetime.now(UTC)
    for name in names:
        kms.create_alias(AliasName=name, TargetKeyId=key_id)
    for ref in (key_id, meta["Arn"]):
        listed = kms.list_aliases(KeyId=ref)
        assert listed["Truncated"] is False
        assert sorted(a["AliasName"] for a in listed["Aliases"]) == names
        for entry in listed["Aliases"]:
            assert entry["AliasArn"] == alias_arn(meta["AWSAccountId"], entry["AliasName"])
            assert entry["TargetKeyId"] == key_id
            assert abs((entry["CreationDate"] - before).total_seconds()) < 120
            assert abs((entry["LastUpdatedDate"] - before).total_seconds()) < 120


def test_list_aliases_without_key_id(kms: Any, key_id: str, alias_name: str) -> None:
    meta = describe(kms, key_id)
    kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    entries = all_aliases(kms)
    names = [a["AliasName"] for a in entries]
    assert len(names) == len(set(names))
    (entry,) = [a for a in entries if a["AliasName"] == alias_name]
    assert entry["AliasArn"] == alias_arn(meta["AWSAccountId"], alias_name)
    assert entry["TargetKeyId"] == key_id
    assert "CreationDate" in entry and "LastUpdatedDate" in entry


def test_list_aliases_of_key_without_aliases(kms: Any, key_id: str) -> None:
    listed = kms.list_aliases(KeyId=key_id)
    assert listed["Aliases"] == []
    assert listed["Truncated"] is False


def test_list_aliases_unknown_key(kms: Any) -> None:
    expect_error(kms.list_aliases, "NotFoundException", "does not exist", KeyId=str(uuid.uuid4()))


# --- CreateAlias errors ----------------------------------------------------------------------
def test_create_duplicate_alias(kms: Any, key_id: str, alias_name: str) -> None:
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    expect_error(
        kms.create_alias,
        "AlreadyExistsException",
        alias_name.removeprefix("alias/"),
        AliasName=alias_name,
        TargetKeyId=other,
    )
    assert describe(kms, alias_name)["KeyId"] == key_id


def test_alias_name_without_prefix(kms: Any, key_id: str) -> None:
    expect_error(
        kms.create_alias,
        "ValidationException",
        'Alias must start with the prefix "alias/".',
        AliasName="no-prefix-" + uuid.uuid4().hex[:8],
        TargetKeyId=key_id,
    )


def test_alias_name_reserved_aws_prefix(kms: Any, key_id: str) -> None:
    # Trent refuses alias/aws/ names with ValidationException (README, "on purpose").
    expect_error(
        kms.create_alias,
        "ValidationException",
        "alias/aws/",
        AliasName="alias/aws/" + uuid.uuid4().hex[:8],
        TargetKeyId=key_id,
    )


@pytest.mark.parametrize("name", ["alias/Service:Test", "alias/a:b:c"])
def test_alias_name_with_colon(kms: Any, key_id: str, name: str) -> None:
    message = expect_error(
        kms.create_alias, "ValidationException", "", AliasName=name, TargetKeyId=key_id
    )
    assert message == f"{name} contains invalid characters for an alias"


def test_alias_name_with_space(kms: Any, key_id: str) -> None:
    pattern = kms.meta.service_model.shape_for("AliasNameType").metadata["pattern"]
    message = expect_error(
        kms.create_alias, "ValidationException", "", AliasName="alias/a b", TargetKeyId=key_id
    )
    assert message == (
        "1 validation error detected: Value 'alias/a b' at 'aliasName' failed to satisfy "
        f"constraint: Member must satisfy regular expression pattern: {pattern}"
    )


def test_create_alias_target_is_alias(kms: Any, key_id: str, alias_name: str) -> None:
    kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    second = new_alias()
    expect_error(
        kms.create_alias,
        "NotFoundException",
        alias_name,
        AliasName=second,
        TargetKeyId=alias_name,
    )
    expect_error(kms.describe_key, "NotFoundException", "is not found.", KeyId=second)


def test_create_alias_unknown_target(kms: Any, alias_name: str) -> None:
    expect_error(
        kms.create_alias,
        "NotFoundException",
        "does not exist",
        AliasName=alias_name,
        TargetKeyId=str(uuid.uuid4()),
    )


def test_create_alias_for_pending_deletion_key(kms: Any, key_id: str, alias_name: str) -> None:
    arn = describe(kms, key_id)["Arn"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    message = expect_error(
        kms.create_alias,
        "KMSInvalidStateException",
        "is pending deletion.",
        AliasName=alias_name,
        TargetKeyId=key_id,
    )
    assert message == f"{arn} is pending deletion."


def test_create_alias_for_disabled_key(kms: Any, key_id: str, alias_name: str) -> None:
    kms.disable_key(KeyId=key_id)
    kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    assert describe(kms, alias_name)["KeyState"] == "Disabled"


# --- UpdateAlias -----------------------------------------------------------------------------
def test_update_alias_repoints_new_encryptions(kms: Any, key_id: str, alias_name: str) -> None:
    """Seed 001/003: rotate by creating a new key and repointing the alias."""
    old = describe(kms, key_id)
    kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    old_blob = kms.encrypt(KeyId=alias_name, Plaintext=b"old data")
    assert old_blob["KeyId"] == old["Arn"]
    created = kms.list_aliases(KeyId=key_id)["Aliases"][0]

    new = kms.create_key(Description="replacement")["KeyMetadata"]
    assert (
        kms.update_alias(AliasName=alias_name, TargetKeyId=new["KeyId"])["ResponseMetadata"][
            "HTTPStatusCode"
        ]
        == 200
    )

    new_blob = kms.encrypt(KeyId=alias_name, Plaintext=b"new data")
    assert new_blob["KeyId"] == new["Arn"]
    assert describe(kms, alias_name)["KeyId"] == new["KeyId"]
    decrypted_old = kms.decrypt(CiphertextBlob=old_blob["CiphertextBlob"])
    assert decrypted_old["Plaintext"] == b"old data"
    assert decrypted_old["KeyId"] == old["Arn"]
    decrypted_new = kms.decrypt(CiphertextBlob=new_blob["CiphertextBlob"])
    assert decrypted_new["KeyId"] == new["Arn"]

    assert kms.list_aliases(KeyId=key_id)["Aliases"] == []
    (entry,) = kms.list_aliases(KeyId=new["KeyId"])["Aliases"]
    assert entry["AliasName"] == alias_name
    assert entry["TargetKeyId"] == new["KeyId"]
    assert entry["CreationDate"] == created["CreationDate"]
    assert entry["LastUpdatedDate"] >= created["LastUpdatedDate"]


def test_update_missing_alias(kms: Any, key_id: str, alias_name: str) -> None:
    account = describe(kms, key_id)["AWSAccountId"]
    message = expect_error(
        kms.update_alias,
        "NotFoundException",
        "is not found.",
        AliasName=alias_name,
        TargetKeyId=key_id,
    )
    assert message == f"Alias {alias_arn(account, alias_name)} is not found."


def test_update_alias_to_pending_deletion_key(kms: Any, key_id: str, alias_name: str) -> None:
    kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    doomed = kms.create_key()["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=doomed["KeyId"], PendingWindowInDays=7)
    message = expect_error(
        kms.update_alias,
        "KMSInvalidStateException",
        "is pending deletion.",
        AliasName=alias_name,
        TargetKeyId=doomed["KeyId"],
    )
    assert message == f"{doomed['Arn']} is pending deletion."
    assert describe(kms, alias_name)["KeyId"] == key_id


def test_update_alias_away_from_pending_deletion_key(
    kms: Any, key_id: str, alias_name: str
) -> None:
    # Key-state table note [10]: a pending-deletion *source* key does not block UpdateAlias.
    kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert [a["AliasName"] for a in kms.list_aliases(KeyId=key_id)["Aliases"]] == [alias_name]
    new = kms.create_key()["KeyMetadata"]
    kms.update_alias(AliasName=alias_name, TargetKeyId=new["KeyId"])
    assert kms.encrypt(KeyId=alias_name, Plaintext=b"x")["KeyId"] == new["Arn"]


# --- DeleteAlias -----------------------------------------------------------------------------
def test_delete_alias_then_use(kms: Any, key_id: str, alias_name: str) -> None:
    account = describe(kms, key_id)["AWSAccountId"]
    kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    kms.delete_alias(AliasName=alias_name)
    message = expect_error(
        kms.encrypt, "NotFoundException", "is not found.", KeyId=alias_name, Plaintext=b"x"
    )
    assert message == f"Alias {alias_arn(account, alias_name)} is not found."
    expect_error(kms.describe_key, "NotFoundException", "is not found.", KeyId=alias_name)
    assert kms.list_aliases(KeyId=key_id)["Aliases"] == []
    # The key itself is untouched and the name can be reused.
    assert describe(kms, key_id)["KeyState"] == "Enabled"
    kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    assert describe(kms, alias_name)["KeyId"] == key_id


def test_delete_missing_alias(kms: Any, key_id: str, alias_name: str) -> None:
    account = describe(kms, key_id)["AWSAccountId"]
    message = expect_error(kms.delete_alias, "NotFoundException", "", AliasName=alias_name)
    assert message == f"Alias {alias_arn(account, alias_name)} is not found."


def test_delete_alias_of_pending_deletion_key(kms: Any, key_id: str, alias_name: str) -> None:
    kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    kms.delete_alias(AliasName=alias_name)
    assert kms.list_aliases(KeyId=key_id)["Aliases"] == []


# --- ListAliases paging ----------------------------------------------------------------------
def test_list_aliases_paging_limit_one(kms: Any, key_id: str) -> None:
    names = {new_alias() for _ in range(3)}
    for name in names:
        kms.create_alias(AliasName=name, TargetKeyId=key_id)
    seen: list[str] = []
    marker: str | None = None
    truncated: list[bool] = []
    while True:
        kwargs: dict[str, Any] = {"KeyId": key_id, "Limit": 1}
        if marker is not None:
            kwargs["Marker"] = marker
        page = kms.list_aliases(**kwargs)
        assert len(page["Aliases"]) <= 1
        seen += [a["AliasName"] for a in page["Aliases"]]
        truncated.append(page["Truncated"])
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        marker = page["NextMarker"]
        assert len(truncated) < 10
    assert sorted(seen) == sorted(names)
    assert truncated[:2] == [True, True]
    assert truncated[-1] is False


def test_list_aliases_paging_all_limit_one(kms: Any, key_id: str, alias_name: str) -> None:
    kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    names = [a["AliasName"] for a in all_aliases(kms, Limit=1)]
    assert len(names) == len(set(names))
    assert alias_name in names


@pytest.mark.parametrize("limit", [101, 1000])
def test_list_aliases_limit_too_large(kms: Any, limit: int) -> None:
    expect_error(kms.list_aliases, "ValidationException", "", Limit=limit)


def test_list_aliases_bad_marker(kms: Any) -> None:
    expect_error(kms.list_aliases, "InvalidMarkerException", "", Marker="%%% not a marker %%%")


# --- unknown aliases as KeyId ----------------------------------------------------------------
def test_encrypt_with_unknown_alias(kms: Any, key_id: str, alias_name: str) -> None:
    account = describe(kms, key_id)["AWSAccountId"]
    message = expect_error(kms.encrypt, "NotFoundException", "", KeyId=alias_name, Plaintext=b"x")
    assert message == f"Alias {alias_arn(account, alias_name)} is not found."


def test_encrypt_with_unknown_alias_arn(kms: Any, key_id: str, alias_name: str) -> None:
    arn = alias_arn(describe(kms, key_id)["AWSAccountId"], alias_name)
    message = expect_error(kms.encrypt, "NotFoundException", "", KeyId=arn, Plaintext=b"x")
    assert message == f"Alias {arn} is not found."


def test_aliases_per_key_quota(kms: Any, key_id: str) -> None:
    prefix = f"alias/quota-{uuid.uuid4().hex[:8]}-"
    for i in range(50):
        kms.create_alias(AliasName=f"{prefix}{i:02d}", TargetKeyId=key_id)
    expect_error(
        kms.create_alias,
        "LimitExceededException",
        "Aliases per key quota for this account in this region is 50",
        AliasName=f"{prefix}50",
        TargetKeyId=key_id,
    )
    assert len(all_aliases(kms, KeyId=key_id)) == 50
