"""sql/roles.sql: the application role can run the autoscaler and cannot rewrite its audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import ProgrammingError

from autoscaler.daily import learn_account
from autoscaler.execute import execute_account
from autoscaler.hourly import RunHour, decide_account, fetch, snapshot
from autoscaler.meta import MetaClient, MetaConfig
from autoscaler.rules import ScalingRule
from autoscaler.sandbox.scenario import load_scenario
from autoscaler.sandbox.server import RunningSandbox
from autoscaler.store import actions
from autoscaler.store.controls import set_lock, set_pause
from autoscaler.store.rules import create_rule
from tests.api.conftest import set_clock

pytestmark = [pytest.mark.integration, pytest.mark.sandbox]

ACCOUNT = "act_1001"
START = datetime(2026, 11, 2, 5, tzinfo=UTC)


def test_the_application_role_runs_every_step(app_engine: Engine) -> None:
    with RunningSandbox(load_scenario("demo"), seed=1) as sandbox:
        meta = MetaClient(MetaConfig(access_token="sandbox-token", graph_url=sandbox.url))
        for i in range(6):
            hour = START + timedelta(hours=i)
            now = hour + timedelta(hours=1, minutes=5)
            set_clock(sandbox, now)
            run = RunHour(ACCOUNT, hour)
            fetch(app_engine, meta, run, now)  # the first run records the account, then its rule
            if i == 0:
                with app_engine.begin() as conn:
                    create_rule(
                        conn,
                        ScalingRule.parse(
                            {
                                "account_id": ACCOUNT,
                                "min_daily_budget": 1_000,
                                "max_daily_budget": 100_000,
                                "require_approval_threshold": 15_000,
                                "min_impressions": 100,
                                "evidence_z": 0,
                                "lookback_hours": 24,
                                # Six hours of data: this is about the role's privileges,
                                # not the wait for a full window.
                                "min_window_hours": 1,
                            }
                        ),
                        actor="ops",
                    )
            snapshot(app_engine, meta, run, now)
            decide_account(app_engine, run, now, approval_deadline=now + timedelta(hours=2))
            execute_account(app_engine, meta, ACCOUNT)
        learn_account(app_engine, ACCOUNT, START + timedelta(days=1), days=1)
    with app_engine.begin() as conn:
        executed = conn.execute(
            text("SELECT count(*) FROM autoscaler.scaling_actions WHERE status = 'executed'")
        ).scalar_one()
        waiting = actions.list_actions(conn, status="pending_approval", limit=1)
        if waiting:
            # The deadline is on the sandbox's virtual clock, which stopped at the last hour's run.
            actions.approve(conn, waiting[0].action_id, by="ops", reason="fine", now=now)
        set_pause(conn, "all", paused=True, by="ops", reason="drill")
        entity = conn.execute(text("SELECT min(entity_id) FROM autoscaler.budget_holders")).scalar_one()
        set_lock(conn, entity, locked=True, by="ops", reason="drill")
        events = conn.execute(text("SELECT count(*) FROM autoscaler.control_events")).scalar_one()
    assert executed > 0
    assert events == 2


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM autoscaler.scaling_actions",
        "DELETE FROM autoscaler.action_events",
        "UPDATE autoscaler.action_events SET actor = 'mallory'",
        "TRUNCATE autoscaler.control_events",
        "DELETE FROM autoscaler.campaign_performance_snapshots",
        "DROP TABLE autoscaler.scaling_runs",
        "CREATE TABLE autoscaler.mine (x int)",
        "ALTER TABLE autoscaler.scaling_actions DISABLE TRIGGER scaling_actions_guard",
    ],
)
def test_the_application_role_cannot_rewrite_history(app_engine: Engine, statement: str) -> None:
    with pytest.raises(ProgrammingError) as refused, app_engine.begin() as conn:
        conn.execute(text(statement))
    assert isinstance(refused.value.orig, psycopg.errors.InsufficientPrivilege)
