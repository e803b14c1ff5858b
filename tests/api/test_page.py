"""The autoscaler's page inside the Airflow UI, end to end in headless Chromium.

Log in through Airflow's own login form, open the page from the Airflow UI (where it is an
iframe under /plugin/autoscaler), and check each view against what the API returns for the
same world: the charts hold exactly the API's points, filters change the rows, an approval
needs a confirmation and records the logged-in user, the viewer is refused, and the page's
console stays clean.  Chromium and chromedriver are Debian's (make browser).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from autoscaler.store.actions import get_action
from tests.api import browser as chromium
from tests.api.conftest import World

pytestmark = [pytest.mark.integration, pytest.mark.sandbox, pytest.mark.slow]

if not chromium.available():
    pytest.skip(
        "Debian's chromium and chromium-driver are not installed (make browser)", allow_module_level=True
    )

from selenium.webdriver.chrome.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with chromium.chromium() as driver:
        yield driver


def series_lengths(browser: WebDriver, chart_id: str) -> dict[str, int]:
    """Points per series of one of the page's ECharts charts, as drawn."""
    lengths: dict[str, int] = browser.execute_script(
        "const c = echarts.getInstanceByDom(document.getElementById(arguments[0]));"
        "return Object.fromEntries(c.getOption().series.map(s => [s.name, s.data.length]));",
        chart_id,
    )
    return lengths


def wait_for(browser: WebDriver, condition: Any, timeout: float = 30) -> Any:
    return WebDriverWait(browser, timeout).until(condition)


@pytest.fixture(scope="module")
def learned(world: World) -> str:
    """The optimal-hour profiles learned (for the heatmap); the entity with the most actions."""
    status, _ = world.post(
        "/time-optimization/learn", {"account_id": "act_1001", "days": 2, "as_of": "2026-11-04T12:00:00Z"}
    )
    assert status == 200
    with world.engine.connect() as conn:
        entity: str = conn.execute(
            text(
                "SELECT entity_id FROM autoscaler.scaling_actions WHERE account_id = 'act_1001' "
                "GROUP BY entity_id ORDER BY count(*) DESC, entity_id LIMIT 1"
            )
        ).scalar_one()
    return entity


