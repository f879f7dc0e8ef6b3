"""Issue 16 items 4 and 5: unauthenticated and slow traffic costs Trent little.

Raw sockets against real ``trent serve`` processes: oversized heads are refused before they
are read, refused requests leave small audit records and echo nothing large, half-sent
requests are timed out, and a flood of idle connections cannot lock signed callers out.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from tests.protocol.test_http import send, signed_headers
from tests.server import TrentServer

MIB = 1024 * 1024


def _address(server: TrentServer) -> tuple[str, int]:
    url = urlsplit(server.endpoint)
    return url.hostname or "127.0.0.1", url.port or 80


def _read_until_closed(sock: socket.socket, deadline: float) -> bytes | None:
    """Everything the server sends until it closes; None if still open at ``deadline``."""
    received = b""
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return None
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


@pytest.fixture
def limited_server(tmp_path: Path) -> Iterator[TrentServer]:
    trent = TrentServer(tmp_path / "data", extra_args=["--request-timeout", "2"]).start()
    yield trent
    trent.stop()


# --- item 4: heads are bounded before they are read --------------------------------------------
@pytest.mark.parametrize("header", ["User-Agent", "X-Amz-Target", "Authorization"])
def test_huge_header_is_refused_before_it_is_read(server: TrentServer, header: str) -> None:
    """A 32 MiB header: the server answers and closes long before the client has sent it."""
    before = len(server.audit_records())  # not checkpoints: one may be appended meanwhile
    value = b"AWS4-HMAC-SHA256 Credential=" if header == "Authorization" else b""
    head = b"POST / HTTP/1.1\r\nHost: trent\r\n" + header.encode() + b": " + value
    with socket.create_connection(_address(server), timeout=10) as sock:
        sent_all = True
        try:
            sock.sendall(head + b"A" * (32 * MIB))
        except (BrokenPipeError, ConnectionResetError):
            sent_all = False
        assert not sent_all, "the server read a 32 MiB header"
    # refused by the HTTP layer: nothing reached the app
    assert len(server.audit_records()) == before
    assert send(server, b"", {}, method="GET", path="/healthz").status == 200


def test_head_over_the_limit_is_answered_400(server: TrentServer) -> None:
    head = b"POST / HTTP/1.1\r\nHost: trent\r\n" + b"".join(
        b"X-Filler-%d: %s\r\n" % (i, b"f" * 8000) for i in range(9)
    )
    with socket.create_connection(_address(server), timeout=10) as sock:
        sock.sendall(head + b"\r\n")
        reply = _read_until_closed(sock, time.monotonic() + 10)
    assert reply is not None and reply.startswith(b"HTTP/1.1 400 "), reply
    assert reply.endswith(b"Request header fields too large"), reply  # not the app's answer


def test_single_header_field_over_16k_is_answered_400(server: TrentServer) -> None:
    head = b"POST / HTTP/1.1\r\nHost: trent\r\nUser-Agent: " + b"u" * (17 * 1024) + b"\r\n\r\n"
    with socket.create_connection(_address(server), timeout=10) as sock:
        sock.sendall(head)
        reply = _read_until_closed(sock, time.monotonic() + 10)
    assert reply is not None and reply.startswith(b"HTTP/1.1 400 "), reply
    assert reply.endswith(b"Request header fields too large"), reply


def test_refused_request_record_is_small_and_echoes_nothing_large(server: TrentServer) -> None:
    """Large values within the head limits: a short error, an audit record under 1 KB."""
    big = "Q" * 15000
    headers = signed_headers(server, "ListKeys", b"{}")
    headers["User-Agent"] = "ua-" + big
    headers["X-Amz-Target"] = "TrentService." + big
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential=AKIA{big}/20260101/us-east-1/kms/aws4_request, "
        f"SignedHeaders=host;x-amz-date;x-amz-target, Signature={'0' * 64}"
    )
    reply = send(server, b"{}", headers)
    assert reply.status == 400, reply.body
    assert len(reply.body) < 1024 and b"Q" * 100 not in reply.body
    request_id = reply.headers["x-amzn-requestid"]
    records = [r for r in server.audit_records() if r.get("requestID") == request_id]
    assert len(records) == 1
    assert len(orjson.dumps(records[0])) < 1024, records[0]
    assert "Q" * 300 not in json.dumps(records[0])


@pytest.mark.parametrize(
    "credential",
    ["Z" * 15000, "AKIA/" + "Z" * 15000 + "/x", "AKIAEXAMPLE/2026/us-east-1/kms/" + "Z" * 15000],
)
def test_malformed_credential_is_not_echoed(server: TrentServer, credential: str) -> None:
    headers = signed_headers(server, "ListKeys", b"{}")
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host;x-amz-date, "
        f"Signature={'0' * 64}"
    )
    reply = send(server, b"{}", headers)
    assert reply.status == 400, reply.body
    assert reply.error_type in {"IncompleteSignatureException", "InvalidSignatureException"}
    assert len(reply.body) < 1024 and b"Z" * 100 not in reply.body


def test_declared_body_over_the_limit_is_refused_unread(server: TrentServer) -> None:
    headers = signed_headers(server, "ListKeys", b"{}")
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
    head = f"POST / HTTP/1.1\r\n{lines}Content-Length: {64 * MIB}\r\n\r\n".encode()
    with socket.create_connection(_address(server), timeout=10) as sock:
        sock.sendall(head)
        reply = _read_until_closed(sock, time.monotonic() + 10)
    assert reply is not None and reply.startswith(b"HTTP/1.1 400 "), reply
    assert b"SerializationException" in reply


# --- item 5: slow clients ------------------------------------------------------------------
def _half_sent(server: TrentServer, count: int) -> list[socket.socket]:
    """``count`` connections, each stopped part-way: in its head, or in its body."""
    socks = []
    for i in range(count):
        sock = socket.create_connection(_address(server), timeout=10)
        if i % 2:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: trent\r\nX-Amz-Tar")
        else:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: trent\r\nContent-Length: 100\r\n\r\n{")
        socks.append(sock)
    return socks


def test_half_sent_requests_are_closed_after_the_timeout(limited_server: TrentServer) -> None:
    """200 stalled requests: signed calls succeed while they are open; the server then closes
    every one of them (``--request-timeout 2``), answering 408."""
    kms = limited_server.client()
    socks = _half_sent(limited_server, 200)
    try:
        for _ in range(5):
            assert kms.list_keys(Limit=1)["Keys"] is not None
        deadline = time.monotonic() + 60
        replies = [_read_until_closed(sock, deadline) for sock in socks]
    finally:
        for sock in socks:
            sock.close()
    assert all(reply is not None for reply in replies), "a stalled connection stayed open"
    assert all(reply.startswith(b"HTTP/1.1 408 ") for reply in replies if reply)
    assert kms.list_keys(Limit=1)["Keys"] is not None


@contextlib.contextmanager
def _fd_limit(soft: int) -> Iterator[None]:
    """Processes started inside inherit a soft RLIMIT_NOFILE of ``soft``."""
    old_soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (old_soft, hard))


def test_idle_connections_beyond_the_fd_limit_do_not_lock_out_signed_callers(
    tmp_path: Path,
) -> None:
    """Workers limited to 256 descriptors, 600 stalled connections (more than both workers
    can hold), a request timeout far away: signed calls still succeed."""
    trent = TrentServer(tmp_path / "data", extra_args=["--request-timeout", "120"])
    with _fd_limit(256):
        trent.start()
    socks: list[socket.socket] = []
    try:
        kms: Any = trent.client()
        socks = _half_sent(trent, 600)
        for _ in range(10):
            assert kms.list_keys(Limit=1)["Keys"] is not None
    finally:
        for sock in socks:
            sock.close()
        trent.stop()


@pytest.mark.parametrize("first", [1, 4096, 60000, 65535])
def test_head_limit_counts_the_first_chunk(server: TrentServer, first: int) -> None:
    """However the head is split across reads, its first bytes count toward the limit."""
    head = b"POST / HTTP/1.1\r\nHost: trent\r\n" + b"".join(
        b"X-Filler-%d: %s\r\n" % (i, b"f" * 8000) for i in range(9)
    )
    with socket.create_connection(_address(server), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(head[:first])
        time.sleep(0.2)  # let the server read the first part on its own
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head[first:] + b"\r\n")
        reply = _read_until_closed(sock, time.monotonic() + 10)
    assert reply is not None and reply.startswith(b"HTTP/1.1 400 "), reply
    assert reply.endswith(b"Request header fields too large"), reply
