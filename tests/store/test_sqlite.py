"""trent.store.SQLiteStore on a temporary file: schema, rows, cascades, transactions, paging."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from trent.store import AccessKeyRow, AliasRow, KeyRow, MaterialRow, SQLiteStore, TagRow
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


def key_row(key_id: str | None = None, **changes: object) -> KeyRow:
    row = KeyRow(
        key_id=key_id or str(uuid.uuid4()),
        created_at=1_700_000_000.5,
        description="d",
        key_usage="ENCRYPT_DECRYPT",
        key_spec="SYMMETRIC_DEFAULT",
        origin="AWS_KMS",
        state="Enabled",
        policy="{}",
    )
    for name, value in changes.items():
        setattr(row, name, value)
    return row


def material_row(key_id: str, n: int = 0) -> MaterialRow:
    return MaterialRow(
        key_id=key_id,
        material_id=f"{n:064x}",
        sealed=bytes([n]) * 40,
        state="CURRENT",
        created_at=1_700_000_000.0 + n,
    )


def add_key_with_everything(store: SQLiteStore, key_id: str) -> None:
    with store.write():
        store.insert_key(key_row(key_id))
        store.insert_material(material_row(key_id, 1))
        store.insert_alias(AliasRow(f"alias/{key_id}", key_id, 1.0, 2.0))
        store.put_tag(TagRow(key_id, "team", "crypto"))


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# --- schema ----------------------------------------------------------------------------------
def test_migrations_set_schema_version(store: SQLiteStore, path: Path) -> None:
    assert store.schema_version() == len(MIGRATIONS) >= 1
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", "keys", "materials", "aliases", "tags", "access_keys"} <= tables
    assert store.integrity_check() == "ok"


def test_reopening_keeps_data_and_does_not_migrate_again(store: SQLiteStore, path: Path) -> None:
    key = key_row()
    with store.write():
        store.insert_key(key)
        store.set_meta("account_id", "123456789012")
    store.close()
    again = SQLiteStore(path)
    try:
        assert again.schema_version() == len(MIGRATIONS)
        assert again.get_key(key.key_id) == key
        assert again.get_meta("account_id") == "123456789012"
    finally:
        again.close()


# --- rows ------------------------------------------------------------------------------------
def test_key_insert_get_update(store: SQLiteStore) -> None:
    key = key_row()
    assert store.get_key(key.key_id) is None
    with store.write():
        store.insert_key(key)
    assert store.get_key(key.key_id) == key
    key.state = "Disabled"
    key.description = "changed ✓"
    key.rotation_enabled = True
    key.rotation_period_days = 90
    key.next_rotation_at = 1_800_000_000.25
    key.deletion_date = 1_900_000_000.0
    key.on_demand_rotations = 3
    with store.write():
        store.update_key(key)
    got = store.get_key(key.key_id)
    assert got == key
    assert got is not None and got.rotation_enabled


def test_delete_key_cascades(store: SQLiteStore, path: Path) -> None:
    keep, doomed = str(uuid.uuid4()), str(uuid.uuid4())
    add_key_with_everything(store, keep)
    add_key_with_everything(store, doomed)
    with store.write():
        store.delete_key(doomed)
    assert store.get_key(doomed) is None
    assert store.list_materials(doomed) == []
    assert store.get_alias(f"alias/{doomed}") is None
    assert store.list_tags(doomed, None, 10) == []
    assert store.count_tags(doomed) == 0
    # The other key keeps everything.
    assert store.get_key(keep) is not None
    assert len(store.list_materials(keep)) == 1
    assert store.get_alias(f"alias/{keep}") is not None
    assert store.count_tags(keep) == 1
    for table in ("keys", "materials", "aliases", "tags"):
        assert count(path, table) == 1, table


def test_materials_keep_insertion_order_and_update(store: SQLiteStore) -> None:
    key_id = str(uuid.uuid4())
    with store.write():
        store.insert_key(key_row(key_id))
        for n in (5, 1, 3):
            store.insert_material(material_row(key_id, n))
    rows = store.list_materials(key_id)
    assert [r.material_id for r in rows] == [f"{n:064x}" for n in (5, 1, 3)]
    assert rows[0].seq < rows[1].seq < rows[2].seq
    rows[0].state = "NON_CURRENT"
    rows[0].sealed = None
    with store.write():
        store.update_material(rows[0])
    again = store.list_materials(key_id)
    assert again[0].state == "NON_CURRENT" and again[0].sealed is None
    assert again[1] == rows[1]


def test_material_needs_its_key(store: SQLiteStore) -> None:
    with pytest.raises(sqlite3.IntegrityError), store.write():
        store.insert_material(material_row(str(uuid.uuid4())))


def test_aliases_tags_and_access_keys(store: SQLiteStore) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    with store.write():
        store.insert_key(key_row(first))
        store.insert_key(key_row(second))
        store.insert_alias(AliasRow("alias/app", first, 1.0, 1.0))
        store.put_tag(TagRow(first, "env", "dev"))
        store.put_tag(TagRow(first, "env", "prod"))  # overwrite
        store.insert_access_key(AccessKeyRow("AKIDTEST", b"sealed", "admin", 3.0))
    with store.write():
        store.update_alias(AliasRow("alias/app", second, 1.0, 5.0))
    assert store.get_alias("alias/app") == AliasRow("alias/app", second, 1.0, 5.0)
    assert store.list_tags(first, None, 10) == [TagRow(first, "env", "prod")]
    assert store.get_access_key("AKIDTEST") == AccessKeyRow("AKIDTEST", b"sealed", "admin", 3.0)
    assert store.get_access_key("AKIDOTHER") is None
    with store.write():
        store.delete_alias("alias/app")
        store.delete_tag(first, "env")
        store.delete_tag(first, "absent")
    assert store.get_alias("alias/app") is None
    assert store.count_tags(first) == 0
    with pytest.raises(sqlite3.IntegrityError), store.write():
        store.insert_alias(AliasRow("alias/app", str(uuid.uuid4()), 1.0, 1.0))


# --- transactions ----------------------------------------------------------------------------
def test_exception_inside_write_rolls_everything_back(store: SQLiteStore, path: Path) -> None:
    existing = key_row()
    with store.write():
        store.insert_key(existing)
    key_id = str(uuid.uuid4())
    with pytest.raises(RuntimeError, match="boom"), store.write():
        store.insert_key(key_row(key_id))
        store.insert_material(material_row(key_id, 7))
        store.insert_alias(AliasRow("alias/half", key_id, 1.0, 1.0))
        store.put_tag(TagRow(key_id, "t", "v"))
        existing.description = "half-written"
        store.update_key(existing)
        store.set_meta("m", "v")
        raise RuntimeError("boom")
    assert store.get_key(key_id) is None
    assert store.list_materials(key_id) == []
    assert store.get_alias("alias/half") is None
    assert store.count_tags(key_id) == 0
    assert store.get_meta("m") is None
    got = store.get_key(existing.key_id)
    assert got is not None and got.description == "d"
    # Seen from another connection, nothing was committed either.
    assert count(path, "keys") == 1
    assert count(path, "materials") == 0
    # The store is usable afterwards.
    with store.write():
        store.insert_key(key_row(key_id))
    assert store.get_key(key_id) is not None


def test_nested_write_is_one_transaction(store: SQLiteStore) -> None:
    outer, inner = str(uuid.uuid4()), str(uuid.uuid4())
    with pytest.raises(ValueError), store.write():
        store.insert_key(key_row(outer))
        with store.write():
            store.insert_key(key_row(inner))
        raise ValueError("after the inner block")
    assert store.get_key(outer) is None
    assert store.get_key(inner) is None


def test_integrity_error_rolls_back_the_whole_write(store: SQLiteStore) -> None:
    key = key_row()
    with store.write():
        store.insert_key(key)
    fresh = str(uuid.uuid4())
    with pytest.raises(sqlite3.IntegrityError), store.write():
        store.insert_key(key_row(fresh))
        store.insert_key(key_row(key.key_id))  # duplicate primary key
    assert store.get_key(fresh) is None


# --- keyset paging ---------------------------------------------------------------------------
def walk(
    fetch: Callable[[str | None, int], list[T]], limit: int, position: Callable[[T], str]
) -> list[T]:
    """Page through ``fetch(after, limit)`` the way the operations layer does."""
    seen: list[T] = []
    after = None
    for _ in range(100):
        page = fetch(after, limit)
        assert len(page) <= limit
        seen += page
        if len(page) < limit:
            return seen
        after = position(page[-1])
    raise AssertionError("paging did not end")


def test_list_keys_paging(store: SQLiteStore) -> None:
    ids = [str(uuid.uuid4()) for _ in range(7)]
    with store.write():
        for key_id in ids:
            store.insert_key(key_row(key_id))
    assert [k.key_id for k in store.list_keys(None, 100)] == sorted(ids)
    for limit in (1, 2, 3, 7):
        got = walk(store.list_keys, limit, lambda k: k.key_id)
        assert [k.key_id for k in got] == sorted(ids), limit
    assert [k.key_id for k in store.list_keys(sorted(ids)[3], 2)] == sorted(ids)[4:6]
    assert store.list_keys(sorted(ids)[-1], 5) == []


def test_list_aliases_paging(store: SQLiteStore) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    names = {f"alias/n{i:02d}": first if i % 2 else second for i in range(9)}
    with store.write():
        store.insert_key(key_row(first))
        store.insert_key(key_row(second))
        for name, key_id in names.items():
            store.insert_alias(AliasRow(name, key_id, 1.0, 1.0))
    everything = walk(lambda a, n: store.list_aliases(None, a, n), 2, lambda r: r.name)
    assert [a.name for a in everything] == sorted(names)
    only_first = walk(lambda a, n: store.list_aliases(first, a, n), 2, lambda r: r.name)
    assert [a.name for a in only_first] == sorted(n for n, k in names.items() if k == first)
    assert all(a.key_id == first for a in only_first)


def test_list_tags_paging(store: SQLiteStore) -> None:
    key_id, other = str(uuid.uuid4()), str(uuid.uuid4())
    tag_keys = [f"k{i}" for i in (3, 1, 4, 15, 9, 2, 6)]
    with store.write():
        store.insert_key(key_row(key_id))
        store.insert_key(key_row(other))
        for tag_key in tag_keys:
            store.put_tag(TagRow(key_id, tag_key, tag_key.upper()))
        store.put_tag(TagRow(other, "k0", "x"))
    got = walk(lambda a, n: store.list_tags(key_id, a, n), 3, lambda t: t.tag_key)
    assert [t.tag_key for t in got] == sorted(tag_keys)
    assert all(t.tag_value == t.tag_key.upper() for t in got)
    assert store.count_tags(key_id) == len(tag_keys)


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
