"""``PolicyAuthorizer`` keeps a verdict only when no condition key was read to reach it, and
only until the store shows a commit: a key policy with conditions is evaluated for every
request, and a changed key policy holds from the next request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from trent.app import build_env
from trent.authz import Principal, PrincipalType
from trent.bootstrap import initialize
from trent.clock import SystemClock
from trent.config import Settings
from trent.errors import KMSError
from trent.operations import OPERATIONS, Call, Env


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Env, Principal, str]]:
    settings = Settings(data_dir=tmp_path / "data")
    data = initialize(settings, SystemClock())
    env = build_env(settings, SystemClock())
    a = data.account_id
    root = Principal(a, f"arn:aws:iam::{a}:root", "AKIAROOT", PrincipalType.ROOT, a)
    env.refresh()
    made = OPERATIONS["CreateKey"](env, Call("r", "e", 0.0, "CreateKey", root), {})
    yield env, root, made["KeyMetadata"]["KeyId"]
    env.store.close()


def _call(env: Env, principal: Principal, operation: str, request: dict[str, object]) -> str:
    """Run ``operation``; ``"allowed"`` or the refusal's error name."""
    env.refresh()
    call = Call("r", "e", 0.0, operation, principal)
    call.request = request
    try:
        OPERATIONS[operation](env, call, request)
    except KMSError as exc:
        return exc.type_name
    return "allowed"


def _encrypt(env: Env, root: Principal, key_id: str, dept: str | None = None) -> str:
    request: dict[str, object] = {"KeyId": key_id, "Plaintext": b"x"}
    if dept is not None:
        request["EncryptionContext"] = {"dept": dept}
    return _call(env, root, "Encrypt", request)


def _put_policy(
    env: Env, root: Principal, key_id: str, statements: list[dict[str, object]]
) -> None:
    policy = json.dumps({"Version": "2012-10-17", "Statement": statements})
    request = {"KeyId": key_id, "PolicyName": "default", "Policy": policy}
    assert _call(env, root, "PutKeyPolicy", request) == "allowed"


def _admin(root: Principal) -> dict[str, object]:
    """A statement that lets root manage the key's policy, and no more."""
    return {
        "Sid": "admin only",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{root.account_id}:root"},
        "Action": ["kms:PutKeyPolicy", "kms:DescribeKey"],
        "Resource": "*",
    }


def test_a_verdict_without_conditions_is_kept_until_a_commit(
    world: tuple[Env, Principal, str],
) -> None:
    env, root, key_id = world
    assert _encrypt(env, root, key_id) == "allowed"
    kept = dict(env.authorizer._verdicts)  # type: ignore[attr-defined]
    assert len(kept) == 1 and next(iter(kept.values())).allowed
    assert _encrypt(env, root, key_id) == "allowed"
    assert env.authorizer._verdicts == kept  # type: ignore[attr-defined]
    # The key policy stops allowing root: the commit drops the kept verdict.
    _put_policy(env, root, key_id, [_admin(root)])
    assert _encrypt(env, root, key_id) == "AccessDeniedException"


def test_a_verdict_that_read_a_condition_key_is_never_kept(
    world: tuple[Env, Principal, str],
) -> None:
    env, root, key_id = world
    a = root.account_id
    _put_policy(
        env,
        root,
        key_id,
        [
            _admin(root),
            {
                "Sid": "dept a",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{a}:root"},
                "Action": "kms:Encrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:EncryptionContext:dept": "a"}},
            },
        ],
    )
    for _ in range(2):
        assert _encrypt(env, root, key_id, "a") == "allowed"
        assert _encrypt(env, root, key_id, "b") == "AccessDeniedException"
        assert _encrypt(env, root, key_id) == "AccessDeniedException"
    assert not any(
        action == "kms:Encrypt"
        for (_, action, _, _) in env.authorizer._verdicts  # type: ignore[attr-defined]
    )


def test_listing_or_counting_the_condition_keys_counts_as_reading_them(
    world: tuple[Env, Principal, str],
) -> None:
    """An evaluator that looked at the keys as a whole (``len``, ``bool``, a loop, ``items``)
    may have depended on them: such a verdict must not be kept either."""
    env, root, key_id = world
    env.refresh()
    key = env.keyring.resolve(key_id)
    for look in (len, bool, list, lambda keys: dict(keys.items())):
        call = Call("r", "e", 0.0, "Encrypt", root)
        call.request = {"KeyId": key_id, "EncryptionContext": {"dept": "a"}}
        keys = env.condition_keys(call, key)
        assert not keys.consulted
        look(keys)
        assert keys.consulted
