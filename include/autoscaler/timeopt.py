"""Time of day in the hourly run: the budget for the hour now running, from a base that never compounds.

Pure, over the account's decided frame.  For an entity under time optimisation (its rule
enables it and its profile is confident enough, or it still has a base from earlier):

* the performance decision was taken on the **base** budget, so scaling moves the base;
* the budget Meta should hold for the local hour now running is
  ``round(base x clip(multiplier, rule's min, max))``, clamped to the rule's min/max budget;
  at local midnight (hour 0) that goal is the base itself: each local day heads back to it;
* what Meta holds moves by at most TIME_STEP an hour toward that goal, a performance change
  included (Meta may restart learning after an edit of about 20%): a big swing takes a few
  hours, and the base moves at once;
* a performance change carries that target as what it writes, with the new base beside it;
  otherwise a differing target becomes a ``time_adjust`` (or, back to the base,
  ``time_restore``) action that keeps the base.
One write per entity per hour at most, so Meta's limit of four budget changes per entity per
hour is never approached; locked, inactive and uncovered entities and pauses are left alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from autoscaler.money import format_money

BUDGET_ACTIONS = ("scale_up_aggressive", "scale_up", "scale_down")
# Meta treats a budget edit of roughly 20% or more as significant and may restart the ad
# set's learning: an hour's time adjustment moves what Meta holds by at most this much, and
# a larger swing is reached over the following hours (the allocator's max_step default too).
TIME_STEP = 0.15


def plan_hour(decided: pd.DataFrame) -> pd.DataFrame:
    """Add the hour's time-of-day plan to policy.decide's output.

    Input columns besides decide's: ``held`` (what Meta holds now), ``base`` (the stored base,
    NA if none), ``applies`` (rule on and profile confident), ``multiplier`` (the profile's
    for the local hour now running; NaN without a profile), ``local_hour``.  decide must have
    run with ``daily_budget`` = base for managed entities (``base_now`` below).

    Adds: ``managed``, ``base_now``, ``base_new``, ``target``, ``time_action`` ('' or
    time_adjust / time_restore) and ``time_factor``.
    """
    out = decided.copy()
    held = out["held"].to_numpy(dtype=np.int64)
    base = out["base"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    applies = out["applies"].to_numpy(dtype=bool)
    managed = applies | ~np.isnan(base)
    base_now = np.where(np.isnan(base), held, base).astype(np.int64)
    action = out["action"].astype(str).to_numpy()
    resized = np.isin(action, BUDGET_ACTIONS)
    base_new = np.where(resized, out["new_daily_budget"].to_numpy(dtype=np.int64), base_now)

    multiplier = out["multiplier"].to_numpy(dtype=float, na_value=np.nan)
    low = out["time_multiplier_min"].to_numpy(dtype=float, na_value=1.0)
    high = out["time_multiplier_max"].to_numpy(dtype=float, na_value=1.0)
    midnight = out["local_hour"].to_numpy(dtype=np.int64) == 0
    factor = np.where(applies & ~np.isnan(multiplier) & ~midnight, np.clip(multiplier, low, high), 1.0)
    factor = np.where(np.isnan(factor), 1.0, factor)
    target = np.floor(base_new * factor + 0.5)
    target = np.clip(
        target,
        out["min_daily_budget"].to_numpy(dtype=float, na_value=1.0),
        out["max_daily_budget"].to_numpy(dtype=float, na_value=np.inf),
    ).astype(np.int64)

    # What Meta holds walks toward the goal in steps Meta does not count as significant, a
    # performance change included: its base moves at once, the budget over the next hours.
    goal = target
    # (The 1e-6 keeps 23,000 x 1.15 = 26,450 from flooring to 26,449 in binary floating point.)
    lowest, highest = np.ceil(held * (1 - TIME_STEP) - 1e-6), np.floor(held * (1 + TIME_STEP) + 1e-6)
    walked = np.clip(goal, lowest, highest)
    # The rule's limits are hard: a holder Meta holds outside them is brought inside at once.
    target = np.clip(
        walked,
        out["min_daily_budget"].to_numpy(dtype=float, na_value=1.0),
        out["max_daily_budget"].to_numpy(dtype=float, na_value=np.inf),
    ).astype(np.int64)

    active = out["status"].astype(str).to_numpy() == "ACTIVE" if "status" in out else np.ones(len(out), bool)
    locked = out["locked"].fillna(False).to_numpy(dtype=bool) if "locked" in out else np.zeros(len(out), bool)
    # An entity no enabled rule covers any more is left as it is, base and all.
    covered = out["rule_id"].notna().to_numpy() if "rule_id" in out else np.ones(len(out), bool)
    eligible = managed & covered & active & ~locked & (action != "pause")
    time_action = np.where(
        eligible & ~resized & (target != held), np.where(factor == 1.0, "time_restore", "time_adjust"), ""
    )
    return out.assign(
        managed=managed & eligible,
        base_now=base_now,
        base_new=base_new,
        target=np.where(eligible, target, out["new_daily_budget"].to_numpy(dtype=np.int64)),
        time_action=time_action,
        time_factor=factor,
        time_goal=np.where(eligible, goal, out["new_daily_budget"].to_numpy(dtype=np.int64)),
    )


def time_reasoning(row: pd.Series, currency: str) -> str:
    """One sentence for a time_adjust or time_restore action."""
    held, target, base = (format_money(int(row[k]), currency) for k in ("held", "target", "base_now"))
    goal = int(row.get("time_goal", row["target"]))
    # Why the write stops short of where the hour wants the budget.
    walking = f", at most {TIME_STEP:.0%} an hour (Meta may restart learning after a larger edit)"
    hour = int(row["local_hour"])
    if row["time_action"] == "time_restore":
        why = "local midnight" if hour == 0 else "no confident profile under time optimisation now"
        if int(row["target"]) == goal:
            return f"Time of day: {why}, budget back to its base {base}/day (was {held}/day)"
        return (
            f"Time of day: {why}, budget {held}/day -> {target}/day, back toward its base {base}/day{walking}"
        )
    kind = (
        "a peak hour" if row["time_factor"] > 1 else "a valley hour" if row["time_factor"] < 1 else "an hour"
    )
    multiplier = f"base {base}/day x {row['time_factor']:.2f}"
    if int(row["target"]) == goal:
        return f"Time of day: {hour:02d}:00 local is {kind}: budget {held}/day -> {target}/day ({multiplier})"
    return (
        f"Time of day: {hour:02d}:00 local is {kind}: budget {held}/day -> {target}/day, "
        f"toward {format_money(goal, currency)}/day ({multiplier}){walking}"
    )
