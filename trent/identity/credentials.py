"""Who signed a request: secrets and principals of access keys and STS sessions, per worker.

Secrets are stored sealed by the barrier; each worker unseals one once and keeps it with the
principal it belongs to. ``refresh()`` (once per request) drops everything when the store's
access-key generation moved, which every access-key, user, role, policy and session change
bumps; it reads that counter only when the store saw a commit since the last request
(``Store.changes()``), so an unchanged database costs no query. A session's token is kept as
its SHA-256 only and checked against the test-adjustable clock (``Env.clock``) on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass

from trent.authz import Principal, PrincipalType, RoleSession
from trent.errors import UnrecognizedClientException
from trent.identity.errors import EXPIRED_TOKEN, ExpiredTokenException
from trent.operations import Env
from trent.seal import BarrierError
from trent.store import SQLiteStore

ACCESS_KEY_PURPOSE = "access-key"
SESSION_PURPOSE = "sts-session"
INVALID_TOKEN = "The security token included in the request is invalid."
log = logging.getLogger("trent.request")


@dataclass(frozen=True, slots=True)
class _Entry:
    secret: str
    principal: Principal
    token_sha256: str | None = None  # sessions only
    expires_at: float = 0.0


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Credentials:
    """Active access keys and live sessions by access key id (see the module docstring)."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self._entries: dict[str, _Entry] = {}
        self._seen = env.store.changes()
        self._generation = env.store.access_keys_generation()

    def refresh(self) -> None:
        changes = self.env.store.changes()
        if changes == self._seen:
            return
        self._seen = changes
        generation = self.env.store.access_keys_generation()
        if generation != self._generation:
            self._generation = generation
            self._entries.clear()

    def secret(self, access_key_id: str) -> str | None:
        entry = self._entries.get(access_key_id) or self._load(access_key_id)
        return entry.secret if entry else None

    def principal(self, access_key_id: str) -> Principal:
        return self._entries[access_key_id].principal

    def check_token(self, access_key_id: str, token: str | None) -> None:
        """Refuse a session without its token or with another, a token on a long-term key
        (``UnrecognizedClientException``), and an expired session
        (``ExpiredTokenException``)."""
        entry = self._entries[access_key_id]
        if entry.token_sha256 is None:
            if token is not None:
                raise UnrecognizedClientException(INVALID_TOKEN)
            return
        if token is None or not hmac.compare_digest(token_digest(token), entry.token_sha256):
            raise UnrecognizedClientException(INVALID_TOKEN)
        if self.env.clock.now() >= entry.expires_at:
            raise ExpiredTokenException(EXPIRED_TOKEN)

    def _load(self, access_key_id: str) -> _Entry | None:
        store = self.env.store
        if not isinstance(store, SQLiteStore):
            return None
        entry = (
            self._load_session(store, access_key_id)
            if access_key_id.startswith("ASIA")
            else (self._load_key(store, access_key_id))
        )
        if entry is not None:
            self._entries[access_key_id] = entry
        return entry

    def _open(self, purpose: str, access_key_id: str, sealed: bytes) -> str | None:
        try:
            return self.env.barrier.open(purpose, access_key_id, sealed).decode()
        except BarrierError:
            log.error("access key %s failed to unseal", access_key_id)
            return None

    def _load_key(self, store: SQLiteStore, access_key_id: str) -> _Entry | None:
        row = store.get_access_key(access_key_id)
        if row is None or row.status != "Active":
            return None
        secret = self._open(ACCESS_KEY_PURPOSE, access_key_id, row.sealed_secret)
        if secret is None:
            return None
        account = row.account_id
        if row.user_name is None:
            principal = Principal(
                account, row.principal, access_key_id, PrincipalType.ROOT, account
            )
        else:
            user = store.get_user(account, row.user_name)
            if user is None:
                return None
            arn = f"arn:aws:iam::{account}:user{user.path}{user.user_name}"
            principal = Principal(
                account, arn, access_key_id, PrincipalType.USER, user.user_id, user.user_name
            )
        return _Entry(secret, principal)

    def _load_session(self, store: SQLiteStore, access_key_id: str) -> _Entry | None:
        row = store.get_session(access_key_id)
        if row is None:
            return None
        secret = self._open(SESSION_PURPOSE, access_key_id, row.sealed_secret)
        if secret is None:
            return None
        role = store.get_role(row.account_id, row.role_name)
        path = role.path if role else "/"
        role_id = role.role_id if role else ""
        session = RoleSession(
            role_arn=f"arn:aws:iam::{row.account_id}:role{path}{row.role_name}",
            role_id=role_id,
            role_name=row.role_name,
            session_name=row.session_name,
            created_at=row.created_at,
            expires_at=row.expires_at,
            policy=row.policy,
            policy_arns=tuple(json.loads(row.policy_arns)),
            tags=tuple((k, v) for k, v in json.loads(row.tags)),
            chained=bool(row.chained),
        )
        principal = Principal(
            row.account_id,
            f"arn:aws:sts::{row.account_id}:assumed-role/{row.role_name}/{row.session_name}",
            access_key_id,
            PrincipalType.ASSUMED_ROLE,
            f"{role_id}:{row.session_name}",
            session=session,
        )
        return _Entry(secret, principal, row.token_sha256, row.expires_at)
