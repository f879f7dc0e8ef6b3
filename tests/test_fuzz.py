"""Model-driven fuzz of every operation in the botocore KMS model, against a real server.

Request bodies are generated from the operations' input shapes with a fixed seed: odd values for
every member (empty, huge within the 1 MiB body limit, unicode, wrong JSON types, out-of-range
numbers, bad base64, unknown enum values), members left out, unknown members, duplicate JSON
members and bodies that are not JSON objects at all; key ids point at keys of every key spec in
every state (Enabled, Disabled, PendingDeletion, PendingImport), by id, ARN and alias. Every
answer must be below 500 and, when it is an error, exactly ``{"__type": str}`` plus an optional
``"message": str``. Failures are collected and reported with the body that caused them.
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.loaders import Loader

from tests.server import REGION, TrentServer
from trent.operations import OPERATIONS as TRENT_OPERATIONS

SEED = 20261125
REQUESTS = 2500  # ~20 s on the project's 2-core machine
MAX_BODY = 1024 * 1024
MODEL = Loader().load_service_model("kms", "service-2")
SHAPES: dict[str, Any] = MODEL["shapes"]
OPERATIONS = sorted(MODEL["operations"])
IMPLEMENTED = sorted(set(OPERATIONS) & set(TRENT_OPERATIONS))
USAGE_OF_SPEC = {  # the pool's specs with one usage each; RSA_2048 and ECC keys by usage below
    "SYMMETRIC_DEFAULT": "ENCRYPT_DECRYPT",
    "ECC_SECG_P256K1": "SIGN_VERIFY",
    "ECC_NIST_EDWARDS25519": "SIGN_VERIFY",
    "ML_DSA_44": "SIGN_VERIFY",
    "ML_KEM_768": "ENCAPSULATE_DECAPSULATE",
    "HMAC_256": "GENERATE_VERIFY_MAC",
    "ECC_NIST_P384": "KEY_AGREEMENT",
    "ECC_NIST_P256": "SIGN_VERIFY",
}
USAGE_OF_OPERATION = {
    **dict.fromkeys(
        [
            "Encrypt",
            "Decrypt",
            "ReEncrypt",
            "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext",
            "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext",
            "RotateKeyOnDemand",
            "EnableKeyRotation",
        ],
        "ENCRYPT_DECRYPT",
    ),
    **dict.fromkeys(["Sign", "Verify"], "SIGN_VERIFY"),
    **dict.fromkeys(["GenerateMac", "VerifyMac"], "GENERATE_VERIFY_MAC"),
    **dict.fromkeys(["Encapsulate", "Decapsulate"], "ENCAPSULATE_DECAPSULATE"),
    "DeriveSharedSecret": "KEY_AGREEMENT",
}
KEY_MEMBERS = {"KeyId", "DestinationKeyId", "TargetKeyId", "SourceKeyId"}


@dataclass
class Pool:
    """Things that exist on the server, for generated requests to name."""

    key_ids: list[str] = field(default_factory=list)
    arns: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)
    material_ids: list[str] = field(default_factory=list)
    usable: list[str] = field(default_factory=list)  # Enabled keys, by id, ARN or alias
    by_usage: dict[str, list[str]] = field(default_factory=dict)  # Enabled keys by KeyUsage

    def key(self, rng: random.Random) -> str:
        kind = rng.random()
        if kind < 0.45:
            return rng.choice(self.key_ids)
        if kind < 0.7:
            return rng.choice(self.arns)
        if kind < 0.85:
            return rng.choice(self.aliases)
        return rng.choice(
            [
                str(uuid.uuid4()),
                "mrk-" + uuid.uuid4().hex,
                f"arn:aws:kms:{REGION}:111122223333:key/{uuid.uuid4()}",
                f"arn:aws:kms:eu-west-1:000000000000:alias/{uuid.uuid4().hex}",
                "alias/aws/s3",
                "alias/",
                "arn:aws:kms:::",
                "key/" + str(uuid.uuid4()),
                "",
                " ",
                "x" * 2048,
                "\u00e9\u4e2d\U0001f511",
                rng.choice(self.key_ids).upper(),
            ]
        )


class Signer:
    """POST / signed with botocore's SigV4 over one keep-alive connection."""

    def __init__(self, server: TrentServer) -> None:
        access_key, secret = server.credentials()
        self.credentials = Credentials(access_key, secret)
        self.netloc = urlsplit(server.endpoint).netloc
        self.url = server.endpoint + "/"
        self.conn = http.client.HTTPConnection(self.netloc, timeout=60)

    def post(self, target: str, body: bytes) -> tuple[int, bytes]:
        request = AWSRequest(
            method="POST",
            url=self.url,
            data=body,
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": f"TrentService.{target}",
            },
        )
        SigV4Auth(self.credentials, "kms", REGION).add_auth(request)
        headers = dict(request.headers.items())
        for attempt in range(2):
            try:
                self.conn.request("POST", "/", body=body, headers=headers)
                reply = self.conn.getresponse()
                return reply.status, reply.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.netloc, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def call(self, target: str, params: dict[str, Any]) -> dict[str, Any]:
        status, payload = self.post(target, json.dumps(params).encode())
        body = json.loads(payload)
        assert status == 200, (target, params, body)
        return dict(body)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def populate(signer: Signer) -> Pool:
    """Keys of every spec and usage, in every state, with aliases and ciphertexts."""
    pool = Pool()
    specs = [
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
        ("RSA_2048", "ENCRYPT_DECRYPT"),
        ("RSA_2048", "SIGN_VERIFY"),
        ("ECC_NIST_P256", "SIGN_VERIFY"),
        ("ECC_NIST_P384", "KEY_AGREEMENT"),
        ("ECC_SECG_P256K1", "SIGN_VERIFY"),
        ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"),
        ("ML_DSA_44", "SIGN_VERIFY"),
        ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE"),
        ("HMAC_256", "GENERATE_VERIFY_MAC"),
    ]
    made: list[tuple[str, str, str]] = []  # (key id, spec, state to put it in)
    for spec, usage in specs:
        for state in ("Enabled", "Disabled", "PendingDeletion"):
            meta = signer.call("CreateKey", {"KeySpec": spec, "KeyUsage": usage})["KeyMetadata"]
            made.append((meta["KeyId"], spec, state))
            pool.arns.append(meta["Arn"])
    for spec, usage in (
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
        ("RSA_2048", "SIGN_VERIFY"),
        ("HMAC_256", "GENERATE_VERIFY_MAC"),
    ):
        meta = signer.call("CreateKey", {"KeySpec": spec, "KeyUsage": usage, "Origin": "EXTERNAL"})[
            "KeyMetadata"
        ]
        made.append((meta["KeyId"], spec, "PendingImport"))
        pool.arns.append(meta["Arn"])
    for key_id, spec, state in made:
        pool.key_ids.append(key_id)
        alias = f"alias/fuzz-{uuid.uuid4().hex[:10]}"
        signer.call("CreateAlias", {"AliasName": alias, "TargetKeyId": key_id})
        pool.aliases.append(alias)
        if state == "Enabled":
            names = [key_id, pool.arns[len(pool.key_ids) - 1], alias]
            pool.usable += names
            pool.by_usage.setdefault(USAGE_OF_SPEC.get(spec, spec), []).extend(names)
        if state == "PendingImport":
            continue
        if spec == "SYMMETRIC_DEFAULT":
            reply = signer.call("Encrypt", {"KeyId": key_id, "Plaintext": b64(b"fuzz")})
            pool.blobs.append(base64.b64decode(reply["CiphertextBlob"]))
            pool.material_ids.append(reply.get("KeyMaterialId", ""))
            reply = signer.call(
                "Encrypt",
                {"KeyId": key_id, "Plaintext": b64(b"ctx"), "EncryptionContext": {"a": "b"}},
            )
            pool.blobs.append(base64.b64decode(reply["CiphertextBlob"]))
        if spec == "RSA_2048":
            public = signer.call("GetPublicKey", {"KeyId": key_id})["PublicKey"]
            pool.blobs.append(base64.b64decode(public))
        if spec == "HMAC_256":
            mac = signer.call(
                "GenerateMac",
                {"KeyId": key_id, "Message": b64(b"m"), "MacAlgorithm": "HMAC_SHA_256"},
            )["Mac"]
            pool.blobs.append(base64.b64decode(mac))
        if state == "Disabled":
            signer.call("DisableKey", {"KeyId": key_id})
        elif state == "PendingDeletion":
            signer.call("ScheduleKeyDeletion", {"KeyId": key_id, "PendingWindowInDays": 7})
    pool.material_ids = [m for m in pool.material_ids if m]
    return pool


