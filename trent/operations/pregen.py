"""Key pairs generated before their handler runs, off the worker's event loop.

An RSA_4096 key pair takes 0.05 to 1 s of CPU to generate. Made inside a handler, it would run on
the event loop while the worker's store lock is held, and every other request on that worker
would wait for it. So the protocol layer, once a request is authenticated and parsed, asks
``job_for(operation, request)``; a job it gets back runs in a ``KeyPairPool`` process with no
lock held, and its result reaches the handler as ``call.prepared``. The handler takes it with
``private_key``, ``data_key_pair`` or ``wrapping_key_pair``, each of which generates inline when
nothing (or something for another spec) was prepared, so a handler called directly still works.

Why processes, not threads: a generating thread shares the worker's GIL, and while it holds it
(between OpenSSL calls) the event loop cannot run; demoting such a thread (``nice``) made that
worse, since a thread preempted while holding the GIL stalls the loop until it is scheduled
again (measured with ``bench/run.py``'s isolation case: Encrypt p99 22 ms at nice 19 on threads,
against 1.2 ms alone). A process has its own interpreter, so it can run at the lowest
priority (``KEYGEN_NICE``). The pair crosses a pipe to the worker once, as bytes (a private
key in memory, never at rest unsealed).

Priority alone still let generation fill every core: on 2 cores, two RSA_4096 generations at
once delayed the audit log's fsync threads and Encrypt's p99 rose from 1.2 ms to 9-14 ms. So
generation takes one of ``generation_slots()`` slots first (an exclusive ``flock`` on
``keygen-<n>.lock`` in ``slots_dir``, shared by every worker of the server): at most one core
less than the machine has generates at once, and one core is always left to the event loops.
More requests wait their turn (a burst of RSA_4096 CreateKey calls is served at that rate).

The slot also names the one CPU the job runs on (``slot_cpu``: slot 0 on the last CPU the
server may use, slot 1 on the one before, ...; the process's CPUs are restored after the job).
Free to move, a generating process went wherever the scheduler balanced it, and the worker
threads, their audit syncs (which Linux AIO runs on a kernel worker of the submitting CPU) and
the clients were woken behind it on any CPU: a woken task does not always preempt it at once,
and then waits up to the scheduler's next tick (4 ms at ``HZ=250``), about 10 times a second on
2 CPUs (``perf sched timehist``). Held on one CPU, the generation leaves the first CPUs to
everything else. ``nice`` alone cannot: under autogroup scheduling (the default on most
distributions) a nice value ranks a process only within its session (``sched(7)``), and the
generating processes share the server's. On 2 CPUs (``bench/README.md``, "Key generation on its
own CPU"), Encrypt's p99 during RSA_4096 work went from 2.7-3.5 times its p99 alone to 1.2-1.7
times in runs of ``bench/isolation.py``'s case, 1.61 and 1.87 in two full ``bench/run.py`` runs.
Slots are counted per data directory: two servers with their own data directories on one
machine pin their generations to the same last CPUs.

A prepared value is taken once (``call.prepared`` is cleared), lives only in the memory of the
request that asked for it, and is never stored unsealed: no key pair can serve two requests.
Generation jobs are asked for only after SigV4 verification, so an unauthenticated caller
cannot make Trent generate anything.
"""

from __future__ import annotations

import asyncio
import fcntl
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

from trent.crypto import asymmetric, wrapping
from trent.crypto.keyspecs import DATA_KEY_PAIR_SPECS, SPECS, UNSUPPORTED_SPECS
from trent.operations.context import Call, Request
from trent.processes import end_with_parent

Kind = Literal["private", "data-key-pair", "wrapping", "import"]

KEYGEN_PROCESSES = 2  # key pairs generated at once per worker; more wait their turn
KEYGEN_NICE = 19  # the generating processes' nice value (the lowest priority)

