"""The console's browser: one headless Chromium (Debian's ``chromium`` and ``chromium-driver``)
driven by Selenium for the session, and a screenshot of it saved when a test using it fails
(under ``test-screenshots/`` at the repository root, named after the test)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    assert not missing, f"install Debian's chromium and chromium-driver (missing {missing})"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium's sandbox refuses to run as root
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    driver = getattr(item, "funcargs", {}).get("browser")
    if report.failed and report.when == "call" and driver is not None:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{item.name}.png"
        driver.save_screenshot(str(path))
        report.sections.append(("screenshot", str(path)))
    return report
