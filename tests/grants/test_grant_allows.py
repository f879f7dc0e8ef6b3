"""``trent.policy.grants.grant_allows``: the pure evaluation, table-driven."""

from __future__ import annotations

import pytest

from trent.policy.grants import Grant, grant_allows

USER = "arn:aws:iam::111122223333:user/app"
ROLE = "arn:aws:iam::111122223333:role/path/worker"
SESSION = "arn:aws:sts::111122223333:assumed-role/worker/s1"

PLAIN = Grant("g-plain", "k", USER, frozenset({"Encrypt", "DescribeKey"}))
SUBSET = Grant("g-subset", "k", USER, frozenset({"Decrypt", "DescribeKey"}), {"Dept": "IT"})
EQUALS = Grant("g-equals", "k", USER, frozenset({"GenerateDataKey"}), None, {"A": "1", "b": "2"})
SOURCED = Grant(
    "g-src", "k", USER, frozenset({"Encrypt", "RetireGrant"}), source_arn="arn:aws:s3:::b"
)
TO_ROLE = Grant("g-role", "k", ROLE, frozenset({"Sign"}))

CASES = [
    # (grants, principal, role, action, context, expected)
    ([PLAIN], USER, None, "Encrypt", None, "g-plain"),
    ([PLAIN], USER, None, "kms:Encrypt", {"any": "thing"}, "g-plain"),
    ([PLAIN], USER, None, "Decrypt", None, None),
    ([PLAIN], "arn:aws:iam::111122223333:user/other", None, "Encrypt", None, None),
    ([PLAIN], "arn:aws:iam::111122223333:root", None, "Encrypt", None, None),
    ([SUBSET], USER, None, "Decrypt", {"Dept": "IT"}, "g-subset"),
    ([SUBSET], USER, None, "Decrypt", {"dept": "IT", "x": "y"}, "g-subset"),
    ([SUBSET], USER, None, "Decrypt", {"Dept": "it"}, None),
    ([SUBSET], USER, None, "Decrypt", {}, None),
    ([SUBSET], USER, None, "Decrypt", None, None),
    ([SUBSET], USER, None, "DescribeKey", None, "g-subset"),  # no context: not constrained
    ([EQUALS], USER, None, "GenerateDataKey", {"a": "1", "B": "2"}, "g-equals"),
    ([EQUALS], USER, None, "GenerateDataKey", {"a": "1"}, None),
    ([EQUALS], USER, None, "GenerateDataKey", {"a": "1", "b": "2", "c": "3"}, None),
    ([EQUALS], USER, None, "GenerateDataKey", {"a": "1", "b": "02"}, None),
    ([TO_ROLE], SESSION, ROLE, "Sign", None, "g-role"),
    ([TO_ROLE], SESSION, None, "Sign", None, None),
    ([TO_ROLE], SESSION, ROLE, "Verify", None, None),
    ([PLAIN, SUBSET], USER, None, "DescribeKey", None, "g-plain"),
    ([SUBSET, PLAIN], USER, None, "Encrypt", {"Dept": "no"}, "g-plain"),
    ([], USER, None, "Encrypt", None, None),
    ([SOURCED], USER, None, "Encrypt", None, None),
    ([SOURCED], USER, None, "RetireGrant", None, "g-src"),
]


@pytest.mark.parametrize(("grants", "principal", "role", "action", "context", "expected"), CASES)
def test_grant_allows(
    grants: list[Grant],
    principal: str,
    role: str | None,
    action: str,
    context: dict[str, str] | None,
    expected: str | None,
) -> None:
    assert grant_allows(grants, principal, action, context, role_arn=role) == expected
