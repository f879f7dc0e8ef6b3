"""Append-only audit log with group commit and size-based rotation.

Every worker process appends to the same ``audit.log`` (``O_APPEND``; each batch is one
``write``). A request's record is written and fsynced before its reply is sent. Records that
arrive while an fsync is running wait for the next one, which starts as soon as the previous one
ends: no fixed batching window, so latency stays one fsync long and throughput grows with load.

When the file passes ``max_bytes`` it is renamed to ``audit-<UTC time>-<sequence>.log`` under a
file lock, and every worker reopens ``audit.log`` on its next batch (it notices the inode changed).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from trent.clock import Clock

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
CURRENT = "audit.log"


class AuditLog:
    def __init__(self, directory: Path, clock: Clock, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = directory
        self.clock = clock
        self.path = directory / CURRENT
        self.max_bytes = max_bytes
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._fd = self._open()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trent-audit")
        self._pending: list[bytes] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    async def append(self, line: bytes) -> None:
        """Return once ``line`` (one JSON record and a newline) is on disk."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._pending.append(line)
        self._waiters.append(waiter)
        if not self._flushing:
            self._flushing = True
            self._task = loop.create_task(self._flush(loop))
        await waiter

    async def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while self._pending:
                lines, waiters = self._pending, self._waiters
                self._pending, self._waiters = [], []
                try:
                    await loop.run_in_executor(self._executor, self.write_sync, b"".join(lines))
                except Exception as exc:  # the disk failed: every waiting request fails
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                else:
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_result(None)
        finally:
            self._flushing = False

    def write_sync(self, data: bytes) -> None:
        """Write and fsync one batch (runs in the audit thread, or directly from tools)."""
        self._follow_rotation()
        written = 0
        while written < len(data):
            written += os.write(self._fd, data[written:])
        os.fsync(self._fd)

    def _follow_rotation(self) -> None:
        size = os.fstat(self._fd).st_size
        try:
            current_inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            current_inode = -1
        if current_inode != os.fstat(self._fd).st_ino:
            self._reopen()
        elif size >= self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        with open(self.directory / "audit.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                stat = os.stat(self.path)
                if stat.st_ino == os.fstat(self._fd).st_ino and stat.st_size >= self.max_bytes:
                    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock.now()))
                    sequence = len(list(self.directory.glob("audit-*.log"))) + 1
                    target = self.directory / f"audit-{stamp}-{sequence:06d}.log"
                    os.rename(self.path, target)  # under the lock: names never collide
                    _fsync_dir(self.directory)
                self._reopen()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _reopen(self) -> None:
        os.close(self._fd)
        self._fd = self._open()
        _fsync_dir(self.directory)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        os.close(self._fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
