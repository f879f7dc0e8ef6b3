"""``trent pki`` and ``trent jwt``: code signing and JWTs with keys that stay in Trent.

The KMS client comes from the AWS credential chain like the aws CLI's (``--endpoint-url``,
``--region``, ``--profile``, or AWS_* variables and the profile's ``endpoint_url``). Failures
exit 1 with a one-line reason on stderr ("Error: ...").
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson
from asn1crypto import pem
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from trent.pki.certs import Issue, IssueError, Template, issue_certificate
from trent.pki.chain import ChainError, verify_chain
from trent.pki.cms import CmsError, sign_detached, verify_detached
from trent.pki.csr import csr_pem, make_csr, parse_name
from trent.pki.jws import TokenError, sign_token, verify_token
from trent.pki.schemes import SchemeError
from trent.pki.signer import KmsError, KmsSigner, kms_client

_F = TypeVar("_F", bound=Callable[..., Any])
_FAILURES = (KmsError, SchemeError, IssueError, CmsError, ChainError, TokenError, ValueError)


def _aws_options(command: _F) -> _F:
    options = (
        click.option("--endpoint-url", help="The Trent endpoint (as the aws CLI's option)."),
        click.option("--region", help="The AWS region [default: the profile's]."),
        click.option("--profile", help="A named profile from the AWS config files."),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _one_line_errors(command: _F) -> _F:
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except _FAILURES as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise click.ClickException(reason) from exc

    return run  # type: ignore[return-value]


def _signer(options: dict[str, Any], key_id: str, algorithm: str | None) -> KmsSigner:
    client = kms_client(options["endpoint_url"], options["region"], options["profile"])
    return KmsSigner(client, key_id, algorithm)


def _certificates(paths: Sequence[Path]) -> list[x509.Certificate]:
    """Every certificate in the PEM (one or more) or DER files."""
    found: list[x509.Certificate] = []
    for path in paths:
        data = path.read_bytes()
        try:
            if b"-----BEGIN" in data:
                found += x509.load_pem_x509_certificates(data)
            else:
                found.append(x509.load_der_x509_certificate(data))
        except ValueError as exc:
            raise ValueError(f"{path} holds no readable certificate") from exc
    return found


def _one_certificate(path: Path) -> x509.Certificate:
    certificates = _certificates([path])
    if len(certificates) != 1:
        raise ValueError(f"{path} must hold exactly one certificate")
    return certificates[0]


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text)


_algorithm_option = click.option(
    "--signing-algorithm",
    help="A KMS SigningAlgorithm the key has (e.g. RSASSA_PSS_SHA_256) [default: the key spec's].",
)
_out_option = click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not stdout."
)
_file = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def pki() -> None:
    """A certificate hierarchy and code signing with keys that stay in Trent."""


@pki.command("csr")
@_aws_options
@click.option("--key-id", required=True, help="The SIGN_VERIFY key (id, ARN or alias).")
@click.option("--subject", required=True, help='An RFC 4514 name, e.g. "CN=Build,O=Example".')
@_algorithm_option
@_out_option
@_one_line_errors
def csr_command(
    key_id: str, subject: str, signing_algorithm: str | None, out: Path | None, **aws: Any
) -> None:
    """Print a PEM PKCS#10 request for the key's public key, signed by the key."""
    _emit(csr_pem(make_csr(_signer(aws, key_id, signing_algorithm), subject)), out)


@pki.command("cert")
@_aws_options
@click.option("--ca-key-id", required=True, help="The issuing CA's key in Trent.")
@click.option("--self-signed", is_flag=True, help="Issue a root: the CA key certifies itself.")
@click.option("--ca-cert", type=_file, help="The CA key's certificate (not --self-signed).")
@click.option("--csr", type=_file, help="The PEM or DER request of the subject key.")
@click.option("--subject", help="The RFC 4514 subject [default: the request's].")
@click.option(
    "--template",
    required=True,
    type=click.Choice([t.value for t in Template]),
    help="AWS Private CA's RootCACertificate/V1, SubordinateCACertificate_PathLen0/V1, "
    "CodeSigningCertificate/V1.",
)
@click.option("--days", required=True, type=int, help="Validity, in days from now.")
@_algorithm_option
@_out_option
@_one_line_errors
def cert_command(
    ca_key_id: str,
    self_signed: bool,
    ca_cert: Path | None,
    csr: Path | None,
    subject: str | None,
    template: str,
    days: int,
    signing_algorithm: str | None,
    out: Path | None,
    **aws: Any,
) -> None:
    """Print a PEM X.509 v3 certificate issued (signed inside Trent) by the CA key."""
    if self_signed == (ca_cert is not None):
        raise click.UsageError("give exactly one of --self-signed and --ca-cert")
    ca = _signer(aws, ca_key_id, signing_algorithm)
    if self_signed:
        if csr is not None:
            raise click.UsageError("--self-signed certifies the CA key itself; drop --csr")
        if subject is None:
            raise click.UsageError("--self-signed needs --subject")
        public = ca.public_key
        name = parse_name(subject)
    else:
        if csr is None:
            raise click.UsageError("--ca-cert needs --csr (the subject's request)")
        request = _load_csr(csr)
        public = request.public_key()
        name = parse_name(subject) if subject else request.subject
    issue = Issue(
        subject=name,
        public_key=public,  # type: ignore[arg-type]
        template=Template(template),
        days=days,
        ca_cert=_one_certificate(ca_cert) if ca_cert else None,
    )
    _emit(_pem(issue_certificate(ca, issue)), out)


