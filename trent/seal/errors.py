"""Errors of the seal layer: each one line, naming what is wrong, never a secret."""

from __future__ import annotations


class SealError(Exception):
    """The seal cannot be used: a missing or unreadable root key file, a PKCS#11 module that
    does not load, a missing token, a wrong PIN, a missing key, or a wrapped root key that does
    not open under it."""
