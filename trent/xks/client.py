"""An HTTP client for an external key store proxy: the caller's side of AWS's "AWS KMS External
Keystore (XKS) Proxy API Specification" (GetHealthStatus, GetKeyMetadata, Encrypt, Decrypt).

Requests are ``POST <endpoint><uri path>/health`` and ``.../keys/<id>/{metadata,encrypt,
decrypt}`` with the spec's JSON bodies (blobs base64), signed with SigV4 for the service
``kms-xks-proxy`` by botocore's ``SigV4Auth`` over ``host`` and ``x-amz-date`` (as AWS KMS signs,
the spec's Appendix A), sent with urllib3 (an ``https://`` proxy's certificate is checked
against the system's trusted CAs, plus the PEM CA certificates of ``TRENT_XKS_PROXY_CA_BUNDLE``
when set: ``trent serve --xks-proxy-ca-bundle FILE``, for a proxy with a private CA). Every
call has a deadline of ``TIMEOUT`` seconds (the spec's 250 ms; ``TRENT_XKS_PROXY_TIMEOUT``
overrides it, in seconds, for slow test machines).

Every failure is one ``ProxyFailure`` whose ``kind`` says what went wrong (unreachable, timed
out, TLS, an error reply with its ``errorName``, or a reply that is not what the spec says);
the operations layer maps it to AWS's exception or ConnectionErrorCode. The secret never
leaves this module: not in errors, reprs or logs.
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SERVICE = "kms-xks-proxy"
TIMEOUT = 0.25  # seconds: the spec's 250 ms


def timeout() -> float:
    """The deadline of one proxy call, in seconds: ``TRENT_XKS_PROXY_TIMEOUT`` or ``TIMEOUT``."""
    return float(os.environ.get("TRENT_XKS_PROXY_TIMEOUT") or TIMEOUT)


MAX_REPLY_BYTES = 64 * 1024
CA_BUNDLE_VARIABLE = "TRENT_XKS_PROXY_CA_BUNDLE"


def tls_context() -> ssl.SSLContext:
    """The context proxy certificates are verified with: the system's trusted CAs, and those of
    the PEM file ``TRENT_XKS_PROXY_CA_BUNDLE`` names (``--xks-proxy-ca-bundle``) when set."""
    context = ssl.create_default_context()
    bundle = os.environ.get(CA_BUNDLE_VARIABLE)
    if bundle:
        context.load_verify_locations(cafile=bundle)
    return context


_POOLS: list[urllib3.PoolManager] = []  # made on first use, after the settings reach environ


def _pool() -> urllib3.PoolManager:
    if not _POOLS:
        _POOLS.append(
            urllib3.PoolManager(num_pools=32, maxsize=4, retries=False, ssl_context=tls_context())
        )
    return _POOLS[0]


class FailureKind(StrEnum):
    UNREACHABLE = "unreachable"  # connection refused, no route, name not found
    TIMED_OUT = "timed out"
    TLS = "tls"  # the TLS handshake failed (certificate not trusted, ...)
    ERROR_REPLY = "error reply"  # the proxy answered with the spec's {"errorName", ...}
    INVALID_RESPONSE = "invalid response"  # not JSON, missing or malformed members


class ProxyFailure(Exception):
    """A proxy call that failed; ``error_name`` and ``status`` for an ``ERROR_REPLY``."""

    def __init__(
        self, kind: FailureKind, detail: str, error_name: str = "", status: int = 0
    ) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.error_name = error_name
        self.status = status


@dataclass(frozen=True)
class ProxyEndpoint:
    """Where a proxy is and how to sign for it. ``uri_endpoint`` is ``https://host[:port]``
    (or ``http://`` for a loopback host), ``uri_path`` ``[/prefix]/kms/xks/v1``."""

    uri_endpoint: str
    uri_path: str
    access_key_id: str
    secret: str = field(repr=False)
    region: str = "us-east-1"


@dataclass(frozen=True)
class Encrypted:
    """The proxy's Encrypt reply (the spec's four binary fields)."""

    ciphertext: bytes
    metadata: bytes
    iv: bytes
    tag: bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class ProxyClient:
    """Calls one proxy. ``request_metadata`` is the spec's object (awsPrincipalArn,
    kmsOperation, kmsRequestId, kmsKeyArn, kmsViaService when any)."""

    def __init__(self, endpoint: ProxyEndpoint) -> None:
        self.endpoint = endpoint

    def health(self, request_metadata: dict[str, str]) -> dict[str, Any]:
        """GetHealthStatus: the reply object (``xksProxyFleetSize``, ``ekmFleetDetails``...)."""
        reply = self._post("/health", {"requestMetadata": request_metadata})
        details = reply.get("ekmFleetDetails")
        if not isinstance(details, list) or not all(isinstance(d, dict) for d in details):
            raise ProxyFailure(FailureKind.INVALID_RESPONSE, "no ekmFleetDetails list")
        return reply

    def key_metadata(self, key_id: str, request_metadata: dict[str, str]) -> dict[str, Any]:
        """GetKeyMetadata: ``keySpec``, ``keyUsage`` (list), ``keyStatus``."""
        reply = self._post(f"/keys/{key_id}/metadata", {"requestMetadata": request_metadata})
        usage = reply.get("keyUsage")
        if not isinstance(reply.get("keySpec"), str) or not isinstance(usage, list):
            raise ProxyFailure(FailureKind.INVALID_RESPONSE, "keySpec or keyUsage missing")
        if not isinstance(reply.get("keyStatus"), str):
            raise ProxyFailure(FailureKind.INVALID_RESPONSE, "keyStatus missing")
        return reply

    def encrypt(
        self, key_id: str, plaintext: bytes, aad: bytes, request_metadata: dict[str, str]
    ) -> Encrypted:
        """Encrypt with AES_GCM; the reply's fields decoded and checked for size (IV 12 or 16
        bytes, tag 16, metadata at most 20, ciphertext as long as the plaintext)."""
        body = {
            "requestMetadata": request_metadata,
            "plaintext": _b64(plaintext),
            "encryptionAlgorithm": "AES_GCM",
            "additionalAuthenticatedData": _b64(aad),
        }
        reply = self._post(f"/keys/{key_id}/encrypt", body)
        out = Encrypted(
            _blob(reply, "ciphertext"),
            _blob(reply, "ciphertextMetadata", optional=True),
            _blob(reply, "initializationVector"),
            _blob(reply, "authenticationTag"),
        )
        if (
            len(out.ciphertext) != len(plaintext)
            or len(out.iv) not in (12, 16)
            or len(out.tag) != 16
            or len(out.metadata) > 20
        ):
            raise ProxyFailure(FailureKind.INVALID_RESPONSE, "Encrypt reply fields of wrong size")
        return out

    def decrypt(
        self, key_id: str, sealed: Encrypted, aad: bytes, request_metadata: dict[str, str]
    ) -> bytes:
        """Decrypt: the plaintext."""
        body: dict[str, Any] = {
            "requestMetadata": request_metadata,
            "encryptionAlgorithm": "AES_GCM",
            "ciphertext": _b64(sealed.ciphertext),
            "initializationVector": _b64(sealed.iv),
            "authenticationTag": _b64(sealed.tag),
            "additionalAuthenticatedData": _b64(aad),
        }
        if sealed.metadata:
            body["ciphertextMetadata"] = _b64(sealed.metadata)
        reply = self._post(f"/keys/{key_id}/decrypt", body)
        plaintext = _blob(reply, "plaintext")
        if len(plaintext) != len(sealed.ciphertext):
            raise ProxyFailure(FailureKind.INVALID_RESPONSE, "plaintext of wrong size")
        return plaintext

    # --- transport ----------------------------------------------------------------------------
    def _post(self, suffix: str, body: dict[str, Any]) -> dict[str, Any]:
        endpoint = self.endpoint
        url = endpoint.uri_endpoint + endpoint.uri_path + suffix
        data = orjson.dumps(body)
        request = AWSRequest(
            method="POST", url=url, data=data, headers={"Content-Type": "application/json"}
        )
        credentials = Credentials(endpoint.access_key_id, endpoint.secret)
        _KmsSigner(credentials, SERVICE, endpoint.region).add_auth(request)
        try:
            response = _pool().request(
                "POST",
                url,
                body=data,
                headers=dict(request.headers.items()),
                timeout=urllib3.Timeout(total=timeout()),
                preload_content=False,
                redirect=False,
            )
            try:
                raw = response.read(MAX_REPLY_BYTES + 1)
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise _transport_failure(exc) from None
        if len(raw) > MAX_REPLY_BYTES:
            raise ProxyFailure(FailureKind.INVALID_RESPONSE, "reply too large")
        try:
            reply = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ProxyFailure(
                FailureKind.INVALID_RESPONSE, f"HTTP {response.status}, not JSON"
            ) from None
        if not isinstance(reply, dict):
            raise ProxyFailure(FailureKind.INVALID_RESPONSE, "reply is not a JSON object")
        if response.status != 200:
            name = reply.get("errorName")
            if not isinstance(name, str):
                raise ProxyFailure(
                    FailureKind.INVALID_RESPONSE, f"HTTP {response.status} without errorName"
                )
            raise ProxyFailure(
                FailureKind.ERROR_REPLY, f"HTTP {response.status} {name}", name, response.status
            )
        return reply


def _transport_failure(exc: urllib3.exceptions.HTTPError) -> ProxyFailure:
    """What a urllib3 error means (a ``MaxRetryError`` carries the cause in ``reason``)."""
    cause: BaseException = exc
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        cause = exc.reason
    name = type(cause).__name__
    if isinstance(cause, urllib3.exceptions.SSLError):
        return ProxyFailure(FailureKind.TLS, name)
    # NewConnectionError subclasses ConnectTimeoutError in urllib3: test it first
    if isinstance(cause, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ProtocolError):
        return ProxyFailure(FailureKind.UNREACHABLE, name)
    if isinstance(cause, urllib3.exceptions.TimeoutError):
        return ProxyFailure(FailureKind.TIMED_OUT, name)
    return ProxyFailure(FailureKind.UNREACHABLE, name)


class _KmsSigner(SigV4Auth):  # type: ignore[misc]
    """SigV4 over ``host`` and ``x-amz-date`` only, as AWS KMS signs proxy requests."""

    def headers_to_sign(self, request: AWSRequest) -> Any:
        every = super().headers_to_sign(request)
        for name in list(every.keys()):
            if name not in ("host", "x-amz-date"):
                del every[name]
        return every


def _blob(reply: dict[str, Any], member: str, *, optional: bool = False) -> bytes:
    value = reply.get(member)
    if value is None and optional:
        return b""
    if not isinstance(value, str):
        raise ProxyFailure(FailureKind.INVALID_RESPONSE, f"{member} missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ProxyFailure(FailureKind.INVALID_RESPONSE, f"{member} is not base64") from None
