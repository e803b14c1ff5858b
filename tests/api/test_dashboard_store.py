"""The page's reads (autoscaler.store.dashboard) on a small hand-made audit store.

Each case plants exactly the rows its rule is about: a backfilled hour, an allocator
decision, a shadow backfill beside a live action.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, text

from autoscaler.meta.frames import budget_holders
from autoscaler.store import dashboard
from autoscaler.store.actions import finish
from autoscaler.store.holders import upsert_budget_holders
from autoscaler.store.snapshots import upsert_snapshots
from tests import factories as f

pytestmark = pytest.mark.integration

H0 = datetime(2026, 11, 2, 14, tzinfo=UTC)


def _evaluation(
    conn: Connection, rule_id: int, run_hour: datetime, budgets: dict[str, int], mode: str
) -> None:
    """The compact evaluation row an hourly run records (one per account, hour, rule and mode)."""
    ids = list(budgets)
    n = len(ids)
    conn.execute(
        text(
            """
            INSERT INTO autoscaler.scaling_evaluations
                   (run_hour, account_id, rule_id, rule_revision, mode, window_start, window_end, entity_ids,
                    decisions, reasons, spend, revenue, impressions, clicks, conversions, daily_budget,
                    new_daily_budget)
            VALUES (:h, 'act_1001', :r, 1, :mode, :ws, :h, :ids, :dec, :why, :z, :z, :z, :z, :z, :b, :b)
            """
        ),
        {
            "h": run_hour,
            "r": rule_id,
            "mode": mode,
            "ws": run_hour - timedelta(hours=24),
            "ids": ids,
            "dec": ["no_change"] * n,
            "why": ["roas_in_band"] * n,
            "z": [0] * n,
            "b": list(budgets.values()),
        },
    )


def test_a_backfilled_hour_shows_the_budget_its_run_decided_with(engine: Engine) -> None:
    with engine.begin() as conn:
        rule = f.world(conn)
    frame = f.snapshot_frame(entities=1, hours=3, start="2026-11-02 14:00")
    frame["daily_budget"] = [None, None, 25_000]  # two backfilled hours, then a live read
    frame["daily_budget"] = frame["daily_budget"].astype("Int64")
    upsert_snapshots(engine, frame)
    with engine.begin() as conn:
        _evaluation(conn, rule.rule_id or 0, H0, {f.CAMPAIGN: 20_000, f.ADSET: 9_000}, "shadow")
        holder = dashboard.entity_holder(conn, f.CAMPAIGN)
        assert holder is not None
        history = dashboard.entity_history(conn, holder, H0, H0 + timedelta(hours=3))
    got = [(h["daily_budget"], h["budget_source"]) for h in history.hours]
    # Hour 1 from its (shadow) evaluation; hour 2 was neither read nor evaluated; hour 3 read live.
    assert got == [(20_000, "evaluation"), (None, None), (25_000, "snapshot")]


def test_the_entity_table_sorts_filters_and_shows_the_allocators_latest_curve(engine: Engine) -> None:
    with engine.begin() as conn:
        rule = f.world(conn)
        f.budget_holder(conn, "3002", "adset", name="Retargeting")
        older = f.action_row(
            rule.rule_id or 0,
            status="simulated",
            mode="shadow",
            requires_approval=False,
            marginal_roas=2.5,
            target_marginal_roas=1.0,
            curve_target_budget=40_000,
        )
        f.insert_action(conn, older)
        newer = f.action_row(
            rule.rule_id or 0,
            run_hour="2026-11-02 16:00:00+00",
            status="simulated",
            mode="shadow",
            requires_approval=False,
            marginal_roas=1.4,
            target_marginal_roas=1.0,
            curve_target_budget=26_000,
        )
        newest_id = f.insert_action(conn, newer)
    frame = f.snapshot_frame(entities=3, hours=2, start="2026-11-02 14:00")
    frame["entity_id"] = frame["entity_id"].map({"2001": f.CAMPAIGN, "2002": f.ADSET, "2003": "3002"})
    frame.loc[frame["entity_id"] == "3002", "spend"] = 50_000
    upsert_snapshots(engine, frame)
    start, end = H0, H0 + timedelta(hours=2)
    with engine.connect() as conn:
        by_spend = dashboard.entity_table(conn, "act_1001", start, end, sort="spend", descending=True)
        by_name = dashboard.entity_table(conn, "act_1001", start, end, sort="name", descending=False)
        found = dashboard.entity_table(conn, "act_1001", start, end, q="retarget")
        paged = dashboard.entity_table(conn, "act_1001", start, end, limit=2, offset=2)
    assert by_spend.total == 3
    assert by_spend.rows[0]["entity_id"] == "3002"
    assert [r["spend"] for r in by_spend.rows] == sorted((r["spend"] for r in by_spend.rows), reverse=True)
    # Ad sets sort under their campaign's name: "campaign 2001 adset 3001" before "campaign 2001 Retargeting".
    assert [r["entity_id"] for r in by_name.rows] == [f.CAMPAIGN, f.ADSET, "3002"]
    assert [r["entity_id"] for r in found.rows] == ["3002"]
    assert found.rows[0]["campaign_name"] == f"campaign {f.CAMPAIGN}"
    assert paged.total == 3
    assert len(paged.rows) == 1
    campaign = next(r for r in by_spend.rows if r["entity_id"] == f.CAMPAIGN)
    assert float(campaign["marginal_roas"]) == 1.4  # the latest recorded curve, not the first
    assert campaign["curve_target_budget"] == 26_000
    assert campaign["last_action_id"] == newest_id
    # A sparkline point per UTC day, for the rows of the page only.
    assert [len(by_spend.sparks[r["entity_id"]]) for r in by_spend.rows] == [1, 1, 1]


def test_the_overview_splits_live_from_backfill_and_counts_each_day_on_the_hour_decided_for(
    engine: Engine,
) -> None:
    with engine.begin() as conn:
        rule = f.world(conn)
        rid = rule.rule_id or 0
        executed = f.action_row(
            rid, status="approved", requires_approval=False, decided_by="autoscaler", decided_at=H0
        )
        finish(conn, f.insert_action(conn, executed), "executed", detail="written to Meta")
        f.insert_action(
            conn,
            f.action_row(
                rid,
                run_hour="2026-11-01 10:00:00+00",
                mode="shadow",
                status="simulated",
                requires_approval=False,
            ),
        )
        conn.execute(
            text(
                "INSERT INTO autoscaler.scaling_runs (airflow_run_id, dag_id, account_id, run_hour, run_type, "
                "mode, shadow_reason) VALUES ('backfill__1', 'autoscaler_hourly', 'act_1001', "
                "'2026-11-01 10:00:00+00', 'backfill', 'shadow', 'backfill')"
            )
        )
        found = dashboard.overview(
            conn, "act_1001", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)
        )
    kinds = {(r["kind"], r["action_type"]): int(r["actions"]) for r in found.actions}
    assert kinds == {("live", "scale_up_aggressive"): 1, ("backfill", "scale_up_aggressive"): 1}
    live = next(r for r in found.actions if r["kind"] == "live")
    assert live["increase"] == 10_000  # executed $200 -> $300
    backfill = next(r for r in found.actions if r["kind"] == "backfill")
    assert backfill["increase"] == 10_000  # what it would have done, never written
    # The backfilled action sits on Nov 1 (its run hour), though it was recorded today.
    days = {str(d["day"]): (dict(d["live"]), int(d["shadow"])) for d in found.days}
    assert days["2026-11-01"] == ({}, 1)
    assert days["2026-11-02"] == ({"scale_up_aggressive": 1}, 0)


def test_an_ad_set_budget_is_named_under_its_campaign_though_the_campaign_holds_no_budget(
    engine: Engine,
) -> None:
    # An ABO campaign is never a budget holder: its name comes from the fetch beside the ad set.
    adsets = [
        {
            "id": "3009",
            "name": "Prospecting US",
            "campaign_id": "2009",
            "daily_budget": "5000",
            "status": "ACTIVE",
            "effective_status": "ACTIVE",
            "campaign": {"id": "2009", "name": "Winter sale"},
        }
    ]
    with engine.begin() as conn:
        f.world(conn)
        upsert_budget_holders(conn, f.ACCOUNT, budget_holders(adsets), H0)
    with engine.connect() as conn:
        found = dashboard.entity_table(conn, f.ACCOUNT, H0, H0 + timedelta(hours=2), q="winter")
        holder = dashboard.entity_holder(conn, "3009")
    assert [(r["entity_id"], r["campaign_name"], r["name"]) for r in found.rows] == [
        ("3009", "Winter sale", "Prospecting US")
    ]
    assert holder is not None
    assert holder["campaign_name"] == "Winter sale"
    # A later fetch that sees the campaign renamed renames it here too.
    adsets[0]["campaign"] = {"id": "2009", "name": "Winter sale EU"}
    with engine.begin() as conn:
        upsert_budget_holders(conn, f.ACCOUNT, budget_holders(adsets), H0 + timedelta(hours=1))
        renamed = dashboard.entity_holder(conn, "3009")
    assert renamed is not None
    assert renamed["campaign_name"] == "Winter sale EU"
