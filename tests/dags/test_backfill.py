"""`airflow backfill create` through a real scheduler: history is snapshotted, nothing is written to Meta."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from autoscaler.sandbox.scenario import load_scenario
from autoscaler.sandbox.server import RunningSandbox
from tests.dags.stack import AirflowStack
from tests.dags.test_hourly_dag import configured, sandbox_log, set_clock  # noqa: F401

pytestmark = [pytest.mark.sandbox, pytest.mark.integration, pytest.mark.slow]

FIRST = datetime(2026, 11, 3, 12, tzinfo=UTC)  # data intervals 12:00-13:00 .. 14:00-15:00 UTC
HOURS = 3


@pytest.fixture
def stack(
    tmp_path: Path,
    empty_db_url: URL,
    db_url: URL,
    configured: Engine,  # noqa: F811  (the account and its rule, as in the DAG tests)
) -> Iterator[tuple[AirflowStack, RunningSandbox]]:
    with RunningSandbox(load_scenario("demo"), seed=1) as sandbox:
        set_clock(sandbox, FIRST + timedelta(days=1))  # the backfilled hours are history by now
        connections = {
            "AIRFLOW_CONN_AUTOSCALER_DB": db_url.set(drivername="postgresql").render_as_string(
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
        metadata = empty_db_url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        with AirflowStack(tmp_path / "airflow", metadata, connections) as running:
            yield running, sandbox


def test_a_backfill_through_the_scheduler_records_simulated_decisions_and_writes_nothing_to_meta(
    stack: tuple[AirflowStack, RunningSandbox], engine: Engine
) -> None:
    airflow, sandbox = stack
    runs = airflow.backfill_hours("autoscaler_hourly", FIRST, HOURS)
    assert [(r["run_type"], r["state"]) for r in runs] == [("backfill", "success")] * HOURS, runs
    with engine.connect() as conn:
        hours = conn.execute(
            text(
                "SELECT run_hour, mode, shadow_reason, run_type, status, snapshots_written "
                "FROM autoscaler.scaling_runs ORDER BY run_hour"
            )
        ).all()
        statuses = set(conn.execute(text("SELECT DISTINCT status FROM autoscaler.scaling_actions")).scalars())
        snapshot_hours = list(
            conn.execute(
                text(
                    "SELECT hour_start, count(*) FROM autoscaler.campaign_performance_snapshots "
                    "GROUP BY hour_start ORDER BY hour_start"
                )
            ).all()
        )
    assert [h.run_hour for h in hours] == [FIRST + timedelta(hours=i) for i in range(HOURS)]
    assert {(h.mode, h.shadow_reason, h.run_type, h.status) for h in hours} == {
        ("shadow", "backfill", "backfill", "success")
    }
    assert [(hour, n) for hour, n in snapshot_hours] == [
        (FIRST + timedelta(hours=i), 18) for i in range(HOURS)
    ]
    assert statuses <= {"simulated"}
    assert [r for r in sandbox_log(sandbox, "requests") if r["writes"]] == []
    assert sandbox_log(sandbox, "history") == []
