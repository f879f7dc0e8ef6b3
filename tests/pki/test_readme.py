"""README, "Code signing with a CA whose keys stay in Trent": the ML-DSA-65 walkthrough, its
ECDSA P-384 variant with the OpenSSL checks, and the JWT example, run as written with bash and
the aws CLI (the quick start's profile; OpenSSL as the independent verifier of the P-384 chain
and CMS signature, pyca inside ``trent pki verify``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.server import TrentServer

BIN = Path(sys.executable).parent  # the venv's aws and trent


def readme_block(marker: str) -> str:
    """The first ```sh block after ``marker`` in the README, as a user would paste it."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    after = text[text.index(marker) :]
    start = after.index("```sh\n") + len("```sh\n")
    return after[start : after.index("```", start)]


CODE_SIGNING = readme_block("<!-- code signing: tests/pki/test_readme.py runs this block -->")
OPENSSL = readme_block("<!-- code signing, openssl: tests/pki/test_readme.py runs this block -->")
JWT = readme_block("<!-- jwt: tests/pki/test_readme.py runs this block -->")


def run(server: TrentServer, cwd: Path, script: str) -> subprocess.CompletedProcess[str]:
    """``script`` under ``set -euo pipefail`` with only the quick start's variables set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_SHARED_CREDENTIALS_FILE": str(server.data_dir / "credentials"),
        "AWS_CONFIG_FILE": str(server.data_dir / "config"),
        "AWS_PAGER": "",
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_mldsa_walkthrough_and_jwt_as_written(server: TrentServer, tmp_path: Path) -> None:
    done = run(server, tmp_path, CODE_SIGNING + JWT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Verified: app.bin signed by CN=CodeSigningCertificate",
        '{"sub":"1234567890","name":"Alice"}',
        '{"sub":"1234567890","name":"Alice"}',
    ]


def test_p384_walkthrough_checked_by_openssl(server: TrentServer, tmp_path: Path) -> None:
    assert CODE_SIGNING.count("new_key ML_DSA_65") == 3
    p384 = CODE_SIGNING.replace("new_key ML_DSA_65", "new_key ECC_NIST_P384")
    done = run(server, tmp_path, p384 + OPENSSL)
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "Verified: app.bin signed by CN=CodeSigningCertificate" in done.stdout
    assert "Certificate request self-signature verify OK" in out
    assert "code.pem: OK" in out
    assert "CMS Verification successful" in out
    with (tmp_path / "app.bin").open("ab") as f:  # the same checks refuse a changed file
        f.write(b"!")
    done = run(server, tmp_path, OPENSSL)
    assert done.returncode != 0
    assert "CMS Verification failure" in done.stderr
