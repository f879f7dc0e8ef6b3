"""Key policies through boto3: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.expect import expect_error


def custom_policy(account: str, sid: str) -> str:
    """A policy string with deliberately unusual whitespace, to check it is kept verbatim."""
    return (
        '{\n    "Version": "2012-10-17",\n    "Id": "custom",\n    "Statement": [{"Sid": "'
        + sid
        + '", "Effect": "Allow",\t"Principal": {"AWS": "arn:aws:iam::'
        + account
        + ':root"}, "Action": "kms:*", "Resource": "*"}]\n}\n'
    )


def account_of(kms: Any, key_id: str) -> str:
    return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["AWSAccountId"])


def test_get_key_policy_default_name(kms: Any, key_id: str) -> None:
    account = account_of(kms, key_id)
    implicit = kms.get_key_policy(KeyId=key_id)
    explicit = kms.get_key_policy(KeyId=key_id, PolicyName="default")
    assert implicit["PolicyName"] == "default"
    assert explicit["PolicyName"] == "default"
    assert implicit["Policy"] == explicit["Policy"]
    document = json.loads(implicit["Policy"])
    assert document["Id"] == "key-default-1"
    assert document["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{account}:root"}


def test_get_key_policy_by_arn(kms: Any, key_id: str) -> None:
    arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    assert kms.get_key_policy(KeyId=arn)["Policy"] == kms.get_key_policy(KeyId=key_id)["Policy"]


def test_put_key_policy_round_trip(kms: Any, key_id: str) -> None:
    account = account_of(kms, key_id)
    first = custom_policy(account, "First")
    out = kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=first)
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == first
    second = custom_policy(account, "Second")
    kms.put_key_policy(KeyId=key_id, Policy=second)  # PolicyName is optional
    assert kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"] == second
    # The key still works after its policy changed.
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"after policy")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"after policy"


def test_put_key_policy_only_affects_its_key(kms: Any, key_id: str) -> None:
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    untouched = kms.get_key_policy(KeyId=other)["Policy"]
    kms.put_key_policy(KeyId=key_id, Policy=custom_policy(account_of(kms, key_id), "Mine"))
    assert kms.get_key_policy(KeyId=other)["Policy"] == untouched


def test_list_key_policies(kms: Any, key_id: str) -> None:
    listed = kms.list_key_policies(KeyId=key_id)
    assert listed["PolicyNames"] == ["default"]
    assert listed["Truncated"] is False
    assert "NextMarker" not in listed


@pytest.mark.parametrize("policy", ["{not json", "[1, 2]", "{}"])
def test_put_key_policy_malformed(kms: Any, key_id: str, policy: str) -> None:
    before = kms.get_key_policy(KeyId=key_id)["Policy"]
    expect_error(
        kms.put_key_policy, "MalformedPolicyDocumentException", "", KeyId=key_id, Policy=policy
    )
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == before


def test_get_key_policy_other_name(kms: Any, key_id: str) -> None:
    expect_error(kms.get_key_policy, "NotFoundException", "other", KeyId=key_id, PolicyName="other")


def test_get_key_policy_aws_ram_missing(kms: Any, key_id: str) -> None:
    # "If no policy name is specified, the default value is default. Valid values are default
    # and AWS_RAM"; a key never shared through RAM has no AWS_RAM policy: NotFoundException.
    expect_error(
        kms.get_key_policy, "NotFoundException", "AWS_RAM", KeyId=key_id, PolicyName="AWS_RAM"
    )


def test_put_key_policy_aws_ram_refused(kms: Any, key_id: str) -> None:
    # API Reference, PutKeyPolicy PolicyName: "If you try to modify the AWS_RAM policy, you
    # get a ValidationException: The AWS_RAM policy can only be managed by the RAM service."
    expect_error(
        kms.put_key_policy,
        "ValidationException",
        "The AWS_RAM policy can only be managed by the RAM service.",
        KeyId=key_id,
        PolicyName="AWS_RAM",
        Policy=custom_policy(account_of(kms, key_id), "Ram"),
    )


def test_policies_of_unknown_key(kms: Any) -> None:
    missing = str(uuid.uuid4())
    expect_error(kms.get_key_policy, "NotFoundException", missing, KeyId=missing)
    expect_error(kms.list_key_policies, "NotFoundException", missing, KeyId=missing)
    expect_error(
        kms.put_key_policy, "NotFoundException", missing, KeyId=missing, Policy='{"Statement":[]}'
    )


def test_policies_of_disabled_key(kms: Any, key_id: str) -> None:
    kms.disable_key(KeyId=key_id)
    policy = custom_policy(account_of(kms, key_id), "Disabled")
    kms.put_key_policy(KeyId=key_id, Policy=policy)
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == policy
    assert kms.list_key_policies(KeyId=key_id)["PolicyNames"] == ["default"]


def test_policies_of_pending_deletion_key(kms: Any, key_id: str) -> None:
    # Key-state table (DevGuide key-state): GetKeyPolicy, PutKeyPolicy and ListKeyPolicies
    # succeed in every key state, PendingDeletion included.
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert kms.get_key_policy(KeyId=key_id)["PolicyName"] == "default"
    assert kms.list_key_policies(KeyId=key_id)["PolicyNames"] == ["default"]
    policy = custom_policy(account_of(kms, key_id), "Pending")
    kms.put_key_policy(KeyId=key_id, Policy=policy)
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == policy
