#!/usr/bin/env python3
"""Compare two trees of Trent on this machine: peak throughput, runs alternating (A/B).

One run of ``bench/run.py`` cannot tell a change of a few percent: on the 2-core machine
Trent's peak moves by ±5 % between runs minutes apart (and the bare app's by ±15 %), and the
drift follows the machine, not the code. This script starts the base tree (``--base``, any git
revision, checked out into a temporary worktree) and the working tree in turns, ``--rounds``
times each in the order A B B A A B B A ... (so a drift favours neither), measures each
operation's peak with wrk (one thread, ``--connections``, ``--duration`` s after ``--warmup``
s) against a fresh server of ``--workers`` workers, and prints each run, then per operation
the mean and range of both and the difference of the means. A difference smaller than the
spread of either side is reported as none found.

    python bench/ab.py --base HEAD~1                        # this change against the last commit
    python bench/ab.py --base main --ops Encrypt --rounds 6 --json ab.json

Each tree is first installed by pip into a directory of its own (``--target``; compiled as
``setup.py`` compiles it, ``trent.native``: a checkout's compiled copies are not what its
sources say once edited), and runs from there as ``python -m trent serve`` with ``PYTHONPATH``
set to that directory and ``PYTHONSAFEPATH=1`` (without it ``-m`` puts the current directory
first, and from a checkout both sides would run that checkout: this script's first version
did, and every A/B it gave before the fix compared the working tree with itself), checked
before the runs; an editable install of either does not matter. Exits 1 when a response was
not a 200, 2 when a server does not start.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cpu import others_share, sample
from kms import prepare_fixture, sign
from loadgen import run_wrk
from servers import ServerStartError, run_trent, tree_cpu_seconds

REPO = Path(__file__).resolve().parent.parent
SKEWED = 0.10  # other processes' share of the CPUs above which a run is flagged (as run.py)


@dataclass
class Run:
    tree: str  # "base" or "candidate"
    op: str
    rps: float
    non_2xx: int
    other_cpu: float  # share of the CPUs used by other processes meanwhile


@dataclass
class Summary:
    op: str
    base: list[float] = field(default_factory=list)
    candidate: list[float] = field(default_factory=list)

    def verdict(self) -> str:
        base, cand = statistics.mean(self.base), statistics.mean(self.candidate)
        change = (cand - base) / base * 100
        spread = max(_spread(self.base), _spread(self.candidate))
        if abs(change) <= spread:
            return f"{change:+.1f} % (within the runs' spread of {spread:.1f} %: none found)"
        return f"{change:+.1f} % (runs' spread {spread:.1f} %)"


def _spread(values: list[float]) -> float:
    """Half the range of ``values``, as a percentage of their mean."""
    return (max(values) - min(values)) / 2 / statistics.mean(values) * 100


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """``revision`` checked out (detached) in a temporary git worktree, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="trent-ab-") as parent:
        path = Path(parent) / "base"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(path), revision],
            check=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)],
                check=False,
            )


PIP_INSTALL = [sys.executable, "-m", "pip", "install", "-q", "--no-deps"]


def install(source: Path, target: Path) -> Path:
    """``source`` installed by pip into ``target`` as a user's ``pip install`` would (its
    request path compiled where its ``setup.py`` compiles it, ``trent.native``), so both sides
    run as built, not as whatever a checkout holds; ``target``."""
    subprocess.run(
        [*PIP_INSTALL, "--target", str(target), str(source)],
        check=True,
    )
    return target


