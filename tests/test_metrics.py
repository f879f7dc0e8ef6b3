"""GET /metrics: every worker's counts add up, labels stay bounded, only allowed networks read it.

Against a real 2-worker ``trent serve``: requests spread over both workers (each thread a client
of its own, so connections of their own) and the scrape of either worker shows them all, once
each worker has flushed (every 2 s).
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.operations.test_imports import EXPIRES, create_external, future, parameters, wrap
from tests.server import TrentServer
from trent.metrics import MetricsRoute, StoreCollector, parse_networks
from trent.metrics.endpoint import allowed

THREADS, PER_THREAD, ROUNDS = 4, 10, 10


def metrics_dir(server: TrentServer) -> Path:
    """The private directory ``trent serve`` made for its workers, in the TMPDIR it was given
    (see ``start``)."""
    (found,) = (server.data_dir.parent / "tmp").glob("trent-metrics-*")
    return found


def start(server: TrentServer) -> TrentServer:
    """Start ``server`` with a TMPDIR of its own (next to its data directory)."""
    tmp = server.data_dir.parent / "tmp"
    tmp.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(tmp))
        return server.start()


def counted(server: TrentServer, labels: dict[str, str]) -> float:
    return value(scrape(server), "trent_kms_requests_total", **labels)


def per_worker(server: TrentServer, labels: dict[str, str]) -> dict[str, float]:
    """A counter's value in each worker's own value file (counter_<pid>.db)."""
    counts = {}
    for path in metrics_dir(server).glob("counter_*.db"):
        counts[path.name] = sum(
            s.value
            for family in MultiProcessCollector.merge([str(path)])
            for s in family.samples
            if s.name == "trent_kms_requests_total" and s.labels == labels
        )
    return counts


@pytest.fixture(scope="module")
def metrics_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    trent = start(TrentServer(tmp_path_factory.mktemp("metrics") / "data", workers=2))
    yield trent
    trent.stop()


def scrape(server: TrentServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, by name and sorted labels."""
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = reply.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_from_both_workers_add_up(metrics_server: TrentServer) -> None:
    kms = metrics_server.client()
    key_id = kms.create_key(Description="metrics")["KeyMetadata"]["KeyId"]
    arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    before = scrape(metrics_server)

    def encrypt_many(_: int) -> None:
        client = metrics_server.client()  # a connection of its own: either worker answers
        for _ in range(PER_THREAD):
            client.encrypt(KeyId=key_id, Plaintext=b"counted")

    ok = {"operation": "Encrypt", "key_arn": arn, "outcome": "success"}
    made = 0
    # Until both workers have answered some (the kernel picks the worker of a connection).
    for _ in range(ROUNDS):
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(encrypt_many, range(THREADS)))
        made += THREADS * PER_THREAD
        # Each worker adds its counts to the shared files every 2 s (and before it answers a
        # scrape): wait until the other worker's have landed.
        metrics_server.wait_for(lambda n=made: counted(metrics_server, ok) >= n, 15)
        if all(per_worker(metrics_server, ok).values()):
            break
    assert len(per_worker(metrics_server, ok)) == 2
    assert all(per_worker(metrics_server, ok).values()), per_worker(metrics_server, ok)
    bogus = ["no-such-key", "alias/never-made", "1234abcd-12ab-34cd-56ef-1234567890ab"]
    for key in bogus:
        with pytest.raises(ClientError):
            kms.encrypt(KeyId=key, Plaintext=b"x")
    metrics_server.wait_for(
        lambda: (
            value(
                scrape(metrics_server),
                "trent_kms_request_duration_seconds_count",
                operation="Encrypt",
            )
            >= made + len(bogus)
        ),
        15,
    )
    after = scrape(metrics_server)
    assert value(after, "trent_kms_requests_total", **ok) == made
    refused = {"operation": "Encrypt", "key_arn": "", "outcome": "client_error"}
    grown = value(after, "trent_kms_requests_total", **refused) - value(
        before, "trent_kms_requests_total", **refused
    )
    assert grown == len(bogus)
    durations = value(after, "trent_kms_request_duration_seconds_count", operation="Encrypt")
    assert durations - value(
        before, "trent_kms_request_duration_seconds_count", operation="Encrypt"
    ) == made + len(bogus)
    # The scrape is the sum of the two workers' own counts.
    assert sum(per_worker(metrics_server, ok).values()) == made
    # No unknown KeyId (nor anything but known operations and existing ARNs) became a label.
    labels = {v for (_, pairs) in after for (_, v) in pairs}
    assert not any(key in label for key in bogus for label in labels)
    assert value(after, "trent_keys", state="Enabled", key_spec="SYMMETRIC_DEFAULT") >= 1
    assert value(after, "trent_audit_write_seconds_count") >= made


