"""Trent using an external key store, against Trent as the XKS proxy: two real processes.

Trent A (the session ``server``) serves the XKS proxy API with a credential made by
``trent admin create-xks-credential``; Trent B (a process of its own, its own data dir) has an
external key store pointing at A (``http://127.0.0.1:PORT``, accepted for loopback hosts) and
keys in it, used through boto3. The proxy's side of each call is checked in A's audit trail
(requestMetadata), and the double encryption by opening each layer with one side alone.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.server import TrentServer, free_port
from tests.xks.client import XksClient, XksCredential, admin, create_credential

# The proxy's deadline: the spec's 250 ms is the default; this shared, loaded test machine
# gets more, so that a slow scheduler does not fail the functional checks below.
TIMEOUT = "3"


def prefix() -> str:
    return f"/ks-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def trent_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRENT_XKS_PROXY_TIMEOUT", TIMEOUT)
        trent = TrentServer(tmp_path_factory.mktemp("trent-b") / "data").start()
    yield trent
    trent.stop()


@pytest.fixture(scope="module")
def kms_b(trent_b: TrentServer) -> Any:
    return trent_b.client()


def code_of(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = info.value.response["Error"]
    return error["Code"], error.get("Message", "")


def create_store(
    kms_b: Any, endpoint: str, credential: XksCredential, **extra: Any
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "CustomKeyStoreName": f"xks-{uuid.uuid4().hex[:8]}",
        "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
        "XksProxyUriEndpoint": endpoint,
        "XksProxyUriPath": credential.uri_path,
        "XksProxyConnectivity": "PUBLIC_ENDPOINT",
        "XksProxyAuthenticationCredential": {
            "AccessKeyId": credential.access_key_id,
            "RawSecretAccessKey": credential.secret,
        },
    }
    options.update(extra)
    return dict(kms_b.create_custom_key_store(**options))


def describe(kms_b: Any, store_id: str) -> dict[str, Any]:
    stores = kms_b.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"]
    assert len(stores) == 1
    return dict(stores[0])


@pytest.fixture
def setup(server: TrentServer, kms: Any, kms_b: Any) -> dict[str, Any]:
    """A key on A served through a fresh credential, and a CONNECTED store on B."""
    key_a = kms.create_key(Description="external key")["KeyMetadata"]["KeyId"]
    credential = create_credential(server.data_dir, "--key-id", key_a, "--path-prefix", prefix())
    store_id = create_store(kms_b, server.endpoint, credential)["CustomKeyStoreId"]
    assert describe(kms_b, store_id)["ConnectionState"] == "DISCONNECTED"
    kms_b.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert describe(kms_b, store_id)["ConnectionState"] == "CONNECTED"
    return {"key_a": key_a, "credential": credential, "store_id": store_id}


def xks_key(kms_b: Any, setup: dict[str, Any]) -> str:
    made = kms_b.create_key(
        Origin="EXTERNAL_KEY_STORE",
        CustomKeyStoreId=setup["store_id"],
        XksKeyId=setup["key_a"],
        Description="in an external key store",
    )
    return str(made["KeyMetadata"]["KeyId"])


def proxy_records(server: TrentServer, request_id: str) -> list[dict[str, Any]]:
    found = []
    for record in server.audit_records():
        if record.get("eventSource") != "kms-xks-proxy":
            continue
        metadata = (record.get("requestParameters") or {}).get("requestMetadata") or {}
        if metadata.get("kmsRequestId") == request_id:
            found.append(metadata)
    return found


# --- the two-process round trip -------------------------------------------------------------
def test_b_uses_a_as_its_external_key_store(
    server: TrentServer, kms: Any, kms_b: Any, setup: dict[str, Any]
) -> None:
    key_b = xks_key(kms_b, setup)
    metadata = kms_b.describe_key(KeyId=key_b)["KeyMetadata"]
    assert metadata["Origin"] == "EXTERNAL_KEY_STORE"
    assert metadata["CustomKeyStoreId"] == setup["store_id"]
    assert metadata["XksKeyConfiguration"] == {"Id": setup["key_a"]}
    assert metadata["KeyState"] == "Enabled" and metadata["Enabled"] is True

    context = {"purpose": "two trents"}
    sealed = kms_b.encrypt(KeyId=key_b, Plaintext=b"held by two", EncryptionContext=context)
    opened = kms_b.decrypt(CiphertextBlob=sealed["CiphertextBlob"], EncryptionContext=context)
    assert opened["Plaintext"] == b"held by two"
    assert opened["KeyId"] == metadata["Arn"]
    with pytest.raises(ClientError) as info:
        kms_b.decrypt(CiphertextBlob=sealed["CiphertextBlob"], EncryptionContext={"x": "y"})
    assert code_of(info)[0] == "InvalidCiphertextException"

    # the proxy saw B's request: its id, operation, principal and key ARN
    request_id = sealed["ResponseMetadata"]["RequestId"]
    (seen,) = proxy_records(server, request_id)
    assert seen["kmsOperation"] == "Encrypt"
    assert seen["kmsKeyArn"] == metadata["Arn"]
    assert seen["awsPrincipalArn"].startswith("arn:aws:iam::")

    data_key = kms_b.generate_data_key(KeyId=key_b, KeySpec="AES_256")
    assert len(data_key["Plaintext"]) == 32
    again = kms_b.decrypt(CiphertextBlob=data_key["CiphertextBlob"])
    assert again["Plaintext"] == data_key["Plaintext"]
    without = kms_b.generate_data_key_without_plaintext(KeyId=key_b, NumberOfBytes=64)
    assert len(kms_b.decrypt(CiphertextBlob=without["CiphertextBlob"])["Plaintext"]) == 64

    local = kms_b.create_key()["KeyMetadata"]["KeyId"]
    moved = kms_b.re_encrypt(
        CiphertextBlob=sealed["CiphertextBlob"],
        SourceEncryptionContext=context,
        DestinationKeyId=local,
    )
    back = kms_b.re_encrypt(CiphertextBlob=moved["CiphertextBlob"], DestinationKeyId=key_b)
    assert kms_b.decrypt(CiphertextBlob=back["CiphertextBlob"])["Plaintext"] == b"held by two"


def test_neither_side_alone_decrypts(
    server: TrentServer, kms: Any, kms_b: Any, setup: dict[str, Any]
) -> None:
    key_b = xks_key(kms_b, setup)
    blob = kms_b.encrypt(KeyId=key_b, Plaintext=b"secret")["CiphertextBlob"]
    # A alone, through its KMS API: not a ciphertext of any of its keys
    with pytest.raises(ClientError) as info:
        kms.decrypt(CiphertextBlob=blob)
    assert code_of(info)[0] == "InvalidCiphertextException"
    # A alone, through the proxy API: the outer layer opens, leaving B's own ciphertext
    m = blob[17]
    v = blob[18 + m]
    iv = blob[19 + m : 19 + m + v]
    tag = blob[19 + m + v : 35 + m + v]
    fields = {
        "ciphertext": _b64(blob[35 + m + v :]),
        "ciphertextMetadata": _b64(blob[18 : 18 + m]),
        "initializationVector": _b64(iv),
        "authenticationTag": _b64(tag),
    }
    proxy = XksClient(server.endpoint, setup["credential"])
    reply = proxy.decrypt(setup["key_a"], fields, aad=blob[:17])
    assert reply.status == 200, reply.body
    inner = _unb64(reply.body["plaintext"])
    assert b"secret" not in inner and inner[0] == 2  # still Trent B's ciphertext blob
    with pytest.raises(ClientError) as info:
        kms.decrypt(CiphertextBlob=inner)
    assert code_of(info)[0] == "InvalidCiphertextException"
    # B alone (the proxy's layer not removed by A): its key cannot open the inner blob without
    # the outer layer, nor the outer one without A
    with pytest.raises(ClientError) as info:
        kms_b.decrypt(CiphertextBlob=inner)
    assert code_of(info)[0] == "InvalidCiphertextException"
    kms.disable_key(KeyId=setup["key_a"])
    try:
        with pytest.raises(ClientError) as info:
            kms_b.decrypt(CiphertextBlob=blob)
        code, message = code_of(info)
        assert code == "KMSInvalidStateException"
        assert "external key is not enabled" in message
        with pytest.raises(ClientError) as info:
            kms_b.encrypt(KeyId=key_b, Plaintext=b"x")
        assert code_of(info)[0] == "KMSInvalidStateException"
    finally:
        kms.enable_key(KeyId=setup["key_a"])
    assert kms_b.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    # and a ciphertext of A's key is nothing to B
    a_blob = kms.encrypt(KeyId=setup["key_a"], Plaintext=b"a's")["CiphertextBlob"]
    with pytest.raises(ClientError) as info:
        kms_b.decrypt(CiphertextBlob=a_blob)
    assert code_of(info)[0] == "InvalidCiphertextException"


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


# --- connection states ----------------------------------------------------------------------
def test_disconnect_makes_keys_unavailable(kms_b: Any, setup: dict[str, Any]) -> None:
    key_b = xks_key(kms_b, setup)
    blob = kms_b.encrypt(KeyId=key_b, Plaintext=b"p")["CiphertextBlob"]
    store_id = setup["store_id"]
    kms_b.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert describe(kms_b, store_id)["ConnectionState"] == "DISCONNECTED"
    metadata = kms_b.describe_key(KeyId=key_b)["KeyMetadata"]
    assert metadata["KeyState"] == "Unavailable" and metadata["Enabled"] is False
    with pytest.raises(ClientError) as info:
        kms_b.encrypt(KeyId=key_b, Plaintext=b"p")
    assert code_of(info) == ("KMSInvalidStateException", f"{metadata['Arn']} is unavailable.")
    with pytest.raises(ClientError) as info:
        kms_b.decrypt(CiphertextBlob=blob)
    assert code_of(info)[0] == "KMSInvalidStateException"
    with pytest.raises(ClientError) as info:
        kms_b.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert code_of(info)[0] == "CustomKeyStoreInvalidStateException"
    with pytest.raises(ClientError) as info:
        kms_b.delete_custom_key_store(CustomKeyStoreId=store_id)
    assert code_of(info)[0] == "CustomKeyStoreHasCMKsException"
    kms_b.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert kms_b.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"
    with pytest.raises(ClientError) as info:
        kms_b.delete_custom_key_store(CustomKeyStoreId=store_id)
    assert code_of(info)[0] == "CustomKeyStoreInvalidStateException"


def test_a_deleted_credential_fails_the_connection(
    server: TrentServer, kms_b: Any, setup: dict[str, Any]
) -> None:
    store_id = setup["store_id"]
    kms_b.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    done = admin(
        server.data_dir,
        "delete-xks-credential",
        "--access-key-id",
        setup["credential"].access_key_id,
    )
    assert done.returncode == 0, done.stderr
    kms_b.connect_custom_key_store(CustomKeyStoreId=store_id)  # succeeds, as AWS's does
    entry = describe(kms_b, store_id)
    assert entry["ConnectionState"] == "FAILED"
    assert entry["ConnectionErrorCode"] == "INVALID_CREDENTIALS"
    with pytest.raises(ClientError) as info:
        kms_b.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert code_of(info)[0] == "CustomKeyStoreInvalidStateException"
    kms_b.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    kms_b.delete_custom_key_store(CustomKeyStoreId=store_id)
    with pytest.raises(ClientError) as info:
        describe(kms_b, store_id)
    assert code_of(info) == (
        "CustomKeyStoreNotFoundException",
        f"Custom key store {store_id} does not exist.",
    )


def test_an_unreachable_proxy(
    tmp_path: Path, kms: Any, kms_b: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # nothing listens: refused at creation
    credential = XksCredential("A" * 20, "x" * 43, "/kms/xks/v1")
    with pytest.raises(ClientError) as info:
        create_store(kms_b, f"http://127.0.0.1:{free_port()}", credential)
    assert code_of(info)[0] == "XksProxyUriUnreachableException"
    # a proxy (Trent C) that goes away after the store was made: FAILED when connecting
    trent_c = TrentServer(tmp_path / "c").start()
    try:
        key_c = trent_c.client().create_key()["KeyMetadata"]["KeyId"]
        credential = create_credential(trent_c.data_dir, "--key-id", key_c)
        store_id = create_store(kms_b, trent_c.endpoint, credential)["CustomKeyStoreId"]
    finally:
        trent_c.stop()
    kms_b.connect_custom_key_store(CustomKeyStoreId=store_id)
    entry = describe(kms_b, store_id)
    assert entry["ConnectionState"] == "FAILED"
    assert entry["ConnectionErrorCode"] == "XKS_PROXY_NOT_REACHABLE"
    kms_b.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    kms_b.delete_custom_key_store(CustomKeyStoreId=store_id)


# --- refusals of CreateCustomKeyStore, UpdateCustomKeyStore and CreateKey ---------------------
def test_store_refusals(server: TrentServer, kms: Any, kms_b: Any, trent_b: TrentServer) -> None:
    key_a = kms.create_key()["KeyMetadata"]["KeyId"]
    credential = create_credential(server.data_dir, "--key-id", key_a, "--path-prefix", prefix())
    wrong = XksCredential(credential.access_key_id, "A" * 44, credential.uri_path)
    with pytest.raises(ClientError) as info:
        create_store(kms_b, server.endpoint, wrong)
    assert code_of(info)[0] == "XksProxyIncorrectAuthenticationCredentialException"
    elsewhere = XksCredential(credential.access_key_id, credential.secret, "/nowhere/kms/xks/v1")
    with pytest.raises(ClientError) as info:
        create_store(kms_b, server.endpoint, elsewhere)
    assert code_of(info)[0] == "XksProxyInvalidConfigurationException"
    with pytest.raises(ClientError) as info:
        create_store(
            kms_b,
            server.endpoint,
            credential,
            XksProxyConnectivity="VPC_ENDPOINT_SERVICE",
            XksProxyVpcEndpointServiceName="com.amazonaws.vpce.us-east-1.vpce-svc-0123",
        )
    assert code_of(info)[0] == "XksProxyVpcEndpointServiceNotFoundException"
    with pytest.raises(ClientError) as info:
        kms_b.create_custom_key_store(
            CustomKeyStoreName="hsm", CloudHsmClusterId="cluster-abcdefghijk"
        )
    assert code_of(info) == (
        "UnsupportedOperationException",
        "Trent does not support AWS_CLOUDHSM key stores; use EXTERNAL_KEY_STORE.",
    )
    with pytest.raises(ClientError) as info:
        create_store(kms_b, "http://192.0.2.1", credential)
    assert code_of(info)[0] == "ValidationException"
    with pytest.raises(ClientError) as info:
        create_store(kms_b, "ftp://example.com", credential)
    assert code_of(info)[0] == "ValidationException"
    assert "xksProxyUriEndpoint" in code_of(info)[1]

    made = create_store(kms_b, server.endpoint, credential, CustomKeyStoreName="unique-name")
    store_id = made["CustomKeyStoreId"]
    with pytest.raises(ClientError) as info:
        create_store(kms_b, server.endpoint, credential, CustomKeyStoreName="unique-name")
    assert code_of(info)[0] == "CustomKeyStoreNameInUseException"
    with pytest.raises(ClientError) as info:
        create_store(kms_b, server.endpoint, credential)
    assert code_of(info)[0] == "XksProxyUriInUseException"
    by_name = kms_b.describe_custom_key_stores(CustomKeyStoreName="unique-name")
    entry = by_name["CustomKeyStores"][0]
    assert entry["CustomKeyStoreId"] == store_id
    assert entry["XksProxyConfiguration"] == {
        "Connectivity": "PUBLIC_ENDPOINT",
        "AccessKeyId": credential.access_key_id,
        "UriEndpoint": server.endpoint,
        "UriPath": credential.uri_path,
    }
    assert credential.secret not in str(by_name)

    # a key needs a CONNECTED store
    with pytest.raises(ClientError) as info:
        kms_b.create_key(Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId=key_a)
    assert code_of(info)[0] == "CustomKeyStoreInvalidStateException"
    kms_b.update_custom_key_store(CustomKeyStoreId=store_id, NewCustomKeyStoreName="renamed")
    with pytest.raises(ClientError) as info:
        kms_b.update_custom_key_store(
            CustomKeyStoreId=store_id,
            XksProxyAuthenticationCredential={
                "AccessKeyId": wrong.access_key_id,
                "RawSecretAccessKey": wrong.secret,
            },
        )
    assert code_of(info)[0] == "XksProxyIncorrectAuthenticationCredentialException"
    assert describe(kms_b, store_id)["CustomKeyStoreName"] == "renamed"
    kms_b.delete_custom_key_store(CustomKeyStoreId=store_id)
    # the secrets reached neither B's audit trail nor its log
    trail = json.dumps(trent_b.audit_records())
    assert "CreateCustomKeyStore" in trail
    log = (trent_b.data_dir.parent / f"server-{trent_b.port}.log").read_text()
    for secret in (credential.secret, wrong.secret):
        assert secret not in trail and secret not in log


def test_create_key_checks_the_external_key(server: TrentServer, kms: Any, kms_b: Any) -> None:
    served, disabled = (kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(2))
    kms.disable_key(KeyId=disabled)
    credential = create_credential(
        server.data_dir, "--key-id", served, "--key-id", disabled, "--path-prefix", prefix()
    )
    store_id = create_store(kms_b, server.endpoint, credential)["CustomKeyStoreId"]
    kms_b.connect_custom_key_store(CustomKeyStoreId=store_id)

    def create(xks_key_id: str, **extra: Any) -> Any:
        return kms_b.create_key(
            Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId=xks_key_id, **extra
        )

    with pytest.raises(ClientError) as info:
        create(str(uuid.uuid4()))
    assert code_of(info)[0] == "XksKeyNotFoundException"
    with pytest.raises(ClientError) as info:
        create(disabled)
    assert code_of(info)[0] == "XksKeyInvalidConfigurationException"
    with pytest.raises(ClientError) as info:
        create(served, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    assert code_of(info)[0] == "UnsupportedOperationException"
    key_b = create(served)["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as info:
        create(served)
    assert code_of(info)[0] == "XksKeyAlreadyInUseException"
    with pytest.raises(ClientError) as info:
        kms_b.create_key(Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id)
    assert code_of(info)[0] == "ValidationException"
    with pytest.raises(ClientError) as info:
        kms_b.create_key(CustomKeyStoreId=store_id)
    assert code_of(info)[0] == "ValidationException"
    with pytest.raises(ClientError) as info:
        kms_b.create_key(
            Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId="cks-1234567890abcdef0", XksKeyId="k"
        )
    assert code_of(info)[0] == "CustomKeyStoreNotFoundException"
    with pytest.raises(ClientError) as info:
        kms_b.generate_random(NumberOfBytes=8, CustomKeyStoreId=store_id)
    assert code_of(info) == (
        "UnsupportedOperationException",
        "GenerateRandom does not support external key stores.",
    )
    # rotation of an external key store's key is refused, as AWS refuses it
    with pytest.raises(ClientError) as info:
        kms_b.enable_key_rotation(KeyId=key_b)
    assert code_of(info)[0] == "UnsupportedOperationException"
    with pytest.raises(ClientError) as info:
        kms_b.rotate_key_on_demand(KeyId=key_b)
    assert code_of(info)[0] == "UnsupportedOperationException"


# --- a proxy that answers wrongly, or never (tests/xks/bad_proxy.py, a process of its own) ---
@pytest.fixture
def bad_proxy(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The endpoint of a misbehaving proxy and the file of its modes (a JSON object)."""
    modes = tmp_path / "modes.json"
    modes.write_text("{}")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.xks.bad_proxy", str(port), str(modes)],
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError("the bad proxy exited") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", modes
    finally:
        process.kill()
        process.wait()


