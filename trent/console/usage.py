"""A key's requests per hour and its recent events, read from the audit trail.

The audit trail is the record of every request (``trent.audit``); the counts are the
cryptographic requests that named the key (``trent.audit.reader.CRYPTOGRAPHIC_OPERATIONS``, as
``trent audit top-keys`` counts them; AWS's ``SuccessfulRequest`` CloudWatch metric by key
counts the same kind of requests), failed ones too. Reading walks the trail's files (newest
last), so its cost grows with the trail: Trent cannot answer it from an index yet.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trent.audit.reader import CRYPTOGRAPHIC_OPERATIONS, parse_time, read_records

HOUR = 3600
DAY_HOURS, MONTH_HOURS = 24, 30 * 24
RECENT_EVENTS = 10
# What the console's key page reads to draw itself: left out of "recent events" when the console
# made them, so that a page view does not push the key's real history off the list.
PAGE_READS = frozenset(
    {
        "DescribeKey",
        "ListAliases",
        "ListResourceTags",
        "GetKeyPolicy",
        "GetKeyRotationStatus",
        "ListKeyRotations",
        "GetKeyLastUsage",
        "ListKeys",
    }
)
CONSOLE_AGENT = "trent-console"


@dataclass
class KeyActivity:
    """``hourly[i]``: requests in the hour ending ``i`` hours before ``now`` (0: the last
    hour), over 30 days; ``recent``: the newest ``RECENT_EVENTS`` records naming the key, newest
    first (eventTime, eventName, errorCode, user ARN, userAgent), less the console's own page
    reads (``PAGE_READS``)."""

    hourly: list[int] = field(default_factory=lambda: [0] * MONTH_HOURS)
    recent: list[dict[str, str]] = field(default_factory=list)

    def total(self, hours: int) -> int:
        return sum(self.hourly[:hours])


def key_activity(audit_dir: Path, key_arn: str, now: float) -> KeyActivity:
    """One pass over the audit trail for ``key_arn`` (see the module docstring)."""
    activity = KeyActivity()
    recent: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
    start = now - MONTH_HOURS * HOUR
    for record in read_records(audit_dir):
        resources = record.get("resources") or []
        if not any(r.get("ARN") == key_arn for r in resources):
            continue
        name = record.get("eventName")
        if not (name in PAGE_READS and str(record.get("userAgent", "")).startswith(CONSOLE_AGENT)):
            recent.append(record)
        if record.get("eventName") not in CRYPTOGRAPHIC_OPERATIONS:
            continue
        if record.get("eventType") == "AwsServiceEvent":
            continue
        when = parse_time(record.get("eventTime", "0"))
        if start < when <= now:
            activity.hourly[min(int((now - when) // HOUR), MONTH_HOURS - 1)] += 1
    activity.recent = [
        {
            "time": str(r.get("eventTime", "")),
            "name": str(r.get("eventName", "")),
            "error": str(r.get("errorCode") or ""),
            "user": str((r.get("userIdentity") or {}).get("arn", "")),
            "agent": str(r.get("userAgent", "")),
        }
        for r in reversed(recent)
    ]
    return activity


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    count: int
    hours_ago: int


def bars(hourly: list[int], hours: int, width: float = 720.0, height: float = 120.0) -> list[Bar]:
    """SVG bars for the last ``hours`` of ``hourly``, oldest on the left, scaled to the
    busiest hour (a bar of at least 1 px for any hour with requests)."""
    peak = max([*hourly[:hours], 1])
    step = width / hours
    out = []
    for i in range(hours):
        ago = hours - 1 - i
        count = hourly[ago]
        h = 0.0 if count == 0 else max(1.0, height * count / peak)
        out.append(Bar(i * step, height - h, h, count, ago))
    return out
