"""XKS proxy Encrypt latency under load: p50/p99 against the spec's 250 ms budget.

Starts ``trent serve`` (bench/servers.py: a temporary data dir on 127.0.0.1, its own process
group, killed at exit), creates a symmetric key through boto3 and an XKS credential with
``trent admin create-xks-credential``, then runs ``--concurrency`` client threads for
``--seconds``, each sending XKS Encrypt requests (by default of 32 bytes, a data key, as
AWS KMS's GenerateDataKey sends; with AAD and a ciphertextDataIntegrityValue) over one
keep-alive connection. Requests are signed once per thread with botocore's SigV4Auth for
``kms-xks-proxy`` (``host;x-amz-date``, as AWS KMS signs) and replayed, so the client spends
its CPU on HTTP, not on signing. Every reply is checked for status 200.

With ``--double`` it measures double encryption instead: two ``trent serve`` processes, Trent A
the proxy and Trent B with an external key store pointing at A (``http://127.0.0.1``), and a KMS
key of that store; each client thread (its own boto3 client) calls KMS Encrypt then Decrypt of
what it got on B, each of which makes one XKS call from B to A. Every Decrypt is checked to
return the plaintext. Reported: p50/p99 of Encrypt and of Decrypt as the KMS client sees them.

Usage: ``.venv/bin/python bench/xks.py [--seconds 10] [--concurrency 8] [--workers 2]
[--double]``. The figures depend on the machine and on what else runs on it.
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
from typing import Any
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


def double_worker(
    client: object, key_id: str, plaintext: bytes, stop: float, out: dict[str, list[float]]
) -> None:
    kms: Any = client
    while time.monotonic() < stop:
        start = time.perf_counter()
        blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
        middle = time.perf_counter()
        opened = kms.decrypt(CiphertextBlob=blob)["Plaintext"]
        end = time.perf_counter()
        if opened != plaintext:
            raise RuntimeError("Decrypt did not return the plaintext")
        out["Encrypt"].append(middle - start)
        out["Decrypt"].append(end - middle)


def make_credential(data_dir: Path, key_id: str) -> dict[str, str]:
    made = subprocess.run(
        [
            *(sys.executable, "-m", "trent", "admin", "create-xks-credential"),
            *("--data-dir", str(data_dir), "--key-id", key_id, "--path-prefix", "/bench"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(made.stdout))


def double(args: argparse.Namespace) -> None:
    """Double encryption through Trent B (external key store) and Trent A (its proxy)."""
    trent_cmd = f"{sys.executable} -m trent serve"
    with (
        tempfile.TemporaryDirectory(prefix="trent-xks-bench-a-") as tmp_a,
        tempfile.TemporaryDirectory(prefix="trent-xks-bench-b-") as tmp_b,
        run_trent(Path(tmp_a), trent_cmd, args.workers) as trent_a,
        run_trent(Path(tmp_b), trent_cmd, args.workers) as trent_b,
    ):
        key_a = kms_client(trent_a).create_key()["KeyMetadata"]["KeyId"]
        credential = make_credential(trent_a.data_dir, key_a)
        kms_b = kms_client(trent_b)
        store_id = kms_b.create_custom_key_store(
            CustomKeyStoreName="bench",
            CustomKeyStoreType="EXTERNAL_KEY_STORE",
            XksProxyUriEndpoint=trent_a.endpoint,
            XksProxyUriPath=credential["XksProxyUriPath"],
            XksProxyConnectivity="PUBLIC_ENDPOINT",
            XksProxyAuthenticationCredential={
                "AccessKeyId": credential["AccessKeyId"],
                "RawSecretAccessKey": credential["RawSecretAccessKey"],
            },
        )["CustomKeyStoreId"]
        kms_b.connect_custom_key_store(CustomKeyStoreId=store_id)
        key_b = kms_b.create_key(
            Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId=key_a
        )["KeyMetadata"]["KeyId"]
        plaintext = os.urandom(args.plaintext_bytes)
        warm: dict[str, list[float]] = {"Encrypt": [], "Decrypt": []}
        double_worker(kms_b, key_b, plaintext, time.monotonic() + 1.0, warm)
        outs = [{"Encrypt": [], "Decrypt": []} for _ in range(args.concurrency)]
        stop = time.monotonic() + args.seconds
        threads = [
            threading.Thread(
                target=double_worker, args=(kms_client(trent_b), key_b, plaintext, stop, out)
            )
            for out in outs
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(
            f"double encryption through Trent B -> Trent A (XKS proxy), "
            f"{args.plaintext_bytes}-byte plaintext, {args.concurrency} client threads, "
            f"{args.workers} workers each, {args.seconds:.0f} s"
        )
        for operation in ("Encrypt", "Decrypt"):
            every = sorted(x for out in outs for x in out[operation])
            if len(every) < 2:
                raise SystemExit(f"too few {operation} calls completed")
            quantiles = statistics.quantiles(every, n=100)
            print(
                f"KMS {operation}: {len(every)} ({len(every) / args.seconds:.0f}/s)   "
                f"p50 {quantiles[49] * 1000:.1f} ms   p99 {quantiles[98] * 1000:.1f} ms   "
                f"max {every[-1] * 1000:.1f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--plaintext-bytes", type=int, default=32)
    parser.add_argument(
        "--double", action="store_true", help="KMS Encrypt/Decrypt through Trent B -> Trent A"
    )
    args = parser.parse_args()
    if args.double:
        double(args)
        return
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
