"""Trent as an XKS proxy, through a client written to AWS's XKS Proxy API Specification
(tests/xks/client.py: botocore's SigV4Auth for ``kms-xks-proxy`` and plain HTTP) against a
real ``trent serve``. Every error of the spec's table that a client can provoke is provoked;
the AAD construction and ciphertextDataIntegrityValue are recomputed independently with pyca
(tests/crypto/reference.py) from key material the test imported itself."""

from __future__ import annotations

import datetime
import hashlib
import os
import uuid
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from tests.crypto import reference
from tests.operations.test_imports import imported_key
from tests.server import TrentServer
from tests.xks.client import (
    XksClient,
    XksCredential,
    admin,
    b64,
    create_credential,
    metadata,
    unb64,
)

SPEC_AAD = b"project=nile,department=marketing"


def prefix() -> str:
    return f"/ks-{uuid.uuid4().hex[:12]}"


def client_for(server: TrentServer, *key_ids: str, args: tuple[str, ...] = ()) -> XksClient:
    options = [a for k in key_ids for a in ("--key-id", k)]
    credential = create_credential(server.data_dir, *options, "--path-prefix", prefix(), *args)
    return XksClient(server.endpoint, credential)


@pytest.fixture
def xks(server: TrentServer, key_id: str) -> XksClient:
    return client_for(server, key_id)


def xks_records(server: TrentServer, request_id: str) -> list[dict[str, Any]]:
    return [
        r
        for r in server.audit_records()
        if r.get("eventSource") == "kms-xks-proxy"
        and (r.get("requestParameters") or {}).get("requestMetadata", {}).get("kmsRequestId")
        == request_id
    ]


# --- the four APIs ------------------------------------------------------------------------------
def test_credential_has_the_spec_form(xks: XksClient) -> None:
    credential = xks.credential
    assert 20 <= len(credential.access_key_id) <= 30
    assert set(credential.access_key_id) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert 43 <= len(credential.secret) <= 64
    assert len(unb64(credential.secret)) == 32
    assert credential.uri_path.endswith("/kms/xks/v1") and len(credential.uri_path) <= 128


def test_health_status(xks: XksClient) -> None:
    reply = xks.health()
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/json"
    body = reply.body
    assert body["xksProxyFleetSize"] >= 1
    assert body["xksProxyVendor"] and body["xksProxyModel"] and body["ekmVendor"]
    assert 1 <= len(body["ekmFleetDetails"]) <= 10
    assert body["ekmFleetDetails"][0]["healthStatus"] == "ACTIVE"
    assert {"id", "model", "healthStatus"} <= set(body["ekmFleetDetails"][0])


def test_key_metadata_follows_key_state(xks: XksClient, kms: Any, key_id: str) -> None:
    reply = xks.key_metadata(key_id)
    assert reply.status == 200
    assert reply.body == {
        "keySpec": "AES_256",
        "keyUsage": ["ENCRYPT", "DECRYPT"],
        "keyStatus": "ENABLED",
    }
    kms.disable_key(KeyId=key_id)
    assert xks.key_metadata(key_id).body["keyStatus"] == "DISABLED"
    refused = xks.encrypt(key_id, b"secret")
    assert (refused.status, refused.error) == (400, "InvalidStateException")
    kms.enable_key(KeyId=key_id)
    assert xks.key_metadata(key_id).body["keyStatus"] == "ENABLED"


@pytest.mark.parametrize("size", [0, 1, 12, 4300])
@pytest.mark.parametrize("aad", [None, b"", SPEC_AAD, os.urandom(8192)])
def test_encrypt_then_decrypt(xks: XksClient, key_id: str, size: int, aad: bytes | None) -> None:
    plaintext = os.urandom(size)
    sealed = xks.encrypt(key_id, plaintext, aad)
    assert sealed.status == 200, sealed.body
    fields = sealed.body
    assert len(unb64(fields["ciphertext"])) == size
    assert len(unb64(fields["initializationVector"])) == 12
    assert len(unb64(fields["authenticationTag"])) == 16
    assert len(unb64(fields["ciphertextMetadata"])) <= 20
    opened = xks.decrypt(key_id, fields, aad)
    assert opened.status == 200, opened.body
    assert unb64(opened.body["plaintext"]) == plaintext


