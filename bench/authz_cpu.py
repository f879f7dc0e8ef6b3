"""In-process CPU cost of Encrypt with policy evaluation (issue 10's performance item).

Runs the Encrypt handler as the protocol layer would (``env.refresh()`` then the handler, the
request parsed once by the service model) N times per scenario and reports CPU microseconds
per call (``time.process_time``, so other load on a shared machine matters little; the best
of several rounds):

- ``root-default``: the account root, the default key policy (the only case main can run;
  run this script with ``PYTHONPATH`` at another checkout to measure it there);
- ``user-realistic`` (issue 10 only): an IAM user with an inline identity policy, the key's
  policy the default one plus three statements with conditions (encryption context, alias,
  principal tag style), the request with an encryption context.

Usage: ``python bench/authz_cpu.py [N]``; nothing is listened on, a temporary data dir is used.
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from trent.app import build_env
from trent.authz import Principal, PrincipalType
from trent.bootstrap import initialize
from trent.clock import SystemClock
from trent.config import Settings
from trent.operations import OPERATIONS, Call
from trent.protocol.shapes import ServiceModel


def realistic_policy(account: str, user_arn: str) -> str:
    root = f"arn:aws:iam::{account}:root"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "DenyWithoutContext",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["kms:Encrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"Null": {"kms:EncryptionContextKeys": "true"}},
        },
        {
            "Sid": "AppByDepartment",
            "Effect": "Allow",
            "Principal": {"AWS": user_arn},
            "Action": ["kms:Encrypt", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:Department": "IT"}},
        },
        {
            "Sid": "AdminsViaAlias",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:Describe*",
            "Resource": "*",
            "Condition": {"StringLike": {"kms:RequestAlias": "alias/admin-*"}},
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def measure(env: Any, principal: Principal, request: dict[str, Any], n: int) -> float:
    handler = OPERATIONS["Encrypt"]
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(n):
            env.refresh()
            call = Call(str(uuid.uuid4()), str(uuid.uuid4()), 0.0, "Encrypt", principal)
            call.request = request
            handler(env, call, request)
        best = min(best, (time.process_time() - start) / n * 1e6)
    return best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    model = ServiceModel.load()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")
        data = initialize(settings, SystemClock())
        env = build_env(settings, SystemClock())
        account = data.account_id
        root = Principal(
            account, f"arn:aws:iam::{account}:root", "AKIA", PrincipalType.ROOT, account
        )
        env.refresh()
        create = OPERATIONS["CreateKey"]
        key = create(env, Call("c", "c", 0.0, "CreateKey", root), {})["KeyMetadata"]["KeyId"]
        plain = {"KeyId": key, "Plaintext": base64.b64encode(b"x" * 64).decode()}
        request = model.parse_input("Encrypt", plain)
        print(f"root-default     {measure(env, root, request, n):8.1f} us/call")
        try:
            from trent.store.records import UserRow  # issue 14 and later only
        except ImportError:
            return
        user_arn = f"arn:aws:iam::{account}:user/app"
        store: Any = env.store
        with store.write():
            store.insert_user(UserRow(account, "app", "AIDAAPP", "/", 0.0))
            store.put_inline_policy(
                account,
                "user",
                "app",
                "kms",
                json.dumps(
                    {
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
                ),
            )
        env.keyring.invalidate()
        env.refresh()
        put = OPERATIONS["PutKeyPolicy"]
        policy = {"KeyId": key, "Policy": realistic_policy(account, user_arn)}
        put(
            env,
            Call("p", "p", 0.0, "PutKeyPolicy", root),
            model.parse_input("PutKeyPolicy", policy),
        )
        user = Principal(account, user_arn, "AKIAUSER", PrincipalType.USER, "AIDAAPP", "app")
        with_context = dict(plain, EncryptionContext={"Department": "IT"})
        request = model.parse_input("Encrypt", with_context)
        print(f"user-realistic   {measure(env, user, request, n):8.1f} us/call")


if __name__ == "__main__":
    main()
