"""Evaluating policy documents against a request (IAM User Guide, "Policy evaluation logic").

A ``Policy`` is parsed once from a checked document. ``decide(policies, context)`` answers
``EXPLICIT_DENY`` when a matching ``Deny`` statement applies, else ``ALLOW`` when a matching
``Allow`` does, else ``IMPLICIT_DENY``. A statement matches when its action, resource,
principal (for resource-based and trust policies) and every condition match. Wildcards ``*`` and
``?`` as IAM has them (actions case-insensitive). Condition operators so far: the String and Arn
families (with ``IfExists``), ``Bool`` and ``Null``; an operator not known yet never matches,
so an ``Allow`` with it grants nothing (issue 10 adds the rest).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True, slots=True)
class RequestContext:
    """``action`` (``service:Name``), ``resource`` (an ARN), ``principals`` (the ARNs and
    account ids the caller counts as, for ``Principal`` matching), ``keys`` the condition keys
    present (names lower-cased; each a list of strings)."""

    action: str
    resource: str = "*"
    principals: Sequence[str] = ()
    keys: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Statement:
    sid: str
    allow: bool
    actions: tuple[str, ...]
    not_actions: bool
    resources: tuple[str, ...] | None  # None: no Resource element (trust policies)
    not_resources: bool
    principals: tuple[str, ...] | None  # AWS principals; None: no Principal element
    not_principals: bool
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...]  # (operator, key, values)

    def matches(self, ctx: RequestContext) -> bool:
        if _any(self.actions, ctx.action, fold=True) == self.not_actions:
            return False
        if self.resources is not None and _any(self.resources, ctx.resource) == self.not_resources:
            return False
        if self.principals is not None:
            named = any(p == "*" or p in ctx.principals for p in self.principals)
            if named == self.not_principals:
                return False
        return all(_condition(op, key, values, ctx.keys) for op, key, values in self.conditions)


@dataclass(frozen=True, slots=True)
class Policy:
    statements: tuple[Statement, ...]

    @classmethod
    def parse(cls, document: Mapping[str, Any]) -> Policy:
        """A policy from a document ``trent.policy.grammar.check`` accepted."""
        raw = document["Statement"]
        raw = [raw] if isinstance(raw, dict) else raw
        return cls(tuple(_statement(i, s) for i, s in enumerate(raw)))


def decide(policies: Iterable[Policy], ctx: RequestContext) -> Decision:
    allowed = False
    for policy in policies:
        for statement in policy.statements:
            if statement.matches(ctx):
                if not statement.allow:
                    return Decision.EXPLICIT_DENY
                allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def _statement(index: int, raw: Mapping[str, Any]) -> Statement:
    actions, not_actions = _element(raw, "Action", "NotAction")
    resources, not_resources = _element(raw, "Resource", "NotResource")
    principal = raw.get("Principal", raw.get("NotPrincipal"))
    principals: tuple[str, ...] | None = None
    if principal is not None:
        if principal == "*":
            principals = ("*",)
        else:
            aws = principal.get("AWS", [])
            principals = tuple([aws] if isinstance(aws, str) else aws)
            service = principal.get("Service", [])
            principals += tuple([service] if isinstance(service, str) else service)
    conditions = []
    for operator, block in (raw.get("Condition") or {}).items():
        for key, values in block.items():
            listed = values if isinstance(values, list) else [values]
            conditions.append((operator, key.lower(), tuple(_text(v) for v in listed)))
    return Statement(
        sid=str(raw.get("Sid", index)),
        allow=raw["Effect"] == "Allow",
        actions=actions or (),
        not_actions=not_actions,
        resources=resources,
        not_resources=not_resources,
        principals=principals,
        not_principals="NotPrincipal" in raw,
        conditions=tuple(conditions),
    )


def _element(
    raw: Mapping[str, Any], name: str, negated: str
) -> tuple[tuple[str, ...] | None, bool]:
    value = raw.get(name, raw.get(negated))
    if value is None:
        return None, False
    return tuple([value] if isinstance(value, str) else value), negated in raw


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@lru_cache(maxsize=4096)
def _pattern(glob: str, fold: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(body, re.IGNORECASE | re.DOTALL if fold else re.DOTALL)


def _like(glob: str, value: str, fold: bool = False) -> bool:
    if "*" not in glob and "?" not in glob:
        return glob.lower() == value.lower() if fold else glob == value
    return _pattern(glob, fold).fullmatch(value) is not None


def _any(globs: Iterable[str], value: str, fold: bool = False) -> bool:
    return any(_like(g, value, fold) for g in globs)


def _condition(
    operator: str, key: str, values: tuple[str, ...], keys: Mapping[str, Sequence[str]]
) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    present = keys.get(key)
    if base == "Null":
        return (present is None) == (values[0].lower() == "true") if values else False
    if present is None:
        return if_exists or base in _NEGATED
    test = _TESTS.get(base)
    if test is None:
        return False  # not known yet: never matches
    negate = base in _NEGATED
    hit = any(test(v, p) for p in present for v in values)
    return not hit if negate else hit


_TESTS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda v, p: v == p,
    "StringNotEquals": lambda v, p: v == p,
    "StringEqualsIgnoreCase": lambda v, p: v.lower() == p.lower(),
    "StringNotEqualsIgnoreCase": lambda v, p: v.lower() == p.lower(),
    "StringLike": lambda v, p: _like(v, p),
    "StringNotLike": lambda v, p: _like(v, p),
    "ArnEquals": lambda v, p: v == p,
    "ArnNotEquals": lambda v, p: v == p,
    "ArnLike": lambda v, p: _like(v, p),
    "ArnNotLike": lambda v, p: _like(v, p),
    "Bool": lambda v, p: v.lower() == p.lower(),
}
_NEGATED = {
    "StringNotEquals",
    "StringNotEqualsIgnoreCase",
    "StringNotLike",
    "ArnNotEquals",
    "ArnNotLike",
}
