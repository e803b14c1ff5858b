"""The backtest: policies against the simulator, counted in what they earned, judged by an honest oracle."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler import backtest
from autoscaler.cli import main
from autoscaler.oracle import PLANS, oracle_and_bound, run_oracle
from autoscaler.sandbox.scenario import load_scenario, parse_scenario
from autoscaler.sandbox.simulator import BUDGET_CHANGES_PER_HOUR, Simulator

LOSERS = load_scenario("losers")


def small(**account: object) -> dict[str, object]:
    return {
        "name": "small",
        "start": "2026-11-30T05:00:00Z",
        "history_days": 4,
        "accounts": [
            {
                "account_id": "act_9001",
                "currency": "USD",
                "timezone": "America/New_York",
                "groups": [{"kind": "abo", "count": 2, "adsets_per_campaign": 2, "daily_budget": [50, 200]}],
                **account,
            }
        ],
    }


def test_static_changes_nothing_and_the_books_add_up() -> None:
    result = backtest.run(LOSERS, days=2, seed=3, policy="static")
    assert (result.changes, result.refused) == (0, 0)
    assert result.spend > 0
    assert result.revenue > 0
    assert result.profit == pytest.approx(result.revenue - result.spend)
    assert 0 < result.wasted_spend <= result.spend  # a losers' account wastes, but not more than it spends
    # What Meta reported is a noisy draw of the expected revenue the books count.
    assert result.reported_revenue == pytest.approx(result.revenue, rel=0.25)


def test_a_run_is_reproducible_and_the_seed_changes_the_world() -> None:
    first = backtest.run(LOSERS, days=1, seed=3, policy="default")  # the allocator
    assert first.policy == "allocator"
    assert backtest.run(LOSERS, days=1, seed=3, policy="default") == first
    assert backtest.run(LOSERS, days=1, seed=4, policy="default") != first


def test_money_is_totalled_at_the_stated_rate_and_per_account_in_its_own_currency() -> None:
    usd = backtest.run(parse_scenario(small()), days=1, seed=1, policy="static")
    inr = parse_scenario(
        small(
            currency="INR",
            groups=[{"kind": "abo", "count": 2, "adsets_per_campaign": 2, "daily_budget": [4200, 16800]}],
        )
    )
    rupees = backtest.run(inr, days=1, seed=1, policy="static")
    (account,) = rupees.accounts
    assert account.currency == "INR"
    assert rupees.spend == pytest.approx(account.spend / 84.0, abs=0.01)  # not 1:1
    assert rupees.spend < usd.spend * 2  # same-sized budgets, once converted
    overridden = parse_scenario({**small(currency="INR"), "exchange_rates": {"INR": 42.0}})
    doubled = backtest.run(overridden, days=1, seed=1, policy="static")
    assert doubled.spend == pytest.approx(doubled.accounts[0].spend / 42.0, abs=0.01)


def test_writes_to_a_read_only_account_are_refused_with_error_200_and_counted() -> None:
    scenario = parse_scenario(small(read_only=True, groups=[{"kind": "abo", "count": 3, "roas": [0.2, 0.4]}]))
    result = backtest.run(scenario, days=2, seed=1, policy="seed")
    assert result.changes == 0
    assert result.refused > 0
    assert set(result.refused_by_code) == {"200"}
    oracle = backtest.run(scenario, days=2, seed=1, policy="oracle")
    assert oracle.changes == 0  # the oracle obeys Meta too


def test_policies_decide_on_what_meta_reports_not_on_what_happened() -> None:
    # A pixel that never reports: people buy (revenue is earned), the rule sees nothing.
    blind = parse_scenario(
        {
            **small(groups=[{"kind": "abo", "count": 4, "roas": [4, 5]}]),
            "shocks": [{"from": "2026-11-01T00:00:00Z", "to": "2026-12-31T00:00:00Z", "reported": 0}],
        }
    )
    result = backtest.run(blind, days=2, seed=1, policy="seed")
    assert result.reported_revenue == 0
    assert result.revenue > result.spend  # winners in truth
    sighted = backtest.run(
        parse_scenario(small(groups=[{"kind": "abo", "count": 4, "roas": [4, 5]}])),
        days=2,
        seed=1,
        policy="seed",
    )
    assert (
        sighted.spend > 2 * result.spend
    )  # the seed's rule scales winners it can see, pauses ones it cannot


def test_the_seeds_rule_pauses_on_noise_and_the_thresholds_wait_for_evidence() -> None:
    seed = backtest.run(LOSERS, days=3, seed=3, policy="seed")
    default = backtest.run(LOSERS, days=3, seed=3, policy="thresholds")
    assert seed.spend < default.spend / 4
    assert default.profit > seed.profit


def test_the_oracle_runs_every_entity_on_its_best_plan_and_earns_their_sum() -> None:
    scenario = load_scenario("break-even")
    start = Simulator(scenario, seed=2)
    oracle, ceiling, choice = oracle_and_bound(scenario, days=2, seed=2)
    assert len(oracle) == len(start.holders)
    # Entities do not interact: the mixed run earns exactly each entity's best.
    assert (oracle <= ceiling + 1e-6).all()
    assert set(PLANS[c] for c in choice) <= set(PLANS)
    assert oracle.sum() >= 0.9 * ceiling.sum()  # close to what no path can beat


def test_the_oracle_obeys_meta_and_the_rule_limits() -> None:
    scenario = load_scenario("losers")
    sim = Simulator(scenario, seed=1)
    low, high = backtest.limits(sim)[0]
    from autoscaler import oracle as oracle_module

    plan = oracle_module._Plan(sim, 24, backtest.limits(sim))
    _, after = oracle_module._run(sim, plan, np.full(len(sim.holders), PLANS.index("hourly")), 24)
    per_hour: dict[tuple[str, str], int] = {}
    for write in after.history:
        if write["field"] == "daily_budget":
            assert low <= write["after"] <= high
            key = (write["entity_id"], write["at"][:13])
            per_hour[key] = per_hour.get(key, 0) + 1
            # steps under the learning reset: never restarts learning
            assert abs(write["after"] - write["before"]) < scenario.learning_reset * write["before"]
    assert max(per_hour.values()) <= BUDGET_CHANGES_PER_HOUR


SMALL_WORLDS = {
    "roas": st.tuples(st.floats(0.3, 2.0), st.floats(2.0, 6.0)),
    "elasticity": st.tuples(st.floats(0.3, 0.55), st.floats(0.55, 0.95)),
    "count": st.integers(1, 4),
    "seed": st.integers(1, 10_000),
    "hour_effects": st.sampled_from(["flat", "mild", "planted"]),
    "learning_penalty": st.floats(0.5, 1.0),
}


def _random_worlds(examples: int) -> Any:
    """The property below over ``examples`` random small worlds."""

    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(**SMALL_WORLDS)
    def check(
        roas: tuple[float, float],
        elasticity: tuple[float, float],
        count: int,
        seed: int,
        hour_effects: str,
        learning_penalty: float,
    ) -> None:
        _oracle_bounds_every_policy(roas, elasticity, count, seed, hour_effects, learning_penalty)

    return check


# Three random worlds in `make test` (about 15 s each); `make test-long` tries twenty more.
test_no_policy_earns_more_than_the_oracle_and_the_oracle_stays_under_the_bound = _random_worlds(3)
test_no_policy_earns_more_than_the_oracle_in_twenty_more_worlds = pytest.mark.long(_random_worlds(20))


def _oracle_bounds_every_policy(
    roas: tuple[float, float],
    elasticity: tuple[float, float],
    count: int,
    seed: int,
    hour_effects: str,
    learning_penalty: float,
) -> None:
    scenario = parse_scenario(
        {
            **small(
                groups=[
                    {
                        "kind": "abo",
                        "count": count,
                        "roas": list(roas),
                        "elasticity": list(elasticity),
                        "hour_effects": hour_effects,
                    }
                ]
            ),
            "learning_penalty": learning_penalty,
        }
    )
    oracle = run_oracle(scenario, days=2, seed=seed)
    for policy in ("static", "seed", "thresholds", "allocator"):
        assert backtest.run(scenario, days=2, seed=seed, policy=policy).profit <= oracle.profit + 0.01, policy
    sim = Simulator(scenario, seed=seed)
    per_entity, ceiling, _ = oracle_and_bound(scenario, days=2, seed=seed)
    assert per_entity.sum() <= ceiling.sum() + 1e-6
    del sim


def test_the_command_prints_every_policy_or_one_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
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
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["policy"], out["days"], out["scenario"]) == ("oracle", 1, "losers")
    assert out["accounts"][0]["currency"] == "USD"
    assert main(["backtest", "--scenario", "losers", "--days", "1"]) == 0
    table = capsys.readouterr().out
    assert all(policy in table for policy in backtest.POLICIES)
    assert main(["backtest", "--scenario", "nowhere", "--days", "1"]) == 2
    assert "no built-in scenario or file named 'nowhere'" in capsys.readouterr().err
