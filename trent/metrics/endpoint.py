"""``GET /metrics``: the Prometheus text format, without SigV4, to allowed networks only.

``MetricsRoute`` answers ``GET``/``HEAD /metrics`` (``scrape``). The server asks it from inside
the KMS application (``TrentApp.scrape``), so KMS requests pass through no extra layer; as an
ASGI app of its own it wraps another and passes everything else through untouched. A scrape
is allowed from loopback (``127.0.0.0/8``, ``::1``) and from the networks given with
``--metrics-allow``; from anywhere else it is answered 403. The exposition is built on a
thread (it reads every worker's value files and the database), so the event loop keeps serving
meanwhile.

``StoreCollector`` adds, at scrape time, what the database knows (the same in every worker):

- ``trent_keys{state, key_spec}``: keys by state and spec, every account's;
- ``trent_key_material_expiration_seconds{key_arn, key_material_id}``: seconds until the
  ``ValidTo`` of imported key material that expires and is still held (negative once past
  and not yet deleted by the scheduler): AWS's ``SecondsUntilKeyMaterialExpiration``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from trent.config import MULTIPROC_ENV
from trent.protocol.asgi import METRICS_PATH, Receive, Scope, Send
from trent.store.regions import public_name

PATH = METRICS_PATH
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDR blocks (``10.0.0.0/8``, ``2001:db8::/32``, a bare address); ValueError naming the
    first that is not one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"metrics allow {value!r} is not an IP network (CIDR)") from exc
    return tuple(networks)


def allowed(client: str, networks: tuple[Network, ...]) -> bool:
    """True for a loopback address or one inside ``networks``."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False  # a Unix socket or no peer address: not a network we can vouch for
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or any(address in network for network in networks)


class StoreCollector(Collector):
    """Gauges read from the database at each scrape, through a read-only connection of its
    own (so a request's uncommitted change is never seen). ``database``: the SQLite file, or
    a PostgreSQL URL."""

    def __init__(self, database: Path | str, region: str, now: Callable[[], float]) -> None:
        self.database = database
        self.region = region
        self.now = now

    def collect(self) -> Iterator[Metric]:
        keys = GaugeMetricFamily(
            "trent_keys", "KMS keys by key state and key spec.", labels=["state", "key_spec"]
        )
        expiry = GaugeMetricFamily(
            "trent_key_material_expiration_seconds",
            "Seconds until imported key material expires (its ValidTo).",
            labels=["key_arn", "key_material_id"],
        )
        connection: Any
        if isinstance(self.database, str):
            import psycopg

            connection = psycopg.connect(self.database, autocommit=True)
        else:
            connection = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)
        try:
            for state, spec, count in connection.execute(
                "SELECT state, key_spec, COUNT(*) FROM keys GROUP BY state, key_spec"
            ):
                keys.add_metric([state, spec], count)
            now = self.now()
            for account_id, region, key_id, material_id, valid_to in connection.execute(
                "SELECT k.account_id, k.region, m.key_id, m.material_id, m.valid_to "
                "FROM materials m JOIN keys k ON k.key_id = m.key_id "
                "WHERE m.valid_to IS NOT NULL AND m.sealed IS NOT NULL"
            ):
                key_id = public_name(key_id)  # trent.store.regions: "" is the home region
                arn = f"arn:aws:kms:{region or self.region}:{account_id}:key/{key_id}"
                expiry.add_metric([arn, material_id], valid_to - now)
        finally:
            connection.close()
        yield keys
        yield expiry


class MetricsRoute:
    """The KMS app with ``GET /metrics`` in front (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        store_collector: StoreCollector,
        own_registry: CollectorRegistry | None,
        networks: tuple[Network, ...],
        before_scrape: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.before_scrape = before_scrape  # this worker's pending values, flushed
        self.networks = networks
        self.registry = CollectorRegistry(auto_describe=False)
        multiproc_dir = os.environ.get(MULTIPROC_ENV)
        if own_registry is not None:
            self.registry = own_registry
        elif multiproc_dir:
            MultiProcessCollector(self.registry, path=multiproc_dir)  # type: ignore[no-untyped-call]
        self.registry.register(store_collector)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] in ("GET", "HEAD"):
            await self.scrape(scope, send)
            return
        await self.app(scope, receive, send)

    async def scrape(self, scope: Scope, send: Send) -> None:
        """Answer one ``GET``/``HEAD /metrics``: the exposition, or 403 from elsewhere."""
        client = (scope.get("client") or ("", 0))[0]
        if not allowed(client, self.networks):
            await _reply(send, 403, b"text/plain; charset=utf-8", b"Forbidden\n", scope)
            return
        if self.before_scrape is not None:
            self.before_scrape()
        body = await asyncio.to_thread(generate_latest, self.registry)
        await _reply(send, 200, CONTENT_TYPE_PLAIN_0_0_4.encode(), body, scope)


async def _reply(send: Send, status: int, content_type: bytes, body: bytes, scope: Scope) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
