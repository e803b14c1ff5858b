"""How far the real hourly DAG gets in 10 minutes on this machine: 100 accounts x 1,000 holders.

`make scale` (not part of `make bench`: it takes 12 to 25 minutes).

The sandbox's scale-100x1000 scenario (100,000 budget holders), a fresh audit database, and
a real Airflow on this machine: API server and scheduler with the LocalExecutor, PostgreSQL
metadata (tests/dags/stack.py, the set-up of the backfill test).  One live run of
`autoscaler_hourly` is triggered for the scenario's first hour; the scheduler fans it out to
601 task instances (the accounts list, then fetch, snapshot, decide, execute,
await_approval and execute_approved per account).  Every 10 s the bench reads the task
instances from Airflow's metadata database and the steps finished from
``autoscaler.scaling_runs``; it reports what was done 10 minutes after the trigger and, if
the run finishes within ``--limit`` minutes, when.

The rules are the seed's (any 24 h ROAS acts, no approvals: a person's wait is not
throughput), so the first hour changes most budgets and execute works at its heaviest.
The sandbox answers from a thread of this process, so Meta's side of every request costs
this machine's two cores too.  No target: the figures size a deployment (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, text
from tests.dags.stack import AirflowStack

from autoscaler.sandbox.scenario import load_scenario
from autoscaler.sandbox.server import RunningSandbox
from bench.common import bench_database, sandbox_call
from bench.hourly_run import seed_rules

SCENARIO = "scale-100x1000"
DAG_ID = "autoscaler_hourly"
WRITE_STEPS = ("execute", "execute_approved")


def _sample(stack: AirflowStack, engine: Engine, started: float) -> dict[str, Any]:
    url = stack.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT task_id, coalesce(state, 'none'), count(*) FROM task_instance WHERE dag_id = %s GROUP BY 1, 2",
            (DAG_ID,),
        ).fetchall()
        run = conn.execute("SELECT state FROM dag_run WHERE dag_id = %s", (DAG_ID,)).fetchone()
    run_state = run[0] if run else None
    states: Counter[str] = Counter()
    done_by_task: Counter[str] = Counter()
    for task, state, n in rows:
        states[str(state)] += int(n)
        if state in ("success", "skipped", "failed", "upstream_failed"):
            done_by_task[str(task).removeprefix("account_run.")] += int(n)
    with engine.connect() as conn:
        steps: dict[str, int] = {
            str(step): int(n)
            for step, n in conn.execute(
                text(
                    "SELECT s.key, count(*) FROM autoscaler.scaling_runs r, jsonb_object_keys(r.step_seconds) AS s(key) GROUP BY 1"
                )
            )
        }
        accounts_written = conn.execute(
            text(
                "SELECT count(*) FROM autoscaler.scaling_runs WHERE step_seconds ? 'execute' AND step_seconds ? 'execute_approved'"
            )
        ).scalar_one()
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "run_state": str(run_state),
        "task_instances": dict(states),
        "finished_by_task": dict(done_by_task),
        "steps_recorded": steps,
        "accounts_through_every_step": int(accounts_written),
    }


def _last_hour() -> datetime:
    """The hour a manual run triggered now will process: the last complete UTC hour."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def run(minutes: float = 10, limit: float = 25, parallelism: int = 8, pool: int = 8) -> dict[str, Any]:
    # A manual run's data interval is the last complete hour of the wall clock (whatever
    # logical date it is given), so the scenario starts there and the sandbox's clock
    # follows the wall clock's hour.
    scenario = load_scenario(SCENARIO).model_copy(update={"start": _last_hour(), "history_days": 1})
    with (
        tempfile.TemporaryDirectory(prefix="autoscaler-bench-scale-") as tmp,
        bench_database() as engine,
        RunningSandbox(scenario, seed=3) as sandbox,
    ):
        seed_rules(engine, scenario)
        url = engine.url
        metadata_db = f"{url.database}_airflow"
        admin = dict(
            host=url.host, port=url.port, user=url.username, password=url.password, dbname="postgres"
        )
        with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(f'CREATE DATABASE "{metadata_db}"')
        connections = {
            "AIRFLOW_CONN_AUTOSCALER_DB": url.set(drivername="postgresql").render_as_string(
                hide_password=False
            ),
            "AIRFLOW_CONN_META_ADS_DEFAULT": json.dumps(
                {
                    "conn_type": "generic",
                    "password": scenario.access_token,
                    "extra": {"graph_url": sandbox.url, "clock": "sandbox"},
                }
            ),
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(parallelism),
            "AUTOSCALER_APPROVAL_POKE_SECONDS": "5",
        }
        metadata_url = url.set(drivername="postgresql+psycopg", database=metadata_db).render_as_string(
            hide_password=False
        )
        timeline: list[dict[str, Any]] = []
        try:
            with AirflowStack(Path(tmp) / "airflow", metadata_url, connections, meta_pool=pool) as stack:
                hour = _last_hour()  # later than the scenario's start if an hour turned meanwhile
                sandbox_call(
                    f"{sandbox.url}/__sandbox/clock",
                    {"to": (hour + timedelta(hours=1, minutes=5)).isoformat()},
                )
                sandbox_call(f"{sandbox.url}/__sandbox/requests", method="DELETE")
                # Its data interval is [hour, hour + 1 h); a manual run is live, as a scheduled one.
                stack.airflow("dags", "trigger", DAG_ID)
                started = time.perf_counter()
                at_mark: dict[str, Any] | None = None
                while True:
                    time.sleep(10)
                    sample = _sample(stack, engine, started)
                    timeline.append(sample)
                    print(
                        f"  {sample['seconds']:6.0f} s: {sample['accounts_through_every_step']:3d}/100 accounts "
                        f"done, task instances {sample['task_instances']}",
                        flush=True,
                    )
                    if at_mark is None and sample["seconds"] >= minutes * 60:
                        at_mark = sample
                    finished = sample["run_state"] in ("success", "failed")
                    if finished or sample["seconds"] >= limit * 60:
                        break
                log = sandbox_call(f"{sandbox.url}/__sandbox/requests", method="GET")
            with engine.connect() as conn:
                actions: dict[str, int] = {
                    str(k): int(v)
                    for k, v in conn.execute(
                        text("SELECT status, count(*) FROM autoscaler.scaling_actions GROUP BY 1")
                    )
                }
                holders = int(
                    conn.execute(text("SELECT count(*) FROM autoscaler.budget_holders")).scalar_one()
                )
                step_totals: dict[str, float] = {}
                for row in conn.execute(text("SELECT step_seconds FROM autoscaler.scaling_runs")).scalars():
                    for step, seconds in row.items():
                        step_totals[step] = step_totals.get(step, 0.0) + float(seconds)
        finally:
            with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
                conn.execute(f'DROP DATABASE IF EXISTS "{metadata_db}" WITH (FORCE)')
    last = timeline[-1]
    return {
        "scenario": SCENARIO,
        "accounts": len(scenario.accounts),
        "budget_holders": holders,
        "executor": "LocalExecutor",
        "parallelism": parallelism,
        "meta_api_pool": pool,
        "minutes": minutes,
        "at_mark": at_mark or last,
        "finished": last["run_state"] in ("success", "failed"),
        "run_state": last["run_state"],
        "finished_after_seconds": last["seconds"] if last["run_state"] in ("success", "failed") else None,
        "graph_requests": len(log),
        "write_requests": sum(1 for e in log if e["writes"]),
        "actions": actions,
        "step_seconds_summed": step_totals,
        "timeline": timeline,
        "targets": {},
    }


