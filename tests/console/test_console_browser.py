"""The console in a real browser: headless Chromium driven by Selenium against a real
``trent serve``, walking through seeds 001 and 004's key actions. One server, one browser, one
test (the steps depend on each other). Cryptographic results are checked outside Trent: data
encrypted through boto3 under the imported key opens with the material ``openssl`` made
(``tests/crypto/reference``).

With ``TRENT_CONSOLE_SCREENSHOTS=DIR`` set, the README's screenshots (key list, key page,
import wizard) are written to DIR (``docs/console``)."""

from __future__ import annotations

import base64
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from tests.crypto.reference import open_blob
from tests.server import TrentServer

WAIT = 20.0  # seconds a page may take on a loaded machine (a bound, not a timing check)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    trent = TrentServer(tmp_path_factory.mktemp("console-browser") / "data")
    trent.start()
    yield trent
    trent.stop()


class Page:
    """The browser on the console: find, fill, click and wait for the next page."""

    def __init__(self, driver: Chrome, endpoint: str) -> None:
        self.driver = driver
        self.endpoint = endpoint

    def open(self, path: str) -> None:
        self.driver.get(self.endpoint + path)
        self.find("main")

    def find(self, css: str) -> WebElement:
        return WebDriverWait(self.driver, WAIT).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
        )

    def text(self, css: str) -> str:
        return self.find(css).text

    def fill(self, css: str, value: str) -> None:
        element = self.find(css)
        self.driver.execute_script("arguments[0].value = arguments[1];", element, value)

    def choose(self, css: str, visible: str) -> None:
        Select(self.find(css)).select_by_visible_text(visible)

    def submit(self, css: str) -> None:
        """Click ``css`` and wait until the page it leads to replaced this one."""
        old = self.find("main")
        self.find(css).click()
        WebDriverWait(self.driver, WAIT).until(expected_conditions.staleness_of(old))
        self.find("main")

    def until(self, check: Callable[[], bool], reload: bool = True) -> None:
        deadline = time.monotonic() + WAIT
        while not check():
            assert time.monotonic() < deadline, "the page never showed it"
            time.sleep(0.2)
            if reload:
                self.driver.refresh()
                self.find("main")

    def screenshot_as_is(self, name: str) -> None:
        target = os.environ.get("TRENT_CONSOLE_SCREENSHOTS")
        if target:
            self.driver.save_screenshot(str(Path(target) / f"{name}.png"))

    def screenshot(self, name: str) -> None:
        target = os.environ.get("TRENT_CONSOLE_SCREENSHOTS")
        if not target:
            return
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1280, min(int(height) + 40, 4000))
        Path(target).mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(Path(target) / f"{name}.png"))
        self.driver.set_window_size(1280, 1000)


def wrap_with_openssl(page: Page, workdir: Path) -> tuple[bytes, str]:
    """Run the wizard's own openssl commands in ``workdir`` on the wrapping key it shows:
    (the plaintext key material, the wrapped material in base64)."""
    workdir.mkdir()
    public_key = page.find("#public-key-b64").get_attribute("value") or ""
    (workdir / "WrappingPublicKey.bin").write_bytes(base64.b64decode(public_key))
    commands = page.text("#openssl-command")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    return (workdir / "KeyMaterial.bin").read_bytes(), done.stdout.strip().splitlines()[-1]


def state(kms: Any, key_id: str) -> str:
    return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"])


