"""Append-only audit log with group commit and size-based rotation.

Every worker process appends to the same ``audit.log``. A request's record is written and
fsynced before its reply is sent (and, for a request that changes something, before the change
commits: see ``trent.protocol.asgi``). Records that arrive while an fsync is running wait for the
next one, which starts as soon as the previous one ends and the event loop has run a few more
passes (``GATHER_PASSES``): no timed batching window, so latency stays about one fsync long and
throughput grows with load.

A batch is linked and written from the event loop when the lock is free at once (``LOCK_NB``)
and nothing unusual is due (rotation, a torn tail, a checkpoint); only its sync runs elsewhere:
a journal's ``fdatasync`` in the kernel (Linux AIO or io_uring, ``trent.audit.aio``), which
signals the event loop when it is done, any other sync on the audit thread (one thread handoff
per batch). Otherwise the whole batch goes to the thread.

A batch is made durable through the worker's journal (``trent.audit.journal``): written there
too, as one frame, and ``fdatasync``-ed, instead of an ``fsync`` of ``audit.log`` (about half
the time and the CPU: no file-system journal commit). A background ``fsync`` of ``audit.log``
every quarter of the journal's size lets the journal be reused; a worker that opens the log
restores from the journals whatever a crash of the machine took from the trail. A frame also
holds what other workers appended since this worker's last durable point (``_gap``): their
lines come first in the chain, and their syncs may end after this one. Without a journal (none
could be made: a full disk; all slots held), without room in it, for a worker's first batch
(nothing known durable yet) or a gap over ``MAX_GAP``, ``audit.log`` itself is fsynced.

The log stays well-formed: each batch is written under an exclusive ``flock`` on ``audit.lock``
and, when the write fails (``ENOSPC``, ``EIO``), the file is truncated back to where the batch
began before the error is raised, so every record in the file is complete and ends with a
newline. A file whose tail was torn by a crash is cut back to its last complete record when a
worker opens it. Files are created 0600, the directory 0700.

A reserve file (``audit.reserve``, ``RESERVE_BYTES`` allocated) keeps room for the one record
that must be written on a full disk: the retraction of a change whose commit failed after its
record was written (``append_from_reserve``). It is released only for that record and allocated
again after the next batch that writes.

When the file passes ``max_bytes`` it is renamed to ``audit-<UTC time>-<sequence>.log`` under the
same lock, and every worker reopens ``audit.log`` on its next batch (it notices the inode changed).

The hash chain (``trent.audit.chain``) is extended under the same lock: each line of a batch gets
the SHA-256 of the line before it, spliced in before its final ``}``. A worker caches the hash of
the last line it wrote with the file's inode and size; when the file has changed since (another
worker appended, or rotated it), it reads the last line back (or, in a new empty file, the last
line of the newest rotated file). With a ``Signer``, a worker appends a signed checkpoint after
``checkpoint_records`` of its own records or ``checkpoint_seconds`` after its last one (in the
same write as the batch; ``checkpoint_if_due`` covers an idle worker), to a file it rotates just
before renaming it, and on ``close``.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from mypy_extensions import mypyc_attr

from trent.audit import aio
from trent.audit import journal as journals
from trent.audit.chain import GENESIS, Signer, line_hash, link
from trent.clock import Clock

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
CURRENT = "audit.log"
LOCK = "audit.lock"
RESERVE = "audit.reserve"
RESERVE_BYTES = 64 * 1024
CUT_PREFIX = "audit.cut-"  # what _cut_hole removed from audit.log
_TAIL_CHUNK = 64 * 1024
_FIRST_TAIL_CHUNK = 4096
CHECKPOINT_RECORDS = 1000
CHECKPOINT_SECONDS = 10.0
GATHER_PASSES = 4  # event loop passes a batch waits for more records (see _gather)
MAX_GAP = 256 * 1024  # other workers' bytes a frame may carry (see AuditLog._gap)
log = logging.getLogger("trent.audit")


def rotated_files(directory: Path) -> list[Path]:
    """Rotated files in the order they were rotated (by their sequence number)."""
    return sorted(directory.glob("audit-*.log"), key=lambda p: p.stem.rsplit("-", 1)[-1])


@dataclass(frozen=True)
class _Head:
    """The hash of the last line of ``audit.log`` as this worker last saw it."""

    inode: int
    size: int
    digest: bytes


# compiled (trent.native); tests and trent.metrics.recorder.TimedAuditLog extend it
@mypyc_attr(allow_interpreted_subclasses=True)
class AuditLog:
    """``signer`` None writes the chain without checkpoints (tools, tests); ``journal_bytes``
    0 syncs every batch by fsyncing ``audit.log`` (no journal)."""

    def __init__(
        self,
        directory: Path,
        clock: Clock,
        max_bytes: int = DEFAULT_MAX_BYTES,
        signer: Signer | None = None,
        checkpoint_records: int = CHECKPOINT_RECORDS,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
        journal_bytes: int = journals.JOURNAL_BYTES,
    ) -> None:
        self.directory = directory
        self.clock = clock
        self.path = directory / CURRENT
        self.max_bytes = max_bytes
        self.signer = signer
        self.checkpoint_records = checkpoint_records
        self.checkpoint_seconds = checkpoint_seconds
        self._head: _Head | None = None
        self._since_checkpoint = 0  # this worker's records since its last checkpoint
        self._last_checkpoint = time.monotonic()
        # (clock time, line hash) of the newest checkpoint this worker wrote; see record_anchor
        self.newest_checkpoint: tuple[float, bytes] | None = None
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        self._lock_fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        # flock excludes other processes only; this excludes the loop and the audit thread
        self._mutex = threading.Lock()
        # Claimed before the recovery's fsync: whatever a dead worker left in this journal is
        # then in the trail on disk, so the ring may start again from its beginning.
        self._journal = journals.Journal.claim(directory, journal_bytes) if journal_bytes else None
        # (inode, offset) of audit.log before which every byte is durable: fsynced, or in a
        # frame of this journal that was synced, by the end of one of this worker's batches,
        # which no other worker can take back (see _gap); (-1, 0) while unknown
        self._synced: tuple[int, int] = (-1, 0)
        with self._locked():
            self._fd = self._open()
            self._recover()
        # the background fsync of audit.log that lets the journal be reused (_flush_trail)
        self._flusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trent-audit-flush")
        self._reserve = directory / RESERVE
        self._reserve_short = not self._fill_reserve()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trent-audit")
        self._pending: list[bytes] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None
        # journal syncs run by the kernel (trent.audit.aio), made on the first batch's loop
        self._kernel: aio.KernelSync | None = None
        self._no_kernel = False
        self._journal_syncing = threading.Lock()  # held while the journal is being synced
        # given each ``append``'s seconds from the call until the line was on disk (metrics)
        self.observe_write: Callable[[float], None] | None = None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._mutex:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _open(self) -> int:
        """Open (or create) ``audit.log``, cutting a torn tail back. Call under the lock."""
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            _cut_torn_tail(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _recover(self) -> None:
        """Append what the journals hold beyond the trail's last line: records acknowledged
        but lost from ``audit.log`` with the page cache (a crash of the machine). Then fsync
        it, so every line any journal holds is durable in the trail and a journal left by a
        worker that died may be reused from its start. Call under the lock, before anything
        else is appended.

        A crash may also leave a hole (zeros: pages written back out of order) before the end
        of what was not fsynced; the trail is first cut back to the line before it
        (``_cut_hole``), and the journals fill it again."""
        _cut_hole(self._fd, journals.capacity(self.directory), self.directory)
        missing = journals.recover(self.directory, self._chain_head())
        stat = os.fstat(self._fd)
        if missing:
            data = b"".join(missing)
            self._append(data, stat.st_size, line_hash(missing[-1]), stat.st_ino)
            log.warning("restored %d audit records from the journal", len(missing))
        os.fsync(self._fd)
        # _synced stays unknown: a batch another worker has in flight may be taken back and
        # its place written again; this worker's first batch fsyncs audit.log instead

    async def append(self, line: bytes) -> None:
        """Return once ``line`` (one JSON record and a newline) is on disk.

        Raises ``OSError`` when it could not be written; the log then holds none of it."""
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        waiter: asyncio.Future[None] = loop.create_future()
        self._pending.append(line)
        self._waiters.append(waiter)
        if not self._flushing:
            self._flushing = True
            self._task = loop.create_task(self._flush(loop))
        await waiter
        if self.observe_write is not None:
            self.observe_write(time.perf_counter() - start)

    async def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while self._pending:
                await self._gather()
                lines, waiters = self._pending, self._waiters
                self._pending, self._waiters = [], []
                try:
                    written = self._write_on_loop(lines)
                    if written is None:  # lock busy, rotation or checkpoint due: all on the thread
                        await loop.run_in_executor(self._executor, self._write_lines, lines)
                    else:
                        await self._make_durable(loop, *written)
                except Exception as exc:  # the disk failed: every waiting request fails
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                else:
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_result(None)
                    if self._reserve_short:
                        self._reserve_short = not self._fill_reserve()
                    if self._journal is not None and self._journal.flush_due():
                        self._start_flush()
        finally:
            self._flushing = False

    async def _make_durable(
        self,
        loop: asyncio.AbstractEventLoop,
        start: int,
        length: int,
        count: int,
        frame: int | None,
        inode: int,
    ) -> None:
        """Make a batch ``_write_on_loop`` wrote durable: a batch framed in the journal by an
        ``fdatasync`` the kernel runs (``trent.audit.aio``) while the loop goes on, anything
        else (or where the kernel cannot) by ``_sync`` on the audit thread. Raises
        ``OSError`` as ``_sync`` does, once the batch has been taken back."""
        journal = self._journal
        kernel = self._kernel_for(loop) if journal is not None and frame is not None else None
        # one journal sync at a time: of two overlapping fdatasyncs of one file, only one
        # would be told of a writeback error (the thread's _sync waits for the other)
        if kernel is not None and journal is not None and self._journal_syncing.acquire(False):
            try:
                synced = kernel.fdatasync(journal.fd)
            except aio.NotSubmitted as exc:
                self._journal_syncing.release()
                self._no_kernel_from_now(f"the kernel did not take a sync: {exc}")
            else:
                synced.add_done_callback(lambda _: self._journal_syncing.release())
                if await self._settled(loop, synced, start, length, count, frame, inode):
                    return
        await loop.run_in_executor(self._executor, self._sync, start, length, count, frame, inode)

    async def _settled(
        self,
        loop: asyncio.AbstractEventLoop,
        synced: asyncio.Future[None],
        start: int,
        length: int,
        count: int,
        frame: int | None,
        inode: int,
    ) -> bool:
        """Wait for the kernel's sync of a batch and settle the batch: durable (True), or
        taken back and its ``OSError`` raised; False when the kernel could not run it (the
        caller syncs on the thread: no writeback error was reported, so that sync is sound)."""
        failure: OSError | None = None
        try:
            await asyncio.shield(synced)  # a cancelled flush still settles the batch
        except asyncio.CancelledError:
            synced.add_done_callback(partial(self._settle, start, length, count, frame, inode))
            raise
        except OSError as exc:
            failure = exc  # handled below: no await inside an except block (mypyc)
        if failure is not None and failure.errno in aio.NOT_RUN:  # no io-wq worker; unsupported
            self._no_kernel_from_now(f"the kernel could not run a sync: {failure}")
            return False
        if failure is not None:
            await loop.run_in_executor(
                self._executor, self._sync_failed, start, length, frame, inode
            )
            raise failure
        if self._mutex.acquire(blocking=False):
            try:
                self._durable(start, length, count, inode, None)
            finally:
                self._mutex.release()
        else:  # the audit thread holds it (a checkpoint): after it, there
            await loop.run_in_executor(
                self._executor, self._durable_locked, start, length, count, inode
            )
        return True

    def _kernel_for(self, loop: asyncio.AbstractEventLoop) -> aio.KernelSync | None:
        """This worker's ``KernelSync`` for ``loop`` (made on first use), or None."""
        kernel = self._kernel
        if kernel is not None and kernel.loop is not loop:  # a later event loop (tests, tools)
            kernel.close()
            kernel = self._kernel = None
        if kernel is None and not self._no_kernel:
            kernel = self._kernel = aio.KernelSync.open(loop)
            self._no_kernel = kernel is None
        return kernel

    def _no_kernel_from_now(self, why: str) -> None:
        log.warning("audit journal syncs run on a thread from now on: %s", why)
        if self._kernel is not None:
            self._kernel.close()
        self._kernel, self._no_kernel = None, True

    def _settle(
        self, start: int, length: int, count: int, frame: int | None, inode: int, synced: Any
    ) -> None:
        """A kernel sync whose batch's flush was cancelled has ended: settle the batch as
        ``_settled`` would have, on the audit thread (taken back if it failed)."""
        error = None if synced.cancelled() else synced.exception()
        with suppress(RuntimeError):  # closing: the executor is shut down
            if error is None:
                self._executor.submit(self._durable_locked, start, length, count, inode)
            else:
                self._executor.submit(self._sync_failed, start, length, frame, inode)

    async def _gather(self) -> None:
        """Let more records join the batch before it is written: yield to the event loop
        ``GATHER_PASSES`` times. Each pass runs what is ready and reads what has arrived, so
        requests received meanwhile reach ``append`` and share this batch's fsync. Idle, that
        is a few empty loop iterations (microseconds); under load a batch grows from one or
        two records to several, and the fsyncs, the audit thread's wake-ups and their context
        switches per request fall with it (``bench/run.py``, Encrypt on 2 cores: 11,559 to
        14,613 req/s, p99 at half of peak 3.68 to 3.22 ms)."""
        for _ in range(GATHER_PASSES):
            await asyncio.sleep(0)

    async def append_from_reserve(self, line: bytes) -> None:
        """Like ``append``, for one line that must reach the disk even when it is full: when
        the write fails with ``ENOSPC`` the reserve is released and the write tried once more.
        Raises ``OSError`` when even that fails."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._write_from_reserve, line)

    def _write_from_reserve(self, data: bytes) -> None:
        try:
            self.write_sync(data)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            self._reserve_short = True
            with self._locked():
                os.truncate(self._reserve, 0)
            self.write_sync(data)

    def _fill_reserve(self) -> bool:
        """Allocate the reserve's ``RESERVE_BYTES`` (False when the disk has no room for it)."""
        try:
            fd = os.open(self._reserve, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, RESERVE_BYTES)
            finally:
                os.close(fd)
        except OSError:
            return False
        return True

    def write_sync(self, data: bytes) -> None:
        """Write and fsync one batch of whole lines (runs in the audit thread, or directly from
        tools), each linked into the hash chain.

        All of ``data`` is on disk when this returns; when it raises, none of it is in the file.
        """
        parts = data.split(b"\n")
        if parts[-1]:
            raise ValueError("an audit batch is whole lines, each ending with a newline")
        self._write_lines([part + b"\n" for part in parts[:-1]])

    def _write_on_loop(self, lines: list[bytes]) -> tuple[int, int, int, int | None, int] | None:
        """Write (not sync) one batch from the event loop when that cannot block: the lock
        is free (``LOCK_NB``), the file needs no rotation or reopening, its tail is whole, no
        checkpoint is due and the journal (if any) has room. ``(start, length, lines, frame,
        inode)`` for ``_sync`` (``frame``: its offset in the journal), or None to leave the whole
        batch to ``_write_lines`` on the audit thread. Raises ``OSError`` as that does (the
        file then holds none of the batch).

        One thread handoff per batch (the fsync) instead of one per system call: every call
        the thread makes releases and retakes the GIL, which the busy loop holds."""
        if self.signer is not None and self._checkpoint_due(len(lines)):
            return None
        if not self._mutex.acquire(blocking=False):
            return None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._mutex.release()
            return None
        try:
            stat = os.fstat(self._fd)
            head = self._head
            if head is None or head.inode != stat.st_ino or head.size != stat.st_size:
                try:
                    current = os.stat(self.path)
                except FileNotFoundError:
                    return None
                if current.st_ino != stat.st_ino:
                    return None  # rotated by another worker: reopen on the thread
                if stat.st_size and os.pread(self._fd, 1, stat.st_size - 1) != b"\n":
                    return None  # a torn tail to cut (and fsync): on the thread
            if stat.st_size >= self.max_bytes:
                return None
            prev = self._chain_head_from(stat)
            start = stat.st_size
            out = []
            for line in lines:
                linked = link(line, prev)
                out.append(linked)
                prev = line_hash(linked)
            data = b"".join(out)
            journal = self._journal
            if journal is not None:
                begin = self._gap(start, stat.st_ino)
                if begin is None or not journal.fits(
                    journals.frame_bytes(start - begin + len(data))
                ):
                    return None  # fsync audit.log instead, on the audit thread
            frame = self._append_framed(data, start, prev, stat.st_ino)
            return start, len(data), len(lines), frame, stat.st_ino
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            self._mutex.release()

    def _append(self, data: bytes, start: int, prev: bytes, inode: int) -> None:
        """Write ``data`` at the end (``start``) of the file (``inode``); on failure cut it
        back. Call under the lock; ``prev`` is the hash of the last line of ``data``."""
        self._head = None
        try:
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])
        except BaseException:
            os.ftruncate(self._fd, start)
            raise
        self._head = _Head(inode, start + len(data), prev)

    def _gap(self, start: int, inode: int) -> int | None:
        """Where this batch's frame must begin in audit.log (``inode``): at the end of what is
        durable for this worker (``_synced``), so that it also holds what other workers wrote
        since. Their lines come before this batch's in the chain, and their own journal syncs
        may finish after this one, or never (killed): without them in this frame, a crash
        could cut the chain before this batch. None when that is more than ``MAX_GAP`` bytes
        (then audit.log is fsynced instead). Call under the lock."""
        synced_inode, synced = self._synced
        if synced_inode == -1:
            return None
        begin = synced if synced_inode == inode and synced <= start else 0  # 0: since rotation
        return begin if start - begin <= MAX_GAP else None

    def _append_framed(self, data: bytes, start: int, prev: bytes, inode: int) -> int | None:
        """``_append``, then one journal frame of the trail from ``_gap`` to the end of
        ``data``, if the journal has room: the frame's offset, else None. Call under the
        lock."""
        self._append(data, start, prev, inode)
        journal = self._journal
        begin = self._gap(start, inode)
        if journal is None or begin is None:
            return None
        size = journals.frame_bytes(start - begin + len(data))
        if not journal.fits(size):
            return None
        frame = journal.reserve(size)
        try:
            others = os.pread(self._fd, start - begin, begin) if begin < start else b""
            if len(others) != start - begin:
                raise OSError(errno.EIO, "audit.log is shorter than its size")
            journal.write(frame, others + data)
        except BaseException:
            self._head = None
            self._take_back(start)
            raise
        return frame

    def _take_back(self, start: int) -> None:
        """Truncate audit.log back to ``start`` (a batch that failed), durably: a background
        fsync may have put the batch on disk meanwhile, and the next lines (chained before it)
        must not follow it there after a crash. Call under the lock."""
        os.ftruncate(self._fd, start)
        try:
            os.fsync(self._fd)
        except OSError:
            if self._journal is not None:
                self._journal.frozen = True

    def _sync(self, start: int, length: int, count: int, frame: int | None, inode: int) -> None:
        """Make a batch written at ``start`` of audit.log (``inode``) durable (the audit
        thread): ``fdatasync`` the journal it was framed in at ``frame``, else ``fsync``
        audit.log. When that fails, take the batch back unless others appended after it (its
        frame voided first), and raise. (Had the file been rotated since, whoever rotated it
        fsynced it, batch included, before renaming it.)"""
        journal = self._journal
        covered = None  # an fsync of audit.log covers every frame written before it starts
        if journal is not None and frame is None:
            with self._mutex:  # not in the middle of a batch written from the loop
                covered = journal.total
        try:
            if journal is not None and frame is not None:
                with self._journal_syncing:
                    journal.sync()
            else:
                os.fsync(self._fd)
        except BaseException:
            self._sync_failed(start, length, frame, inode)
            raise
        self._durable_locked(start, length, count, inode, covered)

    def _sync_failed(self, start: int, length: int, frame: int | None, inode: int) -> None:
        """The sync of a batch failed: take it back from audit.log unless others appended
        after it (its journal frame voided first). Call off the event loop (it waits for the
        lock and syncs)."""
        journal = self._journal
        if journal is not None and frame is None:
            journal.frozen = True  # pages may be lost while later fsyncs succeed
        with self._locked():
            self._head = None
            stat = os.fstat(self._fd)
            if stat.st_ino == inode and stat.st_size == start + length:
                # void the frame first: a frame left valid would bring the batch back
                voided = True
                if journal is not None and frame is not None:
                    try:
                        journal.invalidate(frame)
                    except OSError:
                        voided = False  # then the batch stays, as when others wrote after
                if voided:
                    self._take_back(start)

    def _durable_locked(
        self, start: int, length: int, count: int, inode: int, covered: int | None = None
    ) -> None:
        with self._mutex:
            self._durable(start, length, count, inode, covered)

    def _durable(
        self, start: int, length: int, count: int, inode: int, covered: int | None
    ) -> None:
        """A batch of ``count`` lines written at ``start`` of audit.log (``inode``) is on disk;
        ``covered``: the journal's ``total`` when the fsync of audit.log that made it so
        began (None when the journal was synced). Call holding ``_mutex`` (not the flock)."""
        journal = self._journal
        if journal is not None and covered is not None:
            journal.advance(covered)
        # a batch of the file this worker still appends to
        if inode == os.fstat(self._fd).st_ino and (
            self._synced[0] != inode or self._synced[1] < start + length
        ):
            self._synced = (inode, start + length)
        self._since_checkpoint += count

    def _start_flush(self) -> None:
        """fsync audit.log in the background (``_flush_trail``), so that the journal frames
        written so far may be overwritten once it ends. A duplicate of the file descriptor: the
        audit thread may reopen ``audit.log`` meanwhile."""
        journal = self._journal
        if journal is None or not self._mutex.acquire(blocking=False):
            return  # the audit thread is writing: the next batch tries again
        try:
            fd, covered = os.dup(self._fd), journal.total
        except OSError as exc:  # out of descriptors: the batches fsync audit.log when full
            log.warning("could not start the audit log's background fsync: %s", exc)
            return
        finally:
            self._mutex.release()
        try:
            self._flusher.submit(self._flush_trail, journal, fd, covered)
        except RuntimeError:  # closing
            os.close(fd)
            return
        journal.flushing = True

    @staticmethod
    def _flush_trail(journal: journals.Journal, fd: int, covered: int) -> None:
        """The background fsync. When it fails, written-back pages of the trail may be lost
        while a later fsync succeeds (Linux reports a writeback error once): the journal's
        frames are then never reused (``Journal.frozen``), and once it is full every batch
        fsyncs audit.log."""
        try:
            os.fsync(fd)
            journal.advance(covered)
        except OSError as exc:
            journal.frozen = True
            log.warning("fsync of the audit log failed; its journal is kept as it is: %s", exc)
        finally:
            os.close(fd)
            journal.flushing = False

    def _write_lines(self, lines: list[bytes], force_checkpoint: bool = False) -> None:
        with self._locked():
            self._follow_rotation()
            prev = self._chain_head()
            stat = os.fstat(self._fd)
            start = stat.st_size  # under the lock nobody else appends
            out = []
            for line in lines:
                linked = link(line, prev)
                out.append(linked)
                prev = line_hash(linked)
            checkpoint = None
            if self.signer is not None and (force_checkpoint or self._checkpoint_due(len(lines))):
                now = self.clock.now()
                out.append(self.signer.checkpoint(prev, now))
                prev = line_hash(out[-1])
                checkpoint = (now, prev)
            data = b"".join(out)
            frame = self._append_framed(data, start, prev, stat.st_ino)
        self._sync(start, len(data), len(lines), frame, stat.st_ino)
        if checkpoint is not None:
            self._checkpointed(checkpoint)

    def _checkpoint_due(self, adding: int) -> bool:
        pending = self._since_checkpoint + adding
        if pending >= self.checkpoint_records:
            return True
        elapsed = time.monotonic() - self._last_checkpoint
        return pending > 0 and elapsed >= self.checkpoint_seconds

    def _checkpointed(self, checkpoint: tuple[float, bytes]) -> None:
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        self.newest_checkpoint = checkpoint

    async def checkpoint_if_due(self) -> None:
        """Append a checkpoint when this worker's records since its last one are due one (for
        an idle worker: a batch checks this itself). Raises ``OSError`` as ``append`` does."""
        if self.signer is None or not self._checkpoint_due(0):
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._checkpoint_sync)

    def _checkpoint_sync(self) -> None:
        if self.signer is not None and self._since_checkpoint > 0:
            self._write_lines([], force_checkpoint=True)

    def _chain_head(self) -> bytes:
        """The hash of the last line of the trail. Call under the lock."""
        stat = os.fstat(self._fd)
        head = self._head
        if head is not None and head.inode == stat.st_ino and head.size == stat.st_size:
            return head.digest
        if stat.st_size and os.pread(self._fd, 1, stat.st_size - 1) != b"\n":
            _cut_torn_tail(self._fd)  # a worker died mid-write since this file was opened
            stat = os.fstat(self._fd)
        return self._chain_head_from(stat)

    def _chain_head_from(self, stat: os.stat_result) -> bytes:
        """``_chain_head`` for a file (``stat``) whose tail is whole. Call under the lock."""
        head = self._head
        if head is not None and head.inode == stat.st_ino and head.size == stat.st_size:
            return head.digest
        if stat.st_size:
            return line_hash(_last_line(self._fd, stat.st_size))
        rotated = rotated_files(self.directory)
        if not rotated:
            return GENESIS
        fd = os.open(rotated[-1], os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            return line_hash(_last_line(fd, size)) if size else GENESIS
        finally:
            os.close(fd)

    def _follow_rotation(self) -> None:
        """Reopen a rotated file, or rotate a full one. Call under the lock."""
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
        stat = os.stat(self.path)
        if stat.st_ino == os.fstat(self._fd).st_ino and stat.st_size >= self.max_bytes:
            os.fsync(self._fd)  # every worker's journaled lines in it are durable once renamed
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock.now()))
            sequence = len(list(self.directory.glob("audit-*.log"))) + 1
            target = self.directory / f"audit-{stamp}-{sequence:06d}.log"
            if self.signer is not None:  # a rotated file ends with a checkpoint
                now = self.clock.now()
                line = self.signer.checkpoint(self._chain_head(), now)
                size = os.fstat(self._fd).st_size
                try:
                    os.write(self._fd, line)
                    os.fsync(self._fd)
                except BaseException:
                    os.ftruncate(self._fd, size)
                    raise
                self._checkpointed((now, line_hash(line)))
            os.rename(self.path, target)  # under the lock: names never collide
            journals.fsync_dir(self.directory)
        self._reopen()

    def _reopen(self) -> None:
        self._synced = (-1, 0)  # a new file: its first batch fsyncs it
        os.close(self._fd)
        self._fd = self._open()
        journals.fsync_dir(self.directory)

    def close(self) -> None:
        """Stop, after a last checkpoint over this worker's records (best effort)."""
        if self._kernel is not None:
            self._kernel.close()  # after the syncs in flight have ended
            self._kernel, self._no_kernel = None, True
        self._executor.shutdown(wait=True)
        self._flusher.shutdown(wait=True)
        with suppress(OSError):
            self._checkpoint_sync()
        with suppress(OSError):
            os.fsync(self._fd)  # the trail durable by itself after a clean stop
        os.close(self._fd)
        if self._journal is not None:
            self._journal.close()
        os.close(self._lock_fd)


