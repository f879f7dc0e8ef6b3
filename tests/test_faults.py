"""Issue 16 item 6: a full file system under the data directory, or under ``audit/`` alone.

Each test mounts a small tmpfs of its own (CI runs as root), fills it, drives a real server
through boto3, frees the space and checks the promise: no change committed without its audit
record, no reply without it, KMS JSON errors (``KMSInternalException``), a well-formed audit log,
the fault logged once when it starts and once when it ends (and shown by ``/healthz``), and
serving resumed by itself.
"""

from __future__ import annotations

import contextlib
import errno
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.server import TrentServer

FAULT_STARTED = "storage fault, answering KMSInternalException"
FAULT_CLEARED = "storage fault cleared"


@contextlib.contextmanager
def tmpfs(mount_point: Path, size: str) -> Iterator[Path]:
    mount_point.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)], check=True
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    """Write a file in ``directory`` until the file system is full; return its path."""
    path = directory / "filler"
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as handle:
        while True:
            try:
                handle.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        small = b"\0" * 512
        while True:
            try:
                handle.write(small)
            except OSError:
                break
    return path


@dataclass
class Outcomes:
    """What the callers were told, by operation."""

    ok: dict[str, list[str]] = field(default_factory=dict)  # operation -> request ids
    internal: int = 0

    def call(self, operation: str, function: Any, **kwargs: Any) -> dict[str, Any] | None:
        try:
            reply: dict[str, Any] = function(**kwargs)
        except ClientError as exc:
            # The only error a full disk may cause, as KMS JSON with its status.
            assert exc.response["Error"]["Code"] == "KMSInternalException", exc.response
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 500
            self.internal += 1
            return None
        self.ok.setdefault(operation, []).append(reply["ResponseMetadata"]["RequestId"])
        return reply