def _load_csr(path: Path) -> x509.CertificateSigningRequest:
    data = path.read_bytes()
    try:
        request = (
            x509.load_pem_x509_csr(data) if b"-----BEGIN" in data else x509.load_der_x509_csr(data)
        )
    except ValueError as exc:
        raise ValueError(f"{path} is not a certificate signing request") from exc
    if not request.is_signature_valid:
        raise ValueError(f"the request in {path} is not signed by its own key")
    return request


@pki.command("sign")
@_aws_options
@click.option("--key-id", required=True, help="The code-signing key in Trent.")
@click.option("--cert", "cert_path", required=True, type=_file, help="The key's certificate.")
@click.option("--chain", multiple=True, type=_file, help="Intermediate certificates to include.")
@click.option("--in", "in_path", required=True, type=_file, help="The file to sign.")
@_algorithm_option
@_out_option
@_one_line_errors
def sign_command(
    key_id: str,
    cert_path: Path,
    chain: tuple[Path, ...],
    in_path: Path,
    signing_algorithm: str | None,
    out: Path | None,
    **aws: Any,
) -> None:
    """Write a detached CMS SignedData (DER) over the file, signed inside Trent."""
    signer = _signer(aws, key_id, signing_algorithm)
    leaf = _one_certificate(cert_path)
    signature = sign_detached(signer, leaf, _certificates(chain), in_path.read_bytes())
    if out is None:
        sys.stdout.buffer.write(signature)
        sys.stdout.buffer.flush()
    else:
        out.write_bytes(signature)


@pki.command("verify")
@click.option("--in", "in_path", required=True, type=_file, help="The signed file.")
@click.option("--signature", required=True, type=_file, help="The CMS signature (DER or PEM).")
@click.option("--ca", "ca_path", required=True, type=_file, help="The trusted root(s), PEM.")
@click.option("--chain", multiple=True, type=_file, help="Intermediates not in the signature.")
@_one_line_errors
def verify_command(in_path: Path, signature: Path, ca_path: Path, chain: tuple[Path, ...]) -> None:
    """Verify the signature, the chain to the root and the codeSigning usage, offline."""
    data = signature.read_bytes()
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    roots = _certificates([ca_path])
    try:
        signed = verify_detached(data, in_path.read_bytes(), _certificates(chain))
    except (KeyError, TypeError, IndexError, AttributeError) as exc:  # asn1crypto, lazily
        raise CmsError("the signature is not a well-formed CMS SignedData") from exc
    verify_chain(signed.signer, signed.certificates, roots)
    click.echo(f"Verified: {in_path} signed by {signed.signer.subject.rfc4514_string()}")


@click.group()
def jwt() -> None:
    """JSON Web Tokens signed with keys that stay in Trent."""


@jwt.command("sign")
@_aws_options
@click.option("--key-id", required=True, help="The SIGN_VERIFY key (id, ARN or alias).")
@click.option("--claims", required=True, help="The claims, a JSON object.")
@_algorithm_option
@_one_line_errors
def jwt_sign_command(key_id: str, claims: str, signing_algorithm: str | None, **aws: Any) -> None:
    """Print a compact JWS of the claims, signed inside Trent."""
    try:
        parsed = orjson.loads(claims)
    except orjson.JSONDecodeError as exc:
        raise ValueError("--claims is not JSON") from exc
    if not isinstance(parsed, dict):
        raise ValueError("--claims must be a JSON object")
    signer = _signer(aws, key_id, signing_algorithm)
    click.echo(sign_token(signer, parsed, signer.arn))


@jwt.command("verify")
@_aws_options
@click.option("--token", required=True, help="The compact JWS.")
@click.option("--key-id", help="Verify with this key's public key (GetPublicKey).")
@click.option("--public-key", type=_file, help="Verify offline with this PEM public key.")
@_one_line_errors
def jwt_verify_command(token: str, key_id: str | None, public_key: Path | None, **aws: Any) -> None:
    """Print the claims of a token whose signature verifies (and has not expired)."""
    if (key_id is None) == (public_key is None):
        raise click.UsageError("give exactly one of --key-id and --public-key")
    if key_id is not None:
        public = _signer(aws, key_id, None).public_key
    else:
        assert public_key is not None
        public = serialization.load_pem_public_key(public_key.read_bytes())
    click.echo(orjson.dumps(verify_token(token, public)).decode())
