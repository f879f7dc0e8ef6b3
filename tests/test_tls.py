"""HTTPS: the TLS policy a real `trent serve` enforces, plain HTTP refused off loopback, and the
certificate `trent admin make-tls-cert` makes (checked by openssl and pyca)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.server import TrentServer, free_port
from trent.config import is_loopback
from trent.tls import HYBRID_PQ_GROUP, TLS12_CIPHERS, openssl_offers_hybrid_pq

TRENT = [sys.executable, "-m", "trent"]
V = ssl.TLSVersion


def trent(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRENT, *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    """`trent serve` with no TLS flags on a data dir where make-tls-cert put its files."""
    server = TrentServer(tmp_path_factory.mktemp("tls") / "data", workers=1, tls=True).start()
    yield server
    server.stop()


def client_context(
    ca: Path, low: ssl.TLSVersion, high: ssl.TLSVersion, ciphers: str | None = None
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(ca)
    with warnings.catch_warnings():  # TLSVersion.TLSv1/TLSv1_1 are deprecated, on purpose here
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version, context.maximum_version = low, high
    if ciphers:
        context.set_ciphers(ciphers)
    return context


def handshake(port: int, context: ssl.SSLContext) -> tuple[str, str]:
    """(protocol version, cipher) of a completed handshake; raises ssl.SSLError if refused."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        version, cipher = tls.version(), tls.cipher()
        assert version is not None and cipher is not None
        return version, cipher[0]


