"""trent.crypto.asymmetric, signing and hmac_keys, checked by independent implementations: every
signature Trent makes is verified by `cryptography` directly from the public SubjectPublicKeyInfo
(and, for RSA-PSS and ECDSA P-256, by the openssl command line); what they make, Trent opens."""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from trent.crypto import asymmetric, keyspecs, signing
from trent.crypto.asymmetric import (
    AlgorithmError,
    CryptoError,
    InvalidCiphertext,
    InvalidMac,
    InvalidSignature,
    MaterialError,
    MessageError,
    PublicKeyError,
    UnsupportedSpec,
)

MESSAGE = b"Trent signs this message; " + os.urandom(100)
DER = serialization.Encoding.DER
PEM = serialization.Encoding.PEM
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
PKCS8 = serialization.PrivateFormat.PKCS8
NONE = serialization.NoEncryption()
openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")


@functools.cache
def material(spec: str) -> bytes:
    return asymmetric.generate_private(spec)


@functools.cache
def key(spec: str) -> asymmetric.PrivateKey:
    return asymmetric.load_private(spec, material(spec))


def hashlib_name(algorithm: str) -> str:
    return "sha" + algorithm[-3:]  # every signing algorithm here ends in SHA_256/384/512


def pyca_hash(algorithm: str) -> hashes.HashAlgorithm:
    return {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[algorithm[-3:]]


def independent_verify(public_der: bytes, algorithm: str, message: bytes, signature: bytes) -> None:
    """Verify a signature over the *whole* message with `cryptography` alone, from the SPKI."""
    public = serialization.load_der_public_key(public_der)
    if algorithm.startswith("RSASSA_"):
        assert isinstance(public, rsa.RSAPublicKey)
        digest = pyca_hash(algorithm)
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            if "PSS" in algorithm
            else padding.PKCS1v15()
        )
        public.verify(signature, message, pad, digest)
    elif algorithm.startswith("ECDSA_"):
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signature, message, ec.ECDSA(pyca_hash(algorithm)))
    elif algorithm == "ED25519_SHA_512":
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(signature, message)
    else:
        assert algorithm == "ML_DSA_SHAKE_256"
        assert isinstance(
            public, mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey
        )
        public.verify(signature, message)


def mu(public_der: bytes, message: bytes) -> bytes:
    """FIPS 204 mu, empty context, by hashlib: SHAKE256(SHAKE256(pk, 64) || 0 || 0 || M, 64)."""
    public = serialization.load_der_public_key(public_der)
    assert isinstance(
        public, mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey
    )
    tr = hashlib.shake_256(public.public_bytes_raw()).digest(64)
    return hashlib.shake_256(tr + b"\x00\x00" + message).digest(64)


SIGNING_SPECS = [s for s, i in keyspecs.SPECS.items() if "SIGN_VERIFY" in i.algorithms]
SIGN_CASES = [
    (spec, algorithm, message_type)
    for spec in SIGNING_SPECS
    for algorithm in keyspecs.SPECS[spec].algorithms["SIGN_VERIFY"]
    # pyca, the independent checker here, has no Ed25519ph: that one is checked against
    # RFC 8032's vector and libsodium in test_ed25519ph_matches_rfc8032_vector.
    if algorithm not in keyspecs.UNSUPPORTED_ALGORITHMS | {"ED25519_PH_SHA_512"}
    for message_type in signing.message_types(algorithm)
]


def message_for(spec: str, algorithm: str, message_type: str) -> bytes:
    """What the caller sends for MESSAGE: itself, its digest, or its mu."""
    if message_type == "DIGEST":
        return hashlib.new(hashlib_name(algorithm), MESSAGE).digest()
    if message_type == "EXTERNAL_MU":
        return mu(asymmetric.public_key_der(key(spec)), MESSAGE)
    return MESSAGE