def test_each_view_draws_exactly_what_the_api_returned_with_no_console_error(
    browser: WebDriver, world: World, learned: str
) -> None:
    chromium.log_in(browser, world.server.url, "viewer")
    chromium.open_page_in_airflow(browser, world.server.url)

    # Overview: the window defaults to the week up to the account's latest hour.
    start = browser.find_element(By.ID, "start").get_attribute("value")
    end = browser.find_element(By.ID, "end").get_attribute("value")
    overview = world.get(f"/overview?account_id=act_1001&start_date={start}&end_date={end}")[1]
    drawn = series_lengths(browser, "overview-chart")
    assert drawn["Spend"] == drawn["Revenue"] == drawn["ROAS"] == len(overview["days"]) > 0
    assert drawn["Actions"] == sum(1 for d in overview["days"] if d["actions"])
    assert str(overview["live"]["total_actions"]) in browser.find_element(By.ID, "kpis").text
    assert "Running live" in browser.find_element(By.ID, "switch").text

    # The entity table: one row per holder of the page, each with its sparkline's points.
    chromium.show(browser, "entities")
    table = world.get(
        f"/entities/table?account_id=act_1001&start_date={start}&end_date={end}&page_size=25&sort=spend"
    )[1]
    rows = browser.find_elements(By.CSS_SELECTOR, "#entities tbody tr[data-entity]")
    assert [r.get_attribute("data-entity") for r in rows] == [i["entity_id"] for i in table["items"]]
    sparks = [
        int(s.get_attribute("data-points") or -1) for s in browser.find_elements(By.CSS_SELECTOR, "svg.spark")
    ]
    assert sparks == [len(i["spark"]) for i in table["items"]]

    # An entity: every hour on the budget line, every action a marker, the curve, the 24 hours.
    chromium.show(browser, f"entity/{learned}")
    history = world.get(f"/entities/{learned}/history?days=30")[1]
    curve = world.get(f"/entities/{learned}/curve?as_of={history['window_end']}")[1]
    wait_for(browser, lambda b: series_lengths(b, "heatmap").get("ROAS by hour") == 24)
    budget = series_lengths(browser, "budget-chart")
    assert budget["Budget (read that hour)"] == len(history["hours"])
    assert budget["Actions"] == len(history["actions"]) > 0
    assert series_lengths(browser, "delivery-chart")["Spend"] == len(history["days"])
    assert series_lengths(browser, "curve-chart")["Revenue"] == len(curve["points"])
    assert "Elasticity" in browser.find_element(By.ID, "curve-note").text

    # Actions: names beside ids, and the CSV link asks for exactly this page.
    chromium.show(browser, "actions")
    shown = browser.find_elements(By.CSS_SELECTOR, "#history tbody tr[data-history]")
    page = world.get("/actions/history?account_id=act_1001&order=changed&page_size=50")[1]
    assert [int(r.get_attribute("data-history") or 0) for r in shown] == [
        i["action_id"] for i in page["items"]
    ]
    csv_link = browser.find_element(By.ID, "csv").get_attribute("href") or ""
    assert "/api/auto-scaler/actions/history.csv?account_id=act_1001" in csv_link
    assert "page_size=50" in csv_link

    chromium.show(browser, "approvals")
    pending = world.get("/approvals?account_id=act_1001")[1]["items"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#pending tbody tr[data-action]")) == len(pending)
    assert "left" in browser.find_element(By.CSS_SELECTOR, ".countdown").text

    assert chromium.page_errors(browser) == []


def test_filters_change_what_is_shown(browser: WebDriver, world: World) -> None:
    chromium.log_in(browser, world.server.url, "viewer")
    chromium.open_page_in_airflow(browser, world.server.url)
    chromium.show(browser, "actions")
    everything = len(browser.find_elements(By.CSS_SELECTOR, "#history tbody tr[data-history]"))
    Select(browser.find_element(By.ID, "f-status")).select_by_visible_text("executed")
    executed = world.get("/actions/history?account_id=act_1001&status=executed&page_size=50")[1]["total"]
    wait_for(browser, lambda b: b.find_element(By.ID, "actions-total").text == f"{executed} actions")
    statuses = {e.text for e in browser.find_elements(By.CSS_SELECTOR, "#history tbody .status")}
    assert statuses == {"executed"}
    assert 0 < executed < everything

    chromium.show(browser, "entities")
    first = browser.find_element(By.CSS_SELECTOR, "#entities tbody tr[data-entity]").get_attribute(
        "data-entity"
    )
    browser.find_element(By.ID, "entity-q").send_keys(first or "")
    wait_for(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#entities tbody tr[data-entity]")) == 1)
    # Sorting by name asks the API again, in the other order.
    browser.find_element(By.ID, "entity-q").clear()
    browser.find_element(By.CSS_SELECTOR, "#entities th[data-sort='name']").click()
    wait_for(
        browser,
        lambda b: (
            "sorted" in (b.find_element(By.CSS_SELECTOR, "th[data-sort='name']").get_attribute("class") or "")
        ),
    )

    # Another account: a holder with no profile learned yet says so, and asks for nothing that fails.
    Select(browser.find_element(By.ID, "account")).select_by_value("act_1002")
    wait_for(
        browser, lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "entities"
    )
    with world.engine.connect() as conn:
        unlearned = conn.execute(
            text(
                "SELECT min(h.entity_id) FROM autoscaler.budget_holders h WHERE h.account_id = 'act_1002' "
                "AND NOT EXISTS (SELECT 1 FROM autoscaler.optimal_hour_profiles p WHERE p.entity_id = h.entity_id)"
            )
        ).scalar_one()
    chromium.show(browser, f"entity/{unlearned}")
    assert "No profile yet" in browser.find_element(By.ID, "heatmap-note").text
    assert chromium.page_errors(browser) == []


def _confirm(browser: WebDriver, reason: str | None) -> None:
    dialog = wait_for(browser, ec.visibility_of_element_located((By.ID, "confirm")))
    if reason:
        dialog.find_element(By.ID, "confirm-reason").send_keys(reason)
    dialog.find_element(By.ID, "confirm-ok").click()


def test_approve_asks_for_confirmation_records_the_user_and_bulk_answers_a_selection(
    browser: WebDriver, world: World
) -> None:
    chromium.log_in(browser, world.server.url, "ops")
    chromium.open_page_in_airflow(browser, world.server.url)
    chromium.show(browser, "approvals")
    first = wait_for(
        browser,
        ec.element_to_be_clickable((By.CSS_SELECTOR, "#pending tr[data-account='act_1001'] button.approve")),
    )
    action_id = int(first.get_attribute("data-id") or 0)

    # Cancelled: nothing changes.
    first.click()
    wait_for(browser, ec.visibility_of_element_located((By.ID, "confirm"))).find_element(
        By.ID, "confirm-cancel"
    ).click()
    with world.engine.connect() as conn:
        assert get_action(conn, action_id).status == "pending_approval"

    browser.find_element(By.CSS_SELECTOR, f"button.approve[data-id='{action_id}']").click()
    _confirm(browser, "checked the landing page")
    wait_for(
        browser, ec.text_to_be_present_in_element((By.ID, "banner"), f"Action #{action_id} is now approved.")
    )
    with world.engine.connect() as conn:
        action = get_action(conn, action_id)
        actor = conn.execute(
            text(
                "SELECT actor FROM autoscaler.action_events WHERE action_id = :a AND to_status = 'approved'"
            ),
            {"a": action_id},
        ).scalar_one()
        reason = conn.execute(
            text("SELECT decision_reason FROM autoscaler.scaling_actions WHERE action_id = :a"),
            {"a": action_id},
        ).scalar_one()
    assert (action.status, actor, reason) == ("approved", "ops", "checked the landing page")
    assert not browser.find_elements(By.CSS_SELECTOR, f"#pending tr[data-action='{action_id}']")

    # Two picked, rejected together after one confirmation.
    picks = browser.find_elements(By.CSS_SELECTOR, "#pending input.pick")[:2]
    ids = [int(p.get_attribute("value") or 0) for p in picks]
    for pick in picks:
        pick.click()
    browser.find_element(By.ID, "reject-selected").click()
    assert "Reject 2 actions?" in browser.find_element(By.ID, "confirm-title").text
    _confirm(browser, None)
    wait_for(browser, ec.text_to_be_present_in_element((By.ID, "banner"), "2 actions are now rejected"))
    with world.engine.connect() as conn:
        assert [get_action(conn, i).status for i in ids] == ["rejected", "rejected"]
    assert chromium.page_errors(browser) == []


def test_the_viewer_sees_why_an_approval_is_refused(browser: WebDriver, world: World) -> None:
    chromium.log_in(browser, world.server.url, "viewer")
    chromium.open_page_in_airflow(browser, world.server.url)
    chromium.show(browser, "approvals")
    button = wait_for(browser, ec.element_to_be_clickable((By.CSS_SELECTOR, "#pending button.approve")))
    action_id = int(button.get_attribute("data-id") or 0)
    button.click()
    _confirm(browser, None)
    wait_for(browser, ec.text_to_be_present_in_element((By.ID, "banner"), "403: viewer may not"))
    with world.engine.connect() as conn:
        assert get_action(conn, action_id).status == "pending_approval"


def test_the_page_follows_the_airflow_uis_dark_theme(world: World) -> None:
    with chromium.chromium(dark=True) as browser:
        chromium.log_in(browser, world.server.url, "viewer")
        chromium.open_page_in_airflow(browser, world.server.url)
        assert browser.execute_script("return document.documentElement.dataset.theme") == "dark"
        # The Airflow UI switched to light (its theme toggle sets the class on its <html>): the page follows.
        browser.execute_script(
            "const html = window.parent.document.documentElement;"
            "html.classList.remove('dark'); html.classList.add('light');"
        )
        wait_for(
            browser, lambda b: b.execute_script("return document.documentElement.dataset.theme") == "light"
        )
        background = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(255, 255, 255)"
