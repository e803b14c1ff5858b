"""``optimal_hour_profiles``: the sums the database does, and each account's profiles replaced whole."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from autoscaler.profiles import MAX_DELAY_HOURS, METHOD, SUM_COLUMNS, Profile


def window(now: datetime, timezone: str, days: int) -> tuple[datetime, datetime]:
    """The last ``days`` complete local days before ``now``, as UTC bounds [start, end)."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    end = datetime.combine(today, datetime.min.time(), tzinfo=zone)
    start = datetime.combine(today - timedelta(days=days), datetime.min.time(), tzinfo=zone)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def _lagged(lags: int) -> str:
    """The account's snapshot rows with the spend of the ``lags - 1`` hours before each, in SQL.

    Rows start ``lags`` hours before the window so the first hours have their history; lag()
    counts rows, and a missing hour is missing spend, which is what it was.
    """
    columns = ", ".join(f"lag(spend, {d}, 0::bigint) OVER w AS l{d}" for d in range(1, lags))
    return f"""
        SELECT entity_id, hour_start, local_hour, spend, revenue, conversions, spend AS l0, {columns}
          FROM autoscaler.campaign_performance_snapshots
         WHERE account_id = :account AND hour_start >= CAST(:start AS timestamptz) - make_interval(hours => {lags})
           AND hour_start < :end
        WINDOW w AS (PARTITION BY entity_id ORDER BY hour_start)
    """


def lag_moments(
    conn: Connection, account_id: str, start: datetime, end: datetime, lags: int = MAX_DELAY_HOURS
) -> tuple[np.ndarray, np.ndarray]:
    """Normal equations of revenue (in units of each entity's ROAS) on lagged spend, summed by PostgreSQL."""
    pairs = [(a, b) for a in range(lags) for b in range(a, lags)]
    gram = ", ".join(f"sum(l{a}::float8 * l{b}) AS g_{a}_{b}" for a, b in pairs)
    target = ", ".join(f"sum(y * l{a}) AS t_{a}" for a in range(lags))
    # One pass with window aggregates, not a join to per-entity sums: with stale statistics
    # (right after a bulk load) the planner re-aggregated the join side once per row.
    query = f"""
        WITH lagged AS ({_lagged(lags)}),
             rows AS (SELECT *, sum(revenue) OVER e::float8 / nullif(sum(spend) OVER e, 0) AS roas
                        FROM lagged WHERE hour_start >= :start
                      WINDOW e AS (PARTITION BY entity_id))
        SELECT {gram}, {target}
          FROM (SELECT *, revenue / roas AS y FROM rows WHERE roas > 0) AS usable
    """
    params = {"account": account_id, "start": start, "end": end}
    row = conn.execute(text(query), params).mappings().one()
    xtx = np.zeros((lags, lags))
    for a, b in pairs:
        xtx[a, b] = xtx[b, a] = float(row[f"g_{a}_{b}"] or 0.0)
    xty = np.asarray([float(row[f"t_{a}"] or 0.0) for a in range(lags)])
    return xtx, xty


def hour_sums(
    conn: Connection, account_id: str, start: datetime, end: datetime, kernel: np.ndarray
) -> pd.DataFrame:
    """Per entity and local hour: the sums profiles.learn needs (SUM_COLUMNS), computed by PostgreSQL.

    ``effective`` is each hour's spend weighted by the delay kernel over the hours before it.
    Grouping by the stored local hour (not by the UTC hour) keeps a daylight-saving change
    from shifting anything: 18:00 local is 18:00 on either side of it.
    """
    effective = " + ".join(f"{float(w)!r} * l{d}" for d, w in enumerate(kernel))
    rows = conn.execute(
        text(
            f"""
            WITH lagged AS ({_lagged(len(kernel))}),
                 rows AS (SELECT entity_id, local_hour, spend, revenue, conversions, ({effective}) AS effective
                            FROM lagged WHERE hour_start >= :start)
            SELECT entity_id, local_hour,
                   count(*) FILTER (WHERE spend > 0)            AS n,
                   sum(spend)                                   AS spend,
                   sum(effective)                               AS effective,
                   sum(revenue)                                 AS revenue,
                   sum(conversions)                             AS conversions,
                   sum(revenue::float8 * revenue)               AS rr,
                   sum(revenue::float8 * effective)             AS re,
                   sum(effective * effective)                   AS ee
              FROM rows
             GROUP BY entity_id, local_hour
            """
        ),
        {"account": account_id, "start": start, "end": end},
    )
    frame = pd.DataFrame(rows.all(), columns=["entity_id", "local_hour", *SUM_COLUMNS])
    for column in ("local_hour", "n", "spend", "revenue", "conversions"):
        frame[column] = frame[column].astype("int64")
    for column in ("effective", "rr", "re", "ee"):
        frame[column] = frame[column].astype("float64")
    return frame


