"""Storage of accounts, IAM users, roles, policies, tags and STS sessions (issue 14).

A mixin of ``SQLiteStore``: plain rows, no AWS rules (limits, conflicts and messages belong to
``trent.identity``). Names of users, roles and policies are unique per account ignoring case,
as IAM's are. Every change bumps the access-key generation in the same transaction, so each
worker drops the principals and policies it cached (``trent.protocol.asgi.Credentials``).
Callers change rows inside ``write()``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from trent.store.records import (
    AccessKeyRow,
    AccountRow,
    ManagedPolicyRow,
    RoleRow,
    SessionRow,
    UserRow,
)

ACCESS_KEYS_GENERATION = "access_keys_generation"

# Schema version 5 (appended to ``trent.store.sqlite.MIGRATIONS``): account scoping of keys and
# aliases, access keys naming their account and user (the first-start ``admin`` key becomes
# the default account's root), and the identity tables.
MIGRATION_ACCOUNTS = """
    ALTER TABLE keys ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
    UPDATE keys SET account_id = COALESCE((SELECT value FROM meta WHERE name='account_id'), '');
    CREATE INDEX keys_by_account ON keys (account_id, key_id);
    CREATE TABLE aliases_v5 (
        account_id TEXT NOT NULL,
        name TEXT NOT NULL,
        key_id TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (account_id, name)
    );
    INSERT INTO aliases_v5 (account_id, name, key_id, created_at, updated_at)
        SELECT keys.account_id, aliases.name, aliases.key_id, aliases.created_at,
               aliases.updated_at
        FROM aliases JOIN keys ON keys.key_id = aliases.key_id;
    DROP TABLE aliases;
    ALTER TABLE aliases_v5 RENAME TO aliases;
    CREATE INDEX aliases_by_key ON aliases (key_id, name);
    ALTER TABLE access_keys ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE access_keys ADD COLUMN user_name TEXT;
    UPDATE access_keys SET account_id = substr(principal, 14, 12);
    UPDATE access_keys SET user_name = substr(principal, 32)
        WHERE principal LIKE 'arn:aws:iam::____________:user/%';
    UPDATE access_keys SET user_name = NULL, principal = 'arn:aws:iam::' || account_id || ':root'
        WHERE user_name = 'admin'
        AND account_id = (SELECT value FROM meta WHERE name='account_id');
    CREATE TABLE accounts (account_id TEXT PRIMARY KEY, created_at REAL NOT NULL);
    INSERT INTO accounts SELECT value, 0 FROM meta WHERE name='account_id';
    CREATE TABLE users (
        account_id TEXT NOT NULL,
        user_name TEXT NOT NULL COLLATE NOCASE,
        user_id TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (account_id, user_name)
    );
    INSERT OR IGNORE INTO users (account_id, user_name, user_id, path, created_at)
        SELECT account_id, user_name, 'AIDA' || upper(hex(randomblob(8))), '/', min(created_at)
        FROM access_keys WHERE user_name IS NOT NULL GROUP BY account_id, user_name;
    CREATE INDEX access_keys_by_user ON access_keys (account_id, user_name);
    CREATE TABLE roles (
        account_id TEXT NOT NULL,
        role_name TEXT NOT NULL COLLATE NOCASE,
        role_id TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL,
        created_at REAL NOT NULL,
        trust_policy TEXT NOT NULL,
        max_session_duration INTEGER NOT NULL,
        description TEXT NOT NULL,
        PRIMARY KEY (account_id, role_name)
    );
    CREATE TABLE managed_policies (
        account_id TEXT NOT NULL,
        policy_name TEXT NOT NULL COLLATE NOCASE,
        policy_id TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL,
        document TEXT NOT NULL,
        description TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (account_id, policy_name)
    );
    CREATE TABLE inline_policies (
        account_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        owner TEXT NOT NULL COLLATE NOCASE,
        policy_name TEXT NOT NULL COLLATE NOCASE,
        document TEXT NOT NULL,
        PRIMARY KEY (account_id, kind, owner, policy_name)
    );
    CREATE TABLE attachments (
        account_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        owner TEXT NOT NULL COLLATE NOCASE,
        policy_arn TEXT NOT NULL,
        PRIMARY KEY (account_id, kind, owner, policy_arn)
    );
    CREATE INDEX attachments_by_policy ON attachments (policy_arn);
    CREATE TABLE identity_tags (
        account_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        owner TEXT NOT NULL COLLATE NOCASE,
        tag_key TEXT NOT NULL,
        tag_value TEXT NOT NULL,
        PRIMARY KEY (account_id, kind, owner, tag_key)
    );
    CREATE TABLE sessions (
        access_key_id TEXT PRIMARY KEY,
        sealed_secret BLOB NOT NULL,
        token_sha256 TEXT NOT NULL,
        account_id TEXT NOT NULL,
        role_name TEXT NOT NULL,
        session_name TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        policy TEXT NOT NULL,
        policy_arns TEXT NOT NULL,
        tags TEXT NOT NULL,
        source_arn TEXT NOT NULL,
        chained INTEGER NOT NULL
    );
    CREATE INDEX sessions_expiry ON sessions (expires_at);
