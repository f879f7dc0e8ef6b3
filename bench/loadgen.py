"""Load generators: wrk for peak throughput, an asyncio HTTP/1.1 client for latency.

Times are taken with time.perf_counter(): uvloop's loop.time() only has millisecond resolution.

The asyncio client replays one pre-signed request over a fixed number of keep-alive
connections, either open loop (requests are due at a fixed rate whether or not earlier ones
have finished; latency counts from the moment a request was due, so a stalled server cannot
hide its queue) or closed loop (each connection sends its next request when the last one is
answered; the fallback for throughput when wrk is missing).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kms import SignedRequest

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_request.lua"
WRK_PACED_SCRIPT = Path(__file__).resolve().parent / "wrk_paced.lua"
WRK_TIMEOUT_S = 10
REQUEST_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 30.0
CHECK_EVERY = 1000  # check the JSON of the first 200 response and every CHECK_EVERY-th after

T = TypeVar("T")
BodyCheck = Callable[[bytes], "str | None"]


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class Throughput:
    """Peak throughput of one operation on one system."""

    tool: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    non_2xx: int
    socket_errors: int
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LatencyRun:
    """Per-request latencies from the asyncio client, open or closed loop."""

    mode: str
    connections: int
    target_rate: float | None
    sent: int = 0
    ok: int = 0
    non_200: int = 0
    errors: int = 0
    seconds: float = 0.0  # from the first request to the last answer
    last_answer: float = 0.0
    latencies: list[float] = field(default_factory=list)  # due (open) or sent -> answered
    service: list[float] = field(default_factory=list)  # sent -> answered
    first_failure: str | None = None
    check_failure: str | None = None
    checked: int = 0

    @property
    def achieved_rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def note_failure(self, text: str) -> None:
        if self.first_failure is None:
            self.first_failure = text

    def summary(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "connections": self.connections,
            "target_rate": self.target_rate,
            "achieved_rate": round(self.achieved_rate, 1),
            "sent": self.sent,
            "ok": self.ok,
            "non_200": self.non_200,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "p50_ms": percentile_ms(self.latencies, 0.50),
            "p90_ms": percentile_ms(self.latencies, 0.90),
            "p99_ms": percentile_ms(self.latencies, 0.99),
            "p999_ms": percentile_ms(self.latencies, 0.999),
            "max_ms": percentile_ms(self.latencies, 1.0),
            "service_p50_ms": percentile_ms(self.service, 0.50),
            "service_p99_ms": percentile_ms(self.service, 0.99),
            "checked_bodies": self.checked,
            "first_failure": self.first_failure,
            "check_failure": self.check_failure,
        }

    def to_throughput(self) -> Throughput:
        return Throughput(
            tool="asyncio closed loop",
            requests=self.ok,
            seconds=self.seconds,
            rps=self.achieved_rate,
            p50_ms=percentile_ms(self.latencies, 0.50),
            p90_ms=percentile_ms(self.latencies, 0.90),
            p99_ms=percentile_ms(self.latencies, 0.99),
            non_2xx=self.non_200,
            socket_errors=self.errors,
            note=self.first_failure or "",
        )


def percentile_ms(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of seconds, in milliseconds."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return round(ordered[rank - 1] * 1000.0, 3)


# ---------------------------------------------------------------------------------------------
# wrk


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str, request: SignedRequest, threads: int, connections: int, duration_s: int
) -> Throughput:
    """Replay request with wrk for duration_s and parse its report."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s"]
    argv += [f"--timeout={WRK_TIMEOUT_S}s", "--latency", "-s", str(WRK_SCRIPT), url]
    completed = subprocess.run(
        argv,
        env={**os.environ, **request.wrk_env()},
        capture_output=True,
        text=True,
        timeout=duration_s + 60,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    return parse_wrk_output(completed.stdout)


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return round(float(match[1]) * _UNITS_MS[match[2]], 3)


def parse_wrk_output(text: str) -> Throughput:
    """Read Requests/sec, the latency distribution and error counts from wrk's report."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", text, re.MULTILINE)
    if not rps or not total:
        raise ValueError(f"unexpected wrk output:\n{text}")
    distribution = {
        int(pct): _duration_ms(value)
        for pct, value in re.findall(r"^\s+(\d+)%\s+(\S+)$", text, re.MULTILINE)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return Throughput(
        tool="wrk",
        requests=int(total[1]),
        seconds=_duration_ms(f"{total[2]}{total[3]}") / 1000.0,
        rps=float(rps[1]),
        p50_ms=distribution.get(50),
        p90_ms=distribution.get(90),
        p99_ms=distribution.get(99),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in socket.groups()) if socket else 0,
    )


@dataclass
class PacedRun:
    """Open-loop latency from wrk with wrk_paced.lua: a fixed request rate, percentiles in ms.

    ``slip_max_ms`` is the most any request was sent after its due time (what wrk's latencies,
    taken from the moment of writing, do not include); ``late`` counts requests sent more than
    a millisecond late."""

    target_rate: float
    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    non_200: int
    errors: int
    slip_max_ms: float
    late: int
    mode: str = "open loop (wrk, paced)"
    first_failure: str | None = None
    check_failure: str | None = None

    @property
    def achieved_rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {**asdict(self), "achieved_rate": round(self.achieved_rate, 1)}


def run_wrk_paced(
    url: str, request: SignedRequest, rate: float, connections: int, duration_s: int
) -> PacedRun:
    """Send request at rate requests/s (one wrk thread, open loop) for duration_s."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", f"--timeout={WRK_TIMEOUT_S}s"]
    argv += ["-s", str(WRK_PACED_SCRIPT), url]
    completed = subprocess.run(
        argv,
        env={**os.environ, **request.wrk_env(), "BENCH_RATE": f"{rate:.3f}"},
        capture_output=True,
        text=True,
        timeout=duration_s + 60,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    return parse_paced_output(completed.stdout, rate, connections)


def parse_paced_output(text: str, rate: float, connections: int) -> PacedRun:
    line = re.search(r"^PACED (.*)$", text, re.MULTILINE)
    if not line:
        raise ValueError(f"unexpected wrk output:\n{text}")
    f = {k: float(v) for k, v in (item.split("=", 1) for item in line[1].split())}
    ms = 1000.0
    run = PacedRun(
        target_rate=rate,
        connections=connections,
        requests=int(f["requests"]),
        seconds=f["duration_us"] / 1e6,
        p50_ms=f["p50_us"] / ms,
        p90_ms=f["p90_us"] / ms,
        p99_ms=f["p99_us"] / ms,
        p999_ms=f["p999_us"] / ms,
        max_ms=f["max_us"] / ms,
        non_200=int(f["status_errors"]),
        errors=int(f["socket_errors"]),
        slip_max_ms=f["slip_max_ms"],
        late=int(f["late"]),
    )
    if run.non_200 or run.errors:
        run.first_failure = f"{run.non_200} non-2xx, {run.errors} socket errors (wrk)"
    return run


# ---------------------------------------------------------------------------------------------
# asyncio HTTP/1.1 client


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a request and reads its response."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def roundtrip(self, raw_request: bytes) -> tuple[int, bytes]:
        """Send raw_request and return (status, body); reconnects first if needed."""
        if self.reader is None or self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw_request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status, headers, keep_alive = _parse_head(head)
        body = await self._read_body(headers)
        if not keep_alive:
            await self.close()
        return status, body

    async def _read_body(self, headers: dict[str, str]) -> bytes:
        assert self.reader is not None
        if "content-length" in headers:
            return await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return await self._read_chunked()
        return await self.reader.read()  # delimited by the server closing the connection

    async def _read_chunked(self) -> bytes:
        assert self.reader is not None
        chunks: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await self.reader.readexactly(size + 2)
            if size == 0:
                return b"".join(chunks)
            chunks.append(chunk[:-2])


def _parse_head(head: bytes) -> tuple[int, dict[str, str], bool]:
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
    return int(status), headers, keep_alive


async def _timed_roundtrip(
    conn: Connection, raw: bytes, run: LatencyRun, due: float | None, check: BodyCheck
) -> None:
    """One request on conn; records its latency from due (open loop) or from its sending."""
    sent = time.perf_counter()
    run.sent += 1
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            status, body = await conn.roundtrip(raw)
    except (OSError, EOFError, asyncio.LimitOverrunError, TimeoutError, ValueError) as e:
        run.errors += 1  # IncompleteReadError is an EOFError; ValueError: not HTTP
        run.note_failure(f"{type(e).__name__}: {e}")
        await conn.close()
        return
    answered = run.last_answer = time.perf_counter()
    if status != 200:
        run.non_200 += 1
        run.note_failure(f"HTTP {status}: {body[:300]!r}")
        return
    run.ok += 1
    run.latencies.append(answered - (sent if due is None else due))
    run.service.append(answered - sent)
    if run.ok == 1 or run.ok % CHECK_EVERY == 0:
        run.checked += 1
        problem = check(body)
        if problem and run.check_failure is None:
            run.check_failure = problem


async def _open_pool(host: str, port: int, connections: int) -> list[Connection]:
    return list(await asyncio.gather(*(Connection(host, port).open() for _ in range(connections))))


async def _close_pool(pool: list[Connection]) -> None:
    await asyncio.gather(*(conn.close() for conn in pool), return_exceptions=True)


async def open_loop(
    host: str,
    port: int,
    request: SignedRequest,
    rate: float,
    duration_s: float,
    connections: int,
    check: BodyCheck,
) -> LatencyRun:
    """Send rate requests/s for duration_s over connections keep-alive connections."""
    raw = request.raw()
    run = LatencyRun(mode="open loop", connections=connections, target_rate=rate)
    pool = await _open_pool(host, port, connections)
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for conn in pool:
        idle.put_nowait(conn)

    total = max(1, int(rate * duration_s))
    finished = 0
    all_finished = asyncio.Event()

    async def send(due: float) -> None:
        nonlocal finished
        conn = await idle.get()
        try:
            await _timed_roundtrip(conn, raw, run, due, check)
        finally:
            idle.put_nowait(conn)
            finished += 1
            if finished == total:
                all_finished.set()

    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(due)))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_finished.wait(), DRAIN_TIMEOUT_S)
    unfinished = [task for task in tasks if not task.done()]
    for task in unfinished:
        task.cancel()
    run.errors += len(unfinished)
    await asyncio.gather(*unfinished, return_exceptions=True)
    run.seconds = max(run.last_answer, start + total / rate) - start
    await _close_pool(pool)
    return run


async def closed_loop(
    host: str,
    port: int,
    request: SignedRequest,
    duration_s: float,
    connections: int,
    check: BodyCheck,
) -> LatencyRun:
    """Each connection sends its next request as soon as the last is answered."""
    raw = request.raw()
    run = LatencyRun(mode="closed loop", connections=connections, target_rate=None)
    pool = await _open_pool(host, port, connections)
    start = time.perf_counter()
    deadline = start + duration_s

    async def worker(conn: Connection) -> None:
        while time.perf_counter() < deadline:
            await _timed_roundtrip(conn, raw, run, None, check)

    await asyncio.gather(*(worker(conn) for conn in pool))
    run.seconds = max(run.last_answer, deadline) - start
    await _close_pool(pool)
    return run


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run coro on uvloop (installed with uvicorn[standard]) with the garbage collector off.

    A full collection pauses the client for tens of milliseconds, which would show up as
    server latency at p99; a phase is bounded, so its garbage is too.
    """
    gc.collect()
    gc.disable()
    try:
        try:
            import uvloop
        except ImportError:
            return asyncio.run(coro)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    finally:
        gc.enable()
        gc.collect()
