#!/usr/bin/env python3
"""Benchmark Trent against moto_server and a bare ASGI app (issue 17's figures, one command).

For each system the script starts the server on 127.0.0.1 and a free port, creates a key with
boto3, then for each operation (Encrypt, Decrypt, GenerateDataKey, GenerateRandom, CreateKey):

1. peak throughput: wrk replays a pre-signed request on --connections connections with
   --threads threads for --duration seconds (after --warmup seconds that are not counted);
2. latency: wrk with bench/wrk_paced.lua sends the re-signed request open loop at --rate
   requests/s (default: half of the peak just measured) on --latency-connections connections,
   p50/p99/p99.9/max (the asyncio client when wrk is missing).

Then, for Trent, the isolation case (bench/isolation.py): Encrypt's latency alone and while
another client creates RSA_4096 keys and import parameters. It prints the tables (Trent as a
percentage of the bare app and as a multiple of moto, memory, the isolation verdicts) and
writes JSON with --json. Run by hand; see bench/README.md. Exits 1 if any response was not a
200 with the expected JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import cpu
import orjson
from isolation import IsolationResult, run_isolation
from kms import OPS, Fixture, check_response, create_extra_keys, prepare_fixture, sign
from loadgen import (
    LatencyRun,
    PacedRun,
    Throughput,
    closed_loop,
    open_loop,
    run_async,
    run_wrk,
    run_wrk_paced,
    wrk_available,
)
from servers import (
    Server,
    ServerStartError,
    run_bare,
    run_moto,
    run_trent,
    tree_cpu_seconds,
    tree_rss_bytes,
)

SYSTEMS = ("trent", "moto", "bare", "trent-nometrics")
DEFAULT_SYSTEMS = ("trent", "moto", "bare")
# Trent with TRENT_BENCH_NO_METRICS=1 (no metrics on the request path): issue 12's cost of metrics
NO_METRICS_ENV = {"TRENT_BENCH_NO_METRICS": "1"}
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MIB = 1024 * 1024
BUSY_WARNING = 0.10  # warn when the CPUs are busier than this before the run starts
LAG_THRESHOLD = 0.95  # an open-loop run below this share of its target rate fell behind
MAX_PHASE_S = 240  # a phase replays one signature, which the server accepts for 5 minutes


@dataclass
class OpResult:
    op: str
    peak: Throughput
    latency: LatencyRun | PacedRun
    others_share: float  # of the CPUs, used by processes outside the benchmark meanwhile

    def failures(self) -> list[str]:
        problems = []
        if self.peak.non_2xx or self.peak.socket_errors:
            problems.append(
                f"peak: {self.peak.non_2xx} non-2xx, {self.peak.socket_errors} socket errors"
            )
        if self.latency.non_200 or self.latency.errors:
            problems.append(
                f"latency: {self.latency.non_200} non-200, {self.latency.errors} errors"
                f" (first: {self.latency.first_failure})"
            )
        if self.latency.check_failure:
            problems.append(f"response check: {self.latency.check_failure}")
        return problems


@dataclass
class SystemResult:
    system: str
    rss_start: int = 0
    rss_end: int = 0
    extra_keys: int = 0
    extra_keys_seconds: float | None = None
    ops: list[OpResult] = field(default_factory=list)
    isolation: IsolationResult | None = None


# ---------------------------------------------------------------------------------------------
# Options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--systems", default=",".join(DEFAULT_SYSTEMS), help=f"comma-separated of {SYSTEMS}"
    )
    parser.add_argument("--ops", default=",".join(OPS), help="comma-separated")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured phase")
    parser.add_argument("--warmup", type=int, default=2, help="uncounted seconds before peak")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="trent and bare app workers")
    parser.add_argument("--trent-cmd", default="trent serve", help="command to start Trent")
    parser.add_argument("--keys", type=int, default=0, help="extra keys to create in Trent")
    parser.add_argument("--key-threads", type=int, default=8, help="threads creating --keys")
    parser.add_argument(
        "--rate", type=float, help="open-loop requests/s for latency (default: see next)"
    )
    parser.add_argument(
        "--rate-fraction",
        type=float,
        default=0.5,
        help="without --rate: this fraction of the measured peak",
    )
    parser.add_argument(
        "--max-rate",
        type=float,
        help="without --rate: at most this many requests/s (no cap by default)",
    )
    parser.add_argument(
        "--latency-connections", type=int, default=32, help="connections of the latency client"
    )
    parser.add_argument(
        "--latency-client",
        choices=("wrk", "asyncio"),
        default="wrk",
        help="open-loop client: wrk with wrk_paced.lua, or the asyncio client",
    )
    parser.add_argument(
        "--isolation",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the isolation case on Trent (Encrypt alone / while RSA_4096 keys are made)",
    )
    parser.add_argument("--isolation-rate", type=float, default=400.0, help="Encrypts/s")
    parser.add_argument(
        "--isolation-connections", type=int, default=16, help="connections of the Encrypt client"
    )
    parser.add_argument(
        "--latency-duration", type=int, help="seconds of the latency phase (default: --duration)"
    )
    parser.add_argument(
        "--no-wrk",
        action="store_true",
        help="measure peak with the asyncio client (closed loop) even if wrk is installed",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    args.systems = _choices(parser, "--systems", args.systems, SYSTEMS)
    args.ops = _choices(parser, "--ops", args.ops, OPS)
    args.latency_duration = args.latency_duration or args.duration
    args.use_wrk = wrk_available() and not args.no_wrk
    if args.latency_client == "wrk" and not wrk_available():
        args.latency_client = "asyncio"
    for name in ("duration", "connections", "threads", "workers", "latency_connections"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("duration", "warmup", "latency_duration"):
        if getattr(args, name) > MAX_PHASE_S:
            parser.error(f"--{name.replace('_', '-')}: at most {MAX_PHASE_S}s (signatures expire)")
    return args


def _choices(
    parser: argparse.ArgumentParser, option: str, value: str, allowed: tuple[str, ...]
) -> list[str]:
    chosen = [item.strip() for item in value.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in allowed]
    if unknown or not chosen:
        parser.error(f"{option}: choose from {','.join(allowed)}")
    return chosen


# ---------------------------------------------------------------------------------------------
# Running


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def start_system(
    name: str, workdir: Path, args: argparse.Namespace
) -> AbstractContextManager[Server]:
    if name == "trent":
        return run_trent(workdir, args.trent_cmd, args.workers)
    if name == "trent-nometrics":
        return run_trent(workdir, args.trent_cmd, args.workers, extra_env=NO_METRICS_ENV)
    if name == "moto":
        return run_moto(workdir)
    return run_bare(workdir, args.workers)


def loopback_address(server: Server) -> tuple[str, int]:
    parts = urlsplit(server.endpoint)
    if parts.hostname not in LOOPBACK_HOSTS or parts.port is None:
        raise RuntimeError(f"{server.name}: refusing non-loopback endpoint {server.endpoint}")
    return parts.hostname, parts.port


def bench_system(name: str, args: argparse.Namespace, workdir: Path) -> SystemResult:
    result = SystemResult(system=name)
    with start_system(name, workdir, args) as server:
        loopback_address(server)
        log(f"[{name}] up at {server.endpoint} (pid {server.pid})")
        fixture = prepare_fixture(server)
        if name == "trent" and args.keys:
            log(f"[{name}] creating {args.keys} extra keys")
            result.extra_keys = args.keys
            result.extra_keys_seconds = create_extra_keys(server, args.keys, args.key_threads)
        result.rss_start = tree_rss_bytes(server.pid)
        for op in args.ops:
            result.ops.append(bench_op(server, fixture, op, args))
        result.rss_end = tree_rss_bytes(server.pid)
        if name == "trent" and args.isolation and wrk_available():
            log(f"[{name}] isolation: Encrypt alone, then while RSA_4096 keys are made")
            result.isolation = run_isolation(
                server, fixture, args.isolation_rate, args.isolation_connections, args.duration
            )
    return result


def body_check(server: Server, op: str) -> Callable[[bytes], str | None]:
    def check(body: bytes) -> str | None:
        return check_response(server.name, op, body)

    return check


def bench_op(server: Server, fixture: Fixture, op: str, args: argparse.Namespace) -> OpResult:
    cpu_before = cpu.sample(tree_cpu_seconds(server.pid))
    peak = measure_peak(server, fixture, op, args)
    log(f"[{server.name}] {op}: peak {peak.rps:,.0f} req/s ({peak.tool})")
    rate = args.rate or max(1.0, round(peak.rps * args.rate_fraction))
    if args.max_rate:
        rate = min(rate, args.max_rate)
    host, port = loopback_address(server)
    check = body_check(server, op)
    request = sign(server, op, fixture)
    latency: LatencyRun | PacedRun
    if args.latency_client == "wrk":
        latency = run_wrk_paced(
            f"{server.endpoint}/", request, rate, args.latency_connections, args.latency_duration
        )
    else:
        latency = run_async(
            open_loop(
                host, port, request, rate, args.latency_duration, args.latency_connections, check
            )
        )
    log(
        f"[{server.name}] {op}: open loop {latency.achieved_rate:,.0f}/{rate:,.0f} req/s,"
        f" p99 {latency.summary()['p99_ms']} ms"
    )
    others = cpu.others_share(cpu_before, cpu.sample(tree_cpu_seconds(server.pid)))
    return OpResult(op=op, peak=peak, latency=latency, others_share=others)


def measure_peak(server: Server, fixture: Fixture, op: str, args: argparse.Namespace) -> Throughput:
    """wrk if installed, else the asyncio client in closed loop; each phase signs afresh."""
    url = f"{server.endpoint}/"
    if args.use_wrk:
        if args.warmup:
            run_wrk(url, sign(server, op, fixture), args.threads, args.connections, args.warmup)
        return run_wrk(
            url, sign(server, op, fixture), args.threads, args.connections, args.duration
        )
    host, port = loopback_address(server)
    check = body_check(server, op)
    if args.warmup:
        request = sign(server, op, fixture)
        run_async(closed_loop(host, port, request, args.warmup, args.connections, check))
    request = sign(server, op, fixture)
    run = run_async(closed_loop(host, port, request, args.duration, args.connections, check))
    return run.to_throughput()


# ---------------------------------------------------------------------------------------------
# Reporting


def _fmt(value: float | None, spec: str = ",.2f") -> str:
    return "-" if value is None else format(value, spec)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def results_table(results: list[SystemResult]) -> str:
    header = ["system", "op", "peak req/s", "peak p50", "peak p99", "bad"]
    header += ["rate", "achieved", "lat p50", "lat p99", "lat p99.9", "lat max", "slip", "bad"]
    header += ["other CPU"]
    rows = []
    for system in results:
        for op in system.ops:
            lat = op.latency.summary()
            rows.append(
                [
                    system.system,
                    op.op,
                    _fmt(op.peak.rps, ",.0f"),
                    _fmt(op.peak.p50_ms),
                    _fmt(op.peak.p99_ms),
                    str(op.peak.non_2xx + op.peak.socket_errors),
                    _fmt(lat["target_rate"], ",.0f"),
                    _fmt(lat["achieved_rate"], ",.0f") + ("*" if _lagged(op.latency) else ""),
                    _fmt(lat["p50_ms"]),
                    _fmt(lat["p99_ms"]),
                    _fmt(lat["p999_ms"]),
                    _fmt(lat["max_ms"]),
                    _fmt(lat.get("slip_max_ms")),
                    str(op.latency.non_200 + op.latency.errors),
                    f"{op.others_share:.0%}",
                ]
            )
    return _table(header, rows)


def _lagged(run: LatencyRun | PacedRun) -> bool:
    return run.target_rate is not None and run.achieved_rate < LAG_THRESHOLD * run.target_rate


def ratio_table(results: list[SystemResult]) -> str | None:
    peaks = {(s.system, op.op): op.peak.rps for s in results for op in s.ops}
    ops = list(dict.fromkeys(op for _, op in peaks))
    columns = [
        ("trent % of bare", "trent", "bare", 100.0, "%"),
        ("trent x moto", "trent", "moto", 1.0, "x"),
        ("moto % of bare", "moto", "bare", 100.0, "%"),
        ("trent % of trent-nometrics", "trent", "trent-nometrics", 100.0, "%"),
    ]
    present = [c for c in columns if any((c[1], op) in peaks and (c[2], op) in peaks for op in ops)]
    if not present:
        return None
    rows = []
    for op in ops:
        row = [op]
        for _, num, den, scale, unit in present:
            if (num, op) in peaks and peaks.get((den, op)):
                row.append(f"{peaks[(num, op)] / peaks[(den, op)] * scale:,.1f}{unit}")
            else:
                row.append("-")
        rows.append(row)
    return _table(["op", *(c[0] for c in present)], rows)


def isolation_table(result: IsolationResult) -> str:
    header = ["Encrypt", "rate", "achieved", "p50", "p99", "p99.9", "max", "slip", "bad"]
    rows = []
    for name, run in (("alone", result.alone), ("during RSA_4096 work", result.loaded)):
        rows.append(
            [
                name,
                _fmt(run.target_rate, ",.0f"),
                _fmt(run.achieved_rate, ",.0f"),
                _fmt(run.p50_ms),
                _fmt(run.p99_ms),
                _fmt(run.p999_ms),
                _fmt(run.max_ms),
                _fmt(run.slip_max_ms),
                str(run.non_200 + run.errors),
            ]
        )
    slow = result.slow
    verdicts = ", ".join(f"{k}: {'yes' if ok else 'NO'}" for k, ok in result.verdicts().items())
    return (
        _table(header, rows)
        + f"\nslow client meanwhile: {slow.keys} RSA_4096 keys, {slow.import_parameters}"
        f" RSA_4096 import parameters (slowest call {slow.slowest_s:.2f} s)"
        + f"\np99 during / alone: {result.p99_factor:.2f}x; targets: {verdicts}"
    )


def memory_table(results: list[SystemResult]) -> str:
    header = ["system", "RSS start MiB", "RSS end MiB", "extra keys", "keys/s"]
    rows = []
    for system in results:
        keys_per_s = (
            system.extra_keys / system.extra_keys_seconds if system.extra_keys_seconds else None
        )
        rows.append(
            [
                system.system,
                _fmt(system.rss_start / MIB, ",.1f"),
                _fmt(system.rss_end / MIB, ",.1f"),
                str(system.extra_keys),
                _fmt(keys_per_s, ",.0f"),
            ]
        )
    return _table(header, rows)


def print_report(results: list[SystemResult], args: argparse.Namespace, peak_tool: str) -> None:
    print()
    cap = f", at most {args.max_rate:,.0f}/s" if args.max_rate else ""
    print(
        f"peak: {peak_tool}, {args.threads} thread(s), {args.connections} connections,"
        f" {args.duration}s | latency: open loop ({args.latency_client}),"
        f" {args.latency_connections} connections, {args.latency_duration}s, rate = "
        + (f"{args.rate:,.0f}/s" if args.rate else f"{args.rate_fraction:.0%} of peak{cap}")
    )
    print(
        "latencies in ms; slip = most a request was sent after its due time (wrk);"
        " bad = non-2xx responses + socket errors / timeouts;"
        " other CPU = share of the CPUs used meanwhile by processes outside the benchmark\n"
    )
    print(results_table(results))
    if any(_lagged(op.latency) for system in results for op in system.ops):
        print("* fell behind the target rate: the server (or the client) could not keep pace")
    ratios = ratio_table(results)
    if ratios:
        print("\npeak requests/s ratios")
        print(ratios)
    for system in results:
        if system.isolation is not None:
            print(f"\nisolation ({system.system}): Encrypt latency (ms), open loop")
            print(isolation_table(system.isolation))
    print("\nserver memory (whole process tree)")
    print(memory_table(results))


def failures(results: list[SystemResult]) -> list[str]:
    problems = [
        f"{system.system} {op.op}: {problem}"
        for system in results
        for op in system.ops
        for problem in op.failures()
    ]
    for system in results:
        if system.isolation is not None:
            problems += [f"{system.system} {p}" for p in system.isolation.failures()]
    return problems


def wrk_version() -> str | None:
    if not wrk_available():
        return None
    completed = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return (completed.stdout or completed.stderr).splitlines()[0].strip()


def to_json(
    results: list[SystemResult], args: argparse.Namespace, load: dict[str, float | None]
) -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "busy_before_start": load["before"],
            "others_share_during_run": load["during"],
        },
        "wrk": wrk_version(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "systems": [
            {
                "system": s.system,
                "rss_start_bytes": s.rss_start,
                "rss_end_bytes": s.rss_end,
                "extra_keys": s.extra_keys,
                "extra_keys_seconds": s.extra_keys_seconds,
                "ops": [
                    {
                        "op": op.op,
                        "peak": op.peak.as_dict(),
                        "latency": op.latency.summary(),
                        "failures": op.failures(),
                        "others_share": op.others_share,
                    }
                    for op in s.ops
                ],
                "isolation": s.isolation.as_dict() if s.isolation else None,
            }
            for s in results
        ],
    }


# ---------------------------------------------------------------------------------------------
# Main


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    busy_before = cpu.busy_fraction()
    if busy_before is not None and busy_before > BUSY_WARNING:
        log(f"warning: the machine is already {busy_before:.0%} busy; that skews the figures")
    cpu_before = cpu.sample()
    peak_tool = "wrk" if args.use_wrk else "asyncio closed loop"
    if not wrk_available():
        log("wrk not found: measuring peak throughput with the asyncio client in closed loop")
        peak_tool += " (wrk not installed)"
    results: list[SystemResult] = []
    not_started: list[str] = []
    with tempfile.TemporaryDirectory(prefix="trent-bench-") as tmp:
        for name in args.systems:
            try:
                results.append(bench_system(name, args, Path(tmp)))
            except ServerStartError as error:
                log(f"[{name}] did not start, skipped: {error}")
                not_started.append(name)
    if not results:
        return 2
    others = cpu.others_share(cpu_before, cpu.sample())
    load = {"before": busy_before, "during": others}
    print_report(results, args, peak_tool)
    print(f"\nother processes used {others:.0%} of the CPUs during the run", end="")
    print(" (figures skewed: rerun on an idle machine)" if others > BUSY_WARNING else "")
    if args.json:
        args.json.write_bytes(
            orjson.dumps(to_json(results, args, load), option=orjson.OPT_INDENT_2)
        )
        print(f"\nresults written to {args.json}")
    problems = failures(results) + [f"{name}: did not start" for name in not_started]
    for problem in problems:
        print(f"FAILED {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
