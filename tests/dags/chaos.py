"""`make chaos`: the real hourly DAG for many simulated hours under injected faults.

python -m tests.dags.chaos [--hours 48] [--backfill-days 7] [--backfill-accounts 2] [--seed 11] [--report FILE]

Five Meta accounts and a Google Ads customer (GOOGLE_ACCOUNT, over the same simulator), the
real `autoscaler_hourly` DAG through dag.test() (one process, as the demo), against both
sandboxes with the same faults: 5xx answers (Google: INTERNAL), timeouts longer than the client
waits, throttling (Meta with usage headers, Google RESOURCE_EXHAUSTED with a retry delay),
calls inside batches that fail (Google: single operations of a partial-failure mutate), both
platforms' tokens expiring (and re-issued an hour later), and a worker that dies between a
platform write and the database commit.  An hour whose run fails is run again once its fault
has passed, as an operator clearing it would.

It reports, and exits non-zero unless all hold:
  * 0 budget or status changes applied twice (the simulator's history against the actions);
  * the simulator's history, both platforms' writes, equals the executed actions;
  * 0 actions left pending or approved;
  * 0 (budget holder, hour) snapshots missing;
  * no access token or developer token in any line of any log.

Then a backfill of ``--backfill-days`` days (168 hourly runs for 7) of the first
``--backfill-accounts`` accounts (2 by default) under the same faults, through `airflow
backfill create` and a real scheduler (LocalExecutor, PostgreSQL metadata; the crash between
write and commit does not apply: a backfill writes nothing).  The token expires a
third of the way through and is re-issued a minute later; failed tasks retry on the DAG's own
schedule.  It asserts: every run succeeded, 0 write requests reached the sandbox (and its budget
history is empty), 0 snapshot hours missing, every decision recorded as simulated, the token in
no log (scheduler, API server and every task log).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from autoscaler import migrations
from autoscaler.demo import _advance_clock, _load_dag, default_rules, init_airflow, quiet, sandbox_airflow_env
from autoscaler.embedded_pg import EmbeddedPostgres
from autoscaler.google.client import GoogleClient, GoogleConfig
from autoscaler.meta import MetaClient, MetaConfig
from autoscaler.sandbox.faults import FaultPlan
from autoscaler.sandbox.google.server import GoogleSandbox, RunningGoogleSandbox
from autoscaler.sandbox.scenario import parse_scenario
from autoscaler.sandbox.server import RunningSandbox
from autoscaler.store.engine import make_engine
from tests.dags.stack import AirflowStack

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "autoscaler_hourly"
TOKEN = "chaos-token-7f3a9c"  # distinctive, so a leak into a log is found
GOOGLE_TOKEN = "chaos-google-oauth-2b8e51"
GOOGLE_DEVELOPER_TOKEN = "chaos-developer-token-c04d1e"
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


# The live part's Google Ads customer (not in the backfill, which takes the first accounts).
GOOGLE_ACCOUNT: dict[str, Any] = {
    "account_id": "5550001111",
    "platform": "google",
    "name": "Chaos Google",
    "currency": "USD",
    "timezone": "America/Chicago",
    "groups": [
        {"kind": "cbo", "count": 4, "daily_budget": [80, 400], "roas": [0.6, 5.0]},
        {"kind": "cbo", "count": 2, "adsets_per_campaign": 2, "daily_budget": [80, 300], "roas": [0.6, 4.0]},
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


def _databases(home: Path, *names: str) -> tuple[EmbeddedPostgres, list[str]]:
    server = EmbeddedPostgres(home / "pgdata", fast_unsafe=True)
    base = make_url(server.start("postgres"))
    with psycopg.connect(
        host=base.host, port=base.port, user=base.username, dbname="postgres", autocommit=True
    ) as c:
        for name in names:
            c.execute(f'CREATE DATABASE "{name}"')
    return server, [base.set(database=name).render_as_string(hide_password=False) for name in names]


def _home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="autoscaler-chaos-"))
    home.chmod(0o755)
    return home


def run(hours: int, seed: int) -> dict[str, Any]:
    home = _home()
    log_file = home / "airflow.log"
    server, (db_url,) = _databases(home, "chaos")
    engine = make_engine(db_url)
    started = time.perf_counter()
    try:
        migrations.upgrade(engine)
        faults = FaultPlan.parse(f"{FAULTS},seed={seed}")
        scenario = parse_scenario({**SCENARIO, "accounts": [*SCENARIO["accounts"], GOOGLE_ACCOUNT]})
        with RunningSandbox(scenario, seed=seed, faults=faults) as sandbox:
            google = GoogleSandbox(
                scenario,
                faults=faults,
                access_token=GOOGLE_TOKEN,
                developer_token=GOOGLE_DEVELOPER_TOKEN,
                sim=sandbox.sandbox.sim,
                lock=sandbox.sandbox.lock,
            )
            with RunningGoogleSandbox(google) as running_google:
                env = sandbox_airflow_env(
                    home / "airflow", ROOT / "dags", db_url, sandbox.url, poke_seconds=1
                )
                env["AIRFLOW_CONN_META_ADS_DEFAULT"] = json.dumps(
                    {
                        "conn_type": "generic",
                        "password": TOKEN,
                        "extra": {
                            "graph_url": sandbox.url,
                            "clock": "sandbox",
                            "timeout": 1,
                            "max_attempts": 6,
                        },
                    }
                )
                google_extra = {
                    "developer_token": GOOGLE_DEVELOPER_TOKEN,
                    "endpoint": running_google.endpoint,
                    "access_token": GOOGLE_TOKEN,
                    "clock": "sandbox",
                    "timeout": 1,
                    "max_attempts": 6,
                    "backoff_cap": 4,
                }
                env["AIRFLOW_CONN_GOOGLE_ADS_DEFAULT"] = json.dumps(
                    {"conn_type": "generic", "extra": google_extra}
                )
                os.environ.update(env)
                init_airflow({**os.environ})
                clean = MetaClient(MetaConfig(access_token=TOKEN, graph_url=sandbox.url, max_attempts=20))
                default_rules(engine, clean)
                default_rules(engine, GoogleClient(GoogleConfig(**{**google_extra, "max_attempts": 20})))
                with engine.begin() as conn:  # approvals would only wait: every change is the rule's to make
                    conn.execute(
                        text("UPDATE autoscaler.scaling_rules SET require_approval_threshold = NULL")
                    )
                outcome = _hours(engine, sandbox, google, log_file, hours)
                result = _check(engine, sandbox, google, home, hours, outcome)
        result["seconds"] = round(time.perf_counter() - started, 1)
        return result
    finally:
        engine.dispose()
        server.destroy()


def _hours(
    engine: Engine, sandbox: RunningSandbox, google: GoogleSandbox, log_file: Path, hours: int
) -> dict[str, Any]:
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
            google.token_expired = True
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
            google.token_expired = False
        print(
            f"  {hour:%Y-%m-%d %H:00} UTC: {state} after {attempts[hour.isoformat()]} attempt(s)", flush=True
        )
    return {"attempts": dict(attempts), "failed_first": failed_first, "first": first}


def _missing_snapshot_hours(conn: Connection, first: datetime, hours: int) -> int:
    """(budget holder, hour) pairs in the window with no snapshot."""
    missing: int = conn.execute(
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
    return missing


def _sandbox_saw(
    sandbox: RunningSandbox,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """The sandbox's request log and budget history, and the faults and errors it answered with."""
    requests = _control(sandbox.url, "requests")
    history = _control(sandbox.url, "history")
    state = _control(sandbox.url, "state")
    faults = Counter(r["fault"] for r in requests if r["fault"])
    errors = Counter(r["error_code"] for r in requests if r["error_code"])
    return (
        requests,
        history,
        {
            "faults_injected": {**dict(faults), "batch_call": state["batch_calls_failed"]},
            "error_codes_answered": {str(k): v for k, v in errors.items()},
        },
    )


