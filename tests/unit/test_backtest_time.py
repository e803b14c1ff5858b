"""Time of day in the backtest: profiles learned from the simulated history as the daily DAG
would, multipliers applied as the hourly DAG does, under Meta's learning rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autoscaler import backtest
from autoscaler.allocator import AllocatorSettings
from autoscaler.sandbox.graph import GraphAPI
from autoscaler.sandbox.scenario import parse_scenario
from autoscaler.timeopt import TIME_STEP

# Two big ad sets with strong planted hours and 20 days of history: enough purchases for
# confident profiles within the shadow period.
PEAKED = parse_scenario(
    {
        "name": "peaked",
        "start": "2026-11-30T05:00:00Z",
        "history_days": 20,
        "accounts": [
            {
                "account_id": "act_9101",
                "currency": "USD",
                "timezone": "America/Chicago",
                "groups": [
                    {
                        "kind": "abo",
                        "count": 1,
                        "adsets_per_campaign": 2,
                        "daily_budget": [5000, 6000],
                        "roas": [2.5, 3.0],
                        "hour_effects": "planted",
                    }
                ],
            }
        ],
    }
)


@pytest.mark.long  # two 2-day backtests; the next test checks the same writes hour by hour
def test_the_time_policy_writes_the_hours_on_top_of_the_allocators_changes() -> None:
    timed = backtest.run(PEAKED, days=2, seed=2, policy="allocator+time")
    plain = backtest.run(PEAKED, days=2, seed=2, policy="allocator")
    assert timed.refused == plain.refused == 0
    assert timed.changes > plain.changes + 12  # hourly adjustments, besides the performance changes


def test_profiles_come_from_the_snapshot_rows_and_time_writes_never_restart_learning() -> None:
    sim = backtest._simulator(PEAKED, seed=2, warmup_hours=backtest.PROFILE_DAYS * 24)
    account = sim.accounts[0]
    rule = backtest.rule_for("allocator+time", account.account_id, *backtest.limits(sim)[account.index])
    assert rule.time_optimization_enabled
    production = backtest.Production(GraphAPI(sim), account, [rule], AllocatorSettings())
    while sim.now < PEAKED.start:
        production.observe(backtest._step(sim))
    # The 09:00 UTC runs of the shadow period learned a profile per ad set, peaks included.
    assert sorted(production.profile_ids) == sorted(production.ids)
    assert (production.profile_confidence >= rule.time_min_confidence).all()
    multipliers = production.profile_multiplier
    assert multipliers.shape == (2, 24)
    assert (multipliers.max(axis=1) > 1.2).all()  # the planted peaks (x1.6), shrunk and renormalised
    refused: dict[str, int] = {}
    before = len(sim.history)
    for _ in range(24):
        k = backtest._step(sim)
        production.observe(k)
        decided = production.decide(k)
        production.write(decided, refused)
    writes = pd.DataFrame(sim.history[before:])
    assert refused == {}
    assert len(writes) >= 6, "a day of planted hours should move the budgets"
    # Every write stays under Meta's significant-edit size: no learning restarts.
    moved = (writes["after"] / writes["before"] - 1).abs()
    assert (moved <= TIME_STEP + 1e-9).all()
    # Each holder's base is what the executed actions left: it moves only by performance changes.
    assert set(production.base) <= set(production.ids)
    held = {
        e: int(b)
        for e, b in zip(production.holders["entity_id"], production.holders["daily_budget"], strict=True)
    }
    for entity, base in production.base.items():
        assert abs(held[entity] / base - 1) <= 0.5 + 1e-9  # within the rule's multiplier bounds
    assert np.isfinite(production.profile_confidence).all()
