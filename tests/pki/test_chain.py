"""trent.pki.chain: the checks of the chain walk used for Ed25519 hierarchies (pyca's web PKI
verifier refuses Ed25519 keys), on certificates made here with pyca, and an Ed25519 hierarchy
made in Trent end to end."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.pki.tools import Cli, build_hierarchy, openssl
from tests.server import TrentServer
from trent.pki.chain import ChainError, verify_chain

NOW = datetime.datetime.now(datetime.UTC)
Key = ed25519.Ed25519PrivateKey


def _cert(
    subject: str,
    key: Key,
    issuer: tuple[str, Key] | None,
    ca: bool,
    path_length: int | None = None,
    eku: bool = False,
    days: int = 30,
) -> x509.Certificate:
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string(subject))
        .issuer_name(x509.Name.from_rfc4514_string(issuer_name))
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=days))
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
    )
    if eku:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=True
        )
    return builder.sign(issuer_key, None)


def test_walk_accepts_a_good_chain_and_refuses_bad_ones() -> None:
    root_key, sub_key, sub2_key, leaf_key = (Key.generate() for _ in range(4))
    root = _cert("CN=root", root_key, None, ca=True)
    sub = _cert("CN=sub", sub_key, ("CN=root", root_key), ca=True, path_length=0)
    leaf = _cert("CN=leaf", leaf_key, ("CN=sub", sub_key), ca=False, eku=True)
    assert verify_chain(leaf, [sub], [root], NOW) == [leaf, sub, root]

    other_root = _cert("CN=root", Key.generate(), None, ca=True)
    with pytest.raises(ChainError, match="no chain"):
        verify_chain(leaf, [sub], [other_root], NOW)
    with pytest.raises(ChainError, match="no chain"):
        verify_chain(leaf, [], [root], NOW)
    with pytest.raises(ChainError, match="not valid now"):
        verify_chain(leaf, [sub], [root], NOW + datetime.timedelta(days=60))
    # pathLen 0 on sub: it may not certify another CA.
    sub2 = _cert("CN=sub2", sub2_key, ("CN=sub", sub_key), ca=True)
    deep_leaf = _cert("CN=leaf", leaf_key, ("CN=sub2", sub2_key), ca=False, eku=True)
    with pytest.raises(ChainError, match="path length"):
        verify_chain(deep_leaf, [sub2, sub], [root], NOW)
    # An issuer that is not a CA.
    not_ca = _cert("CN=sub", sub_key, ("CN=root", root_key), ca=False)
    with pytest.raises(ChainError, match="not a CA"):
        verify_chain(leaf, [not_ca], [root], NOW)
    no_eku = _cert("CN=leaf", leaf_key, ("CN=sub", sub_key), ca=False)
    with pytest.raises(ChainError, match="codeSigning"):
        verify_chain(no_eku, [sub], [root], NOW)


@pytest.fixture
def cli(server: TrentServer, tmp_path: Path) -> Cli:
    return Cli(server, tmp_path)


def test_ed25519_hierarchy_and_code_signature(kms: Any, cli: Cli) -> None:
    h = build_hierarchy(kms, cli, "ECC_NIST_EDWARDS25519")
    root, sub, leaf = (
        x509.load_pem_x509_certificate((cli.cwd / f"{n}.pem").read_bytes())
        for n in ("root", "sub", "leaf")
    )
    sub.verify_directly_issued_by(root)
    leaf.verify_directly_issued_by(sub)
    chain = openssl(cli.cwd, "verify", "-CAfile", "root.pem", "-untrusted", "sub.pem", "leaf.pem")
    assert chain.returncode == 0, chain.stderr
    (cli.cwd / "app.bin").write_bytes(b"ed25519 signed")
    cli.ok(
        "pki", "sign", "--key-id", h.keys["leaf"], "--cert", "leaf.pem", "--chain", "sub.pem",
        "--in", "app.bin", "--out", "app.bin.p7s",
    )  # fmt: skip
    args = ("pki", "verify", "--in", "app.bin", "--signature", "app.bin.p7s", "--ca", "root.pem")
    assert b"signed by CN=Example Build" in cli.ok(*args, endpoint=False)
    (cli.cwd / "app.bin").write_bytes(b"ed25519 signeD")
    assert "message digest" in cli.fails(*args, endpoint=False)
