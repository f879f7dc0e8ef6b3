"""GetKeyLastUsage: the last successful cryptographic operation per key, tied to its audit record.

Uses the session server (2 workers). A use made through one worker is written to the database by
that worker within a couple of seconds, so checks that may cross workers poll with ``wait_for``.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.server import REGION, TrentServer

CROSS_WORKER_SECONDS = 5.0  # Trent flushes each worker's usage every 2 s


def request_id(response: dict[str, Any]) -> str:
    return str(response["ResponseMetadata"]["RequestId"])


def last_usage(kms: Any, key_id: str) -> dict[str, Any]:
    return dict(kms.get_key_last_usage(KeyId=key_id))


def used_by(kms: Any, key_id: str, rid: str) -> bool:
    return bool(last_usage(kms, key_id).get("KeyLastUsage", {}).get("KmsRequestId") == rid)


def audit_record(server: TrentServer, rid: str) -> dict[str, Any]:
    [record] = [r for r in server.audit_records() if r.get("requestID") == rid]
    return record


def check_usage(
    server: TrentServer, kms: Any, key_id: str, operation: str, response: dict[str, Any]
) -> None:
    """GetKeyLastUsage names ``response``'s request, its audit record's eventID, and its time."""
    rid = request_id(response)
    server.wait_for(lambda: used_by(kms, key_id, rid), timeout=CROSS_WORKER_SECONDS)
    usage = last_usage(kms, key_id)["KeyLastUsage"]
    assert usage["Operation"] == operation
    assert usage["KmsRequestId"] == rid
    record = audit_record(server, rid)
    assert usage["CloudTrailEventId"] == record["eventID"]
    assert record["eventName"] == operation
    assert abs(usage["Timestamp"].timestamp() - time.time()) < 30


def test_new_key_has_no_last_usage(server: TrentServer, kms: Any) -> None:
    created = kms.create_key(Description="never used")["KeyMetadata"]
    usage = last_usage(kms, created["KeyId"])
    assert usage["KeyId"] == created["KeyId"]  # "the globally unique identifier" (API-ref)
    # AWS: "If the key has not been used since tracking began, this response element is an
    # empty object" (absent is accepted too: either way there is no use in it).
    assert usage.get("KeyLastUsage", {}) == {}
    assert usage["KeyCreationDate"] == created["CreationDate"]
    assert usage["TrackingStartDate"] <= usage["KeyCreationDate"]
    # AWS API reference, GetKeyLastUsage TrackingStartDate: "The date from which KMS began
    # recording cryptographic activity for this key, or the date the KMS key was created,
    # whichever is later." This key was created after tracking began.
    assert usage["TrackingStartDate"] == usage["KeyCreationDate"]


def test_last_usage_follows_encrypt_then_decrypt(
    server: TrentServer, kms: Any, key_id: str
) -> None:
    encrypted = kms.encrypt(KeyId=key_id, Plaintext=b"tracked")
    check_usage(server, kms, key_id, "Encrypt", encrypted)
    decrypted = kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"])
    check_usage(server, kms, key_id, "Decrypt", decrypted)

    kms.describe_key(KeyId=key_id)  # not cryptographic
    kms.list_resource_tags(KeyId=key_id)
    kms.get_key_rotation_status(KeyId=key_id)
    time.sleep(0.1)
    assert last_usage(kms, key_id)["KeyLastUsage"]["KmsRequestId"] == request_id(decrypted)


def test_data_key_operations_are_tracked(server: TrentServer, kms: Any, key_id: str) -> None:
    generated = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    check_usage(server, kms, key_id, "GenerateDataKey", generated)
    without = kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=32)
    check_usage(server, kms, key_id, "GenerateDataKeyWithoutPlaintext", without)


def test_failed_encrypt_does_not_count(server: TrentServer, kms: Any, key_id: str) -> None:
    encrypted = kms.encrypt(KeyId=key_id, Plaintext=b"before")
    check_usage(server, kms, key_id, "Encrypt", encrypted)
    kms.disable_key(KeyId=key_id)
    with pytest.raises(ClientError) as info:
        kms.encrypt(KeyId=key_id, Plaintext=b"refused")
    assert info.value.response["Error"]["Code"] == "DisabledException"
    with pytest.raises(ClientError) as info:
        kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"])
    assert info.value.response["Error"]["Code"] == "DisabledException"
    time.sleep(0.1)
    usage = last_usage(kms, key_id)["KeyLastUsage"]
    assert usage["KmsRequestId"] == request_id(encrypted)
    assert usage["Operation"] == "Encrypt"


def test_bad_ciphertext_does_not_count(server: TrentServer, kms: Any, key_id: str) -> None:
    encrypted = kms.encrypt(KeyId=key_id, Plaintext=b"tracked", EncryptionContext={"a": "b"})
    check_usage(server, kms, key_id, "Encrypt", encrypted)
    with pytest.raises(ClientError) as info:
        kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"], EncryptionContext={"a": "c"})
    assert info.value.response["Error"]["Code"] == "InvalidCiphertextException"
    assert last_usage(kms, key_id)["KeyLastUsage"]["KmsRequestId"] == request_id(encrypted)


def test_re_encrypt_is_recorded_for_both_keys(server: TrentServer, kms: Any) -> None:
    source = kms.create_key()["KeyMetadata"]["KeyId"]
    destination = kms.create_key()["KeyMetadata"]["KeyId"]
    encrypted = kms.encrypt(KeyId=source, Plaintext=b"moving")
    moved = kms.re_encrypt(CiphertextBlob=encrypted["CiphertextBlob"], DestinationKeyId=destination)
    check_usage(server, kms, source, "ReEncrypt", moved)
    check_usage(server, kms, destination, "ReEncrypt", moved)


# --- across workers ----------------------------------------------------------------------------
class RawConnection:
    """One keep-alive connection (so one worker) sending SigV4-signed requests."""

    def __init__(self, server: TrentServer) -> None:
        self.server = server
        netloc = urlsplit(server.endpoint).netloc
        self.conn = http.client.HTTPConnection(netloc, timeout=10)
        self.conn.connect()

    @property
    def local_port(self) -> int:
        assert self.conn.sock is not None
        return int(self.conn.sock.getsockname()[1])

    def call(self, operation: str, params: dict[str, Any]) -> tuple[dict[str, Any], str]:
        body = json.dumps(params).encode()
        access_key, secret = self.server.credentials()
        request = AWSRequest(
            method="POST",
            url=self.server.endpoint + "/",
            data=body,
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": f"TrentService.{operation}",
            },
        )
        SigV4Auth(Credentials(access_key, secret), "kms", REGION).add_auth(request)
        headers = dict(request.headers.items())
        headers["Host"] = urlsplit(self.server.endpoint).netloc
        self.conn.request("POST", "/", body=body, headers=headers)
        reply = self.conn.getresponse()
        payload = json.loads(reply.read())
        assert reply.status == 200, payload
        return payload, str(reply.getheader("x-amzn-requestid"))

    def close(self) -> None:
        self.conn.close()


def worker_serving(server: TrentServer, client_port: int) -> int | None:
    """The pid of the worker process that holds the server end of the client's connection."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local_port = int(parts[1].split(":")[1], 16)
        remote_port = int(parts[2].split(":")[1], 16)
        if local_port == server.port and remote_port == client_port:
            inode = parts[9]
    if inode is None:
        return None
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if re.fullmatch(rf"socket:\[{inode}\]", target):
                return int(pid)
    return None


