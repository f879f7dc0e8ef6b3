#!/usr/bin/env python3
"""What the per-request key derivation costs: ciphertext version 1 vs version 2, per call.

Version 1 is AES-256-GCM under the key material itself (the AESGCM instance built once per
material, a random 12-byte nonce per call); version 2 adds one SP 800-108 KBKDF (one
HMAC-SHA256), a 32-byte random request nonce and an AESGCM instance per call (README,
"Ciphertext format"). Both run through ``trent.crypto.ciphertext`` except version-1 encryption,
which Trent no longer does and is written here as version 1 did it.

Run from the repository root in the project's venv: ``python bench/ciphertext.py``
(``--seconds`` per measurement, ``--json PATH``). Each figure is the fastest of 5 runs of
about ``--seconds / 5`` each, in microseconds per call on one core; the script first prints how
busy the machine's CPUs were (``cpu.busy_fraction``), since other load inflates every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import timeit
import uuid
from collections.abc import Callable
from pathlib import Path

import cpu
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trent.crypto import ciphertext
from trent.crypto.derivation import derive_key
from trent.crypto.encryption_context import canonical

SIZES = (100, 4096)
REPEATS = 5


def per_call_us(fn: Callable[[], object], seconds: float) -> float:
    """Fastest of REPEATS runs, in microseconds per call."""
    timer = timeit.Timer(fn)
    number, took = timer.autorange()
    per_run = max(1, int(number * (seconds / REPEATS) / max(took, 1e-9)))
    return min(timer.repeat(repeat=REPEATS, number=per_run)) / per_run * 1e6


def measure(seconds: float) -> dict[str, float]:
    material = os.urandom(32)
    key = ciphertext.SymmetricKey(material)
    v1_aead = AESGCM(material)
    key_id, material_id = str(uuid.uuid4()), os.urandom(32).hex()
    v2_prefix = ciphertext.header_prefix(key_id, material_id)
    v1_prefix = b"\x01" + v2_prefix[1:]
    context = canonical({"purpose": "bench"})
    header = v2_prefix + os.urandom(32)
    out: dict[str, float] = {
        "kbkdf (one derivation)": per_call_us(
            lambda: derive_key(material, ciphertext.LABEL, header), seconds
        )
    }
    for size in SIZES:
        plaintext = os.urandom(size)

        def v1_encrypt(plaintext: bytes = plaintext) -> bytes:
            nonce = os.urandom(12)
            head = v1_prefix + nonce
            return head + v1_aead.encrypt(nonce, plaintext, head + context)

        def v2_encrypt(plaintext: bytes = plaintext) -> bytes:
            return ciphertext.encrypt(key, v2_prefix, plaintext, context)

        v1_blob, v2_blob = v1_encrypt(), v2_encrypt()
        assert ciphertext.decrypt(key, v1_blob, context) == plaintext
        assert ciphertext.decrypt(key, v2_blob, context) == plaintext
        out[f"v1 encrypt {size} B"] = per_call_us(v1_encrypt, seconds)
        out[f"v2 encrypt {size} B"] = per_call_us(v2_encrypt, seconds)
        out[f"v1 decrypt {size} B"] = per_call_us(
            lambda blob=v1_blob: ciphertext.decrypt(key, blob, context), seconds
        )
        out[f"v2 decrypt {size} B"] = per_call_us(
            lambda blob=v2_blob: ciphertext.decrypt(key, blob, context), seconds
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    busy = cpu.busy_fraction()
    print(f"CPUs busy before the run: {busy:.0%}" if busy is not None else "CPUs busy: unknown")
    figures = measure(args.seconds)
    width = max(len(name) for name in figures)
    for name, us in figures.items():
        print(f"{name:<{width}}  {us:8.2f} us/call")
    for size in SIZES:
        for op in ("encrypt", "decrypt"):
            extra = figures[f"v2 {op} {size} B"] - figures[f"v1 {op} {size} B"]
            print(f"v2 - v1 {op} {size} B: {extra:+.2f} us/call")
    if args.json:
        args.json.write_text(json.dumps({"cpu_busy_before": busy, "us_per_call": figures}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
