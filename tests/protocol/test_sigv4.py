"""SigV4 verification against requests signed by botocore itself."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from trent.errors import InvalidSignatureException, KMSError, catalogue
from trent.errors.catalogue import Entry
from trent.protocol.sigv4 import SigV4Verifier, canonical_headers

AKID = "AKIDTRENTEXAMPLE0001"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "eu-west-2"
WHEN = datetime(2026, 11, 25, 4, 0, 0)  # naive UTC, as botocore uses it
T0 = WHEN.replace(tzinfo=UTC).timestamp()
BODY = b'{"KeyId": "alias/app", "Plaintext": "aGVsbG8="}'


@dataclass
class Req:
    headers: dict[str, str]
    body: bytes = BODY
    method: str = "POST"
    path: str = "/"
    query: str = ""

    def with_header(self, name: str, value: str) -> Req:
        return replace(self, headers={**self.headers, name: value})

    def without_header(self, name: str) -> Req:
        return replace(self, headers={k: v for k, v in self.headers.items() if k != name})

    def edit_auth(self, pattern: str, repl: str) -> Req:
        return self.with_header(
            "authorization", re.sub(pattern, repl, self.headers["authorization"])
        )


def sign(
    *,
    body: bytes = BODY,
    query: str = "",
    extra: dict[str, str] | None = None,
    akid: str = AKID,
    secret: str = SECRET,
    region: str = REGION,
    service: str = "kms",
    when: datetime = WHEN,
) -> Req:
    url = "http://127.0.0.1:8080/" + (f"?{query}" if query else "")
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "TrentService.Encrypt",
        **(extra or {}),
    }
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        SigV4Auth(Credentials(akid, secret), service, region).add_auth(request)
    wire = {k.lower(): v for k, v in request.headers.items()}
    wire["host"] = "127.0.0.1:8080"  # added by the HTTP client, signed by botocore
    return Req(headers=wire, body=body, query=query)


def verifier(secrets: dict[str, str] | None = None) -> SigV4Verifier:
    known = {AKID: SECRET} if secrets is None else secrets
    return SigV4Verifier(region=REGION, lookup_secret=known.get)


def check(req: Req, now: float = T0, v: SigV4Verifier | None = None) -> str:
    return (v or verifier()).verify(
        method=req.method,
        path=req.path,
        query=req.query,
        headers=req.headers,
        body=req.body,
        now=now,
    )


def refused(req: Req, entry: Entry, at: float = T0, **fields: str) -> KMSError:
    """``req`` is refused with exactly ``entry``'s code and message (``fields`` fill it)."""
    with pytest.raises(entry.error) as info:
        check(req, at)
    assert type(info.value) is entry.error
    assert info.value.message == entry.message(**fields)
    assert SECRET not in info.value.message
    return info.value


# --- accepted --------------------------------------------------------------------------------
def test_valid_request_returns_access_key_id() -> None:
    assert check(sign()) == AKID


def test_valid_with_query_string() -> None:
    assert check(sign(query="b=2&a=x%2Fy&c=")) == AKID


def test_valid_with_content_sha256_header() -> None:
    req = sign(extra={"X-Amz-Content-SHA256": hashlib.sha256(BODY).hexdigest()})
    assert "x-amz-content-sha256" in req.headers["authorization"]
    assert check(req) == AKID


def test_valid_with_date_header_instead_of_x_amz_date() -> None:
    req = sign(extra={"Date": "placeholder"})  # botocore then signs with Date, not X-Amz-Date
    assert "x-amz-date" not in req.headers
    assert check(req) == AKID


def test_empty_body_and_padded_header_values() -> None:
    req = sign(body=b"", extra={"X-Custom": "  a \t  b  "})
    assert req.headers["x-custom"] == "  a \t  b  "
    assert check(req) == AKID
    assert check(req.with_header("x-custom", "a b")) == AKID  # same canonical value


def test_unsigned_extra_header_is_ignored() -> None:
    assert check(sign().with_header("x-unsigned-extra", "anything")) == AKID


def test_cached_signing_key_gives_same_result() -> None:
    v = verifier()
    assert check(sign(), v=v) == AKID
    assert len(v._keys) == 1
    assert check(sign(body=b"{}"), v=v) == AKID
    assert len(v._keys) == 1
    with pytest.raises(InvalidSignatureException):
        check(sign().with_header("x-amz-target", "TrentService.Decrypt"), v=v)


def test_signing_key_cache_is_bounded() -> None:
    v = verifier()
    for i in range(1100):
        v._signing_key(f"AK{i}", SECRET, "20261125", "us-east-1", "kms")
    assert len(v._keys) <= 1024