@contextlib.contextmanager
def permissive_server(cert: Path, key: Path) -> Iterator[int]:
    """A control: an ssl server with the same certificate that accepts TLS 1.0+ and any cipher,
    proving that the weak clients below really offer what Trent refuses."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = V.TLSv1
    context.set_ciphers("ALL:eNULL:@SECLEVEL=0")
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with contextlib.suppress(OSError), context.wrap_socket(connection, server_side=True):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


# TLS 1.1 and 1.0 with anything, and TLS 1.2 suites without forward secrecy or without AEAD.
WEAK_CLIENTS = [
    pytest.param(V.TLSv1_1, V.TLSv1_1, "ALL:@SECLEVEL=0", id="TLSv1.1"),
    pytest.param(V.TLSv1, V.TLSv1, "ALL:@SECLEVEL=0", id="TLSv1.0"),
    pytest.param(V.TLSv1_2, V.TLSv1_2, "ECDHE-ECDSA-AES128-SHA", id="CBC-SHA1"),
    pytest.param(V.TLSv1_2, V.TLSv1_2, "ECDHE-ECDSA-AES256-SHA", id="CBC-SHA1-256"),
    pytest.param(V.TLSv1_2, V.TLSv1_2, "ECDHE-ECDSA-AES128-SHA256", id="CBC-SHA256"),
    pytest.param(V.TLSv1_2, V.TLSv1_2, "ECDHE-ECDSA-AES256-SHA384", id="CBC-SHA384"),
    pytest.param(V.TLSv1_2, V.TLSv1_2, "ECDHE-ECDSA-NULL-SHA:@SECLEVEL=0", id="NULL"),
]


@pytest.mark.parametrize(("low", "high", "ciphers"), WEAK_CLIENTS)
def test_old_protocols_and_weak_ciphers_are_refused(
    https_server: TrentServer, low: ssl.TLSVersion, high: ssl.TLSVersion, ciphers: str
) -> None:
    context = client_context(https_server.ca_bundle, low, high, ciphers)
    tls_dir = https_server.data_dir / "tls"
    with permissive_server(tls_dir / "server.pem", tls_dir / "server.key") as control:
        handshake(control, context)  # the client can speak it...
    with pytest.raises(ssl.SSLError):
        handshake(https_server.port, context)  # ...and Trent will not


@pytest.mark.parametrize(
    ("low", "high", "ciphers", "expected"),
    [
        (V.TLSv1_2, V.TLSv1_3, None, {("TLSv1.3", "TLS_AES_256_GCM_SHA384")}),
        (V.TLSv1_2, V.TLSv1_2, None, {("TLSv1.2", c) for c in TLS12_CIPHERS.split(":")}),
        (V.TLSv1_2, V.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256", None),
        (V.TLSv1_2, V.TLSv1_2, "ECDHE-ECDSA-AES256-GCM-SHA384", None),
        (V.TLSv1_2, V.TLSv1_2, "ECDHE-ECDSA-CHACHA20-POLY1305", None),
    ],
)
def test_tls12_aead_and_tls13_are_served(
    https_server: TrentServer,
    low: ssl.TLSVersion,
    high: ssl.TLSVersion,
    ciphers: str | None,
    expected: set[tuple[str, str]] | None,
) -> None:
    version, cipher = handshake(
        https_server.port, client_context(https_server.ca_bundle, low, high, ciphers)
    )
    assert (version, cipher) in (expected or {("TLSv1.2", ciphers)})


def test_key_exchange_group_is_the_hybrid_where_openssl_has_it(https_server: TrentServer) -> None:
    """openssl s_client reports the group: X25519MLKEM768 when both OpenSSLs are 3.5+ (the
    server's is the one Python links), else X25519 (docs/security.md, "TLS")."""
    assert shutil.which("openssl"), "openssl is needed (apt-get install openssl)"
    client_version = subprocess.run(
        ["openssl", "version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.match(r"OpenSSL (\d+)\.(\d+)", client_version)
    assert match, client_version
    both = openssl_offers_hybrid_pq() and openssl_offers_hybrid_pq((int(match[1]), int(match[2])))
    result = subprocess.run(
        [
            *("openssl", "s_client", "-connect", f"127.0.0.1:{https_server.port}", "-tls1_3"),
            *("-CAfile", str(https_server.ca_bundle), "-verify_return_error", "-brief"),
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
    )
    output = result.stdout + result.stderr
    assert "Verification: OK" in output, output
    if both:
        assert f"group: {HYBRID_PQ_GROUP}" in output, output
    else:
        assert re.search(r"(Server Temp Key|Peer Temp Key|group): X25519\b", output), output


def test_plain_http_to_the_https_port_gets_no_answer(https_server: TrentServer) -> None:
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{https_server.port}/healthz", timeout=5)


# --- plain HTTP on a non-loopback address ---------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("192.0.2.7", False),
        ("fe80::1", False),
        ("::ffff:10.0.0.1", False),
        ("no-such-host.invalid", False),
    ],
)
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENT_")}
    return env | extra


@pytest.mark.parametrize("how", ["flag", "env"])
def test_plain_http_on_all_interfaces_is_refused(tmp_path: Path, how: str) -> None:
    data_dir = tmp_path / "data"
    port = str(free_port())
    if how == "flag":
        result = trent("serve", "--data-dir", str(data_dir), "--host", "0.0.0.0", "--port", port)
    else:
        env = clean_env(TRENT_DATA_DIR=str(data_dir), TRENT_HOST="0.0.0.0", TRENT_PORT=port)
        result = trent("serve", env=env)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback
    assert result.stderr.startswith("Error: refusing plain HTTP on non-loopback address 0.0.0.0"), (
        result.stderr
    )
    assert "--insecure-http" in result.stderr
    assert not data_dir.exists()  # refused before anything was written


def wait_healthy(
    url: str, process: subprocess.Popen[bytes], context: ssl.SSLContext | None
) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, f"trent serve exited with {process.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=1, context=context) as reply:
                assert reply.status == 200
                return
        except OSError:
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.1)


@contextlib.contextmanager
def serving(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*TRENT, "serve", "--workers", "1", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=clean_env(),
        )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        process.wait(timeout=20)


def test_insecure_http_allows_plain_http_on_all_interfaces(tmp_path: Path) -> None:
    port = free_port()
    args = ["--data-dir", str(tmp_path / "data"), "--host", "0.0.0.0", "--port", str(port)]
    with serving([*args, "--insecure-http"], tmp_path / "serve.log") as process:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", process, None)


def test_https_on_all_interfaces_with_explicit_cert_and_key(tmp_path: Path) -> None:
    """--tls-cert/--tls-key from anywhere (here: copied out of another data dir); the aws
    config then names the https endpoint but no ca_bundle (the operator's CA, not Trent's)."""
    made = tmp_path / "made"
    assert trent("admin", "make-tls-cert", "--data-dir", str(made)).returncode == 0
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    shutil.copy(made / "tls" / "server.pem", cert)
    shutil.copy(made / "tls" / "server.key", key)
    data_dir, port = tmp_path / "data", free_port()
    args = ["--data-dir", str(data_dir), "--host", "0.0.0.0", "--port", str(port)]
    args += ["--tls-cert", str(cert), "--tls-key", str(key)]
    with serving(args, tmp_path / "serve.log") as process:
        context = ssl.create_default_context(cafile=made / "tls" / "ca.pem")
        wait_healthy(f"https://127.0.0.1:{port}/healthz", process, context)
    config = (data_dir / "config").read_text()
    assert f"endpoint_url = https://127.0.0.1:{port}\n" in config
    assert "ca_bundle" not in config


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tls-cert", "{cert}"], "Error: --tls-cert and --tls-key must be given together"),
        (["--tls-key", "{key}"], "Error: --tls-cert and --tls-key must be given together"),
        (["--tls-cert", "{junk}", "--tls-key", "{key}"], "Error: cannot load TLS certificate"),
        (["--tls-cert", "{cert}", "--tls-key", "{junk}"], "Error: cannot load TLS certificate"),
    ],
)
def test_bad_tls_options_fail_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    made = tmp_path / "made"
    assert trent("admin", "make-tls-cert", "--data-dir", str(made)).returncode == 0
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    paths = {"cert": made / "tls" / "server.pem", "key": made / "tls" / "server.key", "junk": junk}
    filled = [arg.format(**paths) for arg in args]
    result = trent("serve", "--data-dir", str(tmp_path / "data"), *filled, env=clean_env())
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


