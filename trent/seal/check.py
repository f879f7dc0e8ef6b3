"""A check value of the root key, stored with the data so a missing or different key is caught
at start instead of as a failure of every request.

``check_value(root) = HMAC-SHA256(K, "trent root key check value")`` with
``K = HKDF-SHA256(root, info="trent root key check v1")`` (pyca/cryptography), hex: it tells
whether a candidate key is the one the data was sealed under and reveals nothing else about it
(the key itself is never stored).
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as pyca_hmac

from trent.seal.barrier import derive_subkey

CHECK_INFO = b"trent root key check v1"
CHECK_LABEL = b"trent root key check value"


def check_value(root_key: bytes) -> str:
    """64 hex digits identifying ``root_key`` (see the module docstring)."""
    mac = pyca_hmac.HMAC(derive_subkey(root_key, CHECK_INFO), hashes.SHA256())
    mac.update(CHECK_LABEL)
    return mac.finalize().hex()


def matches(root_key: bytes, stored: str) -> bool:
    """Constant-time comparison of ``root_key``'s check value with a stored one."""
    return hmac.compare_digest(check_value(root_key).encode(), stored.encode())
