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
import contextlib
import logging
import os
import uuid
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from trent import native
from trent.audit import AuditLog, build_service_record
from trent.audit.chain import anchor_name, ensure_signing_key, record_anchor
from trent.audit.record import NODE_FIELD
from trent.authz import PolicyAuthorizer
from trent.bootstrap import PRIVATE_UMASK, node_name, open_store
from trent.clock import AdjustableClock, Clock, SystemClock
from trent.config import MULTIPROC_ENV, Settings
from trent.console import Console
from trent.metrics import Metrics, MetricsRoute, StoreCollector, TimedAuditLog, parse_networks
from trent.operations import OPERATIONS, Call, Env
from trent.operations.keyring import KeyRing
from trent.operations.usage import UsageTracker
from trent.protocol.asgi import TrentApp
from trent.scheduler import Event, Scheduler
from trent.store.health import StorageHealth, is_storage_fault

USAGE_FLUSH_SECONDS = 2.0  # also how often this worker's metrics reach the scrape
# Benchmarks only (bench/README.md, "Cost of metrics"): when set to 1, a worker records no
# metrics on the request path and serves no /metrics, so the two can be compared in one run.
# Not a setting: not in the config file, the flags or ``trent config show``.
BENCH_NO_METRICS_ENV = "TRENT_BENCH_NO_METRICS"


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
        usage=UsageTracker(store, region),
        home_region=region,
        regions=tuple(dict.fromkeys((region, *settings.served_regions))),
    )


class AuditedScheduler(Scheduler):
    """The scheduler, one tick at a time under the app's store lock, its changes held until
    their audit records are on disk; a storage fault is reported to ``health``, not raised."""

    def __init__(
        self,
        *args: Any,
        lock: asyncio.Lock,
        health: StorageHealth,
        metrics: Metrics,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lock = lock
        self.health = health
        self.metrics = metrics
        self._held_lease = False

    def holds_lease(self) -> bool:
        self._held_lease = super().holds_lease()
        return self._held_lease

    async def tick(self) -> list[Event]:
        store = self.env.store
        self._held_lease = False
        async with self.lock:
            try:
                with store.holding():
                    events = await super().tick()
                store.commit_held()
            except BaseException as exc:
                store.rollback_held()
                self.env.keyring.invalidate()
                if isinstance(exc, Exception):
                    self.metrics.scheduler_failures.inc()
                if not is_storage_fault(exc):
                    raise
                where = "audit log" if isinstance(exc, OSError) else "database"
                self.health.failed(where, exc)
                return []
        if self._held_lease:
            self.metrics.scheduler_runs.inc()
        for event in events:
            self.metrics.scheduler_events.labels(event.name).inc()
        if events:
            self.health.succeeded()
        return events


def build_app(settings: Settings, metrics_registry: CollectorRegistry | None = None) -> TrentApp:
    """A worker's KMS app. Its metrics go to ``metrics_registry`` when given; without one they
    are registered nowhere, which in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set, as
    ``trent serve`` does) is how every worker's values reach a scrape."""
    return _build(settings, metrics_registry)[0]


def _build(
    settings: Settings, metrics_registry: CollectorRegistry | None
) -> tuple[TrentApp, Metrics]:
    os.umask(PRIVATE_UMASK)
    env = build_env(settings)
    metrics = Metrics(OPERATIONS, env.clock, metrics_registry)
    wall_clock = SystemClock()
    signer = ensure_signing_key(env.store, env.barrier)
    audit = (
        AuditLog(settings.audit_dir, env.clock, settings.audit_max_bytes, signer)
        if _bench_no_metrics()
        else TimedAuditLog(
            settings.audit_dir, env.clock, settings.audit_max_bytes, signer, metrics=metrics
        )
    )
    recorded_anchor: list[tuple[float, bytes] | None] = [None]

    def persist_anchor() -> None:
        """The newest checkpoint this worker wrote, into the database (``record_anchor``)."""
        newest = audit.newest_checkpoint
        if newest is not None and newest != recorded_anchor[0]:
            record_anchor(env.store, *newest, name=anchor)
            recorded_anchor[0] = newest

    node = node_name(settings)  # several nodes on one PostgreSQL: each record names its node
    anchor = anchor_name(node)
    health = StorageHealth([settings.data_dir, settings.audit_dir])
    lock = asyncio.Lock()

    async def audit_event(event: Event) -> None:
        record = build_service_record(
            event.name,
            event.key_arn,
            event.time,
            event.details,
            region=event.key_arn.split(":")[3],  # the key's own region
            account_id=event.key_arn.split(":")[4],  # the key's own account
            event_id=str(uuid.uuid4()),
        )
        if node is not None:
            record[NODE_FIELD] = node
        await audit.append(orjson.dumps(record) + b"\n")

    scheduler = AuditedScheduler(
        env,
        wall_clock,
        settings.scheduler_interval,
        audit_event,
        lock=lock,
        health=health,
        metrics=metrics,
    )
    usage_task: list[asyncio.Task[None]] = []

    async def flush_usage_forever() -> None:
        while True:
            await asyncio.sleep(USAGE_FLUSH_SECONDS)
            metrics.flush()
            with contextlib.suppress(OSError):  # reported by the next request's record
                await audit.checkpoint_if_due()
            async with lock:
                try:
                    env.usage.flush()
                    persist_anchor()
                except Exception as exc:  # SQLite's or PostgreSQL's
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
        metrics.flush()
        audit.close()  # writes a last checkpoint
        with contextlib.suppress(Exception):  # the database gone: the next start records it
            persist_anchor()
        env.store.close()

    record_metrics, record_usage = metrics.record, env.usage.record

    def after_call(call: Call) -> None:  # every answered request, failed ones too
        record_metrics(call)
        if call.error_code is None:
            record_usage(call)

    def after_call_unmeasured(call: Call) -> None:  # TRENT_BENCH_NO_METRICS=1
        if call.error_code is None:
            record_usage(call)

    app = TrentApp(
        env,
        audit,
        wall_clock=wall_clock,
        on_startup=[startup],
        on_shutdown=[shutdown],
        after_call=after_call_unmeasured if _bench_no_metrics() else after_call,
        health=health,
    )
    app.store_lock = lock
    app.node = node
    app.keygen.slots_dir = settings.data_dir
    app.console = Console(app, settings.audit_dir)
    return app, metrics


def _bench_no_metrics() -> bool:
    return os.environ.get(BENCH_NO_METRICS_ENV) == "1"


def create_app() -> TrentApp:
    """The worker's ASGI app: ``build_app``'s, answering ``GET /metrics`` too (not under
    ``TRENT_BENCH_NO_METRICS=1``, for benchmarks)."""
    settings = Settings.from_environ()
    logging.getLogger("trent.app").info("request path: %s", native.STATE)
    registry = None if os.environ.get(MULTIPROC_ENV) else CollectorRegistry(auto_describe=False)
    app, metrics = _build(settings, registry)
    if _bench_no_metrics():
        return app
    collector = StoreCollector(
        settings.database_url or settings.database, app.env.region, app.env.clock.now
    )
    networks = parse_networks(settings.metrics_allow)
    route = MetricsRoute(app, collector, registry, networks, before_scrape=metrics.flush)
    app.scrape = route.scrape
    return app
