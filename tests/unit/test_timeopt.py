"""Time of day in the hourly run: targets from a base that performance moves and hours never compound."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoscaler.timeopt import TIME_STEP, plan_hour, time_reasoning

RULE = {
    "time_multiplier_min": 0.5,
    "time_multiplier_max": 1.5,
    "min_daily_budget": 1_000,
    "max_daily_budget": 1_000_000,
}


def row(**overrides: Any) -> dict[str, Any]:
    base = {
        "entity_id": "2001",
        "held": 20_000,
        "base": pd.NA,
        "applies": True,
        "multiplier": 1.4,
        "local_hour": 18,
        "action": "maintain",
        "new_daily_budget": 20_000,
        "status": "ACTIVE",
        "locked": False,
        "rule_id": 1,
        **RULE,
    }
    return {**base, **overrides}


def plan(*rows: dict[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    frame["base"] = frame["base"].astype("Int64")
    return plan_hour(frame)


def test_a_peak_hour_writes_base_times_its_multiplier_and_keeps_the_base() -> None:
    p = plan(row(multiplier=1.1)).iloc[0]
    assert (p["time_action"], p["target"], p["base_now"], p["base_new"]) == (
        "time_adjust",
        22_000,
        20_000,
        20_000,
    )
    text = time_reasoning(p, "USD")
    assert (
        text
        == "Time of day: 18:00 local is a peak hour: budget $200.00/day -> $220.00/day (base $200.00/day x 1.10)"
    )


def test_a_big_swing_is_walked_in_steps_meta_does_not_count_as_significant() -> None:
    # x1.4 is 40% above what Meta holds: one write would restart the ad set's learning.
    p = plan(row()).iloc[0]
    assert (p["time_action"], p["target"], p["time_goal"], p["base_new"]) == (
        "time_adjust",
        23_000,
        28_000,
        20_000,
    )
    assert time_reasoning(p, "USD") == (
        "Time of day: 18:00 local is a peak hour: budget $200.00/day -> $230.00/day, toward $280.00/day "
        "(base $200.00/day x 1.40), at most 15% an hour (Meta may restart learning after a larger edit)"
    )
    held, writes = 20_000, []
    while held != 28_000:
        held = int(plan(row(held=held, base=20_000)).iloc[0]["target"])
        writes.append(held)
    assert writes == [23_000, 26_450, 28_000]
    assert all(b / a - 1 <= TIME_STEP for a, b in zip([20_000, *writes], writes, strict=False))


def test_multipliers_are_bounded_by_the_rule_and_budgets_by_its_limits() -> None:
    high, low, capped = plan(
        row(multiplier=2.7),
        row(entity_id="2002", multiplier=0.1),
        row(entity_id="2003", max_daily_budget=25_000),
    ).itertuples()
    assert high.time_goal == 30_000  # x1.5
    assert low.time_goal == 10_000  # x0.5
    assert capped.time_goal == 25_000
    assert (high.target, low.target, capped.target) == (23_000, 17_000, 23_000)  # walked there


def test_at_local_midnight_the_base_is_restored() -> None:
    p = plan(row(local_hour=0, held=22_000, base=20_000)).iloc[0]
    assert (p["time_action"], p["target"]) == ("time_restore", 20_000)
    assert time_reasoning(p, "USD").startswith(
        "Time of day: local midnight, budget back to its base $200.00/day"
    )
    far = plan(row(local_hour=0, held=28_000, base=20_000)).iloc[0]  # walked back
    assert (far["time_action"], far["target"]) == ("time_restore", 23_800)
    assert "back toward its base $200.00/day, at most 15% an hour" in time_reasoning(far, "USD")


def test_the_rules_limits_are_hard_even_for_a_walked_budget() -> None:
    below = plan(row(applies=False, held=10_000, base=20_000, min_daily_budget=15_000)).iloc[0]
    assert (below["time_action"], below["target"]) == ("time_restore", 15_000)  # not 11,500
    above = plan(row(held=40_000, base=20_000, multiplier=1.0, max_daily_budget=30_000)).iloc[0]
    assert above["target"] == 30_000  # not 34,000


def test_without_a_confident_profile_a_base_left_from_earlier_is_restored() -> None:
    p = plan(row(applies=False, held=23_000, base=20_000)).iloc[0]
    assert (p["time_action"], p["target"]) == ("time_restore", 20_000)
    untouched = plan(row(applies=False)).iloc[0]  # never managed: nothing to do
    assert untouched["time_action"] == ""


def test_performance_scaling_moves_the_base_and_writes_the_new_base_times_the_hour() -> None:
    # decide ran on the base (20,000) and scaled it up 20%.
    p = plan(row(held=28_000, base=20_000, action="scale_up", new_daily_budget=24_000)).iloc[0]
    assert p["time_action"] == ""  # the performance action carries the write
    assert (p["base_now"], p["base_new"], p["time_goal"]) == (20_000, 24_000, 33_600)
    assert p["target"] == 32_200  # walked: 15% above what Meta holds, the rest over the next hour


@pytest.mark.parametrize(
    "overrides",
    [
        {"locked": True},
        {"status": "PAUSED"},
        {"action": "pause"},
        {"rule_id": pd.NA, "applies": False, "base": 20_000, "held": 28_000},
    ],
)
def test_locked_inactive_and_pausing_entities_get_no_time_change(overrides: dict[str, Any]) -> None:
    assert plan(row(**overrides)).iloc[0]["time_action"] == ""


def test_a_week_of_hours_with_scaling_in_it_never_compounds() -> None:
    rng = np.random.default_rng(4)
    held, base = 20_000, None
    expected_base, scalings = 20_000, 0  # the base moves by the scalings alone
    for hour in range(7 * 24):
        multiplier = float(rng.uniform(0.2, 2.5))
        scaling = rng.random() < 0.05
        base_now = held if base is None else base
        # What decide does for a managed entity: it scales the base, not what Meta holds.
        action, new = ("scale_up", round(base_now * 1.2)) if scaling else ("maintain", base_now)
        expected_base, scalings = (
            (round(expected_base * 1.2), scalings + 1) if scaling else (expected_base, scalings)
        )
        p = plan(
            row(held=held, base=base if base is not None else pd.NA, multiplier=multiplier,
                local_hour=hour % 24, action=action, new_daily_budget=new)
        ).iloc[0]  # fmt: skip
        factor = p["time_goal"] / p["base_new"]
        assert 0.5 - 1e-4 <= factor <= 1.5 + 1e-4, (hour, factor)
        if hour % 24 == 0:
            assert p["time_goal"] == p["base_new"]
        # No write moves Meta's budget by more than TIME_STEP, a scaling's included.
        assert abs(p["target"] / held - 1) <= TIME_STEP + 1e-4, (hour, held, p["target"])
        assert p["base_new"] == (new if scaling else base_now)  # only scaling moves the base
        # Executed: Meta holds the target, the holder keeps the new base.
        held, base = int(p["target"]), int(p["base_new"])
    assert scalings > 0
    assert base == expected_base  # after a week of hourly adjustments: the scalings, nothing else
