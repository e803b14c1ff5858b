"""`autoscaler profiles learn | report | schedule` on weeks of simulated snapshots."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from autoscaler.cli import main
from autoscaler.rules import ScalingRule
from autoscaler.sandbox.scenario import load_scenario
from autoscaler.store.rules import create_rule
from tests.integration.test_cli import run, url_of
from tests.simulated import load_into, simulated_snapshots

pytestmark = pytest.mark.integration


@pytest.fixture
def learned_url(engine: Engine, db_url: URL, capsys: pytest.CaptureFixture[str]) -> str:
    sim, rows = simulated_snapshots(load_scenario("planted"), 1)
    load_into(engine, sim, rows)
    with engine.begin() as conn:
        create_rule(
            conn,
            ScalingRule.parse(
                {
                    "account_id": "act_4001",
                    "min_daily_budget": 1_000,
                    "max_daily_budget": 1_000_000,
                    "time_optimization_enabled": True,
                    "time_min_confidence": 0.3,
                    "time_multiplier_min": 0.8,
                    "time_multiplier_max": 1.25,
                }
            ),
            actor="tests",
        )
    url = url_of(db_url)
    code, out, _ = run(capsys, "profiles", "learn", "--now", "2026-11-30T09:00:00Z", "--url", url)
    assert code == 0
    assert out.startswith("act_4001: 50 profiles from the last 28 local days;")
    return url


def peaked_entity(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text(
                    "SELECT entity_id FROM autoscaler.optimal_hour_profiles WHERE cardinality(peak_hours) > 0 "
                    "ORDER BY confidence DESC LIMIT 1"
                )
            ).scalar_one()
        )


def test_the_report_is_the_hour_by_hour_table_in_major_units(
    learned_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    entity = peaked_entity(engine)
    code, out, _ = run(capsys, "profiles", "report", entity, "--format", "json", "--url", learned_url)
    assert code == 0
    report = json.loads(out)
    assert [h["local_hour"] for h in report["hours"]] == list(range(24))
    assert report["currency"] == "USD"
    assert report["timezone"] == "America/New_York"
    assert all(report["hours"][h]["mark"] == "peak" for h in report["peak_hours"])
    assert "." in report["hours"][12]["spend"]  # dollars and cents, not cents
    code, out, _ = run(capsys, "profiles", "report", entity, "--url", learned_url)
    assert code == 0
    assert "local_hour" in out.splitlines()[1]
    assert len(out.splitlines()) == 2 + 24


def test_the_schedule_keeps_within_the_rules_bounds_and_says_whether_it_applies(
    learned_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    entity = peaked_entity(engine)
    code, out, _ = run(capsys, "profiles", "schedule", entity, "--format", "json", "--url", learned_url)
    assert code == 0
    plan = json.loads(out)
    assert plan["multiplier_bounds"] == [0.8, 1.25]
    assert all(0.8 <= h["multiplier"] <= 1.25 for h in plan["hours"])
    assert plan["applies"] == (plan["confidence"] >= 0.3)
    assert max(h["multiplier"] for h in plan["hours"]) > 1.0


def test_an_entity_without_a_profile_is_a_clear_error(
    learned_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["profiles", "report", "999", "--url", learned_url]) == 2
    assert "no optimal-hour profile for 999" in capsys.readouterr().err
