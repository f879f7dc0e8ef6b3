"""PKCS#10 certification requests (RFC 2986) for a KMS key, signed by that key.

The CertificationRequestInfo is built with asn1crypto from the key's SubjectPublicKeyInfo (as
KMS GetPublicKey returns it) and the subject (an RFC 4514 string, parsed by pyca); KMS signs
its DER. ML-DSA requests follow RFC 9881 (the same AlgorithmIdentifiers as certificates).
"""

from __future__ import annotations

from asn1crypto import csr, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from trent.pki.signer import KmsSigner


def parse_name(subject: str) -> x509.Name:
    """An RFC 4514 distinguished name ("CN=...,O=..."); ValueError if it is not one."""
    name = x509.Name.from_rfc4514_string(subject)
    if not list(name):
        raise ValueError("the subject is empty")
    return name


def make_csr(signer: KmsSigner, subject: str) -> x509.CertificateSigningRequest:
    """A CSR for the signer's public key with ``subject``, signed inside KMS."""
    info = csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": asn1_x509.Name.load(parse_name(subject).public_bytes()),
            "subject_pk_info": keys.PublicKeyInfo.load(signer.spki_der),
            "attributes": [],
        }
    )
    request = csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": signer.scheme.signature_algorithm(),
            "signature": signer.sign(info.dump()),
        }
    )
    return x509.load_der_x509_csr(request.dump())


def csr_pem(request: x509.CertificateSigningRequest) -> str:
    return request.public_bytes(serialization.Encoding.PEM).decode()
