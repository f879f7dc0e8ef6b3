"""The command line: ``trent serve`` (the default), ``trent admin ...``, ``trent audit ...``."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
import orjson

from trent.audit.reader import Query, parse_time, read_records
from trent.bootstrap import (
    PRIVATE_UMASK,
    PROFILE,
    DataDir,
    create_access_key,
    create_account,
    initialize,
    open_store,
    random_id,
)
from trent.clock import SystemClock, require_test_data_dir
from trent.clock import advance as clock_advance
from trent.config import (
    DEFAULT_DATA_DIR,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_REGION,
    ConfigError,
    Settings,
)
from trent.logs import log_config
from trent.protocol.http import HttpLimits, protocol_factory
from trent.protocol.limits import CONNECTION_FD_RESERVE, DEFAULT_REQUEST_TIMEOUT
from trent.seal import Barrier
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
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve)


data_dir_option = click.option(
    "--data-dir",
    envvar="TRENT_DATA_DIR",
    default=DEFAULT_DATA_DIR,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the database, the root key and the credentials live.",
)


@cli.command()
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
@click.option("--region", envvar="TRENT_REGION", default=DEFAULT_REGION, show_default=True)
@click.option(
    "--account-id", envvar="TRENT_ACCOUNT_ID", help="12-digit account id for a new data dir."
)
@click.option(
    "--root-key-file",
    envvar="TRENT_ROOT_KEY_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file seal's root key [default: DATA_DIR/root.key].",
)
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
    "--test-clock",
    is_flag=True,
    help="TESTS ONLY: let `trent admin advance-clock` move time. Refused unless the data "
    "directory was created with `trent admin create-data-dir --for-tests`.",
)
def serve(
    data_dir: Path,
    host: str,
    port: int,
    workers: int,
    region: str,
    account_id: str | None,
    root_key_file: Path | None,
    scheduler_interval: float,
    audit_max_bytes: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    insecure_http: bool,
    request_timeout: float,
    max_connections: int | None,
    test_clock: bool,
) -> None:
    """Start the server (creating the data directory on first start)."""
    import uvicorn

    data_dir = data_dir.resolve()
    made = TLSFiles.in_data_dir(data_dir)
    if tls_cert is None and tls_key is None and made.present():
        tls_cert, tls_key = made.cert, made.key
    try:
        settings = _serve_settings(
            data_dir=data_dir,
            host=host,
            port=port,
            workers=workers,
            region=region,
            account_id=account_id,
            root_key_file=root_key_file.resolve() if root_key_file else None,
            test_clock=test_clock,
            scheduler_interval=scheduler_interval,
            audit_max_bytes=audit_max_bytes,
            tls_cert=tls_cert.resolve() if tls_cert else None,
            tls_key=tls_key.resolve() if tls_key else None,
            insecure_http=insecure_http,
            request_timeout=request_timeout,
            max_connections=max_connections,
        )
    except (ConfigError, TLSConfigError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        data = initialize(settings, SystemClock())
    except ConfigError as exc:  # one line, e.g. a missing or different root key
        raise click.ClickException(str(exc)) from exc
    if test_clock:
        _check_test_data_dir(settings)
    os.environ.update(settings.to_environ())
    for line in banner(settings.endpoint_url, data):
        click.echo(line)
    if settings.tls:
        click.echo(describe_policy())
    if settings.ca_bundle:
        click.echo(f"export AWS_CA_BUNDLE={settings.ca_bundle}  # SDKs that read no ca_bundle")
    uvicorn.run(
        "trent.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http=protocol_factory(HttpLimits(request_timeout, max_connections)),
        ws="none",
        access_log=False,
        log_config=log_config("INFO"),
        timeout_graceful_shutdown=10,
        **_ssl_options(settings),
    )


def _serve_settings(**options: Any) -> Settings:
    """Settings for ``serve``; with TLS, the certificate and key are loaded once here so that a
    bad pair fails at once with one line (TLSConfigError), not in every worker."""
    settings = Settings(**options)
    if settings.tls_cert and settings.tls_key:
        server_context(settings.tls_cert, settings.tls_key)
    return settings


def _ssl_options(settings: Settings) -> dict[str, Any]:
    if not (settings.tls_cert and settings.tls_key):
        return {}
    return {
        "ssl_certfile": str(settings.tls_cert),
        "ssl_keyfile": str(settings.tls_key),
        "ssl_context_factory": uvicorn_context_factory,
    }


def banner(endpoint_url: str, data: DataDir) -> list[str]:
    """What ``trent serve`` prints before it serves: where, and the three variables that point
    the aws CLI and boto3 at it (the files hold the ``trent`` profile's key, region and
    endpoint, and follow ``--port``/``--host`` at every start)."""
    return [
        f"Trent on {endpoint_url} (account {data.account_id}, region {data.region})",
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


def _open_existing(data_dir: Path) -> tuple[SQLiteStore, Barrier]:
    """Open a data directory that ``trent serve`` created; never create one."""
    settings = Settings(data_dir=data_dir.resolve())
    if not settings.database.is_file():
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
@click.option("--account-id", help="12-digit account [default: the first-start account].")
@click.option(
    "--user",
    help="IAM user name (created if missing) [default: the account's root].",
)
def create_access_key_command(data_dir: Path, account_id: str | None, user: str | None) -> None:
    """Create another access key and print it in the aws CLI's credentials format."""
    store, barrier = _open_existing(data_dir)
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
@click.option("--account-id", help="12-digit account id [default: random].")
def create_account_command(data_dir: Path, account_id: str | None) -> None:
    """Create an account and print an access key of its root in the aws CLI's credentials
    format (section ``[<account id>]``). The server may be running."""
    store, barrier = _open_existing(data_dir)
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
def list_accounts_command(data_dir: Path) -> None:
    """Print each account id, the default (first-start) one marked ``default``."""
    store, _ = _open_existing(data_dir)
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
def list_access_keys_command(data_dir: Path) -> None:
    """Print each access key: id, status (Active or Inactive), principal ARN."""
    store, _ = _open_existing(data_dir)
    try:
        rows = store.list_access_keys()
    finally:
        store.close()
    for row in rows:
        click.echo(f"{row.access_key_id}\t{row.status}\t{row.principal}")


