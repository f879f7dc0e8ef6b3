"""The series Trent records as it serves (counters and histograms, one value file per worker).

The request path only adds to plain dicts and lists in its worker (well under a microsecond);
``Metrics.flush`` adds them to prometheus_client's values (memory-mapped files in multiprocess
mode, a few microseconds per write) once per label set: every second or two from the app's
background loop, before this worker answers a scrape, and at shutdown. So a scrape shows
another worker's requests within that interval.

Series (prometheus_client naming; ``_total``/``_bucket`` suffixes added on exposition):

- ``trent_kms_requests_total{operation, key_arn, outcome}``: every KMS request that arrived
  whole, once. ``outcome`` is ``success``, ``client_error`` (a 4xx error) or ``server_error``
  (5xx); ``key_arn`` is the ARN of the first key the request touched (the one it was
  authorized on; a ReEncrypt's source key), ``""`` for account-level requests and for requests
  that named no existing key. ``operation`` is a KMS operation name Trent implements, else
  ``Unknown``. So an unknown operation or KeyId never makes a new series, and no label holds
  anything but an operation name or the ARN of a key that exists (AWS's CloudWatch
  ``SuccessfulRequest`` by ``KeyArn`` and ``Operation`` is ``outcome="success"``).
- ``trent_kms_request_duration_seconds{operation}``: histogram, from the request's arrival (its
  event time) to its reply being ready (after its audit record is on disk and its change
  committed).
- ``trent_audit_write_seconds``: histogram, from handing a record to the audit log until it is
  on disk (includes the wait for a group commit's fsync).
- ``trent_scheduler_runs_total``, ``trent_scheduler_failures_total``: scheduler ticks in the
  worker holding the scheduler lease, and ticks that raised or hit a storage fault;
  ``trent_scheduler_events_total{event}``: what they did (``RotateKey``, ``DeleteKey``, ...).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram

import trent.errors
from trent.audit import AuditLog
from trent.audit.chain import Signer
from trent.clock import Clock
from trent.errors import KMSError
from trent.operations import Call

UNKNOWN_OPERATION = "Unknown"
SUCCESS, CLIENT_ERROR, SERVER_ERROR = "success", "client_error", "server_error"
# Error codes answered with a 5xx status (KMSInternalException, DependencyTimeoutException, ...).
SERVER_ERRORS = frozenset(
    name
    for name, value in vars(trent.errors).items()
    if isinstance(value, type) and issubclass(value, KMSError) and value.status >= 500
)
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
AUDIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


def outcome(call: Call) -> str:
    """``success``, ``client_error`` or ``server_error`` for a finished call."""
    if call.error_code is None:
        return SUCCESS
    return SERVER_ERROR if call.error_code in SERVER_ERRORS else CLIENT_ERROR


class Metrics:
    """This worker's counters and histograms.

    ``registry`` is None in multiprocess mode (values go to the shared directory and a scrape
    reads them all), else a private registry that holds them (a single process, e.g. a test
    that builds the app in-process)."""

    def __init__(
        self, operations: Iterable[str], clock: Clock, registry: CollectorRegistry | None
    ) -> None:
        self.operations = frozenset(operations)
        self.clock = clock
        self.requests = Counter(
            "trent_kms_requests",
            "KMS requests by operation, key ARN (first key touched) and outcome.",
            ["operation", "key_arn", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "trent_kms_request_duration_seconds",
            "Seconds from a KMS request's arrival to its reply, by operation.",
            ["operation"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.audit_write = Histogram(
            "trent_audit_write_seconds",
            "Seconds until an audit record is on disk.",
            buckets=AUDIT_BUCKETS,
            registry=registry,
        )
        self.scheduler_runs = Counter(
            "trent_scheduler_runs", "Scheduler ticks run by the lease holder.", registry=registry
        )
        self.scheduler_failures = Counter(
            "trent_scheduler_failures", "Scheduler ticks that failed.", registry=registry
        )
        self.scheduler_events = Counter(
            "trent_scheduler_events",
            "What the scheduler did, by event name.",
            ["event"],
            registry=registry,
        )
        self._requests: Tally[tuple[str, str, str]] = Tally()
        self._durations: dict[str, BatchedHistogram] = {}
        self.audit_writes = BatchedHistogram(self.audit_write)

    def record(self, call: Call) -> None:
        """Count a finished KMS request and its duration (the request path's one call)."""
        operation = call.operation if call.operation in self.operations else UNKNOWN_OPERATION
        self._requests[operation, call.resources[0] if call.resources else "", outcome(call)] += 1
        histogram = self._durations.get(operation)
        if histogram is None:
            histogram = self._durations[operation] = BatchedHistogram(
                self.duration.labels(operation)
            )
        histogram.observe(max(0.0, self.clock.now() - call.event_time))

    def flush(self) -> None:
        """Add what was recorded since the last flush to the exported values."""
        requests, self._requests = self._requests, Tally()
        for labels, count in requests.items():
            self.requests.labels(*labels).inc(count)
        for histogram in self._durations.values():
            histogram.flush()
        self.audit_writes.flush()


class BatchedHistogram:
    """Observations of one histogram (child) kept in this worker until ``flush`` adds them:
    one write per bucket that moved and one for the sum, however many observations.

    It writes the histogram's own values (``_buckets``, ``_sum``: prometheus_client 0.26's
    internals, pinned) as its ``observe`` would, first bucket whose bound is >= the value."""

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        self.bounds: list[float] = histogram._upper_bounds
        self.counts = [0] * len(self.bounds)
        self.total = 0.0
        self.pending = False

    def observe(self, amount: float) -> None:
        self.counts[bisect_left(self.bounds, amount)] += 1
        self.total += amount
        self.pending = True

    def flush(self) -> None:
        if not self.pending:
            return
        counts, total = self.counts, self.total
        self.counts, self.total, self.pending = [0] * len(self.bounds), 0.0, False
        for index, count in enumerate(counts):
            if count:
                self.histogram._buckets[index].inc(count)
        self.histogram._sum.inc(total)


class TimedAuditLog(AuditLog):
    """The audit log, timing each record's write into ``trent_audit_write_seconds``."""

    def __init__(
        self,
        directory: Path,
        clock: Clock,
        max_bytes: int,
        signer: Signer | None = None,
        *,
        metrics: Metrics,
    ) -> None:
        super().__init__(directory, clock, max_bytes, signer)
        self.observe_write = metrics.audit_writes.observe  # AuditLog.append calls it