def test_parse_and_mac_caches_do_not_change_verdicts() -> None:
    v = verifier()
    for _ in range(3):  # the same SignedHeaders and signing key, served from the caches
        assert check(sign(), v=v) == AKID
        with pytest.raises(InvalidSignatureException):
            check(sign().with_header("x-amz-target", "TrentService.Decrypt"), v=v)
    assert check(sign(body=b'{"KeyId": "x"}'), v=v) == AKID
    assert len(v._macs) == 1


def test_signed_headers_cache_is_bounded() -> None:
    v = verifier()
    for i in range(1100):
        v._names(f"host;x-amz-date;x-extra-{i}")
    assert len(v._signed_names) <= 1024
    v._names("host;" + "x" * 600)
    assert ("host;" + "x" * 600) not in v._signed_names


# --- clock skew ------------------------------------------------------------------------------
@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_skew_within_window_accepted(offset: int) -> None:
    assert check(sign(), now=T0 + offset) == AKID


def test_skew_past_refused() -> None:
    refused(
        sign(),
        catalogue.SIGNATURE_EXPIRED,
        T0 + 301,
        amz_date="20261125T040000Z",
        earliest="20261125T040001Z",
        now="20261125T040501Z",
        window="5 min.",
    )
    err = refused(
        sign(),
        catalogue.SIGNATURE_EXPIRED,
        T0 + 1200,
        amz_date="20261125T040000Z",
        earliest="20261125T041500Z",
        now="20261125T042000Z",
        window="5 min.",
    )
    assert err.message == (  # AWS's form [issue aws/aws-sdk-js-v3#6400]
        "Signature expired: 20261125T040000Z is now earlier than 20261125T041500Z "
        "(20261125T042000Z - 5 min.)"
    )


def test_skew_future_refused() -> None:
    err = refused(
        sign(),
        catalogue.SIGNATURE_NOT_YET_CURRENT,
        T0 - 301,
        amz_date="20261125T040000Z",
        latest="20261125T035959Z",
        now="20261125T035459Z",
        window="5 min.",
    )
    assert err.message == (  # AWS's form [issue aws/aws-sdk-go#2194]
        "Signature not yet current: 20261125T040000Z is still later than 20261125T035959Z "
        "(20261125T035459Z + 5 min.)"
    )


# --- refusals --------------------------------------------------------------------------------
def test_missing_authorization() -> None:
    req = sign().without_header("authorization")
    refused(req, catalogue.MISSING_AUTHENTICATION)


def test_query_auth_is_not_supported() -> None:
    req = replace(sign().without_header("authorization"), query="X-Amz-Algorithm=AWS4-HMAC-SHA256")
    refused(req, catalogue.PRESIGNED_UNSUPPORTED)


def test_wrong_algorithm() -> None:
    req = sign().with_header("authorization", "Basic dXNlcjpzM2NyM3Q=")
    err = refused(req, catalogue.UNSUPPORTED_ALGORITHM, scheme="Basic")
    assert "dXNlcjpzM2NyM3Q" not in err.message


@pytest.mark.parametrize("part", ["Credential", "SignedHeaders", "Signature"])
def test_missing_component(part: str) -> None:
    req = sign()
    algorithm, params = req.headers["authorization"].split(" ", 1)
    kept = [p for p in params.split(", ") if not p.startswith(part + "=")]
    req = req.with_header("authorization", f"{algorithm} {', '.join(kept)}")
    refused(
        req,
        catalogue.AUTHORIZATION_INCOMPLETE,
        problems=f"Authorization header requires '{part}' parameter.",
        authorization=re.sub(
            r"Signature=[^,\s]*", "Signature=<redacted>", req.headers["authorization"]
        ),
    )


def test_missing_date_does_not_echo_signature() -> None:
    req = sign()
    signature = req.headers["authorization"].rsplit("Signature=", 1)[1]
    err = refused(
        req.without_header("x-amz-date"),
        catalogue.AUTHORIZATION_INCOMPLETE,
        problems="Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
        "header.",
        authorization=req.headers["authorization"].replace(signature, "<redacted>"),
    )
    assert signature not in err.message
    assert "Signature=<redacted>" in err.message


def test_malformed_date() -> None:
    req = sign().with_header("x-amz-date", "2026-11-25T04:00:00Z")
    refused(req, catalogue.BAD_DATE, value="2026-11-25T04:00:00Z")


def test_credential_with_four_parts() -> None:
    req = sign().edit_auth(r"/kms/aws4_request", "/kms")
    refused(req, catalogue.CREDENTIAL_PARTS, credential=f"{AKID}/20261125/{REGION}/kms")


def test_credential_with_bad_terminator() -> None:
    req = sign().edit_auth(r"/aws4_request", "/aws5_request")
    refused(req, catalogue.CREDENTIAL_TERMINATOR, terminator="aws5_request")


