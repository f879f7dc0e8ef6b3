"""Bring your own key through boto3: EXTERNAL keys, GetParametersForImport, ImportKeyMaterial,
several imported materials per key with on-demand rotation between them,
DeleteImportedKeyMaterial, expiry by the scheduler, the audit trail, and a kill -9.

Material is wrapped on the client side with the independent ``cryptography`` package, as the
AWS Developer Guide specifies each wrapping algorithm: RSAES_OAEP_SHA_* encrypts the 32 bytes
with RSA-OAEP (MGF1 with the same hash); RSA_AES_KEY_WRAP_SHA_* RSA-OAEP encrypts an ephemeral
AES-256 key and appends the material wrapped under it with AES key wrap with padding (RFC 5649).

As AWS documents (seed 002 step 6, DeleteImportedKeyMaterial and ImportKeyMaterial in the API
Reference), deleting or the expiry of a CURRENT or NON_CURRENT material puts the key in
PendingImport until every such material is imported again; a PENDING_ROTATION material is just
removed. Refused calls are checked to change nothing: a full ``iterdump()`` of the database
(read-only) before and after, less the scheduler's lease row and the usage tracker's table,
which the server rewrites by itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from tests.crypto import reference
from tests.server import TrentServer

DAY = 86400.0
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RSAES_OAEP_SHA_1": hashes.SHA1,
    "RSAES_OAEP_SHA_256": hashes.SHA256,
    "RSA_AES_KEY_WRAP_SHA_1": hashes.SHA1,
    "RSA_AES_KEY_WRAP_SHA_256": hashes.SHA256,
}
KEY_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
OAEP_256 = "RSAES_OAEP_SHA_256"
MATERIAL_ID = re.compile(r"^[0-9a-f]{64}$")
NEW, EXISTING = "NEW_KEY_MATERIAL", "EXISTING_KEY_MATERIAL"
EXPIRES, DOES_NOT_EXPIRE = "KEY_MATERIAL_EXPIRES", "KEY_MATERIAL_DOES_NOT_EXPIRE"


# --- helpers -----------------------------------------------------------------------------------
def expect_error(call: Callable[..., Any], code: str, fragment: str, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    err = info.value.response
    assert err["Error"]["Code"] == code, err["Error"]
    assert fragment in err["Error"]["Message"], err["Error"]
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400, err["ResponseMetadata"]


def wrap(public_der: bytes, algorithm: str, material: bytes) -> bytes:
    """Wrap ``material`` under the PublicKey of GetParametersForImport, as AWS specifies."""
    public = serialization.load_der_public_key(public_der)
    assert isinstance(public, rsa.RSAPublicKey)
    digest = HASHES[algorithm]
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=digest()), algorithm=digest(), label=None)
    if algorithm.startswith("RSAES_OAEP"):
        return public.encrypt(material, oaep)
    ephemeral = os.urandom(32)
    return public.encrypt(ephemeral, oaep) + aes_key_wrap_with_padding(ephemeral, material)


def parameters(
    kms: Any, key_id: str, algorithm: str = OAEP_256, spec: str = "RSA_2048"
) -> dict[str, Any]:
    return dict(
        kms.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=spec
        )
    )


def import_material(
    kms: Any,
    key_id: str,
    material: bytes,
    algorithm: str = OAEP_256,
    spec: str = "RSA_2048",
    **kwargs: Any,
) -> str:
    """GetParametersForImport + ImportKeyMaterial; returns the KeyMaterialId."""
    params = parameters(kms, key_id, algorithm, spec)
    if "ExpirationModel" not in kwargs and "ValidTo" not in kwargs:
        kwargs["ExpirationModel"] = DOES_NOT_EXPIRE  # AWS's default is KEY_MATERIAL_EXPIRES
    out = kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], algorithm, material),
        **kwargs,
    )
    assert out["KeyId"] == params["KeyId"]
    return str(out["KeyMaterialId"])


def create_external(kms: Any, description: str = "imported key") -> str:
    created = kms.create_key(Origin="EXTERNAL", Description=description)["KeyMetadata"]
    return str(created["KeyId"])


def describe(kms: Any, key_id: str) -> dict[str, Any]:
    return dict(kms.describe_key(KeyId=key_id)["KeyMetadata"])


def rotations(kms: Any, key_id: str, include: str = "ALL_KEY_MATERIAL") -> list[dict[str, Any]]:
    pages = kms.get_paginator("list_key_rotations").paginate(
        KeyId=key_id, IncludeKeyMaterial=include
    )
    return [r for page in pages for r in page["Rotations"]]


def by_id(kms: Any, key_id: str) -> dict[str, dict[str, Any]]:
    return {r["KeyMaterialId"]: r for r in rotations(kms, key_id)}


def open_blob(material: bytes, blob: bytes) -> bytes:
    """Decrypt a Trent ciphertext blob (empty encryption context) with the material,
    independently of Trent (tests/crypto/reference.py: the version-2 per-blob key derived with
    SP 800-108 from the material, AES-256-GCM through pyca's low-level API)."""
    assert blob[0] == 2  # Trent writes version 2
    return reference.open_blob(material, blob)


def future(days: float) -> datetime:
    """A whole-second UTC time ``days`` from now."""
    return datetime.fromtimestamp(int(time.time() + days * DAY), UTC)


@contextmanager
def database(server: TrentServer) -> Iterator[sqlite3.Connection]:
    """The server's database, read-only (the server keeps running)."""
    uri = f"file:{server.data_dir / 'trent.db'}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=15)) as db:
        yield db


def dump(server: TrentServer) -> list[str]:
    """Every row of every table as SQL text, less what the server rewrites by itself."""
    with database(server) as db:
        return [
            line
            for line in db.iterdump()
            if "scheduler_lease" not in line
            and not line.startswith('INSERT INTO "key_usage"')
            and not line.startswith('INSERT INTO "access_key_usage"')
            and "'audit_checkpoint'" not in line  # the audit chain's anchor, on a timer
        ]


def refused(
    server: TrentServer, call: Callable[..., Any], code: str, fragment: str, **kwargs: Any
) -> None:
    """The call fails with ``code`` and leaves the database exactly as it was."""
    before = dump(server)
    expect_error(call, code, fragment, **kwargs)
    assert dump(server) == before, f"a refused {code} changed the database"


def material_row(server: TrentServer, key_id: str, material_id: str) -> tuple[Any, ...] | None:
    with database(server) as db:
        row = db.execute(
            "SELECT sealed, state, import_state FROM materials WHERE key_id=? AND material_id=?",
            (key_id, material_id),
        ).fetchone()
    return None if row is None else tuple(row)


def import_parameter_rows(server: TrentServer, key_id: str) -> int:
    with database(server) as db:
        row = db.execute("SELECT count(*) FROM import_parameters WHERE key_id=?", (key_id,))
        return int(row.fetchone()[0])


@dataclass
class Imported:
    key_id: str
    arn: str
    material: bytes
    material_id: str


def imported_key(kms: Any, **kwargs: Any) -> Imported:
    key_id = create_external(kms)
    material = os.urandom(32)
    material_id = import_material(kms, key_id, material, **kwargs)
    return Imported(key_id, describe(kms, key_id)["Arn"], material, material_id)


@pytest.fixture
def imported(kms: Any) -> Imported:
    """An EXTERNAL key with one material imported (no ImportType: the first import is NEW)."""
    return imported_key(kms)


# --- creation and wrapping parameters -----------------------------------------------------------
def test_external_key_starts_pending_import_without_material(kms: Any) -> None:
    key_id = create_external(kms, "no material yet")
    metadata = describe(kms, key_id)
    assert metadata["Origin"] == "EXTERNAL"
    assert metadata["KeyState"] == "PendingImport"
    assert metadata["Enabled"] is False
    assert "CurrentKeyMaterialId" not in metadata
    assert "ExpirationModel" not in metadata
    assert rotations(kms, key_id) == []
    for call, kwargs in (
        (kms.encrypt, {"Plaintext": b"x"}),
        (kms.generate_data_key, {"KeySpec": "AES_256"}),
    ):
        expect_error(
            call,
            "KMSInvalidStateException",
            f"{metadata['Arn']} is pending import.",
            KeyId=key_id,
            **kwargs,
        )


@pytest.mark.parametrize("spec", list(KEY_BITS))
@pytest.mark.parametrize("algorithm", list(HASHES))
def test_every_wrapping_algorithm_and_key_spec(kms: Any, algorithm: str, spec: str) -> None:
    key_id = create_external(kms, f"{algorithm} {spec}")
    arn = describe(kms, key_id)["Arn"]
    asked = time.time()
    params = parameters(kms, key_id, algorithm, spec)
    assert params["KeyId"] == arn
    # PublicKey: a DER SubjectPublicKeyInfo (re-encoding it gives the same bytes) of that size.
    public = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == KEY_BITS[spec]
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert spki == params["PublicKey"]
    valid_to = params["ParametersValidTo"].timestamp()
    assert asked + DAY - 60 <= valid_to <= time.time() + DAY + 60
    assert isinstance(params["ImportToken"], bytes) and len(params["ImportToken"]) >= 32

    material = os.urandom(32)
    out = kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], algorithm, material),
        ExpirationModel=DOES_NOT_EXPIRE,
    )
    assert out["KeyId"] == arn
    assert MATERIAL_ID.match(out["KeyMaterialId"])
    metadata = describe(kms, key_id)
    assert metadata["KeyState"] == "Enabled" and metadata["Enabled"] is True
    assert metadata["CurrentKeyMaterialId"] == out["KeyMaterialId"]

    plaintext = os.urandom(100)
    blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
    # The ciphertext was made with exactly the material we wrapped, checked outside Trent.
    assert open_blob(material, blob) == plaintext
    decrypted = kms.decrypt(CiphertextBlob=blob)
    assert decrypted["Plaintext"] == plaintext
    assert decrypted["KeyMaterialId"] == out["KeyMaterialId"]


