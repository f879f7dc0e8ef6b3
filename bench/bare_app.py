"""The benchmark's ceiling: a bare ASGI app that answers every POST with a fixed KMS-like body.

It is served on the same stack as Trent (uvicorn, uvloop, httptools, same worker count), so
Trent's throughput as a percentage of this app's is the share of the server stack's capacity
that Trent keeps after parsing, SigV4 verification and cryptography.

Run by bench/run.py as::

    uvicorn bare_app:app --app-dir bench --workers 2 --loop uvloop --http httptools \
        --no-access-log --log-level warning
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
FIXED_BODY: bytes = orjson.dumps(
    {"KeyId": KEY_ARN, "CiphertextBlob": base64.b64encode(bytes(range(66))).decode()}
)
JSON_HEADERS = [
    (b"content-type", b"application/x-amz-json-1.1"),
    (b"content-length", str(len(FIXED_BODY)).encode()),
]
NOT_ALLOWED_HEADERS = [(b"content-length", b"0")]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    await _drain_body(receive)
    if scope["method"] != "POST":
        await send({"type": "http.response.start", "status": 405, "headers": NOT_ALLOWED_HEADERS})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": JSON_HEADERS})
    await send({"type": "http.response.body", "body": FIXED_BODY})


async def _drain_body(receive: Receive) -> None:
    """Read the whole request body, as a real handler must before answering."""
    more_body = True
    while more_body:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more_body = bool(message.get("more_body", False))


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
