"""The real autoscaler_hourly DAG through dag.test(), against the sandbox and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from autoscaler.demo import APPROVER, Approver
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


def dagrun(
    env: dict[str, str],
    db_url: URL,
    logical: datetime,
    conf: dict[str, Any] | None = None,
    dag: str = "autoscaler_hourly",
) -> subprocess.CompletedProcess[str]:
    """One run of a DAG file through dag.test(), in its own process, on the audit database ``db_url``."""
    run_env = {
        **env,
        "AUTOSCALER_TEST_DAG": dag,
        "AIRFLOW_CONN_AUTOSCALER_DB": db_url.set(drivername="postgresql").render_as_string(
            hide_password=False
        ),
    }
    return subprocess.run(
        [sys.executable, "-m", "tests.dags.dagrun", logical.isoformat(), json.dumps(conf or {})],
        env=run_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def run_dag(
    env: dict[str, str],
    db_url: URL,
    sandbox: RunningSandbox,
    hour: datetime,
    conf: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The hourly DAG for ``hour`` against the sandbox."""
    meta = {
        "conn_type": "generic",
        "password": "sandbox-token",
        "extra": {"graph_url": sandbox.url, "clock": "sandbox"},
    }
    run_env = {**env, **(extra_env or {}), "AIRFLOW_CONN_META_ADS_DEFAULT": json.dumps(meta)}
    return dagrun(run_env, db_url, hour + timedelta(hours=1), conf)


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
                    # One run over a small account: the thresholds on any ROAS and on 24 hours,
                    # so each kind of change happens (the defaults wait for more evidence).
                    "strategy": "thresholds",
                    "evidence_z": 0,
                    "min_window_hours": 1,  # a few hours of data: act on them (not the guard's test)
                    "lookback_hours": 24,
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


class _Webhook(BaseHTTPRequestHandler):
    posted: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Webhook.posted.append(body["text"])
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def slack() -> Iterator[tuple[str, list[str]]]:
    _Webhook.posted = []
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/X", _Webhook.posted
    finally:
        server.shutdown()
        server.server_close()


def test_approvals_one_approved_one_rejected_the_rest_expire_and_only_approved_changes_are_made(
    airflow_home: dict[str, str],
    configured: Engine,
    db_url: URL,
    sandbox: RunningSandbox,
    slack: tuple[str, list[str]],
) -> None:
    webhook, posted = slack
    with configured.begin() as conn:
        rule = conn.execute(text("SELECT rule_id FROM autoscaler.scaling_rules")).scalar_one()
        conn.execute(
            text(
                "UPDATE autoscaler.scaling_rules SET require_approval_threshold = 15000, "
                "pause_requires_approval = true WHERE rule_id = :r"
            ),
            {"r": rule},
        )
    set_clock(sandbox, HOUR + timedelta(hours=1, minutes=5))
    approver = Approver(configured, sandbox.url)  # approves one, rejects one, lets the rest expire
    approver.start()
    try:
        result = run_dag(
            airflow_home,
            db_url,
            sandbox,
            HOUR,
            extra_env={
                "AUTOSCALER_APPROVAL_POKE_SECONDS": "1",
                "AIRFLOW_CONN_AUTOSCALER_SLACK": json.dumps({"conn_type": "generic", "password": webhook}),
            },
        )
    finally:
        approver.stop.set()
        approver.join()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with configured.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.action_id, a.entity_id, a.status, a.requires_approval, a.budget_after, a.status_after, "
                "       d.actor AS decided_by "
                "FROM autoscaler.scaling_actions a "
                "LEFT JOIN autoscaler.action_events d ON d.action_id = a.action_id "
                "     AND d.to_status IN ('approved', 'rejected', 'expired') "
                "ORDER BY a.action_id"
            )
        ).all()
    waited = [r for r in rows if r.requires_approval]
    by_status = Counter(r.status for r in waited)
    assert len(waited) >= 3, rows
    # The approved one was executed after the sensor saw it; the rejected one was not made.
    assert by_status["rejected"] == 1
    assert by_status["executed"] == 1
    assert by_status["expired"] == len(waited) - 2
    assert {r.decided_by for r in waited if r.status == "expired"} == {"autoscaler"}
    assert {r.decided_by for r in waited if r.status in ("executed", "rejected")} == {APPROVER}
    # Changes within the threshold did not wait for the others.
    assert {r.status for r in rows if not r.requires_approval} == {"executed"}
    executed = {
        (r.entity_id, r.budget_after if r.budget_after is not None else r.status_after)
        for r in rows
        if r.status == "executed"
    }
    assert {(h["entity_id"], h["after"]) for h in sandbox_log(sandbox, "history")} == executed
    # The people were told what waited.
    assert any(
        text_.startswith(f"*{ACCOUNT}: {len(waited)} budget change(s) await approval") for text_ in posted
    ), posted


def test_a_crash_between_the_meta_write_and_the_commit_is_retried_without_a_double_change(
    airflow_home: dict[str, str], configured: Engine, db_url: URL, sandbox: RunningSandbox
) -> None:
    set_clock(sandbox, HOUR + timedelta(hours=1, minutes=5))
    # The first attempt of execute dies after Meta applied its writes, before anything is recorded.
    crashed = run_dag(
        airflow_home, db_url, sandbox, HOUR, extra_env={"AUTOSCALER_TEST_CRASH_AFTER_WRITE": "1"}
    )
    assert "worker died between the Meta write and the database commit" in crashed.stdout + crashed.stderr
    applied_by_crashed_run = sandbox_log(sandbox, "history")
    assert applied_by_crashed_run
    # The retry (the run again, as the scheduler's retry would) reads Meta, finds the targets held.
    retried = run_dag(airflow_home, db_url, sandbox, HOUR)
    assert retried.returncode == 0, retried.stdout[-3000:] + retried.stderr[-3000:]
    with configured.connect() as conn:
        statuses = Counter(conn.execute(text("SELECT status FROM autoscaler.scaling_actions")).scalars())
        details = set(
            conn.execute(
                text("SELECT detail FROM autoscaler.action_events WHERE to_status = 'executed'")
            ).scalars()
        )
    history = sandbox_log(sandbox, "history")
    assert history == applied_by_crashed_run  # nothing written twice
    assert statuses == {"executed": len(history)}
    assert details == {"Meta already held the target; nothing written"}


def test_a_task_that_fails_for_good_is_announced_through_the_notifier(
    airflow_home: dict[str, str],
    configured: Engine,
    db_url: URL,
    sandbox: RunningSandbox,
    slack: tuple[str, list[str]],
) -> None:
    webhook, posted = slack
    set_clock(sandbox, HOUR + timedelta(hours=1, minutes=5))
    result = run_dag(
        airflow_home,
        db_url,
        sandbox,
        HOUR,
        {"accounts": ["act_999"]},
        extra_env={
            "AIRFLOW_CONN_AUTOSCALER_SLACK": json.dumps({"conn_type": "generic", "password": webhook})
        },
    )
    assert result.returncode != 0
    assert len(posted) == 1, posted
    assert posted[0].startswith("*autoscaler_hourly: accounts failed after 1 attempt(s)*")
    assert "no enabled scaling rule for act_999" in posted[0]
