"""Time, passed in. Nothing in Trent reads the wall clock except through a ``Clock``.

``SystemClock`` is the real one. ``AdjustableClock`` is for tests only: the real clock plus an
offset kept in the database, which ``advance`` moves forward so that a test can see a year of
rotations in a second. A server uses it only when started with ``--test-clock`` AND its data
directory was created for tests (``trent admin create-data-dir --for-tests``); a data directory
made by ``trent serve`` can never become one.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import Protocol

from trent.config import ConfigError

OFFSET_META = "test_clock_offset"
PURPOSE_META = "purpose"
TEST_PURPOSE = "tests"


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class MetaStore(Protocol):
    def get_meta(self, name: str) -> str | None: ...
    def set_meta(self, name: str, value: str) -> None: ...
    def write(self) -> AbstractContextManager[None]: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()


class AdjustableClock:
    """The real clock plus the offset stored in the database; for tests only."""

    def __init__(self, store: MetaStore) -> None:
        require_test_data_dir(store)
        self.offset = 0.0
        self.reload(store)

    def now(self) -> float:
        return time.time() + self.offset

    def reload(self, store: MetaStore) -> None:
        self.offset = float(store.get_meta(OFFSET_META) or 0.0)


def require_test_data_dir(store: MetaStore) -> None:
    if store.get_meta(PURPOSE_META) != TEST_PURPOSE:
        raise ConfigError(
            "the test clock needs a data directory created for tests "
            "(trent admin create-data-dir --for-tests); refusing to start"
        )


def advance(store: MetaStore, seconds: float) -> float:
    """Move the test clock of a test data directory forward; returns the new offset."""
    require_test_data_dir(store)
    if seconds < 0:
        raise ConfigError("the test clock only moves forward")
    with store.write():
        offset = float(store.get_meta(OFFSET_META) or 0.0) + seconds
        store.set_meta(OFFSET_META, repr(offset))
    return offset
