"""Backtest: run a policy against the simulator hour by hour and count what it earned.

The simulator knows each budget holder's true return curve (ROAS at its starting budget,
diminishing returns on budget, the learning phase a big edit restarts); a policy sees only
what Meta would report (its rule's trailing window, purchases reported late) and decides through
the same ``policy.decide`` as the hourly DAG.  Every change is applied at once, as if
approved; writes take effect from the next hour, as on Meta.

Policies:

* ``static``: budgets never change (the floor);
* ``seed``: the seed's rule literally: its thresholds and multipliers on raw 24-hour ROAS,
  no cooldown, no regard for the learning phase or for how many purchases a ROAS rests on;
* ``default``: this project's default rule (``rules.ScalingRule`` defaults);
* ``oracle``: knows every true curve and sets each budget once to its profit-maximising
  value within the same limits, pausing what loses money even at the lowest budget allowed.

Money is summed in US dollars at the simulator's fixed rates (scenarios may mix currencies).
Wasted spend is spend in hours when the entity's true return at its budget then was below 1x.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from autoscaler.money import currency_offset
from autoscaler.policy import decide, with_rules
from autoscaler.rules import ScalingRule
from autoscaler.sandbox.scenario import Scenario
from autoscaler.sandbox.simulator import _USD_RATE, Simulator, SimulatorError

POLICIES = ("static", "seed", "default", "oracle")
RESIZES = ("scale_up_aggressive", "scale_up", "scale_down")


@dataclass(frozen=True)
class BacktestResult:
    scenario: str
    policy: str
    seed: int
    days: int
    holders: int
    spend: float  # USD
    revenue: float  # USD, every purchase the period's spend caused, however late reported
    wasted_spend: float  # USD
    changes: int  # budget and status writes
    refused: int  # writes Meta refused (budget limits, 4 changes an hour)

    @property
    def roas(self) -> float:
        return self.revenue / self.spend if self.spend else math.nan

    @property
    def profit(self) -> float:
        return self.revenue - self.spend

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "roas": round(self.roas, 4), "profit": round(self.profit, 2)}


def limits(sim: Simulator) -> dict[int, tuple[int, int]]:
    """Each account's budget limits (minor units): a quarter of its smallest starting budget
    to three times its largest, as `autoscaler demo` sizes its default rules."""
    out = {}
    for account in sim.accounts:
        budgets = sim.budget[sim.holder_account == account.index]
        if len(budgets):
            floor = round(sim.scenario.minimum_daily_budget * currency_offset(account.currency))
            out[account.index] = (max(int(budgets.min()) // 4, floor), int(budgets.max()) * 3)
    return out


def rule_for(policy: str, account_id: str, low: int, high: int) -> ScalingRule:
    settings: dict[str, Any] = {
        "rule_id": 1,
        "account_id": account_id,
        "min_daily_budget": low,
        "max_daily_budget": high,
    }
    if policy == "seed":
        # The seed's rule: a 24 h window, no cooldown, no learning-phase hold, any ROAS.
        settings.update(
            lookback_hours=24,
            cooldown_hours=0,
            allow_changes_during_learning=True,
            min_conversions=0,
            evidence_z=0,
        )
    return ScalingRule.parse(settings)


def true_roas(sim: Simulator, budget: np.ndarray, hour: int) -> np.ndarray:
    """Each holder's expected ROAS at ``budget`` over a day (time-of-day effects average out)."""
    learning = sim.learning_until > hour
    penalty = np.where(learning, sim.scenario.learning_penalty, 1.0)
    roas: np.ndarray = sim.roas0 * np.power(np.maximum(budget, 1.0) / sim.base_budget, sim.elasticity - 1.0)
    return roas * penalty


