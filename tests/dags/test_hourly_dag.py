"""The real autoscaler_hourly DAG through dag.test(), against the sandbox and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from autoscaler.rules import ScalingRule
from autoscaler.sandbox.scenario import load_scenario
from autoscaler.sandbox.server import RunningSandbox
from autoscaler.store.accounts import AdAccount, upsert_account
from autoscaler.store.rules import create_rule

pytestmark = [pytest.mark.sandbox, pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "act_1001"
HOUR = datetime(2026, 11, 2, 15, tzinfo=UTC)  # 10:00 in New York


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("airflow")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AUTOSCALER_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
    )
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    subprocess.run(
        [airflow, "pools", "set", "meta_api", "8", "Meta Graph API calls"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return env


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with RunningSandbox(load_scenario("demo"), seed=1) as running:
        yield running


def set_clock(sandbox: RunningSandbox, when: datetime) -> None:
    body = json.dumps({"to": when.isoformat()}).encode()
    urllib.request.urlopen(
        urllib.request.Request(f"{sandbox.url}/__sandbox/clock", data=body, method="POST")
    ).read()


def sandbox_log(sandbox: RunningSandbox, what: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(
        urllib.request.urlopen(f"{sandbox.url}/__sandbox/{what}").read()
    )
    return entries


def run_dag(
    env: dict[str, str],
    db_url: URL,
    sandbox: RunningSandbox,
    hour: datetime,
    conf: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    run_env = {**env, **(extra_env or {})}
    run_env["AIRFLOW_CONN_AUTOSCALER_DB"] = db_url.set(drivername="postgresql").render_as_string(
        hide_password=False
    )
    run_env["AIRFLOW_CONN_META_ADS_DEFAULT"] = json.dumps(
        {
            "conn_type": "generic",
            "password": "sandbox-token",
            "extra": {"graph_url": sandbox.url, "clock": "sandbox"},
        }
    )
    logical = (hour + timedelta(hours=1)).isoformat()
    return subprocess.run(
        [sys.executable, "-m", "tests.dags.dagrun", logical, json.dumps(conf or {})],
        env=run_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def configured(engine: Engine) -> Engine:
    with engine.begin() as conn:
        upsert_account(conn, AdAccount(ACCOUNT, "USD", "America/New_York"))
        create_rule(
            conn,
            ScalingRule.parse(
                {
                    "account_id": ACCOUNT,
                    "min_daily_budget": 1_000,
                    "max_daily_budget": 100_000,
                    "min_impressions": 100,
                }
            ),
            actor="tests",
        )
    return engine


def test_an_hourly_run_snapshots_decides_and_writes_what_it_decided(
    airflow_home: dict[str, str], configured: Engine, db_url: URL, sandbox: RunningSandbox
) -> None:
    set_clock(sandbox, HOUR + timedelta(hours=1, minutes=5))
    result = run_dag(airflow_home, db_url, sandbox, HOUR)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with configured.connect() as conn:
        snapshots = conn.execute(
            text("SELECT count(*) FROM autoscaler.campaign_performance_snapshots WHERE hour_start = :h"),
            {"h": HOUR},
        ).scalar_one()
        statuses: dict[str, int] = dict(
            conn.execute(
                text("SELECT status, count(*) FROM autoscaler.scaling_actions GROUP BY status")
            ).all()
        )
        executed = conn.execute(
            text(
                "SELECT entity_id, budget_after, status_after FROM autoscaler.scaling_actions WHERE status = 'executed'"
            )
        ).all()
        run_row = conn.execute(
            text("SELECT mode, status, snapshots_written, evaluated, summary FROM autoscaler.scaling_runs")
        ).one()
    assert snapshots == 18
    assert run_row.mode == "live"
    assert run_row.snapshots_written == 18
    assert run_row.evaluated == 18
    assert executed, statuses
    # The sandbox's budget history is exactly the executed actions.
    applied = {(h["entity_id"], h["after"]) for h in sandbox_log(sandbox, "history")}
    assert applied == {
        (e.entity_id, e.budget_after if e.budget_after is not None else e.status_after) for e in executed
    }
    assert statuses == {"executed": len(executed)}  # no approval threshold: every change is written


def test_a_dry_run_records_simulated_decisions_and_writes_nothing(
    airflow_home: dict[str, str], configured: Engine, db_url: URL, sandbox: RunningSandbox
) -> None:
    set_clock(sandbox, HOUR + timedelta(hours=1, minutes=5))
    result = run_dag(airflow_home, db_url, sandbox, HOUR, {"dry_run": True})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with configured.connect() as conn:
        statuses = set(conn.execute(text("SELECT DISTINCT status FROM autoscaler.scaling_actions")).scalars())
        mode = conn.execute(text("SELECT mode, shadow_reason FROM autoscaler.scaling_runs")).one()
    assert statuses == {"simulated"}
    assert tuple(mode) == ("shadow", "dry_run")
    assert [r for r in sandbox_log(sandbox, "requests") if r["writes"]] == []


def test_the_kill_switch_turns_a_run_into_shadow_mode(
    airflow_home: dict[str, str], configured: Engine, db_url: URL, sandbox: RunningSandbox
) -> None:
    set_clock(sandbox, HOUR + timedelta(hours=1, minutes=5))
    result = run_dag(airflow_home, db_url, sandbox, HOUR, extra_env={"AIRFLOW_VAR_AUTOSCALER_PAUSED": "true"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with configured.connect() as conn:
        mode = conn.execute(text("SELECT mode, shadow_reason FROM autoscaler.scaling_runs")).one()
        statuses = set(conn.execute(text("SELECT DISTINCT status FROM autoscaler.scaling_actions")).scalars())
    assert tuple(mode) == ("shadow", "kill_switch")
    assert statuses <= {"simulated"}
    assert [r for r in sandbox_log(sandbox, "requests") if r["writes"]] == []


@pytest.mark.parametrize(
    ("conf", "says"),
    [
        ({"accounts": ["123"]}, "accounts"),
        ({"dry_run": "maybe"}, "dry_run"),
        ({"accounts": ["act_999"]}, "no enabled scaling rule for act_999"),
    ],
)
def test_bad_params_fail_the_run_saying_why_and_write_nothing(
    airflow_home: dict[str, str],
    configured: Engine,
    db_url: URL,
    sandbox: RunningSandbox,
    conf: dict[str, Any],
    says: str,
) -> None:
    set_clock(sandbox, HOUR + timedelta(hours=1, minutes=5))
    result = run_dag(airflow_home, db_url, sandbox, HOUR, conf)
    assert result.returncode != 0
    assert says in result.stdout + result.stderr
    with configured.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM autoscaler.campaign_performance_snapshots")).scalar_one()
            == 0
        )
    assert sandbox_log(sandbox, "requests") == []
