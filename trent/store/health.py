"""Whether this worker can write: the storage fault state that ``GET /healthz`` reports.

A write that fails (database commit, audit append, usage flush) marks the worker *degraded* with
a short reason (e.g. ``audit log: [Errno 28] No space left on device``). The fault ends when
every watched directory has room again: ``PROBE_BYTES`` can be allocated in a temporary 0600
file there. That probe runs (only while degraded) after each write that succeeds and on each
``GET /healthz``, so the state clears by itself when space returns, even if no request comes,
and does not flap while a nearly full disk lets a small write through now and then. Each change
of state is logged once per worker process (WARNING when it starts, INFO when it ends), never
once per request.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import sys
import threading
import uuid
from pathlib import Path

PROBE_BYTES = 64 * 1024
log = logging.getLogger("trent.storage")


class StorageHealth:
    def __init__(self, directories: list[Path]) -> None:
        self.directories = directories
        self._reason: str | None = None
        self._mutex = threading.Lock()

    @property
    def reason(self) -> str | None:
        """Why the last write failed, or None when writes succeed."""
        return self._reason

    def failed(self, where: str, exc: BaseException) -> None:
        """A write to ``where`` ("database", "audit log", ...) failed with ``exc``."""
        reason = f"{where}: {_describe(exc)}"
        with self._mutex:
            started, self._reason = self._reason is None, reason
        if started:
            log.warning("storage fault, answering KMSInternalException until it clears: %s", reason)

    def succeeded(self) -> None:
        """A write went through: if degraded, probe whether the fault is over."""
        if self._reason is not None:
            self.check()

    def check(self) -> str | None:
        """The fault's reason, after probing whether it is still there (None when healthy)."""
        if self._reason is None:
            return None
        for directory in self.directories:
            try:
                _probe(directory)
            except OSError:
                return self._reason
        with self._mutex:
            reason, self._reason = self._reason, None
        if reason is not None:
            log.info("storage fault cleared, serving again (was: %s)", reason)
        return None


# errno values and SQLite primary result codes that mean the storage failed, not Trent.
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})
_SQLITE_STORAGE_CODES = frozenset({10, 13, 14})  # SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN


def is_storage_fault(exc: BaseException) -> bool:
    """True for a disk-full or I/O error from the file system or SQLite, or PostgreSQL out
    of reach (a lost or refused connection: psycopg's ``OperationalError``)."""
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(exc, psycopg.OperationalError):
        return True
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_STORAGE_CODES
    return isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS


def _probe(directory: Path) -> None:
    path = directory / f".trent-probe-{uuid.uuid4().hex}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.posix_fallocate(fd, 0, PROBE_BYTES)
    finally:
        os.close(fd)
        os.unlink(path)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"[Errno {exc.errno}] {exc.strerror}"
    return str(exc) or type(exc).__name__