@pytest.mark.parametrize(
    ("algorithm", "spec", "fragment"),
    [
        ("RSAES_PKCS1_V1_5", "RSA_2048", "RSAES_PKCS1_V1_5"),
        ("SM2PKE", "SM2", "SM2"),
        ("SM2PKE", "RSA_2048", "SM2"),
        ("RSAES_OAEP_SHA_256", "SM2", "SM2"),
    ],
)
def test_wrapping_parameters_aws_refuses(
    server: TrentServer, kms: Any, algorithm: str, spec: str, fragment: str
) -> None:
    key_id = create_external(kms)
    refused(
        server,
        kms.get_parameters_for_import,
        "ValidationException",
        fragment,
        KeyId=key_id,
        WrappingAlgorithm=algorithm,
        WrappingKeySpec=spec,
    )


def test_import_operations_on_an_aws_kms_key_are_unsupported(
    server: TrentServer, kms: Any, key_id: str
) -> None:
    arn = describe(kms, key_id)["Arn"]
    message = f"{arn} origin is AWS_KMS which is not valid for this operation."
    refused(
        server,
        kms.get_parameters_for_import,
        "UnsupportedOperationException",
        message,
        KeyId=key_id,
        WrappingAlgorithm=OAEP_256,
        WrappingKeySpec="RSA_2048",
    )
    external = create_external(kms)
    params = parameters(kms, external)
    refused(
        server,
        kms.import_key_material,
        "UnsupportedOperationException",
        message,
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], OAEP_256, os.urandom(32)),
        ExpirationModel=DOES_NOT_EXPIRE,
    )
    refused(
        server,
        kms.delete_imported_key_material,
        "UnsupportedOperationException",
        message,
        KeyId=key_id,
    )


