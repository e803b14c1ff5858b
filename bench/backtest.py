"""Backtest: does the autoscaler make money?  Every backtest scenario x five seeds x four policies.

Each run is ``autoscaler.backtest.run`` over DAYS days: the policies decide on what Meta would
report, through production's own snapshot and decide code (docs/backtest.md); the oracle
plans each entity's budget path knowing the world.  For each scenario and seed, a policy's
*share* is how much of the oracle's profit uplift over static it achieved:
(profit - static) / (oracle - static); 1 is the oracle, 0 is doing nothing, below 0 is
worse than doing nothing.  Reported as mean and [min, max] over the seeds.

Targets:
* the oracle is an upper bound: no policy earns more than the oracle in any run (a policy
  that did would show the oracle, not the policy, to be wrong);
* the default (the allocator) earns at least static's mean profit in every scenario, and more
  than the thresholds in every scenario.
The load scenarios (bench-2000, scale-100x1000) are not backtested: they exist for throughput.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from autoscaler.backtest import POLICIES
from autoscaler.backtest import run as backtest_run
from autoscaler.sandbox.scenario import load_scenario
from bench.common import main, target_lines

SCENARIOS = (
    "seed-100k",
    "losers",
    "demo",
    "flat",
    "planted",
    "fatigue",
    "pixel-outage",
    "black-friday",
    "break-even",
    "long-tail",
    "late-reporting",
)
SEEDS = (1, 2, 3, 4, 5)
DAYS = 14
COMPARED = tuple(p for p in POLICIES if p not in ("static", "oracle"))


def _one(job: tuple[str, int, str, int]) -> dict[str, Any]:
    scenario, seed, policy, days = job
    try:
        return backtest_run(load_scenario(scenario), days=days, seed=seed, policy=policy).as_dict()
    except Exception as exc:  # one broken run is reported, not the whole table lost
        return {"scenario": scenario, "seed": seed, "policy": policy, "error": f"{type(exc).__name__}: {exc}"}


def _jobs(
    scenarios: tuple[str, ...], seeds: tuple[int, ...], days: int, policies: tuple[str, ...] = POLICIES
) -> list[tuple[str, int, str, int]]:
    jobs = [(s, seed, p, days) for s in scenarios for seed in seeds for p in policies]
    # The rule policies take longest (production's code every hour; time of day a month's
    # shadow period where the scenario has one): start them first.
    return sorted(jobs, key=lambda j: (j[2] in ("static", "oracle"), j[2] != "allocator+time"))


def _execute(jobs: list[tuple[str, int, str, int]]) -> tuple[list[dict[str, Any]], float, int]:
    """The runs, in worker processes with a progress bar: (results, seconds, workers)."""
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    workers = max(1, min(os.cpu_count() or 1, 4))
    columns = (TextColumn("backtest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # One BLAS thread per worker: the processes already fill the cores, and OpenBLAS's own
    # threads on the allocator's small matrices cost 6x more than they save on a busy machine
    # (lagged_moments: 38 ms against 6 ms, measured side by side).  Spawned workers read it
    # when they import numpy.
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    context = multiprocessing.get_context("spawn")
    with (
        Progress(*columns, transient=False) as bar,
        ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool,
    ):
        task = bar.add_task("runs", total=len(jobs))
        for future in as_completed([pool.submit(_one, job) for job in jobs]):
            results.append(future.result())
            bar.advance(task)
    failed = [r for r in results if "error" in r]
    if failed:
        raise RuntimeError(f"{len(failed)} backtest runs failed, e.g. {failed[0]}")
    return results, time.perf_counter() - started, workers


def run(
    scenarios: tuple[str, ...] = SCENARIOS, seeds: tuple[int, ...] = SEEDS, days: int = DAYS
) -> dict[str, Any]:
    results, elapsed, workers = _execute(_jobs(scenarios, seeds, days))
    return summarise(results, scenarios, seeds, days, elapsed, workers)


def rerun(previous: dict[str, Any], scenarios: tuple[str, ...], policies: tuple[str, ...]) -> dict[str, Any]:
    """The saved table with these scenarios' runs of these policies done again (after a change that
    touches only them); the rest kept as measured, and the table recomputed from all runs."""
    seeds, days = tuple(previous["seeds"]), int(previous["days"])
    fresh, elapsed, workers = _execute(_jobs(scenarios, seeds, days, policies))
    replaced = {(r["scenario"], r["seed"], r["policy"]) for r in fresh}
    kept = [r for r in previous["runs"] if (r["scenario"], r["seed"], r["policy"]) not in replaced]
    out = summarise(kept + fresh, tuple(previous["scenarios"]), seeds, days, previous["elapsed_s"], workers)
    out["rerun"] = {"scenarios": list(scenarios), "policies": list(policies), "elapsed_s": round(elapsed, 1)}
    return out


def summarise(
    results: list[dict[str, Any]],
    scenarios: tuple[str, ...],
    seeds: tuple[int, ...],
    days: int,
    elapsed: float,
    workers: int,
) -> dict[str, Any]:
    by = {(r["scenario"], r["seed"], r["policy"]): r for r in results}
    table = []
    beaten: list[str] = []
    for scenario in scenarios:
        row: dict[str, Any] = {"scenario": scenario}
        for policy in POLICIES:
            runs = [by[(scenario, seed, policy)] for seed in seeds]
            row[f"{policy}_profit"] = statistics.mean(r["profit"] for r in runs)
            row[f"{policy}_roas"] = statistics.mean(r["roas"] for r in runs)
            row[f"{policy}_wasted"] = statistics.mean(r["wasted_spend"] for r in runs)
            row[f"{policy}_changes"] = statistics.mean(r["changes"] for r in runs)
            row[f"{policy}_refused"] = statistics.mean(r["refused"] for r in runs)
        for policy in COMPARED:
            shares = []
            for seed in seeds:
                static = by[(scenario, seed, "static")]["profit"]
                oracle = by[(scenario, seed, "oracle")]["profit"]
                mine = by[(scenario, seed, policy)]["profit"]
                if mine > oracle:
                    beaten.append(f"{policy} on {scenario} seed {seed}: {mine:,.0f} > oracle {oracle:,.0f}")
                shares.append((mine - static) / (oracle - static) if oracle != static else 0.0)
            row[f"{policy}_share"] = statistics.mean(shares)
            row[f"{policy}_share_range"] = [min(shares), max(shares)]
        table.append(row)
    mean_share = {p: statistics.mean(r[f"{p}_share"] for r in table) for p in COMPARED}
    return {
        "days": days,
        "seeds": list(seeds),
        "scenarios": list(scenarios),
        "elapsed_s": round(elapsed, 1),
        "workers": workers,
        "runs": sorted(results, key=lambda r: (r["scenario"], r["seed"], r["policy"])),
        "table": table,
        "mean_share": mean_share,
        "oracle_beaten": beaten,
        # What time of day adds to the default, per scenario (mean profit over the seeds, USD).
        "time_of_day_gain": {
            r["scenario"]: r["allocator+time_profit"] - r["allocator_profit"] for r in table
        },
        "default_at_least_static": {
            r["scenario"]: r["allocator_profit"] >= r["static_profit"] for r in table
        },
        "targets": {
            "no_policy_earns_more_than_the_oracle": not beaten,
            "default_at_least_static_in_every_scenario": all(
                r["allocator_profit"] >= r["static_profit"] for r in table
            ),
            "default_ahead_of_thresholds_in_every_scenario": all(
                r["allocator_profit"] > r["thresholds_profit"] for r in table
            ),
        },
        "reported": {
            "default_mean_share_at_least_0_6": mean_share["allocator"] >= 0.6,
        },
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"backtest: {len(result['scenarios'])} scenarios x {len(result['seeds'])} seeds x {len(POLICIES)} policies, "
        f"{result['days']} days each, {result['elapsed_s']:.0f} s on {result['workers']} processes; profit in USD "
        "(mean over seeds); share = (profit - static) / (oracle - static), mean [min, max]",
        f"  {'scenario':<15} {'static':>10} {'oracle':>10} "
        + " ".join(f"{p:>10} {p + ' share':>24}" for p in COMPARED)
        + "  allocator >= static",
    ]
    for r in result["table"]:

        def share(p: str, row: dict[str, Any] = r) -> str:
            low, high = row[f"{p}_share_range"]
            return f"{row[f'{p}_share']:+.2f} [{low:+.2f}, {high:+.2f}]"

        lines.append(
            f"  {r['scenario']:<15} {r['static_profit']:>10,.0f} {r['oracle_profit']:>10,.0f} "
            + " ".join(f"{r[f'{p}_profit']:>10,.0f} {share(p):>24}" for p in COMPARED)
            + f"  {'yes' if r['allocator_profit'] >= r['static_profit'] else 'NO'}"
        )
    lines.append("  mean share: " + ", ".join(f"{p} {v:+.2f}" for p, v in result["mean_share"].items()))
    for line in result["oracle_beaten"]:
        lines.append(f"  ORACLE BEATEN: {line}")
    return "\n".join(lines + target_lines(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    parser.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument(
        "--rerun",
        nargs="*",
        metavar="POLICY",
        help="redo only --scenarios' runs of these policies and merge them into the saved results",
    )
    args = parser.parse_args()
    if args.rerun:
        import json

        from bench.common import RESULTS

        saved = json.loads((RESULTS / "backtest.json").read_text())
        main("backtest", lambda: rerun(saved, tuple(args.scenarios), tuple(args.rerun)), report)
    else:
        main("backtest", lambda: run(tuple(args.scenarios), tuple(args.seeds), args.days), report)
