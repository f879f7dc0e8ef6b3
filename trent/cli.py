"""The command line: ``trent serve`` (the default), ``trent admin ...``, ``trent audit ...``,
``trent pki ...`` and ``trent jwt ...`` (trent.pki.cli)."""

from __future__ import annotations

import functools
import heapq
import itertools
import os
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
import orjson

from trent.audit.chain import (
    anchor_name,
    load_public_key_pem,
    public_key_pem,
    stored_anchor,
    stored_public_key,
)
from trent.audit.log import restore_trail
from trent.audit.reader import (
    Query,
    format_top_keys,
    parse_since,
    parse_time,
    read_records,
    top_keys,
)
from trent.audit.verify import Report, verify_trail
from trent.backup import backup as backup_database
from trent.backup import restore as restore_database
from trent.bootstrap import (
    PRIVATE_UMASK,
    PROFILE,
    DataDir,
    create_access_key,
    create_account,
    has_database,
    initialize,
    migrate_seal,
    node_name,
    open_database,
    open_store,
    random_id,
    rotate_root_key,
)
from trent.clock import SystemClock, require_test_data_dir
from trent.clock import advance as clock_advance
from trent.config import (
    CONFIG_ENV,
    DEFAULT_DATA_DIR,
    DEFAULT_HOST,
    DEFAULT_PKCS11_KEY_LABEL,
    DEFAULT_PORT,
    DEFAULT_REGION,
    MULTIPROC_ENV,
    SEALS,
    UNKNOWN,
    ConfigError,
    Option,
    Settings,
    load_config_file,
    redact_url,
    settings_hint,
    split_regions,
)
from trent.logs import log_config
from trent.pki.cli import jwt as jwt_group
from trent.pki.cli import pki as pki_group
from trent.processes import running
from trent.protocol.http import protocol_factory
from trent.protocol.limits import CONNECTION_FD_RESERVE, DEFAULT_REQUEST_TIMEOUT, HttpLimits
from trent.seal import Barrier
from trent.seal.reseal import DEFAULT_BATCH, Progress, count_stale, reseal
from trent.store import SQLiteStore
from trent.store.records import UserRow
from trent.tls import (
    DEFAULT_NAMES,
    TLSConfigError,
    TLSFiles,
    describe_policy,
    make_tls_files,
    server_context,
    uvicorn_context_factory,
)
from trent.xks import credentials as xks_credentials


@click.group(invoke_without_command=True)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Trent: a key management service that speaks the AWS KMS API."""
    if ctx.invoked_subcommand is None:  # as `trent serve`: its variables and TRENT_CONFIG too
        with serve.make_context("serve", [], parent=ctx) as serve_ctx:
            serve.invoke(serve_ctx)


data_dir_option = click.option(
    "--data-dir",
    envvar="TRENT_DATA_DIR",
    default=DEFAULT_DATA_DIR,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the database, the root key and the credentials live.",
)


root_key_file_option = click.option(
    "--root-key-file",
    envvar="TRENT_ROOT_KEY_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file seal's root key [default: DATA_DIR/root.key].",
)
seal_option = click.option(
    "--seal",
    envvar="TRENT_SEAL",
    type=click.Choice(SEALS),
    default="file",
    show_default=True,
    help="What guards the root keyring: a root key file, or a key in a PKCS#11 token (an HSM).",
)
pkcs11_module_option = click.option(
    "--pkcs11-module",
    envvar="TRENT_PKCS11_MODULE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --seal pkcs11: the token's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so.",
)
pkcs11_token_label_option = click.option(
    "--pkcs11-token-label",
    envvar="TRENT_PKCS11_TOKEN_LABEL",
    help="With --seal pkcs11: the label of the token that holds the key.",
)
pkcs11_pin_file_option = click.option(
    "--pkcs11-pin-file",
    envvar="TRENT_PKCS11_PIN_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --seal pkcs11: a file holding the token's user PIN.",
)
pkcs11_key_label_option = click.option(
    "--pkcs11-key-label",
    envvar="TRENT_PKCS11_KEY_LABEL",
    default=DEFAULT_PKCS11_KEY_LABEL,
    show_default=True,
    help="With --seal pkcs11: the label of the AES-256 key (made on first start if missing).",
)
database_url_option = click.option(
    "--database-url",
    envvar="TRENT_DATABASE_URL",
    help="PostgreSQL for several nodes: postgresql://USER[:PASSWORD]@HOST:PORT/DB "
    "[default: SQLite in DATA_DIR].",
)
SEAL_OPTIONS = (
    database_url_option,
    root_key_file_option,
    seal_option,
    pkcs11_module_option,
    pkcs11_token_label_option,
    pkcs11_pin_file_option,
    pkcs11_key_label_option,
)
_SEAL_PARAMS = (
    "database_url",
    "root_key_file",
    "seal",
    "pkcs11_module",
    "pkcs11_token_label",
    "pkcs11_pin_file",
    "pkcs11_key_label",
)


def seal_settings(options: dict[str, Any]) -> dict[str, Any]:
    """The seal's ``Settings`` fields from the seal options (paths made absolute)."""
    settings = {name: options[name] for name in _SEAL_PARAMS}
    for name in ("root_key_file", "pkcs11_module", "pkcs11_pin_file"):
        if settings[name] is not None:
            settings[name] = settings[name].resolve()
    return settings


def seal_options(command: Any) -> Any:
    """Add the seal options to an admin command, which receives them as ``seal: dict``."""

    @functools.wraps(command)  # keeps the options declared below this decorator
    def collect(**kwargs: Any) -> Any:
        options = {name: kwargs.pop(name) for name in _SEAL_PARAMS}
        return command(seal=seal_settings(options), **kwargs)

    for option in reversed(SEAL_OPTIONS):
        collect = option(collect)
    return collect


def _file_options(command: click.Command) -> dict[str, Option]:
    """What a config file may set: every option of ``command`` but --config, by its name."""
    options = {}
    for param in command.params:
        if not isinstance(param, click.Option) or param.name in (None, "config"):
            continue
        kind: type = str
        if param.is_flag:
            kind = bool
        elif isinstance(param.type, click.types.IntParamType):
            kind = int
        elif isinstance(param.type, click.types.FloatParamType):
            kind = float
        path = isinstance(param.type, click.Path)
        options[param.name] = Option(param.name, kind, many=param.multiple, path=path)
    return options


