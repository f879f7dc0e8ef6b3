"""Importing asymmetric and HMAC key material (Origin EXTERNAL), through boto3, with keys made by
the independent ``cryptography`` package; and the helpers the other asymmetric test files use.

AWS (GetParametersForImport WrappingAlgorithm, API Reference): RSA private keys must be wrapped
with an RSA_AES_KEY_WRAP algorithm (an ephemeral AES-256 key RSA-OAEP encrypted, followed by the
material wrapped under it with AES key wrap with padding, RFC 5649); RSAES_OAEP_SHA_* wraps any
other material directly, except an ECC_NIST_P521 key under an RSA_2048 wrapping key. Imported
asymmetric private keys are DER PKCS#8; HMAC key material is the raw key bytes. "For asymmetric
and HMAC keys, you cannot change the key material after the initial import" (ImportKeyMaterial).
Trent does not report CurrentKeyMaterialId for asymmetric and HMAC keys (AWS reports key
material ids for symmetric keys only).
"""

from __future__ import annotations

import hmac as stdlib_hmac
import os
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

WRAP_AES_256 = "RSA_AES_KEY_WRAP_SHA_256"
WRAP_AES_1 = "RSA_AES_KEY_WRAP_SHA_1"
OAEP_256 = "RSAES_OAEP_SHA_256"
OAEP_1 = "RSAES_OAEP_SHA_1"
_WRAP_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    OAEP_1: hashes.SHA1,
    OAEP_256: hashes.SHA256,
    WRAP_AES_1: hashes.SHA1,
    WRAP_AES_256: hashes.SHA256,
}
DER = serialization.Encoding.DER
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}
MLDSA_PRIVATE: dict[str, Any] = {
    "ML_DSA_44": mldsa.MLDSA44PrivateKey,
    "ML_DSA_65": mldsa.MLDSA65PrivateKey,
    "ML_DSA_87": mldsa.MLDSA87PrivateKey,
}
MLDSA_PUBLIC: dict[str, Any] = {
    "ML_DSA_44": mldsa.MLDSA44PublicKey,
    "ML_DSA_65": mldsa.MLDSA65PublicKey,
    "ML_DSA_87": mldsa.MLDSA87PublicKey,
}
MLKEM_PRIVATE: dict[str, Any] = {
    "ML_KEM_768": mlkem.MLKEM768PrivateKey,
    "ML_KEM_1024": mlkem.MLKEM1024PrivateKey,
}
MLKEM_PUBLIC: dict[str, Any] = {
    "ML_KEM_768": mlkem.MLKEM768PublicKey,
    "ML_KEM_1024": mlkem.MLKEM1024PublicKey,
}

# Every secret these tests handed to or got from Trent (imported private keys, MAC keys, shared
# secrets, data key pair private keys); test_sign's audit test scans the trail for each.
AUDIT_SECRETS: list[bytes] = []


# --- helpers shared by the asymmetric test files -----------------------------------------------
def expect_error(call: Callable[..., Any], code: str, fragment: str, **kwargs: Any) -> str:
    """The call fails with ``code``, HTTP 400, and a message containing ``fragment`` (case
    ignored). Returns the message."""
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    err = info.value.response
    assert err["Error"]["Code"] == code, err["Error"]
    message = str(err["Error"].get("Message", ""))
    assert fragment.lower() in message.lower(), err["Error"]
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400, err["ResponseMetadata"]
    return message


def pkcs8(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def spki(key: PrivateKeyTypes) -> bytes:
    return key.public_key().public_bytes(DER, SPKI)


def local_private(spec: str) -> PrivateKeyTypes:
    """A fresh ``cryptography`` private key of this AWS key spec."""
    if spec in RSA_BITS:
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS[spec])
    if spec in CURVES:
        return ec.generate_private_key(CURVES[spec]())
    if spec == "ECC_NIST_EDWARDS25519":
        return ed25519.Ed25519PrivateKey.generate()
    if spec in MLDSA_PRIVATE:
        return MLDSA_PRIVATE[spec].generate()  # type: ignore[no-any-return]
    return MLKEM_PRIVATE[spec].generate()  # type: ignore[no-any-return]


