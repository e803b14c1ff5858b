"""Writes to ``campaign_performance_snapshots``: bulk, idempotent, all or nothing.

One upsert = one transaction: the frame is checked at the edge (column, rule, an example
row) and streamed with binary COPY: straight into the table when none of its hours is
stored yet, else into a temporary staging table merged with a single ``INSERT ... ON
CONFLICT (entity_id, hour_start) DO UPDATE``.  Re-running an hour rewrites the same rows;
an older observation never overwrites a newer one; unchanged rows are not rewritten (no
dead tuples on a no-op re-run).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import Connection, Engine, text

from autoscaler.rules import ACCOUNT_ID_PATTERN
from autoscaler.store import pgcopy
from autoscaler.store.frames import to_frame

COLUMNS: tuple[str, ...] = (
    "entity_id",
    "hour_start",
    "account_id",
    "local_date",
    "local_hour",
    "local_weekday",
    "spend",
    "impressions",
    "clicks",
    "conversions",
    "revenue",
    "revenue_source",
    "day_conversions_to_date",
    "day_revenue_to_date",
    "day_spend_to_date",
    "day_impressions_to_date",
    "day_clicks_to_date",
    "daily_budget",
    "status",
    "effective_status",
    "observed_at",
)
_KEY = ("entity_id", "hour_start")
_COUNTS = ("spend", "impressions", "clicks", "conversions", "revenue")
_OPTIONAL_COUNTS = (
    "day_conversions_to_date",
    "day_revenue_to_date",
    "day_spend_to_date",
    "day_impressions_to_date",
    "day_clicks_to_date",
)
_REVENUE_SOURCES = frozenset({"observed", "settled", "allocated"})


class SnapshotError(ValueError):
    """A snapshot frame that breaks a rule; nothing of it was written."""


def _fail(column: str, rule: str, frame: pd.DataFrame, bad: pd.Series | np.ndarray) -> None:
    if bool(bad.any()):
        first = frame.loc[bad].iloc[0]
        raise SnapshotError(
            f"{column}: {rule} ({int(bad.sum())} of {len(frame)} rows; first: entity_id="
            f"{first.get('entity_id')!r} hour_start={first.get('hour_start')!s} {column}={first.get(column)!r})"
        )


def with_optional_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with absent day-to-date columns added as NULL (they exist only for live reads)."""
    absent = [c for c in _OPTIONAL_COUNTS if c not in frame.columns]
    if not absent:
        return frame
    return frame.assign(**{c: pd.array([None] * len(frame), dtype="Int64") for c in absent})


def _distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Each row's code into the column's distinct values (-1: empty), and those values as text.

    Ids repeat every hour: hashing a column once lets the emptiness, pattern and duplicate
    checks work on a few thousand distinct values instead of every row.
    """
    codes, uniques = pd.factorize(values)
    return codes, pd.Series(uniques, dtype=object).astype(str)


def _mismatch(codes: np.ndarray, distinct: pd.Series, pattern: str) -> np.ndarray:
    """Rows whose (non-empty) value does not match ``pattern``."""
    bad: np.ndarray = ~distinct.str.fullmatch(pattern).to_numpy(dtype=bool)
    if not bad.any():
        return np.zeros(len(codes), dtype=bool)
    rows: np.ndarray = (codes >= 0) & bad[codes]
    return rows


def validate_frame(frame: pd.DataFrame) -> None:
    """Raise SnapshotError naming the column and rule the first offending rows break."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise SnapshotError(f"missing columns: {', '.join(missing)}")
    entity_codes, entities = _distinct(frame["entity_id"])
    account_codes, accounts = _distinct(frame["account_id"])
    _fail("entity_id", "must not be empty", frame, entity_codes < 0)
    _fail("account_id", "must not be empty", frame, account_codes < 0)
    for column in ("hour_start", "observed_at", "local_date", "revenue_source"):
        _fail(column, "must not be empty", frame, frame[column].isna())
    _fail("entity_id", "must be a Meta id (digits)", frame, _mismatch(entity_codes, entities, r"[0-9]{1,20}"))
    _fail(
        "account_id",
        "must be act_<digits> (Meta) or a 10-digit customer id (Google Ads)",
        frame,
        _mismatch(account_codes, accounts, ACCOUNT_ID_PATTERN.strip("^$")),
    )
    hours = pd.to_datetime(frame["hour_start"], utc=True)
    _fail("hour_start", "must be the start of a UTC hour", frame, hours != hours.dt.floor("h"))
    for column in _COUNTS:
        values = pd.to_numeric(frame[column], errors="coerce")
        _fail(column, "must be a whole number", frame, values.isna() | (values != values.round()))
        _fail(column, "must not be negative", frame, values < 0)
    for column in _OPTIONAL_COUNTS:
        _fail(column, "must not be negative", frame, pd.to_numeric(frame[column], errors="coerce") < 0)
    _fail(
        "daily_budget", "must be positive", frame, pd.to_numeric(frame["daily_budget"], errors="coerce") <= 0
    )
    _fail("local_hour", "must be between 0 and 23", frame, ~frame["local_hour"].between(0, 23))
    _fail("local_weekday", "must be between 0 (Monday) and 6", frame, ~frame["local_weekday"].between(0, 6))
    _fail(
        "revenue_source",
        f"must be one of {', '.join(sorted(_REVENUE_SOURCES))}",
        frame,
        ~frame["revenue_source"].isin(_REVENUE_SOURCES),
    )
    observed = pd.to_datetime(frame["observed_at"], utc=True)
    _fail("observed_at", "cannot be before the hour it describes", frame, observed < hours)
    # The key as one integer per row (entity code, hour code): hashing int64 is far cheaper
    # than hashing (text, timestamp) pairs.
    hour_codes, distinct_hours = pd.factorize(hours)
    key = entity_codes.astype(np.int64) * max(len(distinct_hours), 1) + hour_codes
    _fail("entity_id", "appears twice for the same hour_start", frame, pd.Index(key).duplicated(keep=False))


