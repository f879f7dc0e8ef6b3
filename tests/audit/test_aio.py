"""Journal syncs run by the kernel (``trent.audit.aio``, issue 17): an ``fdatasync`` submitted
through Linux AIO completes on the event loop, a sync the kernel refuses never counts as done
(the audit thread syncs instead), and a sync that fails takes its batch back, as on the thread.

A failing disk cannot be had in a test; the two failure cases give the log a ``KernelSync``
whose real sync is followed by the outcome under test."""

from __future__ import annotations

import asyncio
import errno
import json
import os
from pathlib import Path

import pytest
import uvloop

from trent.audit import aio
from trent.audit import journal as journals
from trent.audit.log import AuditLog
from trent.clock import SystemClock

LOOPS = {"asyncio": asyncio.run, "uvloop": uvloop.run}


def _record(n: int) -> bytes:
    return json.dumps({"eventName": "Encrypt", "n": n}).encode() + b"\n"


@pytest.mark.parametrize("run", LOOPS.values(), ids=LOOPS.keys())
def test_the_kernel_runs_an_fdatasync_for_the_loop(tmp_path: Path, run: object) -> None:
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o600)

    async def scenario() -> int:
        kernel = aio.KernelSync.open(asyncio.get_running_loop())
        assert kernel is not None  # Linux 4.18+, io_setup allowed: what Trent is tested on
        try:
            for n in range(50):
                os.pwrite(fd, b"x" * 100, n * 512)
                await kernel.fdatasync(fd)  # each ends, without a thread
            return len(asyncio.all_tasks())
        finally:
            kernel.close()

    try:
        assert run(scenario()) == 1  # type: ignore[operator]
    finally:
        os.close(fd)


def test_a_sync_the_kernel_refuses_is_not_submitted() -> None:
    read_end, write_end = os.pipe()  # a pipe has no fsync: io_submit refuses it (EINVAL)

    async def scenario() -> None:
        kernel = aio.KernelSync.open(asyncio.get_running_loop())
        assert kernel is not None
        try:
            with pytest.raises(aio.NotSubmitted):
                kernel.fdatasync(write_end)
        finally:
            kernel.close()

    try:
        asyncio.run(scenario())
    finally:
        os.close(read_end)
        os.close(write_end)


@pytest.mark.parametrize(
    ("result", "code"),
    [
        (0, None),
        ((1 << 64) - errno.EIO, errno.EIO),  # io_event.res -EIO, as caio passes it
        ((1 << 64) - errno.ENOSPC, errno.ENOSPC),
        ((1 << 64) - errno.EDQUOT, errno.EDQUOT),
        (7, errno.EIO),  # a positive result is not a success for a sync
    ],
)
def test_a_completed_sync_reports_its_errno(result: int, code: int | None) -> None:
    error = aio.sync_error(result)
    assert (error.errno if error is not None else None) == code
    if error is not None:
        assert os.strerror(code or 0) in str(error)


class _ThenOutcome(aio.KernelSync):
    """A real kernel sync, then ``outcome``: ``NotSubmitted`` raised (before submitting), or an
    ``OSError`` for the future."""

    def __init__(self, loop: asyncio.AbstractEventLoop, outcome: Exception) -> None:
        opened = aio.KernelSync.open(loop)
        assert opened is not None
        super().__init__(loop, opened._context, opened._operation)  # watches its eventfd now
        self.outcome = outcome
        self.calls = 0

    def fdatasync(self, fd: int) -> asyncio.Future[None]:
        self.calls += 1
        if isinstance(self.outcome, aio.NotSubmitted):
            raise self.outcome
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        synced = super().fdatasync(fd)
        synced.add_done_callback(lambda _: failed.set_exception(self.outcome))
        return failed


def _lines(audit: Path) -> list[int]:
    return [json.loads(line)["n"] for line in (audit / "audit.log").read_bytes().splitlines()]


def test_a_refused_kernel_sync_falls_back_to_the_thread(tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    log = AuditLog(audit, SystemClock())

    async def scenario() -> int:
        await log.append(_record(0))  # the first batch fsyncs audit.log on the thread
        kernel = _ThenOutcome(asyncio.get_running_loop(), aio.NotSubmitted("EAGAIN"))
        log._kernel = kernel
        await log.append(_record(1))  # refused: synced on the thread, and answered
        await log.append(_record(2))  # the kernel is no longer asked
        return kernel.calls

    try:
        assert asyncio.run(scenario()) == 1
        assert log._kernel is None and log._no_kernel
        assert _lines(audit) == [0, 1, 2]
    finally:
        log.close()


def test_a_failed_kernel_sync_takes_its_batch_back(tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    log = AuditLog(audit, SystemClock())

    async def scenario() -> None:
        await log.append(_record(0))
        log._kernel = _ThenOutcome(asyncio.get_running_loop(), OSError(errno.EIO, "I/O error"))
        with pytest.raises(OSError) as failed:
            await asyncio.gather(log.append(_record(1)), log.append(_record(2)))
        assert failed.value.errno == errno.EIO
        assert _lines(audit) == [0]  # the batch is no longer in the trail
        assert log._journal is not None
        # nor can it come back from the journal: its frame was voided
        restorable = journals.read_lines(log._journal.path)
        assert [json.loads(line)["n"] for line in restorable] == []
        log._kernel.close()
        log._kernel = None  # the disk is back (a new context is opened)
        await log.append(_record(3))

    try:
        asyncio.run(scenario())
        assert _lines(audit) == [0, 3]
    finally:
        log.close()
