"""Reads that feed the hourly steps: the previous cumulative read, the trailing window, last changes."""

from __future__ import annotations

from datetime import date, datetime, timedelta

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
    entity_id, age_hours (0: the hour ending at ``end``), spend, revenue, conversions and the
    daily budget the hour was read with (NULL for backfilled hours), in no promised order
    (allocator.fit does not need one)."""
    # Column arrays in binary (query_frame), unsorted: an account of 1,000 holders has 336,000
    # rows here, which as rows cost ~1.3 s in Python alone, and sorted ~1 s more in PostgreSQL.
    frame = query_frame(
        conn,
        """
        SELECT entity_id,
               (extract(epoch FROM (CAST(:end AS timestamptz) - hour_start)) / 3600)::int - 1 AS age_hours,
               spend, revenue, conversions, daily_budget
          FROM autoscaler.campaign_performance_snapshots
         WHERE account_id = :account
           AND hour_start >= CAST(:end AS timestamptz) - make_interval(hours => :hours)
           AND hour_start < :end
        """,
        {"account": account_id, "end": end, "hours": hours},
        ["entity_id", "age_hours", "spend", "revenue", "conversions", "daily_budget"],
    )
    for column in ("age_hours", "spend", "revenue", "conversions"):
        frame[column] = frame[column].astype("int64")
    frame["daily_budget"] = pd.to_numeric(frame["daily_budget"]).astype("float64")
    return frame
