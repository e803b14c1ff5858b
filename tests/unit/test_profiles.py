"""The profile statistics, on sums built by hand: shrinkage, evidence, the delay kernel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autoscaler.profiles import HOURS, delay_kernel, lagged_moments, learn, nnls_gram, schedule


def sums_for(
    entity: str,
    days: int,
    spend_per_hour: float,
    roas: float,
    conversions_per_hour: float,
    effect: dict[int, float] | None = None,
    rng: np.random.Generator | None = None,
    skip_hours: tuple[int, ...] = (),
) -> pd.DataFrame:
    """Per-hour sums of ``days`` days with a Poisson purchase count and a fixed order value."""
    rng = rng or np.random.default_rng(0)
    rows = []
    value = spend_per_hour * roas / max(conversions_per_hour, 1e-9)
    for hour in range(HOURS):
        if hour in skip_hours:
            continue
        lift = (effect or {}).get(hour, 1.0)
        conversions = rng.poisson(conversions_per_hour * lift, days)
        revenue = conversions * value
        spend = np.full(days, spend_per_hour)
        rows.append(
            {
                "entity_id": entity,
                "local_hour": hour,
                "n": days,
                "spend": int(spend.sum()),
                "revenue": int(revenue.sum()),
                "conversions": int(conversions.sum()),
                "rr": float((revenue**2).sum()),
                "rs": float((revenue * spend).sum()),
                "ss": float((spend**2).sum()),
            }
        )
    return pd.DataFrame(rows)


def days(entity: str, n: int) -> pd.DataFrame:
    return pd.DataFrame({"entity_id": [entity], "days_observed": [n]})


def test_a_strong_well_measured_peak_is_found_and_flat_hours_are_not() -> None:
    sums = pd.concat(
        [sums_for("big", 28, 10_000, 3.0, 20, {18: 1.6, 19: 1.6}), sums_for("flat", 28, 10_000, 3.0, 20)]
    )
    by_id = {p.entity_id: p for p in learn(sums, pd.concat([days("big", 28), days("flat", 28)]))}
    assert by_id["big"].peak_hours == [18, 19]
    assert by_id["big"].hour_index[18] > 1.3
    assert by_id["flat"].peak_hours == []
    assert by_id["big"].confidence > 0.5


def test_an_hour_with_two_lucky_purchases_is_not_a_peak() -> None:
    rng = np.random.default_rng(3)
    thin = sums_for("thin", 28, 200, 2.0, 0.02, rng=rng)
    thin.loc[thin["local_hour"] == 21, ["revenue", "conversions"]] = [2 * 5_000, 2]
    thin.loc[thin["local_hour"] == 21, "rr"] = 2 * 5_000.0**2
    busy = sums_for("busy", 28, 10_000, 3.0, 20, {9: 1.5}, rng=rng)  # gives the account a real spread
    by_id = {
        p.entity_id: p
        for p in learn(pd.concat([thin, busy]), pd.concat([days("thin", 28), days("busy", 28)]))
    }
    assert by_id["thin"].peak_hours == []
    assert by_id["thin"].hour_index[21] < 1.2  # shrunk most of the way back to 1
    assert by_id["thin"].confidence < 0.1
    assert by_id["busy"].peak_hours == [9]


def test_hours_without_spend_and_a_new_entity_are_handled() -> None:
    sums = sums_for("new", 2, 1_000, 2.0, 1, skip_hours=tuple(range(0, 6)))
    (profile,) = learn(sums, days("new", 2))
    assert profile.hour_spend[:6] == [0] * 6
    assert profile.hour_index[:6] == [1.0] * 6  # no evidence: no effect
    assert profile.peak_hours == profile.valley_hours == []
    assert profile.confidence < 0.1  # two days, few purchases


def test_multipliers_keep_a_day_at_the_usual_spend_at_the_base_budget() -> None:
    sums = sums_for("big", 28, 10_000, 3.0, 20, {18: 1.6, 3: 0.5})
    (profile,) = learn(sums, days("big", 28))
    share = np.asarray(profile.hour_spend) / sum(profile.hour_spend)
    assert float(np.dot(share, profile.hour_multiplier)) == pytest.approx(1.0, abs=1e-3)
    plan = schedule(profile, base_budget=50_000, low=0.8, high=1.2)
    assert len(plan) == 24
    assert all(0.8 <= m <= 1.2 for _, m, _ in plan)
    assert plan[18][2] == 60_000  # capped at 1.2 x base


def test_nnls_on_normal_equations_matches_the_constrained_least_squares() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((200, 4))
    truth = np.array([0.5, 0.0, 0.3, 0.2])
    y = x @ truth + rng.normal(0, 0.001, 200)
    assert nnls_gram(x.T @ x, x.T @ y) == pytest.approx(truth, abs=0.01)
    # A negative unconstrained optimum is held at zero.
    y2 = x @ np.array([0.6, -0.3, 0.4, 0.3])
    assert nnls_gram(x.T @ x, x.T @ y2).min() >= 0.0


def test_the_delay_kernel_is_recovered_from_lagged_spend() -> None:
    rng = np.random.default_rng(2)
    spend = rng.gamma(2.0, 100.0, 5_000)
    kernel = np.array([0.5, 0.25, 0.15, 0.1])
    lagged = np.column_stack([np.r_[np.zeros(d), spend[: len(spend) - d]] for d in range(4)])
    revenue = lagged @ kernel
    estimated = delay_kernel(lagged.T @ lagged, lagged.T @ revenue)
    assert estimated == pytest.approx(kernel, abs=0.01)
    assert delay_kernel(np.zeros((4, 4)), np.zeros(4)).tolist() == [1.0, 0.0, 0.0, 0.0]


def test_lagged_moments_lag_within_each_entity_and_regress_only_the_window() -> None:
    """Lag d is the same entity's spend d rows back; run-in rows only supply lags."""
    rows = pd.DataFrame(
        {
            "entity_id": ["a"] * 4 + ["b"] * 3,
            "spend": [10, 20, 30, 40, 5, 6, 7],
            "revenue": [0, 40, 60, 80, 0, 12, 14],
            "inside": [False, True, True, True, False, True, True],
        }
    )
    xtx, xty = lagged_moments(rows, lags=2)
    # Inside rows, their (lag 0, lag 1) spend, and revenue / entity ROAS (a: 180/90, b: 26/13).
    x = np.array([[20, 10], [30, 20], [40, 30], [6, 5], [7, 6]], dtype=float)
    y = np.array([40 / 2, 60 / 2, 80 / 2, 12 / 2, 14 / 2])
    assert xtx == pytest.approx(x.T @ x)
    assert xty == pytest.approx(x.T @ y)


def test_lagged_moments_leave_out_entities_without_revenue() -> None:
    rows = pd.DataFrame(
        {"entity_id": ["a", "a", "b"], "spend": [1, 2, 3], "revenue": [0, 0, 9], "inside": [True] * 3}
    )
    xtx, xty = lagged_moments(rows, lags=3)
    assert xtx == pytest.approx(np.diag([9.0, 0.0, 0.0]))  # b's first row: no earlier rows of b
    assert xty == pytest.approx([9.0, 0.0, 0.0])