def test_console_in_a_browser(server: TrentServer, browser: Chrome, tmp_path: Path) -> None:
    kms = server.client()
    page = Page(browser, server.endpoint)
    access_key_id, secret = server.credentials()
    for spec, usage in (("RSA_2048", "SIGN_VERIFY"), ("HMAC_256", "GENERATE_VERIFY_MAC")):
        kms.create_key(KeySpec=spec, KeyUsage=usage, Description=f"{spec} key")

    # --- sign in: an unsigned visitor lands on the sign-in form ---
    page.open("/console/keys")
    assert "/console/signin" in browser.current_url
    page.fill("#access_key_id", access_key_id)
    page.fill("#secret_access_key", secret[::-1])
    page.submit("#signin-submit")
    assert "InvalidSignatureException" in page.text("#error")
    page.fill("#secret_access_key", secret)
    page.submit("#signin-submit")
    assert "RSA_2048" in page.text("#keys")
    assert browser.execute_script("return typeof htmx") == "object"  # the vendored copy loaded

    # --- create a key (seed 001): alias, description, tags ---
    page.submit("a.button.primary")
    page.choose("#key_spec", "SYMMETRIC_DEFAULT")
    page.fill("#alias", "console-demo")
    page.fill("#description", "made in the browser")
    page.fill("#tags", "team=payments\nenv=test")
    page.submit("#create-submit")
    assert page.text("#done") == "Key created"
    key_id = page.text("#key-id")
    metadata = kms.describe_key(KeyId="alias/console-demo")["KeyMetadata"]
    assert metadata["KeyId"] == key_id
    assert metadata["Description"] == "made in the browser"
    tags = kms.list_resource_tags(KeyId=key_id)["Tags"]
    assert sorted((t["TagKey"], t["TagValue"]) for t in tags) == [
        ("env", "test"),
        ("team", "payments"),
    ]

    # --- encrypt through the API, see the usage on the key's page ---
    for n in range(3):
        blob = kms.encrypt(KeyId="alias/console-demo", Plaintext=b"secret %d" % n)
        assert blob["KeyId"].endswith(key_id)
    page.open(f"/console/keys/{key_id}")
    assert page.text("#chart-24h-total") == "3"
    assert page.text("#chart-30d-total") == "3"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart-24h rect")) == 1
    # GetKeyLastUsage: each worker flushes its own usage every few seconds (AWS's is delayed too)
    page.until(lambda: page.text("#last-used").startswith("Encrypt at"))

    # --- automatic rotation with a period, then rotate now ---
    page.fill("#rotation_days", "180")
    page.submit("#enable-rotation")
    assert page.text("#done") == "Automatic rotation enabled every 180 days"
    assert "every 180 days" in page.text("#rotation-status")
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] and status["RotationPeriodInDays"] == 180
    page.submit("#rotate-now")
    assert page.text("#done") == "Rotation started"
    page.until(lambda: "ON_DEMAND" in page.text("#rotations"))
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["ON_DEMAND"]
    page.screenshot("key-page")
    page.submit("#disable-rotation")
    assert page.text("#done") == "Automatic rotation disabled"
    assert not kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]

    # --- disable and enable ---
    page.submit("#disable")
    assert page.text("#key-state") == "Disabled"
    with pytest.raises(ClientError) as refused:
        kms.encrypt(KeyId=key_id, Plaintext=b"x")
    assert refused.value.response["Error"]["Code"] == "DisabledException"
    page.submit("#enable")
    assert page.text("#key-state") == "Enabled" == state(kms, key_id)

    # --- schedule deletion (needs the confirmation) and cancel it ---
    page.fill("#pending_days", "7")
    page.submit("#schedule-deletion")
    assert page.text("#error") == "Confirm the deletion to schedule it."
    assert state(kms, key_id) == "Enabled"
    page.fill("#pending_days", "7")
    page.find("#confirm-deletion").click()
    page.submit("#schedule-deletion")
    assert page.text("#key-state") == "PendingDeletion" == state(kms, key_id)
    deletion = kms.describe_key(KeyId=key_id)["KeyMetadata"]["DeletionDate"]
    assert 6.9 * 86400 < deletion.timestamp() - time.time() < 7.1 * 86400
    page.submit("#cancel-deletion")
    assert page.text("#key-state") == "Disabled" == state(kms, key_id)  # as AWS leaves it

    # --- the key list: filter by alias ---
    page.open("/console/keys")
    page.screenshot("key-list")
    page.fill("#filter", "console-demo")
    page.submit(".filter button")
    rows = browser.find_elements(By.CSS_SELECTOR, "#keys tbody tr")
    assert len(rows) == 1 and key_id in rows[0].text

    # --- the import wizard (seed 004): EXTERNAL key, openssl-wrapped material ---
    page.open("/console/keys/new")
    page.choose("#origin", "EXTERNAL")
    page.fill("#alias", "console-imported")
    page.submit("#create-submit")
    external_id = page.text("#key-id")
    assert page.text("#key-state") == "PendingImport"
    page.submit("#import-wizard")
    page.choose("#algorithm", "RSAES_OAEP_SHA_256")
    page.choose("#wrapping_key_spec", "RSA_2048")
    page.submit("#get-parameters")
    page.screenshot("import-wizard")
    material1, wrapped1 = wrap_with_openssl(page, tmp_path / "first")
    page.fill("#encrypted_key_material", wrapped1)
    page.fill("#description", "first material")
    page.submit("#import-submit")
    assert page.text("#done") == "Key material imported"
    assert page.text("#key-state") == "Enabled"
    blob = kms.encrypt(KeyId=external_id, Plaintext=b"imported")["CiphertextBlob"]
    assert open_blob(material1, blob) == b"imported"

    # --- import new material with an expiry and rotate to it ---
    page.submit("#import-wizard")
    page.submit("#get-parameters")
    material2, wrapped2 = wrap_with_openssl(page, tmp_path / "second")
    page.fill("#encrypted_key_material", wrapped2)
    page.find("#expires-yes").click()
    valid_to = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 60 * 86400))
    page.fill("#valid_to", valid_to)
    page.find("#type-new").click()
    page.fill("#description", "second material")
    page.submit("#import-submit")
    assert page.text("#done") == "Key material imported and rotated to"
    page.until(lambda: "second material" in page.text("#rotations"))
    blob = kms.encrypt(KeyId=external_id, Plaintext=b"rotated")["CiphertextBlob"]
    assert open_blob(material2, blob) == b"rotated"
    every = kms.list_key_rotations(KeyId=external_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")
    assert {r.get("KeyMaterialDescription") for r in every["Rotations"]} == {
        "first material",
        "second material",
    }

    # --- delete the imported material (confirmed) ---
    form = "#rotations form"
    page.find(f"{form} input[name=confirm]").click()
    page.submit(f"{form} button")
    assert page.text("#done") == "Imported key material deleted"
    assert "PENDING_IMPORT" in page.text("#rotations")

    # --- on a phone's width (390 CSS px) the pages fit: only tables scroll sideways ---
    browser.set_window_size(390, 844)
    try:
        for path in ("/console/keys", f"/console/keys/{key_id}", f"/console/keys/{external_id}"):
            page.open(path)
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            wide = browser.execute_script(
                "return [...document.querySelectorAll('body *')].filter(e => "
                "!e.closest('.scroll') && "
                "e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 8)"
                ".map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + "
                "Math.round(e.getBoundingClientRect().right))"
            )
            assert overflow <= 0, (path, overflow, wide)
        page.screenshot_as_is("key-page-phone")
    finally:
        browser.set_window_size(1280, 1000)

    # --- nothing the console served was refused by its own Content-Security-Policy ---
    logs = browser.get_log("browser")
    assert not [entry for entry in logs if "Content Security Policy" in entry["message"]]