def healthz(server: TrentServer) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(server.endpoint + "/healthz", timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def audit_lines(audit_dir: Path) -> list[bytes]:
    data = (audit_dir / "audit.log").read_bytes()
    assert data == b"" or data.endswith(b"\n"), "the audit log ends in a torn record"
    lines = data.splitlines()
    for line in lines:
        json.loads(line)  # every line is one complete record
    return lines


def server_log(server: TrentServer) -> str:
    return (server.data_dir.parent / f"server-{server.port}.log").read_text()


def exercise(kms: Any, outcomes: Outcomes, keys: list[str], rounds: int) -> None:
    """CreateKey, ScheduleKeyDeletion and Encrypt, ``rounds`` times each."""
    for i in range(rounds):
        created = outcomes.call("CreateKey", kms.create_key, Description=f"full {i}")
        if created is not None:
            keys.append(created["KeyMetadata"]["KeyId"])
        outcomes.call(
            "ScheduleKeyDeletion", kms.schedule_key_deletion, KeyId=keys[i], PendingWindowInDays=7
        )
        outcomes.call("Encrypt", kms.encrypt, KeyId=keys[-1], Plaintext=b"secret")


def check_promise(kms: Any, server: TrentServer, outcomes: Outcomes, keys: list[str]) -> None:
    records = [json.loads(line) for line in audit_lines(server.data_dir / "audit")]
    failed = {r["requestID"] for r in records if r.get("errorCode") == "KMSInternalException"}
    succeeded: dict[str, dict[str, Any]] = {
        r["requestID"]: r
        for r in records
        if not r.get("errorCode") and r["requestID"] not in failed
    }
    # No reply without its record: every acknowledged request is in the audit trail...
    for operation, request_ids in outcomes.ok.items():
        for request_id in request_ids:
            assert succeeded[request_id]["eventName"] == operation
    # ... and `trent audit query` (another reader) sees each of them.
    query = subprocess.run(
        [sys.executable, "-m", "trent", "audit", "query", "--data-dir", str(server.data_dir)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout.splitlines()
    queried = {json.loads(line)["requestID"] for line in query}
    assert {rid for ids in outcomes.ok.values() for rid in ids} <= queried
    # No change without its record: every key that exists was created by a recorded CreateKey,
    # every key pending deletion by a recorded ScheduleKeyDeletion.
    created = {
        r["responseElements"]["keyMetadata"]["keyId"]
        for r in succeeded.values()
        if r["eventName"] == "CreateKey"
    }
    scheduled = {
        r["requestParameters"]["keyId"]
        for r in succeeded.values()
        if r["eventName"] == "ScheduleKeyDeletion"
    }
    existing = [k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]]
    assert set(existing) <= created
    for key_id in existing:
        state = kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
        assert (state == "PendingDeletion") == (key_id in scheduled), key_id


def run_fault(server: TrentServer, space: Path) -> None:
    kms = server.client()
    outcomes = Outcomes()
    keys = [kms.create_key(Description=f"before {i}")["KeyMetadata"]["KeyId"] for i in range(12)]
    filler = fill(space)
    exercise(kms, outcomes, keys, 10)
    assert outcomes.internal >= 20  # the disk really was full
    status, body = healthz(server)
    assert status == 503 and body["status"] == "degraded", body
    assert "No space left on device" in body["reason"] or "full" in body["reason"]
    audit_lines(server.data_dir / "audit")  # well-formed while full, too

    filler.unlink()
    assert healthz(server) == (200, {"status": "ok"})
    internal = outcomes.internal
    exercise(kms, outcomes, keys[10:], 2)
    assert outcomes.internal == internal  # all six calls succeeded once space returned
    check_promise(kms, server, outcomes, keys)

    log = server_log(server)
    assert log.count(FAULT_STARTED) == 1, log
    assert log.count(FAULT_CLEARED) == 1, log
    assert "Traceback" not in log and "internal error" not in log, log


@pytest.fixture
def data_on_tmpfs(tmp_path: Path) -> Iterator[TrentServer]:
    with tmpfs(tmp_path / "data", "8m"):
        server = TrentServer(tmp_path / "data", workers=1, scheduler_interval=0.2).start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def audit_on_tmpfs(tmp_path: Path) -> Iterator[TrentServer]:
    data = tmp_path / "data"
    with tmpfs(data / "audit", "1m"):
        server = TrentServer(data, workers=1, scheduler_interval=0.2).start()
        try:
            yield server
        finally:
            server.stop()


def test_data_directory_full(data_on_tmpfs: TrentServer) -> None:
    run_fault(data_on_tmpfs, data_on_tmpfs.data_dir)


def test_audit_directory_full(audit_on_tmpfs: TrentServer) -> None:
    run_fault(audit_on_tmpfs, audit_on_tmpfs.data_dir / "audit")


@pytest.fixture
def database_full_audit_free(tmp_path: Path) -> Iterator[TrentServer]:
    data = tmp_path / "data"
    with tmpfs(data, "8m"), tmpfs(data / "audit", "8m"):
        server = TrentServer(data, workers=1, scheduler_interval=0.2).start()
        try:
            yield server
        finally:
            server.stop()


def test_commit_fails_after_record(database_full_audit_free: TrentServer) -> None:
    """The database's file system is full, the audit log's is not: a change whose record was
    written but whose commit failed is rolled back, and a second record says it failed."""
    server = database_full_audit_free
    kms = server.client()
    outcomes = Outcomes()
    keys = [kms.create_key(Description=f"before {i}")["KeyMetadata"]["KeyId"] for i in range(20)]
    filler = fill(server.data_dir)
    for i in range(20):
        created = outcomes.call("CreateKey", kms.create_key, Description=f"full {i}")
        if created is not None:
            keys.append(created["KeyMetadata"]["KeyId"])
        outcomes.call(
            "ScheduleKeyDeletion", kms.schedule_key_deletion, KeyId=keys[i], PendingWindowInDays=7
        )
    assert outcomes.internal >= 10
    records = [json.loads(line) for line in audit_lines(server.data_dir / "audit")]
    retracted = [r for r in records if r.get("errorCode") == "KMSInternalException"]
    assert retracted and all(r["responseElements"] is None for r in retracted)
    assert healthz(server)[0] == 503
    filler.unlink()
    assert healthz(server) == (200, {"status": "ok"})
    check_promise(kms, server, outcomes, keys)
    log = server_log(server)
    assert log.count(FAULT_STARTED) == 1 and log.count(FAULT_CLEARED) == 1, log
    assert "Traceback" not in log, log