def tree_command(source: Path) -> str:
    """``python -m trent serve`` importing Trent from ``source`` whatever the current directory:
    ``-m`` puts the current directory ahead of ``PYTHONPATH`` on ``sys.path`` (so run from a
    checkout, both sides would import that checkout), which ``PYTHONSAFEPATH=1`` (Python 3.11)
    turns off. Raises ``SystemExit`` if ``trent`` would still come from elsewhere."""
    env = f"env PYTHONSAFEPATH=1 PYTHONPATH={source}"
    found = subprocess.run(
        [sys.executable, "-c", "import trent, trent.native as n; print(trent.__file__, n.STATE)"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONSAFEPATH": "1", "PYTHONPATH": str(source)},
    ).stdout.strip()
    found, _, state = found.partition(" ")
    if not Path(found).resolve().is_relative_to(source.resolve()):
        raise SystemExit(f"{source}: trent would be imported from {found}")
    print(f"{source}: {state}")
    return f"{env} {sys.executable} -m trent serve"


def measure(tree: str, source: Path, args: argparse.Namespace, workdir: Path) -> list[Run]:
    command = tree_command(source)
    workdir.mkdir(parents=True)
    runs = []
    with run_trent(workdir, command, args.workers) as server:
        fixture = prepare_fixture(server)
        for op in args.ops:
            request = sign(server, op, fixture)
            run_wrk(f"{server.endpoint}/", request, 1, args.connections, args.warmup)
            before = sample(tree_cpu_seconds(server.pid))
            result = run_wrk(f"{server.endpoint}/", request, 1, args.connections, args.duration)
            other = others_share(before, sample(tree_cpu_seconds(server.pid)))
            runs.append(Run(tree, op, result.rps, result.non_2xx, other))
            print(f"{tree:>9}  {op:<16} {result.rps:>9,.0f} req/s  other CPU {other:.0%}")
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--ops", default="Encrypt,GenerateRandom", help="comma-separated")
    parser.add_argument("--rounds", type=int, default=4, help="runs of each tree")
    parser.add_argument("--duration", type=int, default=8, help="seconds measured per op")
    parser.add_argument("--warmup", type=int, default=2, help="uncounted seconds per op")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--workers", type=int, default=2, help="workers of each server")
    parser.add_argument("--json", type=Path, help="write every run and the summary here")
    args = parser.parse_args()
    args.ops = [op for op in args.ops.split(",") if op]
    runs: list[Run] = []
    with worktree(args.base) as base, tempfile.TemporaryDirectory() as scratch:
        trees = {
            "base": install(base, Path(scratch) / "base-site"),
            "candidate": install(REPO, Path(scratch) / "candidate-site"),
        }
        order = ["base", "candidate", "candidate", "base"] * ((args.rounds + 1) // 2)
        for n, tree in enumerate(order[: 2 * args.rounds]):
            try:
                runs += measure(tree, trees[tree], args, Path(scratch) / str(n))
            except ServerStartError as exc:
                print(f"{tree}: {exc}", file=sys.stderr)
                return 2
    summaries = {op: Summary(op) for op in args.ops}
    for run in runs:
        getattr(summaries[run.op], run.tree).append(run.rps)
    print(f"\ncandidate (working tree) against base ({args.base}), {args.rounds} runs each")
    busy = [run for run in runs if run.other_cpu > SKEWED]
    if busy:
        print(f"skewed: {len(busy)} runs had other processes using over {SKEWED:.0%} of the CPUs")
    for summary in summaries.values():
        base_mean, cand_mean = statistics.mean(summary.base), statistics.mean(summary.candidate)
        print(
            f"{summary.op:<16} base {base_mean:>9,.0f} ({min(summary.base):,.0f}-"
            f"{max(summary.base):,.0f})  candidate {cand_mean:>9,.0f} "
            f"({min(summary.candidate):,.0f}-{max(summary.candidate):,.0f})  "
            f"{summary.verdict()}"
        )
    if args.json:
        report = {
            "base": args.base,
            "runs": [asdict(run) for run in runs],
            "summary": {op: asdict(s) | {"verdict": s.verdict()} for op, s in summaries.items()},
        }
        args.json.write_text(json.dumps(report, indent=2))
    return 1 if any(run.non_2xx for run in runs) else 0


if __name__ == "__main__":
    os.chdir(REPO)
    sys.exit(main())
