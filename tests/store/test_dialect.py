"""The PostgreSQL dialect map (``trent.store.postgres.translate``): a migration another engineer
appends in portable SQL applies on both stores, and what is not portable is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from trent.store import SQLiteStore
from trent.store import sqlite as sqlite_module
from trent.store.postgres import PostgresStore, translate

# What a new migration may use: the four types, defaults, a foreign key, an autoincrement key,
# ALTER TABLE ... ADD COLUMN, partial indexes, INSERT ... ON CONFLICT ... DO UPDATE.
PORTABLE = """
    CREATE TABLE widgets (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        key_id TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
        weight REAL NOT NULL,
        blob BLOB,
        count INTEGER NOT NULL DEFAULT 0
    );
    ALTER TABLE widgets ADD COLUMN label TEXT NOT NULL DEFAULT 'b';
    CREATE INDEX widgets_heavy ON widgets (weight) WHERE weight > 1.5;
    INSERT INTO meta (name, value) VALUES ('widgets', '1')
        ON CONFLICT (name) DO UPDATE SET value = excluded.value
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_new_portable_migration_applies_on_both_stores(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "MIGRATIONS", [*sqlite_module.MIGRATIONS, PORTABLE])
    if kind == "sqlite":
        store: SQLiteStore = SQLiteStore(tmp_path / "t.db")
    else:
        import trent.store.postgres as postgres_module

        monkeypatch.setattr(postgres_module, "MIGRATIONS", sqlite_module.MIGRATIONS)
        store = PostgresStore(request.getfixturevalue("postgres").create_database())
    try:
        assert store.schema_version() == len(sqlite_module.MIGRATIONS)
        assert store.get_meta("widgets") == "1"
        from tests.store.test_conformance import key_row

        key = key_row()
        with store.write():
            store.insert_key(key)
            for weight in (1.0, 2.5):
                store._db.execute(
                    "INSERT INTO widgets (key_id, weight, blob, label) VALUES (?, ?, ?, ?)",
                    (key.key_id, weight, b"\x00\xff", "Zz"),
                )
        rows = list(store._db.execute("SELECT seq, weight, blob, count, label FROM widgets"))
        assert [(r[1], bytes(r[2]), r[3], r[4]) for r in rows] == [
            (1.0, b"\x00\xff", 0, "Zz"),
            (2.5, b"\x00\xff", 0, "Zz"),
        ]
        assert rows[0][0] < rows[1][0]
        with store.write():
            store.delete_key(key.key_id)
        assert store._db.execute("SELECT count(*) FROM widgets").fetchone()[0] == 0
    finally:
        store.close()


def test_translation_of_the_dialect() -> None:
    assert translate("CREATE TABLE t (a INTEGER, b REAL, c BLOB, d TEXT)") == (
        'CREATE TABLE t (a BIGINT, b DOUBLE PRECISION, c BYTEA, d TEXT COLLATE "C")'
    )
    assert "COLLATE NOCASE" in translate("CREATE TABLE t (n TEXT NOT NULL COLLATE NOCASE)")
    assert translate("SELECT CAST(value AS TEXT) FROM meta") == (
        "SELECT CAST(value AS TEXT) FROM meta"
    )
    assert translate("INSERT OR IGNORE INTO t SELECT 1").endswith("ON CONFLICT DO NOTHING")
    for bad in ("INSERT OR REPLACE INTO t VALUES (1)", "PRAGMA user_version=3"):
        with pytest.raises(ValueError, match="not portable"):
            translate(bad)
