"""Errors of the asymmetric and HMAC key layer (``asymmetric``, ``hmac_keys``).

Plain exceptions, never ``trent.errors`` ones: the operations layer maps each to the AWS error.
``asymmetric`` re-exports them all.
"""

from __future__ import annotations


class CryptoError(Exception):
    """Base of every error the asymmetric and HMAC key layer raises."""


class InvalidSignature(CryptoError):
    """The signature does not verify under the key for this message and algorithm."""


class InvalidMac(CryptoError):
    """The MAC does not verify under the key for this message and algorithm."""


class MessageError(CryptoError):
    """The message does not fit the algorithm: a DIGEST of the wrong length, an EXTERNAL_MU
    that is not 64 bytes, a message type the algorithm does not take, a plaintext too long."""


class PublicKeyError(CryptoError):
    """A peer public key that is not a DER SubjectPublicKeyInfo of the right type and curve."""


class MaterialError(CryptoError):
    """Key material that is not valid for the key spec (imported, or stored and corrupt)."""


class UnsupportedSpec(CryptoError):
    """A key spec or algorithm that AWS offers and Trent cannot do (the message says which)."""


class AlgorithmError(CryptoError):
    """An algorithm that this key spec does not offer (e.g. ECDSA_SHA_384 with an RSA key)."""


class InvalidCiphertext(CryptoError):
    """An RSA ciphertext or ML-KEM encapsulation that does not open under the key."""