_CONFIG_PROBLEMS = "trent.config_problems"  # ctx.meta: what is wrong in the --config file
_CONFIG_VALUES = "trent.config_values"  # ctx.meta: the settings it gave that fit
_CONFIG_HINT = "trent.config_hint"  # ctx.meta: the known settings, when one was unknown


def _load_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """--config's callback (eager, so before the other options): the file's settings become
    the defaults, under the flags and TRENT_* variables (click's ``default_map``). A setting
    the file gets wrong (unknown, of the wrong type, a value the option refuses) is left out
    and noted in ``ctx.meta`` so that ``serve`` names every problem at once
    (``_checked_settings``)."""
    if value is None or ctx.resilient_parsing:
        return value
    options = _file_options(ctx.command)
    values, problems = load_config_file(value, options)
    params = {p.name: p for p in ctx.command.params if p.name}
    for name, given in list(values.items()):
        try:
            params[name].type_cast_value(ctx, given)
        except click.BadParameter as exc:
            problems.append(f"{name}: {exc.message}")
            del values[name]
    ctx.meta[_CONFIG_PROBLEMS] = [f"{value}: {problem}" for problem in problems]
    if any(problem.startswith(UNKNOWN) for problem in problems):
        ctx.meta[_CONFIG_HINT] = settings_hint(options)
    ctx.meta[_CONFIG_VALUES] = values
    ctx.default_map = {**(ctx.default_map or {}), **values}
    return value


def _checked_settings(ctx: click.Context, params: dict[str, Any]) -> Settings:
    """``settings_from_params``, refusing with every problem at once, one a line: the config
    file's (``UsageError`` naming --config, exit 2) and the settings' own (bad values,
    conflicting settings: ``ClickException``, exit 1)."""
    in_file = list(ctx.meta.get(_CONFIG_PROBLEMS, []))
    try:
        settings = settings_from_params(params)
    except click.ClickException as exc:
        if not in_file:
            raise
        in_file.extend(exc.message.splitlines())
    if in_file:
        in_file.extend([ctx.meta[_CONFIG_HINT]] if _CONFIG_HINT in ctx.meta else [])
        raise click.BadParameter("\n".join(in_file), ctx=ctx, param_hint="'--config'")
    return settings


config_option = click.option(
    "--config",
    envvar=CONFIG_ENV,
    is_eager=True,
    expose_value=True,
    callback=_load_config,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A TOML file of settings (keys as the flags, with _: data_dir = ...); flags and "
    "TRENT_* variables override it.",
)