def wrap(public_der: bytes, algorithm: str, material: bytes) -> bytes:
    """Wrap ``material`` under GetParametersForImport's PublicKey, as AWS specifies."""
    public = serialization.load_der_public_key(public_der)
    assert isinstance(public, rsa.RSAPublicKey)
    digest = _WRAP_HASHES[algorithm]
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=digest()), algorithm=digest(), label=None)
    if algorithm.startswith("RSAES_OAEP"):
        return public.encrypt(material, oaep)
    ephemeral = os.urandom(32)
    return public.encrypt(ephemeral, oaep) + aes_key_wrap_with_padding(ephemeral, material)


def create_external(kms: Any, spec: str, usage: str) -> str:
    created = kms.create_key(KeySpec=spec, KeyUsage=usage, Origin="EXTERNAL")["KeyMetadata"]
    assert created["KeyState"] == "PendingImport" and created["Enabled"] is False, created
    return str(created["KeyId"])


def import_material(
    kms: Any,
    key_id: str,
    material: bytes,
    algorithm: str = WRAP_AES_256,
    wrapping_spec: str = "RSA_2048",
    **kwargs: Any,
) -> dict[str, Any]:
    """GetParametersForImport + ImportKeyMaterial (key material that does not expire)."""
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=wrapping_spec
    )
    return dict(
        kms.import_key_material(
            KeyId=key_id,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrap(params["PublicKey"], algorithm, material),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
            **kwargs,
        )
    )


def imported_key(
    kms: Any, spec: str, usage: str, material: bytes, algorithm: str = WRAP_AES_256
) -> str:
    """An EXTERNAL key of this spec and usage holding ``material`` (PKCS#8 DER, or HMAC bytes)."""
    key_id = create_external(kms, spec, usage)
    AUDIT_SECRETS.append(material)
    import_material(kms, key_id, material, algorithm)
    return key_id


def imported_private_key(
    kms: Any, spec: str, usage: str, algorithm: str = WRAP_AES_256
) -> tuple[str, PrivateKeyTypes]:
    """A fresh local private key of ``spec``, imported into a new EXTERNAL key."""
    private = local_private(spec)
    return imported_key(kms, spec, usage, pkcs8(private), algorithm), private


_SHARED: dict[tuple[str, str, str], str] = {}


def shared_key(kms: Any, spec: str, usage: str) -> str:
    """One AWS_KMS key of this spec and usage per server, shared by tests that only use it
    (never disable or delete it)."""
    cache = (str(kms.meta.endpoint_url), spec, usage)
    if cache not in _SHARED:
        created = kms.create_key(KeySpec=spec, KeyUsage=usage, Description="shared test key")
        _SHARED[cache] = str(created["KeyMetadata"]["KeyId"])
    return _SHARED[cache]


_PUBLIC: dict[tuple[str, str], PublicKeyTypes] = {}


def public_key_of(kms: Any, key_id: str) -> PublicKeyTypes:
    """The key's public half, from GetPublicKey, loaded with ``cryptography`` (fetched once per
    key: RSA_4096 requests are slow on the test server)."""
    cache = (str(kms.meta.endpoint_url), key_id)
    if cache not in _PUBLIC:
        der = kms.get_public_key(KeyId=key_id)["PublicKey"]
        _PUBLIC[cache] = serialization.load_der_public_key(der)
    return _PUBLIC[cache]


def describe(kms: Any, key_id: str) -> dict[str, Any]:
    return dict(kms.describe_key(KeyId=key_id)["KeyMetadata"])


