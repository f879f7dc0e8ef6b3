"""Grants through boto3 against a running server: CreateGrant, ListGrants, ListRetirableGrants,
RetireGrant, RevokeGrant; constraints; grant tokens; cross-account grantees; errors and limits.

Within one account every principal may use the account's keys (today's authorizer), so what a
grant allows is shown with a grantee of a second account (``trent admin create-account``, then
IAM CreateUser + CreateAccessKey there): refused without a grant, allowed with one.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.server import TrentServer

SYMMETRIC_OPS = ["Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey"]


@dataclass
class Tenant:
    """A second account: its root's clients and one IAM user's."""

    account: str
    root_kms: Any
    root_creds: dict[str, str]
    user_arn: str
    user_kms: Any
    user_creds: dict[str, str]


def _account(server: TrentServer) -> tuple[str, str, str]:
    made = subprocess.run(
        [sys.executable, "-m", "trent", "admin", "create-account", "--data-dir", server.data_dir],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = made.stdout.splitlines()
    return lines[0].strip("[]"), lines[1].split(" = ")[1], lines[2].split(" = ")[1]


@pytest.fixture(scope="module")
def tenant(server: TrentServer) -> Tenant:
    account, access, secret = _account(server)
    creds = {"aws_access_key_id": access, "aws_secret_access_key": secret}
    iam = server.client("iam", **creds)
    user = f"grantee-{uuid.uuid4().hex[:8]}"
    arn = iam.create_user(UserName=user)["User"]["Arn"]
    # ListRetirableGrants is an account-level action: identity policies decide it.
    iam.put_user_policy(
        UserName=user,
        PolicyName="list-retirable",
        PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Action":"kms:ListRetirableGrants","Resource":"*"}]}',
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    user_creds = {
        "aws_access_key_id": key["AccessKeyId"],
        "aws_secret_access_key": key["SecretAccessKey"],
    }
    return Tenant(
        account,
        server.client("kms", **creds),
        creds,
        arn,
        server.client("kms", **user_creds),
        user_creds,
    )


@pytest.fixture
def key_arn(kms: Any) -> str:
    return str(kms.create_key(Description="grants")["KeyMetadata"]["Arn"])


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = exc.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def refused(call: Any, **kwargs: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    return error(exc)


def caller_arn(server: TrentServer) -> str:
    return str(server.client("sts").get_caller_identity()["Arn"])


# --- lifecycle --------------------------------------------------------------------------------
def test_create_list_revoke(server: TrentServer, kms: Any, key_arn: str, tenant: Tenant) -> None:
    made = kms.create_grant(
        KeyId=key_arn,
        GranteePrincipal=tenant.user_arn,
        RetiringPrincipal=caller_arn(server),
        Operations=["Encrypt", "Decrypt"],
        Constraints={"EncryptionContextSubset": {"app": "billing"}},
        Name="billing-app",
    )
    grant_id, token = made["GrantId"], made["GrantToken"]
    assert len(grant_id) == 64 and int(grant_id, 16) >= 0
    assert token and len(token) <= 8192
    other = kms.create_grant(
        KeyId=key_arn, GranteePrincipal=caller_arn(server), Operations=["DescribeKey"]
    )["GrantId"]

    listed = kms.list_grants(KeyId=key_arn)
    assert [g["GrantId"] for g in listed["Grants"]] == [grant_id, other]
    assert listed["Truncated"] is False
    entry = listed["Grants"][0]
    assert entry["KeyId"] == key_arn
    assert entry["Name"] == "billing-app"
    assert entry["GranteePrincipal"] == tenant.user_arn
    assert entry["RetiringPrincipal"] == caller_arn(server)
    assert entry["IssuingAccount"] == f"arn:aws:iam::{key_arn.split(':')[4]}:root"
    assert entry["Operations"] == ["Encrypt", "Decrypt"]
    assert entry["Constraints"] == {"EncryptionContextSubset": {"app": "billing"}}
    assert "CreationDate" in entry and "Name" not in listed["Grants"][1]

    assert [g["GrantId"] for g in kms.list_grants(KeyId=key_arn, GrantId=other)["Grants"]] == [
        other
    ]
    by_grantee = kms.list_grants(KeyId=key_arn, GranteePrincipal=tenant.user_arn)["Grants"]
    assert [g["GrantId"] for g in by_grantee] == [grant_id]
    first = kms.list_grants(KeyId=key_arn, Limit=1)
    assert first["Truncated"] is True and [g["GrantId"] for g in first["Grants"]] == [grant_id]
    rest = kms.list_grants(KeyId=key_arn, Limit=1, Marker=first["NextMarker"])
    assert [g["GrantId"] for g in rest["Grants"]] == [other] and rest["Truncated"] is False

    retirable = kms.list_retirable_grants(RetiringPrincipal=caller_arn(server))["Grants"]
    assert grant_id in [g["GrantId"] for g in retirable]

    kms.revoke_grant(KeyId=key_arn, GrantId=grant_id)
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key_arn)["Grants"]] == [other]
    assert grant_id not in [
        g["GrantId"]
        for g in kms.list_retirable_grants(RetiringPrincipal=caller_arn(server))["Grants"]
    ]
    code, message, status = refused(kms.revoke_grant, KeyId=key_arn, GrantId=grant_id)
    assert (code, status) == ("InvalidGrantIdException", 400)
    assert message == f"Grant {grant_id} does not exist for KMS key {key_arn}."
    with pytest.raises(ClientError) as exc:
        kms.revoke_grant(KeyId=key_arn, GrantId=other, DryRun=True)
    assert error(exc)[0] == "DryRunOperationException"
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key_arn)["Grants"]] == [other]


# --- cross-account grantee ------------------------------------------------------------------------
def test_cross_account_refused_without_grant_allowed_with(
    server: TrentServer, kms: Any, key_arn: str, tenant: Tenant
) -> None:
    theirs = tenant.user_kms
    code, message, status = refused(theirs.encrypt, KeyId=key_arn, Plaintext=b"x")
    assert (code, status) == ("AccessDeniedException", 400)
    assert message == (
        f"User: {tenant.user_arn} is not authorized to perform: kms:Encrypt on resource: {key_arn}"
        " because no resource-based policy allows the kms:Encrypt action"
    )
    assert refused(theirs.describe_key, KeyId=key_arn)[0] == "AccessDeniedException"
    # A bare key id names the caller's own account's key: not found there.
    assert refused(theirs.describe_key, KeyId=key_arn.split("/")[-1])[0] == "NotFoundException"

    grant_id = kms.create_grant(
        KeyId=key_arn, GranteePrincipal=tenant.user_arn, Operations=SYMMETRIC_OPS
    )["GrantId"]
    sealed = theirs.encrypt(KeyId=key_arn, Plaintext=b"across accounts")
    assert sealed["KeyId"] == key_arn
    blob = sealed["CiphertextBlob"]
    assert theirs.decrypt(CiphertextBlob=blob, KeyId=key_arn)["Plaintext"] == b"across accounts"
    opened = theirs.decrypt(CiphertextBlob=blob)  # no KeyId: the ciphertext names the key
    assert opened["Plaintext"] == b"across accounts" and opened["KeyId"] == key_arn
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"across accounts"
    metadata = theirs.describe_key(KeyId=key_arn)["KeyMetadata"]
    assert metadata["Arn"] == key_arn and metadata["AWSAccountId"] == key_arn.split(":")[4]
    assert len(theirs.generate_data_key(KeyId=key_arn, KeySpec="AES_256")["Plaintext"]) == 32
    # Only the operations the grant lists, and only for its grantee.
    assert refused(theirs.re_encrypt, CiphertextBlob=blob, DestinationKeyId=key_arn)[0] == (
        "AccessDeniedException"
    )
    assert refused(theirs.list_grants, KeyId=key_arn)[0] == "AccessDeniedException"
    assert refused(tenant.root_kms.encrypt, KeyId=key_arn, Plaintext=b"x")[0] == (
        "AccessDeniedException"
    )

    uses = [
        r
        for r in server.audit_records()
        if r["eventName"] == "Encrypt" and r["userIdentity"].get("arn") == tenant.user_arn
    ]
    assert [r.get("additionalEventData", {}).get("grantId") for r in uses][-2:] == [
        None,
        grant_id,
    ]
    assert uses[-2]["errorCode"] == "AccessDeniedException" and "errorCode" not in uses[-1]

    kms.revoke_grant(KeyId=key_arn, GrantId=grant_id)
    assert refused(theirs.encrypt, KeyId=key_arn, Plaintext=b"x")[0] == "AccessDeniedException"


def test_grant_to_a_role_allows_its_sessions(
    server: TrentServer, kms: Any, key_arn: str, tenant: Tenant
) -> None:
    iam = server.client("iam", **tenant.root_creds)
    trust = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"'
        f'arn:aws:iam::{tenant.account}:root"'
        '},"Action":"sts:AssumeRole"}]}'
    )
    role = iam.create_role(RoleName=f"r-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=trust)
    role_arn = role["Role"]["Arn"]
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}
    allow = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    iam.put_user_policy(
        UserName=tenant.user_arn.rsplit("/", 1)[-1], PolicyName="assume", PolicyDocument=allow
    )
    sts = server.client("sts", **tenant.user_creds)
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="s1")["Credentials"]
    session = server.client(
        "kms",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    assert refused(session.encrypt, KeyId=key_arn, Plaintext=b"x")[0] == "AccessDeniedException"
    kms.create_grant(KeyId=key_arn, GranteePrincipal=role_arn, Operations=["Encrypt"])
    assert session.encrypt(KeyId=key_arn, Plaintext=b"x")["KeyId"] == key_arn


# --- constraints ----------------------------------------------------------------------------------
def test_encryption_context_subset(kms: Any, key_arn: str, tenant: Tenant) -> None:
    kms.create_grant(
        KeyId=key_arn,
        GranteePrincipal=tenant.user_arn,
        Operations=["Encrypt", "Decrypt", "DescribeKey"],
        Constraints={"EncryptionContextSubset": {"Dept": "IT"}},
    )
    theirs = tenant.user_kms
    # Keys compare case-insensitively, values case-sensitively; more pairs are fine.
    blob = theirs.encrypt(
        KeyId=key_arn, Plaintext=b"s", EncryptionContext={"dept": "IT", "project": "x"}
    )["CiphertextBlob"]
    opened = theirs.decrypt(CiphertextBlob=blob, EncryptionContext={"dept": "IT", "project": "x"})
    assert opened["Plaintext"] == b"s"
    for context in ({}, {"Dept": "it"}, {"Other": "IT"}):
        assert (
            refused(theirs.encrypt, KeyId=key_arn, Plaintext=b"s", EncryptionContext=context)[0]
            == "AccessDeniedException"
        ), context
    # Operations without an encryption context are not constrained.
    assert theirs.describe_key(KeyId=key_arn)["KeyMetadata"]["Arn"] == key_arn


def test_encryption_context_equals(kms: Any, key_arn: str, tenant: Tenant) -> None:
    kms.create_grant(
        KeyId=key_arn,
        GranteePrincipal=tenant.user_arn,
        Operations=["Encrypt", "GenerateDataKey"],
        Constraints={"EncryptionContextEquals": {"Dept": "IT", "Env": "prod"}},
    )
    theirs = tenant.user_kms
    theirs.encrypt(KeyId=key_arn, Plaintext=b"s", EncryptionContext={"env": "prod", "DEPT": "IT"})
    theirs.generate_data_key(
        KeyId=key_arn, NumberOfBytes=16, EncryptionContext={"Dept": "IT", "Env": "prod"}
    )
    for context in ({"Dept": "IT"}, {"Dept": "IT", "Env": "prod", "x": "y"}, {}):
        assert (
            refused(theirs.encrypt, KeyId=key_arn, Plaintext=b"s", EncryptionContext=context)[0]
            == "AccessDeniedException"
        ), context


def test_re_encrypt_needs_both_grant_operations(kms: Any, key_arn: str, tenant: Tenant) -> None:
    blob = kms.encrypt(KeyId=key_arn, Plaintext=b"r", EncryptionContext={"a": "1"})[
        "CiphertextBlob"
    ]
    theirs = tenant.user_kms
    kms.create_grant(
        KeyId=key_arn,
        GranteePrincipal=tenant.user_arn,
        Operations=["ReEncryptFrom"],
        Constraints={"EncryptionContextSubset": {"a": "1"}},
    )
    args = {
        "CiphertextBlob": blob,
        "SourceKeyId": key_arn,
        "SourceEncryptionContext": {"a": "1"},
        "DestinationKeyId": key_arn,
        "DestinationEncryptionContext": {"b": "2"},
    }
    assert refused(theirs.re_encrypt, **args)[0] == "AccessDeniedException"  # no ReEncryptTo
    kms.create_grant(
        KeyId=key_arn,
        GranteePrincipal=tenant.user_arn,
        Operations=["ReEncryptTo"],
        Constraints={"EncryptionContextSubset": {"b": "2"}},
    )
    again = theirs.re_encrypt(**args)
    assert (
        kms.decrypt(CiphertextBlob=again["CiphertextBlob"], EncryptionContext={"b": "2"})[
            "Plaintext"
        ]
        == b"r"
    )


# --- grant tokens ---------------------------------------------------------------------------------
def test_grant_tokens(kms: Any, key_arn: str, tenant: Tenant) -> None:
    theirs = tenant.user_kms
    made = kms.create_grant(KeyId=key_arn, GranteePrincipal=tenant.user_arn, Operations=["Encrypt"])
    token = made["GrantToken"]
    # The token's grant allows at once (and validly alongside the stored grant).
    theirs.encrypt(KeyId=key_arn, Plaintext=b"t", GrantTokens=[token])
    code, message, status = refused(
        theirs.encrypt, KeyId=key_arn, Plaintext=b"t", GrantTokens=[token[:-8] + "AAAAAAAA"]
    )
    assert (code, message, status) == (
        "InvalidGrantTokenException",
        "The grant token is not valid.",
        400,
    )
    assert refused(kms.describe_key, KeyId=key_arn, GrantTokens=["not-a-token"])[0] == (
        "InvalidGrantTokenException"
    )
    # A token of another key's grant allows nothing on this key.
    other = kms.create_key()["KeyMetadata"]["Arn"]
    elsewhere = kms.create_grant(
        KeyId=other, GranteePrincipal=tenant.user_arn, Operations=["Decrypt"]
    )["GrantToken"]
    kms.revoke_grant(KeyId=key_arn, GrantId=made["GrantId"])
    # A revoked grant's token is no longer honoured.
    assert refused(theirs.encrypt, KeyId=key_arn, Plaintext=b"t", GrantTokens=[token])[0] == (
        "AccessDeniedException"
    )
    assert refused(theirs.encrypt, KeyId=key_arn, Plaintext=b"t", GrantTokens=[elsewhere])[0] == (
        "AccessDeniedException"
    )


def test_same_name_same_grant(kms: Any, key_arn: str, tenant: Tenant) -> None:
    args = {
        "KeyId": key_arn,
        "GranteePrincipal": tenant.user_arn,
        "Operations": ["Encrypt", "Decrypt"],
        "Name": "retry-safe",
    }
    first = kms.create_grant(**args)
    again = kms.create_grant(**{**args, "Operations": ["Decrypt", "Encrypt"]})
    assert again["GrantId"] == first["GrantId"] and again["GrantToken"] != first["GrantToken"]
    for token in (first["GrantToken"], again["GrantToken"]):  # interchangeable
        tenant.user_kms.encrypt(KeyId=key_arn, Plaintext=b"n", GrantTokens=[token])
    changed = kms.create_grant(**{**args, "Operations": ["Encrypt"]})
    unnamed = kms.create_grant(**{k: v for k, v in args.items() if k != "Name"})
    assert len({first["GrantId"], changed["GrantId"], unnamed["GrantId"]}) == 3
    assert len(kms.list_grants(KeyId=key_arn)["Grants"]) == 3


# --- retiring -------------------------------------------------------------------------------------
def test_retire_by_each_allowed_principal(
    server: TrentServer, kms: Any, key_arn: str, tenant: Tenant
) -> None:
    theirs = tenant.user_kms
    # 1. The retiring principal, by grant token (another account's key: cross-account).
    by_token = kms.create_grant(
        KeyId=key_arn,
        GranteePrincipal=caller_arn(server),
        RetiringPrincipal=tenant.user_arn,
        Operations=["Decrypt"],
    )
    listed = theirs.list_retirable_grants(RetiringPrincipal=tenant.user_arn)["Grants"]
    assert [g["GrantId"] for g in listed] == [by_token["GrantId"]]
    assert listed[0]["KeyId"] == key_arn
    theirs.retire_grant(GrantToken=by_token["GrantToken"])
    assert theirs.list_retirable_grants(RetiringPrincipal=tenant.user_arn)["Grants"] == []

    # 2. The grantee of a grant that lists RetireGrant, by key and grant id.
    own = kms.create_grant(
        KeyId=key_arn, GranteePrincipal=tenant.user_arn, Operations=["Encrypt", "RetireGrant"]
    )
    theirs.retire_grant(KeyId=key_arn, GrantId=own["GrantId"])

    # 3. The key's account.
    plain = kms.create_grant(
        KeyId=key_arn, GranteePrincipal=tenant.user_arn, Operations=["Encrypt"]
    )
    # ... but not the grantee of a grant without RetireGrant.
    code, _, _ = refused(theirs.retire_grant, KeyId=key_arn, GrantId=plain["GrantId"])
    assert code == "AccessDeniedException"
    kms.retire_grant(KeyId=key_arn, GrantId=plain["GrantId"])
    assert kms.list_grants(KeyId=key_arn)["Grants"] == []

    code, message, _ = refused(kms.retire_grant, KeyId=key_arn, GrantId=plain["GrantId"])
    assert code == "InvalidGrantIdException"
    code, message, _ = refused(kms.retire_grant, GrantId=plain["GrantId"])
    assert (code, message) == (
        "ValidationException",
        "Either GrantToken, or both KeyId and GrantId, must be specified.",
    )
    code, _, _ = refused(theirs.retire_grant, GrantToken=by_token["GrantToken"])
    assert code == "InvalidGrantIdException"  # already retired
    # Listing another account's retiring principal is refused.
    code, _, _ = refused(theirs.list_retirable_grants, RetiringPrincipal=caller_arn(server))
    assert code == "AccessDeniedException"


def test_grantee_with_create_grant_delegates_no_more(
    kms: Any, key_arn: str, tenant: Tenant
) -> None:
    kms.create_grant(
        KeyId=key_arn,
        GranteePrincipal=tenant.user_arn,
        Operations=["Encrypt", "Decrypt", "CreateGrant"],
        Constraints={"EncryptionContextSubset": {"team": "a"}},
    )
    theirs = tenant.user_kms
    strict = {"EncryptionContextSubset": {"team": "a", "app": "x"}}
    made = theirs.create_grant(
        KeyId=key_arn, GranteePrincipal=tenant.user_arn, Operations=["Decrypt"], Constraints=strict
    )
    assert made["GrantId"] in [g["GrantId"] for g in kms.list_grants(KeyId=key_arn)["Grants"]]
    for operations, constraints in (
        (["GenerateDataKey"], strict),
        (["Decrypt"], {"EncryptionContextSubset": {"app": "x"}}),
        (["Decrypt"], None),
    ):
        args = {"KeyId": key_arn, "GranteePrincipal": tenant.user_arn, "Operations": operations}
        if constraints:
            args["Constraints"] = constraints
        assert refused(theirs.create_grant, **args)[0] == "AccessDeniedException"


# --- errors and limits ----------------------------------------------------------------------------
def test_operations_must_suit_the_key(kms: Any, key_arn: str, tenant: Tenant) -> None:
    grantee = tenant.user_arn
    code, message, status = refused(
        kms.create_grant, KeyId=key_arn, GranteePrincipal=grantee, Operations=["Sign"]
    )
    assert (code, status) == ("ValidationException", 400)
    assert message == (
        "Grants for KMS keys with KeySpec SYMMETRIC_DEFAULT and KeyUsage ENCRYPT_DECRYPT "
        "cannot allow the Sign operation."
    )
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
    assert (
        refused(
            kms.create_grant, KeyId=rsa, GranteePrincipal=grantee, Operations=["GenerateDataKey"]
        )[0]
        == "ValidationException"
    )
    kms.create_grant(KeyId=rsa, GranteePrincipal=grantee, Operations=["Decrypt", "GetPublicKey"])
    code, message, _ = refused(
        kms.create_grant,
        KeyId=rsa,
        GranteePrincipal=grantee,
        Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": {"a": "b"}},
    )
    assert (code, message) == (
        "ValidationException",
        "Grants for KMS keys with KeySpec RSA_2048 cannot include an encryption context "
        "constraint.",
    )
    hmac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    kms.create_grant(KeyId=hmac["Arn"], GranteePrincipal=grantee, Operations=["GenerateMac"])
    assert (
        refused(
            kms.create_grant, KeyId=hmac["Arn"], GranteePrincipal=grantee, Operations=["Encrypt"]
        )[0]
        == "ValidationException"
    )
    code, message, _ = refused(
        kms.create_grant, KeyId=key_arn, GranteePrincipal=grantee, Operations=["CreateGrant"]
    )
    assert (code, message) == (
        "ValidationException",
        "Grants must not contain only the CreateGrant operation.",
    )
    code, message, _ = refused(
        kms.create_grant,
        KeyId=key_arn,
        GranteePrincipal=grantee,
        Operations=["Encrypt"],
        Constraints={"EncryptionContextSubset": {"a": "b"}, "EncryptionContextEquals": {"a": "b"}},
    )
    assert (code, message) == (
        "ValidationException",
        "EncryptionContextSubset and EncryptionContextEquals cannot both be specified.",
    )
    code, message, _ = refused(kms.create_grant, KeyId=key_arn, Operations=["Encrypt"])
    assert (code, message) == (
        "ValidationException",
        "Exactly one of GranteePrincipal or GranteeServicePrincipal must be specified.",
    )
    code, message, _ = refused(
        kms.create_grant,
        KeyId=key_arn,
        GranteePrincipal=grantee,
        RetiringPrincipal=grantee,
        RetiringServicePrincipal="service.amazonaws.com",
        Operations=["Encrypt"],
    )
    assert (code, message) == (
        "ValidationException",
        "RetiringPrincipal and RetiringServicePrincipal cannot both be specified.",
    )
    code, message, _ = refused(kms.list_retirable_grants)
    assert (code, message) == (
        "ValidationException",
        "RetiringPrincipal or RetiringServicePrincipal must be specified.",
    )
    # Aliases do not name a key here; a missing key is not found; DryRun creates nothing.
    alias = f"alias/g-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_arn)
    assert (
        refused(kms.create_grant, KeyId=alias, GranteePrincipal=grantee, Operations=["Encrypt"])[0]
        == "NotFoundException"
    )
    gone = key_arn[:-36] + str(uuid.uuid4())
    assert refused(kms.list_grants, KeyId=gone)[0] == "NotFoundException"
    assert (
        refused(
            kms.create_grant,
            KeyId=key_arn,
            GranteePrincipal=grantee,
            Operations=["Encrypt"],
            DryRun=True,
        )[0]
        == "DryRunOperationException"
    )
    assert kms.list_grants(KeyId=key_arn)["Grants"] == []
    kms.schedule_key_deletion(KeyId=key_arn, PendingWindowInDays=7)
    code, message, _ = refused(
        kms.create_grant, KeyId=key_arn, GranteePrincipal=grantee, Operations=["Encrypt"]
    )
    assert (code, message) == ("KMSInvalidStateException", f"{key_arn} is pending deletion.")


def test_grant_limit_per_key(server: TrentServer, kms: Any, key_arn: str, tenant: Tenant) -> None:
    key_id = key_arn.split("/")[-1]
    account = key_arn.split(":")[4]
    with closing(sqlite3.connect(server.data_dir / "trent.db", timeout=30)) as db, db:
        db.executemany(
            "INSERT INTO grants (grant_id, key_id, account_id, created_at, grantee_principal, "
            "operations, constraints) VALUES (?, ?, ?, 0, ?, '[\"Encrypt\"]', '')",
            [(uuid.uuid4().hex * 2, key_id, account, tenant.user_arn) for _ in range(49_999)],
        )
    kms.create_grant(KeyId=key_arn, GranteePrincipal=tenant.user_arn, Operations=["Decrypt"])
    code, message, status = refused(
        kms.create_grant, KeyId=key_arn, GranteePrincipal=tenant.user_arn, Operations=["Encrypt"]
    )
    assert (code, status) == ("LimitExceededException", 400)
    assert message == f"The grant limit (50000) has been reached for KMS key {key_arn}."
    page = kms.list_grants(KeyId=key_arn, Limit=1000)
    assert len(page["Grants"]) == 1000 and page["Truncated"] is True


def test_grants_end_with_their_key(clock_server: TrentServer) -> None:
    kms = clock_server.client()
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    grantee = caller_arn(clock_server).replace(":root", ":user/someone")
    grant_id = kms.create_grant(KeyId=key_arn, GranteePrincipal=grantee, Operations=["Encrypt"])[
        "GrantId"
    ]
    kms.schedule_key_deletion(KeyId=key_arn, PendingWindowInDays=7)
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key_arn)["Grants"]] == [grant_id]
    clock_server.advance_clock(days=8)

    def gone() -> bool:
        try:
            kms.describe_key(KeyId=key_arn)
        except ClientError:
            return True
        return False

    clock_server.wait_for(gone)
    assert refused(kms.list_grants, KeyId=key_arn)[0] == "NotFoundException"
    with closing(sqlite3.connect(clock_server.data_dir / "trent.db")) as db:
        assert db.execute("SELECT count(*) FROM grants").fetchone()[0] == 0
