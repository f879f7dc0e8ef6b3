"""RSA encryption keys through boto3, against the independent ``cryptography`` package:
RSAES_OAEP_SHA_1 and RSAES_OAEP_SHA_256 with RSA_2048 and RSA_3072 keys.

AWS ("Asymmetric key specs", RSA key specs for encryption and decryption): OAEP with the same
hash for the digest and MGF1, an empty label; the plaintext limit is k - 2*hLen - 2 bytes (RSA_2048:
214 with SHA-1, 190 with SHA-256; RSA_3072: 342 / 318). Asymmetric encryption takes no
encryption context, and Decrypt needs the KeyId of an RSA ciphertext, which names no key
(Decrypt KeyId, API Reference). Key material ids are reported for symmetric keys only.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.operations.test_asymmetric_import import (
    AUDIT_SECRETS,
    expect_error,
    imported_private_key,
    public_key_of,
    shared_key,
)

OAEP_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RSAES_OAEP_SHA_1": hashes.SHA1,
    "RSAES_OAEP_SHA_256": hashes.SHA256,
}
LIMITS = {
    ("RSA_2048", "RSAES_OAEP_SHA_1"): 214,
    ("RSA_2048", "RSAES_OAEP_SHA_256"): 190,
    ("RSA_3072", "RSAES_OAEP_SHA_1"): 342,
    ("RSA_3072", "RSAES_OAEP_SHA_256"): 318,
}
CASES = sorted(LIMITS)


def oaep(algorithm: str) -> padding.OAEP:
    digest = OAEP_HASHES[algorithm]
    return padding.OAEP(mgf=padding.MGF1(algorithm=digest()), algorithm=digest(), label=None)


def rsa_public(kms: Any, key_id: str) -> rsa.RSAPublicKey:
    public = public_key_of(kms, key_id)
    assert isinstance(public, rsa.RSAPublicKey)
    return public


@pytest.fixture(scope="module")
def imported_rsa(kms: Any) -> tuple[str, rsa.RSAPrivateKey]:
    """An RSA_2048 ENCRYPT_DECRYPT key whose private key the test holds."""
    key_id, private = imported_private_key(kms, "RSA_2048", "ENCRYPT_DECRYPT")
    assert isinstance(private, rsa.RSAPrivateKey)
    return key_id, private


@pytest.mark.parametrize(("spec", "algorithm"), CASES)
def test_encrypt_locally_decrypt_in_trent(kms: Any, spec: str, algorithm: str) -> None:
    key_id = shared_key(kms, spec, "ENCRYPT_DECRYPT")
    plaintext = os.urandom(64)
    AUDIT_SECRETS.append(plaintext)
    blob = rsa_public(kms, key_id).encrypt(plaintext, oaep(algorithm))
    out = kms.decrypt(KeyId=key_id, CiphertextBlob=blob, EncryptionAlgorithm=algorithm)
    assert out["Plaintext"] == plaintext
    assert out["EncryptionAlgorithm"] == algorithm
    assert out["KeyId"].endswith(f":key/{key_id}")
    assert "KeyMaterialId" not in out
    # The other OAEP hash does not open it.
    other = next(a for a in OAEP_HASHES if a != algorithm)
    expect_error(
        kms.decrypt,
        "InvalidCiphertextException",
        "",
        KeyId=key_id,
        CiphertextBlob=blob,
        EncryptionAlgorithm=other,
    )


@pytest.mark.parametrize("algorithm", sorted(OAEP_HASHES))
def test_encrypt_in_trent_decrypt_locally(
    kms: Any, imported_rsa: tuple[str, rsa.RSAPrivateKey], algorithm: str
) -> None:
    key_id, private = imported_rsa
    plaintext = b"for the holder of the private key " + os.urandom(16)
    out = kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionAlgorithm=algorithm)
    assert out["EncryptionAlgorithm"] == algorithm
    assert out["KeyId"].endswith(f":key/{key_id}")
    assert "KeyMaterialId" not in out
    blob = out["CiphertextBlob"]
    assert len(blob) == 256  # one RSA_2048 block, nothing else
    assert private.decrypt(blob, oaep(algorithm)) == plaintext
    again = kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionAlgorithm=algorithm)
    assert again["CiphertextBlob"] != blob  # OAEP is randomized
    assert kms.decrypt(KeyId=key_id, CiphertextBlob=blob, EncryptionAlgorithm=algorithm)[
        "Plaintext"
    ] == (plaintext)


@pytest.mark.parametrize(("spec", "algorithm"), CASES)
def test_plaintext_limit(kms: Any, spec: str, algorithm: str) -> None:
    key_id = shared_key(kms, spec, "ENCRYPT_DECRYPT")
    limit = LIMITS[(spec, algorithm)]
    plaintext = os.urandom(limit)
    blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionAlgorithm=algorithm)[
        "CiphertextBlob"
    ]
    out = kms.decrypt(KeyId=key_id, CiphertextBlob=blob, EncryptionAlgorithm=algorithm)
    assert out["Plaintext"] == plaintext
    expect_error(
        kms.encrypt,
        "ValidationException",
        str(limit),
        KeyId=key_id,
        Plaintext=os.urandom(limit + 1),
        EncryptionAlgorithm=algorithm,
    )


def test_no_encryption_context_with_rsa(
    kms: Any, imported_rsa: tuple[str, rsa.RSAPrivateKey]
) -> None:
    key_id, private = imported_rsa
    algorithm = "RSAES_OAEP_SHA_256"
    expect_error(
        kms.encrypt,
        "ValidationException",
        "EncryptionContext",
        KeyId=key_id,
        Plaintext=b"secret",
        EncryptionAlgorithm=algorithm,
        EncryptionContext={"purpose": "test"},
    )
    blob = private.public_key().encrypt(b"secret", oaep(algorithm))
    expect_error(
        kms.decrypt,
        "ValidationException",
        "EncryptionContext",
        KeyId=key_id,
        CiphertextBlob=blob,
        EncryptionAlgorithm=algorithm,
        EncryptionContext={"purpose": "test"},
    )


def test_decrypt_without_key_id(kms: Any, imported_rsa: tuple[str, rsa.RSAPrivateKey]) -> None:
    key_id, private = imported_rsa
    blob = private.public_key().encrypt(b"which key?", oaep("RSAES_OAEP_SHA_256"))
    expect_error(
        kms.decrypt,
        "InvalidCiphertextException",
        "",
        CiphertextBlob=blob,
    )
    out = kms.decrypt(KeyId=key_id, CiphertextBlob=blob, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert out["Plaintext"] == b"which key?"


def test_algorithm_must_fit_the_key(kms: Any, imported_rsa: tuple[str, rsa.RSAPrivateKey]) -> None:
    key_id, _ = imported_rsa
    # SYMMETRIC_DEFAULT (the default) is not an algorithm of an RSA key.
    expect_error(
        kms.encrypt, "InvalidKeyUsageException", "SYMMETRIC_DEFAULT", KeyId=key_id, Plaintext=b"x"
    )
    symmetric = shared_key(kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    expect_error(
        kms.encrypt,
        "InvalidKeyUsageException",
        "RSAES_OAEP_SHA_256",
        KeyId=symmetric,
        Plaintext=b"x",
        EncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )
    # An RSA signing key does not encrypt.
    signing = shared_key(kms, "RSA_2048", "SIGN_VERIFY")
    expect_error(
        kms.encrypt,
        "InvalidKeyUsageException",
        "key usage is SIGN_VERIFY which is not valid for Encrypt",
        KeyId=signing,
        Plaintext=b"x",
        EncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )


def test_reencrypt_between_rsa_and_symmetric(
    kms: Any, imported_rsa: tuple[str, rsa.RSAPrivateKey]
) -> None:
    rsa_id, private = imported_rsa
    symmetric = shared_key(kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    plaintext = os.urandom(48)
    AUDIT_SECRETS.append(plaintext)

    # RSA (encrypted locally) -> symmetric.
    rsa_blob = private.public_key().encrypt(plaintext, oaep("RSAES_OAEP_SHA_1"))
    out = kms.re_encrypt(
        CiphertextBlob=rsa_blob,
        SourceKeyId=rsa_id,
        SourceEncryptionAlgorithm="RSAES_OAEP_SHA_1",
        DestinationKeyId=symmetric,
        DestinationEncryptionContext={"hop": "1"},
    )
    assert out["SourceKeyId"].endswith(f":key/{rsa_id}")
    assert out["KeyId"].endswith(f":key/{symmetric}")
    assert out["SourceEncryptionAlgorithm"] == "RSAES_OAEP_SHA_1"
    assert out["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert "SourceKeyMaterialId" not in out  # an RSA key has no key material id
    assert out["DestinationKeyMaterialId"]
    opened = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"hop": "1"})
    assert opened["Plaintext"] == plaintext

    # Symmetric -> RSA, decrypted locally.
    back = kms.re_encrypt(
        CiphertextBlob=out["CiphertextBlob"],
        SourceEncryptionContext={"hop": "1"},
        DestinationKeyId=rsa_id,
        DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )
    assert back["SourceEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert back["DestinationEncryptionAlgorithm"] == "RSAES_OAEP_SHA_256"
    assert back["SourceKeyMaterialId"] and "DestinationKeyMaterialId" not in back
    assert private.decrypt(back["CiphertextBlob"], oaep("RSAES_OAEP_SHA_256")) == plaintext

    # RSA -> RSA needs the source key named as well.
    expect_error(
        kms.re_encrypt,
        "InvalidCiphertextException",
        "",
        CiphertextBlob=back["CiphertextBlob"],
        DestinationKeyId=symmetric,
    )
    # An encryption context for the RSA destination is refused.
    expect_error(
        kms.re_encrypt,
        "ValidationException",
        "EncryptionContext",
        CiphertextBlob=out["CiphertextBlob"],
        SourceEncryptionContext={"hop": "1"},
        DestinationKeyId=rsa_id,
        DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256",
        DestinationEncryptionContext={"hop": "2"},
    )


def test_rsa_decrypt_on_a_disabled_key(kms: Any) -> None:
    key_id, private = imported_private_key(kms, "RSA_2048", "ENCRYPT_DECRYPT")
    assert isinstance(private, rsa.RSAPrivateKey)
    blob = private.public_key().encrypt(b"later", oaep("RSAES_OAEP_SHA_256"))
    kms.disable_key(KeyId=key_id)
    expect_error(
        kms.decrypt,
        "DisabledException",
        "disabled",
        KeyId=key_id,
        CiphertextBlob=blob,
        EncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )
    kms.enable_key(KeyId=key_id)
    out = kms.decrypt(KeyId=key_id, CiphertextBlob=blob, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert out["Plaintext"] == b"later"
