"""Start and stop a real ``trent serve`` process for tests."""

from __future__ import annotations

import configparser
import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from trent.audit.reader import read_records
from trent.clock import advance
from trent.store import SQLiteStore
from trent.store.postgres import PostgresStore

REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class TrentServer:
    data_dir: Path
    workers: int = 2
    port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    test_clock: bool = False
    scheduler_interval: float = 0.2
    tls: bool = False  # serve HTTPS with a certificate from `trent admin make-tls-cert`
    process: subprocess.Popen[bytes] | None = None
    database_url: str | None = None  # PostgreSQL (several nodes); None: SQLite in data_dir
    root_key_file: Path | None = None  # the root key every node of one database shares
    env: dict[str, str] = field(default_factory=dict)  # added to the server's environment

    def _storage_args(self) -> list[str]:
        args = []
        if self.database_url:
            args += ["--database-url", self.database_url]
        if self.root_key_file:
            args += ["--root-key-file", str(self.root_key_file)]
        return args

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ca_bundle(self) -> Path:
        """The private CA that make-tls-cert wrote (tls=True servers only)."""
        return self.data_dir / "tls" / "ca.pem"

    def ssl_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=self.ca_bundle) if self.tls else None

    def start(self, timeout: float = 30.0) -> TrentServer:
        if self.test_clock and not self.data_dir.exists():
            create = [sys.executable, "-m", "trent", "admin", "create-data-dir", "--for-tests"]
            create += self._storage_args()
            subprocess.run([*create, "--data-dir", str(self.data_dir)], check=True)
        if self.tls and not self.ca_bundle.exists():
            make = [sys.executable, "-m", "trent", "admin", "make-tls-cert"]
            make += ["--data-dir", str(self.data_dir), "--name", "127.0.0.1"]
            subprocess.run(make, check=True, capture_output=True)
        args = [sys.executable, "-m", "trent", "serve", "--data-dir", str(self.data_dir)]
        args += ["--port", str(self.port), "--workers", str(self.workers), "--region", REGION]
        args += ["--scheduler-interval", str(self.scheduler_interval)]
        args += self._storage_args()
        if self.test_clock:
            args.append("--test-clock")
        with open(self.data_dir.parent / f"server-{self.port}.log", "ab") as log:
            self.process = subprocess.Popen(
                args + self.extra_args,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **self.env},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"trent serve exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(
                    self.endpoint + "/healthz", timeout=1, context=self.ssl_context()
                ) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("trent serve did not become ready")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process is None:
            return 0
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            code = self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait()
        self.process = None
        return code

    def advance_clock(self, days: float = 0.0, seconds: float = 0.0) -> None:
        """Move the server's test clock forward (test_clock=True servers only)."""
        store = (
            PostgresStore(self.database_url)
            if self.database_url
            else SQLiteStore(self.data_dir / "trent.db")
        )
        try:
            advance(store, days * 86400 + seconds)
        finally:
            store.close()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Poll ``predicate`` until true (for the scheduler's background work)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached in time")
            time.sleep(0.05)

    def audit_records(self) -> list[dict[str, Any]]:
        return list(read_records(self.data_dir / "audit"))

    def credentials(self) -> tuple[str, str]:
        parser = configparser.ConfigParser()
        parser.read(self.data_dir / "credentials")
        section = parser["trent"]
        return section["aws_access_key_id"], section["aws_secret_access_key"]

    def client(self, service: str = "kms", **overrides: Any) -> Any:
        access_key, secret = self.credentials()
        options: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "region_name": REGION,
            "aws_access_key_id": access_key,
            "aws_secret_access_key": secret,
            "config": Config(retries={"max_attempts": 1, "mode": "standard"}),
        }
        if self.tls:
            options["verify"] = str(self.ca_bundle)
        options.update(overrides)
        return boto3.session.Session().client(service, **options)
