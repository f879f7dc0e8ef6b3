"""Key agreement and key encapsulation through boto3, with the independent ``cryptography``
package and the ``openssl`` command line on the other side.

ECDH follows the seed post "Announcing AWS KMS Elliptic Curve Diffie-Hellman (ECDH) support":
Alice holds a local key pair, Bob a KEY_AGREEMENT KMS key; they swap public keys (DER
SubjectPublicKeyInfo), each derives the same raw shared secret (DeriveSharedSecret with
KeyAgreementAlgorithm ECDH for Bob), and a key derived from it with a KDF (HKDF-SHA256 here)
decrypts on one side what the other encrypted. ML-KEM (FIPS 203; Encapsulate / Decapsulate API
Reference): a 32-byte shared secret; a ciphertext of the wrong length is
InvalidCiphertextException, one of the right length always decapsulates (implicit rejection).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tests.operations.test_asymmetric_import import (
    AUDIT_SECRETS,
    MLKEM_PUBLIC,
    expect_error,
    imported_private_key,
    public_key_of,
    shared_key,
    spki,
)

CURVES: dict[str, tuple[type[ec.EllipticCurve], int]] = {
    "ECC_NIST_P256": (ec.SECP256R1, 32),
    "ECC_NIST_P384": (ec.SECP384R1, 48),
    "ECC_NIST_P521": (ec.SECP521R1, 66),
}
CIPHERTEXT_BYTES = {"ML_KEM_768": 1088, "ML_KEM_1024": 1568}  # FIPS 203 Table 3


def hkdf_key(secret: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"alice-to-bob v1").derive(
        secret
    )


def derive(kms: Any, key_id: str, peer_der: bytes) -> dict[str, Any]:
    return dict(
        kms.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=peer_der)
    )


# --- ECDH ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", sorted(CURVES))
def test_ecdh_walkthrough(kms: Any, spec: str) -> None:
    curve, size = CURVES[spec]
    bob = shared_key(kms, spec, "KEY_AGREEMENT")  # Bob's key in Trent
    bob_public = public_key_of(kms, bob)  # GetPublicKey, as Alice receives it
    assert isinstance(bob_public, ec.EllipticCurvePublicKey)
    assert isinstance(bob_public.curve, curve)
    alice = ec.generate_private_key(curve())  # Alice's local key pair

    # Each side derives from the other's public key.
    alice_secret = alice.exchange(ec.ECDH(), bob_public)
    out = derive(kms, bob, spki(alice))
    bob_secret = out["SharedSecret"]
    AUDIT_SECRETS.append(bob_secret)
    assert bob_secret == alice_secret
    assert len(bob_secret) == size  # the x-coordinate, field-size bytes
    assert out["KeyAgreementAlgorithm"] == "ECDH"
    assert out["KeyOrigin"] == "AWS_KMS"
    assert out["KeyId"].endswith(f":key/{bob}")

    # Alice encrypts with a key derived from her copy; Bob decrypts with one derived from his.
    nonce = os.urandom(12)
    sealed = AESGCM(hkdf_key(alice_secret)).encrypt(nonce, b"Hello Bob, from Alice", b"hdr")
    assert AESGCM(hkdf_key(bob_secret)).decrypt(nonce, sealed, b"hdr") == b"Hello Bob, from Alice"

    # Another peer, another secret.
    other = ec.generate_private_key(curve())
    assert derive(kms, bob, spki(other))["SharedSecret"] != bob_secret


def test_ecdh_with_an_imported_key(kms: Any) -> None:
    key_id, private = imported_private_key(kms, "ECC_NIST_P384", "KEY_AGREEMENT")
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    peer = ec.generate_private_key(ec.SECP384R1())
    out = derive(kms, key_id, spki(peer))
    assert out["SharedSecret"] == private.exchange(ec.ECDH(), peer.public_key())
    assert out["KeyOrigin"] == "EXTERNAL"


@pytest.mark.parametrize(
    "peer",
    [
        lambda: spki(ec.generate_private_key(ec.SECP384R1())),
        lambda: spki(ec.generate_private_key(ec.SECP256K1())),
        lambda: spki(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        lambda: b"\x30\x03\x02\x01\x00",
    ],
    ids=["p384", "secp256k1", "rsa", "junk"],
)
def test_public_key_that_does_not_fit(kms: Any, peer: Any) -> None:
    key_id = shared_key(kms, "ECC_NIST_P256", "KEY_AGREEMENT")
    expect_error(
        kms.derive_shared_secret,
        "ValidationException",
        "",  # AWS sends no message [LS-snap]
        KeyId=key_id,
        KeyAgreementAlgorithm="ECDH",
        PublicKey=peer(),
    )


def test_derive_needs_a_key_agreement_key(kms: Any) -> None:
    peer = spki(ec.generate_private_key(ec.SECP256R1()))
    for spec, usage in (
        ("ECC_NIST_P256", "SIGN_VERIFY"),
        ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE"),
    ):
        expect_error(
            kms.derive_shared_secret,
            "InvalidKeyUsageException",
            f"key usage is {usage} which is not valid for DeriveSharedSecret",
            KeyId=shared_key(kms, spec, usage),
            KeyAgreementAlgorithm="ECDH",
            PublicKey=peer,
        )


def test_derive_on_a_disabled_key(kms: Any) -> None:
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"][
        "KeyId"
    ]
    kms.disable_key(KeyId=key_id)
    expect_error(
        kms.derive_shared_secret,
        "DisabledException",
        "disabled",
        KeyId=key_id,
        KeyAgreementAlgorithm="ECDH",
        PublicKey=spki(ec.generate_private_key(ec.SECP256R1())),
    )


def _openssl(*args: str, cwd: Path) -> bytes:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def test_ecdh_with_openssl_pkeyutl(kms: Any, tmp_path: Path) -> None:
    """The seed walkthrough with Alice on the openssl command line."""
    bob = shared_key(kms, "ECC_NIST_P256", "KEY_AGREEMENT")
    _openssl("ecparam", "-name", "P-256", "-genkey", "-out", "alice.pem", cwd=tmp_path)
    alice_der = _openssl("ec", "-in", "alice.pem", "-pubout", "-outform", "DER", cwd=tmp_path)
    (tmp_path / "kms.der").write_bytes(kms.get_public_key(KeyId=bob)["PublicKey"])
    _openssl(
        "ec", "-pubin", "-inform", "DER", "-outform", "PEM", "-in", "kms.der", "-out", "kms.pem",
        cwd=tmp_path,
    )  # fmt: skip
    openssl_secret = _openssl(
        "pkeyutl", "-derive", "-inkey", "alice.pem", "-peerkey", "kms.pem", cwd=tmp_path
    )
    kms_secret = derive(kms, bob, alice_der)["SharedSecret"]
    assert len(kms_secret) == 32
    assert kms_secret == openssl_secret


# --- ML-KEM --------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", sorted(CIPHERTEXT_BYTES))
def test_encapsulate_locally_decapsulate_in_trent(kms: Any, spec: str) -> None:
    key_id = shared_key(kms, spec, "ENCAPSULATE_DECAPSULATE")
    public = public_key_of(kms, key_id)
    assert isinstance(public, MLKEM_PUBLIC[spec])
    secret, ciphertext = public.encapsulate()
    assert len(ciphertext) == CIPHERTEXT_BYTES[spec]
    out = kms.decapsulate(
        KeyId=key_id, SharedSecretCiphertextBlob=ciphertext, EncapsulationAlgorithm="ML_KEM"
    )
    AUDIT_SECRETS.append(out["SharedSecret"])
    assert out["SharedSecret"] == secret
    assert len(secret) == 32
    assert out["EncapsulationAlgorithm"] == "ML_KEM"
    assert out["KeyId"].endswith(f":key/{key_id}")

    # Implicit rejection: an altered ciphertext of the right length gives an unrelated secret.
    altered = bytearray(ciphertext)
    altered[0] ^= 1
    other = kms.decapsulate(
        KeyId=key_id, SharedSecretCiphertextBlob=bytes(altered), EncapsulationAlgorithm="ML_KEM"
    )
    assert len(other["SharedSecret"]) == 32 and other["SharedSecret"] != secret

    for wrong in (ciphertext[:-1], ciphertext + b"\x00", os.urandom(1088 + 1568 - len(ciphertext))):
        expect_error(
            kms.decapsulate,
            "InvalidCiphertextException",
            "",
            KeyId=key_id,
            SharedSecretCiphertextBlob=wrong,
            EncapsulationAlgorithm="ML_KEM",
        )


@pytest.mark.parametrize("spec", sorted(CIPHERTEXT_BYTES))
def test_encapsulate_in_trent_decapsulate_with_the_imported_key(kms: Any, spec: str) -> None:
    key_id, private = imported_private_key(kms, spec, "ENCAPSULATE_DECAPSULATE")
    assert isinstance(private, mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey)
    assert kms.get_public_key(KeyId=key_id)["PublicKey"] == spki(private)
    out = kms.encapsulate(KeyId=key_id, EncapsulationAlgorithm="ML_KEM")
    AUDIT_SECRETS.append(out["SharedSecret"])
    assert out["EncapsulationAlgorithm"] == "ML_KEM"
    assert out["KeyId"].endswith(f":key/{key_id}")
    assert len(out["SharedSecret"]) == 32
    assert len(out["SharedSecretCiphertextBlob"]) == CIPHERTEXT_BYTES[spec]
    assert private.decapsulate(out["SharedSecretCiphertextBlob"]) == out["SharedSecret"]
    again = kms.decapsulate(
        KeyId=key_id,
        SharedSecretCiphertextBlob=out["SharedSecretCiphertextBlob"],
        EncapsulationAlgorithm="ML_KEM",
    )
    assert again["SharedSecret"] == out["SharedSecret"]
    second = kms.encapsulate(KeyId=key_id, EncapsulationAlgorithm="ML_KEM")
    assert second["SharedSecret"] != out["SharedSecret"]


def test_kem_operations_need_an_ml_kem_key(kms: Any) -> None:
    for spec, usage in (("ECC_NIST_P256", "KEY_AGREEMENT"), ("RSA_2048", "ENCRYPT_DECRYPT")):
        key_id = shared_key(kms, spec, usage)
        expect_error(
            kms.encapsulate,
            "InvalidKeyUsageException",
            f"key usage is {usage} which is not valid for Encapsulate",
            KeyId=key_id,
            EncapsulationAlgorithm="ML_KEM",
        )
        expect_error(
            kms.decapsulate,
            "InvalidKeyUsageException",
            f"key usage is {usage} which is not valid for Decapsulate",
            KeyId=key_id,
            SharedSecretCiphertextBlob=os.urandom(1088),
            EncapsulationAlgorithm="ML_KEM",
        )
