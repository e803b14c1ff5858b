"""`make chaos`: the real hourly DAG for many simulated hours under injected faults.

python -m tests.dags.chaos [--hours 48] [--seed 11] [--report FILE]

Five accounts, the real `autoscaler_hourly` DAG through dag.test() (one process, as the demo),
against the sandbox with faults: 5xx answers, timeouts longer than the client waits, throttling
with usage headers, calls inside batches that fail, a token that expires (and is re-issued an
hour later), and a worker that dies between a Meta write and the database commit.  An hour
whose run fails is run again once its fault has passed, as an operator clearing it would.

It reports, and exits non-zero unless all hold:
  * 0 budget or status changes applied twice (the sandbox's history against the actions);
  * the sandbox's history equals the executed actions;
  * 0 actions left pending or approved;
  * 0 (budget holder, hour) snapshots missing;
  * the access token in no line of any log.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from autoscaler import migrations
from autoscaler.demo import _advance_clock, _load_dag, default_rules, init_airflow, quiet, sandbox_airflow_env
from autoscaler.embedded_pg import EmbeddedPostgres
from autoscaler.meta import MetaClient, MetaConfig
from autoscaler.sandbox.faults import FaultPlan
from autoscaler.sandbox.scenario import parse_scenario
from autoscaler.sandbox.server import RunningSandbox
from autoscaler.store.engine import make_engine

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "chaos-token-7f3a9c"  # distinctive, so a leak into a log is found
FAULTS = "5xx=0.04,timeout=0.01,timeout_delay=3,throttle=0.01,block_seconds=2,batch_partial=0.1"

SCENARIO: dict[str, Any] = {
    "name": "chaos",
    "description": "Five small accounts for the fault-injection run.",
    "start": "2026-11-02T05:00:00Z",
    "history_days": 2,
    "access_token": TOKEN,
    "accounts": [
        {
            "account_id": f"act_{7001 + i}",
            "name": f"Chaos {i + 1}",
            "currency": "USD",
            "timezone": zone,
            "groups": [
                {
                    "kind": "cbo",
                    "count": 3,
                    "adsets_per_campaign": 2,
                    "daily_budget": [80, 400],
                    "roas": [0.6, 5.0],
                },
                {
                    "kind": "abo",
                    "count": 1,
                    "adsets_per_campaign": 2,
                    "daily_budget": [40, 200],
                    "roas": [0.5, 4.0],
                },
            ],
        }
        for i, zone in enumerate(
            ["America/New_York", "Europe/Berlin", "Asia/Tokyo", "America/Los_Angeles", "Australia/Sydney"]
        )
    ],
}


def _control(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"{url}/__sandbox/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method="POST" if body is not None else "GET",
    )
    return json.loads(urllib.request.urlopen(request).read())


def _crash_once_after_the_meta_write() -> None:
    from tests.dags.dagrun import _crash_once_after_the_meta_write as patch

    patch()


def run(hours: int, seed: int, report: Path | None) -> int:
    home = Path(tempfile.mkdtemp(prefix="autoscaler-chaos-"))
    home.chmod(0o755)
    log_file = home / "airflow.log"
    server = EmbeddedPostgres(home / "pgdata", fast_unsafe=True)
    base = make_url(server.start("postgres"))
    with psycopg.connect(
        host=base.host, port=base.port, user=base.username, dbname="postgres", autocommit=True
    ) as c:
        c.execute('CREATE DATABASE "chaos"')
    db_url = base.set(database="chaos").render_as_string(hide_password=False)
    engine = make_engine(db_url)
    started = time.perf_counter()
    try:
        migrations.upgrade(engine)
        faults = FaultPlan.parse(f"{FAULTS},seed={seed}")
        with RunningSandbox(parse_scenario(SCENARIO), seed=seed, faults=faults) as sandbox:
            env = sandbox_airflow_env(home / "airflow", ROOT / "dags", db_url, sandbox.url, poke_seconds=1)
            env["AIRFLOW_CONN_META_ADS_DEFAULT"] = json.dumps(
                {
                    "conn_type": "generic",
                    "password": TOKEN,
                    "extra": {"graph_url": sandbox.url, "clock": "sandbox", "timeout": 1, "max_attempts": 6},
                }
            )
            os.environ.update(env)
            init_airflow({**os.environ})
            clean = MetaClient(MetaConfig(access_token=TOKEN, graph_url=sandbox.url, max_attempts=20))
            default_rules(engine, clean)
            with engine.begin() as conn:  # approvals would only wait: every change is the rule's to make
                conn.execute(text("UPDATE autoscaler.scaling_rules SET require_approval_threshold = NULL"))
            outcome = _hours(engine, sandbox, log_file, hours)
            result = _check(engine, sandbox, home, hours, outcome)
        result["seconds"] = round(time.perf_counter() - started, 1)
        text_report = json.dumps(result, indent=2, default=str)
        print(text_report)
        if report:
            report.write_text(text_report + "\n")
        return 0 if all(result["checks"].values()) else 1
    finally:
        engine.dispose()
        server.destroy()


def _hours(engine: Engine, sandbox: RunningSandbox, log_file: Path, hours: int) -> dict[str, Any]:
    with quiet(log_file):
        dag = _load_dag(ROOT / "dags")
    # dag.test() waits out retry delays; 30 s and up would make 48 hours take hours.
    for task in dag.tasks:
        task.retry_delay = timedelta(seconds=1)
        task.max_retry_delay = timedelta(seconds=4)
    first = sandbox.sandbox.sim.now
    expire_at, crash_at = hours // 3, (2 * hours) // 3
    attempts: Counter[str] = Counter()
    failed_first: list[str] = []
    for i in range(hours):
        hour = first + timedelta(hours=i)
        _advance_clock(sandbox.url, hour + timedelta(hours=1, minutes=5))
        if i == expire_at:
            _control(sandbox.url, "token", {"expired": True})
        if i == crash_at:
            _crash_once_after_the_meta_write()
        for attempt in range(4):
            attempts[hour.isoformat()] += 1
            with quiet(log_file):
                state = str(dag.test(logical_date=hour + timedelta(hours=1)).state)
            if state.endswith("success"):
                break
            if attempt == 0:
                failed_first.append(f"{hour:%d %H:00}")
            # The operator's part: a token that expired is re-issued before the hour is cleared.
            _control(sandbox.url, "token", {"expired": False})
        print(
            f"  {hour:%Y-%m-%d %H:00} UTC: {state} after {attempts[hour.isoformat()]} attempt(s)", flush=True
        )
    return {"attempts": dict(attempts), "failed_first": failed_first, "first": first}


def _check(
    engine: Engine, sandbox: RunningSandbox, home: Path, hours: int, outcome: dict[str, Any]
) -> dict[str, Any]:
    history = _control(sandbox.url, "history")
    requests = _control(sandbox.url, "requests")
    state = _control(sandbox.url, "state")
    faults = Counter(r["fault"] for r in requests if r["fault"])
    errors = Counter(r["error_code"] for r in requests if r["error_code"])
    first = outcome["first"]
    with engine.connect() as conn:
        executed = conn.execute(
            text(
                "SELECT a.entity_id, a.budget_before, a.budget_after, a.status_before, a.status_after, "
                "e.detail FROM autoscaler.scaling_actions a JOIN autoscaler.action_events e USING (action_id) "
                "WHERE a.status = 'executed' AND e.to_status = 'executed'"
            )
        ).all()
        open_actions = conn.execute(
            text(
                "SELECT count(*) FROM autoscaler.scaling_actions WHERE status IN ('pending_approval', 'approved')"
            )
        ).scalar_one()
        statuses: dict[str, int] = {
            str(status): int(n)
            for status, n in conn.execute(
                text("SELECT status, count(*) FROM autoscaler.scaling_actions GROUP BY 1")
            )
        }
        missing = conn.execute(
            text(
                """
                SELECT count(*) FROM autoscaler.budget_holders h
                 CROSS JOIN generate_series(CAST(:first AS timestamptz), CAST(:last AS timestamptz), interval '1 hour') AS g(hour)
                 WHERE NOT EXISTS (SELECT 1 FROM autoscaler.campaign_performance_snapshots s
                                    WHERE s.entity_id = h.entity_id AND s.hour_start = g.hour)
                """
            ),
            {"first": first, "last": first + timedelta(hours=hours - 1)},
        ).scalar_one()
    # Every executed action's change, once: written by its run, or (after a crash between the
    # write and the commit) written by the crashed attempt and found at target by the retry.
    written: Counter[tuple[Any, ...]] = Counter()
    for entity, before, after, status_before, status_after, _detail in executed:
        if after is not None:
            written[(entity, "daily_budget", before, after)] += 1
        if status_after is not None:
            written[(entity, "status", status_before, status_after)] += 1
    applied = Counter((h["entity_id"], h["field"], h["before"], h["after"]) for h in history)
    logs = "".join(p.read_text(errors="replace") for p in home.rglob("*.log"))
    found_at_target = sum(
        1 for *_, detail in executed if detail == "Meta already held the target; nothing written"
    )
    return {
        "hours": hours,
        "accounts": len(SCENARIO["accounts"]),
        "graph_requests": len(requests),
        "faults_injected": {**dict(faults), "batch_call": state["batch_calls_failed"]},
        "crash_between_write_and_commit": "worker died between the Meta write and the database commit"
        in logs,
        "executed_by_a_retry_that_found_meta_at_target": found_at_target,
        "error_codes_answered": {str(k): v for k, v in errors.items()},
        "hours_that_failed_first": outcome["failed_first"],
        "runs": sum(outcome["attempts"].values()),
        "actions_by_status": statuses,
        "changes_applied_by_meta": len(history),
        "checks": {
            "no_change_applied_twice": all(n == 1 for n in applied.values()),
            "meta_history_equals_executed_actions": applied == written,
            "no_action_left_open": open_actions == 0,
            "no_snapshot_hour_missing": missing == 0,
            "token_in_no_log": TOKEN not in logs,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--report", type=Path)
    args = parser.parse_args()
    return run(args.hours, args.seed, args.report)


if __name__ == "__main__":
    sys.exit(main())
