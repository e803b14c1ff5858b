"""sql/queries/: each cookbook query runs as psql would run it and answers its question right.

The world is the API tests' one (real hourly steps against the sandbox); each query's answer
is checked against the same question answered another way.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Connection, Engine, text

from autoscaler.store import actions
from autoscaler.store.snapshots import ensure_partitions
from tests.api.conftest import World

pytestmark = [pytest.mark.integration, pytest.mark.sandbox, pytest.mark.slow]

QUERIES = Path(__file__).resolve().parents[2] / "sql" / "queries"


def run(conn: Connection, name: str, **params: Any) -> pd.DataFrame:
    """The file with psql's :'name' variables bound as parameters."""
    sql = re.sub(r":'(\w+)'", r":\1", (QUERIES / f"{name}.sql").read_text())
    return pd.DataFrame(conn.execute(text(sql), params).mappings().all())


def test_every_query_file_is_commented_and_tested() -> None:
    tested = {"dashboard"} | {
        name.removeprefix("test_").split("_answers")[0]
        for name in globals()
        if name.startswith("test_") and "_answers" in name
    }
    for path in QUERIES.glob("*.sql"):
        assert path.read_text().startswith("-- "), f"{path.name} starts without saying what it answers"
        assert path.stem in tested, f"{path.name} has no test"


def test_actions_for_campaign_answers(world: World) -> None:
    with world.engine.connect() as conn:
        campaign = conn.execute(
            text("SELECT entity_id FROM autoscaler.scaling_actions WHERE entity_level = 'campaign' LIMIT 1")
        ).scalar_one()
        got = run(conn, "actions_for_campaign", campaign_id=campaign)
        expected = conn.execute(
            text(
                "SELECT count(*) FROM autoscaler.scaling_actions a JOIN autoscaler.budget_holders h "
                "USING (entity_id) WHERE h.campaign_id = :c"
            ),
            {"c": campaign},
        ).scalar_one()
    assert len(got) == expected > 0
    assert list(got["created_at"]) == sorted(got["created_at"], reverse=True)


def test_approvals_by_approver_answers(world: World) -> None:
    with world.engine.begin() as conn:
        waiting = actions.list_actions(conn, status="pending_approval", limit=3)
        actions.approve(conn, waiting[0].action_id, by="cookbook-ana", reason="ok")
        actions.approve(conn, waiting[1].action_id, by="cookbook-ana", reason="ok")
        actions.reject(conn, waiting[2].action_id, by="cookbook-ben", reason="no")
    with world.engine.connect() as conn:
        got = run(conn, "approvals_by_approver", since="2026-01-01").set_index("actor")
    assert (got.loc["cookbook-ana", "approved"], got.loc["cookbook-ana", "rejected"]) == (2, 0)
    assert (got.loc["cookbook-ben", "approved"], got.loc["cookbook-ben", "rejected"]) == (0, 1)
    assert pd.Timedelta(str(got.loc["cookbook-ana", "median_time_to_answer"])) >= timedelta(0)


def test_pending_by_age_answers(world: World) -> None:
    with world.engine.connect() as conn:
        got = run(conn, "pending_by_age")
        pending = conn.execute(
            text("SELECT count(*) FROM autoscaler.scaling_actions WHERE status = 'pending_approval'")
        ).scalar_one()
    assert len(got) == pending > 0
    assert list(got["waiting_for"]) == sorted(got["waiting_for"], reverse=True)
    assert set(got["age_bucket"]) <= {"under 1 h", "1-6 h", "6-24 h", "over a day"}


