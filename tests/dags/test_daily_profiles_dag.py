"""The real autoscaler_daily_profiles DAG through dag.test(), on weeks of simulated snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from autoscaler.rules import ScalingRule
from autoscaler.sandbox.scenario import load_scenario
from autoscaler.store.rules import create_rule
from tests.dags.test_hourly_dag import airflow_home, dagrun  # noqa: F401  (the module-scoped Airflow home)
from tests.simulated import load_into, simulated_snapshots

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ACCOUNT = "act_4001"


def run_daily(env: dict[str, str], db_url: URL, logical: datetime, conf: dict[str, Any] | None = None) -> Any:
    return dagrun(env, db_url, logical, conf, dag="autoscaler_daily_profiles")


@pytest.fixture
def history(engine: Engine) -> Engine:
    scenario = load_scenario("planted")
    sim, rows = simulated_snapshots(scenario, 1)
    load_into(engine, sim, rows)
    with engine.begin() as conn:
        create_rule(
            conn,
            ScalingRule.parse(
                {"account_id": ACCOUNT, "min_daily_budget": 1_000, "max_daily_budget": 1_000_000}
            ),
            actor="tests",
        )
    return engine


def test_the_daily_run_replaces_every_profile_from_complete_local_days(
    airflow_home: dict[str, str],  # noqa: F811
    history: Engine,
    db_url: URL,
) -> None:
    result = run_daily(airflow_home, db_url, datetime(2026, 11, 30, 9, tzinfo=UTC))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with history.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT count(*), min(window_start), max(window_end), count(*) FILTER (WHERE cardinality(peak_hours) > 0) "
                "FROM autoscaler.optimal_hour_profiles"
            )
        ).one()
    count, start, end, with_peaks = rows
    assert count == 50
    # Whole local days of New York, whatever UTC hour the run had.
    assert end.astimezone(UTC).hour == 5
    assert end <= datetime(2026, 11, 30, 9, tzinfo=UTC)
    assert end - start == timedelta(days=28)
    assert with_peaks > 10
    assert "50 profiles from 28 local days" in result.stdout + result.stderr


def test_days_outside_the_allowed_range_are_refused_and_nothing_is_written(
    airflow_home: dict[str, str],  # noqa: F811
    history: Engine,
    db_url: URL,
) -> None:
    result = run_daily(airflow_home, db_url, datetime(2026, 11, 30, 9, tzinfo=UTC), {"days": 3})
    assert result.returncode != 0
    assert "days" in result.stdout + result.stderr
    with history.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM autoscaler.optimal_hour_profiles")).scalar_one() == 0
