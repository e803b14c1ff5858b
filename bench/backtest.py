"""Backtest: does the autoscaler make money?  Five scenarios x five seeds x four policies.

Each run is ``autoscaler.backtest.run`` (the simulator hour by hour, decisions through
policy.decide) over DAYS days.  For each scenario and seed, a policy's *share* is how much of
the oracle's profit uplift over static it achieved: (profit - static) / (oracle - static);
1 is the oracle, 0 is doing nothing, below 0 is worse than doing nothing.  Reported as mean
and range over the seeds, with the wasted spend next to it.

Targets: the default beats the seed's literal rule in mean share and in every scenario's
profit, and beats doing nothing (static) in every scenario.  The seed's promise (ROAS 2.2x ->
2.8x, wasted spend $15K -> $5K a month on the $100K/month account, scenario seed-100k) is
reported as measured, not asserted.
"""

from __future__ import annotations

import statistics
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from autoscaler.backtest import POLICIES
from autoscaler.backtest import run as backtest_run
from autoscaler.sandbox.scenario import load_scenario
from bench.common import main, target_lines

SCENARIOS = ("seed-100k", "losers", "demo", "flat", "planted")
SEEDS = (1, 2, 3, 4, 5)
DAYS = 14


def _one(job: tuple[str, int, str]) -> dict[str, Any]:
    scenario, seed, policy = job
    return backtest_run(load_scenario(scenario), days=DAYS, seed=seed, policy=policy).as_dict()


def run() -> dict[str, Any]:
    jobs = [(s, seed, p) for s in SCENARIOS for seed in SEEDS for p in POLICIES]
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_one, jobs))
    by = {(r["scenario"], r["seed"], r["policy"]): r for r in results}
    table = []
    for scenario in SCENARIOS:
        row: dict[str, Any] = {"scenario": scenario}
        for policy in POLICIES:
            runs = [by[(scenario, seed, policy)] for seed in SEEDS]
            row[f"{policy}_profit"] = statistics.mean(r["profit"] for r in runs)
            row[f"{policy}_roas"] = statistics.mean(r["roas"] for r in runs)
            row[f"{policy}_wasted"] = statistics.mean(r["wasted_spend"] for r in runs)
            row[f"{policy}_changes"] = statistics.mean(r["changes"] for r in runs)
            if policy in ("seed", "default"):
                shares = []
                for seed in SEEDS:
                    static = by[(scenario, seed, "static")]["profit"]
                    oracle = by[(scenario, seed, "oracle")]["profit"]
                    shares.append((by[(scenario, seed, policy)]["profit"] - static) / (oracle - static))
                row[f"{policy}_share"] = statistics.mean(shares)
                row[f"{policy}_share_range"] = [min(shares), max(shares)]
        table.append(row)
    mean_share = {p: statistics.mean(r[f"{p}_share"] for r in table) for p in ("seed", "default")}
    total_profit = {p: sum(r[f"{p}_profit"] for r in table) for p in POLICIES}
    seed100k = next(r for r in table if r["scenario"] == "seed-100k")
    return {
        "days": DAYS,
        "seeds": list(SEEDS),
        "runs": results,
        "table": table,
        "mean_share": mean_share,
        "promise": {
            "static_roas": seed100k["static_roas"],
            "default_roas": seed100k["default_roas"],
            "seed_roas": seed100k["seed_roas"],
            "static_wasted_per_30_days": seed100k["static_wasted"] * 30 / DAYS,
            "default_wasted_per_30_days": seed100k["default_wasted"] * 30 / DAYS,
            "seed_wasted_per_30_days": seed100k["seed_wasted"] * 30 / DAYS,
        },
        "total_profit": total_profit,
        "targets": {
            "default_beats_seed_in_mean_share": mean_share["default"] > mean_share["seed"],
            "default_beats_static_in_every_scenario": all(r["default_share"] > 0 for r in table),
            "default_beats_seed_in_every_scenario": all(
                r["default_profit"] > r["seed_profit"] for r in table
            ),
        },
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"backtest: {len(SCENARIOS)} scenarios x {len(result['seeds'])} seeds x {len(POLICIES)} policies, "
        f"{result['days']} days each; profit in USD (mean over seeds); share = (profit - static) / "
        "(oracle - static), mean [min, max]",
        f"  {'scenario':<10} {'static':>10} {'oracle':>10} {'seed':>10} {'seed share':>22} "
        f"{'default':>10} {'default share':>22} {'wasted s/seed/def':>22}",
    ]
    for r in result["table"]:

        def share(p: str, row: dict[str, Any] = r) -> str:
            low, high = row[f"{p}_share_range"]
            return f"{row[f'{p}_share']:+.2f} [{low:+.2f}, {high:+.2f}]"

        lines.append(
            f"  {r['scenario']:<10} {r['static_profit']:>10,.0f} {r['oracle_profit']:>10,.0f} "
            f"{r['seed_profit']:>10,.0f} {share('seed'):>22} {r['default_profit']:>10,.0f} {share('default'):>22} "
            f"{r['static_wasted']:>7,.0f}/{r['seed_wasted']:>6,.0f}/{r['default_wasted']:>6,.0f}"
        )
    p = result["promise"]
    lines.append(
        f"  mean share: seed {result['mean_share']['seed']:+.2f}, default {result['mean_share']['default']:+.2f}"
    )
    lines.append(
        f"  the seed's promise on seed-100k (2.2x -> 2.8x; $15K -> $5K wasted a month): ROAS static "
        f"{p['static_roas']:.2f}, seed {p['seed_roas']:.2f}, default {p['default_roas']:.2f}; wasted per 30 days "
        f"static ${p['static_wasted_per_30_days']:,.0f}, seed ${p['seed_wasted_per_30_days']:,.0f}, "
        f"default ${p['default_wasted_per_30_days']:,.0f}"
    )
    return "\n".join(lines + target_lines(result))


if __name__ == "__main__":
    main("backtest", run, report)
