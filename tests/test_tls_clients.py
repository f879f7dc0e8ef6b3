"""AWS clients over HTTPS with no step beyond what Trent wrote: boto3 and the aws CLI through
the ``trent`` profile of DATA_DIR/config (its ``endpoint_url`` and ``ca_bundle``), Node's AWS
SDK with NODE_EXTRA_CA_CERTS. Each also fails without Trent's CA, so the TLS is verified."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from tests.server import REGION, TrentServer

NODE_DIR = Path(__file__).parent / "node"
AWS = Path(sys.executable).parent / "aws"
# Variables that would point a client at another trust store or another config.
FOREIGN = ("AWS_", "NODE_EXTRA_CA_CERTS", "SSL_CERT_", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    server = TrentServer(tmp_path_factory.mktemp("tls") / "data", workers=1, tls=True).start()
    yield server
    server.stop()


def profile_env(server: TrentServer) -> dict[str, str]:
    """The environment of a user who did what `trent serve` printed, and nothing more."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)}
    return env | {
        "AWS_CONFIG_FILE": str(server.data_dir / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(server.data_dir / "credentials"),
    }


def test_config_names_the_https_endpoint_and_the_ca(https_server: TrentServer) -> None:
    config = (https_server.data_dir / "config").read_text()
    assert f"endpoint_url = https://127.0.0.1:{https_server.port}\n" in config
    assert f"ca_bundle = {https_server.ca_bundle}\n" in config


def test_a_data_dir_served_over_http_moves_to_https(tmp_path: Path) -> None:
    """make-tls-cert on a data dir already served over plain HTTP: the next start serves HTTPS
    and points the profile at it (endpoint_url and ca_bundle), keeping the rest of the file."""
    server = TrentServer(tmp_path / "data", workers=1).start()
    server.stop()
    config = server.data_dir / "config"
    config.write_text(
        config.read_text() + "cli_pager =\n\n# mine\n[profile other]\nregion = eu-west-1\n"
    )
    server.tls = True
    server.start()
    try:
        text = config.read_text()
        assert f"endpoint_url = https://127.0.0.1:{server.port}\n" in text
        assert f"ca_bundle = {server.ca_bundle}\n" in text
        assert "cli_pager =\n\n# mine\n[profile other]\nregion = eu-west-1\n" in text
        assert aws(server, "list-keys")["Keys"] == []
    finally:
        server.stop()


def test_boto3_through_the_trent_profile(
    https_server: TrentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(FOREIGN):
            monkeypatch.delenv(name)
    for name, value in profile_env(https_server).items():
        monkeypatch.setenv(name, value)
    kms = boto3.session.Session(profile_name="trent").client(
        "kms", config=Config(retries={"max_attempts": 1})
    )
    assert kms.meta.endpoint_url == https_server.endpoint
    key = kms.create_key(Description="boto3 over https")["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"secret over TLS")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret over TLS"
    data_key = kms.generate_data_key(KeyId=key, KeySpec="AES_256")
    assert (
        kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"]
        == (data_key["Plaintext"])
    )


def test_boto3_without_the_ca_refuses_the_server(
    https_server: TrentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    kms: Any = https_server.client(verify=True)  # the default trust store: Trent's CA not in it
    with pytest.raises(botocore.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        kms.list_keys()


def aws(server: TrentServer, *args: str, env: dict[str, str] | None = None) -> Any:
    result = subprocess.run(
        [str(AWS), "--profile", "trent", "kms", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env or profile_env(server),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_aws_cli_through_the_trent_profile(https_server: TrentServer, tmp_path: Path) -> None:
    key = aws(https_server, "create-key", "--description", "aws cli over https")
    key_id = key["KeyMetadata"]["KeyId"]
    (tmp_path / "plain.bin").write_bytes(b"secret over TLS from the aws CLI")
    blob = aws(
        https_server, "encrypt", "--key-id", key_id, "--plaintext", f"fileb://{tmp_path}/plain.bin"
    )
    (tmp_path / "blob.bin").write_bytes(base64.b64decode(blob["CiphertextBlob"]))
    plain = aws(https_server, "decrypt", "--ciphertext-blob", f"fileb://{tmp_path}/blob.bin")
    assert base64.b64decode(plain["Plaintext"]) == b"secret over TLS from the aws CLI"
    assert plain["KeyId"].endswith(key_id)


def test_aws_cli_without_the_ca_refuses_the_server(https_server: TrentServer) -> None:
    env = profile_env(https_server)
    config = https_server.data_dir.parent / "config-without-ca"
    config.write_text(
        "".join(
            line
            for line in (https_server.data_dir / "config").read_text().splitlines(keepends=True)
            if not line.startswith("ca_bundle")
        )
    )
    env["AWS_CONFIG_FILE"] = str(config)
    result = subprocess.run(
        [str(AWS), "--profile", "trent", "kms", "list-keys"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr


@pytest.fixture(scope="module")
def node_sdk() -> Path:
    """tests/node with its pinned @aws-sdk/client-kms installed (.ci/run installs it too)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed (apt-get install nodejs npm)"
    # One installer at a time (xdist workers share tests/node; `npm ci` first deletes
    # node_modules), and a marker written only once an install completed.
    marker = NODE_DIR / "node_modules" / ".trent-installed"
    with open(NODE_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=600
            )
            marker.touch()
    return Path(node)


def node_env(server: TrentServer, **extra: str) -> dict[str, str]:
    access_key, secret = server.credentials()
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)}
    return (
        env
        | {
            "TRENT_ENDPOINT": server.endpoint,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret,
        }
        | extra
    )


def test_node_sdk_over_https(https_server: TrentServer, node_sdk: Path) -> None:
    env = node_env(https_server, NODE_EXTRA_CA_CERTS=str(https_server.ca_bundle))
    result = subprocess.run(
        [str(node_sdk), "kms_https.mjs"], cwd=NODE_DIR, capture_output=True, text=True,
        timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["plaintext"] == "secret over TLS from node"
    assert out["decryptKeyId"].endswith(out["keyId"])
    assert (out["dataKeyBytes"], out["dataKeyRoundTrip"]) == (32, True)
    described = https_server.client().describe_key(KeyId=out["keyId"])["KeyMetadata"]
    assert described["Description"] == "node over https"


def test_node_sdk_without_the_ca_refuses_the_server(
    https_server: TrentServer, node_sdk: Path
) -> None:
    result = subprocess.run(
        [str(node_sdk), "kms_https.mjs"], cwd=NODE_DIR, capture_output=True, text=True,
        timeout=120, env=node_env(https_server),
    )  # fmt: skip
    assert result.returncode != 0
    assert "UNABLE_TO_VERIFY_LEAF_SIGNATURE" in result.stderr, result.stderr
