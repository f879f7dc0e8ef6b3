"""The ``trent`` command line: serve's options and TRENT_* variables, admin create-access-key."""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.server import REGION, free_port

TRENT = Path(sys.executable).parent / "trent"


def trent(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TRENT), *args], capture_output=True, text=True, timeout=60, env=env)


def client(endpoint: str, access_key: str, secret: str) -> Any:
    return boto3.session.Session().client(
        "kms",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


@dataclass
class EnvServer:
    data_dir: Path
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def env_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnvServer]:
    """``trent serve`` configured by TRENT_* variables alone: no flags at all."""
    assert TRENT.exists(), f"the trent script is not installed next to {sys.executable}"
    data_dir = tmp_path_factory.mktemp("cli") / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENT_")}
    env |= {
        "TRENT_DATA_DIR": str(data_dir),
        "TRENT_PORT": str(port),
        "TRENT_WORKERS": "1",
        "TRENT_REGION": REGION,
        "TRENT_ACCOUNT_ID": "123456789012",
    }
    log = open(data_dir.parent / "serve.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [str(TRENT), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    served = EnvServer(data_dir, port)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (data_dir.parent / "serve.log").read_text()
            try:
                with urllib.request.urlopen(served.endpoint + "/healthz", timeout=1) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                assert time.monotonic() < deadline, "trent serve did not answer on TRENT_PORT"
                time.sleep(0.1)
        yield served
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def read_profile(text: str, section: str) -> tuple[str, str]:
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return parser[section]["aws_access_key_id"], parser[section]["aws_secret_access_key"]


def test_serve_help_lists_the_options() -> None:
    done = trent("serve", "--help")
    assert done.returncode == 0, done.stderr
    for option in ("--data-dir", "--host", "--port", "--workers", "--region"):
        assert option in done.stdout, option


def test_trent_env_vars_are_honoured(env_server: EnvServer) -> None:
    config = (env_server.data_dir / "config").read_text()
    assert f"endpoint_url = {env_server.endpoint}" in config
    assert f"region = {REGION}" in config
    access_key, secret = read_profile((env_server.data_dir / "credentials").read_text(), "trent")
    kms = client(env_server.endpoint, access_key, secret)
    metadata = kms.create_key(Description="env configured")["KeyMetadata"]
    assert metadata["AWSAccountId"] == "123456789012"
    assert metadata["Arn"].startswith(f"arn:aws:kms:{REGION}:123456789012:key/")


def test_create_access_key_works_on_the_running_server(env_server: EnvServer) -> None:
    done = trent("admin", "create-access-key", "--data-dir", str(env_server.data_dir))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("[admin]\n")
    access_key, secret = read_profile(done.stdout, "admin")
    assert access_key.startswith("AKIA") and len(access_key) == 20
    assert len(secret) == 40
    admin_key, _ = read_profile((env_server.data_dir / "credentials").read_text(), "trent")
    assert access_key != admin_key

    kms = client(env_server.endpoint, access_key, secret)  # at once, no restart
    key_id = kms.create_key(Description="made with a new access key")["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"new key works")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"new key works"

    wrong = client(
        env_server.endpoint, access_key, secret[:-1] + ("A" if secret[-1] != "A" else "B")
    )
    with pytest.raises(ClientError) as err:
        wrong.list_keys()
    assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_create_access_key_with_user_name(env_server: EnvServer) -> None:
    done = trent(
        "admin", "create-access-key", "--data-dir", str(env_server.data_dir), "--user", "alice"
    )
    assert done.returncode == 0, done.stderr
    access_key, secret = read_profile(done.stdout, "alice")
    kms = client(env_server.endpoint, access_key, secret)
    assert "Keys" in kms.list_keys()


def test_create_access_key_refuses_a_directory_that_is_not_trents(tmp_path: Path) -> None:
    empty = tmp_path / "not-a-data-dir"
    empty.mkdir()
    done = trent("admin", "create-access-key", "--data-dir", str(empty))
    assert done.returncode != 0
    assert "not a Trent data directory" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(empty.iterdir()) == []  # nothing was created there