# --- importing each kind of key ------------------------------------------------------------------
IMPORT_CASES = [
    ("RSA_2048", "SIGN_VERIFY", WRAP_AES_256),
    ("RSA_2048", "ENCRYPT_DECRYPT", WRAP_AES_1),
    ("ECC_NIST_P256", "SIGN_VERIFY", OAEP_256),
    ("ECC_NIST_P384", "KEY_AGREEMENT", WRAP_AES_256),
    ("ECC_NIST_P521", "SIGN_VERIFY", WRAP_AES_256),
    ("ECC_SECG_P256K1", "SIGN_VERIFY", OAEP_1),
    ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", OAEP_256),
    ("ML_DSA_44", "SIGN_VERIFY", OAEP_256),
    ("ML_DSA_65", "SIGN_VERIFY", WRAP_AES_256),
    ("ML_DSA_87", "SIGN_VERIFY", OAEP_256),
    ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE", OAEP_256),
    ("ML_KEM_1024", "ENCAPSULATE_DECAPSULATE", WRAP_AES_256),
]


@pytest.mark.parametrize(("spec", "usage", "algorithm"), IMPORT_CASES)
def test_import_private_key(kms: Any, spec: str, usage: str, algorithm: str) -> None:
    private = local_private(spec)
    key_id = create_external(kms, spec, usage)
    expect_error(kms.get_public_key, "KMSInvalidStateException", "pending", KeyId=key_id)
    AUDIT_SECRETS.append(pkcs8(private))
    out = import_material(kms, key_id, pkcs8(private), algorithm)
    assert out["KeyId"].endswith(f":key/{key_id}")

    meta = describe(kms, key_id)
    assert meta["KeyState"] == "Enabled" and meta["Enabled"] is True
    assert (meta["Origin"], meta["KeySpec"], meta["KeyUsage"]) == ("EXTERNAL", spec, usage)
    assert meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert "CurrentKeyMaterialId" not in meta  # symmetric keys only
    public = kms.get_public_key(KeyId=key_id)
    assert public["PublicKey"] == spki(private)
    assert (public["KeySpec"], public["KeyUsage"]) == (spec, usage)


def test_rsa_private_key_needs_an_rsa_aes_wrapping_algorithm(kms: Any) -> None:
    key_id = create_external(kms, "RSA_2048", "SIGN_VERIFY")
    for algorithm in (OAEP_256, OAEP_1):
        expect_error(
            kms.get_parameters_for_import,
            "ValidationException",
            "RSA_AES_KEY_WRAP",
            KeyId=key_id,
            WrappingAlgorithm=algorithm,
            WrappingKeySpec="RSA_4096",
        )
    assert describe(kms, key_id)["KeyState"] == "PendingImport"


def test_p521_key_cannot_be_oaep_wrapped_under_rsa_2048(kms: Any) -> None:
    key_id = create_external(kms, "ECC_NIST_P521", "SIGN_VERIFY")
    expect_error(
        kms.get_parameters_for_import,
        "ValidationException",
        "ECC_NIST_P521",
        KeyId=key_id,
        WrappingAlgorithm=OAEP_256,
        WrappingKeySpec="RSA_2048",
    )
    private = local_private("ECC_NIST_P521")
    AUDIT_SECRETS.append(pkcs8(private))
    import_material(kms, key_id, pkcs8(private), OAEP_256, wrapping_spec="RSA_3072")
    assert kms.get_public_key(KeyId=key_id)["PublicKey"] == spki(private)


@pytest.mark.parametrize(
    ("spec", "usage", "material"),
    [
        # a P-384 key into a P-256 key
        (
            "ECC_NIST_P256",
            "SIGN_VERIFY",
            lambda: pkcs8(ec.generate_private_key(ec.SECP384R1())),
        ),
        # SEC1 ECPrivateKey, not PKCS#8
        (
            "ECC_NIST_P256",
            "SIGN_VERIFY",
            lambda: ec.generate_private_key(ec.SECP256R1()).private_bytes(
                DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            ),
        ),
        # an Ed25519 key into an ML-DSA key
        ("ML_DSA_65", "SIGN_VERIFY", lambda: pkcs8(ed25519.Ed25519PrivateKey.generate())),
        # an ML-KEM-768 key into an ML-KEM-1024 key
        ("ML_KEM_1024", "ENCAPSULATE_DECAPSULATE", lambda: pkcs8(local_private("ML_KEM_768"))),
        # 32 random bytes are no private key
        ("ECC_NIST_P384", "KEY_AGREEMENT", lambda: os.urandom(32)),
    ],
    ids=["p384-into-p256", "sec1-not-pkcs8", "ed25519-into-mldsa", "mlkem768-into-1024", "junk"],
)
def test_import_material_that_does_not_fit_the_spec(
    kms: Any, spec: str, usage: str, material: Callable[[], bytes]
) -> None:
    key_id = create_external(kms, spec, usage)
    wrong = material()
    AUDIT_SECRETS.append(wrong)
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm=WRAP_AES_256, WrappingKeySpec="RSA_2048"
    )
    expect_error(
        kms.import_key_material,
        "InvalidCiphertextException",
        "",
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], WRAP_AES_256, wrong),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    assert describe(kms, key_id)["KeyState"] == "PendingImport"


