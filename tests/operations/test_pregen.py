"""Key pairs generated off the event loop (trent.operations.pregen): each is used once, for the
spec asked, and a slow generation does not hold up other callers on the same worker."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tests.server import TrentServer
from trent.operations import pregen
from trent.operations.context import Call


def _call() -> Call:
    return Call("request", "event", 0.0)


def test_jobs_only_for_generation_worth_moving() -> None:
    assert pregen.job_for("CreateKey", {"KeySpec": "RSA_4096"}) is not None
    assert pregen.job_for("CreateKey", {"CustomerMasterKeySpec": "ECC_NIST_P256"}) is not None
    assert pregen.job_for("CreateKey", {}) is None  # SYMMETRIC_DEFAULT
    assert pregen.job_for("CreateKey", {"KeySpec": "HMAC_256"}) is None
    assert pregen.job_for("CreateKey", {"KeySpec": "RSA_2048", "Origin": "EXTERNAL"}) is None
    assert pregen.job_for("CreateKey", {"KeySpec": "ML_KEM_512"}) is None  # unsupported
    pair = {"KeyId": "k", "KeyPairSpec": "RSA_2048"}
    assert pregen.job_for("GenerateDataKeyPair", pair) is not None
    assert pregen.job_for("GenerateDataKeyPair", {**pair, "DryRun": True}) is None
    assert pregen.job_for("GenerateDataKeyPair", {**pair, "KeyPairSpec": "SM2"}) is None
    assert pregen.job_for("GetParametersForImport", {"WrappingKeySpec": "RSA_3072"}) is not None
    assert pregen.job_for("Encrypt", {"KeyId": "k"}) is None


def test_a_prepared_pair_is_taken_once() -> None:
    call = _call()
    job = pregen.job_for("GenerateDataKeyPair", {"KeyPairSpec": "ECC_NIST_P256"})
    assert job is not None
    call.prepared = job()
    first = pregen.data_key_pair(call, "ECC_NIST_P256")
    assert call.prepared is None
    second = pregen.data_key_pair(call, "ECC_NIST_P256")  # nothing prepared: made inline
    assert first != second
    assert _well_formed(first) and _well_formed(second)


def _well_formed(pair: tuple[bytes, bytes]) -> bool:
    """The pair as an independent parser reads it back (both halves are well-formed DER)."""
    private = serialization.load_der_private_key(pair[0], password=None)
    public = serialization.load_der_public_key(pair[1])
    assert private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return True


def test_a_pair_for_another_spec_is_not_used() -> None:
    call = _call()
    job = pregen.job_for("GenerateDataKeyPair", {"KeyPairSpec": "ECC_NIST_P256"})
    assert job is not None
    prepared = job()
    call.prepared = prepared
    private, public = pregen.data_key_pair(call, "ECC_NIST_P384")
    assert (private, public) != prepared.value
    key = serialization.load_der_public_key(public)
    assert key.curve.name == "secp384r1"  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    """One worker, so the slow and the fast callers share one event loop."""
    trent = TrentServer(tmp_path_factory.mktemp("pregen") / "data", workers=1).start()
    yield trent
    trent.stop()


def test_concurrent_pairs_are_never_shared(one_worker: TrentServer) -> None:
    kms = one_worker.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    publics: list[bytes] = []
    lock = threading.Lock()

    def make(spec: str) -> None:
        client = one_worker.client()
        for _ in range(4):
            created = client.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]
            pair = client.generate_data_key_pair(KeyId=key_id, KeyPairSpec=spec)
            with lock:
                publics.append(client.get_public_key(KeyId=created["KeyId"])["PublicKey"])
                publics.append(pair["PublicKey"])

    threads = [threading.Thread(target=make, args=("ECC_NIST_P256",)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(publics) == 32 and len(set(publics)) == 32


def _encrypts_during(
    server: TrentServer, slow_calls: list[Callable[[Any], object]]
) -> tuple[list[float], list[float]]:
    """(Encrypt latencies, slow call durations) in seconds: one client Encrypts in a loop on
    ``server`` while another makes each of ``slow_calls`` (given its client) in turn.

    The test process's garbage collector is paused meanwhile: a full collection in a pytest
    worker that has run a thousand tests (boto3's models are large) can hold the GIL for
    tenths of a second, which would show as a slow Encrypt that the server never caused."""
    kms = server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    durations: list[float] = []
    latencies: list[float] = []
    done = threading.Event()

    def fast(client: Any) -> None:
        while not done.is_set():
            start = time.perf_counter()
            client.encrypt(KeyId=key_id, Plaintext=b"x")
            latencies.append(time.perf_counter() - start)

    encryptor = server.client()
    encryptor.encrypt(KeyId=key_id, Plaintext=b"warm")
    client = server.client()
    worker = threading.Thread(target=fast, args=(encryptor,))
    gc.collect()
    gc.disable()
    worker.start()
    try:
        for call in slow_calls:
            start = time.perf_counter()
            call(client)
            durations.append(time.perf_counter() - start)
    finally:
        done.set()
        worker.join()
        gc.enable()
    return latencies, durations


def test_rsa_4096_generation_does_not_stall_encrypt(one_worker: TrentServer) -> None:
    """While RSA_4096 keys and import parameters are made, Encrypts on the same worker go on.

    Generated on the event loop, each Encrypt that arrives during a generation waits for all of
    it (0.05 to 1 s or more), so the worst Encrypt would take about as long as the slowest
    generation. Off the loop, the worst Encrypt stays far below it."""
    external = one_worker.client().create_key(
        Origin="EXTERNAL", KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY"
    )
    external_id = external["KeyMetadata"]["KeyId"]

    def parameters(client: Any) -> object:
        return client.get_parameters_for_import(
            KeyId=external_id,
            WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256",
            WrappingKeySpec="RSA_4096",
        )

    def create(client: Any) -> object:
        return client.create_key(KeySpec="RSA_4096", KeyUsage="SIGN_VERIFY")

    latencies, durations = _encrypts_during(one_worker, [create, parameters] * 3)
    slowest = max(durations)
    assert len(latencies) > 20, "Encrypts made no progress while keys were generated"
    # On the loop, the Encrypt in flight when the slowest generation starts waits for all of it
    # (about ``slowest``); off the loop it waits for CPU only. 0.6 x was exceeded once (0.52 s
    # against 0.50 s) by CPU contention alone in a CI run with the other xdist worker busy.
    assert max(latencies) < max(0.1, 0.8 * slowest), (max(latencies), durations)


def test_generation_waits_for_a_free_slot_shared_by_every_worker(tmp_path: Path) -> None:
    """While every generation slot is taken (as another worker's generations would hold
    them), a job does not run; it runs once one is free, in another process."""
    import asyncio
    import fcntl
    import os

    slots = [
        os.open(tmp_path / f"keygen-{n}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        for n in range(pregen.generation_slots())
    ]
    for fd in slots:
        fcntl.flock(fd, fcntl.LOCK_EX)
    pool = pregen.KeyPairPool(processes=1, slots_dir=tmp_path)
    job = pregen.job_for("CreateKey", {"KeySpec": "ECC_NIST_P256"})
    assert job is not None

    async def scenario() -> pregen.Prepared:
        task = asyncio.ensure_future(pool.run(job))
        done, _ = await asyncio.wait([task], timeout=3)  # a P-256 pair takes milliseconds
        assert not done, "a job ran while every slot was taken"
        os.close(slots.pop())  # one slot frees
        return await asyncio.wait_for(task, timeout=60)

    try:
        prepared = asyncio.run(scenario())
    finally:
        pool.shutdown()
        for fd in slots:
            os.close(fd)
    key = serialization.load_der_private_key(prepared.value, None)  # type: ignore[arg-type]
    assert key.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("slot", "cpus", "cpu"),
    [
        (0, (0, 1), 1),  # 2 CPUs, one slot: the last CPU, the first left to the event loops
        (0, (0, 1, 2, 3), 3),
        (2, (0, 1, 2, 3), 1),
        (0, (5,), 5),  # one CPU: one slot, on it
        (0, (2, 7, 9), 9),  # an affinity set with gaps (a cpuset)
        (1, (2, 7, 9), 7),
    ],
)
def test_a_slot_runs_on_its_own_cpu_counted_from_the_last(
    slot: int, cpus: tuple[int, ...], cpu: int
) -> None:
    assert pregen.slot_cpu(slot, cpus) == cpu


def test_the_slots_of_a_server_never_share_a_cpu_and_leave_the_first() -> None:
    for n in range(1, 17):
        cpus = tuple(range(0, 2 * n, 2))  # with gaps, as a cpuset may give them
        slots = max(1, n - 1)
        chosen = [pregen.slot_cpu(slot, cpus) for slot in range(slots)]
        assert len(set(chosen)) == slots
        assert n == 1 or cpus[0] not in chosen


def test_a_job_runs_on_its_slot_cpu_and_its_process_gets_every_cpu_back(tmp_path: Path) -> None:
    """A pool process holding slot 0 runs its job on the last CPU this process may use, and
    nothing else; once the job is done, that process may run on every CPU again, and the
    worker itself was never pinned."""
    import asyncio
    import os
    from functools import partial

    cpus = set(os.sched_getaffinity(0))
    pool = pregen.KeyPairPool(processes=1, slots_dir=tmp_path)

    async def scenario() -> tuple[object, object]:
        during = await pool.run(partial(os.sched_getaffinity, 0))  # type: ignore[arg-type]
        process = await pool.run(os.getpid)  # type: ignore[arg-type]
        return during, os.sched_getaffinity(process)  # type: ignore[arg-type]

    try:
        during, after = asyncio.run(scenario())
    finally:
        pool.shutdown()
    assert during == {max(cpus)}
    assert after == cpus
    assert os.sched_getaffinity(0) == cpus


def test_rsa_4096_import_does_not_stall_encrypt(one_worker: TrentServer) -> None:
    """ImportKeyMaterial of an RSA_4096 private key: its unwrapping and OpenSSL's check of the
    key (about 0.2 s on this machine) run off the event loop (``imports.unwrap_job``), so
    Encrypts on the same worker go on; the imported key then signs, and the signature verifies
    with the public half the test kept."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from tests.operations.test_asymmetric_import import WRAP_AES_256, create_external, wrap

    kms = one_worker.client()
    privates = [rsa.generate_private_key(public_exponent=65537, key_size=4096) for _ in range(3)]
    imported = [create_external(kms, "RSA_4096", "SIGN_VERIFY") for _ in privates]

    def importer(external: str, private: rsa.RSAPrivateKey) -> Callable[[Any], object]:
        der = private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        params = kms.get_parameters_for_import(
            KeyId=external, WrappingAlgorithm=WRAP_AES_256, WrappingKeySpec="RSA_2048"
        )
        material = wrap(params["PublicKey"], WRAP_AES_256, der)
        return lambda client: client.import_key_material(  # only the import is timed
            KeyId=external,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=material,
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )

    calls = [importer(external, p) for external, p in zip(imported, privates, strict=True)]
    latencies, durations = _encrypts_during(one_worker, calls)
    assert len(durations) == 3 and len(latencies) > 10
    # On the loop, the Encrypt in flight when the slowest import starts waits for all of it.
    assert max(latencies) < max(0.1, 0.8 * max(durations)), (max(latencies), durations)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    for external, private in zip(imported, privates, strict=True):
        signed = kms.sign(KeyId=external, Message=b"mine", SigningAlgorithm="RSASSA_PSS_SHA_256")
        private.public_key().verify(signed["Signature"], b"mine", pss, hashes.SHA256())
