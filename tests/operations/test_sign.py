"""Asymmetric keys through boto3: the CreateKey KeySpec x KeyUsage matrix, GetPublicKey, Sign and
Verify for every signing algorithm and key spec (checked with the independent ``cryptography``
package, and for RSA-PSS and ECDSA P-256 with the ``openssl`` command line), ML-DSA (the JWT of
the seed post "How to create post-quantum signatures using AWS KMS and ML-DSA", EXTERNAL_MU),
rotation refused for asymmetric and HMAC keys, and the audit trail kept free of secrets.

AWS sources: CreateKey KeySpec / KeyUsage and Sign MessageType (API Reference, botocore model);
"Asymmetric key specs" (RSASSA-PSS uses MGF1 with the same hash and a salt as long as the digest;
ECDSA signatures are DER); the aws CLI describe-key / create-key examples for the algorithm lists.
Known limits (README): ML_KEM_512 answers UnsupportedOperationException (pyca/cryptography 50
has no ML-KEM-512); SM2 is China Regions only. Ed25519ph comes from libsodium (PyNaCl).
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from tests.operations.test_asymmetric_import import (
    AUDIT_SECRETS,
    CURVES,
    MLDSA_PUBLIC,
    MLKEM_PUBLIC,
    OAEP_256,
    RSA_BITS,
    describe,
    expect_error,
    imported_key,
    imported_private_key,
    local_private,
    pkcs8,
    public_key_of,
    shared_key,
)
from tests.server import TrentServer
from trent.crypto import keyspecs

RSA_SIGNING = [
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
]
# What DescribeKey and GetPublicKey list for each valid KeySpec and KeyUsage, as AWS documents
# it (aws CLI describe-key example 2 for the RSA signing order, create-key examples, the ML-DSA
# and ECDH seed posts, the Developer Guide key spec reference).
EXPECTED: dict[tuple[str, str], tuple[str, list[str]]] = {
    **{
        (spec, "ENCRYPT_DECRYPT"): (
            "EncryptionAlgorithms",
            ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"],
        )
        for spec in RSA_BITS
    },
    **{(spec, "SIGN_VERIFY"): ("SigningAlgorithms", RSA_SIGNING) for spec in RSA_BITS},
    ("ECC_NIST_P256", "SIGN_VERIFY"): ("SigningAlgorithms", ["ECDSA_SHA_256"]),
    ("ECC_NIST_P384", "SIGN_VERIFY"): ("SigningAlgorithms", ["ECDSA_SHA_384"]),
    ("ECC_NIST_P521", "SIGN_VERIFY"): ("SigningAlgorithms", ["ECDSA_SHA_512"]),
    ("ECC_SECG_P256K1", "SIGN_VERIFY"): ("SigningAlgorithms", ["ECDSA_SHA_256"]),
    **{
        (spec, "KEY_AGREEMENT"): ("KeyAgreementAlgorithms", ["ECDH"])
        for spec in ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521")
    },
    ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"): (
        "SigningAlgorithms",
        ["ED25519_SHA_512", "ED25519_PH_SHA_512"],
    ),
    **{
        (spec, "SIGN_VERIFY"): ("SigningAlgorithms", ["ML_DSA_SHAKE_256"])
        for spec in ("ML_DSA_44", "ML_DSA_65", "ML_DSA_87")
    },
    **{
        (spec, "ENCAPSULATE_DECAPSULATE"): ("EncapsulationAlgorithms", ["ML_KEM"])
        for spec in ("ML_KEM_768", "ML_KEM_1024")
    },
    **{
        (f"HMAC_{n}", "GENERATE_VERIFY_MAC"): ("MacAlgorithms", [f"HMAC_SHA_{n}"])
        for n in (224, 256, 384, 512)
    },
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"): ("EncryptionAlgorithms", ["SYMMETRIC_DEFAULT"]),
}
ALGORITHM_FIELDS = (
    "EncryptionAlgorithms",
    "SigningAlgorithms",
    "MacAlgorithms",
    "KeyAgreementAlgorithms",
    "EncapsulationAlgorithms",
)
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}


def _hash_of(algorithm: str) -> hashes.HashAlgorithm:
    return HASHES[algorithm[-3:]]()


def _digest(algorithm: str, message: bytes) -> bytes:
    h = hashes.Hash(_hash_of(algorithm))
    h.update(message)
    return h.finalize()


def verify_locally(
    public: PublicKeyTypes, algorithm: str, signature: bytes, message: bytes
) -> None:
    """Verify a signature over ``message`` with ``cryptography`` as AWS defines the algorithm;
    raises InvalidSignature if it does not verify."""
    if algorithm.startswith("RSASSA_PSS"):
        assert isinstance(public, rsa.RSAPublicKey)
        digest = _hash_of(algorithm)
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        public.verify(signature, message, pss, digest)
    elif algorithm.startswith("RSASSA_PKCS1"):
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(signature, message, padding.PKCS1v15(), _hash_of(algorithm))
    elif algorithm.startswith("ECDSA"):
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signature, message, ec.ECDSA(_hash_of(algorithm)))
    elif algorithm == "ED25519_SHA_512":
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(signature, message)
    else:
        assert algorithm == "ML_DSA_SHAKE_256"
        assert isinstance(
            public, mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey
        )
        public.verify(signature, message)


def sign_locally(private: Any, algorithm: str, message: bytes) -> bytes:
    if algorithm.startswith("RSASSA_PSS"):
        digest = _hash_of(algorithm)
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        return bytes(private.sign(message, pss, digest))
    if algorithm.startswith("RSASSA_PKCS1"):
        return bytes(private.sign(message, padding.PKCS1v15(), _hash_of(algorithm)))
    if algorithm.startswith("ECDSA"):
        return bytes(private.sign(message, ec.ECDSA(_hash_of(algorithm))))
    return bytes(private.sign(message))  # Ed25519, ML-DSA


def external_mu(public_raw: bytes, message: bytes) -> bytes:
    """FIPS 204 section 6.2 with an empty context: mu = SHAKE256(SHAKE256(pk, 64) || 0x00 ||
    0x00 || M, 64)."""
    tr = hashlib.shake_256(public_raw).digest(64)
    return hashlib.shake_256(tr + b"\x00\x00" + message).digest(64)


# --- CreateKey KeySpec x KeyUsage ----------------------------------------------------------------
def test_expected_table_covers_keyspecs() -> None:
    """Every combination keyspecs allows is in the AWS table above, with the same algorithms,
    and nothing else (ML_KEM_512 is allowed by AWS but refused by Trent: see below)."""
    allowed = {
        (spec, usage)
        for spec, info in keyspecs.SPECS.items()
        for usage in info.algorithms
        if spec not in keyspecs.UNSUPPORTED_SPECS
    }
    assert allowed == set(EXPECTED)
    for (spec, usage), (field, algorithms) in EXPECTED.items():
        assert keyspecs.algorithm_fields(spec, usage) == {field: algorithms}


@pytest.mark.parametrize(("spec", "usage"), sorted(EXPECTED))
def test_every_valid_combination_creates(kms: Any, spec: str, usage: str) -> None:
    field, algorithms = EXPECTED[(spec, usage)]
    key_id = shared_key(kms, spec, usage)
    meta = describe(kms, key_id)
    assert (meta["KeySpec"], meta["KeyUsage"]) == (spec, usage)
    assert (meta["KeyState"], meta["Enabled"], meta["Origin"]) == ("Enabled", True, "AWS_KMS")
    assert meta[field] == algorithms
    assert [f for f in ALGORITHM_FIELDS if f in meta] == [field]
    if spec == "SYMMETRIC_DEFAULT":
        assert "CurrentKeyMaterialId" in meta
    else:  # AWS reports key material ids for symmetric keys only
        assert "CurrentKeyMaterialId" not in meta

    if spec == "SYMMETRIC_DEFAULT" or spec.startswith("HMAC"):
        expect_error(kms.get_public_key, "UnsupportedOperationException", spec, KeyId=key_id)
        return
    out = kms.get_public_key(KeyId=key_id)
    assert out["KeyId"] == meta["Arn"]
    assert (out["KeySpec"], out["KeyUsage"], out[field]) == (spec, usage, algorithms)
    assert [f for f in ALGORITHM_FIELDS if f in out] == [field]
    public = serialization.load_der_public_key(out["PublicKey"])
    assert (
        public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == out["PublicKey"]
    )
    if spec in RSA_BITS:
        assert isinstance(public, rsa.RSAPublicKey)
        assert public.key_size == RSA_BITS[spec]
        assert public.public_numbers().e == 65537
    elif spec in CURVES:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert isinstance(public.curve, CURVES[spec])
    elif spec == "ECC_NIST_EDWARDS25519":
        assert isinstance(public, ed25519.Ed25519PublicKey)
    elif spec in MLDSA_PUBLIC:
        assert isinstance(public, MLDSA_PUBLIC[spec])
    else:
        assert isinstance(public, MLKEM_PUBLIC[spec])


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("RSA_2048", "GENERATE_VERIFY_MAC"),
        ("RSA_2048", "KEY_AGREEMENT"),
        ("ECC_SECG_P256K1", "KEY_AGREEMENT"),
        ("ECC_NIST_P256", "ENCRYPT_DECRYPT"),
        ("ECC_NIST_EDWARDS25519", "KEY_AGREEMENT"),
        ("HMAC_256", "SIGN_VERIFY"),
        ("HMAC_512", "ENCRYPT_DECRYPT"),
        ("ML_DSA_65", "ENCRYPT_DECRYPT"),
        ("ML_KEM_768", "SIGN_VERIFY"),
        ("SYMMETRIC_DEFAULT", "SIGN_VERIFY"),
        ("RSA_4096", "ENCAPSULATE_DECAPSULATE"),
    ],
)
def test_invalid_combination_is_refused(kms: Any, spec: str, usage: str) -> None:
    before = _key_count(kms)
    expect_error(kms.create_key, "ValidationException", usage, KeySpec=spec, KeyUsage=usage)
    assert _key_count(kms) == before  # no key was made


def _key_count(kms: Any) -> int:
    pages = kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 1000})
    return sum(len(page["Keys"]) for page in pages)


@pytest.mark.parametrize(
    "spec", ["RSA_2048", "ECC_NIST_P256", "ECC_NIST_EDWARDS25519", "ML_DSA_44", "HMAC_256"]
)
def test_key_usage_is_required_for_non_symmetric_specs(kms: Any, spec: str) -> None:
    expect_error(
        kms.create_key,
        "ValidationException",
        "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys",
        KeySpec=spec,
    )


def test_known_limits_at_create_key(kms: Any) -> None:
    """ML_KEM_512: no primitive in pyca/cryptography 50; SM2: China Regions only."""
    expect_error(
        kms.create_key,
        "UnsupportedOperationException",
        "ML_KEM_512",
        KeySpec="ML_KEM_512",
        KeyUsage="ENCAPSULATE_DECAPSULATE",
    )
    expect_error(
        kms.create_key,
        "UnsupportedOperationException",
        "China Regions",
        KeySpec="SM2",
        KeyUsage="SIGN_VERIFY",
    )


# --- Sign with every algorithm and key spec ------------------------------------------------------
SIGN_CASES = (
    [(spec, algorithm) for spec in RSA_BITS for algorithm in RSA_SIGNING]
    + [
        ("ECC_NIST_P256", "ECDSA_SHA_256"),
        ("ECC_NIST_P384", "ECDSA_SHA_384"),
        ("ECC_NIST_P521", "ECDSA_SHA_512"),
        ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
        ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512"),
    ]
    + [(spec, "ML_DSA_SHAKE_256") for spec in ("ML_DSA_44", "ML_DSA_65", "ML_DSA_87")]
)


@pytest.mark.parametrize(("spec", "algorithm"), SIGN_CASES)
def test_sign_and_verify_with_cryptography(kms: Any, spec: str, algorithm: str) -> None:
    key_id = shared_key(kms, spec, "SIGN_VERIFY")
    public = public_key_of(kms, key_id)
    message = b"Trent signs this: " + os.urandom(16)

    out = kms.sign(KeyId=key_id, Message=message, MessageType="RAW", SigningAlgorithm=algorithm)
    assert out["SigningAlgorithm"] == algorithm
    assert out["KeyId"].endswith(f":key/{key_id}")
    verify_locally(public, algorithm, out["Signature"], message)
    with pytest.raises(InvalidSignature):
        verify_locally(public, algorithm, out["Signature"], message + b"!")

    if algorithm.startswith(("RSASSA", "ECDSA")):
        # DIGEST: the caller hashes; the signature is one over the message itself, and Trent's
        # Verify takes it with the message (RAW).
        digest = _digest(algorithm, message)
        signed = kms.sign(
            KeyId=key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm
        )
        verify_locally(public, algorithm, signed["Signature"], message)
        verified = kms.verify(
            KeyId=key_id,
            Message=message,
            MessageType="RAW",
            Signature=signed["Signature"],
            SigningAlgorithm=algorithm,
        )
        assert (verified["SignatureValid"], verified["SigningAlgorithm"]) == (True, algorithm)
        if spec != "RSA_4096":  # (each RSA_4096 request costs ~0.3 s on the test server)
            assert kms.verify(
                KeyId=key_id,
                Message=digest,
                MessageType="DIGEST",
                Signature=out["Signature"],
                SigningAlgorithm=algorithm,
            )["SignatureValid"]
    else:
        assert kms.verify(
            KeyId=key_id,
            Message=message,
            MessageType="RAW",
            Signature=out["Signature"],
            SigningAlgorithm=algorithm,
        )["SignatureValid"]
        # Ed25519 takes RAW only, ML-DSA RAW or EXTERNAL_MU (Sign MessageType documentation).
        expect_error(
            kms.sign,
            "ValidationException",
            "Message type DIGEST is incompatible with",
            KeyId=key_id,
            Message=hashlib.sha512(message).digest(),
            MessageType="DIGEST",
            SigningAlgorithm=algorithm,
        )


def _openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize(
    ("spec", "algorithm", "sigopts"),
    [
        (
            "RSA_2048",
            "RSASSA_PSS_SHA_256",
            ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"],
        ),
        ("ECC_NIST_P256", "ECDSA_SHA_256", []),
    ],
)
def test_openssl_verifies(
    kms: Any, tmp_path: Path, spec: str, algorithm: str, sigopts: list[str]
) -> None:
    key_id = shared_key(kms, spec, "SIGN_VERIFY")
    message = b"verified by the openssl command line\n" + os.urandom(8)
    (tmp_path / "msg").write_bytes(message)
    (tmp_path / "bad").write_bytes(message + b"x")
    (tmp_path / "pub.der").write_bytes(kms.get_public_key(KeyId=key_id)["PublicKey"])
    signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm=algorithm)["Signature"]
    (tmp_path / "sig").write_bytes(signature)
    done = _openssl(
        "pkey", "-pubin", "-inform", "DER", "-in", "pub.der", "-out", "pub.pem", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    dgst = ["dgst", "-sha256", "-verify", "pub.pem", *sigopts, "-signature", "sig"]
    done = _openssl(*dgst, "msg", cwd=tmp_path)
    assert done.returncode == 0 and "Verified OK" in done.stdout, (done.stdout, done.stderr)
    done = _openssl(*dgst, "bad", cwd=tmp_path)
    assert done.returncode != 0 and "verification failure" in done.stdout.lower(), done.stdout


# --- Verify what cryptography signed with an imported key ---------------------------------------
@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        ("RSA_2048", "RSASSA_PSS_SHA_256"),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_384"),
        ("ECC_NIST_P256", "ECDSA_SHA_256"),
        ("ECC_NIST_P521", "ECDSA_SHA_512"),
        ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
        ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512"),
        ("ML_DSA_65", "ML_DSA_SHAKE_256"),
    ],
)
def test_verify_accepts_what_cryptography_signed_with_an_imported_key(
    kms: Any, spec: str, algorithm: str
) -> None:
    key_id, private = imported_private_key(kms, spec, "SIGN_VERIFY")
    message = b"signed outside Trent " + os.urandom(8)
    signature = sign_locally(private, algorithm, message)
    out = kms.verify(KeyId=key_id, Message=message, Signature=signature, SigningAlgorithm=algorithm)
    assert out["SignatureValid"] is True

    # Trent's own signature with the imported key verifies under the local public key.
    mine = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm=algorithm)["Signature"]
    verify_locally(private.public_key(), algorithm, mine, message)

    other = sign_locally(local_private(spec), algorithm, message)  # another key
    for wrong_message, wrong_signature in ((message, other), (message + b"?", signature)):
        expect_error(
            kms.verify,
            "KMSInvalidSignatureException",
            "",
            KeyId=key_id,
            Message=wrong_message,
            Signature=wrong_signature,
            SigningAlgorithm=algorithm,
        )


# --- refusals ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "algorithm", "message_type", "length"),
    [
        ("RSA_2048", "RSASSA_PSS_SHA_256", "DIGEST", 31),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512", "DIGEST", 32),
        ("ECC_NIST_P256", "ECDSA_SHA_256", "DIGEST", 33),
        ("ECC_NIST_P384", "ECDSA_SHA_384", "DIGEST", 32),
        ("ML_DSA_44", "ML_DSA_SHAKE_256", "EXTERNAL_MU", 63),
    ],
)
def test_digest_of_the_wrong_length(
    kms: Any, spec: str, algorithm: str, message_type: str, length: int
) -> None:
    key_id = shared_key(kms, spec, "SIGN_VERIFY")
    common = {
        "KeyId": key_id,
        "Message": os.urandom(length),
        "MessageType": message_type,
        "SigningAlgorithm": algorithm,
    }
    message = f"Digest is invalid length for algorithm {algorithm}."  # [LS-snap]
    assert expect_error(kms.sign, "ValidationException", message, **common) == message
    got = expect_error(kms.verify, "ValidationException", message, Signature=b"s" * 64, **common)
    assert got == message


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        ("ECC_NIST_P256", "ECDSA_SHA_384"),
        ("ECC_NIST_P384", "ECDSA_SHA_256"),
        ("RSA_2048", "ECDSA_SHA_256"),
        ("ECC_NIST_P256", "RSASSA_PSS_SHA_256"),
        ("ML_DSA_65", "ED25519_SHA_512"),
        ("ECC_NIST_EDWARDS25519", "ML_DSA_SHAKE_256"),
    ],
)
def test_wrong_algorithm_for_the_key_spec(kms: Any, spec: str, algorithm: str) -> None:
    key_id = shared_key(kms, spec, "SIGN_VERIFY")
    expect_error(
        kms.sign,
        "InvalidKeyUsageException",
        algorithm,
        KeyId=key_id,
        Message=b"message",
        SigningAlgorithm=algorithm,
    )
    expect_error(
        kms.verify,
        "InvalidKeyUsageException",
        algorithm,
        KeyId=key_id,
        Message=b"message",
        Signature=b"s" * 64,
        SigningAlgorithm=algorithm,
    )


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
        ("RSA_2048", "ENCRYPT_DECRYPT"),
        ("ECC_NIST_P256", "KEY_AGREEMENT"),
        ("HMAC_256", "GENERATE_VERIFY_MAC"),
        ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE"),
    ],
)
def test_sign_with_a_key_of_another_usage(kms: Any, spec: str, usage: str) -> None:
    key_id = shared_key(kms, spec, usage)
    algorithm = "RSASSA_PSS_SHA_256" if spec.startswith("RSA") else "ECDSA_SHA_256"
    fragment = f"key usage is {usage} which is not valid for Sign"
    expect_error(
        kms.sign,
        "InvalidKeyUsageException",
        fragment,
        KeyId=key_id,
        Message=b"message",
        SigningAlgorithm=algorithm,
    )


def test_sign_on_a_disabled_key(kms: Any) -> None:
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signature = kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    kms.disable_key(KeyId=key_id)
    common = {"KeyId": key_id, "Message": b"m", "SigningAlgorithm": "ECDSA_SHA_256"}
    expect_error(kms.sign, "DisabledException", "disabled", **common)
    expect_error(kms.verify, "DisabledException", "disabled", Signature=signature, **common)
    kms.enable_key(KeyId=key_id)
    assert kms.verify(Signature=signature, **common)["SignatureValid"]


def test_ed25519ph_sign_verify(kms: Any) -> None:
    """ED25519_PH_SHA_512 takes DIGEST only (Sign MessageType documentation); Trent signs with
    Ed25519ph over the 64-byte value, verified here by libsodium (PyNaCl) directly."""
    import nacl.bindings as sodium

    key_id = shared_key(kms, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    common = {"KeyId": key_id, "SigningAlgorithm": "ED25519_PH_SHA_512"}
    digest = hashlib.sha512(b"message").digest()
    signature = kms.sign(Message=digest, MessageType="DIGEST", **common)["Signature"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    assert isinstance(public, ed25519.Ed25519PublicKey)
    state = sodium.crypto_sign_ed25519ph_state()
    sodium.crypto_sign_ed25519ph_update(state, digest)
    assert sodium.crypto_sign_ed25519ph_final_verify(state, signature, public.public_bytes_raw())
    assert kms.verify(Message=digest, MessageType="DIGEST", Signature=signature, **common)[
        "SignatureValid"
    ]
    expect_error(
        kms.verify,
        "KMSInvalidSignatureException",
        "",
        Message=hashlib.sha512(b"other").digest(),
        MessageType="DIGEST",
        Signature=signature,
        **common,
    )
    expect_error(
        kms.sign,
        "ValidationException",
        "Message type RAW",
        Message=b"message",
        MessageType="RAW",
        **common,
    )


# --- ML-DSA --------------------------------------------------------------------------------------
JWT_HEADER = b'{"typ":"JWT",\r\n "alg":"ML-DSA-65"}'
JWT_CLAIMS = b'{"iss":"joe",\r\n "exp":1748952000,\r\n "http://example.com/is_root":true}'
# The signing input as printed in the seed post.
JWT_SIGNING_INPUT = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJNTC1EU0EtNjUifQ."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjE3NDg5NTIwMDAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_mldsa_key_metadata_as_in_the_seed_post(kms: Any) -> None:
    """The post's ``aws kms create-key --key-spec ML_DSA_65 --key-usage SIGN_VERIFY`` output
    (real AWS) lists these members, the deprecated CustomerMasterKeySpec included."""
    created = kms.create_key(KeySpec="ML_DSA_65", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    for meta in (created, describe(kms, created["KeyId"])):
        assert meta["Origin"] == "AWS_KMS"
        assert meta["MultiRegion"] is False
        assert meta["Description"] == ""
        assert meta["KeyManager"] == "CUSTOMER"
        assert meta["Enabled"] is True
        assert meta["SigningAlgorithms"] == ["ML_DSA_SHAKE_256"]
        assert meta["KeyUsage"] == "SIGN_VERIFY"
        assert meta["KeySpec"] == "ML_DSA_65"
        assert meta["KeyState"] == "Enabled"
        assert meta["CustomerMasterKeySpec"] == "ML_DSA_65"


def test_mldsa_jwt_of_the_seed_post(kms: Any) -> None:
    signing_input = f"{b64url(JWT_HEADER)}.{b64url(JWT_CLAIMS)}"
    assert signing_input == JWT_SIGNING_INPUT
    key_id = shared_key(kms, "ML_DSA_65", "SIGN_VERIFY")
    out = kms.sign(
        KeyId=key_id,
        Message=signing_input.encode(),
        MessageType="RAW",
        SigningAlgorithm="ML_DSA_SHAKE_256",
    )
    assert len(out["Signature"]) == 3309  # ML-DSA-65 signature size (the post's Table 1)
    jwt = f"{signing_input}.{b64url(out['Signature'])}"

    # The receiver: split the token, verify with the public key from GetPublicKey.
    public_der = kms.get_public_key(KeyId=key_id)["PublicKey"]
    public = serialization.load_der_public_key(public_der)
    assert isinstance(public, mldsa.MLDSA65PublicKey)
    assert len(public.public_bytes_raw()) == 1952
    header, claims, signature = jwt.split(".")
    assert b64url_decode(header) == JWT_HEADER
    assert b"ML-DSA-65" in b64url_decode(header) and b'"iss":"joe"' in b64url_decode(claims)
    public.verify(b64url_decode(signature), f"{header}.{claims}".encode())
    with pytest.raises(InvalidSignature):
        public.verify(b64url_decode(signature), f"{header}.{b64url(b'{}')}".encode())
    # Trent's Verify agrees (the post's "aws kms verify").
    assert kms.verify(
        KeyId=key_id,
        Message=signing_input.encode(),
        MessageType="RAW",
        Signature=b64url_decode(signature),
        SigningAlgorithm="ML_DSA_SHAKE_256",
    )["SignatureValid"]


@pytest.mark.parametrize("spec", ["ML_DSA_44", "ML_DSA_65", "ML_DSA_87"])
def test_mldsa_external_mu(kms: Any, spec: str) -> None:
    key_id = shared_key(kms, spec, "SIGN_VERIFY")
    public = public_key_of(kms, key_id)
    assert isinstance(public, MLDSA_PUBLIC[spec])
    message = b"a message larger than RAW allows: " + os.urandom(5000)
    mu = external_mu(public.public_bytes_raw(), message)
    hasher = mldsa.MLDSAMuHasher(public)  # cryptography's own mu agrees
    hasher.update(message)
    assert hasher.finalize() == mu

    signed = kms.sign(
        KeyId=key_id, Message=mu, MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256"
    )
    public.verify(signed["Signature"], message)  # a signature over M itself
    assert kms.verify(
        KeyId=key_id,
        Message=mu,
        MessageType="EXTERNAL_MU",
        Signature=signed["Signature"],
        SigningAlgorithm="ML_DSA_SHAKE_256",
    )["SignatureValid"]
    other_mu = external_mu(public.public_bytes_raw(), message + b".")
    expect_error(
        kms.verify,
        "KMSInvalidSignatureException",
        "",
        KeyId=key_id,
        Message=other_mu,
        MessageType="EXTERNAL_MU",
        Signature=signed["Signature"],
        SigningAlgorithm="ML_DSA_SHAKE_256",
    )


def test_mldsa_raw_and_external_mu_signatures_cross_verify(kms: Any) -> None:
    key_id = shared_key(kms, "ML_DSA_65", "SIGN_VERIFY")
    public = public_key_of(kms, key_id)
    assert isinstance(public, mldsa.MLDSA65PublicKey)
    message = JWT_SIGNING_INPUT.encode()
    mu = external_mu(public.public_bytes_raw(), message)
    alg = "ML_DSA_SHAKE_256"
    raw = kms.sign(KeyId=key_id, Message=message, MessageType="RAW", SigningAlgorithm=alg)
    ext = kms.sign(KeyId=key_id, Message=mu, MessageType="EXTERNAL_MU", SigningAlgorithm=alg)
    for signature in (raw["Signature"], ext["Signature"]):
        public.verify(signature, message)
        for message_type, value in (("RAW", message), ("EXTERNAL_MU", mu)):
            assert kms.verify(
                KeyId=key_id,
                Message=value,
                MessageType=message_type,
                Signature=signature,
                SigningAlgorithm=alg,
            )["SignatureValid"]


def test_mldsa_raw_message_limit(kms: Any) -> None:
    """RAW ML-DSA messages are limited to 4096 bytes (seed post); longer ones need EXTERNAL_MU."""
    key_id = shared_key(kms, "ML_DSA_44", "SIGN_VERIFY")
    public = public_key_of(kms, key_id)
    message = os.urandom(4096)
    signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm="ML_DSA_SHAKE_256")
    verify_locally(public, "ML_DSA_SHAKE_256", signature["Signature"], message)
    expect_error(
        kms.sign,
        "ValidationException",
        "4096",
        KeyId=key_id,
        Message=message + b"!",
        SigningAlgorithm="ML_DSA_SHAKE_256",
    )


# --- rotation is for symmetric keys only ---------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("RSA_2048", "SIGN_VERIFY"),
        ("ECC_NIST_P256", "KEY_AGREEMENT"),
        ("ML_DSA_44", "SIGN_VERIFY"),
        ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE"),
        ("HMAC_256", "GENERATE_VERIFY_MAC"),
    ],
)
def test_rotation_refused_for_asymmetric_and_hmac_keys(kms: Any, spec: str, usage: str) -> None:
    """ "You cannot perform on-demand rotation of asymmetric KMS keys, HMAC KMS keys" and
    automatic rotation is for symmetric encryption keys only (API Reference)."""
    key_id = shared_key(kms, spec, usage)
    # AWS sends UnsupportedOperationException with no message [LS-snap; issue 9]
    for rotate in (kms.enable_key_rotation, kms.rotate_key_on_demand):
        assert expect_error(rotate, "UnsupportedOperationException", "", KeyId=key_id) == ""


def test_rotation_refused_for_an_imported_hmac_key(kms: Any) -> None:
    key_id = imported_key(kms, "HMAC_384", "GENERATE_VERIFY_MAC", os.urandom(48), OAEP_256)
    expect_error(
        kms.enable_key_rotation, "UnsupportedOperationException", "origin is EXTERNAL", KeyId=key_id
    )
    got = expect_error(kms.rotate_key_on_demand, "UnsupportedOperationException", "", KeyId=key_id)
    assert got == ""


# --- the audit trail holds no secret -------------------------------------------------------------
def _encodings(secret: bytes) -> list[bytes]:
    return [
        secret,
        base64.b64encode(secret),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
        secret.hex().encode(),
        secret.hex().upper().encode(),
    ]


def test_audit_trail_holds_no_secret(server: TrentServer, kms: Any) -> None:
    """A workload of every secret-bearing operation, then a scan of the audit files (and, for
    the imported private keys, of the database: they are stored sealed only)."""
    secrets: list[bytes] = []
    # An imported signing key (its PKCS#8 DER and its private scalar).
    sign_id, signer = imported_private_key(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    secrets += [pkcs8(signer), signer.private_numbers().private_value.to_bytes(32, "big")]
    signature = kms.sign(KeyId=sign_id, Message=b"audit", SigningAlgorithm="ECDSA_SHA_256")
    kms.verify(
        KeyId=sign_id,
        Message=b"audit",
        Signature=signature["Signature"],
        SigningAlgorithm="ECDSA_SHA_256",
    )
    # An imported RSA key.
    rsa_id, rsa_private = imported_private_key(kms, "RSA_2048", "SIGN_VERIFY")
    secrets.append(pkcs8(rsa_private))
    kms.sign(KeyId=rsa_id, Message=b"audit", SigningAlgorithm="RSASSA_PSS_SHA_256")
    # An imported HMAC key.
    mac_key = os.urandom(32)
    secrets.append(mac_key)
    mac_id = imported_key(kms, "HMAC_256", "GENERATE_VERIFY_MAC", mac_key, OAEP_256)
    mac = kms.generate_mac(KeyId=mac_id, Message=b"audit", MacAlgorithm="HMAC_SHA_256")["Mac"]
    kms.verify_mac(KeyId=mac_id, Message=b"audit", MacAlgorithm="HMAC_SHA_256", Mac=mac)
    # ECDH shared secret.
    peer = ec.generate_private_key(ec.SECP256R1())
    peer_der = peer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    agreement_id = shared_key(kms, "ECC_NIST_P256", "KEY_AGREEMENT")
    secrets.append(
        kms.derive_shared_secret(
            KeyId=agreement_id, KeyAgreementAlgorithm="ECDH", PublicKey=peer_der
        )["SharedSecret"]
    )
    # ML-KEM shared secrets, with an imported ML-KEM private key.
    kem_id, kem_private = imported_private_key(kms, "ML_KEM_768", "ENCAPSULATE_DECAPSULATE")
    assert isinstance(kem_private, mlkem.MLKEM768PrivateKey)
    secrets += [pkcs8(kem_private), kem_private.private_bytes_raw()]
    encapsulated = kms.encapsulate(KeyId=kem_id, EncapsulationAlgorithm="ML_KEM")
    secrets.append(encapsulated["SharedSecret"])
    local_secret, ciphertext = kem_private.public_key().encapsulate()
    secrets.append(local_secret)
    kms.decapsulate(
        KeyId=kem_id, SharedSecretCiphertextBlob=ciphertext, EncapsulationAlgorithm="ML_KEM"
    )
    # A data key pair's private key.
    symmetric = shared_key(kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    pair = kms.generate_data_key_pair(KeyId=symmetric, KeyPairSpec="ECC_NIST_P384")
    secrets.append(pair["PrivateKeyPlaintext"])
    # RSA decryption of a secret.
    rsa_enc = shared_key(kms, "RSA_2048", "ENCRYPT_DECRYPT")
    message = os.urandom(32)
    secrets.append(message)
    public = public_key_of(kms, rsa_enc)
    assert isinstance(public, rsa.RSAPublicKey)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    kms.decrypt(
        KeyId=rsa_enc, CiphertextBlob=public.encrypt(message, oaep), EncryptionAlgorithm=OAEP_256
    )

    # The workload was recorded...
    records = server.audit_records()
    names = {r["eventName"] for r in records}
    for name in (
        "Sign",
        "Verify",
        "GenerateMac",
        "VerifyMac",
        "DeriveSharedSecret",
        "Encapsulate",
        "Decapsulate",
        "GenerateDataKeyPair",
        "ImportKeyMaterial",
        "Decrypt",
    ):
        assert name in names, name
    arn = describe(kms, kem_id)["Arn"]
    assert any(
        r["eventName"] == "Decapsulate" and arn in [x["ARN"] for x in r["resources"]]
        for r in records
    )

    # ...and no secret of it, nor of the other asymmetric tests, is in any audit file.
    audit_files = sorted((server.data_dir / "audit").rglob("*"))
    audit = b"".join(p.read_bytes() for p in audit_files if p.is_file())
    assert arn.encode() in audit  # the scan reads the records themselves
    for secret in secrets + AUDIT_SECRETS:
        assert len(secret) >= 16
        for encoded in _encodings(secret):
            assert encoded not in audit, secret.hex()

    # Imported private keys are stored sealed only.
    database = b"".join(p.read_bytes() for p in server.data_dir.glob("trent.db*") if p.is_file())
    assert database
    for secret in [pkcs8(signer), pkcs8(rsa_private), mac_key, pkcs8(kem_private)]:
        assert secret not in database
