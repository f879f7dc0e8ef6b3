"""The audit trail's hash chain and signed checkpoints, checked by ``trent audit verify``.

One real server (2 workers, a small ``--audit-max-bytes`` so that it rotates often) is run and
stopped once per module; each tampering case works on its own copy of the data directory and
expects ``trent audit verify`` to exit 1 naming the first bad line (``FILE:LINE``).
"""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.server import TrentServer
from trent.audit.chain import (
    CHECKPOINT_PREFIX,
    GENESIS,
    PREV_FIELD,
    Signer,
    line_hash,
    link,
    prev_of,
    public_key_pem,
)
from trent.audit.log import AuditLog
from trent.audit.reader import audit_files, read_records
from trent.audit.verify import verify_trail
from trent.clock import SystemClock
from trent.store import SQLiteStore

MAX_BYTES = 12000


@dataclass(frozen=True)
class Verdict:
    code: int
    out: str
    err: str


def verify(data_dir: Path, *extra: str) -> Verdict:
    done = subprocess.run(
        [sys.executable, "-m", "trent", "audit", "verify", "--data-dir", str(data_dir), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Verdict(done.returncode, done.stdout, done.stderr)


def assert_fails_at(verdict: Verdict, place: str, *words: str) -> None:
    assert verdict.code == 1, verdict
    assert f"FAILED at {place}:" in verdict.err, verdict
    for word in words:
        assert word in verdict.err, verdict


def run_load(server: TrentServer, requests: int) -> list[str]:
    """Encrypt and Decrypt from two clients (likely on both workers); the request ids."""
    clients = [server.client() for _ in range(2)]
    key_id = clients[0].create_key()["KeyMetadata"]["KeyId"]
    ids: list[str] = []
    for i in range(requests):
        kms = clients[i % 2]
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"chain %d" % i)["CiphertextBlob"]
        reply = kms.decrypt(CiphertextBlob=blob)
        ids.append(reply["ResponseMetadata"]["RequestId"])
    return ids


@pytest.fixture(scope="module")
def stopped_trail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The data directory of a 2-worker server that rotated its audit log several times and
    was then stopped (SIGTERM)."""
    server = TrentServer(
        tmp_path_factory.mktemp("chain") / "data",
        workers=2,
        extra_args=["--audit-max-bytes", str(MAX_BYTES)],
    ).start()
    try:
        run_load(server, 40)
    finally:
        assert server.stop() == 0
    yield server.data_dir


@pytest.fixture
def trail(stopped_trail: Path, tmp_path: Path) -> Path:
    """A copy of the stopped server's data directory, for this test to tamper with."""
    return Path(shutil.copytree(stopped_trail, tmp_path / "copy"))


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def a_rotated_file(data_dir: Path) -> tuple[Path, list[bytes], int]:
    """The first rotated file and a 0-based index ``k`` of a request record (not a checkpoint)
    with request records on both sides of it."""
    path = audit_files(data_dir / "audit")[0]
    assert path.name.startswith("audit-"), path
    lines = lines_of(path)
    for k in range(2, len(lines) - 2):
        if not any(lines[j].startswith(CHECKPOINT_PREFIX) for j in range(k - 1, k + 2)):
            return path, lines, k
    raise AssertionError(f"no three request records in a row in {path}")


# --- an intact trail ----------------------------------------------------------------------------
def test_intact_trail_of_two_workers_with_rotation_verifies(stopped_trail: Path) -> None:
    files = audit_files(stopped_trail / "audit")
    assert len(files) >= 3, [p.name for p in files]
    every_line = [line for path in files for line in lines_of(path)]
    assert all(prev_of(line) is not None for line in every_line)
    assert prev_of(every_line[0]) == GENESIS
    for before, after in itertools.pairwise(every_line):
        assert prev_of(after) == line_hash(before)  # across files and workers
    for path in files[:-1]:
        assert lines_of(path)[-1].startswith(CHECKPOINT_PREFIX), f"{path.name} ends unsigned"
    records = [orjson.loads(line) for line in every_line]
    assert all(PREV_FIELD in record for record in records)
    # trent's readers skip checkpoints and drop the chain member: CloudTrail's records as they were
    read_back = list(read_records(stopped_trail / "audit"))
    assert len(read_back) == sum(1 for line in every_line if not line.startswith(CHECKPOINT_PREFIX))
    assert not any(PREV_FIELD in record for record in read_back)

    verdict = verify(stopped_trail)
    assert verdict.code == 0, verdict
    assert "OK: the trail is intact" in verdict.out
    assert f"chain starts at {files[0].name}:1" in verdict.out
    checkpoints = sum(1 for line in every_line if line.startswith(CHECKPOINT_PREFIX))
    assert f"{len(files)} files, {len(every_line) - checkpoints} records, " in verdict.out
    assert f"{checkpoints} checkpoints" in verdict.out


def test_public_key_pins_the_verification(stopped_trail: Path, tmp_path: Path) -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "trent", "audit", "public-key", "--data-dir", str(stopped_trail)],
        capture_output=True,
        check=True,
    ).stdout
    assert printed.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    pinned = tmp_path / "audit-public.pem"
    pinned.write_bytes(printed)
    assert verify(stopped_trail, "--public-key", str(pinned)).code == 0

    other = tmp_path / "other.pem"
    other_key = Ed25519PrivateKey.generate().public_key()
    other.write_text(public_key_pem(other_key))
    verdict = verify(stopped_trail, "--public-key", str(other))
    assert verdict.code == 1
    assert "is not signed by the audit signing key" in verdict.err