def oracle_budgets(sim: Simulator, bounds: dict[int, tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(budget, keep active) maximising expected profit: revenue = roas0·base^(1-e)·b^e, so
    the best budget has marginal ROAS 1: b* = base·(e·roas0)^(1/(1-e)), within the limits."""
    e, roas0, base = sim.elasticity, sim.roas0, sim.base_budget
    best = base * np.power(e * roas0, 1.0 / (1.0 - e))
    low = np.asarray([bounds[a][0] for a in sim.holder_account], dtype=float)
    high = np.asarray([bounds[a][1] for a in sim.holder_account], dtype=float)
    budget = np.clip(np.round(best), low, high)
    roas_there = roas0 * np.power(budget / base, e - 1.0)
    return budget.astype(np.int64), roas_there >= 1.0


class _Books:
    """What the period spent and earned, in USD."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.to_usd = np.asarray(
            [
                1.0 / currency_offset(sim.accounts[a].currency) / _USD_RATE.get(sim.accounts[a].currency, 1.0)
                for a in sim.holder_account
            ]
        )
        self.spend = 0.0
        self.wasted = 0.0
        self.first_hour = sim.completed_hours

    def hour(self, k: int, budget: np.ndarray) -> None:
        spend = self.sim.spend[k] * self.to_usd
        self.spend += float(spend.sum())
        self.wasted += float(spend[true_roas(self.sim, budget, k) < 1.0].sum())

    def revenue(self) -> float:
        """Every purchase of the period's hours, including those Meta has not reported yet."""
        total = 0.0
        for k in range(self.first_hour, self.sim.completed_hours):
            final = self.sim.revenue_final[k]
            revenue = final if final is not None else self.sim._pending[k][1].sum(axis=1)
            total += float((revenue * self.to_usd).sum())
        return total


def _frame(sim: Simulator, k: int, last_change: np.ndarray, lookback: int) -> pd.DataFrame:
    """What the hourly run would see after hour k: the trailing window as reported now."""
    n = len(sim.holders)
    window = sim.delivery(range(k - lookback + 1, k + 1), np.arange(n))
    # Hours are counted from the simulator's origin; NaN: never changed.
    changed = pd.Timestamp(sim.origin) + pd.to_timedelta(last_change, unit="h")
    return pd.DataFrame(
        {
            "entity_id": [h.entity_id for h in sim.holders],
            "campaign_id": [h.campaign_id for h in sim.holders],
            "account_index": sim.holder_account,
            "daily_budget": sim.budget.copy(),
            "spend": window["spend"],
            "revenue": np.round(window["revenue"]).astype(np.int64),
            "impressions": window["impressions"],
            "clicks": window["clicks"],
            "conversions": window["conversions"],
            "status": np.where(sim.active, "ACTIVE", "PAUSED"),
            "learning": sim.learning_until > k + 1,
            "last_budget_change_at": changed,
        }
    )


def run(
    scenario: Scenario,
    *,
    days: int,
    seed: int,
    policy: str,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestResult:
    if policy not in POLICIES:
        raise ValueError(f"policy: one of {', '.join(POLICIES)}, not {policy!r}")
    if days < 1:
        raise ValueError(f"days: must be at least 1, got {days}")
    sim = Simulator(scenario, seed=seed)
    bounds = limits(sim)
    rules = {
        a.index: [rule_for(policy, a.account_id, *bounds[a.index])] for a in sim.accounts if a.index in bounds
    }
    books = _Books(sim)
    last_change = np.full(len(sim.holders), np.nan)
    changes = refused = 0
    if policy == "oracle":
        refused = _set_oracle_budgets(sim, bounds)
        changes = len(sim.history)
    hours = days * 24
    for step in range(hours):
        k = sim.completed_hours
        in_force = sim.budget.astype(float)
        sim.advance_to(sim.hour_start(k + 1))
        books.hour(k, in_force)
        if policy in ("seed", "default"):
            done, failed = _decide_and_write(sim, k, rules, last_change)
            changes += done
            refused += failed
        if progress is not None:
            progress(step + 1, hours)
    return BacktestResult(
        scenario=scenario.name,
        policy=policy,
        seed=seed,
        days=days,
        holders=len(sim.holders),
        spend=round(books.spend, 2),
        revenue=round(books.revenue(), 2),
        wasted_spend=round(books.wasted, 2),
        changes=changes,
        refused=refused,
    )


def _set_oracle_budgets(sim: Simulator, bounds: dict[int, tuple[int, int]]) -> int:
    """Write the oracle's budgets once, at the start; returns the writes refused."""
    budgets, keep = oracle_budgets(sim, bounds)
    refused = 0
    for holder in sim.holders:
        i = holder.index
        try:
            if not keep[i]:
                sim.set_status(holder, "PAUSED", actor="oracle")
            elif budgets[i] != sim.budget[i]:
                sim.set_budget(holder, int(budgets[i]), actor="oracle")
        except SimulatorError:
            refused += 1
    return refused


def _decide_and_write(
    sim: Simulator, k: int, rules: dict[int, list[ScalingRule]], last_change: np.ndarray
) -> tuple[int, int]:
    lookback = max(r.lookback_hours for account_rules in rules.values() for r in account_rules)
    frame = _frame(sim, k, last_change, lookback)
    now = pd.Timestamp(sim.hour_start(k + 1))
    done = failed = 0
    for account_index, account_rules in rules.items():
        part = frame[frame["account_index"] == account_index]
        decided = decide(with_rules(part, account_rules), now)
        changing = decided[decided["action"].isin((*RESIZES, "pause"))]
        for entity_id, action, budget in zip(
            changing["entity_id"], changing["action"].astype(str), changing["new_daily_budget"], strict=True
        ):
            holder = sim.holder_by_id[str(entity_id)]
            try:
                if action == "pause":
                    sim.set_status(holder, "PAUSED", actor="backtest")
                else:
                    sim.set_budget(holder, int(budget), actor="backtest")
                    last_change[holder.index] = k + 1
                done += 1
            except SimulatorError:
                failed += 1
    return done, failed


def terminal_progress(label: str) -> Callable[[int, int], None] | None:
    """A one-line progress bar on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // total
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} h")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show
