"""The real autoscaler_hourly DAG end to end: 20 accounts x 500 budget holders under dag.test().

A generated scenario (20 accounts, each 250 CBO campaigns and 250 ABO ad sets) in the
sandbox, a fresh audit database, a default rule per account (demo.default_rules), and one
live hourly run of the real DAG file through ``dag.test()`` in its own process: every
mapped task instance (fetch, snapshot, decide, execute, await_approval, execute_approved per
account) runs in turn, as dag.test() runs them, one at a time.  Reported: the run's wall
time (Airflow start-up included), the time of each step summed over accounts (from
``scaling_runs.step_seconds``), Graph requests and actions.  The rules ask for no approvals
(a person's wait is not throughput): the sensor finds nothing pending and ends at its first
poke.  No target; it shows what one process gets through and where the time goes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from autoscaler.demo import default_rules, init_airflow, sandbox_airflow_env
from autoscaler.meta import MetaClient, MetaConfig
from autoscaler.sandbox.scenario import load_scenario
from autoscaler.sandbox.server import RunningSandbox
from bench.common import bench_database, sandbox_call

ROOT = Path(__file__).resolve().parents[1]
ACCOUNTS = 20
TIMEZONES = ["America/New_York", "America/Los_Angeles", "Europe/London", "Europe/Berlin", "Asia/Tokyo"]


def scenario_file(directory: Path) -> Path:
    accounts = [
        {
            "account_id": f"act_40{i:04d}",
            "name": f"Shop {i:02d}",
            "currency": "JPY" if TIMEZONES[i % 5] == "Asia/Tokyo" else "USD",
            "timezone": TIMEZONES[i % 5],
            "groups": [
                {"kind": "cbo", "count": 250, "adsets_per_campaign": 1},
                {"kind": "abo", "count": 25, "adsets_per_campaign": 10},
            ],
        }
        for i in range(ACCOUNTS)
    ]
    path = directory / "scale-20x500.json"
    path.write_text(
        json.dumps(
            {
                "name": "scale-20x500",
                "description": "20 accounts x 500 budget holders",
                "start": "2026-11-02T05:00:00Z",
                "history_days": 1,
                "accounts": accounts,
            }
        )
    )
    return path


def _airflow_env(home: Path, db_url: str, graph_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AUTOSCALER_"))}
    env.update(sandbox_airflow_env(home, ROOT / "dags", db_url, graph_url, poke_seconds=1))
    env.update(AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    init_airflow(env)
    return env


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="autoscaler-bench-dag-") as tmp, bench_database() as engine:
        scenario = load_scenario(str(scenario_file(Path(tmp))))
        with RunningSandbox(scenario, seed=5) as sandbox:
            client = MetaClient(MetaConfig(access_token=scenario.access_token, graph_url=sandbox.url))
            default_rules(engine, client)
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "UPDATE autoscaler.scaling_rules SET require_approval_threshold = NULL, min_window_hours = 1"
                    )
                )
            db_url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            env = _airflow_env(Path(tmp) / "airflow", db_url, sandbox.url)
            hour = scenario.start
            sandbox_call(
                f"{sandbox.url}/__sandbox/clock", {"to": (hour + timedelta(hours=1, minutes=5)).isoformat()}
            )
            sandbox_call(f"{sandbox.url}/__sandbox/requests", method="DELETE")
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, __file__, "--run", (hour + timedelta(hours=1)).isoformat()],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=3600,
            )
            wall = time.perf_counter() - started
            if result.returncode != 0:
                raise RuntimeError(f"the DAG run failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
            log = sandbox_call(f"{sandbox.url}/__sandbox/requests", method="GET")
        with engine.connect() as conn:
            step_rows = conn.execute(text("SELECT step_seconds FROM autoscaler.scaling_runs")).scalars().all()
            statuses: dict[str, int] = dict(
                conn.execute(
                    text("SELECT status, count(*) FROM autoscaler.scaling_actions GROUP BY status")
                ).all()
            )
            holders = conn.execute(text("SELECT count(*) FROM autoscaler.budget_holders")).scalar_one()
    steps: dict[str, float] = {}
    for row in step_rows:
        for step, seconds in row.items():
            steps[step] = steps.get(step, 0.0) + float(seconds)
    return {
        "accounts": ACCOUNTS,
        "budget_holders": int(holders),
        "wall_seconds": wall,
        "step_seconds": steps,
        "runs_recorded": len(step_rows),
        "graph_requests": len(log),
        "write_requests": sum(1 for e in log if e["writes"]),
        "actions": {str(k): int(v) for k, v in statuses.items()},
        "targets": {},
    }


def report(result: dict[str, Any]) -> str:
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in result["step_seconds"].items())
    actions = ", ".join(f"{v:,} {k}" for k, v in sorted(result["actions"].items()))
    return "\n".join(
        [
            f"The real DAG, one hourly run under dag.test(): {result['accounts']} accounts, {result['budget_holders']:,} budget holders",
            f"  wall {result['wall_seconds']:.1f} s (Airflow start-up included); steps summed over accounts: {steps}",
            f"  {result['runs_recorded']} scaling_runs rows; Graph requests {result['graph_requests']:,} ({result['write_requests']} writes); actions: {actions}",
        ]
    )


def _run_dag(logical_date: str) -> int:
    """In the child process: the DAG file, loaded as the DAG processor would, through dag.test()."""
    import runpy

    from airflow.sdk import DAG

    namespace = runpy.run_path(str(ROOT / "dags" / "autoscaler_hourly.py"))
    dag = next(v for v in namespace.values() if isinstance(v, DAG))
    run = dag.test(logical_date=datetime.fromisoformat(logical_date))
    return 0 if str(run.state).endswith("success") else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--run":
        sys.exit(_run_dag(sys.argv[2]))
    from bench.common import main

    main("dag_e2e", run, report)
