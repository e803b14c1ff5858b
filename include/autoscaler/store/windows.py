"""Reads that feed the hourly steps: the previous cumulative read, the trailing window, last changes."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from autoscaler.metrics import TO_DATE
from autoscaler.store.frames import query_frame, to_frame


def previous_cumulative(
    conn: Connection, account_id: str, local_date: date, before: datetime
) -> pd.DataFrame:
    """Each entity's latest live-read cumulative of ``local_date`` before ``before``."""
    columns = ", ".join(TO_DATE.values())
    rows = conn.execute(
        text(
            f"""
            SELECT DISTINCT ON (entity_id) entity_id, {columns}
              FROM autoscaler.campaign_performance_snapshots
             WHERE account_id = :account AND local_date = :day
               AND hour_start < :before AND hour_start >= CAST(:before AS timestamptz) - interval '26 hours'
               AND day_spend_to_date IS NOT NULL
             ORDER BY entity_id, hour_start DESC
            """
        ),
        {"account": account_id, "day": local_date, "before": before},
    )
    return to_frame(rows, ["entity_id", *TO_DATE.values()])


def trailing_window(conn: Connection, account_id: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Per entity, the sums over snapshots with start <= hour_start < end (the decision's window)."""
    rows = conn.execute(
        text(
            """
            SELECT entity_id, sum(spend) AS spend, sum(revenue) AS revenue, sum(impressions) AS impressions,
                   sum(clicks) AS clicks, sum(conversions) AS conversions, count(*) AS hours
              FROM autoscaler.campaign_performance_snapshots
             WHERE account_id = :account AND hour_start >= :start AND hour_start < :end
             GROUP BY entity_id
            """
        ),
        {"account": account_id, "start": start, "end": end},
    )
    frame = to_frame(rows, ["entity_id", "spend", "revenue", "impressions", "clicks", "conversions", "hours"])
    for column in frame.columns[1:]:
        frame[column] = frame[column].astype("int64")
    return frame


def holder_state(conn: Connection, account_id: str) -> pd.DataFrame:
    """Budget holders of the account as last seen, with locks and the last executed change."""
    rows = conn.execute(
        text(
            """
            SELECT h.entity_id, h.level, h.campaign_id, h.daily_budget, h.status, h.learning, h.locked,
                   h.base_daily_budget,
                   -- The cooldown is about performance changes: hourly time-of-day
                   -- adjustments have their own rhythm and must not hold scaling back.
                   (SELECT max(a.executed_at) FROM autoscaler.scaling_actions a
                     WHERE a.entity_id = h.entity_id AND a.status = 'executed'
                       AND a.origin <> 'time_optimization') AS last_budget_change_at
              FROM autoscaler.budget_holders h
             WHERE h.account_id = :account
             ORDER BY h.entity_id
            """
        ),
        {"account": account_id},
    )
    frame = to_frame(
        rows,
        [
            "entity_id",
            "level",
            "campaign_id",
            "daily_budget",
            "status",
            "learning",
            "locked",
            "base_daily_budget",
            "last_budget_change_at",
        ],
    )
    frame["base_daily_budget"] = frame["base_daily_budget"].astype("Int64")
    frame["last_budget_change_at"] = pd.to_datetime(frame["last_budget_change_at"], utc=True)
    return frame


def window_bounds(run_hour: datetime, lookback_hours: int) -> tuple[datetime, datetime]:
    """The trailing window of the run for ``run_hour``: the lookback hours ending with it."""
    end = run_hour + timedelta(hours=1)
    return end - timedelta(hours=lookback_hours), end


def hourly_history(conn: Connection, account_id: str, end: datetime, hours: int) -> pd.DataFrame:
    """Every holder's hourly rows of the ``hours`` before ``end``, as allocator.fit reads them:
    entity_id (categorical over the account's holders), age_hours (0: the hour ending at
    ``end``), spend, revenue, conversions and the daily budget the hour was read with (NaN for
    backfilled hours), in no promised order (allocator.fit does not need one)."""
    # An account of 1,000 holders has 336,000 rows here.  Column arrays in binary, loaded
    # straight into numpy (query_frame), unsorted (sorting cost ~1 s more in PostgreSQL), and
    # the entity as a number into the account's holder ids rather than as text: 336,000
    # strings cost ~0.07 s to aggregate and as much again to load, for 1,000 distinct values.
    ids: list[str] = list(
        conn.execute(
            text(
                "SELECT entity_id FROM autoscaler.budget_holders WHERE account_id = :account ORDER BY entity_id"
            ),
            {"account": account_id},
        ).scalars()
    )
    frame = query_frame(
        conn,
        """
        SELECT (k.code - 1)::int AS code,
               (extract(epoch FROM (CAST(:end AS timestamptz) - s.hour_start)) / 3600)::int - 1 AS age_hours,
               s.spend, s.revenue, s.conversions, coalesce(s.daily_budget, 0) AS daily_budget
          FROM autoscaler.campaign_performance_snapshots s
          JOIN unnest(CAST(:ids AS text[])) WITH ORDINALITY AS k(entity_id, code) USING (entity_id)
         WHERE s.account_id = :account
           AND s.hour_start >= CAST(:end AS timestamptz) - make_interval(hours => :hours)
           AND s.hour_start < :end
        """,
        {"account": account_id, "end": end, "hours": hours, "ids": ids},
        ["code", "age_hours", "spend", "revenue", "conversions", "daily_budget"],
    )
    out = pd.DataFrame(
        {
            "entity_id": pd.Categorical.from_codes(
                frame["code"].to_numpy(dtype=np.int64), categories=pd.Index(ids, dtype=str)
            ),
        }
    )
    for column in ("age_hours", "spend", "revenue", "conversions"):
        out[column] = frame[column].to_numpy(dtype=np.int64)
    budget = frame["daily_budget"].to_numpy(dtype=np.float64)
    out["daily_budget"] = np.where(budget > 0, budget, np.nan)  # 0: not read (a backfilled hour)
    return out
