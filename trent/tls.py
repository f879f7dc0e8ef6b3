"""HTTPS: the server's TLS context, and a private CA with a server certificate for a data dir.

The TLS policy follows Mozilla's "intermediate"/"modern" server guidelines and NIST SP 800-52r2:
TLS 1.2 or 1.3 only; in TLS 1.2, ECDHE key exchange with AEAD ciphers only (AES-GCM,
ChaCha20-Poly1305), so every connection has forward secrecy and no CBC, RC4, 3DES, static RSA
or SHA-1 MAC suite is offered; TLS 1.3's suites are all AEAD. No compression, no renegotiation.

Key exchange groups: AWS KMS's endpoints offer the hybrid post-quantum group X25519MLKEM768
(draft-ietf-tls-ecdhe-mlkem). Trent prefers it wherever the TLS library can do it: OpenSSL 3.5
and later have it (and put it first among their default groups); Python 3.15's
``SSLContext.set_groups`` lets Trent set the list explicitly. With an older OpenSSL (Python here
links 3.0) the groups are OpenSSL's defaults, X25519 first: see docs/security.md, "TLS".

``make_tls_files`` writes, under ``DATA_DIR/tls``: ``ca.pem`` (a private CA certificate, the
``ca_bundle`` clients trust), ``server.pem`` and ``server.key`` (the server's certificate and
its private key). The CA's private key is used once and never written anywhere: a kept CA key
could mint a certificate for any name that every client trusting the CA would accept; running
the command again makes a new CA and certificate at the same paths.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# TLS 1.2 suites (OpenSSL names): ECDHE (ECDSA or RSA certificates) with AES-GCM or ChaCha20.
TLS12_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
HYBRID_PQ_GROUP = "X25519MLKEM768"
# What Trent asks for when it can set the groups itself: the hybrid first, then the classical
# groups AWS's own endpoints and every current client share.
PREFERRED_GROUPS = (HYBRID_PQ_GROUP, "X25519", "secp256r1", "secp384r1")
OPENSSL_WITH_MLKEM = (3, 5)

TLS_DIR = "tls"
CA_FILE = "ca.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server.key"
CA_VALIDITY = datetime.timedelta(days=3650)
# The CA/Browser Forum's ceiling for a server certificate; run make-tls-cert again to renew.
CERT_VALIDITY = datetime.timedelta(days=397)
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
_DNS_NAME = re.compile(
    r"^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)*$"
)


class TLSConfigError(ValueError):
    """A certificate, key or host name Trent cannot serve TLS with."""


def openssl_offers_hybrid_pq(version: tuple[int, ...] = ssl.OPENSSL_VERSION_INFO) -> bool:
    """True when the OpenSSL that ``ssl`` links has X25519MLKEM768 (3.5 and later)."""
    return tuple(version[:2]) >= OPENSSL_WITH_MLKEM


def key_exchange_groups(context: ssl.SSLContext) -> str:
    """Set the key exchange groups on ``context``; returns a description of what is offered.

    With ``SSLContext.set_groups`` (Python 3.15+) and OpenSSL >= 3.5: PREFERRED_GROUPS. Without
    ``set_groups``: OpenSSL's defaults, which since 3.5 begin with X25519MLKEM768 and before
    it with X25519. (``set_ecdh_curve`` is no substitute: it allows one curve only.)
    """
    set_groups: Callable[[str], None] | None = getattr(context, "set_groups", None)
    if openssl_offers_hybrid_pq():
        if set_groups is not None:
            set_groups(":".join(PREFERRED_GROUPS))
            return ":".join(PREFERRED_GROUPS)
        return f"OpenSSL defaults ({HYBRID_PQ_GROUP} first)"
    return "OpenSSL defaults (X25519 first; no post-quantum hybrid before OpenSSL 3.5)"


def describe_policy() -> str:
    """One line for the server's banner: versions and the key exchange groups offered."""
    groups = key_exchange_groups(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    return f"TLS 1.2/1.3, ECDHE+AEAD only; key exchange: {groups}; {ssl.OPENSSL_VERSION}"


def server_context(
    cert_file: Path, key_file: Path, client_ca: Path | None = None
) -> ssl.SSLContext:
    """A server-side context: TLS 1.2+, TLS12_CIPHERS, the groups of ``key_exchange_groups``.

    ``cert_file`` is PEM (the server certificate, then any intermediates); ``key_file`` its PEM
    private key, unencrypted. ``client_ca`` (PEM, one or more CA certificates): mutual TLS, a
    client must present a certificate one of them signed or the handshake fails (the XKS
    proxy spec's recommended mTLS). Raises TLSConfigError when a file cannot be loaded or the
    certificate and key do not match.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.set_alpn_protocols(["http/1.1"])
    key_exchange_groups(context)
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(
            f"cannot load TLS certificate {cert_file} with key {key_file}: {exc}"
        ) from exc
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise TLSConfigError(f"cannot load client CA certificates {client_ca}: {exc}") from exc
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def uvicorn_context_factory(config: Any, _default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's ``ssl_context_factory``: ``server_context`` on its ssl_certfile/ssl_keyfile
    (and ssl_ca_certs: the client CA of mutual TLS).

    A module-level function so that uvicorn can hand it to each worker process.
    """
    client_ca = Path(config.ssl_ca_certs) if config.ssl_ca_certs else None
    return server_context(Path(config.ssl_certfile), Path(config.ssl_keyfile), client_ca)


@dataclass(frozen=True)
class TLSFiles:
    """The files ``make_tls_files`` writes under ``DATA_DIR/tls``."""

    directory: Path

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> TLSFiles:
        return cls(data_dir / TLS_DIR)

    @property
    def ca(self) -> Path:
        return self.directory / CA_FILE

    @property
    def cert(self) -> Path:
        return self.directory / CERT_FILE

    @property
    def key(self) -> Path:
        return self.directory / KEY_FILE

    def present(self) -> bool:
        return self.cert.is_file() and self.key.is_file()


def parse_names(names: Iterable[str]) -> list[x509.GeneralName]:
    """Subject alternative names: an IP address (v4 or v6) where the name parses as one, else
    a DNS name (RFC 1035 labels, optionally a leading ``*.``). Raises TLSConfigError."""
    parsed: list[x509.GeneralName] = []
    for name in names:
        try:
            parsed.append(x509.IPAddress(ipaddress.ip_address(name)))
            continue
        except ValueError:
            pass
        if len(name) > 253 or not _DNS_NAME.match(name):
            raise TLSConfigError(f"{name!r} is neither an IP address nor a DNS name")
        parsed.append(x509.DNSName(name.lower()))
    if not parsed:
        raise TLSConfigError("at least one name is needed")
    return parsed


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (mode 0600, whatever the umask) through a rename."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def make_tls_files(
    data_dir: Path, names: Sequence[str], now: datetime.datetime | None = None
) -> TLSFiles:
    """Make a private CA (ECDSA P-384, 10 years, path length 0) and a server certificate
    (ECDSA P-256, 397 days, serverAuth) for ``names`` (see ``parse_names``); write them under
    ``DATA_DIR/tls`` (directory 0700, files 0600), replacing what was there. The CA key is not
    kept. Raises TLSConfigError for a bad name."""
    alt_names = parse_names(names)
    now = now or datetime.datetime.now(datetime.UTC)
    not_before = now - datetime.timedelta(minutes=5)  # tolerate clients' clock skew
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Trent"),
            x509.NameAttribute(
                NameOID.COMMON_NAME, f"Trent private CA {x509.random_serial_number():x}"[:64]
            ),
        ]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA384())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    first = names[0]
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, first[:64])]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + CERT_VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA384())
    )
    files = TLSFiles.in_data_dir(data_dir)
    files.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(files.directory, 0o700)
    _write_private(
        files.key,
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    _write_private(files.cert, server_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(files.ca, ca_cert.public_bytes(serialization.Encoding.PEM))
    return files
