"""Condition operators, table-driven: (operator, condition value(s), request values, match?).

Request values: ``None`` when the key is absent, else the list of values the request has.
Semantics: IAM User Guide, "Condition operators", "Condition operators ... IfExists",
"Single-valued vs. multivalued context keys" (ForAnyValue / ForAllValues).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from trent.policy import Decision, Policy, RequestContext, decide

K = "aws:test"
ABSENT = None

CASES: list[tuple[str, Any, list[str] | None, bool]] = [
    # --- String ---
    ("StringEquals", "abc", ["abc"], True),
    ("StringEquals", "abc", ["ABC"], False),
    ("StringEquals", "abc", ["abcd"], False),
    ("StringEquals", ["x", "abc"], ["abc"], True),
    ("StringEquals", ["x", "y"], ["abc"], False),
    ("StringEquals", "abc", ABSENT, False),
    ("StringEquals", "a*", ["abc"], False),
    ("StringEquals", "", [""], True),
    ("StringNotEquals", "abc", ["abc"], False),
    ("StringNotEquals", "abc", ["abd"], True),
    ("StringNotEquals", ["abc", "abd"], ["abd"], False),
    ("StringNotEquals", "abc", ABSENT, True),
    ("StringEqualsIgnoreCase", "ABC", ["abc"], True),
    ("StringEqualsIgnoreCase", "abc", ["AbC"], True),
    ("StringEqualsIgnoreCase", "abc", ["abd"], False),
    ("StringEqualsIgnoreCase", "abc", ABSENT, False),
    ("StringNotEqualsIgnoreCase", "ABC", ["abc"], False),
    ("StringNotEqualsIgnoreCase", "ABC", ["abd"], True),
    ("StringNotEqualsIgnoreCase", "ABC", ABSENT, True),
    ("StringLike", "alias/customer-*", ["alias/customer-123"], True),
    ("StringLike", "alias/customer-*", ["alias/customer-"], True),
    ("StringLike", "alias/customer-*", ["alias/other-1"], False),
    ("StringLike", "alias/customer-?", ["alias/customer-1"], True),
    ("StringLike", "alias/customer-?", ["alias/customer-12"], False),
    ("StringLike", "*", ["anything"], True),
    ("StringLike", "*", [""], True),
    ("StringLike", "a*c", ["abbbc"], True),
    ("StringLike", "a*c", ["abbbd"], False),
    ("StringLike", "A*", ["abc"], False),
    ("StringLike", "a.c", ["abc"], False),
    ("StringLike", "a+c", ["a+c"], True),
    ("StringLike", ["x*", "a*"], ["abc"], True),
    ("StringLike", "a*", ABSENT, False),
    ("StringNotLike", "a*", ["abc"], False),
    ("StringNotLike", "a*", ["xbc"], True),
    ("StringNotLike", ["a*", "x*"], ["xbc"], False),
    ("StringNotLike", "a*", ABSENT, True),
    # --- IfExists ---
    ("StringEqualsIfExists", "abc", ABSENT, True),
    ("StringEqualsIfExists", "abc", ["abc"], True),
    ("StringEqualsIfExists", "abc", ["abd"], False),
    ("StringNotEqualsIfExists", "abc", ABSENT, True),
    ("StringNotEqualsIfExists", "abc", ["abc"], False),
    ("StringLikeIfExists", "a*", ABSENT, True),
    ("StringLikeIfExists", "a*", ["b"], False),
    ("StringNotLikeIfExists", "a*", ["b"], True),
    ("StringEqualsIgnoreCaseIfExists", "A", ABSENT, True),
    ("StringEqualsIgnoreCaseIfExists", "A", ["a"], True),
    ("NumericLessThanIfExists", "5", ABSENT, True),
    ("NumericLessThanIfExists", "5", ["7"], False),
    ("NumericLessThanIfExists", "5", ["3"], True),
    ("DateGreaterThanIfExists", "2020-01-01T00:00:00Z", ABSENT, True),
    ("DateGreaterThanIfExists", "2020-01-01T00:00:00Z", ["2019-01-01T00:00:00Z"], False),
    ("BoolIfExists", "true", ABSENT, True),
    ("BoolIfExists", "true", ["false"], False),
    ("ArnLikeIfExists", "arn:aws:iam::*:role/*", ABSENT, True),
    ("ArnLikeIfExists", "arn:aws:iam::*:role/*", ["arn:aws:iam::111122223333:user/x"], False),
    ("IpAddressIfExists", "10.0.0.0/8", ABSENT, True),
    ("IpAddressIfExists", "10.0.0.0/8", ["11.0.0.1"], False),
    ("BinaryEqualsIfExists", "QmluYXJ5", ABSENT, True),
    # --- Numeric ---
    ("NumericEquals", "10", ["10"], True),
    ("NumericEquals", "10", ["10.0"], True),
    ("NumericEquals", 10, ["10"], True),
    ("NumericEquals", "10", ["11"], False),
    ("NumericEquals", "10", ["ten"], False),
    ("NumericEquals", "ten", ["10"], False),
    ("NumericEquals", "10", ABSENT, False),
    ("NumericEquals", ["1", "2"], ["2"], True),
    ("NumericNotEquals", "10", ["10"], False),
    ("NumericNotEquals", "10", ["11"], True),
    ("NumericNotEquals", "10", ABSENT, True),
    ("NumericLessThan", "10", ["9"], True),
    ("NumericLessThan", "10", ["10"], False),
    ("NumericLessThan", "10", ["-3"], True),
    ("NumericLessThanEquals", "10", ["10"], True),
    ("NumericLessThanEquals", "10", ["11"], False),
    ("NumericGreaterThan", "7", ["8"], True),
    ("NumericGreaterThan", "7", ["7"], False),
    ("NumericGreaterThanEquals", "7", ["7"], True),
    ("NumericGreaterThanEquals", "7", ["6"], False),
    ("NumericGreaterThanEquals", "7", ABSENT, False),
    ("NumericLessThanEquals", "30", ["7"], True),
    ("NumericGreaterThanEquals", "1.5", ["1.25"], False),
    # --- Date ---
    ("DateEquals", "2020-01-01T00:00:00Z", ["2020-01-01T00:00:00Z"], True),
    ("DateEquals", "2020-01-01T00:00:00Z", ["1577836800"], True),
    ("DateEquals", "1577836800", ["2020-01-01T00:00:00Z"], True),
    ("DateEquals", "2020-01-01T00:00:00Z", ["2020-01-01T00:00:01Z"], False),
    ("DateEquals", "2020-01-01", ["2020-01-01T00:00:00Z"], True),
    ("DateEquals", "2020-01-01T01:00:00+01:00", ["2020-01-01T00:00:00Z"], True),
    ("DateEquals", "not a date", ["2020-01-01T00:00:00Z"], False),
    ("DateNotEquals", "2020-01-01T00:00:00Z", ["2020-01-02T00:00:00Z"], True),
    ("DateNotEquals", "2020-01-01T00:00:00Z", ["2020-01-01T00:00:00Z"], False),
    ("DateNotEquals", "2020-01-01T00:00:00Z", ABSENT, True),
    ("DateLessThan", "2020-01-01T00:00:00Z", ["2019-12-31T23:59:59Z"], True),
    ("DateLessThan", "2020-01-01T00:00:00Z", ["2020-01-01T00:00:00Z"], False),
    ("DateLessThanEquals", "2020-01-01T00:00:00Z", ["2020-01-01T00:00:00Z"], True),
    ("DateLessThanEquals", "2020-01-01T00:00:00Z", ["2020-01-01T00:00:01Z"], False),
    ("DateGreaterThan", "2020-01-01T00:00:00Z", ["2020-06-01T00:00:00Z"], True),
    ("DateGreaterThan", "2020-01-01T00:00:00Z", ["2019-06-01T00:00:00Z"], False),
    ("DateGreaterThanEquals", "2020-01-01T00:00:00Z", ["2020-01-01T00:00:00Z"], True),
    ("DateGreaterThanEquals", "2020-01-01T00:00:00Z", ["2019-01-01T00:00:00Z"], False),
    ("DateGreaterThan", "2020-01-01T00:00:00Z", ABSENT, False),
    # --- Bool ---
    ("Bool", "true", ["true"], True),
    ("Bool", True, ["true"], True),
    ("Bool", "true", ["false"], False),
    ("Bool", "false", ["false"], True),
    ("Bool", "TRUE", ["true"], True),
    ("Bool", "true", ABSENT, False),
    ("Bool", False, ["true"], False),
    # --- Binary ---
    ("BinaryEquals", "QmluYXJ5", ["QmluYXJ5"], True),
    ("BinaryEquals", "QmluYXJ5", ["QmluYXJ6"], False),
    ("BinaryEquals", "QmluYXJ5", ABSENT, False),
    # --- IP ---
    ("IpAddress", "203.0.113.0/24", ["203.0.113.7"], True),
    ("IpAddress", "203.0.113.0/24", ["203.0.114.7"], False),
    ("IpAddress", "203.0.113.7/32", ["203.0.113.7"], True),
    ("IpAddress", "203.0.113.7", ["203.0.113.7"], True),
    ("IpAddress", ["10.0.0.0/8", "127.0.0.0/8"], ["127.0.0.1"], True),
    ("IpAddress", "2001:DB8:1234:5678::/64", ["2001:db8:1234:5678::1"], True),
    ("IpAddress", "2001:DB8:1234:5678::/64", ["2001:db8:1234:5679::1"], False),
    ("IpAddress", "10.0.0.0/8", ["not-an-ip"], False),
    ("IpAddress", "10.0.0.0/8", ABSENT, False),
    ("IpAddress", "203.0.113.1/24", ["203.0.113.200"], True),
    ("NotIpAddress", "10.0.0.0/8", ["10.1.2.3"], False),
    ("NotIpAddress", "10.0.0.0/8", ["192.168.0.1"], True),
    ("NotIpAddress", "10.0.0.0/8", ABSENT, True),
    # --- ARN ---
    ("ArnEquals", "arn:aws:iam::111122223333:role/R", ["arn:aws:iam::111122223333:role/R"], True),
    ("ArnEquals", "arn:aws:iam::111122223333:role/R", ["arn:aws:iam::111122223333:role/S"], False),
    ("ArnNotEquals", "arn:aws:iam::111122223333:role/R", ["arn:aws:iam::1:role/R"], True),
    ("ArnNotEquals", "arn:aws:iam::111122223333:role/R", ABSENT, True),
    ("ArnLike", "arn:aws:iam::*:role/*", ["arn:aws:iam::111122223333:role/R"], True),
    ("ArnLike", "arn:aws:iam::*:role/*", ["arn:aws:iam::111122223333:user/R"], False),
    ("ArnLike", "arn:aws:iam::111122223333:*", ["arn:aws:iam::111122223333:role/a/b"], True),
    ("ArnLike", "arn:aws:*:*:111122223333:*", ["arn:aws:kms:us-east-1:111122223333:key/k"], True),
    ("ArnLike", "arn:aws:kms:*:*:key/*", ["arn:aws:kms:us-east-1:111122223333:alias/a"], False),
    ("ArnLike", "arn:aws:iam::*:role/*", ["not-an-arn"], False),
    ("ArnLike", "arn:aws:iam::1111????3333:role/R", ["arn:aws:iam::111122223333:role/R"], True),
    ("ArnLike", "arn:aws:iam::*", ["arn:aws:iam::111122223333:role/R"], False),
    ("ArnNotLike", "arn:aws:iam::*:role/*", ["arn:aws:iam::111122223333:role/R"], False),
    ("ArnNotLike", "arn:aws:iam::*:role/*", ["arn:aws:iam::111122223333:user/U"], True),
    ("ArnNotLike", "arn:aws:iam::*:role/*", ABSENT, True),
    # --- Null ---
    ("Null", "true", ABSENT, True),
    ("Null", "true", ["x"], False),
    ("Null", "false", ["x"], True),
    ("Null", "false", ABSENT, False),
    ("Null", True, ABSENT, True),
    ("Null", False, ["x"], True),
    # --- set qualifiers ---
    ("ForAnyValue:StringEquals", ["a", "b"], ["b", "c"], True),
    ("ForAnyValue:StringEquals", ["a", "b"], ["c", "d"], False),
    ("ForAnyValue:StringEquals", ["a"], ABSENT, False),
    ("ForAnyValue:StringEquals", ["a"], [], False),
    ("ForAnyValue:StringLike", ["alias/customer-*"], ["alias/x", "alias/customer-1"], True),
    ("ForAnyValue:StringLike", ["alias/customer-*"], ["alias/x", "alias/y"], False),
    ("ForAnyValue:StringNotEquals", ["a"], ["a", "b"], True),
    ("ForAnyValue:StringNotEquals", ["a"], ["a", "a"], False),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "b"], True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a"], True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "c"], False),
    ("ForAllValues:StringEquals", ["a", "b"], ABSENT, True),
    ("ForAllValues:StringEquals", ["a", "b"], [], True),
    ("ForAllValues:StringLike", ["Purpose", "Depart*"], ["Purpose", "Department"], True),
    ("ForAllValues:StringLike", ["Purpose", "Depart*"], ["Purpose", "Team"], False),
    ("ForAllValues:StringNotEquals", ["a"], ["b", "c"], True),
    ("ForAllValues:StringNotEquals", ["a"], ["b", "a"], False),
    ("ForAnyValue:StringEqualsIgnoreCase", ["A"], ["a"], True),
    ("ForAllValues:NumericLessThan", "10", ["1", "2"], True),
    ("ForAllValues:NumericLessThan", "10", ["1", "20"], False),
    ("ForAnyValue:NumericLessThan", "10", ["1", "20"], True),
    ("ForAnyValue:IpAddress", "10.0.0.0/8", ["192.168.0.1", "10.0.0.1"], True),
    ("ForAllValues:ArnLike", "arn:aws:iam::*:role/*", ["arn:aws:iam::1:role/a"], True),
    ("ForAnyValue:StringEqualsIfExists", ["a"], ABSENT, False),
    ("ForAllValues:StringEqualsIfExists", ["a"], ABSENT, True),
    ("StringEquals", "a", ["b", "a"], True),  # multivalued without a qualifier: any
    ("StringNotEquals", "a", ["b", "a"], False),
    # --- unknown operators and qualifiers never match ---
    ("StringSortOf", "a", ["a"], False),
    ("SomeValue:StringEquals", "a", ["a"], False),
    ("NumericAbout", "1", ["1"], False),
]


def _policy(operator: str, value: Any) -> Policy:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "kms:Encrypt",
                "Resource": "*",
                "Condition": {operator: {K: value}},
            }
        ],
    }
    return Policy.of(json.dumps(document))


@pytest.mark.parametrize(("operator", "value", "request_values", "expected"), CASES)
def test_operator(
    operator: str, value: Any, request_values: list[str] | None, expected: bool
) -> None:
    keys = {} if request_values is None else {K: request_values}
    ctx = RequestContext("kms:Encrypt", "arn:aws:kms:us-east-1:111122223333:key/k", keys=keys)
    want = Decision.ALLOW if expected else Decision.IMPLICIT_DENY
    assert decide([_policy(operator, value)], ctx) is want


@pytest.mark.parametrize(("operator", "value", "request_values", "expected"), CASES)
def test_operator_in_a_deny(
    operator: str, value: Any, request_values: list[str] | None, expected: bool
) -> None:
    """The same condition in a Deny statement denies exactly when it matches."""
    keys = {} if request_values is None else {K: request_values}
    ctx = RequestContext("kms:Encrypt", "*", keys=keys)
    deny = json.loads(json.dumps({"Version": "2012-10-17", "Statement": []}))
    deny["Statement"] = [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:*", "Resource": "*", "Condition": {operator: {K: value}}},
    ]
    want = Decision.EXPLICIT_DENY if expected else Decision.ALLOW
    assert decide([Policy.of(json.dumps(deny))], ctx) is want


def test_condition_key_names_are_case_insensitive() -> None:
    policy = _policy("StringEquals", "v")
    doc = json.loads(json.dumps({"Version": "2012-10-17"}))
    doc["Statement"] = {
        "Effect": "Allow",
        "Action": "kms:Encrypt",
        "Resource": "*",
        "Condition": {"StringEquals": {"AWS:TEST": "v"}},
    }
    upper = Policy.of(json.dumps(doc))
    ctx = RequestContext("kms:Encrypt", keys={K: ["v"]})
    assert decide([policy], ctx) is decide([upper], ctx) is Decision.ALLOW


def test_several_keys_and_operators_must_all_match() -> None:
    doc = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "kms:Encrypt",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:encryptioncontext:dept": "it", "kms:calleraccount": "1"},
                "Bool": {"aws:securetransport": "true"},
            },
        },
    }
    policy = Policy.of(json.dumps(doc))
    full = {"kms:encryptioncontext:dept": ["it"], "kms:calleraccount": ["1"]}
    assert (
        decide(
            [policy], RequestContext("kms:Encrypt", keys={**full, "aws:securetransport": ["true"]})
        )
        is Decision.ALLOW
    )
    assert decide([policy], RequestContext("kms:Encrypt", keys=full)) is Decision.IMPLICIT_DENY
    partial = {"kms:encryptioncontext:dept": ["it"], "aws:securetransport": ["true"]}
    assert decide([policy], RequestContext("kms:Encrypt", keys=partial)) is Decision.IMPLICIT_DENY