# --- signing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "algorithm", "message_type"), SIGN_CASES)
def test_signature_verifies_independently(spec: str, algorithm: str, message_type: str) -> None:
    """DIGEST and EXTERNAL_MU signatures verify as signatures over the whole message."""
    signature = asymmetric.sign(
        key(spec), algorithm, message_for(spec, algorithm, message_type), message_type
    )
    independent_verify(asymmetric.public_key_der(key(spec)), algorithm, MESSAGE, signature)


@pytest.mark.parametrize(("spec", "algorithm", "message_type"), SIGN_CASES)
def test_verify_across_message_types(spec: str, algorithm: str, message_type: str) -> None:
    signature = asymmetric.sign(key(spec), algorithm, MESSAGE, "RAW")
    asymmetric.verify(
        key(spec), algorithm, message_for(spec, algorithm, message_type), message_type, signature
    )


@pytest.mark.parametrize(("spec", "algorithm", "message_type"), SIGN_CASES)
def test_verify_refuses_other_key_changed_message_and_flipped_bit(
    spec: str, algorithm: str, message_type: str
) -> None:
    message = message_for(spec, algorithm, message_type)
    signature = asymmetric.sign(key(spec), algorithm, message, message_type)
    asymmetric.verify(key(spec), algorithm, message, message_type, signature)
    other = asymmetric.load_private(spec, asymmetric.generate_private(spec))
    with pytest.raises(InvalidSignature):
        asymmetric.verify(other, algorithm, message, message_type, signature)
    changed = bytes([message[0] ^ 1]) + message[1:]
    with pytest.raises(InvalidSignature):
        asymmetric.verify(key(spec), algorithm, changed, message_type, signature)
    flipped = signature[:-1] + bytes([signature[-1] ^ 1])
    with pytest.raises(InvalidSignature):
        asymmetric.verify(key(spec), algorithm, message, message_type, flipped)
    with pytest.raises(InvalidSignature):
        asymmetric.verify(key(spec), algorithm, message, message_type, b"")


def pyca_private(spec: str) -> PrivateKeyTypes:
    """The same key, loaded by `cryptography` from Trent's stored material (PKCS#8 DER)."""
    return serialization.load_der_private_key(material(spec), password=None)


@pytest.mark.parametrize(
    ("spec", "algorithm"), sorted({(s, a) for s, a, _ in SIGN_CASES}), ids=lambda v: str(v)
)
def test_trent_verifies_what_cryptography_signed(spec: str, algorithm: str) -> None:
    private = pyca_private(spec)
    if isinstance(private, rsa.RSAPrivateKey):
        digest = pyca_hash(algorithm)
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            if "PSS" in algorithm
            else padding.PKCS1v15()
        )
        signature = private.sign(MESSAGE, pad, digest)
    elif isinstance(private, ec.EllipticCurvePrivateKey):
        signature = private.sign(MESSAGE, ec.ECDSA(pyca_hash(algorithm)))
    else:
        assert isinstance(
            private,
            ed25519.Ed25519PrivateKey
            | mldsa.MLDSA44PrivateKey
            | mldsa.MLDSA65PrivateKey
            | mldsa.MLDSA87PrivateKey,
        )
        signature = private.sign(MESSAGE)
    asymmetric.verify(key(spec), algorithm, MESSAGE, "RAW", signature)


def run_openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, check=False)


def write_keys(spec: str, tmp_path: Path) -> None:
    (tmp_path / "pub.pem").write_bytes(
        serialization.load_der_public_key(asymmetric.public_key_der(key(spec))).public_bytes(
            PEM, SPKI
        )
    )
    (tmp_path / "msg").write_bytes(MESSAGE)


@openssl
@pytest.mark.parametrize(
    ("spec", "algorithm", "options"),
    [
        (
            "RSA_2048",
            "RSASSA_PSS_SHA_256",
            ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"],
        ),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", []),
        ("ECC_NIST_P256", "ECDSA_SHA_256", []),
    ],
)
@pytest.mark.parametrize("message_type", ["RAW", "DIGEST"])
def test_openssl_verifies(
    spec: str, algorithm: str, options: list[str], message_type: str, tmp_path: Path
) -> None:
    write_keys(spec, tmp_path)
    signature = asymmetric.sign(
        key(spec), algorithm, message_for(spec, algorithm, message_type), message_type
    )
    (tmp_path / "sig").write_bytes(signature)
    verify = ["dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig", *options, "msg"]
    result = run_openssl(*verify, cwd=tmp_path)
    assert result.returncode == 0 and b"Verified OK" in result.stdout, result.stderr
    (tmp_path / "msg").write_bytes(MESSAGE + b"!")
    assert run_openssl(*verify, cwd=tmp_path).returncode != 0


