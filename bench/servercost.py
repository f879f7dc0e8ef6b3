#!/usr/bin/env python3
"""Instructions per request through the whole server (``trent serve``, one worker, callgrind).

Starts ``trent serve --workers 1`` under ``valgrind --tool=callgrind`` (uvicorn then serves in
the process valgrind watches: HTTP parsing, SigV4, the operation, the audit record and its
fsync, metrics, the reply), creates a key, sends ``--warmup`` requests, zeroes callgrind's
counters (``callgrind_control -z``), sends ``--requests`` requests of each operation on
``--connections`` keep-alive connections, and dumps the counters after each
(``callgrind_control -d``). Instructions per request = (the dump's total less the idle
server's rate over the same seconds, measured just before) / requests. Counts
are of user-space instructions only (system calls and context switches are not in them) and
do not move with the machine's load, unlike wall-clock figures.

    python bench/servercost.py --ops Encrypt,GenerateRandom --requests 2000

With ``--no-valgrind`` it runs the same requests against ``trent serve --workers 2`` and
prints CPU microseconds (user, system) and context switches per request, summed over the
server's processes and threads (``/proc``), which do include the kernel's share.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import servers
from kms import SignedRequest, prepare_fixture, sign

OPS = ("Encrypt", "Decrypt", "GenerateDataKey", "GenerateRandom")
TICKS = os.sysconf("SC_CLK_TCK")


async def _send(host: str, port: int, request: SignedRequest, total: int, conns: int) -> int:
    """Send ``total`` requests over ``conns`` keep-alive connections; the number of 200s."""
    raw = request.raw()
    remaining = total
    ok = 0

    async def one_connection() -> None:
        nonlocal remaining, ok
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while remaining > 0:
                remaining -= 1
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
                ok += head.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()

    await asyncio.gather(*(one_connection() for _ in range(conns)))
    return ok


def send(server: servers.Server, request: SignedRequest, total: int, conns: int) -> int:
    host, port = server.endpoint.removeprefix("http://").rsplit(":", 1)
    return asyncio.run(_send(host, int(port), request, total, conns))


def _tasks(root: int) -> tuple[float, float, int]:
    """(user s, system s, context switches) over every thread of root's process tree."""
    user = system = switches = 0.0
    for pid in servers._process_tree(root):
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                stat = (task / "stat").read_text()
                status = (task / "status").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            user += int(fields[11]) / TICKS
            system += int(fields[12]) / TICKS
            switches += sum(
                int(line.split()[1]) for line in status.splitlines() if "ctxt_switches" in line
            )
    return user, system, int(switches)


def _strace(root: int, out: Path) -> subprocess.Popen[bytes]:
    pids = [str(p) for p in servers._process_tree(root)]
    argv = ["strace", "-c", "-f", "-o", str(out)]
    for pid in pids:
        argv += ["-p", pid]
    tracer = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    return tracer


def _syscalls(path: Path, requests: int) -> str:
    lines = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[3].isdigit():
            lines.append(f"    {fields[-1]:16s} {int(fields[3]) / requests:6.2f}/request")
    return "\n".join(lines[:16])


def _idle_rate(pid: int, workdir: Path, seconds: float) -> float:
    """Instructions per second the server runs with no request (background tasks)."""
    subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
    start = time.monotonic()
    time.sleep(seconds)
    subprocess.run(["callgrind_control", "-d", "idle", str(pid)], check=True, capture_output=True)
    elapsed = time.monotonic() - start
    dumps = sorted(workdir.glob("cg.out.*"), key=lambda p: p.stat().st_mtime)
    return _callgrind_total(dumps[-1]) / elapsed


def _callgrind_total(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--idle", type=float, default=10.0, help="seconds of idle measured and subtracted"
    )
    parser.add_argument("--no-valgrind", action="store_true")
    parser.add_argument("--workers", type=int, default=2, help="with --no-valgrind")
    parser.add_argument(
        "--strace", action="store_true", help="with --no-valgrind: system calls per request"
    )
    parser.add_argument("--keep", type=Path, help="copy callgrind's dumps to this directory")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    args = parser.parse_args()
    for item in args.env:
        name, _, value = item.partition("=")
        os.environ[name] = value
    servers.START_TIMEOUT_S = 900.0
    with tempfile.TemporaryDirectory(prefix="trent-cost-") as tmp:
        workdir = Path(tmp)
        out = workdir / "cg.out"
        if args.no_valgrind:
            cmd, workers = f"{sys.executable} -m trent serve", args.workers
        else:
            cmd = (
                f"valgrind --tool=callgrind --callgrind-out-file={out} "
                f"{sys.executable} -m trent serve"
            )
            workers = 1
        with servers.run_trent(workdir, cmd, workers) as server:
            fixture = prepare_fixture(server)
            for op in args.ops.split(","):
                request = sign(server, op, fixture)
                send(server, request, args.warmup, args.connections)
                if args.no_valgrind:
                    tracer = _strace(server.pid, workdir / f"strace.{op}") if args.strace else None
                    before = _tasks(server.pid)
                    start = time.monotonic()
                    ok = send(server, request, args.requests, args.connections)
                    elapsed = time.monotonic() - start
                    if tracer is not None:
                        tracer.send_signal(signal.SIGINT)
                        tracer.wait()
                        print(_syscalls(workdir / f"strace.{op}", args.requests))
                    user, system, switches = (
                        b - a for a, b in zip(before, _tasks(server.pid), strict=True)
                    )
                    n = args.requests
                    print(
                        f"{op:16s} {user / n * 1e6:7.1f} us user {system / n * 1e6:6.1f} us sys"
                        f" {switches / n:5.2f} ctx switches/request"
                        f"  ({ok}/{n} ok, {n / elapsed:,.0f} req/s)",
                        flush=True,
                    )
                    continue
                idle_rate = _idle_rate(server.pid, workdir, args.idle)
                subprocess.run(
                    ["callgrind_control", "-z", str(server.pid)], check=True, capture_output=True
                )
                start = time.monotonic()
                ok = send(server, request, args.requests, args.connections)
                window = time.monotonic() - start
                subprocess.run(
                    ["callgrind_control", "-d", op, str(server.pid)],
                    check=True,
                    capture_output=True,
                )
                dumps = sorted(workdir.glob("cg.out.*"), key=lambda p: p.stat().st_mtime)
                # less what the idle worker (event loop, usage flush, scheduler) runs meanwhile
                total = _callgrind_total(dumps[-1]) - idle_rate * window
                if args.keep:
                    args.keep.mkdir(parents=True, exist_ok=True)
                    shutil.copy(dumps[-1], args.keep / f"callgrind.{op}")
                print(
                    f"{op:16s} {total / args.requests:12,.0f} instructions/request"
                    f"  ({ok}/{args.requests} ok)",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
