"""One hourly run of 100 accounts x 1,000 budget holders, in-process against the sandbox.

The per-account steps the DAG's tasks call (fetch, snapshot, decide, execute), run one
account after another in this process against the sandbox's scale-100x1000 scenario and a
fresh audit database, with a default rule per account.  Reports the total wall time, the
time per step, and the Graph requests counted by the sandbox.  Target: <= 60 s.

The sandbox serves from a thread of this same process, so the time it spends answering
(Meta's side) is counted against us too: the figure is an upper bound for the client side.
The first hour of a fresh scenario changes most budgets (about 70k actions), so execute is
exercised at its heaviest.

The default strategy, the allocator, decides on each holder's last 14 days, which a fresh
scenario does not have (and 100 x 1,000 x 336 hours is 34M rows to load).  So its cost is
taken side by side: the decide step for SAMPLE accounts of 1,000 holders with 14 days of
identical synthetic history, once under a thresholds rule and once under an allocator rule,
and the hourly run with the allocator estimated as the run above with its decide time
scaled by that ratio (the other steps do not depend on the strategy).
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from autoscaler.execute import execute_account
from autoscaler.hourly import RunHour, decide_account, fetch, snapshot
from autoscaler.meta import MetaClient, MetaConfig
from autoscaler.rules import ScalingRule
from autoscaler.sandbox.scenario import Scenario, load_scenario
from autoscaler.sandbox.server import RunningSandbox
from autoscaler.store.accounts import AdAccount, upsert_account
from autoscaler.store.rules import create_rule
from bench.common import bench_database, target_lines

SCENARIO = "scale-100x1000"
SAMPLE = 3  # accounts per strategy in the allocator's side-by-side decide
HOLDERS = 1_000
HISTORY_DAYS = 14


def seed_rules(engine: Engine, scenario: Scenario) -> None:
    """Each account with the seed's rule (the thresholds strategy), acting on any 24 h ROAS: the
    most changes one hour can bring, which is what the scale benchmarks measure (no approvals:
    nothing waits)."""
    with engine.begin() as conn:
        for account in scenario.accounts:
            upsert_account(conn, AdAccount(account.account_id, account.currency, account.timezone))
            create_rule(
                conn,
                ScalingRule.parse(
                    {
                        "account_id": account.account_id,
                        "min_daily_budget": 500,
                        "max_daily_budget": 1_000_000,
                        "min_impressions": 100,
                        "evidence_z": 0,
                        "lookback_hours": 24,
                        # The benchmark's one hour is all the data there is: act on it.
                        "min_window_hours": 1,
                        "strategy": "thresholds",
                    }
                ),
                actor="bench",
            )


def run() -> dict[str, Any]:
    scenario = load_scenario(SCENARIO)
    started_setup = time.perf_counter()
    with bench_database() as engine, RunningSandbox(scenario, seed=3) as sandbox:
        setup_s = time.perf_counter() - started_setup
        meta = MetaClient(MetaConfig(access_token=scenario.access_token, graph_url=sandbox.url))
        seed_rules(engine, scenario)
        hour = scenario.start
        now = hour + timedelta(hours=1, minutes=5)
        body = json.dumps({"to": now.isoformat()}).encode()
        urllib.request.urlopen(
            urllib.request.Request(f"{sandbox.url}/__sandbox/clock", data=body, method="POST")
        ).read()
        urllib.request.urlopen(
            urllib.request.Request(f"{sandbox.url}/__sandbox/requests", method="DELETE")
        ).read()
        steps: dict[str, float] = dict.fromkeys(("fetch", "snapshot", "decide", "execute"), 0.0)
        actions_total = 0
        entities = 0
        started = time.perf_counter()
        for account in scenario.accounts:
            run_hour = RunHour(account.account_id, hour)
            t = time.perf_counter()
            entities += fetch(engine, meta, run_hour, now)["entities"]
            steps["fetch"] += time.perf_counter() - t
            t = time.perf_counter()
            snapshot(engine, meta, run_hour, now)
            steps["snapshot"] += time.perf_counter() - t
            t = time.perf_counter()
            actions_total += decide_account(
                engine, run_hour, now, approval_deadline=now + timedelta(minutes=45)
            ).get("actions", 0)
            steps["decide"] += time.perf_counter() - t
            t = time.perf_counter()
            execute_account(engine, meta, account.account_id)
            steps["execute"] += time.perf_counter() - t
        total = time.perf_counter() - started
        log = json.loads(urllib.request.urlopen(f"{sandbox.url}/__sandbox/requests").read())
    result: dict[str, Any] = {
        "scenario": SCENARIO,
        "accounts": len(scenario.accounts),
        "budget_holders": entities,
        "setup_seconds": setup_s,
        "total_seconds": total,
        "step_seconds": dict(steps),
        "graph_requests": len(log),
        "read_requests": sum(1 for e in log if e["reads"] and not e["writes"]),
        "write_requests": sum(1 for e in log if e["writes"]),
        "actions": actions_total,
    }
    allocator = allocator_decide()
    ratio = allocator["allocator_decide_s"] / allocator["thresholds_decide_s"]
    estimate = total + (ratio - 1.0) * steps["decide"]
    result["allocator"] = {**allocator, "decide_ratio": ratio, "estimated_total_seconds": estimate}
    result["targets"] = {
        "one hourly run of 100 x 1,000 <= 60 s": total <= 60,
        "with the allocator (estimated from the side-by-side decide) <= 60 s": estimate <= 60,
    }
    return result


def _history(engine: Engine, account: str, hour: Any, seed: int, tag: int) -> None:
    """One account's holders and 14 days of hourly snapshots before ``hour`` (not timed): power-law
    curves, budgets that moved every two days, Poisson purchases."""
    from autoscaler.localtime import local_calendar
    from autoscaler.store.holders import upsert_budget_holders
    from autoscaler.store.snapshots import ensure_partitions, upsert_snapshots

    rng = np.random.default_rng(seed)
    hours = pd.date_range(end=hour, periods=HISTORY_DAYS * 24 + 1, freq="h", tz="UTC")
    n = len(hours)
    # The same rows under each strategy, under ids of their own (a holder id is unique across
    # accounts): ``tag`` tells them apart.
    ids = np.asarray([f"9{seed:03d}{tag}{i:06d}" for i in range(HOLDERS)])
    base = rng.integers(5_000, 200_000, HOLDERS).astype(float)
    moves = np.exp(rng.normal(0.0, 0.12, (n // 48 + 1, HOLDERS))).cumprod(axis=0)
    budget = (base * np.repeat(moves, 48, axis=0)[:n]).round()
    spend = (budget / 24.0 * rng.lognormal(0.0, 0.1, (n, HOLDERS))).round().astype(np.int64)
    roas = rng.uniform(0.5, 5.0, HOLDERS) * np.power(budget / base, rng.uniform(0.4, 0.9, HOLDERS) - 1.0)
    conversions = rng.poisson(spend * roas / 6_000.0)
    calendar = local_calendar(pd.Series(hours), "UTC")
    with engine.begin() as conn:
        upsert_budget_holders(
            conn,
            account,
            pd.DataFrame(
                {
                    "entity_id": ids,
                    "level": "adset",
                    "campaign_id": ids,
                    "name": ids,
                    "daily_budget": budget[-1].astype(np.int64),
                    "status": "ACTIVE",
                    "effective_status": "ACTIVE",
                    "learning": False,
                }
            ),
            hour,
        )
    ensure_partitions(engine, hours)
    frame = pd.DataFrame(
        {
            "entity_id": np.tile(ids, n),
            "hour_start": np.repeat(hours, HOLDERS),
            "account_id": account,
            "local_date": np.repeat(calendar["local_date"].to_numpy(), HOLDERS),
            "local_hour": np.repeat(calendar["local_hour"].to_numpy(), HOLDERS),
            "local_weekday": np.repeat(calendar["local_weekday"].to_numpy(), HOLDERS),
            "spend": spend.ravel(),
            "impressions": spend.ravel() // 10,
            "clicks": spend.ravel() // 500,
            "conversions": conversions.ravel(),
            "revenue": (conversions * 6_000).ravel(),
            "revenue_source": "observed",
            "daily_budget": budget.astype(np.int64).ravel(),
            "status": "ACTIVE",
            "effective_status": "ACTIVE",
        }
    )
    frame["observed_at"] = frame["hour_start"] + pd.Timedelta(minutes=65)
    upsert_snapshots(engine, frame)


def allocator_decide() -> dict[str, Any]:
    """decide_account for SAMPLE accounts per strategy on identical 14-day histories, side by side."""
    hour = pd.Timestamp("2026-11-30T12:00:00Z").to_pydatetime()
    now = hour + timedelta(hours=1, minutes=5)
    with bench_database() as engine:
        accounts = []
        for i in range(SAMPLE):
            for strategy in ("thresholds", "allocator"):
                account = f"act_9{i}{int(strategy == 'allocator')}"
                with engine.begin() as conn:
                    upsert_account(conn, AdAccount(account, "USD", "UTC"))
                    create_rule(
                        conn,
                        ScalingRule.parse(
                            {
                                "account_id": account,
                                "min_daily_budget": 500,
                                "max_daily_budget": 1_000_000,
                                "strategy": strategy,
                            }
                        ),
                        actor="bench",
                    )
                # The same history for both strategies.
                _history(engine, account, hour, seed=i, tag=int(strategy == "allocator"))
                accounts.append((strategy, account))
        seconds = {"thresholds": 0.0, "allocator": 0.0}
        actions = {"thresholds": 0, "allocator": 0}
        # Alternate the strategies so a busy neighbour slows both alike.
        for strategy, account in accounts:
            t = time.perf_counter()
            actions[strategy] += decide_account(engine, RunHour(account, hour), now, None).get("actions", 0)
            seconds[strategy] += time.perf_counter() - t
    return {
        "sample_accounts": SAMPLE,
        "holders": HOLDERS,
        "history_days": HISTORY_DAYS,
        "thresholds_decide_s": seconds["thresholds"],
        "allocator_decide_s": seconds["allocator"],
        "thresholds_actions": actions["thresholds"],
        "allocator_actions": actions["allocator"],
    }


def report(result: dict[str, Any]) -> str:
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in result["step_seconds"].items())
    lines = [
        f"One hourly run, {result['accounts']} accounts x {result['budget_holders'] // result['accounts']:,} budget holders ({result['scenario']}), in-process:",
        f"  total {result['total_seconds']:.1f} s ({steps}), the in-process sandbox's own work included; set-up {result['setup_seconds']:.1f} s, not counted",
        f"  Graph requests {result['graph_requests']:,} ({result['read_requests']:,} reads, {result['write_requests']} writes); {result['actions']:,} actions",
    ]
    a = result.get("allocator")
    if a:
        lines.append(
            f"  allocator: decide for {a['sample_accounts']} accounts x {a['holders']:,} holders with {a['history_days']} days of history "
            f"{a['allocator_decide_s']:.1f} s against the thresholds' {a['thresholds_decide_s']:.1f} s on the same rows "
            f"(x{a['decide_ratio']:.1f}; {a['allocator_actions']} and {a['thresholds_actions']} actions); "
            f"the hourly run with the allocator, estimated: {a['estimated_total_seconds']:.1f} s"
        )
    return "\n".join([*lines, *target_lines(result)])


if __name__ == "__main__":
    from bench.common import main

    main("hourly_run", run, report)
