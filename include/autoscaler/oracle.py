"""The backtest's oracle: the best budget path it can find for each entity, knowing the world.

It knows what no policy can (docs/backtest.md): every entity's true curve (return at the
starting budget, elasticity, audience ceiling), every hour's delivery rate and efficiency
(time of day, weekday, seasons, shocks, fatigue: ``Simulator.conditions``), and the learning
model.  It obeys what every policy obeys: the rule's min and max budget, Meta's minimum,
four budget changes an hour, no writes to a read-only account, and the learning phase a big
edit restarts.

It plans each entity's path as the best of several plans, each run through the simulator
itself (so the learning phase, the day's 125% cap and the ceiling all count):

* ``static``: never change; ``pause``: pause at once;
* ``jump``: one jump to the budget that maximises the period's first day's profit;
* ``track``: jump to each coming day's best budget whenever it moves 10% or more;
* ``creep``: move toward each coming day's best budget in steps just under the learning
  reset (up to four an hour), so learning never restarts;
* ``hourly``: creep toward each hour's own best budget (time-of-day moves).

Plans whose coming day loses money even at the lowest budget pause for it.  An entity's
expected profit depends only on its own path (the world does not depend on the policy, and
revenue is counted in expectation), so the oracle's run, every entity on its best plan,
earns exactly the sum of the per-entity bests; ``backtest.bound`` gives a ceiling no path can
pass, and the bench reports how close the oracle comes to it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from autoscaler.backtest import BacktestResult, Books, bound, limits
from autoscaler.sandbox.scenario import Scenario
from autoscaler.sandbox.simulator import BUDGET_CHANGES_PER_HOUR, Holder, Simulator, SimulatorError

PLANS = ("static", "pause", "jump", "track", "creep", "hourly")
STEP_MARGIN = 0.98  # steps stay 2% under the learning-reset size, after rounding
TRACK_TOLERANCE = 0.10  # ``track`` jumps again when the target moved this much


class _Plan:
    """The targets all plans draw on, for the period's hours (matrices hours x entities)."""

    def __init__(self, sim: Simulator, hours: int, bounds: dict[int, tuple[int, int]]) -> None:
        first = sim.completed_hours
        ahead = hours + 24
        rate = np.empty((ahead, len(sim.holders)))
        gain = np.empty_like(rate)
        e = sim.elasticity
        scale = sim.roas0 * np.power(sim.base_budget, 1.0 - e)  # revenue per unit rate at b: scale*eff*b**e
        for j in range(ahead):
            r, efficiency, _, _ = sim.conditions(first + j)
            rate[j], gain[j] = r, scale * efficiency
        self.low = np.asarray([bounds[a][0] for a in sim.holder_account], dtype=float)
        self.high = np.maximum(
            np.minimum(np.asarray([bounds[a][1] for a in sim.holder_account], dtype=float), sim.ceiling),
            self.low,
        )
        self.e = e
        # The coming 24 hours' rate-weighted gain, and the hour's own.
        window = np.cumsum(np.vstack([np.zeros((1, rate.shape[1])), rate * gain]), axis=0)
        weight = np.cumsum(np.vstack([np.zeros((1, rate.shape[1])), rate]), axis=0)
        day_gain = np.divide(
            window[24 : 24 + hours] - window[:hours],
            weight[24 : 24 + hours] - weight[:hours],
            out=np.zeros((hours, rate.shape[1])),
            where=(weight[24 : 24 + hours] - weight[:hours]) > 0,
        )
        self.day_target, self.day_paused = self._best(day_gain)
        self.hour_target, self.hour_paused = self._best(gain[:hours])

    def _best(self, gain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The budget maximising gain*b**e - b within the limits, and whether even it loses."""
        best = np.power(self.e * np.maximum(gain, 1e-300), 1.0 / (1.0 - self.e))
        budget = np.clip(np.round(best), self.low, self.high)
        losing = gain * np.power(budget, self.e - 1.0) <= 1.0
        return budget, losing


def _target(plan: _Plan, name: str, j: int, i: int) -> tuple[float, bool]:
    """(budget, pause) that plan ``name`` wants for entity i in hour j."""
    if name == "jump":
        return plan.day_target[0, i], bool(plan.day_paused[0, i])
    if name == "hourly":
        return plan.hour_target[j, i], bool(plan.hour_paused[j, i])
    return plan.day_target[j, i], bool(plan.day_paused[j, i])


def _follow(sim: Simulator, plan: _Plan, assignment: np.ndarray, j: int, writable: np.ndarray) -> None:
    """Write hour j's budgets and statuses for every entity, each by its assigned plan."""
    acting = writable & sim.exists(sim.completed_hours)
    for holder in sim.holders:
        i = holder.index
        name = PLANS[assignment[i]]
        if name == "static" or not acting[i]:
            continue
        target, paused = (0.0, True) if name == "pause" else _target(plan, name, j, i)
        if paused:
            _status(sim, holder, "PAUSED")
            continue
        _status(sim, holder, "ACTIVE")
        budget = float(sim.budget[i])
        if name in ("jump", "track"):
            tolerance = 0.0 if name == "jump" else TRACK_TOLERANCE
            if abs(target - budget) > tolerance * budget:
                _budget(sim, holder, int(target))
        else:
            _creep(sim, holder, target)


def _creep(sim: Simulator, holder: Holder, target: float) -> None:
    """Toward ``target`` in steps under the learning reset, as many as Meta allows an hour."""
    reset = sim.scenario.learning_reset * STEP_MARGIN
    for _ in range(BUDGET_CHANGES_PER_HOUR):
        budget = float(sim.budget[holder.index])
        if target > budget:
            step = min(target, np.floor(budget * (1.0 + reset)))
        else:
            step = max(target, np.ceil(budget * (1.0 - reset)))
        if step == budget or not _budget(sim, holder, int(step)):
            return


def _status(sim: Simulator, holder: Holder, status: str) -> None:
    sim.set_status(holder, status, actor="oracle")


def _budget(sim: Simulator, holder: Holder, amount: int) -> bool:
    try:
        sim.set_budget(holder, amount, actor="oracle")
    except SimulatorError:
        return False  # below Meta's minimum, above its cap, or a fifth change this hour
    return True


def _run(start: Simulator, plan: _Plan, assignment: np.ndarray, hours: int) -> tuple[Books, Simulator]:
    sim = copy.deepcopy(start)
    writable = np.asarray([not sim.accounts[a].read_only for a in sim.holder_account], dtype=bool)
    books = Books(sim)
    for j in range(hours):
        _follow(sim, plan, assignment, j, writable)
        k = sim.completed_hours
        sim.advance_to(sim.hour_start(k + 1))
        books.close_hour(k)
    return books, sim


def _best_paths(
    scenario: Scenario,
    days: int,
    seed: int,
    plans: tuple[str, ...] = PLANS,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Books, Simulator, np.ndarray, int, dict[int, tuple[int, int]]]:
    """Every entity on the plan that earned it the most: (books, simulator after the run,
    the plan chosen per entity, the first hour counted, the limits)."""
    start = Simulator(scenario, seed=seed)
    hours = days * 24
    bounds = limits(start)
    plan = _Plan(start, hours, bounds)
    n = len(start.holders)
    profits = np.full((len(PLANS), n), -np.inf)
    for step, name in enumerate(plans):
        books, _ = _run(start, plan, np.full(n, PLANS.index(name)), hours)
        profits[PLANS.index(name)] = books.profit_by_entity()
        if progress is not None:
            progress((step + 1) * hours // (len(plans) + 1), hours)
    choice = np.argmax(profits, axis=0)
    books, sim = _run(start, plan, choice, hours)
    if progress is not None:
        progress(hours, hours)
    return books, sim, choice, start.completed_hours, bounds


def run_oracle(
    scenario: Scenario,
    *,
    days: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    plans: tuple[str, ...] = PLANS,
) -> BacktestResult:
    """The oracle's result: every entity on the plan that earned it the most."""
    books, sim, _, _, _ = _best_paths(scenario, days, seed, plans, progress)
    changes = sum(1 for entry in sim.history if entry["actor"] == "oracle")
    return books.result(scenario, "oracle", seed, days, changes, {})


def oracle_and_bound(
    scenario: Scenario, *, days: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per entity: the oracle's profit, the bound's, and the plan chosen (for tests and docs)."""
    books, sim, choice, first_hour, bounds = _best_paths(scenario, days, seed)
    return books.profit_by_entity(), bound(sim, first_hour, bounds), choice
