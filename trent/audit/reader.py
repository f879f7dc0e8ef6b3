"""Reading the audit trail back: every file, oldest first, filtered. Records come back as
CloudTrail wrote them: the chain's ``trentPrevHash`` member is dropped and checkpoint lines
(``trent.audit.chain``) are skipped; ``trent.audit.verify`` checks both."""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from trent.audit.chain import CHECKPOINT_FIELD, PREV_FIELD
from trent.audit.log import CURRENT, rotated_files


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
