"""The scheduler, seen from outside: automatic rotations and due deletions happen by themselves.

Each test runs its own 2-worker server with the test clock (``clock_server``: scheduler every
0.2 s) and moves time forward with ``advance_clock``; background work is awaited with
``wait_for``. "Nothing happens" is checked after several scheduler ticks (``TICKS`` seconds).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.server import TrentServer

DAY = 86400.0
PERIOD = 90
TICKS = 0.6  # three scheduler intervals


# --- helpers -----------------------------------------------------------------------------------
def expect_error(call: Callable[..., Any], code: str, fragment: str, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    err = info.value.response
    assert err["Error"]["Code"] == code, err["Error"]
    assert fragment in err["Error"]["Message"], err["Error"]
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400, err["ResponseMetadata"]


@contextmanager
def database(server: TrentServer) -> Iterator[sqlite3.Connection]:
    """The server's database, read-only (the server keeps running)."""
    uri = f"file:{server.data_dir / 'trent.db'}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=15)) as db:
        yield db


def meta(server: TrentServer, name: str) -> str | None:
    with database(server) as db:
        row = db.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
    return None if row is None else str(row[0])


def server_now(server: TrentServer) -> float:
    """What the server's test clock reads now: real time plus the stored offset."""
    return time.time() + float(meta(server, "test_clock_offset") or 0.0)


def advance_to(server: TrentServer, when: float) -> None:
    server.advance_clock(seconds=when - server_now(server))


def rotations(kms: Any, key_id: str, **kwargs: Any) -> list[dict[str, Any]]:
    return list(kms.list_key_rotations(KeyId=key_id, **kwargs)["Rotations"])


def automatic(kms: Any, key_id: str) -> list[dict[str, Any]]:
    return [r for r in rotations(kms, key_id) if r["RotationType"] == "AUTOMATIC"]


def status(kms: Any, key_id: str) -> dict[str, Any]:
    return dict(kms.get_key_rotation_status(KeyId=key_id))


def next_rotation(kms: Any, key_id: str) -> float:
    return float(status(kms, key_id)["NextRotationDate"].timestamp())


def current_material(kms: Any, key_id: str) -> str:
    return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"])


def new_rotating_key(kms: Any, period: int = PERIOD) -> tuple[str, float]:
    """A key with automatic rotation every ``period`` days; returns it and its NextRotationDate."""
    key_id = str(kms.create_key(Description="scheduled")["KeyMetadata"]["KeyId"])
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=period)
    return key_id, next_rotation(kms, key_id)


def service_events(server: TrentServer, name: str, key_id: str) -> list[dict[str, Any]]:
    return [
        r
        for r in server.audit_records()
        if r["eventName"] == name
        and r["eventType"] == "AwsServiceEvent"
        and any(res["ARN"].endswith(key_id) for res in r["resources"])
    ]


def not_found(call: Callable[..., Any], **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError as err:
        return bool(err.response["Error"]["Code"] == "NotFoundException")
    return False


# --- automatic rotation ------------------------------------------------------------------------
def test_automatic_rotation_happens_at_next_rotation_date(clock_server: TrentServer) -> None:
    kms = clock_server.client()
    key_id, due = new_rotating_key(kms)
    assert abs(due - (time.time() + PERIOD * DAY)) < 60
    first_material = current_material(kms, key_id)
    plaintext = os.urandom(40)
    old_blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
    # A second key, rotated on demand: that does not move its automatic schedule.
    other_id, other_due = new_rotating_key(kms)
    kms.rotate_key_on_demand(KeyId=other_id)
    on_demand_material = current_material(kms, other_id)
    assert next_rotation(kms, other_id) == other_due

    advance_to(clock_server, due - 60)
    time.sleep(TICKS)
    assert rotations(kms, key_id) == [], "rotated before NextRotationDate"
    assert current_material(kms, key_id) == first_material

    clock_server.advance_clock(seconds=120)
    clock_server.wait_for(lambda: len(rotations(kms, key_id)) == 1)
    [rotation] = rotations(kms, key_id)
    assert rotation["RotationType"] == "AUTOMATIC"
    assert int(rotation["RotationDate"].timestamp()) == int(due)
    assert abs(rotation["RotationDate"].timestamp() - due) < 0.001
    assert rotation["KeyMaterialState"] == "CURRENT"
    new_material = current_material(kms, key_id)
    assert new_material == rotation["KeyMaterialId"] != first_material

    decrypted = kms.decrypt(CiphertextBlob=old_blob)
    assert decrypted["Plaintext"] == plaintext
    assert decrypted["KeyId"].endswith(key_id)
    fresh_blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=fresh_blob)["Plaintext"] == plaintext
    assert bytes.fromhex(new_material) in fresh_blob  # the blob names its material
    assert bytes.fromhex(first_material) in old_blob

    after = status(kms, key_id)
    assert after["KeyRotationEnabled"] is True
    assert after["RotationPeriodInDays"] == PERIOD
    assert abs(after["NextRotationDate"].timestamp() - (due + PERIOD * DAY)) < 0.001

    events = service_events(clock_server, "RotateKey", key_id)
    assert len(events) == 1, events
    event = events[0]
    assert event["eventSource"] == "kms.amazonaws.com"
    assert event["resources"][0]["type"] == "AWS::KMS::Key"
    details = event["serviceEventDetails"]
    assert details["currentKeyMaterialId"] == new_material
    assert details["previousKeyMaterialId"] == first_material
    assert details["rotationType"] == "AUTOMATIC" and details["keyId"] == key_id

    clock_server.wait_for(lambda: len(automatic(kms, other_id)) == 1)
    found = rotations(kms, other_id)
    assert [r["RotationType"] for r in found] == ["ON_DEMAND", "AUTOMATIC"]
    assert abs(found[1]["RotationDate"].timestamp() - other_due) < 0.001
    assert found[0]["KeyMaterialId"] == on_demand_material
    assert abs(next_rotation(kms, other_id) - (other_due + PERIOD * DAY)) < 0.001


