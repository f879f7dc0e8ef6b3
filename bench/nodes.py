"""Encrypt and CreateKey throughput of Trent on one SQLite node against 1, 2 and 3 nodes on one
PostgreSQL (issue 11), in one run with one client (wrk, one instance per node, run together,
the connections split between them), and where the CPU went (Trent's processes against
PostgreSQL's).

    python bench/nodes.py [--duration 5] [--connections 32] [--workers 1] [--json out.json]

Everything runs on this machine: the nodes (``trent serve``, ``--workers`` each), a PostgreSQL
the script starts in a temporary directory (as ``tests/pg.py`` does: initdb as an unprivileged
user when run as root; ``fsync`` stays on, unlike the tests'), and wrk. Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent)]

from kms import Fixture, kms_client, sign  # noqa: E402
from loadgen import Throughput, run_wrk  # noqa: E402
from servers import Server, _host_header, tree_cpu_seconds  # noqa: E402

from tests.pg import PostgresCluster  # noqa: E402
from tests.server import TrentServer  # noqa: E402

OPS = ("Encrypt", "CreateKey")


@dataclass
class Result:
    system: str
    nodes: int
    op: str
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    non_2xx: int
    trent_cpu_s: float
    postgres_cpu_s: float


def as_server(node: TrentServer) -> Server:
    access, secret = node.credentials()
    assert node.process is not None
    endpoint = node.endpoint
    return Server(
        "trent", node.process.pid, endpoint, _host_header(endpoint), "us-east-1", access, secret
    )


def postmaster_pid(cluster: PostgresCluster) -> int:
    return int((cluster.data / "postmaster.pid").read_text().split()[0])


def measure(
    nodes: list[TrentServer], op: str, fixture: Fixture, args: argparse.Namespace, pg: int | None
) -> tuple[list[Throughput], float, float]:
    servers = [as_server(n) for n in nodes]
    requests = [sign(s, op, fixture) for s in servers]
    per_node = max(1, args.connections // len(nodes))
    results: list[Throughput | None] = [None] * len(nodes)
    trent_before = sum(tree_cpu_seconds(s.pid) for s in servers)
    pg_before = tree_cpu_seconds(pg) if pg else 0.0

    def one(i: int) -> None:
        results[i] = run_wrk(servers[i].endpoint + "/", requests[i], 1, per_node, args.duration)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(nodes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    trent_cpu = sum(tree_cpu_seconds(s.pid) for s in servers) - trent_before
    pg_cpu = (tree_cpu_seconds(pg) - pg_before) if pg else 0.0
    return [r for r in results if r is not None], trent_cpu, pg_cpu


def run(system: str, count: int, workdir: Path, args: argparse.Namespace) -> list[Result]:
    cluster = None
    url = None
    if system == "postgres":
        cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="trent-bench-pg-")), fsync=True)
        cluster.start()
        url = cluster.create_database()
    root_key = workdir / f"{system}-{count}.key"
    nodes = []
    try:
        for i in range(count):
            (workdir / f"{system}-{count}-{i}").mkdir()
            node = TrentServer(
                workdir / f"{system}-{count}-{i}" / "data",
                workers=args.workers,
                database_url=url,
                root_key_file=root_key,
            )
            nodes.append(node.start())
        client = kms_client(as_server(nodes[0]))
        key_id = client.create_key()["KeyMetadata"]["KeyId"]
        fixture = Fixture(key_id, client.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"])
        out = []
        pg = postmaster_pid(cluster) if cluster else None
        for op in OPS:
            runs, trent_cpu, pg_cpu = measure(nodes, op, fixture, args, pg)
            p50 = max((r.p50_ms or 0.0) for r in runs)
            p99 = max((r.p99_ms or 0.0) for r in runs)
            out.append(
                Result(
                    system,
                    count,
                    op,
                    round(sum(r.rps for r in runs), 1),
                    p50,
                    p99,
                    sum(r.non_2xx for r in runs),
                    round(trent_cpu, 1),
                    round(pg_cpu, 1),
                )
            )
            print(out[-1], flush=True)
        return out
    finally:
        for node in nodes:
            node.stop()
        if cluster is not None:
            cluster.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per op and system")
    parser.add_argument("--connections", type=int, default=32, help="split between nodes")
    parser.add_argument("--workers", type=int, default=1, help="workers per node")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="trent-bench-nodes-") as tmp:
        workdir = Path(tmp)
        results += run("sqlite", 1, workdir, args)
        for count in (1, 2, 3):
            results += run("postgres", count, workdir, args)
    print()
    print("| store | nodes | op | req/s | p50 ms | p99 ms | non-2xx | Trent CPU s | PG CPU s |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r.system} | {r.nodes} | {r.op} | {r.rps:,.0f} | {r.p50_ms} | {r.p99_ms} | "
              f"{r.non_2xx} | {r.trent_cpu_s} | {r.postgres_cpu_s} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 1 if any(r.non_2xx for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
