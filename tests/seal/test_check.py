"""trent.seal.check: the root key's check value, recomputed independently with hashlib/hmac."""

from __future__ import annotations

import hashlib
import hmac
import os

from trent.seal import check_value
from trent.seal.check import matches


def hkdf_sha256(ikm: bytes, info: bytes, length: int = 32) -> bytes:
    """RFC 5869 with no salt, from the standard library (an independent implementation)."""
    prk = hmac.digest(b"\0" * 32, ikm, "sha256")
    okm, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.digest(prk, block + info + bytes([counter]), "sha256")
        okm += block
    return okm[:length]


def test_check_value_matches_its_definition() -> None:
    root = os.urandom(32)
    subkey = hkdf_sha256(root, b"trent root key check v1")
    expected = hmac.digest(subkey, b"trent root key check value", hashlib.sha256).hex()
    assert check_value(root) == expected
    assert matches(root, expected)
    assert not matches(os.urandom(32), expected)
    assert root.hex() not in expected
