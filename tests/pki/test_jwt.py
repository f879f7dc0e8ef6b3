"""`trent jwt`: compact JWS signed by keys in Trent, checked independently with pyca."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from tests.pki.tools import Cli, signing_key
from tests.server import TrentServer

CASES = [
    ("ECC_NIST_P256", (), "ES256"),
    ("ECC_NIST_P384", (), "ES384"),
    ("ECC_NIST_P521", (), "ES512"),
    ("RSA_2048", (), "RS256"),
    ("RSA_2048", ("--signing-algorithm", "RSASSA_PSS_SHA_256"), "PS256"),
    ("ECC_NIST_EDWARDS25519", (), "EdDSA"),
    ("ML_DSA_44", (), "ML-DSA-44"),
    ("ML_DSA_65", (), "ML-DSA-65"),
    ("ML_DSA_87", (), "ML-DSA-87"),
]
_HASH = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}


@pytest.fixture
def cli(server: TrentServer, tmp_path: Path) -> Cli:
    return Cli(server, tmp_path)


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _pyca_verify(public: Any, alg: str, signing_input: bytes, signature: bytes) -> None:
    """RFC 7518 / RFC 8037 / draft-ietf-cose-dilithium verification, written for the test."""
    if alg.startswith("ES"):
        size = len(signature) // 2
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        der = utils.encode_dss_signature(r, s)
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(der, signing_input, ec.ECDSA(_HASH[alg[2:]]))
    elif alg.startswith(("RS", "PS")):
        assert isinstance(public, rsa.RSAPublicKey)
        digest = _HASH[alg[2:]]
        pad: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if alg.startswith("RS")
            else padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        )
        public.verify(signature, signing_input, pad, digest)
    else:
        public.verify(signature, signing_input)


@pytest.mark.parametrize(("spec", "algorithm", "alg"), CASES)
def test_jwt_sign_and_verify(
    kms: Any, cli: Cli, spec: str, algorithm: tuple[str, ...], alg: str
) -> None:
    key_id = signing_key(kms, spec)
    claims = {"sub": "tenant-42", "iat": int(time.time()), "exp": int(time.time()) + 600}
    token = cli.ok("jwt", "sign", "--key-id", key_id, "--claims", json.dumps(claims), *algorithm)
    token_text = token.decode().strip()
    header_b64, claims_b64, signature_b64 = token_text.split(".")
    header = json.loads(_unb64(header_b64))
    assert header["alg"] == alg and header["typ"] == "JWT"
    assert header["kid"].endswith(key_id)
    assert json.loads(_unb64(claims_b64)) == claims
    public_der = bytes(kms.get_public_key(KeyId=key_id)["PublicKey"])
    public = serialization.load_der_public_key(public_der)
    _pyca_verify(public, alg, f"{header_b64}.{claims_b64}".encode(), _unb64(signature_b64))

    assert json.loads(cli.ok("jwt", "verify", "--token", token_text, "--key-id", key_id)) == claims
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (cli.cwd / "public.pem").write_bytes(pem)
    offline = cli.ok(
        "jwt", "verify", "--token", token_text, "--public-key", "public.pem", endpoint=False
    )
    assert json.loads(offline) == claims

    forged = {**claims, "sub": "tenant-43"}
    forged_b64 = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    reason = cli.fails(
        "jwt", "verify", "--token", f"{header_b64}.{forged_b64}.{signature_b64}",
        "--public-key", "public.pem", endpoint=False,
    )  # fmt: skip
    assert "signature does not verify" in reason


def test_jwt_expired_and_wrong_key(kms: Any, cli: Cli) -> None:
    key_id = signing_key(kms, "ECC_NIST_P256")
    other = signing_key(kms, "ECC_NIST_P256")
    expired = cli.ok("jwt", "sign", "--key-id", key_id, "--claims", '{"exp": 1000}')
    token = expired.decode().strip()
    assert "expired" in cli.fails("jwt", "verify", "--token", token, "--key-id", key_id)
    fresh = cli.ok("jwt", "sign", "--key-id", key_id, "--claims", '{"sub": "a"}').decode().strip()
    assert "does not verify" in cli.fails("jwt", "verify", "--token", fresh, "--key-id", other)
    ml_dsa = signing_key(kms, "ML_DSA_44")
    assert "does not fit" in cli.fails("jwt", "verify", "--token", fresh, "--key-id", ml_dsa)
    assert "JSON object" in cli.fails("jwt", "sign", "--key-id", key_id, "--claims", "[1]")


def test_jwt_longer_than_a_kms_message(kms: Any, cli: Cli) -> None:
    """ML-DSA signing inputs over 4096 bytes go to KMS as FIPS 204's external mu."""
    key_id = signing_key(kms, "ML_DSA_65")
    claims = {"sub": "big", "groups": ["g" * 50] * 120}
    token = cli.ok("jwt", "sign", "--key-id", key_id, "--claims", json.dumps(claims))
    header_b64, claims_b64, signature_b64 = token.decode().strip().split(".")
    signing_input = f"{header_b64}.{claims_b64}".encode()
    assert len(signing_input) > 4096
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    _pyca_verify(public, "ML-DSA-65", signing_input, _unb64(signature_b64))
    ed_key = signing_key(kms, "ECC_NIST_EDWARDS25519")
    reason = cli.fails("jwt", "sign", "--key-id", ed_key, "--claims", json.dumps(claims))
    assert "at most 4096 bytes" in reason


def test_jwt_with_the_aws_profile(kms: Any, server: TrentServer, tmp_path: Path) -> None:
    """--profile, with the endpoint_url and credentials the server wrote, as the aws CLI uses."""
    key_id = signing_key(kms, "ML_DSA_65")
    cli = Cli(server, tmp_path)
    env = cli.env
    env["AWS_CONFIG_FILE"] = str(server.data_dir / "config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(server.data_dir / "credentials")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        env.pop(name)

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "trent", *args, "--profile", "trent"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    token = run("jwt", "sign", "--key-id", key_id, "--claims", '{"sub": "p"}')
    assert json.loads(run("jwt", "verify", "--token", token, "--key-id", key_id)) == {"sub": "p"}
