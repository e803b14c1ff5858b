"""The backtest: policies against the simulator, counted in what they earned."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autoscaler import backtest
from autoscaler.cli import main
from autoscaler.sandbox.scenario import load_scenario
from autoscaler.sandbox.simulator import Simulator

LOSERS = load_scenario("losers")


def test_static_changes_nothing_and_the_books_add_up() -> None:
    result = backtest.run(LOSERS, days=2, seed=3, policy="static")
    assert (result.changes, result.refused) == (0, 0)
    assert result.spend > 0
    assert result.revenue > 0
    assert result.profit == pytest.approx(result.revenue - result.spend)
    assert 0 < result.wasted_spend <= result.spend  # a losers' account wastes, but not more than it spends


def test_a_run_is_reproducible_and_the_seed_changes_the_world() -> None:
    first = backtest.run(LOSERS, days=2, seed=3, policy="default")
    assert backtest.run(LOSERS, days=2, seed=3, policy="default") == first
    assert backtest.run(LOSERS, days=2, seed=4, policy="default") != first


def test_the_oracle_budget_has_marginal_roas_one() -> None:
    sim = Simulator(LOSERS, seed=3)
    wide = {a.index: (1, 10**12) for a in sim.accounts}  # no limits: the unconstrained optimum
    budgets, keep = backtest.oracle_budgets(sim, wide)
    e, roas0, base = sim.elasticity, sim.roas0, sim.base_budget
    marginal = roas0 * e * np.power(budgets / base, e - 1.0)
    assert np.allclose(marginal, 1.0, atol=0.01)
    assert keep.all()  # at its optimum every entity returns 1/e > 1


def test_the_oracle_pauses_what_loses_money_even_at_the_lowest_budget() -> None:
    sim = Simulator(LOSERS, seed=3)
    bounds = backtest.limits(sim)
    budgets, keep = backtest.oracle_budgets(sim, bounds)
    low = np.asarray([bounds[a][0] for a in sim.holder_account])
    at_floor = budgets == low
    roas_at_floor = sim.roas0 * np.power(low / sim.base_budget, sim.elasticity - 1.0)
    assert (~keep == (at_floor & (roas_at_floor < 1.0))).all()


def test_the_seeds_rule_pauses_on_noise_and_the_default_waits_for_evidence() -> None:
    seed = backtest.run(LOSERS, days=3, seed=3, policy="seed")
    default = backtest.run(LOSERS, days=3, seed=3, policy="default")
    # The seed's rule pauses whatever had a day without purchases: spend collapses, and so
    # does profit; the default keeps what it cannot yet tell from a winner.
    assert seed.spend < default.spend / 4
    assert default.profit > seed.profit


def test_the_command_prints_every_policy_or_one_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "backtest",
                "--scenario",
                "losers",
                "--days",
                "1",
                "--seed",
                "2",
                "--policy",
                "oracle",
                "--format",
                "json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert (out["policy"], out["days"], out["scenario"]) == ("oracle", 1, "losers")
    assert main(["backtest", "--scenario", "losers", "--days", "1"]) == 0
    table = capsys.readouterr().out
    assert all(policy in table for policy in backtest.POLICIES)
    assert main(["backtest", "--scenario", "nowhere", "--days", "1"]) == 2
    assert "no built-in scenario or file named 'nowhere'" in capsys.readouterr().err
