"""The allocator: each budget holder's response curve, and the budget where an extra unit of money stops paying.

Pure: a frame of hourly history in, a frame of curves and targets out (docs/allocator.md).

**The curve.**  Daily revenue is a power law of the daily budget, R(b) = A * b**e, with
0 < e < 1: each extra unit of budget earns less than the one before (diminishing returns),
which is what the sandbox's simulator assumes and what media-mix practice uses for a single
channel at the budgets an advertiser actually varies (a Hill curve adds a knee that hourly
budget data cannot locate).  So ROAS at budget b is A * b**(e - 1), and the *marginal* ROAS,
what the next unit of budget returns, is e times the ROAS.  Profit peaks where the marginal
ROAS is 1, i.e. at an average ROAS of 1/e.

**The fit**, per holder, from its own hours (recent hours weigh more; half-life 72 h):

* the elasticity e from how its ROAS moved when its budget moved: a weighted regression of
  log ROAS on log budget over its budget levels, with a normal prior centred on the
  account's pooled elasticity (empirical Bayes) -- a holder whose budget never moved keeps
  the account's;
* the ROAS at its current budget (every hour's spend re-expressed at today's budget through
  e) as a Gamma posterior: a Poisson count of purchases on that exposure, with a prior worth
  ``prior_purchases`` purchases at the account's pooled ROAS.  A holder with 3 purchases
  borrows strength; one with 3,000 does not;
* late reporting: an hour's spend counts only for the share of its purchases reported by
  now (the attribution-delay kernel the daily profiles estimate);
* change points: when the last day's ROAS differs from the rest of the window by more than
  ``changepoint_z`` standard errors, the older hours are dropped (fatigue, a stock-out, an
  outage); and when the *whole account's* last-day ROAS collapses the same way, that is
  taken as a reporting gap (a pixel outage), not as every holder failing at once: the
  allocator holds.

**The decision.**  The target is the budget where the posterior marginal ROAS meets the
goal (``target_marginal_roas``, default 1.0: maximum profit), or, with a total daily budget
for the account, where every holder's marginal ROAS is equal and the budgets add up to it.
Budgets move toward it in steps of at most ``max_step`` (default 15%, under Meta's 20%
learning reset).  A holder is paused only when the posterior probability that even the
minimum budget loses money is at least ``pause_probability`` (default 0.95): never on no
purchases alone, only on spend that should have bought some.  Exploration: a holder whose
elasticity is still uncertain moves on a Thompson draw of it (seeded by holder and hour,
so a decision can be replayed), which spreads its budget enough to learn the curve.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

HISTORY_COLUMNS = ("entity_id", "age_hours", "spend", "revenue", "conversions", "daily_budget")
HISTORY_HOURS = 14 * 24  # each holder's curve is fitted on its last two weeks
ELASTICITY_RANGE = (0.15, 0.95)


@dataclass(frozen=True)
class AllocatorSettings:
    """The allocator's knobs (a rule's settings; docs/allocator.md)."""

    target_marginal_roas: float = 1.0
    total_daily_budget: int | None = None  # minor units; None: each holder toward the target
    max_step: float = 0.15
    pause_probability: float = 0.95
    half_life_hours: float = 72.0
    prior_elasticity: float = 0.6
    prior_elasticity_sd: float = 0.2
    prior_purchases: float = 3.0
    changepoint_z: float = 3.5
    deadband: float = 0.03  # no change for a target within 3% of the budget
    # Meta's learning phase: after a budget edit of this size the ad set returns less while
    # it relearns; the fit gives those hours this weight for learning_hours.
    learning_edit: float = 0.2
    learning_hours: float = 72.0
    learning_weight: float = 0.25
    thompson: bool = False
    late_reporting: bool = True
    # Move only when the posterior is this sure the marginal ROAS is on that side of the goal.
    confidence: float = 0.8


def _codes(entities: pd.Series, order: list[str]) -> np.ndarray:
    # -1 for an entity not in ``order`` (as Categorical codes, which pandas 4 will refuse).
    if isinstance(entities.dtype, pd.CategoricalDtype):
        # The store's history: look up each distinct id once, not each of 336,000 rows.
        positions = pd.Index(order).get_indexer(pd.Index(entities.cat.categories.astype(str)))
        raw = entities.cat.codes.to_numpy()
        mapped: np.ndarray = np.where(raw >= 0, positions[raw], -1).astype(np.int64)
        return mapped
    codes: np.ndarray = pd.Index(order).get_indexer(pd.Index(entities.astype(str))).astype(np.int64)
    return codes


def _sum(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out: np.ndarray = np.bincount(codes, values, n)
    return out


def relearning(
    codes: np.ndarray, age: np.ndarray, budget: np.ndarray, settings: AllocatorSettings
) -> np.ndarray:
    """Which hours fall within ``learning_hours`` after a budget edit of ``learning_edit`` or more
    (seen in the history's budgets, hour to hour, per holder): Meta's learning phase, in which
    return is depressed for reasons that are not the budget's, and which would otherwise read as
    a steeper curve and a worse holder."""
    out = np.zeros(len(codes), dtype=bool)
    if len(codes) < 2:
        return out
    order = np.lexsort((-age, codes))  # per holder, oldest hour first
    c, a, b = codes[order], age[order], budget[order]
    same = c[1:] == c[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        edited = same & (np.abs(b[1:] / b[:-1] - 1.0) >= settings.learning_edit)
    # Age of each hour's holder's latest significant edit at or before it (inf: none).
    edit_age = np.full(len(c), np.inf)
    edit_age[1:][edited] = a[1:][edited]
    starts = np.r_[True, ~same]  # a new holder starts: forget the previous holder's edit
    marker = np.where(np.isfinite(edit_age) | starts, np.arange(len(c)), 0)
    latest = np.maximum.accumulate(marker)
    since = edit_age[latest] - a  # hours since that edit (inf: none)
    out[order] = since < settings.learning_hours
    return out


def reported_share(age_hours: np.ndarray, kernel: np.ndarray | None) -> np.ndarray:
    """The share of an hour's purchases reported by now, for hours ``age_hours`` old (0: the
    hour just ended).  ``kernel``: weights of delays 0, 1, 2... hours (None: all at once)."""
    if kernel is None or len(kernel) == 0:
        return np.ones(len(age_hours))
    cumulative = np.cumsum(np.asarray(kernel, dtype=float))
    cumulative = cumulative / cumulative[-1]
    index = np.clip(age_hours.astype(np.int64), 0, len(cumulative) - 1)
    share: np.ndarray = cumulative[index]
    return share


def delay_kernel_of(
    history: pd.DataFrame, lags: int = 24, holders: int = 200, hours: int = 7 * 24
) -> np.ndarray:
    """How late purchases are reported, estimated as the daily profiles estimate it
    (profiles.delay_kernel on lagged spend), on the account's ``holders`` biggest holders'
    last ``hours``: the delay is the account's pixel and attribution, not a holder's, and the
    normal equations over every row of a 2,000-holder account cost seconds (bench/allocator.py)."""
    from autoscaler.profiles import delay_kernel, lagged_moments

    recent = history[history["age_hours"].to_numpy() < hours]
    revenue = recent.groupby("entity_id", sort=False)["revenue"].sum()
    biggest = revenue.nlargest(holders).index
    rows = recent[recent["entity_id"].isin(biggest)]
    rows = rows.sort_values(["entity_id", "age_hours"], ascending=[True, False]).assign(inside=True)
    return delay_kernel(*lagged_moments(rows, lags=lags))


def fit(
    history: pd.DataFrame,
    budgets: pd.Series,
    settings: AllocatorSettings,
    kernel: np.ndarray | None = None,
) -> pd.DataFrame:
    """Each holder's curve from its hourly history.

    ``history``: HISTORY_COLUMNS, one row per holder and hour (money in minor units;
    ``age_hours``: how long ago the hour ended; ``daily_budget`` may be missing for backfilled
    hours).  ``budgets``: the current daily budget by entity_id.  Returns one row per entity
    of ``budgets``: budget, roas (posterior mean at the budget), roas_shape and roas_rate
    (its Gamma posterior), elasticity and elasticity_sd, purchases (weighted), spend
    (weighted), changepoint, and the account-level reporting_gap flag.
    """
    order = [str(e) for e in budgets.index]
    n = len(order)
    current = budgets.to_numpy(dtype=float)
    all_codes = _codes(history["entity_id"].astype(str), order)
    h = history[all_codes >= 0]
    codes = all_codes[all_codes >= 0]
    age = h["age_hours"].to_numpy(dtype=float)
    spend = h["spend"].to_numpy(dtype=float)
    revenue = h["revenue"].to_numpy(dtype=float)
    conversions = h["conversions"].to_numpy(dtype=float)
    budget = pd.to_numeric(h["daily_budget"], errors="coerce").to_numpy(dtype=float)
    budget = np.where(np.isfinite(budget) & (budget > 0), budget, current[codes] if n else budget)
    exposure = spend * reported_share(age, kernel)
    weight = np.power(0.5, age / settings.half_life_hours)
    weight = np.where(relearning(codes, age, budget, settings), weight * settings.learning_weight, weight)

    recent = age < 24
    changepoint, gap = _changepoints(codes, n, recent, exposure, revenue, conversions, weight, settings)
    keep = ~(changepoint[codes] & ~recent) if n else np.ones(0, bool)
    if gap:
        keep = np.ones(len(codes), bool)  # a reporting gap: the last day is the odd one out, not the past
        keep &= ~recent
    codes, exposure, revenue, conversions, budget, weight = (
        a[keep] for a in (codes, exposure, revenue, conversions, budget, weight)
    )

    x = np.log(budget / current[codes]) if n else budget
    elasticity, elasticity_sd = _elasticity(codes, n, x, exposure, revenue, conversions, weight, settings)
    # Every hour's exposure re-expressed at today's budget: ROAS(b_now) = ROAS(b_t) * (b_now/b_t)**(e-1),
    # so revenue_t / ROAS(b_now) = spend_t * (b_t/b_now)**(e-1) = spend_t * exp((e-1) * x).
    adjusted = exposure * np.exp((elasticity[codes] - 1.0) * x) if n else exposure
    w_spend = _sum(codes, weight * adjusted, n)
    w_revenue = _sum(codes, weight * revenue, n)
    w_conv = _sum(codes, weight * conversions, n)
    pooled_roas = w_revenue.sum() / w_spend.sum() if w_spend.sum() > 0 else 1.0
    pooled_aov = w_revenue.sum() / w_conv.sum() if w_conv.sum() > 0 else np.nan
    aov = _order_value(w_revenue, w_conv, pooled_aov, settings.prior_purchases)
    # Gamma-Poisson on purchases, in units of the holder's order value.
    k0 = settings.prior_purchases
    shape = k0 + w_revenue / aov
    rate = k0 / max(pooled_roas, 1e-6) + w_spend / aov
    return pd.DataFrame(
        {
            "entity_id": order,
            "budget": current,
            "roas": shape / rate,
            "roas_shape": shape,
            "roas_rate": rate,
            "elasticity": elasticity,
            "elasticity_sd": elasticity_sd,
            "purchases": w_conv,
            "spend": w_spend,
            "changepoint": changepoint,
            "reporting_gap": gap,
        }
    )


def _order_value(revenue: np.ndarray, conversions: np.ndarray, pooled: float, prior: float) -> np.ndarray:
    """Each holder's order value, shrunk to the account's (minor units)."""
    if not np.isfinite(pooled) or pooled <= 0:
        pooled = 1.0  # no purchase anywhere yet: counts in units of revenue
    aov: np.ndarray = np.maximum((revenue + prior * pooled) / (conversions + prior), 1.0)
    return aov


def _changepoints(
    codes: np.ndarray,
    n: int,
    recent: np.ndarray,
    exposure: np.ndarray,
    revenue: np.ndarray,
    conversions: np.ndarray,
    weight: np.ndarray,
    settings: AllocatorSettings,
) -> tuple[np.ndarray, bool]:
    """Holders whose last day's ROAS broke from their past; and whether the whole account's did."""

    def z_score(
        old_s: np.ndarray,
        old_r: np.ndarray,
        old_c: np.ndarray,
        new_s: np.ndarray,
        new_r: np.ndarray,
        new_c: np.ndarray,
    ) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            old_roas = (old_r + 1.0) / (old_s + 1.0)
            new_roas = (new_r + 1.0) / (new_s + 1.0)
            # Poisson noise on both sides; purchases counted at least 1 so a zero is not certain.
            se = np.sqrt(1.5 / np.maximum(old_c, 1.0) + 1.5 / np.maximum(new_c, 1.0))
            z: np.ndarray = np.log(new_roas / old_roas) / se
        # Significant only where the recent day should have seen purchases.
        expected_new = new_s * old_roas / np.maximum(old_r / np.maximum(old_c, 1.0), 1.0)
        return np.where((expected_new >= 5.0) & (old_c >= 5.0), z, 0.0)

    old = ~recent
    parts = [
        _sum(codes, np.where(mask, v, 0.0), n)
        for mask in (old, recent)
        for v in (exposure, revenue, conversions)
    ]
    z = z_score(*parts)
    totals = [np.array([p.sum()]) for p in parts]
    account_z = float(z_score(*totals)[0]) if n else 0.0
    old_roas = totals[1][0] / max(totals[0][0], 1.0)
    new_roas = totals[4][0] / max(totals[3][0], 1.0)
    # Every holder at once is a measurement failing, not a market: a reporting gap.
    gap = account_z < -settings.changepoint_z and new_roas < 0.3 * old_roas
    out: np.ndarray = np.abs(z) > settings.changepoint_z
    return out, bool(gap)


def _elasticity(
    codes: np.ndarray,
    n: int,
    x: np.ndarray,
    exposure: np.ndarray,
    revenue: np.ndarray,
    conversions: np.ndarray,
    weight: np.ndarray,
    settings: AllocatorSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior elasticity per holder: log ROAS on log budget over its budget levels, with a
    normal prior at the account's pooled slope (itself from the holders that moved)."""
    if n == 0:
        return np.zeros(0), np.zeros(0)
    # Budget levels: hours at the same budget (to 1%) pooled into one observation.
    level = np.round(x / 0.01).astype(np.int64)
    # One key per (holder, level), summed with bincount (a pandas groupby cost ~0.2 s here).
    key = codes * (1 << 24) + (level - level.min() if len(level) else level)
    groups, inverse = np.unique(key, return_inverse=True)
    m = len(groups)
    c = groups // (1 << 24)
    sums = {
        name: np.bincount(inverse, v, m)
        for name, v in (
            ("x", x * weight),
            ("w", weight),
            ("s", exposure * weight),
            ("r", revenue * weight),
            ("n", conversions * weight),
        )
    }
    gx = sums["x"] / np.maximum(sums["w"], 1e-12)
    ok = (sums["s"] > 0) & (sums["r"] > 0)
    y = np.log(np.where(ok, sums["r"] / np.maximum(sums["s"], 1e-12), 1.0))
    # Variance of a log ROAS from n purchases: (1 + CV^2 of order value) / n, CV^2 ~ 0.5.
    w = np.where(ok, sums["n"] / 1.5, 0.0)
    sw = _sum(c, w, n)
    mean_x = _sum(c, w * gx, n) / np.maximum(sw, 1e-12)
    mean_y = _sum(c, w * y, n) / np.maximum(sw, 1e-12)
    dx = gx - mean_x[c]
    sxx = _sum(c, w * dx * dx, n)
    sxy = _sum(c, w * dx * (y - mean_y[c]), n)
    prior_slope = settings.prior_elasticity - 1.0
    tau2 = settings.prior_elasticity_sd**2
    # Empirical Bayes: the account's slope from the holders whose budgets moved, if enough did.
    informative = sxx > 0
    if informative.sum() >= 3 and sxx[informative].sum() > 1.0 / tau2:
        pooled = float(sxy[informative].sum() / sxx[informative].sum())
        prior_slope = float(
            np.clip(0.5 * pooled + 0.5 * prior_slope, ELASTICITY_RANGE[0] - 1, ELASTICITY_RANGE[1] - 1)
        )
    precision = 1.0 / tau2 + sxx
    slope = (prior_slope / tau2 + sxy) / precision
    elasticity = np.clip(1.0 + slope, *ELASTICITY_RANGE)
    sd: np.ndarray = np.sqrt(1.0 / precision)
    return elasticity, sd


