"""Signed callers' latency under a flood of unauthenticated oversized requests (issue 16 item 4).

Starts ``trent serve --workers 2`` on 127.0.0.1, measures the p50/p95 of signed ``ListKeys``
calls from one keep-alive connection alone, then again while 4 processes flood the port, and
prints both with the audit log's growth and the server's memory. Floods:

- ``huge``: each request carries a 4 MiB ``User-Agent`` (refused by the HTTP layer once its head
  passes 64 KiB; the flooder reconnects at once);
- ``max``: each request carries a 15 KiB ``User-Agent``, ``X-Amz-Target`` and ``Credential=``
  (within every limit, so each reaches SigV4, is refused and is audited).

Run by hand: ``.venv/bin/python bench/flood.py [--calls 400] [--flood huge|max|both]``.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import Server, run_trent, tree_cpu_seconds, tree_rss_bytes

MIB = 1024 * 1024
FLOODERS = 4
NICE = 19


def _signed(server: Server, body: bytes) -> dict[str, str]:
    request = AWSRequest(
        method="POST",
        url=server.endpoint + "/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "TrentService.ListKeys",
        },
    )
    creds = Credentials(server.access_key, server.secret_key)
    SigV4Auth(creds, "kms", server.region).add_auth(request)
    headers = dict(request.headers.items())
    headers["Host"] = server.host_header
    return headers


def measure(server: Server, calls: int) -> list[float]:
    url = urlsplit(server.endpoint)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    body = b'{"Limit": 1}'
    times = []
    try:
        for _ in range(calls):
            headers = _signed(server, body)
            start = time.perf_counter()
            conn.request("POST", "/", body=body, headers=headers)
            reply = conn.getresponse()
            reply.read()
            times.append((time.perf_counter() - start) * 1000)
            if reply.status != 200:
                raise RuntimeError(f"signed call failed: {reply.status}")
    finally:
        conn.close()
    return times


def _flood(address: tuple[str, int], kind: str, stop_at: float, count: Any) -> None:
    os.nice(NICE)  # the flooders share this machine's cores: keep them from starving the server
    if kind == "huge":
        payload = b"POST / HTTP/1.1\r\nHost: t\r\nUser-Agent: " + b"A" * (4 * MIB) + b"\r\n\r\n"
    else:
        big = "Q" * (15 * 1024)
        payload = (
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
            f"User-Agent: {big}\r\nX-Amz-Target: TrentService.{big}\r\n"
            f"Authorization: AWS4-HMAC-SHA256 Credential=AKIA{big}/20260101/us-east-1/kms/"
            "aws4_request, SignedHeaders=host, Signature=00\r\n"
            "X-Amz-Date: 20260101T000000Z\r\n\r\n{}"
        ).encode()
    while time.monotonic() < stop_at:
        try:
            with socket.create_connection(address, timeout=5) as sock:
                sock.sendall(payload)
                while sock.recv(65536):
                    if kind == "max":
                        break
        except OSError:
            pass
        with count.get_lock():
            count.value += 1


def audit_bytes(server: Server) -> int:
    if server.data_dir is None:
        return 0
    return sum(p.stat().st_size for p in (server.data_dir / "audit").glob("*") if p.is_file())


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {statistics.median(ordered):6.2f} ms  p95 {p95:6.2f} ms  (n={len(ordered)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--flood", choices=["huge", "max", "both"], default="both")
    args = parser.parse_args()
    kinds = ["huge", "max"] if args.flood == "both" else [args.flood]
    with tempfile.TemporaryDirectory() as tmp:
        command = f"{sys.executable} -m trent serve"
        with run_trent(Path(tmp), command, workers=2) as server:
            url = urlsplit(server.endpoint)
            address = (url.hostname or "127.0.0.1", url.port or 80)
            measure(server, 50)  # warm up
            for kind in kinds:
                alone = measure(server, args.calls)
                print(f"alone           {summary(alone)}")
                before, rss_before = audit_bytes(server), tree_rss_bytes(server.pid)
                cpu_before = tree_cpu_seconds(server.pid)
                start = time.monotonic()
                stop_at = start + 3600
                context = multiprocessing.get_context("fork")
                count = context.Value("q", 0)
                flooders = [
                    context.Process(
                        target=_flood, args=(address, kind, stop_at, count), daemon=True
                    )
                    for _ in range(FLOODERS)
                ]
                for proc in flooders:
                    proc.start()
                time.sleep(1.0)
                flooded = measure(server, args.calls)
                rss = tree_rss_bytes(server.pid)
                for proc in flooders:
                    proc.terminate()
                    proc.join()
                elapsed = time.monotonic() - start
                cpu = tree_cpu_seconds(server.pid) - cpu_before
                grown = audit_bytes(server) - before
                print(
                    f"flood {kind:<5}     {summary(flooded)}  ratio "
                    f"{statistics.median(flooded) / statistics.median(alone):.2f}  audit "
                    f"+{grown / 1024:.0f} KiB in {elapsed:.1f} s ({grown / elapsed / 1024:.0f} "
                    f"KiB/s)  server RSS {rss_before / MIB:.0f} -> {rss / MIB:.0f} MiB"
                )
                print(
                    f"                {count.value / elapsed:.0f} flood requests/s, server CPU "
                    f"{cpu / elapsed * 100:.0f}% of one core"
                )


if __name__ == "__main__":
    main()