def test_host_must_be_signed() -> None:
    req = sign().edit_auth(r"SignedHeaders=[^,]*", "SignedHeaders=content-type;x-amz-date")
    refused(req, catalogue.HOST_NOT_SIGNED)


def test_x_amz_date_must_be_signed() -> None:
    req = sign().edit_auth(r"SignedHeaders=[^,]*", "SignedHeaders=content-type;host")
    refused(req, catalogue.HEADER_NOT_SIGNED, header="X-Amz-Date")


def test_unknown_access_key() -> None:
    refused(sign(akid="AKIDUNKNOWN"), catalogue.INVALID_SECURITY_TOKEN)


def test_wrong_service_in_scope() -> None:
    refused(
        sign(service="s3"),
        catalogue.CREDENTIAL_SCOPE,
        problems="Credential should be scoped to correct service: 'kms'. ",
    )


def test_wrong_region_in_scope() -> None:
    err = refused(
        sign(region="us-east-1"),
        catalogue.CREDENTIAL_SCOPE,
        problems="Credential should be scoped to a valid region. ",
    )
    assert "service" not in err.message


def test_scope_date_differs_from_request_date() -> None:
    req = sign(when=datetime(2026, 11, 25, 23, 59, 0))
    late = req.with_header("x-amz-date", "20261126T000100Z")
    now = datetime(2026, 11, 26, 0, 1, tzinfo=UTC).timestamp()
    refused(
        late,
        catalogue.CREDENTIAL_SCOPE,
        now,
        problems="Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
        "from HTTP: '20261125' != '20261126', from '20261126T000100Z'.",
    )


def test_every_scope_problem_in_one_message() -> None:
    req = sign(region="us-east-1", service="s3", when=datetime(2026, 11, 25, 23, 59, 0))
    late = req.with_header("x-amz-date", "20261126T000100Z")
    now = datetime(2026, 11, 26, 0, 1, tzinfo=UTC).timestamp()
    refused(
        late,
        catalogue.CREDENTIAL_SCOPE,
        now,
        problems=catalogue.SCOPE_REGION
        + catalogue.SCOPE_SERVICE.format(service="kms")
        + catalogue.SCOPE_DATE.format(day="20261125", date="20261126", amz_date="20261126T000100Z"),
    )


MISMATCH = catalogue.SIGNATURE_MISMATCH


def test_wrong_secret() -> None:
    refused(sign(secret="not-the-secret"), MISMATCH)


def test_tampered_body() -> None:
    refused(replace(sign(), body=BODY.replace(b"alias/app", b"alias/evil")), MISMATCH)


def test_tampered_signed_header() -> None:
    req = sign().with_header("x-amz-target", "TrentService.Decrypt")
    refused(req, MISMATCH)


def test_tampered_query_and_path() -> None:
    refused(replace(sign(query="a=1"), query="a=2"), MISMATCH)
    refused(replace(sign(), path="/other"), MISMATCH)
    refused(replace(sign(), method="PUT"), MISMATCH)


def test_non_ascii_signature_is_a_mismatch() -> None:
    req = sign().edit_auth(r"Signature=\w+", "Signature=caf\u00e9")
    refused(req, MISMATCH)


def test_content_sha256_mismatch() -> None:
    req = sign(extra={"X-Amz-Content-SHA256": hashlib.sha256(b"other").hexdigest()})
    refused(req, catalogue.CONTENT_SHA256_MISMATCH)


def test_unsigned_security_token_header() -> None:
    req = sign().with_header("x-amz-security-token", "token")
    refused(req, catalogue.HEADER_NOT_SIGNED, header="X-Amz-Security-Token")


def test_security_token_trent_did_not_issue() -> None:
    refused(sign(extra={"X-Amz-Security-Token": "FwoGZXIvYXdzE"}), catalogue.INVALID_SECURITY_TOKEN)


def test_canonical_headers_verify_without_collapsing_again() -> None:
    """The server's path: raw headers through ``canonical_headers``, then ``verify`` with
    ``canonical=True`` (values not collapsed twice): padded values still verify, a changed
    signed value still fails."""
    req = sign(body=b"", extra={"X-Custom": "  a \t  b  "})
    raw = [(k.encode(), v.encode()) for k, v in req.headers.items()]

    def verify(headers: list[tuple[bytes, bytes]]) -> str:
        return verifier().verify(
            method=req.method,
            path=req.path,
            query=req.query,
            headers=canonical_headers(headers),
            body=req.body,
            now=T0,
            canonical=True,
        )

    assert verify(raw) == AKID
    changed = [(k, b"a  c" if k == b"x-custom" else v) for k, v in raw]
    with pytest.raises(InvalidSignatureException) as info:
        verify(changed)
    assert info.value.message == MISMATCH.message()