def ensure_partitions(engine: Engine, hours: Iterable[pd.Timestamp]) -> None:
    """Create the monthly partitions the hours fall in, and the month after the latest (own
    short transaction, idempotent, safe to run from many writers at once).

    The month ahead means the first hours of a new month find their partition waiting: the
    hourly runs of the month before created it, one writer at a time, long before.
    """
    firsts = {pd.Timestamp(h).tz_convert("UTC").tz_localize(None).to_period("M") for h in hours}
    if not firsts:
        return
    months = [str(m.start_time.date()) for m in sorted(firsts | {max(firsts) + 1})]
    with engine.begin() as conn:
        for month in months:
            conn.execute(text("SELECT autoscaler.ensure_snapshot_partition(CAST(:m AS date))"), {"m": month})


# The table's column types: rows travel in PostgreSQL's binary COPY format, encoded whole
# columns at a time (pgcopy), straight into the table or into a staging table like it.
_TEXT_COLUMNS = frozenset({"entity_id", "account_id", "revenue_source", "status", "effective_status"})
_NOT_BIGINT = {
    "hour_start": "timestamptz",
    "observed_at": "timestamptz",
    "local_date": "date",
    "local_hour": "smallint",
    "local_weekday": "smallint",
}
TYPES: dict[str, str] = {c: "text" if c in _TEXT_COLUMNS else _NOT_BIGINT.get(c, "bigint") for c in COLUMNS}
_TABLE = "autoscaler.campaign_performance_snapshots"
COLUMN_DDL = ", ".join(f"{column} {kind}" for column, kind in TYPES.items())
_STAGING_DDL = f"CREATE TEMP TABLE snapshot_staging ({COLUMN_DDL}) ON COMMIT DROP"


def copy_stream(frame: pd.DataFrame) -> Iterator[bytes]:
    """The frame's COLUMNS as a binary COPY stream of the table's types."""
    return pgcopy.encode([(frame[c], TYPES[c]) for c in COLUMNS])


def copy_frame(conn: Connection, table: str, frame: pd.DataFrame) -> None:
    """COPY the frame's COLUMNS into ``table`` (binary format) on the connection's transaction."""
    raw = conn.connection.driver_connection
    assert raw is not None
    statement = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT binary)"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for piece in copy_stream(frame):
            copy.write(piece)


def _any_stored(conn: Connection, frame: pd.DataFrame) -> bool:
    """Whether any (entity_id, hour_start) of the frame is already stored.

    Probes the (account_id, hour_start) index: a new hour of an account finds nothing there
    at once, whatever the table holds for other hours.
    """
    return bool(
        conn.execute(
            text(
                f"""
                SELECT EXISTS (
                    SELECT 1 FROM {_TABLE}
                     WHERE account_id = ANY(CAST(:accounts AS text[]))
                       AND hour_start = ANY(CAST(:hours AS timestamptz[]))
                       AND entity_id = ANY(CAST(:entities AS text[])))
                """
            ),
            {
                "accounts": frame["account_id"].astype(str).unique().tolist(),
                "hours": [h.to_pydatetime() for h in pd.to_datetime(frame["hour_start"], utc=True).unique()],
                "entities": frame["entity_id"].astype(str).unique().tolist(),
            },
        ).scalar_one()
    )


