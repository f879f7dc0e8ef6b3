"""Online backup and restore of a data directory's database.

``backup`` copies ``DATA_DIR/trent.db`` with SQLite's online backup API (a consistent snapshot,
while workers keep writing; https://www.sqlite.org/backup.html) into a new 0600 file. The
database holds secrets only sealed by the barrier and the root keyring only wrapped by the seal:
the root key file and the token's key are never in a backup. ``restore`` copies a backup into a
new (or empty) data directory; ``trent serve`` then opens it with the seal it was made under
(``--root-key-file OLD_ROOT_KEY``, or the same PKCS#11 key).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from trent.bootstrap import NODE_FILE
from trent.config import ConfigError

DATABASE = "trent.db"


class BackupError(ConfigError):
    """A backup or restore that cannot be done: one line naming the path and why."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    account_id: str
    pages: int


def _create_private(path: Path) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise BackupError(f"{path} already exists; give a new file") from exc
    except OSError as exc:
        raise BackupError(f"cannot create {path}: {exc.strerror}") from exc
    os.close(fd)


def _copy(source: sqlite3.Connection, target: Path) -> int:
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)
        destination.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        pages = int(destination.execute("PRAGMA page_count").fetchone()[0])
    finally:
        destination.close()
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return pages


def _account(connection: sqlite3.Connection, path: Path) -> str:
    try:
        if connection.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError(f"{path} is damaged (SQLite integrity check failed)")
        row = connection.execute("SELECT value FROM meta WHERE name='account_id'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a Trent database: {exc}") from exc
    if row is None:
        raise BackupError(f"{path} is not a Trent database (no account)")
    return str(row[0])


def backup(data_dir: Path, out: Path) -> BackupInfo:
    """Copy the data directory's database to ``out`` (which must not exist), online."""
    database = data_dir / DATABASE
    if not database.is_file():
        if (data_dir / NODE_FILE).is_file():
            raise BackupError(
                f"{data_dir} is a node of a PostgreSQL database: back it up with pg_dump "
                '(README, "Several nodes"), not trent admin backup'
            )
        raise BackupError(f"{data_dir} is not a Trent data directory (no {DATABASE})")
    _create_private(out)
    source = sqlite3.connect(database, timeout=15)
    try:
        account_id = _account(source, database)
        pages = _copy(source, out)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    return BackupInfo(out, account_id, pages)


def restore(backup_file: Path, data_dir: Path) -> BackupInfo:
    """Make ``data_dir`` (absent or empty; refused otherwise) hold the backup's database."""
    if not backup_file.is_file():
        raise BackupError(f"backup {backup_file} does not exist")
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BackupError(f"{data_dir} is not empty; restore into a new data directory")
    source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        account_id = _account(source, backup_file)
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)
        target = data_dir / DATABASE
        _create_private(target)
        pages = _copy(source, target)
    finally:
        source.close()
    return BackupInfo(target, account_id, pages)