# --- trent admin make-tls-cert --------------------------------------------------------------


def openssl_verify(tls_dir: Path, *checks: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *("openssl", "verify", "-CAfile", str(tls_dir / "ca.pem"), "-purpose", "sslserver"),
            *(*checks, str(tls_dir / "server.pem")),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_make_tls_cert_makes_a_ca_and_a_server_certificate(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    names = ["kms.example.test", "10.1.2.3", "2001:db8::7"]
    result = subprocess.run(
        ["sh", "-c", 'umask 000 && exec "$@"', "sh", *TRENT, "admin", "make-tls-cert"]
        + ["--data-dir", str(data_dir)]
        + [arg for name in names for arg in ("--name", name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    tls_dir = data_dir / "tls"
    assert sorted(p.name for p in tls_dir.iterdir()) == ["ca.pem", "server.key", "server.pem"]
    assert (tls_dir.stat().st_mode & 0o777, data_dir.stat().st_mode & 0o777) == (0o700, 0o700)
    for path in tls_dir.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path

    assert openssl_verify(tls_dir).stdout.strip().endswith(": OK")
    assert openssl_verify(tls_dir, "-verify_hostname", "kms.example.test").returncode == 0
    assert openssl_verify(tls_dir, "-verify_ip", "10.1.2.3").returncode == 0
    assert openssl_verify(tls_dir, "-verify_ip", "2001:db8::7").returncode == 0
    assert openssl_verify(tls_dir, "-verify_hostname", "other.example.test").returncode != 0
    assert openssl_verify(tls_dir, "-verify_ip", "10.1.2.4").returncode != 0

    ca = x509.load_pem_x509_certificate((tls_dir / "ca.pem").read_bytes())
    cert = x509.load_pem_x509_certificate((tls_dir / "server.pem").read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert (constraints.ca, constraints.path_length) == (True, 0)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    # The names given, then the loopback names the aws CLI profile uses, always included.
    assert sans.get_values_for_type(x509.DNSName) == ["kms.example.test", "localhost"]
    ips = [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    assert ips == [*names[1:], "127.0.0.1", "::1"]
    assert openssl_verify(tls_dir, "-verify_ip", "127.0.0.1").returncode == 0
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 365 <= lifetime.days <= 398
    key = serialization.load_pem_private_key((tls_dir / "server.key").read_bytes(), None)
    assert key.public_key() == cert.public_key()

    # Again: a new CA and certificate replace the old ones at the same paths.
    assert trent("admin", "make-tls-cert", "--data-dir", str(data_dir)).returncode == 0
    again = x509.load_pem_x509_certificate((tls_dir / "ca.pem").read_bytes())
    assert again.public_key() != ca.public_key()
    assert openssl_verify(tls_dir, "-verify_hostname", "localhost").returncode == 0
    assert openssl_verify(tls_dir, "-verify_ip", "127.0.0.1").returncode == 0


@pytest.mark.parametrize("name", ["bad name", "exa_mple.com", "-lead.example", "a..b", ""])
def test_make_tls_cert_refuses_a_bad_name(tmp_path: Path, name: str) -> None:
    result = trent("admin", "make-tls-cert", "--data-dir", str(tmp_path / "d"), "--name", name)
    assert result.returncode == 2
    assert "Invalid value for --name" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "d" / "tls").exists()


@pytest.mark.parametrize(
    ("version", "hybrid"),
    [((3, 0, 19), False), ((3, 4, 1), False), ((3, 5, 0), True), ((3, 6, 1), True), ((4, 0), True)],
)
def test_hybrid_group_needs_openssl_3_5(version: tuple[int, ...], hybrid: bool) -> None:
    assert openssl_offers_hybrid_pq(version) is hybrid
