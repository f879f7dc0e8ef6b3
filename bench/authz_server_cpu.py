"""Server CPU time per Encrypt request, whole request path (issue 10's performance item).

Starts ``trent serve --workers 1`` (tests/server.py), prepares the scenario with boto3, then
replays one pre-signed Encrypt request N times over a keep-alive connection and reports the
server's CPU time (user + system of every process in its session, from /proc) per request.
CPU time, not wall time: the machine is shared.

Scenarios: ``root-default`` (the account root, the default key policy) and ``user-realistic``
(an IAM user with an inline identity policy; the key policy the default one plus three
statements with conditions; the request has an encryption context; issue 10 only).

Usage: ``python bench/authz_server_cpu.py [N] [--python PATH]``; ``--python`` runs the server
with another interpreter command (e.g. a wrapper that imports another checkout).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from authz_cpu import realistic_policy

from tests.server import REGION, TrentServer

TICKS = os.sysconf("SC_CLK_TCK")


def session_cpu(sid: int) -> float:
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # session id (field 6 of stat; index 3 after the name)
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def signed(server: TrentServer, access: tuple[str, str], body: dict[str, Any]) -> Any:
    request = AWSRequest(
        method="POST",
        url=f"{server.endpoint}/",
        data=orjson.dumps(body),
        headers={
            "Host": f"127.0.0.1:{server.port}",
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "TrentService.Encrypt",
        },
    )
    SigV4Auth(Credentials(*access), "kms", REGION).add_auth(request)
    return request


def run(server: TrentServer, request: Any, n: int) -> float:
    assert server.process is not None
    sid = os.getsid(server.process.pid)
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    headers = dict(request.headers.items())
    for _ in range(50):  # warm up
        conn.request("POST", "/", body=request.body, headers=headers)
        reply = conn.getresponse()
        assert reply.status == 200, reply.read()
        reply.read()
    before = session_cpu(sid)
    for _ in range(n):
        conn.request("POST", "/", body=request.body, headers=headers)
        reply = conn.getresponse()
        reply.read()
    time.sleep(0.2)
    return (session_cpu(sid) - before) / n * 1e6


def main() -> None:
    args = sys.argv[1:]
    n = int(args[0]) if args and args[0].isdigit() else 3000
    if "--python" in args:
        sys.executable = args[args.index("--python") + 1]
    plaintext = base64.b64encode(b"x" * 64).decode()
    with tempfile.TemporaryDirectory() as tmp:
        server = TrentServer(Path(tmp) / "data", workers=1).start()
        try:
            kms = server.client()
            key = kms.create_key()["KeyMetadata"]
            root = server.credentials()
            request = signed(server, root, {"KeyId": key["KeyId"], "Plaintext": plaintext})
            print(f"root-default     {run(server, request, n):8.1f} us CPU/request")
            iam = server.client("iam")
            try:
                iam.create_user(UserName="app")
            except Exception:
                return
            account = server.client("sts").get_caller_identity()["Account"]
            identity = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["kms:Encrypt", "kms:Decrypt"],
                        "Resource": f"arn:aws:kms:*:{account}:key/*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            }
            iam.put_user_policy(
                UserName="app", PolicyName="kms", PolicyDocument=json.dumps(identity)
            )
            made = iam.create_access_key(UserName="app")["AccessKey"]
            user_arn = f"arn:aws:iam::{account}:user/app"
            kms.put_key_policy(
                KeyId=key["KeyId"], PolicyName="default", Policy=realistic_policy(account, user_arn)
            )
            body = {
                "KeyId": key["KeyId"],
                "Plaintext": plaintext,
                "EncryptionContext": {"Department": "IT"},
            }
            request = signed(server, (made["AccessKeyId"], made["SecretAccessKey"]), body)
            print(f"user-realistic   {run(server, request, n):8.1f} us CPU/request")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
