"""Evaluating policy documents against a request (IAM User Guide, "Policy evaluation logic",
"IAM JSON policy elements reference: Condition operators", "IAM policy elements: Variables").

A ``Policy`` is compiled once from a checked document (``Policy.of(text)`` caches by the
document's text, so the hot path parses no JSON). ``Policy.evaluate(ctx)`` answers a ``Result``:
the first matching ``Deny`` statement, else the best matching ``Allow`` with the ``Reach`` it
had (how the statement's ``Principal`` named the caller: directly, through its role, through its
account). ``decide(policies, ctx)`` combines several into a ``Decision``.

The language: ``Statement`` (one or a list), ``Sid``, ``Effect``, ``Principal``/``NotPrincipal``
(``"*"``, ``AWS`` ARNs or account ids, ``Service``/``Federated``/``CanonicalUser`` which never
name a Trent caller), ``Action``/``NotAction`` (case-insensitive, ``*`` and ``?``),
``Resource``/``NotResource`` (``*`` and ``?``), ``Condition`` with every operator of the IAM
reference: ``String{Equals,NotEquals,EqualsIgnoreCase,NotEqualsIgnoreCase,Like,NotLike}``,
``Numeric{Equals,NotEquals,LessThan,LessThanEquals,GreaterThan,GreaterThanEquals}``,
``Date{...}`` likewise, ``Bool``, ``BinaryEquals``, ``IpAddress``/``NotIpAddress``,
``Arn{Equals,Like,NotEquals,NotLike}``, ``Null``; each with ``IfExists`` (but ``Null``), and the
``ForAnyValue:``/``ForAllValues:`` set qualifiers. Several operators, several keys in a block:
all must match; several values for one key: any may. A key absent from the request: a positive
operator does not match, a negated one (``...Not...``) does, ``IfExists`` does,
``ForAllValues:`` does, ``ForAnyValue:`` does not. An operator IAM does not know never matches.
Policy variables (``${aws:username}``, ``${aws:PrincipalTag/team}``, ``${key, 'default'}``,
``${*}``, ``${?}``, ``${$}``) are replaced in ``Resource`` and condition values of version
``2012-10-17`` documents; a variable whose key is absent (and has no default) makes that value
match nothing.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum, IntEnum
from functools import lru_cache
from typing import Any


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


class Reach(IntEnum):
    """How an ``Allow`` statement's ``Principal`` named the caller (identity policies, which
    have no ``Principal``, always reach ``DIRECT``)."""

    NONE = 0
    ACCOUNT = 1  # the caller's account (its id or ``arn:aws:iam::<id>:root``)
    ROLE = 2  # the role of an assumed-role session
    DIRECT = 3  # the caller itself, or ``"*"``


@dataclass(slots=True)
class RequestContext:
    """``action`` (``service:Name``), ``resource`` (an ARN or ``*``), the names a ``Principal``
    may use for the caller: ``principals`` (itself: its ARN; root also its account id),
    ``role`` (a session's role ARN), ``accounts`` (its account id and root ARN, for a caller
    that is not root); ``keys`` the condition keys present: lower-cased names → list of
    strings (any ``Mapping``; a lazy one computes a key when first asked)."""

    action: str
    resource: str = "*"
    principals: Sequence[str] = ()
    keys: Mapping[str, Sequence[str]] = field(default_factory=dict)
    role: str | None = None
    accounts: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Result:
    """One policy's answer: ``deny`` the Sid (or index) of the matching Deny statement;
    else ``allow`` the one of the best matching Allow, reached as ``reach``."""

    deny: str | None = None
    allow: str | None = None
    reach: Reach = Reach.NONE


NOTHING = Result()

# --- templates (policy variables) ------------------------------------------------------------
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}
Piece = tuple[bool, str, str | None]  # (is variable, text or key, default)


@dataclass(frozen=True, slots=True)
class Template:
    """A string with policy variables; ``render`` gives None when a key is absent."""

    pieces: tuple[Piece, ...]

    def render(self, keys: Mapping[str, Sequence[str]]) -> list[tuple[bool, str]] | None:
        """(literal?, text) runs: literal runs came from variables (no wildcards in them)."""
        out: list[tuple[bool, str]] = []
        for is_var, text, default in self.pieces:
            if not is_var:
                out.append((False, text))
                continue
            if text in _SPECIAL:
                out.append((True, _SPECIAL[text]))
                continue
            values = keys.get(text)
            if values is not None and len(values) == 1:
                out.append((True, values[0]))
            elif default is not None:
                out.append((True, default))
            else:
                return None
        return out


def _template(text: str, variables: bool) -> str | Template:
    if not variables or "${" not in text:
        return text
    pieces: list[Piece] = []
    at = 0
    for m in _VARIABLE.finditer(text):
        if m.start() > at:
            pieces.append((False, text[at : m.start()], None))
        body = m.group(1)
        name, comma, default = body.partition(",")
        default_value: str | None = None
        if comma:
            default_value = default.strip().strip("'")
        name = name.strip()
        pieces.append((True, name if name in _SPECIAL else name.lower(), default_value))
        at = m.end()
    if at < len(text):
        pieces.append((False, text[at:], None))
    return Template(tuple(pieces))


def _plain(value: str | Template, keys: Mapping[str, Sequence[str]]) -> str | None:
    """The value with variables replaced (None: a variable's key is absent)."""
    if isinstance(value, str):
        return value
    runs = value.render(keys)
    return None if runs is None else "".join(text for _, text in runs)


@lru_cache(maxsize=8192)
def _glob(glob: str, fold: bool = False) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(body, (re.IGNORECASE | re.DOTALL) if fold else re.DOTALL)


def _glob_runs(runs: list[tuple[bool, str]]) -> re.Pattern[str]:
    body = "".join(
        re.escape(text)
        if literal
        else "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
        for literal, text in runs
    )
    return re.compile(body, re.DOTALL)


def like(
    glob: str | Template | re.Pattern[str], value: str, keys: Mapping[str, Sequence[str]] = {}
) -> bool:
    """``value`` matches the wildcard pattern ``glob`` (``*`` any run, ``?`` one character)."""
    if isinstance(glob, re.Pattern):
        return glob.fullmatch(value) is not None
    if isinstance(glob, Template):
        runs = glob.render(keys)
        return runs is not None and _glob_runs(runs).fullmatch(value) is not None
    if "*" not in glob and "?" not in glob:
        return glob == value
    return _glob(glob).fullmatch(value) is not None


# --- matchers for Action, Resource ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Names:
    """A compiled ``Action`` or ``Resource`` list: exact names, wildcard patterns, templates."""

    everything: bool
    exact: frozenset[str]
    patterns: tuple[re.Pattern[str], ...]
    templates: tuple[Template, ...]
    fold: bool

    @classmethod
    def of(cls, values: Sequence[str], fold: bool, variables: bool) -> Names:
        exact: set[str] = set()
        patterns: list[re.Pattern[str]] = []
        templates: list[Template] = []
        for raw in values:
            value = _template(raw, variables)
            if isinstance(value, Template):
                templates.append(value)
            elif "*" in value or "?" in value:
                patterns.append(_glob(value.lower() if fold else value, fold))
            else:
                exact.add(value.lower() if fold else value)
        return cls("*" in values, frozenset(exact), tuple(patterns), tuple(templates), fold)

    def match(self, name: str, keys: Mapping[str, Sequence[str]]) -> bool:
        if self.everything:
            return True
        if (name.lower() if self.fold else name) in self.exact:
            return True
        for pattern in self.patterns:
            if pattern.fullmatch(name):
                return True
        return any(like(t, name, keys) for t in self.templates)


# --- conditions -----------------------------------------------------------------------------
def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> float | None:
    """Epoch seconds of an ISO 8601 date/time (UTC when no zone) or of epoch seconds."""
    if _number(text) is not None:
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _arn_like(glob: str, value: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own."""
    want = glob.split(":", 5)
    have = value.split(":", 5)
    if len(want) != 6 or len(have) != 6:
        return False
    return all(like(w, h) for w, h in zip(want, have, strict=True))


Test = Callable[[Any, str], bool]  # (compiled condition value, request value) -> match


def _cmp(convert: Callable[[str], Any], op: Callable[[Any, Any], bool]) -> Test:
    def test(want: Any, have: str) -> bool:
        got = convert(have)
        return want is not None and got is not None and op(got, want)

    return test


_NUMERIC: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda a, b: a == b,
    "NotEquals": lambda a, b: a == b,  # negated by the caller
    "LessThan": lambda a, b: a < b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanEquals": lambda a, b: a >= b,
}

# operator (without IfExists) -> (compile one condition value, test, negated, glob-like)
_OPERATORS: dict[str, tuple[Callable[[str], Any], Test, bool]] = {
    "StringEquals": (str, lambda w, h: w == h, False),
    "StringNotEquals": (str, lambda w, h: w == h, True),
    "StringEqualsIgnoreCase": (str.lower, lambda w, h: w == h.lower(), False),
    "StringNotEqualsIgnoreCase": (str.lower, lambda w, h: w == h.lower(), True),
    "StringLike": (str, lambda w, h: like(w, h), False),
    "StringNotLike": (str, lambda w, h: like(w, h), True),
    "ArnEquals": (str, lambda w, h: w == h, False),
    "ArnNotEquals": (str, lambda w, h: w == h, True),
    "ArnLike": (str, _arn_like, False),
    "ArnNotLike": (str, _arn_like, True),
    "Bool": (str.lower, lambda w, h: w == h.lower(), False),
    "BinaryEquals": (str, lambda w, h: w == h, False),
    "IpAddress": (_network, lambda w, h: (a := _address(h)) is not None and a in w, False),
    "NotIpAddress": (_network, lambda w, h: (a := _address(h)) is not None and a in w, True),
}
for _suffix, _op in _NUMERIC.items():
    _OPERATORS["Numeric" + _suffix] = (_number, _cmp(_number, _op), _suffix == "NotEquals")
    _OPERATORS["Date" + _suffix] = (_date, _cmp(_date, _op), _suffix == "NotEquals")
_TEXT_VALUED = {name for name, spec in _OPERATORS.items() if spec[0] in (str, str.lower)}
OPERATORS = frozenset(_OPERATORS) | {"Null"}


@dataclass(frozen=True, slots=True)
class Condition:
    """One (operator, key) pair of a ``Condition`` block, compiled."""

    operator: str  # as written
    key: str  # lower-cased
    values: tuple[Any, ...]  # compiled; Template for text values with variables
    test: Test | None  # None: an operator IAM does not know (never matches) or Null
    negated: bool = False
    if_exists: bool = False
    qualifier: str = ""  # "", "ForAnyValue", "ForAllValues"
    null: bool | None = None  # Null: whether the key must be absent
    templated: bool = False
    lower: bool = False

    def matches(self, keys: Mapping[str, Sequence[str]]) -> bool:
        present = keys.get(self.key)
        if self.null is not None:
            return (present is None) == self.null
        if self.test is None:
            return False
        if present is None or not present:
            if self.qualifier == "ForAllValues":
                return True
            if self.qualifier == "ForAnyValue":
                return False
            return self.if_exists or self.negated
        values = self._values(keys) if self.templated else self.values
        test = self.test
        if not self.qualifier and len(present) == 1:  # the common case: one request value
            have = present[0]
            for want in values:
                if test(want, have):
                    return not self.negated
            return self.negated

        def hit(have: str) -> bool:
            return any(test(want, have) for want in values)

        if self.qualifier == "ForAllValues":
            return all(hit(p) != self.negated for p in present)
        if self.qualifier == "ForAnyValue":
            return any(hit(p) != self.negated for p in present)
        found = any(hit(p) for p in present)
        return not found if self.negated else found

    def _values(self, keys: Mapping[str, Sequence[str]]) -> tuple[Any, ...]:
        out: list[Any] = []
        for value in self.values:
            if isinstance(value, Template):
                if self.operator.removesuffix("IfExists").split(":")[-1] in (
                    "StringLike",
                    "StringNotLike",
                ):
                    runs = value.render(keys)  # variable text stays literal
                    if runs is not None:
                        out.append(_glob_runs(runs))
                    continue
                text = _plain(value, keys)
                if text is None:
                    continue
                out.append(text.lower() if self.lower else text)
            else:
                out.append(value)
        return tuple(out)


def _condition(operator: str, key: str, raw: Any, variables: bool) -> Condition:
    listed = raw if isinstance(raw, list) else [raw]
    texts = [_text(v) for v in listed]
    qualifier, _, base = operator.rpartition(":")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        return Condition(operator, key.lower(), (), None)
    if base == "Null":
        flag = texts[0].lower() == "true" if texts else False
        return Condition(operator, key.lower(), (), None, null=flag)
    if_exists = base.endswith("IfExists")
    spec = _OPERATORS.get(base.removesuffix("IfExists"))
    if spec is None:
        return Condition(operator, key.lower(), (), None)
    compile_value, test, negated = spec
    text_valued = base.removesuffix("IfExists") in _TEXT_VALUED
    values: list[Any] = []
    templated = False
    for text in texts:
        value = _template(text, variables) if text_valued else text
        if isinstance(value, Template):
            templated = True
            values.append(value)
        else:
            values.append(compile_value(value))
    return Condition(
        operator,
        key.lower(),
        tuple(values),
        test,
        negated=negated,
        if_exists=if_exists,
        qualifier=qualifier,
        templated=templated,
        lower=compile_value is str.lower,
    )


# --- statements and policies -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Statement:
    sid: str
    allow: bool
    actions: Names
    not_actions: bool
    resources: Names | None  # None: no Resource element (trust policies)
    not_resources: bool
    principals: frozenset[str] | None  # AWS principals; None: no Principal element
    not_principals: bool
    conditions: tuple[Condition, ...]

    def reach(self, ctx: RequestContext) -> Reach:
        """How far this statement applies to ``ctx`` (``NONE``: it does not)."""
        if self.actions.match(ctx.action, ctx.keys) == self.not_actions:
            return Reach.NONE
        return self.reach_for_action(ctx)

    @property
    def static(self) -> bool:
        """Whether its answer depends on the resource and principal alone (no conditions, no
        policy variables in ``Resource``)."""
        return not self.conditions and (self.resources is None or not self.resources.templates)

    def reach_for_action(self, ctx: RequestContext) -> Reach:
        """``reach`` for a statement whose ``Action`` is known to match."""
        keys = ctx.keys
        resources = self.resources
        if resources is not None and resources.match(ctx.resource, keys) == self.not_resources:
            return Reach.NONE
        reach = Reach.DIRECT
        if self.principals is not None:
            reach = self._principal(ctx)
            if reach is Reach.NONE:
                return reach
        for condition in self.conditions:
            if not condition.matches(keys):
                return Reach.NONE
        return reach

    def _principal(self, ctx: RequestContext) -> Reach:
        named = self.principals
        assert named is not None
        if "*" in named or any(p in named for p in ctx.principals):
            found = Reach.DIRECT
        elif ctx.role is not None and ctx.role in named:
            found = Reach.ROLE
        elif any(a in named for a in ctx.accounts):
            found = Reach.ACCOUNT
        else:
            found = Reach.NONE
        if self.not_principals:
            return Reach.DIRECT if found is Reach.NONE else Reach.NONE
        return found

    # kept for callers that only need a yes/no
    def matches(self, ctx: RequestContext) -> bool:
        return self.reach(ctx) is not Reach.NONE


_MEMO_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Policy:
    """Compiled statements; per action, the statements whose ``Action`` matches are found once,
    and when none of those has a condition or a variable the answer for a (resource, caller)
    is remembered too (bounded)."""

    statements: tuple[Statement, ...]
    _by_action: dict[str, tuple[tuple[Statement, ...], bool]] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )
    _memo: dict[tuple[Any, ...], Result] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    @classmethod
    def parse(cls, document: Mapping[str, Any]) -> Policy:
        """A policy from a document ``trent.policy.grammar.check`` accepted."""
        raw = document["Statement"]
        raw = [raw] if isinstance(raw, dict) else raw
        variables = document.get("Version") == "2012-10-17"
        return cls(tuple(_statement(i, s, variables) for i, s in enumerate(raw)))

    @staticmethod
    def of(text: str) -> Policy:
        """The compiled policy of a stored document text, cached by the text."""
        return _compiled(text)

    def evaluate(self, ctx: RequestContext) -> Result:
        found = self._by_action.get(ctx.action)
        if found is None:
            relevant = tuple(
                st for st in self.statements if st.actions.match(ctx.action, {}) != st.not_actions
            )
            found = self._by_action[ctx.action] = (relevant, all(st.static for st in relevant))
        relevant, static = found
        if not relevant:
            return NOTHING
        if not static:
            return _evaluate(relevant, ctx)
        memo_key = (ctx.action, ctx.resource, tuple(ctx.principals), ctx.role, tuple(ctx.accounts))
        result = self._memo.get(memo_key)
        if result is None:
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            result = self._memo[memo_key] = _evaluate(relevant, ctx)
        return result


def _evaluate(statements: tuple[Statement, ...], ctx: RequestContext) -> Result:
    allow: str | None = None
    best = Reach.NONE
    for statement in statements:
        reach = statement.reach_for_action(ctx)
        if reach is Reach.NONE:
            continue
        if not statement.allow:
            return Result(deny=statement.sid)
        if reach > best:
            best, allow = reach, statement.sid
    return Result(allow=allow, reach=best) if allow is not None else NOTHING


@lru_cache(maxsize=4096)
def _compiled(text: str) -> Policy:
    return Policy.parse(json.loads(text))


def decide(policies: Iterable[Policy], ctx: RequestContext) -> Decision:
    """Explicit deny if any policy denies, else allow if any allows, else implicit deny."""
    allowed = False
    for policy in policies:
        result = policy.evaluate(ctx)
        if result.deny is not None:
            return Decision.EXPLICIT_DENY
        allowed = allowed or result.allow is not None
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def _statement(index: int, raw: Mapping[str, Any], variables: bool) -> Statement:
    actions = _listed(raw.get("Action", raw.get("NotAction")))
    resources_raw = raw.get("Resource", raw.get("NotResource"))
    principal = raw.get("Principal", raw.get("NotPrincipal"))
    principals: frozenset[str] | None = None
    if principal is not None:
        if principal == "*":
            principals = frozenset({"*"})
        else:
            principals = frozenset(_listed(principal.get("AWS")))
    conditions = []
    for operator, block in (raw.get("Condition") or {}).items():
        for key, values in block.items():
            conditions.append(_condition(operator, key, values, variables))
    return Statement(
        sid=str(raw["Sid"]) if raw.get("Sid") else str(index),
        allow=raw["Effect"] == "Allow",
        actions=Names.of(actions, fold=True, variables=False),
        not_actions="NotAction" in raw,
        resources=None
        if resources_raw is None
        else Names.of(_listed(resources_raw), fold=False, variables=variables),
        not_resources="NotResource" in raw,
        principals=principals,
        not_principals="NotPrincipal" in raw,
        conditions=tuple(conditions),
    )


def _listed(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