@openssl
def test_trent_verifies_openssl_ecdsa_and_pss(tmp_path: Path) -> None:
    for spec, algorithm, options in [
        ("ECC_NIST_P256", "ECDSA_SHA_256", []),
        (
            "RSA_2048",
            "RSASSA_PSS_SHA_256",
            ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"],
        ),
    ]:
        (tmp_path / "key.der").write_bytes(material(spec))
        (tmp_path / "msg").write_bytes(MESSAGE)
        sign = ["dgst", "-sha256", "-keyform", "DER", "-sign", "key.der", *options]
        result = run_openssl(*sign, "-out", "sig", "msg", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        asymmetric.verify(key(spec), algorithm, MESSAGE, "RAW", (tmp_path / "sig").read_bytes())


@pytest.mark.parametrize(
    ("spec", "algorithm", "message_type", "length"),
    [
        ("RSA_2048", "RSASSA_PSS_SHA_256", "DIGEST", 31),
        ("RSA_2048", "RSASSA_PSS_SHA_384", "DIGEST", 32),
        ("RSA_3072", "RSASSA_PKCS1_V1_5_SHA_512", "DIGEST", 48),
        ("ECC_NIST_P256", "ECDSA_SHA_256", "DIGEST", 33),
        ("ECC_NIST_P384", "ECDSA_SHA_384", "DIGEST", 64),
        ("ECC_NIST_P521", "ECDSA_SHA_512", "DIGEST", 66),
        ("ECC_SECG_P256K1", "ECDSA_SHA_256", "DIGEST", 0),
        ("ML_DSA_65", "ML_DSA_SHAKE_256", "EXTERNAL_MU", 63),
        ("ML_DSA_44", "ML_DSA_SHAKE_256", "EXTERNAL_MU", 65),
        ("ML_DSA_65", "ML_DSA_SHAKE_256", "DIGEST", 64),  # ML-DSA takes no DIGEST
        ("RSA_2048", "RSASSA_PSS_SHA_512", "EXTERNAL_MU", 64),  # only ML-DSA takes mu
        ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512", "DIGEST", 64),  # pure Ed25519: RAW only
        ("ECC_NIST_EDWARDS25519", "ED25519_PH_SHA_512", "RAW", 64),  # Ed25519ph: DIGEST only
        ("ECC_NIST_EDWARDS25519", "ED25519_PH_SHA_512", "DIGEST", 32),
        ("ECC_NIST_P256", "ECDSA_SHA_256", "BOGUS", 32),
    ],
)
def test_message_errors(spec: str, algorithm: str, message_type: str, length: int) -> None:
    with pytest.raises(MessageError):
        asymmetric.sign(key(spec), algorithm, b"\x01" * length, message_type)
    with pytest.raises(MessageError):
        asymmetric.verify(key(spec), algorithm, b"\x01" * length, message_type, b"\x00" * 64)


def test_ed25519ph_matches_rfc8032_vector() -> None:
    """RFC 8032 section 7.3, test vector 'abc': Ed25519ph over the message."""
    seed = bytes.fromhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
    expected = bytes.fromhex(
        "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
        "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
    )
    private = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    handle = asymmetric.load_private("ECC_NIST_EDWARDS25519", der)
    # The vector's message is 3 bytes; DIGEST takes 64: check the vector on the scheme's library.
    scheme = signing
    assert (
        scheme.sodium.crypto_sign_seed_keypair(seed)[0] == private.public_key().public_bytes_raw()
    )
    digest = hashlib.sha512(b"message").digest()
    signature = asymmetric.sign(handle, "ED25519_PH_SHA_512", digest, "DIGEST")
    asymmetric.verify(handle, "ED25519_PH_SHA_512", digest, "DIGEST", signature)
    with pytest.raises(InvalidSignature):
        asymmetric.verify(handle, "ED25519_PH_SHA_512", bytes(64), "DIGEST", signature)
    state = scheme.sodium.crypto_sign_ed25519ph_state()
    scheme.sodium.crypto_sign_ed25519ph_update(state, b"abc")
    secret = scheme.sodium.crypto_sign_seed_keypair(seed)[1]
    assert scheme.sodium.crypto_sign_ed25519ph_final_create(state, secret) == expected


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        ("ECC_NIST_P256", "ECDSA_SHA_384"),
        ("ECC_NIST_P521", "RSASSA_PSS_SHA_512"),
        ("RSA_2048", "ECDSA_SHA_256"),
        ("RSA_2048", "RSAES_OAEP_SHA_256"),
        ("ML_DSA_65", "ED25519_SHA_512"),
        ("ECC_NIST_EDWARDS25519", "ML_DSA_SHAKE_256"),
        ("ML_KEM_768", "ML_DSA_SHAKE_256"),
    ],
)
def test_algorithm_of_another_spec(spec: str, algorithm: str) -> None:
    with pytest.raises(AlgorithmError):
        asymmetric.sign(key(spec), algorithm, MESSAGE, "RAW")