class Generator:
    """Values for the model's shapes: mostly plausible, often odd."""

    def __init__(self, rng: random.Random, pool: Pool) -> None:
        self.rng = rng
        self.pool = pool
        self.wild = True  # False: plausible values only, to reach deep into the operations
        self.operation = ""

    def odd(self) -> Any:
        """A value of any JSON type, for the wrong-type cases."""
        return self.rng.choice(
            [
                None,
                True,
                False,
                0,
                -1,
                2**63,
                -(2**70),
                1.5,
                1e308,
                "",
                "a",
                "\u0000",
                "\ud7ff\ue000",
                [],
                [1, "a", None],
                {},
                {"a": {"b": []}},
                "A" * self.rng.choice([1, 256, 8193, 70000]),
            ]
        )

    def value(self, shape_name: str, member: str, depth: int = 0) -> Any:
        rng = self.rng
        if self.wild and rng.random() < 0.08:
            return self.odd()
        shape = SHAPES[shape_name]
        kind = shape["type"]
        if kind == "structure":
            return self.structure(shape_name, depth + 1)
        if kind == "list":
            if depth > 3:
                return []
            n = rng.choice([0, 1, 1, 2, 3, 51]) if rng.random() < 0.9 else rng.randint(0, 300)
            if not self.wild:
                n = rng.choice([0, 1, 1, 2])
            return [self.value(shape["member"]["shape"], member, depth + 1) for _ in range(n)]
        if kind == "map":
            n = rng.choice([0, 1, 2, 5, 100] if self.wild else [0, 1, 2])
            out: dict[str, Any] = {}
            for _ in range(n):
                out[self.string({}, "k")] = (
                    self.string({}, "v") if rng.random() < 0.9 else self.odd()
                )
            return out
        if kind == "blob":
            return self.blob(shape)
        if kind == "integer":
            low, high = int(shape.get("min", -(2**31))), int(shape.get("max", 2**31))
            if not self.wild:
                return rng.randint(max(low, 1), min(high, 1024))
            return rng.choice(
                [low, high, low - 1, high + 1, rng.randint(low, high), 0, -1, 2**64, 32, 4096]
            )
        if kind == "boolean":
            return rng.choice([True, False, "true", 1, None] if self.wild else [True, False])
        if kind == "timestamp":
            return rng.choice(
                [0, -1, 1.5e9, 4.1e9, 1e18, 2_000_000_000.123456, "2030-01-01T00:00:00Z", "soon"]
            )
        return self.string(shape, member)

    def string(self, shape: dict[str, Any], member: str) -> Any:
        rng = self.rng
        if member in KEY_MEMBERS and not self.wild and rng.random() < 0.7:
            fitting = self.pool.by_usage.get(USAGE_OF_OPERATION.get(self.operation, ""))
            return rng.choice(fitting or self.pool.usable)
        if member in KEY_MEMBERS and rng.random() < 0.85:
            return self.pool.key(rng)
        if member == "AliasName" and rng.random() < 0.7:
            return rng.choice([*self.pool.aliases, "alias/aws/x", "alias/" + "a" * 250, "bad"])
        if member == "KeyMaterialId" and self.pool.material_ids and rng.random() < 0.6:
            return rng.choice([*self.pool.material_ids, "0" * 64, "zz"])
        enum = shape.get("enum")
        if enum and (not self.wild or rng.random() < 0.8):
            return rng.choice(enum)
        if not self.wild:
            return rng.choice(["fuzz", "Department", str(uuid.uuid4()), "\u00e9t\u00e9"])
        if member == "Policy" and rng.random() < 0.5:
            return rng.choice(['{"Version":"2012-10-17","Statement":[]}', "{", "[]", "null"])
        return rng.choice(
            [
                "",
                " ",
                "x",
                "SYMMETRIC_DEFAULT",
                "\u00e9\u4e2d\U0001f511",
                "a" * rng.choice([1, 255, 256, 2048, 32768, 200_000]),
                str(uuid.uuid4()),
                "../../etc/passwd",
                "%s%n{0}",
                "'; DROP TABLE keys; --",
                "\n\t\r",
            ]
        )

    def blob(self, shape: dict[str, Any]) -> Any:
        rng = self.rng
        choice = rng.random()
        if choice < 0.35 and self.pool.blobs:
            blob = rng.choice(self.pool.blobs)
            if rng.random() < 0.3:  # flip a byte, truncate or extend
                mutated = bytearray(blob)
                index = rng.randrange(len(mutated))
                mutated[index] ^= 1 << rng.randrange(8)
                blob = bytes(
                    mutated[: rng.randint(0, len(mutated))] if rng.random() < 0.3 else mutated
                )
            return b64(blob)
        if not self.wild:
            return b64(rng.randbytes(rng.choice([1, 16, 32, 64, 256])))
        if choice < 0.8:
            size = rng.choice([0, 1, 16, 32, 48, 64, 100, 512, 1024, 4096, 4097, 6144, 65536])
            return b64(rng.randbytes(size))
        if choice < 0.9:
            return rng.choice(["!!!", "AAA", "A", "====", "YQ", "YQ==\n", "\u00e9"])
        return b64(rng.randbytes(rng.choice([300_000, 700_000])))  # huge, within 1 MiB

    def structure(self, shape_name: str, depth: int = 0) -> dict[str, Any]:
        rng = self.rng
        shape = SHAPES[shape_name]
        required = set(shape.get("required", ()))
        out: dict[str, Any] = {}
        if depth > 4:
            return out
        for member, ref in shape.get("members", {}).items():
            keep = (
                (0.92 if member in required else 0.45)
                if self.wild
                else (1.0 if member in required else 0.3)
            )
            if rng.random() < keep:
                out[member] = self.value(ref["shape"], member, depth)
        if self.wild and rng.random() < 0.08:
            out[rng.choice(["Bogus", "keyId", "__type", "KEYID", ""])] = self.odd()
        return out


