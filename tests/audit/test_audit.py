"""The audit trail: one CloudTrail-shaped record per request, on disk before the reply, with no
secret in it; ``trent audit tail`` / ``query`` read it; size-based rotation loses nothing.

Most tests use the session server (its trail is ``server.data_dir / "audit"``) and find their
records by ``requestID`` (the ``x-amzn-RequestId`` of the reply).
"""

from __future__ import annotations

import asyncio
import base64
import calendar
import contextlib
import http.client
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.server import REGION, TrentServer
from trent.audit.chain import GENESIS, link
from trent.audit.log import RESERVE, RESERVE_BYTES, AuditLog
from trent.audit.reader import read_records
from trent.clock import SystemClock

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
EVENT_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
RECORD_FIELDS = {
    "eventVersion",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "userIdentity",
    "requestParameters",
    "responseElements",
    "requestID",
    "eventID",
    "readOnly",
    "resources",
    "eventType",
    "recipientAccountId",
    "managementEvent",
    "eventCategory",
}
RAW_USER_AGENT = "trent-audit-test/1.0"


# --- helpers -----------------------------------------------------------------------------------
def audit_dir(server: TrentServer) -> Path:
    return server.data_dir / "audit"


def records_of(server: TrentServer, rid: str) -> list[dict[str, Any]]:
    return [r for r in read_records(audit_dir(server)) if r.get("requestID") == rid]


def the_record(server: TrentServer, rid: str) -> dict[str, Any]:
    found = records_of(server, rid)
    assert len(found) == 1, f"{len(found)} records for request {rid}"
    return found[0]


def request_id(response: dict[str, Any]) -> str:
    return str(response["ResponseMetadata"]["RequestId"])


def error_request_id(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["ResponseMetadata"]["RequestId"])


def check_shape(record: dict[str, Any], server: TrentServer) -> None:
    missing = RECORD_FIELDS - record.keys()
    assert not missing, f"record lacks {missing}"
    assert record["eventVersion"] == "1.11"
    assert record["eventSource"] == "kms.amazonaws.com"
    assert record["eventType"] == "AwsApiCall"
    assert record["managementEvent"] is True and record["eventCategory"] == "Management"
    assert record["awsRegion"] == REGION
    assert EVENT_TIME.match(record["eventTime"]), record["eventTime"]
    event_time = calendar.timegm(time.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(event_time - time.time()) < 60
    assert UUID.match(record["eventID"]) and UUID.match(record["requestID"])
    assert record["eventID"] != record["requestID"]
    assert record["sourceIPAddress"] == "127.0.0.1"
    assert isinstance(record["readOnly"], bool)
    assert isinstance(record["resources"], list)
    account = record["recipientAccountId"]
    assert re.fullmatch(r"\d{12}", account)
    assert record["userIdentity"]["accountId"] == account


def check_identity(record: dict[str, Any], server: TrentServer) -> None:
    access_key, _ = server.credentials()
    identity = record["userIdentity"]
    account = record["recipientAccountId"]
    assert identity["type"] == "Root"
    assert identity["accessKeyId"] == access_key
    assert identity["principalId"] == account
    assert identity["arn"] == f"arn:aws:iam::{account}:root"
    assert identity["accountId"] == account


def check_key_resource(record: dict[str, Any], key_arn: str) -> None:
    account = record["recipientAccountId"]
    assert record["resources"] == [{"accountId": account, "type": "AWS::KMS::Key", "ARN": key_arn}]


@dataclass
class Reply:
    status: int
    request_id: str
    body: dict[str, Any]
    signature: str | None


def raw_call(
    server: TrentServer,
    target: str,
    params: dict[str, Any],
    *,
    secret: str | None = None,
    sign: bool = True,
) -> Reply:
    """POST / built by hand, signed with botocore's SigV4Auth (or not signed at all)."""
    access_key, real_secret = server.credentials()
    body = json.dumps(params).encode()
    request = AWSRequest(
        method="POST",
        url=server.endpoint + "/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"TrentService.{target}",
            "User-Agent": RAW_USER_AGENT,
        },
    )
    if sign:
        SigV4Auth(Credentials(access_key, secret or real_secret), "kms", REGION).add_auth(request)
    headers = dict(request.headers.items())
    headers["Host"] = urlsplit(server.endpoint).netloc
    signature = None
    if "Authorization" in headers:
        signature = headers["Authorization"].rsplit("Signature=", 1)[1]
    conn = http.client.HTTPConnection(urlsplit(server.endpoint).netloc, timeout=10)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        reply = conn.getresponse()
        payload = json.loads(reply.read() or b"{}")
        rid = reply.getheader("x-amzn-requestid")
    finally:
        conn.close()
    assert rid, "every reply carries x-amzn-RequestId"
    return Reply(reply.status, rid, payload, signature)