# --- refused imports ----------------------------------------------------------------------------
def test_refused_tokens_and_wrappings_change_nothing(server: TrentServer, kms: Any) -> None:
    key_id, other = create_external(kms, "token owner"), create_external(kms, "other key")
    material = os.urandom(32)
    params = parameters(kms, key_id)
    token, public = params["ImportToken"], params["PublicKey"]
    wrapped = wrap(public, OAEP_256, material)

    def attempt(key: str, import_token: bytes, encrypted: bytes, code: str, fragment: str) -> None:
        refused(
            server,
            kms.import_key_material,
            code,
            fragment,
            KeyId=key,
            ImportToken=import_token,
            EncryptedKeyMaterial=encrypted,
            ExpirationModel=DOES_NOT_EXPIRE,
        )

    # The token is bound to its key: replayed on another key, with its own wrapping, it fails.
    attempt(other, token, wrapped, "InvalidImportTokenException", "import token")
    # An edited token (one flipped bit anywhere) is not a token.
    for position in (0, len(token) // 2, len(token) - 1):
        edited = bytearray(token)
        edited[position] ^= 0x01
        attempt(key_id, bytes(edited), wrapped, "InvalidImportTokenException", "import token")
    attempt(key_id, token[:-8], wrapped, "InvalidImportTokenException", "import token")

    bad = "InvalidCiphertextException"  # with no message, as AWS sends it
    # Wrapped with the wrong OAEP hash, as key wrap instead of plain OAEP, or garbage.
    attempt(key_id, token, wrap(public, "RSAES_OAEP_SHA_1", material), bad, "")
    attempt(key_id, token, wrap(public, "RSA_AES_KEY_WRAP_SHA_256", material), bad, "")
    attempt(key_id, token, os.urandom(256), bad, "")
    # Wrapped under another wrapping key of the same KMS key.
    stranger = parameters(kms, key_id)["PublicKey"]
    attempt(key_id, token, wrap(stranger, OAEP_256, material), bad, "")
    # A symmetric key's material is 32 bytes: 16 (or 33) unwrap fine but are refused.
    attempt(key_id, token, wrap(public, OAEP_256, os.urandom(16)), bad, "")
    attempt(key_id, token, wrap(public, OAEP_256, os.urandom(33)), bad, "")

    # Key-wrap parameters refuse plain OAEP too.
    kw = parameters(kms, key_id, "RSA_AES_KEY_WRAP_SHA_256")
    attempt(key_id, kw["ImportToken"], wrap(kw["PublicKey"], OAEP_256, material), bad, "")

    for key in (key_id, other):
        assert describe(kms, key)["KeyState"] == "PendingImport"
        assert rotations(kms, key) == []
    # And the untouched token still works on its own key.
    out = kms.import_key_material(
        KeyId=key_id,
        ImportToken=token,
        EncryptedKeyMaterial=wrapped,
        ExpirationModel=EXPIRES,
        ValidTo=future(10),
    )
    assert describe(kms, key_id)["CurrentKeyMaterialId"] == out["KeyMaterialId"]


def test_expiration_model_and_valid_to_rules(server: TrentServer, kms: Any) -> None:
    key_id = create_external(kms)
    params = parameters(kms, key_id)
    wrapped = wrap(params["PublicKey"], OAEP_256, os.urandom(32))
    base = {"KeyId": key_id, "ImportToken": params["ImportToken"], "EncryptedKeyMaterial": wrapped}
    for extra, fragment in (
        ({"ExpirationModel": EXPIRES}, "A validTo date must be set"),
        ({"ExpirationModel": DOES_NOT_EXPIRE, "ValidTo": future(10)}, "ValidTo"),
        ({"ExpirationModel": EXPIRES, "ValidTo": future(-1)}, "ValidTo"),
        ({"ValidTo": future(-1 / 24)}, "ValidTo"),
        ({"ExpirationModel": EXPIRES, "ValidTo": future(366)}, "365"),
    ):
        refused(server, kms.import_key_material, "ValidationException", fragment, **base, **extra)
    assert describe(kms, key_id)["KeyState"] == "PendingImport"

    # ValidTo without ExpirationModel: the material expires then.
    valid_to = future(30)
    material_id = kms.import_key_material(**base, ValidTo=valid_to)["KeyMaterialId"]
    metadata = describe(kms, key_id)
    assert metadata["ExpirationModel"] == EXPIRES
    assert metadata["ValidTo"].timestamp() == pytest.approx(valid_to.timestamp(), abs=1)
    entry = by_id(kms, key_id)[material_id]
    assert entry["ExpirationModel"] == EXPIRES
    assert entry["ValidTo"].timestamp() == pytest.approx(valid_to.timestamp(), abs=1)

    # Neither: ExpirationModel defaults to KEY_MATERIAL_EXPIRES (API Reference), which needs
    # a ValidTo: AWS refuses, and the key stays PendingImport [issue 9].
    pending = create_external(kms)
    params = parameters(kms, pending)
    refused(
        server,
        kms.import_key_material,
        "ValidationException",
        "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
        KeyId=pending,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], OAEP_256, os.urandom(32)),
    )
    assert describe(kms, pending)["KeyState"] == "PendingImport"
    plain = imported_key(kms, ExpirationModel=DOES_NOT_EXPIRE)
    metadata = describe(kms, plain.key_id)
    assert metadata["ExpirationModel"] == DOES_NOT_EXPIRE
    assert "ValidTo" not in metadata