def _change_access_key(data_dir: Path, access_key_id: str, status: str | None) -> None:
    store, _ = _open_existing(data_dir)
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
@access_key_option
def delete_access_key_command(data_dir: Path, access_key_id: str) -> None:
    """Delete an access key; every worker refuses it from its next request on."""
    _change_access_key(data_dir, access_key_id, None)


@admin.command("deactivate-access-key")
@data_dir_option
@access_key_option
def deactivate_access_key_command(data_dir: Path, access_key_id: str) -> None:
    """Mark an access key Inactive; every worker refuses it from its next request on."""
    _change_access_key(data_dir, access_key_id, "Inactive")


@admin.command("activate-access-key")
@data_dir_option
@access_key_option
def activate_access_key_command(data_dir: Path, access_key_id: str) -> None:
    """Mark an access key Active again; every worker accepts it from its next request on."""
    _change_access_key(data_dir, access_key_id, "Active")


@admin.command("create-xks-credential")
@data_dir_option
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
    store, barrier = _open_existing(data_dir)
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
def list_xks_credentials_command(data_dir: Path) -> None:
    """Print each XKS credential as one JSON line (never its secret)."""
    store, _ = _open_existing(data_dir)
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
@click.option("--access-key-id", required=True, help="The XKS credential's access key id.")
def delete_xks_credential_command(data_dir: Path, access_key_id: str) -> None:
    """Delete an XKS credential; every worker refuses it from its next request on."""
    store, _ = _open_existing(data_dir)
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
def create_data_dir(
    data_dir: Path, region: str, account_id: str | None, host: str, port: int, for_tests: bool
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
    help="DNS name or IP address clients use to reach the server; repeat for more "
    f"[default: {', '.join(DEFAULT_NAMES)}].",
)
def make_tls_cert(data_dir: Path, names: tuple[str, ...]) -> None:
    """Make a private CA and a server certificate under DATA_DIR/tls for `trent serve`."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        files = make_tls_files(data_dir, names or DEFAULT_NAMES)
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
@click.option("--days", type=float, default=0.0)
@click.option("--seconds", type=float, default=0.0)
def advance_clock(data_dir: Path, days: float, seconds: float) -> None:
    """TESTS ONLY: move the test clock of a test data dir forward."""
    store, _ = _open_existing(data_dir)
    try:
        offset = clock_advance(store, days * 86400 + seconds)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"test clock offset: {offset:.0f} s")


@cli.group()
def audit() -> None:
    """Read the audit trail under a data directory."""


def _print_records(records: Iterable[dict[str, Any]]) -> None:
    for record in records:
        click.echo(orjson.dumps(record).decode())


@audit.command("tail")
@data_dir_option
@click.option("-n", "--lines", default=20, show_default=True, help="How many records.")
def audit_tail(data_dir: Path, lines: int) -> None:
    """Print the last records."""
    _print_records(deque(read_records(data_dir.resolve() / "audit"), maxlen=lines))


@audit.command("query")
@data_dir_option
@click.option("--key", help="Key id or ARN among the record's resources.")
@click.option("--event-name", help="Operation, e.g. Encrypt.")
@click.option("--since", help="Start time (ISO 8601 UTC or epoch seconds).")
@click.option("--until", help="End time (ISO 8601 UTC or epoch seconds).")
@click.option("--principal", help="Principal ARN or access key id.")
@click.option("--error", "errors_only", is_flag=True, help="Only requests that failed.")
def audit_query(
    data_dir: Path,
    key: str | None,
    event_name: str | None,
    since: str | None,
    until: str | None,
    principal: str | None,
    errors_only: bool,
) -> None:
    """Print the records that match every filter given."""
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
    _print_records(r for r in read_records(data_dir.resolve() / "audit") if query.matches(r))


def main() -> None:
    cli()
