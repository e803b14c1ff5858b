"""One hourly run of 100 accounts x 1,000 budget holders, in-process against the sandbox.

The per-account steps the DAG's tasks call (fetch, snapshot, decide, execute), run one
account after another in this process against the sandbox's scale-100x1000 scenario and a
fresh audit database, with a default rule per account.  Reports the total wall time, the
time per step, and the Graph requests counted by the sandbox.  Target: <= 60 s.

The sandbox serves from a thread of this same process, so the time it spends answering
(Meta's side) is counted against us too: the figure is an upper bound for the client side.
The first hour of a fresh scenario changes most budgets (about 70k actions), so execute is
exercised at its heaviest.
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import timedelta
from typing import Any

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
    result["targets"] = {"one hourly run of 100 x 1,000 <= 60 s": total <= 60}
    return result


def report(result: dict[str, Any]) -> str:
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in result["step_seconds"].items())
    lines = [
        f"One hourly run, {result['accounts']} accounts x {result['budget_holders'] // result['accounts']:,} budget holders ({result['scenario']}), in-process:",
        f"  total {result['total_seconds']:.1f} s ({steps}), the in-process sandbox's own work included; set-up {result['setup_seconds']:.1f} s, not counted",
        f"  Graph requests {result['graph_requests']:,} ({result['read_requests']:,} reads, {result['write_requests']} writes); {result['actions']:,} actions",
    ]
    return "\n".join([*lines, *target_lines(result)])


if __name__ == "__main__":
    from bench.common import main

    main("hourly_run", run, report)
