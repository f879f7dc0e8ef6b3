"""What only ``SQLiteStore`` does (WAL mode, ``PRAGMA user_version``, ``data_version()``
not counting its own commits). Every Store behaviour both stores share is in
test_conformance.py."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.store.test_conformance import key_row
from trent.store import SQLiteStore
from trent.store.sqlite import MIGRATIONS

T = TypeVar("T")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "trent.db"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(path)
    yield opened
    opened.close()


# --- schema ----------------------------------------------------------------------------------
def test_migrations_set_schema_version(store: SQLiteStore, path: Path) -> None:
    assert store.schema_version() == len(MIGRATIONS) >= 1
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", "keys", "materials", "aliases", "tags", "access_keys"} <= tables
    assert store.integrity_check() == "ok"


# --- data_version ----------------------------------------------------------------------------
def test_data_version_changes_when_another_connection_commits(
    store: SQLiteStore, path: Path
) -> None:
    other = SQLiteStore(path)
    try:
        version = store.data_version()
        assert store.data_version() == version  # stable while nothing happens
        with store.write():
            store.insert_key(key_row())
        assert store.data_version() == version  # own commits do not count
        seen_by_other = other.data_version()
        key = key_row()
        with other.write():
            other.insert_key(key)
        assert store.data_version() != version
        assert store.get_key(key.key_id) == key
        assert other.data_version() == seen_by_other
        # A rolled-back write elsewhere changes nothing.
        version = store.data_version()
        with pytest.raises(RuntimeError), other.write():
            other.insert_key(key_row())
            raise RuntimeError("abandon")
        assert store.data_version() == version
    finally:
        other.close()


def test_another_stores_commit_is_seen_through_the_shared_counter(
    store: SQLiteStore, path: Path
) -> None:
    """Without asking SQLite: the PRAGMA fallback is put off for the whole test."""
    store.PRAGMA_INTERVAL_S = 3600.0
    other = SQLiteStore(path)
    try:
        version = store.data_version()
        with other.write():
            other.insert_key(key_row())
        assert store.data_version() != version
        assert path.with_name(path.name + "-changes").stat().st_mode & 0o777 == 0o600
    finally:
        other.close()


def test_a_commit_the_counter_missed_is_seen_by_the_pragma_or_a_store_opening(
    store: SQLiteStore, path: Path
) -> None:
    """A writer that died between its commit and its bump (here: a plain sqlite3 connection,
    which never bumps) is seen once PRAGMA_INTERVAL_S has passed, or when a store opens."""
    store.PRAGMA_INTERVAL_S = 3600.0
    version = store.data_version()
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO meta (name, value) VALUES ('outside', '1')")
    assert store.data_version() == version  # not in the count, and the PRAGMA is not due
    SQLiteStore(path).close()  # opening bumps the count
    assert store.data_version() != version

    version = store.data_version()
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO meta (name, value) VALUES ('outside-2', '1')")
    store.PRAGMA_INTERVAL_S = 0.0
    assert store.data_version() != version
    assert store.data_version() == store.data_version()  # then stable again


def test_the_counter_file_belongs_to_the_databases_owner(tmp_path: Path) -> None:
    """Opened by root (a ``sudo trent admin ...``), it is handed to the database's owner as
    SQLite hands over ``-wal`` and ``-shm``: the service's own user can still open it."""
    path = tmp_path / "trent.db"
    SQLiteStore(path).close()
    counter = path.with_name(path.name + "-changes")
    counter.unlink()
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
    SQLiteStore(path).close()
    made, database = counter.stat(), path.stat()
    assert (made.st_uid, made.st_gid) == (database.st_uid, database.st_gid)
    assert made.st_size == 8 and made.st_blocks > 0  # written, not sparse


def test_a_failed_bump_keeps_the_commit_and_the_pragma_shows_it(
    store: SQLiteStore, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = SQLiteStore(path)
    try:
        other.PRAGMA_INTERVAL_S = 0.0
        version = other.data_version()

        def full() -> tuple[bytes, bytes]:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(store._changes, "bump", full)
        key = key_row()
        with store.write():
            store.insert_key(key)
        assert store.get_key(key.key_id) == key  # committed all the same
        assert other.data_version() != version
        assert other.get_key(key.key_id) == key
    finally:
        other.close()
    store.close()
    store.close()  # closing twice does nothing (the fixture closes it a third time)
