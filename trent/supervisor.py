"""The worker processes of ``trent serve --workers N`` (N > 1, Linux): one listening socket each.

uvicorn's own supervisor hands one listening socket to every worker. Whichever worker is
waiting in ``epoll`` when connections arrive accepts every one that is queued, so a burst of new
connections (a client's pool opening, a load balancer reconnecting) lands on one worker while
the others idle: a benchmark's 32 connections all went to one of two workers, which then served
on one core. Here the supervisor binds one socket per worker to the same address with
``SO_REUSEPORT`` and the kernel spreads new connections across them by a hash of each
connection's addresses (socket(7), ``SO_REUSEPORT``). The workers are uvicorn's ``Server`` with
the same ``Config`` as ``uvicorn.run`` would use; only the supervision is Trent's.

- **Sockets outlive workers.** The supervisor keeps every slot's socket and starts a new worker
  on it when one dies, so the connections the kernel queued there wait for the replacement
  instead of being refused. Only sockets of the same user can join an ``SO_REUSEPORT`` group,
  and ``trent serve`` first checks that nothing listens on the port.
- **Start-up failure stops serve.** A worker that exits by itself (not killed by a signal)
  before it has started serving (the app, TLS or the data directory cannot work) would fail
  the same way again: the others are stopped and serve exits with ``STARTUP_FAILURE``, whatever
  the worker's own exit code, so a broken setting never becomes a restart loop that leaves its
  socket's connections unanswered.
- **One server per port.** ``SO_REUSEPORT`` would let a second ``trent serve`` of the same user
  started at the same moment join the port, splitting clients between two services; so the
  supervisor first takes the port's name in the abstract UNIX socket namespace
  (``\0trent-serve-port-<port>``, unix(7): released by the kernel when the process ends) and
  refuses to start if another has it.
- **Stopping.** SIGTERM or SIGINT to the supervisor sends SIGTERM to every worker (uvicorn's
  graceful shutdown: open requests finish, within ``timeout_graceful_shutdown``), waits for them,
  and kills any still running after ``STOP_GRACE_S``.
- **No orphans.** Each worker asks the kernel for SIGTERM when the supervisor dies
  (``prctl(PR_SET_PDEATHSIG)``, prctl(2)), so a ``kill -9`` of ``trent serve`` does not leave
  workers holding the port and the data directory.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess

from uvicorn import Config, Server
from uvicorn.config import STARTUP_FAILURE

from trent.processes import end_with_parent

STOP_GRACE_S = 20.0  # after SIGTERM, how long a worker may take to finish (then SIGKILL)
_READY = b"serving"
RESTART_PAUSE_S = 1.0  # between a worker's death and its replacement's start
log = logging.getLogger("uvicorn.error")


def available() -> bool:
    """True where the kernel balances connections across ``SO_REUSEPORT`` sockets (Linux)."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A socket listening on ``host:port`` that other sockets of this user may join
    (``SO_REUSEPORT``); the address family follows ``host`` as in ``uvicorn.Config``."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


class PortTaken(Exception):
    """Another ``trent serve`` is starting or running on the port."""


def claim_port(port: int) -> socket.socket:
    """A socket bound to the port's abstract name; ``PortTaken`` when another holds it."""
    claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        claim.bind(f"\0trent-serve-port-{port}")
    except OSError as exc:
        claim.close()
        raise PortTaken(f"another trent serve is starting or running on port {port}") from exc
    return claim


def run(config: Config) -> int:
    """Serve ``config`` (``config.workers`` > 1) with one socket per worker until SIGTERM or
    SIGINT; the exit status (0, or ``STARTUP_FAILURE`` when a worker could not start). Raises
    ``PortTaken``, or ``OSError`` when the address cannot be bound."""
    claim = claim_port(config.port)
    try:
        return _serve(config)
    finally:
        claim.close()


def _serve(config: Config) -> int:
    sockets = [
        listening_socket(config.host, config.port, config.backlog) for _ in range(config.workers)
    ]
    log.info("Started parent process [%d]", os.getpid())
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    workers: list[_Worker] = []
    status = 0
    try:
        workers = [_Worker(config, sock) for sock in sockets]
        while not stop.wait(0.5):
            for slot, worker in enumerate(workers):
                if worker.process.is_alive():
                    continue
                worker.process.join()
                code = worker.process.exitcode
                # it ended by itself before it served: the next would fail alike (one killed
                # by a signal, code < 0, is replaced)
                if not worker.served() and code is not None and code > 0:
                    log.error(
                        "Worker [%s] failed to start (exit code %s); stopping.", worker.pid, code
                    )
                    status = STARTUP_FAILURE
                    stop.set()
                    break
                log.warning("Worker [%s] died (exit code %s)", worker.pid, code)
                if stop.wait(RESTART_PAUSE_S):
                    break
                workers[slot] = _Worker(config, sockets[slot])
    finally:
        _stop_all([worker.process for worker in workers])
        for sock in sockets:
            sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("Stopping parent process [%d]", os.getpid())
    return status


class _Worker:
    """A started worker process, and the pipe on which it says once that it serves (a pipe,
    not a ``multiprocessing.Event``: an Event's semaphores make the resource tracker warn of
    "leaked semaphore objects" at every stop)."""

    def __init__(self, config: Config, sock: socket.socket) -> None:
        context = multiprocessing.get_context("spawn")
        self._says, says = context.Pipe(duplex=False)
        self._ready = False
        self.process = context.Process(
            target=_worker,
            kwargs={"config": config, "sock": sock, "parent": os.getpid(), "ready": says},
        )
        self.process.start()
        says.close()  # the worker holds the writing end now

    def served(self) -> bool:
        """Whether the worker said it serves (read once, then remembered)."""
        if not self._ready:
            with contextlib.suppress(EOFError, OSError):
                self._ready = self._says.poll() and self._says.recv_bytes() == _READY
        return self._ready

    @property
    def pid(self) -> int | None:
        return self.process.pid


class _Server(Server):
    """uvicorn's server, saying ``_READY`` on ``ready`` once it has started serving."""

    def __init__(self, config: Config, ready: Connection) -> None:
        super().__init__(config=config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.ready.send_bytes(_READY)
            self.ready.close()


def _stop_all(workers: list[SpawnProcess]) -> None:
    for worker in workers:
        if worker.is_alive() and worker.pid is not None:
            os.kill(worker.pid, signal.SIGTERM)
    for worker in workers:
        worker.join(STOP_GRACE_S)
        if worker.is_alive():
            log.error("Worker [%s] did not stop in %.0f s; killing it", worker.pid, STOP_GRACE_S)
            worker.kill()
            worker.join()


def _worker(config: Config, sock: socket.socket, parent: int, ready: Connection) -> None:
    """A worker process: SIGTERM when the supervisor dies, then uvicorn's ``Server`` on ``sock``."""
    if not end_with_parent(parent, signal.SIGTERM):  # the supervisor is gone already
        return
    config.configure_logging()
    try:
        _Server(config, ready).run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: already stopping
        pass
    except Exception as exc:  # e.g. the TLS files are gone: one line, not a traceback
        log.error("Worker [%d] could not start: %s", os.getpid(), exc)
        sys.exit(1)
