"""The routes behind the operator's page, over HTTP in Airflow's API server, on the world the
real hourly steps filled (tests/api/conftest.py): the overview, the entity table and history,
the actions list and its CSV, approvals one by one and in bulk, and the offline Swagger page.
"""

from __future__ import annotations

import csv
import io
import re
import urllib.request
from decimal import Decimal

import pytest
from sqlalchemy import text

from autoscaler.money import to_major
from autoscaler.store.actions import get_action
from tests.api.conftest import World

pytestmark = [pytest.mark.integration, pytest.mark.sandbox, pytest.mark.slow]

P = "/api/auto-scaler"


def test_the_swagger_page_loads_only_assets_the_package_serves(world: World) -> None:
    status, html = world.server.request("GET", P + "/docs", user="viewer")
    assert status == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html) + re.findall(r"url: *'([^']+)'", html)
    assert len(urls) >= 4  # script, stylesheet, icon, the schema
    for url in urls:
        assert url.startswith(P + "/"), f"{url} is not served by the plugin (a CDN would be blank offline)"
        if url.endswith("/openapi.json"):
            assert world.server.request("GET", url, user="viewer")[0] == 200
        else:  # the library's files are public, like any library's
            with urllib.request.urlopen(world.server.url + url) as r:
                assert r.status == 200
    with urllib.request.urlopen(world.server.url + P + "/static/swagger-ui-bundle.js") as r:
        assert b"SwaggerUIBundle" in r.read()
    with urllib.request.urlopen(world.server.url + "/auto-scaler/static/vendor/echarts.min.js") as r:
        assert r.status == 200


def test_the_overview_agrees_with_the_seed_dashboard_and_the_days_add_up(world: World) -> None:
    status, view = world.get("/overview?account_id=act_1001&start_date=2026-11-01&end_date=2026-11-30")
    assert status == 200, view
    assert view["account"]["currency"] == "USD"
    assert sum(Decimal(d["spend"]) for d in view["days"]) == Decimal(view["spend"])
    assert Decimal(view["profit"]) == Decimal(view["revenue_tracked"]) - Decimal(view["spend"])
    live_by_day = sum(sum(d["actions"].values()) for d in view["days"])
    assert live_by_day == view["live"]["total_actions"]
    with world.engine.connect() as conn:
        live, shadow = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE mode = 'live'), count(*) FILTER (WHERE mode = 'shadow') "
                "FROM autoscaler.scaling_actions WHERE account_id = 'act_1001'"
            )
        ).one()
    assert view["live"]["total_actions"] == live
    assert sum(f["total_actions"] for f in view["shadow"]) == shadow
    assert view["paused"] is False


def test_the_entity_table_pages_sorts_and_filters_in_the_accounts_currency(world: World) -> None:
    base = "/entities/table?account_id=act_1001&start_date=2026-11-01&end_date=2026-11-30"
    status, first = world.get(base + "&page_size=5&sort=spend&order=desc")
    assert status == 200, first
    with world.engine.connect() as conn:
        holders = conn.execute(
            text("SELECT count(*) FROM autoscaler.budget_holders WHERE account_id = 'act_1001'")
        ).scalar_one()
    assert first["total"] == holders
    assert len(first["items"]) == min(5, holders)
    spends = [Decimal(i["spend"]) for i in first["items"]]
    assert spends == sorted(spends, reverse=True)
    row = first["items"][0]
    assert row["spark"], "a sparkline point per day of the window"
    status, named = world.get(base + f"&q={row['entity_id']}")
    assert [i["entity_id"] for i in named["items"]] == [row["entity_id"]]
    status, bad = world.get(base + "&sort=drop_table")
    assert status == 422
    assert "sort" in str(bad["detail"])


def test_an_entitys_history_has_a_budget_every_hour_and_its_actions(world: World) -> None:
    with world.engine.connect() as conn:
        entity = conn.execute(
            text("SELECT min(entity_id) FROM autoscaler.scaling_actions WHERE account_id = 'act_1001'")
        ).scalar_one()
        acted = conn.execute(
            text("SELECT count(*) FROM autoscaler.scaling_actions WHERE entity_id = :e"), {"e": entity}
        ).scalar_one()
    status, found = world.get(f"/entities/{entity}/history?days=30")
    assert status == 200, found
    assert len(found["hours"]) == 30  # HOURS of the world
    assert all(h["daily_budget"] is not None for h in found["hours"])
    assert len(found["actions"]) == acted
    assert all(a["reasoning"] for a in found["actions"])
    with world.engine.connect() as conn:
        first = get_action(conn, found["actions"][0]["action_id"])
    assert Decimal(found["actions"][0]["budget_before"]) == to_major(first.budget_before or 0, first.currency)
    assert sum(Decimal(d["spend"]) for d in found["days"]) == sum(Decimal(h["spend"]) for h in found["hours"])
    # The first page's timeline route is the same history in its older shape.
    status, timeline = world.get(f"/entities/{entity}/timeline?days=30")
    assert status == 200, timeline
    assert [h["hour_start"] for h in timeline["hours"]] == [h["hour_start"] for h in found["hours"]]
    assert [a["action_id"] for a in timeline["actions"]] == [a["action_id"] for a in found["actions"]]


