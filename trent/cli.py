"""The command line: ``trent serve`` (the default) and ``trent admin create-access-key``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from trent.bootstrap import PROFILE, create_access_key, initialize, open_store
from trent.clock import SystemClock
from trent.config import DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_REGION, Settings


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
def serve(
    data_dir: Path,
    host: str,
    port: int,
    workers: int,
    region: str,
    account_id: str | None,
    root_key_file: Path | None,
) -> None:
    """Start the server (creating the data directory on first start)."""
    import uvicorn

    settings = Settings(
        data_dir=data_dir.resolve(),
        host=host,
        port=port,
        workers=workers,
        region=region,
        account_id=account_id,
        root_key_file=root_key_file.resolve() if root_key_file else None,
    )
    data = initialize(settings, SystemClock())
    os.environ.update(settings.to_environ())
    click.echo(f"Trent on {settings.endpoint_url} (account {data.account_id}, {data.region})")
    click.echo(f"export AWS_SHARED_CREDENTIALS_FILE={data.credentials_file}")
    click.echo(f"export AWS_CONFIG_FILE={data.config_file}  # then: aws --profile {PROFILE} kms")
    uvicorn.run(
        "trent.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )


@cli.group()
def admin() -> None:
    """Administration on a data directory (the server may be running)."""


@admin.command("create-access-key")
@data_dir_option
@click.option("--user", default="admin", show_default=True, help="IAM user name in the ARN.")
def create_access_key_command(data_dir: Path, user: str) -> None:
    """Create another access key and print it in the aws CLI's credentials format."""
    settings = Settings(data_dir=data_dir.resolve())
    store, barrier = open_store(settings)
    try:
        account_id = store.get_meta("account_id")
        if account_id is None:
            raise click.ClickException(f"{data_dir} is not a Trent data directory")
        key = create_access_key(store, barrier, account_id, user, SystemClock())
    finally:
        store.close()
    click.echo(f"[{user}]")
    click.echo(f"aws_access_key_id = {key.access_key_id}")
    click.echo(f"aws_secret_access_key = {key.secret_access_key}")


def main() -> None:
    cli()