def set_modes(modes: Path, **by_name: str) -> None:
    modes.write_text(json.dumps({name.replace("_", "-"): m for name, m in by_name.items()}))


def outer_blob(key_id: str) -> bytes:
    """A well-formed external key store ciphertext (version 4) of ``key_id``, for the proxy."""
    return bytes([4]) + uuid.UUID(key_id).bytes + b"\x00" + b"\x0c" + bytes(12 + 16 + 40)


INVALID_RESPONSE = (
    "KMS cannot interpret the response it received from the external key store proxy. The "
    "problem might be a poorly constructed response, but it could also be a transient network "
    "issue. If you see this error repeatedly, report it to the proxy vendor."
)
TIMED_OUT = (
    "AWS KMS rejected the request because the external key store proxy did not respond in "
    "time. Retry the request. If you see this error repeatedly, report it to your external "
    "key store proxy administrator."
)


def test_an_invalid_response(kms_b: Any, bad_proxy: tuple[str, Path], trent_b: TrentServer) -> None:
    endpoint, modes = bad_proxy
    set_modes(modes, garbage="garbage", store="healthy")
    credential = XksCredential("B" * 20, "y" * 43, "/garbage/kms/xks/v1")
    # CreateCustomKeyStore: the health check gets 200 with a body that is no XKS answer
    with pytest.raises(ClientError) as info:
        create_store(kms_b, endpoint, credential)
    assert code_of(info) == ("XksProxyInvalidResponseException", INVALID_RESPONSE)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # UpdateCustomKeyStore to the garbage path: refused, the store unchanged
    good = XksCredential("B" * 20, "y" * 43, "/store/kms/xks/v1")
    store_id = create_store(kms_b, endpoint, good)["CustomKeyStoreId"]
    with pytest.raises(ClientError) as info:
        kms_b.update_custom_key_store(
            CustomKeyStoreId=store_id, XksProxyUriPath=credential.uri_path
        )
    assert code_of(info) == ("XksProxyInvalidResponseException", INVALID_RESPONSE)
    assert describe(kms_b, store_id)["XksProxyConfiguration"]["UriPath"] == good.uri_path
    # ConnectCustomKeyStore: succeeds, the store FAILED with XKS_PROXY_INVALID_RESPONSE
    set_modes(modes, store="garbage")
    kms_b.connect_custom_key_store(CustomKeyStoreId=store_id)
    entry = describe(kms_b, store_id)
    assert (entry["ConnectionState"], entry["ConnectionErrorCode"]) == (
        "FAILED",
        "XKS_PROXY_INVALID_RESPONSE",
    )
    kms_b.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    # a key whose proxy answers Encrypt and Decrypt with no XKS answer: KMSInvalidStateException
    set_modes(modes, store="healthy")
    kms_b.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert describe(kms_b, store_id)["ConnectionState"] == "CONNECTED"
    key_b = kms_b.create_key(
        Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId="bad-proxy-key"
    )["KeyMetadata"]["KeyId"]
    refused = (
        "KMSInvalidStateException",
        "The external key store proxy rejected the request: its response could not be interpreted.",
    )
    with pytest.raises(ClientError) as info:
        kms_b.encrypt(KeyId=key_b, Plaintext=b"p")
    assert code_of(info) == refused
    with pytest.raises(ClientError) as info:
        kms_b.generate_data_key(KeyId=key_b, KeySpec="AES_256")
    assert code_of(info) == refused
    with pytest.raises(ClientError) as info:
        kms_b.decrypt(CiphertextBlob=outer_blob(key_b))
    assert code_of(info) == refused
    # nothing of it reached B's log as a traceback
    log = (trent_b.data_dir.parent / f"server-{trent_b.port}.log").read_text()
    assert "Traceback" not in log


