"""X.509 v3 certificates issued by a CA key held in KMS, with AWS Private CA's templates.

The TBSCertificate is built by pyca's CertificateBuilder (an RFC 9925 unsigned certificate: names,
validity, a random 159-bit serial, the extensions), its signature AlgorithmIdentifier is set to
the CA key's with asn1crypto, KMS signs its DER and asn1crypto assembles the Certificate.

Templates (AWS Private CA, "Understanding certificate templates"):

- ``root`` (RootCACertificate/V1): basicConstraints critical CA:TRUE; keyUsage critical
  digitalSignature, keyCertSign, cRLSign; subjectKeyIdentifier.
- ``subordinate`` (SubordinateCACertificate_PathLen0/V1): basicConstraints critical CA:TRUE,
  pathLen 0; keyUsage critical digitalSignature, keyCertSign, cRLSign; AKI; SKI.
- ``code-signing`` (CodeSigningCertificate/V1): basicConstraints CA:FALSE; keyUsage critical
  digitalSignature; extendedKeyUsage critical codeSigning; AKI; SKI.

Values asked for in a CSR are not copied: the template decides, as Private CA's do.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from asn1crypto import algos, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, mldsa, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPublicKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID

from trent.pki.signer import KmsSigner


class IssueError(ValueError):
    """The certificate cannot be issued as asked (one line, for the command line)."""


class _TbsCertificate(core.Sequence):  # type: ignore[misc]
    """RFC 5280's TBSCertificate (v3, no unique ids), the SubjectPublicKeyInfo kept as its DER:
    asn1crypto would re-parse, and cannot parse, an ML-DSA one when it re-encodes."""

    _fields: ClassVar[list[Any]] = [
        ("version", asn1_x509.Version, {"explicit": 0, "default": "v1"}),
        ("serial_number", core.Integer),
        ("signature", algos.SignedDigestAlgorithm),
        ("issuer", asn1_x509.Name),
        ("validity", asn1_x509.Validity),
        ("subject", asn1_x509.Name),
        ("subject_public_key_info", core.Any),
        ("extensions", asn1_x509.Extensions, {"explicit": 3, "optional": True}),
    ]


class _Certificate(core.Sequence):  # type: ignore[misc]
    """RFC 5280 section 4.1's Certificate."""

    _fields: ClassVar[list[Any]] = [
        ("tbs_certificate", _TbsCertificate),
        ("signature_algorithm", algos.SignedDigestAlgorithm),
        ("signature_value", core.OctetBitString),
    ]


class Template(Enum):
    ROOT = "root"
    SUBORDINATE = "subordinate"
    CODE_SIGNING = "code-signing"

    @property
    def is_ca(self) -> bool:
        return self is not Template.CODE_SIGNING


_CA_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)
_SIGNING_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
_ISSUER_KEYS = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
    mldsa.MLDSA44PublicKey,
    mldsa.MLDSA65PublicKey,
    mldsa.MLDSA87PublicKey,
)


@dataclass(frozen=True)
class Issue:
    """What to issue: the subject and its public key, the template, the validity in days, and
    the issuing CA's certificate (None: self-signed by the CA key)."""

    subject: x509.Name
    public_key: CertificatePublicKeyTypes
    template: Template
    days: int
    ca_cert: x509.Certificate | None = None


def _builder(issue: Issue, ca_public: CertificateIssuerPublicKeyTypes) -> x509.CertificateBuilder:
    if issue.days <= 0:
        raise IssueError("--days must be a positive number of days")
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    not_after = now + datetime.timedelta(days=issue.days)
    issuer = issue.subject if issue.ca_cert is None else issue.ca_cert.subject
    if issue.ca_cert is not None and not_after > issue.ca_cert.not_valid_after_utc:
        raise IssueError("the certificate would outlive its issuer's certificate")
    builder = (
        x509.CertificateBuilder()
        .subject_name(issue.subject)
        .issuer_name(issuer)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(not_after)
        .public_key(issue.public_key)
    )
    template = issue.template
    path_length = 0 if template is Template.SUBORDINATE else None
    builder = builder.add_extension(
        x509.BasicConstraints(ca=template.is_ca, path_length=path_length),
        critical=template.is_ca,
    )
    if template is not Template.ROOT:
        builder = builder.add_extension(_authority_key_id(issue.ca_cert, ca_public), False)
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(issue.public_key), critical=False
    )
    builder = builder.add_extension(_CA_USAGE if template.is_ca else _SIGNING_USAGE, critical=True)
    if template is Template.CODE_SIGNING:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=True
        )
    return builder


def _authority_key_id(
    ca_cert: x509.Certificate | None, ca_public: CertificateIssuerPublicKeyTypes
) -> x509.AuthorityKeyIdentifier:
    if ca_cert is not None:
        try:
            ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)
        except x509.ExtensionNotFound:
            pass
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public)


def _public_der(key: object) -> bytes:
    public_bytes = getattr(key, "public_bytes")  # noqa: B009 - every pyca public key has it
    return bytes(
        public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def issue_certificate(ca: KmsSigner, issue: Issue) -> x509.Certificate:
    """The certificate, signed by the CA key inside KMS. IssueError if the request does not fit
    (a CA certificate whose public key is not the CA key's, a subject CA without CA rights)."""
    ca_public = ca.public_key
    if not isinstance(ca_public, _ISSUER_KEYS):
        raise IssueError("the CA key's public key cannot issue certificates")
    if issue.ca_cert is None:
        if issue.template is not Template.ROOT:
            raise IssueError("only the root template is self-signed; give --ca-cert")
        if _public_der(issue.public_key) != ca.spki_der:
            raise IssueError("a self-signed certificate is for the CA key's own public key")
    else:
        if issue.template is Template.ROOT:
            raise IssueError("the root template is self-signed; use --self-signed")
        if _public_der(issue.ca_cert.public_key()) != ca.spki_der:
            raise IssueError("--ca-cert is not the certificate of --ca-key-id's public key")
        constraints = issue.ca_cert.extensions.get_extension_for_class(x509.BasicConstraints)
        if not constraints.value.ca:
            raise IssueError("--ca-cert is not a CA certificate")
    unsigned = _builder(issue, ca_public).create_unsigned()
    tbs = _TbsCertificate.load(unsigned.tbs_certificate_bytes)
    algorithm = ca.scheme.signature_algorithm()
    tbs["signature"] = algorithm
    signed = _Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": algorithm,
            "signature_value": ca.sign(tbs.dump()),
        }
    )
    return x509.load_der_x509_certificate(signed.dump())