# Families whose generation is worth the pool (the rest, HMAC and symmetric, are os.urandom).
_ASYMMETRIC_FAMILIES = frozenset({"rsa", "ec", "ed25519", "mldsa", "mlkem"})


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a job made: ``private`` (stored-form private key bytes, ``asymmetric``'s format),
    ``data-key-pair`` or ``wrapping`` ((PKCS#8 DER private key, DER SPKI public key)), or
    ``import`` ((outcome, bytes) of an unwrapped import, ``trent.operations.imports``); ``spec``
    names what it was made for (a key spec, or an import's token and material)."""

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
    value = take_prepared(call, kind, spec)
    return value if value is not None else _generate(kind, spec).value


def take_prepared(call: Call, kind: Kind, spec: str) -> bytes | tuple[bytes, bytes] | None:
    """What a job prepared for ``kind`` and ``spec``, taken once; None when nothing (or
    something else) was prepared."""
    prepared, call.prepared = call.prepared, None
    if isinstance(prepared, Prepared) and prepared.kind == kind and prepared.spec == spec:
        return prepared.value
    return None


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


def allowed_cpus() -> tuple[int, ...]:
    """The CPUs this process may run on (``sched_getaffinity(2)``), in ascending order."""
    return tuple(sorted(os.sched_getaffinity(0)))


def generation_slots() -> int:
    """How many key pairs the whole server generates at once: ``allowed_cpus()`` less one (at
    least one)."""
    return max(1, len(allowed_cpus()) - 1)


def slot_cpu(slot: int, cpus: tuple[int, ...]) -> int:
    """The CPU that slot ``slot`` (0 to ``generation_slots() - 1``) runs its job on, counted
    from the last of ``cpus`` (ascending, not empty), so the first CPU is left to the event
    loops: with ``len(cpus) - 1`` slots no two slots share a CPU."""
    return cpus[-1 - slot % len(cpus)]


class KeyPairPool:
    """Runs ``job_for``'s jobs in ``processes`` worker processes at nice ``KEYGEN_NICE``, started
    (``spawn``) on the first job, so a worker that never generates a pair never starts one. With
    ``slots_dir``, each job first takes one of ``generation_slots()`` slots there, shared by
    every process using that directory, and runs on that slot's CPU. A pool whose process died
    is replaced and the job tried once more."""

    def __init__(self, processes: int = KEYGEN_PROCESSES, slots_dir: Path | None = None) -> None:
        self.processes = processes
        self.slots_dir = slots_dir
        self._pool: ProcessPoolExecutor | None = None

    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_lowest_priority,
                initargs=(os.getpid(),),
            )
        return self._pool

    async def run(self, job: Callable[[], Prepared]) -> Prepared:
        """``job()``, computed in a pool process (in a slot, with ``slots_dir``)."""
        loop = asyncio.get_running_loop()
        task = job if self.slots_dir is None else partial(_in_slot, self.slots_dir, job)
        try:
            return await loop.run_in_executor(self.pool(), task)
        except BrokenExecutor:  # a pool process died (killed, out of memory): a new pool
            self.shutdown()
            return await loop.run_in_executor(self.pool(), task)

    def shutdown(self, wait: bool = False) -> None:
        """Stop the pool's processes (jobs not started are cancelled); ``wait`` for them to end
        (at the worker's shutdown, so the pool's queues are released, not reported leaked)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)


def _lowest_priority(parent: int) -> None:
    """A pool process's initializer: nice ``KEYGEN_NICE`` (``os.nice`` adds to the current),
    and, on Linux, SIGKILL from the kernel when the worker that started it dies however it dies
    (``prctl(PR_SET_PDEATHSIG)``): a pool process holds nothing worth a goodbye, and left
    behind it would keep the server's stdout and stderr open."""
    os.nice(max(0, KEYGEN_NICE - os.nice(0)))
    if not end_with_parent(parent, signal.SIGKILL):  # the worker died before we asked
        os._exit(0)


def _in_slot(slots_dir: Path, job: Callable[[], Prepared]) -> Prepared:
    """``job()`` once this process holds a generation slot (the first free one, else it waits
    for the one its process id chooses), run on that slot's CPU (``slot_cpu``); this process's
    CPUs are restored afterwards. Closing the files (or the process ending) frees the slot."""
    slots, cpus = generation_slots(), allowed_cpus()
    fds: list[int] = []
    try:
        for slot in range(slots):
            fds.append(os.open(slots_dir / f"keygen-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600))
            try:
                fcntl.flock(fds[-1], fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                continue
        else:
            slot = os.getpid() % slots
            fcntl.flock(fds[slot], fcntl.LOCK_EX)
        with suppress(OSError):  # refused (a sandbox, or that CPU taken away): run unpinned
            os.sched_setaffinity(0, {slot_cpu(slot, cpus)})
        return job()
    finally:
        with suppress(OSError):  # some of them taken away meanwhile: the kernel keeps the rest
            os.sched_setaffinity(0, cpus)
        for fd in fds:
            os.close(fd)
