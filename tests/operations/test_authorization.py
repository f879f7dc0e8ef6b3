"""Every operation asks the authorizer before it acts.

In-process, no HTTP: an environment built as ``trent.app.build_env`` builds it, but with
``DenyAllAuthorizer``. Every handler in ``OPERATIONS`` is called with a minimal valid request
(parsed by the service model, as the protocol layer would) and must raise
``AccessDeniedException`` and change nothing. A new operation without an entry in
``MINIMAL_REQUESTS`` fails ``test_every_operation_has_a_minimal_request``. The custom key store
operations reach the session server as their external key store proxy.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tests.server import TrentServer
from tests.xks.client import create_credential
from trent.app import build_env
from trent.authz import DenyAllAuthorizer, Principal, PrincipalType
from trent.bootstrap import initialize
from trent.clock import SystemClock
from trent.config import Settings
from trent.errors import AccessDeniedException
from trent.operations import OPERATIONS, Call, Env
from trent.protocol.shapes import ServiceModel

POLICY = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
    '"Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}]}'
)


@dataclass
class World:
    """Real keys made with the allow-all environment, for the denied requests to name."""

    settings: Settings
    allow: Env
    deny: Env
    principal: Principal
    key_id: str  # Enabled, with an alias, a tag and a ciphertext
    other_key_id: str  # Enabled, an UpdateAlias / ReEncrypt destination
    disabled_key_id: str
    pending_key_id: str  # PendingDeletion
    alias: str
    ciphertext: bytes
    sign_key_id: str  # ECC_NIST_P256 SIGN_VERIFY
    signature: bytes  # of b"message" by sign_key_id
    mac_key_id: str  # HMAC_256
    mac: bytes  # of b"message" by mac_key_id
    agreement_key_id: str  # ECC_NIST_P256 KEY_AGREEMENT
    kem_key_id: str  # ML_KEM_768
    kem_ciphertext: bytes
    external_key_id: str  # EXTERNAL, with imported material
    import_token: bytes  # for external_key_id, with wrapped_material wrapped under its key
    wrapped_material: bytes
    grant_ids: tuple[str, str]  # two grants on key_id, to another account's user
    store_id: str  # an external key store on the session server's XKS proxy, DISCONNECTED
    deletable_store_id: str  # another, DISCONNECTED and without keys
    store_request: dict[str, Any]  # a CreateCustomKeyStore body that would succeed


PEER_PUBLIC_KEY = (
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
)


GRANTEE = "arn:aws:iam::111122223333:user/grantee"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def minimal_requests(w: World) -> dict[str, dict[str, Any]]:
    """Per operation: a JSON body that would succeed but for authorization."""
    return {
        "CreateKey": {},
        "DescribeKey": {"KeyId": w.key_id},
        "ListKeys": {},
        "UpdateKeyDescription": {"KeyId": w.key_id, "Description": "changed"},
        "EnableKey": {"KeyId": w.disabled_key_id},
        "DisableKey": {"KeyId": w.key_id},
        "ScheduleKeyDeletion": {"KeyId": w.key_id, "PendingWindowInDays": 7},
        "CancelKeyDeletion": {"KeyId": w.pending_key_id},
        "Encrypt": {"KeyId": w.key_id, "Plaintext": b64(b"secret")},
        "Decrypt": {"CiphertextBlob": b64(w.ciphertext)},
        "ReEncrypt": {"CiphertextBlob": b64(w.ciphertext), "DestinationKeyId": w.other_key_id},
        "GenerateDataKey": {"KeyId": w.key_id, "KeySpec": "AES_256"},
        "GenerateDataKeyWithoutPlaintext": {"KeyId": w.key_id, "NumberOfBytes": 32},
        "GenerateRandom": {"NumberOfBytes": 16},
        "EnableKeyRotation": {"KeyId": w.key_id},
        "DisableKeyRotation": {"KeyId": w.key_id},
        "GetKeyRotationStatus": {"KeyId": w.key_id},
        "RotateKeyOnDemand": {"KeyId": w.key_id},
        "ListKeyRotations": {"KeyId": w.key_id},
        "CreateAlias": {"AliasName": f"alias/new-{uuid.uuid4().hex}", "TargetKeyId": w.key_id},
        "UpdateAlias": {"AliasName": w.alias, "TargetKeyId": w.other_key_id},
        "DeleteAlias": {"AliasName": w.alias},
        "ListAliases": {},
        "TagResource": {"KeyId": w.key_id, "Tags": [{"TagKey": "new", "TagValue": "v"}]},
        "UntagResource": {"KeyId": w.key_id, "TagKeys": ["team"]},
        "ListResourceTags": {"KeyId": w.key_id},
        "GetKeyPolicy": {"KeyId": w.key_id, "PolicyName": "default"},
        "PutKeyPolicy": {"KeyId": w.key_id, "PolicyName": "default", "Policy": POLICY},
        "ListKeyPolicies": {"KeyId": w.key_id},
        "GetKeyLastUsage": {"KeyId": w.key_id},
        "GetParametersForImport": {
            "KeyId": w.external_key_id,
            "WrappingAlgorithm": "RSAES_OAEP_SHA_256",
            "WrappingKeySpec": "RSA_2048",
        },
        "ImportKeyMaterial": {
            "KeyId": w.external_key_id,
            "ImportToken": b64(w.import_token),
            "EncryptedKeyMaterial": b64(w.wrapped_material),
            "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
        },
        "DeleteImportedKeyMaterial": {"KeyId": w.external_key_id},
        "Sign": {
            "KeyId": w.sign_key_id,
            "Message": b64(b"message"),
            "SigningAlgorithm": "ECDSA_SHA_256",
        },
        "Verify": {
            "KeyId": w.sign_key_id,
            "Message": b64(b"message"),
            "Signature": b64(w.signature),
            "SigningAlgorithm": "ECDSA_SHA_256",
        },
        "GetPublicKey": {"KeyId": w.sign_key_id},
        "GenerateMac": {
            "KeyId": w.mac_key_id,
            "Message": b64(b"message"),
            "MacAlgorithm": "HMAC_SHA_256",
        },
        "VerifyMac": {
            "KeyId": w.mac_key_id,
            "Message": b64(b"message"),
            "Mac": b64(w.mac),
            "MacAlgorithm": "HMAC_SHA_256",
        },
        "DeriveSharedSecret": {
            "KeyId": w.agreement_key_id,
            "KeyAgreementAlgorithm": "ECDH",
            "PublicKey": b64(PEER_PUBLIC_KEY),
        },
        "Encapsulate": {"KeyId": w.kem_key_id, "EncapsulationAlgorithm": "ML_KEM"},
        "Decapsulate": {
            "KeyId": w.kem_key_id,
            "SharedSecretCiphertextBlob": b64(w.kem_ciphertext),
            "EncapsulationAlgorithm": "ML_KEM",
        },
        "GenerateDataKeyPair": {"KeyId": w.key_id, "KeyPairSpec": "ECC_NIST_P256"},
        "GenerateDataKeyPairWithoutPlaintext": {"KeyId": w.key_id, "KeyPairSpec": "RSA_2048"},
        "CreateGrant": {"KeyId": w.key_id, "GranteePrincipal": GRANTEE, "Operations": ["Decrypt"]},
        "ListGrants": {"KeyId": w.key_id},
        "ListRetirableGrants": {"RetiringPrincipal": w.principal.arn},
        "RetireGrant": {"KeyId": w.key_id, "GrantId": w.grant_ids[0]},
        "RevokeGrant": {"KeyId": w.key_id, "GrantId": w.grant_ids[1]},
        "CreateCustomKeyStore": w.store_request,
        "ConnectCustomKeyStore": {"CustomKeyStoreId": w.store_id},
        "DisconnectCustomKeyStore": {"CustomKeyStoreId": w.store_id},
        "DescribeCustomKeyStores": {},
        "UpdateCustomKeyStore": {"CustomKeyStoreId": w.store_id, "NewCustomKeyStoreName": "new"},
        "DeleteCustomKeyStore": {"CustomKeyStoreId": w.deletable_store_id},
    }


def store_request(server: TrentServer) -> dict[str, Any]:
    """A CreateCustomKeyStore body naming a fresh credential of ``server``'s XKS proxy."""
    key = server.client().create_key()["KeyMetadata"]["KeyId"]
    path = f"/auth-{uuid.uuid4().hex[:12]}"
    credential = create_credential(server.data_dir, "--key-id", key, "--path-prefix", path)
    return {
        "CustomKeyStoreName": f"store-{uuid.uuid4().hex[:8]}",
        "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
        "XksProxyUriEndpoint": server.endpoint,
        "XksProxyUriPath": credential.uri_path,
        "XksProxyConnectivity": "PUBLIC_ENDPOINT",
        "XksProxyAuthenticationCredential": {
            "AccessKeyId": credential.access_key_id,
            "RawSecretAccessKey": credential.secret,
        },
    }


