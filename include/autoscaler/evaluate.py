"""``autoscaler evaluate``: the decision on a rule file and a metrics CSV, with no side effects.

RULE.json holds rule settings with money in major units; METRICS.csv has entity_id,
daily_budget, spend, revenue (major units), impressions, clicks and optionally currency,
status, conversions, last_budget_change_at, learning, locked.  A rule whose strategy is the
allocator also needs HISTORY.csv, each holder's hours as the snapshots hold them: entity_id,
hour_start (ISO, the hour's start), spend, revenue, conversions and optionally daily_budget
(the budget the hour was read with; empty when unknown), in the metrics file's currency.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from autoscaler.allocator import HISTORY_COLUMNS, HISTORY_HOURS
from autoscaler.money import (
    MoneyError,
    currency_code,
    currency_offset,
    max_daily_budget_minor,
    money_text,
    to_major,
)
from autoscaler.policy import decide, reasoning, with_rules
from autoscaler.rules import ScalingRule

REQUIRED = ("entity_id", "daily_budget", "spend", "revenue", "impressions", "clicks")
OPTIONAL = ("currency", "status", "conversions", "last_budget_change_at", "learning", "locked", "campaign_id")
MONEY = ("daily_budget", "spend", "revenue")
HISTORY_REQUIRED = ("entity_id", "hour_start", "spend", "revenue", "conversions")
HISTORY_OPTIONAL = ("daily_budget",)
# What the allocator adds to the output: where the curve says an extra unit stops paying.
ALLOCATOR_OUTPUT = ("marginal_roas", "target_marginal_roas", "curve_target_budget")
OUTPUT = (
    "entity_id",
    "action",
    "current_daily_budget",
    "new_daily_budget",
    "requires_approval",
    "reason",
    "reason_code",
)


class MetricsFileError(ValueError):
    """A metrics CSV that breaks a rule, naming the column (and row)."""


def _parse(
    text: str, required: tuple[str, ...] = REQUIRED, optional: tuple[str, ...] = OPTIONAL
) -> pd.DataFrame:
    # Every cell as text: money is parsed exactly from its decimal digits below, never through
    # binary floating point; and no cell is read as NaN behind our back.
    try:
        with warnings.catch_warnings():
            # index_col=False: a row with an extra field must not turn the first column into
            # an index (which shifts every value onto the wrong entity); pandas then warns.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, index_col=False)
    except pd.errors.ParserWarning:
        raise MetricsFileError(_ragged_row(text)) from None
    except pd.errors.ParserError:
        raise MetricsFileError(_ragged_row(text)) from None
    except pd.errors.EmptyDataError as exc:
        raise MetricsFileError(f"not a readable CSV: {exc}") from None
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise MetricsFileError(f"missing column(s): {', '.join(missing)} (required: {', '.join(required)})")
    unknown = sorted(set(frame.columns) - set(required) - set(optional))
    if unknown:
        raise MetricsFileError(f"unknown column(s): {', '.join(unknown)}")
    return frame


def _ragged_row(text: str) -> str:
    """The first row whose field count differs from the header's, named by line and entity."""
    rows = csv.reader(io.StringIO(text))
    header = next(rows, [])
    for row in rows:
        if len(row) != len(header) and row:
            entity = row[0] if header and header[0].strip() == "entity_id" else "?"
            return f"line {rows.line_num} (entity {entity!r}) has {len(row)} fields, the header {len(header)}"
    return "not a readable CSV"


def _currency(frame: pd.DataFrame, default: str) -> tuple[str, int]:
    currency = default
    if "currency" in frame.columns:
        currencies = set(frame["currency"].str.strip().str.upper()) - {""}
        if len(currencies) > 1:
            raise MetricsFileError(
                f"currency: one file holds one account's currency, got {', '.join(sorted(currencies))}"
            )
        currency = currencies.pop() if currencies else default
    try:
        currency = currency_code(currency)
        return currency, currency_offset(currency)
    except MoneyError as exc:
        raise MetricsFileError(str(exc)) from None


def _first_bad(bad: pd.Series) -> int:
    return int(np.flatnonzero(bad.to_numpy())[0])


def _refuse(frame: pd.DataFrame, column: str, rule: str, bad: pd.Series) -> None:
    if bad.any():
        row = _first_bad(bad)
        raise MetricsFileError(
            f"{column}: {rule} (row {row + 2}, entity {frame['entity_id'].iloc[row]!r}, got {frame[column].iloc[row]!r})"
        )


# A non-negative decimal as people write amounts: digits, optionally a point and more digits.
# Not 1e20, not inf or nan, not -5: those are refused, each naming the column and row.  At most
# 14 digits before the point (far above any currency's bound over a week) and 4 after, so
# the digits without the point always fit an int64.
_AMOUNT = r"\d{1,14}(?:\.\d{0,4})?"
# Counts hold at most 15 digits (far beyond any campaign; well inside int64).
_COUNT = r"\d{1,15}(?:\.0*)?"


