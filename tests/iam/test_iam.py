"""IAM through boto3 and the aws CLI against a running server: lifecycle, errors, accounts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.server import REGION, TrentServer

ALLOW_ALL_IAM = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}],
    }
)


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = exc.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


@pytest.fixture(scope="module")
def iam(server: TrentServer) -> Any:
    return server.client("iam")


def test_user_lifecycle_and_errors(iam: Any) -> None:
    user = name("alice")
    made = iam.create_user(UserName=user, Path="/team/", Tags=[{"Key": "k", "Value": "v"}])
    assert made["User"]["Arn"].endswith(f":user/team/{user}")
    assert made["User"]["UserId"].startswith("AIDA")
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName=user.upper())
    assert error(exc) == (
        "EntityAlreadyExists",
        f"User with name {user.upper()} already exists.",
        409,
    )
    assert iam.get_user(UserName=user)["User"]["Tags"] == [{"Key": "k", "Value": "v"}]
    assert user in [u["UserName"] for u in iam.list_users(PathPrefix="/team/")["Users"]]

    keys = [iam.create_access_key(UserName=user)["AccessKey"] for _ in range(2)]
    with pytest.raises(ClientError) as exc:
        iam.create_access_key(UserName=user)
    assert error(exc) == ("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", 409)
    listed = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert {k["AccessKeyId"] for k in listed} == {k["AccessKeyId"] for k in keys}
    iam.update_access_key(UserName=user, AccessKeyId=keys[0]["AccessKeyId"], Status="Inactive")
    statuses = {
        k["AccessKeyId"]: k["Status"]
        for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    }
    assert statuses[keys[0]["AccessKeyId"]] == "Inactive"
    assert iam.get_access_key_last_used(AccessKeyId=keys[1]["AccessKeyId"])["UserName"] == user

    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=ALLOW_ALL_IAM)
    assert iam.get_user_policy(UserName=user, PolicyName="p")["PolicyDocument"]["Statement"]
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == ["p"]
    policy = iam.create_policy(PolicyName=name("pol"), PolicyDocument=ALLOW_ALL_IAM)["Policy"]
    iam.attach_user_policy(UserName=user, PolicyArn=policy["Arn"])
    attached = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    assert [a["PolicyArn"] for a in attached] == [policy["Arn"]]
    assert iam.get_policy(PolicyArn=policy["Arn"])["Policy"]["AttachmentCount"] == 1
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId="v1")["PolicyVersion"]
    assert version["Document"] == json.loads(ALLOW_ALL_IAM)
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=policy["Arn"])
    assert error(exc) == ("DeleteConflict", "Cannot delete a policy attached to entities.", 409)

    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=user)
    assert error(exc)[:2] == (
        "DeleteConflict",
        "Cannot delete entity, must delete access keys first.",
    )
    for key in keys:
        iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=user)
    assert error(exc)[:2] == ("DeleteConflict", "Cannot delete entity, must delete policies first.")
    iam.delete_user_policy(UserName=user, PolicyName="p")
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=user)
    assert error(exc)[:2] == (
        "DeleteConflict",
        "Cannot delete entity, must detach all policies first.",
    )
    iam.detach_user_policy(UserName=user, PolicyArn=policy["Arn"])
    iam.tag_user(UserName=user, Tags=[{"Key": "a", "Value": "b"}])
    iam.untag_user(UserName=user, TagKeys=["k"])
    assert iam.list_user_tags(UserName=user)["Tags"] == [{"Key": "a", "Value": "b"}]
    iam.delete_user(UserName=user)
    iam.delete_policy(PolicyArn=policy["Arn"])
    with pytest.raises(ClientError) as exc:
        iam.get_user(UserName=user)
    assert error(exc) == ("NoSuchEntity", f"The user with name {user} cannot be found.", 404)


def test_role_lifecycle(server: TrentServer, iam: Any) -> None:
    role = name("role")
    account = iam_account(server)  # a trust policy's principals must exist
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": account}, "Action": "sts:AssumeRole"}
        ],
    }
    made = iam.create_role(
        RoleName=role, AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=7200
    )
    assert made["Role"]["RoleId"].startswith("AROA")
    assert iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"] == trust
    assert iam.get_role(RoleName=role)["Role"]["MaxSessionDuration"] == 7200
    iam.put_role_policy(RoleName=role, PolicyName="inline", PolicyDocument=ALLOW_ALL_IAM)
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["inline"]
    assert iam.get_role_policy(RoleName=role, PolicyName="inline")["RoleName"] == role
    iam.tag_role(RoleName=role, Tags=[{"Key": "env", "Value": "prod"}])
    assert iam.list_role_tags(RoleName=role)["Tags"] == [{"Key": "env", "Value": "prod"}]
    iam.untag_role(RoleName=role, TagKeys=["env"])
    policy = iam.create_policy(PolicyName=name("rp"), PolicyDocument=ALLOW_ALL_IAM)["Policy"]
    iam.attach_role_policy(RoleName=role, PolicyArn=policy["Arn"])
    assert (
        iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"][0]["PolicyArn"]
        == policy["Arn"]
    )
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName=role)
    assert error(exc)[0] == "DeleteConflict"
    iam.detach_role_policy(RoleName=role, PolicyArn=policy["Arn"])
    iam.delete_role_policy(RoleName=role, PolicyName="inline")
    with pytest.raises(ClientError) as exc:
        iam.get_role_policy(RoleName=role, PolicyName="inline")
    assert error(exc)[:2] == ("NoSuchEntity", "The role policy with name inline cannot be found.")
    trust["Statement"][0]["Principal"] = {"AWS": f"arn:aws:iam::{account}:root"}
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(trust))
    assert iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"] == trust
    assert role in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    iam.delete_role(RoleName=role)
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName=role)
    assert error(exc)[0] == "NoSuchEntity"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", "Syntax errors in policy."),
        ('{"Statement": []}', "Syntax errors in policy."),
        (
            '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Resource": "*"}}',
            "Policy statement must contain actions.",
        ),
        (
            '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "iam:*"}}',
            "Policy statement must contain resources.",
        ),
        (
            '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "GetUser", "Resource": "*"}}',  # noqa: E501
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ),
        (
            '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": "*", "Action": "iam:*", "Resource": "*"}}',  # noqa: E501
            "Policy document should not specify a principal.",
        ),
    ],
)
def test_malformed_policy_documents(iam: Any, document: str, message: str) -> None:
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName=name("bad"), PolicyDocument=document)
    assert error(exc) == ("MalformedPolicyDocument", message, 400)


def test_missing_and_invalid_input(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName="no-such-role-here")
    assert error(exc) == (
        "NoSuchEntity",
        "The role with name no-such-role-here cannot be found.",
        404,
    )
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="bad name!")
    assert error(exc)[0] == "ValidationError"
    assert "at 'userName' failed to satisfy constraint" in error(exc)[1]


def test_user_without_policy_is_refused_then_allowed(server: TrentServer, iam: Any) -> None:
    user = name("bob")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    bob = server.client(
        "iam", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )
    with pytest.raises(ClientError) as exc:
        bob.list_users()
    code, message, status = error(exc)
    assert (code, status) == ("AccessDenied", 403)
    assert (
        message
        == f"User: arn:aws:iam::{iam_account(server)}:user/{user} is not authorized to perform: iam:ListUsers on resource: * because no identity-based policy allows the iam:ListUsers action"  # noqa: E501
    )
    iam.put_user_policy(UserName=user, PolicyName="iam", PolicyDocument=ALLOW_ALL_IAM)
    assert "Users" in bob.list_users()
    records = [
        r
        for r in server.audit_records()
        if r["eventSource"] == "iam.amazonaws.com" and r["eventName"] == "ListUsers"
    ]
    assert records[-1]["userIdentity"]["type"] == "IAMUser"
    assert records[-1]["userIdentity"]["userName"] == user
    # deactivated: refused at once on every worker (2 workers; several tries hit both)
    iam.update_access_key(UserName=user, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    for _ in range(4):
        with pytest.raises(ClientError) as exc:
            bob.list_users()
        assert error(exc)[:2] == (
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )


def iam_account(server: TrentServer) -> str:
    return str(server.client("sts").get_caller_identity()["Account"])


def test_create_key_with_secret_never_in_audit(server: TrentServer, iam: Any) -> None:
    user = name("carol")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    text = (server.data_dir / "audit").joinpath("audit.log").read_text()
    assert key["SecretAccessKey"] not in text
    assert key["AccessKeyId"] in text


def test_accounts_scope_keys_and_cli(server: TrentServer) -> None:
    base = [sys.executable, "-m", "trent", "admin"]
    made = subprocess.run(
        [*base, "create-account", "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = made.stdout.splitlines()
    account = lines[0].strip("[]")
    assert len(account) == 12 and account.isdigit()
    access = lines[1].split(" = ")[1]
    secret = lines[2].split(" = ")[1]
    again = subprocess.run(
        [*base, "create-account", "--data-dir", str(server.data_dir), "--account-id", account],
        capture_output=True,
        text=True,
    )
    assert again.returncode != 0 and "exists already" in again.stderr
    listed = subprocess.run(
        [*base, "list-accounts", "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert account in listed.stdout

    other_sts = server.client("sts", aws_access_key_id=access, aws_secret_access_key=secret)
    assert other_sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{account}:root"
    other_kms = server.client("kms", aws_access_key_id=access, aws_secret_access_key=secret)
    mine = server.client("kms")
    key = mine.create_key()["KeyMetadata"]
    theirs = other_kms.create_key()["KeyMetadata"]
    assert theirs["AWSAccountId"] == account and theirs["Arn"].split(":")[4] == account
    assert key["KeyId"] not in [k["KeyId"] for k in other_kms.list_keys(Limit=1000)["Keys"]]
    with pytest.raises(ClientError) as exc:
        other_kms.describe_key(KeyId=key["KeyId"])
    assert exc.value.response["Error"]["Code"] == "NotFoundException"
    alias = f"alias/{name('same')}"
    mine.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    other_kms.create_alias(AliasName=alias, TargetKeyId=theirs["KeyId"])  # per account
    assert other_kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == theirs["KeyId"]


def test_aws_cli_iam_and_sts(server: TrentServer) -> None:
    from shutil import which

    aws = which("aws") or os.path.join(os.path.dirname(sys.executable), "aws")
    env = {
        **os.environ,
        "AWS_SHARED_CREDENTIALS_FILE": str(server.data_dir / "credentials"),
        "AWS_CONFIG_FILE": str(server.data_dir / "config"),
        "AWS_PROFILE": "trent",
    }
    user = name("cli")
    made = subprocess.run(
        [aws, "iam", "create-user", "--user-name", user, "--endpoint-url", server.endpoint],
        env=env,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["User"]["UserName"] == user
    who = subprocess.run(
        [aws, "sts", "get-caller-identity", "--endpoint-url", server.endpoint],
        env=env,
        capture_output=True,
        text=True,
    )
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["Arn"].endswith(":root")
    dup = subprocess.run(
        [aws, "iam", "create-user", "--user-name", user, "--endpoint-url", server.endpoint],
        env=env,
        capture_output=True,
        text=True,
    )
    assert dup.returncode != 0 and "EntityAlreadyExists" in dup.stderr


def test_access_key_last_used(server: TrentServer, iam: Any) -> None:
    """N/A until the key is used; then when, by which service, in which region, on every
    worker's view once the workers flushed (every 2 s); gone with the key."""
    user = name("lastused")
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName="list",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [ALLOW_ALL_KMS_LIST_KEYS]}
        ),
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    access_key_id = key["AccessKeyId"]
    unused = iam.get_access_key_last_used(AccessKeyId=access_key_id)
    assert unused["UserName"] == user
    assert unused["AccessKeyLastUsed"] == {"ServiceName": "N/A", "Region": "N/A"}
    kms = server.client(
        aws_access_key_id=access_key_id, aws_secret_access_key=key["SecretAccessKey"]
    )
    before = time.time()
    kms.list_keys()
    deadline = time.monotonic() + 15
    while True:
        last = iam.get_access_key_last_used(AccessKeyId=access_key_id)["AccessKeyLastUsed"]
        if "LastUsedDate" in last or time.monotonic() > deadline:
            break
        kms.list_keys()  # on the other worker too
        time.sleep(0.5)
    assert last["ServiceName"] == "kms" and last["Region"] == REGION, last
    assert before - 2 <= last["LastUsedDate"].timestamp() <= time.time() + 1
    iam.delete_access_key(UserName=user, AccessKeyId=access_key_id)
    with pytest.raises(ClientError) as exc:
        iam.get_access_key_last_used(AccessKeyId=access_key_id)
    assert error(exc)[0] == "NoSuchEntity"


ALLOW_ALL_KMS_LIST_KEYS = {"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}
