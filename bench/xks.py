"""XKS proxy Encrypt latency under load: p50/p99 against the spec's 250 ms budget.

Starts ``trent serve`` (bench/servers.py: a temporary data dir on 127.0.0.1, its own process
group, killed at exit), creates a symmetric key through boto3 and an XKS credential with
``trent admin create-xks-credential``, then runs ``--concurrency`` client threads for
``--seconds``, each sending XKS Encrypt requests (by default of 32 bytes, a data key, as
AWS KMS's GenerateDataKey sends; with AAD and a ciphertextDataIntegrityValue) over one
keep-alive connection. Requests are signed once per thread with botocore's SigV4Auth for
``kms-xks-proxy`` (``host;x-amz-date``, as AWS KMS signs) and replayed, so the client spends
its CPU on HTTP, not on signing. Every reply is checked for status 200.

Usage: ``.venv/bin/python bench/xks.py [--seconds 10] [--concurrency 8] [--workers 2]``.
The figures depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from kms import kms_client
from servers import run_trent


class KmsStyleAuth(SigV4Auth):
    def headers_to_sign(self, request: AWSRequest):  # type: ignore[no-untyped-def]
        every = super().headers_to_sign(request)
        for name in list(every.keys()):
            if name not in ("host", "x-amz-date"):
                del every[name]
        return every


def signed_encrypt(
    url: str, access_key_id: str, secret: str, plaintext: bytes
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "requestMetadata": {
                "awsPrincipalArn": "arn:aws:iam::123456789012:user/bench",
                "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/bench",
                "kmsOperation": "GenerateDataKey",
                "kmsRequestId": str(uuid.uuid4()),
            },
            "plaintext": base64.b64encode(plaintext).decode(),
            "additionalAuthenticatedData": base64.b64encode(b"bench aad").decode(),
            "encryptionAlgorithm": "AES_GCM",
            "ciphertextDataIntegrityValueAlgorithm": "SHA_256",
        }
    ).encode()
    request = AWSRequest(
        method="POST", url=url, data=body, headers={"Content-Type": "application/json"}
    )
    KmsStyleAuth(Credentials(access_key_id, secret), "kms-xks-proxy", "us-east-1").add_auth(request)
    return body, dict(request.headers.items())


def worker(
    url: str, body: bytes, headers: dict[str, str], stop: float, out: list[float], errors: list[int]
) -> None:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        while time.monotonic() < stop:
            start = time.perf_counter()
            connection.request("POST", parts.path, body, headers=headers)
            response = connection.getresponse()
            response.read()
            out.append(time.perf_counter() - start)
            if response.status != 200:
                errors.append(response.status)
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--plaintext-bytes", type=int, default=32)
    args = parser.parse_args()
    trent_cmd = f"{sys.executable} -m trent serve"
    with (
        tempfile.TemporaryDirectory(prefix="trent-xks-bench-") as tmp,
        run_trent(Path(tmp), trent_cmd, args.workers) as server,
    ):
        kms = kms_client(server)
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        made = subprocess.run(
            [
                sys.executable,
                "-m",
                "trent",
                "admin",
                "create-xks-credential",
                "--data-dir",
                str(server.data_dir),
                "--key-id",
                key_id,
                "--path-prefix",
                "/bench",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        credential = json.loads(made.stdout)
        url = f"{server.endpoint}{credential['XksProxyUriPath']}/keys/{key_id}/encrypt"
        latencies: list[list[float]] = [[] for _ in range(args.concurrency)]
        errors: list[int] = []
        # warm-up: one request per thread's connection shape
        body, headers = signed_encrypt(
            url,
            credential["AccessKeyId"],
            credential["RawSecretAccessKey"],
            os.urandom(args.plaintext_bytes),
        )
        worker(url, body, headers, time.monotonic() + 1.0, [], errors)
        stop = time.monotonic() + args.seconds
        threads = []
        for out in latencies:
            body, headers = signed_encrypt(
                url,
                credential["AccessKeyId"],
                credential["RawSecretAccessKey"],
                os.urandom(args.plaintext_bytes),
            )
            thread = threading.Thread(target=worker, args=(url, body, headers, stop, out, errors))
            threads.append(thread)
            thread.start()
        for thread in threads:
            thread.join()
        every = sorted(x for out in latencies for x in out)
        if not every:
            raise SystemExit("no request completed")
        quantiles = statistics.quantiles(every, n=100)
        print(
            f"XKS Encrypt, {args.plaintext_bytes}-byte plaintext, {args.concurrency} "
            f"connections, {args.workers} workers, {args.seconds:.0f} s"
        )
        print(f"requests: {len(every)} ({len(every) / args.seconds:.0f}/s), non-200: {len(errors)}")
        print(
            f"p50 {quantiles[49] * 1000:.1f} ms   p99 {quantiles[98] * 1000:.1f} ms   "
            f"max {every[-1] * 1000:.1f} ms   (spec budget: 250 ms)"
        )


if __name__ == "__main__":
    main()
