"""Settings: from command-line flags, else ``TRENT_*`` environment variables, else defaults.

The CLI resolves them once and hands them to worker processes through the environment, so
``trent.app.create_app`` (the factory every worker calls) sees exactly what ``serve`` saw.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trent.protocol.limits import DEFAULT_REQUEST_TIMEOUT
from trent.tls import TLSFiles

DEFAULT_DATA_DIR = "./trent-data"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_REGION = "us-east-1"
SEALS = ("file", "pkcs11")
DEFAULT_PKCS11_KEY_LABEL = "trent-root"
# prometheus_client's multiprocess directory; ``trent serve`` makes a fresh one at every start.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_ACCOUNT = re.compile(r"^\d{12}$")


class ConfigError(ValueError):
    """Settings Trent cannot run with: ``problems`` one sentence each; ``str()`` one a line."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


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
    region: str = DEFAULT_REGION  # the home region (a new data directory's; the aws profile's)
    # further regions served besides the home one (``--region a --region b``, TRENT_REGION=a,b)
    regions: tuple[str, ...] = ()
    account_id: str | None = None  # used only when the data directory is first created
    root_key_file: Path | None = None
    test_clock: bool = False  # tests only; see trent.clock
    scheduler_interval: float = 5.0
    audit_max_bytes: int = 256 * 1024 * 1024
    tls_cert: Path | None = None  # PEM certificate chain; with tls_key, the server speaks HTTPS
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # PEM CA(s): clients must present a certificate they signed
    # PEM CA(s) trusted besides the system's for external key store proxies (https://)
    xks_proxy_ca_bundle: Path | None = None
    insecure_http: bool = False  # allow plain HTTP on a non-loopback address
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT  # seconds for a request to arrive whole
    max_connections: int | None = None  # per worker; None: RLIMIT_NOFILE less a reserve
    seal: str = "file"  # what guards the root keyring: "file" (root_key_path) or "pkcs11"
    pkcs11_module: Path | None = None  # the PKCS#11 library (.so)
    pkcs11_token_label: str | None = None
    pkcs11_pin_file: Path | None = None  # a file holding the token's user PIN
    pkcs11_key_label: str = DEFAULT_PKCS11_KEY_LABEL
    metrics_allow: tuple[str, ...] = ()  # CIDR blocks that may scrape /metrics (and loopback)
    # PostgreSQL (several nodes, issue 11): postgresql://USER[:PASSWORD]@HOST:PORT/DB; None:
    # SQLite in the data directory. Never logged with its password (``redact_url``).
    database_url: str | None = None

    def __post_init__(self) -> None:
        found = self.problems()
        if found:
            raise ConfigError(*found)

    def problems(self) -> list[str]:
        """Every reason Trent cannot run with these settings (bad values and conflicting
        ones), one sentence each naming the setting; empty when it can."""
        found: list[str] = []
        for region in (self.region, *self.regions):
            if not _REGION.match(region):
                found.append(f"region {region!r} is not an AWS region name")
        if self.account_id is not None and not _ACCOUNT.match(self.account_id):
            found.append("account id must be 12 digits")
        if not 1 <= self.port <= 65535:
            found.append(f"port {self.port} is out of range")
        if self.workers < 1:
            found.append("workers must be at least 1")
        if self.audit_max_bytes < 4096:
            found.append("audit max bytes must be at least 4096")
        if self.scheduler_interval <= 0:
            found.append("scheduler interval must be positive")
        if (self.tls_cert is None) != (self.tls_key is None):
            found.append("--tls-cert and --tls-key must be given together")
        elif not self.tls and not self.insecure_http and not is_loopback(self.host):
            found.append(
                f"refusing plain HTTP on non-loopback address {self.host}: serve HTTPS with "
                "--tls-cert/--tls-key (or `trent admin make-tls-cert`), or pass --insecure-http"
            )
        if self.tls_client_ca is not None and self.tls_cert is None:
            found.append("--tls-client-ca needs HTTPS (--tls-cert and --tls-key)")
        if self.xks_proxy_ca_bundle is not None and not self.xks_proxy_ca_bundle.is_file():
            found.append(f"--xks-proxy-ca-bundle {self.xks_proxy_ca_bundle} is not a file")
        if not 0 < self.request_timeout <= 300:
            found.append("request timeout must be more than 0 and at most 300 seconds")
        if self.max_connections is not None and self.max_connections < 1:
            found.append("max connections must be at least 1")
        for network in self.metrics_allow:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                found.append(f"metrics allow {network!r} is not an IP network (CIDR)")
        found.extend(self._seal_problems())
        if self.database_url is not None and not self.database_url.startswith(
            ("postgresql://", "postgres://")
        ):
            # not echoed: a libpq keyword string could hold a password in any form
            found.append(
                "database url must be a PostgreSQL URI: postgresql://USER[:PASSWORD]@HOST:PORT/DB"
            )
        return found

    def _seal_problems(self) -> list[str]:
        if self.seal not in SEALS:
            return [f"seal must be one of {', '.join(SEALS)}, not {self.seal!r}"]
        found = []
        if self.seal == "pkcs11":
            missing = [
                flag
                for flag, value in (
                    ("--pkcs11-module", self.pkcs11_module),
                    ("--pkcs11-token-label", self.pkcs11_token_label),
                    ("--pkcs11-pin-file", self.pkcs11_pin_file),
                )
                if not value
            ]
            if missing:
                found.append(f"--seal pkcs11 needs {', '.join(missing)}")
            if self.root_key_file is not None:
                found.append("--root-key-file belongs to the file seal, not --seal pkcs11")
        return found

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def database(self) -> Path:
        """The SQLite file (unused when ``database_url`` names PostgreSQL)."""
        return self.data_dir / "trent.db"

    @property
    def data_name(self) -> str:
        """Where the data is, for messages: the data directory, or the PostgreSQL database's
        URL without its password."""
        return redact_url(self.database_url) if self.database_url else str(self.data_dir)

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
    def served_regions(self) -> tuple[str, ...]:
        """Every region served, the home region first, each once."""
        return tuple(dict.fromkeys((self.region, *self.regions)))

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
            "TRENT_REGION": ",".join(self.served_regions),
            "TRENT_TEST_CLOCK": "1" if self.test_clock else "",
            "TRENT_SCHEDULER_INTERVAL": repr(self.scheduler_interval),
            "TRENT_AUDIT_MAX_BYTES": str(self.audit_max_bytes),
            "TRENT_REQUEST_TIMEOUT": repr(self.request_timeout),
        }
        if self.metrics_allow:
            env["TRENT_METRICS_ALLOW"] = " ".join(self.metrics_allow)
        if self.max_connections is not None:
            env["TRENT_MAX_CONNECTIONS"] = str(self.max_connections)
        if self.account_id:
            env["TRENT_ACCOUNT_ID"] = self.account_id
        if self.root_key_file:
            env["TRENT_ROOT_KEY_FILE"] = str(self.root_key_file)
        if self.tls_cert and self.tls_key:
            env["TRENT_TLS_CERT"], env["TRENT_TLS_KEY"] = str(self.tls_cert), str(self.tls_key)
        if self.tls_client_ca:
            env["TRENT_TLS_CLIENT_CA"] = str(self.tls_client_ca)
        if self.xks_proxy_ca_bundle:
            env["TRENT_XKS_PROXY_CA_BUNDLE"] = str(self.xks_proxy_ca_bundle)
        if self.insecure_http:
            env["TRENT_INSECURE_HTTP"] = "1"
        env["TRENT_SEAL"] = self.seal
        if self.database_url:
            env["TRENT_DATABASE_URL"] = self.database_url
        if self.seal == "pkcs11":
            env["TRENT_PKCS11_MODULE"] = str(self.pkcs11_module)
            env["TRENT_PKCS11_TOKEN_LABEL"] = str(self.pkcs11_token_label)
            env["TRENT_PKCS11_PIN_FILE"] = str(self.pkcs11_pin_file)
            env["TRENT_PKCS11_KEY_LABEL"] = self.pkcs11_key_label
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
            **_regions(env.get("TRENT_REGION") or DEFAULT_REGION),
            account_id=env.get("TRENT_ACCOUNT_ID"),
            root_key_file=Path(root_key) if root_key else None,
            test_clock=env.get("TRENT_TEST_CLOCK") == "1",
            scheduler_interval=float(env.get("TRENT_SCHEDULER_INTERVAL") or 5.0),
            audit_max_bytes=int(env.get("TRENT_AUDIT_MAX_BYTES") or 256 * 1024 * 1024),
            tls_cert=Path(tls_cert) if tls_cert else None,
            tls_key=Path(tls_key) if tls_key else None,
            tls_client_ca=_path(env.get("TRENT_TLS_CLIENT_CA")),
            xks_proxy_ca_bundle=_path(env.get("TRENT_XKS_PROXY_CA_BUNDLE")),
            insecure_http=env.get("TRENT_INSECURE_HTTP", "") not in ("", "0"),
            request_timeout=float(env.get("TRENT_REQUEST_TIMEOUT") or DEFAULT_REQUEST_TIMEOUT),
            max_connections=int(env["TRENT_MAX_CONNECTIONS"])
            if env.get("TRENT_MAX_CONNECTIONS")
            else None,
            seal=env.get("TRENT_SEAL") or "file",
            pkcs11_module=_path(env.get("TRENT_PKCS11_MODULE")),
            pkcs11_token_label=env.get("TRENT_PKCS11_TOKEN_LABEL") or None,
            pkcs11_pin_file=_path(env.get("TRENT_PKCS11_PIN_FILE")),
            pkcs11_key_label=env.get("TRENT_PKCS11_KEY_LABEL") or DEFAULT_PKCS11_KEY_LABEL,
            metrics_allow=tuple(env.get("TRENT_METRICS_ALLOW", "").split()),
            database_url=env.get("TRENT_DATABASE_URL") or None,
        )