def test_the_actions_list_filters_by_mode_shows_names_and_its_csv_is_the_same_page(world: World) -> None:
    query = "account_id=act_1001&mode=live&page_size=7&page=1"
    status, page = world.get(f"/actions/history?{query}")
    assert status == 200, page
    assert page["items"]
    assert {i["mode"] for i in page["items"]} == {"live"}
    assert all(i["entity_name"] for i in page["items"])
    status, body = world.get(f"/actions/history.csv?{query}")
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [int(r["action_id"]) for r in rows] == [i["action_id"] for i in page["items"]]
    assert [r["entity_name"] for r in rows] == [i["entity_name"] for i in page["items"]]
    assert [r["budget_after"] for r in rows] == [i["budget_after"] or "" for i in page["items"]]


def test_approvals_name_the_entity_and_give_the_change_and_its_percent(world: World) -> None:
    status, found = world.get("/approvals?account_id=act_1002")
    assert status == 200, found
    assert found["items"]
    with world.engine.connect() as conn:
        stored = get_action(conn, found["items"][0]["action_id"])
    assert Decimal(found["items"][0]["budget_after"]) == to_major(stored.budget_after or 0, stored.currency)
    for item in found["items"]:
        assert item["entity_name"]
        # Under time optimisation the answer commits the base (the hour's write is one step).
        based = item["base_before"] is not None
        before, after = (
            (Decimal(item["base_before"]), Decimal(item["base_after"]))
            if based
            else (Decimal(item["budget_before"]), Decimal(item["budget_after"]))
        )
        assert Decimal(item["change"]) == after - before
        assert item["change_percent"] == pytest.approx(float(100 * (after - before) / before), abs=0.01)
        assert item["seconds_left"] > 0  # the world's deadlines are a year away
    kinds = {i["action_type"] for i in found["items"]}
    for kind in kinds:
        status, narrowed = world.get(f"/approvals?account_id=act_1002&action_type={kind}")
        assert {i["action_type"] for i in narrowed["items"]} == {kind}
    assert sum(
        len(world.get(f"/approvals?account_id=act_1002&action_type={k}")[1]["items"]) for k in kinds
    ) == len(found["items"])


def test_bulk_answers_are_all_or_none_record_the_user_and_refuse_the_viewer(world: World) -> None:
    _, found = world.get("/approvals?account_id=act_1002")
    ids = [i["action_id"] for i in found["items"]][:3]
    assert len(ids) == 3
    status, body = world.post("/approve-bulk", {"action_ids": ids, "approve": False}, user="viewer")
    assert status == 403, body
    # One of them answered elsewhere first: the set is refused whole, and the 409 names it.
    assert world.post("/approve", {"action_id": ids[0], "approve": False, "reason": "by hand"})[0] == 200
    status, body = world.post("/approve-bulk", {"action_ids": ids, "approve": False, "reason": "bulk"})
    assert status == 409, body
    assert str(ids[0]) in body["detail"]
    with world.engine.connect() as conn:
        assert [get_action(conn, i).status for i in ids[1:]] == ["pending_approval"] * 2
    status, body = world.post("/approve-bulk", {"action_ids": ids[1:], "approve": False, "reason": "too big"})
    assert status == 200, body
    assert [a["status"] for a in body["answered"]] == ["rejected", "rejected"]
    with world.engine.connect() as conn:
        for action_id in ids[1:]:
            action = conn.execute(
                text(
                    "SELECT decided_by, decision_reason FROM autoscaler.scaling_actions WHERE action_id = :a"
                ),
                {"a": action_id},
            ).one()
            assert tuple(action) == ("ops", "too big")


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-43.80", "-43.80"),
        ("Strong performance: ROAS 3.05x", "Strong performance: ROAS 3.05x"),
    ],
)
def test_a_csv_cell_a_spreadsheet_would_run_is_quoted_as_text(value: str, cell: str) -> None:
    from autoscaler.api.app import _csv_cell

    assert _csv_cell(value) == cell
