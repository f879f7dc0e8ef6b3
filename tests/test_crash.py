"""Crash safety: SIGKILL a loaded server at random moments; nothing acknowledged is lost.

Four client threads (each its own boto3 client) run CreateKey, Encrypt, GenerateDataKey and
RotateKeyOnDemand against a 2-worker server and write down everything the server acknowledged.
The whole process group is killed with SIGKILL 0.5-2 s into the load; the threads stop on the
connection errors that follow. Then the database must pass ``PRAGMA integrity_check`` and, after
a restart on the same data directory, every acknowledged key, ciphertext, rotation and audit
record must be there. Three rounds accumulate on one data directory.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tests.server import TrentServer
from trent.audit.reader import read_records

ROUNDS = 3
THREADS = 4
MAX_ON_DEMAND = 25  # AWS's lifetime limit of on-demand rotations per key
OLD_SAMPLE = 150  # ciphertexts of earlier rounds re-checked after each restart
CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=10,
    retries={"max_attempts": 1, "mode": "standard"},
)


@dataclass
class Sealed:
    key_id: str
    blob: bytes
    plaintext: bytes
    context: dict[str, str]


@dataclass
class Ledger:
    """What the server acknowledged (appended from the load threads)."""

    keys: set[str] = field(default_factory=set)
    sealed: list[list[Sealed]] = field(default_factory=list)  # per round
    rotations: dict[str, int] = field(default_factory=dict)  # key -> acknowledged rotations
    materials: dict[str, set[str]] = field(default_factory=dict)  # key -> materials seen
    request_ids: set[str] = field(default_factory=set)
    client_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def rid(response: dict[str, Any]) -> str:
    return str(response["ResponseMetadata"]["RequestId"])


def run_load(server: TrentServer, ledger: Ledger, seed: int, stop: threading.Event) -> None:
    rng = random.Random(seed)
    kms = server.client(config=CLIENT_CONFIG)
    mine: dict[str, int] = {}  # this thread's keys -> on-demand rotations so far
    sealed = ledger.sealed[-1]
    try:
        while not stop.is_set():
            choice = rng.random()
            rotatable = [k for k, n in mine.items() if n < MAX_ON_DEMAND]
            if not mine or choice < 0.15:
                created = kms.create_key(Description=f"crash load {seed}")
                key_id = created["KeyMetadata"]["KeyId"]
                with ledger.lock:
                    ledger.keys.add(key_id)
                    ledger.request_ids.add(rid(created))
                mine[key_id] = 0
            elif choice < 0.55:
                key_id = rng.choice(list(mine))
                plaintext = os.urandom(rng.randint(1, 256))
                context = {"seed": str(seed), "n": str(rng.randint(0, 1000))}
                out = kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionContext=context)
                with ledger.lock:
                    sealed.append(Sealed(key_id, out["CiphertextBlob"], plaintext, context))
                    ledger.request_ids.add(rid(out))
            elif choice < 0.85 or not rotatable:
                key_id = rng.choice(list(mine))
                out = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
                with ledger.lock:
                    sealed.append(Sealed(key_id, out["CiphertextBlob"], out["Plaintext"], {}))
                    ledger.request_ids.add(rid(out))
            else:
                key_id = rng.choice(rotatable)
                rotated = kms.rotate_key_on_demand(KeyId=key_id)
                mine[key_id] += 1
                with ledger.lock:
                    ledger.rotations[key_id] = ledger.rotations.get(key_id, 0) + 1
                    ledger.request_ids.add(rid(rotated))
                # This thread alone rotates its keys, so the current material is the new one.
                described = kms.describe_key(KeyId=key_id)
                with ledger.lock:
                    material = described["KeyMetadata"]["CurrentKeyMaterialId"]
                    ledger.materials.setdefault(key_id, set()).add(material)
                    ledger.request_ids.add(rid(described))
    except ClientError as err:  # the server answered with an error: never expected here
        with ledger.lock:
            ledger.client_errors.append(repr(err.response["Error"]))
    except (BotoCoreError, OSError):
        pass  # the server is gone: stop
    except KeyError:
        # A reply whose headers left before the kill and whose body did not: botocore does not
        # enforce Content-Length, so it parses as an empty success. Only the kill may do that.
        if server.process is not None and server.process.poll() is None:
            raise


def integrity(server: TrentServer) -> str:
    with closing(sqlite3.connect(server.data_dir / "trent.db", timeout=15)) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def all_key_ids(kms: Any) -> set[str]:
    pages = kms.get_paginator("list_keys").paginate()
    return {k["KeyId"] for page in pages for k in page["Keys"]}


def listed_rotations(kms: Any, key_id: str) -> list[dict[str, Any]]:
    pages = kms.get_paginator("list_key_rotations").paginate(KeyId=key_id)
    return [r for page in pages for r in page["Rotations"]]


def decrypts(server: TrentServer, items: list[Sealed]) -> list[str]:
    """Decrypt every item (4 clients in parallel); return what went wrong."""

    def check(chunk: list[Sealed]) -> list[str]:
        kms = server.client(config=CLIENT_CONFIG)
        problems = []
        for item in chunk:
            try:
                out = kms.decrypt(CiphertextBlob=item.blob, EncryptionContext=item.context)
            except ClientError as err:
                problems.append(f"{item.key_id}: {err.response['Error']}")
                continue
            if out["Plaintext"] != item.plaintext or not out["KeyId"].endswith(item.key_id):
                problems.append(f"{item.key_id}: wrong plaintext")
        return problems

    chunks = [items[i::THREADS] for i in range(THREADS)]
    with ThreadPoolExecutor(THREADS) as pool:
        return [p for problems in pool.map(check, chunks) for p in problems]


def verify(server: TrentServer, ledger: Ledger, rng: random.Random) -> None:
    kms = server.client(config=CLIENT_CONFIG)

    missing_keys = ledger.keys - all_key_ids(kms)
    assert not missing_keys, f"acknowledged keys lost: {sorted(missing_keys)[:5]}"

    older = [item for batch in ledger.sealed[:-1] for item in batch]
    to_check = ledger.sealed[-1] + rng.sample(older, min(OLD_SAMPLE, len(older)))
    problems = decrypts(server, to_check)
    assert not problems, f"{len(problems)} acknowledged ciphertexts fail: {problems[:3]}"

    for key_id, count in ledger.rotations.items():
        rotations = listed_rotations(kms, key_id)
        on_demand = [r for r in rotations if r["RotationType"] == "ON_DEMAND"]
        assert len(on_demand) >= count, f"{key_id}: {count} rotations acknowledged"
        listed = {r["KeyMaterialId"] for r in rotations}
        lost = ledger.materials.get(key_id, set()) - listed
        assert not lost, f"{key_id}: acknowledged rotation materials lost: {lost}"

    audited = {r.get("requestID") for r in read_records(server.data_dir / "audit")}
    unaudited = ledger.request_ids - audited
    assert not unaudited, f"{len(unaudited)} acknowledged requests have no audit record"


def test_sigkill_under_load_loses_nothing_acknowledged(fresh_server: TrentServer) -> None:
    rng = random.Random()
    ledger = Ledger()
    started = time.monotonic()
    fresh_server.start()
    for round_number in range(ROUNDS):
        ledger.sealed.append([])
        acknowledged_before = len(ledger.request_ids)
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=run_load,
                args=(fresh_server, ledger, round_number * THREADS + i, stop),
                daemon=True,
            )
            for i in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(0.5, 2.0))
        deadline = time.monotonic() + 20  # on a loaded machine, let some load land first
        while len(ledger.request_ids) < acknowledged_before + 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        fresh_server.stop(signal.SIGKILL)
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        assert not any(t.is_alive() for t in threads), "a load thread did not stop"
        assert not ledger.client_errors, ledger.client_errors
        assert len(ledger.request_ids) >= acknowledged_before + 10, "the load did not run"

        assert integrity(fresh_server) == "ok"  # the files exactly as the kill left them
        fresh_server.start()
        verify(fresh_server, ledger, rng)

    assert sum(ledger.rotations.values()) > 0, "no rotation was acknowledged"
    fresh_server.stop()
    assert integrity(fresh_server) == "ok"
    assert time.monotonic() - started < 60
