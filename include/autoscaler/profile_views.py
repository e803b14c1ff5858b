"""What people see of a profile: the hour-by-hour report and the recommended budget schedule.

Money in major units with the currency beside it, ROAS as a multiple, shares as percents;
the CLI prints these and the API will serve them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from autoscaler.money import to_major
from autoscaler.profiles import Profile, schedule
from autoscaler.rules import ScalingRule
from autoscaler.store.profiles import get_profile
from autoscaler.store.rules import list_rules


class ProfileNotFoundError(LookupError):
    """No profile for the entity (unknown, or not learned yet)."""


@dataclass(frozen=True)
class EntityProfile:
    profile: Profile
    account_id: str
    currency: str
    timezone: str
    campaign_id: str
    base_daily_budget: int | None
    window_start: datetime
    window_end: datetime
    computed_at: datetime


def load(conn: Connection, entity_id: str) -> EntityProfile:
    found = get_profile(conn, entity_id)
    if found is None:
        raise ProfileNotFoundError(
            f"no optimal-hour profile for {entity_id}: unknown entity, or profiles not learned yet "
            "(autoscaler profiles learn)"
        )
    profile, meta = found
    row = conn.execute(
        text(
            """
            SELECT a.currency, a.timezone_name, h.campaign_id, coalesce(h.base_daily_budget, h.daily_budget) AS base
              FROM autoscaler.budget_holders h JOIN autoscaler.ad_accounts a USING (account_id)
             WHERE h.entity_id = :e
            """
        ),
        {"e": entity_id},
    ).one()
    return EntityProfile(
        profile=profile,
        account_id=meta["account_id"],
        currency=row.currency,
        timezone=row.timezone_name,
        campaign_id=row.campaign_id,
        base_daily_budget=row.base,
        window_start=meta["window_start"],
        window_end=meta["window_end"],
        computed_at=meta["computed_at"],
    )


def report(entity: EntityProfile) -> dict[str, Any]:
    """The hour-by-hour table (local hours of the account)."""
    p = entity.profile
    total = sum(p.hour_spend) or 1
    hours = [
        {
            "local_hour": h,
            "spend": str(to_major(p.hour_spend[h], entity.currency)),
            "revenue": str(to_major(p.hour_revenue[h], entity.currency)),
            "conversions": p.hour_conversions[h],
            "spend_share_pct": round(100 * p.hour_spend[h] / total, 1),
            "roas": round(p.hour_roas[h], 2),
            "index": p.hour_index[h],
            "multiplier": p.hour_multiplier[h],
            "mark": "peak" if h in p.peak_hours else "valley" if h in p.valley_hours else "",
        }
        for h in range(24)
    ]
    return {
        "entity_id": p.entity_id,
        "account_id": entity.account_id,
        "currency": entity.currency,
        "timezone": entity.timezone,
        "window_start": entity.window_start.isoformat(),
        "window_end": entity.window_end.isoformat(),
        "computed_at": entity.computed_at.isoformat(),
        "days_observed": p.days_observed,
        "total_spend": str(to_major(p.total_spend, entity.currency)),
        "total_revenue": str(to_major(p.total_revenue, entity.currency)),
        "total_conversions": p.total_conversions,
        "peak_hours": p.peak_hours,
        "valley_hours": p.valley_hours,
        "confidence": p.confidence,
        "hours": hours,
    }


def rule_for(rules: list[ScalingRule], entity_id: str, campaign_id: str) -> ScalingRule | None:
    """The entity's most specific enabled rule: ad set, then campaign, then account."""
    enabled = [r for r in rules if r.enabled]
    for level, target in (("adset", entity_id), ("campaign", campaign_id), ("account", None)):
        for rule in enabled:
            if rule.scope_level == level and rule.scope_entity_id == target:
                return rule
    return None


def recommended_schedule(conn: Connection, entity: EntityProfile) -> dict[str, Any]:
    """The 24-hour budget schedule the profile recommends under the entity's rule."""
    rule = rule_for(
        list_rules(conn, entity.account_id, enabled_only=True), entity.profile.entity_id, entity.campaign_id
    )
    low, high = (rule.time_multiplier_min, rule.time_multiplier_max) if rule else (0.5, 1.5)
    applies = bool(
        rule and rule.time_optimization_enabled and entity.profile.confidence >= rule.time_min_confidence
    )
    base = entity.base_daily_budget
    plan = schedule(entity.profile, base, low, high) if base else []
    return {
        "entity_id": entity.profile.entity_id,
        "currency": entity.currency,
        "timezone": entity.timezone,
        "base_daily_budget": str(to_major(base, entity.currency)) if base else None,
        "multiplier_bounds": [low, high],
        "confidence": entity.profile.confidence,
        "min_confidence": rule.time_min_confidence if rule else None,
        "time_optimization_enabled": bool(rule and rule.time_optimization_enabled),
        "applies": applies,
        "why": (
            "the rule enables time optimization and the profile is confident enough"
            if applies
            else "no enabled rule covers the entity"
            if rule is None
            else "time optimization is off in the entity's rule"
            if not rule.time_optimization_enabled
            else f"confidence {entity.profile.confidence:.2f} is below the rule's {rule.time_min_confidence:.2f}"
        ),
        "hours": [
            {"local_hour": h, "multiplier": m, "daily_budget": str(to_major(b, entity.currency))}
            for h, m, b in plan
        ],
    }


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain text table for terminals."""
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    lines = ["  ".join(c.rjust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r[c]).rjust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)
