"""``record_line`` (cached fragments, the request path's) gives byte for byte what serialising
``build_record``'s dict gives, for every kind of call: allowed, refused, failed, unsigned,
granted, several keys, several verdicts, sessions, odd user agents, a node name; and twice in a
row (the second time from the caches)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from trent.audit.record import NODE_FIELD, build_record, record_line
from trent.authz import Principal, PrincipalType, RoleSession
from trent.authz.verdict import PolicyType, Verdict
from trent.operations import Call
from trent.policy import Decision

A = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER = f"arn:aws:kms:us-east-1:{A}:key/0987dcba-09fe-87dc-65ba-ab0987654321"
ROOT = Principal(A, f"arn:aws:iam::{A}:root", "AKIAROOT", PrincipalType.ROOT, A)
USER = Principal(A, f"arn:aws:iam::{A}:user/bob", "AKIABOB", PrincipalType.USER, "AIDAB", "bob")
SESSION = Principal(
    A,
    f"arn:aws:sts::{A}:assumed-role/R/s1",
    "ASIAS1",
    PrincipalType.ASSUMED_ROLE,
    "AROAX:s1",
    session=RoleSession(f"arn:aws:iam::{A}:role/R", "AROAX", "R", "s1", 1.7e9, 1.8e9),
)
ALLOWED = Verdict(Decision.ALLOW, PolicyType.RESOURCE, "Enable IAM User Permissions")
REFUSED = Verdict.implicit(PolicyType.RESOURCE)


def _call(**changes: Any) -> Call:
    call = Call("9f1c-request", "0e2d-event", 1_790_000_000.25, "Encrypt", ROOT)
    call.request = {"KeyId": "alias/app", "Plaintext": b"secret", "EncryptionContext": {"a": "b"}}
    call.response = {
        "CiphertextBlob": b"blob",
        "KeyId": KEY,
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "KeyMaterialId": "ab" * 32,
    }
    call.resources = [KEY]
    call.authorization = [ALLOWED]
    for name, value in changes.items():
        setattr(call, name, value)
    return call


CASES: dict[str, Call] = {
    "encrypt": _call(),
    "user": _call(principal=USER),
    "session": _call(principal=SESSION),
    "refused": _call(
        authorization=[REFUSED],
        error_code="AccessDeniedException",
        error_message="User: x is not authorized",
    ),
    "failed without a key": _call(resources=[], authorization=[], error_code="NotFoundException"),
    "unsigned": _call(principal=None, claimed_access_key_id="AKIAWHO", authorization=[]),
    "granted": _call(grant_id="g-1"),
    "same key twice": _call(resources=[KEY, KEY]),
    "re-encrypt": _call(
        operation="ReEncrypt",
        request={"CiphertextBlob": b"x", "DestinationKeyId": OTHER},
        response={
            "CiphertextBlob": b"y",
            "SourceKeyId": KEY,
            "KeyId": OTHER,
            "SourceKeyMaterialId": "cd" * 32,
            "DestinationKeyMaterialId": "ef" * 32,
        },
        resources=[KEY, OTHER],
        authorization=[ALLOWED, REFUSED],
    ),
    "generate random": _call(
        operation="GenerateRandom",
        request={"NumberOfBytes": 32},
        response={"Plaintext": b"r" * 32},
        resources=[],
        authorization=[Verdict(Decision.ALLOW, PolicyType.ROOT)],
    ),
    "create key": _call(
        operation="CreateKey",
        request={"Description": 'quote " and \\ and \u00e9', "Tags": [{"TagKey": "k"}]},
        response={"KeyMetadata": {"KeyId": KEY, "CreationDate": 1.7e9}},
    ),
}
AGENTS = ("", 'aws-cli/2 "quoted" \\ back\u2028slash \x01', "Boto3/1.40")


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("agent", AGENTS)
@pytest.mark.parametrize("node", [None, "node-a"])
def test_record_line_is_the_serialised_record(name: str, agent: str, node: str | None) -> None:
    call = CASES[name]
    where = {"region": "us-east-1", "account_id": A, "source_ip": "10.0.0.7", "user_agent": agent}
    extra = None if node is None else {NODE_FIELD: node}
    record = build_record(call, **where)
    if extra:
        record.update(extra)
    expected = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
    assert record_line(call, **where, extra=extra) == expected
    assert record_line(call, **where, extra=extra) == expected  # from the caches
    parsed = orjson.loads(expected)
    assert "Plaintext" not in expected.decode() and "secret" not in expected.decode()
    assert parsed["eventName"] == call.operation and parsed["userAgent"] == agent


def test_a_cached_identity_never_crosses_to_another_account_or_caller() -> None:
    where = {"region": "us-east-1", "source_ip": "10.0.0.7", "user_agent": ""}
    first = orjson.loads(record_line(_call(), account_id=A, **where))
    other = orjson.loads(record_line(_call(principal=USER), account_id="444455556666", **where))
    assert first["userIdentity"]["type"] == "Root" and first["recipientAccountId"] == A
    assert other["userIdentity"]["userName"] == "bob"
    assert other["recipientAccountId"] == "444455556666"
    assert other["resources"][0]["accountId"] == "444455556666"


def test_what_the_fragments_cannot_say_goes_through_build_record() -> None:
    """An ``extra`` member naming a member of the record replaces it (not a second one), and
    an authorization that is no ``Verdict`` is written as its own ``str()``, never from the
    reason cache of an equal one."""
    where = {"region": "us-east-1", "account_id": A, "source_ip": "10.0.0.7", "user_agent": ""}
    replaced = record_line(_call(), **where, extra={"eventVersion": "9.99"})
    assert replaced.count(b'"eventVersion"') == 1
    assert orjson.loads(replaced)["eventVersion"] == "9.99"
    assert orjson.loads(record_line(_call(authorization=[1]), **where))["trentAuthorization"] == "1"
    after = orjson.loads(record_line(_call(authorization=[True]), **where))
    assert after["trentAuthorization"] == "True"
