"""The scaling decision: a pure, vectorised function over a frame of an account's entities.

One row per budget holder with its trailing-window metrics and the settings of the rule that
applies to it (``with_rules`` resolves campaign- and ad-set-scoped overrides).  No database,
no network, no Airflow: the DAG, ``autoscaler evaluate`` and the backtest all call this.

The seed's rule, exactly (ROAS = revenue / spend, CTR = clicks / impressions):

* ROAS > roas_scale_up_aggressive and CTR > ctr_scale_up_aggressive -> scale_up_aggressive
* else ROAS > roas_scale_up                                          -> scale_up
* else roas_pause <= ROAS < roas_scale_down                          -> scale_down
* else ROAS < roas_pause                                             -> pause
* else                                                               -> maintain

Before it, no change for an entity that is locked, not active, without spend, or below
min_impressions / min_conversions.  Then the evidence a ROAS rests on (``evidence_z``; 0 is the
seed's rule): a ROAS from a few purchases is mostly noise, so a change needs the ROAS to clear
its threshold by ``evidence_z`` standard errors of the purchase count (Poisson: sqrt(n + 1)
purchases of the account's average order value).  A pause without that evidence may still be
a scale-down; anything else without it is held ("insufficient_evidence").  Backtested in
bench/backtest.py.  After it: cooldown and learning phase hold changes back; the new budget
is rounded to the minor unit and clamped to [min, max] (a change the clamp cancels or turns
around is no change); an account cap gives scale-up room to the highest ROAS first; big
changes (and pauses, if the rule says so) require approval.  Every row gets a reason code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from autoscaler.money import format_money
from autoscaler.rules import ScalingRule

# Rule settings the decision reads, copied onto each row by with_rules().
RULE_COLUMNS = (
    "rule_id",
    "roas_scale_up_aggressive",
    "roas_scale_up",
    "roas_scale_down",
    "roas_pause",
    "ctr_scale_up_aggressive",
    "multiplier_aggressive_up",
    "multiplier_up",
    "multiplier_down",
    "min_daily_budget",
    "max_daily_budget",
    "require_approval_threshold",
    "pause_requires_approval",
    "min_impressions",
    "min_conversions",
    "evidence_z",
    "cooldown_hours",
    "allow_changes_during_learning",
    "account_daily_budget_cap",
    "time_optimization_enabled",
    "time_min_confidence",
    "time_multiplier_min",
    "time_multiplier_max",
    "required_window_hours",
    "strategy",
    "target_marginal_roas",
    "allocator_daily_budget",
    "max_step",
    "pause_probability",
)
METRIC_COLUMNS = ("entity_id", "daily_budget", "spend", "revenue", "impressions", "clicks")
# Optional: conversions (0), status ("ACTIVE"), learning, locked (False), last_budget_change_at (never),
# order_value (the account's average, minor units; default: pooled over the frame).

ACTIONS = ("scale_up_aggressive", "scale_up", "scale_down", "pause", "maintain", "no_change")


class DecisionInputError(ValueError):
    """A frame the decision cannot run on, naming the column and rule."""


def with_rules(frame: pd.DataFrame, rules: Sequence[ScalingRule]) -> pd.DataFrame:
    """Attach to each entity the settings of its most specific enabled rule.

    An ad-set rule for the entity beats a campaign rule for its campaign, which beats the
    account rule.  Entities no rule covers get rule_id NA (and are left alone by decide).
    """
    enabled = [r for r in rules if r.enabled]
    out = frame.copy()
    chosen = pd.Series(-1, index=out.index, dtype="int64")
    by_scope = {(r.scope_level, r.scope_entity_id): i for i, r in enumerate(enabled)}
    account_rule = next((i for i, r in enumerate(enabled) if r.scope_level == "account"), -1)
    chosen[:] = account_rule
    campaign_ids = out["campaign_id"] if "campaign_id" in out else out["entity_id"]
    for (level, target), index in by_scope.items():
        if level == "campaign":
            chosen[(campaign_ids == target).to_numpy()] = index
    for (level, target), index in by_scope.items():
        if level == "adset":
            chosen[(out["entity_id"] == target).to_numpy()] = index
    table = pd.DataFrame(
        [{c: (r.rule_id if c == "rule_id" else getattr(r, c)) for c in RULE_COLUMNS} for r in enabled]
    )
    if table.empty:
        table = pd.DataFrame(columns=list(RULE_COLUMNS))
    # A setting every rule leaves unset (None) would make an object column, which decide()
    # converts value by value: make it numbers, NaN for unset (set ones stay integers).
    for column in ("require_approval_threshold", "account_daily_budget_cap", "allocator_daily_budget"):
        if table[column].dtype == object:
            table[column] = pd.to_numeric(table[column]).astype(float)
    picked = table.reindex(chosen.to_numpy()).reset_index(drop=True)
    picked.index = out.index
    for column in RULE_COLUMNS:
        out[column] = picked.get(column, np.nan)
    out["covered"] = (chosen >= 0).to_numpy()
    return out


# Integer codes inside (fast comparisons); categoricals with these names come out.
AGGRESSIVE, UP, DOWN, PAUSE, MAINTAIN, NO_CHANGE = range(6)
REASONS = (
    "roas_and_ctr_above_aggressive",
    "roas_above_scale_up",
    "roas_below_scale_down",
    "roas_below_pause",
    "roas_in_band",
    "clamped_to_limits",
    "cooldown",
    "learning_phase",
    "low_conversions",
    "low_impressions",
    "no_spend",
    "not_active",
    "locked",
    "no_rule",
    "account_cap",
    "account_cap_partial",
    "insufficient_evidence",
    # The allocator (allocator.py): a step toward where marginal ROAS meets the rule's goal.
    "marginal_roas_above_goal",
    "marginal_roas_below_goal",
    "likely_loss_at_minimum",
    "marginal_roas_at_goal",
    "short_window",
)
_REASON = {name: code for code, name in enumerate(REASONS)}
ACTION_DTYPE = pd.CategoricalDtype(list(ACTIONS))
REASON_DTYPE = pd.CategoricalDtype(list(REASONS))


# Rows decided at a time.  Each step of the rule makes a temporary array the size of its
# input; on whole columns of a large frame every one of them is fresh memory streamed through
# the caches (and, on a new allocation, page faults).  Blocks of this many rows keep the
# temporaries cache-sized; an account of a few thousand holders is one block.
BLOCK_ROWS = 1 << 14


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A numeric column as numbers (not yet floats), refusing text and negatives by name."""
    values = frame[column].to_numpy()
    if values.dtype.kind not in "iuf":
        coerced = pd.to_numeric(frame[column], errors="coerce")
        values = coerced.to_numpy(dtype=float, na_value=np.nan)
        if column != "daily_budget" and np.isnan(values).any():
            bad = frame["entity_id"].to_numpy()[np.flatnonzero(np.isnan(values))[0]]
            raise DecisionInputError(f"{column}: must be a number (entity {bad})")
    if (values < 0).any():
        bad = frame["entity_id"].to_numpy()[np.flatnonzero(values < 0)[0]]
        raise DecisionInputError(f"{column}: must not be negative (entity {bad})")
    return values


