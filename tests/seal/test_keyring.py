"""The root keyring: data sealed before it existed, the sealed-column table, rotations."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trent.bootstrap import RootKeyError, open_store
from trent.config import Settings
from trent.identity.credentials import ACCESS_KEY_PURPOSE, SESSION_PURPOSE
from trent.operations.imports import WRAPPING_KEY_PURPOSE
from trent.operations.keyring import MATERIAL_PURPOSE
from trent.seal import check_value, rootkeys
from trent.seal.barrier import derive_subkey
from trent.seal.file import FileSeal
from trent.seal.reseal import count_stale, reseal
from trent.store import AccessKeyRow, SQLiteStore
from trent.store.sealed import SEALED_COLUMNS


def test_every_sealed_column_is_declared(tmp_path: Path) -> None:
    """A table that stores sealed bytes adds its column to SEALED_COLUMNS (for re-seal)."""
    SQLiteStore(tmp_path / "t.db").close()
    db = sqlite3.connect(tmp_path / "t.db")
    found = set()
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
        for _, name, kind, *_ in db.execute(f"PRAGMA table_info({table})"):
            if name.startswith("sealed") and kind == "BLOB":
                found.add((table, name))
    assert found == {(c.table, c.column) for c in SEALED_COLUMNS}
    purposes = {c.table: c.purpose for c in SEALED_COLUMNS}
    assert purposes["materials"] == MATERIAL_PURPOSE
    assert purposes["access_keys"] == ACCESS_KEY_PURPOSE
    assert purposes["import_parameters"] == WRAPPING_KEY_PURPOSE
    assert purposes["sessions"] == SESSION_PURPOSE


def _legacy_data_dir(data: Path) -> tuple[Settings, bytes]:
    """A data directory as Trent wrote it before the keyring: values sealed 0x01 directly under
    the root key file's key, the file's check value stored."""
    data.mkdir()
    root = os.urandom(32)
    (data / "root.key").write_bytes(root)
    store = SQLiteStore(data / "trent.db")
    aead = AESGCM(derive_subkey(root, b"trent barrier v1"))
    nonce = os.urandom(12)
    aad = b"trent-barrier\x00" + ACCESS_KEY_PURPOSE.encode() + b"\x00AKIALEGACY"
    sealed = b"\x01" + nonce + aead.encrypt(nonce, b"legacy secret", aad)
    with store.write():
        store.set_meta("account_id", "111122223333")
        store.set_meta(rootkeys.CHECK_META, check_value(root))
        store.insert_access_key(AccessKeyRow("AKIALEGACY", sealed, "arn:aws:iam::1:user/a", 0.0))
    store.close()
    return Settings(data_dir=data), root


def test_legacy_data_gets_a_keyring_of_its_root_key(tmp_path: Path) -> None:
    settings, root = _legacy_data_dir(tmp_path / "data")
    store, barrier = open_store(settings)
    try:
        row = store.get_access_key("AKIALEGACY")
        assert row is not None
        assert barrier.open(ACCESS_KEY_PURPOSE, "AKIALEGACY", row.sealed_secret) == b"legacy secret"
        view = rootkeys.load(store, FileSeal(settings.root_key_path))
        assert view.keys == {1: root} and view.newest == 1
        raw = store.get_meta(rootkeys.KEYRING_META) or ""
        assert root.hex() not in raw and root.hex() not in raw.upper()
        # Rotate and re-seal: the legacy value moves to version 2, and still opens.
        assert rootkeys.rotate(store, FileSeal(settings.root_key_path), 1.0) == 2
        assert count_stale(store, 2)["access_keys.sealed_secret"] == 1
    finally:
        store.close()
    store, barrier = open_store(settings)
    try:
        assert barrier.newest == 2
        assert reseal(store, barrier) == 1
        assert count_stale(store, 2)["access_keys.sealed_secret"] == 0
        row = store.get_access_key("AKIALEGACY")
        assert row is not None and row.sealed_secret[:5] == b"\x02\x00\x00\x00\x02"
        assert barrier.open(ACCESS_KEY_PURPOSE, "AKIALEGACY", row.sealed_secret) == b"legacy secret"
    finally:
        store.close()


def test_legacy_data_with_another_key_is_refused(tmp_path: Path) -> None:
    settings, _ = _legacy_data_dir(tmp_path / "data")
    (settings.data_dir / "root.key").write_bytes(os.urandom(32))
    with pytest.raises(RootKeyError, match="is not the key"):
        open_store(settings)
    store = SQLiteStore(settings.database)
    try:
        assert store.get_meta(rootkeys.KEYRING_META) is None  # nothing written
    finally:
        store.close()
