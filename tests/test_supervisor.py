"""``trent serve --workers 2`` under ``trent.supervisor`` (issue 17): connections are spread over
the workers, a dead worker is replaced on its socket, and no worker outlives a ``kill -9`` of
the supervisor."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from uvicorn.config import STARTUP_FAILURE

from tests.server import TrentServer

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "SO_REUSEPORT") or not Path("/proc/self/fd").exists(),
    reason="the supervisor is used where the kernel balances SO_REUSEPORT sockets (Linux)",
)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(part) for part in path.read_text().split()] if path.exists() else []


def _workers(server: TrentServer) -> list[int]:
    """The supervisor's worker processes (its children that serve, not a pool's processes)."""
    assert server.process is not None
    return [pid for pid in _children(server.process.pid) if _listens(pid)]


def _sockets(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


def _listens(pid: int) -> bool:
    try:
        return bool(_sockets(pid))
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    try:
        return status.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TrentServer]:
    server = TrentServer(tmp_path / "data", workers=2).start()
    try:
        yield server
    finally:
        server.stop()


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.1)


def test_a_burst_of_connections_is_spread_over_both_workers(server: TrentServer) -> None:
    _wait(lambda: len(_workers(server)) == 2, 30, "two workers did not start")
    workers = _workers(server)
    before = {pid: _sockets(pid) for pid in workers}
    connections = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(32)]
    try:
        for conn in connections:  # a request on each: it has been accepted by then
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        accepted = {pid: len(_sockets(pid) - before[pid]) for pid in workers}
    finally:
        for conn in connections:
            conn.close()
    assert sum(accepted.values()) == 32
    # One shared socket gave all 32 to one worker; a hash spreads them (each gets at least 4
    # with probability 1 - 2e-5).
    assert min(accepted.values()) >= 4, accepted


@pytest.mark.parametrize("settle", [0.0, 3.0])
def test_a_killed_worker_is_replaced_on_its_socket(server: TrentServer, settle: float) -> None:
    """Killed while it starts (no wait) or once it serves: either way a new worker takes its
    socket (only a worker that exits by itself before serving stops serve)."""
    _wait(lambda: len(_workers(server)) == 2, 30, "two workers did not start")
    time.sleep(settle)
    victim = _workers(server)[0]
    os.kill(victim, signal.SIGKILL)
    _wait(
        lambda: len(_workers(server)) == 2 and victim not in _workers(server),
        30,
        "the dead worker was not replaced",
    )
    client = server.client()
    key_id = client.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(20):  # new connections each time: both sockets are served again
        fresh = server.client()
        blob = fresh.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
        assert fresh.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def _descendants(pid: int) -> list[int]:
    found = []
    for child in _children(pid):
        found += [child, *_descendants(child)]
    return found


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_no_process_outlives_the_supervisor(server: TrentServer, sig: int) -> None:
    """Workers and their key-generation processes end with the supervisor, even after
    ``kill -9`` of it alone."""
    _wait(lambda: len(_workers(server)) == 2, 30, "two workers did not start")
    for _ in range(4):  # new connections: key pairs are made in both workers' pools
        server.client().create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    assert server.process is not None
    workers = _workers(server)
    everyone = _descendants(server.process.pid)
    pools = [pid for pid in everyone if os.getpriority(os.PRIO_PROCESS, pid) == 19]
    assert pools, "no key-generation process was started"
    os.kill(server.process.pid, sig)  # the supervisor only, not its group
    server.process.wait(timeout=30)
    try:
        _wait(lambda: not any(_alive(pid) for pid in everyone), 60, "a process outlived serve")
        with socket.socket() as sock:  # and the port is free again
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", server.port))
    finally:
        for pid in everyone:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        server.process = None
    assert workers


def test_a_worker_that_cannot_start_stops_serve(tmp_path: Path) -> None:
    """A worker that exits before serving, whatever its exit code (here uvicorn's 1 for an app
    factory that raises), stops the supervisor with STARTUP_FAILURE instead of a restart loop."""
    import uvicorn

    from tests.server import free_port
    from trent import supervisor

    config = uvicorn.Config(
        "tests.broken_app:create_app", factory=True, port=free_port(), workers=2, log_level="error"
    )
    started = time.monotonic()
    assert supervisor.run(config) == STARTUP_FAILURE
    assert time.monotonic() - started < 60


def test_a_second_serve_on_a_claimed_port_is_refused(tmp_path: Path) -> None:
    """The port's claim is what keeps two servers started at the same moment from sharing it
    through SO_REUSEPORT: while it is held, serve refuses with one line."""
    import subprocess
    import sys

    from tests.server import free_port
    from trent import supervisor

    port = free_port()
    claim = supervisor.claim_port(port)
    try:
        with pytest.raises(supervisor.PortTaken):
            supervisor.claim_port(port)
        command = [sys.executable, "-m", "trent", "serve", "--data-dir", str(tmp_path / "d")]
        done = subprocess.run(
            [*command, "--port", str(port), "--workers", "2"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        claim.close()
    assert done.returncode == 1
    assert f"another trent serve is starting or running on port {port}" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    supervisor.claim_port(port).close()  # released with its socket


def test_a_replacement_that_cannot_start_stops_serve_with_one_line(tmp_path: Path) -> None:
    """The TLS files vanish while serving, then a worker dies: its replacement cannot start,
    and serve exits 3 with one line naming why (no traceback, no restart loop)."""
    server = TrentServer(tmp_path / "data", workers=2, tls=True).start()
    try:
        _wait(lambda: len(_workers(server)) == 2, 30, "two workers did not start")
        time.sleep(2)  # both serve
        tls = server.data_dir / "tls"
        for name in ("server.pem", "server.key"):
            (tls / name).rename(tmp_path / name)
        os.kill(_workers(server)[0], signal.SIGKILL)
        assert server.process is not None
        assert server.process.wait(timeout=60) == STARTUP_FAILURE
    finally:
        server.stop()
    log = (tmp_path / f"server-{server.port}.log").read_text()
    assert "could not start" in log, log[-2000:]
    assert "Traceback" not in log, log[-4000:]
