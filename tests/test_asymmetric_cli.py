"""Asymmetric keys from the real aws CLI, as a user types it, with the ``openssl`` command line
(and ``cryptography`` for ML-DSA, which OpenSSL 3.0 lacks) on the other side: ECDSA P-256 and
RSA-PSS signatures checked with ``openssl dgst -verify``, the ML-DSA JWT of the seed post "How to
create post-quantum signatures using AWS KMS and ML-DSA" (RAW and EXTERNAL_MU), and the ECDH
walkthrough of "Announcing AWS KMS Elliptic Curve Diffie-Hellman (ECDH) support" with
``openssl pkeyutl -derive``.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import uuid
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mldsa

from tests.server import TrentServer
from tests.test_awscli import AWS, AwsCli

JWT_SIGNING_INPUT = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJNTC1EU0EtNjUifQ."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjE3NDg5NTIwMDAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
)


@pytest.fixture(scope="module")
def cli(server: TrentServer) -> AwsCli:
    assert AWS.exists(), f"the aws CLI is not installed at {AWS}"
    return AwsCli(server)


def sh(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A shell command line (openssl, base64, cmp), as typed."""
    return subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command}"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def ok(cli: AwsCli, command: str, cwd: Path) -> str:
    done = cli.run(command, cwd)
    assert done.returncode == 0, (command, done.stderr)
    return done.stdout.strip()


def create_key(cli: AwsCli, cwd: Path, spec: str, usage: str) -> str:
    return ok(
        cli,
        f"create-key --key-spec {spec} --key-usage {usage} --query KeyMetadata.KeyId --output text",
        cwd,
    )


def get_public_key(cli: AwsCli, cwd: Path, key_id: str, out: str) -> None:
    ok(
        cli,
        f"get-public-key --key-id {key_id} --output text --query PublicKey | base64 -d > {out}",
        cwd,
    )


@pytest.mark.parametrize(
    ("spec", "algorithm", "sigopts"),
    [
        ("ECC_NIST_P256", "ECDSA_SHA_256", ""),
        (
            "RSA_2048",
            "RSASSA_PSS_SHA_256",
            "-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32",
        ),
    ],
)
def test_sign_with_the_cli_verify_with_openssl(
    cli: AwsCli, tmp_path: Path, spec: str, algorithm: str, sigopts: str
) -> None:
    key_id = create_key(cli, tmp_path, spec, "SIGN_VERIFY")
    (tmp_path / "msg").write_bytes(b"Release 1.2.3 of the firmware\n")
    ok(
        cli,
        f"sign --key-id {key_id} --message fileb://msg --message-type RAW "
        f"--signing-algorithm {algorithm} --output text --query Signature | base64 -d > sig",
        tmp_path,
    )
    get_public_key(cli, tmp_path, key_id, "pub.der")
    done = sh("openssl pkey -pubin -inform DER -in pub.der -out pub.pem", tmp_path)
    assert done.returncode == 0, done.stderr
    done = sh(f"openssl dgst -sha256 -verify pub.pem {sigopts} -signature sig msg", tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "Verified OK", (done.stdout, done.stderr)

    # A changed message does not verify, in openssl nor in Trent.
    (tmp_path / "msg2").write_bytes(b"Release 1.2.4 of the firmware\n")
    done = sh(f"openssl dgst -sha256 -verify pub.pem {sigopts} -signature sig msg2", tmp_path)
    assert done.returncode != 0 and "verification failure" in done.stdout.lower(), done.stdout
    verify = (
        f"verify --key-id {key_id} --message-type RAW --signing-algorithm {algorithm} "
        "--signature fileb://sig --message fileb://"
    )
    assert ok(cli, verify + "msg --query SignatureValid --output text", tmp_path) == "True"
    cli.fails(verify + "msg2", "KMSInvalidSignatureException", tmp_path)


def test_mldsa_jwt_with_the_cli(cli: AwsCli, tmp_path: Path) -> None:
    """The seed post's commands: sign RAW, build the JWT, verify locally and with Trent; then
    the external mu of the same message, signed and verified with MessageType EXTERNAL_MU."""
    key_id = create_key(cli, tmp_path, "ML_DSA_65", "SIGN_VERIFY")
    described = cli.json(f"describe-key --key-id {key_id}")["KeyMetadata"]
    assert described["SigningAlgorithms"] == ["ML_DSA_SHAKE_256"]
    (tmp_path / "jwt.txt").write_text(JWT_SIGNING_INPUT)
    ok(
        cli,
        f"sign --key-id {key_id} --message fileb://jwt.txt --message-type RAW "
        "--signing-algorithm ML_DSA_SHAKE_256 --output text --query Signature "
        "| base64 --decode > ExampleSignature.bin",
        tmp_path,
    )
    get_public_key(cli, tmp_path, key_id, "public_key.der")
    signature = (tmp_path / "ExampleSignature.bin").read_bytes()
    public_der = (tmp_path / "public_key.der").read_bytes()
    public = serialization.load_der_public_key(public_der)
    assert isinstance(public, mldsa.MLDSA65PublicKey)
    jwt = JWT_SIGNING_INPUT + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    header_payload, _, encoded = jwt.rpartition(".")
    public.verify(
        base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)), header_payload.encode()
    )
    with pytest.raises(InvalidSignature):
        public.verify(signature, JWT_SIGNING_INPUT.encode() + b"x")
    verify = (
        f"verify --key-id {key_id} --signing-algorithm ML_DSA_SHAKE_256 "
        "--signature fileb://ExampleSignature.bin --query SignatureValid --output text "
    )
    assert ok(cli, verify + "--message fileb://jwt.txt --message-type RAW", tmp_path) == "True"

    # External mu, as the post builds it: SHAKE256(SHAKE256(pk, 64) || 0x00 0x00 || M, 64),
    # pk being the raw key (the SubjectPublicKeyInfo's BIT STRING contents).
    pk_raw = public_der[-1952:]
    assert pk_raw == public.public_bytes_raw()
    tr = hashlib.shake_256(pk_raw).digest(64)
    mu = hashlib.shake_256(tr + b"\x00\x00" + JWT_SIGNING_INPUT.encode()).digest(64)
    (tmp_path / "mu.bin").write_bytes(mu)
    assert ok(cli, verify + "--message fileb://mu.bin --message-type EXTERNAL_MU", tmp_path) == (
        "True"
    )
    ok(
        cli,
        f"sign --key-id {key_id} --message fileb://mu.bin --message-type EXTERNAL_MU "
        "--signing-algorithm ML_DSA_SHAKE_256 --output text --query Signature "
        "| base64 --decode > MuSignature.bin",
        tmp_path,
    )
    public.verify((tmp_path / "MuSignature.bin").read_bytes(), JWT_SIGNING_INPUT.encode())