@pytest.fixture(scope="module")
def unchecked_kms(server: TrentServer) -> Any:
    """A client without botocore's parameter validation, so the server's validation shows."""
    config = Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"})
    return server.client(config=config)


# --- one record per request --------------------------------------------------------------------
def test_allowed_request_record(server: TrentServer, kms: Any, key_id: str) -> None:
    response = kms.encrypt(KeyId=key_id, Plaintext=b"audited", EncryptionContext={"app": "t"})
    rid = request_id(response)
    assert rid == response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    record = the_record(server, rid)
    check_shape(record, server)
    check_identity(record, server)
    assert record["eventName"] == "Encrypt"
    assert record["readOnly"] is True
    assert "errorCode" not in record and "errorMessage" not in record
    assert record["userAgent"].startswith("Boto3/")
    assert record["requestParameters"]["keyId"] == key_id
    assert record["requestParameters"]["encryptionContext"] == {"app": "t"}
    assert "plaintext" not in record["requestParameters"]
    check_key_resource(record, response["KeyId"])


def test_state_change_record(server: TrentServer, kms: Any, key_id: str) -> None:
    arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    response = kms.disable_key(KeyId=key_id)
    record = the_record(server, request_id(response))
    check_shape(record, server)
    assert record["eventName"] == "DisableKey"
    assert record["readOnly"] is False
    check_key_resource(record, arn)


def test_refused_by_key_state_record(server: TrentServer, kms: Any, key_id: str) -> None:
    arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    kms.disable_key(KeyId=key_id)
    with pytest.raises(ClientError) as info:
        kms.encrypt(KeyId=key_id, Plaintext=b"refused")
    assert info.value.response["Error"]["Code"] == "DisabledException"
    record = the_record(server, error_request_id(info))
    check_shape(record, server)
    check_identity(record, server)
    assert record["eventName"] == "Encrypt"
    assert record["errorCode"] == "DisabledException"
    assert record["errorMessage"] == info.value.response["Error"]["Message"]
    assert "is disabled" in record["errorMessage"]
    check_key_resource(record, arn)


def test_failed_validation_record(server: TrentServer, unchecked_kms: Any, key_id: str) -> None:
    with pytest.raises(ClientError) as info:
        unchecked_kms.generate_random(NumberOfBytes=5000)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    record = the_record(server, error_request_id(info))
    check_shape(record, server)
    check_identity(record, server)
    assert record["eventName"] == "GenerateRandom"
    assert record["errorCode"] == "ValidationException"
    assert "numberOfBytes" in record["errorMessage"]


def test_unknown_operation_record(server: TrentServer) -> None:
    reply = raw_call(server, "MakeCoffee", {})
    assert reply.status == 400
    assert reply.body["__type"] == "UnknownOperationException"
    record = the_record(server, reply.request_id)
    check_shape(record, server)
    assert record["eventName"] == "MakeCoffee"
    assert record["errorCode"] == "UnknownOperationException"
    assert record["userAgent"] == RAW_USER_AGENT
    assert record["resources"] == []


def test_failed_signature_record(server: TrentServer, key_id: str) -> None:
    access_key, _ = server.credentials()
    wrong_secret = "W" * 40
    reply = raw_call(server, "Encrypt", {"KeyId": key_id, "Plaintext": "eA=="}, secret=wrong_secret)
    assert reply.status == 400
    assert reply.body["__type"] == "InvalidSignatureException"
    record = the_record(server, reply.request_id)
    check_shape(record, server)
    assert record["eventName"] == "Encrypt"
    assert record["errorCode"] == "InvalidSignatureException"
    assert record["errorMessage"]
    assert record["userIdentity"]["accessKeyId"] == access_key
    assert record["userAgent"] == RAW_USER_AGENT
    raw = json.dumps(record)
    assert wrong_secret not in raw
    assert reply.signature is not None and reply.signature not in raw