def split_regions(values: Iterable[str]) -> list[str]:
    """Region names from repeated ``--region`` values, each possibly ``a,b`` (TRENT_REGION)."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _regions(value: str) -> dict[str, Any]:
    """``region`` (the first) and ``regions`` (the rest) from ``a,b``."""
    names = split_regions([value]) or [DEFAULT_REGION]
    return {"region": names[0], "regions": tuple(names[1:])}


def redact_url(url: str) -> str:
    """A database URL with its password, if any, replaced by ``***``."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "(unparsable url)"
    if password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.netloc.rsplit('@', 1)[1]}"
    return urlunsplit(parts._replace(netloc=netloc))


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


CONFIG_ENV = "TRENT_CONFIG"
# repeatable settings a config file may also give as one value (``region``: files from before
# several regions were served)
SINGLE_OR_LIST = frozenset({"region"})


@dataclass(frozen=True)
class Option:
    """What a config file may say for one ``trent serve`` setting: its key (the flag's name
    with ``_`` for ``-``: ``data_dir``), and the TOML type it takes."""

    name: str
    kind: type  # str, int, float or bool
    many: bool = False  # a list of ``kind`` (a repeatable flag)
    path: bool = False  # a path: relative ones are taken from the config file's directory


def read_config_file(path: Path, options: dict[str, Option]) -> dict[str, object]:
    """The settings a TOML file gives (``load_config_file``); ConfigError listing every
    problem, one a line, each starting with the file's name."""
    values, problems = load_config_file(path, options)
    if problems:
        lines = [f"{path}: {problem}" for problem in problems]
        if any(problem.startswith(UNKNOWN) for problem in problems):
            lines.append(settings_hint(options))
        raise ConfigError(*lines)
    return values