# --- ML-DSA ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["ML_DSA_44", "ML_DSA_65", "ML_DSA_87"])
def test_mldsa_mu_and_cross_verification(spec: str) -> None:
    public_der = asymmetric.public_key_der(key(spec))
    public = serialization.load_der_public_key(public_der)
    assert isinstance(
        public, mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey
    )
    hasher = mldsa.MLDSAMuHasher(public)
    hasher.update(MESSAGE)
    assert hasher.finalize() == mu(public_der, MESSAGE)
    raw = asymmetric.sign(key(spec), "ML_DSA_SHAKE_256", MESSAGE, "RAW")
    external_mu = mu(public_der, MESSAGE)
    external = asymmetric.sign(key(spec), "ML_DSA_SHAKE_256", external_mu, "EXTERNAL_MU")
    for signature in (raw, external):
        public.verify(signature, MESSAGE)
        public.verify_mu(signature, mu(public_der, MESSAGE))
        asymmetric.verify(key(spec), "ML_DSA_SHAKE_256", MESSAGE, "RAW", signature)


# --- RSA encryption --------------------------------------------------------------------------

RSA_LIMITS = {
    ("RSA_2048", "RSAES_OAEP_SHA_1"): 214,
    ("RSA_2048", "RSAES_OAEP_SHA_256"): 190,
    ("RSA_3072", "RSAES_OAEP_SHA_1"): 342,
    ("RSA_3072", "RSAES_OAEP_SHA_256"): 318,
    ("RSA_4096", "RSAES_OAEP_SHA_1"): 470,
    ("RSA_4096", "RSAES_OAEP_SHA_256"): 446,
}


def oaep(algorithm: str) -> padding.OAEP:
    digest: hashes.HashAlgorithm = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()
    return padding.OAEP(mgf=padding.MGF1(digest), algorithm=digest, label=None)


@pytest.mark.parametrize(("spec", "algorithm"), sorted(RSA_LIMITS))
def test_rsa_oaep_interop_and_limits(spec: str, algorithm: str) -> None:
    limit = RSA_LIMITS[spec, algorithm]
    assert asymmetric.max_plaintext(spec, algorithm) == limit
    public = serialization.load_der_public_key(asymmetric.public_key_der(key(spec)))
    private = serialization.load_der_private_key(material(spec), password=None)
    assert isinstance(public, rsa.RSAPublicKey) and isinstance(private, rsa.RSAPrivateKey)
    plaintext = os.urandom(limit)
    ciphertext = public.encrypt(plaintext, oaep(algorithm))  # encrypted outside Trent
    assert asymmetric.decrypt(key(spec), algorithm, ciphertext) == plaintext
    ciphertext = asymmetric.encrypt(key(spec), algorithm, plaintext)  # and the reverse
    assert private.decrypt(ciphertext, oaep(algorithm)) == plaintext
    empty = asymmetric.encrypt(key(spec), algorithm, b"")
    assert asymmetric.decrypt(key(spec), algorithm, empty) == b""
    with pytest.raises(MessageError):
        asymmetric.encrypt(key(spec), algorithm, plaintext + b"x")


