"""Key pairs are generated in processes at the lowest priority, never on the event loop's
thread (issue 17; ``trent.operations.pregen``)."""

from __future__ import annotations

import os
import threading
from functools import partial
from pathlib import Path

from trent.app import build_app
from trent.bootstrap import initialize
from trent.clock import SystemClock
from trent.config import Settings
from trent.operations.pregen import KEYGEN_NICE


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_keygen_processes_are_nicer_than_the_event_loop(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    initialize(settings, SystemClock())
    app = build_app(settings)
    try:
        loop_nice = _nice()
        pool = app.keygen.pool()
        keygen_pid = pool.submit(os.getpid).result(timeout=60)
        keygen_nice = pool.submit(partial(os.getpriority, os.PRIO_PROCESS, 0)).result(timeout=60)
        commit_nice = app.commit_pool.submit(_nice).result(timeout=30)
        assert keygen_pid != os.getpid()  # another process: it never holds this one's GIL
        assert keygen_nice == max(loop_nice, KEYGEN_NICE)
        assert commit_nice == loop_nice  # the commit holds the store lock: never demoted
        assert _nice() == loop_nice  # the calling thread (and process) is left as it was
    finally:
        app.keygen.shutdown()
        app.commit_pool.shutdown()
        assert app.audit is not None
        app.audit.close()
        app.env.store.close()
