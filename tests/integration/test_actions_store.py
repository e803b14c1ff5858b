"""Decisions become actions once; approvals and expiry are recorded with who and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Connection, Engine, text

from autoscaler.policy import decide, with_rules
from autoscaler.store import actions
from tests import factories

pytestmark = pytest.mark.integration

HOUR = datetime(2026, 11, 2, 15, tzinfo=UTC)
WINDOW = (HOUR - timedelta(hours=23), HOUR + timedelta(hours=1))


@pytest.fixture
def conn(engine: Engine) -> Any:
    with engine.begin() as connection:
        factories.account(connection)
        for entity_id in ("2001", "2002", "2003", "2004"):
            factories.budget_holder(connection, entity_id)
        yield connection


def decisions(conn: Connection) -> pd.DataFrame:
    rule = factories.rule(conn, require_approval_threshold=25_000)
    frame = pd.DataFrame(
        [
            {
                "entity_id": "2001",
                "daily_budget": 20_000,
                "spend": 100_000,
                "revenue": 420_000,
                "impressions": 15_000,
                "clicks": 525,
            },
            {
                "entity_id": "2002",
                "daily_budget": 20_000,
                "spend": 100_000,
                "revenue": 350_000,
                "impressions": 15_000,
                "clicks": 100,
            },
            {
                "entity_id": "2003",
                "daily_budget": 20_000,
                "spend": 100_000,
                "revenue": 50_000,
                "impressions": 15_000,
                "clicks": 100,
            },
            {
                "entity_id": "2004",
                "daily_budget": 20_000,
                "spend": 100_000,
                "revenue": 200_000,
                "impressions": 15_000,
                "clicks": 100,
            },
        ]
    )
    return decide(with_rules(frame, [rule]), pd.Timestamp(HOUR))


def record(conn: Connection, decided: pd.DataFrame, mode: str = "live") -> list[int]:
    return actions.record_decisions(
        conn,
        decided,
        account_id=factories.ACCOUNT,
        currency="USD",
        run_hour=HOUR,
        window=WINDOW,
        mode=mode,
        approval_deadline=HOUR + timedelta(minutes=45),
        rule_revisions={1: 1},
    )


def statuses(conn: Connection) -> dict[str, tuple[str, str]]:
    rows = conn.execute(
        text("SELECT entity_id, action_type, status FROM autoscaler.scaling_actions ORDER BY entity_id")
    )
    return {r.entity_id: (r.action_type, r.status) for r in rows}


def test_changes_become_actions_big_ones_waiting_for_approval(conn: Connection) -> None:
    ids = record(conn, decisions(conn))
    assert len(ids) == 3  # maintain is an evaluation, not an action
    assert statuses(conn) == {
        "2001": ("scale_up_aggressive", "pending_approval"),  # 30,000 > 25,000
        "2002": ("scale_up", "approved"),  # 24,000: approved by the autoscaler
        "2003": ("pause", "approved"),
    }
    approved = actions.get_action(conn, ids[1])
    assert (approved.budget_before, approved.budget_after, approved.reasoning) == (
        20_000,
        24_000,
        "Strong performance: ROAS 3.50x (>3.0x)",
    )
    pause = actions.get_action(conn, ids[2])
    assert (pause.budget_after, pause.status_before, pause.status_after) == (None, "ACTIVE", "PAUSED")


def test_recording_the_same_run_again_adds_nothing(conn: Connection) -> None:
    decided = decisions(conn)
    first = record(conn, decided)
    assert record(conn, decided) == first
    assert conn.execute(text("SELECT count(*) FROM autoscaler.scaling_actions")).scalar_one() == 3


def test_shadow_runs_record_simulated_actions_that_never_wait(conn: Connection) -> None:
    record(conn, decisions(conn), mode="shadow")
    assert {status for _, status in statuses(conn).values()} == {"simulated"}


def test_approval_records_who_and_why(conn: Connection) -> None:
    pending = record(conn, decisions(conn))[0]
    approved = actions.approve(conn, pending, by="alice@shop.example", reason="season starts", now=HOUR)
    assert approved.status == "approved"
    row = conn.execute(
        text("SELECT decided_by, decision_reason FROM autoscaler.scaling_actions WHERE action_id = :id"),
        {"id": pending},
    ).one()
    assert tuple(row) == ("alice@shop.example", "season starts")
    event = conn.execute(
        text(
            "SELECT actor, detail FROM autoscaler.action_events WHERE action_id = :id ORDER BY event_id DESC LIMIT 1"
        ),
        {"id": pending},
    ).one()
    assert tuple(event) == ("alice@shop.example", "season starts")


def test_only_pending_actions_can_be_approved_or_rejected(conn: Connection) -> None:
    ids = record(conn, decisions(conn))
    actions.reject(conn, ids[0], by="bob", reason="too much")
    with pytest.raises(actions.ActionStateError, match=f"action {ids[0]} is rejected; only pending_approval"):
        actions.approve(conn, ids[0], by="carol")
    with pytest.raises(actions.ActionStateError, match="is approved"):
        actions.reject(conn, ids[1], by="carol")
    with pytest.raises(actions.ActionNotFoundError, match="no scaling action with id 999999"):
        actions.approve(conn, 999_999, by="carol")


def test_pending_actions_past_their_deadline_expire(conn: Connection) -> None:
    pending = record(conn, decisions(conn))[0]
    assert actions.expire_overdue(conn, factories.ACCOUNT, HOUR + timedelta(minutes=44)) == 0
    assert actions.expire_overdue(conn, factories.ACCOUNT, HOUR + timedelta(minutes=45)) == 1
    assert actions.get_action(conn, pending).status == "expired"
    with pytest.raises(actions.ActionStateError, match="is expired"):
        actions.approve(conn, pending, by="late")


def test_an_approval_after_the_deadline_is_refused_before_the_sensor_expires_it(conn: Connection) -> None:
    pending = record(conn, decisions(conn))[0]  # deadline HOUR + 45 min
    with pytest.raises(
        actions.ApprovalExpiredError,
        match=f"action {pending} cannot be approved: its approval deadline passed at 2026-11-02T15:45:00\\+00:00",
    ):
        actions.approve(conn, pending, by="late", now=HOUR + timedelta(minutes=45))
    # By the database's clock (the default) the deadline is long past too.
    with pytest.raises(actions.ApprovalExpiredError):
        actions.approve(conn, pending, by="late")
    assert actions.get_action(conn, pending).status == "pending_approval"
    # Rejecting a stale change is harmless, and still a person's answer.
    assert actions.reject(conn, pending, by="late", reason="too old").status == "rejected"


def test_an_approval_before_the_deadline_is_recorded(conn: Connection) -> None:
    pending = record(conn, decisions(conn))[0]
    approved = actions.approve(conn, pending, by="alice", now=HOUR + timedelta(minutes=44))
    assert approved.status == "approved"


def test_outcomes_are_recorded_together_each_with_its_own_meta_answer(conn: Connection) -> None:
    ids = record(conn, decisions(conn))
    approved = ids[1:]  # the scale_up and the pause
    actions.finish_many(
        conn,
        "executed",
        detail="written to Meta",
        items=[
            (approved[0], {"success": True, "id": "2002"}),
            (approved[1], {"success": True, "id": "2003"}),
        ],
    )
    rows = conn.execute(
        text(
            "SELECT a.entity_id, a.status, a.meta_response->>'id' AS answered, e.actor, e.detail "
            "FROM autoscaler.scaling_actions a JOIN autoscaler.action_events e USING (action_id) "
            "WHERE e.to_status = 'executed' ORDER BY a.entity_id"
        )
    ).all()
    assert [tuple(r) for r in rows] == [
        ("2002", "executed", "2002", "autoscaler", "written to Meta"),
        ("2003", "executed", "2003", "autoscaler", "written to Meta"),
    ]


def test_recording_an_outcome_for_an_action_not_approved_changes_none_of_the_lot(engine: Engine) -> None:
    with engine.begin() as conn:
        factories.account(conn)
        for entity_id in ("2001", "2002", "2003", "2004"):
            factories.budget_holder(conn, entity_id)
        ids = record(conn, decisions(conn))
    with (
        pytest.raises(actions.ActionStateError, match=f"action {ids[0]} is pending_approval"),
        engine.begin() as conn,
    ):
        actions.finish_many(conn, "executed", detail="written to Meta", items=[(i, None) for i in ids])
    with engine.connect() as conn:
        assert statuses(conn)["2002"] == ("scale_up", "approved")  # rolled back with the rest
