"""The XKS proxy's errors: the error table of AWS's "AWS KMS External Keystore (XKS) Proxy API
Specification" ("Error codes"), one class per ``errorName`` with its HTTP status.

The protocol layer answers every ``XksError`` as ``{"errorName": ..., "errorMessage": ...}``
with the class's status; the message is printable ASCII under 512 characters, as the spec
requires, and never carries a secret, a plaintext or a key.
"""

from __future__ import annotations

MAX_MESSAGE = 511  # the spec: "MUST be less than 512 characters"


class XksError(Exception):
    """Root of every error the XKS proxy returns; ``name`` is the spec's ``errorName``."""

    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = printable(message)

    @property
    def name(self) -> str:
        return type(self).__name__


def printable(text: str) -> str:
    """``text`` kept to printable ASCII (0x20-0x7e) and cut under 512 characters."""
    kept = "".join(c if " " <= c <= "~" else "?" for c in text)
    return kept[:MAX_MESSAGE]


class ValidationException(XksError):
    """400: one or more input parameters is invalid (all APIs but GetHealthStatus)."""


class InvalidStateException(XksError):
    """400: the external key (a Trent key not in state Enabled) cannot be used."""


class InvalidCiphertextException(XksError):
    """400 (Decrypt): ciphertext, IV, AAD, metadata or tag corrupted, missing or invalid."""


class InvalidKeyUsageException(XksError):
    """400 (Encrypt, Decrypt): the key does not support the operation."""


class AuthenticationFailedException(XksError):
    """401: the SigV4 signature is missing or invalid."""

    status = 401


class AccessDeniedException(XksError):
    """403: secondary authorization on ``requestMetadata`` refused the request."""

    status = 403


class KeyNotFoundException(XksError):
    """404: no such external key (or not one this credential serves)."""

    status = 404


class InvalidUriPathException(XksError):
    """404: the URI path is not an XKS proxy path (or not this credential's prefix)."""

    status = 404


class ThrottlingException(XksError):
    """429: the request rate is too high."""

    status = 429


class UnsupportedOperationException(XksError):
    """501: an operation or a parameter size Trent does not support."""

    status = 501


class DependencyTimeoutException(XksError):
    """503: a dependency (storage) timed out."""

    status = 503


class InternalException(XksError):
    """500: a generic server error (storage or audit failure)."""

    status = 500