def restore_trail(directory: Path, clock: Clock) -> None:
    """Append to ``directory``'s audit.log what its journals hold beyond its end, as the first
    worker to start after a crash of the machine does (``AuditLog._recover``): for the
    ``trent audit`` readers, which may run before that. Nothing when there is no audit.log,
    or it cannot be written (a read-only copy, another user's files)."""
    if not (directory / CURRENT).is_file() or journals.in_use(directory):
        return  # nothing to restore, or a server runs (it restored the trail when it started)
    try:
        AuditLog(directory, clock, journal_bytes=0).close()
    except OSError as exc:
        log.debug("audit trail not restored from its journals: %s", exc)


def _cut_torn_tail(fd: int) -> None:
    """Truncate the file back to just after its last newline (a crash mid-write leaves part of
    a record without one, which would otherwise run into the next record)."""
    size = os.fstat(fd).st_size
    end = size
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        chunk = os.pread(fd, end - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            end = start + newline + 1
            break
        end = start
    if end != size:
        os.ftruncate(fd, end)
        os.fsync(fd)


def _cut_hole(fd: int, window: int, directory: Path) -> None:
    """Cut the file back to the line before the first NUL byte in its last ``window`` bytes:
    a record never holds one (JSON escapes it), a hole left by a crash reads as zeros. What is
    cut is first kept, fsynced, in ``audit.cut-<UTC time>`` (a NUL may also be a damaged
    byte in durable records that the journals no longer hold), and a warning names it."""
    size = os.fstat(fd).st_size
    start = max(0, size - window)
    tail = os.pread(fd, size - start, start)
    hole = tail.find(b"\0")
    if hole < 0:
        return
    line_start = start + tail.rfind(b"\n", 0, hole) + 1 if b"\n" in tail[:hole] else start
    kept = directory / f"{CUT_PREFIX}{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    cut = os.pread(fd, size - line_start, line_start)
    side = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(side, cut)
        os.fsync(side)
    finally:
        os.close(side)
    journals.fsync_dir(directory)
    os.ftruncate(fd, start + hole)
    _cut_torn_tail(fd)  # back to the end of the last whole line, and fsynced
    log.warning(
        "audit.log had a NUL byte at offset %d (a crash's hole, or damage): cut back there, "
        "the %d bytes cut kept in %s; the journals restore what they hold",
        start + hole,
        len(cut),
        kept.name,
    )


def _last_line(fd: int, size: int) -> bytes:
    """The last line (with its newline) of a file of ``size`` bytes that ends with one. Reads
    ``_FIRST_TAIL_CHUNK`` bytes first (a record is usually shorter: this runs for nearly every
    batch while another worker appends too), then ``_TAIL_CHUNK`` at a time."""
    chunks: list[bytes] = []
    position = size
    chunk = _FIRST_TAIL_CHUNK
    while position > 0:
        start = max(0, position - chunk)
        chunk = _TAIL_CHUNK
        chunks.insert(0, os.pread(fd, position - start, start))
        tail = b"".join(chunks)
        newline = tail.rfind(b"\n", 0, len(tail) - 1)
        if newline >= 0:
            return tail[newline + 1 :]
        position = start
    return b"".join(chunks)