def targets(
    curves: pd.DataFrame,
    settings: AllocatorSettings,
    low: np.ndarray,
    high: np.ndarray,
    seed: int = 0,
    *,
    goal: np.ndarray | None = None,
    max_step: np.ndarray | None = None,
    pause_probability: np.ndarray | None = None,
) -> pd.DataFrame:
    """Where each holder's budget should head, and the step toward it this hour.

    ``low``/``high``: the rule's minimum and maximum budgets per row; ``goal``, ``max_step``,
    ``pause_probability``: per-row rule settings (default: ``settings``'), ``goal`` given
    only when no total budget applies.  Adds: draw_elasticity
    (the Thompson draw, or the mean), marginal_roas (at the current budget), target,
    marginal_at_target, step_budget (the target, at most ``max_step`` away), pause (bool),
    loss_probability (that even ``low`` loses money).
    """
    out = curves.copy()
    budget = out["budget"].to_numpy(dtype=float)
    roas = out["roas"].to_numpy(dtype=float)
    e_mean = out["elasticity"].to_numpy(dtype=float)
    e_sd = out["elasticity_sd"].to_numpy(dtype=float)
    if settings.thompson:
        draws = np.asarray(
            [
                np.random.default_rng([seed, zlib.crc32(str(e).encode())]).standard_normal()
                for e in out["entity_id"]
            ]
        )
        e = np.clip(e_mean + e_sd * draws, *ELASTICITY_RANGE)
    else:
        e = e_mean
    if goal is None:
        goal = _goal(budget, roas, e, low, high, settings)
    step_limit = np.full(len(out), settings.max_step) if max_step is None else max_step
    pause_at = (
        np.full(len(out), settings.pause_probability) if pause_probability is None else pause_probability
    )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # marginal(b) = e * roas * (b / budget)**(e - 1) = goal  =>  b = budget * (e * roas / goal)**(1/(1-e))
        best = budget * np.power(np.maximum(e * roas, 1e-12) / goal, 1.0 / (1.0 - e))
    target = np.clip(np.where(np.isfinite(best), best, high), low, high)
    ratio = target / np.maximum(budget, 1.0)
    step = np.clip(ratio, 1.0 - step_limit, 1.0 + step_limit)
    above = _probability_above(out, goal, settings)
    sure = np.where(ratio > 1.0, above >= settings.confidence, (1.0 - above) >= settings.confidence)
    moving = (np.abs(ratio - 1.0) > settings.deadband) & sure
    step_budget = np.where(moving, np.clip(np.floor(budget * step + 0.5), low, high), budget)
    # The chance that even the lowest budget loses money: ROAS(low) = roas * (low/budget)**(e-1) < 1.
    threshold = np.power(np.maximum(low, 1.0) / np.maximum(budget, 1.0), 1.0 - e_mean)
    loss: np.ndarray = stats.gamma.cdf(
        threshold, out["roas_shape"].to_numpy(dtype=float), scale=1.0 / out["roas_rate"].to_numpy(dtype=float)
    )
    pause = loss >= pause_at
    if bool(out["reporting_gap"].any()):
        step_budget, pause = budget.copy(), np.zeros(len(out), bool)
    return out.assign(
        draw_elasticity=e,
        marginal_roas=e_mean * roas,
        goal=goal,
        target=np.round(target),
        marginal_at_target=e_mean * roas * np.power(target / np.maximum(budget, 1.0), e_mean - 1.0),
        step_budget=step_budget.astype(np.int64),
        pause=pause,
        loss_probability=loss,
        probability_above_goal=above,
    )


