"""Write tests/crypto/vectors/ciphertext.json: known-answer vectors of Trent's ciphertext blob.

Run from the repository root: ``python -m tests.crypto.make_vectors``. Every input is fixed
(derived from a name with SHA-256), so a run rewrites the same file unless the format changed.
Version-2 blobs come from Trent's own code (``ciphertext.encrypt_with_nonce``); version-1 blobs
from the version-1 layout as Trent wrote it before version 2 (AESGCM under the material itself).
test_vectors.py checks them all with the independent implementation in reference.py.

The "nist_kbkdf" entries are NIST CAVP SP 800-108 vectors (KBKDF, counter mode, HMAC_SHA256,
counter before the fixed input, 32-bit counter), copied from NIST's CAVS 14.4 "SP800-108 -
KDF" response file as pyca/cryptography distributes it
(``vectors/cryptography_vectors/KDF/nist-800-108-KBKDF-CTR.txt``).
"""

from __future__ import annotations

import hashlib
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trent.crypto import ciphertext, material
from trent.crypto.encryption_context import canonical

PATH = Path(__file__).parent / "vectors" / "ciphertext.json"

NIST_KBKDF = [
    {
        "source": "CAVS 14.4 KDFCTR, [PRF=HMAC_SHA256] [CTRLOCATION=BEFORE_FIXED] "
        "[RLEN=32_BITS] COUNT=10",
        "ki": "e204d6d466aad507ffaf6d6dab0a5b26152c9e21e764370464e360c8fbc765c6",
        "fixed_input": "7b03b98d9f94b899e591f3ef264b71b193fba7043c7e953cde23bc5384bc1a62"
        "93580115fae3495fd845dadbd02bd6455cf48d0f62b33e62364a3a80",
        "ko": "770dfab6a6a4a4bee0257ff335213f78d8287b4fd537d5c1fffa956910e7c779",
    },
    {
        "source": "CAVS 14.4 KDFCTR, [PRF=HMAC_SHA256] [CTRLOCATION=BEFORE_FIXED] "
        "[RLEN=32_BITS] COUNT=11",
        "ki": "aeeeca60f689a441b13b0cbcd441d82df0cf87dac236290dece8931df8d70317",
        "fixed_input": "588ec041e5733b7031212c5538efe4f6aafa4cda8b925d261f5a2688f007b3ac"
        "240ee12991e77b8cb8538678615966164a81872bd1cfcbfb39a4f450",
        "ko": "3e81d6113cee3c529ecedff89a6999ce25b618c15ee1d19d45cb376a1c8e2374",
    },
    {
        "source": "CAVS 14.4 KDFCTR, [PRF=HMAC_SHA256] [CTRLOCATION=BEFORE_FIXED] "
        "[RLEN=32_BITS] COUNT=30 (two blocks)",
        "ki": "c4bedbddb66493e7c7259a3bbbc25f8c7e0ca7fe284d92d431d9cd99a0d214ac",
        "fixed_input": "1c69c54766791e315c2cc5c47ecd3ffab87d0d273dd920e70955814c220eacac"
        "e6a5946542da3dfe24ff626b4897898cafb7db83bdff3c14fa46fd4b",
        "ko": "1da47638d6c9c4d04d74d4640bbd42ab814d9e8cc22f4326695239f96b0693f12d0dd1152cf44430",
    },
]

CASES: list[tuple[str, int, int, dict[str, str]]] = [
    # name, version, plaintext bytes, encryption context
    ("v2 empty context", 2, 32, {}),
    ("v2 with context", 2, 100, {"purpose": "test vectors", "tenant": "ä ü"}),
    ("v2 one byte", 2, 1, {"k": "v"}),
    ("v2 empty plaintext", 2, 0, {}),
    ("v1 empty context", 1, 32, {}),
    ("v1 with context", 1, 100, {"purpose": "test vectors", "tenant": "ä ü"}),
]


def fixed(name: str, what: str, size: int) -> bytes:
    """``size`` bytes determined by the case name and the field."""
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{name}/{what}/{counter}".encode()).digest()
        counter += 1
    return out[:size]


def case(name: str, version: int, size: int, context: dict[str, str]) -> dict[str, Any]:
    secret = fixed(name, "material", 32)
    key_id = str(uuid.UUID(bytes=fixed(name, "key id", 16), version=4))
    material_id = material.material_id(key_id, secret)
    plaintext = fixed(name, "plaintext", size)
    entry: dict[str, Any] = {
        "name": name,
        "version": version,
        "material": secret.hex(),
        "key_id": key_id,
        "material_id": material_id,
        "encryption_context": context,
        "plaintext": plaintext.hex(),
    }
    if version == 2:
        nonce = fixed(name, "request nonce", ciphertext.REQUEST_NONCE_BYTES)
        key = ciphertext.SymmetricKey(secret)
        prefix = ciphertext.header_prefix(key_id, material_id)
        blob = ciphertext.encrypt_with_nonce(key, prefix, nonce, plaintext, canonical(context))
        entry["request_nonce"] = nonce.hex()
        entry["derived_key"] = key.derived_key(blob[: ciphertext.V2_HEADER_BYTES]).hex()
    else:
        nonce = fixed(name, "gcm nonce", ciphertext.V1_NONCE_BYTES)
        header = bytes([1]) + uuid.UUID(key_id).bytes + bytes.fromhex(material_id) + nonce
        blob = header + AESGCM(secret).encrypt(nonce, plaintext, header + canonical(context))
        entry["gcm_nonce"] = nonce.hex()
    entry["blob"] = blob.hex()
    return entry


def vectors() -> dict[str, Any]:
    return {
        "about": "Known-answer vectors of Trent's symmetric ciphertext blob (README, "
        "'Ciphertext format'); written by tests/crypto/make_vectors.py, checked by "
        "tests/crypto/test_vectors.py. Hex strings; key_id a UUID.",
        "label": ciphertext.LABEL.decode(),
        "nist_kbkdf": NIST_KBKDF,
        "blobs": [case(*c) for c in CASES],
    }


def render() -> str:
    return json.dumps(vectors(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    PATH.parent.mkdir(parents=True, exist_ok=True)
    PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