def test_integrity_value_recomputed(xks: XksClient, key_id: str) -> None:
    """Appendix C: SHA-256 over AAD || ciphertextMetadata || IV || ciphertext || tag."""
    for aad in (None, SPEC_AAD):
        fields = xks.encrypt(key_id, b"Hello World!", aad).body
        expected = hashlib.sha256(
            (aad or b"")
            + unb64(fields["ciphertextMetadata"])
            + unb64(fields["initializationVector"])
            + unb64(fields["ciphertext"])
            + unb64(fields["authenticationTag"])
        ).digest()
        assert unb64(fields["ciphertextDataIntegrityValue"]) == expected
    without = xks.encrypt(key_id, b"Hello World!", cdiv=False).body
    assert "ciphertextDataIntegrityValue" not in without


def test_aad_construction_recomputed_with_imported_material(server: TrentServer, kms: Any) -> None:
    """With material the test imported, the ciphertext opens independently (pyca AES-GCM,
    SP 800-108 derived key as the README documents) under the spec's AAD: 2-byte big-endian
    AAD length || AAD || 1-byte metadata length || metadata; and under nothing else."""
    key = imported_key(kms)
    xks = client_for(server, key.key_id)
    plaintext = b"Hello World!"
    fields = xks.encrypt(key.key_id, plaintext, SPEC_AAD).body
    md, iv = unb64(fields["ciphertextMetadata"]), unb64(fields["initializationVector"])
    body = unb64(fields["ciphertext"]) + unb64(fields["authenticationTag"])
    assert md == b"\x01" + bytes.fromhex(key.material_id)[:16]
    context = (
        b"trent xks v1\x00" + uuid.UUID(key.key_id).bytes + bytes.fromhex(key.material_id) + iv
    )
    aes_key = reference.derived_key(key.material, context)
    spec_aad = len(SPEC_AAD).to_bytes(2, "big") + SPEC_AAD + len(md).to_bytes(1, "big") + md
    assert reference.gcm_open(aes_key, iv, body, spec_aad) == plaintext
    for wrong in (SPEC_AAD + md, SPEC_AAD, spec_aad[2:]):
        with pytest.raises(InvalidTag):
            reference.gcm_open(aes_key, iv, body, wrong)


def test_spec_example_requests(xks: XksClient, key_id: str) -> None:
    """The spec's Encrypt request example, then its Decrypt request format with our result;
    the spec's own example ciphertext (another proxy's metadata) is InvalidCiphertext."""
    encrypt = {
        "requestMetadata": {
            "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
            "kmsKeyArn": "arn:aws:kms:us-east-2:123456789012:"
            "/key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "kmsOperation": "Encrypt",
            "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae",
            "kmsViaService": "ebs",
        },
        "additionalAuthenticatedData": "cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n",
        "plaintext": "SGVsbG8gV29ybGQh",
        "encryptionAlgorithm": "AES_GCM",
        "ciphertextDataIntegrityValueAlgorithm": "SHA_256",
    }
    reply = xks.post(f"/keys/{key_id}/encrypt", encrypt)
    assert reply.status == 200, reply.body
    decrypt = {
        "requestMetadata": {**encrypt["requestMetadata"], "kmsOperation": "Decrypt"},
        "additionalAuthenticatedData": encrypt["additionalAuthenticatedData"],
        "encryptionAlgorithm": "AES_GCM",
        "ciphertext": reply.body["ciphertext"],
        "ciphertextMetadata": reply.body["ciphertextMetadata"],
        "initializationVector": reply.body["initializationVector"],
        "authenticationTag": reply.body["authenticationTag"],
    }
    opened = xks.post(f"/keys/{key_id}/decrypt", decrypt)
    assert opened.body == {"plaintext": "SGVsbG8gV29ybGQh"}
    spec_example = {
        **decrypt,
        "ciphertext": "ghxkK1txeDNn3q8Y",
        "ciphertextMetadata": "a2V5X3ZlcnNpb249MQ==",
        "initializationVector": "HMrlRw85cAJUd5Ax",
        "authenticationTag": "vBxN2ncH1oEkR8WVXpmyYQ==",
    }
    refused = xks.post(f"/keys/{key_id}/decrypt", spec_example)
    assert (refused.status, refused.error) == (400, "InvalidCiphertextException")


