"""The real aws CLI, run as a user types it, with the profile ``trent serve`` wrote.

Only ``AWS_SHARED_CREDENTIALS_FILE``/``AWS_CONFIG_FILE`` and ``--profile trent`` point the CLI at
the server: the config file carries ``endpoint_url`` and ``region``, so no ``--endpoint-url``.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.server import TrentServer, free_port

AWS = Path(sys.executable).parent / "aws"
DAY = 86400.0


class AwsCli:
    def __init__(self, server: TrentServer) -> None:
        self.server = server
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(server.data_dir / "credentials")
        env["AWS_CONFIG_FILE"] = str(server.data_dir / "config")
        env["AWS_PAGER"] = ""
        self.env = env

    def run(self, command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``aws --profile trent kms <command>`` through a shell, as typed."""
        line = f"set -o pipefail; {shlex.quote(str(AWS))} --profile trent kms {command}"
        return subprocess.run(
            ["bash", "-c", line],
            env=self.env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def json(self, command: str, cwd: Path | None = None) -> Any:
        done = self.run(command, cwd)
        assert done.returncode == 0, (command, done.returncode, done.stderr)
        assert "--endpoint-url" not in command
        return json.loads(done.stdout) if done.stdout.strip() else {}

    def fails(self, command: str, error: str, cwd: Path | None = None) -> str:
        done = self.run(command, cwd)
        assert done.returncode in (254, 255), (command, done.returncode, done.stdout)
        assert f"({error})" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        return done.stderr


@pytest.fixture(scope="module")
def aws(server: TrentServer) -> AwsCli:
    assert AWS.exists(), f"the aws CLI is not installed next to {sys.executable}"
    return AwsCli(server)


def epoch(value: float | int | str) -> float:
    """A CLI timestamp (epoch number or ISO 8601, depending on the CLI) as epoch seconds."""
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(value).timestamp()


def test_profile_carries_endpoint_and_region(aws: AwsCli, server: TrentServer, kms: Any) -> None:
    config = (server.data_dir / "config").read_text()
    assert "[profile trent]" in config
    assert f"endpoint_url = {server.endpoint}" in config
    assert "region = us-east-1" in config
    made = kms.create_key(Description="seen by the cli")["KeyMetadata"]
    listed = aws.json("list-keys")
    assert {"KeyId": made["KeyId"], "KeyArn": made["Arn"]} in listed["Keys"]


def test_http_proxy_endpoint_is_a_value_not_a_url_to_fetch(aws: AwsCli) -> None:
    # aws CLI v1 fetches any parameter value starting with http:// (cli_follow_urlparam) and
    # sends the page instead; the README's B-uses-A example gives
    # --xks-proxy-uri-endpoint http://127.0.0.1:8200, so the trent profile turns that off.
    assert "cli_follow_urlparam = false\n" in (aws.server.data_dir / "config").read_text()
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens: Trent itself must say so
    stderr = aws.fails(
        "create-custom-key-store --custom-key-store-name cli-http "
        "--custom-key-store-type EXTERNAL_KEY_STORE --xks-proxy-connectivity PUBLIC_ENDPOINT "
        f"--xks-proxy-uri-endpoint {endpoint} --xks-proxy-uri-path /kms/xks/v1 "
        "--xks-proxy-authentication-credential "
        f"AccessKeyId={'A' * 20},RawSecretAccessKey={'x' * 43}",
        "XksProxyUriUnreachableException",
    )
    assert "Error parsing parameter" not in stderr


def test_create_encrypt_decrypt_and_data_keys(aws: AwsCli, kms: Any, tmp_path: Path) -> None:
    created = aws.json("create-key --description 'made by the aws cli'")["KeyMetadata"]
    key_id = created["KeyId"]
    assert created["KeyState"] == "Enabled"
    assert created["KeySpec"] == "SYMMETRIC_DEFAULT"

    described = aws.json(f"describe-key --key-id {key_id}")["KeyMetadata"]
    assert described["Arn"] == created["Arn"]
    assert described["Description"] == "made by the aws cli"
    assert described["Enabled"] is True

    original = bytes(range(256)) + b"\n trailing newline and NUL \x00\n"
    (tmp_path / "secret.bin").write_bytes(original)
    context = "--encryption-context purpose=cli-test,team=ops"
    encrypted = aws.json(
        f"encrypt --key-id {key_id} --plaintext fileb://secret.bin {context}", tmp_path
    )
    assert encrypted["KeyId"] == created["Arn"]
    blob = base64.b64decode(encrypted["CiphertextBlob"])
    (tmp_path / "secret.enc").write_bytes(blob)

    decrypted = aws.run(
        f"decrypt --ciphertext-blob fileb://secret.enc {context} "
        "--output text --query Plaintext | base64 -d > roundtrip.bin",
        tmp_path,
    )
    assert decrypted.returncode == 0, decrypted.stderr
    assert (tmp_path / "roundtrip.bin").read_bytes() == original
    # The same blob opens through boto3 too, with the same context.
    plain = kms.decrypt(
        CiphertextBlob=blob, EncryptionContext={"purpose": "cli-test", "team": "ops"}
    )
    assert plain["Plaintext"] == original

    stderr = aws.fails(
        "decrypt --ciphertext-blob fileb://secret.enc --encryption-context purpose=other",
        "InvalidCiphertextException",
        tmp_path,
    )
    assert "Decrypt" in stderr

    data_key = aws.json(f"generate-data-key --key-id {key_id} --key-spec AES_256")
    data_plain = base64.b64decode(data_key["Plaintext"])
    assert len(data_plain) == 32
    assert data_key["KeyId"] == created["Arn"]
    opened = kms.decrypt(CiphertextBlob=base64.b64decode(data_key["CiphertextBlob"]))
    assert opened["Plaintext"] == data_plain


def test_aliases(aws: AwsCli, kms: Any, alias_name: str) -> None:
    first = kms.create_key(Description="alias first")["KeyMetadata"]
    second = kms.create_key(Description="alias second")["KeyMetadata"]
    aws.json(f"create-alias --alias-name {alias_name} --target-key-id {first['KeyId']}")
    assert kms.describe_key(KeyId=alias_name)["KeyMetadata"]["KeyId"] == first["KeyId"]

    aws.json(f"update-alias --alias-name {alias_name} --target-key-id {second['Arn']}")
    listed = aws.json("list-aliases")["Aliases"]  # the CLI follows NextMarker by itself
    entries = [a for a in listed if a["AliasName"] == alias_name]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["TargetKeyId"] == second["KeyId"]
    assert entry["AliasArn"].endswith(":" + alias_name)
    assert entry["AliasArn"].startswith("arn:aws:kms:us-east-1:")

    only_first = aws.json(f"list-aliases --key-id {first['KeyId']}")["Aliases"]
    assert alias_name not in [a["AliasName"] for a in only_first]
    out = kms.encrypt(KeyId=alias_name, Plaintext=b"via alias")
    assert out["KeyId"] == second["Arn"]


def test_rotation(aws: AwsCli, kms: Any, key_id: str) -> None:
    before = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    aws.json(f"enable-key-rotation --key-id {key_id} --rotation-period-in-days 180")
    status = aws.json(f"get-key-rotation-status --key-id {key_id}")
    assert status["KeyRotationEnabled"] is True
    assert status["RotationPeriodInDays"] == 180
    assert abs(epoch(status["NextRotationDate"]) - (time.time() + 180 * DAY)) < DAY

    rotated = aws.json(f"rotate-key-on-demand --key-id {key_id}")
    assert rotated["KeyId"].endswith(key_id)
    after = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert after != before

    rotations = aws.json(f"list-key-rotations --key-id {key_id}")["Rotations"]
    assert [r["KeyMaterialId"] for r in rotations] == [after]
    assert rotations[0]["RotationType"] == "ON_DEMAND"
    assert rotations[0]["KeyMaterialState"] == "CURRENT"
    assert abs(epoch(rotations[0]["RotationDate"]) - time.time()) < 300


def test_schedule_and_cancel_deletion(aws: AwsCli, kms: Any, key_id: str) -> None:
    scheduled = aws.json(f"schedule-key-deletion --key-id {key_id} --pending-window-in-days 7")
    assert scheduled["KeyId"].endswith(key_id)
    assert scheduled["KeyState"] == "PendingDeletion"
    assert scheduled["PendingWindowInDays"] == 7
    assert abs(epoch(scheduled["DeletionDate"]) - (time.time() + 7 * DAY)) < DAY
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"

    cancelled = aws.json(f"cancel-key-deletion --key-id {key_id}")
    assert cancelled["KeyId"].endswith(key_id)
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert metadata["KeyState"] == "Disabled"
    assert "DeletionDate" not in metadata


def test_tags(aws: AwsCli, key_id: str) -> None:
    aws.json(
        f"tag-resource --key-id {key_id} "
        "--tags TagKey=team,TagValue=payments TagKey=env,TagValue=prod"
    )
    tags = aws.json(f"list-resource-tags --key-id {key_id}")["Tags"]
    assert sorted((t["TagKey"], t["TagValue"]) for t in tags) == [
        ("env", "prod"),
        ("team", "payments"),
    ]


def test_unknown_alias_is_a_cli_error(aws: AwsCli) -> None:
    stderr = aws.fails("describe-key --key-id alias/no-such-alias-anywhere", "NotFoundException")
    assert "alias/no-such-alias-anywhere" in stderr


def readme_block(marker: str) -> str:
    """The first ```sh block after ``marker`` in the README, as a user would paste it."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    after = text[text.index(marker) :]
    start = after.index("```sh\n") + len("```sh\n")
    return after[start : after.index("```", start)]


def test_readme_quick_start_round_trip(server: TrentServer, tmp_path: Path) -> None:
    """The README's quick start, run as written in a directory laid out as it assumes
    (``trent-data`` and ``.venv/bin`` under the current directory), with no AWS_* set."""
    block = readme_block("<!-- quick start: tests/test_awscli.py runs this block -->")
    assert "fileb://hello.txt" in block and "AWS_PROFILE=trent" in block
    (tmp_path / "trent-data").symlink_to(server.data_dir)
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "bin").symlink_to(AWS.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_PAGER"] = ""
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + block],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello, Trent\n"
    assert (tmp_path / "hello.enc").read_bytes()[:1] == b"\x02"  # Trent ciphertext, version 2


def test_readme_ecdh_example_captures_the_key(server: TrentServer, tmp_path: Path) -> None:
    block = readme_block("ECDH key agreement with a party outside Trent:")
    assert block.startswith("KEY=$(aws kms create-key")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_SHARED_CREDENTIALS_FILE": str(server.data_dir / "credentials"),
        "AWS_CONFIG_FILE": str(server.data_dir / "config"),
        "AWS_PROFILE": "trent",
        "AWS_PAGER": "",
        "PATH": f"{AWS.parent}:{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + block],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "same secret" in done.stdout
