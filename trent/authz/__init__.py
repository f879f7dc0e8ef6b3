"""Authorization: who is calling, and whether it may (issue 10; AWS KMS Developer Guide,
"Determining access to AWS KMS keys"; IAM User Guide, "Policy evaluation logic").

``Authorizer.decide(principal, action, resource, key_policy, keys)`` answers a ``Verdict``
(``trent.authz.verdict``) and changes nothing; ``Env.authorize`` (``trent.operations.context``)
asks it for every KMS request, consults the key's grants on an ``IMPLICIT_DENY`` and raises
``AccessDeniedException`` with AWS's message for the verdict. ``PolicyAuthorizer``
(``trent.authz.kms``) is the real one; ``DenyAllAuthorizer`` refuses everything (tests prove
every operation asks before it acts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class PrincipalType(StrEnum):
    """CloudTrail's ``userIdentity.type`` of a caller."""

    ROOT = "Root"
    USER = "IAMUser"
    ASSUMED_ROLE = "AssumedRole"


@dataclass(frozen=True, slots=True)
class RoleSession:
    """What an assumed-role session keeps for policy evaluation and the audit trail.

    ``policy`` is the session policy JSON (``""``: none); ``policy_arns`` the managed session
    policies; ``tags`` the session tags; times are epoch seconds; ``chained`` when a role session
    assumed it (AWS: role chaining, at most one hour)."""

    role_arn: str
    role_id: str
    role_name: str
    session_name: str
    created_at: float
    expires_at: float
    policy: str = ""
    policy_arns: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    chained: bool = False


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: resolved from the SigV4 access key (or STS session).

    ``arn``: ``arn:aws:iam::<account>:root``, ``...:user/<path><name>`` or
    ``arn:aws:sts::<account>:assumed-role/<role>/<session>``; ``principal_id`` as
    GetCallerIdentity's ``UserId`` (the account id for root, ``AIDA...`` for a user,
    ``AROA...:<session>`` for a session); ``name`` the user name (``None`` otherwise)."""

    account_id: str
    arn: str
    access_key_id: str
    type: PrincipalType = PrincipalType.USER
    principal_id: str = ""
    name: str | None = None
    session: RoleSession | None = None

    @property
    def is_root(self) -> bool:
        return self.type is PrincipalType.ROOT


from trent.authz.verdict import PolicyType, Verdict  # noqa: E402


class Authorizer(Protocol):
    def decide(
        self,
        principal: Principal,
        action: str,
        resource: str,
        key_policy: str | None = None,
        keys: Mapping[str, Sequence[str]] | None = None,
    ) -> Verdict:
        """May ``principal`` perform ``action`` (``kms:Encrypt``) on ``resource`` (a key ARN,
        or ``*`` for an account-level action, then ``key_policy`` is None)? ``keys``: the
        condition keys of the request (lower-cased names)."""
        ...


class DenyAllAuthorizer:
    """Refuses everything; used to prove that every operation asks before acting."""

    def decide(
        self,
        principal: Principal,
        action: str,
        resource: str,
        key_policy: str | None = None,
        keys: Mapping[str, Sequence[str]] | None = None,
    ) -> Verdict:
        return Verdict.implicit(PolicyType.IDENTITY)


from trent.authz.kms import PolicyAuthorizer  # noqa: E402

__all__ = [
    "Authorizer",
    "DenyAllAuthorizer",
    "PolicyAuthorizer",
    "PolicyType",
    "Principal",
    "PrincipalType",
    "RoleSession",
    "Verdict",
]
