"""Action/NotAction, Resource/NotResource, Principal/NotPrincipal, policy variables, deny
precedence, Sids: table-driven (statement, request, expected decision)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from trent.policy import Decision, Policy, Reach, RequestContext, decide

A = Decision.ALLOW
D = Decision.EXPLICIT_DENY
N = Decision.IMPLICIT_DENY
KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = "arn:aws:kms:us-west-2:444455556666:key/0987dcba-09fe-87dc-65ba-ab0987654321"


def allow(**element: Any) -> dict[str, Any]:
    return {"Effect": "Allow", **element}


ACTIONS: list[tuple[Any, str, Decision]] = [
    ("kms:Encrypt", "kms:Encrypt", A),
    ("kms:encrypt", "kms:Encrypt", A),
    ("KMS:ENCRYPT", "kms:Encrypt", A),
    ("kms:Encrypt", "kms:Decrypt", N),
    ("kms:*", "kms:Decrypt", A),
    ("kms:*", "iam:CreateUser", N),
    ("*", "iam:CreateUser", A),
    ("kms:Generate*", "kms:GenerateDataKey", A),
    ("kms:Generate*", "kms:GenerateDataKeyWithoutPlaintext", A),
    ("kms:GenerateDataKey*", "kms:GenerateDataKeyPair", A),
    ("kms:GenerateDataKey*", "kms:GenerateRandom", N),
    ("kms:Re*", "kms:ReEncrypt", A),
    ("kms:ReEncrypt*", "kms:ReEncrypt", A),
    ("kms:*Key", "kms:DescribeKey", A),
    ("kms:*Key", "kms:DescribeKeys", N),
    ("kms:Describe?ey", "kms:DescribeKey", A),
    ("kms:Describe?ey", "kms:DescribeKkey", N),
    ("kms:List*", "kms:ListAliases", A),
    ("kms:Get*", "kms:GetKeyPolicy", A),
    ("kms:Get*", "kms:PutKeyPolicy", N),
    (["kms:Encrypt", "kms:Decrypt"], "kms:Decrypt", A),
    (["kms:Encrypt", "kms:Decrypt"], "kms:Sign", N),
    ("km?:Encrypt", "kms:Encrypt", A),
    ("sts:AssumeRole", "sts:AssumeRole", A),
    ("iam:*User*", "iam:ListUserPolicies", A),
]

NOT_ACTIONS: list[tuple[Any, str, Decision]] = [
    ("kms:Decrypt", "kms:Encrypt", A),
    ("kms:Decrypt", "kms:Decrypt", N),
    ("kms:*", "kms:Encrypt", N),
    ("kms:*", "iam:ListUsers", A),
    (["kms:Put*", "kms:Schedule*"], "kms:PutKeyPolicy", N),
    (["kms:Put*", "kms:Schedule*"], "kms:ScheduleKeyDeletion", N),
    (["kms:Put*", "kms:Schedule*"], "kms:Encrypt", A),
]

RESOURCES: list[tuple[Any, str, Decision]] = [
    ("*", KEY, A),
    (KEY, KEY, A),
    (KEY, OTHER_KEY, N),
    ("arn:aws:kms:*:111122223333:key/*", KEY, A),
    ("arn:aws:kms:*:111122223333:key/*", OTHER_KEY, N),
    ("arn:aws:kms:us-east-1:*:*", KEY, A),
    ("arn:aws:kms:us-east-1:*:*", OTHER_KEY, N),
    ("arn:aws:kms:*:*:key/1234abcd-*", KEY, A),
    ("arn:aws:kms:*:*:alias/*", KEY, N),
    ([OTHER_KEY, KEY], KEY, A),
    ("arn:aws:kms:us-east-1:111122223333:key/1234ABCD-12ab-34cd-56ef-1234567890ab", KEY, N),
    ("arn:aws:kms:us-east-?:111122223333:*", KEY, A),
]

NOT_RESOURCES: list[tuple[Any, str, Decision]] = [
    (OTHER_KEY, KEY, A),
    (KEY, KEY, N),
    ("arn:aws:kms:*:444455556666:*", KEY, A),
    ("arn:aws:kms:*:444455556666:*", OTHER_KEY, N),
]


def _decide(statement: dict[str, Any], ctx: RequestContext) -> Decision:
    document = {"Version": "2012-10-17", "Statement": [statement]}
    return decide([Policy.of(json.dumps(document))], ctx)


@pytest.mark.parametrize(("action", "asked", "expected"), ACTIONS)
def test_action(action: Any, asked: str, expected: Decision) -> None:
    assert _decide(allow(Action=action, Resource="*"), RequestContext(asked, KEY)) is expected


@pytest.mark.parametrize(("action", "asked", "expected"), NOT_ACTIONS)
def test_not_action(action: Any, asked: str, expected: Decision) -> None:
    statement = allow(NotAction=action, Resource="*")
    assert _decide(statement, RequestContext(asked, KEY)) is expected


@pytest.mark.parametrize(("resource", "asked", "expected"), RESOURCES)
def test_resource(resource: Any, asked: str, expected: Decision) -> None:
    statement = allow(Action="kms:*", Resource=resource)
    assert _decide(statement, RequestContext("kms:Encrypt", asked)) is expected


@pytest.mark.parametrize(("resource", "asked", "expected"), NOT_RESOURCES)
def test_not_resource(resource: Any, asked: str, expected: Decision) -> None:
    statement = allow(Action="kms:*", NotResource=resource)
    assert _decide(statement, RequestContext("kms:Encrypt", asked)) is expected


# --- principals (resource-based policies): (Principal element, caller, reach) ---------------
USER = "arn:aws:iam::111122223333:user/Alice"
ROLE = "arn:aws:iam::111122223333:role/ServiceARole"
SESSION = "arn:aws:sts::111122223333:assumed-role/ServiceARole/s1"
ROOT = "arn:aws:iam::111122223333:root"
USER_CTX = RequestContext(
    "kms:Encrypt", KEY, (USER,), accounts=("111122223333", "arn:aws:iam::111122223333:root")
)
SESSION_CTX = RequestContext(
    "kms:Encrypt",
    KEY,
    (SESSION,),
    role=ROLE,
    accounts=("111122223333", "arn:aws:iam::111122223333:root"),
)
ROOT_CTX = RequestContext("kms:Encrypt", KEY, (ROOT, "111122223333"))
FOREIGN_CTX = RequestContext(
    "kms:Encrypt",
    KEY,
    ("arn:aws:iam::444455556666:user/Bob",),
    accounts=("444455556666", "arn:aws:iam::444455556666:root"),
)

PRINCIPALS: list[tuple[Any, RequestContext, Reach]] = [
    ("*", USER_CTX, Reach.DIRECT),
    ({"AWS": "*"}, USER_CTX, Reach.DIRECT),
    ({"AWS": USER}, USER_CTX, Reach.DIRECT),
    ({"AWS": [ROLE, USER]}, USER_CTX, Reach.DIRECT),
    ({"AWS": ROOT}, USER_CTX, Reach.ACCOUNT),
    ({"AWS": "111122223333"}, USER_CTX, Reach.ACCOUNT),
    ({"AWS": "444455556666"}, USER_CTX, Reach.NONE),
    ({"AWS": "arn:aws:iam::111122223333:user/Bob"}, USER_CTX, Reach.NONE),
    ({"AWS": ROLE}, SESSION_CTX, Reach.ROLE),
    ({"AWS": SESSION}, SESSION_CTX, Reach.DIRECT),
    ({"AWS": [ROLE, ROOT]}, SESSION_CTX, Reach.ROLE),
    ({"AWS": ROOT}, SESSION_CTX, Reach.ACCOUNT),
    ({"AWS": USER}, SESSION_CTX, Reach.NONE),
    ({"AWS": ROOT}, ROOT_CTX, Reach.DIRECT),
    ({"AWS": "111122223333"}, ROOT_CTX, Reach.DIRECT),
    ({"AWS": USER}, ROOT_CTX, Reach.NONE),
    ({"Service": "logs.amazonaws.com"}, USER_CTX, Reach.NONE),
    ({"Service": "logs.amazonaws.com"}, ROOT_CTX, Reach.NONE),
    ({"AWS": ROOT}, FOREIGN_CTX, Reach.NONE),
    ({"AWS": "444455556666"}, FOREIGN_CTX, Reach.ACCOUNT),
    ({"AWS": "arn:aws:iam::444455556666:root"}, FOREIGN_CTX, Reach.ACCOUNT),
    ({"AWS": "arn:aws:iam::444455556666:user/Bob"}, FOREIGN_CTX, Reach.DIRECT),
]


@pytest.mark.parametrize(("principal", "ctx", "reach"), PRINCIPALS)
def test_principal_reach(principal: Any, ctx: RequestContext, reach: Reach) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "S",
                "Effect": "Allow",
                "Principal": principal,
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    result = Policy.of(json.dumps(document)).evaluate(ctx)
    assert result.reach is reach
    assert result.allow == ("S" if reach is not Reach.NONE else None)


@pytest.mark.parametrize(("principal", "ctx", "reach"), [p for p in PRINCIPALS if p[0] != "*"])
def test_not_principal(principal: Any, ctx: RequestContext, reach: Reach) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Deny", "NotPrincipal": principal, "Action": "kms:*", "Resource": "*"}
        ],
    }
    result = Policy.of(json.dumps(document)).evaluate(ctx)
    assert (result.deny is not None) == (reach is Reach.NONE)


# --- policy variables -----------------------------------------------------------------------
VARIABLES: list[tuple[str, Any, dict[str, list[str]], str, Decision]] = [
    # (where, pattern, keys, value asked, expected)
    (
        "Resource",
        "arn:aws:kms:*:*:key/${aws:username}",
        {"aws:username": ["k1"]},
        "arn:aws:kms:r:1:key/k1",
        A,
    ),
    (
        "Resource",
        "arn:aws:kms:*:*:key/${aws:username}",
        {"aws:username": ["k2"]},
        "arn:aws:kms:r:1:key/k1",
        N,
    ),
    ("Resource", "arn:aws:kms:*:*:key/${aws:username}", {}, "arn:aws:kms:r:1:key/k1", N),
    ("Resource", "arn:aws:kms:*:*:key/${aws:username, 'k1'}", {}, "arn:aws:kms:r:1:key/k1", A),
    (
        "Resource",
        "arn:aws:kms:*:*:key/${aws:PrincipalTag/team}-*",
        {"aws:principaltag/team": ["red"]},
        "arn:aws:kms:r:1:key/red-1",
        A,
    ),
    (
        "Resource",
        "arn:aws:kms:*:*:key/${aws:PrincipalTag/team}-*",
        {"aws:principaltag/team": ["red"]},
        "arn:aws:kms:r:1:key/blue-1",
        N,
    ),
    ("Resource", "arn:aws:kms:*:*:key/a${*}", {}, "arn:aws:kms:r:1:key/a*", A),
    ("Resource", "arn:aws:kms:*:*:key/a${*}", {}, "arn:aws:kms:r:1:key/ab", N),
    ("Condition", "${aws:username}", {"aws:username": ["bob"], "aws:test": ["bob"]}, "", A),
    ("Condition", "${aws:username}", {"aws:username": ["bob"], "aws:test": ["eve"]}, "", N),
    ("Condition", "${aws:username}", {"aws:test": ["bob"]}, "", N),
    (
        "Condition",
        "team-${aws:PrincipalTag/team}",
        {"aws:principaltag/team": ["x"], "aws:test": ["team-x"]},
        "",
        A,
    ),
    (
        "Condition",
        "${aws:PrincipalTag/Team}",
        {"aws:principaltag/team": ["x"], "aws:test": ["x"]},
        "",
        A,
    ),
    ("Like", "${aws:username}-*", {"aws:username": ["bob"], "aws:test": ["bob-1"]}, "", A),
    ("Like", "${aws:username}-*", {"aws:username": ["b*"], "aws:test": ["bob-1"]}, "", N),
    ("Like", "${aws:username}-*", {"aws:username": ["b*"], "aws:test": ["b*-1"]}, "", A),
]


@pytest.mark.parametrize(("where", "pattern", "keys", "asked", "expected"), VARIABLES)
def test_policy_variables(
    where: str, pattern: Any, keys: dict[str, list[str]], asked: str, expected: Decision
) -> None:
    if where == "Resource":
        statement = allow(Action="kms:*", Resource=pattern)
        ctx = RequestContext("kms:Encrypt", asked, keys=keys)
    else:
        operator = "StringLike" if where == "Like" else "StringEquals"
        statement = allow(Action="kms:*", Resource="*", Condition={operator: {"aws:test": pattern}})
        ctx = RequestContext("kms:Encrypt", "*", keys=keys)
    assert _decide(statement, ctx) is expected


def test_variables_are_literal_in_2008_documents() -> None:
    document = {
        "Version": "2008-10-17",
        "Statement": [allow(Action="kms:*", Resource="arn:aws:kms:*:*:key/${aws:username}")],
    }
    policy = Policy.of(json.dumps(document))
    keys = {"aws:username": ["k1"]}
    assert decide([policy], RequestContext("kms:Encrypt", "arn:aws:kms:r:1:key/k1", keys=keys)) is N
    literal = "arn:aws:kms:r:1:key/${aws:username}"
    assert decide([policy], RequestContext("kms:Encrypt", literal, keys=keys)) is A


# --- precedence and combination -------------------------------------------------------------
def test_deny_wins_over_allow_in_any_order_and_any_policy() -> None:
    allow_all = {"Version": "2012-10-17", "Statement": [allow(Action="*", Resource="*")]}
    deny_one = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "No", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}],
    }
    p_allow, p_deny = Policy.of(json.dumps(allow_all)), Policy.of(json.dumps(deny_one))
    for order in ([p_allow, p_deny], [p_deny, p_allow]):
        assert decide(order, RequestContext("kms:Decrypt")) is D
        assert decide(order, RequestContext("kms:Encrypt")) is A
    assert p_deny.evaluate(RequestContext("kms:Decrypt")).deny == "No"
    assert decide([], RequestContext("kms:Decrypt")) is N
    assert decide([p_deny], RequestContext("kms:Encrypt")) is N


def test_statement_ids_and_indexes_name_the_decider() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            allow(Action="kms:Encrypt", Resource="*"),
            {"Sid": "Named", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"},
        ],
    }
    policy = Policy.of(json.dumps(document))
    assert policy.evaluate(RequestContext("kms:Encrypt")).allow == "0"
    assert policy.evaluate(RequestContext("kms:Decrypt")).allow == "Named"


def test_single_statement_object_and_string_elements() -> None:
    document = {"Statement": {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": KEY}}
    assert decide([Policy.of(json.dumps(document))], RequestContext("kms:Encrypt", KEY)) is A


def test_compiled_once_per_text() -> None:
    text = json.dumps({"Version": "2012-10-17", "Statement": [allow(Action="*", Resource="*")]})
    assert Policy.of(text) is Policy.of(str(text))
