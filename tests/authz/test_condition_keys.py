"""Condition keys computed from a request, a key and a principal (trent/authz/conditions.py),
in-process on a real environment: (operation, request, principal kind, key name) -> value."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from trent.app import build_env
from trent.authz import Principal, PrincipalType, RoleSession
from trent.authz.conditions import ConditionKeys
from trent.bootstrap import initialize
from trent.clock import SystemClock
from trent.config import Settings
from trent.operations import OPERATIONS, Call, Env

ACCOUNT_ROLE = "arn:aws:iam::{a}:role/R"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Env, dict[str, Principal]]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("keys") / "data")
    data = initialize(settings, SystemClock())
    env = build_env(settings, SystemClock())
    a = data.account_id
    session = RoleSession(
        ACCOUNT_ROLE.format(a=a), "AROAX", "R", "s1", 0.0, 1e12, tags=(("team", "red"),)
    )
    principals = {
        "root": Principal(a, f"arn:aws:iam::{a}:root", "AKIA1", PrincipalType.ROOT, a),
        "user": Principal(
            a, f"arn:aws:iam::{a}:user/bob", "AKIA2", PrincipalType.USER, "AIDAB", "bob"
        ),
        "session": Principal(
            a,
            f"arn:aws:sts::{a}:assumed-role/R/s1",
            "ASIA3",
            PrincipalType.ASSUMED_ROLE,
            "AROAX:s1",
            session=session,
        ),
    }
    yield env, principals
    env.store.close()


def keys_for(
    env: Env, principal: Principal, operation: str, request: dict[str, Any], with_key: bool
) -> ConditionKeys:
    env.refresh()
    key = None
    if with_key:
        root = Principal(
            principal.account_id,
            f"arn:aws:iam::{principal.account_id}:root",
            "A",
            PrincipalType.ROOT,
            principal.account_id,
        )
        call = Call("r", "e", 0.0, "CreateKey", root)
        made = OPERATIONS["CreateKey"](env, call, {"Tags": [{"TagKey": "Env", "TagValue": "prod"}]})
        key_id = made["KeyMetadata"]["KeyId"]
        alias = f"alias/k-{uuid.uuid4().hex[:8]}"
        OPERATIONS["CreateAlias"](
            env,
            Call("r", "e", 0.0, "CreateAlias", root),
            {"AliasName": alias, "TargetKeyId": key_id},
        )
        env.refresh()
        key = env.keyring.resolve(alias)
    call = Call("r", "e", 0.0, operation, principal)
    call.request = request
    call.source_ip = "203.0.113.9"
    return ConditionKeys(call, key, env)


CASES: list[tuple[str, dict[str, Any], str, bool, str, list[str] | None]] = [
    (
        "Encrypt",
        {"EncryptionContext": {"Dept": "IT"}},
        "user",
        True,
        "kms:EncryptionContext:Dept",
        ["IT"],
    ),
    (
        "Encrypt",
        {"EncryptionContext": {"Dept": "IT"}},
        "user",
        True,
        "kms:encryptioncontext:dept",
        ["IT"],
    ),
    (
        "Encrypt",
        {"EncryptionContext": {"Dept": "IT"}},
        "user",
        True,
        "kms:EncryptionContext:Other",
        None,
    ),
    (
        "Encrypt",
        {"EncryptionContext": {"A": "1", "B": "2"}},
        "user",
        True,
        "kms:EncryptionContextKeys",
        ["A", "B"],
    ),
    ("Encrypt", {}, "user", True, "kms:EncryptionContextKeys", None),
    ("Encrypt", {}, "user", True, "kms:EncryptionAlgorithm", ["SYMMETRIC_DEFAULT"]),
    (
        "Encrypt",
        {"EncryptionAlgorithm": "RSAES_OAEP_SHA_256"},
        "user",
        True,
        "kms:EncryptionAlgorithm",
        ["RSAES_OAEP_SHA_256"],
    ),
    (
        "Sign",
        {"SigningAlgorithm": "ECDSA_SHA_256", "MessageType": "RAW"},
        "user",
        True,
        "kms:SigningAlgorithm",
        ["ECDSA_SHA_256"],
    ),
    (
        "Sign",
        {"SigningAlgorithm": "ECDSA_SHA_256", "MessageType": "RAW"},
        "user",
        True,
        "kms:MessageType",
        ["RAW"],
    ),
    (
        "GenerateMac",
        {"MacAlgorithm": "HMAC_SHA_256"},
        "user",
        True,
        "kms:MacAlgorithm",
        ["HMAC_SHA_256"],
    ),
    ("Encrypt", {}, "user", True, "kms:KeySpec", ["SYMMETRIC_DEFAULT"]),
    ("Encrypt", {}, "user", True, "kms:KeyUsage", ["ENCRYPT_DECRYPT"]),
    ("Encrypt", {}, "user", True, "kms:KeyOrigin", ["AWS_KMS"]),
    (
        "CreateKey",
        {"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"},
        "user",
        False,
        "kms:KeySpec",
        ["RSA_2048"],
    ),
    ("CreateKey", {}, "user", False, "kms:KeyUsage", ["ENCRYPT_DECRYPT"]),
    (
        "CreateKey",
        {"BypassPolicyLockoutSafetyCheck": True},
        "user",
        False,
        "kms:BypassPolicyLockoutSafetyCheck",
        ["true"],
    ),
    (
        "CreateKey",
        {"Tags": [{"TagKey": "Team", "TagValue": "red"}]},
        "user",
        False,
        "aws:RequestTag/Team",
        ["red"],
    ),
    (
        "CreateKey",
        {"Tags": [{"TagKey": "Team", "TagValue": "red"}]},
        "user",
        False,
        "aws:TagKeys",
        ["Team"],
    ),
    ("UntagResource", {"TagKeys": ["A", "B"]}, "user", True, "aws:TagKeys", ["A", "B"]),
    (
        "ScheduleKeyDeletion",
        {"PendingWindowInDays": 7},
        "user",
        True,
        "kms:ScheduleKeyDeletionPendingWindowInDays",
        ["7"],
    ),
    (
        "EnableKeyRotation",
        {"RotationPeriodInDays": 90},
        "user",
        True,
        "kms:RotationPeriodInDays",
        ["90"],
    ),
    (
        "GenerateDataKeyPair",
        {"KeyPairSpec": "RSA_2048"},
        "user",
        True,
        "kms:DataKeyPairSpec",
        ["RSA_2048"],
    ),
    (
        "CreateGrant",
        {"Operations": ["Encrypt", "Decrypt"], "GranteePrincipal": "arn:aws:iam::1:role/G"},
        "user",
        True,
        "kms:GrantOperations",
        ["Encrypt", "Decrypt"],
    ),
    (
        "CreateGrant",
        {"Operations": ["Encrypt"], "GranteePrincipal": "arn:aws:iam::1:role/G"},
        "user",
        True,
        "kms:GranteePrincipal",
        ["arn:aws:iam::1:role/G"],
    ),
    (
        "CreateGrant",
        {"Operations": ["Encrypt"], "GranteePrincipal": "g"},
        "user",
        True,
        "kms:GrantIsForAWSResource",
        ["false"],
    ),
    (
        "CreateGrant",
        {
            "Operations": ["Encrypt"],
            "GranteePrincipal": "g",
            "Constraints": {"EncryptionContextSubset": {"a": "b"}},
        },
        "user",
        True,
        "kms:GrantConstraintType",
        ["EncryptionContextSubset"],
    ),
    ("Encrypt", {}, "user", True, "kms:GrantOperations", None),
    # ReEncrypt supplies ``call.same_key`` (test_reencrypt_on_same_key below); without it the
    # key is absent, whatever the request's names (they may name one key differently)
    (
        "ReEncrypt",
        {"SourceKeyId": "k", "DestinationKeyId": "k"},
        "user",
        True,
        "kms:ReEncryptOnSameKey",
        None,
    ),
    ("Encrypt", {}, "user", True, "kms:ReEncryptOnSameKey", None),
    ("Encrypt", {}, "user", True, "aws:ResourceTag/Env", ["prod"]),
    ("Encrypt", {}, "user", True, "aws:ResourceTag/Missing", None),
    ("Encrypt", {}, "user", True, "aws:username", ["bob"]),
    ("Encrypt", {}, "session", True, "aws:username", None),
    ("Encrypt", {}, "root", True, "aws:username", None),
    ("Encrypt", {}, "user", True, "aws:PrincipalType", ["User"]),
    ("Encrypt", {}, "root", True, "aws:PrincipalType", ["Account"]),
    ("Encrypt", {}, "session", True, "aws:PrincipalType", ["AssumedRole"]),
    ("Encrypt", {}, "user", True, "aws:userid", ["AIDAB"]),
    ("Encrypt", {}, "session", True, "aws:userid", ["AROAX:s1"]),
    ("Encrypt", {}, "session", True, "aws:PrincipalTag/team", ["red"]),
    ("Encrypt", {}, "user", True, "aws:PrincipalTag/team", None),
    ("Encrypt", {}, "user", True, "aws:SourceIp", ["203.0.113.9"]),
    ("Encrypt", {}, "user", True, "aws:SecureTransport", ["false"]),
    ("Encrypt", {}, "user", True, "aws:MultiFactorAuthPresent", None),
    ("Encrypt", {}, "session", True, "aws:MultiFactorAuthPresent", ["false"]),
    ("Encrypt", {}, "user", True, "kms:RequestAlias", None),  # set per resolve, below
    ("Encrypt", {}, "user", True, "kms:NoSuchKey", None),
    ("Encrypt", {}, "user", True, "s3:prefix", None),
]


@pytest.mark.parametrize(("operation", "request_", "who", "with_key", "name", "value"), CASES)
def test_condition_key(
    world: tuple[Env, dict[str, Principal]],
    operation: str,
    request_: dict[str, Any],
    who: str,
    with_key: bool,
    name: str,
    value: list[str] | None,
) -> None:
    env, principals = world
    keys = keys_for(env, principals[who], operation, request_, with_key)
    if name == "kms:RequestAlias":  # the alias keys_for resolved the key by, this request
        assert keys.get(name) is not None and keys.get(name)[0].startswith("alias/k-")
        assert keys.get("kms:ResourceAliases") == keys.get(name)
        env.refresh()  # a new request forgets it
        assert keys.key is not None and env.keyring.alias_used(keys.key) is None
        return
    assert keys.get(name) == value


def test_always_present_keys(world: tuple[Env, dict[str, Principal]]) -> None:
    env, principals = world
    user = principals["user"]
    keys = keys_for(env, user, "ListKeys", {}, False)
    assert keys.get("kms:CallerAccount") == [user.account_id]
    assert keys.get("aws:PrincipalAccount") == [user.account_id]
    assert keys.get("aws:PrincipalArn") == [user.arn]
    assert keys.get("aws:CurrentTime")[0].endswith("Z")
    assert int(keys.get("aws:EpochTime")[0]) > 1_700_000_000
    session_keys = keys_for(env, principals["session"], "ListKeys", {}, False)
    assert session_keys.get("aws:PrincipalArn") == [ACCOUNT_ROLE.format(a=user.account_id)]


@pytest.mark.parametrize(("same", "value"), [(True, ["true"]), (False, ["false"]), (None, None)])
def test_reencrypt_on_same_key(
    world: tuple[Env, dict[str, Principal]], same: bool | None, value: list[str] | None
) -> None:
    env, principals = world
    keys = keys_for(env, principals["user"], "ReEncrypt", {"DestinationKeyId": "k"}, True)
    keys.call.same_key = lambda: same
    assert keys.get("kms:ReEncryptOnSameKey") == value
    other = keys_for(env, principals["user"], "Encrypt", {}, True)
    other.call.same_key = lambda: True  # only ReEncrypt has the key
    assert other.get("kms:ReEncryptOnSameKey") is None
