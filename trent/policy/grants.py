"""Grants in evaluation: does a grant let this principal do this, with this encryption context?

Pure functions over ``Grant`` values; no storage, no HTTP. The rules follow the AWS KMS
Developer Guide ("Grants in AWS KMS", "Grant constraints") and the API Reference
(``GrantConstraints``):

- a grant allows its grantee principal the operations it lists (``ReEncryptFrom`` and
  ``ReEncryptTo`` separately; ``ReEncrypt`` needs both), and nothing else;
- a grant to a role (``arn:aws:iam::<acct>:role/<name>``) is used by that role's sessions;
- ``EncryptionContextSubset``: every pair of the constraint is in the request's encryption
  context (which may hold more); ``EncryptionContextEquals``: the request's context is exactly
  the constraint's pairs. Keys compare case-insensitively, values case-sensitively;
- a ``SourceArn`` constraint never holds (no request to Trent is made on behalf of an AWS
  resource), except for RetireGrant, to which it does not apply;
- the encryption context constraints apply only to operations that take an encryption context
  (``CONTEXT_OPERATIONS``); other operations a constrained grant lists (``DescribeKey``,
  ``RetireGrant``, ``CreateGrant``...) are allowed whatever the context.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# The grant operations whose requests carry an encryption context [API-ref GrantConstraints].
CONTEXT_OPERATIONS = frozenset(
    {
        "Encrypt",
        "Decrypt",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
    }
)


@dataclass(frozen=True, slots=True)
class Grant:
    """One grant as evaluation needs it.

    ``operations``: grant operation names (API-ref ``GrantOperation``); ``context_subset`` /
    ``context_equals``: the ``Constraints`` maps (``None``: no such constraint)."""

    grant_id: str
    key_id: str
    grantee_principal: str
    operations: frozenset[str]
    context_subset: Mapping[str, str] | None = None
    context_equals: Mapping[str, str] | None = None
    source_arn: str | None = None  # the SourceArn constraint; Trent's requests never have one

    def constrained(self) -> bool:
        return self.context_subset is not None or self.context_equals is not None


def _folded(context: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in context.items()}


def constraints_hold(grant: Grant, operation: str, context: Mapping[str, str] | None) -> bool:
    """True when ``grant``'s constraints allow ``operation`` with ``context`` (the request's
    encryption context; ``None`` or ``{}``: none given). A ``SourceArn`` constraint holds only
    for requests made on behalf of that AWS resource, which no request to Trent is; it does not
    apply to RetireGrant [API-ref GrantConstraints]."""
    if grant.source_arn is not None and operation != "RetireGrant":
        return False
    if operation not in CONTEXT_OPERATIONS or not grant.constrained():
        return True
    given = _folded(context or {})
    if grant.context_equals is not None and given != _folded(grant.context_equals):
        return False
    if grant.context_subset is not None:
        for k, v in _folded(grant.context_subset).items():
            if given.get(k) != v:
                return False
    return True


def grantee_matches(grantee: str, principal_arn: str, role_arn: str | None = None) -> bool:
    """The caller (``principal_arn``, and for an assumed-role session its role's ARN) is the
    grant's grantee."""
    return grantee == principal_arn or (role_arn is not None and grantee == role_arn)


def grant_allows(
    grants: Iterable[Grant],
    principal_arn: str,
    action: str,
    encryption_context: Mapping[str, str] | None,
    *,
    role_arn: str | None = None,
) -> str | None:
    """The id of the first grant that allows ``principal_arn`` (or its role, ``role_arn``) to
    perform ``action`` (a grant operation name, e.g. ``Encrypt``, ``ReEncryptFrom``; a
    ``kms:`` prefix is ignored) with ``encryption_context``; ``None`` when none does."""
    operation = action.removeprefix("kms:")
    for grant in grants:
        if (
            operation in grant.operations
            and grantee_matches(grant.grantee_principal, principal_arn, role_arn)
            and constraints_hold(grant, operation, encryption_context)
        ):
            return grant.grant_id
    return None
