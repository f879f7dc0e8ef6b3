"""The SQLite file's mode (held changes: test_conformance.py)."""

from __future__ import annotations

from pathlib import Path

from trent.store import SQLiteStore


def test_database_created_private_whatever_umask(tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0)
    try:
        store = SQLiteStore(tmp_path / "p.db")
        with store.write():
            store.set_meta("x", "y")
        for name in ("p.db", "p.db-wal", "p.db-shm"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
        store.close()
    finally:
        os.umask(old)