def test_import_type_defaults_and_refusals(
    server: TrentServer, kms: Any, imported: Imported
) -> None:
    key_id = imported.key_id
    # The first import without ImportType was NEW: the material is CURRENT, the key Enabled.
    assert by_id(kms, key_id)[imported.material_id]["KeyMaterialState"] == "CURRENT"
    assert describe(kms, key_id)["KeyState"] == "Enabled"

    second = os.urandom(32)
    params = parameters(kms, key_id)
    token = params["ImportToken"]

    def attempt(material: bytes, code: str, fragment: str, **kwargs: Any) -> None:
        refused(
            server,
            kms.import_key_material,
            code,
            fragment,
            KeyId=key_id,
            ImportToken=token,
            EncryptedKeyMaterial=wrap(params["PublicKey"], OAEP_256, material),
            **{"ExpirationModel": DOES_NOT_EXPIRE, **kwargs},
        )

    # A later import without ImportType means EXISTING: new material is not a known one.
    attempt(second, "IncorrectKeyMaterialException", "key material")
    attempt(second, "IncorrectKeyMaterialException", "key material", ImportType=EXISTING)
    # EXISTING under a KeyMaterialId, with other material than the one that id names.
    attempt(
        second,
        "IncorrectKeyMaterialException",
        "key material",
        ImportType=EXISTING,
        KeyMaterialId=imported.material_id,
    )
    # NEW never takes a KeyMaterialId; NEW with material the key already has is refused.
    attempt(
        second,
        "ValidationException",
        "KeyMaterialId",
        ImportType=NEW,
        KeyMaterialId=imported.material_id,
    )
    attempt(imported.material, "IncorrectKeyMaterialException", "key material", ImportType=NEW)

    out = kms.import_key_material(
        KeyId=key_id,
        ImportToken=token,
        EncryptedKeyMaterial=wrap(params["PublicKey"], OAEP_256, second),
        ImportType=NEW,
        KeyMaterialDescription="second from HSM2",
        ExpirationModel=DOES_NOT_EXPIRE,
    )
    second_id = out["KeyMaterialId"]
    listed = by_id(kms, key_id)
    assert listed[second_id]["KeyMaterialState"] == "PENDING_ROTATION"
    assert listed[second_id]["ImportState"] == "IMPORTED"
    assert listed[second_id]["KeyMaterialDescription"] == "second from HSM2"
    assert "RotationDate" not in listed[second_id] and "RotationType" not in listed[second_id]
    assert listed[imported.material_id]["KeyMaterialState"] == "CURRENT"
    # Not used until RotateKeyOnDemand.
    assert describe(kms, key_id)["CurrentKeyMaterialId"] == imported.material_id
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"still the first")["CiphertextBlob"]
    assert open_blob(imported.material, blob) == b"still the first"
    # A second NEW while one is pending rotation is refused.
    attempt(os.urandom(32), "KMSInvalidStateException", "pending rotation", ImportType=NEW)


# --- key material ids ---------------------------------------------------------------------------
def test_key_material_ids(kms: Any) -> None:
    material = os.urandom(32)
    first, second = create_external(kms, "one"), create_external(kms, "two")
    id_one = import_material(kms, first, material)
    id_two = import_material(kms, second, material, "RSA_AES_KEY_WRAP_SHA_1")
    assert id_one != id_two  # the same material in two keys: two ids
    for material_id in (id_one, id_two):
        assert MATERIAL_ID.match(material_id)
        assert material_id != hashlib.sha256(material).hexdigest()
        assert material.hex() not in material_id
    # The same material imported again into the same key gets the same id.
    kms.delete_imported_key_material(KeyId=first)
    assert import_material(kms, first, material, ImportType=EXISTING) == id_one
    assert import_material(kms, first, material, "RSA_AES_KEY_WRAP_SHA_256") == id_one
    assert describe(kms, first)["CurrentKeyMaterialId"] == id_one


def test_responses_carry_key_material_id_and_key_origin(
    server: TrentServer, imported: Imported, key_id: str
) -> None:
    """Encrypt's KeyMaterialId and every KeyOrigin are not in the botocore model, so boto3
    drops them: they are read from the raw HTTP responses."""
    kms = server.client()
    raw: dict[str, dict[str, Any]] = {}

    def keep(http_response: Any, model: Any, **_: Any) -> None:
        raw[model.name] = json.loads(http_response.content)

    kms.meta.events.register("after-call.kms", keep)
    mid = imported.material_id
    blob = kms.encrypt(KeyId=imported.key_id, Plaintext=b"origin")["CiphertextBlob"]
    assert raw["Encrypt"]["KeyMaterialId"] == mid
    assert raw["Encrypt"]["KeyOrigin"] == "EXTERNAL"
    out = kms.decrypt(CiphertextBlob=blob)
    assert out["KeyMaterialId"] == mid
    assert raw["Decrypt"]["KeyOrigin"] == "EXTERNAL"
    data_key = kms.generate_data_key(KeyId=imported.key_id, NumberOfBytes=32)
    assert data_key["KeyMaterialId"] == mid
    assert raw["GenerateDataKey"]["KeyOrigin"] == "EXTERNAL"
    assert open_blob(imported.material, data_key["CiphertextBlob"]) == data_key["Plaintext"]

    moved = kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key_id)
    assert moved["SourceKeyMaterialId"] == mid
    assert raw["ReEncrypt"]["KeyOrigin"] == "AWS_KMS"
    back = kms.re_encrypt(CiphertextBlob=moved["CiphertextBlob"], DestinationKeyId=imported.arn)
    assert back["DestinationKeyMaterialId"] == mid
    assert raw["ReEncrypt"]["KeyOrigin"] == "EXTERNAL"
    assert open_blob(imported.material, back["CiphertextBlob"]) == b"origin"

    aws_kms = kms.encrypt(KeyId=key_id, Plaintext=b"aws")
    assert raw["Encrypt"]["KeyOrigin"] == "AWS_KMS"
    assert aws_kms["KeyId"].endswith(key_id)


