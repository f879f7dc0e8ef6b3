"""SQLite storage: WAL mode, one connection per process, one transaction per change.

Several worker processes share one database file. A worker learns that another one committed
through ``data_version()``, which the operations layer checks before each request, before
trusting its caches: every store bumps a shared commit counter after each commit
(``trent.store.changes``, 8 bytes of shared memory, no query), and ``PRAGMA data_version`` is
asked at most once per ``PRAGMA_INTERVAL_S`` for a commit whose writer died before bumping.
``changes()`` answers the same question from the last ``data_version()`` and this connection's
own commits.

A request's changes can be *held*: inside ``holding()``, a ``write()`` block that ends without an
error leaves its transaction open (later blocks join it through savepoints) until
``commit_held()`` or ``rollback_held()``. The ASGI layer uses this to put the audit record on
disk before the change commits.

The database file (and so, as SQLite gives them the database's mode, ``-wal`` and ``-shm``) is
created 0600 whatever the umask, and an existing one is made 0600.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import astuple, fields
from pathlib import Path
from typing import Any, Protocol, TypeVar

from trent.store.changes import ChangeCounter
from trent.store.identities import ACCESS_KEYS_GENERATION, MIGRATION_ACCOUNTS, IdentityTables
from trent.store.records import (
    AccessKeyRow,
    AccountRow,
    AliasRow,
    CustomKeyStoreRow,
    GrantRow,
    ImportParametersRow,
    KeyMatch,
    KeyRow,
    MaterialRow,
    RoleRow,
    TagRow,
    UsageRow,
    UserRow,
    XksCredentialRow,
)
from trent.store.regions import public_name, storage_alias, storage_id
from trent.store.sealed import SealedColumn, SealedValue

Row = TypeVar(
    "Row",
    KeyRow,
    MaterialRow,
    AliasRow,
    TagRow,
    AccessKeyRow,
    UsageRow,
    ImportParametersRow,
    XksCredentialRow,
    GrantRow,
    CustomKeyStoreRow,
)

log = logging.getLogger("trent.store")

# Each entry migrates the schema from version i to i + 1; never edit one that has shipped.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE keys (
        key_id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        description TEXT NOT NULL,
        key_usage TEXT NOT NULL,
        key_spec TEXT NOT NULL,
        origin TEXT NOT NULL,
        state TEXT NOT NULL,
        policy TEXT NOT NULL,
        multi_region INTEGER NOT NULL,
        current_material_id TEXT,
        deletion_date REAL,
        pending_window_days INTEGER,
        rotation_enabled INTEGER NOT NULL,
        rotation_period_days INTEGER,
        next_rotation_at REAL,
        on_demand_rotation_started_at REAL,
        on_demand_rotations INTEGER NOT NULL
    );
    CREATE TABLE materials (
        key_id TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
        material_id TEXT NOT NULL,
        sealed BLOB,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        rotated_at REAL,
        rotation_type TEXT,
        description TEXT,
        import_state TEXT,
        expiration_model TEXT,
        valid_to REAL,
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        UNIQUE (key_id, material_id)
    );
    CREATE TABLE aliases (
        name TEXT PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX aliases_by_key ON aliases (key_id, name);
    CREATE TABLE tags (
        key_id TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
        tag_key TEXT NOT NULL,
        tag_value TEXT NOT NULL,
        PRIMARY KEY (key_id, tag_key)
    );
    CREATE TABLE access_keys (
        access_key_id TEXT PRIMARY KEY,
        sealed_secret BLOB NOT NULL,
        principal TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE key_usage (
        key_id TEXT PRIMARY KEY REFERENCES keys(key_id) ON DELETE CASCADE,
        operation TEXT NOT NULL,
        used_at REAL NOT NULL,
        request_id TEXT NOT NULL,
        event_id TEXT NOT NULL
    );
    CREATE INDEX keys_due_rotation ON keys (next_rotation_at) WHERE next_rotation_at IS NOT NULL;
    CREATE INDEX keys_due_deletion ON keys (deletion_date) WHERE deletion_date IS NOT NULL;
    """,
    """
    CREATE TABLE import_parameters (
        token_id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
        wrapping_algorithm TEXT NOT NULL,
        wrapping_key_spec TEXT NOT NULL,
        sealed_private_key BLOB NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX import_parameters_expiry ON import_parameters (expires_at);
    CREATE INDEX materials_expiry ON materials (valid_to) WHERE valid_to IS NOT NULL;
    """,
    """
    ALTER TABLE access_keys ADD COLUMN status TEXT NOT NULL DEFAULT 'Active';
    """,
    MIGRATION_ACCOUNTS,
    """
    CREATE TABLE xks_credentials (
        access_key_id TEXT PRIMARY KEY,
        sealed_secret BLOB NOT NULL,
        path_prefix TEXT NOT NULL,
        key_ids TEXT NOT NULL,
        rules TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX xks_credentials_by_prefix ON xks_credentials (path_prefix);
    """,
    # grants (issue 10): ended with their key; retired and revoked ones stay as tombstones
    """
    CREATE TABLE grants (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        grant_id TEXT NOT NULL UNIQUE,
        key_id TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
        account_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        grantee_principal TEXT NOT NULL,
        operations TEXT NOT NULL,
        constraints TEXT NOT NULL,
        retiring_principal TEXT,
        name TEXT,
        grantee_service_principal TEXT,
        retiring_service_principal TEXT,
        retired_at REAL
    );
    CREATE INDEX grants_by_key ON grants (key_id, seq);
    CREATE INDEX grants_by_retiring ON grants (retiring_principal, seq)
        WHERE retiring_principal IS NOT NULL AND retired_at IS NULL;
    """,
    # IAM GetAccessKeyLastUsed: each access key's last successful use (flushed like key_usage)
    """
    CREATE TABLE access_key_usage (
        access_key_id TEXT PRIMARY KEY,
        used_at REAL NOT NULL,
        service TEXT NOT NULL,
        region TEXT NOT NULL
    );
    """,
    # external key stores (issue 13): the stores, and each key's store and external key id
    """
    CREATE TABLE custom_key_stores (
        custom_key_store_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        store_type TEXT NOT NULL,
        created_at REAL NOT NULL,
        state TEXT NOT NULL,
        error_code TEXT,
        uri_endpoint TEXT NOT NULL,
        uri_path TEXT NOT NULL,
        connectivity TEXT NOT NULL,
        access_key_id TEXT NOT NULL,
        sealed_secret BLOB NOT NULL,
        account_id TEXT NOT NULL,
        UNIQUE (account_id, name)
    );
    ALTER TABLE keys ADD COLUMN custom_key_store_id TEXT;
    ALTER TABLE keys ADD COLUMN xks_key_id TEXT;
    CREATE INDEX keys_by_custom_key_store ON keys (custom_key_store_id, xks_key_id)
        WHERE custom_key_store_id IS NOT NULL;
    """,
    # several regions (issue 15): a key's and an alias's region scope ("" = the home region, so
    # an existing data directory's keys stay there); trent.store.regions names their rows
    """
    ALTER TABLE keys ADD COLUMN region TEXT NOT NULL DEFAULT '';
    ALTER TABLE keys ADD COLUMN multi_region_type TEXT;
    ALTER TABLE aliases ADD COLUMN region TEXT NOT NULL DEFAULT '';
    CREATE INDEX keys_by_region ON keys (account_id, region, key_id);
    CREATE INDEX aliases_by_region ON aliases (account_id, region, name);
    """,
    # the console's key filter (issue 12): find_keys by state walks only that state's keys
    """
    CREATE INDEX keys_by_state ON keys (account_id, region, state, key_id);
    """,
]

