"""Issue 16 items 1-3 and issue 9 item 11: a request runs only what its signature covers.

Requests are signed by botocore's own ``SigV4Auth`` and then changed the way an attacker who
captured them would: a header added after signing, a header repeated, a bare target, a date
no calendar reaches. Each must be refused with AWS's error (HTTP 400, JSON 1.1 body) and must
not have run anything.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.protocol.test_http import CONTENT_TYPE, Reply, assert_error, call, send
from tests.server import REGION, TrentServer
from trent.errors import KMSError
from trent.protocol.sigv4 import SigV4Verifier, canonical_headers

INVALID_TOKEN = "The security token included in the request is invalid."


def sign_raw(
    server: TrentServer,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    token: str | None = None,
) -> list[tuple[str, str]]:
    """``headers`` (repeats kept, in order) plus what botocore adds to sign them."""
    key, secret = server.credentials()
    request = AWSRequest(method="POST", url=server.endpoint + "/", data=body)
    for name, value in headers:
        request.headers[name] = value  # HTTPMessage appends: a repeated name stays repeated
    SigV4Auth(Credentials(key, secret, token), "kms", REGION).add_auth(request)
    return [*request.headers.items(), ("Host", urlsplit(server.endpoint).netloc)]


def send_raw(server: TrentServer, headers: list[tuple[str, str]], body: bytes) -> Reply:
    """POST / with exactly these header lines, in this order, repeats included."""
    url = urlsplit(server.endpoint)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return Reply(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        conn.close()


def key_state(kms: Any, key_id: str) -> str:
    return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"])


def _body(key_id: str) -> bytes:
    return json.dumps({"KeyId": key_id}).encode()


# --- item 1: a header that selects behaviour must be signed -----------------------------------
@pytest.mark.parametrize(
    ("added", "value"),
    [
        ("X-Amz-Target", "TrentService.DisableKey"),
        ("X-Amz-Security-Token", "not-issued-by-trent"),
        ("X-Amz-Trent-Anything", "1"),
    ],
)
def test_header_added_after_signing_is_refused(
    server: TrentServer, kms: Any, key_id: str, added: str, value: str
) -> None:
    """A DescribeKey signed without these headers cannot be turned into something else."""
    body = _body(key_id)
    base = [("Content-Type", CONTENT_TYPE)]
    if added != "X-Amz-Target":
        base.append(("X-Amz-Target", "TrentService.DisableKey"))
    headers = [*sign_raw(server, base, body), (added, value)]
    reply = send_raw(server, headers, body)
    assert_error(reply, "InvalidSignatureException")
    assert reply.message == f"'{added}' must be a 'SignedHeader' in the AWS Authorization."
    assert reply.status == 400
    assert key_state(kms, key_id) == "Enabled"


def test_content_type_added_after_signing_is_refused(
    server: TrentServer, kms: Any, key_id: str
) -> None:
    body = _body(key_id)
    headers = sign_raw(server, [("X-Amz-Target", "TrentService.DisableKey")], body)
    reply = send_raw(server, [*headers, ("Content-Type", CONTENT_TYPE)], body)
    assert_error(reply, "InvalidSignatureException", "'Content-Type' must be a 'SignedHeader'")
    assert key_state(kms, key_id) == "Enabled"


# --- item 2: repeated headers are canonicalised as signed, and never select an operation ------
def test_unsigned_target_before_the_signed_one_is_refused(
    server: TrentServer, kms: Any, key_id: str
) -> None:
    body = _body(key_id)
    signed = sign_raw(
        server,
        [("Content-Type", CONTENT_TYPE), ("X-Amz-Target", "TrentService.DescribeKey")],
        body,
    )
    reply = send_raw(server, [("X-Amz-Target", "TrentService.DisableKey"), *signed], body)
    assert_error(reply, "InvalidSignatureException", "signature we calculated does not match")
    assert reply.status == 400
    assert key_state(kms, key_id) == "Enabled"


def test_unsigned_target_after_the_signed_one_is_refused(
    server: TrentServer, kms: Any, key_id: str
) -> None:
    body = _body(key_id)
    signed = sign_raw(
        server,
        [("Content-Type", CONTENT_TYPE), ("X-Amz-Target", "TrentService.DescribeKey")],
        body,
    )
    reply = send_raw(server, [*signed, ("X-Amz-Target", "TrentService.DisableKey")], body)
    assert_error(reply, "InvalidSignatureException", "signature we calculated does not match")
    assert key_state(kms, key_id) == "Enabled"


def test_signed_repeated_target_names_no_operation(
    server: TrentServer, kms: Any, key_id: str
) -> None:
    """Both values signed (comma-joined, as SigV4 defines): valid signature, no operation."""
    body = _body(key_id)
    headers = sign_raw(
        server,
        [
            ("Content-Type", CONTENT_TYPE),
            ("X-Amz-Target", "TrentService.DisableKey"),
            ("X-Amz-Target", "TrentService.DescribeKey"),
        ],
        body,
    )
    assert [v for k, v in headers if k.lower() == "x-amz-target"] == [
        "TrentService.DisableKey",
        "TrentService.DescribeKey",
    ]
    reply = send_raw(server, headers, body)
    assert_error(reply, "UnknownOperationException")
    assert reply.status == 400
    assert "DescribeKey" not in reply.body.decode() and "DisableKey" not in reply.body.decode()
    assert key_state(kms, key_id) == "Enabled"


def test_target_without_service_prefix_is_unknown_operation(server: TrentServer) -> None:
    body = b"{}"
    headers = sign_raw(server, [("Content-Type", CONTENT_TYPE), ("X-Amz-Target", "ListKeys")], body)
    reply = send_raw(server, headers, body)
    assert_error(reply, "UnknownOperationException")
    assert reply.status == 400
    assert reply.json == {"__type": "UnknownOperationException"}  # AWS sends no message


def test_canonical_headers_join_repeats_in_order() -> None:
    raw = [(b"X-Amz-Target", b"  a  "), (b"host", b"h"), (b"x-amz-target", b"b   c")]
    assert canonical_headers(raw) == {"x-amz-target": "a,b c", "host": "h"}


# --- issue 9 item 11: a session token Trent did not issue ------------------------------------
def test_unissued_session_token_is_unrecognized_client(server: TrentServer) -> None:
    key, secret = server.credentials()
    kms = server.client(aws_access_key_id=key, aws_secret_access_key=secret)
    with_token = server.client(aws_session_token="FwoGZXIvYXdzEXAMPLETOKEN")
    assert kms.list_keys(Limit=1)["Keys"] is not None
    with pytest.raises(ClientError) as caught:
        with_token.list_keys(Limit=1)
    error = caught.value.response
    assert error["Error"]["Code"] == "UnrecognizedClientException"
    assert error["Error"]["Message"] == INVALID_TOKEN
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


# --- item 3: a malformed date, header or signature is a 400, never a 500 ----------------------
def _auth(credential: str = "AKIAUNKNOWNUNKNOWN00/20260101/us-east-1/kms/aws4_request") -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential={credential}, "
        f"SignedHeaders=content-type;date;host;x-amz-target, Signature={'0' * 64}"
    )


@pytest.mark.parametrize(
    "date",
    [
        "Fri, 31 Dec 9999 23:59:59 -0100",
        "Mon, 01 Jan 0001 00:00:00 +0100",
        "Fri, 31 Dec 9999 23:59:59 +9959",
        "not a date",
        "",
    ],
)
def test_malformed_date_header_is_400(server: TrentServer, date: str) -> None:
    headers = {
        "Content-Type": CONTENT_TYPE,
        "X-Amz-Target": "TrentService.ListKeys",
        "Date": date,
        "Authorization": _auth(),
    }
    reply = send(server, b"{}", headers)
    assert reply.status == 400, (reply.status, reply.body)
    assert reply.error_type in {"IncompleteSignatureException", "InvalidSignatureException"}


def test_healthy_after_malformed_dates(server: TrentServer) -> None:
    reply = call(server, "ListKeys", {"Limit": 1})
    assert reply.status == 200


MALFORMED: list[dict[str, str]] = [
    {"authorization": "AWS4-HMAC-SHA256"},
    {"authorization": "AWS4-HMAC-SHA256 "},
    {"authorization": "AWS4-HMAC-SHA256 ,,,===,"},
    {"authorization": "AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature="},
    {"authorization": _auth("a/b/c/d/e/f/g"), "x-amz-date": "20260101T000000Z"},
    {"authorization": _auth("////"), "x-amz-date": "20260101T000000Z"},
    {"authorization": _auth(), "x-amz-date": "99999999T999999Z"},
    {"authorization": _auth(), "x-amz-date": "2026-01-01T00:00:00Z"},
    {"authorization": _auth(), "x-amz-date": "\u00e9" * 16},
    {"authorization": _auth(), "date": "Fri, 31 Dec 9999 23:59:59 -0100"},
    {"authorization": _auth(), "date": "Sat, 00 Xyz 0000 99:99:99 GMT"},
    {"authorization": _auth() + "\u00ff", "x-amz-date": "20260101T000000Z"},
    {"authorization": "AWS4-HMAC-SHA256 Credential=\u00ff/\u00ff/\u00ff/kms/aws4_request"},
]


@pytest.mark.parametrize("headers", MALFORMED)
def test_verifier_raises_only_kms_errors(headers: dict[str, str]) -> None:
    verifier = SigV4Verifier(region="us-east-1", lookup_secret=lambda _: "secret")
    full = {"host": "h", "content-type": CONTENT_TYPE, "x-amz-target": "t", **headers}
    with pytest.raises(KMSError) as caught:
        verifier.verify(method="POST", path="/", query="", headers=full, body=b"", now=0.0)
    assert len(caught.value.message) < 600
