"""Optimal-hour profiles: which local hours earn more (or less) than the entity's own average.

Pure: per-(entity, local hour) sums in, one profile per entity out.  The database does the
sums (store/profiles.py); docs/time-optimization.md gives every formula.  In short:

* revenue is observed when Meta reports it, hours after the click (attribution delay), so
  an hour's revenue comes from the spend of the hours before it too.  The account's delay
  kernel is estimated from the data (non-negative least squares of revenue on lagged spend,
  pooled over the account's entities) and each hour is compared with its *effective spend*
  (the spend that fed it) - otherwise mornings, when spend rises, look poor and nights rich;
* an hour's raw index is its revenue per effective spend over the entity's ROAS;
* its sampling variance comes from the day-to-day scatter of the hour's revenue around its
  own ratio (a ratio estimator), floored by the Poisson variance of the purchases the hour
  would have had at the entity's average rate, so an hour with two lucky purchases is noise;
* indices are shrunk toward 1 ("no hour effect") by empirical Bayes: the spread of true hour
  effects is estimated across the whole account (DerSimonian-Laird), and each hour keeps
  tau2 / (tau2 + its variance) of its deviation;
* a peak (valley) is an hour whose shrunk index is at least MIN_EFFECT above (below) 1 and
  Z posterior standard deviations away from 1 (Z = 3: 24 hours are tested per entity);
* the multiplier is the shrunk index renormalised so a day at the usual hourly spend costs
  the same as at the base budget; confidence = evidence x coverage x precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

METHOD = "eb-lagged-ratio-v1"
HOURS = 24
MAX_DELAY_HOURS = 12  # attribution delays estimated: 0..11 hours after the click hour
Z = 2.5
MIN_EFFECT = 0.10
CONVERSIONS_HALF = 100.0  # conversions at which the evidence term is 0.5
FULL_COVERAGE_DAYS = 14.0
PRECISION_SCALE = 4.0

# n: hours with spend; rr, rs, ss: sums of revenue², revenue x spend and spend² over the
# hourly rows (the day-to-day scatter).
SUM_COLUMNS = ("n", "spend", "revenue", "conversions", "rr", "rs", "ss")


def nnls_gram(gram: np.ndarray, target: np.ndarray) -> np.ndarray:
    """min |X w - y| subject to w >= 0, given only gram = X'X and target = X'y.

    The database hands over the normal equations' sums, never the rows.  With X'X = R'R
    (Cholesky), |X w - y|^2 = |R w - q|^2 + const where R'q = X'y: SciPy's NNLS
    (Lawson-Hanson) on the triangular factor.  A ridge of 1e-10 of the mean diagonal keeps
    the factor defined when a lag never had spend, and moves no weight that matters.
    """
    from scipy.linalg import cholesky, solve_triangular
    from scipy.optimize import nnls

    n = len(target)
    ridge = 1e-10 * max(float(np.trace(gram)) / max(n, 1), 1.0)
    r = cholesky(gram + ridge * np.eye(n), lower=False)
    q = solve_triangular(r, target, trans="T")
    weights, _ = nnls(r, q)
    return np.asarray(weights)


def delay_kernel(xtx: np.ndarray, xty: np.ndarray) -> np.ndarray:
    """Attribution-delay weights (summing to 1) from the normal equations of revenue on lagged spend.

    ``xtx[a, b]`` = sum of spend lagged a hours x spend lagged b hours, ``xty[a]`` = sum of
    (revenue / the entity's ROAS) x spend lagged a hours.  Without usable data: no delay.
    """
    fallback: np.ndarray = np.eye(1, len(xty))[0]
    if not np.isfinite(xtx).all() or not np.isfinite(xty).all() or np.trace(xtx) <= 0:
        return fallback
    weights = nnls_gram(xtx, xty)
    total = float(weights.sum())
    return fallback if total <= 0 else np.asarray(weights / total)


@dataclass(frozen=True)
class Profile:
    entity_id: str
    days_observed: int
    total_spend: int
    total_revenue: int
    total_conversions: int
    hour_spend: list[int]
    hour_revenue: list[int]
    hour_conversions: list[int]
    hour_roas: list[float]
    hour_index: list[float]
    hour_multiplier: list[float]
    peak_hours: list[int]
    valley_hours: list[int]
    confidence: float


def _grid(rows: np.ndarray, hours: np.ndarray, values: pd.Series, entities: int) -> np.ndarray:
    """entities x 24 array of one summed column (hours without rows: 0), by scatter-add."""
    out = np.zeros((entities, HOURS))
    np.add.at(out, (rows, hours), values.to_numpy(dtype=float))
    return out


def tau_squared(x: np.ndarray, v: np.ndarray) -> float:
    """Between-hour variance of true indices around 1, pooled over an account (DerSimonian-Laird)."""
    ok = np.isfinite(x) & np.isfinite(v) & (v > 0)
    if ok.sum() < 2:
        return 0.0
    w = 1.0 / v[ok]
    q = float(np.sum(w * (x[ok] - 1.0) ** 2))
    denominator = float(w.sum() - np.sum(w**2) / w.sum())
    if denominator <= 0:
        return 0.0
    return max(0.0, (q - float(ok.sum())) / denominator)


@cache
def _threadpools() -> ThreadpoolController:
    """The process's thread pools, found once (each threadpool_limits call looks them up: ~2 ms)."""
    return ThreadpoolController()


def effective_spend(spend: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """entities x 24: each local hour's spend plus the delayed share of the hours before it.

    E[h] = sum_d kernel[d] x S[(h - d) mod 24], on the window's per-local-hour sums: over
    whole days, the hours before 01:00 are the previous evening's.  (Exact but for the
    window's first hours and, on a daylight-saving day, one hour's shift.)
    """
    out = np.zeros_like(spend, dtype=float)
    for d, weight in enumerate(kernel):
        out += weight * np.roll(spend, d, axis=1)
    return out


def lagged_moments(rows: pd.DataFrame, lags: int = MAX_DELAY_HOURS) -> tuple[np.ndarray, np.ndarray]:
    """Normal equations (X'X, X'y) of revenue in units of each entity's ROAS on lagged spend.

    ``rows``: entity_id, spend, revenue, inside (in the window, not its run-in), ordered by
    entity and hour.  Lag d is the spend d rows earlier of the same entity: a missing hour
    is missing spend, which is what it was.  Only rows inside the window, of entities with
    revenue, are regressed; the run-in rows only supply their lags.
    """
    codes = pd.factorize(rows["entity_id"])[0]
    spend = rows["spend"].to_numpy(dtype=np.float64)
    revenue = rows["revenue"].to_numpy(dtype=np.float64)
    inside = rows["inside"].to_numpy(dtype=bool)
    x = np.zeros((len(rows), lags))
    for d in range(min(lags, len(rows))):
        x[d:, d] = np.where(codes[d:] == codes[: len(rows) - d], spend[: len(rows) - d], 0.0)
    n = int(codes.max()) + 1 if len(codes) else 0
    total_spend = np.bincount(codes[inside], spend[inside], minlength=n)
    total_revenue = np.bincount(codes[inside], revenue[inside], minlength=n)
    roas = np.divide(total_revenue, total_spend, out=np.zeros(n), where=total_spend > 0)[codes]
    usable = inside & (roas > 0)
    x, y = x[usable], revenue[usable] / roas[usable]
    # One BLAS thread: Airflow runs accounts in parallel processes, and OpenBLAS's own threads
    # on this (rows x lags) product cost 20x on a busy two-core machine (0.44 s against
    # 0.019 s for 168,000 x 24, side by side; docs/allocator.md).
    with _threadpools().limit(limits=1, user_api="blas"):
        return x.T @ x, x.T @ y


def days_observed(sums: pd.DataFrame) -> pd.DataFrame:
    """entity_id, days_observed from the per-hour day masks (days_lo, days_hi) of hour sums."""
    # OR each entity's masks together with ufunc.at over factorized ids (a groupby with a
    # Python reducer called back once per entity cost ~0.2 s an account).
    codes, entities = pd.factorize(sums["entity_id"].astype(str))
    counts = np.zeros(len(entities), dtype=np.int64)
    for column in ("days_lo", "days_hi"):
        masks = np.zeros(len(entities), dtype=np.uint64)
        np.bitwise_or.at(masks, codes, sums[column].to_numpy(dtype=np.int64).view(np.uint64))
        counts += np.bitwise_count(masks)
    return pd.DataFrame({"entity_id": np.asarray(entities, dtype=object), "days_observed": counts})


def learn(
    sums: pd.DataFrame, days: pd.DataFrame | None = None, kernel: np.ndarray | None = None
) -> list[Profile]:
    """Profiles of one account's entities.

    ``sums``: per entity_id and local_hour the columns of SUM_COLUMNS.  ``days``:
    entity_id, days_observed (local dates with spend); None: from the sums' day masks.  ``kernel``: the account's
    attribution-delay weights (delay_kernel); None: purchases reported in the click's hour.
    """
    if sums.empty:
        return []
    if days is None:
        days = days_observed(sums)
    entities = sorted(sums["entity_id"].unique())
    codes = pd.Categorical(sums["entity_id"], categories=entities).codes
    hours = sums["local_hour"].to_numpy(dtype=np.int64)
    n, s, r, c, rr, rs, ss = (
        _grid(codes, hours, sums[k], len(entities))
        for k in ("n", "spend", "revenue", "conversions", "rr", "rs", "ss")
    )
    e = effective_spend(s, np.ones(1) if kernel is None else kernel)

    total_s, total_r, total_c = s.sum(axis=1), r.sum(axis=1), c.sum(axis=1)
    entity_roas = np.divide(total_r, total_s, out=np.zeros_like(total_r), where=total_s > 0)
    total_e = e.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        hour_roas = np.where(s > 0, r / s, np.nan)  # as reported, for people
        # Revenue per effective spend, relative to the entity's (total effective ~ total spend).
        lagged_roas = np.where(e > 0, r / e, np.nan)
        x = lagged_roas / (total_r / total_e)[:, None]  # raw index (nan: no spend, or no revenue)
        # Ratio-estimator variance from the day-to-day scatter of the hour's revenue around
        # its spend (rho = R/S), over the effective spend it is divided by ...
        rho = np.where(s > 0, r / s, 0.0)
        residual = np.maximum(rr - 2 * rho * rs + rho**2 * ss, 0.0)
        ratio_var = (
            np.where(n >= 2, residual / e**2 * n / (n - 1), np.inf) / (total_r / total_e)[:, None] ** 2
        )
        # ... floored by Poisson noise in the purchases the hour would have at the average rate.
        expected = total_c[:, None] * e / total_e[:, None]
        poisson_rel = np.where(expected > 0, 1.0 / expected, np.inf)
        v = np.maximum(ratio_var, poisson_rel)
    usable = np.isfinite(x) & (entity_roas[:, None] > 0) & (s > 0)
    tau2 = tau_squared(np.where(usable, x, np.nan), np.where(usable, v, np.nan))
    weight = np.where(usable & np.isfinite(v), tau2 / (tau2 + v), 0.0) if tau2 > 0 else np.zeros_like(x)
    shrunk = 1.0 + weight * np.where(usable, x - 1.0, 0.0)
    finite_v = np.where(np.isfinite(v), v, 0.0)
    posterior_sd = np.sqrt(np.where(usable & np.isfinite(v), weight * finite_v, tau2))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(posterior_sd > 0, (shrunk - 1.0) / posterior_sd, 0.0)
    peaks = (z > Z) & (shrunk >= 1.0 + MIN_EFFECT)
    valleys = (z < -Z) & (shrunk <= 1.0 - MIN_EFFECT)

    # Multipliers: a day at the usual hourly spend shares costs what it would at the base budget.
    share = np.divide(s, total_s[:, None], out=np.full_like(s, 1.0 / HOURS), where=total_s[:, None] > 0)
    multiplier = shrunk / np.sum(share * shrunk, axis=1, keepdims=True)

    days_by_entity = days.set_index("entity_id")["days_observed"].reindex(entities).fillna(0).to_numpy()
    evidence = total_c / (total_c + CONVERSIONS_HALF)
    coverage = np.minimum(1.0, days_by_entity / FULL_COVERAGE_DAYS)
    precision = 1.0 / (1.0 + PRECISION_SCALE * np.sum(share * posterior_sd, axis=1))
    confidence = np.where(entity_roas > 0, evidence * coverage * precision, 0.0)

    # Whole arrays to Python lists once (per-element conversion was most of the time here).
    spend_l, revenue_l, conv_l = (a.astype(np.int64).tolist() for a in (s, r, c))
    roas_l = np.where(np.isfinite(hour_roas), hour_roas, 0.0).tolist()
    index_l, multiplier_l = np.round(shrunk, 4).tolist(), np.round(multiplier, 4).tolist()
    hours = np.arange(HOURS)
    confidence_l = np.round(np.clip(confidence, 0.0, 1.0), 4).tolist()
    return [
        Profile(
            entity_id=str(entity),
            days_observed=int(days_by_entity[i]),
            total_spend=int(total_s[i]),
            total_revenue=int(total_r[i]),
            total_conversions=int(total_c[i]),
            hour_spend=spend_l[i],
            hour_revenue=revenue_l[i],
            hour_conversions=conv_l[i],
            hour_roas=roas_l[i],
            hour_index=index_l[i],
            hour_multiplier=multiplier_l[i],
            peak_hours=hours[peaks[i]].tolist(),
            valley_hours=hours[valleys[i]].tolist(),
            confidence=confidence_l[i],
        )
        for i, entity in enumerate(entities)
    ]


def schedule(profile: Profile, base_budget: int, low: float, high: float) -> list[tuple[int, float, int]]:
    """The recommended 24-hour budget schedule: (local hour, multiplier, daily budget in force).

    The profile's multiplier bounded by the rule's [low, high], applied to the base budget
    and rounded to the minor unit.
    """
    out = []
    for hour, multiplier in enumerate(profile.hour_multiplier):
        bounded = min(max(multiplier, low), high)
        out.append((hour, round(bounded, 4), max(1, round(base_budget * bounded))))
    return out