def test_decrypt_after_rotation(xks: XksClient, kms: Any, key_id: str) -> None:
    before = xks.encrypt(key_id, b"old material").body
    kms.rotate_key_on_demand(KeyId=key_id)
    after = xks.encrypt(key_id, b"new material").body
    assert before["ciphertextMetadata"] != after["ciphertextMetadata"]
    assert unb64(xks.decrypt(key_id, before).body["plaintext"]) == b"old material"
    assert unb64(xks.decrypt(key_id, after).body["plaintext"]) == b"new material"


def test_any_region_and_either_signing_style(xks: XksClient, key_id: str) -> None:
    for region in ("us-east-1", "eu-west-1", "ap-southeast-2"):
        for kms_style in (True, False):
            xks.region, xks.kms_style = region, kms_style
            assert xks.key_metadata(key_id).status == 200


# --- errors of the spec's table -------------------------------------------------------------
def _encrypt_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "requestMetadata": metadata("Encrypt"),
        "plaintext": b64(b"data"),
        "encryptionAlgorithm": "AES_GCM",
    }
    for name, value in changes.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        _encrypt_body(requestMetadata=None),
        _encrypt_body(requestMetadata="x"),
        _encrypt_body(requestMetadata={k: v for k, v in metadata().items() if k != "kmsRequestId"}),
        _encrypt_body(requestMetadata={k: v for k, v in metadata().items() if k != "kmsKeyArn"}),
        _encrypt_body(requestMetadata={**metadata(), "awsPrincipalArn": 7}),
        _encrypt_body(requestMetadata={**metadata(), "awsPrincipalArn": "a" * 2049}),
        _encrypt_body(plaintext=None),
        _encrypt_body(plaintext="not base64!"),
        _encrypt_body(plaintext=12),
        _encrypt_body(encryptionAlgorithm=None),
        _encrypt_body(encryptionAlgorithm="AES_CBC"),
        _encrypt_body(additionalAuthenticatedData="%%%"),
        _encrypt_body(ciphertextDataIntegrityValueAlgorithm="SHA_1"),
    ],
)
def test_validation_exception(xks: XksClient, key_id: str, body: Any) -> None:
    reply = xks.post(f"/keys/{key_id}/encrypt", body)
    assert (reply.status, reply.error) == (400, "ValidationException")
    message = reply.body["errorMessage"]
    assert len(message) < 512 and all(" " <= c <= "~" for c in message)


def test_metadata_over_20_bytes_is_validation(xks: XksClient, key_id: str) -> None:
    fields = xks.encrypt(key_id, b"data").body
    fields["ciphertextMetadata"] = b64(bytes(21))
    reply = xks.decrypt(key_id, fields)
    assert (reply.status, reply.error) == (400, "ValidationException")


def test_invalid_ciphertext_exception(xks: XksClient, key_id: str) -> None:
    fields = xks.encrypt(key_id, b"data", SPEC_AAD).body
    tag = bytearray(unb64(fields["authenticationTag"]))
    tag[0] ^= 1
    cases: list[tuple[dict[str, str], bytes | None]] = [
        ({**fields, "authenticationTag": b64(bytes(tag))}, SPEC_AAD),
        (fields, b"project=nile"),
        (fields, None),
        ({**fields, "initializationVector": b64(os.urandom(16))}, SPEC_AAD),
        ({**fields, "authenticationTag": b64(os.urandom(12))}, SPEC_AAD),
        ({k: v for k, v in fields.items() if k != "ciphertextMetadata"}, SPEC_AAD),
    ]
    for case, aad in cases:
        reply = xks.decrypt(key_id, case, aad)
        assert (reply.status, reply.error) == (400, "InvalidCiphertextException"), case
    # The spec's case for the lengths in the AAD: encrypt without AAD, then pass the
    # metadata as AAD and no metadata.
    bare = xks.encrypt(key_id, b"data").body
    moved = {k: v for k, v in bare.items() if k != "ciphertextMetadata"}
    reply = xks.decrypt(key_id, moved, unb64(bare["ciphertextMetadata"]))
    assert reply.error == "InvalidCiphertextException"