UNKNOWN = "unknown setting "


def settings_hint(options: dict[str, Option]) -> str:
    """The line that follows a file's problems when one is an unknown setting."""
    return f"(the settings are: {', '.join(sorted(options))})"


def load_config_file(path: Path, options: dict[str, Option]) -> tuple[dict[str, object], list[str]]:
    """The settings a TOML file gives, checked against ``options``: one flat table of
    ``key = value``. Returns the values that fit (relative paths taken from the file's
    directory) and a problem for every unknown key and every value of the wrong type (or the
    one problem of a file that cannot be read, or is not TOML: line and column from tomllib)."""
    import tomllib

    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        return {}, [f"cannot read: {exc.strerror}"]
    except tomllib.TOMLDecodeError as exc:
        return {}, [f"not valid TOML: {exc}"]
    problems: list[str] = []
    values: dict[str, object] = {}
    for key, value in document.items():
        option = options.get(key)
        if option is None:
            problems.append(f"{UNKNOWN}{key!r}")
            continue
        wrong = _wrong_type(option, value)
        if wrong:
            problems.append(f"{key}: {wrong}")
            continue
        if option.many and not isinstance(value, list):  # SINGLE_OR_LIST
            value = [value]
        if option.path:
            value = str(path.resolve().parent / value)  # an absolute value stays as it is
        values[key] = value
    return values, problems


_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _wrong_type(option: Option, value: object) -> str | None:
    """Why ``value`` does not fit ``option``, or None."""

    def fits(item: object) -> bool:
        if option.kind is float:
            return isinstance(item, int | float) and not isinstance(item, bool)
        if option.kind is int:
            return isinstance(item, int) and not isinstance(item, bool)
        return isinstance(item, option.kind)

    expected = _KIND_NAMES[option.kind]
    if option.many:
        if option.name in SINGLE_OR_LIST and fits(value):  # ``region = "us-east-1"`` too
            return None
        if not isinstance(value, list) or not all(fits(item) for item in value):
            return f"must be a list of {expected.split(' ', 1)[1]}s, not {value!r}"
        return None
    return None if fits(value) else f"must be {expected}, not {value!r}"
