"""Settings: from command-line flags, else ``TRENT_*`` environment variables, else defaults.

The CLI resolves them once and hands them to worker processes through the environment, so
``trent.app.create_app`` (the factory every worker calls) sees exactly what ``serve`` saw.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from trent.protocol.limits import DEFAULT_REQUEST_TIMEOUT
from trent.tls import TLSFiles

DEFAULT_DATA_DIR = "./trent-data"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_REGION = "us-east-1"
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_ACCOUNT = re.compile(r"^\d{12}$")


class ConfigError(ValueError):
    """A setting has a value Trent cannot run with."""


def is_loopback(host: str) -> bool:
    """True when ``host`` can only be reached from this machine: an address in 127.0.0.0/8 or
    ``::1`` (IPv4-mapped too), or a name all of whose addresses are. ``0.0.0.0``/``::`` (every
    interface) and any other address are not; nor is a name that does not resolve."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return False
        return bool(infos) and all(is_loopback(str(info[4][0])) for info in infos)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 1
    region: str = DEFAULT_REGION
    account_id: str | None = None  # used only when the data directory is first created
    root_key_file: Path | None = None
    test_clock: bool = False  # tests only; see trent.clock
    scheduler_interval: float = 5.0
    audit_max_bytes: int = 256 * 1024 * 1024
    tls_cert: Path | None = None  # PEM certificate chain; with tls_key, the server speaks HTTPS
    tls_key: Path | None = None
    insecure_http: bool = False  # allow plain HTTP on a non-loopback address
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT  # seconds for a request to arrive whole
    max_connections: int | None = None  # per worker; None: RLIMIT_NOFILE less a reserve

    def __post_init__(self) -> None:
        if not _REGION.match(self.region):
            raise ConfigError(f"region {self.region!r} is not an AWS region name")
        if self.account_id is not None and not _ACCOUNT.match(self.account_id):
            raise ConfigError("account id must be 12 digits")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is out of range")
        if self.workers < 1:
            raise ConfigError("workers must be at least 1")
        if self.audit_max_bytes < 4096:
            raise ConfigError("audit max bytes must be at least 4096")
        if self.scheduler_interval <= 0:
            raise ConfigError("scheduler interval must be positive")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("--tls-cert and --tls-key must be given together")
        if not self.tls and not self.insecure_http and not is_loopback(self.host):
            raise ConfigError(
                f"refusing plain HTTP on non-loopback address {self.host}: serve HTTPS with "
                "--tls-cert/--tls-key (or `trent admin make-tls-cert`), or pass --insecure-http"
            )

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None
        if not 0 < self.request_timeout <= 300:
            raise ConfigError("request timeout must be more than 0 and at most 300 seconds")
        if self.max_connections is not None and self.max_connections < 1:
            raise ConfigError("max connections must be at least 1")

    @property
    def database(self) -> Path:
        return self.data_dir / "trent.db"

    @property
    def root_key_path(self) -> Path:
        return self.root_key_file or self.data_dir / "root.key"

    @property
    def audit_dir(self) -> Path:
        return self.data_dir / "audit"

    @property
    def ca_bundle(self) -> Path | None:
        """The CA clients need (``DATA_DIR/tls/ca.pem``) when serving the certificate that
        ``trent admin make-tls-cert`` made; None otherwise (plain HTTP, or a certificate of
        the operator's own, which clients trust by their own means)."""
        files = TLSFiles.in_data_dir(self.data_dir)
        if self.tls_cert is not None and self.tls_cert == files.cert and files.ca.is_file():
            return files.ca
        return None

    @property
    def endpoint_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def to_environ(self) -> dict[str, str]:
        env = {
            "TRENT_DATA_DIR": str(self.data_dir),
            "TRENT_HOST": self.host,
            "TRENT_PORT": str(self.port),
            "TRENT_WORKERS": str(self.workers),
            "TRENT_REGION": self.region,
            "TRENT_TEST_CLOCK": "1" if self.test_clock else "",
            "TRENT_SCHEDULER_INTERVAL": repr(self.scheduler_interval),
            "TRENT_AUDIT_MAX_BYTES": str(self.audit_max_bytes),
            "TRENT_REQUEST_TIMEOUT": repr(self.request_timeout),
        }
        if self.max_connections is not None:
            env["TRENT_MAX_CONNECTIONS"] = str(self.max_connections)
        if self.account_id:
            env["TRENT_ACCOUNT_ID"] = self.account_id
        if self.root_key_file:
            env["TRENT_ROOT_KEY_FILE"] = str(self.root_key_file)
        if self.tls_cert and self.tls_key:
            env["TRENT_TLS_CERT"], env["TRENT_TLS_KEY"] = str(self.tls_cert), str(self.tls_key)
        if self.insecure_http:
            env["TRENT_INSECURE_HTTP"] = "1"
        return env

    @classmethod
    def from_environ(cls) -> Settings:
        env = os.environ
        root_key = env.get("TRENT_ROOT_KEY_FILE")
        tls_cert, tls_key = env.get("TRENT_TLS_CERT"), env.get("TRENT_TLS_KEY")
        return cls(
            data_dir=Path(env.get("TRENT_DATA_DIR", DEFAULT_DATA_DIR)).resolve(),
            host=env.get("TRENT_HOST", DEFAULT_HOST),
            port=int(env.get("TRENT_PORT", DEFAULT_PORT)),
            workers=int(env.get("TRENT_WORKERS", 1)),
            region=env.get("TRENT_REGION", DEFAULT_REGION),
            account_id=env.get("TRENT_ACCOUNT_ID"),
            root_key_file=Path(root_key) if root_key else None,
            test_clock=env.get("TRENT_TEST_CLOCK") == "1",
            scheduler_interval=float(env.get("TRENT_SCHEDULER_INTERVAL") or 5.0),
            audit_max_bytes=int(env.get("TRENT_AUDIT_MAX_BYTES") or 256 * 1024 * 1024),
            tls_cert=Path(tls_cert) if tls_cert else None,
            tls_key=Path(tls_key) if tls_key else None,
            insecure_http=env.get("TRENT_INSECURE_HTTP", "") not in ("", "0"),
            request_timeout=float(env.get("TRENT_REQUEST_TIMEOUT") or DEFAULT_REQUEST_TIMEOUT),
            max_connections=int(env["TRENT_MAX_CONNECTIONS"])
            if env.get("TRENT_MAX_CONNECTIONS")
            else None,
        )