def _actions_by_status(conn: Connection) -> dict[str, int]:
    rows = conn.execute(text("SELECT status, count(*) FROM autoscaler.scaling_actions GROUP BY 1"))
    return {str(status): int(n) for status, n in rows}


def _check(
    engine: Engine,
    sandbox: RunningSandbox,
    google: GoogleSandbox,
    home: Path,
    hours: int,
    outcome: dict[str, Any],
) -> dict[str, Any]:
    requests, history, seen = _sandbox_saw(sandbox)
    google_answers = Counter(str(r["status"]) for r in google.requests)
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
        statuses = _actions_by_status(conn)
        missing = _missing_snapshot_hours(conn, first, hours)
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
        "accounts": len(SCENARIO["accounts"]) + 1,
        "logs": str(home),
        "graph_requests": len(requests),
        "google_ads_requests": len(google.requests),
        "google_ads_answers": dict(google_answers),
        "faults_injected": seen["faults_injected"],
        "crash_between_write_and_commit": "worker died between the Meta write and the database commit"
        in logs,
        "executed_by_a_retry_that_found_meta_at_target": found_at_target,
        "error_codes_answered": seen["error_codes_answered"],
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
            "google_tokens_in_no_log": GOOGLE_TOKEN not in logs and GOOGLE_DEVELOPER_TOKEN not in logs,
            "google_ads_written_to": any(
                h["entity_id"] in {b.entity_id for budgets in google.ads.budgets.values() for b in budgets}
                for h in history
            ),
        },
    }