DRAWS = 256


def _probability_above(curves: pd.DataFrame, goal: np.ndarray, settings: AllocatorSettings) -> np.ndarray:
    """Posterior probability that the marginal ROAS at the current budget (e x ROAS) exceeds
    the goal: Monte Carlo over the Gamma posterior of ROAS and the normal one of e (fixed
    draws per holder, so the same evidence gives the same answer every hour)."""
    n = len(curves)
    if n == 0:
        return np.zeros(0)
    rng = np.random.default_rng(20261202)
    unit_gamma_shape = curves["roas_shape"].to_numpy(dtype=float)
    rate = curves["roas_rate"].to_numpy(dtype=float)
    roas = rng.gamma(unit_gamma_shape[:, None], 1.0, (n, DRAWS)) / rate[:, None]
    e = np.clip(
        curves["elasticity"].to_numpy(dtype=float)[:, None]
        + curves["elasticity_sd"].to_numpy(dtype=float)[:, None] * rng.standard_normal((n, DRAWS)),
        *ELASTICITY_RANGE,
    )
    above: np.ndarray = (e * roas > goal[:, None]).mean(axis=1)
    return above


def _goal(
    budget: np.ndarray,
    roas: np.ndarray,
    e: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    settings: AllocatorSettings,
) -> np.ndarray:
    """The marginal ROAS each holder is taken to: the rule's, or the one a total budget sets."""
    n = len(budget)
    if settings.total_daily_budget is None or n == 0:
        return np.full(n, settings.target_marginal_roas)
    total = float(settings.total_daily_budget)

    def spent(goal: float) -> float:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            best = budget * np.power(np.maximum(e * roas, 1e-12) / goal, 1.0 / (1.0 - e))
        return float(np.clip(np.where(np.isfinite(best), best, high), low, high).sum())

    lo, hi = 1e-4, 1e4  # marginal ROAS bracket: spending rises as the goal falls
    if spent(lo) <= total:
        return np.full(n, lo)
    if spent(hi) >= total:
        return np.full(n, hi)
    for _ in range(60):  # bisection on log(goal)
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if spent(mid) > total else (lo, mid)
    return np.full(n, math.sqrt(lo * hi))


