"""The autoscaler's page inside the Airflow UI, end to end in headless Chromium.

Log in through Airflow's own login form, open the page from the Airflow UI (where it is an
iframe under /plugin/autoscaler), approve an action with its button, and see the status
change in the audit database.  Chromium and chromedriver are Debian's (make browser).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from autoscaler.store.actions import get_action
from tests.api.conftest import World
from tests.api.server import USERS

pytestmark = [pytest.mark.integration, pytest.mark.sandbox, pytest.mark.slow]

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        "Debian's chromium and chromium-driver are not installed (make browser)", allow_module_level=True
    )

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture
def browser() -> Iterator[WebDriver]:
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
        "--window-size=1400,1200",
        f"--user-data-dir={tempfile.mkdtemp(prefix='autoscaler-chromium-')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def log_in(browser: WebDriver, world: World, user: str) -> None:
    browser.get(world.server.url + "/auth/login")
    wait = WebDriverWait(browser, 30)
    wait.until(ec.presence_of_element_located((By.NAME, "username"))).send_keys(user)
    browser.find_element(By.NAME, "password").send_keys(USERS[user][1])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda b: "/auth/login" not in b.current_url)


def open_page_from_the_airflow_ui(browser: WebDriver, world: World) -> None:
    browser.get(world.server.url + "/plugin/autoscaler")
    wait = WebDriverWait(browser, 30)
    frame = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "iframe[src$='/auto-scaler/']")))
    browser.switch_to.frame(frame)
    wait.until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")


def test_approve_an_action_on_the_page_and_see_it_in_the_database(
    browser: WebDriver, world: World, tmp_path: Path
) -> None:
    log_in(browser, world, "ops")
    open_page_from_the_airflow_ui(browser, world)
    Select(browser.find_element(By.ID, "account")).select_by_value("act_1002")
    wait = WebDriverWait(browser, 30)
    first = wait.until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, "#pending tr[data-account='act_1002'] button.approve"))
    )
    action_id = int(first.get_attribute("data-id") or 0)
    with world.engine.connect() as conn:
        assert get_action(conn, action_id).status == "pending_approval"

    first.click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "banner"), f"Action #{action_id} is now approved."))
    browser.save_screenshot(str(tmp_path / "after-approve.png"))

    with world.engine.connect() as conn:
        action = get_action(conn, action_id)
        actor = conn.execute(
            text(
                "SELECT actor FROM autoscaler.action_events WHERE action_id = :a AND to_status = 'approved'"
            ),
            {"a": action_id},
        ).scalar_one()
    assert action.status == "approved"
    assert actor == "ops"
    # The row left the pending table and shows in recent actions with its new status.
    assert not browser.find_elements(By.CSS_SELECTOR, f"#pending tr[data-action='{action_id}']")
    history = browser.find_element(By.CSS_SELECTOR, f"#history tr[data-history='{action_id}']")
    assert "approved" in history.text
    assert "ops" in history.text


def test_the_budget_chart_marks_the_actions_and_the_heatmap_shows_the_profile(
    browser: WebDriver, world: World
) -> None:
    status, _ = world.post(
        "/time-optimization/learn", {"account_id": "act_1001", "days": 2, "as_of": "2026-11-04T12:00:00Z"}
    )
    assert status == 200
    with world.engine.connect() as conn:
        entity = conn.execute(
            text("SELECT min(entity_id) FROM autoscaler.scaling_actions WHERE account_id = 'act_1001'")
        ).scalar_one()
    timeline = world.get(f"/entities/{entity}/timeline?days=14")[1]
    actions = len(timeline["actions"])
    assert actions > 0
    log_in(browser, world, "viewer")
    open_page_from_the_airflow_ui(browser, world)
    Select(browser.find_element(By.ID, "entity")).select_by_value(entity)
    wait = WebDriverWait(browser, 30)
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#budget-chart circle.action-mark")) == actions)
    cells = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#heatmap table.heat tr:nth-child(2) td"))
    assert len(cells) == 24
    # A viewer sees the buttons but the API refuses the change, and the page says why.
    buttons = browser.find_elements(By.CSS_SELECTOR, "#pending button.approve")
    if buttons:
        buttons[0].click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "banner"), "403: viewer may not"))