def report(result: dict[str, Any]) -> str:
    mark = result["at_mark"]
    done = mark["finished_by_task"]
    steps = ", ".join(f"{k} {v:,.0f} s" for k, v in result["step_seconds_summed"].items())
    ended = (
        f"the run {result['run_state']} after {result['finished_after_seconds'] / 60:.1f} min"
        if result["finished"]
        else f"the run had not finished after {result['timeline'][-1]['seconds'] / 60:.1f} min"
    )
    early = result["finished"] and result["finished_after_seconds"] < result["minutes"] * 60
    when = "when it finished, inside them" if early else "then"
    return "\n".join(
        [
            f"The real DAG through a real scheduler ({result['executor']}, parallelism {result['parallelism']}, "
            f"meta_api pool {result['meta_api_pool']}): {result['accounts']} accounts ({result['scenario']}), one live hourly run",
            f"  of {result['minutes']:.0f} min, {when}: {mark['accounts_through_every_step']} of {result['accounts']} accounts "
            f"through every step; task instances finished: "
            + ", ".join(f"{k} {v}" for k, v in sorted(done.items())),
            f"  {ended}; Graph requests {result['graph_requests']:,} ({result['write_requests']:,} writes); "
            f"actions: " + ", ".join(f"{v:,} {k}" for k, v in sorted(result["actions"].items())),
            f"  the steps' own time summed over accounts: {steps}",
        ]
    )


if __name__ == "__main__":
    from bench.common import save

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10, help="the mark to report (default 10)")
    parser.add_argument("--limit", type=float, default=25, help="stop watching after this many minutes")
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--pool", type=int, default=8, help="slots of the meta_api pool")
    args = parser.parse_args()
    outcome = run(args.minutes, args.limit, args.parallelism, args.pool)
    print(report(outcome))
    print(f"saved to {save('dag_scale', outcome)}")
