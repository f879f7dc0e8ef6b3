"""An independent implementation of Trent's ciphertext blob (README, "Ciphertext format"), for
tests: nothing here imports Trent, AESGCM or KBKDFHMAC.

- The KDF is NIST SP 800-108r1 section 4.1 (counter mode) written out with the standard
  library's ``hmac``: ``K(i) = HMAC-SHA256(KI, [i]_32 || Label || 0x00 || Context || [L]_32)``,
  ``i = 1, 2, ...``, output the leftmost L bits. Checked against NIST CAVP vectors
  (tests/crypto/vectors/ciphertext.json, "nist_kbkdf").
- AES-GCM is pyca/cryptography's low-level ``Cipher(AES, GCM)`` API: a different code path from
  the ``AESGCM`` class Trent uses.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import uuid

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

LABEL = b"trent symmetric ciphertext"
V1_HEADER = 61
V2_HEADER = 81
TAG = 16
ZERO_IV = bytes(12)


def kdf_counter_hmac_sha256(key: bytes, fixed_input: bytes, length: int) -> bytes:
    """SP 800-108r1 counter mode, 32-bit counter before the fixed input; ``length`` bytes."""
    blocks = []
    for i in range(1, -(-length // 32) + 1):
        blocks.append(hmac.new(key, struct.pack(">I", i) + fixed_input, hashlib.sha256).digest())
    return b"".join(blocks)[:length]


def derived_key(material: bytes, header: bytes) -> bytes:
    """Version 2's per-blob key: Label, a zero byte, the 81-byte header as Context, L = 256."""
    fixed = LABEL + b"\x00" + header + struct.pack(">I", 256)
    return kdf_counter_hmac_sha256(material, fixed, 32)


def canonical_context(context: dict[str, str] | None) -> bytes:
    """The README's canonical encryption context."""
    pairs = sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in (context or {}).items())
    out = struct.pack(">I", len(pairs))
    for key, value in pairs:
        out += struct.pack(">I", len(key)) + key + struct.pack(">I", len(value)) + value
    return out


def gcm_seal(key: bytes, iv: bytes, plaintext: bytes, aad: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
    encryptor.authenticate_additional_data(aad)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return body + encryptor.tag


def gcm_open(key: bytes, iv: bytes, body_and_tag: bytes, aad: bytes) -> bytes:
    """Raises ``cryptography.exceptions.InvalidTag`` when it fails to authenticate."""
    body, tag = body_and_tag[:-TAG], body_and_tag[-TAG:]
    decryptor = Cipher(algorithms.AES(key), modes.GCM(iv, tag)).decryptor()
    decryptor.authenticate_additional_data(aad)
    return decryptor.update(body) + decryptor.finalize()


def prefix(version: int, key_id: str, material_id: str) -> bytes:
    return bytes([version]) + uuid.UUID(key_id).bytes + bytes.fromhex(material_id)


def seal_v1(
    material: bytes,
    key_id: str,
    material_id: str,
    plaintext: bytes,
    context: dict[str, str] | None = None,
    nonce: bytes | None = None,
) -> bytes:
    """A version-1 blob: AES-256-GCM under the material itself, random 12-byte nonce."""
    header = prefix(1, key_id, material_id) + (nonce or os.urandom(12))
    return header + gcm_seal(material, header[49:], plaintext, header + canonical_context(context))


def seal_v2(
    material: bytes,
    key_id: str,
    material_id: str,
    plaintext: bytes,
    context: dict[str, str] | None = None,
    request_nonce: bytes | None = None,
) -> bytes:
    """A version-2 blob: AES-256-GCM under the derived key, IV zero."""
    header = prefix(2, key_id, material_id) + (request_nonce or os.urandom(32))
    key = derived_key(material, header)
    return header + gcm_seal(key, ZERO_IV, plaintext, header + canonical_context(context))


def open_blob(material: bytes, blob: bytes, context: dict[str, str] | None = None) -> bytes:
    """The plaintext of a Trent blob of either version, opened with the material."""
    aad_context = canonical_context(context)
    if blob[0] == 1:
        header = blob[:V1_HEADER]
        return gcm_open(material, header[49:], blob[V1_HEADER:], header + aad_context)
    assert blob[0] in (2, 3), blob[:1]  # 3: version 2 under a multi-Region (mrk-) key id
    header = blob[:V2_HEADER]
    key = derived_key(material, header)
    return gcm_open(key, ZERO_IV, blob[V2_HEADER:], header + aad_context)