def _count(frame: pd.DataFrame, column: str) -> pd.Series:
    values = frame[column].str.strip()
    _refuse(frame, column, "must be a whole non-negative number", ~values.str.fullmatch(_COUNT))
    return values.str.replace(r"\.0*$", "", regex=True).astype(np.int64)


def _minor(frame: pd.DataFrame, column: str, currency: str, offset: int) -> pd.Series:
    """Exact minor units from decimal text, in integers only: the digits without the point are
    the amount times 10^(digits after the point), rescaled to the currency's decimals (2173.26
    USD is 217326 cents, which 2173.26 * 100 in binary floating point misses)."""
    values = frame[column].str.strip()
    _refuse(
        frame,
        column,
        f"must be a non-negative decimal amount in {currency}, such as 12.50",
        ~values.str.fullmatch(_AMOUNT),
    )
    point = values.str.find(".").to_numpy()
    after = np.where(point >= 0, values.str.len().to_numpy() - point - 1, 0)
    scaled = values.str.replace(".", "", regex=False).astype(np.int64).to_numpy()
    decimals = len(str(offset)) - 1
    down = 10 ** np.clip(after - decimals, 0, None)
    up = 10 ** np.clip(decimals - after, 0, None)
    _refuse(
        frame,
        column,
        f"finer than {currency}'s minor unit"
        if decimals
        else f"{currency} has no minor unit: whole amounts only",
        pd.Series(scaled % down != 0, index=frame.index),
    )
    minor = pd.Series(scaled // down * up, index=frame.index)
    ceiling = max_daily_budget_minor(currency) * 168  # a week of hours at the highest daily budget
    _refuse(frame, column, f"must be at most {money_text(ceiling, currency)}", minor > ceiling)
    return minor


def read_metrics(text: str, default_currency: str) -> tuple[pd.DataFrame, str]:
    """Parse and check METRICS.csv; money becomes minor units. Returns (frame, currency)."""
    frame = _parse(text)
    currency, offset = _currency(frame, default_currency)
    entity = frame["entity_id"].str.strip()
    if (entity == "").any() or entity.duplicated().any():
        raise MetricsFileError("entity_id: every row needs one, and each entity appears once")
    frame["entity_id"] = entity
    for column in OPTIONAL:
        if column in frame.columns and column not in ("currency", "conversions"):
            frame[column] = frame[column].replace("", np.nan)
    parsed = {c: _minor(frame, c, currency, offset) for c in MONEY}
    parsed |= {c: _count(frame, c) for c in ("impressions", "clicks", "conversions") if c in frame.columns}
    budget_cap = max_daily_budget_minor(currency)
    _refuse(frame, "daily_budget", "must be positive", parsed["daily_budget"] <= 0)
    _refuse(
        frame,
        "daily_budget",
        f"must be at most {money_text(budget_cap, currency)} a day",
        parsed["daily_budget"] > budget_cap,
    )
    # A click is on an impression: more clicks than impressions is a broken export, and a
    # CTR above 100% would scale a budget up.
    _refuse(frame, "clicks", "must not exceed impressions", parsed["clicks"] > parsed["impressions"])
    for column, values in parsed.items():
        frame[column] = values
    if "last_budget_change_at" in frame.columns:
        parsed_at = pd.to_datetime(
            frame["last_budget_change_at"], utc=True, errors="coerce", format="ISO8601"
        )
        _refuse(
            frame,
            "last_budget_change_at",
            "must be an ISO timestamp",
            parsed_at.isna() & frame["last_budget_change_at"].notna(),
        )
        frame["last_budget_change_at"] = parsed_at
    for flag in ("learning", "locked"):
        if flag in frame.columns:
            frame[flag] = frame[flag].astype(str).str.lower().isin(("true", "1", "yes"))
    return frame, currency


def read_history(text: str, currency: str, now: pd.Timestamp) -> pd.DataFrame:
    """Parse and check HISTORY.csv into the allocator's hourly rows (allocator.HISTORY_COLUMNS):
    money in minor units of the metrics file's currency, each hour's age before the hour ``now``
    falls in (0: the hour that ended last).  Hours older than the allocator reads are dropped."""
    frame = _parse(text, HISTORY_REQUIRED, HISTORY_OPTIONAL)
    if frame.empty:
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    frame["entity_id"] = frame["entity_id"].str.strip()
    _refuse(frame, "entity_id", "every row needs one", frame["entity_id"] == "")
    offset = currency_offset(currency)
    text_start = frame["hour_start"].str.strip()
    start = pd.to_datetime(text_start, utc=True, errors="coerce", format="ISO8601")
    # An hour without its offset would be read as UTC: an export in the account's local time
    # would shift every hour's age without a word.
    _refuse(
        frame,
        "hour_start",
        "must be an ISO timestamp with its UTC offset, such as 2026-11-30T14:00:00Z",
        start.isna() | ~text_start.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True),
    )
    _refuse(frame, "hour_start", "must be the start of an hour", start != start.dt.floor("h"))
    end = now.floor("h")
    _refuse(frame, "hour_start", f"must be before the hour of --now ({end.isoformat()})", start >= end)
    _refuse(
        frame,
        "hour_start",
        "each entity's hour appears once",
        pd.Series(frame.assign(_h=start).duplicated(["entity_id", "_h"])),
    )
    money = {c: _minor(frame, c, currency, offset) for c in ("spend", "revenue")}
    budget = pd.Series(np.nan, index=frame.index)
    if "daily_budget" in frame.columns:
        given = frame["daily_budget"].str.strip() != ""
        if given.any():
            budget[given] = _minor(frame[given], "daily_budget", currency, offset).astype(float)
    out = pd.DataFrame(
        {
            "entity_id": frame["entity_id"],
            "age_hours": ((end - start) // pd.Timedelta(hours=1)).astype(np.int64) - 1,
            **money,
            "conversions": _count(frame, "conversions"),
            "daily_budget": budget,
        }
    )
    return out[out["age_hours"] < HISTORY_HOURS].reset_index(drop=True)[list(HISTORY_COLUMNS)]


def _same_holders(metrics: pd.DataFrame, history: pd.DataFrame) -> None:
    """The two files describe the same holders: every active metrics row has hours, and every
    hour a metrics row (the allocator would otherwise decide a holder from its prior alone,
    which the hourly run never does)."""
    ids = metrics["entity_id"].astype(str)
    if "status" in metrics:
        ids = ids[(metrics["status"].astype(str).str.upper() == "ACTIVE").to_numpy()]
    wanted = set(ids)
    have = set(history["entity_id"].astype(str))
    missing = sorted(wanted - have)
    if missing:
        raise MetricsFileError(
            f"history: no hours for entity {missing[0]!r} of the metrics file"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + " within the allocator's 14 days: it decides each holder on its own hours"
        )
    unknown = sorted(have - set(metrics["entity_id"].astype(str)))
    if unknown:
        raise MetricsFileError(f"history: entity {unknown[0]!r} is not in the metrics file")


def evaluate(
    rule_data: Mapping[str, Any],
    metrics_csv: str,
    *,
    now: pd.Timestamp,
    currency: str = "USD",
    history_csv: str | None = None,
) -> pd.DataFrame:
    """One decision per metrics row, money back in major units.

    A rule whose strategy is the allocator decides on ``history_csv`` (HISTORY.csv's rows)
    as the hourly run does on the snapshots; without it, the thresholds decide (the caller
    says so).
    """
    from autoscaler.hourly import with_allocator

    frame, currency = read_metrics(metrics_csv, currency)
    rule = ScalingRule.from_major({"account_id": "act_0", **rule_data}, currency).model_copy(
        update={"rule_id": 0}
    )
    allocated = rule.strategy == "allocator" and history_csv is not None
    if rule.strategy == "allocator" and not allocated:
        rule = rule.model_copy(update={"strategy": "thresholds"})
    frame = with_rules(frame, [rule])
    if allocated:
        assert history_csv is not None
        try:
            history = read_history(history_csv, currency, now)
        except MetricsFileError as exc:
            raise MetricsFileError(f"history: {exc}") from None
        _same_holders(frame, history)
        # The hourly run seeds with the hour it decides for, the one that ended last.
        run_hour = now.floor("h") - pd.Timedelta(hours=1)
        frame = with_allocator(frame, history, None, seed=int(run_hour.timestamp()) // 3600)
    decided = decide(frame, now)
    out = pd.DataFrame(
        {
            "entity_id": decided["entity_id"],
            "action": decided["action"],
            "current_daily_budget": [str(to_major(int(v), currency)) for v in decided["daily_budget"]],
            "new_daily_budget": [str(to_major(int(v), currency)) for v in decided["new_daily_budget"]],
            "requires_approval": decided["requires_approval"],
            "reason": [reasoning(row, currency) for row in decided.itertuples()],
            "reason_code": decided["reason"],
        }
    )
    if not allocated:
        return out.loc[:, list(OUTPUT)]
    # A holder the allocator did not decide (paused, locked) has no curve: null, not NaN,
    # which strict JSON parsers refuse.
    for column, source in (("marginal_roas", "marginal_roas"), ("target_marginal_roas", "goal")):
        values = decided[source].to_numpy(dtype=float, na_value=np.nan)
        out[column] = pd.Series(
            [round(float(v), 2) if np.isfinite(v) else None for v in values], index=out.index, dtype=object
        )
    target = decided["curve_target"].to_numpy(dtype=float, na_value=np.nan)
    out["curve_target_budget"] = [str(to_major(int(v), currency)) if np.isfinite(v) else "" for v in target]
    return out.loc[:, [*OUTPUT, *ALLOCATOR_OUTPUT]]