"""

_COLUMNS: dict[type[Any], str] = {
    cls: ",".join(cls.__dataclass_fields__)
    for cls in (AccountRow, UserRow, RoleRow, ManagedPolicyRow, SessionRow, AccessKeyRow)
}


class IdentityTables:
    """Accounts, users, roles, policies, attachments, tags and sessions (mixin)."""

    _db: sqlite3.Connection

    def _bump_access_keys_generation(self) -> None:
        self._db.execute(
            "INSERT INTO meta (name, value) VALUES (?, '1') ON CONFLICT (name) "
            "DO UPDATE SET value = CAST(meta.value AS INTEGER) + 1",
            (ACCESS_KEYS_GENERATION,),
        )

    def _put(self, table: str, row: Any) -> None:
        cols = _COLUMNS[type(row)]
        values = [getattr(row, c) for c in cols.split(",")]
        marks = ",".join("?" * len(values))
        self._db.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", values)
        self._bump_access_keys_generation()

    def _rows(self, cls: type[Any], sql: str, args: tuple[Any, ...]) -> list[Any]:
        return [cls(*r) for r in self._db.execute(sql.format(cols=_COLUMNS[cls]), args)]

    def _change(self, sql: str, args: tuple[Any, ...]) -> int:
        cursor = self._db.execute(sql, args)
        self._bump_access_keys_generation()
        return cursor.rowcount

    # --- accounts -----------------------------------------------------------------------------
    def insert_account(self, row: AccountRow) -> None:
        self._put("accounts", row)

    def get_account(self, account_id: str) -> AccountRow | None:
        rows = self._rows(
            AccountRow, "SELECT {cols} FROM accounts WHERE account_id=?", (account_id,)
        )
        return rows[0] if rows else None

    def list_accounts(self) -> list[AccountRow]:
        return self._rows(AccountRow, "SELECT {cols} FROM accounts ORDER BY created_at", ())

    # --- users --------------------------------------------------------------------------------
    def insert_user(self, row: UserRow) -> None:
        self._put("users", row)

    def get_user(self, account_id: str, user_name: str) -> UserRow | None:
        sql = "SELECT {cols} FROM users WHERE account_id=? AND user_name=?"
        rows = self._rows(UserRow, sql, (account_id, user_name))
        return rows[0] if rows else None

    def list_users(self, account_id: str, path_prefix: str) -> list[UserRow]:
        sql = (
            "SELECT {cols} FROM users WHERE account_id=? AND substr(path, 1, ?)=? "
            "ORDER BY user_name COLLATE NOCASE"
        )
        return self._rows(UserRow, sql, (account_id, len(path_prefix), path_prefix))

    def delete_user(self, account_id: str, user_name: str) -> None:
        self._change(
            "DELETE FROM identity_tags WHERE account_id=? AND kind='user' AND owner=?",
            (account_id, user_name),
        )
        self._change(
            "DELETE FROM users WHERE account_id=? AND user_name=?", (account_id, user_name)
        )

    def user_access_keys(self, account_id: str, user_name: str | None) -> list[AccessKeyRow]:
        """The access keys of a user (``None``: of the account's root), oldest first."""
        if user_name is None:
            sql = "SELECT {cols} FROM access_keys WHERE account_id=? AND user_name IS NULL"
            args: tuple[Any, ...] = (account_id,)
        else:
            sql = "SELECT {cols} FROM access_keys WHERE account_id=? AND user_name=?"
            args = (account_id, user_name)
        return self._rows(AccessKeyRow, sql + " ORDER BY created_at, access_key_id", args)

    # --- roles --------------------------------------------------------------------------------
    def insert_role(self, row: RoleRow) -> None:
        self._put("roles", row)

    def get_role(self, account_id: str, role_name: str) -> RoleRow | None:
        sql = "SELECT {cols} FROM roles WHERE account_id=? AND role_name=?"
        rows = self._rows(RoleRow, sql, (account_id, role_name))
        return rows[0] if rows else None

    def list_roles(self, account_id: str, path_prefix: str) -> list[RoleRow]:
        sql = (
            "SELECT {cols} FROM roles WHERE account_id=? AND substr(path, 1, ?)=? "
            "ORDER BY role_name COLLATE NOCASE"
        )
        return self._rows(RoleRow, sql, (account_id, len(path_prefix), path_prefix))

    def set_role_trust(self, account_id: str, role_name: str, document: str) -> None:
        self._change(
            "UPDATE roles SET trust_policy=? WHERE account_id=? AND role_name=?",
            (document, account_id, role_name),
        )

    def delete_role(self, account_id: str, role_name: str) -> None:
        self._change(
            "DELETE FROM identity_tags WHERE account_id=? AND kind='role' AND owner=?",
            (account_id, role_name),
        )
        self._change(
            "DELETE FROM roles WHERE account_id=? AND role_name=?", (account_id, role_name)
        )

    # --- managed policies ---------------------------------------------------------------------
    def insert_policy(self, row: ManagedPolicyRow) -> None:
        self._put("managed_policies", row)

    def get_policy(self, account_id: str, policy_name: str) -> ManagedPolicyRow | None:
        sql = "SELECT {cols} FROM managed_policies WHERE account_id=? AND policy_name=?"
        rows = self._rows(ManagedPolicyRow, sql, (account_id, policy_name))
        return rows[0] if rows else None

    def list_policies(self, account_id: str, path_prefix: str) -> list[ManagedPolicyRow]:
        sql = (
            "SELECT {cols} FROM managed_policies WHERE account_id=? AND substr(path, 1, ?)=? "
            "ORDER BY policy_name COLLATE NOCASE"
        )
        return self._rows(ManagedPolicyRow, sql, (account_id, len(path_prefix), path_prefix))

    def delete_policy(self, account_id: str, policy_name: str) -> None:
        self._change(
            "DELETE FROM managed_policies WHERE account_id=? AND policy_name=?",
            (account_id, policy_name),
        )

    # --- inline policies ----------------------------------------------------------------------
    def put_inline_policy(
        self, account_id: str, kind: str, owner: str, name: str, document: str
    ) -> None:
        self._change(
            "INSERT INTO inline_policies VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
            "document=excluded.document",
            (account_id, kind, owner, name, document),
        )

    def get_inline_policy(
        self, account_id: str, kind: str, owner: str, name: str
    ) -> tuple[str, str] | None:
        """(the stored policy name, its document), or None."""
        row = self._db.execute(
            "SELECT policy_name, document FROM inline_policies WHERE account_id=? AND kind=? "
            "AND owner=? AND policy_name=?",
            (account_id, kind, owner, name),
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def list_inline_policies(self, account_id: str, kind: str, owner: str) -> list[tuple[str, str]]:
        """(name, document) of each inline policy of a user or role, by name."""
        rows = self._db.execute(
            "SELECT policy_name, document FROM inline_policies WHERE account_id=? AND kind=? "
            "AND owner=? ORDER BY policy_name",
            (account_id, kind, owner),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    def delete_inline_policy(self, account_id: str, kind: str, owner: str, name: str) -> bool:
        sql = (
            "DELETE FROM inline_policies WHERE account_id=? AND kind=? AND owner=? "
            "AND policy_name=?"
        )
        return self._change(sql, (account_id, kind, owner, name)) > 0

    # --- attachments --------------------------------------------------------------------------
    def attach_policy(self, account_id: str, kind: str, owner: str, policy_arn: str) -> None:
        self._change(
            "INSERT OR IGNORE INTO attachments VALUES (?, ?, ?, ?)",
            (account_id, kind, owner, policy_arn),
        )

    def detach_policy(self, account_id: str, kind: str, owner: str, policy_arn: str) -> bool:
        sql = "DELETE FROM attachments WHERE account_id=? AND kind=? AND owner=? AND policy_arn=?"
        return self._change(sql, (account_id, kind, owner, policy_arn)) > 0

    def attached_policies(self, account_id: str, kind: str, owner: str) -> list[str]:
        rows = self._db.execute(
            "SELECT policy_arn FROM attachments WHERE account_id=? AND kind=? AND owner=? "
            "ORDER BY policy_arn",
            (account_id, kind, owner),
        )
        return [str(r[0]) for r in rows]

    def attachment_count(self, policy_arn: str) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM attachments WHERE policy_arn=?", (policy_arn,)
        ).fetchone()
        return int(row[0])

    # --- tags ---------------------------------------------------------------------------------
    def put_identity_tag(
        self, account_id: str, kind: str, owner: str, key: str, value: str
    ) -> None:
        self._change(
            "INSERT INTO identity_tags VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
            "tag_value=excluded.tag_value",
            (account_id, kind, owner, key, value),
        )

    def delete_identity_tag(self, account_id: str, kind: str, owner: str, key: str) -> None:
        self._change(
            "DELETE FROM identity_tags WHERE account_id=? AND kind=? AND owner=? AND tag_key=?",
            (account_id, kind, owner, key),
        )

    def identity_tags(self, account_id: str, kind: str, owner: str) -> list[tuple[str, str]]:
        rows = self._db.execute(
            "SELECT tag_key, tag_value FROM identity_tags WHERE account_id=? AND kind=? "
            "AND owner=? ORDER BY tag_key",
            (account_id, kind, owner),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    # --- sessions -----------------------------------------------------------------------------
    def insert_session(self, row: SessionRow) -> None:
        self._put("sessions", row)

    def get_session(self, access_key_id: str) -> SessionRow | None:
        sql = "SELECT {cols} FROM sessions WHERE access_key_id=?"
        rows = self._rows(SessionRow, sql, (access_key_id,))
        return rows[0] if rows else None

    def delete_expired_sessions(self, before: float) -> int:
        """Forget sessions that expired before ``before`` (epoch seconds); how many."""
        cursor = self._db.execute("DELETE FROM sessions WHERE expires_at < ?", (before,))
        return cursor.rowcount
