"""End to end through boto3 against a running server: key policies, identity and session
policies, condition keys, cross-account use, the lockout check and the default key policy.

The first test is seed 002's walkthrough ("Simplify multi-tenant encryption with a
cost-conscious AWS KMS key strategy"), with the post's policies verbatim.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.server import TrentServer
from tests.sts.test_sts import new_account, session_clients

NO_RESOURCE = "because no resource-based policy allows the {action} action"
NO_IDENTITY = "because no identity-based policy allows the {action} action"
NO_SESSION = "because no session policy allows the {action} action"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    trent = TrentServer(tmp_path_factory.mktemp("authz") / "data").start()
    yield trent
    trent.stop()


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def refused(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    return error(exc)


def denial(principal: str, action: str, resource: str, tail: str) -> tuple[str, str]:
    head = f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
    return "AccessDeniedException", head + tail.format(action=action)


def service_a_identity_policy() -> str:
    # The post's ServiceARole identity policy, verbatim.
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowKMSByAlias",
                    "Effect": "Allow",
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringLike": {"kms:RequestAlias": "alias/customer-*"}},
                }
            ],
        }
    )


def service_a_trust_policy(account_b: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_b}:role/ServiceBRole"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def tenant_key_policy(account_a: str, tenant: str) -> str:
    # The post's tenant key policy, plus a statement for A's root (as the issue asks).
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "TenantKeyPolicy",
            "Statement": [
                {
                    "Sid": "AllowServiceARoleViaAlias",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_a}:role/ServiceARole"},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringLike": {"kms:RequestAlias": f"alias/customer-{tenant}"}},
                },
                {
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_a}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
            ],
        }
    )


def session_policy(tenant: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"kms:RequestAlias": f"alias/customer-{tenant}"}},
                }
            ],
        }
    )


def allow_all(action: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}],
        }
    )


def test_multi_tenant_walkthrough(server: TrentServer) -> None:
    kms_a, iam_a = server.client(), server.client("iam")
    account_a = server.client("sts").get_caller_identity()["Account"]
    account_b, key_b, secret_b = new_account(server)
    b_root = {"aws_access_key_id": key_b, "aws_secret_access_key": secret_b}
    iam_b = server.client("iam", **b_root)

    # B: a Lambda-like user whose execution role is ServiceBRole
    iam_b.create_user(UserName="lambda")
    iam_b.put_user_policy(
        UserName="lambda", PolicyName="assume", PolicyDocument=allow_all("sts:AssumeRole")
    )
    lam = iam_b.create_access_key(UserName="lambda")["AccessKey"]
    iam_b.create_role(
        RoleName="ServiceBRole",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{account_b}:user/lambda"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    iam_b.put_role_policy(
        RoleName="ServiceBRole", PolicyName="assume", PolicyDocument=allow_all("sts:AssumeRole")
    )
    # then A's role, whose trust policy names ServiceBRole, and the tenants' keys, whose key
    # policies name ServiceARole: a policy naming a role that does not exist is refused, as by AWS
    iam_a.create_role(
        RoleName="ServiceARole", AssumeRolePolicyDocument=service_a_trust_policy(account_b)
    )
    keys = {}
    for tenant in ("123", "456"):
        made = kms_a.create_key(Policy=tenant_key_policy(account_a, tenant))["KeyMetadata"]
        kms_a.create_alias(AliasName=f"alias/customer-{tenant}", TargetKeyId=made["KeyId"])
        keys[tenant] = made
    iam_a.put_role_policy(
        RoleName="ServiceARole", PolicyName="kms", PolicyDocument=service_a_identity_policy()
    )
    sts_lambda = server.client(
        "sts", aws_access_key_id=lam["AccessKeyId"], aws_secret_access_key=lam["SecretAccessKey"]
    )
    b_creds = sts_lambda.assume_role(
        RoleArn=f"arn:aws:iam::{account_b}:role/ServiceBRole", RoleSessionName="lambda"
    )["Credentials"]
    sts_b = session_clients(server, b_creds)
    role_a = f"arn:aws:iam::{account_a}:role/ServiceARole"
    creds_123 = sts_b.assume_role(
        RoleArn=role_a, RoleSessionName="tenant-123", Policy=session_policy("123")
    )["Credentials"]
    kms_123 = session_clients(server, creds_123, "kms")
    session_arn = f"arn:aws:sts::{account_a}:assumed-role/ServiceARole/tenant-123"

    # tenant 123's session encrypts and decrypts through its alias
    blob = kms_123.encrypt(KeyId="alias/customer-123", Plaintext=b"secret")["CiphertextBlob"]
    plain = kms_123.decrypt(KeyId="alias/customer-123", CiphertextBlob=blob)["Plaintext"]
    assert plain == b"secret"
    data_key = kms_123.generate_data_key(KeyId="alias/customer-123", KeySpec="AES_256")
    assert len(data_key["Plaintext"]) == 32

    arn_123, arn_456 = keys["123"]["Arn"], keys["456"]["Arn"]
    # ... refused through another tenant's alias: the session policy does not allow it
    assert refused(kms_123.encrypt, KeyId="alias/customer-456", Plaintext=b"x") == denial(
        session_arn, "kms:Encrypt", arn_456, NO_SESSION
    )
    # ... through the bare key id or ARN: no kms:RequestAlias, nothing allows
    for ref in (keys["123"]["KeyId"], arn_123):
        assert refused(kms_123.encrypt, KeyId=ref, Plaintext=b"x") == denial(
            session_arn, "kms:Encrypt", arn_123, NO_IDENTITY
        )
    # ... Decrypt without a KeyId
    assert refused(kms_123.decrypt, CiphertextBlob=blob) == denial(
        session_arn, "kms:Decrypt", arn_123, NO_IDENTITY
    )
    # ... every other action
    assert refused(kms_123.describe_key, KeyId="alias/customer-123")[0] == "AccessDeniedException"
    assert refused(kms_123.list_keys)[0] == "AccessDeniedException"
    assert refused(kms_123.create_key)[0] == "AccessDeniedException"
    assert refused(kms_123.re_encrypt, CiphertextBlob=blob, DestinationKeyId="alias/customer-123")[
        0
    ] == ("AccessDeniedException")

    # a session without a session policy may use any customer alias and nothing else
    creds_any = sts_b.assume_role(RoleArn=role_a, RoleSessionName="any")["Credentials"]
    kms_any = session_clients(server, creds_any, "kms")
    for tenant in ("123", "456"):
        alias = f"alias/customer-{tenant}"
        out = kms_any.encrypt(KeyId=alias, Plaintext=b"t")["CiphertextBlob"]
        assert kms_any.decrypt(KeyId=alias, CiphertextBlob=out)["Plaintext"] == b"t"
    any_arn = f"arn:aws:sts::{account_a}:assumed-role/ServiceARole/any"
    assert refused(kms_any.encrypt, KeyId=arn_123, Plaintext=b"x") == denial(
        any_arn, "kms:Encrypt", arn_123, NO_IDENTITY
    )
    assert refused(kms_any.describe_key, KeyId="alias/customer-123")[0] == "AccessDeniedException"

    # a session policy's explicit deny
    deny_decrypt = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
                {"Sid": "NoDecrypt", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"},
            ],
        }
    )
    creds_deny = sts_b.assume_role(RoleArn=role_a, RoleSessionName="deny", Policy=deny_decrypt)[
        "Credentials"
    ]
    kms_deny = session_clients(server, creds_deny, "kms")
    sealed = kms_deny.encrypt(KeyId="alias/customer-456", Plaintext=b"d")["CiphertextBlob"]
    deny_arn = f"arn:aws:sts::{account_a}:assumed-role/ServiceARole/deny"
    assert refused(kms_deny.decrypt, KeyId="alias/customer-456", CiphertextBlob=sealed) == denial(
        deny_arn, "kms:Decrypt", arn_456, "with an explicit deny in a session policy"
    )

    # ServiceB's own credentials are refused on A's keys (aliases never cross accounts)
    kms_b_session = session_clients(server, b_creds, "kms")
    b_session_arn = f"arn:aws:sts::{account_b}:assumed-role/ServiceBRole/lambda"
    assert refused(kms_b_session.encrypt, KeyId=arn_123, Plaintext=b"x") == denial(
        b_session_arn, "kms:Encrypt", arn_123, NO_RESOURCE
    )
    assert refused(kms_b_session.encrypt, KeyId="alias/customer-123", Plaintext=b"x")[0] == (
        "NotFoundException"
    )
    kms_b_root = server.client(**b_root)
    assert refused(kms_b_root.decrypt, KeyId=arn_123, CiphertextBlob=blob)[0] == (
        "AccessDeniedException"
    )

    # the audit trail names the deciding statement
    records = [r for r in server.audit_records() if r.get("eventSource") == "kms.amazonaws.com"]
    allowed = [
        r
        for r in records
        if r["eventName"] == "Encrypt"
        and r["userIdentity"].get("arn") == session_arn
        and "errorCode" not in r
    ]
    assert allowed[0]["trentAuthorization"] == (
        "allowed by resource-based policy statement 'AllowServiceARoleViaAlias'"
    )
    denied = [
        r
        for r in records
        if r["eventName"] == "Encrypt"
        and r["userIdentity"].get("arn") == session_arn
        and r.get("errorCode") == "AccessDeniedException"
    ]
    assert denied[0]["trentAuthorization"] == "no session policy allows"


def test_deny_over_allow_and_encryption_context_conditions(server: TrentServer) -> None:
    kms, iam = server.client(), server.client("iam")
    account = server.client("sts").get_caller_identity()["Account"]
    root = f"arn:aws:iam::{account}:root"
    user_arn = f"arn:aws:iam::{account}:user/app"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "AppEncryptsForItsDepartment",
                "Effect": "Allow",
                "Principal": {"AWS": user_arn},
                "Action": ["kms:Encrypt", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:EncryptionContext:Department": "IT"}},
            },
            {
                "Sid": "NeverWithoutContext",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:Encrypt",
                "Resource": "*",
                "Condition": {"Null": {"kms:EncryptionContextKeys": "true"}},
            },
            {
                "Sid": "OnlyKnownContextKeys",
                "Effect": "Deny",
                "Principal": {"AWS": user_arn},
                "Action": "kms:Encrypt",
                "Resource": "*",
                "Condition": {
                    "ForAnyValue:StringNotEquals": {
                        "kms:EncryptionContextKeys": ["Department", "Project"]
                    }
                },
            },
        ],
    }
    iam.create_user(UserName="app")
    made = kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]
    key_arn = made["Arn"]
    access = iam.create_access_key(UserName="app")["AccessKey"]
    app = server.client(
        aws_access_key_id=access["AccessKeyId"], aws_secret_access_key=access["SecretAccessKey"]
    )
    # the key policy names the user: no identity policy needed, given the right context
    blob = app.encrypt(KeyId=key_arn, Plaintext=b"p", EncryptionContext={"Department": "IT"})[
        "CiphertextBlob"
    ]
    assert app.decrypt(CiphertextBlob=blob, EncryptionContext={"Department": "IT"})[
        "Plaintext"
    ] == (b"p")
    assert refused(
        app.encrypt, KeyId=key_arn, Plaintext=b"p", EncryptionContext={"Department": "HR"}
    ) == denial(user_arn, "kms:Encrypt", key_arn, NO_IDENTITY)
    # deny over allow: the root allow statement still loses to the deny statements
    explicit = "with an explicit deny in a resource-based policy"
    assert refused(kms.encrypt, KeyId=key_arn, Plaintext=b"p") == denial(
        root, "kms:Encrypt", key_arn, explicit
    )
    assert refused(
        app.encrypt,
        KeyId=key_arn,
        Plaintext=b"p",
        EncryptionContext={"Department": "IT", "Other": "x"},
    ) == denial(user_arn, "kms:Encrypt", key_arn, explicit)
    # an identity policy deny wins over the key policy's allow
    iam.put_user_policy(
        UserName="app",
        PolicyName="no-decrypt",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}],
            }
        ),
    )
    assert refused(
        app.decrypt, CiphertextBlob=blob, EncryptionContext={"Department": "IT"}
    ) == denial(
        user_arn, "kms:Decrypt", key_arn, "with an explicit deny in an identity-based policy"
    )
    # the root of the account may use a key whose policy names it, and not one that doesn't
    other = kms.create_key(
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": user_arn},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                ],
            }
        ),
        BypassPolicyLockoutSafetyCheck=True,
    )["KeyMetadata"]
    assert refused(kms.describe_key, KeyId=other["KeyId"]) == denial(
        root, "kms:DescribeKey", other["Arn"], NO_RESOURCE
    )


def test_cross_account_needs_key_policy_and_identity_policy(server: TrentServer) -> None:
    kms_a = server.client()
    account_a = server.client("sts").get_caller_identity()["Account"]
    account_b, key_b, secret_b = new_account(server)
    iam_b = server.client("iam", aws_access_key_id=key_b, aws_secret_access_key=secret_b)
    policy = json.loads(
        kms_a.get_key_policy(KeyId=kms_a.create_key()["KeyMetadata"]["KeyId"])["Policy"]
    )
    policy["Statement"].append(
        {
            "Sid": "AllowAccountB",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_b}:root"},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
        }
    )
    key = kms_a.create_key(Policy=json.dumps(policy))["KeyMetadata"]
    iam_b.create_user(UserName="worker")
    access = iam_b.create_access_key(UserName="worker")["AccessKey"]
    worker = server.client(
        aws_access_key_id=access["AccessKeyId"], aws_secret_access_key=access["SecretAccessKey"]
    )
    worker_arn = f"arn:aws:iam::{account_b}:user/worker"
    # the key policy names B, but B's user has no identity policy yet
    assert refused(worker.encrypt, KeyId=key["Arn"], Plaintext=b"x") == denial(
        worker_arn, "kms:Encrypt", key["Arn"], NO_IDENTITY
    )
    iam_b.put_user_policy(
        UserName="worker",
        PolicyName="use-a",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:Sign"],
                        "Resource": key["Arn"],
                    }
                ],
            }
        ),
    )
    out = worker.encrypt(KeyId=key["Arn"], Plaintext=b"x")
    assert out["KeyId"] == key["Arn"]
    assert worker.decrypt(KeyId=key["Arn"], CiphertextBlob=out["CiphertextBlob"])["Plaintext"] == (
        b"x"
    )
    # the identity policy allows but the key policy does not: refused
    assert refused(worker.describe_key, KeyId=key["Arn"]) == denial(
        worker_arn, "kms:DescribeKey", key["Arn"], NO_IDENTITY
    )
    assert refused(worker.generate_data_key, KeyId=key["Arn"], KeySpec="AES_256") == denial(
        worker_arn, "kms:GenerateDataKey", key["Arn"], NO_RESOURCE
    )
    # B's root: identity allows all of B, the key policy names B
    b_root = server.client(aws_access_key_id=key_b, aws_secret_access_key=secret_b)
    described = b_root.describe_key(KeyId=key["Arn"])["KeyMetadata"]
    assert described["AWSAccountId"] == account_a and described["Arn"] == key["Arn"]
    # a key id alone names a key of the caller's own account only
    assert refused(b_root.describe_key, KeyId=key["KeyId"])[0] == "NotFoundException"


def test_lockout_check_and_policy_validation(server: TrentServer) -> None:
    kms = server.client()
    account = server.client("sts").get_caller_identity()["Account"]
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    locking = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "kms:Encrypt",
                    "Resource": "*",
                }
            ],
        }
    )
    lockout = (
        "MalformedPolicyDocumentException",
        "The new key policy will not allow you to update the key policy in the future.",
    )
    assert refused(kms.put_key_policy, KeyId=key_id, PolicyName="default", Policy=locking) == (
        lockout
    )
    assert refused(kms.create_key, Policy=locking) == lockout
    kms.put_key_policy(
        KeyId=key_id, PolicyName="default", Policy=locking, BypassPolicyLockoutSafetyCheck=True
    )
    assert refused(kms.get_key_policy, KeyId=key_id, PolicyName="default")[0] == (
        "AccessDeniedException"
    )
    bad_principal = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "kms:*", "Resource": "*"}
            ],
        }
    )
    assert refused(kms.create_key, Policy=bad_principal) == (
        "MalformedPolicyDocumentException",
        "Policy contains a statement with one or more invalid principals.",
    )
    assert refused(kms.create_key, Policy="{not json")[0] == "MalformedPolicyDocumentException"
    unknown_element = json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Foo": "x"}]}
    )
    assert refused(kms.create_key, Policy=unknown_element) == (
        "MalformedPolicyDocumentException",
        "Syntax errors in policy.",
    )
    huge = json.loads(locking)
    huge["Statement"][0]["Sid"] = "x" * 33000
    assert refused(kms.create_key, Policy=json.dumps(huge)) == (
        "MalformedPolicyDocumentException",
        "The key policy is larger than 32768 bytes.",
    )


def test_default_key_policy_byte_for_byte(server: TrentServer) -> None:
    kms = server.client()
    account = server.client("sts").get_caller_identity()["Account"]
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    got = kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    assert got == (
        "{\n"
        '  "Version" : "2012-10-17",\n'
        '  "Id" : "key-default-1",\n'
        '  "Statement" : [ {\n'
        '    "Sid" : "Enable IAM User Permissions",\n'
        '    "Effect" : "Allow",\n'
        '    "Principal" : {\n'
        f'      "AWS" : "arn:aws:iam::{account}:root"\n'
        "    },\n"
        '    "Action" : "kms:*",\n'
        '    "Resource" : "*"\n'
        "  } ]\n"
        "}"
    )
