"""Reading the audit trail back: every file, oldest first, filtered; the top keys by use.
Records come back as CloudTrail wrote them: the chain's ``trentPrevHash`` member is dropped and
checkpoint lines (``trent.audit.chain``) are skipped; ``trent.audit.verify`` checks both."""

from __future__ import annotations

import calendar
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from trent.audit.chain import CHECKPOINT_FIELD, PREV_FIELD
from trent.audit.log import CURRENT, rotated_files
from trent.audit.record import READ_ONLY_OPERATIONS


def audit_files(directory: Path) -> list[Path]:
    """Rotated files in the order they were rotated, then the current one."""
    rotated = rotated_files(directory)
    current = directory / CURRENT
    return rotated + ([current] if current.exists() else [])


def read_records(directory: Path) -> Iterator[dict[str, Any]]:
    for path in audit_files(directory):
        with path.open("rb") as handle:
            for line in handle:
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a blank line, or a line torn by a power loss mid-write
                if not isinstance(record, dict):
                    yield record
                elif CHECKPOINT_FIELD not in record:
                    record.pop(PREV_FIELD, None)
                    yield record


def parse_time(text: str) -> float:
    """``2026-11-25T04:00:00Z``, ``2026-11-25`` or epoch seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    for form in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return float(calendar.timegm(time.strptime(text, form)))
        except ValueError:
            continue
    raise ValueError(f"not a time: {text!r}")


@dataclass(frozen=True)
class Query:
    key: str | None = None
    event_name: str | None = None
    since: float | None = None
    until: float | None = None
    principal: str | None = None
    errors_only: bool = False

    def matches(self, record: dict[str, Any]) -> bool:
        if self.event_name and record.get("eventName") != self.event_name:
            return False
        if self.errors_only and not record.get("errorCode"):
            return False
        if self.key and not any(
            r.get("ARN", "").endswith(self.key) for r in record.get("resources") or []
        ):
            return False
        if self.principal:
            identity = record.get("userIdentity") or {}
            if self.principal not in (identity.get("arn"), identity.get("accessKeyId")):
                return False
        if self.since is not None or self.until is not None:
            when = parse_time(record["eventTime"])
            if self.since is not None and when < self.since:
                return False
            if self.until is not None and when > self.until:
                return False
        return True


# The cryptographic operations, AWS's "cryptographic requests" (every read-only data-plane
# operation that names a key; GenerateRandom names none).
CRYPTOGRAPHIC_OPERATIONS = READ_ONLY_OPERATIONS - {"GenerateRandom"}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: float) -> float:
    """A start time: a duration back from ``now`` (``90s``, ``30m``, ``3h``, ``2d``, ``1w``)
    or an absolute time as ``parse_time`` takes it. ValueError otherwise."""
    match = _DURATION.match(text.strip())
    if match:
        return now - float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return parse_time(text)


@dataclass
class KeyUsage:
    """One key's cryptographic requests in the audit trail."""

    key_arn: str
    requests: int = 0
    failed: int = 0  # of them, answered with an error
    last_used: str = ""  # eventTime of the latest, ISO 8601 UTC
    by_operation: Counter[str] = field(default_factory=Counter)


def top_keys(records: Iterable[dict[str, Any]], since: float, limit: int) -> list[KeyUsage]:
    """The ``limit`` keys with most cryptographic requests at or after ``since`` (epoch
    seconds), most first (ties by ARN). A request that touched two keys (ReEncrypt) counts
    for each. Service events (the scheduler's) are not requests and are not counted."""
    usage: dict[str, KeyUsage] = {}
    for record in records:
        if record.get("eventName") not in CRYPTOGRAPHIC_OPERATIONS:
            continue
        if record.get("eventType") == "AwsServiceEvent":
            continue
        when = record.get("eventTime", "")
        if parse_time(when) < since:
            continue
        for resource in record.get("resources") or []:
            arn = resource.get("ARN")
            if not arn:
                continue
            entry = usage.get(arn) or usage.setdefault(arn, KeyUsage(arn))
            entry.requests += 1
            entry.failed += 1 if record.get("errorCode") else 0
            entry.last_used = max(entry.last_used, when)
            entry.by_operation[record["eventName"]] += 1
    ranked = sorted(usage.values(), key=lambda u: (-u.requests, u.key_arn))
    return ranked[:limit]


def format_top_keys(rows: list[KeyUsage]) -> list[str]:
    """``rows`` as a plain-text table: rank, requests, failed, last used, key ARN, operations."""
    table = [("#", "REQUESTS", "FAILED", "LAST USED", "KEY", "OPERATIONS")]
    for rank, row in enumerate(rows, 1):
        operations = ", ".join(f"{name} {n}" for name, n in row.by_operation.most_common())
        table.append(
            (str(rank), str(row.requests), str(row.failed), row.last_used, row.key_arn, operations)
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    right = {0, 1, 2}
    return [
        "  ".join(
            (cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]))
            if i < len(widths)
            else cell
            for i, cell in enumerate(line)
        ).rstrip()
        for line in table
    ]
