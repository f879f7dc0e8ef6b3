"""The audit log's journal (``trent.audit.journal``, issue 17): a batch written from the event loop
is made durable by ``fdatasync`` of a pre-written journal frame instead of an ``fsync`` of
``audit.log``; what a crash of the machine takes from ``audit.log`` comes back from the journals
when the log is next opened, in chain order; the ring never overwrites a frame whose lines are not
yet durable in the trail.

A crash of the machine is simulated by cutting ``audit.log`` back (what the page cache held and
the disk did not), the only part of such a crash a test can reproduce."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server import TrentServer
from trent.audit import journal as journals
from trent.audit.chain import line_hash, prev_of
from trent.audit.log import AuditLog
from trent.clock import SystemClock


class SyncingLog(AuditLog):
    """The real log, noting each batch synced on the audit thread: ``frames``, its journal
    frame (None: audit.log was fsynced); ``kernel_syncs``: the journal syncs the kernel ran
    (io_uring or Linux AIO, ``trent.audit.aio``). ``kernel=False``: none, as where neither is
    available."""

    def __init__(self, *args: object, kernel: bool = True, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.frames: list[int | None] = []
        self._no_kernel = not kernel

    def _sync(self, start: int, length: int, count: int, frame: int | None, inode: int) -> None:
        self.frames.append(frame)
        super()._sync(start, length, count, frame, inode)

    @property
    def kernel_syncs(self) -> int:
        return self._kernel.submitted if self._kernel is not None else 0


def _record(n: int, pad: int = 0) -> bytes:
    return json.dumps({"eventName": "Encrypt", "n": n, "pad": "x" * pad}).encode() + b"\n"


def _append_all(log: AuditLog, count: int, pad: int = 0, batch: int = 3) -> None:
    async def scenario() -> None:
        for first in range(0, count, batch):
            batch_records = [_record(n, pad) for n in range(first, first + batch)]
            await asyncio.gather(*(log.append(record) for record in batch_records))

    asyncio.run(scenario())


def _numbers(audit: Path) -> list[int]:
    return [json.loads(line)["n"] for line in (audit / "audit.log").read_bytes().splitlines()]


def _chained(audit: Path) -> bool:
    lines = (audit / "audit.log").read_bytes().splitlines(keepends=True)
    return all(prev_of(b) == line_hash(a) for a, b in itertools.pairwise(lines))


@pytest.mark.parametrize("kernel", [True, False], ids=["kernel", "thread"])
def test_a_batch_from_the_loop_is_made_durable_in_the_journal(tmp_path: Path, kernel: bool) -> None:
    audit = tmp_path / "audit"
    log = SyncingLog(audit, SystemClock(), kernel=kernel)
    try:
        _append_all(log, 9)
        # the first batch fsyncs audit.log (nothing is known durable before it), the next
        # ones are synced through the journal
        # (in the kernel, through io_uring or Linux AIO, or on the thread without them)
        if kernel:
            assert log.frames == [None] and log.kernel_syncs == 2
        else:
            assert log.frames[0] is None and all(frame is not None for frame in log.frames[1:])
            assert len(log.frames) == 3 and log.kernel_syncs == 0
        trail = (audit / "audit.log").read_bytes().splitlines(keepends=True)
        # the journal holds the very lines of the trail after the first batch, as intact frames
        assert journals.read_lines(audit / f"{journals.PREFIX}0") == trail[3:]
        assert os.stat(audit / f"{journals.PREFIX}0").st_mode & 0o777 == 0o600
    finally:
        log.close()


def test_what_a_crash_took_from_the_trail_comes_back_from_the_journal(tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    log = AuditLog(audit, SystemClock())
    _append_all(log, 12)
    whole = (audit / "audit.log").read_bytes()
    # the disk had only the first five records and half of the sixth
    lines = whole.splitlines(keepends=True)
    os.truncate(audit / "audit.log", sum(map(len, lines[:5])) + len(lines[5]) // 2)

    reopened = AuditLog(audit, SystemClock())  # the next worker to start
    try:
        assert (audit / "audit.log").read_bytes() == whole
        assert _numbers(audit) == list(range(12))
        # and the log goes on from there, chained
        _append_all(reopened, 3)
        assert _numbers(audit)[12:] == [0, 1, 2]
        assert _chained(audit)
    finally:
        reopened.close()
        log.close()


def test_a_torn_frame_is_not_restored(tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    log = AuditLog(audit, SystemClock())
    _append_all(log, 9)  # three batches, three frames
    lines = (audit / "audit.log").read_bytes().splitlines(keepends=True)
    journal = audit / f"{journals.PREFIX}0"
    data = bytearray(journal.read_bytes())
    last = data.rfind(journals.MAGIC)
    data[last + journals.FRAME.size + 10] ^= 0x01  # the last frame was torn by the crash
    journal.write_bytes(bytes(data))
    os.truncate(audit / "audit.log", sum(map(len, lines[:3])))  # the disk had one batch

    reopened = AuditLog(audit, SystemClock())
    try:
        assert _numbers(audit) == [0, 1, 2, 3, 4, 5]  # the intact second frame, not the third
        assert _chained(audit)
    finally:
        reopened.close()
        log.close()


def test_nothing_to_restore_after_a_clean_stop(tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    log = AuditLog(audit, SystemClock())
    _append_all(log, 6)
    log.close()
    before = (audit / "audit.log").read_bytes()
    reopened = AuditLog(audit, SystemClock())
    try:
        assert (audit / "audit.log").read_bytes() == before  # journal frames already there
    finally:
        reopened.close()


def test_a_batch_answered_before_an_earlier_one_synced_survives_the_crash(
    tmp_path: Path,
) -> None:
    """Two workers: A writes a1 and has not synced it yet; B writes b1 (chained after a1),
    syncs and answers. The machine crashes before A's sync: a1's frame never reached the disk.
    b1's frame carries a1 too (what others wrote since B's last durable point), so both
    come back; without that the chain would stop before b1."""
    audit = tmp_path / "audit"
    worker_a = AuditLog(audit, SystemClock())
    worker_b = AuditLog(audit, SystemClock())
    try:
        # each worker's first batch fsyncs audit.log (nothing is known durable before it)
        _append_all(worker_a, 1, batch=1)
        _append_all(worker_b, 1, batch=1)
        on_disk = (audit / "audit.log").stat().st_size
        written_a = worker_a._write_on_loop([_record(1)])
        written_b = worker_b._write_on_loop([_record(2)])
        assert written_a is not None and written_b is not None
        worker_b._sync(*written_b)  # b1 is answered; a1 is still in flight
        whole = (audit / "audit.log").read_bytes()
        # the crash: audit.log back to its last fsync, a1's frame never written
        os.truncate(audit / "audit.log", on_disk)
        assert worker_a._journal is not None and written_a[3] is not None
        with open(worker_a._journal.path, "r+b") as handle:
            handle.seek(written_a[3])
            handle.write(bytes(journals.FRAME.size + written_a[1]))
        reopened = AuditLog(audit, SystemClock())
        reopened.close()
        assert (audit / "audit.log").read_bytes() == whole
        assert _numbers(audit) == [0, 0, 1, 2]
    finally:
        worker_a.close()
        worker_b.close()


def test_a_hole_the_crash_left_in_the_trail_is_filled_from_the_journal(tmp_path: Path) -> None:
    """Pages written back out of order leave zeros inside what was not fsynced: the trail is
    cut back before them and the journal restores the rest."""
    audit = tmp_path / "audit"
    log = AuditLog(audit, SystemClock())
    _append_all(log, 12)
    whole = (audit / "audit.log").read_bytes()
    lines = whole.splitlines(keepends=True)
    hole_at = sum(map(len, lines[:4])) + 7
    with open(audit / "audit.log", "r+b") as handle:
        handle.seek(hole_at)
        handle.write(bytes(len(lines[4]) + len(lines[5])))  # two records' worth of zeros
    damaged = (audit / "audit.log").read_bytes()

    reopened = AuditLog(audit, SystemClock())
    try:
        assert (audit / "audit.log").read_bytes() == whole
        # what was cut is kept aside (the NUL might have been damage, not a crash's hole)
        (kept,) = audit.glob("audit.cut-*")
        assert kept.read_bytes() == damaged[sum(map(len, lines[:4])) :]
    finally:
        reopened.close()
        log.close()


def test_the_audit_readers_restore_the_trail_first(tmp_path: Path) -> None:
    """After a crash of the machine and before Trent starts again, ``trent audit tail`` (and
    ``query``, ``top-keys``) restore from the journals what audit.log lost, then read it."""
    audit = tmp_path / "data" / "audit"
    log = AuditLog(audit, SystemClock())
    _append_all(log, 9)
    log.close()  # Trent is not running (a reader finds a journal held: a server restored it)
    lines = (audit / "audit.log").read_bytes().splitlines(keepends=True)
    os.truncate(audit / "audit.log", sum(map(len, lines[:3])))
    tail = subprocess.run(
        [sys.executable, "-m", "trent", "audit", "tail", "-n", "50"],
        env={**os.environ, "TRENT_DATA_DIR": str(tmp_path / "data")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert [json.loads(line)["n"] for line in tail.stdout.splitlines()] == list(range(9))
    assert "restored 6 audit records from the journal" in tail.stderr


@pytest.mark.parametrize(
    ("durable", "total", "length", "fits"),
    [
        (0, 0, 60, True),  # an empty first lap
        (0, 60, 30, True),  # ends at 90: still the first lap
        (0, 60, 60, False),  # would skip to the next lap and overwrite 0..60, not durable
        (60, 60, 60, True),  # ... which it may once 0..60 is durable
        (79, 150, 30, False),  # 150..180 overwrites 50..80 of the first lap
        (80, 150, 30, True),
        (500, 0, 101, False),  # larger than the journal
    ],
)
def test_the_ring_never_overwrites_what_is_not_durable(
    tmp_path: Path, durable: int, total: int, length: int, fits: bool
) -> None:
    journal = journals.Journal(os.open(tmp_path / "j", os.O_RDWR | os.O_CREAT), tmp_path, 100)
    try:
        journal.total, journal.durable = total, durable
        assert journal.fits(length) is fits
    finally:
        journal.close()


@pytest.mark.parametrize("kernel", [True, False], ids=["kernel", "thread"])
def test_a_small_journal_laps_and_the_trail_stays_whole(tmp_path: Path, kernel: bool) -> None:
    audit = tmp_path / "audit"
    log = SyncingLog(audit, SystemClock(), journal_bytes=16 * 1024, kernel=kernel)
    try:
        _append_all(log, 300, pad=200)  # about 75 KiB of records: several laps
        assert log._journal is not None and log._journal.total > 4 * 16 * 1024
        assert _numbers(audit) == list(range(300))
        assert _chained(audit)
        # most batches went through the journal; the others fsynced audit.log
        journaled = sum(frame is not None for frame in log.frames) + log.kernel_syncs
        assert journaled > (len(log.frames) + log.kernel_syncs) // 2
        assert (log.kernel_syncs > 0) is kernel
        # the last batch can still be restored from the journal
        lines = (audit / "audit.log").read_bytes().splitlines(keepends=True)
        os.truncate(audit / "audit.log", sum(map(len, lines[:-3])))
        reopened = AuditLog(audit, SystemClock(), journal_bytes=16 * 1024)
        reopened.close()
        assert _numbers(audit) == list(range(300))
    finally:
        log.close()


def test_no_journal_without_room_for_one(tmp_path: Path) -> None:
    """On a disk too full for a journal the log fsyncs audit.log itself (and leaves no file)."""
    audit = tmp_path / "audit"
    log = SyncingLog(audit, SystemClock(), journal_bytes=0)
    try:
        _append_all(log, 3)
        assert log.frames == [None]
        assert not list(audit.glob(journals.PREFIX + "*"))
    finally:
        log.close()


def test_a_killed_server_restores_its_trail_from_the_journal(fresh_server: TrentServer) -> None:
    """A real server, killed; its trail then loses its last records as a crash of the machine
    would lose them (never fsynced: they were durable in the journal). The next start restores
    them, and ``trent audit verify`` finds the chain intact."""
    kms = fresh_server.start().client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    request_ids = [
        kms.encrypt(KeyId=key_id, Plaintext=b"x")["ResponseMetadata"]["RequestId"]
        for _ in range(20)
    ]
    fresh_server.stop(signal.SIGKILL)
    data_dir = fresh_server.data_dir
    trail = data_dir / "audit" / "audit.log"
    lines = trail.read_bytes().splitlines(keepends=True)
    cut = 0  # the last records, while they are acknowledged Encrypts
    while cut < 5 and json.loads(lines[-1 - cut]).get("requestID") in request_ids:
        cut += 1
    assert cut >= 1
    os.truncate(trail, sum(map(len, lines[:-cut])))

    fresh_server.start()
    assert trail.read_bytes().splitlines(keepends=True)[: len(lines)] == lines
    recorded = {record.get("requestID") for record in fresh_server.audit_records()}
    assert set(request_ids) <= recorded
    verify = subprocess.run(
        [sys.executable, "-m", "trent", "audit", "verify", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "OK: the trail is intact" in verify.stdout
