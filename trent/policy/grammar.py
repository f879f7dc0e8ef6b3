"""The JSON policy grammar IAM enforces when a policy is written.

Messages are IAM's ``MalformedPolicyDocument`` texts (IAM User Guide, "IAM JSON policy
elements reference"; the texts as AWS returns them are recorded in moto's
``iam/policy_validation.py`` and the terraform/serverless issues quoting AWS).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from trent.policy.evaluate import OPERATORS

SYNTAX = "Syntax errors in policy."
_TOP = {"Version", "Id", "Statement"}
_VERSIONS = {"2008-10-17", "2012-10-17"}
_STATEMENT = {
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
}
MAX_IDENTITY_POLICY_BYTES = 6144  # managed policy, non-whitespace characters (IAM quotas)


class PolicyKind(StrEnum):
    IDENTITY = "identity"  # user/role inline, managed and session policies
    TRUST = "trust"  # a role's AssumeRolePolicyDocument
    KEY = "key"  # a KMS key policy: Principal required, Resource allowed


class PolicyError(ValueError):
    """A document IAM refuses; ``str(error)`` is AWS's message."""


def check(
    document: str, kind: PolicyKind, known: Callable[[str], bool] | None = None
) -> dict[str, Any]:
    """The parsed document, or ``PolicyError`` with the first problem IAM reports.

    Refused: text that is not JSON, an element IAM does not define (at the top or in a
    statement), a condition operator IAM does not define ("Syntax errors in policy."), a
    principal that is not ``*``, an account id or an IAM/STS ARN, and, when ``known`` is given
    (the caller's directory: ``known(name)`` for each ``AWS`` principal but ``*``), one that
    names no existing account, user or role (``Invalid principal in policy: "AWS":"<name>"``;
    AWS refuses a key policy naming a role that does not exist or an account id that is no
    account, as recorded in issues lightspin-tech/eks-creation-engine#4 and
    aws-samples/siem-on-amazon-opensearch-service#32)."""
    try:
        parsed = json.loads(document)
    except ValueError:
        raise PolicyError(SYNTAX) from None
    if not isinstance(parsed, dict) or not set(parsed) <= _TOP or "Statement" not in parsed:
        raise PolicyError(SYNTAX)
    if "Version" in parsed and parsed["Version"] not in _VERSIONS:
        raise PolicyError(SYNTAX)
    if "Id" in parsed and not isinstance(parsed["Id"], str):
        raise PolicyError(SYNTAX)
    statements = parsed["Statement"]
    statements = [statements] if isinstance(statements, dict) else statements
    if not isinstance(statements, list) or not statements:
        raise PolicyError(SYNTAX)
    for statement in statements:
        _syntax(statement)
    sids = [s["Sid"] for s in statements if "Sid" in s]
    if len(sids) != len(set(sids)):
        raise PolicyError("Statement IDs (SID) in a single policy must be unique.")
    for statement in statements:
        if not _present(statement, "Action", "NotAction"):
            raise PolicyError("Policy statement must contain actions.")
        if kind is PolicyKind.IDENTITY:
            if "Principal" in statement or "NotPrincipal" in statement:
                raise PolicyError("Policy document should not specify a principal.")
            if not _present(statement, "Resource", "NotResource"):
                raise PolicyError("Policy statement must contain resources.")
        elif kind is PolicyKind.KEY:
            if "Principal" not in statement and "NotPrincipal" not in statement:
                raise PolicyError("Missing required field Principal")
            _principals(statement.get("Principal", statement.get("NotPrincipal")), known)
        else:
            if "Resource" in statement or "NotResource" in statement:
                raise PolicyError("Has prohibited field Resource")
            if "Principal" not in statement and "NotPrincipal" not in statement:
                raise PolicyError("Missing required field Principal")
            _principals(statement.get("Principal", statement.get("NotPrincipal")), known)
        for name in ("Action", "NotAction"):
            for action in _strings(statement.get(name, [])):
                _action(action)
        for name in ("Resource", "NotResource"):
            for resource in _strings(statement.get(name, [])):
                if resource != "*" and not resource.startswith("arn:"):
                    raise PolicyError(f'Resource {resource} must be in ARN format or "*".')
    return parsed


def _syntax(statement: Any) -> None:
    if not isinstance(statement, dict) or not set(statement) <= _STATEMENT:
        raise PolicyError(SYNTAX)
    for a, b in (
        ("Action", "NotAction"),
        ("Resource", "NotResource"),
        ("Principal", "NotPrincipal"),
    ):
        if a in statement and b in statement:
            raise PolicyError(SYNTAX)
    effect = statement.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(SYNTAX)
    for name in ("Action", "NotAction", "Resource", "NotResource"):
        if name in statement and not _is_strings(statement[name]):
            raise PolicyError(SYNTAX)
    if "Sid" in statement and not isinstance(statement["Sid"], str):
        raise PolicyError(SYNTAX)
    condition = statement.get("Condition", {})
    if not isinstance(condition, dict):
        raise PolicyError(SYNTAX)
    for operator, block in condition.items():
        if not isinstance(block, dict) or not _operator(operator):
            raise PolicyError(SYNTAX)
        for value in block.values():
            if not isinstance(value, (str, bool, int, float, list)):
                raise PolicyError(SYNTAX)


def _operator(name: str) -> bool:
    """An operator of the IAM reference, with its ``IfExists`` and set-qualifier forms."""
    qualifier, _, base = name.rpartition(":")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        return False
    stem = base.removesuffix("IfExists")
    if stem == "Null":
        return base == "Null"  # no NullIfExists
    return stem in OPERATORS


def _principals(value: Any, known: Callable[[str], bool] | None = None) -> None:
    if value == "*":
        return
    if not isinstance(value, dict) or not value:
        raise PolicyError(SYNTAX)
    for kind, names in value.items():
        if kind not in ("AWS", "Service", "Federated", "CanonicalUser") or not _is_strings(names):
            raise PolicyError(SYNTAX)
        if kind == "AWS":
            for name in _strings(names):
                if not (name == "*" or (name.isdigit() and len(name) == 12) or _iam_arn(name)):
                    raise PolicyError(f'Invalid principal in policy: "AWS":"{name}"')
                if name != "*" and known is not None and not known(name):
                    raise PolicyError(f'Invalid principal in policy: "AWS":"{name}"')


def _iam_arn(name: str) -> bool:
    parts = name.split(":", 5)
    return (
        len(parts) == 6
        and parts[0] == "arn"
        and parts[2] in ("iam", "sts")
        and parts[4].isdigit()
        and len(parts[4]) == 12
    )


def _action(action: str) -> None:
    if action == "*":
        return
    parts = action.split(":")
    if len(parts) == 1:
        raise PolicyError(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
        )
    if len(parts) > 2:
        raise PolicyError("Actions/Condition can contain only one colon.")
    vendor = parts[0]
    if not vendor or not all(c.isalnum() or c in "-." for c in vendor):
        raise PolicyError(f"Vendor {vendor} is not valid")


def _present(statement: dict[str, Any], a: str, b: str) -> bool:
    value = statement.get(a, statement.get(b))
    return value is not None and value != []


def _is_strings(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    )


def _strings(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
