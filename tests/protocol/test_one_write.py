"""A response's head and body leave in one write (``trent.protocol.http._OneWrite``), on a real
socket and event loop: nothing is sent until the body (or the end of the loop's iteration, or a
close), then both together."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvloop

from trent.protocol.http import _OneWrite


async def _pair() -> tuple[asyncio.Transport, socket.socket]:
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    return transport, theirs  # type: ignore[return-value]


def _nothing_yet(sock: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        sock.recv(4096)


def test_head_and_body_leave_together() -> None:
    async def scenario() -> None:
        transport, peer = await _pair()
        out = _OneWrite(transport, asyncio.get_running_loop())
        out.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        _nothing_yet(peer)  # the head is held
        out.write(b"{}")
        assert peer.recv(4096) == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
        await asyncio.sleep(0)
        _nothing_yet(peer)  # nothing left over for the end of the iteration
        transport.close()
        peer.close()

    uvloop.run(scenario())


def test_a_lone_write_leaves_at_the_end_of_the_iteration_or_on_close() -> None:
    async def scenario() -> None:
        transport, peer = await _pair()
        loop = asyncio.get_running_loop()
        out = _OneWrite(transport, loop)
        out.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        _nothing_yet(peer)
        await asyncio.sleep(0)
        assert peer.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
        closing = _OneWrite(transport, loop)
        closing.write(b"bye")
        closing.close()
        await asyncio.sleep(0.05)
        assert peer.recv(4096) == b"bye"
        assert closing.is_closing()
        peer.close()

    uvloop.run(scenario())
