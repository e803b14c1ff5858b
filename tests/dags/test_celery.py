"""The hourly DAG on Airflow's CeleryExecutor: two workers share the per-account tasks, and the
audit trail is the one a single process writes for the same hours.

Opt-in (`make celery`, which installs the Celery provider first): a Celery broker (Redis,
AUTOSCALER_CELERY_BROKER or redis://127.0.0.1:6379/15, else a `redis-server` it starts),
PostgreSQL as Airflow's metadata database and result backend, the API server, the scheduler,
the triggerer and two Celery workers, each its own process.  The hours are backfilled, so
nothing is written to Meta and the run is deterministic against the sandbox.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from autoscaler.demo import default_rules
from autoscaler.hourly import RunHour, decide_account, fetch, snapshot
from autoscaler.meta import MetaClient, MetaConfig
from autoscaler.sandbox.scenario import load_scenario
from autoscaler.sandbox.server import RunningSandbox
from autoscaler.store.engine import make_engine
from tests.conftest import new_database
from tests.dags.stack import AIRFLOW, ROOT, AirflowStack, free_port
from tests.dags.test_hourly_dag import set_clock

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("AUTOSCALER_CELERY") != "1",
        reason="opt-in: `make celery` installs the Celery provider and runs this",
    ),
]

FIRST = datetime(2026, 11, 3, 12, tzinfo=UTC)
HOURS = 2
WORKERS = ("worker-1", "worker-2")


def _reachable(url: str) -> bool:
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("AUTOSCALER_CELERY_BROKER", "redis://127.0.0.1:6379/15")
    if _reachable(url):
        yield url
        return
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail(
            f"no broker at {url} and no redis-server to start: install redis or set AUTOSCALER_CELERY_BROKER"
        )
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path_factory.mktemp("redis"),
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 20
        while not _reachable(url) and time.monotonic() < deadline:
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def _audit_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            "snapshots": [
                tuple(r)
                for r in conn.execute(
                    text(
                        "SELECT entity_id, hour_start, spend, impressions, clicks, conversions, revenue, "
                        "daily_budget, status FROM autoscaler.campaign_performance_snapshots ORDER BY 1, 2"
                    )
                )
            ],
            "evaluations": [
                tuple(r)
                for r in conn.execute(
                    text(
                        "SELECT account_id, run_hour, entity_ids, decisions, reasons, new_daily_budget "
                        "FROM autoscaler.scaling_evaluations ORDER BY 1, 2"
                    )
                )
            ],
            "actions": [
                tuple(r)
                for r in conn.execute(
                    text(
                        "SELECT entity_id, run_hour, action_type, budget_before, budget_after, status_after, "
                        "status, mode FROM autoscaler.scaling_actions ORDER BY 1, 2"
                    )
                )
            ],
        }


def _single_process(engine: Engine, accounts: list[str]) -> None:
    """The same hours through the step functions in this process (the single-machine run)."""
    with RunningSandbox(load_scenario("demo"), seed=1) as sandbox:
        now = FIRST + timedelta(days=1)
        set_clock(sandbox, now)
        meta = MetaClient(MetaConfig(access_token="sandbox-token", graph_url=sandbox.url))
        default_rules(engine, meta)
        with engine.begin() as conn:
            conn.execute(text("UPDATE autoscaler.scaling_rules SET require_approval_threshold = NULL"))
        for k in range(HOURS):
            for account_id in accounts:
                run = RunHour(account_id, FIRST + timedelta(hours=k), mode="shadow", backfill=True)
                fetch(engine, meta, run, now)
                snapshot(engine, meta, run, now)
                decide_account(engine, run, now, approval_deadline=None)


def test_two_celery_workers_share_the_accounts_and_write_the_same_audit_trail(
    tmp_path: Path, broker: str, pg_server_url: URL, migrated_template: str, empty_db_url: URL
) -> None:
    audit_dbs = [new_database(pg_server_url, migrated_template) for _ in range(2)]
    celery_url, local_url = (next(db) for db in audit_dbs)
    celery_engine, local_engine = make_engine(celery_url), make_engine(local_url)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        with RunningSandbox(load_scenario("demo"), seed=1) as sandbox:
            set_clock(sandbox, FIRST + timedelta(days=1))
            meta = MetaClient(MetaConfig(access_token="sandbox-token", graph_url=sandbox.url))
            default_rules(celery_engine, meta)
            with celery_engine.begin() as conn:
                conn.execute(text("UPDATE autoscaler.scaling_rules SET require_approval_threshold = NULL"))
                accounts = list(
                    conn.execute(
                        text("SELECT DISTINCT account_id FROM autoscaler.scaling_rules ORDER BY 1")
                    ).scalars()
                )
            metadata = empty_db_url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
            backend = "db+" + empty_db_url.set(drivername="postgresql").render_as_string(hide_password=False)
            env = {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CELERY__BROKER_URL": broker,
                "AIRFLOW__CELERY__RESULT_BACKEND": backend,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.dags.celery_host.hostname",
                "AIRFLOW_CONN_AUTOSCALER_DB": celery_url.set(drivername="postgresql").render_as_string(
                    hide_password=False
                ),
                "AIRFLOW_CONN_META_ADS_DEFAULT": json.dumps(
                    {
                        "conn_type": "generic",
                        "password": "sandbox-token",
                        "extra": {"graph_url": sandbox.url, "clock": "sandbox"},
                    }
                ),
            }
            with AirflowStack(tmp_path / "airflow", metadata, env) as airflow:
                airflow._start("triggerer", "triggerer")
                for name in WORKERS:
                    log = (airflow.home / "logs" / f"{name}.log").open("wb")
                    workers.append(
                        subprocess.Popen(
                            [
                                AIRFLOW,
                                "celery",
                                "worker",
                                "--celery-hostname",
                                f"{name}@%h",
                                "--concurrency",
                                "2",
                            ],
                            env={**airflow.env, "AUTOSCALER_WORKER_NAME": name},
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            cwd=ROOT,
                            start_new_session=True,
                        )
                    )
                runs = airflow.backfill_hours("autoscaler_hourly", FIRST, HOURS, timeout=600)
                assert [r["state"] for r in runs] == ["success"] * HOURS, runs
                with psycopg.connect(metadata.replace("postgresql+psycopg://", "postgresql://")) as conn:
                    placed = conn.execute(
                        "SELECT task_id, map_index, hostname FROM task_instance "
                        "WHERE dag_id = 'autoscaler_hourly' AND map_index >= 0"
                    ).fetchall()
        _single_process(local_engine, accounts)
        celery_rows, local_rows = _audit_rows(celery_engine), _audit_rows(local_engine)
    finally:
        for process in workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in workers:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        celery_engine.dispose()
        local_engine.dispose()
        for db in audit_dbs:
            next(db, None)

    hosts = {hostname for _, _, hostname in placed}
    assert hosts == set(WORKERS), placed  # the per-account tasks ran on both workers
    per_worker = {h: sum(1 for *_, x in placed if x == h) for h in WORKERS}
    print(f"per-account task instances by worker: {per_worker}")
    assert celery_rows["snapshots"], "nothing was snapshotted"
    for table in ("snapshots", "evaluations", "actions"):
        assert celery_rows[table] == local_rows[table], table
