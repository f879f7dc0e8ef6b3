"""End to end through boto3 against a running server: key policies checked when written
(principals must exist, condition operators must be IAM's), AWS's AccessDenied wording for each
deciding policy type, every operation AWS lets another account call with a key ARN (and those
it does not), and ``kms:ReEncryptOnSameKey``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mlkem

from tests.server import TrentServer
from tests.sts.test_sts import new_account, session_clients

INVALID_PRINCIPALS = (
    "MalformedPolicyDocumentException",
    "Policy contains a statement with one or more invalid principals.",
)
SYNTAX = ("MalformedPolicyDocumentException", "Syntax errors in policy.")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    trent = TrentServer(tmp_path_factory.mktemp("gaps") / "data").start()
    yield trent
    trent.stop()


@dataclass
class Accounts:
    a: str  # the server's first account (keys live here)
    b: str  # a second account
    kms_a: Any  # A's root
    iam_a: Any
    kms_b: Any  # B's root
    iam_b: Any


@pytest.fixture(scope="module")
def accounts(server: TrentServer) -> Accounts:
    account_b, key_b, secret_b = new_account(server)
    creds_b = {"aws_access_key_id": key_b, "aws_secret_access_key": secret_b}
    return Accounts(
        a=server.client("sts").get_caller_identity()["Account"],
        b=account_b,
        kms_a=server.client(),
        iam_a=server.client("iam"),
        kms_b=server.client(**creds_b),
        iam_b=server.client("iam", **creds_b),
    )


def refused(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    error = exc.value.response["Error"]
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Code"], error["Message"]


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal: str, action: Any = "kms:*", **extra: Any) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": action,
        "Resource": "*",
        **extra,
    }


def root(account: str) -> str:
    return f"arn:aws:iam::{account}:root"


def user_with_key(iam: Any, name: str) -> tuple[str, dict[str, str]]:
    """A new user's ARN and boto3 credential arguments."""
    made = iam.create_user(UserName=name)["User"]
    access = iam.create_access_key(UserName=name)["AccessKey"]
    creds = {
        "aws_access_key_id": access["AccessKeyId"],
        "aws_secret_access_key": access["SecretAccessKey"],
    }
    return made["Arn"], creds


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- 1. key policies checked when written -------------------------------------------------------
def test_key_policy_principals_must_exist(server: TrentServer, accounts: Accounts) -> None:
    a, kms, iam = accounts.a, accounts.kms_a, accounts.iam_a
    user = iam.create_user(UserName=unique("alice"))["User"]
    pathed = iam.create_user(UserName=unique("pathed"), Path="/team/")["User"]
    trust = policy({"Effect": "Allow", "Principal": {"AWS": root(a)}, "Action": "sts:AssumeRole"})
    role = iam.create_role(RoleName=unique("app"), AssumeRolePolicyDocument=trust)["Role"]
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    before = kms.get_key_policy(KeyId=key_id)["Policy"]
    missing = [
        f"arn:aws:iam::{a}:user/nobody",
        f"arn:aws:iam::{a}:role/nothing",
        f"arn:aws:iam::{a}:user/{pathed['UserName']}",  # the user's ARN has its path
        f"arn:aws:sts::{a}:assumed-role/nothing/s1",
        "arn:aws:iam::999999999999:root",  # no such account
        "999999999999",
        f"arn:aws:iam::{a}:group/admins",  # not a principal
    ]
    for name in missing:
        document = policy(allow(root(a)), allow(name, "kms:Encrypt"))
        assert refused(kms.create_key, Policy=document) == INVALID_PRINCIPALS, name
        assert refused(kms.put_key_policy, KeyId=key_id, Policy=document) == INVALID_PRINCIPALS
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == before  # nothing half-written
    existing = [
        user["Arn"],
        pathed["Arn"],
        role["Arn"],
        f"arn:aws:sts::{a}:assumed-role/{role['RoleName']}/s1",
        root(accounts.b),
        accounts.b,
        "*",
    ]
    for name in existing:
        document = policy(allow(root(a)), allow(name, "kms:Encrypt"))
        kms.put_key_policy(KeyId=key_id, Policy=document)
        assert kms.get_key_policy(KeyId=key_id)["Policy"] == document
    # a user deleted after being named: a new policy naming it is refused
    iam.delete_user(UserName=user["UserName"])
    document = policy(allow(root(a)), allow(user["Arn"], "kms:Encrypt"))
    assert refused(kms.put_key_policy, KeyId=key_id, Policy=document) == INVALID_PRINCIPALS