def test_a_year_at_once_rotates_once_and_schedules_from_now(clock_server: TrentServer) -> None:
    """Trent's catch-up rule (``rotate_automatically``): when the server missed more than one
    period, it rotates once, dated at the missed NextRotationDate, and schedules the next
    rotation one period from now; it does not replay every missed period."""
    kms = clock_server.client()
    key_id, due = new_rotating_key(kms)
    first_material = current_material(kms, key_id)

    clock_server.advance_clock(days=365)
    jumped_to = server_now(clock_server)
    clock_server.wait_for(lambda: len(rotations(kms, key_id)) >= 1)
    time.sleep(TICKS)
    settled = server_now(clock_server)
    found = rotations(kms, key_id)
    assert len(found) == 1, found
    assert found[0]["RotationType"] == "AUTOMATIC"
    assert abs(found[0]["RotationDate"].timestamp() - due) < 0.001
    assert current_material(kms, key_id) == found[0]["KeyMaterialId"] != first_material

    following = next_rotation(kms, key_id)
    assert following > settled, "NextRotationDate must be in the future"
    assert jumped_to - 1 + PERIOD * DAY <= following <= settled + PERIOD * DAY
    assert len(service_events(clock_server, "RotateKey", key_id)) == 1


# --- keys that cannot rotate -------------------------------------------------------------------
def check_rotated_now(kms: Any, key_id: str, now: float, old_material: str) -> None:
    """Right after EnableKey (no waiting): the overdue key has just been rotated."""
    found = rotations(kms, key_id)
    assert len(found) == 1, found
    assert found[0]["RotationType"] == "AUTOMATIC"
    assert abs(found[0]["RotationDate"].timestamp() - now) < 5
    assert current_material(kms, key_id) == found[0]["KeyMaterialId"] != old_material
    assert abs(next_rotation(kms, key_id) - (now + PERIOD * DAY)) < 5