def test_missing_authentication_record(server: TrentServer, key_id: str) -> None:
    reply = raw_call(server, "Encrypt", {"KeyId": key_id, "Plaintext": "eA=="}, sign=False)
    assert reply.status in (400, 403)
    assert reply.body["__type"] == "MissingAuthenticationTokenException"
    record = the_record(server, reply.request_id)
    check_shape(record, server)
    assert record["errorCode"] == "MissingAuthenticationTokenException"
    assert "principalId" not in record["userIdentity"]


def test_every_request_leaves_exactly_one_record(
    server: TrentServer, kms: Any, unchecked_kms: Any
) -> None:
    """A burst of mixed requests, allowed and refused: one record each, none extra."""
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    before = sum(1 for _ in read_records(audit_dir(server)))
    ids: list[str] = []
    for i in range(10):
        ids.append(request_id(kms.encrypt(KeyId=key_id, Plaintext=b"n%d" % i)))
        with pytest.raises(ClientError) as info:
            unchecked_kms.describe_key(KeyId="")
        ids.append(error_request_id(info))
    ids.append(raw_call(server, "Nope", {}).request_id)
    counts = Counter(r.get("requestID") for r in read_records(audit_dir(server)))
    assert all(counts[rid] == 1 for rid in ids), {rid: counts[rid] for rid in ids}
    after = sum(1 for _ in read_records(audit_dir(server)))
    assert after - before >= len(ids)