def connections_on_two_workers(server: TrentServer) -> tuple[RawConnection, RawConnection]:
    opened: dict[int, RawConnection] = {}
    spare: list[RawConnection] = []
    for _ in range(40):
        conn = RawConnection(server)
        conn.call("ListKeys", {"Limit": 1})
        pid = worker_serving(server, conn.local_port)
        if pid is not None and pid not in opened:
            opened[pid] = conn
        else:
            spare.append(conn)
        if len(opened) == 2:
            break
    for conn in spare:
        conn.close()
    assert len(opened) == 2, "could not reach two different workers"
    first, second = opened.values()
    return first, second


def test_use_through_another_worker_shows(server: TrentServer, kms: Any, key_id: str) -> None:
    user, reader = connections_on_two_workers(server)
    try:
        before, _ = reader.call("GetKeyLastUsage", {"KeyId": key_id})
        assert before.get("KeyLastUsage", {}) == {}
        _, rid = user.call("Encrypt", {"KeyId": key_id, "Plaintext": "aGVsbG8="})

        def reader_sees() -> bool:
            usage, _ = reader.call("GetKeyLastUsage", {"KeyId": key_id})
            return bool(usage.get("KeyLastUsage", {}).get("KmsRequestId") == rid)

        started = time.monotonic()
        server.wait_for(reader_sees, timeout=CROSS_WORKER_SECONDS)
        assert time.monotonic() - started < 3.5
        usage, _ = reader.call("GetKeyLastUsage", {"KeyId": key_id})
        assert usage["KeyLastUsage"]["Operation"] == "Encrypt"
        assert usage["KeyLastUsage"]["CloudTrailEventId"] == audit_record(server, rid)["eventID"]
    finally:
        user.close()
        reader.close()