def test_rsa_decrypt_failures() -> None:
    ciphertext = asymmetric.encrypt(key("RSA_2048"), "RSAES_OAEP_SHA_256", b"secret")
    for algorithm, blob in [
        ("RSAES_OAEP_SHA_1", ciphertext),  # the other hash
        ("RSAES_OAEP_SHA_256", ciphertext[:-1] + bytes([ciphertext[-1] ^ 1])),
        ("RSAES_OAEP_SHA_256", ciphertext[:-1]),
        ("RSAES_OAEP_SHA_256", b""),
    ]:
        with pytest.raises(InvalidCiphertext):
            asymmetric.decrypt(key("RSA_2048"), algorithm, blob)
    other = asymmetric.load_private("RSA_2048", asymmetric.generate_private("RSA_2048"))
    with pytest.raises(InvalidCiphertext):
        asymmetric.decrypt(other, "RSAES_OAEP_SHA_256", ciphertext)
    for bad_key, algorithm in [
        (key("RSA_2048"), "SYMMETRIC_DEFAULT"),
        (key("RSA_2048"), "RSASSA_PSS_SHA_256"),
        (key("ECC_NIST_P256"), "RSAES_OAEP_SHA_256"),
    ]:
        with pytest.raises(AlgorithmError):
            asymmetric.encrypt(bad_key, algorithm, b"x")
        with pytest.raises(AlgorithmError):
            asymmetric.decrypt(bad_key, algorithm, ciphertext)


# --- ECDH ------------------------------------------------------------------------------------

NIST: dict[str, type[ec.EllipticCurve]] = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
}


@pytest.mark.parametrize("spec", sorted(NIST))
def test_ecdh_both_sides_agree(spec: str) -> None:
    peer = ec.generate_private_key(NIST[spec]())
    trent_public = serialization.load_der_public_key(asymmetric.public_key_der(key(spec)))
    assert isinstance(trent_public, ec.EllipticCurvePublicKey)
    secret = asymmetric.derive_shared_secret(key(spec), peer.public_key().public_bytes(DER, SPKI))
    assert secret == peer.exchange(ec.ECDH(), trent_public)
    assert len(secret) == (peer.curve.key_size + 7) // 8