@pytest.mark.parametrize(
    ("spec", "length"),
    [("HMAC_224", 27), ("HMAC_256", 31), ("HMAC_256", 65), ("HMAC_384", 47), ("HMAC_512", 129)],
)
def test_hmac_material_of_a_bad_length(kms: Any, spec: str, length: int) -> None:
    """Imported HMAC key material must be within the spec's lengths (HMAC_224 28-64 bytes,
    HMAC_256 32-64, HMAC_384 48-128, HMAC_512 64-128: "Requirements for imported key
    material", AWS KMS Developer Guide)."""
    key_id = create_external(kms, spec, "GENERATE_VERIFY_MAC")
    material = os.urandom(length)
    AUDIT_SECRETS.append(material)
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm=OAEP_256, WrappingKeySpec="RSA_2048"
    )
    expect_error(
        kms.import_key_material,
        "InvalidCiphertextException",
        "",
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], OAEP_256, material),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    assert describe(kms, key_id)["KeyState"] == "PendingImport"


def test_asymmetric_material_cannot_change_but_can_be_reimported(kms: Any) -> None:
    key_id, private = imported_private_key(kms, "ECC_NIST_P256", "SIGN_VERIFY", OAEP_256)
    other = local_private("ECC_NIST_P256")
    AUDIT_SECRETS.append(pkcs8(other))
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm=OAEP_256, WrappingKeySpec="RSA_2048"
    )
    expect_error(
        kms.import_key_material,
        "IncorrectKeyMaterialException",
        "key material",
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], OAEP_256, pkcs8(other)),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    assert kms.get_public_key(KeyId=key_id)["PublicKey"] == spki(private)

    # Deleted, the key is PendingImport; the same private key brings it back.
    kms.delete_imported_key_material(KeyId=key_id)
    assert describe(kms, key_id)["KeyState"] == "PendingImport"
    expect_error(
        kms.sign,
        "KMSInvalidStateException",
        "pending",
        KeyId=key_id,
        Message=b"m",
        SigningAlgorithm="ECDSA_SHA_256",
    )
    import_material(kms, key_id, pkcs8(private), OAEP_256)
    assert describe(kms, key_id)["KeyState"] == "Enabled"
    signature = kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    public = private.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, b"m", ec.ECDSA(hashes.SHA256()))


def test_hmac_import_at_the_length_bounds(kms: Any) -> None:
    """The longest and shortest allowed HMAC key materials import and are used as given."""
    for spec, length, digest in (("HMAC_224", 64, "sha224"), ("HMAC_384", 128, "sha384")):
        material = os.urandom(length)
        key_id = imported_key(kms, spec, "GENERATE_VERIFY_MAC", material, OAEP_256)
        meta = describe(kms, key_id)
        assert (meta["KeyState"], meta["Origin"]) == ("Enabled", "EXTERNAL")
        assert "CurrentKeyMaterialId" not in meta
        algorithm = "HMAC_SHA_" + spec[5:]
        mac = kms.generate_mac(KeyId=key_id, Message=b"bounds", MacAlgorithm=algorithm)["Mac"]
        assert mac == stdlib_hmac.new(material, b"bounds", digest).digest()
