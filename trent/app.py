"""Composition root: settings → store → seal → operations → ASGI app. No globals.

``create_app`` is the factory each uvicorn worker process calls; it opens its own database
connection, audit file and scheduler, so nothing is shared between workers but files.

Background writers (the scheduler, the usage flush) take the app's store lock as requests do, so
nothing joins a request's change while it waits for its audit record; the scheduler's changes,
like a request's, commit only after their audit records are on disk. A write that fails marks
the worker degraded (``StorageHealth``, logged once) instead of logging every attempt.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from typing import Any

import orjson

from trent.audit import AuditLog, build_service_record
from trent.authz import PolicyAuthorizer
from trent.bootstrap import PRIVATE_UMASK, open_store
from trent.clock import AdjustableClock, Clock, SystemClock
from trent.config import Settings
from trent.operations import Env
from trent.operations.keyring import KeyRing
from trent.operations.usage import UsageTracker
from trent.protocol.asgi import TrentApp
from trent.scheduler import Event, Scheduler
from trent.store.health import StorageHealth, is_storage_fault

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
        authorizer=PolicyAuthorizer(store),
        keyring=KeyRing(store, barrier, region, account_id),
        region=region,
        account_id=account_id,
        usage=UsageTracker(store),
    )


class AuditedScheduler(Scheduler):
    """The scheduler, one tick at a time under the app's store lock, its changes held until
    their audit records are on disk; a storage fault is reported to ``health``, not raised."""

    def __init__(
        self,
        *args: Any,
        lock: asyncio.Lock,
        health: StorageHealth,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lock = lock
        self.health = health

    async def tick(self) -> list[Event]:
        store = self.env.store
        async with self.lock:
            try:
                with store.holding():
                    events = await super().tick()
                store.commit_held()
            except BaseException as exc:
                store.rollback_held()
                self.env.keyring.invalidate()
                if not is_storage_fault(exc):
                    raise
                where = "database" if isinstance(exc, sqlite3.Error) else "audit log"
                self.health.failed(where, exc)
                return []
        if events:
            self.health.succeeded()
        return events


def build_app(settings: Settings) -> TrentApp:
    os.umask(PRIVATE_UMASK)
    env = build_env(settings)
    wall_clock = SystemClock()
    audit = AuditLog(settings.audit_dir, env.clock, settings.audit_max_bytes)
    health = StorageHealth([settings.data_dir, settings.audit_dir])
    lock = asyncio.Lock()

    async def audit_event(event: Event) -> None:
        record = build_service_record(
            event.name,
            event.key_arn,
            event.time,
            event.details,
            region=env.region,
            account_id=event.key_arn.split(":")[4],  # the key's own account
            event_id=str(uuid.uuid4()),
        )
        await audit.append(orjson.dumps(record) + b"\n")

    scheduler = AuditedScheduler(
        env, wall_clock, settings.scheduler_interval, audit_event, lock=lock, health=health
    )
    usage_task: list[asyncio.Task[None]] = []

    async def flush_usage_forever() -> None:
        while True:
            await asyncio.sleep(USAGE_FLUSH_SECONDS)
            async with lock:
                try:
                    env.usage.flush()
                except sqlite3.Error as exc:
                    if not is_storage_fault(exc):
                        raise
                    health.failed("database", exc)

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

    app = TrentApp(
        env,
        audit,
        wall_clock=wall_clock,
        on_startup=[startup],
        on_shutdown=[shutdown],
        after_call=env.usage.record,
        health=health,
    )
    app.store_lock = lock
    return app


def create_app() -> TrentApp:
    return build_app(Settings.from_environ())