def test_unknown_condition_operators_refused_at_write(accounts: Accounts) -> None:
    a, kms, iam = accounts.a, accounts.kms_a, accounts.iam_a
    for operator in ("StringEqualz", "NullIfExists", "ForSomeValues:StringEquals"):
        condition = {operator: {"kms:CallerAccount": a}}
        document = policy(allow(root(a)), allow(root(a), "kms:Encrypt", Condition=condition))
        assert refused(kms.create_key, Policy=document) == SYNTAX
        statement = {"Effect": "Allow", "Action": "kms:*", "Resource": "*", "Condition": condition}
        identity = policy(statement)
        name = unique("u")
        iam.create_user(UserName=name)
        assert refused(iam.put_user_policy, UserName=name, PolicyName="p", PolicyDocument=identity)
        code, message = refused(iam.create_policy, PolicyName=unique("p"), PolicyDocument=identity)
        assert (code, message) == ("MalformedPolicyDocument", "Syntax errors in policy.")
    good = {"StringEqualsIfExists": {"kms:CallerAccount": a}}
    kms.create_key(Policy=policy(allow(root(a)), allow(root(a), "kms:Encrypt", Condition=good)))


def test_iam_policies_checked_when_written(accounts: Accounts) -> None:
    iam, a = accounts.iam_a, accounts.a
    name = unique("u")
    iam.create_user(UserName=name)
    trust = policy({"Effect": "Allow", "Principal": {"AWS": root(a)}, "Action": "sts:AssumeRole"})
    role = iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=trust)["Role"]
    unknown_element = json.dumps(
        {"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*", "Foo": 1}]}
    )
    for call, args in (
        (iam.put_user_policy, {"UserName": name, "PolicyName": "p"}),
        (iam.put_role_policy, {"RoleName": role["RoleName"], "PolicyName": "p"}),
        (iam.create_policy, {"PolicyName": unique("p")}),
    ):
        assert refused(call, PolicyDocument=unknown_element, **args) == (
            "MalformedPolicyDocument",
            "Syntax errors in policy.",
        )
        assert refused(call, PolicyDocument="{not json", **args)[0] == "MalformedPolicyDocument"
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == []
    # a trust policy's principals must exist too (IAM's message names the principal)
    ghost = f"arn:aws:iam::{a}:role/{unique('ghost')}"
    naming_ghost = policy(
        {"Effect": "Allow", "Principal": {"AWS": ghost}, "Action": "sts:AssumeRole"}
    )
    invalid = ("MalformedPolicyDocument", f'Invalid principal in policy: "AWS":"{ghost}"')
    assert refused(
        iam.create_role, RoleName=unique("r"), AssumeRolePolicyDocument=naming_ghost
    ) == (invalid)
    assert (
        refused(
            iam.update_assume_role_policy, RoleName=role["RoleName"], PolicyDocument=naming_ghost
        )
        == invalid
    )
    assert iam.get_role(RoleName=role["RoleName"])["Role"]["AssumeRolePolicyDocument"] == (
        json.loads(trust)
    )
    other = policy(
        {"Effect": "Allow", "Principal": {"AWS": root(accounts.b)}, "Action": "sts:AssumeRole"}
    )
    iam.update_assume_role_policy(RoleName=role["RoleName"], PolicyDocument=other)


# --- 2. AccessDenied wording, one per deciding policy type --------------------------------------
def denied(principal: str, action: str, resource: str, tail: str) -> tuple[str, str]:
    head = f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
    return "AccessDeniedException", head + tail.format(action=action)


