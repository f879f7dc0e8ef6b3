"""The test clock cannot be switched on by accident: ``--test-clock`` needs a data directory made
by ``trent admin create-data-dir --for-tests``, only a new directory can become one, and without
the flag a test directory's stored offset is ignored."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from tests.server import TrentServer, free_port

DAY = 86400.0


def trent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trent", *args], capture_output=True, text=True, timeout=60
    )


def stored_meta(data_dir: Path, name: str) -> str | None:
    with closing(sqlite3.connect(f"file:{data_dir / 'trent.db'}?mode=ro", uri=True)) as db:
        row = db.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
    return None if row is None else str(row[0])


def serve_with_test_clock(data_dir: Path) -> subprocess.CompletedProcess[str]:
    port = str(free_port())
    args = ["serve", "--data-dir", str(data_dir), "--port", port, "--workers", "1"]
    return trent(*args, "--test-clock")


def assert_refused_to_serve(data_dir: Path) -> None:
    result = serve_with_test_clock(data_dir)
    assert result.returncode != 0, result.stdout
    output = result.stdout + result.stderr
    assert "create-data-dir --for-tests" in output, output
    assert "refusing" in output, output


def test_test_clock_refused_on_a_data_dir_made_by_serve(tmp_path: Path) -> None:
    server = TrentServer(tmp_path / "data", workers=1)
    server.start().stop()
    assert_refused_to_serve(server.data_dir)
    assert stored_meta(server.data_dir, "purpose") is None


def test_test_clock_refused_on_a_plain_created_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    created = trent("admin", "create-data-dir", "--data-dir", str(data_dir))
    assert created.returncode == 0, created.stderr
    assert_refused_to_serve(data_dir)


def test_test_clock_refused_on_a_data_dir_serve_creates(tmp_path: Path) -> None:
    """``trent serve --test-clock`` on a directory that does not exist yet creates a normal
    one (serve never makes a test directory) and then refuses."""
    data_dir = tmp_path / "data"
    assert_refused_to_serve(data_dir)
    assert stored_meta(data_dir, "purpose") is None
    assert_refused_to_serve(data_dir)


def test_advance_clock_refused_on_a_non_test_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert trent("admin", "create-data-dir", "--data-dir", str(data_dir)).returncode == 0
    result = trent("admin", "advance-clock", "--data-dir", str(data_dir), "--days", "30")
    assert result.returncode != 0
    assert "create-data-dir --for-tests" in result.stdout + result.stderr
    assert stored_meta(data_dir, "test_clock_offset") is None


def test_for_tests_refused_on_an_existing_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert trent("admin", "create-data-dir", "--data-dir", str(data_dir)).returncode == 0
    account = stored_meta(data_dir, "account_id")
    result = trent("admin", "create-data-dir", "--for-tests", "--data-dir", str(data_dir))
    assert result.returncode != 0
    assert "already exists" in result.stdout + result.stderr
    assert stored_meta(data_dir, "purpose") is None
    assert stored_meta(data_dir, "account_id") == account  # untouched

    test_dir = tmp_path / "test-data"
    first = trent("admin", "create-data-dir", "--for-tests", "--data-dir", str(test_dir))
    assert first.returncode == 0, first.stderr
    again = trent("admin", "create-data-dir", "--for-tests", "--data-dir", str(test_dir))
    assert again.returncode != 0
    assert "already exists" in again.stdout + again.stderr


def test_advance_clock_only_moves_forward(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert (
        trent("admin", "create-data-dir", "--for-tests", "--data-dir", str(data_dir)).returncode
        == 0
    )
    moved = trent("admin", "advance-clock", "--data-dir", str(data_dir), "--days", "2")
    assert moved.returncode == 0, moved.stderr
    assert float(stored_meta(data_dir, "test_clock_offset") or 0) == 2 * DAY
    back = trent("admin", "advance-clock", "--data-dir", str(data_dir), "--days", "-1")
    assert back.returncode != 0
    assert "forward" in back.stdout + back.stderr
    assert float(stored_meta(data_dir, "test_clock_offset") or 0) == 2 * DAY


def test_offset_is_ignored_without_the_flag(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert (
        trent("admin", "create-data-dir", "--for-tests", "--data-dir", str(data_dir)).returncode
        == 0
    )
    moved = trent("admin", "advance-clock", "--data-dir", str(data_dir), "--days", "100")
    assert moved.returncode == 0, moved.stderr

    plain = TrentServer(data_dir, workers=1).start()
    try:
        created = plain.client().create_key()["KeyMetadata"]["CreationDate"].timestamp()
    finally:
        plain.stop()
    assert abs(created - time.time()) < 60, "the stored offset was used without --test-clock"

    # The same directory with the flag: the offset applies (so the check above means something).
    clocked = TrentServer(data_dir, workers=1, test_clock=True).start()
    try:
        created = clocked.client().create_key()["KeyMetadata"]["CreationDate"].timestamp()
    finally:
        clocked.stop()
    assert abs(created - (time.time() + 100 * DAY)) < 60
