"""Composition root: settings → store → seal → operations → ASGI app. No globals.

``create_app`` is the factory each uvicorn worker process calls; it opens its own database
connection, audit file and scheduler, so nothing is shared between workers but files.
"""

from __future__ import annotations

import asyncio
import uuid

import orjson

from trent.audit import AuditLog, build_service_record
from trent.authz import AccountAuthorizer
from trent.bootstrap import open_store
from trent.clock import AdjustableClock, Clock, SystemClock
from trent.config import Settings
from trent.operations import Env
from trent.operations.keyring import KeyRing
from trent.operations.usage import UsageTracker
from trent.protocol.asgi import TrentApp
from trent.scheduler import Event, Scheduler

USAGE_FLUSH_SECONDS = 2.0


def build_env(settings: Settings, clock: Clock | None = None) -> Env:
    store, barrier = open_store(settings)
    account_id = store.get_meta("account_id")
    if account_id is None:
        raise RuntimeError(f"{settings.data_dir} is not initialized; run `trent serve` first")
    region = store.get_meta("region") or settings.region
    if clock is None:
        clock = AdjustableClock(store) if settings.test_clock else SystemClock()
    return Env(
        store=store,
        barrier=barrier,
        clock=clock,
        authorizer=AccountAuthorizer(account_id),
        keyring=KeyRing(store, barrier, region, account_id),
        region=region,
        account_id=account_id,
        usage=UsageTracker(store),
    )


def build_app(settings: Settings) -> TrentApp:
    env = build_env(settings)
    wall_clock = SystemClock()
    audit = AuditLog(settings.audit_dir, env.clock, settings.audit_max_bytes)

    async def audit_event(event: Event) -> None:
        record = build_service_record(
            event.name,
            event.key_arn,
            event.time,
            event.details,
            region=env.region,
            account_id=env.account_id,
            event_id=str(uuid.uuid4()),
        )
        await audit.append(orjson.dumps(record) + b"\n")

    scheduler = Scheduler(env, wall_clock, settings.scheduler_interval, audit_event)
    usage_task: list[asyncio.Task[None]] = []

    async def flush_usage_forever() -> None:
        while True:
            await asyncio.sleep(USAGE_FLUSH_SECONDS)
            env.usage.flush()

    async def startup() -> None:
        await scheduler.start()
        usage_task.append(asyncio.get_running_loop().create_task(flush_usage_forever()))

    async def shutdown() -> None:
        await scheduler.stop()
        for task in usage_task:
            task.cancel()
        env.usage.flush()
        audit.close()
        env.store.close()

    return TrentApp(
        env,
        audit,
        wall_clock=wall_clock,
        on_startup=[startup],
        on_shutdown=[shutdown],
        after_call=env.usage.record,
    )


def create_app() -> TrentApp:
    return build_app(Settings.from_environ())
