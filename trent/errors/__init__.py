"""Every error Trent returns to a caller, named and shaped like AWS KMS's.

One root class, ``KMSError``; each subclass carries the AWS ``__type`` name (its class name)
and the HTTP status. The protocol layer turns any ``KMSError`` into
``{"__type": ..., "message": ...}``, or ``{"__type": ...}`` alone when the error has no message
(as AWS sends ``InvalidCiphertextException``); anything else becomes ``KMSInternalException``
with a generic message, so no traceback or secret ever leaves the server.

A ``detail`` is Trent's own explanation: it goes to the audit record's ``errorMessage`` and the
server log, never to the caller. Operations raise through ``trent.errors.catalogue``, the one
table of every code and message, with the source each rests on.
"""

from __future__ import annotations


class KMSError(Exception):
    """Root of every error a caller can see."""

    status: int = 400

    def __init__(self, message: str | None = None, *, detail: str | None = None) -> None:
        super().__init__(detail or message or type(self).__name__)
        self.message = message  # what the caller sees; None: no "message" member at all
        self.detail = detail  # audit trail and server log only

    @property
    def audit_message(self) -> str | None:
        """The audit record's ``errorMessage``: the detail when there is one."""
        return self.detail if self.detail is not None else self.message

    @property
    def type_name(self) -> str:
        return type(self).__name__


# --- protocol and authentication -------------------------------------------------------------
class MissingAuthenticationTokenException(KMSError):
    pass


class IncompleteSignatureException(KMSError):
    pass


class UnrecognizedClientException(KMSError):
    pass


class InvalidSignatureException(KMSError):
    pass


class AccessDeniedException(KMSError):
    pass


class UnknownOperationException(KMSError):
    pass


class SerializationException(KMSError):
    pass


class ValidationException(KMSError):
    pass


class UnsupportedOperationException(KMSError):
    pass


class DryRunOperationException(KMSError):
    """Raised by a DryRun request that would have succeeded."""


# --- the KMS exceptions of the service model -------------------------------------------------
class AlreadyExistsException(KMSError):
    pass


class ConflictException(KMSError):
    pass


class DisabledException(KMSError):
    pass


class ExpiredImportTokenException(KMSError):
    pass


class IncorrectKeyException(KMSError):
    pass


class IncorrectKeyMaterialException(KMSError):
    pass


class InvalidAliasNameException(KMSError):
    pass


class InvalidArnException(KMSError):
    pass


class InvalidCiphertextException(KMSError):
    pass


class InvalidGrantIdException(KMSError):
    pass


class InvalidGrantTokenException(KMSError):
    pass


class InvalidImportTokenException(KMSError):
    pass


class InvalidKeyUsageException(KMSError):
    pass


class InvalidMarkerException(KMSError):
    pass


class KMSInvalidMacException(KMSError):
    pass


class KMSInvalidSignatureException(KMSError):
    pass


class KMSInvalidStateException(KMSError):
    pass


class LimitExceededException(KMSError):
    pass


class MalformedPolicyDocumentException(KMSError):
    pass


class NotFoundException(KMSError):
    pass


class TagException(KMSError):
    pass


class KMSInternalException(KMSError):
    status = 500


class KeyUnavailableException(KMSError):
    status = 500


class DependencyTimeoutException(KMSError):
    status = 503


class CustomKeyStoreNotFoundException(KMSError):
    pass


# --- custom key stores (external key stores, issue 13) ------------------------------------------
class CustomKeyStoreNameInUseException(KMSError):
    pass


class CustomKeyStoreInvalidStateException(KMSError):
    pass


class CustomKeyStoreHasCMKsException(KMSError):
    pass


class XksProxyUriInUseException(KMSError):
    pass


class XksProxyUriUnreachableException(KMSError):
    pass


class XksProxyIncorrectAuthenticationCredentialException(KMSError):
    pass


class XksProxyInvalidConfigurationException(KMSError):
    pass


class XksProxyInvalidResponseException(KMSError):
    pass


class XksProxyVpcEndpointServiceNotFoundException(KMSError):
    pass


class XksKeyNotFoundException(KMSError):
    pass


class XksKeyInvalidConfigurationException(KMSError):
    pass


class XksKeyAlreadyInUseException(KMSError):
    pass
