"""What IAM and STS operations are handed, and who may call them.

``Directory`` bundles the store (its identity tables), the barrier, the clock and the region.
``authorize`` decides an IAM or STS action with the one evaluator (``trent.policy`` through
``trent.authz.kms.PolicyAuthorizer.decide_identity``): root may do everything in its own
account; a user needs an identity policy (inline or attached) that allows the action on the
resource, and a role session its role's policies and, when it has one, its session policy; an
explicit ``Deny`` wins. Refusals are IAM's ``AccessDenied`` with AWS's message ("User: <arn> is
not authorized to perform: iam:CreateUser on resource: <arn> because no identity-based policy
allows the iam:CreateUser action", IAM User Guide, "Troubleshoot access denied error messages").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trent.authz import PolicyAuthorizer, Principal
from trent.authz.sources import PolicySources, policy_arn_parts, principal_exists
from trent.authz.verdict import PolicyType, Verdict
from trent.clock import Clock
from trent.identity.errors import AccessDenied
from trent.operations import Call
from trent.policy import Decision, Policy, PolicyKind, RequestContext, check, decide
from trent.seal import Barrier
from trent.store import SQLiteStore

__all__ = ["Directory", "Handler", "authorize", "checked", "identity_decision", "policy_arn_parts"]


@dataclass
class Directory:
    store: SQLiteStore
    barrier: Barrier
    clock: Clock
    region: str
    authorizer: PolicyAuthorizer | None = field(default=None, repr=False)

    def policies(self) -> PolicyAuthorizer:
        if self.authorizer is None:
            self.authorizer = PolicyAuthorizer(self.store)
        return self.authorizer


Handler = Callable[[Directory, Call, dict[str, Any]], dict[str, Any]]


def identity_policies(store: SQLiteStore, principal: Principal) -> list[Policy]:
    """The identity policies of a user, or of a session's role (inline and attached)."""
    return list(PolicySources(store).identity(principal))


def session_policies(store: SQLiteStore, principal: Principal) -> list[Policy] | None:
    """A session's session policies (inline and managed), or None when it has none."""
    found = PolicySources(store).session(principal)
    return None if found is None else list(found)


def identity_decision(store: SQLiteStore, principal: Principal, ctx: RequestContext) -> Decision:
    """What the caller's own identity (and session) policies say about ``ctx``."""
    decision = decide(identity_policies(store, principal), ctx)
    bounded = session_policies(store, principal)
    if decision is Decision.ALLOW and bounded is not None:
        decision = decide(bounded, ctx)
    return decision


def denied(principal_arn: str, action: str, resource: str, verdict: Verdict) -> AccessDenied:
    """IAM's ``AccessDenied`` for a refusing ``verdict``, worded as AWS words it."""
    head = f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource}"
    kind = verdict.policy if verdict.policy is not PolicyType.ROOT else PolicyType.IDENTITY
    if verdict.decision is Decision.EXPLICIT_DENY:
        article = "an" if kind is PolicyType.IDENTITY else "a"
        return AccessDenied(f"{head} with an explicit deny in {article} {kind} policy")
    return AccessDenied(f"{head} because no {kind} policy allows the {action} action")


def authorize(
    directory: Directory,
    principal: Principal,
    action: str,
    resource: str,
    reasons: list[object] | None = None,
) -> None:
    """Return when ``principal`` may perform ``action`` on ``resource``; else ``AccessDenied``.
    The verdict's reason is appended to ``reasons`` (the audit record's) either way."""
    verdict = directory.policies().decide_identity(principal, action, resource)
    if reasons is not None:
        reasons.append(verdict)
    if not verdict.allowed:
        raise denied(principal.arn, action, resource, verdict)


def checked(document: str, kind: PolicyKind, store: Any = None) -> str:
    """``document`` when IAM would accept it; ``MalformedPolicyDocument`` otherwise. Given
    ``store``, a trust policy's ``AWS`` principals must exist (IAM's 'Invalid principal in
    policy: "AWS":"<arn>"', as recorded in issue aws-samples/aws-iam-access-key-auto-rotation#26
    for a role that does not exist)."""
    from trent.identity.errors import MalformedPolicyDocument
    from trent.policy import PolicyError

    known = None if store is None else (lambda name: principal_exists(store, name))
    try:
        check(document, kind, known)
    except PolicyError as exc:
        raise MalformedPolicyDocument(str(exc)) from None
    return document