# --- rotation between imported materials --------------------------------------------------------
def test_on_demand_rotation_between_imported_materials(kms: Any, imported: Imported) -> None:
    key_id = imported.key_id
    old_blob = kms.encrypt(KeyId=key_id, Plaintext=b"old")["CiphertextBlob"]
    expect_error(
        kms.rotate_key_on_demand,
        "KMSInvalidStateException",
        "No available key material pending rotation for the key: ",
        KeyId=key_id,
    )
    second = os.urandom(32)
    second_id = import_material(kms, key_id, second, ImportType=NEW)
    before = time.time()
    out = kms.rotate_key_on_demand(KeyId=key_id)
    assert out["KeyId"] == imported.arn  # RotateKeyOnDemand answers the key ARN [issue 9]

    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is False
    assert status["KeyId"] == key_id  # GetKeyRotationStatus answers the bare key id [issue 9]
    assert "OnDemandRotationStartDate" not in status  # the rotation completed in the request
    assert "NextRotationDate" not in status

    listed = by_id(kms, key_id)
    assert listed[imported.material_id]["KeyMaterialState"] == "NON_CURRENT"
    assert "RotationType" not in listed[imported.material_id]
    assert listed[second_id]["KeyMaterialState"] == "CURRENT"
    assert listed[second_id]["RotationType"] == "ON_DEMAND"
    assert before - 60 <= listed[second_id]["RotationDate"].timestamp() <= time.time() + 60
    assert [r["KeyMaterialId"] for r in rotations(kms, key_id, "ROTATIONS_ONLY")] == [second_id]
    assert describe(kms, key_id)["CurrentKeyMaterialId"] == second_id

    new_blob = kms.encrypt(KeyId=key_id, Plaintext=b"new")["CiphertextBlob"]
    assert open_blob(second, new_blob) == b"new"
    for blob, plaintext, material_id in (
        (old_blob, b"old", imported.material_id),
        (new_blob, b"new", second_id),
    ):
        out = kms.decrypt(CiphertextBlob=blob)
        assert (out["Plaintext"], out["KeyMaterialId"]) == (plaintext, material_id)
    # Nothing pending any more.
    expect_error(
        kms.rotate_key_on_demand,
        "KMSInvalidStateException",
        "No available key material",
        KeyId=key_id,
    )


def test_automatic_rotation_stays_unsupported_for_external_keys(
    server: TrentServer, kms: Any, imported: Imported
) -> None:
    message = f"{imported.arn} origin is EXTERNAL which is not valid for this operation."
    refused(
        server,
        kms.enable_key_rotation,
        "UnsupportedOperationException",
        message,
        KeyId=imported.key_id,
    )
    refused(
        server,
        kms.enable_key_rotation,
        "UnsupportedOperationException",
        message,
        KeyId=imported.key_id,
        RotationPeriodInDays=90,
    )
    refused(
        server,
        kms.disable_key_rotation,
        "UnsupportedOperationException",
        message,
        KeyId=imported.key_id,
    )
    status = kms.get_key_rotation_status(KeyId=imported.key_id)
    assert status["KeyRotationEnabled"] is False
    assert "RotationPeriodInDays" not in status


def test_key_material_description_and_expiry_of_the_current_material(
    kms: Any,
) -> None:
    first = imported_key(kms, KeyMaterialDescription="Q1 2025 key from HSM1")
    key_id = first.key_id
    assert by_id(kms, key_id)[first.material_id]["KeyMaterialDescription"] == (
        "Q1 2025 key from HSM1"
    )
    valid_to = future(200)
    second_id = import_material(
        kms,
        key_id,
        os.urandom(32),
        ImportType=NEW,
        ExpirationModel=EXPIRES,
        ValidTo=valid_to,
        KeyMaterialDescription="Q2 2025 key from HSM1",
    )
    # DescribeKey speaks of the current material: the first one until rotation.
    metadata = describe(kms, key_id)
    assert metadata["ExpirationModel"] == DOES_NOT_EXPIRE and "ValidTo" not in metadata
    kms.rotate_key_on_demand(KeyId=key_id)
    metadata = describe(kms, key_id)
    assert metadata["ExpirationModel"] == EXPIRES
    assert metadata["ValidTo"].timestamp() == pytest.approx(valid_to.timestamp(), abs=1)
    listed = by_id(kms, key_id)
    assert listed[first.material_id]["KeyMaterialDescription"] == "Q1 2025 key from HSM1"
    assert listed[second_id]["KeyMaterialDescription"] == "Q2 2025 key from HSM1"
    assert listed[second_id]["ValidTo"].timestamp() == pytest.approx(valid_to.timestamp(), abs=1)


