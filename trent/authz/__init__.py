"""Authorization: the one call every operation makes before it acts.

``Authorizer.authorize(principal, action, resource)`` returns or raises
``AccessDeniedException``. Today ``AccountAuthorizer`` allows every principal of the server's
account; key policies and grants will replace it without touching any operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from trent.errors import catalogue as errors


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: resolved from the SigV4 access key."""

    account_id: str
    arn: str
    access_key_id: str


class Authorizer(Protocol):
    def authorize(self, principal: Principal, action: str, resource: str) -> None:
        """Return when ``principal`` may perform ``action`` (e.g. ``kms:Encrypt``) on
        ``resource`` (a key ARN, or ``*`` for account-wide actions); raise otherwise."""
        ...


class AccountAuthorizer:
    """Allows every principal of one account, nothing else."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    def authorize(self, principal: Principal, action: str, resource: str) -> None:
        if principal.account_id != self.account_id:
            raise errors.ACCESS_DENIED(principal=principal.arn, action=action, resource=resource)


class DenyAllAuthorizer:
    """Refuses everything; used to prove that every operation asks before acting."""

    def authorize(self, principal: Principal, action: str, resource: str) -> None:
        raise errors.ACCESS_DENIED(principal=principal.arn, action=action, resource=resource)