def test_disabled_and_pending_deletion_keys_wait_then_rotate_once_enabled(
    clock_server: TrentServer,
) -> None:
    kms = clock_server.client()
    disabled_id, due = new_rotating_key(kms)
    pending_id, _ = new_rotating_key(kms)
    plaintext = os.urandom(16)
    blob = kms.encrypt(KeyId=disabled_id, Plaintext=plaintext)["CiphertextBlob"]
    disabled_material = current_material(kms, disabled_id)
    pending_material = current_material(kms, pending_id)
    kms.disable_key(KeyId=disabled_id)
    advance_to(clock_server, due - 5 * DAY)
    kms.schedule_key_deletion(KeyId=pending_id, PendingWindowInDays=30)
    assert status(kms, pending_id)["KeyRotationEnabled"] is False

    advance_to(clock_server, due + DAY)  # both overdue; the deletion is not due yet
    time.sleep(TICKS)
    assert rotations(kms, disabled_id) == [], "a Disabled key was rotated"
    assert rotations(kms, pending_id) == [], "a PendingDeletion key was rotated"
    assert current_material(kms, disabled_id) == disabled_material
    assert status(kms, disabled_id)["KeyRotationEnabled"] is True  # disabling keeps it
    assert kms.describe_key(KeyId=pending_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert status(kms, pending_id)["KeyRotationEnabled"] is False
    assert service_events(clock_server, "RotateKey", disabled_id) == []
    assert service_events(clock_server, "RotateKey", pending_id) == []

    kms.enable_key(KeyId=disabled_id)
    check_rotated_now(kms, disabled_id, server_now(clock_server), disabled_material)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext

    kms.cancel_key_deletion(KeyId=pending_id)
    assert kms.describe_key(KeyId=pending_id)["KeyMetadata"]["KeyState"] == "Disabled"
    restored = status(kms, pending_id)
    assert restored["KeyRotationEnabled"] is True  # cancelling restores the status
    assert restored["RotationPeriodInDays"] == PERIOD
    time.sleep(TICKS)
    assert rotations(kms, pending_id) == [], "a Disabled key was rotated"
    kms.enable_key(KeyId=pending_id)
    check_rotated_now(kms, pending_id, server_now(clock_server), pending_material)

    time.sleep(TICKS)  # and the scheduler does not rotate them a second time
    assert len(rotations(kms, disabled_id)) == 1
    assert len(rotations(kms, pending_id)) == 1


# --- the calendar ------------------------------------------------------------------------------
def next_leap_day(after: float) -> datetime:
    year = datetime.fromtimestamp(after, UTC).year
    while True:
        if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
            leap = datetime(year, 2, 29, tzinfo=UTC)
            if leap.timestamp() > after:
                return leap
        year += 1


def test_rotation_period_across_a_leap_day(clock_server: TrentServer) -> None:
    """Rotation periods are whole days of 86,400 s: a 90-day period that contains 29 February
    (2028, the first leap day at least 200 days ahead of now) still ends 90 * 86,400 s later."""
    kms = clock_server.client()
    leap = next_leap_day(time.time() + 200 * DAY)
    advance_to(clock_server, leap.timestamp() - 150 * DAY)
    key_id, first_due = new_rotating_key(kms)
    assert first_due < leap.timestamp()

    advance_to(clock_server, first_due + 1)
    clock_server.wait_for(lambda: len(rotations(kms, key_id)) == 1)
    second_due = next_rotation(kms, key_id)
    assert abs(second_due - first_due - PERIOD * DAY) < 0.001
    start = datetime.fromtimestamp(first_due, UTC)
    end = datetime.fromtimestamp(second_due, UTC)
    assert start < leap < end, "the period must contain the leap day"
    assert abs((end - start).total_seconds() - PERIOD * DAY) < 0.001
    assert start.date() + timedelta(days=PERIOD) == end.date()  # the calendar agrees

    advance_to(clock_server, second_due - 60)
    time.sleep(TICKS)
    assert len(rotations(kms, key_id)) == 1, "rotated before NextRotationDate"
    clock_server.advance_clock(seconds=120)
    clock_server.wait_for(lambda: len(rotations(kms, key_id)) == 2)
    second = rotations(kms, key_id)[1]
    assert abs(second["RotationDate"].timestamp() - second_due) < 0.001
    assert abs(next_rotation(kms, key_id) - second_due - PERIOD * DAY) < 0.001


# --- due deletion --------------------------------------------------------------------------------
def rows_mentioning(db: sqlite3.Connection, key_id: str) -> dict[str, int]:
    counts = {}
    for table in ("keys", "materials", "aliases", "tags", "key_usage"):
        row = db.execute(f"SELECT count(*) FROM {table} WHERE key_id=?", (key_id,)).fetchone()
        counts[table] = int(row[0])
    return counts


def test_due_deletion_removes_everything(clock_server: TrentServer) -> None:
    kms = clock_server.client()
    doomed = kms.create_key(Description="doomed", Tags=[{"TagKey": "team", "TagValue": "x"}])
    key_id = doomed["KeyMetadata"]["KeyId"]
    keeper = kms.create_key(Description="kept", Tags=[{"TagKey": "team", "TagValue": "y"}])
    keeper_id = keeper["KeyMetadata"]["KeyId"]
    alias = f"alias/doomed-{key_id[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    kms.create_alias(AliasName=f"alias/kept-{keeper_id[:8]}", TargetKeyId=keeper_id)
    plaintext = os.urandom(32)
    blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
    kms.encrypt(KeyId=keeper_id, Plaintext=plaintext)
    kms.rotate_key_on_demand(KeyId=key_id)
    materials = [
        r["KeyMaterialId"] for r in rotations(kms, key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")
    ]
    assert len(materials) == 2

    scheduled = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    deletion_date = scheduled["DeletionDate"].timestamp()
    assert abs(deletion_date - (server_now(clock_server) + 7 * DAY)) < 60

    clock_server.advance_clock(days=6)
    time.sleep(TICKS)
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert metadata["KeyState"] == "PendingDeletion"
    assert abs(metadata["DeletionDate"].timestamp() - deletion_date) < 0.001

    clock_server.advance_clock(days=1, seconds=1)
    clock_server.wait_for(lambda: not_found(kms.describe_key, KeyId=key_id))
    clock_server.wait_for(lambda: len(service_events(clock_server, "DeleteKey", key_id)) == 1)

    expect_error(kms.describe_key, "NotFoundException", key_id, KeyId=key_id)
    expect_error(kms.encrypt, "NotFoundException", key_id, KeyId=key_id, Plaintext=b"x")
    expect_error(kms.list_resource_tags, "NotFoundException", key_id, KeyId=key_id)
    expect_error(kms.list_key_rotations, "NotFoundException", key_id, KeyId=key_id)
    expect_error(kms.describe_key, "NotFoundException", alias, KeyId=alias)
    names = {
        a["AliasName"]
        for page in kms.get_paginator("list_aliases").paginate()
        for a in page["Aliases"]
    }
    assert alias not in names
    assert f"alias/kept-{keeper_id[:8]}" in names
    listed = {k["KeyId"] for p in kms.get_paginator("list_keys").paginate() for k in p["Keys"]}
    assert key_id not in listed and keeper_id in listed
    assert kms.describe_key(KeyId=keeper_id)["KeyMetadata"]["KeyState"] == "Enabled"

    with database(clock_server) as db:
        assert rows_mentioning(db, key_id) == dict.fromkeys(
            ("keys", "materials", "aliases", "tags", "key_usage"), 0
        )
        kept = rows_mentioning(db, keeper_id)
        assert kept["keys"] == 1 and kept["materials"] == 1 and kept["aliases"] == 1
        assert kept["tags"] == 1
        for material_id in materials:
            row = db.execute(
                "SELECT count(*) FROM materials WHERE material_id=?", (material_id,)
            ).fetchone()
            assert row[0] == 0
        assert db.execute("SELECT count(*) FROM aliases WHERE name=?", (alias,)).fetchone()[0] == 0

    # No copy left in the files either: secure_delete zeroes freed space and the WAL is
    # checkpointed (TRUNCATE) after the deletion.
    everything = b""
    for name in ("trent.db", "trent.db-wal"):
        path = clock_server.data_dir / name
        content = path.read_bytes() if path.exists() else b""
        for trace in (key_id, alias, *materials):
            assert trace.encode() not in content, f"{trace} still readable in {name}"
        everything += content
    assert keeper_id.encode() in everything  # the scan does see what is still there

    [event] = service_events(clock_server, "DeleteKey", key_id)
    assert event["eventSource"] == "kms.amazonaws.com"
    assert event["eventType"] == "AwsServiceEvent"
    [resource] = event["resources"]
    assert resource["type"] == "AWS::KMS::Key"
    assert resource["ARN"].endswith(f":key/{key_id}")

    # Decrypt of a ciphertext whose key no longer exists: nothing of the key is left to tell a
    # deleted key from an altered key id, so Trent answers as for any altered blob (README).
    expect_error(kms.decrypt, "InvalidCiphertextException", "", CiphertextBlob=blob)  # no message


# --- one scheduler for two workers ---------------------------------------------------------------
def worker_pids(server: TrentServer) -> set[int]:
    assert server.process is not None
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == server.process.pid:
                pids.add(int(entry))
    return pids


def test_exactly_one_scheduler_acts_with_two_workers(clock_server: TrentServer) -> None:
    kms = clock_server.client()
    keys = [new_rotating_key(kms) for _ in range(4)]

    owners = set()
    deadline = time.monotonic() + TICKS
    while time.monotonic() < deadline:
        lease = meta(clock_server, "scheduler_lease")
        assert lease is not None
        owners.add(lease.rsplit(" ", 1)[0])
        time.sleep(0.05)
    assert len(owners) == 1, f"the lease changed hands while both workers ran: {owners}"
    [owner] = owners
    assert int(owner.split("-", 1)[0]) in worker_pids(clock_server)

    latest = max(due for _, due in keys)
    advance_to(clock_server, latest + 1)
    clock_server.wait_for(lambda: all(rotations(kms, key_id) for key_id, _ in keys))
    time.sleep(TICKS)
    for key_id, due in keys:
        found = rotations(kms, key_id)
        assert len(found) == 1, f"{key_id} rotated {len(found)} times"
        assert abs(found[0]["RotationDate"].timestamp() - due) < 0.001
        assert len(service_events(clock_server, "RotateKey", key_id)) == 1
