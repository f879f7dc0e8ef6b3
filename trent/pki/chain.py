"""Offline verification of a code-signing certificate's chain to a trusted root.

pyca's ``cryptography.x509.verification`` builds and checks the path (RFC 5280 path validation
with the CA/B Forum "web PKI" CA profile: signatures, including ML-DSA; validity at ``now``;
basicConstraints CA and pathLen; keyUsage keyCertSign; name chaining; AKI/SKI). The end-entity
policy is pyca's permit-all one plus a required extendedKeyUsage that names codeSigning (RFC 5280
section 4.2.1.12), in place of the web PKI's serverAuth/clientAuth and subjectAltName rules.

The web PKI profile forbids Ed25519 keys, so a chain with one is walked here instead, with the
same checks (RFC 5280 section 6.1, without policies or name constraints, which Trent's templates
do not write): each signature by pyca (``verify_directly_issued_by``), validity at ``now``,
issuers with basicConstraints CA, their pathLen and keyUsage keyCertSign, and no unknown
critical extension.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID


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
    if any(
        isinstance(c.public_key(), ed25519.Ed25519PublicKey) for c in (leaf, *intermediates, *roots)
    ):
        return _walk(leaf, intermediates, roots, now or datetime.datetime.now(datetime.UTC))
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


_KNOWN = {
    ExtensionOID.BASIC_CONSTRAINTS,
    ExtensionOID.KEY_USAGE,
    ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
}
MAX_DEPTH = 8


def _check_cert(cert: x509.Certificate, now: datetime.datetime) -> None:
    name = cert.subject.rfc4514_string()
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise ChainError(f"the certificate of {name} is not valid now")
    for extension in cert.extensions:
        if extension.critical and extension.oid not in _KNOWN:
            raise ChainError(f"the certificate of {name} has an unknown critical extension")


def _check_issuer(issuer: x509.Certificate, cas_below: int) -> None:
    name = issuer.subject.rfc4514_string()
    try:
        constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise ChainError(f"{name} is not a CA (no basicConstraints)") from None
    if not constraints.ca:
        raise ChainError(f"{name} is not a CA")
    if constraints.path_length is not None and cas_below > constraints.path_length:
        raise ChainError(f"{name}'s path length constraint is exceeded")
    try:
        usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.key_cert_sign:
        raise ChainError(f"{name} may not sign certificates (keyUsage)")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _walk(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    now: datetime.datetime,
) -> list[x509.Certificate]:
    path = [leaf]
    current = leaf
    _check_cert(leaf, now)
    if not _usage_allows(leaf):
        raise ChainError("the signer's certificate keyUsage lacks digitalSignature")
    for _ in range(MAX_DEPTH):
        cas_below = len(path) - 1
        for root in roots:
            if _issued_by(current, root):
                _check_cert(root, now)
                _check_issuer(root, cas_below)
                if current is not root and not _issued_by(root, root):
                    raise ChainError("the root certificate is not self-signed")
                return [*path, root] if current is not root else path
        issuers = [c for c in intermediates if c not in path and _issued_by(current, c)]
        if not issuers:
            raise ChainError("no chain to a trusted root (the issuer is missing or wrong)")
        current = issuers[0]
        _check_cert(current, now)
        _check_issuer(current, cas_below)
        path.append(current)
    raise ChainError(f"the chain is longer than {MAX_DEPTH} certificates")


def _usage_allows(leaf: x509.Certificate) -> bool:
    try:
        return leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    except x509.ExtensionNotFound:
        return True


def _one_line(reason: str) -> str:
    first = reason.splitlines()[0] if reason else "the chain does not verify"
    return first.replace("validation failed: ", "", 1)