# --- durable before the reply ------------------------------------------------------------------
def test_record_is_on_disk_when_the_reply_arrives(server: TrentServer, kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    current = audit_dir(server) / "audit.log"
    for i in range(20):
        if i % 2:
            rid = request_id(kms.encrypt(KeyId=key_id, Plaintext=b"now"))
        else:
            rid = request_id(kms.describe_key(KeyId=key_id))
        content = current.read_bytes()  # at once: no sleep, no retry
        at = content.find(rid.encode())
        assert at >= 0, f"request {rid} answered before its record was written"
        line_start = content.rfind(b"\n", 0, at) + 1
        line_end = content.index(b"\n", at)  # the whole line, newline included
        assert orjson.loads(content[line_start:line_end])["requestID"] == rid


# --- no secret in the trail ----------------------------------------------------------------------
def forms(secret: bytes) -> list[bytes]:
    """How a secret could appear: raw, base64 (standard, URL-safe, unpadded), hex."""
    out = [secret, secret.hex().encode(), secret.hex().upper().encode()]
    for encoded in (base64.b64encode(secret), base64.urlsafe_b64encode(secret)):
        out.append(encoded)
        out.append(encoded.rstrip(b"="))
    return out


def test_no_secret_reaches_the_audit_trail(server: TrentServer) -> None:
    kms = server.client()
    signatures: list[str] = []

    def keep_signature(request: Any, **_: Any) -> None:
        signatures.append(request.headers["Authorization"].decode().rsplit("Signature=", 1)[1])

    kms.meta.events.register("before-send.kms.*", keep_signature)
    secrets: list[bytes] = []
    ids: list[str] = []

    def remember(response: dict[str, Any], *fields: str) -> dict[str, Any]:
        ids.append(request_id(response))
        secrets.extend(response[f] for f in fields)
        return response

    key_id = remember(kms.create_key(Description="secret scan"))["KeyMetadata"]["KeyId"]
    other_id = remember(kms.create_key())["KeyMetadata"]["KeyId"]
    plaintexts = [os.urandom(32), f"a recognisable plaintext {uuid.uuid4()}".encode()]
    secrets.extend(plaintexts)
    blobs = [
        remember(
            kms.encrypt(KeyId=key_id, Plaintext=p, EncryptionContext={"k": "v"}), "CiphertextBlob"
        )["CiphertextBlob"]
        for p in plaintexts
    ]
    remember(kms.generate_data_key(KeyId=key_id, KeySpec="AES_256"), "Plaintext", "CiphertextBlob")
    remember(kms.generate_data_key(KeyId=key_id, NumberOfBytes=48), "Plaintext", "CiphertextBlob")
    hidden = remember(
        kms.generate_data_key_without_plaintext(KeyId=key_id, KeySpec="AES_128"), "CiphertextBlob"
    )
    remember(kms.decrypt(CiphertextBlob=hidden["CiphertextBlob"]), "Plaintext")
    remember(kms.decrypt(CiphertextBlob=blobs[0], EncryptionContext={"k": "v"}), "Plaintext")
    remember(
        kms.re_encrypt(
            CiphertextBlob=blobs[1],
            SourceEncryptionContext={"k": "v"},
            DestinationKeyId=other_id,
        ),
        "CiphertextBlob",
    )
    remember(kms.generate_random(NumberOfBytes=64), "Plaintext")

    raw_plaintext = os.urandom(24)
    secrets.append(raw_plaintext)
    reply = raw_call(
        server,
        "Encrypt",
        {"KeyId": key_id, "Plaintext": base64.b64encode(raw_plaintext).decode()},
    )
    assert reply.status == 200
    ids.append(reply.request_id)
    secrets.append(base64.b64decode(reply.body["CiphertextBlob"]))
    assert reply.signature is not None
    signatures.append(reply.signature)

    _, secret_access_key = server.credentials()
    assert len(signatures) >= len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{64}", s) for s in signatures)
    assert all(len(s) >= 16 for s in secrets)

    files = [p for p in audit_dir(server).iterdir() if p.is_file()]
    content = b"".join(p.read_bytes() for p in files)
    for rid in ids:  # the scan reads the right files: every request of the workload is there
        assert rid.encode() in content
    for secret in secrets:
        for form in forms(secret):
            assert form not in content, "a plaintext, data key or ciphertext is in the trail"
    assert secret_access_key.encode() not in content, "the secret access key is in the trail"
    for signature in signatures:
        assert signature.encode() not in content, "a request signature is in the trail"


# --- the audit command -------------------------------------------------------------------------
def trent_audit(server: TrentServer, *args: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "trent", "audit", *args, "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_audit_tail(server: TrentServer, kms: Any) -> None:
    ids = [request_id(kms.list_keys(Limit=1)) for _ in range(3)]
    tail = trent_audit(server, "tail", "-n", "3")
    assert len(tail) == 3
    assert [r["requestID"] for r in tail] == ids


def test_audit_query_by_key_event_and_error(server: TrentServer, kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    other_id = kms.create_key()["KeyMetadata"]["KeyId"]
    encrypts = [kms.encrypt(KeyId=key_id, Plaintext=b"q%d" % i) for i in range(3)]
    kms.encrypt(KeyId=other_id, Plaintext=b"other key")
    kms.decrypt(CiphertextBlob=encrypts[0]["CiphertextBlob"])
    kms.describe_key(KeyId=key_id)
    kms.disable_key(KeyId=key_id)
    errors = []
    for _ in range(2):
        with pytest.raises(ClientError) as info:
            kms.encrypt(KeyId=key_id, Plaintext=b"refused")
        errors.append(error_request_id(info))

    found = trent_audit(server, "query", "--event-name", "Encrypt", "--key", key_id)
    assert [r["requestID"] for r in found] == [request_id(e) for e in encrypts] + errors
    assert all(r["eventName"] == "Encrypt" for r in found)

    failed = trent_audit(server, "query", "--key", key_id, "--error")
    assert [r["requestID"] for r in failed] == errors
    assert all(r["errorCode"] == "DisabledException" for r in failed)

    arn = encrypts[0]["KeyId"]
    by_arn = trent_audit(server, "query", "--key", arn, "--event-name", "Decrypt")
    assert len(by_arn) == 1 and by_arn[0]["eventName"] == "Decrypt"

    all_errors = trent_audit(server, "query", "--error")
    assert all_errors and all(r.get("errorCode") for r in all_errors)


def test_audit_query_by_time(server: TrentServer, kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    early = [request_id(kms.encrypt(KeyId=key_id, Plaintext=b"early")) for _ in range(2)]
    boundary = int(time.time()) + 1  # the next whole second (eventTime has 1 s resolution)
    time.sleep(boundary - time.time() + 0.05)
    late = [request_id(kms.encrypt(KeyId=key_id, Plaintext=b"late")) for _ in range(2)]

    def ids(*args: str) -> list[str]:
        return [r["requestID"] for r in trent_audit(server, "query", "--key", key_id, *args)]

    everything = ids()
    assert early[0] in everything and late[-1] in everything
    assert set(ids("--since", str(boundary))) == set(late)
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(boundary))
    assert set(ids("--since", iso)) == set(late)
    before = set(ids("--until", str(boundary - 1)))
    assert set(early) <= before and not set(late) & before
    assert ids("--since", str(boundary + 3600)) == []
    assert set(ids("--since", str(boundary - 3600), "--until", str(boundary + 3600))) >= {
        *early,
        *late,
    }


def test_audit_query_by_principal(server: TrentServer, kms: Any) -> None:
    command = [sys.executable, "-m", "trent", "admin", "create-access-key", "--user", "auditor"]
    made = subprocess.run(
        [*command, "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    other_key = re.search(r"aws_access_key_id = (\S+)", made.stdout)
    other_secret = re.search(r"aws_secret_access_key = (\S+)", made.stdout)
    assert other_key and other_secret
    # issue 10: a user may use the account's keys when an identity policy allows it
    server.client("iam").put_user_policy(
        UserName="auditor",
        PolicyName="kms",
        PolicyDocument='{"Version": "2012-10-17", "Statement": '
        '[{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}',
    )
    auditor = server.client(
        aws_access_key_id=other_key.group(1), aws_secret_access_key=other_secret.group(1)
    )
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    admin_ids = [request_id(kms.describe_key(KeyId=key_id))]
    auditor_ids = [request_id(auditor.describe_key(KeyId=key_id)) for _ in range(2)]

    admin_key, _ = server.credentials()
    by_other = trent_audit(server, "query", "--key", key_id, "--principal", other_key.group(1))
    assert [r["requestID"] for r in by_other] == auditor_ids
    by_admin = trent_audit(server, "query", "--key", key_id, "--principal", admin_key)
    assert [r["requestID"] for r in by_admin][-1:] == admin_ids
    assert not {r["requestID"] for r in by_admin} & set(auditor_ids)
    arn = by_other[0]["userIdentity"]["arn"]
    assert arn.endswith(":user/auditor")
    by_arn = trent_audit(server, "query", "--key", key_id, "--principal", arn)
    assert [r["requestID"] for r in by_arn] == auditor_ids


# --- rotation of the audit file ----------------------------------------------------------------
def test_audit_file_rotation_loses_nothing(
    fresh_server: TrentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRENT_AUDIT_MAX_BYTES", "20000")
    fresh_server.start()
    monkeypatch.delenv("TRENT_AUDIT_MAX_BYTES")
    clients = [fresh_server.client() for _ in range(2)]  # likely on both workers
    key_id = clients[0].create_key()["KeyMetadata"]["KeyId"]
    ids = []
    for i in range(100):
        kms = clients[i % 2]
        ids.append(request_id(kms.encrypt(KeyId=key_id, Plaintext=b"rotate me %d" % i)))

    directory = audit_dir(fresh_server)
    rotated = sorted(directory.glob("audit-*.log"))
    assert len(rotated) >= 2, f"no rotation: {sorted(p.name for p in directory.iterdir())}"
    assert (directory / "audit.log").exists()
    for path in rotated:
        assert path.stat().st_size < 20000 + 64 * 1024  # rotated once past the limit
    counts = Counter(r.get("requestID") for r in read_records(directory))
    assert all(counts[rid] == 1 for rid in ids), {
        rid: counts[rid] for rid in ids if counts[rid] != 1
    }
    assert all(n == 1 for n in counts.values())


# --- CloudTrail's shape, operation by operation ---------------------------------------------------
# The expected records follow AWS's samples: the Decrypt event in the imported-key rotation post
# (seed 002, "CloudTrail logging") and the developer guide's "Logging AWS KMS API calls with AWS
# CloudTrail" pages (CreateKey, GenerateDataKey, ReEncrypt, TagResource, ScheduleKeyDeletion).
CLOUDTRAIL_TIME = re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d:\d\d [AP]M$")


def test_decrypt_record_is_shaped_like_awss_sample(server: TrentServer, kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"sample")["CiphertextBlob"]
    response = kms.decrypt(CiphertextBlob=blob)
    record = the_record(server, request_id(response))
    check_shape(record, server)
    check_identity(record, server)
    # The sample: every member in this order, no more (tlsDetails aside: Trent serves HTTP).
    assert list(record) == [
        "eventVersion",
        "userIdentity",
        "eventTime",
        "eventSource",
        "eventName",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "requestParameters",
        "responseElements",
        "additionalEventData",
        "requestID",
        "eventID",
        "readOnly",
        "resources",
        "eventType",
        "managementEvent",
        "recipientAccountId",
        "eventCategory",
        "trentAuthorization",  # Trent's own member, last (README, "Authorization")
    ]
    assert record["requestParameters"] == {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    assert record["responseElements"] is None
    assert record["additionalEventData"] == {"keyMaterialId": response["KeyMaterialId"]}
    assert record["readOnly"] is True
    check_key_resource(record, key["Arn"])


def test_symmetric_operations_name_their_key_material(server: TrentServer, kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    material = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"]
    context = {"Department": "Engineering", "Project": "Alpha"}  # map keys stay as given

    encrypted = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext=context)
    record = the_record(server, request_id(encrypted))
    assert record["requestParameters"] == {
        "keyId": key["KeyId"],
        "encryptionContext": context,
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }
    assert record["additionalEventData"] == {"keyMaterialId": material}
    assert record["responseElements"] is None

    generated = kms.generate_data_key(
        KeyId=key["Arn"], KeySpec="AES_256", EncryptionContext=context
    )
    record = the_record(server, request_id(generated))
    assert record["requestParameters"] == {
        "keyId": key["Arn"],
        "keySpec": "AES_256",
        "encryptionContext": context,
    }
    assert record["additionalEventData"] == {"keyMaterialId": material}

    sized = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], NumberOfBytes=48)
    record = the_record(server, request_id(sized))
    assert record["requestParameters"] == {"keyId": key["KeyId"], "numberOfBytes": 48}
    assert record["additionalEventData"] == {"keyMaterialId": material}

    other = kms.create_key()["KeyMetadata"]
    re_encrypted = kms.re_encrypt(
        CiphertextBlob=encrypted["CiphertextBlob"],
        SourceEncryptionContext=context,
        DestinationKeyId=other["KeyId"],
        DestinationEncryptionContext={"Level": "3A"},
    )
    record = the_record(server, request_id(re_encrypted))
    assert record["requestParameters"] == {
        "sourceEncryptionContext": context,
        "destinationKeyId": other["KeyId"],
        "destinationEncryptionContext": {"Level": "3A"},
        "sourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "destinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }
    assert record["additionalEventData"]["sourceKeyMaterialId"] == material
    assert [r["ARN"] for r in record["resources"]] == [key["Arn"], other["Arn"]]

    random = kms.generate_random(NumberOfBytes=32)
    record = the_record(server, request_id(random))
    assert record["requestParameters"] == {"numberOfBytes": 32}
    assert "additionalEventData" not in record


def test_asymmetric_operations_carry_no_key_material(server: TrentServer, kms: Any) -> None:
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    signed = kms.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    record = the_record(server, request_id(signed))
    assert record["requestParameters"] == {
        "keyId": key["KeyId"],
        "signingAlgorithm": "ECDSA_SHA_256",
    }  # the message is a blob: never recorded
    assert record["responseElements"] is None
    assert "additionalEventData" not in record


def test_state_changing_records_carry_response_elements(server: TrentServer, kms: Any) -> None:
    created = kms.create_key(Description="shape", Tags=[{"TagKey": "Team", "TagValue": "Blue"}])
    metadata = created["KeyMetadata"]
    record = the_record(server, request_id(created))
    assert record["readOnly"] is False
    assert record["requestParameters"]["description"] == "shape"
    assert record["requestParameters"]["tags"] == [{"tagKey": "Team", "tagValue": "Blue"}]
    elements = record["responseElements"]["keyMetadata"]
    assert elements["AWSAccountId"] == record["recipientAccountId"]  # Java bean naming
    assert elements["keyId"] == metadata["KeyId"] and elements["arn"] == metadata["Arn"]
    assert elements["keyState"] == "Enabled" and elements["keySpec"] == "SYMMETRIC_DEFAULT"
    assert CLOUDTRAIL_TIME.match(elements["creationDate"]), elements["creationDate"]

    tagged = kms.tag_resource(KeyId=metadata["Arn"], Tags=[{"TagKey": "Dept", "TagValue": "IT"}])
    record = the_record(server, request_id(tagged))
    assert record["requestParameters"] == {
        "keyId": metadata["Arn"],
        "tags": [{"tagKey": "Dept", "tagValue": "IT"}],
    }
    assert record["responseElements"] is None  # TagResource answers nothing

    scheduled = kms.schedule_key_deletion(KeyId=metadata["KeyId"], PendingWindowInDays=20)
    record = the_record(server, request_id(scheduled))
    assert record["requestParameters"] == {"keyId": metadata["KeyId"], "pendingWindowInDays": 20}
    elements = record["responseElements"]
    assert elements["keyId"] == metadata["Arn"] and elements["keyState"] == "PendingDeletion"
    assert elements["pendingWindowInDays"] == 20
    assert CLOUDTRAIL_TIME.match(elements["deletionDate"]), elements["deletionDate"]
    check_key_resource(record, metadata["Arn"])


def test_read_only_records_have_no_response_elements(server: TrentServer, kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for response in (
        kms.describe_key(KeyId=key_id),
        kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL"),
        kms.get_key_rotation_status(KeyId=key_id),
    ):
        record = the_record(server, request_id(response))
        assert record["readOnly"] is True
        assert record["responseElements"] is None
    record = the_record(server, request_id(response))
    assert record["requestParameters"] == {"keyId": key_id}


def test_reserve_keeps_room_for_a_retraction_on_a_full_disk(tmp_path: Path) -> None:
    """A full file system: an ordinary record fails, the retraction is written from the reserve,
    the log stays well-formed, and the reserve is allocated again once space returns."""
    mount = tmp_path / "fs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        log = AuditLog(mount / "audit", SystemClock())
        reserve = mount / "audit" / RESERVE
        assert os.stat(reserve).st_blocks * 512 >= RESERVE_BYTES
        filler = mount / "filler"
        with open(filler, "wb", buffering=0) as handle, contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 4096)
        record = b'{"eventName":"ScheduleKeyDeletion"}\n'

        async def run() -> None:
            with pytest.raises(OSError):
                await log.append(b'{"eventName":"Encrypt","pad":"' + b"x" * 8192 + b'"}\n')
            await log.append_from_reserve(record)
            assert (mount / "audit" / "audit.log").read_bytes() == link(record, GENESIS)
            assert os.stat(reserve).st_size == 0
            filler.unlink()
            await log.append(b'{"eventName":"Decrypt"}\n')
            assert os.stat(reserve).st_blocks * 512 >= RESERVE_BYTES

        asyncio.run(run())
        log.close()
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_x_forwarded_for_is_not_believed(server: TrentServer, key_id: str) -> None:
    """sourceIPAddress (and so aws:SourceIp) is the TCP peer's address: a client's
    X-Forwarded-For, even a signed one from loopback, does not change it."""
    client = server.client()

    def forwarded(request: Any, **_: Any) -> None:
        request.headers["X-Forwarded-For"] = "203.0.113.9"

    client.meta.events.register("before-sign.kms.Encrypt", forwarded)
    response = client.encrypt(KeyId=key_id, Plaintext=b"from afar?")
    record = the_record(server, request_id(response))
    assert record["sourceIPAddress"] == "127.0.0.1"
