"""The answer of an authorization: allowed or refused, by which policy and statement.

``Verdict.decision`` is ``ALLOW``, ``EXPLICIT_DENY`` or ``IMPLICIT_DENY``
(``trent.policy.Decision``); ``policy`` the kind of policy that decided (for a refusal, the one
AWS names in its message: "because no resource-based policy allows the kms:Encrypt action",
"with an explicit deny in an identity-based policy", ...); ``statement`` the deciding statement's
``Sid`` (or its index when it has none), ``grant`` the grant id when a grant allowed.
``reason()`` is the text the audit record keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from trent.policy import Decision


class PolicyType(StrEnum):
    """The kinds of policy AWS names in its access-denied messages."""

    RESOURCE = "resource-based"  # the key policy
    IDENTITY = "identity-based"  # the user's or role's inline and managed policies
    SESSION = "session"  # an assumed-role session's session policies
    GRANT = "grant"  # a KMS grant (the grants engineer's hook)
    ROOT = "root"  # account-level actions of the account root user


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    policy: PolicyType
    statement: str | None = None
    grant: str | None = None

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW

    @classmethod
    def implicit(cls, policy: PolicyType) -> Verdict:
        return cls(Decision.IMPLICIT_DENY, policy)

    def __str__(self) -> str:
        return self.reason()

    def reason(self) -> str:
        """E.g. ``allowed by resource-based policy statement 'Enable IAM User Permissions'``,
        ``explicit deny in identity-based policy statement '0'``, ``no session policy allows``."""
        if self.grant is not None:
            return f"allowed by grant {self.grant}"
        if self.decision is Decision.IMPLICIT_DENY:
            return f"no {self.policy} policy allows"
        if self.policy is PolicyType.ROOT:
            return "allowed: account root"
        verb = "allowed by" if self.allowed else "explicit deny in"
        return f"{verb} {self.policy} policy statement '{self.statement}'"
