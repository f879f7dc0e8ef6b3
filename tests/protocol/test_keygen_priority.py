"""Key pairs are generated on threads that yield the CPU to the event loop (issue 17)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from trent.app import build_app
from trent.bootstrap import initialize
from trent.clock import SystemClock
from trent.config import Settings
from trent.protocol.asgi import KEYGEN_NICE


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_keygen_threads_are_nicer_than_the_event_loop(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    initialize(settings, SystemClock())
    app = build_app(settings)
    try:
        loop_nice = _nice()
        keygen_nice = app.keygen_pool.submit(_nice).result(timeout=30)
        commit_nice = app.commit_pool.submit(_nice).result(timeout=30)
        assert keygen_nice == min(19, loop_nice + KEYGEN_NICE)
        assert commit_nice == loop_nice  # the commit holds the store lock: never demoted
        assert _nice() == loop_nice  # the calling thread (and process) is left as it was
    finally:
        app.keygen_pool.shutdown()
        app.commit_pool.shutdown()
        assert app.audit is not None
        app.audit.close()
        app.env.store.close()