@cli.command()
@config_option
@data_dir_option
@click.option("--host", envvar="TRENT_HOST", default=DEFAULT_HOST, show_default=True)
@click.option("--port", envvar="TRENT_PORT", default=DEFAULT_PORT, show_default=True, type=int)
@click.option(
    "--workers",
    envvar="TRENT_WORKERS",
    default=lambda: os.cpu_count() or 1,
    type=int,
    help="Worker processes [default: number of cores].",
)
@click.option(
    "--region",
    envvar="TRENT_REGION",
    multiple=True,
    default=[DEFAULT_REGION],
    show_default=True,
    help="A region to serve; repeat for more (TRENT_REGION: comma-separated). The first is the "
    "home region of a new data dir, written into the aws profile.",
)
@click.option(
    "--account-id", envvar="TRENT_ACCOUNT_ID", help="12-digit account id for a new data dir."
)
@database_url_option
@root_key_file_option
@seal_option
@pkcs11_module_option
@pkcs11_token_label_option
@pkcs11_pin_file_option
@pkcs11_key_label_option
@click.option(
    "--scheduler-interval",
    envvar="TRENT_SCHEDULER_INTERVAL",
    default=5.0,
    show_default=True,
    type=float,
    help="Seconds between scheduler runs (rotations and deletions that fell due).",
)
@click.option(
    "--audit-max-bytes",
    envvar="TRENT_AUDIT_MAX_BYTES",
    default=256 * 1024 * 1024,
    show_default=True,
    type=int,
    help="Size at which the audit log is rotated.",
)
@click.option(
    "--tls-cert",
    envvar="TRENT_TLS_CERT",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM certificate (chain) to serve HTTPS with [default: DATA_DIR/tls/server.pem "
    "when present, from `trent admin make-tls-cert`].",
)
@click.option(
    "--tls-key",
    envvar="TRENT_TLS_KEY",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The certificate's PEM private key [default: DATA_DIR/tls/server.key when present].",
)
@click.option(
    "--tls-client-ca",
    envvar="TRENT_TLS_CLIENT_CA",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Mutual TLS: PEM CA certificate(s); every client must present a certificate they "
    "signed (needs HTTPS).",
)
@click.option(
    "--xks-proxy-ca-bundle",
    envvar="TRENT_XKS_PROXY_CA_BUNDLE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM CA certificate(s) trusted, besides the system's, for the https:// proxies of "
    "external key stores (a proxy with a private CA; AWS KMS requires a public one).",
)
@click.option(
    "--insecure-http",
    envvar="TRENT_INSECURE_HTTP",
    is_flag=True,
    help="Allow plain HTTP on a non-loopback address (secrets then cross the network in clear).",
)
@click.option(
    "--request-timeout",
    envvar="TRENT_REQUEST_TIMEOUT",
    default=DEFAULT_REQUEST_TIMEOUT,
    show_default=True,
    type=float,
    help="Seconds a request may take to arrive whole (headers and body); a slower one is "
    "answered 408 and its connection closed.",
)
@click.option(
    "--max-connections",
    envvar="TRENT_MAX_CONNECTIONS",
    type=int,
    help="Open connections per worker; over it, the connection that has waited longest for a "
    f"request is closed [default: the file-descriptor limit less {CONNECTION_FD_RESERVE}].",
)
@click.option(
    "--metrics-allow",
    envvar="TRENT_METRICS_ALLOW",
    multiple=True,
    metavar="CIDR",
    help="A network that may read GET /metrics, besides loopback; repeat for more "
    "(TRENT_METRICS_ALLOW: space-separated).",
)
@click.option(
    "--test-clock",
    is_flag=True,
    help="TESTS ONLY: let `trent admin advance-clock` move time. Refused unless the data "
    "directory was created with `trent admin create-data-dir --for-tests`.",
)
def serve(config: Path | None, **params: Any) -> None:
    """Start the server (creating the data directory on first start).

    Settings come from the flags, else their TRENT_* variables, else the --config file
    (TRENT_CONFIG), else the defaults. A bad file, or settings Trent cannot run with, are
    refused before anything starts, naming every problem, one a line."""
    settings = _checked_settings(click.get_current_context(), params)
    test_clock = settings.test_clock
    _check_port_free(settings.host, settings.port)  # before the aws CLI config names the port
    try:
        data = initialize(settings, SystemClock())
    except ConfigError as exc:  # one line, e.g. a missing or different root key
        raise click.ClickException(str(exc)) from exc
    except sqlite3.DatabaseError as exc:  # e.g. "file is not a database"
        raise click.ClickException(f"cannot open {settings.database}: {exc}") from None
    if test_clock:
        _check_test_data_dir(settings)
    os.environ.update(settings.to_environ())
    metrics_dir = _fresh_metrics_dir()
    os.environ[MULTIPROC_ENV] = str(metrics_dir)
    for line in banner(settings.endpoint_url, data, settings.served_regions):
        click.echo(line)
    if settings.tls:
        click.echo(describe_policy())
    if settings.ca_bundle:
        click.echo(f"export AWS_CA_BUNDLE={settings.ca_bundle}  # SDKs that read no ca_bundle")
    _remove_on_exit(metrics_dir)
    try:
        _run_uvicorn(settings)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _check_port_free(host: str, port: int) -> None:
    """Refuse at once, with one line and nothing written, when ``host:port`` cannot be bound
    (another server has it): otherwise the data directory's aws CLI config would be pointed at
    a port this server never serves. uvicorn binds again for real just after."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            sock.bind(address)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None


def _remove_on_exit(directory: Path) -> None:
    """Remove ``directory`` when SIGTERM or SIGINT ends serve too: uvicorn, once it has shut
    down, re-raises the signal it caught to the handler installed before it, which is this."""

    def remove_then_die(signum: int, frame: object) -> None:
        shutil.rmtree(directory, ignore_errors=True)
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, remove_then_die)


def _run_uvicorn(settings: Settings) -> None:
    """uvicorn serving ``trent.app:create_app``: in this process with one worker; with more,
    under ``trent.supervisor`` (one ``SO_REUSEPORT`` socket per worker) where the kernel
    balances such sockets, else under uvicorn's own supervisor."""
    import uvicorn

    from trent import supervisor

    options: dict[str, Any] = {
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "loop": "uvloop",
        "http": protocol_factory(HttpLimits(settings.request_timeout, settings.max_connections)),
        "ws": "none",
        "access_log": False,
        # sourceIPAddress and aws:SourceIp are the TCP peer's: uvicorn would otherwise believe
        # any loopback client's X-Forwarded-For (an unsigned header)
        "proxy_headers": False,
        "log_config": log_config("INFO"),
        "timeout_graceful_shutdown": 10,
        **_ssl_options(settings),
    }
    if settings.workers > 1 and supervisor.available():
        try:
            status = supervisor.run(uvicorn.Config("trent.app:create_app", **options))
        except (supervisor.PortTaken, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise click.ClickException(
                f"cannot listen on {settings.host}:{settings.port}: {reason}"
            ) from None
        if status:
            sys.exit(status)
        return
    uvicorn.run("trent.app:create_app", **options)


def settings_from_params(params: dict[str, Any]) -> Settings:
    """``serve``'s Settings from its resolved parameters: paths made absolute, the certificate
    of ``trent admin make-tls-cert`` used when no other is given; checked (ClickException with
    one line when a setting is refused, TLS files included)."""
    data_dir = Path(params["data_dir"]).resolve()
    tls_cert, tls_key = params["tls_cert"], params["tls_key"]
    client_ca = params.get("tls_client_ca")
    proxy_ca = params.get("xks_proxy_ca_bundle")
    made = TLSFiles.in_data_dir(data_dir)
    if tls_cert is None and tls_key is None and made.present():
        tls_cert, tls_key = made.cert, made.key
    seal = {name: params[name] for name in _SEAL_PARAMS}
    for name in ("root_key_file", "pkcs11_module", "pkcs11_pin_file"):
        if seal[name] is not None:
            seal[name] = Path(seal[name])
    try:
        return _serve_settings(
            data_dir=data_dir,
            host=params["host"],
            port=params["port"],
            workers=params["workers"],
            **_region_settings(params["region"]),
            account_id=params["account_id"],
            **seal_settings(seal),
            test_clock=params["test_clock"],
            scheduler_interval=params["scheduler_interval"],
            audit_max_bytes=params["audit_max_bytes"],
            tls_cert=Path(tls_cert).resolve() if tls_cert else None,
            tls_key=Path(tls_key).resolve() if tls_key else None,
            tls_client_ca=Path(client_ca).resolve() if client_ca else None,
            xks_proxy_ca_bundle=Path(proxy_ca).resolve() if proxy_ca else None,
            insecure_http=params["insecure_http"],
            request_timeout=params["request_timeout"],
            max_connections=params["max_connections"],
            metrics_allow=tuple(params["metrics_allow"]),
        )
    except (ConfigError, TLSConfigError) as exc:
        raise click.ClickException(str(exc)) from exc


_METRICS_PREFIX = "trent-metrics-"


def _fresh_metrics_dir() -> Path:
    """A new private (0700) directory for the workers' metric values (prometheus_client's
    multiprocess mode), in the system's temporary directory (``TMPDIR``), removed when serve
    exits: counters start from zero at every start. Not under the data directory: the values
    are memory-mapped files, and a process touching a new page of one on a full file system
    gets SIGBUS, so a full data directory would kill the workers instead of answering
    ``KMSInternalException`` as Trent promises. Set before any worker imports
    prometheus_client, which reads it on import.

    Its name carries serve's process id (``trent-metrics-<pid>-...``): a serve killed with
    ``kill -9`` cannot remove its own, so each start removes those whose serve has gone."""
    parent = Path(tempfile.gettempdir())
    for stale in parent.glob(f"{_METRICS_PREFIX}*-*"):
        pid = stale.name.removeprefix(_METRICS_PREFIX).split("-", 1)[0]
        if not pid.isdigit() or running(int(pid)):
            continue
        try:
            owner = stale.stat().st_uid
        except FileNotFoundError:  # another serve starting at the same time removed it
            continue
        if owner == os.getuid():
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{_METRICS_PREFIX}{os.getpid()}-"))


def _region_settings(values: tuple[str, ...]) -> dict[str, Any]:
    names = split_regions(values) or [DEFAULT_REGION]
    return {"region": names[0], "regions": tuple(names[1:])}


def _serve_settings(**options: Any) -> Settings:
    """Settings for ``serve``; with TLS, the certificate and key are loaded once here so that a
    bad pair fails at once with one line (TLSConfigError), not in every worker."""
    settings = Settings(**options)
    if settings.tls_cert and settings.tls_key:
        server_context(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
    return settings


def _ssl_options(settings: Settings) -> dict[str, Any]:
    if not (settings.tls_cert and settings.tls_key):
        return {}
    return {
        "ssl_certfile": str(settings.tls_cert),
        "ssl_keyfile": str(settings.tls_key),
        "ssl_context_factory": uvicorn_context_factory,
        **({"ssl_ca_certs": str(settings.tls_client_ca)} if settings.tls_client_ca else {}),
    }


def banner(endpoint_url: str, data: DataDir, regions: tuple[str, ...] = ()) -> list[str]:
    """What ``trent serve`` prints before it serves: where, the regions served (the data
    directory's home region first, then the other ``--region`` values), and the three
    variables that point the aws CLI and boto3 at it (the files hold the ``trent`` profile's
    key, region and endpoint, and follow ``--port``/``--host`` at every start)."""
    served = tuple(dict.fromkeys((data.region, *regions)))
    where = f"region {served[0]}" if len(served) == 1 else f"regions {', '.join(served)}"
    return [
        f"Trent on {endpoint_url} (account {data.account_id}, {where})",
        "Point the aws CLI and boto3 at it (credentials, region and endpoint are in these files):",
        f"export AWS_SHARED_CREDENTIALS_FILE={data.credentials_file}",
        f"export AWS_CONFIG_FILE={data.config_file}",
        f"export AWS_PROFILE={PROFILE}",
        "then: aws kms list-keys",
    ]


def _check_test_data_dir(settings: Settings) -> None:
    store, _ = open_store(settings)
    try:
        require_test_data_dir(store)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()


def _admin_settings(data_dir: Path, seal: dict[str, Any]) -> Settings:
    try:
        return Settings(data_dir=data_dir.resolve(), **seal)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _open_existing(data_dir: Path, seal: dict[str, Any]) -> tuple[SQLiteStore, Barrier]:
    """Open a data directory that ``trent serve`` created; never create one."""
    settings = _admin_settings(data_dir, seal)
    if not has_database(settings):
        raise click.ClickException(f"{data_dir} is not a Trent data directory")
    os.umask(PRIVATE_UMASK)
    try:
        return open_store(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@cli.group()
def admin() -> None:
    """Administration on a data directory (the server may be running)."""


@admin.command("create-access-key")
@data_dir_option
@seal_options
@click.option("--account-id", help="12-digit account [default: the first-start account].")
@click.option(
    "--user",
    help="IAM user name (created if missing) [default: the account's root].",
)
def create_access_key_command(
    data_dir: Path, seal: dict[str, Any], account_id: str | None, user: str | None
) -> None:
    """Create another access key and print it in the aws CLI's credentials format."""
    store, barrier = _open_existing(data_dir, seal)
    try:
        default_account = store.get_meta("account_id")
        if default_account is None:
            raise click.ClickException(f"{data_dir} is not a Trent data directory")
        account_id = account_id or default_account
        if store.get_account(account_id) is None:
            raise click.ClickException(f"no account {account_id} in {data_dir}")
        clock = SystemClock()
        with store.write():
            if user is not None and store.get_user(account_id, user) is None:
                store.insert_user(UserRow(account_id, user, random_id("AIDA"), "/", clock.now()))
            key = create_access_key(store, barrier, account_id, user, clock)
    finally:
        store.close()
    click.echo(f"[{user or 'root'}]")
    click.echo(f"aws_access_key_id = {key.access_key_id}")
    click.echo(f"aws_secret_access_key = {key.secret_access_key}")


@admin.command("create-account")
@data_dir_option
@seal_options
@click.option("--account-id", help="12-digit account id [default: random].")
def create_account_command(data_dir: Path, seal: dict[str, Any], account_id: str | None) -> None:
    """Create an account and print an access key of its root in the aws CLI's credentials
    format (section ``[<account id>]``). The server may be running."""
    store, barrier = _open_existing(data_dir, seal)
    try:
        if store.get_meta("account_id") is None:
            raise click.ClickException(f"{data_dir} is not a Trent data directory")
        try:
            made, key = create_account(store, barrier, SystemClock(), account_id)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"[{made}]")
    click.echo(f"aws_access_key_id = {key.access_key_id}")
    click.echo(f"aws_secret_access_key = {key.secret_access_key}")


@admin.command("list-accounts")
@data_dir_option
@seal_options
def list_accounts_command(data_dir: Path, seal: dict[str, Any]) -> None:
    """Print each account id, the default (first-start) one marked ``default``."""
    store, _ = _open_existing(data_dir, seal)
    try:
        default_account = store.get_meta("account_id")
        rows = store.list_accounts()
    finally:
        store.close()
    for row in rows:
        click.echo(f"{row.account_id}\t{'default' if row.account_id == default_account else ''}")


access_key_option = click.option(
    "--access-key-id", required=True, help="The access key id (AKIA...) to change."
)


@admin.command("list-access-keys")
@data_dir_option
@seal_options
def list_access_keys_command(data_dir: Path, seal: dict[str, Any]) -> None:
    """Print each access key: id, status (Active or Inactive), principal ARN."""
    store, _ = _open_existing(data_dir, seal)
    try:
        rows = store.list_access_keys()
    finally:
        store.close()
    for row in rows:
        click.echo(f"{row.access_key_id}\t{row.status}\t{row.principal}")


def _change_access_key(
    data_dir: Path, seal: dict[str, Any], access_key_id: str, status: str | None
) -> None:
    store, _ = _open_existing(data_dir, seal)
    try:
        if status is None:
            found = store.delete_access_key(access_key_id)
        else:
            found = store.set_access_key_status(access_key_id, status)
    finally:
        store.close()
    if not found:
        raise click.ClickException(f"no access key {access_key_id} in {data_dir}")
    click.echo(f"{access_key_id}\t{status or 'Deleted'}")


@admin.command("delete-access-key")
@data_dir_option
@seal_options
@access_key_option
def delete_access_key_command(data_dir: Path, seal: dict[str, Any], access_key_id: str) -> None:
    """Delete an access key; every worker refuses it from its next request on."""
    _change_access_key(data_dir, seal, access_key_id, None)


@admin.command("deactivate-access-key")
@data_dir_option
@seal_options
@access_key_option
def deactivate_access_key_command(data_dir: Path, seal: dict[str, Any], access_key_id: str) -> None:
    """Mark an access key Inactive; every worker refuses it from its next request on."""
    _change_access_key(data_dir, seal, access_key_id, "Inactive")


@admin.command("activate-access-key")
@data_dir_option
@seal_options
@access_key_option
def activate_access_key_command(data_dir: Path, seal: dict[str, Any], access_key_id: str) -> None:
    """Mark an access key Active again; every worker accepts it from its next request on."""
    _change_access_key(data_dir, seal, access_key_id, "Active")


@admin.command("create-xks-credential")
@data_dir_option
@seal_options
@click.option(
    "--key-id",
    "key_ids",
    multiple=True,
    required=True,
    help="A Trent symmetric encryption key (id or ARN) to serve as an external key; repeat.",
)
@click.option(
    "--path-prefix",
    default="",
    help="Serve at PREFIX/kms/xks/v1 (a-z, A-Z, 0-9, -, _ and /) [default: none].",
)
@click.option(
    "--allow-principal",
    multiple=True,
    help="Secondary authorization: requestMetadata.awsPrincipalArn must match one (glob).",
)
@click.option(
    "--allow-kms-operation",
    multiple=True,
    help="requestMetadata.kmsOperation must match one (e.g. Encrypt, Decrypt, GenerateDataKey).",
)
@click.option(
    "--allow-kms-key-arn", multiple=True, help="requestMetadata.kmsKeyArn must match one (glob)."
)
@click.option(
    "--allow-via-service",
    multiple=True,
    help="requestMetadata.kmsViaService must be present and match one (e.g. ebs, s3).",
)
def create_xks_credential_command(
    data_dir: Path,
    seal: dict[str, Any],
    key_ids: tuple[str, ...],
    path_prefix: str,
    allow_principal: tuple[str, ...],
    allow_kms_operation: tuple[str, ...],
    allow_kms_key_arn: tuple[str, ...],
    allow_via_service: tuple[str, ...],
) -> None:
    """Create an XKS proxy credential (at most two per path prefix, for rotation) and print
    the AccessKeyId, RawSecretAccessKey and XksProxyUriPath that AWS KMS's
    CreateCustomKeyStore takes, as JSON. The secret is shown only here."""
    rules = xks_credentials.Rules(
        {
            name: values
            for name, values in zip(
                xks_credentials.RULE_FIELDS,
                (allow_principal, allow_kms_operation, allow_kms_key_arn, allow_via_service),
                strict=True,
            )
            if values
        }
    )
    store, barrier = _open_existing(data_dir, seal)
    try:
        ids = [_xks_key_id(store, ref) for ref in key_ids]
        made = xks_credentials.create(
            store, barrier, SystemClock(), key_ids=ids, path_prefix=path_prefix, rules=rules
        )
    except xks_credentials.CredentialError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(orjson.dumps(made.as_json(), option=orjson.OPT_INDENT_2).decode())


def _xks_key_id(store: SQLiteStore, ref: str) -> str:
    """The key id of a key an XKS credential may serve: a symmetric encryption key."""
    key_id = ref.rsplit(":key/", 1)[-1]
    row = store.get_key(key_id)
    if row is None:
        raise click.ClickException(f"no key {ref}")
    if row.key_spec != "SYMMETRIC_DEFAULT" or row.key_usage != "ENCRYPT_DECRYPT":
        raise click.ClickException(
            f"key {ref} is {row.key_spec}/{row.key_usage}; an external key must be a "
            "SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key (served as AES_256)"
        )
    return row.key_id


@admin.command("list-xks-credentials")
@data_dir_option
@seal_options
def list_xks_credentials_command(data_dir: Path, seal: dict[str, Any]) -> None:
    """Print each XKS credential as one JSON line (never its secret)."""
    store, _ = _open_existing(data_dir, seal)
    try:
        rows = store.list_xks_credentials()
    finally:
        store.close()
    for row in rows:
        shown = {
            "AccessKeyId": row.access_key_id,
            "XksProxyUriPath": row.path_prefix + xks_credentials.API_PATH,
            "KeyIds": orjson.loads(row.key_ids),
            "Rules": orjson.loads(row.rules),
            "CreatedAt": row.created_at,
        }
        click.echo(orjson.dumps(shown).decode())


@admin.command("delete-xks-credential")
@data_dir_option
@seal_options
@click.option("--access-key-id", required=True, help="The XKS credential's access key id.")
def delete_xks_credential_command(data_dir: Path, seal: dict[str, Any], access_key_id: str) -> None:
    """Delete an XKS credential; every worker refuses it from its next request on."""
    store, _ = _open_existing(data_dir, seal)
    try:
        found = store.delete_xks_credential(access_key_id)
    finally:
        store.close()
    if not found:
        raise click.ClickException(f"no XKS credential {access_key_id} in {data_dir}")
    click.echo(f"{access_key_id}\tDeleted")


@admin.command("create-data-dir")
@data_dir_option
@click.option("--region", default=DEFAULT_REGION, show_default=True)
@click.option("--account-id", help="12-digit account id [default: random].")
@click.option(
    "--host", default=DEFAULT_HOST, show_default=True, help="Host for the config's endpoint_url."
)
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=int,
    help="Port for the config's endpoint_url (`trent serve` rewrites it to the port it serves on).",
)
@click.option("--for-tests", is_flag=True, help="Mark it as a test data dir (see --test-clock).")
@seal_options
def create_data_dir(
    data_dir: Path,
    seal: dict[str, Any],
    region: str,
    account_id: str | None,
    host: str,
    port: int,
    for_tests: bool,
) -> None:
    """Create a new data directory without starting the server."""
    made = TLSFiles.in_data_dir(data_dir.resolve())
    try:
        settings = Settings(
            data_dir=data_dir.resolve(),
            region=region,
            account_id=account_id,
            host=host,
            port=port,
            # What the config's endpoint_url says; this command serves nothing, so the rule
            # against plain HTTP off loopback is left to `trent serve`.
            tls_cert=made.cert if made.present() else None,
            tls_key=made.key if made.present() else None,
            insecure_http=True,
            **seal,
        )
        data = initialize(settings, SystemClock(), for_tests=for_tests)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {settings.data_dir} (account {data.account_id}, {data.region})")


@admin.command("make-tls-cert")
@data_dir_option
@click.option(
    "--name",
    "names",
    multiple=True,
    help="DNS name or IP address clients use to reach the server; repeat for more. The "
    f"loopback names ({', '.join(DEFAULT_NAMES)}) are always included: the aws CLI profile "
    "Trent writes reaches the server through them.",
)
def make_tls_cert(data_dir: Path, names: tuple[str, ...]) -> None:
    """Make a private CA and a server certificate under DATA_DIR/tls for `trent serve`."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        files = make_tls_files(data_dir, list(dict.fromkeys([*names, *DEFAULT_NAMES])))
    except TLSConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from exc
    click.echo(f"CA certificate: {files.ca} (the ca_bundle clients trust)")
    click.echo(f"server certificate: {files.cert}, key: {files.key}")
    click.echo(
        f"(re)start `trent serve`: it serves them and points profile {PROFILE} of "
        f"{data_dir / 'config'} at https and this CA; other SDKs: AWS_CA_BUNDLE={files.ca}"
    )


@admin.command("advance-clock")
@data_dir_option
@seal_options
@click.option("--days", type=float, default=0.0)
@click.option("--seconds", type=float, default=0.0)
def advance_clock(data_dir: Path, seal: dict[str, Any], days: float, seconds: float) -> None:
    """TESTS ONLY: move the test clock of a test data dir forward."""
    store, _ = _open_existing(data_dir, seal)
    try:
        offset = clock_advance(store, days * 86400 + seconds)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"test clock offset: {offset:.0f} s")


@admin.command("rotate-root-key")
@data_dir_option
@seal_options
def rotate_root_key_command(data_dir: Path, seal: dict[str, Any]) -> None:
    """Add a root key version: it seals everything written from now on (in every worker, from
    its next request), older versions keep opening what they sealed. Then run `trent admin
    reseal` to move what is stored to it."""
    settings = _admin_settings(data_dir, seal)
    if not has_database(settings):
        raise click.ClickException(f"{data_dir} is not a Trent data directory")
    os.umask(PRIVATE_UMASK)
    try:
        version = rotate_root_key(settings, SystemClock())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"root key version {version} added; run `trent admin reseal` to move stored values")


@admin.command("reseal")
@data_dir_option
@seal_options
@click.option(
    "--batch",
    default=DEFAULT_BATCH,
    show_default=True,
    type=click.IntRange(min=1),
    help="Values moved per transaction.",
)
def reseal_command(data_dir: Path, seal: dict[str, Any], batch: int) -> None:
    """Move every stored sealed value to the newest root key version, a batch per transaction.
    Safe while the server runs; after a crash, run it again: it resumes where it stopped."""
    store, barrier = _open_existing(data_dir, seal)

    def report(progress: Progress) -> None:
        column = f"{progress.column.table}.{progress.column.column}"
        click.echo(f"resealed {progress.moved} in {column} ({progress.total} so far)")

    try:
        moved = reseal(store, barrier, batch, report)
        left = sum(count_stale(store, barrier.newest).values())
    finally:
        store.close()
    click.echo(f"{moved} values resealed; {left} not under version {barrier.newest}")


@admin.command("migrate-seal")
@data_dir_option
@seal_options
@click.option("--to", "to", required=True, type=click.Choice(SEALS), help="The new seal.")
@click.option(
    "--to-root-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --to file: the new root key file, made if missing [default: DATA_DIR/root.key].",
)
@click.option(
    "--to-pkcs11-module", type=click.Path(dir_okay=False, path_type=Path), help="With --to pkcs11."
)
@click.option("--to-pkcs11-token-label", help="With --to pkcs11.")
@click.option(
    "--to-pkcs11-pin-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --to pkcs11.",
)
@click.option(
    "--to-pkcs11-key-label",
    default=DEFAULT_PKCS11_KEY_LABEL,
    show_default=True,
    help="With --to pkcs11: the key's label (made in the token if missing).",
)
def migrate_seal_command(
    data_dir: Path,
    seal: dict[str, Any],
    to: str,
    to_root_key_file: Path | None,
    to_pkcs11_module: Path | None,
    to_pkcs11_token_label: str | None,
    to_pkcs11_pin_file: Path | None,
    to_pkcs11_key_label: str,
) -> None:
    """With the server stopped: wrap the root keyring with another seal, atomically (a crash
    leaves the old seal working). The current seal is given by the usual seal options."""
    current = _admin_settings(data_dir, seal)
    target_seal = seal_settings(
        {
            "database_url": current.database_url,
            "root_key_file": to_root_key_file,
            "seal": to,
            "pkcs11_module": to_pkcs11_module,
            "pkcs11_token_label": to_pkcs11_token_label,
            "pkcs11_pin_file": to_pkcs11_pin_file,
            "pkcs11_key_label": to_pkcs11_key_label,
        }
    )
    try:
        target = Settings(data_dir=current.data_dir, **target_seal)
    except ConfigError as exc:
        message = str(exc).replace("--pkcs11", "--to-pkcs11").replace("--seal", "--to")
        message = message.replace("--root-key-file", "--to-root-key-file")
        raise click.ClickException(message) from exc
    os.umask(PRIVATE_UMASK)
    try:
        view = migrate_seal(current, target)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    where = target.root_key_path if to == "file" else f"token {to_pkcs11_token_label!r}"
    click.echo(f"root keyring ({len(view.keys)} versions) now sealed by the {to} seal ({where})")
    if seal["seal"] == "file" and to != "file":
        click.echo(
            f"the old root key file {current.root_key_path} still opens backups made before; "
            "keep it offline as long as you keep them, and run `trent admin rotate-root-key` "
            "then `trent admin reseal` so that nothing stored needs the old versions"
        )


@admin.command("backup")
@data_dir_option
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The backup file to write (must not exist).",
)
def backup_command(data_dir: Path, out: Path) -> None:
    """Copy the database online (the server may run): sealed secrets and the wrapped root
    keyring only, never the root key file or the token's key."""
    os.umask(PRIVATE_UMASK)
    try:
        info = backup_database(data_dir.resolve(), out.resolve())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"backed up account {info.account_id} to {info.path} ({info.pages} pages)")


@admin.command("restore")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file from `trent admin backup`.",
)
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The new data directory (absent or empty).",
)
def restore_command(source: Path, data_dir: Path) -> None:
    """Make a new data directory from a backup; serve it with the seal the data was made under
    (--root-key-file OLD_ROOT_KEY, or the same --seal pkcs11 options)."""
    os.umask(PRIVATE_UMASK)
    try:
        info = restore_database(source.resolve(), data_dir.resolve())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"restored account {info.account_id} into {data_dir.resolve()}")
    click.echo(
        f"serve it with: trent serve --data-dir {data_dir} --root-key-file OLD_ROOT_KEY "
        "(or the --seal pkcs11 options it was sealed under)"
    )


