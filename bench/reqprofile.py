#!/usr/bin/env python3
"""In-process profile of Trent's request path: CPU per request, cProfile, callgrind.

Builds the real app (``trent.app.build_app``) on a fresh data directory, creates one symmetric
key through it, then drives ``TrentApp.__call__`` directly (no sockets, no uvicorn) with
SigV4-signed requests, ``--concurrency`` at a time on one event loop, so the audit log's group
commit and the store lock behave as under load. Everything a request does in a worker runs:
SigV4, validation, the operation, the audit record with its fsync, the reply.

Modes::

    python bench/reqprofile.py                      # CPU µs per request (process time), each op
    python bench/reqprofile.py --cprofile Encrypt   # cProfile of that op, top functions
    python bench/reqprofile.py --ops Encrypt --requests 300   # under valgrind, see below

Instruction counts (repeatable on a busy machine): run twice under callgrind with two request
counts and divide the difference of the totals by the difference of the counts, which cancels
start-up::

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p python bench/reqprofile.py \\
        --ops Encrypt --requests 200 --warmup 50
"""

from __future__ import annotations

import argparse
import asyncio
import configparser
import cProfile
import gc
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

OPS = ("Encrypt", "Decrypt", "GenerateDataKey", "GenerateRandom")
PLAINTEXT_B64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7"
HOST = "127.0.0.1:4599"


class Driver:
    def __init__(self, data_dir: Path) -> None:
        from trent.app import build_app
        from trent.bootstrap import initialize
        from trent.clock import SystemClock
        from trent.config import Settings

        settings = Settings(data_dir=data_dir, port=4599)
        initialize(settings, SystemClock())
        self.app = build_app(settings)
        parser = configparser.ConfigParser()
        parser.read(data_dir / "credentials")
        self.access_key = parser["trent"]["aws_access_key_id"]
        self.secret_key = parser["trent"]["aws_secret_access_key"]
        self.region = self.app.env.region

    def scope(self, op: str, body: bytes) -> dict[str, Any]:
        request = AWSRequest(
            method="POST",
            url=f"http://{HOST}/",
            data=body,
            headers={
                "Host": HOST,
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": f"TrentService.{op}",
                "User-Agent": "Boto3/1.40 md/Botocore#1.40 ua/2.1 os/linux lang/python#3.11",
            },
        )
        SigV4Auth(Credentials(self.access_key, self.secret_key), "kms", self.region).add_auth(
            request
        )
        headers = [(k.lower().encode(), str(v).encode()) for k, v in request.headers.items()]
        headers.append((b"content-length", str(len(body)).encode()))
        return {
            "type": "http",
            "method": "POST",
            "path": "/",
            "raw_path": b"/",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
        }

    async def call(self, scope: dict[str, Any], body: bytes) -> tuple[int, bytes]:
        sent: list[Any] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Any) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        return sent[0]["status"], sent[1]["body"]

    async def run(self, op: str, body: bytes, requests: int, concurrency: int) -> None:
        scope = self.scope(op, body)
        remaining = [requests]

        async def worker() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                status, reply = await self.call(scope, body)
                if status != 200:
                    raise RuntimeError(f"{op}: {status} {reply[:300]!r}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def prepare(driver: Driver) -> dict[str, bytes]:
    body = orjson.dumps({"KeySpec": "SYMMETRIC_DEFAULT"})
    status, reply = await driver.call(driver.scope("CreateKey", body), body)
    assert status == 200, reply
    key_id = orjson.loads(reply)["KeyMetadata"]["KeyId"]
    enc = orjson.dumps({"KeyId": key_id, "Plaintext": PLAINTEXT_B64})
    status, reply = await driver.call(driver.scope("Encrypt", enc), enc)
    assert status == 200, reply
    blob = orjson.loads(reply)["CiphertextBlob"]
    return {
        "Encrypt": enc,
        "Decrypt": orjson.dumps({"CiphertextBlob": blob}),
        "GenerateDataKey": orjson.dumps({"KeyId": key_id, "KeySpec": "AES_256"}),
        "GenerateRandom": orjson.dumps({"NumberOfBytes": 32}),
    }


async def main_async(args: argparse.Namespace, data_dir: Path) -> None:
    driver = Driver(data_dir)
    bodies = await prepare(driver)
    for op in args.ops:
        await driver.run(op, bodies[op], args.warmup, args.concurrency)
        gc.collect()
        if args.cprofile:
            profiler = cProfile.Profile()
            profiler.enable()
        started, cpu_started = time.perf_counter(), time.process_time()
        await driver.run(op, bodies[op], args.requests, args.concurrency)
        cpu = time.process_time() - cpu_started
        wall = time.perf_counter() - started
        if args.cprofile:
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out).sort_stats(args.sort)
            stats.print_stats(args.top)
            print(out.getvalue())
        print(
            f"{op:16s} {cpu / args.requests * 1e6:8.1f} µs CPU/request"
            f"  {args.requests / wall:8.0f} req/s wall ({args.requests} requests,"
            f" {args.concurrency} at a time)",
            flush=True,
        )
    driver.app.audit.close()  # type: ignore[union-attr]
    driver.app.env.store.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    args.ops = [op for op in args.ops.split(",") if op]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with tempfile.TemporaryDirectory(prefix="trent-profile-") as tmp:
        asyncio.run(main_async(args, Path(tmp) / "data"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