def test_wasted_spend_by_account_answers(world: World) -> None:
    with world.engine.connect() as conn:
        got = run(conn, "wasted_spend_by_account", start_date="2026-11-01", end_date="2026-11-30")
        snapshots = pd.read_sql(
            text(
                "SELECT account_id, entity_id, local_date, spend, revenue FROM autoscaler.campaign_performance_snapshots"
            ),
            conn,
        )
    days = snapshots.groupby(["account_id", "entity_id", "local_date"])[["spend", "revenue"]].sum()
    wasted = days[days["revenue"] < days["spend"]].groupby("account_id")["spend"].sum()
    got = got.set_index("account_id")
    for account_id, value in wasted.items():
        assert got.loc[str(account_id), "wasted_spend"] == value
    assert (got["wasted_spend"].fillna(0) <= got["spend"]).all()


def test_roas_before_after_answers(world: World) -> None:
    with world.engine.begin() as conn:
        action = conn.execute(
            text(
                "SELECT action_id, entity_id, account_id, executed_at FROM autoscaler.scaling_actions "
                "WHERE status = 'executed' AND entity_id NOT IN (SELECT entity_id FROM autoscaler.campaign_performance_snapshots "
                "WHERE hour_start > now() - interval '3 days') ORDER BY action_id LIMIT 1"
            )
        ).one()
    # Hours around the change as Meta would report them: ROAS 0.5 before, 2.0 after.  The change
    # ran on the wall clock, so its hours may fall in a month no snapshot has needed yet.
    executed = pd.Timestamp(action.executed_at).floor("h")
    hours = [executed + pd.Timedelta(hours=k if k < 0 else k + 1) for k in range(-24, 24)]
    ensure_partitions(world.engine, hours)
    with world.engine.begin() as conn:
        for k, hour in zip(range(-24, 24), hours, strict=True):
            conn.execute(
                text(
                    "INSERT INTO autoscaler.campaign_performance_snapshots (entity_id, hour_start, account_id, "
                    "local_date, local_hour, local_weekday, spend, impressions, clicks, conversions, revenue, "
                    "revenue_source, observed_at) VALUES (:e, :h, :a, :d, :lh, :wd, 1000, 100, 1, 0, :rev, 'observed', :h)"
                ),
                {
                    "e": action.entity_id,
                    "h": hour.to_pydatetime(),
                    "a": action.account_id,
                    "d": hour.date(),
                    "lh": hour.hour,
                    "wd": hour.weekday(),
                    "rev": 500 if k < 0 else 2000,
                },
            )
    with world.engine.connect() as conn:
        got = run(conn, "roas_before_after", since="2026-01-01").set_index("action_id")
    row = got.loc[action.action_id]
    assert (float(row["roas_before"]), float(row["roas_after"])) == (0.5, 2.0)
    assert row["spend_before"] == 24 * 1000
    assert row["hours_after"] == 24  # the hour it was executed in belongs to neither side


def test_allocator_targets_answers(engine: Engine) -> None:
    """On a hand-made store: only the latest allocator decision of each holder counts."""
    from tests import factories as f

    with engine.begin() as conn:
        rule = f.world(conn)
        conn.execute(text("UPDATE autoscaler.budget_holders SET daily_budget = 20000"))
        for hour, marginal, target in (("2026-11-02 15:00", 2.5, 40_000), ("2026-11-02 18:00", 1.4, 26_000)):
            f.insert_action(
                conn,
                f.action_row(
                    rule.rule_id or 0,
                    run_hour=f"{hour}:00+00",
                    mode="shadow",
                    status="simulated",
                    requires_approval=False,
                    marginal_roas=marginal,
                    target_marginal_roas=1.0,
                    curve_target_budget=target,
                    curve_elasticity=0.6,
                    curve_elasticity_sd=0.1,
                ),
            )
        f.insert_action(conn, f.action_row(rule.rule_id or 0, entity_id=f.ADSET, entity_level="adset"))
        got = run(conn, "allocator_targets", account_id=f.ACCOUNT)
    assert list(got["entity_id"]) == [f.CAMPAIGN]  # the ad set's decision was the thresholds'
    row = got.iloc[0]
    assert (float(row["marginal_roas"]), int(row["target_budget"])) == (1.4, 26_000)
    assert float(row["to_target_pct"]) == 30.0