def allocate(
    history: pd.DataFrame,
    state: pd.DataFrame,
    settings: AllocatorSettings,
    *,
    seed: int = 0,
    kernel: np.ndarray | None = None,
) -> pd.DataFrame:
    """The allocator's proposal for each active budget holder of ``state``.

    ``state``: entity_id, daily_budget, min_daily_budget, max_daily_budget (minor units), as
    the decision frame has them.  Returns entity_id, allocator_budget (this hour's step),
    allocator_pause, and what the audit trail records of the curve: marginal_roas, goal,
    curve_target, marginal_at_target, elasticity, elasticity_sd, curve_roas, curve_purchases,
    loss_probability, changepoint, reporting_gap.
    """
    rows = state[state["daily_budget"].notna()]
    budgets = pd.Series(rows["daily_budget"].to_numpy(dtype=float), index=rows["entity_id"].astype(str))
    if kernel is None and settings.late_reporting and len(history):
        kernel = delay_kernel_of(history)
    curves = fit(history, budgets, settings, kernel)
    low = rows["min_daily_budget"].to_numpy(dtype=float, na_value=1.0)
    high = rows["max_daily_budget"].to_numpy(dtype=float, na_value=np.inf)

    def per_row(column: str) -> np.ndarray | None:
        return rows[column].to_numpy(dtype=float, na_value=np.nan) if column in rows.columns else None

    total = per_row("allocator_daily_budget")
    if total is not None and np.isfinite(total).any():  # an account rule's total budget
        settings = replace(settings, total_daily_budget=int(np.nanmax(total)))
    goal = None
    target_roas = per_row("target_marginal_roas")
    if settings.total_daily_budget is None and target_roas is not None:
        goal = np.where(np.isnan(target_roas), settings.target_marginal_roas, target_roas)
    planned = targets(
        curves,
        settings,
        low,
        high,
        seed=seed,
        goal=goal,
        max_step=per_row("max_step"),
        pause_probability=per_row("pause_probability"),
    )
    return pd.DataFrame(
        {
            "entity_id": planned["entity_id"],
            "allocator_budget": planned["step_budget"].astype(float),
            "allocator_pause": planned["pause"].astype(bool),
            "marginal_roas": planned["marginal_roas"],
            "goal": planned["goal"],
            "curve_target": planned["target"],
            "marginal_at_target": planned["marginal_at_target"],
            "elasticity": planned["elasticity"],
            "elasticity_sd": planned["elasticity_sd"],
            "curve_roas": planned["roas"],
            "curve_purchases": planned["purchases"],
            "loss_probability": planned["loss_probability"],
            "changepoint": planned["changepoint"],
            "reporting_gap": planned["reporting_gap"],
        }
    )


