"""KMS-side pieces of the benchmark: key setup with boto3, pre-signed raw requests, checks.

A SigV4 signature has no nonce and stays valid for 5 minutes, so one signed request can be
replayed many times; run.py signs afresh before every phase so a phase never outlives it.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3  # type: ignore[import-untyped]
import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from servers import Server

OPS = ("Encrypt", "Decrypt", "GenerateDataKey", "GenerateRandom", "CreateKey")
PLAINTEXT = bytes(range(100))
CONTENT_TYPE = "application/x-amz-json-1.1"
# The bare app answers every POST with the same body: these are the only fields it has.
BARE_FIELDS = ("KeyId", "CiphertextBlob")
EXPECTED_FIELDS = {
    "Encrypt": ("KeyId", "CiphertextBlob"),
    "Decrypt": ("KeyId", "Plaintext"),
    "GenerateDataKey": ("KeyId", "CiphertextBlob", "Plaintext"),
    "GenerateRandom": ("Plaintext",),
    "CreateKey": ("KeyMetadata",),
}
BARE_KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


@dataclass(frozen=True)
class Fixture:
    """What the measured requests refer to: one symmetric key and one ciphertext under it."""

    key_id: str
    ciphertext: bytes


@dataclass(frozen=True)
class SignedRequest:
    """A SigV4-signed request, ready to replay over HTTP/1.1."""

    op: str
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def raw(self) -> bytes:
        """The request as bytes on the wire, with Content-Length (not part of the signature)."""
        lines = [f"{self.method} {self.path} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body

    def wrk_env(self) -> dict[str, str]:
        """Environment variables read by bench/wrk_request.lua."""
        return {
            "BENCH_METHOD": self.method,
            "BENCH_BODY": self.body.decode(),
            "BENCH_HEADERS": "\n".join(f"{name}: {value}" for name, value in self.headers),
        }


def kms_client(server: Server, max_pool: int = 10) -> Any:
    return boto3.client(
        "kms",
        endpoint_url=server.endpoint,
        region_name=server.region,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        config=Config(retries={"max_attempts": 2}, max_pool_connections=max_pool),
    )


def prepare_fixture(server: Server) -> Fixture:
    """Create a key, encrypt once and check the three operations work through boto3."""
    if server.name == "bare":
        return Fixture(key_id=BARE_KEY_ID, ciphertext=bytes(range(150)))
    client = kms_client(server)
    key_id = client.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")[
        "KeyMetadata"
    ]["KeyId"]
    ciphertext = client.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)["CiphertextBlob"]
    if client.decrypt(CiphertextBlob=ciphertext)["Plaintext"] != PLAINTEXT:
        raise RuntimeError(f"{server.name}: Decrypt did not return the plaintext")
    if len(client.generate_data_key(KeyId=key_id, KeySpec="AES_256")["Plaintext"]) != 32:
        raise RuntimeError(f"{server.name}: GenerateDataKey did not return a 32-byte key")
    return Fixture(key_id=key_id, ciphertext=ciphertext)


def payload(op: str, fixture: Fixture) -> dict[str, Any]:
    if op == "Encrypt":
        return {"KeyId": fixture.key_id, "Plaintext": base64.b64encode(PLAINTEXT).decode()}
    if op == "Decrypt":
        return {"CiphertextBlob": base64.b64encode(fixture.ciphertext).decode()}
    if op == "GenerateDataKey":
        return {"KeyId": fixture.key_id, "KeySpec": "AES_256"}
    if op == "GenerateRandom":
        return {"NumberOfBytes": 32}
    if op == "CreateKey":  # a symmetric key per request: every replay creates one
        return {"KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT"}
    raise ValueError(f"unknown operation {op!r}")


def sign(server: Server, op: str, fixture: Fixture) -> SignedRequest:
    """Sign op's request now; the signature is valid for the next 5 minutes."""
    body = orjson.dumps(payload(op, fixture))
    request = AWSRequest(
        method="POST",
        url=f"{server.endpoint}/",
        data=body,
        headers={
            "Host": server.host_header,
            "Content-Type": CONTENT_TYPE,
            "X-Amz-Target": f"TrentService.{op}",
        },
    )
    credentials = Credentials(server.access_key, server.secret_key)
    SigV4Auth(credentials, "kms", server.region).add_auth(request)
    headers = tuple((str(name), str(value)) for name, value in request.headers.items())
    return SignedRequest(op=op, method="POST", path="/", headers=headers, body=body)


def check_response(server_name: str, op: str, body: bytes) -> str | None:
    """None if body is the JSON op should return, else what is wrong with it."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        return f"not JSON ({error}): {body[:200]!r}"
    if not isinstance(document, dict):
        return f"not a JSON object: {body[:200]!r}"
    fields = BARE_FIELDS if server_name == "bare" else EXPECTED_FIELDS[op]
    missing = [field for field in fields if field not in document]
    if missing:
        return f"missing {missing}: {body[:200]!r}"
    decrypted = document.get("Plaintext") if op == "Decrypt" and server_name != "bare" else None
    if decrypted is not None and base64.b64decode(decrypted) != PLAINTEXT:
        return "Decrypt returned the wrong plaintext"
    return None


# A bulk path for --keys. Trent may grow a faster one (e.g. a CLI that writes keys straight
# into its store); put it here and select it by server name.
KeyCreator = Callable[[Server, int, int], None]


def create_keys_with_boto3(server: Server, count: int, threads: int) -> None:
    """Create count symmetric keys through the API, threads requests at a time."""
    client = kms_client(server, max_pool=threads)

    def create(_: int) -> None:
        client.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(create, range(count)))


def create_keys_in_process(server: Server, count: int, threads: int) -> None:
    """Bulk path for Trent: run CreateKey in this process against the server's data directory
    (the same operations, storage and seal; the running workers see the new keys through
    SQLite). Commits every 1,000 keys in one transaction."""
    from trent.app import build_env
    from trent.authz import Principal
    from trent.config import Settings
    from trent.operations import OPERATIONS, Call

    assert server.data_dir is not None
    env = build_env(Settings(data_dir=server.data_dir))
    principal = Principal(env.account_id, f"arn:aws:iam::{env.account_id}:user/bench", "bench")
    create = OPERATIONS["CreateKey"]
    done = 0
    while done < count:
        batch = min(1000, count - done)
        with env.store.write():
            for _ in range(batch):
                create(env, Call("bench", "bench", env.clock.now(), principal=principal), {})
        done += batch
    env.store.close()


KEY_CREATORS: dict[str, KeyCreator] = {"trent": create_keys_in_process}


def create_extra_keys(server: Server, count: int, threads: int) -> float:
    """Create count extra keys in server; returns the seconds it took."""
    creator = KEY_CREATORS.get(server.name, create_keys_with_boto3)
    started = time.perf_counter()
    creator(server, count, threads)
    return time.perf_counter() - started
