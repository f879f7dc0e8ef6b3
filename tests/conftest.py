"""Shared fixtures: one real Trent server (2 workers) for the session, boto3 clients on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pg import PostgresCluster
from tests.server import TrentServer


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    trent = TrentServer(tmp_path_factory.mktemp("trent") / "data").start()
    yield trent
    trent.stop()


@pytest.fixture(scope="session")
def kms(server: TrentServer) -> Any:
    return server.client()


@pytest.fixture
def key_id(kms: Any) -> str:
    """A fresh symmetric encryption key."""
    return str(kms.create_key(Description="test key")["KeyMetadata"]["KeyId"])


@pytest.fixture
def alias_name() -> str:
    return f"alias/test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[TrentServer]:
    """A server of the test's own, for restarts and other disruptive tests."""
    trent = TrentServer(tmp_path / "data")
    yield trent
    trent.stop()


@pytest.fixture
def clock_server(tmp_path: Path) -> Iterator[TrentServer]:
    """A started server with the test clock (advance it with ``advance_clock``) and a fast
    scheduler (every 0.2 s)."""
    trent = TrentServer(tmp_path / "data", test_clock=True).start()
    yield trent
    trent.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of the session's own (``tests.pg``); ``create_database()`` per
    test."""
    cluster = PostgresCluster.make().start()
    yield cluster
    cluster.stop()
