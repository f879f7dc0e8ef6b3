"""Issue 16 item 9: deleting or deactivating an access key takes effect on every worker at its
next request; activating it again, too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tests.server import TrentServer


def admin(data: Path, *args: str) -> str:
    command = [sys.executable, "-m", "trent", "admin", *args, "--data-dir", str(data)]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def calls(server: TrentServer, access_key: str, secret: str, n: int = 20) -> tuple[int, int]:
    """(accepted, refused) over ``n`` calls, each on a new connection (so both workers answer)."""
    accepted = refused = 0
    for _ in range(n):
        kms: Any = server.client(aws_access_key_id=access_key, aws_secret_access_key=secret)
        try:
            kms.list_keys()
            accepted += 1
        except ClientError as exc:
            error = exc.response["Error"]
            assert error["Code"] == "UnrecognizedClientException", error
            assert error["Message"] == "The security token included in the request is invalid."
            refused += 1
        finally:
            kms.close()
    return accepted, refused


def test_revocation_reaches_every_worker(fresh_server: TrentServer) -> None:
    server = fresh_server.start()
    data = server.data_dir
    created = admin(data, "create-access-key", "--user", "bob").splitlines()
    access_key = created[1].split(" = ")[1]
    secret = created[2].split(" = ")[1]
    # issue 10: a user may list keys when an identity policy allows it
    server.client("iam").put_user_policy(
        UserName="bob",
        PolicyName="kms",
        PolicyDocument='{"Version": "2012-10-17", "Statement": '
        '[{"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}]}',
    )
    assert calls(server, access_key, secret) == (20, 0)  # cached by both workers now

    assert admin(data, "deactivate-access-key", "--access-key-id", access_key).split() == [
        access_key,
        "Inactive",
    ]
    assert calls(server, access_key, secret) == (0, 20)
    listed = admin(data, "list-access-keys").splitlines()
    assert f"{access_key}\tInactive\tarn:aws:iam::" in "\n".join(listed)

    admin(data, "activate-access-key", "--access-key-id", access_key)
    assert calls(server, access_key, secret) == (20, 0)

    admin(data, "delete-access-key", "--access-key-id", access_key)
    assert calls(server, access_key, secret) == (0, 20)
    assert access_key not in admin(data, "list-access-keys")
    assert calls(server, *server.credentials(), n=4) == (4, 0)  # the admin key is untouched

    command = [sys.executable, "-m", "trent", "admin", "delete-access-key"]
    missing = subprocess.run(
        [*command, "--data-dir", str(data), "--access-key-id", access_key],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and f"no access key {access_key}" in missing.stderr
