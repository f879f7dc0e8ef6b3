"""trent.crypto.ciphertext against the README's documented layout (versions 1 and 2), checked
with the independent implementation in reference.py."""

from __future__ import annotations

import os
import uuid

import pytest
from cryptography.exceptions import InvalidTag

from tests.crypto import reference
from trent.crypto import ciphertext
from trent.crypto.encryption_context import canonical

MATERIAL = os.urandom(32)
KEY = ciphertext.SymmetricKey(MATERIAL)
KEY_ID = str(uuid.uuid4())
MATERIAL_ID = os.urandom(32).hex()


def make(plaintext: bytes, context: dict[str, str] | None = None) -> bytes:
    prefix = ciphertext.header_prefix(KEY_ID, MATERIAL_ID)
    return ciphertext.encrypt(KEY, prefix, plaintext, canonical(context))


@pytest.mark.parametrize("size", [0, 1, 100, 4096])
@pytest.mark.parametrize("context", [{}, {"purpose": "test", "tenant": "ä"}])
def test_v2_layout_opens_with_independent_implementation(
    size: int, context: dict[str, str]
) -> None:
    plaintext = os.urandom(size)
    blob = make(plaintext, context)
    assert len(blob) == 81 + size + 16
    assert blob[0] == 0x02
    assert blob[1:17] == uuid.UUID(KEY_ID).bytes
    assert blob[17:49] == bytes.fromhex(MATERIAL_ID)
    assert reference.open_blob(MATERIAL, blob, context) == plaintext
    header = blob[:81]
    key = reference.derived_key(MATERIAL, header)
    body = blob[81:]
    # The context really is part of the associated data, and so is the header.
    with pytest.raises(InvalidTag):
        reference.gcm_open(key, bytes(12), body, header + reference.canonical_context({"x": "y"}))
    with pytest.raises(InvalidTag):
        reference.gcm_open(key, bytes(12), body, reference.canonical_context(context))
    # The material itself is not the encryption key.
    with pytest.raises(InvalidTag):
        reference.gcm_open(MATERIAL, bytes(12), body, header + reference.canonical_context(context))


@pytest.mark.parametrize("version", [1, 2])
def test_trent_decrypts_what_an_independent_encryptor_made(version: int) -> None:
    context = {"b": "2", "a": "1"}
    seal = reference.seal_v1 if version == 1 else reference.seal_v2
    blob = seal(MATERIAL, KEY_ID, MATERIAL_ID, b"from outside", context)
    assert blob[0] == version
    assert ciphertext.decrypt(KEY, blob, canonical(context)) == b"from outside"
    with pytest.raises(ciphertext.CiphertextError):
        ciphertext.decrypt(KEY, blob, canonical({"a": "1"}))


def test_each_encryption_uses_a_fresh_derived_key() -> None:
    first, second = make(b"same"), make(b"same")
    assert first[49:81] != second[49:81]  # a fresh request nonce each call
    assert reference.derived_key(MATERIAL, first[:81]) != reference.derived_key(
        MATERIAL, second[:81]
    )
    assert first[81:] != second[81:]


def test_parse_header_both_versions() -> None:
    for blob in (make(b"x"), reference.seal_v1(MATERIAL, KEY_ID, MATERIAL_ID, b"x")):
        header = ciphertext.parse_header(blob)
        assert header.key_id == KEY_ID
        assert header.material_id == MATERIAL_ID
        assert header.version == blob[0]


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x01",
        b"\x01" * 76,  # one byte short of a version-1 header and tag
        b"\x02" + bytes(95),  # one byte short of a version-2 header and tag
        b"\x00" + bytes(120),
        b"\x03" + bytes(95),  # one byte short of a version-3 (multi-Region) header and tag
        b"\x04" + bytes(120),
        b"\xff" + bytes(120),
    ],
)
def test_parse_header_rejects(blob: bytes) -> None:
    with pytest.raises(ciphertext.CiphertextError):
        ciphertext.parse_header(blob)
    with pytest.raises(ciphertext.CiphertextError):
        ciphertext.decrypt(KEY, blob, canonical(None))


def test_a_v2_blob_relabelled_v1_fails() -> None:
    blob = bytearray(make(b"x" * 40))
    blob[0] = 1
    with pytest.raises(ciphertext.CiphertextError):
        ciphertext.decrypt(KEY, bytes(blob), canonical(None))


@pytest.mark.parametrize("version", [1, 2])
def test_decrypt_round_trip_and_failures(version: int) -> None:
    context = {"k": "v"}
    if version == 2:
        blob = make(b"secret", context)
    else:
        blob = reference.seal_v1(MATERIAL, KEY_ID, MATERIAL_ID, b"secret", context)
    assert ciphertext.decrypt(KEY, blob, canonical(context)) == b"secret"
    with pytest.raises(ciphertext.CiphertextError):
        ciphertext.decrypt(KEY, blob, canonical({"k": "w"}))
    with pytest.raises(ciphertext.CiphertextError):
        ciphertext.decrypt(ciphertext.SymmetricKey(os.urandom(32)), blob, canonical(context))
    with pytest.raises(ciphertext.CiphertextError):
        ciphertext.decrypt(KEY, blob[:-1], canonical(context))
    for pos in range(len(blob)):  # every header byte, every body and tag byte
        tampered = bytearray(blob)
        tampered[pos] ^= 0x01
        with pytest.raises(ciphertext.CiphertextError):
            ciphertext.decrypt(KEY, bytes(tampered), canonical(context))


def test_encrypt_with_nonce_refuses_bad_inputs() -> None:
    prefix = ciphertext.header_prefix(KEY_ID, MATERIAL_ID)
    with pytest.raises(ValueError):
        ciphertext.encrypt_with_nonce(KEY, prefix, bytes(31), b"x", canonical(None))
    with pytest.raises(ValueError):
        ciphertext.encrypt_with_nonce(KEY, b"\x01" + prefix[1:], bytes(32), b"x", canonical(None))
    with pytest.raises(ValueError):
        ciphertext.SymmetricKey(bytes(16))


def test_the_key_never_prints_its_material() -> None:
    assert MATERIAL.hex() not in repr(KEY)
    assert repr(MATERIAL) not in repr(KEY)


def test_a_multi_region_key_id_is_version_3() -> None:
    """Version 3: version 2 under an ``mrk-`` id, whose 32 hex digits are the key id bytes;
    the reference implementation opens it."""
    key_id = "mrk-" + "ab" * 16
    key = ciphertext.SymmetricKey(MATERIAL)
    context = canonical({"a": "b"})
    blob = ciphertext.encrypt(key, ciphertext.header_prefix(key_id, MATERIAL_ID), b"x", context)
    header = ciphertext.parse_header(blob)
    assert (header.key_id, header.material_id, header.version) == (key_id, MATERIAL_ID, 3)
    assert blob[1:17] == bytes.fromhex("ab" * 16)
    assert reference.open_blob(MATERIAL, blob, {"a": "b"}) == b"x"
    assert ciphertext.decrypt(key, blob, context) == b"x"