# --- deleting material --------------------------------------------------------------------------
def test_deleting_non_current_material_makes_key_pending_import_as_aws_documents(
    kms: Any, imported: Imported
) -> None:
    """Seed 002 step 6: deleting the NON_CURRENT material makes the key PendingImport and every
    cryptographic operation fails (even for ciphertext of the CURRENT material) until it is
    imported again. (Issue 5 says the CURRENT one keeps working; AWS documents otherwise.)"""
    key_id, arn = imported.key_id, imported.arn
    old_blob = kms.encrypt(KeyId=key_id, Plaintext=b"old")["CiphertextBlob"]
    second = os.urandom(32)
    second_id = import_material(kms, key_id, second, ImportType=NEW)
    kms.rotate_key_on_demand(KeyId=key_id)
    new_blob = kms.encrypt(KeyId=key_id, Plaintext=b"new")["CiphertextBlob"]

    out = kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=imported.material_id)
    assert out["KeyId"] == arn and out["KeyMaterialId"] == imported.material_id
    metadata = describe(kms, key_id)
    assert metadata["KeyState"] == "PendingImport" and metadata["Enabled"] is False
    assert metadata["CurrentKeyMaterialId"] == second_id
    listed = by_id(kms, key_id)
    assert listed[imported.material_id]["ImportState"] == "PENDING_IMPORT"
    assert listed[imported.material_id]["KeyMaterialState"] == "NON_CURRENT"
    assert listed[second_id]["ImportState"] == "IMPORTED"
    assert listed[second_id]["KeyMaterialState"] == "CURRENT"

    pending = f"{arn} is pending import."
    expect_error(kms.decrypt, "KMSInvalidStateException", pending, CiphertextBlob=new_blob)
    expect_error(kms.decrypt, "KMSInvalidStateException", pending, CiphertextBlob=old_blob)
    expect_error(kms.encrypt, "KMSInvalidStateException", pending, KeyId=key_id, Plaintext=b"x")
    expect_error(
        kms.generate_data_key,
        "KMSInvalidStateException",
        pending,
        KeyId=key_id,
        KeySpec="AES_256",
    )

    # Re-import (ImportType omitted on a later import: EXISTING) -> Enabled, everything decrypts.
    again = import_material(kms, key_id, imported.material)
    assert again == imported.material_id
    metadata = describe(kms, key_id)
    assert metadata["KeyState"] == "Enabled" and metadata["CurrentKeyMaterialId"] == second_id
    assert by_id(kms, key_id)[imported.material_id]["ImportState"] == "IMPORTED"
    assert kms.decrypt(CiphertextBlob=old_blob)["KeyMaterialId"] == imported.material_id
    assert kms.decrypt(CiphertextBlob=new_blob)["KeyMaterialId"] == second_id


def test_deleting_current_material_by_default(kms: Any, imported: Imported) -> None:
    blob = kms.encrypt(KeyId=imported.key_id, Plaintext=b"kept")["CiphertextBlob"]
    out = kms.delete_imported_key_material(KeyId=imported.key_id)
    assert out["KeyMaterialId"] == imported.material_id
    assert describe(kms, imported.key_id)["KeyState"] == "PendingImport"
    entry = by_id(kms, imported.key_id)[imported.material_id]
    assert (entry["ImportState"], entry["KeyMaterialState"]) == ("PENDING_IMPORT", "CURRENT")
    expect_error(kms.decrypt, "KMSInvalidStateException", "is pending import.", CiphertextBlob=blob)
    # Re-import with ImportType EXISTING and the id, as the API Reference describes.
    import_material(
        kms,
        imported.key_id,
        imported.material,
        ImportType=EXISTING,
        KeyMaterialId=imported.material_id,
    )
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"


def test_deleting_pending_rotation_material_removes_it(kms: Any, imported: Imported) -> None:
    key_id = imported.key_id
    pending = os.urandom(32)
    pending_id = import_material(kms, key_id, pending, ImportType=NEW)
    out = kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=pending_id)
    assert out["KeyMaterialId"] == pending_id
    metadata = describe(kms, key_id)
    assert metadata["KeyState"] == "Enabled"
    assert metadata["CurrentKeyMaterialId"] == imported.material_id
    assert list(by_id(kms, key_id)) == [imported.material_id]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"fine")["CiphertextBlob"]
    assert open_blob(imported.material, blob) == b"fine"
    expect_error(
        kms.rotate_key_on_demand,
        "KMSInvalidStateException",
        "No available key material",
        KeyId=key_id,
    )
    # It can be imported as new material again (same key, same material: same id).
    assert import_material(kms, key_id, pending, ImportType=NEW) == pending_id


def test_delete_imported_key_material_really_destroys_it(
    server: TrentServer, kms: Any, imported: Imported
) -> None:
    row = material_row(server, imported.key_id, imported.material_id)
    assert row is not None
    sealed = row[0]
    assert isinstance(sealed, bytes) and len(sealed) >= 32

    def files() -> tuple[bytes, bytes]:
        db = (server.data_dir / "trent.db").read_bytes()
        wal_path = server.data_dir / "trent.db-wal"
        return db, wal_path.read_bytes() if wal_path.exists() else b""

    db, wal = files()
    assert sealed in db or sealed in wal  # the search can find it while it is there
    assert imported.material not in db and imported.material not in wal  # only ever sealed

    kms.delete_imported_key_material(KeyId=imported.key_id)
    row = material_row(server, imported.key_id, imported.material_id)
    assert row is not None and row[0] is None and row[2] == "PENDING_IMPORT"
    db, wal = files()
    assert sealed not in db, "the sealed material is still in trent.db"
    assert sealed not in wal, "the sealed material is still in trent.db-wal"