def _flag(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return frame[column].fillna(False).to_numpy(dtype=bool)


def _hours_since(frame: pd.DataFrame, now: pd.Timestamp) -> np.ndarray:
    """Hours since the last budget change (inf when never)."""
    if "last_budget_change_at" not in frame.columns:
        return np.full(len(frame), np.inf)
    stamps = pd.to_datetime(frame["last_budget_change_at"], utc=True).to_numpy(dtype="datetime64[ns]")
    hours = (
        np.datetime64(pd.Timestamp(now).tz_convert("UTC").tz_localize(None), "ns") - stamps
    ) / np.timedelta64(1, "h")
    return np.where(np.isnat(stamps), np.inf, hours)


def _setting(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A rule setting as numbers (NaN: unset); numeric columns as they are, without a copy."""
    values = frame[name].to_numpy()
    return values if values.dtype.kind in "iuf" else frame[name].to_numpy(dtype=float, na_value=np.nan)


# The rule settings the per-row steps read (the account cap and the approval threshold are
# applied to whole columns after the blocks).
_SETTINGS = (
    "roas_scale_up_aggressive",
    "ctr_scale_up_aggressive",
    "roas_scale_up",
    "roas_scale_down",
    "roas_pause",
    "multiplier_aggressive_up",
    "multiplier_up",
    "multiplier_down",
    "min_daily_budget",
    "max_daily_budget",
    "min_impressions",
    "min_conversions",
    "cooldown_hours",
)


def _inputs(frame: pd.DataFrame, now: pd.Timestamp) -> dict[str, np.ndarray]:
    n = len(frame)
    z = _setting(frame, "evidence_z") if "evidence_z" in frame.columns else np.zeros(n)
    return {
        "spend": _numbers(frame, "spend"),
        "revenue": _numbers(frame, "revenue"),
        "impressions": _numbers(frame, "impressions"),
        "clicks": _numbers(frame, "clicks"),
        "conversions": _numbers(frame, "conversions") if "conversions" in frame.columns else np.zeros(n),
        "budget": _numbers(frame, "daily_budget"),
        "status": frame["status"].to_numpy()
        if "status" in frame.columns
        else np.full(n, "ACTIVE", dtype=object),
        "covered": _flag(frame, "covered") if "covered" in frame.columns else np.ones(n, dtype=bool),
        "locked": _flag(frame, "locked"),
        "learning_held": _flag(frame, "learning")
        & ~frame["allow_changes_during_learning"].fillna(False).to_numpy(dtype=bool),
        "hours_since_change": _hours_since(frame, now),
        "evidence_z": z,
        "order_value": order_value(frame),
        # The allocator's proposal where a rule's strategy is allocator (NaN elsewhere).
        "allocator_budget": frame["allocator_budget"].to_numpy(dtype=float, na_value=np.nan)
        if "allocator_budget" in frame.columns
        else np.full(n, np.nan),
        "allocator_pause": _flag(frame, "allocator_pause"),
        # Hours of data in the entity's window (trailing_window's count); unknown: a full one.
        "window_hours": _numbers(frame, "hours") if "hours" in frame.columns else np.full(n, np.inf),
        "required_window_hours": _setting(frame, "required_window_hours"),
        **{name: _setting(frame, name) for name in _SETTINGS},
    }


def decide(frame: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """One decision per row: action, reason, new budget and status, approval, ROAS and CTR.

    Money columns are integers in minor units.  Returns the input columns plus ``roas``,
    ``ctr``, ``action``, ``reason`` (categoricals), ``new_daily_budget``, ``new_status``,
    ``requires_approval``.  The input frame is not modified.
    """
    missing = [c for c in (*METRIC_COLUMNS, *RULE_COLUMNS) if c not in frame.columns]
    if missing:
        raise DecisionInputError(f"missing columns: {', '.join(missing)}")
    n = len(frame)
    inputs = _inputs(frame, now)
    decided: dict[str, np.ndarray] = {
        "roas": np.empty(n),
        "ctr": np.empty(n),
        "action": np.empty(n, dtype=np.int8),
        "reason": np.empty(n, dtype=np.int8),
        "new_budget": np.empty(n),
        "active": np.empty(n, dtype=bool),
    }
    for start in range(0, n, BLOCK_ROWS):
        block = slice(start, start + BLOCK_ROWS)
        for name, values in _decide_block({k: v[block] for k, v in inputs.items()}).items():
            decided[name][block] = values
    action, reason, new_budget, roas = (
        decided["action"],
        decided["reason"],
        decided["new_budget"],
        decided["roas"],
    )
    budget = inputs["budget"]

    # The account cap weighs every scale-up of the account against the others: whole columns.
    caps = _setting(frame, "account_daily_budget_cap").astype(float, copy=False)
    if not np.isnan(caps).all():
        _apply_account_cap(action, reason, new_budget, budget, roas, caps, decided["active"])

    threshold = _setting(frame, "require_approval_threshold")
    resized = action <= DOWN
    requires_approval = (resized & (new_budget > np.where(np.isnan(threshold), np.inf, threshold))) | (
        (action == PAUSE) & frame["pause_requires_approval"].fillna(False).to_numpy(dtype=bool)
    )
    return frame.assign(
        roas=roas,
        ctr=decided["ctr"],
        action=pd.Categorical.from_codes(action, dtype=ACTION_DTYPE, validate=False),
        reason=pd.Categorical.from_codes(reason, dtype=REASON_DTYPE, validate=False),
        new_daily_budget=new_budget.astype(np.int64),
        # Series.where keeps the column's string dtype: a new object array would be re-checked
        # value by value.
        new_status=(
            frame["status"] if "status" in frame.columns else pd.Series("ACTIVE", index=frame.index)
        ).where(action != PAUSE, "PAUSED"),
        requires_approval=requires_approval,
        daily_budget=budget.astype(np.int64),
    )


def _decide_block(x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The rule for one block of rows (whole arrays of the same length): every step but the cap."""
    n = len(x["spend"])
    spend, revenue = x["spend"].astype(float), x["revenue"].astype(float)
    impressions, clicks = x["impressions"].astype(float), x["clicks"].astype(float)
    conversions, budget = x["conversions"].astype(float), x["budget"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        roas = np.where(spend > 0, revenue / spend, np.nan)
        ctr = np.where(impressions > 0, clicks / impressions, 0.0)

    # The seed's classification (comparisons with NaN are false: no spend means maintain here,
    # and the no_spend hold below records why nothing changes).
    aggressive = (roas > x["roas_scale_up_aggressive"]) & (ctr > x["ctr_scale_up_aggressive"])
    up = ~aggressive & (roas > x["roas_scale_up"])
    down = (roas >= x["roas_pause"]) & (roas < x["roas_scale_down"])
    pause = roas < x["roas_pause"]
    action = np.full(n, MAINTAIN, dtype=np.int8)
    action[pause], action[down], action[up], action[aggressive] = PAUSE, DOWN, UP, AGGRESSIVE
    reason = action.copy()  # the classification reasons share the first five codes
    action, weak = _weigh_evidence(x, action, spend, revenue, conversions)

    multiplier = np.ones(n)
    multiplier = np.where(action == AGGRESSIVE, x["multiplier_aggressive_up"], multiplier)
    multiplier = np.where(action == UP, x["multiplier_up"], multiplier)
    multiplier = np.where(action == DOWN, x["multiplier_down"], multiplier)
    proposed = budget * multiplier
    # Rows the allocator decided: its step (or pause) replaces the thresholds, and the
    # posterior has already weighed the evidence; every hold below still applies.
    allocated = ~np.isnan(x["allocator_budget"])
    if allocated.any():
        step = x["allocator_budget"]
        classes = np.select(
            [x["allocator_pause"], step > budget, step < budget], [PAUSE, UP, DOWN], default=MAINTAIN
        ).astype(np.int8)
        codes = np.select(
            [x["allocator_pause"], step > budget, step < budget],
            [
                _REASON["likely_loss_at_minimum"],
                _REASON["marginal_roas_above_goal"],
                _REASON["marginal_roas_below_goal"],
            ],
            default=_REASON["marginal_roas_at_goal"],
        ).astype(np.int8)
        action = np.where(allocated, classes, action).astype(np.int8)
        reason = np.where(allocated, codes, reason).astype(np.int8)
        weak = weak & ~allocated
        proposed = np.where(allocated, step, proposed)
    resizing = action <= DOWN
    # Round half up to the minor unit (budgets are integers of it), then clamp.
    clamped = np.clip(np.floor(proposed + 0.5), x["min_daily_budget"], x["max_daily_budget"])
    new_budget = np.where(resizing, clamped, budget)

    # Holds, each judged against the classification; the first that applies in this order is
    # the reason recorded (no_rule, locked, ..., clamped_to_limits): the most basic wins.
    changing = action <= PAUSE
    active = x["status"] == "ACTIVE"
    holds = (
        (~x["covered"], "no_rule"),
        (x["locked"], "locked"),
        (~active, "not_active"),
        (x["window_hours"] < x["required_window_hours"], "short_window"),
        (spend <= 0, "no_spend"),
        (impressions < x["min_impressions"], "low_impressions"),
        (conversions < x["min_conversions"], "low_conversions"),
        (weak, "insufficient_evidence"),
        (x["learning_held"] & changing, "learning_phase"),
        ((x["hours_since_change"] < x["cooldown_hours"]) & changing, "cooldown"),
        # A budget already beyond a limit (set by hand, or the limit moved) is clamped back
        # towards it; a scale-up must not lower it, nor a scale-down raise it.
        (
            resizing & np.where(action == DOWN, new_budget >= budget, new_budget <= budget),
            "clamped_to_limits",
        ),
    )
    # One pass instead of a masked assignment per hold.
    held = np.select([mask for mask, _ in holds], [_REASON[code] for _, code in holds], default=-1)
    is_held = held >= 0
    action = np.where(is_held, NO_CHANGE, action).astype(np.int8)
    return {
        "roas": roas,
        "ctr": ctr,
        "action": action,
        "reason": np.where(is_held, held, reason).astype(np.int8),
        "new_budget": np.where(action <= DOWN, new_budget, budget),
        "active": np.asarray(active, dtype=bool),
    }


def order_value(frame: pd.DataFrame) -> np.ndarray:
    """The average order value each row's evidence is measured in (minor units; NaN: unknown)."""
    if "order_value" in frame.columns:
        return frame["order_value"].to_numpy(dtype=float, na_value=np.nan)
    conversions = float(pd.to_numeric(frame.get("conversions", pd.Series(dtype=float))).sum())
    revenue = float(pd.to_numeric(frame["revenue"]).sum())
    return np.full(len(frame), revenue / conversions if conversions > 0 else np.nan)


def _weigh_evidence(
    x: dict[str, np.ndarray],
    action: np.ndarray,
    spend: np.ndarray,
    revenue: np.ndarray,
    conversions: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(actions the evidence supports, rows held for want of it).  See the module docstring."""
    z = np.where(np.isnan(x["evidence_z"]), 0.0, x["evidence_z"])
    # Revenue that z standard errors of the purchase count are worth; unknown order value
    # (no purchase in the whole frame) means no evidence at all when z > 0.
    margin = np.where(z > 0, z * np.sqrt(conversions + 1.0) * x["order_value"], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(spend > 0, (revenue - margin) / spend, np.nan)
        high = np.where(spend > 0, (revenue + margin) / spend, np.nan)
    sure_aggressive = low > x["roas_scale_up_aggressive"]
    sure_up = low > x["roas_scale_up"]
    sure_pause = high < x["roas_pause"]
    sure_down = high < x["roas_scale_down"]
    out = action.copy()
    out[(action == AGGRESSIVE) & ~sure_aggressive & sure_up] = UP
    out[(action == PAUSE) & ~sure_pause & sure_down] = DOWN
    weak = (
        ((action == AGGRESSIVE) & ~sure_up)
        | ((action == UP) & ~sure_up)
        | ((action == PAUSE) & ~sure_down)
        | ((action == DOWN) & ~sure_down)
    )
    return out, weak


def _apply_account_cap(
    action: np.ndarray,
    reason: np.ndarray,
    new_budget: np.ndarray,
    budget: np.ndarray,
    roas: np.ndarray,
    caps: np.ndarray,
    active: np.ndarray,
) -> None:
    """Give the room under each account cap to the highest-ROAS scale-ups first (in place)."""
    ups = action <= UP
    for cap in np.unique(caps[~np.isnan(caps)]):
        group = caps == cap
        committed = new_budget[active & group & ~ups].sum() + budget[ups & group].sum()
        room = cap - committed
        members = np.flatnonzero(ups & group)
        for i in members[np.argsort(-roas[members], kind="stable")]:
            wanted = new_budget[i] - budget[i]
            if room >= wanted:
                room -= wanted
            elif room > 0:
                new_budget[i] = budget[i] + room
                reason[i] = _REASON["account_cap_partial"]
                room = 0
            else:
                action[i], reason[i], new_budget[i] = NO_CHANGE, _REASON["account_cap"], budget[i]


def _x(value: float) -> str:
    return f"{value:.1f}x"


def _pct(value: float) -> str:
    return f"{value * 100:g}%"


def reasoning(row: Any, currency: str) -> str:
    """The sentence for one decision, e.g. 'Exceptional performance: ROAS 4.20x (>4.0x) and CTR 3.50% (>3%)'."""
    r = row
    texts: dict[str, Any] = {
        "roas_and_ctr_above_aggressive": lambda: (
            f"Exceptional performance: ROAS {r.roas:.2f}x (>{_x(r.roas_scale_up_aggressive)}) "
            f"and CTR {r.ctr * 100:.2f}% (>{_pct(r.ctr_scale_up_aggressive)})"
            + (
                ""
                if str(getattr(r, "action", "scale_up_aggressive")) == "scale_up_aggressive"
                else f", on too few conversions ({int(getattr(r, 'conversions', 0))}) for more than a normal scale-up"
            )
        ),
        "roas_above_scale_up": lambda: f"Strong performance: ROAS {r.roas:.2f}x (>{_x(r.roas_scale_up)})",
        "roas_below_scale_down": lambda: (
            f"Weak performance: ROAS {r.roas:.2f}x (between {_x(r.roas_pause)} and {_x(r.roas_scale_down)})"
        ),
        "roas_below_pause": lambda: (
            f"Losing money: ROAS {r.roas:.2f}x (<{_x(r.roas_pause)}), pausing"
            if str(getattr(r, "action", "pause")) == "pause"
            else f"Losing money: ROAS {r.roas:.2f}x (<{_x(r.roas_pause)}), but on too few conversions "
            f"({int(getattr(r, 'conversions', 0))}) to pause: scaling down"
        ),
        "roas_in_band": lambda: (
            f"Holding: ROAS {r.roas:.2f}x is within {_x(r.roas_scale_down)}-{_x(r.roas_scale_up)}"
        ),
        "clamped_to_limits": lambda: (
            f"No change: the budget is already at or beyond the rule's limit ({format_money(int(r.daily_budget), currency)})"
        ),
        "cooldown": lambda: f"No change: budget changed less than {int(r.cooldown_hours)}h ago",
        "learning_phase": lambda: "No change: the entity is in Meta's learning phase",
        "low_conversions": lambda: (
            f"No change: {int(getattr(r, 'conversions', 0))} conversions, fewer than {int(r.min_conversions)}"
        ),
        "low_impressions": lambda: (
            f"No change: {int(r.impressions):,} impressions, fewer than {int(r.min_impressions):,}"
        ),
        "no_spend": lambda: "No change: no spend in the window",
        "short_window": lambda: (
            f"No change: the window holds {int(getattr(r, 'hours', 0))} hours of data, fewer than the "
            f"{int(r.required_window_hours)} the rule acts on (fill it first: a backfill, or hours in shadow mode)"
        ),
        "not_active": lambda: f"No change: the entity is {getattr(r, 'status', 'not active')}",
        "locked": lambda: "No change: locked by an operator",
        "no_rule": lambda: "No change: no enabled rule covers this entity",
        "account_cap": lambda: "No change: the account's daily budget cap leaves no room (higher ROAS first)",
        "insufficient_evidence": lambda: (
            f"No change: ROAS {r.roas:.2f}x rests on {int(getattr(r, 'conversions', 0))} conversions, "
            f"too few to act on (evidence_z {float(r.evidence_z):g})"
        ),
        "account_cap_partial": lambda: (
            f"Partly scaled: ROAS {r.roas:.2f}x, limited by the account's daily budget cap"
        ),
        "marginal_roas_above_goal": lambda: _allocator_sentence(r, currency),
        "marginal_roas_below_goal": lambda: _allocator_sentence(r, currency),
        "marginal_roas_at_goal": lambda: _allocator_sentence(r, currency),
        "likely_loss_at_minimum": lambda: (
            f"Losing money: even at {format_money(int(r.min_daily_budget), currency)}/day ROAS would be below 1.0x "
            f"with probability {float(r.loss_probability):.0%} ({_curve(r)}), pausing"
        ),
    }
    text: str = texts[str(r.reason)]()
    return text


def _curve(r: Any) -> str:
    return (
        f"elasticity {float(r.elasticity):.2f} ± {float(r.elasticity_sd):.2f} "
        f"from {float(r.curve_purchases):,.0f} purchases"
    )


def _allocator_sentence(r: Any, currency: str) -> str:
    """'marginal ROAS 1.8x at $200.00/day (elasticity 0.62 ± 0.08 from 312 purchases); toward
    $265.00/day where it reaches 1.0x; step +15%'."""
    budget = int(r.daily_budget)
    head = (
        f"marginal ROAS {float(r.marginal_roas):.2f}x at {format_money(budget, currency)}/day ({_curve(r)}); "
        f"toward {format_money(int(r.curve_target), currency)}/day where it reaches {float(r.goal):.2f}x"
    )
    new = int(getattr(r, "new_daily_budget", budget))
    if str(r.reason) == "marginal_roas_at_goal" or new == budget:
        return head + "; holding"
    return head + f"; step {100.0 * (new - budget) / budget:+.0f}%"


def _row_precondition(row: dict[str, Any]) -> str | None:
    if not row.get("covered", True):
        return "no_rule"
    if row.get("locked"):
        return "locked"
    if row.get("status", "ACTIVE") != "ACTIVE":
        return "not_active"
    if float(row.get("hours", math.inf)) < float(row["required_window_hours"]):
        return "short_window"
    if float(row["spend"]) <= 0:
        return "no_spend"
    if float(row["impressions"]) < row["min_impressions"]:
        return "low_impressions"
    if float(row.get("conversions", 0)) < row["min_conversions"]:
        return "low_conversions"
    return None


def _row_classify(row: dict[str, Any]) -> tuple[str, str, float]:
    spend, revenue = float(row["spend"]), float(row["revenue"])
    roas = revenue / spend
    impressions = float(row["impressions"])
    ctr = float(row["clicks"]) / impressions if impressions else 0.0
    if roas > row["roas_scale_up_aggressive"] and ctr > row["ctr_scale_up_aggressive"]:
        found = ("scale_up_aggressive", "roas_and_ctr_above_aggressive", row["multiplier_aggressive_up"])
    elif roas > row["roas_scale_up"]:
        found = ("scale_up", "roas_above_scale_up", row["multiplier_up"])
    elif row["roas_pause"] <= roas < row["roas_scale_down"]:
        found = ("scale_down", "roas_below_scale_down", row["multiplier_down"])
    elif roas < row["roas_pause"]:
        found = ("pause", "roas_below_pause", 1.0)
    else:
        return "maintain", "roas_in_band", 1.0
    return _row_weigh_evidence(row, *found)


def _row_weigh_evidence(
    row: dict[str, Any], action: str, reason: str, multiplier: float
) -> tuple[str, str, float]:
    spend, revenue = float(row["spend"]), float(row["revenue"])
    z = float(row.get("evidence_z", 0.0) or 0.0)
    margin = (
        z * math.sqrt(float(row.get("conversions", 0)) + 1.0) * float(row.get("order_value", math.nan))
        if z > 0
        else 0.0
    )
    low, high = (revenue - margin) / spend, (revenue + margin) / spend  # NaN margin: no evidence
    sure = {
        "scale_up_aggressive": low > row["roas_scale_up_aggressive"],
        "scale_up": low > row["roas_scale_up"],
        "scale_down": high < row["roas_scale_down"],
        "pause": high < row["roas_pause"],
    }
    if sure[action]:
        return action, reason, multiplier
    weaker = {
        "scale_up_aggressive": ("scale_up", "multiplier_up"),
        "pause": ("scale_down", "multiplier_down"),
    }
    if action in weaker and sure[weaker[action][0]]:
        return weaker[action][0], reason, row[weaker[action][1]]
    return "no_change", "insufficient_evidence", 1.0


def decide_row(row: dict[str, Any], now: pd.Timestamp) -> tuple[str, str, int]:
    """The same rule one entity at a time (the benchmark's comparison; no account cap)."""
    budget = float(row["daily_budget"])
    held = _row_precondition(row)
    if held:
        return "no_change", held, int(budget)
    action, reason, multiplier = _row_classify(row)
    if action in ("maintain", "no_change"):
        return action, reason, int(budget)
    if row.get("learning") and not row["allow_changes_during_learning"]:
        return "no_change", "learning_phase", int(budget)
    last = row.get("last_budget_change_at")
    if (
        last is not None
        and not pd.isna(last)
        and (now - pd.Timestamp(last)).total_seconds() / 3600 < row["cooldown_hours"]
    ):
        return "no_change", "cooldown", int(budget)
    if action == "pause":
        return action, reason, int(budget)
    new = min(
        max(float(np.floor(budget * multiplier + 0.5)), row["min_daily_budget"]), row["max_daily_budget"]
    )
    if (new >= budget) if action == "scale_down" else (new <= budget):
        return "no_change", "clamped_to_limits", int(budget)
    return action, reason, int(new)
