"""uvicorn's httptools protocol, with the limits uvicorn lacks: head size, request time, fds.

uvicorn (httptools) reads a request head of any size and waits for an incomplete request for
ever. ``TrentHttpProtocol`` adds, per connection and still parsing with httptools:

- head size: bytes are counted as they arrive and only ``MAX_HEAD_BYTES`` of a head are ever
  fed to the parser; a longer head, request line or header field is answered HTTP 400 (as
  AWS's load balancers do) and the connection closed, without reading more;
- request timeout: a request must arrive whole (head and body) within ``request_timeout``
  seconds of its first byte (or of the connection's opening); otherwise the server answers
  408 if it has not answered yet and closes the connection;
- connection cap: at most ``max_connections`` connections per worker. A connection over the
  cap evicts the connection that has waited longest for a request to arrive (idle keep-alive
  or slow sender); if every connection is running a request, the new one is closed.

It also sends each response in one ``write()``: uvicorn writes the head when the app sends
``http.response.start`` and the body when it sends ``http.response.body``, two system calls
(and, on loopback, two segments and two wake-ups of the client) per request. Each request's
cycle writes through a ``_OneWrite`` that holds a write until the next one or the end of the
event loop's current iteration, whichever comes first, so nothing waits longer than that.

None of these refusals is logged per request or written to the audit trail: nothing reached
the service. Pass ``protocol_factory(limits)`` as uvicorn's ``http=`` setting.
"""

from __future__ import annotations

import functools
import logging
import resource
import time
from asyncio import AbstractEventLoop, TimerHandle, Transport
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from trent.protocol.limits import (
    CONNECTION_FD_RESERVE,
    MAX_HEAD_BYTES,
    MAX_HEADER_FIELD_BYTES,
    MAX_REQUEST_LINE_BYTES,
    HttpLimits,
)

log = logging.getLogger("trent.http")


@functools.cache
def default_max_connections() -> int:
    """Connections per worker: the soft ``RLIMIT_NOFILE`` less ``CONNECTION_FD_RESERVE``."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 65536
    return max(16, soft - CONNECTION_FD_RESERVE)


class _HeadTooLarge(Exception):
    pass


_TOO_LARGE = b"Request header fields too large"
_TIMEOUT = b"Request timeout"


def _plain(status: bytes, message: bytes) -> bytes:
    return b"".join(
        [
            b"HTTP/1.1 ",
            status,
            b"\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ",
            str(len(message)).encode(),
            b"\r\nconnection: close\r\n\r\n",
            message,
        ]
    )


class _OneWrite:
    """The transport as one request-response cycle sees it: a write is held until the next
    write (sent together, in one system call), a close, or the end of the event loop's current
    iteration. Anything else goes to the transport."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: Transport, loop: AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._held = None
            self._transport.write(held + data)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class TrentHttpProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with a bounded head, a request timeout and a connection cap."""

    def __init__(self, *args: Any, limits: HttpLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timeout = limits.request_timeout
        self._cap = limits.max_connections or default_max_connections()
        self._head_bytes = 0
        self._head_done = False
        self._request_timer: TimerHandle | None = None
        # monotonic time since which this connection waits for a request; None while running one
        self.waiting_since: float | None = time.monotonic()

    # --- connection cap ------------------------------------------------------------------
    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._cap:
            self._evict_one()
        if not transport.is_closing():
            self._arm()

    def _evict_one(self) -> None:
        oldest: Transport = self.transport
        oldest_since = float("inf")
        for other in self.connections:
            since = getattr(other, "waiting_since", None)
            transport = getattr(other, "transport", None)
            if (
                since is not None
                and since < oldest_since
                and transport is not None
                and other is not self
                and not transport.is_closing()
            ):
                oldest, oldest_since = transport, since
        oldest.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # --- request timeout -----------------------------------------------------------------
    def _arm(self) -> None:
        if self._request_timer is None:
            self._request_timer = self.loop.call_later(self._timeout, self._timed_out)

    def _disarm(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _timed_out(self) -> None:
        self._request_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
            self.transport.write(_plain(b"408 Request Timeout", _TIMEOUT))
        self.transport.close()

    # --- head size -----------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        self._receive(data)
        if self.waiting_since is not None and not self.transport.is_closing():
            # part of a request is here and not all of it: its clock starts (or goes on). A
            # request that arrives whole in one read never needs the timer.
            self._arm()

    def _receive(self, data: bytes) -> None:
        if self._head_done:
            self._feed(data)
            return
        room = MAX_HEAD_BYTES - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            self._feed(data)
            return
        view = memoryview(data)
        self._head_bytes = MAX_HEAD_BYTES
        if not self._feed(view[:room]):
            return
        if not self._head_done:
            self._refuse_head()
            return
        self._feed(view[room:])

    def _feed(self, data: bytes | memoryview) -> bool:
        """Feed the parser; answer 400 and close on a malformed or oversized head."""
        if self.transport.is_closing():
            return False
        try:
            self.parser.feed_data(data)
        except _HeadTooLarge:
            self._refuse_head()
            return False
        except httptools.HttpParserUpgrade:
            log.debug("upgrade request ignored from %s", self.client)  # WebSocket is off
            return False
        except httptools.HttpParserError as exc:
            if isinstance(exc.__cause__ or exc.__context__, _HeadTooLarge):
                self._refuse_head()
            else:
                log.debug("invalid HTTP request from %s", self.client)
                self._close_with(_plain(b"400 Bad Request", b"Invalid HTTP request received."))
            return False
        return True

    def _refuse_head(self) -> None:
        self._close_with(_plain(b"400 Bad Request", _TOO_LARGE))

    def _close_with(self, response: bytes) -> None:
        self._disarm()
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(response)
        self.transport.close()

    # --- parser callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        # The head's count is not reset here: this runs while the first chunk of the head is
        # being fed, after data_received counted it. It restarts when the message completes.
        # data_received arms the request's clock if the message does not complete in this read.
        self.waiting_since = self.waiting_since or time.monotonic()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_REQUEST_LINE_BYTES:
            raise _HeadTooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) > MAX_HEADER_FIELD_BYTES:
            raise _HeadTooLarge
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_done = True
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.transport is self.transport:  # a new cycle
            self.cycle.transport = _OneWrite(self.transport, self.loop)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        self._head_bytes = 0  # the next request's head is counted from here
        self._head_done = False
        self._disarm()
        self.waiting_since = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self.waiting_since = time.monotonic()
        super().on_response_complete()


def protocol_factory(limits: HttpLimits) -> Any:
    """What to pass as uvicorn's ``http=``: the protocol class bound to ``limits`` (picklable,
    so every worker process gets it)."""
    return functools.partial(TrentHttpProtocol, limits=limits)
