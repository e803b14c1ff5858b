"""The hourly DAG's doctor task: a run that cannot succeed fails first, naming the fix."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from autoscaler.sandbox.faults import FaultPlan
from autoscaler.sandbox.scenario import load_scenario
from autoscaler.sandbox.server import RunningSandbox
from tests.dags.test_hourly_dag import (  # noqa: F401  (fixtures)
    HOUR,
    airflow_home,
    configured,
    run_dag,
    sandbox_log,
    set_clock,
    slack,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def ailing_sandbox() -> Iterator[RunningSandbox]:
    """A token without ads_management that expires in 5 hours."""
    faults = FaultPlan.parse("missing_scope=ads_management,token_expires_in=5")
    with RunningSandbox(load_scenario("demo"), seed=1, faults=faults) as running:
        yield running


def test_a_token_without_permission_fails_the_run_before_any_read_and_its_expiry_is_announced(
    airflow_home: dict[str, str],  # noqa: F811
    configured: Engine,  # noqa: F811
    db_url: URL,
    ailing_sandbox: RunningSandbox,
    slack: tuple[str, list[str]],  # noqa: F811
) -> None:
    import json

    webhook, posted = slack
    set_clock(ailing_sandbox, HOUR + timedelta(hours=1, minutes=5))
    result = run_dag(
        airflow_home,
        db_url,
        ailing_sandbox,
        HOUR,
        extra_env={
            "AIRFLOW_CONN_AUTOSCALER_SLACK": json.dumps({"conn_type": "generic", "password": webhook})
        },
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "FAIL token permissions: missing ads_management" in output
    assert "Generate new token" in output  # the fix is named
    # Nothing about the account was read beyond the doctor's look at it; nothing was written.
    paths = {r["path"] for r in sandbox_log(ailing_sandbox, "requests")}
    assert paths == {"debug_token", "act_1001"}
    with configured.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM autoscaler.scaling_runs")).scalar_one() == 0
    subjects = [p.splitlines()[0] for p in posted]
    assert any(
        s.startswith("*the Meta access token expires in 5 h (2026-11-02 21:05 UTC)") for s in subjects
    ), subjects
    assert any(s.startswith("*autoscaler_hourly: doctor failed") for s in subjects), subjects


def test_the_cli_doctor_reads_the_pool_and_the_dags_from_airflow_s_metadata_database(
    airflow_home: dict[str, str],  # noqa: F811  (metadata migrated, pool meta_api of 8 slots, no DAG parsed)
    configured: Engine,  # noqa: F811
    db_url: URL,
    ailing_sandbox: RunningSandbox,
) -> None:
    import json
    import subprocess
    import sys

    meta = {
        "conn_type": "generic",
        "password": "sandbox-token",
        "extra": {"graph_url": ailing_sandbox.url, "clock": "sandbox"},
    }
    url = db_url.render_as_string(hide_password=False)
    done = subprocess.run(
        [sys.executable, "-m", "autoscaler.cli", "doctor", "--url", url],
        env={**airflow_home, "AIRFLOW_CONN_META_ADS_DEFAULT": json.dumps(meta)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 1
    assert "OK   pool meta_api: 8 slots" in lines
    # The DAG's state as the metadata database holds it: not parsed when this test runs alone,
    # parsed (and paused or not) when the session's scheduler tests ran before it.
    assert {
        "FAIL DAG autoscaler_hourly: not parsed by Airflow",
        "WARN DAG autoscaler_hourly: paused: it does not run",
        "OK   DAG autoscaler_hourly: unpaused",
    } & set(lines), lines
    assert any(line.startswith("FAIL token permissions: missing ads_management") for line in lines)
