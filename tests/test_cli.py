"""The ``trent`` command line: serve's options and TRENT_* variables, admin create-access-key."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.server import REGION, free_port
from trent.bootstrap import follow_endpoint

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
    assert done.stdout.startswith("[root]\n")
    access_key, secret = read_profile(done.stdout, "root")
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
    # the key authenticates as alice, who has no policy yet (issue 10): refused by name
    with pytest.raises(ClientError) as err:
        kms.list_keys()
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert ":user/alice is not authorized to perform: kms:ListKeys" in str(err.value)


def test_create_access_key_refuses_a_directory_that_is_not_trents(tmp_path: Path) -> None:
    empty = tmp_path / "not-a-data-dir"
    empty.mkdir()
    done = trent("admin", "create-access-key", "--data-dir", str(empty))
    assert done.returncode != 0
    assert "not a Trent data directory" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(empty.iterdir()) == []  # nothing was created there


# --- the aws CLI config follows the port the server serves on ------------------------------------
def start_serve(data_dir: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENT_")}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(TRENT), "serve", "--data-dir", str(data_dir), "--port", str(port),
             "--workers", "1"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, log_path.read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
                if reply.status == 200:
                    return process
        except OSError:
            assert time.monotonic() < deadline, "trent serve did not answer"
            time.sleep(0.1)


def stop_serve(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_config_follows_the_port_trent_serve_serves_on(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first, second = free_port(), free_port()
    made = trent(
        "admin", "create-data-dir", "--data-dir", str(data_dir), "--port", str(first),
        "--host", "localhost",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    config = data_dir / "config"
    assert f"endpoint_url = http://localhost:{first}\n" in config.read_text()

    # The user's own additions: another profile, a comment, a nested services section.
    before = config.read_text()
    mine = (
        "\n# my own profile\n[profile other]\nregion = eu-west-1\n"
        "endpoint_url = http://elsewhere:1\n"
    )
    trent_section = before.replace("output = json\n", "output = json\ncli_pager =\n")
    config.write_text(trent_section + mine)

    process = start_serve(data_dir, second, tmp_path / "serve.log")
    try:
        after = config.read_text()
        expected = (trent_section + mine).replace(
            f"endpoint_url = http://localhost:{first}\n",
            f"endpoint_url = http://127.0.0.1:{second}\n",
        )
        assert after == expected  # only trent's endpoint_url changed, byte for byte
        assert oct(config.stat().st_mode & 0o777) == "0o600"

        printed = (tmp_path / "serve.log").read_text()
        assert f"Trent on http://127.0.0.1:{second} (account " in printed
        for line in (
            f"export AWS_SHARED_CREDENTIALS_FILE={data_dir / 'credentials'}",
            f"export AWS_CONFIG_FILE={config}",
            "export AWS_PROFILE=trent",
        ):
            assert line in printed.splitlines(), printed

        # What the banner says is enough: the aws CLI and boto3 with those three variables.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env |= {
            "AWS_SHARED_CREDENTIALS_FILE": str(data_dir / "credentials"),
            "AWS_CONFIG_FILE": str(config),
            "AWS_PROFILE": "trent",
        }
        aws = Path(sys.executable).parent / "aws"
        listed = subprocess.run(
            [str(aws), "kms", "list-keys"], env=env, capture_output=True, text=True, timeout=60
        )
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout)["Keys"] == []
        done = subprocess.run(
            [sys.executable, "-c", "import boto3; print(boto3.client('kms').list_keys()['Keys'])"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]"
    finally:
        stop_serve(process)


def test_follow_endpoint_adds_a_missing_profile_and_keeps_the_rest(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("[default]\nregion = eu-west-1\n")
    assert follow_endpoint(config, "us-east-1", "http://127.0.0.1:9999")
    assert config.read_text() == (
        "[default]\nregion = eu-west-1\n\n[profile trent]\nregion = us-east-1\n"
        "endpoint_url = http://127.0.0.1:9999\noutput = json\ncli_follow_urlparam = false\n"
    )
    assert not follow_endpoint(config, "us-east-1", "http://127.0.0.1:9999")  # nothing to do

    config.write_text("[profile trent]\nregion = us-east-1\n[default]\nendpoint_url = x\n")
    assert follow_endpoint(config, "us-east-1", "http://h:1")
    assert config.read_text() == (
        "[profile trent]\nendpoint_url = http://h:1\nregion = us-east-1\n"
        "[default]\nendpoint_url = x\n"
    )


TRENT_SERVE = (sys.executable, "-m", "trent", "serve")


def test_serve_refuses_a_taken_port_before_writing_anything(tmp_path: Path) -> None:
    """A port another server holds: one line, a non-zero exit, and no data directory (so no aws
    CLI config pointing at a port this server never served)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        data_dir = tmp_path / "data"
        result = subprocess.run(
            [*TRENT_SERVE, "--data-dir", str(data_dir), "--port", str(port), "--workers", "1"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert not data_dir.exists()


def test_serve_refuses_a_corrupt_database_with_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    subprocess.run(
        [str(TRENT), "admin", "create-data-dir", "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (data_dir / "trent.db").write_bytes(os.urandom(8192))
    result = subprocess.run(
        [*TRENT_SERVE, "--data-dir", str(data_dir), "--port", str(free_port()), "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"cannot open {data_dir / 'trent.db'}: file is not a database" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def _serve_in(data_dir: Path, temp: Path) -> subprocess.Popen[bytes]:
    """``trent serve`` on a free port with ``TMPDIR=temp``, in its own process group."""
    return subprocess.Popen(
        [*TRENT_SERVE, "--data-dir", str(data_dir), "--port", str(free_port())],
        env={**os.environ, "TMPDIR": str(temp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)


def test_serve_removes_metrics_directories_a_killed_serve_left(tmp_path: Path) -> None:
    """``kill -9`` of serve leaves its metrics directory; the next start removes it (and only
    those whose serve is gone)."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    server = _serve_in(tmp_path / "a", temp)
    try:
        _until(lambda: bool(list(temp.glob("trent-metrics-*"))))
        left = list(temp.glob("trent-metrics-*"))
        assert len(left) == 1 and left[0].name.startswith(f"trent-metrics-{server.pid}-")
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    assert left[0].exists()  # nobody removed it
    alive = temp / f"trent-metrics-{os.getpid()}-mine"  # a running serve's: kept
    alive.mkdir()
    second = _serve_in(tmp_path / "b", temp)
    try:
        _until(lambda: not left[0].exists())
        assert not left[0].exists()
        assert alive.exists()
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)


def test_a_stale_metrics_directory_removed_by_another_start_meanwhile_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ``serve`` starting at once both find a dead serve's metrics directory; the one that
    finds it gone when it looks at its owner goes on starting (it used to exit with a
    traceback: FileNotFoundError)."""
    from trent import cli

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"trent-metrics-{dead.pid}-gone"
    stale.mkdir()
    real_stat = Path.stat

    def stat_after_removal(self: Path, **kwargs: Any) -> os.stat_result:
        if self == stale:  # the other start removed it between the listing and this look
            shutil.rmtree(self)
        return real_stat(self, **kwargs)

    monkeypatch.setattr(Path, "stat", stat_after_removal)
    fresh = cli._fresh_metrics_dir()
    assert fresh.parent == tmp_path and fresh.name.startswith(f"trent-metrics-{os.getpid()}-")
    assert not stale.exists()
