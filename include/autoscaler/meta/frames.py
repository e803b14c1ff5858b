"""The one place that turns Graph API answers into frames (pure: no I/O).

Budgets arrive as minor-unit strings; insights money arrives in major units ("48.75") and
becomes integer minor units here; purchases come from ``actions`` / ``action_values``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from autoscaler.money import currency_offset

HOLDER_COLUMNS = [
    "entity_id",
    "level",
    "campaign_id",
    "campaign_name",
    "name",
    "status",
    "effective_status",
    "daily_budget",
    "lifetime_budget",
    "learning",
]
INSIGHT_COLUMNS = [
    "adset_id",
    "campaign_id",
    "date_start",
    "local_hour",
    "spend",
    "impressions",
    "clicks",
    "conversions",
    "revenue",
]
HOURLY_FIELD = "hourly_stats_aggregated_by_advertiser_time_zone"


def _minor_int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    return int(value)


def _holds_budget(obj: dict[str, Any]) -> bool:
    return bool(obj.get("daily_budget") or obj.get("lifetime_budget"))


def _holder_row(
    obj: dict[str, Any], level: str, campaign_id: str, campaign_name: str | None, *, learning: bool
) -> dict[str, Any]:
    return {
        "entity_id": str(obj["id"]),
        "level": level,
        "campaign_id": campaign_id,
        "campaign_name": campaign_name,
        "name": obj.get("name"),
        "status": obj.get("status"),
        "effective_status": obj.get("effective_status"),
        "daily_budget": _minor_int(obj.get("daily_budget")),
        "lifetime_budget": _minor_int(obj.get("lifetime_budget")),
        "learning": learning,
    }


def budget_holders(adsets: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Budget holders from ad sets read with their campaign expanded.

    A campaign with a budget is a holder (campaign budget optimization) and its ad sets are
    not; otherwise every ad set with a budget is a holder.
    """
    rows: dict[str, dict[str, Any]] = {}
    learning_campaigns: set[str] = set()
    for adset in adsets:
        campaign = adset.get("campaign") or {}
        campaign_id = str(adset.get("campaign_id") or campaign.get("id"))
        learning = (adset.get("learning_stage_info") or {}).get("status") == "LEARNING"
        campaign_name = campaign.get("name") or None
        if _holds_budget(campaign):
            if learning:
                learning_campaigns.add(campaign_id)
            rows.setdefault(
                campaign_id, _holder_row(campaign, "campaign", campaign_id, campaign_name, learning=False)
            )
        elif _holds_budget(adset):
            rows[str(adset["id"])] = _holder_row(
                adset, "adset", campaign_id, campaign_name, learning=learning
            )
    for campaign_id in learning_campaigns:
        rows[campaign_id]["learning"] = True
    frame = pd.DataFrame(list(rows.values()), columns=HOLDER_COLUMNS)
    for column in ("daily_budget", "lifetime_budget"):
        frame[column] = frame[column].astype("Int64")
    frame["learning"] = frame["learning"].astype(bool)
    return frame.sort_values("entity_id", ignore_index=True)


def _action_total(actions: Any, preferred: Sequence[str]) -> float:
    """The value of the first preferred action type present (Meta lists overlapping types)."""
    if not actions:
        return 0.0
    by_type = {a.get("action_type"): a.get("value") for a in actions if isinstance(a, dict)}
    for action_type in preferred:
        if action_type in by_type:
            return float(by_type[action_type] or 0)
    return 0.0


def insights(rows: Iterable[dict[str, Any]], currency: str, purchase_types: Sequence[str]) -> pd.DataFrame:
    """Insights rows (level adset) as a frame with money in minor units."""
    offset = currency_offset(currency)
    records = []
    for row in rows:
        label = row.get(HOURLY_FIELD) or row.get("hourly_stats_aggregated_by_audience_time_zone")
        records.append(
            {
                "adset_id": str(row.get("adset_id", "")),
                "campaign_id": str(row.get("campaign_id", "")),
                "date_start": row.get("date_start"),
                "local_hour": int(label[:2]) if label else None,
                "spend": float(row.get("spend", 0) or 0),
                "impressions": int(row.get("impressions", 0) or 0),
                "clicks": int(row.get("clicks", 0) or 0),
                "conversions": _action_total(row.get("actions"), purchase_types),
                "revenue": _action_total(row.get("action_values"), purchase_types),
            }
        )
    frame = pd.DataFrame(records, columns=INSIGHT_COLUMNS)
    frame["spend"] = np.rint(frame["spend"].astype(float) * offset).astype("int64")
    frame["revenue"] = np.rint(frame["revenue"].astype(float) * offset).astype("int64")
    frame["conversions"] = np.rint(frame["conversions"].astype(float)).astype("int64")
    frame["impressions"] = frame["impressions"].astype("int64")
    frame["clicks"] = frame["clicks"].astype("int64")
    frame["local_hour"] = frame["local_hour"].astype("Int64")
    return frame


def per_holder(adset_insights: pd.DataFrame, holders: pd.DataFrame) -> pd.DataFrame:
    """Ad-set insights summed to budget holders: a CBO campaign's ad sets add up to it."""
    cbo = set(holders.loc[holders["level"] == "campaign", "entity_id"])
    frame = adset_insights.copy()
    frame["entity_id"] = np.where(frame["campaign_id"].isin(cbo), frame["campaign_id"], frame["adset_id"])
    frame = frame[frame["entity_id"].isin(set(holders["entity_id"]))]
    keys = ["entity_id", "date_start"] + (["local_hour"] if frame["local_hour"].notna().any() else [])
    metrics = ["spend", "impressions", "clicks", "conversions", "revenue"]
    return frame.groupby(keys, as_index=False, dropna=False)[metrics].sum()
