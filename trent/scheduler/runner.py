"""Run the due work in the background, in whichever worker holds the lease.

Every worker runs a ``Scheduler``; each tick it tries to take or renew the lease (a ``meta`` row
``scheduler_lease = "<owner> <expiry>"``, written in a transaction so two workers cannot both
take it). Only the holder runs the jobs. If the holder dies its lease expires after three ticks
and another worker takes over. The lease uses the wall clock; the jobs use the (test) clock.
On PostgreSQL (several nodes) the store's session-level advisory lock replaces the lease
(``PostgresStore.scheduler_lock``): freed the moment its holder's connection closes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Awaitable, Callable

from trent.clock import Clock
from trent.operations.context import Env
from trent.scheduler.jobs import Event, run_due

LEASE_META = "scheduler_lease"
log = logging.getLogger("trent.scheduler")


class Scheduler:
    def __init__(
        self,
        env: Env,
        wall_clock: Clock,
        interval: float,
        on_event: Callable[[Event], Awaitable[None]] | None = None,
    ) -> None:
        self.env = env
        self.wall_clock = wall_clock
        self.interval = interval
        self.on_event = on_event
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._task: asyncio.Task[None] | None = None

    def holds_lease(self) -> bool:
        """Take or renew the lease; True when this scheduler holds it. A store shared by
        several nodes answers for the whole cluster (``Store.scheduler_lock``)."""
        store = self.env.store
        cluster = store.scheduler_lock()
        if cluster is not None:
            return cluster
        now = self.wall_clock.now()
        with store.write():
            current = store.get_meta(LEASE_META)
            if current:
                owner, expiry = current.rsplit(" ", 1)
                if owner != self.owner and float(expiry) > now:
                    return False
                if owner == self.owner and float(expiry) - now > 1.5 * self.interval:
                    return True  # still fresh: no write, so other workers' caches stay warm
            store.set_meta(LEASE_META, f"{self.owner} {now + 3 * self.interval}")
        return True

    async def tick(self) -> list[Event]:
        if not self.holds_lease():
            return []
        self.env.refresh()
        events = run_due(self.env)
        if self.on_event is not None:
            for event in events:
                await self.on_event(event)
        return events

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler tick failed")
            await asyncio.sleep(self.interval)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
