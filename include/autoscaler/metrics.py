"""Hourly snapshot rows from what Meta lets us read (pure; docs/metrics.md explains why).

Meta's hourly breakdown has no purchases, so an hour's revenue can only be observed live:

* ``live_hour``: the local day's cumulative totals read at the end of hour H, minus the
  cumulative stored on the previous snapshot of the same local day (zero at the day's first
  hour).  A missed run's delivery lands in the next observed hour.
* ``backfilled_hour``: for a past hour, spend, impressions and clicks are exact (the hourly
  breakdown); purchases and revenue are the day's totals shared out by the hour's spend,
  except where the platform's hours carry them (Google Ads' ``segments.hour``): read as they are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from autoscaler.localtime import local_calendar

METRICS = ("spend", "impressions", "clicks", "conversions", "revenue")
TO_DATE = {
    "spend": "day_spend_to_date",
    "impressions": "day_impressions_to_date",
    "clicks": "day_clicks_to_date",
    "conversions": "day_conversions_to_date",
    "revenue": "day_revenue_to_date",
}


def _base(
    entities: pd.Series, hour_start: pd.Timestamp, timezone: str, account_id: str, holders: pd.DataFrame
) -> pd.DataFrame:
    frame = pd.DataFrame({"entity_id": entities.astype(str).to_numpy()})
    frame["hour_start"] = pd.Timestamp(hour_start).tz_convert("UTC")
    frame["account_id"] = account_id
    frame = frame.join(local_calendar(frame["hour_start"], timezone))
    state = holders.set_index("entity_id").reindex(frame["entity_id"])
    for column in ("daily_budget", "status", "effective_status"):
        values = state[column].to_numpy() if column in state else np.full(len(frame), None)
        frame[column] = values
    frame["daily_budget"] = frame["daily_budget"].astype("Int64")
    return frame


def live_hour(
    hour_start: pd.Timestamp,
    timezone: str,
    account_id: str,
    holders: pd.DataFrame,
    cumulative: pd.DataFrame,
    previous: pd.DataFrame,
    observed_at: pd.Timestamp,
) -> pd.DataFrame:
    """Snapshot rows of hour ``hour_start`` for every holder, from a live cumulative read.

    ``cumulative``: entity_id and METRICS for the local day so far (Meta omits entities
    without delivery: they count as zero).  ``previous``: entity_id and the TO_DATE columns
    of each entity's latest earlier snapshot of the same local day.
    """
    frame = _base(holders["entity_id"], hour_start, timezone, account_id, holders)
    now = cumulative.set_index("entity_id").reindex(frame["entity_id"])
    before = previous.set_index("entity_id").reindex(frame["entity_id"]) if not previous.empty else None
    for metric in METRICS:
        total = (
            now[metric].fillna(0).to_numpy(dtype=np.int64)
            if metric in now
            else np.zeros(len(frame), np.int64)
        )
        earlier = (
            before[TO_DATE[metric]].fillna(0).to_numpy(dtype=np.int64)
            if before is not None and TO_DATE[metric] in before
            else np.zeros(len(frame), np.int64)
        )
        # Meta revises totals down now and then (invalid clicks removed): never a negative hour.
        frame[metric] = np.maximum(total - earlier, 0)
        frame[TO_DATE[metric]] = total
    frame["revenue_source"] = "observed"
    frame["observed_at"] = pd.Timestamp(observed_at).tz_convert("UTC")
    return frame


def backfilled_hour(
    hour_start: pd.Timestamp,
    timezone: str,
    account_id: str,
    holders: pd.DataFrame,
    hourly: pd.DataFrame,
    day_totals: pd.DataFrame,
    observed_at: pd.Timestamp,
    *,
    purchases_by_hour: bool = False,
) -> pd.DataFrame:
    """Snapshot rows of a past hour: exact delivery, purchases allocated by spend share.

    ``hourly``: entity_id, local_hour and delivery for the hour's local day (the hourly
    breakdown); ``day_totals``: entity_id and METRICS for the whole local day.
    ``purchases_by_hour``: the hourly rows carry conversions and revenue too (Google Ads):
    the hour's own are taken, ``revenue_source`` observed, and nothing is allocated.
    """
    frame = _base(holders["entity_id"], hour_start, timezone, account_id, holders)
    local_hour = int(frame["local_hour"].iloc[0]) if len(frame) else 0
    # On the day clocks fall back, one local hour happens twice and Meta sums both: halve it.
    occurrences = _occurrences(pd.Timestamp(hour_start), timezone)
    in_hour = hourly[hourly["local_hour"] == local_hour].set_index("entity_id").reindex(frame["entity_id"])
    day = day_totals.set_index("entity_id").reindex(frame["entity_id"])
    for metric in ("spend", "impressions", "clicks"):
        frame[metric] = np.floor(in_hour[metric].fillna(0).to_numpy(dtype=float) / occurrences).astype(
            np.int64
        )
    if purchases_by_hour:
        for metric in ("conversions", "revenue"):
            frame[metric] = np.floor(in_hour[metric].fillna(0).to_numpy(dtype=float) / occurrences).astype(
                np.int64
            )
        frame["revenue_source"] = "observed"
        frame["observed_at"] = pd.Timestamp(observed_at).tz_convert("UTC")
        return frame
    day_spend = day["spend"].fillna(0).to_numpy(dtype=float)
    share = np.divide(
        frame["spend"].to_numpy(dtype=float), day_spend, out=np.zeros(len(frame)), where=day_spend > 0
    )
    for metric in ("conversions", "revenue"):
        frame[metric] = np.rint(day[metric].fillna(0).to_numpy(dtype=float) * share).astype(np.int64)
    frame["revenue_source"] = "allocated"
    frame["observed_at"] = pd.Timestamp(observed_at).tz_convert("UTC")
    return frame


def _occurrences(hour_start: pd.Timestamp, timezone: str) -> int:
    """How many UTC hours of its local day share this hour's local hour (2 when clocks fall back)."""
    local = hour_start.tz_convert(timezone)
    day_start = pd.Timestamp(local.date()).tz_localize(timezone, ambiguous=True)
    hours = pd.date_range(day_start.tz_convert("UTC"), periods=26, freq="h")
    same_day = hours[hours.tz_convert(timezone).date == local.date()]
    return int((same_day.tz_convert(timezone).hour == local.hour).sum())