@openssl
def test_ecdh_with_openssl(tmp_path: Path) -> None:
    peer = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "peer.pem").write_bytes(peer.private_bytes(PEM, PKCS8, NONE))
    write_keys("ECC_NIST_P256", tmp_path)
    derive = ["pkeyutl", "-derive", "-inkey", "peer.pem", "-peerkey", "pub.pem", "-out", "z"]
    result = run_openssl(*derive, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    peer_der = peer.public_key().public_bytes(DER, SPKI)
    assert (
        asymmetric.derive_shared_secret(key("ECC_NIST_P256"), peer_der)
        == (tmp_path / "z").read_bytes()
    )


def test_ecdh_refuses_other_curves_and_types() -> None:
    p256 = key("ECC_NIST_P256")
    peers: list[PublicKeyTypes] = [
        ec.generate_private_key(ec.SECP384R1()).public_key(),
        ec.generate_private_key(ec.SECP256K1()).public_key(),
        ed25519.Ed25519PrivateKey.generate().public_key(),
        serialization.load_der_public_key(asymmetric.public_key_der(key("RSA_2048"))),
    ]
    for peer in peers:
        with pytest.raises(PublicKeyError):
            asymmetric.derive_shared_secret(p256, peer.public_bytes(DER, SPKI))
    for garbage in [b"", b"\x30\x03\x02\x01\x00", os.urandom(91)]:
        with pytest.raises(PublicKeyError):
            asymmetric.derive_shared_secret(p256, garbage)
    own = asymmetric.public_key_der(p256)
    for not_agreeing in ["ECC_SECG_P256K1", "RSA_2048", "ECC_NIST_EDWARDS25519", "ML_KEM_768"]:
        with pytest.raises(AlgorithmError):
            asymmetric.derive_shared_secret(key(not_agreeing), own)


# --- ML-KEM ----------------------------------------------------------------------------------

MLKEM: dict[str, type[mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey]] = {
    "ML_KEM_768": mlkem.MLKEM768PrivateKey,
    "ML_KEM_1024": mlkem.MLKEM1024PrivateKey,
}
MLDSA: dict[str, type[mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey]]
MLDSA = {
    "ML_DSA_44": mldsa.MLDSA44PrivateKey,
    "ML_DSA_65": mldsa.MLDSA65PrivateKey,
    "ML_DSA_87": mldsa.MLDSA87PrivateKey,
}


@pytest.mark.parametrize("spec", sorted(MLKEM))
def test_mlkem_interop(spec: str) -> None:
    public = serialization.load_der_public_key(asymmetric.public_key_der(key(spec)))
    assert isinstance(public, mlkem.MLKEM768PublicKey | mlkem.MLKEM1024PublicKey)
    secret, ciphertext = public.encapsulate()  # outside Trent, with the public key
    assert asymmetric.decapsulate(key(spec), ciphertext) == secret
    # An imported private key decapsulates what Trent encapsulates.
    outside = MLKEM[spec].generate()
    stored = asymmetric.import_private(spec, outside.private_bytes(DER, PKCS8, NONE))
    imported = asymmetric.load_private(spec, stored)
    secret, ciphertext = asymmetric.encapsulate(imported)
    assert outside.decapsulate(ciphertext) == secret and len(secret) == 32
    expected = {"ML_KEM_768": 1088, "ML_KEM_1024": 1568}[spec]  # the model's documented sizes
    assert len(ciphertext) == expected
    with pytest.raises(InvalidCiphertext):
        asymmetric.decapsulate(key(spec), ciphertext[:-1])
    with pytest.raises(AlgorithmError):
        asymmetric.encapsulate(key("ML_DSA_65"))


def test_mlkem_512_is_unsupported() -> None:
    unsupported = keyspecs.UNSUPPORTED_SPECS
    assert unsupported == {"ML_KEM_512"}
    for call in (
        lambda: asymmetric.generate_private("ML_KEM_512"),
        lambda: asymmetric.load_private("ML_KEM_512", os.urandom(64)),
        lambda: asymmetric.import_private("ML_KEM_512", os.urandom(86)),
        lambda: asymmetric.generate_data_key_pair("ML_KEM_512"),
    ):
        with pytest.raises(UnsupportedSpec, match="ML_KEM_512"):
            call()


# --- HMAC ------------------------------------------------------------------------------------

HMAC_SPECS = {
    "HMAC_224": "sha224",
    "HMAC_256": "sha256",
    "HMAC_384": "sha384",
    "HMAC_512": "sha512",
}


@pytest.mark.parametrize("spec", sorted(HMAC_SPECS))
def test_hmac_matches_stdlib(spec: str) -> None:
    key_bytes = asymmetric.generate_private(spec)
    assert len(key_bytes) * 8 == int(spec[-3:])
    (algorithm,) = keyspecs.SPECS[spec].algorithms["GENERATE_VERIFY_MAC"]
    mac = asymmetric.generate_mac(key_bytes, algorithm, MESSAGE)
    assert mac == hmac.new(key_bytes, MESSAGE, HMAC_SPECS[spec]).digest()
    asymmetric.verify_mac(key_bytes, algorithm, MESSAGE, mac)
    for bad in [mac[:-1] + bytes([mac[-1] ^ 1]), mac[:-1], mac + b"\x00", b""]:
        with pytest.raises(InvalidMac):
            asymmetric.verify_mac(key_bytes, algorithm, MESSAGE, bad)
    with pytest.raises(InvalidMac):
        asymmetric.verify_mac(key_bytes, algorithm, MESSAGE + b"!", mac)
    with pytest.raises(AlgorithmError):
        asymmetric.generate_mac(key_bytes, "HMAC_SHA_1", MESSAGE)


@pytest.mark.parametrize(
    ("spec", "low", "high"),
    [("HMAC_224", 28, 64), ("HMAC_256", 32, 64), ("HMAC_384", 48, 128), ("HMAC_512", 64, 128)],
)
def test_hmac_import_lengths(spec: str, low: int, high: int) -> None:
    for length in (low, high):
        key_bytes = os.urandom(length)
        assert asymmetric.import_private(spec, key_bytes) == key_bytes
    for length in (low - 1, high + 1, 0):
        with pytest.raises(MaterialError):
            asymmetric.import_private(spec, os.urandom(length))
    key_bytes = os.urandom(high)  # an imported key of any allowed length is plain RFC 2104
    mac = asymmetric.generate_mac(key_bytes, f"HMAC_SHA_{spec[-3:]}", MESSAGE)
    assert mac == hmac.new(key_bytes, MESSAGE, HMAC_SPECS[spec]).digest()


# --- generation, import, loading -------------------------------------------------------------

ASYMMETRIC = [
    s for s, i in keyspecs.SPECS.items() if i.family in ("rsa", "ec", "ed25519", "mldsa", "mlkem")
]
SUPPORTED_ASYMMETRIC = [s for s in ASYMMETRIC if s not in keyspecs.UNSUPPORTED_SPECS]


def outside_key(spec: str) -> PrivateKeyTypes:
    """A key of this spec made by `cryptography` directly."""
    if spec.startswith("RSA_"):
        return rsa.generate_private_key(65537, int(spec[-4:]))
    curves: dict[str, type[ec.EllipticCurve]] = {**NIST, "ECC_SECG_P256K1": ec.SECP256K1}
    if spec in curves:
        return ec.generate_private_key(curves[spec]())
    if spec == "ECC_NIST_EDWARDS25519":
        return ed25519.Ed25519PrivateKey.generate()
    if spec in MLKEM:
        return MLKEM[spec].generate()
    return MLDSA[spec].generate()


# Each spec and a spec whose keys it must refuse.
OTHER_SPEC = {
    "RSA_2048": "RSA_3072",
    "RSA_3072": "RSA_4096",
    "RSA_4096": "RSA_2048",
    "ECC_NIST_P256": "ECC_SECG_P256K1",
    "ECC_NIST_P384": "ECC_NIST_P521",
    "ECC_NIST_P521": "ECC_NIST_P384",
    "ECC_SECG_P256K1": "ECC_NIST_P256",
    "ECC_NIST_EDWARDS25519": "ECC_NIST_P256",
    "ML_DSA_44": "ML_DSA_65",
    "ML_DSA_65": "ML_DSA_87",
    "ML_DSA_87": "ML_DSA_44",
    "ML_KEM_768": "ML_KEM_1024",
    "ML_KEM_1024": "ML_KEM_768",
}


@pytest.mark.parametrize("spec", SUPPORTED_ASYMMETRIC)
def test_import_accepts_its_spec_and_refuses_others(spec: str) -> None:
    outside = outside_key(spec)
    stored = asymmetric.import_private(spec, outside.private_bytes(DER, PKCS8, NONE))
    loaded = asymmetric.load_private(spec, stored)
    assert asymmetric.public_key_der(loaded) == outside.public_key().public_bytes(DER, SPKI)
    other = outside_key(OTHER_SPEC[spec]).private_bytes(DER, PKCS8, NONE)
    with pytest.raises(MaterialError):
        asymmetric.import_private(spec, other)
    with pytest.raises(MaterialError):
        asymmetric.import_private(spec, os.urandom(64))
    encrypted = serialization.BestAvailableEncryption(b"password")
    with pytest.raises(MaterialError):
        asymmetric.import_private(spec, outside.private_bytes(PEM, PKCS8, NONE))
    if spec.startswith(("RSA_", "ECC_NIST_P", "ECC_SECG")):
        traditional = serialization.PrivateFormat.TraditionalOpenSSL  # PKCS#1 / SEC1, not PKCS#8
        with pytest.raises(MaterialError, match="PKCS#8"):
            asymmetric.import_private(spec, outside.private_bytes(DER, traditional, NONE))
        with pytest.raises(MaterialError):
            asymmetric.import_private(spec, outside.private_bytes(DER, PKCS8, encrypted))


def test_import_refuses_inconsistent_keys() -> None:
    """An EC private key whose embedded public key is another key's (OpenSSL checks it)."""
    mine, theirs = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    point = serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    der = mine.private_bytes(DER, PKCS8, NONE)
    assert mine.public_key().public_bytes(*point) in der
    bad = der.replace(
        mine.public_key().public_bytes(*point), theirs.public_key().public_bytes(*point)
    )
    with pytest.raises(MaterialError):
        asymmetric.import_private("ECC_NIST_P256", bad)


@pytest.mark.parametrize("spec", SUPPORTED_ASYMMETRIC)
def test_generate_and_load(spec: str) -> None:
    stored = material(spec)
    private = serialization.load_der_private_key(stored, password=None)  # PKCS#8 DER
    assert private.public_key().public_bytes(DER, SPKI) == asymmetric.public_key_der(key(spec))
    if isinstance(private, mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey):
        assert len(private.private_bytes_raw()) == 32  # the FIPS 204 seed
        assert len(stored) == 54  # seed format only: OID + 32-byte seed
    if isinstance(private, mldsa.MLDSA87PrivateKey):
        assert len(stored) == 54
    if isinstance(private, mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey):
        assert len(private.private_bytes_raw()) == 64  # the FIPS 203 seed (d || z)
        assert len(stored) == 86
    with pytest.raises(MaterialError):
        asymmetric.load_private(spec, stored[:-1])
    with pytest.raises(MaterialError):
        asymmetric.load_private(OTHER_SPEC[spec], stored)


def test_generate_refuses_non_asymmetric_specs() -> None:
    for spec in ("SYMMETRIC_DEFAULT", "SM2", "BOGUS"):
        with pytest.raises(UnsupportedSpec):
            asymmetric.generate_private(spec)
    for spec in ("SYMMETRIC_DEFAULT", "HMAC_256"):
        with pytest.raises(UnsupportedSpec):
            asymmetric.load_private(spec, os.urandom(32))


@pytest.mark.parametrize("spec", sorted(keyspecs.DATA_KEY_PAIR_SPECS))
def test_data_key_pairs(spec: str) -> None:
    private_der, public_der = asymmetric.generate_data_key_pair(spec)
    private = serialization.load_der_private_key(private_der, password=None)
    assert private.public_key().public_bytes(DER, SPKI) == public_der
    assert asymmetric.import_private(spec, private_der)  # exactly of its spec
    if spec in MLKEM:
        assert len(private_der) == 86  # PKCS#8 in seed format: the same length for every ML-KEM
    assert asymmetric.generate_data_key_pair(spec)[0] != private_der


def test_data_key_pair_refusals() -> None:
    for spec in ("SM2", "ML_KEM_512", "HMAC_256", "SYMMETRIC_DEFAULT", "ML_DSA_65"):
        with pytest.raises(UnsupportedSpec):
            asymmetric.generate_data_key_pair(spec)


def test_errors_are_crypto_errors_and_not_trent_errors() -> None:
    for error in (
        AlgorithmError,
        InvalidCiphertext,
        InvalidMac,
        InvalidSignature,
        MaterialError,
        MessageError,
        PublicKeyError,
        UnsupportedSpec,
    ):
        assert issubclass(error, CryptoError)
        assert error.__module__ == "trent.crypto.keyerrors"
    assert repr(key("RSA_2048")) == "PrivateKey(RSA_2048)"  # never the material