def test_ciphertext_of_another_key(server: TrentServer, kms: Any, key_id: str) -> None:
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    xks = client_for(server, key_id, other)
    fields = xks.encrypt(key_id, b"data").body
    assert xks.decrypt(other, fields).error == "InvalidCiphertextException"


def test_authentication_failed(server: TrentServer, xks: XksClient, key_id: str) -> None:
    cases = [
        xks.key_metadata(key_id, sign=False),
        xks.key_metadata(key_id, secret=b64(os.urandom(32))),
        XksClient(xks.endpoint, xks.credential, service="kms").key_metadata(key_id),
        XksClient(
            xks.endpoint, XksCredential("A" * 26, xks.credential.secret, xks.credential.uri_path)
        ).key_metadata(key_id),
        xks.health(sign=False),
    ]
    for reply in cases:
        assert (reply.status, reply.error) == (401, "AuthenticationFailedException")


def test_stale_signature_fails(
    xks: XksClient, key_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over 5 minutes of skew fails authentication (the spec, "Task 4")."""
    import botocore.auth

    old = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(minutes=6)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: old)
    reply = xks.key_metadata(key_id)
    assert (reply.status, reply.error) == (401, "AuthenticationFailedException")
    assert "expired" in reply.body["errorMessage"]


def test_access_denied_by_secondary_authorization(server: TrentServer, key_id: str) -> None:
    xks = client_for(
        server,
        key_id,
        args=(
            "--allow-principal",
            "arn:aws:iam::123456789012:user/*",
            "--allow-kms-operation",
            "Encrypt",
            "--allow-kms-operation",
            "GenerateDataKey",
            "--allow-via-service",
            "ebs",
        ),
    )
    assert xks.encrypt(key_id, b"data", kmsViaService="ebs").status == 200
    for reply in (
        xks.encrypt(key_id, b"data"),  # no kmsViaService
        xks.encrypt(key_id, b"data", kmsViaService="s3"),
        xks.encrypt(key_id, b"data", kmsViaService="ebs", awsPrincipalArn="arn:aws:iam::1:role/x"),
        xks.key_metadata(key_id),  # kmsOperation CreateKey
    ):
        assert (reply.status, reply.error) == (403, "AccessDeniedException")
    assert xks.health().status == 200  # GetHealthStatus is excluded (the spec)


def test_key_not_found(server: TrentServer, xks: XksClient, kms: Any) -> None:
    unserved = kms.create_key()["KeyMetadata"]["KeyId"]
    for key in (unserved, str(uuid.uuid4()), "no.such_key-1"):
        for reply in (xks.key_metadata(key), xks.encrypt(key, b"data")):
            assert (reply.status, reply.error) == (404, "KeyNotFoundException")


def test_invalid_uri_path(server: TrentServer, xks: XksClient, key_id: str) -> None:
    other = client_for(server, key_id)
    cases = [
        xks.post(f"/keys/{key_id}/sign", {"requestMetadata": metadata()}),
        xks.post("/healthz", {"requestMetadata": metadata()}),
        xks.post("/keys/bad+key!/metadata", {"requestMetadata": metadata()}),
        xks.post("/keys/" + "k" * 129 + "/metadata", {"requestMetadata": metadata()}),
        # signed by a credential of another path prefix
        xks.health(uri_path=other.credential.uri_path),
        xks.post("/health", {}, uri_path="/kms/xks/v2"),
    ]
    for reply in cases:
        assert (reply.status, reply.error) == (404, "InvalidUriPathException")


def test_get_is_405(xks: XksClient, key_id: str) -> None:
    for suffix in (f"/keys/{key_id}/encrypt", "/health"):
        reply = xks.post(suffix, b"", method="GET")
        assert reply.status == 405
        assert reply.headers["allow"] == "POST"


def test_unsupported_sizes(xks: XksClient, key_id: str) -> None:
    assert xks.encrypt(key_id, bytes(4301)).error == "UnsupportedOperationException"
    assert xks.encrypt(key_id, b"x", bytes(8193)).status == 501
    big = xks.post(f"/keys/{key_id}/encrypt", b"{" + b" " * 70000 + b"}")
    assert (big.status, big.error) == (501, "UnsupportedOperationException")


# --- credentials ----------------------------------------------------------------------------------
def test_two_credentials_per_prefix_for_rotation(server: TrentServer, key_id: str) -> None:
    path_prefix = prefix()
    first = create_credential(server.data_dir, "--key-id", key_id, "--path-prefix", path_prefix)
    second = create_credential(server.data_dir, "--key-id", key_id, "--path-prefix", path_prefix)
    assert first.uri_path == second.uri_path == path_prefix + "/kms/xks/v1"
    third = admin(
        server.data_dir, "create-xks-credential", "--key-id", key_id, "--path-prefix", path_prefix
    )
    assert third.returncode != 0 and "already has 2 credentials" in third.stderr
    old, new = XksClient(server.endpoint, first), XksClient(server.endpoint, second)
    assert old.health().status == new.health().status == 200
    listed = admin(server.data_dir, "list-xks-credentials").stdout
    assert first.access_key_id in listed and first.secret not in listed
    deleted = admin(
        server.data_dir, "delete-xks-credential", "--access-key-id", first.access_key_id
    )
    assert deleted.returncode == 0
    assert old.health().error == "AuthenticationFailedException"
    assert new.health().status == 200


def test_credential_refuses_keys_it_cannot_serve(
    server: TrentServer, kms: Any, key_id: str
) -> None:
    hmac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    for key in (hmac_key["KeyId"], str(uuid.uuid4())):
        done = admin(server.data_dir, "create-xks-credential", "--key-id", key)
        assert done.returncode != 0 and ("HMAC_256" in done.stderr or "no key" in done.stderr)
    for bad_prefix in ("/a b", "/" + "p" * 120):
        done = admin(
            server.data_dir,
            "create-xks-credential",
            "--key-id",
            key_id,
            "--path-prefix",
            bad_prefix,
        )
        assert done.returncode != 0
        assert "prefix" in done.stderr or "longer" in done.stderr


# --- audit ----------------------------------------------------------------------------------------
def test_every_request_is_audited_without_plaintext(
    server: TrentServer, xks: XksClient, key_id: str
) -> None:
    secret = b"do not log me"
    request_id = str(uuid.uuid4())
    fields = xks.encrypt(key_id, secret, kmsRequestId=request_id).body
    denied_id = str(uuid.uuid4())
    xks.decrypt(key_id, {**fields, "authenticationTag": b64(bytes(16))}, kmsRequestId=denied_id)
    (ok,) = xks_records(server, request_id)
    assert ok["eventName"] == "Encrypt" and "errorCode" not in ok
    assert ok["userIdentity"]["accessKeyId"] == xks.credential.access_key_id
    assert ok["requestParameters"]["externalKeyId"] == key_id
    assert ok["requestParameters"]["xksProxyUriPath"] == xks.credential.uri_path
    assert ok["resources"][0]["ARN"].endswith(key_id)
    assert ok["additionalEventData"]["keyMaterialId"]
    (failed,) = xks_records(server, denied_id)
    assert failed["errorCode"] == "InvalidCiphertextException"
    trail = b"".join(p.read_bytes() for p in (server.data_dir / "audit").iterdir() if p.is_file())
    for leak in (b64(secret), fields["ciphertext"], xks.credential.secret):
        assert leak.encode() not in trail