def upsert_snapshots(engine: Engine, frame: pd.DataFrame) -> int:
    """Insert or refresh one snapshot per (entity_id, hour_start); return rows inserted or changed.

    Hours nobody has stored yet (the hourly run's usual case) are COPYed straight into the
    table: the unique key still guards them, and should a concurrent writer store one of
    them first, the COPY fails, is rolled back to its savepoint and the merge below runs
    instead.  Otherwise the rows go through a staging table and one INSERT ... ON CONFLICT.
    """
    if frame.empty:
        return 0
    frame = with_optional_columns(frame)
    validate_frame(frame)
    ensure_partitions(engine, pd.to_datetime(frame["hour_start"], utc=True).unique())
    with engine.begin() as conn:
        if not _any_stored(conn, frame):
            try:
                with conn.begin_nested():
                    copy_frame(conn, _TABLE, frame)
                return len(frame)
            except psycopg.errors.UniqueViolation:
                pass  # stored meanwhile by another writer: merge instead
        return _merge(conn, frame)


def _merge(conn: Connection, frame: pd.DataFrame) -> int:
    updates = [c for c in COLUMNS if c not in _KEY]
    set_clause = ", ".join(f"{c} = EXCLUDED.{c}" for c in updates)
    changed = " OR ".join(f"s.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in updates if c != "observed_at")
    columns = ", ".join(COLUMNS)
    conn.execute(text(_STAGING_DDL))
    copy_frame(conn, "snapshot_staging", frame)
    result = conn.execute(
        text(
            f"""
            INSERT INTO {_TABLE} AS s ({columns})
            SELECT {columns} FROM snapshot_staging
            ON CONFLICT (entity_id, hour_start) DO UPDATE SET {set_clause}
             WHERE EXCLUDED.observed_at >= s.observed_at AND ({changed})
            """
        )
    )
    return int(result.rowcount)


def day_rows(conn: Connection, account_id: str, local_date: Any) -> pd.DataFrame:
    """The account's snapshots of one local day: what settling that day works on."""
    rows = conn.execute(
        text(
            """
            SELECT entity_id, hour_start, spend, conversions, revenue
              FROM autoscaler.campaign_performance_snapshots
             WHERE account_id = :account AND local_date = :day
            """
        ),
        {"account": account_id, "day": local_date},
    )
    frame = to_frame(rows, ["entity_id", "hour_start", "spend", "conversions", "revenue"])
    for column in ("spend", "conversions", "revenue"):
        frame[column] = frame[column].astype("int64")
    return frame


def apply_settlement(conn: Connection, settled: pd.DataFrame, observed_at: Any) -> int:
    """Write settled purchases and revenue onto existing hours (metrics.settle_day's rows)."""
    if settled.empty:
        return 0
    result = conn.execute(
        text(
            """
            UPDATE autoscaler.campaign_performance_snapshots AS s
               SET conversions = u.conversions, revenue = u.revenue, revenue_source = 'settled',
                   observed_at = :observed_at
              FROM unnest(CAST(:entity_ids AS text[]), CAST(:hours AS timestamptz[]),
                          CAST(:conversions AS bigint[]), CAST(:revenue AS bigint[]))
                   AS u(entity_id, hour_start, conversions, revenue)
             WHERE s.entity_id = u.entity_id AND s.hour_start = u.hour_start
            """
        ),
        {
            "entity_ids": settled["entity_id"].astype(str).tolist(),
            "hours": [ts.to_pydatetime() for ts in pd.to_datetime(settled["hour_start"], utc=True)],
            "conversions": [int(v) for v in settled["conversions"]],
            "revenue": [int(v) for v in settled["revenue"]],
            "observed_at": observed_at,
        },
    )
    return int(result.rowcount)


def snapshot_span(conn: Connection, account_id: str) -> tuple[Any, Any]:
    """The first and last snapshot hours stored for an account ((None, None) for none)."""
    row = conn.execute(
        text(
            "SELECT min(hour_start), max(hour_start) FROM autoscaler.campaign_performance_snapshots "
            "WHERE account_id = :a"
        ),
        {"a": account_id},
    ).one()
    return row[0], row[1]