def render(rng: random.Random, params: dict[str, Any]) -> bytes:
    """The JSON body; sometimes with a member repeated, sometimes not an object at all."""
    roll = rng.random()
    if roll < 0.04:
        return rng.choice(
            [b"", b"[]", b"null", b'"x"', b"{", b"{}}", b"\xff\xfe", b'{"a":1,}', b"1e999"]
        )
    body = json.dumps(params).encode()
    if roll < 0.12 and params:
        name = rng.choice(list(params))
        extra = json.dumps({name: rng.choice([None, "", 5, [], params[name]])})[1:-1]
        body = body[:-1] + b", " + extra.encode() + b"}"
    if len(body) > MAX_BODY:
        body = json.dumps({k: v for k, v in params.items() if len(json.dumps(v)) < 1000}).encode()
    return body


def well_formed_error(payload: bytes) -> bool:
    try:
        body = json.loads(payload)
    except ValueError:
        return False
    if not isinstance(body, dict) or not isinstance(body.get("__type"), str):
        return False
    if not set(body) <= {"__type", "message"}:
        return False
    return "message" not in body or isinstance(body["message"], str)


def requests(rng: random.Random, generator: Generator) -> Iterator[tuple[str, bytes]]:
    for _ in range(REQUESTS):
        roll = rng.random()
        if roll < 0.8:
            operation = rng.choice(IMPLEMENTED)
        elif roll < 0.98:
            operation = rng.choice(OPERATIONS)
        else:
            operation = "FuzzOperation"
        generator.wild = rng.random() < 0.5
        generator.operation = operation
        spec = MODEL["operations"].get(operation, {}).get("input")
        params = generator.structure(spec["shape"]) if spec else {}
        yield operation, render(rng, params) if generator.wild else json.dumps(params).encode()


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    trent = TrentServer(tmp_path_factory.mktemp("fuzz") / "data").start()
    yield trent
    trent.stop()


def test_every_operation_answers_without_5xx_and_with_well_formed_errors(
    fuzz_server: TrentServer,
) -> None:
    signer = Signer(fuzz_server)
    pool = populate(signer)
    rng = random.Random(SEED)
    generator = Generator(rng, pool)
    failures: list[str] = []
    statuses: dict[int, int] = {}
    operations_seen: set[str] = set()
    for operation, body in requests(rng, generator):
        status, payload = signer.post(operation, body)
        statuses[status] = statuses.get(status, 0) + 1
        operations_seen.add(operation)
        if status >= 500 or (status != 200 and not well_formed_error(payload)):
            failures.append(f"{operation} {status} {payload[:300]!r} <- {body[:600]!r}")
        elif status == 200:
            assert isinstance(json.loads(payload), dict), (operation, payload[:200])
    assert set(OPERATIONS) <= operations_seen  # every operation of the model was tried
    assert statuses.get(200, 0) > REQUESTS // 50, statuses  # some requests went all the way
    assert not failures, f"{len(failures)} bad answers:\n" + "\n".join(failures[:20])
