"""One scheduler for the whole cluster: two nodes with the test clock on one PostgreSQL; exactly
one acts; kill -9 of that node and the other takes over; nothing is rotated or deleted twice
(issue 11)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import psycopg

from tests.pg import PostgresCluster
from tests.server import TrentServer

DAY = 86400.0
TICKS = 0.6  # three scheduler intervals


def node(tmp_path: Path, name: str, url: str, root_key: Path) -> TrentServer:
    directory = tmp_path / name
    directory.mkdir()
    return TrentServer(
        directory / "data", database_url=url, root_key_file=root_key, test_clock=True
    )


def events(server: TrentServer, name: str, key_id: str) -> int:
    return sum(
        1
        for r in server.audit_records()
        if r["eventName"] == name
        and r["eventType"] == "AwsServiceEvent"
        and any(res["ARN"].endswith(key_id) for res in r["resources"])
    )


def rotations(kms: Any, key_id: str) -> int:
    return len(kms.list_key_rotations(KeyId=key_id)["Rotations"])


def scheduler_connections(url: str) -> int:
    """Sessions holding the scheduler lock (0 or 1)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            b"SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            b"WHERE l.locktype = 'advisory' AND l.granted "
            b"AND a.application_name = 'trent-scheduler' AND a.datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def test_scheduler_fails_over_after_kill_9(tmp_path: Path, postgres: PostgresCluster) -> None:
    url = postgres.create_database()
    root_key = tmp_path / "root.key"
    a = node(tmp_path, "a", url, root_key).start()
    b = node(tmp_path, "b", url, root_key)
    try:
        b.start()
        kms = a.client()
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
        doomed = kms.create_key()["KeyMetadata"]["KeyId"]

        a.advance_clock(days=91)
        a.wait_for(lambda: rotations(kms, key_id) == 1)
        time.sleep(TICKS)
        assert rotations(kms, key_id) == 1
        acted = [n for n in (a, b) if events(n, "RotateKey", key_id)]
        assert len(acted) == 1, "exactly one node's scheduler rotated the key"
        [holder] = acted
        survivor = b if holder is a else a
        assert scheduler_connections(url) == 1

        holder.stop(signal.SIGKILL)
        kms = survivor.client()
        kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)
        survivor.advance_clock(days=92)
        survivor.wait_for(lambda: rotations(kms, key_id) == 2, timeout=30)

        def deleted() -> bool:
            try:
                kms.describe_key(KeyId=doomed)
            except kms.exceptions.NotFoundException:
                return True
            return False

        survivor.wait_for(deleted, timeout=30)
        time.sleep(TICKS)
        assert rotations(kms, key_id) == 2
        assert events(survivor, "RotateKey", key_id) == 1
        assert events(holder, "RotateKey", key_id) == 1  # its one, before it died
        assert events(survivor, "DeleteKey", doomed) == 1
        assert events(holder, "DeleteKey", doomed) == 0
        assert scheduler_connections(url) == 1
    finally:
        b.stop()
        a.stop()