@cli.group()
def audit() -> None:
    """Read the audit trail under a data directory."""


def _trail(data_dir: Path) -> Path:
    """``data_dir``'s audit directory, with what its journals hold beyond the end of audit.log
    restored first (after a crash of the machine, before Trent has started again)."""
    audit_dir = data_dir.resolve() / "audit"
    restore_trail(audit_dir, SystemClock())
    return audit_dir


def _print_records(records: Iterable[dict[str, Any]]) -> None:
    for record in records:
        click.echo(orjson.dumps(record).decode())


@audit.command("tail")
@data_dir_option
@click.option("-n", "--lines", default=20, show_default=True, help="How many records.")
def audit_tail(data_dir: Path, lines: int) -> None:
    """Print the last records."""
    _print_records(deque(read_records(_trail(data_dir)), maxlen=lines))


data_dirs_option = click.option(
    "--data-dir",
    "data_dirs",
    envvar="TRENT_DATA_DIR",
    multiple=True,
    default=[DEFAULT_DATA_DIR],
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A data directory; repeat for the nodes of one PostgreSQL database (each keeps its "
    "own trail).",
)


@audit.command("query")
@data_dirs_option
@click.option("--key", help="Key id or ARN among the record's resources.")
@click.option("--event-name", help="Operation, e.g. Encrypt.")
@click.option("--since", help="Start time (ISO 8601 UTC or epoch seconds).")
@click.option("--until", help="End time (ISO 8601 UTC or epoch seconds).")
@click.option("--principal", help="Principal ARN or access key id.")
@click.option("--error", "errors_only", is_flag=True, help="Only requests that failed.")
def audit_query(
    data_dirs: tuple[Path, ...],
    key: str | None,
    event_name: str | None,
    since: str | None,
    until: str | None,
    principal: str | None,
    errors_only: bool,
) -> None:
    """Print the records that match every filter given; of several data directories (nodes),
    merged in order of eventTime."""
    try:
        query = Query(
            key=key,
            event_name=event_name,
            since=parse_time(since) if since else None,
            until=parse_time(until) if until else None,
            principal=principal,
            errors_only=errors_only,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if len(data_dirs) == 1:
        trail = read_records(_trail(data_dirs[0]))
    else:
        trail = heapq.merge(
            *(read_records(_trail(d)) for d in data_dirs),
            key=lambda r: str(r.get("eventTime", "")),
        )
    _print_records(r for r in trail if query.matches(r))


def _open_database(data_dir: Path, database_url: str | None = None) -> SQLiteStore:
    """The database of an existing data directory (or the PostgreSQL database it serves),
    without the root key (public values only)."""
    try:
        settings = Settings(data_dir=data_dir.resolve(), database_url=database_url)
        if not has_database(settings):
            raise click.ClickException(f"{data_dir} is not a Trent data directory")
        return open_database(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@audit.command("public-key")
@data_dir_option
@database_url_option
def audit_public_key(data_dir: Path, database_url: str | None) -> None:
    """Print the public key (PEM, Ed25519) that verifies the trail's checkpoints."""
    store = _open_database(data_dir, database_url)
    try:
        key = stored_public_key(store)
    finally:
        store.close()
    if key is None:
        raise click.ClickException(f"{data_dir} has no audit signing key yet (start trent serve)")
    click.echo(public_key_pem(key), nl=False)


@audit.command("verify")
@data_dirs_option
@database_url_option
@click.option(
    "--public-key",
    "public_key_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="PEM public key from `trent audit public-key`, kept apart from the data directory "
    "[default: the one stored in the database].",
)
def audit_verify(
    data_dirs: tuple[Path, ...], database_url: str | None, public_key_file: Path | None
) -> None:
    """Check every record's hash chain and every checkpoint's signature; exit 0 when the trail
    is intact, 1 (naming the first bad record's file and line) when it is not. Several data
    directories (the nodes of one PostgreSQL database): each trail on its own, exit 1 when
    any fails."""
    failed = False
    for data_dir in data_dirs:
        if len(data_dirs) > 1:
            click.echo(f"{data_dir}:")
        failed |= not _verify_one(data_dir, database_url, public_key_file)
    if failed:
        raise SystemExit(1)


def _verify_one(data_dir: Path, database_url: str | None, public_key_file: Path | None) -> bool:
    store = _open_database(data_dir, database_url)
    try:
        key = stored_public_key(store)
        settings = Settings(data_dir=data_dir.resolve(), database_url=database_url)
        anchor = stored_anchor(store, anchor_name(node_name(settings)))
    finally:
        store.close()
    if public_key_file is not None:
        try:
            key = load_public_key_pem(public_key_file.read_bytes())
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--public-key") from exc
    # read-only: it checks the files as they are (after a crash of the machine, restore what
    # the journals hold first: start Trent, or run ``trent audit tail``)
    report = verify_trail(data_dir.resolve() / "audit", key, anchor)
    for line in _describe(report):
        click.echo(line)
    if report.failure is not None:
        place, reason = report.failure
        click.echo(f"FAILED at {place}: {reason}", err=True)
        return False
    click.echo("OK: the trail is intact")
    return True


def _describe(report: Report) -> list[str]:
    lines = [
        f"{report.files} files, {report.records} records, {report.checkpoints} checkpoints",
    ]
    if report.chain_start is None:
        lines.append("no chained record")
    elif report.unchained:
        lines.append(
            f"chain starts at {report.chain_start}; the {report.unchained} records before it "
            "carry no chain field and are not covered"
        )
    else:
        lines.append(f"chain starts at {report.chain_start}")
    if report.last_checkpoint is not None:
        lines.append(
            f"last checkpoint: {report.last_checkpoint} ({report.last_checkpoint_time}); "
            f"{report.after_last_checkpoint} records after it are chained but not yet signed"
        )
    if report.anchor_found is None:
        lines.append("the database records no checkpoint to anchor the trail's end")
    if report.torn_tail is not None:
        lines.append(
            f"torn tail at {report.torn_tail} (a crash mid-write; cut when the server starts)"
        )
    return lines


@audit.command("top-keys")
@data_dirs_option
@click.option(
    "--since",
    default="3h",
    show_default=True,
    help="How far back: a duration (30m, 3h, 2d, 1w) or a time (ISO 8601 UTC, epoch seconds).",
)
@click.option(
    "-n",
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many keys.",
)
def audit_top_keys(data_dirs: tuple[Path, ...], since: str, limit: int) -> None:
    """Print the keys with most cryptographic requests (Encrypt, Decrypt, Sign, GenerateDataKey,
    ...) since a time, most first, as a table: requests, of them failed, last use, key ARN, and
    the count by operation; of several data directories (nodes), their trails counted together."""
    try:
        start = parse_since(since, SystemClock().now())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    audit_dirs = [_trail(data_dir) for data_dir in data_dirs]
    for data_dir, audit_dir in zip(data_dirs, audit_dirs, strict=True):
        if not audit_dir.is_dir():
            raise click.ClickException(f"{data_dir} has no audit trail (no {audit_dir})")
    records = itertools.chain.from_iterable(read_records(d) for d in audit_dirs)
    rows = top_keys(records, start, limit)
    if not rows:
        click.echo(f"no cryptographic requests since {since}")
        return
    for line in format_top_keys(rows):
        click.echo(line)


@cli.group("config")
def config_group() -> None:
    """Check a config file; show the settings `trent serve` would run with."""


def _serve_params(args: list[str]) -> tuple[click.Context, dict[str, Any]]:
    """``serve``'s parameters as it would resolve them from ``args``, the TRENT_* variables and
    the config file: its context (for each value's source) and the values."""
    ctx = serve.make_context("serve", args)
    return ctx, dict(ctx.params)


@config_group.command("check")
@click.option(
    "--config",
    envvar=CONFIG_ENV,
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The TOML file to check.",
)
def config_check(config: Path) -> None:
    """Check a config file on its own (TRENT_* variables ignored): every key known, every
    value of its type and accepted, no settings in conflict, TLS files loadable. Exit 0, or 1
    with every problem, one a line."""
    saved = {name: os.environ.pop(name) for name in list(os.environ) if name.startswith("TRENT_")}
    try:  # the file alone, over the defaults
        serve_ctx, params = _serve_params(["--config", str(config)])
    finally:
        os.environ.update(saved)
    problems = list(serve_ctx.meta.get(_CONFIG_PROBLEMS, []))
    try:
        settings_from_params(params)
    except click.ClickException as exc:
        problems.extend(f"{config}: {line}" for line in exc.message.splitlines())
    problems.extend([serve_ctx.meta[_CONFIG_HINT]] if _CONFIG_HINT in serve_ctx.meta else [])
    if problems:
        for line in problems:
            click.echo(line, err=True)
        raise SystemExit(1)
    click.echo(f"{config}: OK ({len(serve_ctx.meta.get(_CONFIG_VALUES, {}))} settings)")


@config_group.command(
    "show", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the settings `trent serve` would run with, as a config file, each with where it
    came from (flag, environment, config file, default). Takes serve's options
    (--config FILE, --port N, ...). No setting holds a secret: the root key, TLS key and
    credentials are named by path, and their contents are never printed."""
    serve_ctx, params = _serve_params(list(ctx.args))
    _checked_settings(serve_ctx, params)  # refuses what serve would refuse
    for name in (param.name for param in serve.params if param.name):
        value = params[name]
        source = serve_ctx.get_parameter_source(name)
        origin = (
            {
                click.core.ParameterSource.COMMANDLINE: "flag",
                click.core.ParameterSource.ENVIRONMENT: "environment",
                click.core.ParameterSource.DEFAULT_MAP: "config file",
            }.get(source, "default")
            if source
            else "default"
        )
        if name == "config":
            click.echo(f"# config file: {value or '(none)'}")
            continue
        if name == "database_url" and value is not None:
            value = redact_url(value)  # the password stays out of the output
        if value is None:
            click.echo(f"# {name} = (unset)  # {origin}")
        else:
            click.echo(f"{name} = {_toml_value(value)}  # {origin}")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return orjson.dumps(str(value)).decode()  # a TOML basic string is a JSON string


cli.add_command(pki_group)
cli.add_command(jwt_group)


def main() -> None:
    cli()
