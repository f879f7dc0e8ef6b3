"""Held changes (``SQLiteStore.holding``): committed only by ``commit_held``, undone by
``rollback_held``, invisible to other connections until then; ``changes()`` sees commits."""

from __future__ import annotations

from pathlib import Path

import pytest

from trent.store import SQLiteStore


def test_held_change_commits_only_when_told(tmp_path: Path) -> None:
    store, other = SQLiteStore(tmp_path / "t.db"), SQLiteStore(tmp_path / "t.db")
    try:
        before = other.changes()
        with store.holding():
            with store.write():
                store.set_meta("a", "1")
            with pytest.raises(RuntimeError), store.write():  # a failing block: undone alone
                store.set_meta("b", "2")
                raise RuntimeError
            with store.write():
                store.set_meta("c", "3")
        assert store.held
        assert other.get_meta("a") is None  # not committed yet
        store.checkpoint()  # deferred until the commit, not an error inside the transaction
        store.commit_held()
        assert not store.held
        assert (other.get_meta("a"), other.get_meta("b"), other.get_meta("c")) == ("1", None, "3")
        other.data_version()
        assert other.changes() != before

        with store.holding(), store.write():
            store.set_meta("a", "changed")
        store.rollback_held()
        assert store.get_meta("a") == "1" and other.get_meta("a") == "1"
        with store.write():  # outside holding(): commits at once, as before
            store.set_meta("d", "4")
        assert other.get_meta("d") == "4"
    finally:
        store.close()
        other.close()


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
