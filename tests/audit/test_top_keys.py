"""``trent audit top-keys``: the keys with most cryptographic requests in a known audit trail."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

TRENT = Path(sys.executable).parent / "trent"
ARN = "arn:aws:kms:us-east-1:111122223333:key/"
A, B, C, D = (ARN + name for name in ("aaaa", "bbbb", "cccc", "dddd"))


def iso(seconds_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds_ago))


def record(name: str, keys: list[str], seconds_ago: float, **extra: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.11",
        "eventTime": iso(seconds_ago),
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "resources": [
            {"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": k} for k in keys
        ],
        "eventType": "AwsApiCall",
        **extra,
    }


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    """A data directory whose audit trail spans a rotated file and the current one."""
    audit = tmp_path / "data" / "audit"
    audit.mkdir(parents=True)
    older = [record("Encrypt", [C], 5 * 3600) for _ in range(10)]  # C: 10, five hours ago
    older += [record("Encrypt", [A], 3600) for _ in range(3)]
    current = [record("Encrypt", [A], 600) for _ in range(2)]
    current += [record("Decrypt", [A], 300), record("Decrypt", [A], 200, errorCode="X")]
    current += [record("Sign", [B], 100) for _ in range(3)]
    current.append(record("ReEncrypt", [A, B], 50))  # counts for both keys
    current += [record("CreateKey", [D], 40), record("DescribeKey", [D], 30)]  # not crypto
    current.append(record("RotateKey", [D], 20, eventType="AwsServiceEvent"))
    current.append(record("GenerateRandom", [], 10))
    write(audit / "audit-20260101T000000Z-1.log", older)
    write(audit / "audit.log", current)
    return tmp_path / "data"


def write(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"torn": \n')


def top_keys(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(TRENT), "audit", "top-keys", "--data-dir", str(data_dir), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines()]


def test_top_keys_in_the_last_three_hours(trail: Path) -> None:
    done = top_keys(trail, "--since", "3h", "-n", "20")
    assert done.returncode == 0, done.stderr
    header, first, second = rows(done.stdout)
    assert header == ["#", "REQUESTS", "FAILED", "LAST", "USED", "KEY", "OPERATIONS"]
    # A: 3 + 2 Encrypt, 2 Decrypt (one failed), 1 ReEncrypt; B: 3 Sign, 1 ReEncrypt.
    assert first[:3] == ["1", "8", "1"] and first[4] == A
    assert " ".join(first[5:]) == "Encrypt 5, Decrypt 2, ReEncrypt 1"
    assert iso(60) <= first[3] <= iso(40)  # the ReEncrypt, 50 s ago: its latest use
    assert second[:3] == ["2", "4", "0"] and second[4] == B
    assert " ".join(second[5:]) == "Sign 3, ReEncrypt 1"


def test_a_longer_window_and_a_limit(trail: Path) -> None:
    done = top_keys(trail, "--since", "6h", "-n", "1")
    assert done.returncode == 0, done.stderr
    _, only = rows(done.stdout)
    assert only[:3] == ["1", "10", "0"] and only[4] == C


def test_nothing_in_the_window(trail: Path) -> None:
    done = top_keys(trail, "--since", "5s")
    assert done.returncode == 0
    assert done.stdout == "no cryptographic requests since 5s\n"


def test_a_bad_since_is_refused(trail: Path) -> None:
    done = top_keys(trail, "--since", "yesterday")
    assert done.returncode == 2
    assert "Invalid value for --since: not a time: 'yesterday'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_directory_without_a_trail_is_refused(tmp_path: Path) -> None:
    done = top_keys(tmp_path / "nothing")
    assert done.returncode == 1
    assert "has no audit trail" in done.stderr and "Traceback" not in done.stderr


def test_several_nodes_add_up(tmp_path: Path) -> None:
    """The nodes of one PostgreSQL database each keep their own trail: `--data-dir` repeated
    counts them all (as `trent audit query` merges them), not only the last one given."""
    node_a, node_b = tmp_path / "a", tmp_path / "b"
    for node in (node_a, node_b):
        (node / "audit").mkdir(parents=True)
    write(node_a / "audit" / "audit.log", [record("Encrypt", [A], 60) for _ in range(2)])
    write(node_b / "audit" / "audit.log", [record("Decrypt", [A], 30), record("Sign", [B], 20)])
    command = [str(TRENT), "audit", "top-keys", "--data-dir", str(node_a)]
    done = subprocess.run(
        [*command, "--data-dir", str(node_b)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    _, first, second = rows(done.stdout)
    assert first[:3] == ["1", "3", "0"] and first[4] == A
    assert " ".join(first[5:]) == "Encrypt 2, Decrypt 1"
    assert iso(40) <= first[3] <= iso(20)  # the Decrypt on node b, 30 s ago
    assert second[:3] == ["2", "1", "0"] and second[4] == B
