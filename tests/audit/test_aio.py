"""Journal syncs run by the kernel (``trent.audit.aio``, issue 17): an ``fdatasync`` submitted
through io_uring or Linux AIO completes on the event loop, with its errno when it failed; a sync
the kernel refuses never counts as done (the audit thread syncs instead), and a sync that fails
takes its batch back, as on the thread.

A failing disk cannot be had in a test; the two failure cases of the log give it a
``KernelSync`` whose real sync is followed by the outcome under test."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import threading
from collections.abc import Iterator
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


@pytest.mark.parametrize("backend", aio.BACKENDS)
@pytest.mark.parametrize("run", LOOPS.values(), ids=LOOPS.keys())
def test_the_kernel_runs_an_fdatasync_for_the_loop(
    tmp_path: Path, run: object, backend: str
) -> None:
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o600)

    async def scenario() -> int:
        # Linux with io_uring and Linux AIO allowed: what Trent is tested on
        kernel = aio.KernelSync.open(asyncio.get_running_loop(), (backend,))
        assert kernel is not None and kernel.backend == backend
        threads = threading.active_count()
        try:
            for n in range(50):
                os.pwrite(fd, b"x" * 100, n * 512)
                await kernel.fdatasync(fd)
            assert threading.active_count() == threads  # no thread of Python's ran them
            return kernel.submitted
        finally:
            kernel.close()

    try:
        assert run(scenario()) == 50  # type: ignore[operator]
    finally:
        os.close(fd)


def test_linux_aio_is_tried_first() -> None:
    async def scenario() -> str | None:
        kernel = aio.KernelSync.open(asyncio.get_running_loop())
        if kernel is not None:
            kernel.close()
        return kernel.backend if kernel is not None else None

    assert asyncio.run(scenario()) == "linux_aio"


def test_no_backend_means_the_thread() -> None:
    async def scenario() -> aio.KernelSync | None:
        return aio.KernelSync.open(asyncio.get_running_loop(), ())

    assert asyncio.run(scenario()) is None


@pytest.fixture
def pipe() -> Iterator[int]:
    """The write end of a pipe: a file the kernel cannot fsync."""
    read_end, write_end = os.pipe()
    yield write_end
    os.close(read_end)
    os.close(write_end)


def test_a_sync_linux_aio_refuses_is_not_submitted(pipe: int) -> None:
    async def scenario() -> None:
        kernel = aio.KernelSync.open(asyncio.get_running_loop(), ("linux_aio",))
        assert kernel is not None
        try:
            with pytest.raises(aio.NotSubmitted):  # io_submit refuses it (EINVAL)
                kernel.fdatasync(pipe)
        finally:
            kernel.close()

    asyncio.run(scenario())


def test_a_sync_that_fails_in_io_uring_reports_its_errno(pipe: int) -> None:
    async def scenario() -> None:
        kernel = aio.KernelSync.open(asyncio.get_running_loop(), ("io_uring",))
        assert kernel is not None
        try:
            with pytest.raises(OSError) as failed:  # io_uring takes it; the sync then fails
                await kernel.fdatasync(pipe)
            assert failed.value.errno == errno.EINVAL
        finally:
            kernel.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("result", "code"),
    [
        (0, None),
        (-errno.EIO, errno.EIO),  # io_uring's cqe.res
        (-errno.ENOSPC, errno.ENOSPC),
        ((1 << 64) - errno.EIO, errno.EIO),  # Linux AIO's io_event.res -EIO, as caio passes it
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
        # watches the same eventfd now
        super().__init__(loop, opened.backend, opened._context, opened._operation)
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


class _ThreadSyncs(AuditLog):
    """The real log, noting the journal frames its audit thread synced."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.frames: list[int | None] = []

    def _sync(self, start: int, length: int, count: int, frame: int | None, inode: int) -> None:
        self.frames.append(frame)
        super()._sync(start, length, count, frame, inode)


