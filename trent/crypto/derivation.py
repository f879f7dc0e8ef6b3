"""Per-request key derivation: NIST SP 800-108r1 KDF in counter mode with HMAC-SHA256.

``K_out = PRF(K_in, [1]_32 || Label || 0x00 || Context || [256]_32)`` — one 32-byte block, so
one HMAC-SHA256 call. The counter is 32 bits and precedes the fixed input; ``[L]_32`` is the
output length in bits, 32-bit big-endian (SP 800-108r1 section 4.1). pyca/cryptography's
``KBKDFHMAC`` computes it; tests recompute it with the standard library's ``hmac``.

Source: NIST SP 800-108r1, "Recommendation for Key Derivation Using Pseudorandom Functions";
the KDF AWS KMS uses for the same purpose (seed 002, "The curious case of faster AWS KMS
symmetric key rotation"; AWS KMS Cryptographic Details, "Encrypt").
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode

DERIVED_KEY_BYTES = 32
COUNTER_BYTES = 4  # r = 32
LENGTH_BYTES = 4  # [L]_2 encoded in 32 bits


def derive_key(key: bytes, label: bytes, context: bytes) -> bytes:
    """A 32-byte key from ``key`` (the key-derivation key, 32 bytes), ``label`` (what the key
    is for) and ``context`` (what it is bound to). Deterministic; no secret state kept."""
    kdf = KBKDFHMAC(
        algorithm=hashes.SHA256(),
        mode=Mode.CounterMode,
        length=DERIVED_KEY_BYTES,
        rlen=COUNTER_BYTES,
        llen=LENGTH_BYTES,
        location=CounterLocation.BeforeFixed,
        label=label,
        context=context,
        fixed=None,
    )
    return kdf.derive(key)