# --- audit --------------------------------------------------------------------------------------
def test_audit_records_imports_rotations_and_deletions_without_secrets(
    server: TrentServer, kms: Any
) -> None:
    key_id = create_external(kms, "audited")
    arn = describe(kms, key_id)["Arn"]
    secrets: list[bytes] = []
    request_ids: dict[str, str] = {}
    material_ids = []
    for n, import_type in enumerate((None, NEW)):
        material = os.urandom(32)
        params = kms.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec="RSA_2048"
        )
        wrapped = wrap(params["PublicKey"], "RSA_AES_KEY_WRAP_SHA_256", material)
        out = kms.import_key_material(
            KeyId=key_id,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrapped,
            ExpirationModel=DOES_NOT_EXPIRE,
            **({"ImportType": import_type} if import_type else {}),
        )
        material_ids.append(out["KeyMaterialId"])
        request_ids[f"GetParametersForImport{n}"] = params["ResponseMetadata"]["RequestId"]
        request_ids[f"ImportKeyMaterial{n}"] = out["ResponseMetadata"]["RequestId"]
        secrets += [material, wrapped, params["ImportToken"]]
    rotated = kms.rotate_key_on_demand(KeyId=key_id)
    request_ids["RotateKeyOnDemand"] = rotated["ResponseMetadata"]["RequestId"]
    deleted = kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=material_ids[0])
    request_ids["DeleteImportedKeyMaterial"] = deleted["ResponseMetadata"]["RequestId"]

    records = {r.get("requestID"): r for r in server.audit_records()}
    for label, rid in request_ids.items():
        record = records.get(rid)
        assert record is not None, f"no audit record for {label}"
        assert record["eventName"] == label.rstrip("01")
        assert [r["ARN"] for r in record["resources"]] == [arn], record
        assert "errorCode" not in record
    for n in (0, 1):
        response = records[request_ids[f"ImportKeyMaterial{n}"]]["responseElements"]
        assert response["keyMaterialId"] == material_ids[n]
    deletion = records[request_ids["DeleteImportedKeyMaterial"]]
    assert deletion["requestParameters"]["keyMaterialId"] == material_ids[0]
    assert deletion["responseElements"]["keyMaterialId"] == material_ids[0]

    trail = b"".join(p.read_bytes() for p in (server.data_dir / "audit").iterdir() if p.is_file())
    for secret in secrets:
        for form in (
            secret,
            secret.hex().encode(),
            base64.b64encode(secret),
            base64.b64encode(secret).rstrip(b"="),
            base64.urlsafe_b64encode(secret).rstrip(b"="),
        ):
            assert form not in trail, "a secret (material, wrapped material or token) is audited"


# --- time: token expiry and material expiry -----------------------------------------------------
def server_now(server: TrentServer) -> float:
    with database(server) as db:
        row = db.execute("SELECT value FROM meta WHERE name='test_clock_offset'").fetchone()
    return time.time() + float(row[0] if row else 0.0)


def test_import_token_expires_after_24_hours_and_its_wrapping_key_is_destroyed(
    clock_server: TrentServer,
) -> None:
    kms = clock_server.client()
    key_id = create_external(kms)
    asked = server_now(clock_server)
    first, second = parameters(kms, key_id), parameters(kms, key_id)
    for params in (first, second):
        assert params["ParametersValidTo"].timestamp() == pytest.approx(asked + DAY, abs=30)
    assert import_parameter_rows(clock_server, key_id) == 2

    clock_server.advance_clock(seconds=DAY - 60)  # one minute left: still valid
    material = os.urandom(32)
    kms.import_key_material(
        KeyId=key_id,
        ImportToken=first["ImportToken"],
        EncryptedKeyMaterial=wrap(first["PublicKey"], OAEP_256, material),
        ExpirationModel=DOES_NOT_EXPIRE,
    )
    assert describe(kms, key_id)["KeyState"] == "Enabled"

    clock_server.advance_clock(seconds=61)  # 24 h + 1 s after GetParametersForImport
    expect_error(
        kms.import_key_material,
        "ExpiredImportTokenException",
        "expired",
        KeyId=key_id,
        ImportToken=second["ImportToken"],
        EncryptedKeyMaterial=wrap(second["PublicKey"], OAEP_256, os.urandom(32)),
        ImportType=NEW,
        ExpirationModel=DOES_NOT_EXPIRE,
    )
    # The scheduler destroys the wrapping private keys of expired tokens.
    clock_server.wait_for(lambda: import_parameter_rows(clock_server, key_id) == 0)
    expect_error(
        kms.import_key_material,
        "ExpiredImportTokenException",
        "expired",
        KeyId=key_id,
        ImportToken=first["ImportToken"],
        EncryptedKeyMaterial=wrap(first["PublicKey"], OAEP_256, material),
        ExpirationModel=DOES_NOT_EXPIRE,
    )
    # Fresh parameters work.
    assert import_material(kms, key_id, os.urandom(32), ImportType=NEW)
    assert import_parameter_rows(clock_server, key_id) == 1


