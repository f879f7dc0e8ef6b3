"""Raw HTTP against a running server: authentication refusals, dispatch and body errors.

Requests are built by hand (``http.client``) and signed with botocore's own ``SigV4Auth``, then
tampered with where a test needs a bad request. Every refusal must be a JSON 1.1 error body
(``__type`` and ``message``) with status 400 and must not have run the operation.
"""

from __future__ import annotations

import base64
import http.client
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.server import REGION, TrentServer
from trent.operations import OPERATIONS
from trent.protocol.shapes import ServiceModel

CONTENT_TYPE = "application/x-amz-json-1.1"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_type(self) -> str:
        return str(self.json["__type"])

    @property
    def message(self) -> str:
        return str(self.json["message"])


def signed_headers(
    server: TrentServer,
    target: str,
    body: bytes,
    *,
    access_key: str | None = None,
    secret: str | None = None,
    region: str = REGION,
    when: datetime | None = None,
) -> dict[str, str]:
    """Headers for ``POST /`` signed by botocore exactly as an SDK would sign them."""
    real_key, real_secret = server.credentials()
    request = AWSRequest(
        method="POST",
        url=server.endpoint + "/",
        data=body,
        headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": f"TrentService.{target}"},
    )
    credentials = Credentials(access_key or real_key, secret or real_secret)
    signer = SigV4Auth(credentials, "kms", region)
    if when is None:
        signer.add_auth(request)
    else:
        naive_utc = when.astimezone(UTC).replace(tzinfo=None)
        with mock.patch("botocore.auth.get_current_datetime", return_value=naive_utc):
            signer.add_auth(request)
    headers = dict(request.headers.items())
    headers["Host"] = urlsplit(server.endpoint).netloc  # what botocore signed
    return headers


