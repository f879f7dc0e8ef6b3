"""docs/prometheus/alerts.yml: valid rules (``promtool check rules``) whose unit tests pass
(``promtool test rules``: each alert fires on synthetic series and stays silent otherwise).

promtool comes from Debian's ``prometheus`` package (.ci/run installs it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parent.parent / "docs" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: apt-get install prometheus (.ci/run does)"
    return path


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=RULES, capture_output=True, text=True, timeout=120)


def test_rules_check(promtool: str) -> None:
    checked = run(promtool, "check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 2 rules found" in checked.stdout


def test_each_alert_fires_on_synthetic_series(promtool: str) -> None:
    tested = run(promtool, "test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_the_runaway_rule_names_the_series_trent_exports() -> None:
    rules = (RULES / "alerts.yml").read_text()
    assert "trent_kms_requests_total" in rules
    assert "trent_key_material_expiration_seconds < 30 * 86400" in rules