def test_access_denied_wording_for_each_case(server: TrentServer, accounts: Accounts) -> None:
    a, kms, iam = accounts.a, accounts.kms_a, accounts.iam_a
    name = unique("worker")
    user_arn, creds = user_with_key(iam, name)
    worker = server.client(**creds)
    trust = policy({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"})
    role = iam.create_role(RoleName=unique("role"), AssumeRolePolicyDocument=trust)["Role"]
    everything = policy({"Effect": "Allow", "Action": ["kms:*", "sts:*"], "Resource": "*"})
    iam.put_user_policy(UserName=name, PolicyName="all", PolicyDocument=everything)
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="all", PolicyDocument=everything)
    sts = server.client("sts", **creds)

    def session(session_policy: str | None) -> tuple[str, Any]:
        args: dict[str, Any] = {"RoleArn": role["Arn"], "RoleSessionName": "s1"}
        if session_policy is not None:
            args["Policy"] = session_policy
        creds = sts.assume_role(**args)["Credentials"]
        arn = f"arn:aws:sts::{a}:assumed-role/{role['RoleName']}/s1"
        return arn, session_clients(server, creds, "kms")

    account_wide = kms.create_key(Policy=policy(allow(root(a))))["KeyMetadata"]["Arn"]
    # 1. explicit deny in the key policy (resource-based)
    deny_user = {**allow(user_arn, "kms:Encrypt"), "Effect": "Deny"}
    denying = kms.create_key(Policy=policy(allow(root(a)), deny_user))["KeyMetadata"]["Arn"]
    assert refused(worker.encrypt, KeyId=denying, Plaintext=b"x") == denied(
        user_arn, "kms:Encrypt", denying, "with an explicit deny in a resource-based policy"
    )
    # 2. no resource-based policy allows: the key policy names neither the user nor its account
    other_user = iam.create_user(UserName=unique("other"))["User"]["Arn"]
    only_other = policy(allow(root(a), "kms:PutKeyPolicy"), allow(other_user))
    private = kms.create_key(Policy=only_other)["KeyMetadata"]["Arn"]
    assert refused(worker.encrypt, KeyId=private, Plaintext=b"x") == denied(
        user_arn,
        "kms:Encrypt",
        private,
        "because no resource-based policy allows the {action} action",
    )
    # 3. explicit deny in an identity-based policy
    deny_identity = policy({"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"})
    iam.put_user_policy(UserName=name, PolicyName="deny", PolicyDocument=deny_identity)
    assert refused(worker.encrypt, KeyId=account_wide, Plaintext=b"x") == denied(
        user_arn, "kms:Encrypt", account_wide, "with an explicit deny in an identity-based policy"
    )
    iam.delete_user_policy(UserName=name, PolicyName="deny")
    # 4. no identity-based policy allows: the key policy names the account only
    iam.delete_user_policy(UserName=name, PolicyName="all")
    assert refused(worker.encrypt, KeyId=account_wide, Plaintext=b"x") == denied(
        user_arn,
        "kms:Encrypt",
        account_wide,
        "because no identity-based policy allows the {action} action",
    )
    iam.put_user_policy(UserName=name, PolicyName="all", PolicyDocument=everything)
    assert worker.encrypt(KeyId=account_wide, Plaintext=b"x")["KeyId"] == account_wide
    # 5. explicit deny in a session policy
    deny_session = policy(
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"},
    )
    session_arn, denied_session = session(deny_session)
    assert refused(denied_session.encrypt, KeyId=account_wide, Plaintext=b"x") == denied(
        session_arn, "kms:Encrypt", account_wide, "with an explicit deny in a session policy"
    )
    # 6. no session policy allows
    _, narrow = session(policy({"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}))
    assert narrow.describe_key(KeyId=account_wide)["KeyMetadata"]["Arn"] == account_wide
    assert refused(narrow.encrypt, KeyId=account_wide, Plaintext=b"x") == denied(
        session_arn,
        "kms:Encrypt",
        account_wide,
        "because no session policy allows the {action} action",
    )
    # without a session policy, the role's own policy allows
    _, free = session(None)
    assert free.encrypt(KeyId=account_wide, Plaintext=b"x")["KeyId"] == account_wide


# --- 3. cross-account calls by key ARN ----------------------------------------------------------
@dataclass
class ForeignKeys:
    symmetric: str
    signing: str
    hmac: str
    agreement: str
    kem: str


@pytest.fixture(scope="module")
def foreign(accounts: Accounts) -> ForeignKeys:
    """Keys of A whose key policies let B's account do everything."""
    document = policy(allow(root(accounts.a)), allow(root(accounts.b)))

    def make(**args: Any) -> str:
        made = accounts.kms_a.create_key(Policy=document, **args)["KeyMetadata"]["Arn"]
        return str(made)

    return ForeignKeys(
        symmetric=make(),
        signing=make(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY"),
        hmac=make(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC"),
        agreement=make(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT"),
        kem=make(KeySpec="ML_KEM_768", KeyUsage="ENCAPSULATE_DECAPSULATE"),
    )


def test_cross_account_key_operations(accounts: Accounts, foreign: ForeignKeys) -> None:
    b = accounts.kms_b
    key = foreign.symmetric
    assert b.describe_key(KeyId=key)["KeyMetadata"]["Arn"] == key
    assert b.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False
    sealed = b.encrypt(KeyId=key, Plaintext=b"across", EncryptionContext={"t": "1"})
    assert sealed["KeyId"] == key
    blob = sealed["CiphertextBlob"]
    ctx = {"t": "1"}
    assert b.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == b"across"
    assert b.decrypt(CiphertextBlob=blob, KeyId=key, EncryptionContext=ctx)["KeyId"] == key
    again = b.re_encrypt(
        CiphertextBlob=blob,
        SourceKeyId=key,
        SourceEncryptionContext=ctx,
        DestinationKeyId=key,
    )
    assert again["KeyId"] == key and again["SourceKeyId"] == key
    assert accounts.kms_a.decrypt(CiphertextBlob=again["CiphertextBlob"])["Plaintext"] == (
        b"across"
    )
    data_key = b.generate_data_key(KeyId=key, KeySpec="AES_256")
    opened = accounts.kms_a.decrypt(CiphertextBlob=data_key["CiphertextBlob"])
    assert opened["Plaintext"] == data_key["Plaintext"]
    assert b.generate_data_key_without_plaintext(KeyId=key, NumberOfBytes=16)["KeyId"] == key
    pair = b.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_P256")
    assert pair["KeyId"] == key
    assert b.generate_data_key_pair_without_plaintext(KeyId=key, KeyPairSpec="RSA_2048")[
        "KeyId"
    ] == (key)
    # grants: create, list, retire (by KeyId + GrantId), revoke
    grantee = root(accounts.b)
    made = b.create_grant(KeyId=key, GranteePrincipal=grantee, Operations=["Encrypt"])
    listed = b.list_grants(KeyId=key)["Grants"]
    assert made["GrantId"] in {g["GrantId"] for g in listed}
    b.retire_grant(KeyId=key, GrantId=made["GrantId"])
    second = b.create_grant(KeyId=key, GranteePrincipal=grantee, Operations=["Decrypt"])
    b.revoke_grant(KeyId=key, GrantId=second["GrantId"])
    assert b.list_grants(KeyId=key)["Grants"] == []
    # signing: verified with the public key by an independent implementation
    message = b"signed across accounts"
    signature = b.sign(KeyId=foreign.signing, Message=message, SigningAlgorithm="ECDSA_SHA_256")
    der = b.get_public_key(KeyId=foreign.signing)["PublicKey"]
    public = serialization.load_der_public_key(der)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature["Signature"], message, ec.ECDSA(hashes.SHA256()))
    assert b.verify(
        KeyId=foreign.signing,
        Message=message,
        Signature=signature["Signature"],
        SigningAlgorithm="ECDSA_SHA_256",
    )["SignatureValid"]
    # MACs
    mac = b.generate_mac(KeyId=foreign.hmac, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert b.verify_mac(KeyId=foreign.hmac, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")[
        "MacValid"
    ]
    # key agreement: the same secret as ECDH computed here with the key's public key
    mine = ec.generate_private_key(ec.SECP256R1())
    mine_der = mine.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    shared = b.derive_shared_secret(
        KeyId=foreign.agreement, KeyAgreementAlgorithm="ECDH", PublicKey=mine_der
    )["SharedSecret"]
    theirs = serialization.load_der_public_key(
        b.get_public_key(KeyId=foreign.agreement)["PublicKey"]
    )
    assert isinstance(theirs, ec.EllipticCurvePublicKey)
    assert shared == mine.exchange(ec.ECDH(), theirs)
    # ML-KEM: encapsulated here to the key's public key, decapsulated in Trent, and back
    kem_public = serialization.load_der_public_key(b.get_public_key(KeyId=foreign.kem)["PublicKey"])
    assert isinstance(kem_public, mlkem.MLKEM768PublicKey)
    secret, sealed_secret = kem_public.encapsulate()
    opened_secret = b.decapsulate(
        KeyId=foreign.kem, SharedSecretCiphertextBlob=sealed_secret, EncapsulationAlgorithm="ML_KEM"
    )
    assert opened_secret["SharedSecret"] == secret and opened_secret["KeyId"] == foreign.kem
    made_secret = b.encapsulate(KeyId=foreign.kem, EncapsulationAlgorithm="ML_KEM")
    again_secret = accounts.kms_a.decapsulate(
        KeyId=foreign.kem,
        SharedSecretCiphertextBlob=made_secret["SharedSecretCiphertextBlob"],
        EncapsulationAlgorithm="ML_KEM",
    )
    assert again_secret["SharedSecret"] == made_secret["SharedSecret"]


NOT_CROSS_ACCOUNT: list[tuple[str, dict[str, Any]]] = [
    ("disable_key", {}),
    ("enable_key", {}),
    ("get_key_policy", {"PolicyName": "default"}),
    ("list_key_policies", {}),
    ("enable_key_rotation", {}),
    ("disable_key_rotation", {}),
    ("rotate_key_on_demand", {}),
    ("list_key_rotations", {}),
    ("list_resource_tags", {}),
    ("tag_resource", {"Tags": [{"TagKey": "k", "TagValue": "v"}]}),
    ("untag_resource", {"TagKeys": ["k"]}),
    ("update_key_description", {"Description": "taken"}),
    ("schedule_key_deletion", {"PendingWindowInDays": 7}),
    ("cancel_key_deletion", {}),
    ("list_aliases", {}),
    ("get_key_last_usage", {}),
]


@pytest.mark.parametrize(("method", "args"), NOT_CROSS_ACCOUNT)
def test_operations_aws_refuses_across_accounts(
    accounts: Accounts, foreign: ForeignKeys, method: str, args: dict[str, Any]
) -> None:
    key = foreign.symmetric
    # the key policy lets B do kms:*, but these operations never reach another account's key
    assert refused(getattr(accounts.kms_b, method), KeyId=key, **args) == (
        "NotFoundException",
        f"Key '{key}' does not exist",
    )
    metadata = accounts.kms_a.describe_key(KeyId=key)["KeyMetadata"]
    assert metadata["KeyState"] == "Enabled" and metadata["Description"] == ""


def test_put_key_policy_and_alias_refused_across_accounts(
    accounts: Accounts, foreign: ForeignKeys
) -> None:
    key = foreign.symmetric
    before = accounts.kms_a.get_key_policy(KeyId=key)["Policy"]
    document = policy(allow(root(accounts.b)))
    assert refused(accounts.kms_b.put_key_policy, KeyId=key, Policy=document) == (
        "NotFoundException",
        f"Key '{key}' does not exist",
    )
    assert accounts.kms_a.get_key_policy(KeyId=key)["Policy"] == before
    code, _ = refused(accounts.kms_b.create_alias, AliasName="alias/theirs", TargetKeyId=key)
    assert code == "NotFoundException"
    # a key ARN of another account works again for a cross-account operation afterwards
    assert accounts.kms_b.describe_key(KeyId=key)["KeyMetadata"]["Arn"] == key


# --- 4. kms:ReEncryptOnSameKey ------------------------------------------------------------------
def test_reencrypt_on_same_key(accounts: Accounts) -> None:
    a, kms = accounts.a, accounts.kms_a
    only_same = {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "kms:ReEncrypt*",
        "Resource": "*",
        "Condition": {"Bool": {"kms:ReEncryptOnSameKey": "false"}},
    }
    key = kms.create_key(Policy=policy(allow(root(a)), only_same))["KeyMetadata"]
    alias = f"alias/{unique('same')}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    other = kms.create_key()["KeyMetadata"]["Arn"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p")["CiphertextBlob"]
    # the same key however it is named, with or without SourceKeyId: allowed
    for source, destination in (
        (None, key["KeyId"]),
        (None, key["Arn"]),
        (None, alias),
        (key["Arn"], alias),
        (alias, key["KeyId"]),
    ):
        args: dict[str, Any] = {"CiphertextBlob": blob, "DestinationKeyId": destination}
        if source is not None:
            args["SourceKeyId"] = source
        assert kms.re_encrypt(**args)["KeyId"] == key["Arn"], (source, destination)
    # to another key: the ReEncryptFrom check on the source key denies
    assert refused(kms.re_encrypt, CiphertextBlob=blob, DestinationKeyId=other) == (
        "AccessDeniedException",
        f"User: {root(a)} is not authorized to perform: kms:ReEncryptFrom on resource: "
        f"{key['Arn']} with an explicit deny in a resource-based policy",
    )
    # from another key into this one: the ReEncryptTo check on this key denies
    foreign_blob = kms.encrypt(KeyId=other, Plaintext=b"p")["CiphertextBlob"]
    assert refused(kms.re_encrypt, CiphertextBlob=foreign_blob, DestinationKeyId=alias) == (
        "AccessDeniedException",
        f"User: {root(a)} is not authorized to perform: kms:ReEncryptTo on resource: "
        f"{key['Arn']} with an explicit deny in a resource-based policy",
    )
