"""The isolation case: Encrypt's latency alone, then while another client makes RSA_4096 keys.

Issue 17: one caller's slow request (an RSA-4096 key generation, 0.05-1 s of CPU) must not
stall the other callers of its worker. The case measures Encrypt open loop (wrk, paced, few
connections) twice for the same duration and rate: alone, and while a second client (two boto3
threads) creates RSA_4096 keys and asks for RSA_4096 import parameters back to back. Targets:
Encrypt's max latency during the slow work at most ``MAX_TARGET_MS`` and its p99 at most
``P99_FACTOR`` times its p99 alone.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kms import Fixture, kms_client, sign
from loadgen import PacedRun, run_wrk_paced
from servers import Server

MAX_TARGET_MS = 250.0
P99_FACTOR = 3.0
STOP_WAIT_S = 30.0


@dataclass
class SlowWork:
    """What the second client got done while Encrypt was measured."""

    keys: int = 0
    import_parameters: int = 0
    failures: list[str] = field(default_factory=list)
    slowest_s: float = 0.0


@dataclass
class IsolationResult:
    rate: float
    connections: int
    alone: PacedRun
    loaded: PacedRun
    slow: SlowWork

    @property
    def p99_factor(self) -> float:
        return self.loaded.p99_ms / self.alone.p99_ms if self.alone.p99_ms else float("inf")

    @property
    def loaded_max_bound_ms(self) -> float:
        """Encrypt's worst latency counted from its due time: wrk's max (from the moment of
        writing) plus the most any request was sent late (a bound, not an exact figure)."""
        return self.loaded.max_ms + self.loaded.slip_max_ms

    def verdicts(self) -> dict[str, bool]:
        return {
            f"max + slip <= {MAX_TARGET_MS:.0f} ms": self.loaded_max_bound_ms <= MAX_TARGET_MS,
            f"p99 <= {P99_FACTOR:.0f}x alone": self.p99_factor <= P99_FACTOR,
        }

    def failures(self) -> list[str]:
        problems = []
        for name, run in (("alone", self.alone), ("loaded", self.loaded)):
            if run.non_200 or run.errors:
                problems.append(f"isolation {name}: {run.non_200} non-2xx, {run.errors} errors")
        problems += [f"isolation slow client: {text}" for text in self.slow.failures[:3]]
        if not self.slow.keys or not self.slow.import_parameters:
            problems.append("isolation: the slow client finished no RSA_4096 key or parameters")
        return problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "connections": self.connections,
            "alone": self.alone.summary(),
            "loaded": self.loaded.summary(),
            "slow_work": {
                "rsa_4096_keys": self.slow.keys,
                "rsa_4096_import_parameters": self.slow.import_parameters,
                "slowest_s": round(self.slow.slowest_s, 3),
                "failures": self.slow.failures[:3],
            },
            "p99_factor": round(self.p99_factor, 2),
            "loaded_max_bound_ms": round(self.loaded_max_bound_ms, 3),
            "targets": self.verdicts(),
        }


def _slow_loop(server: Server, kind: str, stop: threading.Event, work: SlowWork) -> None:
    client = kms_client(server)
    external = None
    if kind == "import":
        external = client.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    while not stop.is_set():
        started = time.perf_counter()
        try:
            if external is not None:
                client.get_parameters_for_import(
                    KeyId=external,
                    WrappingAlgorithm="RSAES_OAEP_SHA_256",
                    WrappingKeySpec="RSA_4096",
                )
                work.import_parameters += 1
            else:
                client.create_key(KeySpec="RSA_4096", KeyUsage="SIGN_VERIFY")
                work.keys += 1
        except Exception as error:  # reported; the run fails on it
            work.failures.append(f"{kind}: {type(error).__name__}: {error}")
            return
        work.slowest_s = max(work.slowest_s, time.perf_counter() - started)


def run_isolation(
    server: Server, fixture: Fixture, rate: float, connections: int, duration_s: int
) -> IsolationResult:
    url = f"{server.endpoint}/"
    alone = run_wrk_paced(url, sign(server, "Encrypt", fixture), rate, connections, duration_s)
    work, stop = SlowWork(), threading.Event()
    threads = [
        threading.Thread(target=_slow_loop, args=(server, kind, stop, work), daemon=True)
        for kind in ("create", "import")
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)  # the slow work is under way before the measurement starts
        loaded = run_wrk_paced(url, sign(server, "Encrypt", fixture), rate, connections, duration_s)
    finally:
        stop.set()
        for thread in threads:
            thread.join(STOP_WAIT_S)
    return IsolationResult(rate, connections, alone, loaded, work)
