"""Errors of the IAM and STS APIs, named as botocore's ``iam`` and ``sts`` models name them.

Each is a ``KMSError`` (so the protocol layers treat it alike) whose ``type_name`` is the AWS
code and whose ``status`` is the model's ``httpStatusCode``. ``ExpiredTokenException`` is the
KMS spelling of an expired session token; the query protocol renames protocol errors per
service (``trent.protocol.query.QUERY_CODES``).
"""

from __future__ import annotations

from typing import ClassVar

from trent.errors import KMSError

EXPIRED_TOKEN = "The security token included in the request is expired"


class IdentityError(KMSError):
    code: ClassVar[str] = ""

    @property
    def type_name(self) -> str:
        return self.code or type(self).__name__


class NoSuchEntity(IdentityError):
    code = "NoSuchEntity"
    status = 404


class EntityAlreadyExists(IdentityError):
    code = "EntityAlreadyExists"
    status = 409


class DeleteConflict(IdentityError):
    code = "DeleteConflict"
    status = 409


class LimitExceeded(IdentityError):
    code = "LimitExceeded"
    status = 409


class MalformedPolicyDocument(IdentityError):
    code = "MalformedPolicyDocument"
    status = 400


class InvalidInput(IdentityError):
    code = "InvalidInput"
    status = 400


class ValidationError(IdentityError):
    code = "ValidationError"
    status = 400


class AccessDenied(IdentityError):
    code = "AccessDenied"
    status = 403


class InvalidAction(IdentityError):
    code = "InvalidAction"
    status = 400


class PackedPolicyTooLarge(IdentityError):
    code = "PackedPolicyTooLarge"
    status = 400


class ExpiredTokenException(KMSError):
    """An STS session token past its expiration (KMS's name; IAM/STS say ``ExpiredToken``)."""


def not_authorized(principal_arn: str, action: str, resource: str) -> AccessDenied:
    """IAM's refusal: "User: <arn> is not authorized to perform: <action> on resource:
    <resource>" (IAM User Guide, "Troubleshoot access denied error messages")."""
    return AccessDenied(
        f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource}"
    )
