"""The page's two heaviest reads on a big account: the overview and the entity table for one
account of 2,000 budget holders with 30 days of hourly history (1,440,000 snapshots, 60,000
actions, half of them with the allocator's curve columns).

Each read runs the API's own route function (SQL, aggregation, the pydantic response and its
JSON), without the HTTP hop.  Target (page issue): 1 s or less on this machine for the
default window (the last 7 days) and for the whole 30 days; reported beside, in the same run,
the floor of merely counting the snapshot rows of the same window (`SELECT count(*)`), as a
ratio, so a slower machine shows as such.  The absolute time is an indication of this machine.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from bench.common import bench_database, machine, median, target_lines

HOLDERS = 2_000
DAYS = 30
ACCOUNT = "act_9000"
FIRST_HOUR = datetime(2026, 10, 3, tzinfo=UTC)
REPEAT = 5


def fill(engine: Engine) -> dict[str, int]:
    """The account, its holders (200 campaigns of 10 ad sets), 30 days of hours, and actions."""
    from autoscaler.rules import ScalingRule
    from autoscaler.store.accounts import AdAccount, upsert_account
    from autoscaler.store.rules import create_rule

    last = FIRST_HOUR + timedelta(days=DAYS)
    with engine.begin() as conn:
        upsert_account(conn, AdAccount(ACCOUNT, "USD", "UTC", "Bench account"))
        conn.execute(
            text(
                """
                INSERT INTO autoscaler.budget_holders
                       (entity_id, account_id, level, campaign_id, name, daily_budget, status, effective_status)
                SELECT (900000000 + i)::text, :a, 'adset', (800000000 + i / 10)::text,
                       'Ad set ' || i, 2000 + (i * 7919) % 200000, 'ACTIVE', 'ACTIVE'
                  FROM generate_series(0, :n - 1) AS i
                """
            ),
            {"a": ACCOUNT, "n": HOLDERS},
        )
        month = FIRST_HOUR.date().replace(day=1)
        while month <= last.date():
            conn.execute(text("SELECT autoscaler.ensure_snapshot_partition(:m)"), {"m": month})
            month = (month + timedelta(days=32)).replace(day=1)
        conn.execute(
            text(
                """
                INSERT INTO autoscaler.campaign_performance_snapshots
                       (entity_id, hour_start, account_id, local_date, local_hour, local_weekday, spend,
                        impressions, clicks, conversions, revenue, revenue_source, daily_budget, status,
                        effective_status, observed_at)
                SELECT (900000000 + i)::text, h, :a, (h AT TIME ZONE 'UTC')::date,
                       extract(hour FROM h AT TIME ZONE 'UTC')::smallint,
                       (extract(isodow FROM h AT TIME ZONE 'UTC') - 1)::smallint,
                       s, 40 * s / 100 + 1, s / 300, s / 5000, (s / 5000) * 6000, 'observed',
                       2000 + (i * 7919) % 200000, 'ACTIVE', 'ACTIVE', h + interval '65 minutes'
                  FROM generate_series(0, :n - 1) AS i,
                       generate_series(CAST(:first AS timestamptz), CAST(:last AS timestamptz) - interval '1 hour',
                                       interval '1 hour') AS h,
                       LATERAL (SELECT ((2000 + (i * 7919) % 200000) / 24
                                        * (0.5 + ((i * 31 + extract(epoch FROM h)::bigint / 3600) % 100) / 100.0))::bigint AS s) AS x
                """
            ),
            {"a": ACCOUNT, "n": HOLDERS, "first": FIRST_HOUR, "last": last},
        )
        rule = create_rule(
            conn,
            ScalingRule.parse(
                {"account_id": ACCOUNT, "min_daily_budget": 1_000, "max_daily_budget": 10_000_000}
            ),
            actor="bench",
        )
        # One decision per holder a day: live and pending, or shadow (simulated) with the curve.
        conn.execute(
            text(
                """
                INSERT INTO autoscaler.scaling_actions
                       (account_id, entity_id, entity_level, run_hour, rule_id, rule_revision, origin, action_type,
                        mode, currency, budget_before, budget_after, reasoning, requires_approval, status,
                        approval_deadline, marginal_roas, target_marginal_roas, curve_target_budget)
                SELECT :a, (900000000 + i)::text, 'adset', :first + (d * 24 + i % 24) * interval '1 hour', :rule, 1,
                       'rule', 'scale_up', CASE WHEN d % 2 = 0 THEN 'live' ELSE 'shadow' END, 'USD',
                       2000 + (i * 7919) % 200000, (2000 + (i * 7919) % 200000) * 115 / 100,
                       'marginal ROAS 1.4x: step +15%', d % 2 = 0,
                       CASE WHEN d % 2 = 0 THEN 'pending_approval' ELSE 'simulated' END,
                       CASE WHEN d % 2 = 0 THEN :last + interval '1 day' END,
                       CASE WHEN d % 2 = 1 THEN 1.4 END, CASE WHEN d % 2 = 1 THEN 1.0 END,
                       CASE WHEN d % 2 = 1 THEN (2000 + (i * 7919) % 200000) * 13 / 10 END
                  FROM generate_series(0, :n - 1) AS i, generate_series(0, :days - 1) AS d
                """
            ),
            {
                "a": ACCOUNT,
                "n": HOLDERS,
                "days": DAYS,
                "first": FIRST_HOUR,
                "last": last,
                "rule": rule.rule_id,
            },
        )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        snapshots = conn.execute(
            text("SELECT count(*) FROM autoscaler.campaign_performance_snapshots")
        ).scalar()
        actions = conn.execute(text("SELECT count(*) FROM autoscaler.scaling_actions")).scalar()
    return {"holders": HOLDERS, "snapshots": int(snapshots or 0), "actions": int(actions or 0)}


def _request(engine: Engine) -> Any:
    from fastapi import Request

    from autoscaler.api.app import Services, create_app

    app = create_app(Services(engine))
    return Request({"type": "http", "app": app, "headers": [], "query_string": b""})


def run() -> dict[str, Any]:
    from autoscaler.api.app import entity_table, overview

    with bench_database() as engine:
        started = time.perf_counter()
        sizes = fill(engine)
        fill_s = time.perf_counter() - started
        request = _request(engine)
        last_day = (FIRST_HOUR + timedelta(days=DAYS - 1)).date()
        windows: dict[str, tuple[date | None, date | None]] = {
            "7 days (default)": (None, None),
            f"{DAYS} days": (FIRST_HOUR.date(), last_day),
        }
        figures: dict[str, dict[str, float]] = {}
        for label, (start, end) in windows.items():
            first = start or last_day - timedelta(days=6)
            bounds = {
                "s": datetime.combine(first, datetime.min.time(), UTC),
                "e": datetime.combine(last_day + timedelta(days=1), datetime.min.time(), UTC),
            }
            floor_s, overview_s, table_s = [], [], []
            for _ in range(REPEAT):  # interleaved: drift on a shared machine hits all three alike
                t0 = time.perf_counter()
                with engine.connect() as conn:
                    conn.execute(
                        text(
                            "SELECT count(*) FROM autoscaler.campaign_performance_snapshots "
                            "WHERE account_id = :a AND hour_start >= :s AND hour_start < :e"
                        ),
                        {"a": ACCOUNT, **bounds},
                    ).scalar()
                floor_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                overview(request, None, account_id=ACCOUNT, start_date=start, end_date=end).model_dump_json()
                overview_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                table = entity_table(
                    request,
                    None,
                    account_id=ACCOUNT,
                    start_date=start,
                    end_date=end,
                    q=None,
                    status_=None,
                    sort="spend",
                    order="desc",
                    page=1,
                    page_size=50,
                )
                table.model_dump_json()
                table_s.append(time.perf_counter() - t0)
            # It measured the real thing: every holder counted, a full page shaped.
            assert table.total == HOLDERS
            assert len(table.items) == 50
            floor = median(floor_s)
            figures[label] = {
                "count_floor_s": round(floor, 4),
                "overview_s": round(median(overview_s), 4),
                "entity_table_s": round(median(table_s), 4),
                "overview_ratio": round(median(overview_s) / floor, 1),
                "entity_table_ratio": round(median(table_s) / floor, 1),
            }
    return {
        "machine": machine(),
        "data": sizes,
        "fill_s": round(fill_s, 1),
        "repeat": REPEAT,
        "windows": figures,
        "targets": {
            f"{what} within 1 s ({label})": f[f"{what}_s"] <= 1.0
            for label, f in figures.items()
            for what in ("overview", "entity_table")
        },
    }


def report(result: dict[str, Any]) -> str:
    d = result["data"]
    lines = [
        f"page API: one account, {d['holders']:,} holders x {DAYS} days ({d['snapshots']:,} snapshots, "
        f"{d['actions']:,} actions; filled in {result['fill_s']} s), median of {result['repeat']}",
    ]
    for label, f in result["windows"].items():
        lines.append(
            f"  {label}: overview {f['overview_s']:.3f} s ({f['overview_ratio']}x the count floor), "
            f"entity table {f['entity_table_s']:.3f} s ({f['entity_table_ratio']}x); "
            f"floor: count(*) of the window's snapshots {f['count_floor_s']:.3f} s"
        )
    return "\n".join([*lines, *target_lines(result)])


if __name__ == "__main__":
    from bench.common import main

    main("page_api", run, report)
