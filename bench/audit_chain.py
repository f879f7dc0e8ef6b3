"""Measure the audit chain: the writer's per-record cost and ``trent audit verify``'s speed.

Run by hand (not in CI): ``.venv/bin/python bench/audit_chain.py [--gib 1.0] [--dir DIR]``.

1. Per record: ``link`` (splice ``trentPrevHash`` into the record's bytes) and ``line_hash``
   (SHA-256 of the linked line) on a real Encrypt record's bytes, the work the writer adds under
   its lock, timed over 200,000 records.
2. A generated trail of ``--gib`` GiB (real AuditLog, 1 KiB-ish records, rotation at 256 MiB,
   a checkpoint every 1000 records), then ``verify_trail`` over it, timed.
3. The command itself: the trail moved into a data directory made by ``trent admin
   create-data-dir``, then ``trent audit verify --data-dir DIR --public-key PEM`` (the key that
   signed the generated checkpoints), timed from process start to exit.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trent.audit.chain import GENESIS, Signer, line_hash, link
from trent.audit.log import AuditLog
from trent.audit.verify import verify_trail
from trent.clock import SystemClock

RECORD = {
    "eventVersion": "1.11",
    "userIdentity": {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEEXAMPLE01",
        "arn": "arn:aws:iam::123456789012:user/app",
        "accountId": "123456789012",
        "accessKeyId": "AKIAEXAMPLEEXAMPLE01",
        "userName": "app",
    },
    "eventTime": "2026-11-29T10:00:00Z",
    "eventSource": "kms.amazonaws.com",
    "eventName": "Encrypt",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "127.0.0.1",
    "userAgent": "Boto3/1.44.8 md/Botocore#1.44.8 ua/2.1 os/linux#6.1 lang/python#3.11.7",
    "requestParameters": {
        "keyId": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "encryptionContext": {"tenant": "123", "purpose": "bench"},
    },
    "responseElements": None,
    "additionalEventData": {"keyMaterialId": "a" * 64},
    "requestID": "2d7f8c4e-5a0b-4f3e-9c1d-0e8a7b6c5d4e",
    "eventID": "8e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
    "readOnly": True,
    "resources": [
        {
            "accountId": "123456789012",
            "type": "AWS::KMS::Key",
            "ARN": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        }
    ],
    "eventType": "AwsApiCall",
    "managementEvent": True,
    "recipientAccountId": "123456789012",
    "eventCategory": "Management",
}


def per_record(n: int = 200_000) -> None:
    line = orjson.dumps(RECORD) + b"\n"
    prev = GENESIS
    started = time.perf_counter()
    for _ in range(n):
        linked = link(line, prev)
        prev = line_hash(linked)
    elapsed = time.perf_counter() - started
    print(f"record {len(line)} bytes: link + hash {elapsed / n * 1e6:.2f} µs per record")


def generate(directory: Path, gib: float, key: Ed25519PrivateKey) -> int:
    log = AuditLog(directory, SystemClock(), 256 * 1024 * 1024, Signer(key))
    line = orjson.dumps(RECORD) + b"\n"
    batch = line * 500
    target = int(gib * 1024**3)
    written = 0
    while written < target:
        log.write_sync(batch)
        written += len(batch)
    log.close()
    return written


def command(root: Path, key: Ed25519PrivateKey) -> None:
    """Time ``trent audit verify`` over the generated trail, moved into a real data directory."""
    data = root / "data"
    trent = [sys.executable, "-m", "trent"]
    subprocess.run(
        [*trent, "admin", "create-data-dir", "--data-dir", str(data)],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(data / "audit", ignore_errors=True)
    (root / "audit").rename(data / "audit")
    pem = root / "audit-public.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    started = time.perf_counter()
    done = subprocess.run(
        [*trent, "audit", "verify", "--data-dir", str(data), "--public-key", str(pem)],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()
    print(f"trent audit verify: exit {done.returncode}, {elapsed:.1f} s ({last})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    per_record()
    root = Path(tempfile.mkdtemp(dir=args.dir))
    try:
        started = time.perf_counter()
        key = Ed25519PrivateKey.generate()
        size = generate(root / "audit", args.gib, key)
        print(f"generated {size / 1024**3:.2f} GiB in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        report = verify_trail(root / "audit", key.public_key())
        elapsed = time.perf_counter() - started
        print(
            f"verify: {report.files} files, {report.records} records, "
            f"{report.checkpoints} checkpoints, failure={report.failure}, {elapsed:.1f} s"
        )
        command(root, key)
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
