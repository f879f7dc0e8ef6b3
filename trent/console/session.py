"""The console's sign-in session: a sealed cookie, and the CSRF token it carries.

The cookie's value is ``base64url(barrier.seal("console-session", "console", JSON))``: AES-256-GCM
under the root keyring (``trent.seal.barrier``), so every worker opens it, nobody can read or
forge it, and no server-side table is needed. The JSON holds the access key id, the STS session
token when the credentials are temporary (sealed, never in clear), the expiry (epoch seconds
by ``Env.clock``) and a random CSRF token. The secret access key is never kept: it is checked
once at sign-in (``TrentApp.sign_in``); every later request checks again that the access key is
still active (and the session unexpired) before it acts (``TrentApp.perform``).

Cookie attributes: ``HttpOnly; SameSite=Strict; Path=/console``, ``Secure`` when the request
came over TLS, ``Max-Age`` the session's lifetime (OWASP Session Management Cheat Sheet).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass

import orjson

from trent.seal import Barrier, BarrierError

COOKIE = "trent_console"
PURPOSE, OWNER = "console-session", "console"
SESSION_SECONDS = 3600  # one hour, the AWS console's shortest federated session


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in principal: ``access_key_id``, ``token`` (STS session token or ``None``),
    ``principal_arn`` (shown), ``expires_at`` (epoch seconds), ``csrf`` (43 url-safe chars)."""

    access_key_id: str
    token: str | None
    principal_arn: str
    expires_at: float
    csrf: str

    def csrf_ok(self, given: str | None) -> bool:
        """Constant-time comparison of a form's ``csrf_token`` with this session's."""
        return given is not None and hmac.compare_digest(given.encode(), self.csrf.encode())


def new_session(access_key_id: str, token: str | None, principal_arn: str, now: float) -> Session:
    return Session(
        access_key_id, token, principal_arn, now + SESSION_SECONDS, secrets.token_urlsafe(32)
    )


def seal(barrier: Barrier, session: Session) -> str:
    """The cookie value for ``session``."""
    payload = orjson.dumps(
        {
            "k": session.access_key_id,
            "t": session.token,
            "p": session.principal_arn,
            "e": session.expires_at,
            "c": session.csrf,
        }
    )
    return base64.urlsafe_b64encode(barrier.seal(PURPOSE, OWNER, payload)).decode()


def open_cookie(barrier: Barrier, value: str, now: float) -> Session | None:
    """The session a cookie value holds; ``None`` if it is forged, damaged or expired."""
    try:
        data = orjson.loads(barrier.open(PURPOSE, OWNER, base64.urlsafe_b64decode(value)))
        session = Session(data["k"], data["t"], data["p"], float(data["e"]), data["c"])
    except (BarrierError, binascii.Error, ValueError, KeyError, TypeError):
        return None
    return session if now < session.expires_at else None


def set_cookie(value: str, *, secure: bool, max_age: int = SESSION_SECONDS) -> str:
    """A ``Set-Cookie`` header value (``max_age=0`` clears it)."""
    attributes = f"{COOKIE}={value}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    return attributes + ("; Secure" if secure else "")
