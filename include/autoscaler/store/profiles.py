"""``optimal_hour_profiles``: the sums the database does, and each account's profiles replaced whole."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from autoscaler.profiles import HOURS, MAX_DELAY_HOURS, METHOD, SUM_COLUMNS, Profile
from autoscaler.store.frames import to_frame


def window(now: datetime, timezone: str, days: int) -> tuple[datetime, datetime]:
    """The last ``days`` complete local days before ``now``, as UTC bounds [start, end)."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    end = datetime.combine(today, datetime.min.time(), tzinfo=zone)
    start = datetime.combine(today - timedelta(days=days), datetime.min.time(), tzinfo=zone)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def _lagged(lags: int, sample: str) -> str:
    """A sample of the account's rows with the spend of the ``lags - 1`` hours before each, in SQL.

    Rows start ``lags`` hours before the window so the first hours have their history; lag()
    counts rows, and a missing hour is missing spend, which is what it was.
    """
    columns = ", ".join(f"lag(spend, {d}, 0::bigint) OVER w AS l{d}" for d in range(1, lags))
    return f"""
        SELECT entity_id, hour_start, spend, revenue, spend AS l0, {columns}
          FROM autoscaler.campaign_performance_snapshots
         WHERE account_id = :account AND hour_start >= CAST(:start AS timestamptz) - make_interval(hours => {lags})
           AND hour_start < :end AND {sample}
        WINDOW w AS (PARTITION BY entity_id ORDER BY hour_start)
    """


# The delay kernel is one set of 12 weights per account: a deterministic sample of about
# this many entities over the window's last days estimates it as well as all of the rows
# (the benchmark checks the peaks agree), at a fraction of the row work.
KERNEL_SAMPLE_ENTITIES = 200
KERNEL_DAYS = 7