def test_a_proxy_that_never_answers(kms_b: Any, bad_proxy: tuple[str, Path]) -> None:
    endpoint, modes = bad_proxy
    set_modes(modes, hang="hang", store="healthy")
    # CreateCustomKeyStore: the proxy accepts the connection and never answers
    with pytest.raises(ClientError) as info:
        create_store(kms_b, endpoint, XksCredential("C" * 20, "z" * 43, "/hang/kms/xks/v1"))
    assert code_of(info)[0] == "XksProxyUriUnreachableException"
    store_id = create_store(
        kms_b, endpoint, XksCredential("C" * 20, "z" * 43, "/store/kms/xks/v1")
    )["CustomKeyStoreId"]
    kms_b.connect_custom_key_store(CustomKeyStoreId=store_id)
    key_b = kms_b.create_key(
        Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId="slow-key"
    )["KeyMetadata"]["KeyId"]
    # Encrypt and Decrypt: KMSInternalException with AWS's timeout message
    set_modes(modes, store="crypto-hang")
    with pytest.raises(ClientError) as info:
        kms_b.encrypt(KeyId=key_b, Plaintext=b"p")
    assert code_of(info) == ("KMSInternalException", TIMED_OUT)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    with pytest.raises(ClientError) as info:
        kms_b.decrypt(CiphertextBlob=outer_blob(key_b))
    assert code_of(info) == ("KMSInternalException", TIMED_OUT)
    # ConnectCustomKeyStore: FAILED with XKS_PROXY_TIMED_OUT
    kms_b.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    set_modes(modes, store="hang")
    kms_b.connect_custom_key_store(CustomKeyStoreId=store_id)
    entry = describe(kms_b, store_id)
    assert (entry["ConnectionState"], entry["ConnectionErrorCode"]) == (
        "FAILED",
        "XKS_PROXY_TIMED_OUT",
    )
    assert kms_b.describe_key(KeyId=key_b)["KeyMetadata"]["KeyState"] == "Unavailable"


