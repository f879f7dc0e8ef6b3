"""The console's routes: an ASGI app under ``/console/`` that renders Jinja2 templates.

Every page and action is one or more KMS operations run by ``TrentApp.perform`` as the
signed-in principal (same validation, authorization, audit record and commit as the API; the
record's ``userAgent`` starts with ``trent-console``). A ``POST`` without the session's CSRF
token is refused (403) before anything runs. Errors are shown as the API words them
(``<Code>: <message>``), with the API's status.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import calendar
import logging
import time
import urllib.parse
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from trent.console import session as sessions
from trent.console.usage import CONSOLE_AGENT, DAY_HOURS, MONTH_HOURS, bars, key_activity
from trent.errors import KMSError
from trent.operations import search
from trent.protocol.limits import MAX_AUDIT_USER_AGENT

if TYPE_CHECKING:
    from trent.operations import Handler
    from trent.protocol.asgi import Receive, Scope, Send, TrentApp

log = logging.getLogger("trent.console")
PREFIX = "/console"
AGENT = CONSOLE_AGENT  # the audit record's userAgent starts with it
PAGE_SIZE = 20
GRANTS_SHOWN = 100  # a key page lists this many live grants (ListGrants' Limit)
MAX_FORM_BYTES = 256 * 1024
# Only this server's own scripts, styles and forms; no framing (OWASP CSP Cheat Sheet).
CSP = (
    b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    b"form-action 'self'; frame-ancestors 'none'"
)
_HERE = Path(__file__).parent
_STATIC = {
    "htmx.min.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
KEY_SPECS = [
    "SYMMETRIC_DEFAULT",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
]
KEY_USAGES = ["ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"]
ORIGINS = ["AWS_KMS", "EXTERNAL"]


@dataclass
class Page:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]]


class Failed(Exception):
    """An operation the page needs failed: shown as the API words it."""

    def __init__(self, error: KMSError) -> None:
        super().__init__(error.type_name)
        self.error = error


class Console:
    """The ``/console`` ASGI app (see the module docstring) over ``app`` and ``audit_dir``."""

    def __init__(self, app: TrentApp, audit_dir: Path) -> None:
        self.app = app
        self.audit_dir = audit_dir
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"),
            autoescape=True,
        )
        self.templates.filters["when"] = _when

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            page = await self._route(scope, receive)
        except _TooLarge:
            page = Page(413, b"Request body too large", [])
        except Exception:
            log.exception("console error on %s", scope["path"])
            page = Page(500, b"KMSInternalException: An internal error occurred.", [])
        await send(
            {
                "type": "http.response.start",
                "status": page.status,
                "headers": [
                    (b"cache-control", b"no-store"),
                    (b"x-frame-options", b"DENY"),
                    (b"content-security-policy", CSP),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    *page.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": page.body})

    # --- routing ----------------------------------------------------------------------------

    async def _route(self, scope: Scope, receive: Receive) -> Page:
        path, method = scope["path"], scope["method"]
        rest = path[len(PREFIX) :].strip("/")
        parts = rest.split("/") if rest else []
        if parts[:1] == ["static"] and len(parts) == 2 and parts[1] in _STATIC:
            body = (_HERE / "static" / parts[1]).read_bytes()
            return Page(200, body, [(b"content-type", _STATIC[parts[1]].encode())])
        headers = _headers(scope)
        if method == "POST" and not _same_origin(headers):
            return Page(403, b"Forbidden: a form posted from another site.", [])
        form = await _form(receive) if method == "POST" else {}
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(scope["query_string"].decode()).items()}
        if parts == ["signin"]:
            if method == "POST":
                return await self._sign_in(scope, headers, form)
            return self._render("signin.html", None, error=None, access_key_id="")
        session = self._session(headers, await self.app.now())
        if session is None:
            return _redirect(f"{PREFIX}/signin")
        if method == "POST" and not session.csrf_ok(form.get("csrf_token")):
            return self._render(
                "error.html",
                session,
                status=403,
                error="Forbidden: the form's CSRF token is missing or wrong. Reload the page.",
            )
        ctx = _Context(self, scope, headers, session)
        try:
            return await self._dispatch(ctx, method, parts, form, query)
        except Failed as failed:
            return self._render(
                "error.html",
                session,
                status=failed.error.status,
                error=_worded(failed.error),
            )

    async def _dispatch(
        self,
        ctx: _Context,
        method: str,
        parts: list[str],
        form: dict[str, str],
        query: dict[str, str],
    ) -> Page:
        if not parts or (parts == ["keys"] and method == "GET"):
            return await self._key_list(ctx, query)
        if parts == ["signout"] and method == "POST":
            return _redirect(
                f"{PREFIX}/signin",
                [(b"set-cookie", sessions.set_cookie("", secure=ctx.secure, max_age=0).encode())],
            )
        if parts == ["keys", "new"] and method == "GET":
            return self._create_form(ctx, {}, None)
        if parts == ["keys"] and method == "POST":
            return await self._create_key(ctx, form)
        if len(parts) >= 2 and parts[0] == "keys":
            key_id = parts[1]
            if len(parts) == 2 and method == "GET":
                return await self._key_page(ctx, key_id, query.get("done"), None)
            if len(parts) == 3 and parts[2] == "import" and method == "GET":
                return await self._import_page(ctx, key_id, query, None)
            if len(parts) == 3 and method == "POST":
                return await self._action(ctx, key_id, parts[2], form)
        return self._render("error.html", ctx.session, status=404, error="Not found.")

    # --- pages ------------------------------------------------------------------------------

    def _render(
        self, template: str, session: sessions.Session | None, *, status: int = 200, **values: Any
    ) -> Page:
        body = self.templates.get_template(template).render(
            session=session, prefix=PREFIX, **values
        )
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        return Page(status, body.encode(), headers)

    def _session(self, headers: dict[str, str], now: float) -> sessions.Session | None:
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except CookieError:
            return None
        morsel = cookie.get(sessions.COOKIE)
        if morsel is None or not morsel.value:
            return None
        return sessions.open_cookie(self.app.env.barrier, morsel.value, now)

    async def _sign_in(self, scope: Scope, headers: dict[str, str], form: dict[str, str]) -> Page:
        access_key_id = form.get("access_key_id", "").strip()
        secret = form.get("secret_access_key", "")
        token = form.get("session_token", "").strip() or None
        try:
            agent = f"{AGENT} ({headers.get('user-agent', '')})"[:MAX_AUDIT_USER_AGENT]
            principal = await self.app.sign_in(
                scope, {**headers, "user-agent": agent}, access_key_id, secret, token
            )
        except KMSError as exc:
            return self._render(
                "signin.html",
                None,
                status=exc.status,
                error=_worded(exc),
                access_key_id=access_key_id,
            )
        session = sessions.new_session(
            access_key_id, token, principal.arn, self.app.env.clock.now()
        )
        value = sessions.seal(self.app.env.barrier, session)
        secure = scope.get("scheme") == "https"
        cookie = sessions.set_cookie(value, secure=secure).encode()
        return _redirect(f"{PREFIX}/keys", [(b"set-cookie", cookie)])

    async def _key_list(self, ctx: _Context, query: dict[str, str]) -> Page:
        if query.get("key"):  # "open key": an id, ARN or alias, found as DescribeKey finds it
            found = await ctx.run("DescribeKey", {"KeyId": query["key"].strip()})
            return _redirect(f"{PREFIX}/keys/{found['KeyMetadata']['KeyId']}")
        wanted = search.KeyFilter(
            text=query.get("filter", "").strip() or None,
            key_state=query.get("state") or None,
            key_spec=query.get("spec") or None,
            key_usage=query.get("usage") or None,
            origin=query.get("origin") or None,
        )
        request: dict[str, Any] = {"Limit": PAGE_SIZE}
        if query.get("marker"):
            request["Marker"] = query["marker"]
        filtered = wanted != search.KeyFilter()
        listed = await ctx.run(
            "ListKeys", request, handler=search.handler(wanted) if filtered else None
        )
        rows = []
        for entry in listed.get("Keys", []):
            key_id = entry["KeyId"]
            meta = (await ctx.run("DescribeKey", {"KeyId": key_id}))["KeyMetadata"]
            aliases = await ctx.run("ListAliases", {"KeyId": key_id}, quiet=True)
            rotation = "—"
            if meta.get("KeySpec") == "SYMMETRIC_DEFAULT" and meta.get("Origin") == "AWS_KMS":
                status = await ctx.run("GetKeyRotationStatus", {"KeyId": key_id}, quiet=True)
                if status:
                    rotation = "Enabled" if status.get("KeyRotationEnabled") else "Disabled"
            names = [a["AliasName"] for a in aliases.get("Aliases", [])] if aliases else []
            rows.append({"meta": meta, "aliases": names, "rotation": rotation})
        kept = {
            name: query[name]
            for name in ("filter", "state", "spec", "usage", "origin")
            if query.get(name)
        }
        return self._render(
            "keys.html",
            ctx.session,
            rows=rows,
            query=kept,
            filtered=filtered,
            states=search.KEY_STATES,
            specs=search.KEY_SPECS,
            usages=search.KEY_USAGES,
            origins=search.ORIGINS,
            next_marker=listed.get("NextMarker") if listed.get("Truncated") else None,
            marker=query.get("marker", ""),
        )

    def _create_form(self, ctx: _Context, form: dict[str, str], error: str | None) -> Page:
        return self._render(
            "create.html",
            ctx.session,
            status=400 if error else 200,
            form=form,
            error=error,
            specs=KEY_SPECS,
            usages=KEY_USAGES,
            origins=ORIGINS,
        )

    async def _create_key(self, ctx: _Context, form: dict[str, str]) -> Page:
        request: dict[str, Any] = {
            "KeySpec": form.get("key_spec", "SYMMETRIC_DEFAULT"),
            "KeyUsage": form.get("key_usage", "ENCRYPT_DECRYPT"),
            "Origin": form.get("origin", "AWS_KMS"),
        }
        if form.get("description"):
            request["Description"] = form["description"]
        tags = _tags(form.get("tags", ""))
        if tags is None:
            return self._create_form(ctx, form, "Tags: write one Key=Value per line.")
        if tags:
            request["Tags"] = tags
        try:
            created = await ctx.run("CreateKey", request)
            key_id = created["KeyMetadata"]["KeyId"]
            alias = form.get("alias", "").strip()
            if alias:
                name = alias if alias.startswith("alias/") else f"alias/{alias}"
                try:
                    await ctx.run("CreateAlias", {"AliasName": name, "TargetKeyId": key_id})
                except Failed as failed:
                    return await self._key_page(ctx, key_id, None, _worded(failed.error))
        except Failed as failed:
            return self._create_form(ctx, form, _worded(failed.error))
        return _redirect(f"{PREFIX}/keys/{key_id}?done=Key+created")

    async def _key_page(
        self, ctx: _Context, key_id: str, done: str | None, error: str | None, status: int = 200
    ) -> Page:
        meta = (await ctx.run("DescribeKey", {"KeyId": key_id}))["KeyMetadata"]
        key_id = meta["KeyId"]
        aliases = await ctx.run("ListAliases", {"KeyId": key_id}, quiet=True)
        tags = await ctx.run("ListResourceTags", {"KeyId": key_id}, quiet=True)
        policy = await ctx.run("GetKeyPolicy", {"KeyId": key_id}, quiet=True)
        rotation = await ctx.run("GetKeyRotationStatus", {"KeyId": key_id}, quiet=True)
        history = await ctx.run(
            "ListKeyRotations",
            {"KeyId": key_id, "IncludeKeyMaterial": "ALL_KEY_MATERIAL"},
            quiet=True,
        )
        last_used = await ctx.run("GetKeyLastUsage", {"KeyId": key_id}, quiet=True)
        grants = await ctx.run("ListGrants", {"KeyId": key_id, "Limit": GRANTS_SHOWN}, quiet=True)
        now = self.app.env.clock.now()
        activity = await asyncio.to_thread(key_activity, self.audit_dir, meta["Arn"], now)
        return self._render(
            "key.html",
            ctx.session,
            status=status,
            meta=meta,
            aliases=[a["AliasName"] for a in (aliases or {}).get("Aliases", [])],
            tags=(tags or {}).get("Tags", []),
            policy=(policy or {}).get("Policy"),
            policy_draft=None,
            rotation=rotation,
            rotations=(history or {}).get("Rotations", []),
            last_used=(last_used or {}).get("KeyLastUsage"),
            grants=grants.get("Grants", []),
            grants_truncated=bool(grants.get("Truncated")),
            day=bars(activity.hourly, DAY_HOURS),
            month=bars(activity.hourly, MONTH_HOURS),
            day_total=activity.total(DAY_HOURS),
            month_total=activity.total(MONTH_HOURS),
            recent=activity.recent,
            done=done,
            error=error,
        )

    async def _import_page(
        self, ctx: _Context, key_id: str, query: dict[str, str], error: str | None
    ) -> Page:
        meta = (await ctx.run("DescribeKey", {"KeyId": key_id}))["KeyMetadata"]
        return self._render(
            "import.html",
            ctx.session,
            status=400 if error else 200,
            meta=meta,
            params=None,
            error=error,
            algorithm=query.get("algorithm", "RSAES_OAEP_SHA_256"),
        )

    # --- actions ----------------------------------------------------------------------------

    async def _action(self, ctx: _Context, key_id: str, action: str, form: dict[str, str]) -> Page:
        simple: dict[str, tuple[str, dict[str, Any], str]] = {
            "enable": ("EnableKey", {}, "Key enabled"),
            "disable": ("DisableKey", {}, "Key disabled"),
            "cancel-deletion": ("CancelKeyDeletion", {}, "Deletion cancelled; the key is disabled"),
            "rotate-now": ("RotateKeyOnDemand", {}, "Rotation started"),
            "disable-rotation": ("DisableKeyRotation", {}, "Automatic rotation disabled"),
        }
        confirmed = form.get("confirm") == "yes"
        try:
            if action in simple:
                operation, extra, done = simple[action]
                await ctx.run(operation, {"KeyId": key_id, **extra})
            elif action == "schedule-deletion":
                if not confirmed:
                    return await self._refused(ctx, key_id, "Confirm the deletion to schedule it.")
                days = _int(form.get("pending_days", "30"))
                await ctx.run("ScheduleKeyDeletion", {"KeyId": key_id, "PendingWindowInDays": days})
                done = f"Deletion scheduled in {days} days"
            elif action == "enable-rotation":
                period = _int(form.get("rotation_days", "365"))
                await ctx.run(
                    "EnableKeyRotation", {"KeyId": key_id, "RotationPeriodInDays": period}
                )
                done = f"Automatic rotation enabled every {period} days"
            elif action == "policy":
                await ctx.run(
                    "PutKeyPolicy",
                    {"KeyId": key_id, "PolicyName": "default", "Policy": form.get("policy", "")},
                )
                done = "Key policy saved"
            elif action == "delete-material":
                if not confirmed:
                    return await self._refused(
                        ctx, key_id, "Confirm the deletion of the imported key material."
                    )
                request = {"KeyId": key_id}
                if form.get("key_material_id"):
                    request["KeyMaterialId"] = form["key_material_id"]
                await ctx.run("DeleteImportedKeyMaterial", request)
                done = "Imported key material deleted"
            elif action == "revoke-grant":
                if not confirmed:
                    return await self._refused(ctx, key_id, "Confirm the revocation of the grant.")
                await ctx.run("RevokeGrant", {"KeyId": key_id, "GrantId": form.get("grant_id", "")})
                done = "Grant revoked"
            elif action == "import-parameters":
                return await self._import_parameters(ctx, key_id, form)
            elif action == "import":
                return await self._import(ctx, key_id, form)
            else:
                return self._render("error.html", ctx.session, status=404, error="Not found.")
        except Failed as failed:
            if action == "policy":
                return await self._key_page(
                    ctx, key_id, None, _worded(failed.error), failed.error.status
                )
            return await self._refused(ctx, key_id, _worded(failed.error), failed.error.status)
        return _redirect(
            f"{PREFIX}/keys/{urllib.parse.quote(key_id)}?done={urllib.parse.quote_plus(done)}"
        )

    async def _refused(self, ctx: _Context, key_id: str, error: str, status: int = 400) -> Page:
        return await self._key_page(ctx, key_id, None, error, status)

    async def _import_parameters(self, ctx: _Context, key_id: str, form: dict[str, str]) -> Page:
        algorithm = form.get("algorithm", "RSAES_OAEP_SHA_256")
        spec = form.get("wrapping_key_spec", "RSA_2048")
        meta = (await ctx.run("DescribeKey", {"KeyId": key_id}))["KeyMetadata"]
        try:
            params = await ctx.run(
                "GetParametersForImport",
                {"KeyId": key_id, "WrappingAlgorithm": algorithm, "WrappingKeySpec": spec},
            )
        except Failed as failed:
            return self._render(
                "import.html",
                ctx.session,
                status=failed.error.status,
                meta=meta,
                params=None,
                error=_worded(failed.error),
                algorithm=algorithm,
            )
        return self._render(
            "import.html",
            ctx.session,
            meta=meta,
            params={
                "public_key": base64.b64encode(params["PublicKey"]).decode(),
                "token": base64.b64encode(params["ImportToken"]).decode(),
                "valid_to": params["ParametersValidTo"],
                "algorithm": algorithm,
                "spec": spec,
            },
            error=None,
            algorithm=algorithm,
        )

    async def _import(self, ctx: _Context, key_id: str, form: dict[str, str]) -> Page:
        request: dict[str, Any] = {
            "KeyId": key_id,
            "ImportToken": "".join(form.get("import_token", "").split()),
            "EncryptedKeyMaterial": "".join(form.get("encrypted_key_material", "").split()),
        }
        for field_name in ("ImportToken", "EncryptedKeyMaterial"):
            try:
                base64.b64decode(request[field_name], validate=True)
            except binascii.Error:
                return await self._import_page(
                    ctx, key_id, {}, f"{field_name}: paste the file's base64 (base64 -w0 FILE)."
                )
        if form.get("expires") == "yes":
            valid_to = _date(form.get("valid_to", ""))
            if valid_to is None:
                return await self._import_page(ctx, key_id, {}, "Expiry: a date as YYYY-MM-DD.")
            request["ExpirationModel"] = "KEY_MATERIAL_EXPIRES"
            request["ValidTo"] = valid_to
        else:
            request["ExpirationModel"] = "KEY_MATERIAL_DOES_NOT_EXPIRE"
        if form.get("description"):
            request["KeyMaterialDescription"] = form["description"]
        rotate = form.get("import_type") == "NEW_KEY_MATERIAL"
        if rotate:
            request["ImportType"] = "NEW_KEY_MATERIAL"
        try:
            await ctx.run("ImportKeyMaterial", request)
            if rotate:
                await ctx.run("RotateKeyOnDemand", {"KeyId": key_id})
        except Failed as failed:
            return await self._import_page(ctx, key_id, {}, _worded(failed.error))
        done = "Key material imported" + (" and rotated to" if rotate else "")
        return _redirect(
            f"{PREFIX}/keys/{urllib.parse.quote(key_id)}?done={urllib.parse.quote_plus(done)}"
        )


class _Context:
    """One console request: who, from where, and how its operations run."""

    def __init__(
        self, console: Console, scope: Scope, headers: dict[str, str], session: sessions.Session
    ) -> None:
        self.console = console
        self.scope = scope
        self.session = session
        self.secure = scope.get("scheme") == "https"
        agent = f"{AGENT} ({headers.get('user-agent', '')})"[:MAX_AUDIT_USER_AGENT]
        self.headers = {**headers, "user-agent": agent}

    async def run(
        self,
        operation: str,
        request: dict[str, Any],
        *,
        quiet: bool = False,
        handler: Handler | None = None,
    ) -> dict[str, Any]:
        """``operation``'s response, or ``Failed`` (``quiet``: an empty dict instead, for the
        parts of a page that a principal may not be allowed to read or a key may not have;
        ``handler``: run instead of the operation's own, as ``TrentApp.perform`` says)."""
        app = self.console.app
        call = app.new_call(operation)
        error = await app.perform(
            self.scope,
            self.headers,
            call,
            self.session.access_key_id,
            self.session.token,
            _wire(request),
            handler,
        )
        if error is not None:
            if quiet:
                return {}
            raise Failed(error)
        return call.response or {}


