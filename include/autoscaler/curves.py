"""An entity's fitted response curve, as `autoscaler curves` and the API show it.

Reads the account's holders, rules and last two weeks of snapshots, runs the allocator
exactly as the hourly decide step would (hourly.decision_frame), and returns the entity's
curve: its parameters with their interval, the current and target budgets, and points along
the curve with the posterior band.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from autoscaler.allocator import (
    CURVE_MULTIPLES,
    HISTORY_HOURS,
    AllocatorSettings,
    curve_points,
    delay_kernel_of,
    fit,
    targets,
)
from autoscaler.money import to_major
from autoscaler.policy import with_rules
from autoscaler.store.accounts import get_account
from autoscaler.store.rules import list_rules
from autoscaler.store.windows import holder_state, hourly_history


class CurveNotFoundError(LookupError):
    """An entity the audit store does not know, or one without history to fit."""


def entity_curve(conn: Connection, entity_id: str, now: datetime) -> dict[str, Any]:
    """The entity's curve as of ``now`` (money in major units of the account's currency)."""
    row = conn.execute(
        text("SELECT account_id FROM autoscaler.budget_holders WHERE entity_id = :e"), {"e": entity_id}
    ).one_or_none()
    if row is None:
        raise CurveNotFoundError(f"entity {entity_id}: no such budget holder in the audit store")
    account = get_account(conn, row.account_id)
    end = now.replace(minute=0, second=0, microsecond=0)
    state = holder_state(conn, account.account_id)
    state = state[state["daily_budget"].notna()]
    if entity_id not in set(state["entity_id"]):
        raise CurveNotFoundError(
            f"entity {entity_id}: it has no daily budget (a lifetime budget is not scaled)"
        )
    history = hourly_history(conn, account.account_id, end, HISTORY_HOURS)
    if history[history["entity_id"] == entity_id].empty:
        raise CurveNotFoundError(
            f"entity {entity_id}: no snapshots in the {HISTORY_HOURS // 24} days before {end.isoformat()}"
        )
    budgets = pd.Series(state["daily_budget"].to_numpy(dtype=float), index=state["entity_id"].astype(str))
    settings = AllocatorSettings()
    curves = fit(history, budgets, settings, delay_kernel_of(history))
    rules = list_rules(conn, account.account_id, enabled_only=True)
    if rules:  # the limits and goal of the rule that covers each holder
        ruled = with_rules(state, rules)
        low = ruled["min_daily_budget"].to_numpy(dtype=float, na_value=1.0)
        high = ruled["max_daily_budget"].to_numpy(dtype=float, na_value=np.inf)
        goal = ruled["target_marginal_roas"].to_numpy(dtype=float, na_value=settings.target_marginal_roas)
    else:
        low, high = np.full(len(curves), 1.0), np.full(len(curves), np.inf)
        goal = np.full(len(curves), settings.target_marginal_roas)
    planned = targets(curves, settings, low, high, goal=goal).set_index("entity_id")
    curve: dict[str, Any] = {str(k): v for k, v in planned.loc[entity_id].to_dict().items()}
    curve["entity_id"] = entity_id
    current = float(curve["budget"])
    grid = np.unique(np.round(current * np.asarray(CURVE_MULTIPLES)).astype(np.int64))
    points_records: list[dict[Any, Any]] = curve_points(curve, grid).to_dict("records")
    currency = account.currency

    def major(minor: float) -> str:
        return str(to_major(round(minor), currency))

    return {
        "entity_id": entity_id,
        "account_id": account.account_id,
        "currency": currency,
        "as_of": end.isoformat(),
        "history_hours": HISTORY_HOURS,
        "elasticity": round(float(curve["elasticity"]), 4),
        "elasticity_interval": [
            round(float(curve["elasticity"] - 2 * curve["elasticity_sd"]), 4),
            round(float(curve["elasticity"] + 2 * curve["elasticity_sd"]), 4),
        ],
        "roas_at_budget": round(float(curve["roas"]), 4),
        "marginal_roas": round(float(curve["marginal_roas"]), 4),
        "purchases": round(float(curve["purchases"]), 1),
        "current_budget": major(current),
        "target_budget": major(float(curve["target"])),
        "goal_marginal_roas": float(curve["goal"]),
        "changepoint": bool(curve["changepoint"]),
        "points": [
            {
                "budget": major(p["budget"]),
                "revenue": major(p["revenue"]),
                "revenue_low": major(p["revenue_low"]),
                "revenue_high": major(p["revenue_high"]),
                "roas": round(float(p["roas"]), 4),
                "marginal_roas": round(float(p["marginal_roas"]), 4),
            }
            for p in points_records
        ],
    }
