"""Offline verification of a code-signing certificate's chain to a trusted root.

pyca's ``cryptography.x509.verification`` builds and checks the path (RFC 5280 path validation
with the CA/B Forum "web PKI" CA profile: signatures, including ML-DSA; validity at ``now``;
basicConstraints CA and pathLen; keyUsage keyCertSign; name chaining; AKI/SKI). The end-entity
policy is pyca's permit-all one plus a required extendedKeyUsage that names codeSigning (RFC 5280
section 4.2.1.12), in place of the web PKI's serverAuth/clientAuth and subjectAltName rules.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID


class ChainError(ValueError):
    """The certificate does not chain to the root for code signing (one line)."""


def _code_signing(
    _policy: verification.Policy, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None
) -> None:
    if eku is None or ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise ValueError("the signer's certificate is not for codeSigning (extendedKeyUsage)")


def _usage(_policy: verification.Policy, _cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
    if ku is not None and not ku.digital_signature:
        raise ValueError("the signer's certificate keyUsage lacks digitalSignature")


def verify_chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    now: datetime.datetime | None = None,
) -> list[x509.Certificate]:
    """The validated chain, leaf first and a root last; ChainError with the reason if none."""
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise ChainError("the signer's certificate is not for codeSigning (extendedKeyUsage)")
    ee_policy = (
        verification.ExtensionPolicy.permit_all()
        .require_present(x509.ExtendedKeyUsage, verification.Criticality.AGNOSTIC, _code_signing)
        .may_be_present(x509.KeyUsage, verification.Criticality.AGNOSTIC, _usage)
    )
    try:
        verifier = (
            verification.PolicyBuilder()
            .store(verification.Store(list(roots)))
            .time(now or datetime.datetime.now(datetime.UTC))
            .extension_policies(
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy
            )
            .build_client_verifier()
        )
        return list(verifier.verify(leaf, list(intermediates)).chain)
    except (verification.VerificationError, ValueError) as exc:
        raise ChainError(_one_line(str(exc))) from exc


def _one_line(reason: str) -> str:
    first = reason.splitlines()[0] if reason else "the chain does not verify"
    return first.replace("validation failed: ", "", 1)