def new_call(principal: Principal) -> Call:
    return Call(str(uuid.uuid4()), str(uuid.uuid4()), SystemClock().now(), principal=principal)


def run(env: Env, principal: Principal, operation: str, document: dict[str, Any]) -> Any:
    request = ServiceModel.load().parse_input(operation, document)
    env.refresh()
    return OPERATIONS[operation](env, new_call(principal), request)


def dump(database: Path) -> list[str]:
    """Every row of every table, as SQL text."""
    with sqlite3.connect(database) as conn:
        return list(conn.iterdump())


@pytest.fixture
def world(tmp_path: Path, server: TrentServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("TRENT_XKS_PROXY_TIMEOUT", "3")  # the proxy is the loaded session server
    settings = Settings(data_dir=tmp_path / "data")
    data = initialize(settings, SystemClock())
    allow = build_env(settings, SystemClock())
    deny = dataclasses.replace(allow, authorizer=DenyAllAuthorizer())
    account = data.account_id
    principal = Principal(
        account, f"arn:aws:iam::{account}:root", "AKIA", PrincipalType.ROOT, account
    )

    def make(description: str) -> str:
        created = run(allow, principal, "CreateKey", {"Description": description})
        return str(created["KeyMetadata"]["KeyId"])

    key_id, other, disabled, pending = (make(n) for n in ("main", "other", "off", "doomed"))
    alias = f"alias/main-{uuid.uuid4().hex[:8]}"
    run(allow, principal, "CreateAlias", {"AliasName": alias, "TargetKeyId": key_id})
    tags = [{"TagKey": "team", "TagValue": "a"}]
    run(allow, principal, "TagResource", {"KeyId": key_id, "Tags": tags})
    run(allow, principal, "DisableKey", {"KeyId": disabled})
    run(allow, principal, "ScheduleKeyDeletion", {"KeyId": pending, "PendingWindowInDays": 7})
    blob = run(allow, principal, "Encrypt", {"KeyId": key_id, "Plaintext": b64(b"hello")})
    external = run(allow, principal, "CreateKey", {"Origin": "EXTERNAL"})["KeyMetadata"]["KeyId"]
    parameters = run(
        allow,
        principal,
        "GetParametersForImport",
        {
            "KeyId": external,
            "WrappingAlgorithm": "RSAES_OAEP_SHA_256",
            "WrappingKeySpec": "RSA_2048",
        },
    )
    public_key = serialization.load_der_public_key(parameters["PublicKey"])
    assert isinstance(public_key, rsa.RSAPublicKey)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    wrapped = public_key.encrypt(os.urandom(32), oaep)
    first_import = {
        "KeyId": external,
        "ImportToken": b64(parameters["ImportToken"]),
        "EncryptedKeyMaterial": b64(wrapped),
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }
    run(allow, principal, "ImportKeyMaterial", first_import)

    def make_spec(spec: str, usage: str) -> str:
        created = run(allow, principal, "CreateKey", {"KeySpec": spec, "KeyUsage": usage})
        return str(created["KeyMetadata"]["KeyId"])

    sign_key = make_spec("ECC_NIST_P256", "SIGN_VERIFY")
    signed = run(
        allow,
        principal,
        "Sign",
        {"KeyId": sign_key, "Message": b64(b"message"), "SigningAlgorithm": "ECDSA_SHA_256"},
    )
    mac_key = make_spec("HMAC_256", "GENERATE_VERIFY_MAC")
    mac = run(
        allow,
        principal,
        "GenerateMac",
        {"KeyId": mac_key, "Message": b64(b"message"), "MacAlgorithm": "HMAC_SHA_256"},
    )
    agreement_key = make_spec("ECC_NIST_P256", "KEY_AGREEMENT")
    kem_key = make_spec("ML_KEM_768", "ENCAPSULATE_DECAPSULATE")
    encapsulated = run(
        allow, principal, "Encapsulate", {"KeyId": kem_key, "EncapsulationAlgorithm": "ML_KEM"}
    )
    grant = {"KeyId": key_id, "GranteePrincipal": GRANTEE, "Operations": ["Decrypt"]}
    grant_ids = tuple(run(allow, principal, "CreateGrant", grant)["GrantId"] for _ in range(2))
    stores = [
        run(allow, principal, "CreateCustomKeyStore", store_request(server))["CustomKeyStoreId"]
        for _ in range(2)
    ]
    yield World(
        settings,
        allow,
        deny,
        principal,
        key_id,
        other,
        disabled,
        pending,
        alias,
        blob["CiphertextBlob"],
        sign_key,
        signed["Signature"],
        mac_key,
        mac["Mac"],
        agreement_key,
        kem_key,
        encapsulated["SharedSecretCiphertextBlob"],
        external,
        parameters["ImportToken"],
        wrapped,
        (grant_ids[0], grant_ids[1]),
        stores[0],
        stores[1],
        store_request(server),
    )
    allow.store.close()


def test_every_operation_has_a_minimal_request(world: World) -> None:
    assert set(minimal_requests(world)) == set(OPERATIONS)


def test_every_operation_is_denied_and_changes_nothing(world: World) -> None:
    requests = minimal_requests(world)
    before = dump(world.settings.database)
    denied = []
    for operation in sorted(OPERATIONS):
        document = requests.get(operation)
        assert document is not None, f"no minimal request for {operation}"
        with pytest.raises(AccessDeniedException) as err:
            run(world.deny, world.principal, operation, document)
        assert "is not authorized to perform: kms:" in err.value.message, operation
        assert world.principal.arn in err.value.message
        denied.append(operation)
    assert denied == sorted(OPERATIONS)
    assert dump(world.settings.database) == before

    allow, principal = world.allow, world.principal
    main = run(allow, principal, "DescribeKey", {"KeyId": world.key_id})["KeyMetadata"]
    assert main["KeyState"] == "Enabled"
    assert main["Description"] == "main"
    off = run(allow, principal, "DescribeKey", {"KeyId": world.disabled_key_id})
    assert off["KeyMetadata"]["KeyState"] == "Disabled"
    doomed = run(allow, principal, "DescribeKey", {"KeyId": world.pending_key_id})
    assert doomed["KeyMetadata"]["KeyState"] == "PendingDeletion"
    aliases = run(allow, principal, "ListAliases", {})["Aliases"]
    assert [(a["AliasName"], a["TargetKeyId"]) for a in aliases] == [(world.alias, world.key_id)]
    tags = run(allow, principal, "ListResourceTags", {"KeyId": world.key_id})["Tags"]
    assert tags == [{"TagKey": "team", "TagValue": "a"}]
    keys = run(allow, principal, "ListKeys", {})["Keys"]
    assert len(keys) == 9


def test_minimal_requests_succeed_when_allowed(world: World) -> None:
    """The minimal requests are real ones: with the allow-all authorizer, each succeeds."""
    requests = minimal_requests(world)
    # Last: the requests that take away another request's precondition.
    last = ["DisableKey", "ScheduleKeyDeletion", "DeleteAlias", "DeleteImportedKeyMaterial"]
    order = sorted(set(OPERATIONS) - set(last)) + last
    for operation in order:
        response = run(world.allow, world.principal, operation, requests[operation])
        assert isinstance(response, dict), operation
    state = run(world.allow, world.principal, "DescribeKey", {"KeyId": world.key_id})
    assert state["KeyMetadata"]["KeyState"] == "PendingDeletion"
