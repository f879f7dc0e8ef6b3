"""The loaded private key handle that ``asymmetric`` and ``signing`` share."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes


class PrivateKey:
    """A loaded private key: opaque, immutable, safe to cache and share between requests.
    Make it with ``asymmetric.load_private``."""

    __slots__ = ("_public_der", "key", "public", "spec")

    def __init__(self, spec: str, key: PrivateKeyTypes) -> None:
        self.spec = spec
        self.key = key  # the `cryptography` key object (for trent.crypto modules only)
        self.public: PublicKeyTypes = key.public_key()
        self._public_der = self.public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def public_der(self) -> bytes:
        """DER SubjectPublicKeyInfo."""
        return self._public_der

    def __repr__(self) -> str:
        return f"PrivateKey({self.spec})"
