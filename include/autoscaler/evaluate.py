"""``autoscaler evaluate``: the decision on a rule file and a metrics CSV, with no side effects.

RULE.json holds rule settings with money in major units; METRICS.csv has entity_id,
daily_budget, spend, revenue (major units), impressions, clicks and optionally currency,
status, conversions, last_budget_change_at, learning, locked.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from autoscaler.money import MoneyError, currency_offset, to_major
from autoscaler.policy import decide, reasoning, with_rules
from autoscaler.rules import ScalingRule

REQUIRED = ("entity_id", "daily_budget", "spend", "revenue", "impressions", "clicks")
OPTIONAL = ("currency", "status", "conversions", "last_budget_change_at", "learning", "locked", "campaign_id")
MONEY = ("daily_budget", "spend", "revenue")
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


def _parse(text: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(io.StringIO(text), dtype={"entity_id": str, "campaign_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise MetricsFileError(f"not a readable CSV: {exc}") from None
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise MetricsFileError(f"missing column(s): {', '.join(missing)} (required: {', '.join(REQUIRED)})")
    unknown = sorted(set(frame.columns) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise MetricsFileError(f"unknown column(s): {', '.join(unknown)}")
    return frame


def _currency(frame: pd.DataFrame, default: str) -> tuple[str, int]:
    currency = default
    if "currency" in frame.columns:
        currencies = set(frame["currency"].dropna().str.upper())
        if len(currencies) > 1:
            raise MetricsFileError(
                f"currency: one file holds one account's currency, got {', '.join(sorted(currencies))}"
            )
        currency = currencies.pop() if currencies else default
    try:
        return currency, currency_offset(currency)
    except MoneyError as exc:
        raise MetricsFileError(str(exc)) from None


def _first_bad(frame: pd.DataFrame, bad: pd.Series) -> int:
    return int(np.flatnonzero(bad.to_numpy())[0])


def _numeric(frame: pd.DataFrame, column: str, currency: str, offset: int) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | (values < 0)
    if bad.any():
        row = _first_bad(frame, bad)
        raise MetricsFileError(
            f"{column}: must be a non-negative number (row {row + 2}, entity {frame['entity_id'].iloc[row]!r}, got {frame[column].iloc[row]!r})"
        )
    if column not in MONEY:
        return values
    minor = values * offset
    uneven = minor != minor.round()
    if uneven.any():
        raise MetricsFileError(
            f"{column}: finer than {currency}'s minor unit (row {_first_bad(frame, uneven) + 2})"
        )
    return minor.round()


def read_metrics(text: str, default_currency: str) -> tuple[pd.DataFrame, str]:
    """Parse and check METRICS.csv; money becomes minor units. Returns (frame, currency)."""
    frame = _parse(text)
    currency, offset = _currency(frame, default_currency)
    for column in (*REQUIRED[1:], *(c for c in ("conversions",) if c in frame.columns)):
        frame[column] = _numeric(frame, column, currency, offset)
    if frame["entity_id"].isna().any() or frame["entity_id"].duplicated().any():
        raise MetricsFileError("entity_id: every row needs one, and each entity appears once")
    if (frame["daily_budget"] <= 0).any():
        raise MetricsFileError("daily_budget: must be positive")
    if "last_budget_change_at" in frame.columns:
        parsed = pd.to_datetime(frame["last_budget_change_at"], utc=True, errors="coerce")
        if (parsed.isna() & frame["last_budget_change_at"].notna()).any():
            raise MetricsFileError("last_budget_change_at: must be an ISO timestamp")
        frame["last_budget_change_at"] = parsed
    for flag in ("learning", "locked"):
        if flag in frame.columns:
            frame[flag] = frame[flag].astype(str).str.lower().isin(("true", "1", "yes"))
    return frame, currency


def evaluate(
    rule_data: Mapping[str, Any], metrics_csv: str, *, now: pd.Timestamp, currency: str = "USD"
) -> pd.DataFrame:
    """One decision per metrics row, money back in major units."""
    frame, currency = read_metrics(metrics_csv, currency)
    rule = ScalingRule.from_major({"account_id": "act_0", **rule_data}, currency).model_copy(
        update={"rule_id": 0}
    )
    decided = decide(with_rules(frame, [rule]), now)
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
    return out.loc[:, list(OUTPUT)]