CURVE_MULTIPLES = (0.25, 0.4, 0.55, 0.7, 0.85, 1.0, 1.2, 1.45, 1.75, 2.1, 2.5, 3.0)


def curve_points(curve: Mapping[str, Any], budgets: np.ndarray, band: float = 0.8) -> pd.DataFrame:
    """The fitted curve of one holder at ``budgets`` (minor units), with its posterior band.

    ``curve``: one row of ``fit``.  Returns budget, revenue (daily, posterior median), its
    band (``band`` central interval), roas and marginal_roas (medians): what the page draws
    and ``autoscaler curves`` prints.  The band comes from joint draws of the ROAS at the
    current budget (Gamma) and the elasticity (normal).
    """
    rng = np.random.default_rng(7)
    level = rng.gamma(float(curve["roas_shape"]), 1.0 / float(curve["roas_rate"]), DRAWS)
    e = np.clip(
        float(curve["elasticity"]) + float(curve["elasticity_sd"]) * rng.standard_normal(DRAWS),
        *ELASTICITY_RANGE,
    )
    ratio = np.asarray(budgets, dtype=float)[:, None] / max(float(curve["budget"]), 1.0)
    roas = level[None, :] * np.power(ratio, e[None, :] - 1.0)
    revenue = roas * np.asarray(budgets, dtype=float)[:, None]
    tail = (1.0 - band) / 2.0
    return pd.DataFrame(
        {
            "budget": np.asarray(budgets, dtype=np.int64),
            "revenue": np.median(revenue, axis=1),
            "revenue_low": np.quantile(revenue, tail, axis=1),
            "revenue_high": np.quantile(revenue, 1.0 - tail, axis=1),
            "roas": np.median(roas, axis=1),
            "marginal_roas": np.median(e[None, :] * roas, axis=1),
        }
    )