ACCESS_KEY_STATUSES = ("Active", "Inactive")


def _like_escaped(text: str) -> str:
    """``text`` as a literal inside a ``LIKE ... ESCAPE '\\'`` pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_SEQ_TABLES = ("materials", "grants")  # their seq is assigned by SQLite
# Bumped in the transaction of every XKS credential change (the proxy's cached secrets).
XKS_CREDENTIALS_GENERATION = "xks_credentials_generation"


class Store(Protocol):
    """What the operations layer needs from storage.

    Keys, aliases and what hangs off a key are scoped to the bound account and region scope
    (``bind_account``, ``bind_region``); ``trent.store.regions`` says how a store names the
    rows of a scope (a PostgreSQL store follows the same naming; ``key_copies`` finds one key
    id's rows in every scope: the related multi-Region keys)."""

    scope: str  # the bound region scope (``bind_region``; "" = the home region)

    def data_version(self) -> int: ...
    def changes(self) -> tuple[int, int]: ...
    def write(self) -> AbstractContextManager[None]: ...
    def holding(self) -> AbstractContextManager[None]: ...
    @property
    def held(self) -> bool: ...
    def commit_held(self) -> None: ...
    def rollback_held(self) -> None: ...
    def get_meta(self, name: str) -> str | None: ...
    def set_meta(self, name: str, value: str) -> None: ...
    def insert_key(self, row: KeyRow) -> None: ...
    def update_key(self, row: KeyRow) -> None: ...
    def delete_key(self, key_id: str) -> None: ...
    def get_key(self, key_id: str) -> KeyRow | None: ...
    def list_keys(self, after: str | None, limit: int) -> list[KeyRow]: ...
    def find_keys(self, match: KeyMatch, after: str | None, limit: int) -> list[KeyRow]: ...
    def insert_material(self, row: MaterialRow) -> None: ...
    def update_material(self, row: MaterialRow) -> None: ...
    def list_materials(self, key_id: str) -> list[MaterialRow]: ...
    def get_alias(self, name: str) -> AliasRow | None: ...
    def insert_alias(self, row: AliasRow) -> None: ...
    def update_alias(self, row: AliasRow) -> None: ...
    def delete_alias(self, name: str) -> None: ...
    def list_aliases(self, key_id: str | None, after: str | None, limit: int) -> list[AliasRow]: ...
    def put_tag(self, row: TagRow) -> None: ...
    def delete_tag(self, key_id: str, tag_key: str) -> None: ...
    def list_tags(self, key_id: str, after: str | None, limit: int) -> list[TagRow]: ...
    def count_tags(self, key_id: str) -> int: ...
    def due_rotations(self, now: float, limit: int) -> list[KeyRow]: ...
    def due_deletions(self, now: float, limit: int) -> list[KeyRow]: ...
    def checkpoint(self) -> None: ...
    def insert_import_parameters(self, row: ImportParametersRow) -> None: ...
    def get_import_parameters(self, token_id: str) -> ImportParametersRow | None: ...
    def delete_expired_import_parameters(self, now: float) -> int: ...
    def expired_materials(self, now: float, limit: int) -> list[MaterialRow]: ...
    def delete_material(self, key_id: str, material_id: str) -> None: ...
    def put_usage(self, row: UsageRow) -> None: ...
    def get_usage(self, key_id: str) -> UsageRow | None: ...
    def put_access_key_usage(
        self, access_key_id: str, used_at: float, service: str, region: str
    ) -> None: ...
    def get_access_key_usage(self, access_key_id: str) -> tuple[float, str, str] | None: ...
    def insert_access_key(self, row: AccessKeyRow) -> None: ...
    def get_access_key(self, access_key_id: str) -> AccessKeyRow | None: ...
    def list_access_keys(self) -> list[AccessKeyRow]: ...
    def set_access_key_status(self, access_key_id: str, status: str) -> bool: ...
    def delete_access_key(self, access_key_id: str) -> bool: ...
    def access_keys_generation(self) -> int: ...
    def insert_xks_credential(self, row: XksCredentialRow) -> None: ...
    def get_xks_credential(self, access_key_id: str) -> XksCredentialRow | None: ...
    def list_xks_credentials(self) -> list[XksCredentialRow]: ...
    def delete_xks_credential(self, access_key_id: str) -> bool: ...
    def xks_credentials_generation(self) -> int: ...
    def bind_account(self, account_id: str) -> None: ...
    def insert_custom_key_store(self, row: CustomKeyStoreRow) -> None: ...
    def update_custom_key_store(self, row: CustomKeyStoreRow) -> None: ...
    def get_custom_key_store(self, store_id: str) -> CustomKeyStoreRow | None: ...
    def list_custom_key_stores(self) -> list[CustomKeyStoreRow]: ...
    def delete_custom_key_store(self, store_id: str) -> None: ...
    def store_keys(self, store_id: str, xks_key_id: str | None) -> list[KeyRow]: ...
    def bind_region(self, scope: str) -> None: ...
    def key_copies(self, key_id: str) -> list[KeyRow]: ...
    def delete_expired_sessions(self, before: float) -> int: ...
    def insert_grant(self, row: GrantRow) -> None: ...
    def key_grants(self, key_id: str) -> list[GrantRow]: ...
    def list_grants(
        self,
        key_id: str,
        after: str | None,
        limit: int,
        grant_id: str | None = None,
        grantee: str | None = None,
    ) -> list[GrantRow]: ...
    def list_retirable_grants(
        self, retiring_principal: str, after: str | None, limit: int
    ) -> list[GrantRow]: ...
    def count_grants(self, key_id: str) -> int: ...
    def retire_grant(self, grant_id: str, at: float) -> bool: ...
    def scheduler_lock(self) -> bool | None: ...
    # the identity directory, read when a key policy names principals (any account)
    def get_account(self, account_id: str) -> AccountRow | None: ...
    def get_user(self, account_id: str, user_name: str) -> UserRow | None: ...
    def get_role(self, account_id: str, role_name: str) -> RoleRow | None: ...
    def close(self) -> None: ...


def _columns(cls: type[Any]) -> list[str]:
    return [f.name for f in fields(cls)]


class SQLiteStore(IdentityTables):
    """Keys, aliases and the listing of both are scoped to the *bound* account
    (``bind_account``, once per request before the handler runs): a key of another account is
    not found, an alias name is unique per account, and a new key or alias belongs to the bound
    account. Scheduler work (due rotations, deletions, expiries) spans every account.

    Likewise keys, aliases and what hangs off a key are scoped to the bound *region scope*
    (``bind_region``; ``""``, the home region, until then): key ids and alias names go in and
    come out as the operations layer knows them, and are stored as ``trent.store.regions``
    names them (a key of another region under a region-qualified storage id). A ``KeyRow``
    says its scope (``region``); ``update_key`` writes the row's own scope, whatever is bound.
    Scheduler work spans every account of the bound scope only."""

    # How often data_version() also asks SQLite (commits the shared counter missed), seconds.
    PRAGMA_INTERVAL_S = 1.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self.account_id = ""
        self.scope = ""  # the bound region scope ("" = home; trent.store.regions)
        _make_private(path)
        self._changes = ChangeCounter(path)
        try:
            self._connect(path)
        except BaseException:
            self._changes.close()
            raise

    def _connect(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an acknowledged change survives power loss
        self._db.execute("PRAGMA busy_timeout=15000")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten, not left
        self._in_write = False
        self._holding = False  # inside holding(): successful write blocks stay uncommitted
        self._held = False  # a transaction is open, waiting for commit_held/rollback_held
        self._savepoints = 0
        self._checkpoint_due = False
        self._last_data_version = 0  # moves when another process's commit is seen
        self._own_commits = 0
        self._counter_seen = self._changes.read()
        self._migrate()
        # A writer may have died between its commit and its bump: every cache opened before
        # this store re-reads once. Then start from the count and the PRAGMA as they are.
        with suppress(OSError):  # the PRAGMA covers for it
            self._changes.bump()
        self._counter_seen = self._changes.read()
        self._pragma_seen = self._pragma_data_version()
        self._pragma_at = time.monotonic()

    # --- plumbing -----------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self.write():
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for step in MIGRATIONS[version:]:
                for statement in step.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version={len(MIGRATIONS)}")

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def data_version(self) -> int:
        """A number that moves when another process has committed since the last call (own
        commits do not move it). Reads the shared counter; asks SQLite too once per
        ``PRAGMA_INTERVAL_S``."""
        count = self._changes.read()
        now = time.monotonic()
        if count != self._counter_seen:
            self._counter_seen = count
            self._last_data_version += 1
            self._pragma_seen = self._pragma_data_version()  # the caches re-read past this
            self._pragma_at = now
        elif now - self._pragma_at >= self.PRAGMA_INTERVAL_S:
            self._pragma_at = now
            pragma = self._pragma_data_version()
            if pragma != self._pragma_seen:
                self._pragma_seen = pragma
                self._last_data_version += 1
        return self._last_data_version

    def _pragma_data_version(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def changes(self) -> tuple[int, int]:
        """(the last ``data_version()`` seen, this connection's commits): it differs from an
        earlier answer when anyone committed in between (others as of the last
        ``data_version()`` call). No query."""
        return self._last_data_version, self._own_commits

    @contextmanager
    def write(self) -> Iterator[None]:
        """One transaction: everything inside commits together or not at all.

        A block nested in another joins it. Inside ``holding()`` the commit waits for
        ``commit_held()``; a later block then runs in a savepoint of the held transaction (an
        error in it undoes that block only, as when each block committed on its own)."""
        if self._in_write:
            yield
            return
        if self._held:
            yield from self._savepoint()
            return
        self._begin()
        self._in_write = True
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        else:
            if self._holding:
                self._held = True
            else:
                self._commit()
        finally:
            self._in_write = False

    def _begin(self) -> None:
        """Start a write transaction that excludes every other writer until it ends."""
        self._db.execute("BEGIN IMMEDIATE")

    def _rollback(self) -> None:
        self._db.execute("ROLLBACK")

    def _savepoint(self) -> Iterator[None]:
        self._savepoints += 1
        name = f"trent_{self._savepoints}"
        self._db.execute(f"SAVEPOINT {name}")
        self._in_write = True
        try:
            yield
        except BaseException:
            self._db.execute(f"ROLLBACK TO {name}")
            self._db.execute(f"RELEASE {name}")
            raise
        else:
            self._db.execute(f"RELEASE {name}")
        finally:
            self._in_write = False

    def _commit(self) -> None:
        try:
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL)
                self._db.execute("ROLLBACK")
            raise
        self._own_commits += 1
        try:
            before, after = self._changes.bump()
        except OSError as exc:  # committed all the same; the PRAGMA shows it within a second
            log.warning("could not count a commit in %s: %s", self._changes.path, exc)
            return
        if before == self._counter_seen:  # nobody else committed since: not a change to see
            self._counter_seen = after

    def holding(self) -> AbstractContextManager[None]:
        """Within this block, successful ``write()`` blocks leave their changes uncommitted
        until ``commit_held()`` (or ``rollback_held()``). Leaving the block does neither.

        A plain context manager object, not a generator one: this runs once per request."""
        return _Holding(self)

    @property
    def held(self) -> bool:
        """True while changes wait for ``commit_held()``."""
        return self._held

    def commit_held(self) -> None:
        """Commit the held changes; on failure (e.g. ``sqlite3.OperationalError``, database or
        disk full) they are rolled back and the error is raised."""
        if not self._held:
            return
        self._held = False
        self._commit()
        if self._checkpoint_due:
            self.checkpoint()

    def rollback_held(self) -> None:
        if not self._held:
            return
        self._held = False
        self._rollback()

    def _stored(self, table: str, column: str, row: Any, scope: str) -> Any:
        """A row's value for ``column`` as stored in ``scope`` (trent.store.regions)."""
        value = getattr(row, column)
        if column == "key_id":
            return storage_id(value, scope)
        if table == "aliases" and column == "name":
            return storage_alias(value, scope)
        if column == "region" and table in ("keys", "aliases"):
            return scope
        return value

    def _insert(self, table: str, row: Any, scope: str | None = None) -> None:
        cols = [c for c in _columns(type(row)) if not (table in _SEQ_TABLES and c == "seq")]
        scope = self.scope if scope is None else scope
        values = [self._stored(table, c, row, scope) for c in cols]
        marks = ",".join("?" * len(cols))
        self._db.execute(f"INSERT INTO {table} ({','.join(cols)}) VALUES ({marks})", values)

    def _update(
        self, table: str, row: Any, where: tuple[str, ...], scope: str | None = None
    ) -> None:
        cols = [c for c in _columns(type(row)) if c not in where and c != "seq"]
        assignments = ",".join(f"{c}=?" for c in cols)
        condition = " AND ".join(f"{c}=?" for c in where)
        scope = self.scope if scope is None else scope
        values = [self._stored(table, c, row, scope) for c in (*cols, *where)]
        self._db.execute(f"UPDATE {table} SET {assignments} WHERE {condition}", values)

    def _select(self, cls: type[Row], sql: str, args: tuple[Any, ...]) -> list[Row]:
        names = _columns(cls)
        rows = [cls(*r) for r in self._db.execute(sql.format(cols=",".join(names)), args)]
        if "key_id" in names:  # stored names back to public ones (trent.store.regions)
            for row in rows:
                row.key_id = public_name(row.key_id)  # type: ignore[attr-defined]
                if isinstance(row, AliasRow):
                    row.name = public_name(row.name)
        return rows

    def close(self) -> None:
        self._db.close()
        self._changes.close()

    def scheduler_lock(self) -> bool | None:
        """Whether this process may run the scheduler, for stores shared by several nodes
        (``PostgresStore``); None here: the workers of one node share the file, and the
        ``meta`` lease of ``trent.scheduler.runner`` decides."""
        return None

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def bind_account(self, account_id: str) -> None:
        """Scope keys and aliases to ``account_id`` until the next call."""
        self.account_id = account_id

    def bind_region(self, scope: str) -> None:
        """Scope keys and aliases to region scope ``scope`` ("" = home) until the next call."""
        self.scope = scope

    def _sid(self, key_id: str) -> str:
        return storage_id(key_id, self.scope)

    def key_copies(self, key_id: str) -> list[KeyRow]:
        """The keys named ``key_id`` in every region scope of the bound account (the related
        keys of a multi-Region key), home scope first."""
        sql = (
            "SELECT {cols} FROM keys WHERE account_id=? AND (key_id=? OR key_id LIKE ?) "
            "ORDER BY region"
        )
        return self._select(KeyRow, sql, (self.account_id, key_id, storage_id(key_id, "%")))

    # --- meta ---------------------------------------------------------------------------------
    def get_meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    # --- keys ---------------------------------------------------------------------------------
    def insert_key(self, row: KeyRow) -> None:
        if not row.account_id:
            row.account_id = self.account_id
        row.region = self.scope
        self._insert("keys", row)

    def update_key(self, row: KeyRow) -> None:
        self._update("keys", row, ("key_id",), scope=row.region)

    def delete_key(self, key_id: str) -> None:
        """Remove the key and, by cascade, its materials, aliases and tags."""
        self._db.execute("DELETE FROM keys WHERE key_id=?", (self._sid(key_id),))

    def get_key(self, key_id: str) -> KeyRow | None:
        """The key ``key_id`` of any account (the key ring checks the account)."""
        sql = "SELECT {cols} FROM keys WHERE key_id=?"
        rows = self._select(KeyRow, sql, (self._sid(key_id),))
        return rows[0] if rows else None

    def list_keys(self, after: str | None, limit: int) -> list[KeyRow]:
        return self._select(
            KeyRow,
            "SELECT {cols} FROM keys WHERE account_id=? AND region=? AND key_id > ? "
            "ORDER BY key_id LIMIT ?",
            (self.account_id, self.scope, self._sid(after) if after else "", limit),
        )

    def find_keys(self, match: KeyMatch, after: str | None, limit: int) -> list[KeyRow]:
        """Up to ``limit`` keys of the bound account and scope that ``match`` (``KeyMatch``),
        in ``key_id`` order after ``after`` (keyset paging, as ``list_keys``). One statement:
        it walks ``keys_by_state`` (a state given) or ``keys_by_region`` in key id order and
        stops at ``limit`` matches, so a page costs O(page) when matches are common and one
        pass over the scope's keys (of that state) when they are rare (``text``, spec, usage,
        origin are checked row by row: no full-text index); alias names are matched by one
        scan of the scope's aliases."""
        where = ["account_id=?", "region=?", "key_id > ?"]
        args: list[Any] = [self.account_id, self.scope, self._sid(after) if after else ""]
        for column in ("state", "key_spec", "key_usage", "origin"):
            value = getattr(match, column)
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        if match.text:
            pattern = "%" + _like_escaped(match.text) + "%"
            where.append(
                "(substr(key_id, 1, ?) = ? OR lower(description) LIKE ? ESCAPE '\\' "
                "OR key_id IN (SELECT key_id FROM aliases WHERE account_id=? AND region=? "
                "AND lower(name) LIKE ? ESCAPE '\\'))"
            )
            args += [len(match.text), match.text, pattern, self.account_id, self.scope, pattern]
        sql = "SELECT {cols} FROM keys WHERE " + " AND ".join(where) + " ORDER BY key_id LIMIT ?"
        return self._select(KeyRow, sql, (*args, limit))

    # --- materials ----------------------------------------------------------------------------
    def insert_material(self, row: MaterialRow) -> None:
        self._insert("materials", row)

    def update_material(self, row: MaterialRow) -> None:
        self._update("materials", row, ("key_id", "material_id"))

    def list_materials(self, key_id: str) -> list[MaterialRow]:
        return self._select(
            MaterialRow,
            "SELECT {cols} FROM materials WHERE key_id=? ORDER BY seq",
            (self._sid(key_id),),
        )

    # --- aliases ------------------------------------------------------------------------------
    def get_alias(self, name: str) -> AliasRow | None:
        sql = "SELECT {cols} FROM aliases WHERE account_id=? AND name=?"
        rows = self._select(AliasRow, sql, (self.account_id, storage_alias(name, self.scope)))
        return rows[0] if rows else None

    def insert_alias(self, row: AliasRow) -> None:
        if not row.account_id:
            row.account_id = self.account_id
        self._insert("aliases", row)

    def update_alias(self, row: AliasRow) -> None:
        if not row.account_id:
            row.account_id = self.account_id
        self._update("aliases", row, ("account_id", "name"))

    def delete_alias(self, name: str) -> None:
        self._db.execute(
            "DELETE FROM aliases WHERE account_id=? AND name=?",
            (self.account_id, storage_alias(name, self.scope)),
        )

    def list_aliases(self, key_id: str | None, after: str | None, limit: int) -> list[AliasRow]:
        start = storage_alias(after, self.scope) if after else ""
        if key_id is None:
            sql = (
                "SELECT {cols} FROM aliases WHERE account_id=? AND region=? AND name > ? "
                "ORDER BY name LIMIT ?"
            )
            return self._select(AliasRow, sql, (self.account_id, self.scope, start, limit))
        sql = (
            "SELECT {cols} FROM aliases WHERE account_id=? AND key_id=? AND name > ? "
            "ORDER BY name LIMIT ?"
        )
        return self._select(AliasRow, sql, (self.account_id, self._sid(key_id), start, limit))

    # --- tags ---------------------------------------------------------------------------------
    def put_tag(self, row: TagRow) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO tags VALUES (?, ?, ?)",
            (self._sid(row.key_id), row.tag_key, row.tag_value),
        )

    def delete_tag(self, key_id: str, tag_key: str) -> None:
        self._db.execute(
            "DELETE FROM tags WHERE key_id=? AND tag_key=?", (self._sid(key_id), tag_key)
        )

    def list_tags(self, key_id: str, after: str | None, limit: int) -> list[TagRow]:
        sql = "SELECT {cols} FROM tags WHERE key_id=? AND tag_key > ? ORDER BY tag_key LIMIT ?"
        return self._select(TagRow, sql, (self._sid(key_id), after or "", limit))

    def count_tags(self, key_id: str) -> int:
        sql = "SELECT count(*) FROM tags WHERE key_id=?"
        row = self._db.execute(sql, (self._sid(key_id),)).fetchone()
        return int(row[0])

    def due_rotations(self, now: float, limit: int) -> list[KeyRow]:
        """Keys with rotation enabled whose next rotation time has come (any state)."""
        sql = (
            "SELECT {cols} FROM keys WHERE next_rotation_at <= ? AND rotation_enabled "
            "AND region=? ORDER BY next_rotation_at LIMIT ?"
        )
        return self._select(KeyRow, sql, (now, self.scope, limit))

    def due_deletions(self, now: float, limit: int) -> list[KeyRow]:
        sql = (
            "SELECT {cols} FROM keys WHERE deletion_date <= ? AND region=? "
            "ORDER BY deletion_date LIMIT ?"
        )
        return self._select(KeyRow, sql, (now, self.scope, limit))

    def checkpoint(self) -> None:
        """Fold the WAL into the database and truncate it (after destroying material). While a
        change is held it runs right after ``commit_held()`` (SQLite cannot checkpoint inside
        a transaction)."""
        if self._held or self._in_write:
            self._checkpoint_due = True
            return
        self._checkpoint_due = False
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # --- imports ------------------------------------------------------------------------------
    def insert_import_parameters(self, row: ImportParametersRow) -> None:
        self._insert("import_parameters", row)

    def get_import_parameters(self, token_id: str) -> ImportParametersRow | None:
        sql = "SELECT {cols} FROM import_parameters WHERE token_id=?"
        rows = self._select(ImportParametersRow, sql, (token_id,))
        return rows[0] if rows else None

    def delete_expired_import_parameters(self, now: float) -> int:
        """Destroy wrapping key pairs whose import token expired; returns how many."""
        cursor = self._db.execute("DELETE FROM import_parameters WHERE expires_at <= ?", (now,))
        return cursor.rowcount

    def expired_materials(self, now: float, limit: int) -> list[MaterialRow]:
        """Materials still held whose expiry time has come."""
        sql = (
            "SELECT {cols} FROM materials WHERE valid_to <= ? AND sealed IS NOT NULL "
            "AND key_id IN (SELECT key_id FROM keys WHERE region=?) ORDER BY valid_to LIMIT ?"
        )
        return self._select(MaterialRow, sql, (now, self.scope, limit))

    def delete_material(self, key_id: str, material_id: str) -> None:
        self._db.execute(
            "DELETE FROM materials WHERE key_id=? AND material_id=?",
            (self._sid(key_id), material_id),
        )

    # --- grants -------------------------------------------------------------------------------
    def insert_grant(self, row: GrantRow) -> None:
        self._insert("grants", row)

    def key_grants(self, key_id: str) -> list[GrantRow]:
        """Every grant of ``key_id`` in creation order, retired ones (tombstones) included."""
        sql = "SELECT {cols} FROM grants WHERE key_id=? ORDER BY seq"
        return self._select(GrantRow, sql, (self._sid(key_id),))

    def list_grants(
        self,
        key_id: str,
        after: str | None,
        limit: int,
        grant_id: str | None = None,
        grantee: str | None = None,
    ) -> list[GrantRow]:
        """A page of the live grants of ``key_id`` after position ``after`` (a seq)."""
        sql = "SELECT {cols} FROM grants WHERE key_id=? AND retired_at IS NULL AND seq > ?"
        args: list[Any] = [self._sid(key_id), int(after or 0)]
        if grant_id is not None:
            sql += " AND grant_id=?"
            args.append(grant_id)
        if grantee is not None:
            sql += " AND grantee_principal=?"
            args.append(grantee)
        return self._select(GrantRow, sql + " ORDER BY seq LIMIT ?", (*args, limit))

    def list_retirable_grants(
        self, retiring_principal: str, after: str | None, limit: int
    ) -> list[GrantRow]:
        """Live grants of any account's keys in the bound region scope whose retiring
        principal is given."""
        sql = (
            "SELECT {cols} FROM grants WHERE retiring_principal=? AND retired_at IS NULL "
            "AND seq > ? AND key_id IN (SELECT key_id FROM keys WHERE region=?) "
            "ORDER BY seq LIMIT ?"
        )
        args = (retiring_principal, int(after or 0), self.scope, limit)
        return self._select(GrantRow, sql, args)

    def count_grants(self, key_id: str) -> int:
        sql = "SELECT count(*) FROM grants WHERE key_id=? AND retired_at IS NULL"
        return int(self._db.execute(sql, (self._sid(key_id),)).fetchone()[0])

    def retire_grant(self, grant_id: str, at: float) -> bool:
        """Mark a live grant retired (retire or revoke); False when it is not live."""
        cursor = self._db.execute(
            "UPDATE grants SET retired_at=? WHERE grant_id=? AND retired_at IS NULL",
            (at, grant_id),
        )
        return cursor.rowcount > 0

    # --- key usage ----------------------------------------------------------------------------
    def put_usage(self, row: UsageRow) -> None:
        """Record a use unless a later one is already recorded (or the key is gone)."""
        self._db.execute(
            "INSERT INTO key_usage SELECT ?, ?, ?, ?, ? WHERE EXISTS "
            "(SELECT 1 FROM keys WHERE key_id=?) ON CONFLICT (key_id) DO UPDATE SET "
            "operation=excluded.operation, used_at=excluded.used_at, "
            "request_id=excluded.request_id, event_id=excluded.event_id "
            "WHERE excluded.used_at >= key_usage.used_at",
            (self._sid(row.key_id), *astuple(row)[1:], self._sid(row.key_id)),
        )

    def get_usage(self, key_id: str) -> UsageRow | None:
        sql = "SELECT {cols} FROM key_usage WHERE key_id=?"
        rows = self._select(UsageRow, sql, (self._sid(key_id),))
        return rows[0] if rows else None

    def put_access_key_usage(
        self, access_key_id: str, used_at: float, service: str, region: str
    ) -> None:
        """Record an access key's use unless a later one is recorded (or the key is gone)."""
        self._db.execute(
            "INSERT INTO access_key_usage SELECT ?, ?, ?, ? WHERE EXISTS "
            "(SELECT 1 FROM access_keys WHERE access_key_id=?) ON CONFLICT (access_key_id) "
            "DO UPDATE SET used_at=excluded.used_at, service=excluded.service, "
            "region=excluded.region WHERE excluded.used_at >= access_key_usage.used_at",
            (access_key_id, used_at, service, region, access_key_id),
        )

    def get_access_key_usage(self, access_key_id: str) -> tuple[float, str, str] | None:
        """(when, service signing name, region) of the key's last recorded use, or None."""
        row = self._db.execute(
            "SELECT used_at, service, region FROM access_key_usage WHERE access_key_id=?",
            (access_key_id,),
        ).fetchone()
        return (float(row[0]), str(row[1]), str(row[2])) if row else None

    # --- access keys --------------------------------------------------------------------------
    def insert_access_key(self, row: AccessKeyRow) -> None:
        with self.write():
            self._insert("access_keys", row)
            self._bump_access_keys_generation()

    def list_access_keys(self) -> list[AccessKeyRow]:
        sql = "SELECT {cols} FROM access_keys ORDER BY created_at, access_key_id"
        return self._select(AccessKeyRow, sql, ())

    def set_access_key_status(self, access_key_id: str, status: str) -> bool:
        """Mark a key ``Active`` or ``Inactive``; False when there is no such key."""
        if status not in ACCESS_KEY_STATUSES:
            raise ValueError(f"access key status must be one of {ACCESS_KEY_STATUSES}")
        with self.write():
            cursor = self._db.execute(
                "UPDATE access_keys SET status=? WHERE access_key_id=?", (status, access_key_id)
            )
            self._bump_access_keys_generation()
        return cursor.rowcount > 0

    def delete_access_key(self, access_key_id: str) -> bool:
        """Remove a key; False when there is no such key."""
        with self.write():
            cursor = self._db.execute(
                "DELETE FROM access_keys WHERE access_key_id=?", (access_key_id,)
            )
            self._db.execute("DELETE FROM access_key_usage WHERE access_key_id=?", (access_key_id,))
            self._bump_access_keys_generation()
        return cursor.rowcount > 0

    def access_keys_generation(self) -> int:
        """A counter that every access-key change increases (0 before the first)."""
        return int(self.get_meta(ACCESS_KEYS_GENERATION) or 0)

    def get_access_key(self, access_key_id: str) -> AccessKeyRow | None:
        sql = "SELECT {cols} FROM access_keys WHERE access_key_id=?"
        rows = self._select(AccessKeyRow, sql, (access_key_id,))
        return rows[0] if rows else None

    # --- XKS proxy credentials ----------------------------------------------------------------
    def insert_xks_credential(self, row: XksCredentialRow) -> None:
        with self.write():
            self._insert("xks_credentials", row)
            self._bump(XKS_CREDENTIALS_GENERATION)

    def get_xks_credential(self, access_key_id: str) -> XksCredentialRow | None:
        sql = "SELECT {cols} FROM xks_credentials WHERE access_key_id=?"
        rows = self._select(XksCredentialRow, sql, (access_key_id,))
        return rows[0] if rows else None

    def list_xks_credentials(self) -> list[XksCredentialRow]:
        sql = "SELECT {cols} FROM xks_credentials ORDER BY path_prefix, created_at, access_key_id"
        return self._select(XksCredentialRow, sql, ())

    def delete_xks_credential(self, access_key_id: str) -> bool:
        """Remove a credential; False when there is no such credential."""
        with self.write():
            cursor = self._db.execute(
                "DELETE FROM xks_credentials WHERE access_key_id=?", (access_key_id,)
            )
            self._bump(XKS_CREDENTIALS_GENERATION)
        return cursor.rowcount > 0

    def xks_credentials_generation(self) -> int:
        """A counter that every XKS credential change increases (0 before the first)."""
        return int(self.get_meta(XKS_CREDENTIALS_GENERATION) or 0)

    def _bump(self, counter: str) -> None:
        self._db.execute(
            "INSERT INTO meta (name, value) VALUES (?, '1') ON CONFLICT (name) "
            "DO UPDATE SET value = CAST(meta.value AS INTEGER) + 1",
            (counter,),
        )

    # --- custom key stores (external key stores) ------------------------------------------------
    def insert_custom_key_store(self, row: CustomKeyStoreRow) -> None:
        if not row.account_id:
            row.account_id = self.account_id
        self._insert("custom_key_stores", row)

    def update_custom_key_store(self, row: CustomKeyStoreRow) -> None:
        self._update("custom_key_stores", row, ("custom_key_store_id",))

    def get_custom_key_store(self, store_id: str) -> CustomKeyStoreRow | None:
        """The store ``store_id`` of any account (the operations check the account)."""
        sql = "SELECT {cols} FROM custom_key_stores WHERE custom_key_store_id=?"
        rows = self._select(CustomKeyStoreRow, sql, (store_id,))
        return rows[0] if rows else None

    def list_custom_key_stores(self) -> list[CustomKeyStoreRow]:
        """The bound account's stores, oldest first."""
        sql = (
            "SELECT {cols} FROM custom_key_stores WHERE account_id=? "
            "ORDER BY created_at, custom_key_store_id"
        )
        return self._select(CustomKeyStoreRow, sql, (self.account_id,))

    def delete_custom_key_store(self, store_id: str) -> None:
        self._db.execute("DELETE FROM custom_key_stores WHERE custom_key_store_id=?", (store_id,))

    def store_keys(self, store_id: str, xks_key_id: str | None) -> list[KeyRow]:
        """The keys of store ``store_id`` (every account), only those of one external key
        when ``xks_key_id`` is given."""
        sql = "SELECT {cols} FROM keys WHERE custom_key_store_id=?"
        args: tuple[str, ...] = (store_id,)
        if xks_key_id is not None:
            sql, args = sql + " AND xks_key_id=?", (store_id, xks_key_id)
        return self._select(KeyRow, sql, args)

    # --- re-seal (trent.store.sealed) ---------------------------------------------------------
    def sealed_values_without(
        self, column: SealedColumn, prefix: bytes, limit: int
    ) -> list[SealedValue]:
        """Up to ``limit`` values of ``column`` that do not start with ``prefix`` (the newest
        root key version's), NULLs excepted."""
        keys = ",".join(column.row_key)
        sql = (
            f"SELECT {keys}, {column.owner}, {column.column} FROM {column.table} "
            f"WHERE {column.column} IS NOT NULL AND substr({column.column}, 1, ?) != ? "
            f"ORDER BY {keys} LIMIT ?"
        )
        width = len(column.row_key)
        return [
            SealedValue(column, tuple(r[:width]), str(r[width]), bytes(r[width + 1]))
            for r in self._db.execute(sql, (len(prefix), prefix, limit))
        ]

    def replace_sealed(self, value: SealedValue, resealed: bytes) -> bool:
        """Swap ``value`` for ``resealed`` unless the row changed meanwhile; True if swapped."""
        column = value.column
        condition = " AND ".join(f"{c}=?" for c in column.row_key)
        cursor = self._db.execute(
            f"UPDATE {column.table} SET {column.column}=? WHERE {condition} AND {column.column}=?",
            (resealed, *value.row, value.sealed),
        )
        return cursor.rowcount > 0


def _make_private(path: Path) -> None:
    """Create the database file 0600 (before SQLite does, with the umask's mode), or make an
    existing one and its ``-wal``/``-shm`` 0600."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm", "-journal"):
        with suppress(FileNotFoundError):
            os.chmod(f"{path}{suffix}", 0o600)


class _Holding:
    """``SQLiteStore.holding()``: the store's holding flag set for the block."""

    __slots__ = ("_store",)

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    def __enter__(self) -> None:
        self._store._holding = True

    def __exit__(self, *exc: object) -> None:
        self._store._holding = False