# --- tampering ----------------------------------------------------------------------------------
def test_an_edited_record_is_named(trail: Path) -> None:
    path, lines, k = a_rotated_file(trail)
    record = orjson.loads(lines[k])
    assert b'"sourceIPAddress":"127.0.0.1"' in lines[k], record
    lines[k] = lines[k].replace(b'"sourceIPAddress":"127.0.0.1"', b'"sourceIPAddress":"10.9.8.7"')
    write_lines(path, lines)
    assert_fails_at(verify(trail), f"{path.name}:{k + 2}", f"({path.name}:{k + 1})", "edited")


def test_a_removed_record_is_named(trail: Path) -> None:
    path, lines, k = a_rotated_file(trail)
    del lines[k]
    write_lines(path, lines)
    assert_fails_at(verify(trail), f"{path.name}:{k + 1}", f"({path.name}:{k})", "removed")


def test_an_inserted_record_is_named(trail: Path) -> None:
    """A copy of an earlier record, given the link an inserter could compute."""
    path, lines, k = a_rotated_file(trail)
    copied = lines[k - 2][: -len(b'"}\n') - 64] + line_hash(lines[k - 1]) + b'"}\n'
    lines.insert(k, copied)
    write_lines(path, lines)
    assert_fails_at(verify(trail), f"{path.name}:{k + 2}", f"({path.name}:{k + 1})", "inserted")


def test_reordered_records_are_named(trail: Path) -> None:
    path, lines, k = a_rotated_file(trail)
    lines[k], lines[k + 1] = lines[k + 1], lines[k]
    write_lines(path, lines)
    assert_fails_at(verify(trail), f"{path.name}:{k + 1}", f"({path.name}:{k})", "reordered")


def test_a_truncated_rotated_file_is_named(trail: Path) -> None:
    path, lines, k = a_rotated_file(trail)
    write_lines(path, lines[: k + 1])  # cut at a line boundary, after a request record
    assert_fails_at(verify(trail), f"{path.name}:{k + 1}", "truncated")


def test_a_rotated_file_cut_mid_record_is_named(trail: Path) -> None:
    path, lines, _ = a_rotated_file(trail)
    write_lines(path, [*lines[:-1], lines[-1][:40]])
    assert_fails_at(verify(trail), f"{path.name}:{len(lines)}", "cut mid-record")


