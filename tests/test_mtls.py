"""Mutual TLS: `trent serve --tls-client-ca FILE` serves only clients that present a certificate
that CA signed. The CAs and client certificates are made here with the openssl command line;
the clients are boto3 (botocore's ``client_cert``) and Python's ssl."""

from __future__ import annotations

import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config

from tests.server import TrentServer


def openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@dataclass
class ClientPki:
    ca: Path
    cert: Path
    key: Path


def make_client_pki(directory: Path, name: str) -> ClientPki:
    """A CA and a client certificate it signed (EC P-256), with openssl."""
    directory.mkdir(parents=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", f"/CN={name} client CA", cwd=directory,
    )  # fmt: skip
    openssl(
        "req", *ec, "-keyout", "client.key", "-out", "client.csr",
        "-subj", "/CN=cks.kms.us-east-1.amazonaws.com", cwd=directory,
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "client.pem", "-days", "2", cwd=directory,
    )  # fmt: skip
    return ClientPki(directory / "ca.pem", directory / "client.pem", directory / "client.key")


@dataclass
class MutualTlsServer(TrentServer):
    client_cert: tuple[Path, Path] | None = None  # what the readiness probe presents

    def ssl_context(self) -> ssl.SSLContext | None:
        context = super().ssl_context()
        if context is not None and self.client_cert is not None:
            context.load_cert_chain(*self.client_cert)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ClientPki]:
    root = tmp_path_factory.mktemp("pki")
    return {"trusted": make_client_pki(root / "trusted", "trusted"),
            "rogue": make_client_pki(root / "rogue", "rogue")}  # fmt: skip


@pytest.fixture(scope="module")
def mtls_server(
    tmp_path_factory: pytest.TempPathFactory, pki: dict[str, ClientPki]
) -> Iterator[MutualTlsServer]:
    trusted = pki["trusted"]
    server = MutualTlsServer(
        tmp_path_factory.mktemp("mtls") / "data",
        workers=1,
        tls=True,
        extra_args=["--tls-client-ca", str(trusted.ca)],
        client_cert=(trusted.cert, trusted.key),
    ).start()
    yield server
    server.stop()


def healthz(server: TrentServer, cert: ClientPki | None) -> int:
    context = ssl.create_default_context(cafile=server.ca_bundle)
    if cert is not None:
        context.load_cert_chain(cert.cert, cert.key)
    with urllib.request.urlopen(server.endpoint + "/healthz", timeout=10, context=context) as r:
        return int(r.status)


def test_a_client_with_a_certificate_of_the_ca_is_served(
    mtls_server: MutualTlsServer, pki: dict[str, ClientPki]
) -> None:
    trusted = pki["trusted"]
    assert healthz(mtls_server, trusted) == 200
    kms: Any = mtls_server.client(
        config=Config(
            client_cert=(str(trusted.cert), str(trusted.key)), retries={"max_attempts": 1}
        )
    )
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_a_client_without_a_certificate_is_refused(mtls_server: MutualTlsServer) -> None:
    with pytest.raises(OSError):  # the handshake fails: ssl.SSLError, URLError, a reset
        healthz(mtls_server, None)


def test_a_certificate_of_another_ca_is_refused(
    mtls_server: MutualTlsServer, pki: dict[str, ClientPki]
) -> None:
    with pytest.raises(OSError):
        healthz(mtls_server, pki["rogue"])


def test_the_client_ca_needs_https(tmp_path: Path, pki: dict[str, ClientPki]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "trent", "serve", "--data-dir", str(tmp_path / "d"),
         "--tls-client-ca", str(pki["trusted"].ca)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "--tls-client-ca needs HTTPS" in done.stderr
