"""A key's hourly counts and recent events from a known audit trail (``trent.console.usage``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from trent.audit.log import CURRENT
from trent.console.usage import DAY_HOURS, MONTH_HOURS, bars, key_activity

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER = "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"
NOW = 1_800_000_000.0


def record(
    name: str, seconds_ago: float, arn: str = KEY, agent: str = "boto3", **extra: Any
) -> bytes:
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - seconds_ago))
    body = {
        "eventName": name,
        "eventTime": when,
        "resources": [{"ARN": arn}],
        "userAgent": agent,
        "userIdentity": {"arn": "arn:aws:iam::111122223333:root"},
        **extra,
    }
    return orjson.dumps(body) + b"\n"


def test_hourly_counts_and_recent_events(tmp_path: Path) -> None:
    lines = [
        record("Encrypt", 31 * 86400),  # older than 30 days: not counted
        record("Encrypt", 2 * 86400 + 60),  # 48 h ago
        record("Decrypt", 2 * 86400 + 120, errorCode="InvalidCiphertextException"),
        record("Encrypt", 600, arn=OTHER),  # another key
        record("DescribeKey", 500),  # not cryptographic
        record("RotateKey", 400, eventType="AwsServiceEvent"),  # the scheduler's
        record("GenerateDataKey", 300),  # the last hour
        record("DescribeKey", 200, agent="trent-console (Chrome)"),  # a console page read
        record("DisableKey", 100, agent="trent-console (Chrome)"),  # a console action
    ]
    (tmp_path / CURRENT).write_bytes(b"".join(lines))
    activity = key_activity(tmp_path, KEY, NOW)
    assert activity.total(DAY_HOURS) == 1
    assert activity.total(MONTH_HOURS) == 3
    assert activity.hourly[0] == 1 and activity.hourly[48] == 2
    assert [e["name"] for e in activity.recent] == [
        "DisableKey",
        "GenerateDataKey",
        "RotateKey",
        "DescribeKey",
        "Decrypt",
        "Encrypt",
        "Encrypt",
    ]
    assert activity.recent[4]["error"] == "InvalidCiphertextException"


def test_bars_are_scaled_to_the_busiest_hour() -> None:
    hourly = [0] * MONTH_HOURS
    hourly[0], hourly[5] = 4, 1
    day = bars(hourly, DAY_HOURS, width=240.0, height=100.0)
    assert len(day) == DAY_HOURS
    assert day[-1].count == 4 and day[-1].height == 100.0 and day[-1].hours_ago == 0
    assert day[-6].count == 1 and day[-6].height == 25.0 and day[-6].y == 75.0
    assert day[0].x == 0.0 and day[1].x == 10.0
    assert all(bar.height == 0.0 for bar in day if bar.count == 0)
