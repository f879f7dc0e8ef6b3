"""``fdatasync`` that the kernel runs while the event loop goes on: Linux AIO or io_uring, via caio.

The audit log makes each batch durable with an ``fdatasync`` of its journal
(``trent.audit.journal``). Run on a thread (``run_in_executor``), each batch wakes that thread,
which must then take the GIL from the busy event loop to finish, and hand the result back
(``call_soon_threadsafe``): two wake-ups and a GIL hand-off per batch. Submitted to the kernel
instead, the sync costs the event loop a system call of a few µs; the kernel runs it on a
worker of its own and signals an ``eventfd`` the loop watches, and the loop completes the batch
there. Nothing in Python runs outside the event loop.

Two kernel interfaces do this, tried in ``BACKENDS`` order:

- **Linux AIO** (``IOCB_CMD_FDSYNC``, Linux 4.18 and later; ``io_submit(2)``): the sync runs on
  the kernel's per-CPU workqueue of the CPU that submitted it;
- **io_uring** (``IORING_OP_FSYNC`` with ``IORING_FSYNC_DATASYNC``; ``io_uring_enter(2)``): the
  sync runs on one of the process's own io-wq kernel threads, which may run on any CPU.

On the benchmark machine (``bench/README.md``, "Audit syncs in the kernel"), against the
thread, Encrypt's peak rose about 5 % with Linux AIO and 3 % with io_uring. Linux AIO comes
first: it is faster here, and it is allowed where io_uring often is not (Docker's default
seccomp profile, ``kernel.io_uring_disabled``); io_uring is the second choice. (A Linux AIO sync
woken on a CPU busy generating a key pair could wait for the scheduler's next tick; io_uring's
threads did no better in full runs. Key generation now runs on a CPU of its own instead,
``trent.operations.pregen``.)

The system calls go through caio's bindings (``linux_uring`` and ``linux_aio``: ``Context``
makes the ring or AIO context and its ``eventfd``; ``Operation.fdsync``). ``KernelSync.open``
returns None where neither can be used (another OS, a sandbox); ``fdatasync`` raises
``NotSubmitted`` when the kernel did not take the sync, which then never ran, and a sync that
ends with one of ``NOT_RUN``'s errors could not run (io_uring reports those at completion). In
each case the caller syncs on a thread instead.
"""

from __future__ import annotations

import asyncio
import errno
import importlib
import logging
import os
from contextlib import suppress
from functools import partial
from typing import Any

log = logging.getLogger("trent.audit")

BACKENDS = ("linux_aio", "io_uring")  # tried in this order
MAX_IN_FLIGHT = 8  # ring / io_setup size: syncs in flight at once (the log has one at a time)
CLOSE_WAIT_S = 5  # close() waits at most this long, once, for syncs still in flight
# errnos of a sync the kernel could not run: no io-wq worker could start (ECANCELED), or the
# file or kernel cannot sync this way; no writeback error was consumed, a thread may sync
NOT_RUN = frozenset({errno.ECANCELED, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS, errno.EBADF})
_UNSIGNED = 1 << 64  # caio's linux_aio passes io_event.res as an unsigned 64-bit integer


def _import(backend: str) -> Any:
    """caio's module for ``backend``, imported now (not on the event loop's first batch), or
    the ``ImportError`` saying why not (another OS, a kernel too old)."""
    try:
        return importlib.import_module(
            f"caio.{'linux_uring' if backend == 'io_uring' else backend}"
        )
    except ImportError as exc:
        return exc


_MODULES = {backend: _import(backend) for backend in BACKENDS}


class NotSubmitted(Exception):
    """The kernel did not take the sync (``io_submit`` or ``io_uring_enter`` failed): it did
    not run."""


def sync_error(result: int) -> OSError | None:
    """The error a completed sync reports, from its result as caio passes it: io_uring's
    ``cqe.res`` (0, or minus the ``errno``) or Linux AIO's ``io_event.res`` read as an unsigned
    64-bit integer (0, or 2**64 minus the ``errno``); None when it succeeded."""
    if result == 0:
        return None
    if result < 0:
        return _error(-result)
    return _error(_UNSIGNED - result if result > _UNSIGNED // 2 else errno.EIO)


def _error(code: int) -> OSError:
    return OSError(code, f"fdatasync (kernel): {os.strerror(code)}")


class KernelSync:
    """One process's io_uring ring or Linux AIO context (``backend``), watched by one event
    loop. Use from that loop only."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, backend: str, context: Any, operation: Any
    ) -> None:
        self.backend = backend
        self.loop = loop
        self.submitted = 0  # syncs the kernel took
        self.in_flight = 0  # of those, not yet completed
        self._context = context
        self._operation = operation  # caio's Operation class of that backend
        # io_uring stages a submission and sends what is staged with flush (io_uring_enter)
        self._flush: Any = context.flush if backend == "io_uring" else None
        self._fileno: int = context.fileno
        loop.add_reader(self._fileno, self._completed)

    @classmethod
    def open(
        cls, loop: asyncio.AbstractEventLoop, backends: tuple[str, ...] = BACKENDS
    ) -> KernelSync | None:
        """The first of ``backends`` this process may use, for ``loop``; None when none (the
        reasons logged)."""
        refused = []
        for backend in backends:
            module = _MODULES[backend]
            try:
                if isinstance(module, ImportError):
                    raise module
                made = cls(
                    loop, backend, module.Context(max_requests=MAX_IN_FLIGHT), module.Operation
                )
            except Exception as exc:  # not importable, or refused (EPERM in a sandbox, ...)
                refused.append(f"{backend}: {exc}")
                continue
            log.info("audit journal syncs run in the kernel (%s)", backend)
            return made
        log.info("audit journal syncs run on a thread (%s)", "; ".join(refused))
        return None

    def fdatasync(self, fd: int) -> asyncio.Future[None]:
        """Start an ``fdatasync`` of ``fd``; the future ends when it has, with its ``OSError``
        if it failed. Raises ``NotSubmitted`` when the kernel did not take it."""
        try:
            operation = self._operation.fdsync(fd)
            done: asyncio.Future[None] = self.loop.create_future()
            operation.set_callback(partial(self._finish, done))
            accepted = self._context.submit(operation)
        except Exception as exc:  # caio raises ValueError, OverflowError or SystemError
            raise NotSubmitted(str(exc)) from exc
        if accepted != 1:
            raise NotSubmitted("the kernel took no operation")
        self.submitted += 1
        self.in_flight += 1
        if self._flush is not None:
            # io_uring_enter; a failure leaves the sync in the ring, sent by the next flush,
            # so it counts as in flight and its outcome still comes back through the future
            with suppress(Exception):
                self._flush()
        return done

    def _finish(self, done: asyncio.Future[None], result: int) -> None:
        self.in_flight -= 1
        if done.done() or done.get_loop().is_closed():  # cancelled meanwhile; or closing
            return
        error = sync_error(result)
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def _completed(self) -> None:
        """The eventfd is readable: deliver every completed sync (caio calls ``_finish``)."""
        with suppress(BlockingIOError):  # completions are counted, not needed to drain them
            self._context.poll()
        while self._context.process_events():
            pass

    def close(self) -> None:
        """Wait (up to ``CLOSE_WAIT_S``) for the syncs in flight to end, delivering their
        outcomes, then stop watching the eventfd; the ring or context goes with the last
        reference."""
        if self.in_flight:
            with suppress(Exception):
                self._context.process_events(MAX_IN_FLIGHT, self.in_flight, CLOSE_WAIT_S)
        if not self.loop.is_closed():
            with suppress(RuntimeError):
                self.loop.remove_reader(self._fileno)
