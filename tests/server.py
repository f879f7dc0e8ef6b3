"""Start and stop a real ``trent serve`` process for tests."""

from __future__ import annotations

import configparser
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

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
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> TrentServer:
        args = [sys.executable, "-m", "trent", "serve", "--data-dir", str(self.data_dir)]
        args += ["--port", str(self.port), "--workers", str(self.workers), "--region", REGION]
        log = open(self.data_dir.parent / f"server-{self.port}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            args + self.extra_args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"trent serve exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.endpoint + "/healthz", timeout=1) as reply:
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
        options.update(overrides)
        return boto3.session.Session().client(service, **options)
