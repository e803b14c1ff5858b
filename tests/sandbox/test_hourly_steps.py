"""The hourly steps against the sandbox and PostgreSQL: fetch, snapshot (live and backfilled), decide."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from autoscaler.hourly import RunHour, decide_account, decisions, fetch, snapshot
from autoscaler.meta import MetaClient, MetaConfig
from autoscaler.rules import ScalingRule
from autoscaler.sandbox.scenario import load_scenario
from autoscaler.sandbox.server import RunningSandbox
from autoscaler.store.rules import create_rule

pytestmark = [pytest.mark.sandbox, pytest.mark.integration]

ACCOUNT = "act_1001"  # New York
NEW_YORK = ZoneInfo("America/New_York")
START = datetime(2026, 11, 2, 5, tzinfo=UTC)  # the sandbox's clock: local midnight in New York


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with RunningSandbox(load_scenario("demo"), seed=1) as running:
        yield running


@pytest.fixture
def meta(sandbox: RunningSandbox) -> MetaClient:
    return MetaClient(MetaConfig(access_token="sandbox-token", graph_url=sandbox.url))


def set_clock(sandbox: RunningSandbox, when: datetime) -> None:
    body = json.dumps({"to": when.isoformat()}).encode()
    urllib.request.urlopen(
        urllib.request.Request(f"{sandbox.url}/__sandbox/clock", data=body, method="POST")
    ).read()


def run_live_hour(
    engine: Engine, meta: MetaClient, sandbox: RunningSandbox, hour: datetime, **kwargs: object
) -> dict[str, int]:
    now = hour + timedelta(hours=1, minutes=5)
    set_clock(sandbox, now)
    run = RunHour(ACCOUNT, hour, **kwargs)  # type: ignore[arg-type]
    fetch(engine, meta, run, now)
    return snapshot(engine, meta, run, now)


def snapshots(engine: Engine, hour: datetime) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(
            text(
                "SELECT * FROM autoscaler.campaign_performance_snapshots WHERE hour_start = :h ORDER BY entity_id"
            ),
            conn,
            params={"h": hour},
        )


def simulated(sandbox: RunningSandbox, hour: datetime, quantity: str) -> dict[str, int]:
    sim = sandbox.sandbox.sim
    k = sim.hour_index(hour)
    values = getattr(sim, quantity)[k]
    return {
        h.entity_id: int(values[h.index])
        for h in sim.holders
        if sim.accounts[h.account_index].account_id == ACCOUNT
    }


def test_live_hours_are_differences_of_cumulative_reads(
    engine: Engine, meta: MetaClient, sandbox: RunningSandbox
) -> None:
    hours = [START + timedelta(hours=i) for i in range(4)]
    for hour in hours:
        result = run_live_hour(engine, meta, sandbox, hour)
        assert result["requests"] == 1  # one insights read for every budget holder
    for hour in hours:
        rows = snapshots(engine, hour).set_index("entity_id")
        assert len(rows) == 18
        assert set(rows["revenue_source"]) == {"observed"}
        assert rows["spend"].to_dict() == simulated(sandbox, hour, "spend")
        assert rows["impressions"].to_dict() == simulated(sandbox, hour, "impressions")
        assert set(rows["local_hour"]) == {hour.astimezone(NEW_YORK).hour}
    # Revenue observed hour by hour adds up to what Meta reports for the day at the last read.
    last = snapshots(engine, hours[-1]).set_index("entity_id")
    with engine.connect() as conn:
        total = pd.read_sql(
            text(
                "SELECT entity_id, sum(revenue) AS revenue FROM autoscaler.campaign_performance_snapshots GROUP BY 1"
            ),
            conn,
        ).set_index("entity_id")
    assert total["revenue"].to_dict() == last["day_revenue_to_date"].to_dict()
    assert total["revenue"].sum() > 0


def test_rerunning_an_hour_writes_the_same_rows(
    engine: Engine, meta: MetaClient, sandbox: RunningSandbox
) -> None:
    run_live_hour(engine, meta, sandbox, START)
    run_live_hour(engine, meta, sandbox, START + timedelta(hours=1))
    before = snapshots(engine, START + timedelta(hours=1))
    again = snapshot(
        engine, meta, RunHour(ACCOUNT, START + timedelta(hours=1)), START + timedelta(hours=2, minutes=5)
    )
    assert again["changed"] == 0
    pd.testing.assert_frame_equal(snapshots(engine, START + timedelta(hours=1)), before)


def test_backfilled_hours_have_exact_delivery_and_allocated_revenue(
    engine: Engine, meta: MetaClient, sandbox: RunningSandbox
) -> None:
    now = START + timedelta(hours=3)
    set_clock(sandbox, now)
    past = datetime(2026, 11, 1, 18, tzinfo=UTC)  # 13:00 in New York, the day before
    fetch(engine, meta, RunHour(ACCOUNT, past, mode="shadow", backfill=True), now)
    result = snapshot(engine, meta, RunHour(ACCOUNT, past, mode="shadow", backfill=True), now)
    assert result["requests"] == 2  # the day's hourly breakdown and its totals
    rows = snapshots(engine, past).set_index("entity_id")
    assert rows["spend"].to_dict() == simulated(sandbox, past, "spend")
    assert set(rows["revenue_source"]) == {"allocated"}
    assert rows["daily_budget"].isna().all()  # a past hour's budget is not known
    assert rows["day_spend_to_date"].isna().all()


def test_the_repeated_hour_when_clocks_fall_back_is_split(
    engine: Engine, meta: MetaClient, sandbox: RunningSandbox
) -> None:
    now = START + timedelta(hours=3)
    set_clock(sandbox, now)
    first, second = (
        datetime(2026, 11, 1, 5, tzinfo=UTC),
        datetime(2026, 11, 1, 6, tzinfo=UTC),
    )  # 01:00 EDT, 01:00 EST
    for hour in (first, second):
        run = RunHour(ACCOUNT, hour, mode="shadow", backfill=True)
        fetch(engine, meta, run, now)
        snapshot(engine, meta, run, now)
    a, b = simulated(sandbox, first, "spend"), simulated(sandbox, second, "spend")
    expected = {e: (a[e] + b[e]) // 2 for e in a}
    assert snapshots(engine, first).set_index("entity_id")["spend"].to_dict() == expected
    assert snapshots(engine, second).set_index("entity_id")["spend"].to_dict() == expected


def test_decide_records_every_evaluation_and_each_change_once(
    engine: Engine, meta: MetaClient, sandbox: RunningSandbox
) -> None:
    hours = [START + timedelta(hours=i) for i in range(10)]
    for hour in hours:
        run_live_hour(engine, meta, sandbox, hour)
    with engine.begin() as conn:
        create_rule(
            conn,
            ScalingRule.parse(
                {
                    "account_id": ACCOUNT,
                    "min_daily_budget": 1_000,
                    "max_daily_budget": 100_000,
                    "min_impressions": 100,
                    # Act on any ROAS: ten hours of a small account rest on few purchases.
                    "evidence_z": 0,
                    "min_window_hours": 1,  # a few hours of data: act on them (not the guard's test)
                }
            ),
            actor="tests",
        )
    run = RunHour(ACCOUNT, hours[-1])
    now = hours[-1] + timedelta(hours=1, minutes=10)
    counts = decide_account(engine, run, now, approval_deadline=now + timedelta(minutes=45))
    assert counts["evaluated"] == 18
    again = decide_account(engine, run, now, approval_deadline=now + timedelta(minutes=45))
    assert again == counts
    with engine.connect() as conn:
        evaluations = conn.execute(
            text("SELECT cardinality(entity_ids), rule_revision FROM autoscaler.scaling_evaluations")
        ).all()
        recorded = conn.execute(text("SELECT count(*) FROM autoscaler.scaling_actions")).scalar_one()
    assert [tuple(e) for e in evaluations] == [(18, 1)]
    assert recorded == counts["actions"]
    changed = sum(counts.get(k, 0) for k in ("scale_up_aggressive", "scale_up", "scale_down", "pause"))
    assert recorded == changed > 0
    shadow = decide_account(engine, RunHour(ACCOUNT, hours[-1], mode="shadow"), now, approval_deadline=None)
    with engine.connect() as conn:
        simulated_actions = conn.execute(
            text("SELECT count(*) FROM autoscaler.scaling_actions WHERE status = 'simulated'")
        ).scalar_one()
    assert simulated_actions == shadow["actions"] == counts["actions"]


def day_revenue(engine: Engine, local_date: str) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT entity_id, sum(revenue) FROM autoscaler.campaign_performance_snapshots "
                "WHERE account_id = :a AND local_date = :d GROUP BY entity_id"
            ),
            {"a": ACCOUNT, "d": local_date},
        ).all()
    return {entity: int(total) for entity, total in rows}


def meta_day_revenue(meta: MetaClient, local_date: str) -> dict[str, int]:
    from autoscaler.meta.frames import per_holder

    holders = meta.list_budget_holders(ACCOUNT)
    totals = per_holder(meta.insights(ACCOUNT, "USD", time_range=(local_date, local_date)), holders)
    return {str(e): int(r) for e, r in zip(totals["entity_id"], totals["revenue"], strict=True)}


def test_yesterday_is_settled_to_metas_later_totals_as_late_purchases_arrive(
    engine: Engine, meta: MetaClient, sandbox: RunningSandbox
) -> None:
    for i in range(24):  # the whole local day of 2026-11-02 in New York, live
        run_live_hour(engine, meta, sandbox, START + timedelta(hours=i))
    observed = day_revenue(engine, "2026-11-02")
    counts = run_live_hour(engine, meta, sandbox, START + timedelta(hours=24))  # 00:00 next day
    assert counts["settled"] > 0  # purchases reported in the last hour for yesterday's clicks
    run_live_hour(engine, meta, sandbox, START + timedelta(hours=30))  # six hours later
    settled = day_revenue(engine, "2026-11-02")
    assert settled == {e: r for e, r in meta_day_revenue(meta, "2026-11-02").items() if e in settled}
    assert sum(settled.values()) > sum(observed.values())  # late purchases for yesterday's clicks arrived
    with engine.connect() as conn:
        sources = set(
            conn.execute(
                text(
                    "SELECT DISTINCT revenue_source FROM autoscaler.campaign_performance_snapshots "
                    "WHERE local_date = '2026-11-02'"
                )
            ).scalars()
        )
    assert "settled" in sources


def test_an_allocator_rule_decides_on_the_stored_history_and_records_the_curve(
    engine: Engine, meta: MetaClient, sandbox: RunningSandbox
) -> None:
    hours = [START + timedelta(hours=i) for i in range(30)]
    for hour in hours:
        run_live_hour(engine, meta, sandbox, hour)
    with engine.begin() as conn:
        create_rule(
            conn,
            ScalingRule.parse(
                {
                    "account_id": ACCOUNT,
                    "min_daily_budget": 1_000,
                    "max_daily_budget": 10_000_000,
                    "min_impressions": 0,
                    "strategy": "allocator",
                    "max_step": 0.1,
                    "min_window_hours": 24,
                }
            ),
            actor="tests",
        )
    run = RunHour(ACCOUNT, hours[-1])
    now = hours[-1] + timedelta(hours=1, minutes=10)
    with engine.connect() as conn:
        found = decisions(conn, ACCOUNT, run.run_hour, now)
    assert found is not None
    frame = found.frame
    assert (frame["strategy"] == "allocator").all()
    assert frame["elasticity"].notna().all()
    moved = frame[frame["action"].isin(["scale_up", "scale_down"])]
    assert len(moved) > 0, frame["reason"].value_counts()
    assert ((moved["new_daily_budget"] / moved["daily_budget"] - 1).abs() <= 0.1 + 1e-3).all()
    decide_account(engine, run, now, approval_deadline=now + timedelta(minutes=45))
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT reasoning, curve_elasticity, curve_elasticity_sd, marginal_roas, marginal_roas_new, "
                "target_marginal_roas, curve_target_budget FROM autoscaler.scaling_actions "
                "WHERE action_type IN ('scale_up', 'scale_down')"
            )
        ).all()
    assert rows
    for reasoning, e, sd, marginal, marginal_new, goal, target in rows:
        assert reasoning.startswith("marginal ROAS ")
        assert "/day (elasticity " in reasoning
        assert "; step " in reasoning
        assert 0 < e < 1
        assert sd > 0
        assert goal == 1
        assert target > 0
        assert marginal is not None
        assert marginal_new is not None


def test_curves_shows_an_entitys_fitted_curve_with_its_band_and_budgets(
    engine: Engine, meta: MetaClient, sandbox: RunningSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    from autoscaler.cli import main
    from autoscaler.curves import CurveNotFoundError, entity_curve

    hours = [START + timedelta(hours=i) for i in range(12)]
    for hour in hours:
        run_live_hour(engine, meta, sandbox, hour)
    with engine.connect() as conn:
        entity = conn.execute(text("SELECT min(entity_id) FROM autoscaler.budget_holders")).scalar_one()
        data = entity_curve(conn, entity, hours[-1] + timedelta(hours=1))
        with pytest.raises(CurveNotFoundError, match="no such budget holder"):
            entity_curve(conn, "999", hours[-1])
    assert data["entity_id"] == entity
    low, high = data["elasticity_interval"]
    assert low < data["elasticity"] < high
    budgets = [float(p["budget"]) for p in data["points"]]
    assert budgets == sorted(budgets)
    assert float(data["current_budget"]) in budgets
    for point in data["points"]:
        assert float(point["revenue_low"]) <= float(point["revenue"]) <= float(point["revenue_high"])
    marginal = [p["marginal_roas"] for p in data["points"]]
    assert marginal == sorted(marginal, reverse=True)  # diminishing returns
    url = engine.url.render_as_string(hide_password=False)
    assert main(["curves", entity, "--now", (hours[-1] + timedelta(hours=1)).isoformat(), "--url", url]) == 0
    out = capsys.readouterr().out
    assert "elasticity" in out
    assert "marginal ROAS" in out