def test_the_current_file_cut_before_the_recorded_checkpoint_is_named(trail: Path) -> None:
    """The database's anchor names the newest checkpoint; a trail cut back before it fails."""
    store = SQLiteStore(trail / "trent.db")
    try:
        anchor = store.get_meta("audit_checkpoint")
    finally:
        store.close()
    assert anchor is not None
    anchored = anchor.split("|")[1].encode()
    current = trail / "audit" / "audit.log"
    lines = lines_of(current)
    at = next(i for i, line in enumerate(lines) if line_hash(line) == anchored)
    assert at >= 1, "the anchor is the first line of audit.log"
    write_lines(current, lines[:at])  # cut at a line boundary: the chain itself stays valid
    assert_fails_at(verify(trail), f"audit.log:{at}", "truncated")


def test_a_rechained_rewrite_fails_at_the_next_checkpoint(trail: Path) -> None:
    """Editing a record and recomputing every later link (no key needed) is caught by the
    first checkpoint after the edit, whose signature covers the old chain."""
    files = audit_files(trail / "audit")
    path, lines, k = a_rotated_file(trail)
    lines[k] = lines[k].replace(b'"sourceIPAddress":"127.0.0.1"', b'"sourceIPAddress":"10.9.8.7"')
    first_checkpoint = next(
        j for j in range(k + 1, len(lines)) if lines[j].startswith(CHECKPOINT_PREFIX)
    )
    for j in range(k + 1, len(lines)):
        lines[j] = lines[j][: -len(b'"}\n') - 64] + line_hash(lines[j - 1]) + b'"}\n'
    write_lines(path, lines)
    assert files[0] == path
    assert_fails_at(
        verify(trail), f"{path.name}:{first_checkpoint + 1}", "not signed by the audit signing key"
    )


def test_a_checkpoint_forged_with_another_key_is_refused(trail: Path) -> None:
    current = trail / "audit" / "audit.log"
    lines = lines_of(current)
    forged = Signer(Ed25519PrivateKey.generate()).checkpoint(line_hash(lines[-1]), time.time())
    write_lines(current, [*lines, forged])
    assert_fails_at(
        verify(trail), f"audit.log:{len(lines) + 1}", "not signed by the audit signing key"
    )


def test_a_checkpoint_with_another_keys_signature_under_the_real_key_id_is_refused(
    trail: Path,
) -> None:
    path, lines, _ = a_rotated_file(trail)
    last = orjson.loads(lines[-1])
    prev = prev_of(lines[-1])
    assert prev is not None
    forged_line = Signer(Ed25519PrivateKey.generate()).checkpoint(prev, time.time())
    forged = orjson.loads(forged_line)
    last["trentCheckpoint"]["signature"] = forged["trentCheckpoint"]["signature"]
    lines[-1] = link(
        orjson.dumps({"trentCheckpoint": last["trentCheckpoint"]}) + b"\n",
        last[PREV_FIELD].encode(),
    )
    write_lines(path, lines)
    assert_fails_at(
        verify(trail), f"{path.name}:{len(lines)}", "not signed by the audit signing key"
    )


