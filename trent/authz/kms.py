"""The KMS combination rule (AWS KMS Developer Guide, "Determining access to AWS KMS keys",
"Key policies in AWS KMS", "Allowing users in other accounts to use a KMS key"; IAM User Guide,
"Policy evaluation logic", "Session policies", "Cross-account policy evaluation logic").

For a key (``key_policy`` given), in this order:

1. An explicit ``Deny`` in the key policy, the caller's identity policies or its session
   policies refuses (``EXPLICIT_DENY``, naming that policy type).
2. The key policy must allow the caller somehow, else ``IMPLICIT_DENY`` resource-based.
3. Across accounts (the key's account is not the caller's): the caller's identity policies (and
   session policies, if any) must allow too; root's identity allows everything of its account.
4. In the key's account: a statement naming the caller itself (its ARN, ``"*"``; for a session
   its session ARN) allows; one naming a session's role allows when the session has no session
   policy or one allows; one naming the account (its id or ``arn:aws:iam::<id>:root``) allows
   when the identity policies allow and, for a session, the session policies allow. Root is
   subject to the key policy like everyone else.

Account-level actions (``key_policy`` None: CreateKey, ListKeys, ListAliases, GenerateRandom,
...) are decided by identity (and session) policies alone; root may do them all.

Any refusal is an ``IMPLICIT_DENY`` a grant may still turn into an allow (``Env.authorize``).
IAM and STS actions use ``decide_identity`` (identity and session policies; root allowed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trent.authz import Principal
from trent.authz.conditions import ConditionKeys
from trent.authz.sources import PolicySources
from trent.authz.verdict import PolicyType, Verdict
from trent.policy import Decision, Policy, RequestContext
from trent.policy.evaluate import Reach, Result

_ALLOW_ROOT = Verdict(Decision.ALLOW, PolicyType.ROOT)
_NO_KEYS: Mapping[str, Sequence[str]] = {}


def _combined(policies: Sequence[Policy], ctx: RequestContext) -> Result:
    """Deny of any, else the first allow."""
    allow: str | None = None
    for policy in policies:
        result = policy.evaluate(ctx)
        if result.deny is not None:
            return result
        if allow is None and result.allow is not None:
            allow = result.allow
    return Result(allow=allow, reach=Reach.DIRECT if allow else Reach.NONE)


def context(
    principal: Principal, action: str, resource: str, keys: Mapping[str, Sequence[str]]
) -> RequestContext:
    """The request context of ``principal``: the names a ``Principal`` element may use."""
    names = _names.get(principal)
    if names is None:
        if len(_names) >= 4096:
            _names.clear()
        names = _names[principal] = _principal_names(principal)
    direct, role, accounts = names
    return RequestContext(action, resource, direct, keys, role, accounts)


Names = tuple[tuple[str, ...], str | None, tuple[str, ...]]
_names: dict[Principal, Names] = {}


def _principal_names(principal: Principal) -> Names:
    account = principal.account_id
    if principal.is_root:
        return (principal.arn, account), None, ()
    session = principal.session
    role = session.role_arn if session is not None else None
    return (principal.arn,), role, (account, f"arn:aws:iam::{account}:root")


class PolicyAuthorizer:
    """Key policies, identity policies and session policies, combined as AWS KMS does.

    A verdict reached without asking for any condition key (``ConditionKeys.consulted``) is a
    function of the caller, the action, the resource, the key policy and the stored identity
    and session policies alone: it is kept (at most ``VERDICT_CACHE`` of them) until the
    store shows any commit (``store.changes()``), and a request asking the same again gets it
    without an evaluation. A verdict that read a condition key is never kept."""

    VERDICT_CACHE = 4096

    def __init__(self, store: Any) -> None:
        self.sources = PolicySources(store)
        self._store = store if hasattr(store, "changes") else None
        self._verdicts: dict[tuple[Principal, str, str, str | None], Verdict] = {}
        self._verdicts_seen: object = None

    def decide(
        self,
        principal: Principal,
        action: str,
        resource: str,
        key_policy: str | None = None,
        keys: Mapping[str, Sequence[str]] | None = None,
    ) -> Verdict:
        if key_policy is None and principal.is_root:
            return _ALLOW_ROOT  # an account-level action of the root user: always allowed
        if self._store is None or not isinstance(keys, ConditionKeys):
            return self._decide(principal, action, resource, key_policy, keys)
        changes = self._store.changes()
        if changes != self._verdicts_seen:
            self._verdicts_seen = changes
            self._verdicts.clear()
        cache_key = (principal, action, resource, key_policy)
        verdict = self._verdicts.get(cache_key)
        if verdict is None:
            verdict = self._decide(principal, action, resource, key_policy, keys)
            if not keys.consulted:
                if len(self._verdicts) >= self.VERDICT_CACHE:
                    self._verdicts.clear()
                self._verdicts[cache_key] = verdict
        return verdict

    def _decide(
        self,
        principal: Principal,
        action: str,
        resource: str,
        key_policy: str | None,
        keys: Mapping[str, Sequence[str]] | None,
    ) -> Verdict:
        ctx = context(principal, action, resource, keys if keys is not None else _NO_KEYS)
        key = None
        if key_policy is not None:
            key = Policy.of(key_policy).evaluate(ctx)
            if key.deny is not None:
                return Verdict(Decision.EXPLICIT_DENY, PolicyType.RESOURCE, key.deny)
        identity, session = self._identity(principal, ctx)
        if identity.deny is not None:
            return Verdict(Decision.EXPLICIT_DENY, PolicyType.IDENTITY, identity.deny)
        if session is not None and session.deny is not None:
            return Verdict(Decision.EXPLICIT_DENY, PolicyType.SESSION, session.deny)
        identity_allows = principal.is_root or identity.allow is not None
        session_allows = session is None or session.allow is not None
        if key is None:  # an account-level action (root's are allowed in decide)
            if not identity_allows:
                return Verdict.implicit(PolicyType.IDENTITY)
            if not session_allows:
                return Verdict.implicit(PolicyType.SESSION)
            return Verdict(Decision.ALLOW, PolicyType.IDENTITY, identity.allow)
        if key.reach is Reach.NONE:
            return Verdict.implicit(PolicyType.RESOURCE)
        allowed = Verdict(Decision.ALLOW, PolicyType.RESOURCE, key.allow)
        cross = resource.split(":", 5)[4:5] != [principal.account_id]
        if key.reach is Reach.DIRECT and not cross:
            return allowed
        if key.reach is Reach.ROLE and not cross:
            return allowed if session_allows else Verdict.implicit(PolicyType.SESSION)
        if not identity_allows:
            return Verdict.implicit(PolicyType.IDENTITY)
        if not session_allows:
            return Verdict.implicit(PolicyType.SESSION)
        return allowed

    def decide_identity(self, principal: Principal, action: str, resource: str) -> Verdict:
        """An IAM or STS action: identity and session policies alone; root may do all."""
        keys = {"aws:principalarn": [principal.arn], "aws:principalaccount": [principal.account_id]}
        return self.decide(principal, action, resource, None, keys)

    def _identity(self, principal: Principal, ctx: RequestContext) -> tuple[Result, Result | None]:
        if principal.is_root:
            return Result(), None
        identity = _combined(self.sources.identity(principal), ctx)
        bounded = self.sources.session(principal)
        session = None if bounded is None else _combined(bounded, ctx)
        return identity, session
