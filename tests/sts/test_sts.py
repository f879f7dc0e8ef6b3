"""STS through boto3 against running servers: AssumeRole across accounts, trust and identity
policies, role chaining, root refused, expiry (test clock), forged tokens, restarts."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.server import TrentServer


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str, resource: str = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def trust(principal: str, **condition: Any) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": "sts:AssumeRole",
    }
    if condition:
        statement["Condition"] = condition
    return policy(statement)


def code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def session_clients(server: TrentServer, creds: dict[str, Any], service: str = "sts") -> Any:
    return server.client(
        service,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def new_account(server: TrentServer) -> tuple[str, str, str]:
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "trent",
            "admin",
            "create-account",
            "--data-dir",
            str(server.data_dir),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return made[0].strip("[]"), made[1].split(" = ")[1], made[2].split(" = ")[1]


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    server = TrentServer(tmp_path_factory.mktemp("sts") / "data", test_clock=True).start()
    yield server
    server.stop()


def test_cross_account_assume_role_chaining_and_refusals(clock: TrentServer) -> None:
    server = clock
    iam_a = server.client("iam")
    account_a = server.client("sts").get_caller_identity()["Account"]
    account_b, key_b, secret_b = new_account(server)
    iam_b = server.client("iam", aws_access_key_id=key_b, aws_secret_access_key=secret_b)
    sts_root_b = server.client("sts", aws_access_key_id=key_b, aws_secret_access_key=secret_b)

    # B: a service user that may assume roles; a role of its own for chaining
    iam_b.create_user(UserName="svc")
    iam_b.put_user_policy(
        UserName="svc", PolicyName="assume", PolicyDocument=policy(allow("sts:AssumeRole"))
    )
    svc_key = iam_b.create_access_key(UserName="svc")["AccessKey"]
    sts_svc = server.client(
        "sts",
        aws_access_key_id=svc_key["AccessKeyId"],
        aws_secret_access_key=svc_key["SecretAccessKey"],
    )
    iam_b.create_role(
        RoleName="ServiceBRole",
        AssumeRolePolicyDocument=trust(f"arn:aws:iam::{account_b}:user/svc"),
    )
    iam_b.put_role_policy(
        RoleName="ServiceBRole", PolicyName="assume", PolicyDocument=policy(allow("sts:AssumeRole"))
    )

    # A: a role trusting B's role, with an external id
    role_a = f"arn:aws:iam::{account_a}:role/ServiceARole"
    iam_a.create_role(
        RoleName="ServiceARole",
        AssumeRolePolicyDocument=trust(
            f"arn:aws:iam::{account_b}:role/ServiceBRole",
            StringEquals={"sts:ExternalId": "tenant-1"},
        ),
        MaxSessionDuration=7200,
    )
    # issue 10: the session may only do what its role's identity policy allows
    iam_a.put_role_policy(
        RoleName="ServiceARole", PolicyName="kms", PolicyDocument=policy(allow("kms:*"))
    )

    with pytest.raises(ClientError) as exc:
        sts_root_b.assume_role(
            RoleArn=f"arn:aws:iam::{account_b}:role/ServiceBRole", RoleSessionName="root"
        )
    assert code(exc) == ("AccessDenied", "Roles may not be assumed by root accounts.")

    b_creds = sts_svc.assume_role(
        RoleArn=f"arn:aws:iam::{account_b}:role/ServiceBRole", RoleSessionName="b1"
    )["Credentials"]
    assert b_creds["AccessKeyId"].startswith("ASIA")
    sts_b_session = session_clients(server, b_creds)
    identity = sts_b_session.get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{account_b}:assumed-role/ServiceBRole/b1"

    # the trust's condition: no external id, refused
    with pytest.raises(ClientError) as exc:
        sts_b_session.assume_role(RoleArn=role_a, RoleSessionName="a1")
    assert code(exc)[0] == "AccessDenied"
    assert f"is not authorized to perform: sts:AssumeRole on resource: {role_a}" in code(exc)[1]
    # chaining: at most one hour
    with pytest.raises(ClientError) as exc:
        sts_b_session.assume_role(
            RoleArn=role_a, RoleSessionName="a1", ExternalId="tenant-1", DurationSeconds=7200
        )
    assert code(exc) == (
        "ValidationError",
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",  # noqa: E501
    )
    a_creds = sts_b_session.assume_role(
        RoleArn=role_a, RoleSessionName="a1", ExternalId="tenant-1"
    )["Credentials"]
    sts_a_session = session_clients(server, a_creds)
    assert (
        sts_a_session.get_caller_identity()["Arn"]
        == f"arn:aws:sts::{account_a}:assumed-role/ServiceARole/a1"
    )
    kms_a = session_clients(server, a_creds, "kms")
    made = kms_a.create_key()["KeyMetadata"]
    assert made["AWSAccountId"] == account_a

    # a user not named by the trust policy is refused (its identity policy allows)
    with pytest.raises(ClientError) as exc:
        sts_svc.assume_role(RoleArn=role_a, RoleSessionName="direct", ExternalId="tenant-1")
    assert code(exc)[0] == "AccessDenied"

    # forged token: refused per service
    forged = dict(a_creds, SessionToken=a_creds["SessionToken"][:-4] + "AAAA")
    with pytest.raises(ClientError) as exc:
        session_clients(server, forged).get_caller_identity()
    assert code(exc) == (
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    )
    with pytest.raises(ClientError) as exc:
        session_clients(server, forged, "kms").list_keys()
    assert code(exc) == (
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )

    # audit: the session's userIdentity
    records = [
        r
        for r in server.audit_records()
        if r["eventName"] == "CreateKey" and r["userIdentity"].get("type") == "AssumedRole"
    ]
    identity_record = records[-1]["userIdentity"]
    assert identity_record["sessionContext"]["sessionIssuer"]["arn"] == role_a
    assert identity_record["accessKeyId"] == a_creds["AccessKeyId"]
    audit_files = b"".join(  # the trail and the journals
        p.read_bytes() for p in (server.data_dir / "audit").iterdir() if p.is_file()
    )
    assert a_creds["SessionToken"].encode() not in audit_files
    assert a_creds["SecretAccessKey"].encode() not in audit_files
    assert any(
        r["eventSource"] == "sts.amazonaws.com" and r["eventName"] == "AssumeRole"
        for r in server.audit_records()
    )

    # expiry: one hour later the session is refused
    server.advance_clock(seconds=3601)
    with pytest.raises(ClientError) as exc:
        sts_a_session.get_caller_identity()
    assert code(exc) == ("ExpiredToken", "The security token included in the request is expired")
    with pytest.raises(ClientError) as exc:
        kms_a.list_keys()
    assert code(exc) == (
        "ExpiredTokenException",
        "The security token included in the request is expired",
    )


def test_duration_bounds_and_restart(fresh_server: TrentServer) -> None:
    server = fresh_server.start()
    iam = server.client("iam")
    account = server.client("sts").get_caller_identity()["Account"]
    iam.create_user(UserName="u")
    key = iam.create_access_key(UserName="u")["AccessKey"]
    user_arn = f"arn:aws:iam::{account}:user/u"
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(user_arn))
    sts = server.client(
        "sts", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )
    role = f"arn:aws:iam::{account}:role/r"
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role, RoleSessionName="s1", DurationSeconds=7200)
    assert code(exc) == (
        "ValidationError",
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    )
    creds = sts.assume_role(RoleArn=role, RoleSessionName="s1")["Credentials"]
    server.stop()
    server.start()
    assert session_clients(server, creds).get_caller_identity()["Arn"].endswith("assumed-role/r/s1")