class TokenOutage(threading.Thread):
    """Expires the token once ``after`` runs have finished; re-issues it ``lasting`` seconds later."""

    def __init__(self, stack: AirflowStack, sandbox_url: str, after: int, lasting: float) -> None:
        super().__init__(daemon=True)
        self.stack, self.sandbox_url, self.after, self.lasting = stack, sandbox_url, after, lasting
        self.stop = threading.Event()
        self.expired_at_run: int | None = None

    def run(self) -> None:
        while not self.stop.wait(2):
            done = sum(r["state"] in ("success", "failed") for r in self.stack.dag_runs(DAG_ID))
            if done >= self.after:
                self.expired_at_run = done
                _control(self.sandbox_url, "token", {"expired": True})
                self.stop.wait(self.lasting)
                _control(self.sandbox_url, "token", {"expired": False})  # the operator re-issues it
                return


def backfill(days: int, accounts: int, seed: int) -> dict[str, Any]:
    home = _home()
    server, (db_url, metadata_url) = _databases(home, "chaos", "airflow_meta")
    engine = make_engine(db_url)
    hours = days * 24
    started = time.perf_counter()
    try:
        migrations.upgrade(engine)
        # Fewer accounts than the live part by default: each account-hour is six task
        # instances through the real scheduler, about a second of this machine each.
        scenario = parse_scenario({**SCENARIO, "accounts": SCENARIO["accounts"][:accounts]})
        first = scenario.start
        faults = FaultPlan.parse(f"{FAULTS},seed={seed}")
        with RunningSandbox(scenario, seed=seed, faults=faults) as sandbox:
            clean = MetaClient(MetaConfig(access_token=TOKEN, graph_url=sandbox.url, max_attempts=20))
            default_rules(engine, clean)
            # The backfilled days are history by the time the backfill starts.
            _advance_clock(sandbox.url, first + timedelta(hours=hours, minutes=5))
            connections = {
                "AIRFLOW_CONN_AUTOSCALER_DB": make_url(db_url)
                .set(drivername="postgresql")
                .render_as_string(hide_password=False),
                "AIRFLOW_CONN_META_ADS_DEFAULT": json.dumps(
                    {
                        "conn_type": "generic",
                        "password": TOKEN,
                        "extra": {
                            "graph_url": sandbox.url,
                            "clock": "sandbox",
                            "timeout": 1,
                            "max_attempts": 6,
                        },
                    }
                ),
                "AIRFLOW__CORE__PARALLELISM": "6",
            }
            metadata = make_url(metadata_url).set(drivername="postgresql+psycopg")
            with AirflowStack(
                home / "airflow", metadata.render_as_string(hide_password=False), connections, meta_pool=8
            ) as stack:
                outage = TokenOutage(stack, sandbox.url, after=hours // 3, lasting=60)
                outage.start()
                stack.backfill_hours(DAG_ID, first, hours, wait=False)
                runs = _progress(stack, hours)
                cleared = [r["run_id"] for r in runs if r["state"] == "failed"]
                if cleared:  # the operator's part, once: clear what failed after its retries
                    stack.airflow(
                        "tasks",
                        "clear",
                        DAG_ID,
                        "--only-failed",
                        "--yes",
                        "--start-date",
                        first.isoformat(),
                        "--end-date",
                        (first + timedelta(hours=hours - 1)).isoformat(),
                    )
                    time.sleep(5)
                    runs = _progress(stack, hours)
                outage.stop.set()
            result = _check_backfill(engine, sandbox, home, first, hours, runs, cleared)
            result["token_expired_after_runs"] = outage.expired_at_run
        result["seconds"] = round(time.perf_counter() - started, 1)
        return result
    finally:
        engine.dispose()
        server.destroy()


def _progress(stack: AirflowStack, hours: int, timeout: float = 4 * 3600) -> list[dict[str, Any]]:
    """Wait for the backfill's runs, printing how many have finished now and then."""
    deadline = time.monotonic() + timeout
    shown = -1
    while time.monotonic() < deadline:
        runs = stack.dag_runs(DAG_ID)
        done = sum(r["state"] in ("success", "failed") for r in runs)
        if done != shown and (shown < 0 or done - shown >= 12 or done == hours):
            print(f"  backfill: {done}/{hours} runs finished", flush=True)
            shown = done
        if len(runs) >= hours and done == len(runs):
            return runs
        time.sleep(5)
    raise TimeoutError(f"backfill not finished after {timeout:.0f} s; see {stack.home / 'logs'}")


def _check_backfill(
    engine: Engine,
    sandbox: RunningSandbox,
    home: Path,
    first: datetime,
    hours: int,
    runs: list[dict[str, Any]],
    cleared: list[str],
) -> dict[str, Any]:
    requests, history, seen = _sandbox_saw(sandbox)
    with engine.connect() as conn:
        statuses = _actions_by_status(conn)
        modes = {
            (str(m), str(r)): int(n)
            for m, r, n in conn.execute(
                text("SELECT mode, shadow_reason, count(*) FROM autoscaler.scaling_runs GROUP BY 1, 2")
            )
        }
        missing = _missing_snapshot_hours(conn, first, hours)
    logs = "".join(p.read_text(errors="replace") for p in home.rglob("*.log"))
    # Task logs are .../attempt=N.log: every N above 1 is a retry Airflow made.
    retries = Counter(
        next(d.name.removeprefix("task_id=") for d in p.parents if d.name.startswith("task_id="))
        for p in home.rglob("attempt=*.log")
        if p.stem != "attempt=1"
    )
    return {
        "backfill_days": hours // 24,
        "accounts": len(sandbox.sandbox.sim.accounts),
        "logs": str(home),
        "runs": len(runs),
        "runs_by_state": dict(Counter(r["state"] for r in runs)),
        "runs_cleared_once_by_the_operator": len(cleared),
        "task_retries": dict(retries),
        "graph_requests": len(requests),
        "write_requests": sum(1 for r in requests if r["writes"]),
        **seen,
        "actions_by_status": statuses,
        "account_runs_by_mode": {f"{m}/{r}": n for (m, r), n in modes.items()},
        "checks": {
            "every_run_succeeded": len(runs) == hours and all(r["state"] == "success" for r in runs),
            "no_write_request": all(not r["writes"] for r in requests),
            "meta_history_empty": history == [],
            "every_decision_simulated": set(statuses) <= {"simulated"},
            "no_snapshot_hour_missing": missing == 0,
            "token_in_no_log": TOKEN not in logs,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=48, help="live hours (0: skip the live part)")
    parser.add_argument("--backfill-days", type=int, default=7, help="backfilled days (0: skip)")
    parser.add_argument("--backfill-accounts", type=int, default=2, choices=range(1, 6), metavar="1-5")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--report", type=Path)
    args = parser.parse_args()
    # Stopped from outside (Ctrl-C, kill): unwind, so the database and Airflow are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result: dict[str, Any] = {}

    def publish(part: str, outcome: dict[str, Any]) -> None:
        # Each part's report as soon as it is known: the backfill takes half an hour and more.
        result[part] = outcome
        print(json.dumps({part: outcome}, indent=2, default=str), flush=True)
        if args.report:
            args.report.write_text(json.dumps(result, indent=2, default=str) + "\n")

    if args.hours:
        publish("live", run(args.hours, args.seed))
    if args.backfill_days:
        publish("backfill", backfill(args.backfill_days, args.backfill_accounts, args.seed))
    return 0 if all(all(part["checks"].values()) for part in result.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
