"""HTTP for the XKS proxy API: ``POST [/<prefix>]/kms/xks/v1/keys/<externalKeyId>/{metadata,
encrypt,decrypt}`` and ``POST [/<prefix>]/kms/xks/v1/health`` on Trent's port.

Source: AWS's "AWS KMS External Keystore (XKS) Proxy API Specification". In order, a request is
refused with (the spec's error table, ``{"errorName", "errorMessage"}``):

1. ``InvalidUriPathException`` (404) when the path is none of the above (external key ids:
   1-128 characters of ``A-Za-z0-9.-_``), or, after authentication, is not under the prefix of
   the credential that signed it; HTTP 405 (``Allow: POST``) for another method;
2. ``AuthenticationFailedException`` (401) unless SigV4 for service ``kms-xks-proxy`` verifies
   (any region: the region is the one KMS calls from; 5 minutes of clock skew) with an XKS
   credential (``trent admin create-xks-credential``). AWS KMS signs ``host;x-amz-date`` only,
   so an unsigned ``Content-Type`` is accepted here (nothing is decided on it);
3. ``ValidationException`` (400) for a body that is not a JSON object of the spec's fields,
   ``UnsupportedOperationException`` (501) for a body over 64 KiB;
4. then the operation's own errors (``trent.xks.proxy``); anything unexpected is
   ``InternalException`` (500), logged without the request's values.

Every request, refused or not, leaves an audit record (``trent.xks.record``) before its reply;
when it cannot be written the reply is ``InternalException``. Store reads run under the app's
store lock, as KMS requests do, so no uncommitted change of another request is ever read.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

import orjson

from trent.audit import AuditLog
from trent.clock import Clock
from trent.errors import KMSError
from trent.operations import Env
from trent.protocol.sigv4 import SigV4Verifier, canonical_headers
from trent.store.health import StorageHealth
from trent.xks.credentials import ACCESS_KEY_ID, API_PATH, CredentialCache
from trent.xks.errors import (
    AuthenticationFailedException,
    InternalException,
    InvalidUriPathException,
    UnsupportedOperationException,
    ValidationException,
    XksError,
)
from trent.xks.proxy import Api, XksCall, XksProxy
from trent.xks.record import build_xks_record

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SERVICE = "kms-xks-proxy"
MARKER = "/kms/xks/"  # the cheap test asgi.py dispatches on
MAX_BODY_BYTES = 64 * 1024
MAX_USER_AGENT = 256
_REGION_CACHE = 64
_PATH = re.compile(
    r"(?P<prefix>(?:/[A-Za-z0-9_-]+)*?)/kms/xks/v1/"
    r"(?:keys/(?P<key>[A-Za-z0-9._-]{1,128})/(?P<op>metadata|encrypt|decrypt)|(?P<health>health))"
)
_OPERATIONS = {"metadata": Api.GET_KEY_METADATA, "encrypt": Api.ENCRYPT, "decrypt": Api.DECRYPT}
_REGION = re.compile(r"[a-z]{2,4}(-[a-z0-9]{1,16}){1,4}")
log = logging.getLogger("trent.xks")


class App(Protocol):
    """What the endpoint needs of ``TrentApp`` (read at each request: ``store_lock`` is
    replaced after construction)."""

    env: Env
    audit: AuditLog | None
    wall_clock: Clock
    health: StorageHealth
    store_lock: Any


class _Gone(Exception):
    """The client left before its request arrived whole."""


class XksEndpoint:
    """The ASGI handler of XKS proxy paths for one worker."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.credentials = CredentialCache(app.env.store, app.env.barrier)
        self.proxy = XksProxy(app.env, lambda: app.health.check())
        self._verifiers: dict[str, SigV4Verifier] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app, env = self.app, self.app.env
        request_id, event_id = str(uuid.uuid4()), str(uuid.uuid4())
        event_time = env.clock.now()
        headers = canonical_headers(scope["headers"])
        match = _PATH.fullmatch(scope["path"])
        call = XksCall(Api.GET_HEALTH_STATUS, None)
        prefix: str | None = None
        access_key_id, verified = _claimed(headers), False
        error: tuple[str, str] | None = None
        extra: list[tuple[bytes, bytes]] = []
        try:
            if match is None:
                raise InvalidUriPathException("The URI path is not an XKS proxy API path.")
            prefix = match["prefix"]
            if not match["health"]:
                call = XksCall(_OPERATIONS[match["op"]], match["key"])
            if scope["method"] != "POST":
                raise _NotPost()
            body = await _read_body(receive, headers)
            async with app.store_lock:
                env.refresh()
                self.credentials.refresh()
                access_key_id = self._verify(scope, headers, body)
                verified = True
                credential = self.credentials.get(access_key_id)
                if credential is None:  # deleted between verify and here: cannot happen locked
                    raise AuthenticationFailedException("The credential is not recognized.")
                if credential.path_prefix != prefix:
                    raise InvalidUriPathException(
                        "The URI path is not under this credential's XksProxyUriPath."
                    )
                try:
                    document = orjson.loads(body)
                except orjson.JSONDecodeError:
                    raise ValidationException("The request body is not JSON.") from None
                reply = self.proxy.run(call, credential, document)
            status, payload = 200, orjson.dumps(reply)
        except _Gone:
            return
        except XksError as exc:
            error = (exc.name, exc.message)
            status, payload = exc.status, _error_body(exc)
            if status == _NotPost.status:
                extra.append((b"allow", b"POST"))
        except Exception:
            log.exception("internal error in XKS %s (request %s)", call.api, request_id)
            internal = InternalException("The XKS proxy failed to process the request.")
            error = (internal.name, internal.message)
            status, payload = internal.status, _error_body(internal)
        if app.audit is not None:
            record = build_xks_record(
                call,
                uri_path=None if prefix is None else prefix + API_PATH,
                access_key_id=access_key_id,
                verified=verified,
                error=error,
                request_id=request_id,
                event_id=event_id,
                event_time=event_time,
                region=env.region,
                account_id=env.account_id,
                source_ip=(scope.get("client") or ("", 0))[0],
                user_agent=headers.get("user-agent", "")[:MAX_USER_AGENT],
            )
            try:
                await app.audit.append(orjson.dumps(record) + b"\n")
            except Exception as exc:
                app.health.failed("audit log", exc)
                internal = InternalException("The XKS proxy failed to process the request.")
                status, payload = internal.status, _error_body(internal)
        await _respond(send, status, payload, extra)

    def _verify(self, scope: Scope, headers: dict[str, str], body: bytes) -> str:
        """The access key id of a correctly signed request, or ``AuthenticationFailedException``
        carrying the SigV4 verifier's (AWS-worded, secret-free) reason."""
        authorization = headers.get("authorization", "")
        signed = _field(authorization, "SignedHeaders").split(";")
        if "content-type" in headers and "content-type" not in signed:
            headers = {k: v for k, v in headers.items() if k != "content-type"}
        try:
            return self._verifier(_field(authorization, "Credential")).verify(
                method="POST",
                path=(scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
                query=scope["query_string"].decode("latin-1"),
                headers=headers,
                body=body,
                now=self.app.wall_clock.now(),
            )
        except KMSError as exc:
            raise AuthenticationFailedException(exc.message or exc.type_name) from None

    def _verifier(self, credential: str) -> SigV4Verifier:
        """A verifier for the region the credential scope names (AWS KMS signs with the region
        it calls from); Trent's own region when the scope names none that looks like one."""
        parts = credential.split("/")
        region = parts[2] if len(parts) == 5 and _REGION.fullmatch(parts[2]) else ""
        region = region or self.app.env.region
        verifier = self._verifiers.get(region)
        if verifier is None:
            if len(self._verifiers) >= _REGION_CACHE:
                self._verifiers.clear()
            verifier = SigV4Verifier(
                region=region, lookup_secret=self.credentials.secret, service=SERVICE
            )
            self._verifiers[region] = verifier
        return verifier


class _NotPost(XksError):
    """HTTP 405 for a method other than POST (the spec: MUST reject a GET with 405)."""

    status = 405

    def __init__(self) -> None:
        super().__init__("The XKS proxy APIs accept POST only.")

    @property
    def name(self) -> str:
        return "ValidationException"


def _field(authorization: str, name: str) -> str:
    """One ``name=value`` field of a SigV4 ``Authorization`` header, ``""`` when absent."""
    start = authorization.find(name + "=")
    if start < 0:
        return ""
    return authorization[start + len(name) + 1 :].split(",", 1)[0].strip()


def _claimed(headers: dict[str, str]) -> str | None:
    """The access key id the caller names, kept for the audit trail if it has the form of one."""
    claimed = _field(headers.get("authorization", ""), "Credential").split("/", 1)[0]
    return claimed if ACCESS_KEY_ID.fullmatch(claimed) else None


def _error_body(exc: XksError) -> bytes:
    return orjson.dumps({"errorName": exc.name, "errorMessage": exc.message})


async def _read_body(receive: Receive, headers: dict[str, str]) -> bytes:
    declared = headers.get("content-length", "")
    too_large = UnsupportedOperationException(f"The request body exceeds {MAX_BODY_BYTES} bytes.")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, payload: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
