"""RSA private-key operations leave the event loop (``trent.operations.context.offload``,
issue 17): with ``call.may_offload`` a Sign or Decrypt under an RSA key returns a stand-in and
leaves a computation that touches no storage; without it (a handler called directly) the
answer is immediate. Results are checked with pyca/cryptography and, through the server, with
openssl."""

from __future__ import annotations

import base64
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.server import TrentServer
from trent.app import build_env
from trent.authz import Principal, PrincipalType
from trent.bootstrap import initialize
from trent.clock import SystemClock
from trent.config import Settings
from trent.operations import OPERATIONS, Call, Env
from trent.protocol.shapes import ServiceModel

MODEL = ServiceModel.load()


def _call(principal: Principal, offload: bool) -> Call:
    call = Call(str(uuid.uuid4()), str(uuid.uuid4()), SystemClock().now(), principal=principal)
    call.may_offload = offload
    return call


def _run(env: Env, call: Call, operation: str, document: dict[str, Any]) -> Any:
    env.refresh()
    return OPERATIONS[operation](env, call, MODEL.parse_input(operation, document))


def test_rsa_sign_and_decrypt_are_offloaded_only_when_allowed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    account = initialize(settings, SystemClock()).account_id
    env = build_env(settings, SystemClock())
    root = Principal(account, f"arn:aws:iam::{account}:root", "AKIA", PrincipalType.ROOT, account)

    def make(spec: str, usage: str) -> str:
        document = {"KeySpec": spec, "KeyUsage": usage}
        return str(_run(env, _call(root, False), "CreateKey", document)["KeyMetadata"]["KeyId"])

    signer, decrypter, ecc = (
        make("RSA_2048", "SIGN_VERIFY"),
        make("RSA_2048", "ENCRYPT_DECRYPT"),
        make("ECC_NIST_P256", "SIGN_VERIFY"),
    )
    message = base64.b64encode(b"offloaded").decode()
    sign = {"KeyId": signer, "Message": message, "SigningAlgorithm": "RSASSA_PSS_SHA_256"}

    call = _call(root, True)
    assert _run(env, call, "Sign", sign) == {}  # a stand-in: the signature is still to come
    assert call.offloaded is not None
    signed = call.offloaded()
    public = _run(env, _call(root, False), "GetPublicKey", {"KeyId": signer})["PublicKey"]
    key = serialization.load_der_public_key(public)
    assert isinstance(key, rsa.RSAPublicKey)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    key.verify(signed["Signature"], b"offloaded", pss, hashes.SHA256())  # raises if wrong
    assert signed["SigningAlgorithm"] == "RSASSA_PSS_SHA_256"
    assert signed["KeyId"].endswith(signer)

    direct = _run(env, _call(root, False), "Sign", sign)  # a direct call answers at once
    key.verify(direct["Signature"], b"offloaded", pss, hashes.SHA256())

    ecc_call = _call(root, True)  # milliseconds are not at stake: never offloaded
    ecc_sign = {"KeyId": ecc, "Message": message, "SigningAlgorithm": "ECDSA_SHA_256"}
    assert _run(env, ecc_call, "Sign", ecc_sign)["Signature"]
    assert ecc_call.offloaded is None

    public = _run(env, _call(root, False), "GetPublicKey", {"KeyId": decrypter})["PublicKey"]
    key = serialization.load_der_public_key(public)
    assert isinstance(key, rsa.RSAPublicKey)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    blob = key.encrypt(b"secret", oaep)
    decrypt = {
        "KeyId": decrypter,
        "CiphertextBlob": base64.b64encode(blob).decode(),
        "EncryptionAlgorithm": "RSAES_OAEP_SHA_256",
    }
    call = _call(root, True)
    assert _run(env, call, "Decrypt", decrypt) == {}
    assert call.offloaded is not None
    opened = call.offloaded()
    assert opened["Plaintext"] == b"secret"
    assert opened["EncryptionAlgorithm"] == "RSAES_OAEP_SHA_256"
    assert opened["KeyId"].endswith(decrypter)
    env.store.close()


def test_rsa_4096_signatures_through_the_server_verify_with_openssl(
    server: TrentServer, tmp_path: Path
) -> None:
    """Concurrent Sign calls, each computed off the loop, each answer its own message."""
    kms = server.client()
    key_id = kms.create_key(KeySpec="RSA_4096", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    public = tmp_path / "public.der"
    public.write_bytes(kms.get_public_key(KeyId=key_id)["PublicKey"])
    results: dict[int, bytes] = {}

    def sign(n: int) -> None:
        client = server.client()
        reply = client.sign(
            KeyId=key_id, Message=f"message {n}".encode(), SigningAlgorithm="RSASSA_PSS_SHA_256"
        )
        results[n] = reply["Signature"]

    threads = [threading.Thread(target=sign, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == list(range(8))
    for n, signature in results.items():
        (tmp_path / "message").write_bytes(f"message {n}".encode())
        (tmp_path / "signature").write_bytes(signature)
        command = ["openssl", "dgst", "-sha256", "-verify", str(public), "-keyform", "DER"]
        command += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]
        command += ["-signature", str(tmp_path / "signature"), str(tmp_path / "message")]
        verified = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
        )
        assert verified.returncode == 0 and "Verified OK" in verified.stdout, verified
