"""`trent pki`: CSRs, a CA hierarchy, and detached CMS code signatures made by keys in Trent.

Every signature is checked by something other than trent.pki: OpenSSL 3.0 (``req -verify``,
``verify``, ``cms -verify``) for ECDSA and RSA, pyca/cryptography for every CSR and certificate
(ML-DSA included; OpenSSL 3.0 has no ML-DSA), and for ML-DSA CMS a re-derivation of the signed
attributes' DER checked with pyca and with KMS Verify.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import csr as asn1_csr
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.pki.tools import Cli, Hierarchy, build_hierarchy, openssl, signing_key
from tests.server import TrentServer

MLDSA_OIDS = {
    "ML_DSA_44": "2.16.840.1.101.3.4.3.17",
    "ML_DSA_65": "2.16.840.1.101.3.4.3.18",
    "ML_DSA_87": "2.16.840.1.101.3.4.3.19",
}
CSR_CASES = [
    ("ECC_NIST_P256", (), "1.2.840.10045.4.3.2"),
    ("ECC_NIST_P384", (), "1.2.840.10045.4.3.3"),
    ("ECC_NIST_P521", (), "1.2.840.10045.4.3.4"),
    ("RSA_2048", (), "1.2.840.113549.1.1.11"),
    ("RSA_3072", ("--signing-algorithm", "RSASSA_PSS_SHA_384"), "1.2.840.113549.1.1.10"),
    ("ECC_NIST_EDWARDS25519", (), "1.3.101.112"),
    *((spec, (), oid) for spec, oid in MLDSA_OIDS.items()),
]


@pytest.fixture
def cli(server: TrentServer, tmp_path: Path) -> Cli:
    return Cli(server, tmp_path)


def _public_der(kms: Any, key_id: str) -> bytes:
    return bytes(kms.get_public_key(KeyId=key_id)["PublicKey"])


def _spki(cert: x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.mark.parametrize(("spec", "algorithm", "oid"), CSR_CASES)
def test_csr_is_signed_by_the_key(
    kms: Any, cli: Cli, spec: str, algorithm: tuple[str, ...], oid: str
) -> None:
    key_id = signing_key(kms, spec)
    pem = cli.ok("pki", "csr", "--key-id", key_id, "--subject", "CN=build,O=Example", *algorithm)
    request = x509.load_pem_x509_csr(pem)
    assert request.is_signature_valid  # pyca, ML-DSA included
    assert _spki(request) == _public_der(kms, key_id)
    assert request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "build"
    assert request.signature_algorithm_oid.dotted_string == oid
    if spec in MLDSA_OIDS:  # RFC 9881: the parameters are absent
        parsed = asn1_csr.CertificationRequest.load(
            request.public_bytes(serialization.Encoding.DER)
        )
        assert (
            parsed["signature_algorithm"].dump()
            == asn1_x509.AlgorithmIdentifier({"algorithm": oid}).dump()
        )
        assert len(parsed["signature_algorithm"].dump()) == 13
    else:
        (cli.cwd / "r.csr").write_bytes(pem)
        checked = openssl(cli.cwd, "req", "-verify", "-noout", "-in", "r.csr")
        assert checked.returncode == 0, checked.stderr
        assert "verify OK" in checked.stdout + checked.stderr


def _check_templates(h: Hierarchy, kms: Any) -> None:
    root, sub, leaf = (_load(h.dir / f"{n}.pem") for n in ("root", "sub", "leaf"))
    for cert, issuer in ((root, root), (sub, root), (leaf, sub)):
        cert.verify_directly_issued_by(issuer)  # pyca checks each signature
        assert cert.version is x509.Version.v3
        assert 0 < cert.serial_number < 2**159
    for name in ("root", "sub", "leaf"):
        assert _spki(_load(h.dir / f"{name}.pem")) == _public_der(kms, h.keys[name])
    ext = {n: c.extensions for n, c in (("root", root), ("sub", sub), ("leaf", leaf))}
    basic = {n: e.get_extension_for_class(x509.BasicConstraints) for n, e in ext.items()}
    assert basic["root"].critical and basic["root"].value.ca
    assert basic["root"].value.path_length is None
    assert basic["sub"].value.ca and basic["sub"].value.path_length == 0
    assert not basic["leaf"].value.ca
    for ca in ("root", "sub"):
        usage = ext[ca].get_extension_for_class(x509.KeyUsage)
        assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    usage = ext["leaf"].get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    eku = ext["leaf"].get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.CODE_SIGNING]
    sub_ski = ext["sub"].get_extension_for_class(x509.SubjectKeyIdentifier).value
    leaf_aki = ext["leaf"].get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert leaf_aki.key_identifier == sub_ski.digest
    assert leaf.issuer == sub.subject and sub.issuer == root.subject


def _sign(h: Hierarchy, content: bytes, name: str = "app.bin") -> None:
    (h.dir / name).write_bytes(content)
    h.cli.ok(
        "pki", "sign", "--key-id", h.keys["leaf"], "--cert", "leaf.pem", "--chain", "sub.pem",
        "--in", name, "--out", f"{name}.p7s",
    )  # fmt: skip


def _trent_verify(h: Hierarchy, name: str = "app.bin", root: str = "root.pem") -> Any:
    return h.cli.run(
        "pki", "verify", "--in", name, "--signature", f"{name}.p7s", "--ca", root,
        endpoint=False,
    )  # fmt: skip


def _openssl_cms_verify(h: Hierarchy, name: str = "app.bin") -> Any:
    return openssl(
        h.dir, "cms", "-verify", "-binary", "-inform", "DER", "-in", f"{name}.p7s",
        "-content", name, "-CAfile", "root.pem", "-purpose", "any", "-out", "/dev/null",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        ("ECC_NIST_P384", ()),
        ("ECC_NIST_P256", ()),
        ("RSA_2048", ()),
        ("RSA_3072", ("--signing-algorithm", "RSASSA_PSS_SHA_256")),
    ],
)
def test_classical_hierarchy_and_code_signature(
    kms: Any, cli: Cli, spec: str, algorithm: tuple[str, ...]
) -> None:
    h = build_hierarchy(kms, cli, spec, *algorithm)
    _check_templates(h, kms)
    chain = openssl(h.dir, "verify", "-CAfile", "root.pem", "-untrusted", "sub.pem", "leaf.pem")
    assert chain.returncode == 0 and "leaf.pem: OK" in chain.stdout, chain.stderr
    _sign(h, b"\x7fELF" + bytes(range(256)) * 40)
    accepted = _openssl_cms_verify(h)
    assert accepted.returncode == 0, accepted.stderr
    assert "Verification successful" in accepted.stderr
    verified = _trent_verify(h)
    assert verified.returncode == 0, verified.stderr
    assert b"signed by CN=Example Build,O=Example" in verified.stdout
    (h.dir / "app.bin").write_bytes(b"\x7fELF" + bytes(range(256)) * 39 + b"changed")
    assert _openssl_cms_verify(h).returncode != 0
    reason = h.cli.fails(
        "pki", "verify", "--in", "app.bin", "--signature", "app.bin.p7s", "--ca", "root.pem",
        endpoint=False,
    )  # fmt: skip
    assert "does not match the signed message digest" in reason


@pytest.mark.parametrize("spec", list(MLDSA_OIDS))
def test_mldsa_hierarchy_and_code_signature(kms: Any, cli: Cli, spec: str) -> None:
    h = build_hierarchy(kms, cli, spec)
    _check_templates(h, kms)
    oid = MLDSA_OIDS[spec]
    for name in ("root", "sub", "leaf"):  # RFC 9881: id-ml-dsa-*, parameters absent
        der = _load(h.dir / f"{name}.pem").public_bytes(serialization.Encoding.DER)
        parsed = asn1_x509.Certificate.load(der)
        assert parsed["signature_algorithm"]["algorithm"].dotted == oid
        assert parsed["signature_algorithm"].dump() == parsed["tbs_certificate"]["signature"].dump()
        assert len(parsed["signature_algorithm"].dump()) == 13  # SEQUENCE { OID } only
        assert _load(h.dir / f"{name}.pem").public_key_algorithm_oid.dotted_string == oid

    content = bytes(range(256)) * 64
    _sign(h, content)
    verified = _trent_verify(h)
    assert verified.returncode == 0, verified.stderr

    # Independently of trent.pki: RFC 9882 over the DER of the signed attributes.
    info = asn1_cms.ContentInfo.load((h.dir / "app.bin.p7s").read_bytes())
    signed = info["content"]
    assert signed["encap_content_info"]["content"].native is None  # detached
    serials = sorted(c.chosen.serial_number for c in signed["certificates"])
    leaf = _load(h.dir / "leaf.pem")
    sub = _load(h.dir / "sub.pem")
    assert serials == sorted(c.serial_number for c in (leaf, sub))
    (signer,) = signed["signer_infos"]
    assert (
        signer["signature_algorithm"].dump()
        == asn1_x509.AlgorithmIdentifier({"algorithm": oid}).dump()
    )
    assert signer["digest_algorithm"]["algorithm"].native == "sha512"
    assert signer["digest_algorithm"]["parameters"].native is None
    attrs = {a["type"].native: a["values"][0].native for a in signer["signed_attrs"]}
    assert attrs["content_type"] == "data"
    assert attrs["message_digest"] == hashlib.sha512(content).digest()
    assert "signing_time" in attrs
    tagged = signer["signed_attrs"].dump()
    assert tagged[0] == 0xA0  # [0] IMPLICIT; RFC 5652 5.4: the signature covers it as a SET OF
    signed_der = b"\x31" + tagged[1:]
    signature = signer["signature"].native
    leaf.public_key().verify(signature, signed_der)  # pyca ML-DSA, pure, empty context
    kms_check = kms.verify(
        KeyId=h.keys["leaf"],
        Message=signed_der,
        MessageType="RAW",
        Signature=signature,
        SigningAlgorithm="ML_DSA_SHAKE_256",
    )
    assert kms_check["SignatureValid"] is True

    (h.dir / "app.bin").write_bytes(content[:-1] + b"\x00")
    assert "does not match the signed message digest" in h.cli.fails(
        "pki", "verify", "--in", "app.bin", "--signature", "app.bin.p7s", "--ca", "root.pem",
        endpoint=False,
    )  # fmt: skip


def test_verify_refuses_a_wrong_root_and_a_leaf_without_code_signing(kms: Any, cli: Cli) -> None:
    h = build_hierarchy(kms, cli, "ML_DSA_65")
    _sign(h, b"firmware image")
    assert _trent_verify(h).returncode == 0
    # Another root with the very same name, but another key.
    other = signing_key(kms, "ML_DSA_65")
    cli.ok(
        "pki", "cert", "--ca-key-id", other, "--self-signed", "--subject",
        "CN=Example Root CA,O=Example", "--template", "root", "--days", "30", "--out", "other.pem",
    )  # fmt: skip
    done = _trent_verify(h, root="other.pem")
    assert done.returncode != 0 and b"Traceback" not in done.stderr
    # A certificate for the leaf key that is not for code signing (a CA certificate).
    cli.ok(
        "pki", "cert", "--ca-key-id", h.keys["root"], "--ca-cert", "root.pem", "--csr",
        "leaf.csr", "--template", "subordinate", "--days", "30", "--out", "notcode.pem",
    )  # fmt: skip
    cli.ok(
        "pki", "sign", "--key-id", h.keys["leaf"], "--cert", "notcode.pem", "--in",
        "app.bin", "--out", "app.bin.p7s",
    )  # fmt: skip
    reason = cli.fails(
        "pki", "verify", "--in", "app.bin", "--signature", "app.bin.p7s", "--ca", "root.pem",
        endpoint=False,
    )  # fmt: skip
    assert "codeSigning" in reason
    # Not a signature at all, and a truncated one.
    good = (cli.cwd / "app.bin.p7s").read_bytes()
    for broken in (b"\x30\x03\x02\x01\x01", good[: len(good) // 2], b"not DER"):
        (cli.cwd / "app.bin.p7s").write_bytes(broken)
        cli.fails(
            "pki", "verify", "--in", "app.bin", "--signature", "app.bin.p7s", "--ca", "root.pem",
            endpoint=False,
        )  # fmt: skip


def test_refusals_are_one_line(kms: Any, cli: Cli, key_id: str) -> None:
    reason = cli.fails("pki", "csr", "--key-id", key_id, "--subject", "CN=x")
    assert "UnsupportedOperationException" in reason or "SIGN_VERIFY" in reason
    ec_key = signing_key(kms, "ECC_NIST_P256")
    assert "Error:" in cli.fails("pki", "csr", "--key-id", ec_key, "--subject", "not a name")
    missing = "11111111-2222-3333-4444-555555555555"
    assert "NotFoundException" in cli.fails("pki", "csr", "--key-id", missing, "--subject", "CN=x")
    reason = cli.fails(
        "pki", "cert", "--ca-key-id", ec_key, "--self-signed", "--subject", "CN=x",
        "--template", "code-signing", "--days", "1",
    )  # fmt: skip
    assert "self-signed" in reason
    cli.ok(
        "pki", "cert", "--ca-key-id", ec_key, "--self-signed", "--subject", "CN=x",
        "--template", "root", "--days", "1", "--out", "x.pem",
    )  # fmt: skip
    other = signing_key(kms, "ECC_NIST_P256")
    (cli.cwd / "f").write_bytes(b"data")
    reason = cli.fails("pki", "sign", "--key-id", other, "--cert", "x.pem", "--in", "f")
    assert "not the certificate of --key-id" in reason
