"""Helpers for the pki tests: run ``trent pki``/``trent jwt`` as a user types them, build a
root → subordinate → code-signing hierarchy whose keys are created in Trent with boto3."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.server import REGION, TrentServer


@dataclass
class Cli:
    server: TrentServer
    cwd: Path

    @property
    def env(self) -> dict[str, str]:
        access_key, secret = self.server.credentials()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID=access_key,
            AWS_SECRET_ACCESS_KEY=secret,
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE=str(self.cwd / "no-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(self.cwd / "no-credentials"),
        )
        return env

    def run(self, *args: str, endpoint: bool = True) -> subprocess.CompletedProcess[bytes]:
        line = [sys.executable, "-m", "trent", *args]
        if endpoint:
            line += ["--endpoint-url", self.server.endpoint]
        return subprocess.run(line, env=self.env, cwd=self.cwd, capture_output=True, timeout=120)

    def ok(self, *args: str, endpoint: bool = True) -> bytes:
        done = self.run(*args, endpoint=endpoint)
        assert done.returncode == 0, (args, done.stderr.decode())
        return done.stdout

    def fails(self, *args: str, endpoint: bool = True) -> str:
        """The one-line reason of a command that must fail (exit 1, no traceback)."""
        done = self.run(*args, endpoint=endpoint)
        stderr = done.stderr.decode()
        assert done.returncode != 0, (args, done.stdout)
        assert "Traceback" not in stderr, stderr
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1, stderr
        return lines[0]


def openssl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@dataclass
class Hierarchy:
    """Key ids and PEM files (in ``cli.cwd``) of root.pem → sub.pem → leaf.pem."""

    cli: Cli
    keys: dict[str, str]
    spec: str

    @property
    def dir(self) -> Path:
        return self.cli.cwd


def signing_key(kms: Any, spec: str) -> str:
    reply = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY", Description=f"pki test {spec}")
    return str(reply["KeyMetadata"]["KeyId"])


def build_hierarchy(kms: Any, cli: Cli, spec: str, *algorithm: str) -> Hierarchy:
    """Root CA (self-signed), subordinate CA (from its CSR) and code-signing certificate."""
    keys = {name: signing_key(kms, spec) for name in ("root", "sub", "leaf")}
    cli.ok(
        "pki", "cert", "--ca-key-id", keys["root"], "--self-signed", "--subject",
        "CN=Example Root CA,O=Example", "--template", "root", "--days", "3650",
        "--out", "root.pem", *algorithm,
    )  # fmt: skip
    cli.ok(
        "pki", "csr", "--key-id", keys["sub"], "--subject", "CN=Example Code Signing CA,O=Example",
        "--out", "sub.csr", *algorithm,
    )  # fmt: skip
    cli.ok(
        "pki", "cert", "--ca-key-id", keys["root"], "--ca-cert", "root.pem", "--csr", "sub.csr",
        "--template", "subordinate", "--days", "1825", "--out", "sub.pem", *algorithm,
    )  # fmt: skip
    cli.ok(
        "pki", "csr", "--key-id", keys["leaf"], "--subject", "CN=Example Build,O=Example",
        "--out", "leaf.csr", *algorithm,
    )  # fmt: skip
    cli.ok(
        "pki", "cert", "--ca-key-id", keys["sub"], "--ca-cert", "sub.pem", "--csr", "leaf.csr",
        "--template", "code-signing", "--days", "365", "--out", "leaf.pem", *algorithm,
    )  # fmt: skip
    return Hierarchy(cli, keys, spec)