@pytest.mark.parametrize(
    "outcome",
    [aio.NotSubmitted("EAGAIN"), OSError(errno.ECANCELED, "no io-wq worker")],
    ids=["not-submitted", "could-not-run"],
)
def test_a_kernel_sync_that_did_not_run_falls_back_to_the_thread(
    tmp_path: Path, outcome: Exception
) -> None:
    audit = tmp_path / "audit"
    log = _ThreadSyncs(audit, SystemClock())

    async def scenario() -> int:
        await log.append(_record(0))  # the first batch fsyncs audit.log on the thread
        kernel = _ThenOutcome(asyncio.get_running_loop(), outcome)
        log._kernel = kernel
        await log.append(_record(1))  # not run: synced on the thread, and answered
        await log.append(_record(2))  # the kernel is no longer asked
        return kernel.calls

    try:
        assert asyncio.run(scenario()) == 1
        assert log._kernel is None and log._no_kernel
        assert _lines(audit) == [0, 1, 2]
        # the first batch fsynced audit.log; the next two were synced through the journal
        assert log.frames[0] is None and len(log.frames) == 3
        assert all(frame is not None for frame in log.frames[1:])
    finally:
        log.close()


def test_a_failed_kernel_sync_takes_its_batch_back(tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    log = AuditLog(audit, SystemClock())

    async def scenario() -> None:
        await log.append(_record(0))
        log._kernel = _ThenOutcome(asyncio.get_running_loop(), OSError(errno.EIO, "I/O error"))
        outcomes = await asyncio.gather(
            log.append(_record(1)), log.append(_record(2)), return_exceptions=True
        )
        assert [getattr(outcome, "errno", None) for outcome in outcomes] == [errno.EIO] * 2
        assert _lines(audit) == [0]  # the batch is no longer in the trail
        assert log._journal is not None
        # nor can it come back from the journal: its frame was voided
        restorable = journals.read_lines(log._journal.path)
        assert [json.loads(line)["n"] for line in restorable] == []
        log._kernel.close()
        log._kernel = None  # the disk is back (a new context is opened)
        await log.append(_record(3))
        assert log._kernel is not None and log._kernel.submitted == 1

    try:
        asyncio.run(scenario())
        assert _lines(audit) == [0, 3]
    finally:
        log.close()


def test_close_waits_for_a_sync_in_flight(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o600)

    async def scenario() -> asyncio.Future[None]:
        kernel = aio.KernelSync.open(asyncio.get_running_loop())
        assert kernel is not None
        os.pwrite(fd, b"x" * 4096, 0)
        synced = kernel.fdatasync(fd)
        kernel.close()  # before the loop has seen the completion
        assert kernel.in_flight == 0
        return synced

    try:
        synced = asyncio.run(scenario())
        assert synced.done() and synced.exception() is None
    finally:
        os.close(fd)


def test_a_cancelled_flush_still_settles_its_batch(tmp_path: Path) -> None:
    """The request waiting for a batch goes away (its task cancelled) while the kernel syncs
    it: the outcome is still applied, here a failure, so the batch is taken back."""
    audit = tmp_path / "audit"
    log = AuditLog(audit, SystemClock())

    async def scenario() -> None:
        await log.append(_record(0))
        log._kernel = _ThenOutcome(asyncio.get_running_loop(), OSError(errno.EIO, "I/O error"))
        waiting = asyncio.ensure_future(log.append(_record(1)))
        while log._kernel.calls == 0:
            await asyncio.sleep(0)
        assert log._task is not None
        log._task.cancel()  # as when the event loop shuts down: every task is cancelled
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        while log._kernel.in_flight:
            await asyncio.sleep(0.001)

    try:
        asyncio.run(scenario())
        log._executor.submit(lambda: None).result()  # what _settle handed the thread is done
        assert _lines(audit) == [0]
    finally:
        log.close()
