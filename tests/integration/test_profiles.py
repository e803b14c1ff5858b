"""Optimal-hour profiles from the database: planted peaks recovered, flat accounts without peaks, DST."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from autoscaler.daily import learn_account
from autoscaler.sandbox.scenario import load_scenario, parse_scenario
from autoscaler.store.profiles import get_profile
from tests.simulated import load_into, simulated_snapshots

pytestmark = pytest.mark.integration

ACCOUNT = "act_4001"


def learned(engine: Engine, name_or_data: str | dict[str, Any], seed: int) -> tuple[Any, dict[str, Any]]:
    scenario = load_scenario(name_or_data) if isinstance(name_or_data, str) else parse_scenario(name_or_data)
    sim, rows = simulated_snapshots(scenario, seed)
    load_into(engine, sim, rows)
    counts = learn_account(engine, ACCOUNT, scenario.start)
    return sim, counts


def peaks(engine: Engine) -> dict[str, list[int]]:
    with engine.connect() as conn:
        return dict(
            conn.execute(text("SELECT entity_id, peak_hours FROM autoscaler.optimal_hour_profiles")).all()
        )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_planted_peak_hours_are_recovered(engine: Engine, seed: int) -> None:
    sim, counts = learned(engine, "planted", seed)
    found = peaks(engine)
    assert counts["profiles"] == len(found) == 50
    tp = sum(len(set(found[e]) & set(truth)) for e, truth in sim.planted_peaks.items())
    fp = sum(len(set(found[e]) - set(truth)) for e, truth in sim.planted_peaks.items())
    fn = sum(len(set(truth) - set(found[e])) for e, truth in sim.planted_peaks.items())
    print(f"seed {seed}: precision {tp / max(tp + fp, 1):.2f}, recall {tp / (tp + fn):.2f}")
    assert tp / max(tp + fp, 1) >= 0.75
    assert tp / (tp + fn) >= 0.3


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_flat_account_has_no_peaks_in_at_least_95_percent_of_entities(engine: Engine, seed: int) -> None:
    learned(engine, "flat", seed)
    found = peaks(engine)
    assert len(found) == 50
    assert sum(1 for hours in found.values() if not hours) >= 0.95 * len(found)


def test_a_daylight_saving_change_inside_the_window_does_not_shift_hours(engine: Engine) -> None:
    # New York falls back on 2026-11-01: the window 2026-10-17 .. 2026-11-14 spans it.
    data = json.loads((resources.files("autoscaler.sandbox") / "scenarios" / "planted.json").read_text())
    data["start"] = "2026-11-14T05:00:00Z"
    sim, _ = learned(engine, data, 2)
    found = peaks(engine)
    hits = sum(len(set(found[e]) & set(t)) for e, t in sim.planted_peaks.items())
    misses = sum(len(set(found[e]) - set(t)) for e, t in sim.planted_peaks.items())
    # Hours an hour off the planted ones would count as misses.
    assert hits >= 20
    assert hits / (hits + misses) >= 0.75


def test_learning_again_replaces_each_profile_with_the_same_result(engine: Engine) -> None:
    learned(engine, "planted", 1)
    with engine.connect() as conn:
        entity = conn.execute(
            text("SELECT min(entity_id) FROM autoscaler.optimal_hour_profiles")
        ).scalar_one()
        first = get_profile(conn, entity)
    assert first is not None
    learn_account(engine, ACCOUNT, datetime(2026, 11, 30, 5, tzinfo=UTC))
    with engine.connect() as conn:
        again = get_profile(conn, first[0].entity_id)
        count = conn.execute(text("SELECT count(*) FROM autoscaler.optimal_hour_profiles")).scalar_one()
    assert again is not None
    assert again[0] == first[0]
    assert again[0].days_observed == 28  # every local day of the window had spend
    assert count == 50
    assert again[1]["window_end"] - again[1]["window_start"] == timedelta(days=28)
    assert again[1]["window_end"] == datetime(2026, 11, 30, 5, tzinfo=UTC)  # local midnight, New York


def test_entities_with_gaps_and_new_entities_get_honest_profiles(engine: Engine) -> None:
    scenario = load_scenario("planted")
    sim, rows = simulated_snapshots(scenario, 1)
    entities = sorted(rows["entity_id"].unique())
    gappy, new = entities[0], entities[1]
    start = scenario.start
    keep = ~(
        (
            (rows["entity_id"] == gappy)
            & rows["hour_start"].between(start - timedelta(days=20), start - timedelta(days=10))
        )
        | ((rows["entity_id"] == new) & (rows["hour_start"] < start - timedelta(days=2)))
    )
    load_into(engine, sim, rows[keep])
    learn_account(engine, ACCOUNT, start)
    with engine.connect() as conn:
        gap = get_profile(conn, gappy)
        fresh = get_profile(conn, new)
        full = get_profile(conn, entities[2])
    assert gap is not None
    assert fresh is not None
    assert full is not None
    assert 16 <= gap[0].days_observed <= 18  # ten days missing of 28
    assert fresh[0].days_observed == 2
    assert fresh[0].confidence < full[0].confidence
    assert fresh[0].peak_hours == []  # two days cannot show a peak


def test_a_window_longer_than_62_days_counts_every_day_observed(engine: Engine) -> None:
    """Days past the 62nd of the window travel in the second day mask (days_hi)."""
    from autoscaler.localtime import local_calendar
    from autoscaler.profiles import days_observed
    from autoscaler.store.profiles import hour_sums, window
    from autoscaler.store.snapshots import upsert_snapshots

    now = datetime(2026, 12, 20, 12, tzinfo=UTC)
    start, end = window(now, "UTC", 90)
    hours = [start + timedelta(days=d, hours=10) for d in range(90)]
    rows = pd.DataFrame({"entity_id": "5001", "hour_start": pd.to_datetime(hours, utc=True)})
    rows = rows.join(local_calendar(rows["hour_start"], "UTC"))
    no_spend = {3, 70, 88}  # one day in each mask has no spend; it is not a day observed
    spend = [0 if d in no_spend else 100 for d in range(90)]
    rows = rows.assign(
        account_id=ACCOUNT, spend=spend, impressions=10, clicks=1, conversions=0, revenue=0,
        revenue_source="observed", daily_budget=5_000, status="ACTIVE", effective_status="ACTIVE",
        observed_at=rows["hour_start"] + pd.Timedelta(hours=2),
    )  # fmt: skip
    upsert_snapshots(engine, rows)
    with engine.connect() as conn:
        long_window = hour_sums(conn, ACCOUNT, start, end, "UTC")
        last_28 = hour_sums(conn, ACCOUNT, end - timedelta(days=28), end, "UTC")
    assert int(long_window["days_hi"].iloc[0]) != 0
    assert days_observed(long_window)["days_observed"].tolist() == [87]
    assert int(last_28["days_hi"].iloc[0]) == 0
    assert days_observed(last_28)["days_observed"].tolist() == [26]