class _TooLarge(Exception):
    pass


def _wire(request: dict[str, Any]) -> dict[str, Any]:
    return request  # already JSON-shaped: blobs are base64 strings, as the API's JSON has them


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def _form(receive: Receive) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (``urllib.parse.parse_qs``), last value
    of each field; bodies over ``MAX_FORM_BYTES`` are refused."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    parsed = urllib.parse.parse_qs(b"".join(chunks).decode("utf-8", "replace"))
    return {k: v[-1] for k, v in parsed.items()}


def _same_origin(headers: dict[str, str]) -> bool:
    """A ``POST``'s ``Origin``, when the browser sent one, names this host (OWASP CSRF
    Prevention Cheat Sheet, "verifying origin with standard headers"): refuses a sign-in form
    posted from another site (login CSRF), which no session's token could catch."""
    origin = headers.get("origin")
    if origin is None:
        return True
    return urllib.parse.urlsplit(origin).netloc == headers.get("host", "")


def _redirect(location: str, headers: list[tuple[bytes, bytes]] | None = None) -> Page:
    return Page(303, b"", [(b"location", location.encode()), *(headers or [])])


def _worded(error: KMSError) -> str:
    """An error as the API words it: ``Code: message`` (``Code`` alone when it has none)."""
    return f"{error.type_name}: {error.message}" if error.message else error.type_name


def _tags(text: str) -> list[dict[str, str]] | None:
    """``Key=Value`` lines as the API's ``Tags``; ``None`` if a line has no ``=``."""
    tags = []
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            return None
        tags.append({"TagKey": key.strip(), "TagValue": value.strip()})
    return tags


def _int(text: str) -> int | str:
    """An integer field; anything else is passed on for the operation's validation to word."""
    return int(text) if text.strip().isdigit() else text


def _date(text: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(text.strip(), "%Y-%m-%d")))
    except ValueError:
        return None


def _when(value: Any) -> str:
    """Epoch seconds as ``YYYY-MM-DD HH:MM UTC``."""
    if not isinstance(value, (int, float)):
        return str(value or "")
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(value))