def days_observed(conn: Connection, account_id: str, start: datetime, end: datetime) -> pd.DataFrame:
    rows = conn.execute(
        text(
            """
            SELECT entity_id, count(DISTINCT local_date) FILTER (WHERE spend > 0) AS days_observed
              FROM autoscaler.campaign_performance_snapshots
             WHERE account_id = :account AND hour_start >= :start AND hour_start < :end
             GROUP BY entity_id
            """
        ),
        {"account": account_id, "start": start, "end": end},
    )
    return pd.DataFrame(rows.all(), columns=["entity_id", "days_observed"])


def replace_profiles(
    conn: Connection, account_id: str, profiles: list[Profile], start: datetime, end: datetime
) -> int:
    """Upsert the account's profiles (the caller's transaction makes the account's set atomic)."""
    if not profiles:
        return 0
    params: list[dict[str, Any]] = [
        {
            "entity_id": p.entity_id,
            "account_id": account_id,
            "window_start": start,
            "window_end": end,
            "days_observed": p.days_observed,
            "total_spend": p.total_spend,
            "total_revenue": p.total_revenue,
            "total_conversions": p.total_conversions,
            "hour_spend": p.hour_spend,
            "hour_revenue": p.hour_revenue,
            "hour_conversions": p.hour_conversions,
            "hour_roas": p.hour_roas,
            "hour_index": p.hour_index,
            "hour_multiplier": p.hour_multiplier,
            "peak_hours": p.peak_hours,
            "valley_hours": p.valley_hours,
            "confidence": p.confidence,
            "method": METHOD,
        }
        for p in profiles
    ]
    conn.execute(
        text(
            """
            INSERT INTO autoscaler.optimal_hour_profiles AS o
                   (entity_id, account_id, window_start, window_end, computed_at, days_observed,
                    total_spend, total_revenue, total_conversions, hour_spend, hour_revenue,
                    hour_conversions, hour_roas, hour_index, hour_multiplier, peak_hours, valley_hours,
                    confidence, method)
            VALUES (:entity_id, :account_id, :window_start, :window_end, now(), :days_observed,
                    :total_spend, :total_revenue, :total_conversions, :hour_spend, :hour_revenue,
                    :hour_conversions, :hour_roas, :hour_index, :hour_multiplier,
                    CAST(:peak_hours AS smallint[]), CAST(:valley_hours AS smallint[]), :confidence, :method)
            ON CONFLICT (entity_id) DO UPDATE SET
                   account_id = EXCLUDED.account_id, window_start = EXCLUDED.window_start,
                   window_end = EXCLUDED.window_end, computed_at = EXCLUDED.computed_at,
                   days_observed = EXCLUDED.days_observed, total_spend = EXCLUDED.total_spend,
                   total_revenue = EXCLUDED.total_revenue, total_conversions = EXCLUDED.total_conversions,
                   hour_spend = EXCLUDED.hour_spend, hour_revenue = EXCLUDED.hour_revenue,
                   hour_conversions = EXCLUDED.hour_conversions, hour_roas = EXCLUDED.hour_roas,
                   hour_index = EXCLUDED.hour_index, hour_multiplier = EXCLUDED.hour_multiplier,
                   peak_hours = EXCLUDED.peak_hours, valley_hours = EXCLUDED.valley_hours,
                   confidence = EXCLUDED.confidence, method = EXCLUDED.method
            """
        ),
        params,
    )
    return len(params)


def get_profile(conn: Connection, entity_id: str) -> tuple[Profile, dict[str, Any]] | None:
    """An entity's stored profile, and its window, computed_at and account."""
    row = (
        conn.execute(
            text("SELECT * FROM autoscaler.optimal_hour_profiles WHERE entity_id = :e"), {"e": entity_id}
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        return None
    profile = Profile(**{name: _plain(row[name]) for name in Profile.__dataclass_fields__})
    meta = {k: row[k] for k in ("account_id", "window_start", "window_end", "computed_at", "method")}
    return profile, meta


def _plain(value: Any) -> Any:
    return [v for v in value] if isinstance(value, list) else value
