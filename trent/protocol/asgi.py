"""The ASGI application: one request path, no framework.

``POST /`` with ``X-Amz-Target: TrentService.<Operation>``: read the body, verify SigV4, find the
operation, parse and validate the body against the service model, run the handler, write the
audit record (durable before the reply leaves), reply. Every ``KMSError`` becomes
``{"__type", "message"}`` with its status; anything else is logged and answered as
``KMSInternalException`` without details. ``GET /healthz`` answers unauthenticated.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from trent.audit import AuditLog, build_record
from trent.authz import Principal
from trent.clock import Clock
from trent.errors import (
    KMSError,
    SerializationException,
    UnknownOperationException,
    UnsupportedOperationException,
)
from trent.operations import OPERATIONS, Call, Env, Handler
from trent.protocol import json11
from trent.protocol.limits import (
    MAX_AUDIT_USER_AGENT,
    MAX_BODY_BYTES,
    MAX_OPERATION_NAME,
)
from trent.protocol.shapes import ServiceModel
from trent.protocol.sigv4 import SigV4Verifier, canonical_headers
from trent.seal import BarrierError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Hook = Callable[[], Awaitable[None]]

TARGET_PREFIX = "TrentService."
# An operation name as the service model spells them (letters only), bounded.
_OPERATION = re.compile(rf"[A-Za-z]{{1,{MAX_OPERATION_NAME}}}", re.ASCII)
# IAM's AccessKeyId: 16 to 128 word characters (IAM API Reference, AccessKey).
_ACCESS_KEY_ID = re.compile(r"\w{16,128}", re.ASCII)
ACCESS_KEY_PURPOSE = "access-key"
log = logging.getLogger("trent.request")


class Credentials:
    """Access keys by id, unsealed once per worker (secrets are only stored sealed)."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self._secrets: dict[str, tuple[str, Principal]] = {}

    def secret(self, access_key_id: str) -> str | None:
        entry = self._secrets.get(access_key_id) or self._load(access_key_id)
        return entry[0] if entry else None

    def principal(self, access_key_id: str) -> Principal:
        return self._secrets[access_key_id][1]

    def _load(self, access_key_id: str) -> tuple[str, Principal] | None:
        row = self.env.store.get_access_key(access_key_id)
        if row is None:
            return None
        try:
            secret = self.env.barrier.open(ACCESS_KEY_PURPOSE, access_key_id, row.sealed_secret)
        except BarrierError:
            log.error("access key %s failed to unseal", access_key_id)
            return None
        entry = (secret.decode(), Principal(self.env.account_id, row.principal, access_key_id))
        self._secrets[access_key_id] = entry
        return entry


