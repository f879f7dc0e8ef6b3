"""Key pairs generated before their handler runs, off the worker's event loop.

An RSA_4096 key pair takes 0.05 to 1 s of CPU to generate. Made inside a handler, it would run on
the event loop while the worker's store lock is held, and every other request on that worker
would wait for it. So the protocol layer, once a request is authenticated and parsed, asks
``job_for(operation, request)``; a job it gets back runs on a thread pool (pyca/cryptography
releases the GIL while OpenSSL generates) with no lock held, and its result reaches the handler
as ``call.prepared``. The handler takes it with ``private_key``, ``data_key_pair`` or
``wrapping_key_pair``, each of which generates inline when nothing (or something for another
spec) was prepared, so a handler called directly still works.

A prepared value is taken once (``call.prepared`` is cleared), lives only in the memory of the
request that asked for it, and is never stored unsealed: no key pair can serve two requests.
Generation jobs are asked for only after SigV4 verification, so an unauthenticated caller
cannot make Trent generate anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

from trent.crypto import asymmetric, wrapping
from trent.crypto.keyspecs import DATA_KEY_PAIR_SPECS, SPECS, UNSUPPORTED_SPECS
from trent.operations.context import Call, Request

Kind = Literal["private", "data-key-pair", "wrapping"]

# Families whose generation is worth a thread hop (the rest, HMAC and symmetric, are os.urandom).
_ASYMMETRIC_FAMILIES = frozenset({"rsa", "ec", "ed25519", "mldsa", "mlkem"})


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a job made: ``private`` (stored-form private key bytes, ``asymmetric``'s format),
    ``data-key-pair`` or ``wrapping`` ((PKCS#8 DER private key, DER SPKI public key))."""

    kind: Kind
    spec: str
    value: bytes | tuple[bytes, bytes]


def _generate(kind: Kind, spec: str) -> Prepared:
    if kind == "private":
        return Prepared(kind, spec, asymmetric.generate_private(spec))
    if kind == "data-key-pair":
        return Prepared(kind, spec, asymmetric.generate_data_key_pair(spec))
    return Prepared(kind, spec, wrapping.generate_wrapping_key(spec))


def job_for(operation: str, request: Request) -> Callable[[], Prepared] | None:
    """The generation ``operation`` will need for ``request`` (a parsed, model-valid request),
    as a function to run off the event loop; ``None`` when it needs none worth moving."""
    if operation == "CreateKey":
        spec = request.get("KeySpec") or request.get("CustomerMasterKeySpec")
        info = SPECS.get(spec or "")
        if (
            info is None
            or info.family not in _ASYMMETRIC_FAMILIES
            or spec in UNSUPPORTED_SPECS
            or request.get("Origin", "AWS_KMS") != "AWS_KMS"
        ):
            return None
        return partial(_generate, "private", info.name)
    if operation in ("GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"):
        spec = request.get("KeyPairSpec", "")
        if spec not in DATA_KEY_PAIR_SPECS or request.get("DryRun"):
            return None
        return partial(_generate, "data-key-pair", spec)
    if operation == "GetParametersForImport":
        spec = request.get("WrappingKeySpec", "")
        if spec not in wrapping.WRAPPING_KEY_BITS:
            return None
        return partial(_generate, "wrapping", spec)
    return None


def _take(call: Call, kind: Kind, spec: str) -> bytes | tuple[bytes, bytes]:
    prepared, call.prepared = call.prepared, None
    if isinstance(prepared, Prepared) and prepared.kind == kind and prepared.spec == spec:
        return prepared.value
    return _generate(kind, spec).value


def private_key(call: Call, spec: str) -> bytes:
    """A new private key of ``spec`` in ``asymmetric``'s stored form (CreateKey)."""
    value = _take(call, "private", spec)
    assert isinstance(value, bytes)
    return value


def data_key_pair(call: Call, spec: str) -> tuple[bytes, bytes]:
    """A new (PKCS#8 DER private key, DER SPKI public key) of ``spec`` (GenerateDataKeyPair)."""
    value = _take(call, "data-key-pair", spec)
    assert isinstance(value, tuple)
    return value


def wrapping_key_pair(call: Call, spec: str) -> tuple[bytes, bytes]:
    """A new RSA wrapping key pair of ``spec`` (GetParametersForImport)."""
    value = _take(call, "wrapping", spec)
    assert isinstance(value, tuple)
    return value
