"""Workers do not outlive their supervisor: after ``kill -9`` of ``trent serve`` (the parent
only), each worker shuts itself down gracefully and frees the port, so a restart can bind it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.server import TrentServer


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def test_workers_stop_when_the_supervisor_is_killed(fresh_server: TrentServer) -> None:
    fresh_server.start()
    assert fresh_server.process is not None
    master = fresh_server.process.pid
    fresh_server.client().create_key()
    workers = [
        pid
        for pid in _children(master)
        if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    ]
    assert len(workers) == 2
    os.kill(master, signal.SIGKILL)  # the supervisor alone, not its process group
    fresh_server.process.wait()
    deadline = time.monotonic() + 60  # a generous bound, not a timing assertion
    while time.monotonic() < deadline and (
        any(map(_alive, workers)) or _port_taken(fresh_server.port)
    ):
        time.sleep(0.2)
    assert not any(map(_alive, workers)), "a worker outlived its supervisor"
    assert not _port_taken(fresh_server.port)
    fresh_server.process = None
    # They stopped gracefully: the trail ends with their checkpoints and verifies.
    verify = [sys.executable, "-m", "trent", "audit", "verify"]
    result = subprocess.run(
        [*verify, "--data-dir", str(fresh_server.data_dir)], capture_output=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
