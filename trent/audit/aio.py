"""``fdatasync`` that the kernel runs while the event loop goes on: Linux AIO, through caio.

The audit log makes each batch durable with an ``fdatasync`` of its journal
(``trent.audit.journal``). Run on a thread (``run_in_executor``), each batch wakes that thread,
which must then take the GIL from the busy event loop to finish, and hand the result back
(``call_soon_threadsafe``): two wake-ups and a GIL hand-off per batch. With Linux's own
asynchronous I/O (``io_submit`` of an ``IOCB_CMD_FDSYNC``, Linux 4.18 and later; see
``io_submit(2)``), the event loop submits the sync without waiting (a few µs), the kernel runs
it on one of its own workers, and signals an ``eventfd`` the loop watches; the loop completes
the batch there. Nothing in Python runs outside the event loop. On the benchmark machine this
gave Encrypt +9 % and GenerateRandom +8 % (``bench/ab.py``; ``bench/README.md``).

The system calls go through caio's ``linux_aio`` bindings (``Context``: ``io_setup``, the
``eventfd`` and ``io_getevents``; ``Operation.fdsync``). ``KernelSync.open`` returns None where
Linux AIO is not available (another OS, a kernel before 4.18, ``io_setup`` refused by a
sandbox or ``fs.aio-max-nr``); ``fdatasync`` raises ``NotSubmitted`` when the kernel did not
accept the sync, which then never ran. In both cases the caller syncs on a thread instead.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from contextlib import suppress
from functools import partial
from typing import Any

log = logging.getLogger("trent.audit")

MAX_IN_FLIGHT = 8  # io_setup's nr_events: syncs in flight at once (the log has one at a time)
_UNSIGNED = 1 << 64  # caio passes io_event.res as an unsigned 64-bit integer


class NotSubmitted(Exception):
    """The kernel did not accept the sync (``io_submit`` failed): it did not run."""


def sync_error(result: int) -> OSError | None:
    """The error a completed sync reports, from its ``io_event.res`` as caio passes it (an
    unsigned 64-bit integer: 0, or minus the ``errno`` of the ``fdatasync``); None when it
    succeeded."""
    if result == 0:
        return None
    code = _UNSIGNED - result if result > _UNSIGNED // 2 else errno.EIO
    return OSError(code, f"fdatasync (Linux AIO): {os.strerror(code)}")


class KernelSync:
    """One process's Linux AIO context, watched by one event loop. Use from that loop only."""

    def __init__(self, loop: asyncio.AbstractEventLoop, context: Any, operation: Any) -> None:
        self._loop = loop
        self._context = context
        self._operation = operation  # caio.linux_aio.Operation
        self._fileno: int = context.fileno
        self.submitted = 0  # syncs the kernel accepted
        loop.add_reader(self._fileno, self._completed)

    @classmethod
    def open(cls, loop: asyncio.AbstractEventLoop) -> KernelSync | None:
        """A context for ``loop``, or None where Linux AIO cannot be used (logged once)."""
        try:
            from caio import linux_aio  # Linux only; refuses kernels before 4.18

            context = linux_aio.Context(max_requests=MAX_IN_FLIGHT)
        except Exception as exc:  # ImportError, or io_setup refused (SystemError)
            log.info("audit syncs run on a thread (no Linux AIO: %s)", exc)
            return None
        return cls(loop, context, linux_aio.Operation)

    def fdatasync(self, fd: int) -> asyncio.Future[None]:
        """Start an ``fdatasync`` of ``fd``; the future ends when it has, with its ``OSError``
        if it failed. Raises ``NotSubmitted`` when the kernel did not take it."""
        operation = self._operation.fdsync(fd)
        done: asyncio.Future[None] = self._loop.create_future()
        operation.set_callback(partial(_finish, done))
        try:
            accepted = self._context.submit(operation)
        except Exception as exc:  # caio raises ValueError, OverflowError or SystemError
            raise NotSubmitted(str(exc)) from exc
        if accepted != 1:
            raise NotSubmitted("io_submit accepted no operation")
        self.submitted += 1
        return done

    def _completed(self) -> None:
        """The eventfd is readable: deliver every completed sync (caio calls ``_finish``)."""
        with suppress(BlockingIOError):  # completions are counted, not needed to drain them
            self._context.poll()
        while self._context.process_events():
            pass

    def close(self) -> None:
        """Stop watching the eventfd; the context (``io_destroy``, which waits for syncs still
        in flight) goes with the last reference."""
        if not self._loop.is_closed():
            with suppress(RuntimeError):
                self._loop.remove_reader(self._fileno)


def _finish(done: asyncio.Future[None], result: int) -> None:
    if done.done():  # cancelled meanwhile
        return
    error = sync_error(result)
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
