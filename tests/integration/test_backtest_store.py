"""The backtest's in-memory snapshot store answers as the audit database does, on the same rows.

The backtest runs production's snapshot and decide code every simulated hour but keeps the
rows in memory (a database round trip per hour would make the backtest table take hours).
Its reads stand in for store.windows, store.snapshots and store.profiles (the daily run's
hour sums and delay-kernel moments): this replays what it stored into PostgreSQL through
the real store functions and compares the answers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from autoscaler import backtest
from autoscaler.sandbox.graph import GraphAPI
from autoscaler.sandbox.scenario import load_scenario
from autoscaler.store.profiles import hour_sums, lag_moments
from autoscaler.store.profiles import window as profile_window
from autoscaler.store.snapshots import apply_settlement, day_rows, ensure_partitions, upsert_snapshots
from autoscaler.store.windows import previous_cumulative, trailing_window, window_bounds
from tests.simulated import load_into

pytestmark = pytest.mark.integration


def test_the_in_memory_store_answers_as_the_sql_store(engine: Engine) -> None:
    scenario = load_scenario("late-reporting")  # late purchases: yesterday is settled for hours
    sim = backtest._simulator(scenario, seed=4, warmup_hours=40)
    account = sim.accounts[0]
    rule = backtest.rule_for("default", account.account_id, *backtest.limits(sim)[account.index])
    production = backtest.Production(GraphAPI(sim), account, [rule])
    production.journal = []
    for _ in range(40):
        k = backtest._step(sim)
        production.observe(k)
    kinds = [kind for kind, _ in production.journal]
    assert "settlement" in kinds, "the run must have settled a day for this to test anything"

    first = production.journal[0][1]
    load_into(engine, sim, first)
    for kind, frame in production.journal[1:]:
        if kind == "snapshot":
            ensure_partitions(engine, frame["hour_start"].unique())
            upsert_snapshots(engine, frame)
        else:
            with engine.begin() as conn:
                apply_settlement(conn, frame, sim.now)

    hour = sim.hour_start(k)
    with engine.connect() as conn:
        in_sql = trailing_window(conn, account.account_id, *window_bounds(hour, rule.lookback_hours))
        day = pd.Timestamp(hour).tz_convert(account.timezone).date()
        cumulative = previous_cumulative(conn, account.account_id, day, hour + timedelta(hours=1))
        yesterday = day_rows(conn, account.account_id, day - timedelta(days=1))
    in_memory = production._window(k)
    columns = ["entity_id", "spend", "revenue", "impressions", "clicks", "conversions", "hours"]
    pd.testing.assert_frame_equal(
        in_memory[columns].sort_values("entity_id", ignore_index=True),
        in_sql[columns].sort_values("entity_id", ignore_index=True),
        check_dtype=False,
    )
    remembered = production._previous(day)
    merged = remembered.merge(cumulative, on="entity_id", suffixes=("", "_sql"))
    assert len(merged) == len(cumulative) > 0
    for column in cumulative.columns[1:]:
        assert np.array_equal(merged[column].to_numpy(np.int64), merged[f"{column}_sql"].to_numpy(np.int64))
    # Yesterday's rows after every settlement: the same purchases and revenue, hour by hour.
    assert len(yesterday) > 0
    ks = {pd.Timestamp(sim.hour_start(h)): h for h in production.local_date}
    records: list[dict[Any, Any]] = yesterday.to_dict("records")
    for row in records:
        h, i = ks[pd.Timestamp(row["hour_start"])], production.position[str(row["entity_id"])]
        assert (production.rows["conversions"][h][i], production.rows["revenue"][h][i]) == (
            row["conversions"],
            row["revenue"],
        )

    # The daily run's reads for time-of-day profiles: hour sums and the delay kernel's moments.
    start, end = profile_window(sim.now, account.timezone, 2)
    with engine.connect() as conn:
        sums_sql = hour_sums(conn, account.account_id, start, end, account.timezone)
        xtx_sql, xty_sql = lag_moments(conn, account.account_id, start, end)
    sums_memory = production._hour_sums(start, end)
    assert len(sums_memory) > 24
    order = ["entity_id", "local_hour"]
    pd.testing.assert_frame_equal(
        sums_memory.sort_values(order, ignore_index=True),
        sums_sql[sums_memory.columns].sort_values(order, ignore_index=True),
        check_dtype=False,
    )
    xtx, xty = production._lag_moments(start, end)  # every entity: the store samples none this small
    assert xtx.any()
    assert np.allclose(xtx, xtx_sql)
    assert np.allclose(xty, xty_sql)
