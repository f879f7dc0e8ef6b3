"""Composition root: settings → store → seal → operations → ASGI app. No globals.

``create_app`` is the factory each uvicorn worker process calls; it opens its own database
connection, so nothing is shared between workers but the database file.
"""

from __future__ import annotations

from trent.authz import AccountAuthorizer
from trent.bootstrap import open_store
from trent.clock import Clock, SystemClock
from trent.config import Settings
from trent.operations import Env
from trent.operations.keyring import KeyRing
from trent.protocol.asgi import TrentApp


def build_env(settings: Settings, clock: Clock) -> Env:
    store, barrier = open_store(settings)
    account_id = store.get_meta("account_id")
    if account_id is None:
        raise RuntimeError(f"{settings.data_dir} is not initialized; run `trent serve` first")
    region = store.get_meta("region") or settings.region
    return Env(
        store=store,
        barrier=barrier,
        clock=clock,
        authorizer=AccountAuthorizer(account_id),
        keyring=KeyRing(store, barrier, region, account_id),
        region=region,
        account_id=account_id,
    )


def create_app() -> TrentApp:
    return TrentApp(build_env(Settings.from_environ(), SystemClock()))
