"""Group commit gathers (``trent.audit.log.AuditLog._gather``, issue 17): records appended
within the next few event-loop passes share one batch and one fsync, and every ``append``
returns only once its record is in the file."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from trent.audit.log import GATHER_PASSES, AuditLog
from trent.clock import SystemClock


class CountingLog(AuditLog):
    """The real log (real writes, real fsyncs), counting the batches it syncs: on the audit
    thread, or by the kernel (``trent.audit.aio``)."""

    threaded = 0

    def _sync(self, start: int, length: int, count: int, frame: int | None, inode: int) -> None:
        self.threaded += 1
        super()._sync(start, length, count, frame, inode)

    @property
    def syncs(self) -> int:
        return self.threaded + (self._kernel.submitted if self._kernel is not None else 0)


def _record(n: int) -> bytes:
    return json.dumps({"eventName": "Encrypt", "n": n}).encode() + b"\n"


def test_records_within_the_gathering_passes_share_one_fsync(tmp_path: Path) -> None:
    log = CountingLog(tmp_path / "audit", SystemClock())

    async def later(n: int, passes: int) -> None:
        for _ in range(passes):
            await asyncio.sleep(0)
        await log.append(_record(n))

    async def scenario() -> int:
        # a worker's first batch fsyncs audit.log on the thread; the next ones go through the
        # journal, synced by the kernel
        await log.append(_record(-1))
        before = log.syncs
        # the first record starts the flush; the others arrive over the next passes
        await asyncio.gather(*(later(n, n) for n in range(GATHER_PASSES)))
        return log.syncs - before

    try:
        assert asyncio.run(scenario()) == 1  # without the gathering passes: one per record
        lines = (tmp_path / "audit" / "audit.log").read_bytes().splitlines()
        assert [json.loads(line)["n"] for line in lines] == [-1, *range(GATHER_PASSES)]
        assert log._kernel is not None and log._kernel.submitted == 1
    finally:
        log.close()


def test_a_lone_record_is_on_disk_when_append_returns(tmp_path: Path) -> None:
    log = CountingLog(tmp_path / "audit", SystemClock())

    async def scenario() -> None:
        for n in (7, 8):  # the first fsyncs audit.log, the second its journal frame
            await log.append(_record(n))
            lines = (tmp_path / "audit" / "audit.log").read_bytes().splitlines()
            assert json.loads(lines[-1])["n"] == n

    try:
        asyncio.run(scenario())
        assert log.syncs == 2 and log.threaded == 1
    finally:
        log.close()


def test_the_last_line_is_found_whatever_its_length(tmp_path: Path) -> None:
    """``_last_line`` (read for nearly every batch while another worker appends) reads a small
    tail first and more only when the last line is longer."""
    from trent.audit.log import _last_line

    path = tmp_path / "lines"
    lines = [b"a" * n + b"\n" for n in (10, 5000, 70_000, 3, 4095, 4096, 4097, 140_000)]
    with path.open("wb") as handle:
        for index, line in enumerate(lines):
            handle.write(line)
            handle.flush()
            fd = os.open(path, os.O_RDONLY)
            try:
                assert _last_line(fd, os.fstat(fd).st_size) == line, index
            finally:
                os.close(fd)
    fd = os.open(path, os.O_RDONLY)
    try:  # a file of one line
        os.truncate(path, len(lines[0]))
        assert _last_line(fd, len(lines[0])) == lines[0]
    finally:
        os.close(fd)