def _allocate(amount: np.ndarray, weights: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Share each group's ``amount`` (one value per row, equal within a group) out by ``weights``.

    ``codes``: each row's group, groups contiguous (rows sorted by group).  Largest
    remainder, so the integer shares add up exactly to the amount; a group whose weights are
    all zero puts it all on its last row.  In numpy: the backtest settles a day every
    simulated hour, and pandas' grouped transforms cost ~40 ms a call there.
    """
    groups = int(codes.max()) + 1 if len(codes) else 0
    weights = weights.astype(float)
    total = np.bincount(codes, weights, groups)[codes]
    last = np.append(codes[1:] != codes[:-1], True)
    weights = np.where(total > 0, weights, last.astype(float))
    total = np.bincount(codes, weights, groups)[codes]
    exact = amount.astype(float) * weights / total
    floor = np.floor(exact)
    short = (amount - np.bincount(codes, floor, groups)[codes]).astype(np.int64)
    # Rank within each group by remainder, largest first (ties: earlier row first).
    order = np.lexsort((np.arange(len(codes)), -(exact - floor), codes))
    starts = np.searchsorted(codes[order], codes[order], side="left")
    rank = np.empty(len(codes), dtype=np.int64)
    rank[order] = np.arange(len(codes)) - starts + 1
    shares: np.ndarray = (floor + (rank <= short)).astype(np.int64)
    return shares


def settle_day(day_rows: pd.DataFrame, totals: pd.DataFrame) -> pd.DataFrame:
    """Yesterday's hours, corrected so each entity's day adds up to Meta's later total.

    Purchases are attributed to the click's day, days after the click, and a live read only
    sees today's date: what arrives later for yesterday would be lost.  ``day_rows``: the
    local day's snapshots (entity_id, hour_start, spend, conversions, revenue); ``totals``:
    Meta's totals for that day now (entity_id, conversions, revenue).  Growth is shared out
    by the hours' spend; a downward revision scales the hours down.  Returns the rows that
    change, with ``revenue_source`` settled; settling again with the same totals changes
    nothing.  Entities Meta did not answer for are left alone.
    """
    rows = day_rows.merge(
        totals[["entity_id", "conversions", "revenue"]], on="entity_id", suffixes=("", "_meta")
    ).sort_values(["entity_id", "hour_start"], ignore_index=True)
    if rows.empty:
        return rows[["entity_id", "hour_start", "conversions", "revenue"]].assign(revenue_source="settled")
    codes = pd.factorize(rows["entity_id"])[0]
    spend = rows["spend"].to_numpy(dtype=float)
    changed = np.zeros(len(rows), dtype=bool)
    for metric in ("conversions", "revenue"):
        current = rows[metric].to_numpy(dtype=np.int64)
        held = np.bincount(codes, current).astype(np.int64)[codes]
        target = rows[f"{metric}_meta"].fillna(0).to_numpy(dtype=np.int64)
        grown = current + _allocate(np.maximum(target - held, 0), spend, codes)
        shrunk = _allocate(target, current, codes)
        settled = np.where(target >= held, grown, shrunk)
        changed |= settled != current
        rows[metric] = settled
    out = rows.loc[changed, ["entity_id", "hour_start", "conversions", "revenue"]].reset_index(drop=True)
    return out.assign(revenue_source="settled")
