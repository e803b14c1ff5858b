"""Debian's headless Chromium driven by Selenium, for the page's browser test and screenshots."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver as ChromeDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.api.server import USERS

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def available() -> bool:
    return CHROMIUM.exists() and CHROMEDRIVER.exists()


@contextmanager
def chromium(width: int = 1400, height: int = 1200, dark: bool = False) -> Iterator[ChromeDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        # Without these Chromium reaches for Google's hosts, which this network refuses.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={width},{height}",
        f"--user-data-dir={tempfile.mkdtemp(prefix='autoscaler-chromium-')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    if dark:  # the system preference the Airflow UI (theme "system") and the page follow
        driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
        )
    try:
        yield driver
    finally:
        driver.quit()


def log_in(browser: WebDriver, base_url: str, user: str) -> None:
    browser.get(base_url + "/auth/login")
    wait = WebDriverWait(browser, 30)
    wait.until(ec.presence_of_element_located((By.NAME, "username"))).send_keys(user)
    browser.find_element(By.NAME, "password").send_keys(USERS[user][1])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda b: "/auth/login" not in b.current_url)


def open_page_in_airflow(browser: WebDriver, base_url: str) -> None:
    """The page as a user sees it: the Airflow UI's plugin view, the page in its iframe."""
    browser.get(base_url + "/plugin/autoscaler")
    enter_page_frame(browser)
    WebDriverWait(browser, 30).until(
        lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true"
    )


def enter_page_frame(browser: WebDriver) -> None:
    frame = WebDriverWait(browser, 30).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "iframe[src$='/auto-scaler/']"))
    )
    browser.switch_to.frame(frame)


def show(browser: WebDriver, view: str, timeout: float = 30) -> None:
    """Go to one of the page's views (its hash) and wait until it has loaded."""
    browser.execute_script(
        "document.body.dataset.loaded = '';"
        "if (location.hash === arguments[0]) window.dispatchEvent(new HashChangeEvent('hashchange'));"
        "else location.hash = arguments[0];",
        f"#{view}",
    )
    name = view.split("/")[0]
    WebDriverWait(browser, timeout).until(
        lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == name
    )


def page_errors(browser: ChromeDriver) -> list[str]:
    """Console errors of the page (its scripts and its requests), not of the Airflow UI around it."""
    return [
        entry["message"]
        for entry in browser.get_log("browser")  # type: ignore[no-untyped-call]
        if entry["level"] == "SEVERE" and "/auto-scaler" in entry["message"]
    ]