def test_unknown_operations_share_one_series(metrics_server: TrentServer) -> None:
    for name in ("NoSuchThing", "AnotherMadeUpOperation"):
        request = urllib.request.Request(
            metrics_server.endpoint + "/",
            data=b"{}",
            headers={
                "X-Amz-Target": f"TrentService.{name}",
                "Content-Type": "application/x-amz-json-1.1",
            },
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert 400 <= refused.value.code < 500  # unsigned, and no such operation
    unknown = {"operation": "Unknown", "key_arn": "", "outcome": "client_error"}
    metrics_server.wait_for(
        lambda: value(scrape(metrics_server), "trent_kms_requests_total", **unknown) >= 2, 15
    )
    samples = scrape(metrics_server)
    operations = {dict(pairs).get("operation") for (name, pairs) in samples}
    assert "NoSuchThing" not in operations and "AnotherMadeUpOperation" not in operations


def test_expiring_material_is_reported(metrics_server: TrentServer) -> None:
    kms = metrics_server.client()
    key_id = create_external(kms)
    params = parameters(kms, key_id)
    valid_to = future(10)
    kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", os.urandom(32)),
        ExpirationModel=EXPIRES,
        ValidTo=valid_to,
    )
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    samples = scrape(metrics_server)
    found = [
        (dict(pairs), v)
        for (name, pairs), v in samples.items()
        if name == "trent_key_material_expiration_seconds"
        and dict(pairs)["key_arn"] == metadata["Arn"]
    ]
    assert len(found) == 1
    labels, seconds = found[0]
    assert labels["key_material_id"] == metadata["CurrentKeyMaterialId"]
    left = valid_to.timestamp() - time.time()
    assert left - 60 < seconds <= left + 1


@pytest.mark.parametrize("workers", [1, 2])
def test_the_metrics_directory_is_private_and_removed_at_exit(tmp_path: Path, workers: int) -> None:
    server = start(TrentServer(tmp_path / "data", workers=workers))
    try:
        directory = metrics_dir(server)
        assert directory.stat().st_mode & 0o777 == 0o700
        assert not directory.is_relative_to(server.data_dir)  # see trent.cli._fresh_metrics_dir
        assert list(directory.glob("*.db"))
    finally:
        server.stop()
    assert not directory.exists()


def test_scheduler_runs_are_counted(metrics_server: TrentServer) -> None:
    metrics_server.wait_for(lambda: value(scrape(metrics_server), "trent_scheduler_runs_total") > 0)
    assert value(scrape(metrics_server), "trent_scheduler_failures_total") == 0


# --- who may read it: the route itself, with peers of any address --------------------------------


async def _get(route: MetricsRoute, client: str) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/metrics", "client": (client, 5555)}
    await route(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


def _route(tmp_path: Path, allow: list[str]) -> MetricsRoute:
    server = TrentServer(tmp_path / "data")
    server.start().stop()  # a real data directory, then nothing listening

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("GET /metrics must not reach the KMS app")

    collector = StoreCollector(server.data_dir / "trent.db", "us-east-1", time.time)
    return MetricsRoute(app, collector, CollectorRegistry(), parse_networks(allow))


def test_only_loopback_and_allowed_networks_read_it(tmp_path: Path) -> None:
    route = _route(tmp_path, ["10.0.0.0/8", "2001:db8::/32"])
    for peer in ("127.0.0.1", "127.8.9.1", "::1", "10.20.30.40", "::ffff:10.1.1.1", "2001:db8::5"):
        status, body = asyncio.run(_get(route, peer))
        assert status == 200, peer
        assert b"trent_keys" in body
    for peer in ("192.168.1.4", "11.0.0.1", "2001:db9::1", "::ffff:192.168.0.1", ""):
        assert asyncio.run(_get(route, peer)) == (403, b"Forbidden\n"), peer
    assert not allowed("203.0.113.9", ())


def test_a_bad_network_is_refused_at_start(tmp_path: Path) -> None:
    server = TrentServer(tmp_path / "data", extra_args=["--metrics-allow", "10.0.0.0/33"])
    with pytest.raises(RuntimeError, match="exited"):
        server.start(timeout=20)
    log = (tmp_path / f"server-{server.port}.log").read_text()
    assert "metrics allow '10.0.0.0/33' is not an IP network (CIDR)" in log