def test_ecdh_walkthrough_with_the_cli_and_openssl(cli: AwsCli, tmp_path: Path) -> None:
    """The seed post's steps, Bob with the aws CLI and Alice with openssl."""
    alias = f"alias/example-ecdh-key-{uuid.uuid4().hex[:8]}"
    created = cli.json(
        "create-key --key-spec ECC_NIST_P256 --key-usage KEY_AGREEMENT "
        '--description "Example ECDH key pair"'
    )["KeyMetadata"]
    assert created["KeyAgreementAlgorithms"] == ["ECDH"]
    assert (created["KeySpec"], created["KeyUsage"]) == ("ECC_NIST_P256", "KEY_AGREEMENT")
    ok(cli, f"create-alias --alias-name {alias} --target-key-id {created['KeyId']}", tmp_path)

    steps = [
        "openssl ecparam -name P-256 -genkey -out openssl_ecc_private_key.pem",
        "openssl ec -in openssl_ecc_private_key.pem -pubout -outform DER "
        "> openssl_ecc_public_key.bin.der",
    ]
    for step in steps:
        done = sh(step, tmp_path)
        assert done.returncode == 0, (step, done.stderr)
    get_public_key(cli, tmp_path, alias, "kms_ecdh_public_key.der")
    steps = [
        "openssl ec -pubin -inform DER -outform PEM -in kms_ecdh_public_key.der "
        "-out kms_ecdh_public_key.pem",
        "openssl pkeyutl -derive -inkey openssl_ecc_private_key.pem "
        "-peerkey kms_ecdh_public_key.pem > openssl.ss",
    ]
    for step in steps:
        done = sh(step, tmp_path)
        assert done.returncode == 0, (step, done.stderr)
    ok(
        cli,
        f"derive-shared-secret --key-id {alias} "
        "--public-key fileb://openssl_ecc_public_key.bin.der --key-agreement-algorithm ECDH "
        "--output text --query SharedSecret | base64 --decode > kms.ss",
        tmp_path,
    )
    done = sh("diff -qs openssl.ss kms.ss", tmp_path)
    assert done.returncode == 0 and "identical" in done.stdout, done.stdout
    assert len((tmp_path / "kms.ss").read_bytes()) == 32
