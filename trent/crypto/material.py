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
    digest = hashlib.sha256(b"trent key material id v1\x00" + key_id_bytes(key_id) + material)
    return digest.hexdigest()


def key_id_bytes(key_id: str) -> bytes:
    """The 16 bytes a key id stands for: a UUID's, or the 32 hex digits of a multi-Region
    ``mrk-`` id (which all related multi-Region keys share)."""
    if key_id.startswith("mrk-"):
        return bytes.fromhex(key_id[4:])
    return uuid.UUID(key_id).bytes


def random_bytes(count: int) -> bytes:
    return os.urandom(count)