def lag_moments(
    conn: Connection, account_id: str, start: datetime, end: datetime, lags: int = MAX_DELAY_HOURS
) -> tuple[np.ndarray, np.ndarray]:
    """Normal equations of revenue (in units of each entity's ROAS) on lagged spend, summed by PostgreSQL."""
    entities = conn.execute(
        text("SELECT count(*) FROM autoscaler.budget_holders WHERE account_id = :a"), {"a": account_id}
    ).scalar_one()
    buckets = max(1, int(entities) // KERNEL_SAMPLE_ENTITIES)
    sample = f"abs(hashtext(entity_id)) % {buckets} = 0"
    pairs = [(a, b) for a in range(lags) for b in range(a, lags)]
    gram = ", ".join(f"sum(l{a}::float8 * l{b}) AS g_{a}_{b}" for a, b in pairs)
    target = ", ".join(f"sum(y * l{a}) AS t_{a}" for a in range(lags))
    # One pass with window aggregates, not a join to per-entity sums: with stale statistics
    # (right after a bulk load) the planner re-aggregated the join side once per row.
    query = f"""
        WITH lagged AS ({_lagged(lags, sample)}),
             rows AS (SELECT *, sum(revenue) OVER e::float8 / nullif(sum(spend) OVER e, 0) AS roas
                        FROM lagged WHERE hour_start >= :start
                      WINDOW e AS (PARTITION BY entity_id))
        SELECT {gram}, {target}
          FROM (SELECT *, revenue / roas AS y FROM rows WHERE roas > 0) AS usable
    """
    params = {"account": account_id, "start": max(start, end - timedelta(days=KERNEL_DAYS)), "end": end}
    row = conn.execute(text(query), params).mappings().one()
    xtx = np.zeros((lags, lags))
    for a, b in pairs:
        xtx[a, b] = xtx[b, a] = float(row[f"g_{a}_{b}"] or 0.0)
    xty = np.asarray([float(row[f"t_{a}"] or 0.0) for a in range(lags)])
    return xtx, xty


def hour_sums(
    conn: Connection, account_id: str, start: datetime, end: datetime, timezone: str = "UTC"
) -> pd.DataFrame:
    """Per entity and local hour: the sums profiles.learn needs (SUM_COLUMNS), computed by PostgreSQL.

    Grouping by the stored local hour (not by the UTC hour) keeps a daylight-saving change
    from shifting anything: 18:00 local is 18:00 on either side of it.  The local days with
    spend travel as two bit masks (days 0-61 and 62-123 of the window), so counting days
    observed needs no second pass over the rows; a window of up to 62 days (the default is
    28) needs only the first, and each aggregate costs a per-row step over every row.
    """
    first_day = start.astimezone(ZoneInfo(timezone)).date()
    if (end.astimezone(ZoneInfo(timezone)).date() - first_day).days > 62:
        lo_rows = "spend > 0 AND local_date - :first_day < 62"
        days_hi = """coalesce(bit_or(1::bigint << (local_date - :first_day - 62))
                            FILTER (WHERE spend > 0 AND local_date - :first_day >= 62), 0)"""
    else:
        lo_rows, days_hi = "spend > 0", "0::bigint"
    rows = conn.execute(
        text(
            f"""
            SELECT entity_id, local_hour,
                   count(*) FILTER (WHERE spend > 0)            AS n,
                   -- bigint, not numeric: 24,000 Decimals a account cost more than the sums
                   sum(spend)::bigint                           AS spend,
                   sum(revenue)::bigint                         AS revenue,
                   sum(conversions)::bigint                     AS conversions,
                   sum(revenue::float8 * revenue)               AS rr,
                   sum(revenue::float8 * spend)                 AS rs,
                   sum(spend::float8 * spend)                   AS ss,
                   coalesce(bit_or(1::bigint << (local_date - :first_day)) FILTER (WHERE {lo_rows}), 0)
                                                                AS days_lo,
                   {days_hi} AS days_hi
              FROM autoscaler.campaign_performance_snapshots
             WHERE account_id = :account AND hour_start >= :start AND hour_start < :end
             GROUP BY entity_id, local_hour
            """
        ),
        {
            "account": account_id,
            "start": start,
            "end": end,
            "first_day": first_day,
        },
    )
    frame = to_frame(rows, ["entity_id", "local_hour", *SUM_COLUMNS, "days_lo", "days_hi"])
    for column in ("local_hour", "n", "spend", "revenue", "conversions", "days_lo", "days_hi"):
        frame[column] = frame[column].astype("int64")
    for column in ("rr", "rs", "ss"):
        frame[column] = frame[column].astype("float64")
    return frame


def replace_profiles(
    conn: Connection, account_id: str, profiles: list[Profile], start: datetime, end: datetime
) -> int:
    """Upsert the account's profiles (the caller's transaction makes the account's set atomic)."""
    if not profiles:
        return 0

    def literal(values: list[int] | list[float]) -> str:
        return "{" + ",".join(repr(v) for v in values) + "}"

    def flat(name: str) -> str:
        # Every profile has exactly HOURS values: the account's 24,000 of a column travel as
        # one array literal, sliced per profile in SQL (a literal a profile cost psycopg a
        # quoting pass each).  repr reads back as the same float8.
        return "{" + ",".join(map(repr, (v for p in profiles for v in getattr(p, name)))) + "}"

    arrays = ("hour_spend", "hour_revenue", "hour_conversions", "hour_roas", "hour_index", "hour_multiplier")
    kinds = ("bigint", "bigint", "bigint", "float8", "float8", "float8")
    if any(len(getattr(p, name)) != HOURS for p in profiles for name in arrays):
        raise ValueError(f"hour arrays: every profile needs {HOURS} values")
    # One statement for the account.  Peak and valley hours (of any length) travel as array
    # literals inside a text[], cast row by row: unnest cannot take an array of arrays of
    # other lengths.
    params: dict[str, Any] = {
        "account_id": account_id,
        "window_start": start,
        "window_end": end,
        "method": METHOD,
        "entity_id": [p.entity_id for p in profiles],
        "days_observed": [p.days_observed for p in profiles],
        "total_spend": [p.total_spend for p in profiles],
        "total_revenue": [p.total_revenue for p in profiles],
        "total_conversions": [p.total_conversions for p in profiles],
        "confidence": [p.confidence for p in profiles],
        "peak_hours": [literal(p.peak_hours) for p in profiles],
        "valley_hours": [literal(p.valley_hours) for p in profiles],
        **{name: flat(name) for name in arrays},
    }
    slices = ", ".join(f"h.{name}[(u.i - 1) * {HOURS} + 1 : u.i * {HOURS}]" for name in arrays)
    hours = ", ".join(
        f"CAST(:{name} AS {kind}[]) AS {name}" for name, kind in zip(arrays, kinds, strict=True)
    )
    conn.execute(
        text(
            f"""
            INSERT INTO autoscaler.optimal_hour_profiles AS o
                   (entity_id, account_id, window_start, window_end, computed_at, days_observed,
                    total_spend, total_revenue, total_conversions, hour_spend, hour_revenue,
                    hour_conversions, hour_roas, hour_index, hour_multiplier, peak_hours, valley_hours,
                    confidence, method)
            SELECT u.entity_id, :account_id, :window_start, :window_end, now(), u.days_observed,
                   u.total_spend, u.total_revenue, u.total_conversions, {slices},
                   CAST(u.peak_hours AS smallint[]), CAST(u.valley_hours AS smallint[]), u.confidence, :method
              FROM unnest(CAST(:entity_id AS text[]), CAST(:days_observed AS integer[]),
                          CAST(:total_spend AS bigint[]), CAST(:total_revenue AS bigint[]),
                          CAST(:total_conversions AS bigint[]), CAST(:peak_hours AS text[]),
                          CAST(:valley_hours AS text[]), CAST(:confidence AS float8[]))
                   WITH ORDINALITY
                   AS u(entity_id, days_observed, total_spend, total_revenue, total_conversions,
                        peak_hours, valley_hours, confidence, i),
                   (SELECT {hours}) AS h
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
    return len(profiles)


def hour_multipliers(conn: Connection, account_id: str, local_hour: int) -> pd.DataFrame:
    """entity_id, confidence and the multiplier of one local hour, for the account's profiles."""
    rows = conn.execute(
        text(
            "SELECT entity_id, confidence, hour_multiplier[CAST(:h AS integer) + 1] AS multiplier "
            "FROM autoscaler.optimal_hour_profiles WHERE account_id = :a"
        ),
        {"a": account_id, "h": local_hour},
    )
    return to_frame(rows, ["entity_id", "confidence", "multiplier"])


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
    profile = Profile(**{name: row[name] for name in Profile.__dataclass_fields__})
    meta = {k: row[k] for k in ("account_id", "window_start", "window_end", "computed_at", "method")}
    return profile, meta
