"""``optimal_hour_profiles``: the sums the database does, and each account's profiles replaced whole."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from autoscaler.profiles import HOURS, MAX_DELAY_HOURS, METHOD, SUM_COLUMNS, Profile, lagged_moments
from autoscaler.store.frames import query_frame, to_frame


def window(now: datetime, timezone: str, days: int) -> tuple[datetime, datetime]:
    """The last ``days`` complete local days before ``now``, as UTC bounds [start, end)."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    end = datetime.combine(today, datetime.min.time(), tzinfo=zone)
    start = datetime.combine(today - timedelta(days=days), datetime.min.time(), tzinfo=zone)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


# The delay kernel is one set of 12 weights per account: a deterministic sample of about
# this many entities over the window's last days estimates it as well as all of the rows
# (the benchmark checks the peaks agree), at a fraction of the row work.
KERNEL_SAMPLE_ENTITIES = 200
KERNEL_DAYS = 7


def lag_moments(
    conn: Connection, account_id: str, start: datetime, end: datetime, lags: int = MAX_DELAY_HOURS
) -> tuple[np.ndarray, np.ndarray]:
    """Normal equations of revenue (in units of each entity's ROAS) on lagged spend, over a sample.

    The sample's rows (about 200 entities x 7 days, ~5% of a 1,000-entity account's window)
    come ordered by entity and hour, starting ``lags`` hours before the window so its first
    hours have their history; profiles.lagged_moments does the rest.  (Summing the 90 products
    in SQL, with window functions for the lags, cost more than fetching the rows.)
    """
    entities = conn.execute(
        text("SELECT count(*) FROM autoscaler.budget_holders WHERE account_id = :a"), {"a": account_id}
    ).scalar_one()
    buckets = max(1, int(entities) // KERNEL_SAMPLE_ENTITIES)
    rows = query_frame(
        conn,
        f"""
        SELECT entity_id, hour_start, spend, revenue, hour_start >= :start AS inside
          FROM autoscaler.campaign_performance_snapshots
         WHERE account_id = :account AND abs(hashtext(entity_id)) % {buckets} = 0
           AND hour_start >= CAST(:start AS timestamptz) - make_interval(hours => {lags})
           AND hour_start < :end
        """,
        {"account": account_id, "start": max(start, end - timedelta(days=KERNEL_DAYS)), "end": end},
        ["entity_id", "spend", "revenue", "inside"],
        order_by="entity_id, hour_start",
    )
    return lagged_moments(rows, lags)


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
    frame = query_frame(
        conn,
        f"""
            SELECT entity_id, local_hour,
                   count(*) FILTER (WHERE spend > 0)            AS n,
                   -- Summed as float8, which is exact for integers below 2^53 (checked
                   -- below): sum(bigint) keeps a 128-bit state per group and cost ~15%
                   -- of the query more.
                   sum(spend::float8)                           AS spend,
                   sum(revenue::float8)                         AS revenue,
                   sum(conversions::float8)                     AS conversions,
                   sum(revenue::float8 * revenue)               AS rr,
                   sum(revenue::float8 * spend)                 AS rs,
                   sum(spend::float8 * spend)                   AS ss,
                   coalesce(bit_or(1::bigint << (local_date - :first_day)) FILTER (WHERE {lo_rows}), 0)
                                                                AS days_lo,
                   {days_hi} AS days_hi
              FROM autoscaler.campaign_performance_snapshots
             WHERE account_id = :account AND hour_start >= :start AND hour_start < :end
             GROUP BY entity_id, local_hour
        """,
        {"account": account_id, "start": start, "end": end, "first_day": first_day},
        ["entity_id", "local_hour", *SUM_COLUMNS, "days_lo", "days_hi"],
    )
    for column in ("spend", "revenue", "conversions"):
        if bool((frame[column] >= 2.0**53).any()):
            raise ValueError(f"{column}: a sum over the window reached 2^53, past float8's exact integers")
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
