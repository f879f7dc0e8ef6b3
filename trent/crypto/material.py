"""Symmetric key material: generation and the key material id."""

from __future__ import annotations

import hashlib
import os
import uuid

SYMMETRIC_KEY_BYTES = 32


def generate_symmetric() -> bytes:
    return os.urandom(SYMMETRIC_KEY_BYTES)


def material_id(key_id: str, material: bytes) -> str:
    """64 hex characters: SHA-256 over a domain tag, the key id and the material.

    The same material in two keys gives two ids; the same material in one key always gives the
    same id; the id reveals nothing about the material (it is a one-way hash of 256 secret bits).
    """
    digest = hashlib.sha256(b"trent key material id v1\x00" + uuid.UUID(key_id).bytes + material)
    return digest.hexdigest()


def random_bytes(count: int) -> bytes:
    return os.urandom(count)
