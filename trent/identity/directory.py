"""What IAM and STS operations are handed, and who may call them.

``Directory`` bundles the store (its identity tables), the barrier, the clock and the region.
``authorize`` decides an IAM or STS action until issue 10's evaluator takes over: root may do
everything in its own account; a user needs an identity policy (inline or attached) that
allows the action on the resource, and a role session its role's policies and, when it has one,
its session policy; an explicit ``Deny`` wins (``trent.policy``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trent.authz import Principal, PrincipalType
from trent.clock import Clock
from trent.identity.errors import not_authorized
from trent.operations import Call
from trent.policy import Decision, Policy, PolicyKind, RequestContext, check, decide
from trent.seal import Barrier
from trent.store import SQLiteStore


@dataclass
class Directory:
    store: SQLiteStore
    barrier: Barrier
    clock: Clock
    region: str


Handler = Callable[[Directory, Call, dict[str, Any]], dict[str, Any]]


def policy_arn_parts(arn: str) -> tuple[str, str] | None:
    """(account, policy name) of a customer managed policy ARN, or None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "iam"] or not parts[5].startswith("policy/"):
        return None
    return parts[4], parts[5].rsplit("/", 1)[-1]


def identity_policies(store: SQLiteStore, principal: Principal) -> list[Policy]:
    """The identity policies of a user, or of a session's role (inline and attached)."""
    if principal.type is PrincipalType.USER and principal.name is not None:
        kind, owner = "user", principal.name
    elif principal.session is not None:
        kind, owner = "role", principal.session.role_name
    else:
        return []
    account = principal.account_id
    documents = [doc for _, doc in store.list_inline_policies(account, kind, owner)]
    for arn in store.attached_policies(account, kind, owner):
        parts = policy_arn_parts(arn)
        row = store.get_policy(*parts) if parts else None
        if row is not None:
            documents.append(row.document)
    return [_parsed(d) for d in documents]


def session_policies(store: SQLiteStore, principal: Principal) -> list[Policy] | None:
    """A session's session policies (inline and managed), or None when it has none."""
    session = principal.session
    if session is None or (not session.policy and not session.policy_arns):
        return None
    documents = [session.policy] if session.policy else []
    for arn in session.policy_arns:
        parts = policy_arn_parts(arn)
        row = store.get_policy(*parts) if parts else None
        if row is not None:
            documents.append(row.document)
    return [_parsed(d) for d in documents]


def _parsed(document: str) -> Policy:
    return Policy.parse(json.loads(document))


def identity_decision(store: SQLiteStore, principal: Principal, ctx: RequestContext) -> Decision:
    """What the caller's own identity (and session) policies say about ``ctx``."""
    decision = decide(identity_policies(store, principal), ctx)
    bounded = session_policies(store, principal)
    if decision is Decision.ALLOW and bounded is not None:
        decision = decide(bounded, ctx)
    return decision


def authorize(directory: Directory, principal: Principal, action: str, resource: str) -> None:
    """Return when ``principal`` may perform ``action`` on ``resource``; else ``AccessDenied``."""
    if principal.is_root:
        return
    ctx = RequestContext(action, resource, keys={"aws:principalarn": [principal.arn]})
    if identity_decision(directory.store, principal, ctx) is not Decision.ALLOW:
        raise not_authorized(principal.arn, action, resource)


def checked(document: str, kind: PolicyKind) -> str:
    """``document`` when IAM would accept it; ``MalformedPolicyDocument`` otherwise."""
    from trent.identity.errors import MalformedPolicyDocument
    from trent.policy import PolicyError

    try:
        check(document, kind)
    except PolicyError as exc:
        raise MalformedPolicyDocument(str(exc)) from None
    return document
