"""The ASGI application: one request path, no framework.

``POST /`` with ``X-Amz-Target: TrentService.<Operation>``: read the body, verify SigV4, find the
operation, parse and validate the body against the service model; generate any key pair it needs
in another process, with no lock held (``trent.operations.pregen``); run the handler with its
change held uncommitted, write the audit record (durable before the change commits and before
the reply leaves), commit (its fsync on a thread), reply. Every ``KMSError`` becomes
``{"__type"}`` or ``{"__type", "message"}`` with its status; anything else is logged and answered as
``KMSInternalException`` without details. ``GET /healthz`` answers unauthenticated.

A form-encoded ``POST`` (``Content-Type: application/x-www-form-urlencoded``, one header test
before the KMS path) is an IAM or STS request in AWS's query protocol
(``trent.protocol.query``, operations in ``trent.identity``): same lock, audit and commit
discipline, XML answers. Every request acts in its caller's account (``Env.bind``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import re
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from trent.audit import AuditLog, build_identity_record, build_sign_in_record
from trent.audit.record import NODE_FIELD, record_line
from trent.authz import Principal
from trent.clock import Clock
from trent.errors import KMSError
from trent.errors import catalogue as errors
from trent.identity import iam, sts
from trent.identity.credentials import Credentials
from trent.identity.directory import Directory, authorize
from trent.identity.errors import InvalidAction
from trent.operations import OPERATIONS, Call, Env, Handler, imports, pregen
from trent.operations.context import Request, Response
from trent.protocol import json11, query
from trent.protocol.limits import (
    MAX_AUDIT_USER_AGENT,
    MAX_BODY_BYTES,
    MAX_OPERATION_NAME,
)
from trent.protocol.shapes import ServiceModel
from trent.protocol.sigv4 import SigV4Verifier, canonical_headers
from trent.protocol.xks import MARKER as XKS_MARKER
from trent.protocol.xks import XksEndpoint
from trent.store import SQLiteStore
from trent.store.health import StorageHealth, is_storage_fault

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Hook = Callable[[], Awaitable[None]]

TARGET_PREFIX = "TrentService."
CONSOLE_PREFIX = "/console"  # the web console's pages (trent.console)
_JSON = b"application/json"  # GET /healthz (not an AWS API answer)
_READS = ("GET", "HEAD")
METRICS_PATH = "/metrics"  # Prometheus scrapes (trent.metrics.endpoint)
CRYPTO_THREADS = 2  # offloaded private-key operations at once per worker
GLOBAL_REGION = "us-east-1"  # where AWS's global IAM and STS endpoints sign
# An operation name as the service model spells them (letters only), bounded.
_OPERATION = re.compile(rf"[A-Za-z]{{1,{MAX_OPERATION_NAME}}}", re.ASCII)
# IAM's AccessKeyId: 16 to 128 word characters (IAM API Reference, AccessKey).
_ACCESS_KEY_ID = re.compile(r"\w{16,128}", re.ASCII)
log = logging.getLogger("trent.request")


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
        health: StorageHealth | None = None,
    ) -> None:
        self.env = env
        self.audit = audit
        self.wall_clock = wall_clock or env.clock  # SigV4 skew is checked against real time
        self.model = model or ServiceModel.load()
        self.credentials = Credentials(env)
        # A region not served is refused as AWS refuses a scope it does not serve
        # (InvalidSignatureException "Credential should be scoped to a valid region.").
        served = env.regions or (env.region,)
        global_regions = {*served, GLOBAL_REGION}  # IAM and STS are global services
        self.verifier = SigV4Verifier(
            region=env.region,
            lookup_secret=self.credentials.secret,
            check_session_token=self.credentials.check_token,
            regions={"kms": served, "iam": global_regions, "sts": global_regions},
        )
        self.directory = (
            Directory(env.store, env.barrier, env.clock, env.region)
            if isinstance(env.store, SQLiteStore)
            else None
        )
        self.query_models: dict[str, query.QueryService] = {}
        self.operations: dict[str, Handler] = OPERATIONS
        self.on_startup = on_startup or []
        self.on_shutdown = on_shutdown or []
        self.after_call = after_call
        self.health = health or StorageHealth([])
        # One request at a time between its handler and the commit of a change it holds
        # (background writers in trent.app take it too): a held change is never joined by
        # another request's writes, nor read by another request before it commits.
        self.store_lock = asyncio.Lock()
        self.node: str | None = None  # named in each record when several nodes share a database
        # Key pairs are generated in other processes, off the event loop (trent.operations.pregen).
        self.keygen = pregen.KeyPairPool()
        self.commit_pool = ThreadPoolExecutor(1, thread_name_prefix="trent-commit")
        # RSA private-key operations (trent.operations.context.offload)
        self.crypto_pool = ThreadPoolExecutor(CRYPTO_THREADS, thread_name_prefix="trent-crypto")
        self.xks = XksEndpoint(self)  # the XKS proxy API (trent.protocol.xks)
        # The web console (trent.console), set by trent.app; it calls ``sign_in``/``perform``.
        self.console: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None
        # ``GET``/``HEAD /metrics`` (trent.metrics.MetricsRoute.scrape), set by trent.app: asked
        # here rather than wrapping this app, so a KMS request passes through no other layer.
        self.scrape: Callable[[Scope, Send], Awaitable[None]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] == "GET" and scope["path"] == "/healthz":
            await self._healthz(send)
            return
        if scope["path"] == METRICS_PATH and scope["method"] in _READS and self.scrape:
            await self.scrape(scope, send)
            return
        if XKS_MARKER in scope["path"]:
            await self.xks(scope, receive, send)
            return
        if self.console is not None and scope["path"].startswith(CONSOLE_PREFIX):
            await self.console(scope, receive, send)
            return
        env = self.env
        request_id, event_id = _new_ids()
        call = Call(request_id, event_id, env.clock.now())
        headers = canonical_headers(scope["headers"])
        if headers.get("content-type", "").startswith(query.FORM_TYPE):  # IAM and STS
            await self._query(scope, receive, send, headers, call)
            return
        turn = _Turn(self.store_lock)
        try:
            body = await _read_body(receive, headers)
            await turn.take()  # see _finish: a held change keeps it until commit
            env.refresh()
            self.credentials.refresh()
            handler = self.admit(scope, headers, body, call)
            call.response = await self._run_handler(call, handler, call.request or {}, turn)
            status, payload = 200, json11.encode(call.response)
        except _ClientGone:
            return  # the request never arrived whole: nothing ran, nothing to answer or record
        except KMSError as exc:
            status, payload = exc.status, json11.error_body(exc.type_name, exc.message)
            call.error_code, call.error_message = exc.type_name, exc.audit_message
            if exc.detail is not None:
                log.info("%s %s: %s", call.operation, exc.type_name, exc.detail)
        except Exception as exc:
            if is_storage_fault(exc):  # disk full: reported once by StorageHealth, no traceback
                self.health.failed("database", exc)
            else:
                log.exception("internal error in %s (request %s)", call.operation, call.request_id)
            status, payload = 500, _internal_error(call)
        status, payload = await self._finish(scope, headers, call, status, payload, turn)
        if self.after_call is not None:  # every answered request (metrics), failed too
            self.after_call(call)
        await _respond(send, status, payload, call.request_id)

    async def _finish(
        self,
        scope: Scope,
        headers: dict[str, str],
        call: Call,
        status: int,
        payload: bytes,
        turn: _Turn,
    ) -> tuple[int, bytes]:
        """Put the audit record on disk, then commit the request's held change; release the
        store lock. No change commits without its record and no reply leaves without it: when
        the record cannot be written the change is rolled back, and when the commit fails after
        the record was written a second record of the same request says it failed. Either way
        the caller gets ``KMSInternalException`` and the fault is reported once
        (``StorageHealth``), not per request."""
        store = self.env.store
        held = store.held
        if turn.held and not held:
            turn.give_back()  # nothing to commit: others need not wait for the fsync
        try:
            if self.audit is not None:
                try:
                    await self.audit.append(self._record(scope, headers, call))
                except Exception as exc:
                    self.health.failed("audit log", exc)
                    if held:
                        store.rollback_held()
                        self.env.keyring.invalidate()
                    return 500, _internal_error(call)
            if held:
                try:
                    # the commit's fsync runs off the loop; the store lock stays held
                    loop = asyncio.get_running_loop()
                    await loop.run_in_executor(self.commit_pool, store.commit_held)
                except Exception as exc:
                    self.health.failed("database", exc)
                    self.env.keyring.invalidate()
                    await self._retract(scope, headers, call)
                    return 500, _internal_error(call)
            self.health.succeeded()
            return status, payload
        finally:
            if held:
                if store.held:  # cancelled while waiting for the audit record
                    store.rollback_held()
                    self.env.keyring.invalidate()
                turn.give_back()

    async def _run_handler(
        self, call: Call, handler: Handler, request: Request, turn: _Turn
    ) -> Response:
        """Run ``handler`` for ``call`` with the store lock (``turn``) held; its response.

        Any key pair or unwrapping it needs is made first, off the loop, with the lock given
        back meanwhile (``trent.operations.pregen``); the change it makes stays held for
        ``_finish``; slow private-key cryptography it offloads runs after, on a thread, with
        the lock given back when no change is held (``trent.operations.context.offload``)."""
        env = self.env
        job = pregen.job_for(call.operation, request) or imports.unwrap_job(
            env, call.operation, request
        )
        if job is not None:
            turn.give_back()
            call.prepared = await self.keygen.run(job)
            await turn.take()
            env.refresh()
        call.may_offload = True
        with env.store.holding():
            response = handler(env, call, request)
        if call.offloaded is None:
            return response
        if not env.store.held:
            turn.give_back()  # it touches no storage: others need not wait
        return await self._run_offloaded(call)

    async def _run_offloaded(self, call: Call) -> Response:
        """Compute what the handler left to ``offload`` on ``crypto_pool`` (pyca/cryptography
        releases the GIL for RSA private-key operations, so the loop runs meanwhile)."""
        compute, call.offloaded = call.offloaded, None
        assert compute is not None
        return await asyncio.get_running_loop().run_in_executor(self.crypto_pool, compute)

    def new_call(self, operation: str) -> Call:
        """A ``Call`` for ``operation`` with fresh request and event ids (for ``perform``)."""
        request_id, event_id = _new_ids()
        return Call(request_id, event_id, self.env.clock.now(), operation=operation)

    async def now(self) -> float:
        """``env.clock``'s time after a refresh (a test clock moved by another process shows)."""
        async with self.store_lock:
            self.env.refresh()
            return self.env.clock.now()

    async def sign_in(
        self,
        scope: Scope,
        headers: dict[str, str],
        access_key_id: str,
        secret: str,
        token: str | None,
    ) -> Principal:
        """The principal of an access key id and its secret (and session token, for temporary
        credentials), checked as SigV4 checks them (``trent.identity.credentials``): an unknown
        or inactive key is ``UnrecognizedClientException``, a wrong secret
        ``InvalidSignatureException`` (AWS's words for a request signed with it), a bad or
        expired token as on the API. Used by the web console's sign-in; changes nothing but
        the audit trail, where each attempt is a CloudTrail ``ConsoleLogin`` event
        (``AwsConsoleSignIn``, ``responseElements.ConsoleLogin`` ``Success`` or ``Failure``).
        The access key id is recorded only when it names a key: a secret typed into the wrong
        field never reaches the trail."""
        call = self.new_call("ConsoleLogin")
        call.service = "signin"
        failure: KMSError | None = None
        principal: Principal | None = None
        async with self.store_lock:
            self.env.refresh()
            self.credentials.refresh()
            try:
                known = self.credentials.secret(access_key_id)
                if known is None:
                    raise errors.INVALID_SECURITY_TOKEN()
                call.claimed_access_key_id = access_key_id
                if not hmac.compare_digest(known.encode(), secret.encode()):
                    raise errors.SIGNATURE_MISMATCH()
                self.credentials.check_token(access_key_id, token)
                call.principal = principal = self.credentials.principal(access_key_id)
            except KMSError as exc:
                failure = exc
                call.error_code, call.error_message = exc.type_name, "Failed authentication"
        if self.audit is not None:
            try:
                await self.audit.append(self._record(scope, headers, call))
            except Exception as exc:
                self.health.failed("audit log", exc)
                raise errors.INTERNAL() from exc
        if failure is not None:
            raise failure
        assert principal is not None
        return principal

    async def perform(
        self,
        scope: Scope,
        headers: dict[str, str],
        call: Call,
        access_key_id: str,
        token: str | None,
        document: dict[str, Any],
        handler: Handler | None = None,
    ) -> KMSError | None:
        """Run ``call.operation`` with ``document`` (the operation's JSON request) as the
        signed-in ``access_key_id`` (its credentials checked again, as ``sign_in``): the same
        validation, handler, authorization, audit record and commit as an API request
        (``_finish``). ``None`` and ``call.response`` on success, else the error as the API
        answers it (``KMSInternalException`` for Trent's own faults). For the web console;
        ``handler`` replaces the operation's own (the console's key filter runs as a
        ``ListKeys`` call, ``trent.operations.search``)."""
        env = self.env
        turn = _Turn(self.store_lock)
        status = 200
        failure: KMSError | None = None
        document_operation = call.operation
        call.claimed_access_key_id = access_key_id  # a known key's id (the session's)
        try:
            await turn.take()
            env.refresh()
            self.credentials.refresh()
            if self.credentials.secret(access_key_id) is None:
                raise errors.INVALID_SECURITY_TOKEN()
            self.credentials.check_token(access_key_id, token)
            call.principal = principal = self.credentials.principal(access_key_id)
            if principal.account_id != env.account_id:
                env.bind(principal.account_id)
            client = scope.get("client")
            call.source_ip = client[0] if client else None
            call.secure = scope.get("scheme") == "https"
            handler = handler or self.operations[document_operation]
            call.request = self.model.parse_input(document_operation, document)
            call.response = await self._run_handler(call, handler, call.request, turn)
        except KMSError as exc:
            status, failure = exc.status, exc
            call.error_code, call.error_message = exc.type_name, exc.audit_message
        except Exception as exc:
            if is_storage_fault(exc):
                self.health.failed("database", exc)
            else:
                log.exception("internal error in %s (request %s)", call.operation, call.request_id)
            status = 500
            _internal_error(call)
        status, _ = await self._finish(scope, headers, call, status, b"", turn)
        if self.after_call is not None:
            self.after_call(call)
        if status == 500:
            call.response = None
            return errors.INTERNAL()
        return failure

    async def _retract(self, scope: Scope, headers: dict[str, str], call: Call) -> None:
        """After a failed commit: a record of the same request (new event id) saying it failed."""
        if self.audit is None:
            return
        call.event_id = _new_ids()[1]
        call.response = None
        _internal_error(call)
        with contextlib.suppress(Exception):  # even the reserve is gone: already reported
            await self.audit.append_from_reserve(self._record(scope, headers, call))

    async def _query(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], call: Call
    ) -> None:
        """An IAM or STS request (``trent.protocol.query``): as a KMS request, with the form's
        ``Action`` and ``Version`` choosing the operation and the service it is signed for."""
        env = self.env
        turn = _Turn(self.store_lock)
        service = query.IAM
        model: query.QueryService | None = None
        try:
            body = await _read_body(receive, headers)
            form = query.parse_form(body)
            service = query.SERVICES.get(form.get("Version", ""), query.IAM)
            call.service = service.name
            call.operation = form.get("Action", "")[:MAX_OPERATION_NAME]
            await turn.take()
            env.refresh()
            self.credentials.refresh()
            principal = self._authenticate(scope, headers, body, call, service.name)
            handlers = iam.HANDLERS if service is query.IAM else sts.HANDLERS
            handler = handlers.get(call.operation)
            if handler is None or self.directory is None:
                raise InvalidAction(
                    f"Could not find operation {call.operation} for version {service.version}"
                )
            model = self._query_model(service)
            call.request = request = model.parse_input(call.operation, form)
            if service is query.IAM:
                resource = iam.resource_of(principal.account_id, request)
                authorize(
                    self.directory,
                    principal,
                    f"iam:{call.operation}",
                    resource,
                    call.authorization,
                )
                if resource != "*":
                    call.resources.append(resource)
            with env.store.holding():
                call.response = handler(self.directory, call, request)
            status, payload = 200, model.serialize(call.operation, call.response, call.request_id)
        except _ClientGone:
            return
        except KMSError as exc:
            code, status = query.error_code(exc)
            payload = query.error_body(
                service.namespace, code, exc.message, status, call.request_id
            )
            call.error_code, call.error_message = code, exc.audit_message
            if exc.detail is not None:
                log.info("%s %s: %s", call.operation, code, exc.detail)
        except Exception as exc:
            if is_storage_fault(exc):
                self.health.failed("database", exc)
            else:
                log.exception("internal error in %s (request %s)", call.operation, call.request_id)
            status, payload = 500, b""
        status, payload = await self._finish(scope, headers, call, status, payload, turn)
        if status == 500:
            code, message = "ServiceFailure", "Trent could not complete the request."
            call.error_code = call.error_code or code
            payload = query.error_body(service.namespace, code, message, 500, call.request_id)
        await _respond(send, status, payload, call.request_id, query.CONTENT_TYPE)

    def _query_model(self, service: query.Service) -> query.QueryService:
        model = self.query_models.get(service.name)
        if model is None:
            model = self.query_models[service.name] = query.QueryService.load(service)
        return model

    def _record(self, scope: Scope, headers: dict[str, str], call: Call) -> bytes:
        source_ip = (scope.get("client") or ("", 0))[0]
        user_agent = _shown_agent(headers.get("user-agent", ""))
        if call.service == "signin":
            record = build_sign_in_record(
                call, region=self.env.region, source_ip=source_ip, user_agent=user_agent
            )
        elif call.service != "kms":
            source = query.IAM if call.service == "iam" else query.STS
            record = build_identity_record(
                call,
                event_source=source.event_source,
                region=call.region or self.env.region,
                source_ip=source_ip,
                user_agent=user_agent,
            )
        else:  # the request path's one: serialised from cached fragments
            return record_line(
                call,
                region=call.region or self.env.region,
                account_id=self.env.account_id,
                source_ip=source_ip,
                user_agent=user_agent,
                extra=None if self.node is None else {NODE_FIELD: self.node},
            )
        if self.node is not None:
            record[NODE_FIELD] = self.node
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)

    async def _healthz(self, send: Send) -> None:
        """``{"status": "ok"}`` (200), or ``{"status": "degraded", "reason": ...}`` (503) while
        a write fails (disk full, I/O error)."""
        reason = self.health.check()
        if reason is None:
            await _respond(send, 200, b'{"status":"ok"}', "", _JSON)
        else:
            body = orjson.dumps({"status": "degraded", "reason": reason})
            await _respond(send, 503, body, "", _JSON)

    def _authenticate(
        self, scope: Scope, headers: dict[str, str], body: bytes, call: Call, service: str
    ) -> Principal:
        """Verify SigV4 for ``service`` (``kms``, ``iam``, ``sts``); set ``call.principal``,
        its address and transport, and act in the principal's account (``Env.bind``)."""
        if scope["method"] != "POST":
            raise errors.POST_ONLY()
        try:
            access_key_id = self.verifier.verify(
                method="POST",
                path=(scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
                query=scope["query_string"].decode("latin-1"),
                headers=headers,
                body=body,
                now=self.wall_clock.now(),
                service=service,
                canonical=True,  # headers from canonical_headers
            )
            call.principal = principal = self.credentials.principal(access_key_id)
        except Exception:  # the record of a refused caller names the key it claimed
            call.claimed_access_key_id = _claimed_access_key(headers)
            raise
        region = self.verifier.last_region
        if service != "kms":  # IAM and STS are global: their scope names no region served
            region = region if region in self.env.regions else self.env.home_region
        call.region = region
        if principal.account_id != self.env.account_id or region != self.env.region:
            self.env.bind(principal.account_id, region or None)
        client = scope.get("client")
        call.source_ip = client[0] if client else None
        call.secure = scope.get("scheme") == "https"
        return principal

    def admit(self, scope: Scope, headers: dict[str, str], body: bytes, call: Call) -> Handler:
        """Verify SigV4, find the operation, parse and validate the body into ``call.request``;
        the handler to run. Changes nothing."""
        call.operation = _operation(headers.get("x-amz-target"))
        self._authenticate(scope, headers, body, call, "kms")
        handler = self.operations.get(call.operation)
        if handler is None:
            if call.operation in self.model.operation_names:
                raise errors.NOT_IMPLEMENTED(operation=call.operation)
            raise errors.UNKNOWN_OPERATION()  # AWS answers {"__type": ...} alone here
        try:
            document = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError as exc:
            raise errors.BODY_NOT_JSON() from exc
        call.request = self.model.parse_input(call.operation, document)
        return handler

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
                self.keygen.shutdown(wait=True)  # at most one generation's time
                await send({"type": "lifespan.shutdown.complete"})
                return


def _internal_error(call: Call) -> bytes:
    """Mark ``call`` failed with ``KMSInternalException``; its JSON error body."""
    internal = errors.INTERNAL()
    call.error_code, call.error_message = internal.type_name, internal.message
    return json11.error_body(internal.type_name, internal.message)


_ID_BATCH = 128  # pairs of ids drawn from the OS per urandom call
_VARIANT = "89ab"  # RFC 9562 variant 10xx: the top nibble of the 17th hex digit
_ids_hex: list[str] = []  # hex of urandom bytes not yet used (64 digits per pair)
os.register_at_fork(after_in_child=_ids_hex.clear)  # a forked child never repeats an id


def _new_ids() -> tuple[str, str]:
    """Two random version-4 UUID strings (request id, event id), RFC 9562 section 5.4.

    122 random bits each from ``os.urandom``, read 128 pairs at a time (ids are not secrets:
    one syscall per 128 requests instead of one per request)."""
    if not _ids_hex:
        raw = os.urandom(32 * _ID_BATCH).hex()
        _ids_hex.extend(raw[i : i + 64] for i in range(0, len(raw), 64))
    h = _ids_hex.pop()
    return (
        f"{h[0:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}",
        f"{h[32:40]}-{h[40:44]}-4{h[45:48]}-{_VARIANT[int(h[48], 16) & 3]}{h[49:52]}-{h[52:64]}",
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


class _Turn:
    """One request's hold on ``TrentApp.store_lock``: ``held`` says whether it has it now, so
    whatever fails, ``_finish`` gives it back exactly when it was taken."""

    __slots__ = ("_lock", "held")

    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock = lock
        self.held = False

    async def take(self) -> None:
        await self._lock.acquire()
        self.held = True

    def give_back(self) -> None:
        self._lock.release()
        self.held = False


class _ClientGone(Exception):
    """The client went away (or was timed out) before its request arrived whole."""


async def _read_body(receive: Receive, headers: dict[str, str]) -> bytes:
    """The request body, refused unread if ``Content-Length`` is over ``MAX_BODY_BYTES``."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise errors.BODY_TOO_LARGE()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise errors.BODY_TOO_LARGE()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Send,
    status: int,
    payload: bytes,
    request_id: str,
    content_type: bytes = json11.CONTENT_TYPE,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(payload))]
    if request_id:
        headers.append((b"x-amzn-requestid", request_id.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
