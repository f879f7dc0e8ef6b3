"""trent.crypto.ciphertext against the README's documented layout, opened with an independent
AES-GCM call from ``cryptography``."""

from __future__ import annotations

import os
import struct
import uuid

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trent.crypto import ciphertext
from trent.crypto.encryption_context import canonical

MATERIAL = os.urandom(32)
KEY_ID = str(uuid.uuid4())
MATERIAL_ID = os.urandom(32).hex()


def readme_context(context: dict[str, str]) -> bytes:
    """The README's canonical context, built here without Trent's code."""
    pairs = sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in context.items())
    out = struct.pack(">I", len(pairs))
    for key, value in pairs:
        out += struct.pack(">I", len(key)) + key + struct.pack(">I", len(value)) + value
    return out


def make(plaintext: bytes, context: dict[str, str] | None = None) -> bytes:
    prefix = ciphertext.header_prefix(KEY_ID, MATERIAL_ID)
    return ciphertext.encrypt(AESGCM(MATERIAL), prefix, plaintext, canonical(context))


@pytest.mark.parametrize("size", [0, 1, 100, 4096])
@pytest.mark.parametrize("context", [{}, {"purpose": "test", "tenant": "ä"}])
def test_layout_opens_with_independent_aes_gcm(size: int, context: dict[str, str]) -> None:
    plaintext = os.urandom(size)
    blob = make(plaintext, context)
    assert len(blob) == 61 + size + 16
    assert blob[0] == 0x01
    assert blob[1:17] == uuid.UUID(KEY_ID).bytes
    assert blob[17:49] == bytes.fromhex(MATERIAL_ID)
    header, nonce = blob[:61], blob[49:61]
    opened = AESGCM(MATERIAL).decrypt(nonce, blob[61:], header + readme_context(context))
    assert opened == plaintext
    # The context really is part of the associated data.
    with pytest.raises(InvalidTag):
        AESGCM(MATERIAL).decrypt(nonce, blob[61:], header + readme_context({"x": "y"}))
    with pytest.raises(InvalidTag):
        AESGCM(MATERIAL).decrypt(nonce, blob[61:], readme_context(context))


def test_trent_decrypts_what_an_independent_encryptor_made() -> None:
    context = {"b": "2", "a": "1"}
    nonce = os.urandom(12)
    header = b"\x01" + uuid.UUID(KEY_ID).bytes + bytes.fromhex(MATERIAL_ID) + nonce
    body = AESGCM(MATERIAL).encrypt(nonce, b"from outside", header + readme_context(context))
    blob = header + body
    assert ciphertext.decrypt(AESGCM(MATERIAL), blob, canonical(context)) == b"from outside"


def test_nonce_is_fresh() -> None:
    first, second = make(b"same"), make(b"same")
    assert first[49:61] != second[49:61]
    assert first[61:] != second[61:]


def test_parse_header() -> None:
    header = ciphertext.parse_header(make(b"x"))
    assert header.key_id == KEY_ID
    assert header.material_id == MATERIAL_ID


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x01" * 76, b"\x02" + bytes(76)])
def test_parse_header_rejects(blob: bytes) -> None:
    with pytest.raises(ciphertext.CiphertextError):
        ciphertext.parse_header(blob)


def test_parse_header_rejects_other_version() -> None:
    blob = bytearray(make(b"x"))
    blob[0] = 2
    with pytest.raises(ciphertext.CiphertextError):
        ciphertext.parse_header(bytes(blob))


def test_decrypt_round_trip_and_failures() -> None:
    context = {"k": "v"}
    blob = make(b"secret", context)
    aead = AESGCM(MATERIAL)
    assert ciphertext.decrypt(aead, blob, canonical(context)) == b"secret"
    with pytest.raises(ciphertext.CiphertextError):
        ciphertext.decrypt(aead, blob, canonical({"k": "w"}))
    with pytest.raises(ciphertext.CiphertextError):
        ciphertext.decrypt(AESGCM(os.urandom(32)), blob, canonical(context))
    for pos in range(len(blob)):
        tampered = bytearray(blob)
        tampered[pos] ^= 0x01
        with pytest.raises(ciphertext.CiphertextError):
            ciphertext.decrypt(aead, bytes(tampered), canonical(context))
