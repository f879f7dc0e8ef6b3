"""The write-time grammar (trent/policy/grammar.py), table-driven: (document, kind, directory)
-> accepted, or AWS's message. Condition operators as the IAM reference lists them (each with
``IfExists`` but ``Null``, and the ``ForAnyValue:``/``ForAllValues:`` qualifiers); principals
checked against a directory of what exists when one is given."""

from __future__ import annotations

import json
from typing import Any

import pytest

from trent.policy import PolicyError, PolicyKind, check

SYNTAX = "Syntax errors in policy."
A = "111122223333"
KNOWN = {
    A,
    f"arn:aws:iam::{A}:root",
    f"arn:aws:iam::{A}:user/alice",
    f"arn:aws:iam::{A}:role/app",
    f"arn:aws:sts::{A}:assumed-role/app/s1",
}


def key_policy(statement: dict[str, Any]) -> str:
    base = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*"}
    return json.dumps({"Version": "2012-10-17", "Statement": [{**base, **statement}]})


def identity_policy(statement: dict[str, Any]) -> str:
    base = {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}
    return json.dumps({"Version": "2012-10-17", "Statement": [{**base, **statement}]})


def refusal(document: str, kind: PolicyKind, known: Any = None) -> str | None:
    try:
        check(document, kind, known)
    except PolicyError as exc:
        return str(exc)
    return None


GOOD_OPERATORS = [
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
    "StringEqualsIfExists",
    "ArnLikeIfExists",
    "BoolIfExists",
    "ForAnyValue:StringLike",
    "ForAllValues:StringEquals",
    "ForAnyValue:StringEqualsIfExists",
]
BAD_OPERATORS = [
    "StringEqualz",
    "stringequals",  # operator names are case-sensitive
    "NullIfExists",
    "ForSomeValues:StringEquals",
    "ForAnyValue:Nope",
    "IfExists",
    "StringEqualsIfExistsIfExists",
    "",
]


@pytest.mark.parametrize("operator", GOOD_OPERATORS)
@pytest.mark.parametrize("kind", [PolicyKind.KEY, PolicyKind.IDENTITY])
def test_known_operators_accepted(operator: str, kind: PolicyKind) -> None:
    statement = {"Condition": {operator: {"kms:CallerAccount": A}}}
    document = key_policy(statement) if kind is PolicyKind.KEY else identity_policy(statement)
    assert refusal(document, kind) is None


@pytest.mark.parametrize("operator", BAD_OPERATORS)
@pytest.mark.parametrize("kind", [PolicyKind.KEY, PolicyKind.IDENTITY])
def test_unknown_operators_refused(operator: str, kind: PolicyKind) -> None:
    statement = {"Condition": {operator: {"kms:CallerAccount": A}}}
    document = key_policy(statement) if kind is PolicyKind.KEY else identity_policy(statement)
    assert refusal(document, kind) == SYNTAX


PRINCIPALS: list[tuple[Any, str | None]] = [
    ("*", None),
    ({"AWS": "*"}, None),
    ({"AWS": A}, None),
    ({"AWS": f"arn:aws:iam::{A}:root"}, None),
    ({"AWS": f"arn:aws:iam::{A}:user/alice"}, None),
    ({"AWS": f"arn:aws:iam::{A}:role/app"}, None),
    ({"AWS": f"arn:aws:sts::{A}:assumed-role/app/s1"}, None),
    ({"AWS": [f"arn:aws:iam::{A}:root", f"arn:aws:iam::{A}:user/alice"]}, None),
    ({"Service": "logs.amazonaws.com"}, None),  # service principals are not in the directory
    ({"AWS": f"arn:aws:iam::{A}:user/nobody"}, f"arn:aws:iam::{A}:user/nobody"),
    ({"AWS": f"arn:aws:iam::{A}:role/none"}, f"arn:aws:iam::{A}:role/none"),
    ({"AWS": "arn:aws:iam::999999999999:root"}, "arn:aws:iam::999999999999:root"),
    ({"AWS": "999999999999"}, "999999999999"),
    ({"AWS": [f"arn:aws:iam::{A}:root", f"arn:aws:iam::{A}:user/x"]}, f"arn:aws:iam::{A}:user/x"),
    ({"AWS": "bob"}, "bob"),  # not a principal at all, with or without a directory
]


@pytest.mark.parametrize(("principal", "bad"), PRINCIPALS)
def test_key_policy_principals_must_exist(principal: Any, bad: str | None) -> None:
    document = key_policy({"Principal": principal})
    expected = None if bad is None else f'Invalid principal in policy: "AWS":"{bad}"'
    assert refusal(document, PolicyKind.KEY, KNOWN.__contains__) == expected


def test_without_a_directory_only_the_form_is_checked() -> None:
    document = key_policy({"Principal": {"AWS": f"arn:aws:iam::{A}:user/nobody"}})
    assert refusal(document, PolicyKind.KEY) is None


ELEMENTS: list[tuple[str, PolicyKind, str]] = [
    (key_policy({"Foo": "x"}), PolicyKind.KEY, SYNTAX),
    (identity_policy({"Foo": "x"}), PolicyKind.IDENTITY, SYNTAX),
    (
        json.dumps({"Version": "2012-10-17", "Statement": [], "Extra": 1}),
        PolicyKind.IDENTITY,
        SYNTAX,
    ),
    (
        json.dumps(
            {
                "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}],
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
            }
        ),
        PolicyKind.IDENTITY,
        SYNTAX,
    ),
    (key_policy({"Effect": "Maybe"}), PolicyKind.KEY, SYNTAX),
    (key_policy({"Condition": {"StringEquals": "x"}}), PolicyKind.KEY, SYNTAX),
    ("{not json", PolicyKind.KEY, SYNTAX),
]


@pytest.mark.parametrize(("document", "kind", "message"), ELEMENTS)
def test_unknown_elements_refused(document: str, kind: PolicyKind, message: str) -> None:
    assert refusal(document, kind) == message
