"""The limits that bound what one request, or one unauthenticated caller, can cost Trent.

Sizes follow AWS's own front ends where AWS documents them (Elastic Load Balancing, "Quotas for
your Application Load Balancers", HTTP headers: request line 16K, single header 16K, entire
request header 64K; a request over them is answered HTTP 400 before the service sees it).
docs/security.md lists every value and why.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_REQUEST_LINE_BYTES = 16 * 1024
"""Bytes in the request line (method, target, version)."""

MAX_HEADER_FIELD_BYTES = 16 * 1024
"""Bytes in one header field (name and value)."""

MAX_HEAD_BYTES = 64 * 1024
"""Bytes in the whole request head (request line and every header); counted as bytes arrive,
before the parser sees them, so a larger head is never buffered."""

MAX_BODY_BYTES = 1024 * 1024
"""Bytes in a request body (a declared larger ``Content-Length`` is refused unread)."""

DEFAULT_REQUEST_TIMEOUT = 5.0
"""Seconds a request may take to arrive whole (head and body), from its first byte or from
the connection's opening; ``trent serve --request-timeout``."""

CONNECTION_FD_RESERVE = 64
"""File descriptors each worker keeps for itself (database, audit log, pipes) when the
default connection cap is derived from ``RLIMIT_NOFILE``."""

MAX_OPERATION_NAME = 64
"""Characters of an operation name (the longest KMS operation name has 35)."""

MAX_AUDIT_USER_AGENT = 256
"""Characters of ``User-Agent`` an audit record keeps (boto3's is under 250)."""


@dataclass(frozen=True)
class HttpLimits:
    """What one connection may cost: seconds for a request to arrive, connections per worker
    (``trent.protocol.http`` enforces them)."""

    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    max_connections: int | None = None  # None: default_max_connections()
