"""Known-answer tests of the ciphertext blob against tests/crypto/vectors/ciphertext.json.

Each vector is checked both ways: the independent implementation (reference.py: SP 800-108
with the standard library's ``hmac``, AES-GCM through pyca's low-level ``Cipher`` API) derives
the same key and opens the blob to the expected plaintext, and Trent's code reproduces the
blob byte for byte and opens it too. The reference KDF is itself checked against NIST CAVP.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode

from tests.crypto import make_vectors, reference
from trent.crypto import ciphertext, derivation, material
from trent.crypto.encryption_context import canonical

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "ciphertext.json").read_text(encoding="utf-8")
)
BLOBS = VECTORS["blobs"]
V2 = [v for v in BLOBS if v["version"] == 2]


def by_name(vectors: list[dict[str, Any]]) -> Any:
    return pytest.mark.parametrize("vector", vectors, ids=[v["name"] for v in vectors])


def test_the_committed_file_is_what_the_generator_writes() -> None:
    """The vectors match today's code (regenerate with ``python -m tests.crypto.make_vectors``
    only when the format changes on purpose)."""
    committed = (Path(__file__).parent / "vectors" / "ciphertext.json").read_text("utf-8")
    assert committed == make_vectors.render()


def test_there_are_vectors_of_both_versions() -> None:
    assert {v["version"] for v in BLOBS} == {1, 2}
    assert len(VECTORS["nist_kbkdf"]) >= 2


@pytest.mark.parametrize("nist", VECTORS["nist_kbkdf"], ids=lambda n: n["source"][-8:])
def test_reference_kdf_matches_nist_cavp(nist: dict[str, str]) -> None:
    ki, fixed, ko = (bytes.fromhex(nist[k]) for k in ("ki", "fixed_input", "ko"))
    assert reference.kdf_counter_hmac_sha256(ki, fixed, len(ko)) == ko
    # pyca's KBKDFHMAC, configured as Trent configures it, on the same vector.
    kdf = KBKDFHMAC(
        algorithm=hashes.SHA256(),
        mode=Mode.CounterMode,
        length=len(ko),
        rlen=4,
        llen=None,
        location=CounterLocation.BeforeFixed,
        label=None,
        context=None,
        fixed=fixed,
    )
    assert kdf.derive(ki) == ko


@by_name(BLOBS)
def test_vector_header_layout(vector: dict[str, Any]) -> None:
    blob = bytes.fromhex(vector["blob"])
    header_bytes = {1: 61, 2: 81}[vector["version"]]
    assert len(blob) == header_bytes + len(bytes.fromhex(vector["plaintext"])) + 16
    assert blob[0] == vector["version"]
    assert blob[1:17] == uuid.UUID(vector["key_id"]).bytes
    assert blob[17:49].hex() == vector["material_id"]
    secret = bytes.fromhex(vector["material"])
    assert material.material_id(vector["key_id"], secret) == vector["material_id"]
    if vector["version"] == 2:
        assert blob[49:81].hex() == vector["request_nonce"]
    else:
        assert blob[49:61].hex() == vector["gcm_nonce"]


@by_name(V2)
def test_derived_key_matches_the_independent_kdf(vector: dict[str, Any]) -> None:
    secret = bytes.fromhex(vector["material"])
    header = bytes.fromhex(vector["blob"])[:81]
    expected = bytes.fromhex(vector["derived_key"])
    assert reference.derived_key(secret, header) == expected
    assert ciphertext.SymmetricKey(secret).derived_key(header) == expected
    assert derivation.derive_key(secret, reference.LABEL, header) == expected
    # Every header field is bound: flip any header byte and the key changes.
    for pos in range(81):
        changed = bytearray(header)
        changed[pos] ^= 0x80
        assert reference.derived_key(secret, bytes(changed)) != expected


@by_name(BLOBS)
def test_independent_implementation_opens_the_vector(vector: dict[str, Any]) -> None:
    secret = bytes.fromhex(vector["material"])
    blob = bytes.fromhex(vector["blob"])
    opened = reference.open_blob(secret, blob, vector["encryption_context"])
    assert opened == bytes.fromhex(vector["plaintext"])


@by_name(BLOBS)
def test_trent_opens_the_vector(vector: dict[str, Any]) -> None:
    key = ciphertext.SymmetricKey(bytes.fromhex(vector["material"]))
    blob = bytes.fromhex(vector["blob"])
    context = canonical(vector["encryption_context"])
    assert ciphertext.decrypt(key, blob, context) == bytes.fromhex(vector["plaintext"])
    header = ciphertext.parse_header(blob)
    assert (header.key_id, header.material_id, header.version) == (
        vector["key_id"],
        vector["material_id"],
        vector["version"],
    )


@by_name(V2)
def test_trent_reproduces_the_vector_and_so_does_the_reference(vector: dict[str, Any]) -> None:
    secret = bytes.fromhex(vector["material"])
    plaintext = bytes.fromhex(vector["plaintext"])
    nonce = bytes.fromhex(vector["request_nonce"])
    context = vector["encryption_context"]
    prefix = ciphertext.header_prefix(vector["key_id"], vector["material_id"])
    ours = ciphertext.encrypt_with_nonce(
        ciphertext.SymmetricKey(secret), prefix, nonce, plaintext, canonical(context)
    )
    theirs = reference.seal_v2(
        secret, vector["key_id"], vector["material_id"], plaintext, context, nonce
    )
    assert ours == theirs == bytes.fromhex(vector["blob"])
