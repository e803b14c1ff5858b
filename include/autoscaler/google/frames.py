"""The one place that turns Google Ads rows into the autoscaler's frames (pure: no I/O).

Money arrives in micros (``amount_micros``, ``metrics.cost_micros``: integers, 1 currency
unit = 1,000,000) and as a double in currency units (``metrics.conversions_value``).  It
becomes the store's integer minor units here, once, exactly: micros are summed as integers
per budget and hour before one integer division, rounding half to even only where Google's
micros are finer than the currency's minor unit (cost can be a fraction of a cent).

The frames are the Meta path's: ``budget_holders`` has meta.frames.HOLDER_COLUMNS (a
holder is a campaign budget, level ``campaign_budget``), and ``holder_insights`` has the
columns of meta.frames.per_holder's answer (entity_id, date_start, [local_hour], spend,
impressions, clicks, conversions, revenue), summed over every campaign sharing a budget.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pandas as pd

from autoscaler.google.api import MICROS
from autoscaler.meta.frames import HOLDER_COLUMNS
from autoscaler.money import currency_offset

LEVEL = "campaign_budget"
METRIC_COLUMNS = ["spend", "impressions", "clicks", "conversions", "revenue"]
# Smart Bidding statuses that mean the bid strategy is (re)learning: the role of Meta's
# learning phase.  A budget is learning while any campaign sharing it is.
LEARNING_STATUSES = frozenset(
    {
        "LEARNING_NEW",
        "LEARNING_SETTING_CHANGE",
        "LEARNING_BUDGET_CHANGE",
        "LEARNING_COMPOSITION_CHANGE",
        "LEARNING_CONVERSION_TYPE_CHANGE",
        "LEARNING_CONVERSION_SETTING_CHANGE",
        "MULTIPLE_LEARNING",
    }
)


def _half_even(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient


def micros_to_minor(micros: int, currency: str) -> int:
    """Micros as the currency's minor units (exact when Google's amount is a whole minor unit)."""
    return _half_even(int(micros) * currency_offset(currency), MICROS)


def minor_to_micros(minor: int, currency: str) -> int:
    """Minor units as micros: always exact (every offset divides 1,000,000)."""
    return int(minor) * (MICROS // currency_offset(currency))


def value_micros(value: float) -> int:
    """``conversions_value`` (a double in currency units) as integer micros, from its shortest repr."""
    return int((Decimal(repr(float(value))) * MICROS).to_integral_value(ROUND_HALF_EVEN))


def budget_holders(rows: Iterable[dict[str, Any]], currency: str) -> pd.DataFrame:
    """Budget holders from campaign rows with their budget: one row per campaign budget.

    ``status`` is ACTIVE when any campaign sharing the budget is ENABLED, else PAUSED (the
    words the rules use for Meta); ``learning`` when any of them is in a Smart Bidding
    learning status; ``campaign_id`` is the lowest id among the campaigns sharing it and
    ``campaign_name`` that campaign's name.  A budget with a custom period (a total amount)
    is not a daily budget: its total goes to ``lifetime_budget`` and it is not scaled, as
    Meta's lifetime budgets are not.
    """
    budgets: dict[str, dict[str, Any]] = {}
    for row in rows:
        budget_id = str(row["campaign_budget.id"])
        daily = row.get("campaign_budget.period", "DAILY") in ("DAILY", "UNSPECIFIED", None)
        holder = budgets.setdefault(
            budget_id,
            {
                "entity_id": budget_id,
                "level": LEVEL,
                "campaign_id": str(row["campaign.id"]),
                "campaign_name": row.get("campaign.name") or None,
                "name": row.get("campaign_budget.name") or None,
                "status": "PAUSED",
                "effective_status": "PAUSED",
                "daily_budget": micros_to_minor(row["campaign_budget.amount_micros"], currency)
                if daily
                else None,
                "lifetime_budget": None
                if daily
                else micros_to_minor(row.get("campaign_budget.total_amount_micros") or 0, currency),
                "learning": False,
            },
        )
        if int(row["campaign.id"]) < int(holder["campaign_id"]):
            holder["campaign_id"], holder["campaign_name"] = (
                str(row["campaign.id"]),
                row.get("campaign.name") or None,
            )
        if row.get("campaign.status") == "ENABLED":
            holder["status"] = holder["effective_status"] = "ACTIVE"
        if row.get("campaign.bidding_strategy_system_status") in LEARNING_STATUSES:
            holder["learning"] = True
    frame = pd.DataFrame(list(budgets.values()), columns=HOLDER_COLUMNS)
    for column in ("daily_budget", "lifetime_budget"):
        frame[column] = frame[column].astype("Int64")
    frame["learning"] = frame["learning"].astype(bool)
    return frame.sort_values("entity_id", ignore_index=True)


def budget_of(resource_name: str) -> str:
    """The budget id of ``customers/{customer}/campaignBudgets/{id}``."""
    return resource_name.rsplit("/", 1)[-1]


def holder_insights(rows: Iterable[dict[str, Any]], currency: str, *, hourly: bool) -> pd.DataFrame:
    """Campaign metric rows summed to their budgets, with money in minor units.

    ``hourly``: rows carry ``segments.hour`` (the account's time zone), kept as ``local_hour``.
    Unlike Meta's hourly breakdown, Google's hours carry conversions and their value.
    """
    sums: dict[tuple[str, str, int | None], list[Any]] = {}
    for row in rows:
        key = (
            budget_of(row["campaign.campaign_budget"]),
            str(row["segments.date"]),
            int(row["segments.hour"]) if hourly else None,
        )
        total = sums.setdefault(key, [0, 0, 0, 0.0, 0])
        total[0] += int(row["metrics.cost_micros"])
        total[1] += int(row["metrics.impressions"])
        total[2] += int(row["metrics.clicks"])
        total[3] += float(row["metrics.conversions"])
        total[4] += value_micros(row["metrics.conversions_value"])
    records = [
        {
            "entity_id": budget,
            "date_start": day,
            "local_hour": hour,
            "spend": micros_to_minor(cost, currency),
            "impressions": impressions,
            "clicks": clicks,
            # Data-driven attribution gives fractional conversions; counts are whole, as Meta's.
            "conversions": int(Decimal(repr(conversions)).to_integral_value(ROUND_HALF_EVEN)),
            "revenue": micros_to_minor(value, currency),
        }
        for (budget, day, hour), (cost, impressions, clicks, conversions, value) in sorted(
            sums.items(), key=lambda item: (item[0][0], item[0][1], item[0][2] or 0)
        )
    ]
    keys = ["entity_id", "date_start", *(["local_hour"] if hourly else [])]
    frame = pd.DataFrame(records, columns=[*keys, *METRIC_COLUMNS, *([] if hourly else ["local_hour"])])
    if not hourly:
        frame = frame.drop(columns=["local_hour"])
    else:
        frame["local_hour"] = frame["local_hour"].astype("Int64")  # as Meta's per_holder
    for column in METRIC_COLUMNS:
        frame[column] = frame[column].astype("int64")
    return frame