def send(
    server: TrentServer,
    body: bytes,
    headers: dict[str, str],
    method: str = "POST",
    path: str = "/",
) -> Reply:
    url = urlsplit(server.endpoint)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        conn.request(method, path, body=body if method == "POST" else None, headers=headers)
        response = conn.getresponse()
        return Reply(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        conn.close()


def call(server: TrentServer, target: str, document: Any, **sign: Any) -> Reply:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return send(server, body, signed_headers(server, target, body, **sign))


def assert_error(reply: Reply, error_type: str, fragment: str = "") -> None:
    """A JSON 1.1 error reply of the given type; never a 500; message carries ``fragment``."""
    assert reply.status != 500, reply.body
    assert reply.headers["content-type"] == CONTENT_TYPE
    document = reply.json
    assert isinstance(document, dict)
    # AWS sends some errors with no message member at all (trent.errors.catalogue)
    assert {"__type"} <= set(document) <= {"__type", "message"}, document
    assert reply.error_type == error_type, document
    assert isinstance(document.get("message", ""), str)
    assert fragment.lower() in str(document.get("message", "")).lower(), document
    assert reply.headers.get("x-amzn-requestid"), reply.headers


def key_count(kms: Any) -> int:
    return sum(len(page["Keys"]) for page in kms.get_paginator("list_keys").paginate())


# --- authentication refusals: none of them may run the operation -----------------------------
CREATE_BODY = json.dumps({"Description": "must never be created"}).encode()


def _no_auth(server: TrentServer) -> dict[str, str]:
    headers = signed_headers(server, "CreateKey", CREATE_BODY)
    del headers["Authorization"]
    return headers


def _garbage_auth(server: TrentServer) -> dict[str, str]:
    headers = signed_headers(server, "CreateKey", CREATE_BODY)
    headers["Authorization"] = "Bearer not-a-signature-at-all"
    return headers


def _unknown_access_key(server: TrentServer) -> dict[str, str]:
    return signed_headers(server, "CreateKey", CREATE_BODY, access_key="AKIAUNKNOWNUNKNOWN00")


def _wrong_secret(server: TrentServer) -> dict[str, str]:
    return signed_headers(server, "CreateKey", CREATE_BODY, secret="x" * 40)


def _other_region(server: TrentServer) -> dict[str, str]:
    return signed_headers(server, "CreateKey", CREATE_BODY, region="eu-west-1")


def _ten_minutes_old(server: TrentServer) -> dict[str, str]:
    when = datetime.now(UTC) - timedelta(minutes=10)
    return signed_headers(server, "CreateKey", CREATE_BODY, when=when)


def _ten_minutes_ahead(server: TrentServer) -> dict[str, str]:
    when = datetime.now(UTC) + timedelta(minutes=10)
    return signed_headers(server, "CreateKey", CREATE_BODY, when=when)


REFUSALS = {
    "no-authorization": (
        _no_auth,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    ),
    "garbage-authorization": (_garbage_auth, "IncompleteSignatureException", ""),
    "unknown-access-key": (
        _unknown_access_key,
        "UnrecognizedClientException",
        "security token included in the request is invalid",
    ),
    "wrong-secret": (
        _wrong_secret,
        "InvalidSignatureException",
        "signature we calculated does not match",
    ),
    "other-region": (_other_region, "InvalidSignatureException", "region"),
    "expired": (_ten_minutes_old, "InvalidSignatureException", "Signature expired"),
    "from-the-future": (_ten_minutes_ahead, "InvalidSignatureException", "not yet current"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refused_request_is_400_json_and_runs_nothing(
    server: TrentServer, kms: Any, case: str
) -> None:
    build, error_type, fragment = REFUSALS[case]
    before = key_count(kms)
    reply = send(server, CREATE_BODY, build(server))
    assert_error(reply, error_type, fragment)
    assert reply.status == 400, (reply.status, reply.body)
    assert key_count(kms) == before


def test_body_changed_after_signing_is_refused(server: TrentServer, kms: Any) -> None:
    headers = signed_headers(server, "CreateKey", CREATE_BODY)
    tampered = CREATE_BODY.replace(b"never", b"NEVER")
    assert len(tampered) == len(CREATE_BODY) and tampered != CREATE_BODY
    before = key_count(kms)
    reply = send(server, tampered, headers)
    assert_error(reply, "InvalidSignatureException")
    assert reply.status == 400
    assert key_count(kms) == before


def test_authorization_without_signed_headers_is_incomplete(server: TrentServer, kms: Any) -> None:
    _, secret = server.credentials()
    headers = _garbage_auth(server)
    headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=x, Signature=" + "0" * 64
    before = key_count(kms)
    reply = send(server, CREATE_BODY, headers)
    assert_error(reply, "IncompleteSignatureException", "SignedHeaders")
    assert reply.status == 400
    assert secret.encode() not in reply.body
    assert key_count(kms) == before


def test_signed_request_succeeds_and_carries_request_id(server: TrentServer) -> None:
    reply = call(server, "ListKeys", {"Limit": 1})
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == CONTENT_TYPE
    assert "Keys" in reply.json
    assert reply.headers.get("x-amzn-requestid")
    again = call(server, "ListKeys", {"Limit": 1})
    assert again.headers["x-amzn-requestid"] != reply.headers["x-amzn-requestid"]


# --- dispatch --------------------------------------------------------------------------------
def test_unknown_target_is_unknown_operation(server: TrentServer) -> None:
    reply = call(server, "Frobnicate", {})
    assert_error(reply, "UnknownOperationException")
    assert reply.status == 400


def test_every_operation_of_the_model_is_implemented() -> None:
    # A model operation missing from the table would answer UnsupportedOperationException
    # ("Trent does not implement ... yet", catalogue NOT_IMPLEMENTED) before its body is parsed.
    assert set(ServiceModel.load().operation_names) - set(OPERATIONS) == set()


# --- request bodies --------------------------------------------------------------------------
SECRET_PLAINTEXT = b"top-secret-plaintext-\x00\x01-do-not-echo"


def test_body_not_json_is_serialization_exception(server: TrentServer) -> None:
    reply = call(server, "ListKeys", b"{this is not json")
    assert_error(reply, "SerializationException")
    assert reply.status == 400


def test_body_json_array_is_serialization_exception(server: TrentServer) -> None:
    reply = call(server, "ListKeys", [{"Limit": 1}])
    assert_error(reply, "SerializationException")
    assert reply.status == 400


def test_string_for_integer_is_serialization_exception(server: TrentServer, key_id: str) -> None:
    reply = call(server, "GenerateDataKey", {"KeyId": key_id, "NumberOfBytes": "32"})
    assert_error(reply, "SerializationException", "numberOfBytes")
    assert reply.status == 400


def test_bad_base64_plaintext_is_serialization_exception(server: TrentServer, key_id: str) -> None:
    bad = "c2VjcmV0LXNlY3JldA!!notbase64"
    reply = call(server, "Encrypt", {"KeyId": key_id, "Plaintext": bad})
    assert_error(reply, "SerializationException", "plaintext")
    assert reply.status == 400
    assert b"c2VjcmV0LXNlY3JldA" not in reply.body


def test_wrong_type_next_to_a_plaintext_does_not_echo_it(server: TrentServer, key_id: str) -> None:
    encoded = base64.b64encode(SECRET_PLAINTEXT).decode()
    document = {"KeyId": key_id, "Plaintext": encoded, "EncryptionContext": ["not", "a", "map"]}
    reply = call(server, "Encrypt", document)
    assert_error(reply, "SerializationException", "encryptionContext")
    assert reply.status == 400
    assert encoded.encode() not in reply.body
    assert b"top-secret" not in reply.body


def test_validation_error_does_not_echo_plaintext(server: TrentServer, key_id: str) -> None:
    too_long = SECRET_PLAINTEXT * 200  # well over Encrypt's 4096-byte limit
    encoded = base64.b64encode(too_long).decode()
    reply = call(server, "Encrypt", {"KeyId": key_id, "Plaintext": encoded})
    assert_error(reply, "ValidationException", "less than or equal to 4096")
    assert reply.status == 400
    assert b"top-secret" not in reply.body
    assert encoded[:40].encode() not in reply.body


def test_empty_body_on_operation_with_required_members_is_validation(
    server: TrentServer,
) -> None:
    reply = call(server, "DescribeKey", b"")
    assert reply.status == 400
    assert reply.error_type in {"ValidationException", "SerializationException"}
    assert_error(reply, reply.error_type)


# --- unauthenticated endpoints and methods ---------------------------------------------------
def test_healthz_answers_without_authentication(server: TrentServer) -> None:
    reply = send(server, b"", {}, method="GET", path="/healthz")
    assert reply.status == 200
    assert json.loads(reply.body) == {"status": "ok"}
    assert reply.headers["content-type"] == "application/json"  # not an AWS API answer


def test_get_root_is_a_json_client_error(server: TrentServer) -> None:
    reply = send(server, b"", {"X-Amz-Target": "TrentService.ListKeys"}, method="GET")
    assert 400 <= reply.status < 500, (reply.status, reply.body)
    assert reply.headers["content-type"] == CONTENT_TYPE
    assert set(reply.json) >= {"__type", "message"}
