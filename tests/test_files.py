"""Issue 16 items 7 and 8: the data directory is private whatever the umask and whatever existed
before, and a missing or different root key stops the start with one line naming the file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import TrentServer, free_port
from trent.bootstrap import ROOT_KEY_CHECK_META
from trent.store import SQLiteStore


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def modes(data_dir: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(data_dir.stat().st_mode)}
    for path in data_dir.rglob("*"):
        found[str(path.relative_to(data_dir))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def assert_private(data_dir: Path) -> None:
    for name, mode in modes(data_dir).items():
        expected = 0o700 if (data_dir / name).is_dir() else 0o600
        assert mode == expected, f"{name} is {mode:o}"


def test_data_dir_private_whatever_umask_and_history(tmp_path: Path, umask_022: None) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    server = TrentServer(data).start()
    try:
        kms = server.client()
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.encrypt(KeyId=key, Plaintext=b"x")
        names = set(modes(data))
        assert {"trent.db", "trent.db-wal", "trent.db-shm", "root.key", "credentials"} <= names
        assert {"config", "audit", "audit/audit.log", "audit/audit.lock"} <= names
        assert_private(data)  # while running: -wal and -shm exist
    finally:
        server.stop()
    # Files left readable by an older version or by hand are made private again at start.
    for path in [data, *data.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    server.start()
    try:
        server.client().list_keys()
        assert_private(data)
    finally:
        server.stop()


def serve(data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "trent", "serve", "--data-dir", str(data)]
    args += ["--port", str(free_port()), "--workers", "1", *extra]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


@pytest.fixture
def used_data_dir(tmp_path: Path) -> Iterator[TrentServer]:
    server = TrentServer(tmp_path / "data", workers=1).start()
    server.client().create_key(Description="sealed under the first root key")
    server.stop()
    yield server
    server.stop()


def test_missing_root_key_refuses_to_start(used_data_dir: TrentServer, tmp_path: Path) -> None:
    data = used_data_dir.data_dir
    root_key = data / "root.key"
    root_key.rename(tmp_path / "kept.key")
    result = serve(data)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(root_key) in lines[0] and "missing" in lines[0], result.stderr
    assert not root_key.exists()  # no new root key over initialised data
    (tmp_path / "kept.key").rename(root_key)
    used_data_dir.start()
    assert len(used_data_dir.client().list_keys()["Keys"]) == 1


def test_different_root_key_refuses_to_start(used_data_dir: TrentServer, tmp_path: Path) -> None:
    data = used_data_dir.data_dir
    other = tmp_path / "other.key"
    other.write_bytes(os.urandom(32))
    for extra in (["--root-key-file", str(other)], []):
        if not extra:  # the same, with the default file replaced
            (data / "root.key").rename(tmp_path / "kept.key")
            other.rename(data / "root.key")
        result = serve(data, *extra)
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        named = str(other) if extra else str(data / "root.key")
        assert len(lines) == 1 and named in lines[0] and "not the key" in lines[0], result.stderr


def test_check_value_added_to_older_data(used_data_dir: TrentServer, tmp_path: Path) -> None:
    """Data made before the check value existed: checked by unsealing an access key, then the
    check value is stored (never the key)."""
    data = used_data_dir.data_dir
    root = (data / "root.key").read_bytes()

    def forget_check_value() -> None:
        store = SQLiteStore(data / "trent.db")
        with store.write():
            store._db.execute("DELETE FROM meta WHERE name=?", (ROOT_KEY_CHECK_META,))
        store.close()

    def check_value() -> str | None:
        store = SQLiteStore(data / "trent.db")
        try:
            return store.get_meta(ROOT_KEY_CHECK_META)
        finally:
            store.close()

    forget_check_value()
    other = tmp_path / "other.key"
    other.write_bytes(os.urandom(32))
    result = serve(data, "--root-key-file", str(other))
    assert result.returncode != 0 and "not the key" in result.stderr, result.stderr
    assert check_value() is None
    used_data_dir.start()
    used_data_dir.client().list_keys()
    stored = check_value()
    assert stored is not None and len(stored) == 64 and root.hex() not in stored
