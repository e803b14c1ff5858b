"""The approval sensor's poke writes what was approved since the last poke (issue 17, item 6)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine

from autoscaler.airflow import tasks
from autoscaler.meta import MetaClient, MetaConfig
from autoscaler.sandbox.scenario import load_scenario
from autoscaler.sandbox.server import RunningSandbox
from autoscaler.store import actions
from tests.sandbox.test_execute import ACCOUNT, HOUR, approved_actions

pytestmark = [pytest.mark.sandbox, pytest.mark.integration]


@pytest.fixture
def meta() -> Iterator[MetaClient]:
    with RunningSandbox(load_scenario("demo"), seed=1) as sandbox:
        yield MetaClient(MetaConfig(access_token="sandbox-token", graph_url=sandbox.url, clock="sandbox"))


def _context() -> dict[str, Any]:
    return {
        "dag_run": SimpleNamespace(run_type="scheduled", run_id="scheduled__2026-11-02T15:00:00+00:00"),
        "params": {},
        "data_interval_start": HOUR,
    }


def test_an_approved_change_is_written_at_the_next_poke_while_others_still_wait(
    engine: Engine, meta: MetaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = approved_actions(engine, meta, count=3)
    monkeypatch.setattr(tasks, "audit_engine", lambda: engine)
    monkeypatch.setattr(engine, "dispose", lambda: None)  # the fixture's engine outlives the poke
    monkeypatch.setattr(tasks, "meta_client", lambda: meta)
    monkeypatch.setattr(tasks, "variable_paused", lambda: False)
    # Two more changes wait for a person, with a deadline on the sandbox's clock.
    first, second = _pending_pair(engine, meta, meta.now() + timedelta(minutes=45))
    with engine.begin() as conn:
        actions.approve(conn, first, by="ana", reason="go", now=meta.now())

    assert tasks.approvals_settled(ACCOUNT, _context()) is False  # the second still waits
    with engine.connect() as conn:
        assert actions.get_action(conn, first).status == "executed"
        assert actions.get_action(conn, second).status == "pending_approval"
        assert {actions.get_action(conn, i).status for i in ids} == {"executed"}


def _pending_pair(engine: Engine, meta: MetaClient, deadline: Any) -> tuple[int, int]:
    from tests import factories

    with engine.begin() as conn:
        rule_id = conn.exec_driver_sql("SELECT min(rule_id) FROM autoscaler.scaling_rules").scalar_one()
        holders = conn.exec_driver_sql(
            "SELECT entity_id, daily_budget, level FROM autoscaler.budget_holders "
            "WHERE daily_budget IS NOT NULL ORDER BY entity_id DESC LIMIT 2"
        ).all()
        made = []
        for h in holders:
            made.append(
                factories.insert_action(
                    conn,
                    factories.action_row(
                        rule_id,
                        entity_id=h.entity_id,
                        entity_level=h.level,
                        run_hour="2026-11-02 14:00:00+00",
                        budget_before=int(h.daily_budget),
                        budget_after=int(h.daily_budget) + 500,
                        approval_deadline=deadline,
                    ),
                )
            )
    return made[0], made[1]