# --- a trail from before the chain ---------------------------------------------------------------
def test_the_chain_starts_after_unchained_records(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    directory.mkdir()
    legacy = [b'{"eventName":"Encrypt","n":%d}\n' % i for i in range(3)]
    (directory / "audit.log").write_bytes(b"".join(legacy))
    key = Ed25519PrivateKey.generate()
    log = AuditLog(directory, SystemClock(), signer=Signer(key))
    log.write_sync(b'{"eventName":"Decrypt"}\n{"eventName":"Sign"}\n')
    log.close()
    lines = lines_of(directory / "audit.log")
    assert lines[:3] == legacy
    assert prev_of(lines[3]) == line_hash(lines[2])
    assert lines[-1].startswith(CHECKPOINT_PREFIX)  # close() signs what this worker wrote

    report = verify_trail(directory, key.public_key())
    assert report.ok, report.failure
    assert (str(report.chain_start), report.unchained, report.records) == ("audit.log:4", 3, 5)

    lines[1] = lines[1].replace(b'"n":1', b'"n":7')  # before the chain: not covered
    write_lines(directory / "audit.log", lines)
    assert verify_trail(directory, key.public_key()).ok
    lines[2] = lines[2].replace(b'"n":2', b'"n":8')  # the one the chain's first link names
    write_lines(directory / "audit.log", lines)
    failure = verify_trail(directory, key.public_key()).failure
    assert failure is not None and str(failure[0]) == "audit.log:4"


def test_removed_leading_files_are_reported(trail: Path) -> None:
    first = audit_files(trail / "audit")[0]
    first.unlink()
    assert_fails_at(verify(trail), f"{audit_files(trail / 'audit')[0].name}:1", "removed")


# --- a crash -------------------------------------------------------------------------------------
def test_a_killed_server_leaves_a_verifiable_trail(tmp_path: Path) -> None:
    server = TrentServer(tmp_path / "data", extra_args=["--audit-max-bytes", str(MAX_BYTES)])
    server.start()
    stop = threading.Event()
    errors: list[Any] = []

    def load() -> None:
        kms = server.client()
        try:  # the kill may come before this thread's key exists
            key_id = kms.create_key()["KeyMetadata"]["KeyId"]
            while not stop.is_set():
                kms.encrypt(KeyId=key_id, Plaintext=b"crash")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=load, daemon=True) for _ in range(3)]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(audit_files(server.data_dir / "audit")) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.stop(signal.SIGKILL)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        server.stop()
    assert len(audit_files(server.data_dir / "audit")) >= 3, "the load did not rotate"
    verdict = verify(server.data_dir)
    assert verdict.code == 0, verdict

    # a write torn by the crash: half a record, no newline
    current = server.data_dir / "audit" / "audit.log"
    # a kill between a rotation's rename and the new file's creation leaves no audit.log
    count = len(lines_of(current)) if current.exists() else 0
    with current.open("ab") as handle:
        handle.write(b'{"eventVersion":"1.11","eventName":"Enc')
    verdict = verify(server.data_dir)
    assert verdict.code == 0, verdict
    assert f"torn tail at audit.log:{count + 1}" in verdict.out

    server.start()  # the first worker to open the file cuts the torn tail
    try:
        kms = server.client()
        kms.list_keys()
    finally:
        assert server.stop() == 0
    verdict = verify(server.data_dir)
    assert verdict.code == 0, verdict
    assert "torn tail" not in verdict.out
    assert b'"eventName":"Enc' not in current.read_bytes().replace(b'"eventName":"Encrypt"', b"")


def test_batches_written_from_the_loop_or_the_thread_keep_one_chain(tmp_path: Path) -> None:
    """Two logs on one directory (two workers) append in turn; while another process holds the
    trail's lock a batch cannot be written from the event loop and goes to the audit thread,
    which waits for the lock: every record arrives once, in one unbroken chain."""
    directory = tmp_path / "audit"
    first, second = AuditLog(directory, SystemClock()), AuditLog(directory, SystemClock())
    holder = os.open(directory / "audit.lock", os.O_RDWR)

    async def run() -> None:
        for n in range(20):
            await asyncio.gather(
                first.append(b'{"n":%d,"w":1}\n' % n), second.append(b'{"n":%d,"w":2}\n' % n)
            )
        fcntl.flock(holder, fcntl.LOCK_EX)
        waiting = asyncio.ensure_future(first.append(b'{"n":"locked","w":1}\n'))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # the batch waits for the lock, on the thread
        fcntl.flock(holder, fcntl.LOCK_UN)
        await waiting
        await second.append(b'{"n":"after","w":2}\n')

    try:
        asyncio.run(run())
    finally:
        os.close(holder)
        first.close()
        second.close()
    lines = (directory / "audit.log").read_bytes().splitlines()
    assert len(lines) == 42
    assert verify_trail(directory, None).ok