def test_material_expires_by_the_scheduler(clock_server: TrentServer) -> None:
    kms = clock_server.client()
    key_id = create_external(kms)
    arn = describe(kms, key_id)["Arn"]
    material = os.urandom(32)
    valid_to = datetime.fromtimestamp(int(server_now(clock_server) + DAY), UTC)
    material_id = import_material(kms, key_id, material, ValidTo=valid_to)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"expiring")["CiphertextBlob"]

    clock_server.advance_clock(seconds=DAY - 30)
    time.sleep(0.6)  # three scheduler ticks: not due yet
    assert describe(kms, key_id)["KeyState"] == "Enabled"

    clock_server.advance_clock(seconds=31)  # 1 day + 1 s
    clock_server.wait_for(lambda: describe(kms, key_id)["KeyState"] == "PendingImport")
    entry = by_id(kms, key_id)[material_id]
    assert entry["ImportState"] == "PENDING_IMPORT"
    assert entry["KeyMaterialState"] == "CURRENT"
    row = material_row(clock_server, key_id, material_id)
    assert row is not None and row[0] is None
    expect_error(
        kms.decrypt, "KMSInvalidStateException", f"{arn} is pending import.", CiphertextBlob=blob
    )

    def expiry_events() -> list[dict[str, Any]]:
        return [
            r
            for r in clock_server.audit_records()
            if r.get("eventName") == "DeleteExpiredKeyMaterial"
        ]

    clock_server.wait_for(lambda: len(expiry_events()) == 1)
    event = expiry_events()[0]
    assert event["eventType"] == "AwsServiceEvent"
    assert event["serviceEventDetails"]["keyMaterialId"] == material_id
    assert [r["ARN"] for r in event["resources"]] == [arn]

    # Re-import (the old token expired with the day; fresh parameters) -> Enabled again.
    assert import_material(kms, key_id, material, ExpirationModel=DOES_NOT_EXPIRE) == material_id
    metadata = describe(kms, key_id)
    assert metadata["KeyState"] == "Enabled"
    assert metadata["ExpirationModel"] == DOES_NOT_EXPIRE and "ValidTo" not in metadata
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"expiring"


# --- crash safety -------------------------------------------------------------------------------
CRASH_THREADS = 3
CRASH_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1})


@dataclass
class Acked:
    """What the server acknowledged during the load (appended from the load threads)."""

    materials: dict[str, set[str]] = field(default_factory=dict)  # key -> imported ids
    rotated_to: dict[str, set[str]] = field(default_factory=dict)  # key -> ids made CURRENT
    sealed: list[tuple[str, bytes, bytes, str]] = field(default_factory=list)
    client_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def import_load(server: TrentServer, acked: Acked, stop: threading.Event) -> None:
    kms = server.client(config=CRASH_CONFIG)
    key_id, current, rotations_left = "", "", 0
    try:
        while not stop.is_set():
            if rotations_left == 0:
                key_id = create_external(kms, "crash imports")
                current, rotations_left = "", 25
            params = parameters(kms, key_id)
            material = os.urandom(32)
            out = kms.import_key_material(
                KeyId=key_id,
                ImportToken=params["ImportToken"],
                EncryptedKeyMaterial=wrap(params["PublicKey"], OAEP_256, material),
                ImportType=NEW,
                ExpirationModel=DOES_NOT_EXPIRE,
            )
            material_id = out["KeyMaterialId"]
            with acked.lock:
                acked.materials.setdefault(key_id, set()).add(material_id)
            if current:
                kms.rotate_key_on_demand(KeyId=key_id)
                rotations_left -= 1
                with acked.lock:
                    acked.rotated_to.setdefault(key_id, set()).add(material_id)
            current = material_id
            plaintext = os.urandom(40)
            blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
            with acked.lock:
                acked.sealed.append((key_id, blob, plaintext, current))
    except ClientError as err:  # the server answered with an error: never expected here
        with acked.lock:
            acked.client_errors.append(repr(err.response["Error"]))
    except (BotoCoreError, OSError):
        pass  # the server is gone: stop
    except KeyError:
        # A reply whose headers left before the kill and whose body did not: botocore does not
        # enforce Content-Length, so it parses as an empty success. Only the kill may do that.
        if server.process is not None and server.process.poll() is None:
            raise


def test_kill_9_during_imports_loses_nothing_acknowledged(fresh_server: TrentServer) -> None:
    fresh_server.start()
    acked = Acked()
    stop = threading.Event()
    threads = [
        threading.Thread(target=import_load, args=(fresh_server, acked, stop), daemon=True)
        for _ in range(CRASH_THREADS)
    ]
    for thread in threads:
        thread.start()
    # Kill at a random moment once the load is under way (every thread imported, one rotation
    # acknowledged), however slow the machine is.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
        len(acked.materials) >= CRASH_THREADS and acked.rotated_to
    ):
        time.sleep(0.05)
    time.sleep(random.uniform(0.0, 1.0))
    fresh_server.stop(signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join(timeout=15)
    assert not any(t.is_alive() for t in threads), "a load thread did not stop"
    assert not acked.client_errors, acked.client_errors
    assert sum(len(ids) for ids in acked.materials.values()) >= CRASH_THREADS, "no load ran"
    assert acked.rotated_to, "no rotation was acknowledged before the kill"

    with closing(sqlite3.connect(fresh_server.data_dir / "trent.db", timeout=15)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    fresh_server.start()
    kms = fresh_server.client(config=CRASH_CONFIG)
    for key_id, material_ids in acked.materials.items():
        listed = by_id(kms, key_id)
        lost = material_ids - set(listed)
        assert not lost, f"{key_id}: acknowledged imports lost: {lost}"
        for material_id in material_ids:
            assert listed[material_id]["ImportState"] == "IMPORTED"
        for material_id in acked.rotated_to.get(key_id, set()):
            assert listed[material_id]["KeyMaterialState"] in ("CURRENT", "NON_CURRENT")
            assert listed[material_id]["RotationType"] == "ON_DEMAND"
        assert describe(kms, key_id)["KeyState"] == "Enabled"
    for key_id, blob, plaintext, material_id in acked.sealed:
        out = kms.decrypt(CiphertextBlob=blob)
        assert out["Plaintext"] == plaintext and out["KeyId"].endswith(key_id)
        assert out["KeyMaterialId"] == material_id