# --- an https:// proxy: Trent A serving HTTPS with the certificate of make-tls-cert ---------
def test_an_https_proxy_with_a_private_ca(
    tmp_path: Path, kms_b: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    trent_a = TrentServer(tmp_path / "a-data", tls=True).start()
    try:
        monkeypatch.setenv("TRENT_XKS_PROXY_TIMEOUT", TIMEOUT)
        trusting = TrentServer(
            tmp_path / "b-data",
            extra_args=["--xks-proxy-ca-bundle", str(trent_a.ca_bundle)],
        ).start()
        try:
            kms_a, kms_trusting = trent_a.client(), trusting.client()
            key_a = kms_a.create_key()["KeyMetadata"]["KeyId"]
            credential = create_credential(trent_a.data_dir, "--key-id", key_a)
            assert trent_a.endpoint.startswith("https://")
            # a Trent that does not trust A's private CA refuses the proxy's certificate
            with pytest.raises(ClientError) as info:
                create_store(kms_b, trent_a.endpoint, credential)
            assert code_of(info)[0] == "XksProxyInvalidConfigurationException"
            assert "TLS" in code_of(info)[1]
            # one started with --xks-proxy-ca-bundle A's CA uses it over HTTPS
            store_id = create_store(kms_trusting, trent_a.endpoint, credential)["CustomKeyStoreId"]
            kms_trusting.connect_custom_key_store(CustomKeyStoreId=store_id)
            assert describe(kms_trusting, store_id)["ConnectionState"] == "CONNECTED"
            key_b = kms_trusting.create_key(
                Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId=key_a
            )["KeyMetadata"]["KeyId"]
            context = {"over": "tls"}
            sealed = kms_trusting.encrypt(
                KeyId=key_b, Plaintext=b"over https", EncryptionContext=context
            )
            opened = kms_trusting.decrypt(
                CiphertextBlob=sealed["CiphertextBlob"], EncryptionContext=context
            )
            assert opened["Plaintext"] == b"over https"
            # the proxy (A) served it: its audit trail has B's request
            request_id = sealed["ResponseMetadata"]["RequestId"]
            (seen,) = proxy_records(trent_a, request_id)
            assert seen["kmsOperation"] == "Encrypt"
            # A's key disabled: B's key cannot decrypt, so A's layer is really there
            kms_a.disable_key(KeyId=key_a)
            with pytest.raises(ClientError) as info:
                kms_trusting.decrypt(
                    CiphertextBlob=sealed["CiphertextBlob"], EncryptionContext=context
                )
            assert code_of(info)[0] == "KMSInvalidStateException"
        finally:
            trusting.stop()
    finally:
        trent_a.stop()


def test_the_proxy_ca_bundle_must_be_a_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "trent",
            "serve",
            "--data-dir",
            str(tmp_path / "d"),
            "--port",
            str(free_port()),
            "--xks-proxy-ca-bundle",
            str(tmp_path / "missing.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "--xks-proxy-ca-bundle" in done.stderr and "is not a file" in done.stderr