class TrentApp:
    def __init__(
        self,
        env: Env,
        audit: AuditLog | None = None,
        *,
        wall_clock: Clock | None = None,
        model: ServiceModel | None = None,
        on_startup: list[Hook] | None = None,
        on_shutdown: list[Hook] | None = None,
        after_call: Callable[[Call], None] | None = None,
    ) -> None:
        self.env = env
        self.audit = audit
        self.wall_clock = wall_clock or env.clock  # SigV4 skew is checked against real time
        self.model = model or ServiceModel.load()
        self.credentials = Credentials(env)
        self.verifier = SigV4Verifier(region=env.region, lookup_secret=self.credentials.secret)
        self.operations: dict[str, Handler] = OPERATIONS
        self.on_startup = on_startup or []
        self.on_shutdown = on_shutdown or []
        self.after_call = after_call

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] == "GET" and scope["path"] == "/healthz":
            await _respond(send, 200, b'{"status":"ok"}', "")
            return
        env = self.env
        env.refresh()
        request_id, event_id = _new_ids()
        call = Call(request_id, event_id, env.clock.now())
        headers = canonical_headers(scope["headers"])
        try:
            body = await _read_body(receive, headers)
            status, payload = 200, self.handle(scope, headers, body, call)
        except _ClientGone:
            return  # the request never arrived whole: nothing ran, nothing to answer or record
        except KMSError as exc:
            status, payload = exc.status, json11.error_body(exc.type_name, exc.message)
            call.error_code, call.error_message = exc.type_name, exc.message
        except Exception:
            log.exception("internal error in %s (request %s)", call.operation, call.request_id)
            status = 500
            payload = json11.error_body("KMSInternalException", "An internal error occurred.")
            call.error_code = "KMSInternalException"
            call.error_message = "An internal error occurred."
        if self.audit is not None:
            record = build_record(
                call,
                region=env.region,
                account_id=env.account_id,
                source_ip=(scope.get("client") or ("", 0))[0],
                user_agent=_shown_agent(headers.get("user-agent", "")),
            )
            await self.audit.append(orjson.dumps(record) + b"\n")
        if self.after_call is not None and call.error_code is None:
            self.after_call(call)
        await _respond(send, status, payload, call.request_id)

    def handle(self, scope: Scope, headers: dict[str, str], body: bytes, call: Call) -> bytes:
        call.operation = _operation(headers.get("x-amz-target"))
        if scope["method"] != "POST":
            raise UnknownOperationException("Only POST / is served.")
        call.claimed_access_key_id = _claimed_access_key(headers)
        access_key_id = self.verifier.verify(
            method="POST",
            path=(scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
            query=scope["query_string"].decode("latin-1"),
            headers=headers,
            body=body,
            now=self.wall_clock.now(),
        )
        call.principal = self.credentials.principal(access_key_id)
        handler = self.operations.get(call.operation)
        if handler is None:
            if call.operation in self.model.operation_names:
                raise UnsupportedOperationException(
                    f"Trent does not implement {call.operation} yet."
                )
            raise UnknownOperationException("")  # AWS answers {"__type": ...} alone here
        try:
            document = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError as exc:
            raise SerializationException("The request body is not valid JSON.") from exc
        call.request = self.model.parse_input(call.operation, document)
        call.response = handler(self.env, call, call.request)
        return json11.encode(call.response)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                for hook in self.on_startup:
                    await hook()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for hook in self.on_shutdown:
                    await hook()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _new_ids() -> tuple[str, str]:
    """Two random version-4 UUID strings (request id, event id) from one urandom call."""
    raw = bytearray(os.urandom(32))
    for offset in (0, 16):
        raw[offset + 6] = (raw[offset + 6] & 0x0F) | 0x40
        raw[offset + 8] = (raw[offset + 8] & 0x3F) | 0x80
    h = raw.hex()
    return (
        f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}",
        f"{h[32:40]}-{h[40:44]}-{h[44:48]}-{h[48:52]}-{h[52:64]}",
    )


def _operation(target: str | None) -> str:
    """The operation ``X-Amz-Target`` names: ``TrentService.<Name>`` exactly, else ``""``.

    A bare ``ListKeys``, a repeated header (SigV4 joins repeats with ``","``) or anything longer
    than any operation name names none, and is answered ``UnknownOperationException``.
    """
    if target is None or not target.startswith(TARGET_PREFIX):
        return ""
    name = target[len(TARGET_PREFIX) :]
    return name if _OPERATION.fullmatch(name) else ""


def _shown_agent(user_agent: str) -> str:
    """The ``User-Agent`` as the audit record keeps it: at most ``MAX_AUDIT_USER_AGENT`` chars."""
    return user_agent[:MAX_AUDIT_USER_AGENT]


def _claimed_access_key(headers: dict[str, str]) -> str | None:
    """The access key id the caller names (for the audit trail of refused requests).

    Kept only if it has the form of an IAM access key id (16 to 128 word characters).
    """
    authorization = headers.get("authorization", "")
    start = authorization.find("Credential=")
    if start < 0:
        return None
    claimed = authorization[start + 11 : start + 11 + 129].split("/", 1)[0]
    return claimed if _ACCESS_KEY_ID.fullmatch(claimed) else None


class _ClientGone(Exception):
    """The client went away (or was timed out) before its request arrived whole."""


async def _read_body(receive: Receive, headers: dict[str, str]) -> bytes:
    """The request body, refused unread if ``Content-Length`` is over ``MAX_BODY_BYTES``."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise SerializationException("The request body is too large.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise SerializationException("The request body is too large.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, payload: bytes, request_id: str) -> None:
    headers = [
        (b"content-type", json11.CONTENT_TYPE),
        (b"content-length", str(len(payload)).encode()),
    ]
    if request_id:
        headers.append((b"x-amzn-requestid", request_id.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
