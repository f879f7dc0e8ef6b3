"""Authorization: the one call every operation makes before it acts, and who is calling.

``Authorizer.authorize(principal, action, resource)`` returns or raises
``AccessDeniedException``. Today ``AccountAuthorizer`` allows every principal on the resources of
its own account (each request acts in its caller's account); key policies and grants will
replace it without touching any operation (issue 10).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from trent.errors import catalogue as errors


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


class Authorizer(Protocol):
    def authorize(self, principal: Principal, action: str, resource: str) -> None:
        """Return when ``principal`` may perform ``action`` (e.g. ``kms:Encrypt``) on
        ``resource`` (a key ARN, or ``*`` for account-wide actions); raise otherwise."""
        ...


class AccountAuthorizer:
    """Allows every principal on its own account's resources, nothing else."""

    def authorize(self, principal: Principal, action: str, resource: str) -> None:
        if resource.split(":", 5)[4:5] != [principal.account_id]:
            raise errors.ACCESS_DENIED(principal=principal.arn, action=action, resource=resource)


class DenyAllAuthorizer:
    """Refuses everything; used to prove that every operation asks before acting."""

    def authorize(self, principal: Principal, action: str, resource: str) -> None:
        raise errors.ACCESS_DENIED(principal=principal.arn, action=action, resource=resource)
