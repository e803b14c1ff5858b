"""Executing approved actions against the sandbox: exactly once, drift-checked, serialised."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from autoscaler import execute as execute_module
from autoscaler.execute import execute_account
from autoscaler.meta import BudgetChange, MetaClient, MetaConfig
from autoscaler.policy import decide, with_rules
from autoscaler.rules import ScalingRule
from autoscaler.sandbox.scenario import load_scenario
from autoscaler.sandbox.server import RunningSandbox
from autoscaler.store import actions
from autoscaler.store.accounts import AdAccount, upsert_account
from autoscaler.store.holders import upsert_budget_holders
from autoscaler.store.rules import create_rule

pytestmark = [pytest.mark.sandbox, pytest.mark.integration]

ACCOUNT = "act_1001"
HOUR = datetime(2026, 11, 2, 15, tzinfo=UTC)


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with RunningSandbox(load_scenario("demo"), seed=1) as running:
        yield running


@pytest.fixture
def meta(sandbox: RunningSandbox) -> MetaClient:
    return MetaClient(MetaConfig(access_token="sandbox-token", graph_url=sandbox.url))


def history(url: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(urllib.request.urlopen(f"{url}/__sandbox/history").read())
    return entries


def approved_actions(engine: Engine, meta: MetaClient, count: int = 6) -> list[int]:
    """Record `count` approved live actions: every other holder scaled up 20%, one paused."""
    holders = meta.list_budget_holders(ACCOUNT).head(count)
    with engine.begin() as conn:
        upsert_account(conn, AdAccount(ACCOUNT, "USD", "America/New_York"))
        upsert_budget_holders(conn, ACCOUNT, holders, HOUR)
        rule = create_rule(
            conn,
            ScalingRule.parse(
                # Acting on any ROAS: these metrics carry no conversions to weigh evidence by.
                {
                    "account_id": ACCOUNT,
                    "min_daily_budget": 100,
                    "max_daily_budget": 10_000_000,
                    "evidence_z": 0,
                }
            ),
            actor="t",
        )
        spend = 100_000
        metrics = holders.assign(
            spend=spend,
            revenue=[spend * (0.5 if i == 0 else 3.5) for i in range(len(holders))],
            impressions=20_000,
            clicks=100,
        )
        decided = decide(with_rules(metrics, [rule]), pd.Timestamp(HOUR))
        ids = actions.record_decisions(
            conn,
            decided,
            account_id=ACCOUNT,
            currency="USD",
            run_hour=HOUR,
            window=(HOUR - timedelta(hours=23), HOUR + timedelta(hours=1)),
            mode="live",
            approval_deadline=None,
            rule_revisions={int(rule.rule_id or 0): 1},
        )
    return ids


def outcomes(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT status, count(*) AS n FROM autoscaler.scaling_actions GROUP BY status")
        )
        return {r.status: r.n for r in rows}


def test_approved_actions_are_written_once_and_history_matches(
    engine: Engine, meta: MetaClient, sandbox: RunningSandbox
) -> None:
    ids = approved_actions(engine, meta)
    summary = execute_account(engine, meta, ACCOUNT)
    assert summary.outcomes == {"executed": 6}
    assert summary.write_requests == 1  # one batch
    with engine.connect() as conn:
        executed = {a.entity_id: a for a in (actions.get_action(conn, i) for i in ids)}
    applied = history(sandbox.url)
    assert len(applied) == 6
    for change in applied:
        action = executed[change["entity_id"]]
        if change["field"] == "status":
            assert (change["before"], change["after"]) == (action.status_before, action.status_after)
        else:
            assert (change["before"], change["after"]) == (action.budget_before, action.budget_after)
    assert execute_account(engine, meta, ACCOUNT).outcomes == {}  # nothing left to do


def test_a_crash_after_the_write_and_before_the_commit_does_not_write_twice(
    engine: Engine, meta: MetaClient, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    approved_actions(engine, meta)
    real_record = execute_module._Outcomes.record

    def crash_after_meta_wrote(self: Any, engine: Engine) -> None:
        if ("executed", "written to Meta") in self.groups:
            raise RuntimeError("worker died between the Meta write and the database commit")
        real_record(self, engine)

    monkeypatch.setattr(execute_module._Outcomes, "record", crash_after_meta_wrote)
    with pytest.raises(RuntimeError, match="worker died"):
        execute_account(engine, meta, ACCOUNT)
    assert outcomes(engine) == {"approved": 6}  # nothing recorded, yet Meta has the changes
    monkeypatch.setattr(execute_module._Outcomes, "record", real_record)

    retry = execute_account(engine, meta, ACCOUNT)  # the task's retry
    assert retry.outcomes == {"executed": 6}
    assert retry.write_requests == 0
    assert len(history(sandbox.url)) == 6  # each change applied exactly once


def test_budgets_changed_by_hand_meanwhile_drift_and_are_not_overwritten(
    engine: Engine, meta: MetaClient, sandbox: RunningSandbox
) -> None:
    ids = approved_actions(engine, meta)
    with engine.connect() as conn:
        target = actions.get_action(conn, ids[1])
    meta.apply([BudgetChange(target.entity_id, daily_budget=12_345)])  # a person, in Ads Manager
    summary = execute_account(engine, meta, ACCOUNT)
    assert summary.outcomes == {"executed": 5, "drifted": 1}
    with engine.connect() as conn:
        drifted = conn.execute(
            text("SELECT status, error_message FROM autoscaler.scaling_actions WHERE action_id = :id"),
            {"id": ids[1]},
        ).one()
    assert drifted.status == "drifted"
    assert "holds daily_budget 12345" in drifted.error_message
    assert meta.read_budgets([target.entity_id])[target.entity_id]["daily_budget"] == 12_345


def test_refused_writes_fail_with_metas_answer(engine: Engine, meta: MetaClient) -> None:
    ids = approved_actions(engine, meta)
    with engine.begin() as conn:  # an approved action the sandbox will refuse: below Meta's minimum
        conn.execute(text("ALTER TABLE autoscaler.scaling_actions DISABLE TRIGGER scaling_actions_guard"))
        conn.execute(
            text("UPDATE autoscaler.scaling_actions SET budget_after = 50 WHERE action_id = :id"),
            {"id": ids[2]},
        )
        conn.execute(text("ALTER TABLE autoscaler.scaling_actions ENABLE TRIGGER scaling_actions_guard"))
    summary = execute_account(engine, meta, ACCOUNT)
    assert summary.outcomes == {"executed": 5, "failed": 1}
    with engine.connect() as conn:
        failed = conn.execute(
            text(
                "SELECT error_message, meta_response->>'code' AS code FROM autoscaler.scaling_actions WHERE action_id = :id"
            ),
            {"id": ids[2]},
        ).one()
    assert "must be at least" in failed.error_message
    assert failed.code == "100"


def test_two_overlapping_runs_never_both_write(
    engine: Engine, meta: MetaClient, sandbox: RunningSandbox
) -> None:
    approved_actions(engine, meta)
    clients = [MetaClient(MetaConfig(access_token="sandbox-token", graph_url=sandbox.url)) for _ in range(2)]
    summaries: list[Any] = []
    threads = [
        threading.Thread(target=lambda c=c: summaries.append(execute_account(engine, c, ACCOUNT)))
        for c in clients
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(sum(s.outcomes.values()) for s in summaries) == [0, 6]
    assert len(history(sandbox.url)) == 6


def test_writes_meta_acknowledged_are_recorded_before_a_later_batch_fails(
    engine: Engine, meta: MetaClient, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = approved_actions(engine, meta, count=30)
    monkeypatch.setattr("autoscaler.meta.client.MAX_BATCH", 10)  # three batches
    real_batch = MetaClient._batch
    calls = []

    def second_batch_crashes(self: MetaClient, changes: Any) -> Any:
        calls.append(len(changes))
        if len(calls) == 2:
            raise RuntimeError("worker killed while the second batch was in flight")
        return real_batch(self, changes)

    monkeypatch.setattr(MetaClient, "_batch", second_batch_crashes)
    with pytest.raises(RuntimeError, match="worker killed"):
        execute_account(engine, meta, ACCOUNT)
    with engine.connect() as conn:
        details = conn.execute(
            text(
                "SELECT e.detail, count(*) FROM autoscaler.action_events e WHERE e.to_status = 'executed' "
                "AND e.action_id = ANY(:ids) GROUP BY e.detail"
            ),
            {"ids": ids},
        ).all()
    # The first batch's ten writes are on record as written, not left for the retry to find
    # "already at target" (issue 17, item 15).
    assert [tuple(d) for d in details] == [("written to Meta", 10)]


def test_a_malformed_answer_to_a_batch_is_a_transient_error_and_the_retry_completes(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autoscaler.sandbox.faults import FaultPlan

    # Request 1 lists the holders, 2 reads the budgets, 3 is the batch: answered 200 with a
    # truncated body, which the SDK used to surface as a raw TypeError or AttributeError.
    with RunningSandbox(load_scenario("demo"), seed=1, faults=FaultPlan(script={3: "malformed"})) as sandbox:
        client = MetaClient(
            MetaConfig(access_token="sandbox-token", graph_url=sandbox.url), sleep=lambda s: None
        )
        approved_actions(engine, client)
        summary = execute_account(engine, client, ACCOUNT)
        assert summary.outcomes == {"executed": 6}
        assert summary.write_requests == 2  # the malformed batch and its retry
        assert len(history(sandbox.url)) == 6  # the retry wrote the same absolute values: no change twice


def test_a_budget_read_of_the_wrong_shape_is_a_typed_transient_error(
    meta: MetaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autoscaler.meta.errors import TransientError

    monkeypatch.setattr(MetaClient, "_send", lambda self, *a, **k: {"123": "not an object"})
    with pytest.raises(TransientError, match="malformed body"):
        meta.read_budgets(["123"])
