"""Group commit gathers (``trent.audit.log.AuditLog._gather``, issue 17): records appended
within the next few event-loop passes share one batch and one fsync, and every ``append``
returns only once its record is in the file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from trent.audit.log import GATHER_PASSES, AuditLog
from trent.clock import SystemClock


class CountingLog(AuditLog):
    """The real log (real writes, real fsyncs), counting the batches it syncs."""

    syncs = 0

    def _sync(self, start: int, length: int, count: int) -> None:
        self.syncs += 1
        super()._sync(start, length, count)


def _record(n: int) -> bytes:
    return json.dumps({"eventName": "Encrypt", "n": n}).encode() + b"\n"


def test_records_within_the_gathering_passes_share_one_fsync(tmp_path: Path) -> None:
    log = CountingLog(tmp_path / "audit", SystemClock())

    async def later(n: int, passes: int) -> None:
        for _ in range(passes):
            await asyncio.sleep(0)
        await log.append(_record(n))

    async def scenario() -> None:
        # the first record starts the flush; the others arrive over the next passes
        await asyncio.gather(*(later(n, n) for n in range(GATHER_PASSES)))

    try:
        asyncio.run(scenario())
        lines = (tmp_path / "audit" / "audit.log").read_bytes().splitlines()
        assert [json.loads(line)["n"] for line in lines] == list(range(GATHER_PASSES))
        assert log.syncs == 1  # without the gathering passes: one fsync per record
    finally:
        log.close()


def test_a_lone_record_is_on_disk_when_append_returns(tmp_path: Path) -> None:
    log = CountingLog(tmp_path / "audit", SystemClock())

    async def scenario() -> None:
        await log.append(_record(7))
        lines = (tmp_path / "audit" / "audit.log").read_bytes().splitlines()
        assert json.loads(lines[-1])["n"] == 7

    try:
        asyncio.run(scenario())
        assert log.syncs == 1
    finally:
        log.close()
