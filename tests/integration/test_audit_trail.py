"""The audit trail holds whoever writes: status history by trigger, terminal rows frozen, no deletes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from tests import factories

pytestmark = pytest.mark.integration


@pytest.fixture
def conn(engine: Engine) -> Any:
    with engine.begin() as connection:
        factories.world(connection)
        yield connection


def set_status(
    conn: Connection, action_id: int, status: str, *, actor: str | None = None, detail: str = ""
) -> None:
    if actor:
        conn.execute(text("SELECT set_config('autoscaler.actor', :a, true)"), {"a": actor})
    conn.execute(text("SELECT set_config('autoscaler.detail', :d, true)"), {"d": detail})
    extra = ", decided_by = :actor, decided_at = now()" if status in ("approved", "rejected") else ""
    extra += ", executed_at = now()" if status == "executed" else ""
    conn.execute(
        text(f"UPDATE autoscaler.scaling_actions SET status = :s{extra} WHERE action_id = :id"),
        {"s": status, "id": action_id, "actor": actor or "someone"},
    )


def events(conn: Connection, action_id: int) -> list[tuple[Any, ...]]:
    rows = conn.execute(
        text(
            "SELECT from_status, to_status, actor, detail FROM autoscaler.action_events "
            "WHERE action_id = :id ORDER BY event_id"
        ),
        {"id": action_id},
    )
    return [tuple(r) for r in rows]


def refused(conn: Connection, sql: str, **params: Any) -> str:
    with pytest.raises(DBAPIError) as caught, conn.begin_nested():
        conn.execute(text(sql), params)
    return str(caught.value.orig)


def test_every_status_change_is_recorded_with_its_actor_and_detail(conn: Connection) -> None:
    action_id = factories.insert_action(conn, factories.action_row(1))
    set_status(conn, action_id, "approved", actor="alice@example.com", detail="looks right")
    set_status(conn, action_id, "executed", actor="autoscaler", detail="Meta confirmed daily_budget=30000")
    assert events(conn, action_id) == [
        (None, "pending_approval", conn.execute(text("SELECT session_user")).scalar_one(), None),
        ("pending_approval", "approved", "alice@example.com", "looks right"),
        ("approved", "executed", "autoscaler", "Meta confirmed daily_budget=30000"),
    ]


def test_plain_sql_status_change_is_recorded_as_the_database_user(conn: Connection) -> None:
    action_id = factories.insert_action(conn, factories.action_row(1))
    conn.execute(
        text("UPDATE autoscaler.scaling_actions SET status = 'expired' WHERE action_id = :id"),
        {"id": action_id},
    )
    user = conn.execute(text("SELECT session_user")).scalar_one()
    assert events(conn, action_id)[-1] == ("pending_approval", "expired", user, None)


@pytest.mark.parametrize("terminal", ["rejected", "expired"])
def test_terminal_actions_cannot_be_edited_by_sql(conn: Connection, terminal: str) -> None:
    action_id = factories.insert_action(conn, factories.action_row(1))
    set_status(conn, action_id, terminal, actor="bob")
    message = refused(
        conn,
        "UPDATE autoscaler.scaling_actions SET decision_reason = 'oops' WHERE action_id = :id",
        id=action_id,
    )
    assert f"action {action_id} is {terminal} and can no longer be changed" in message


def test_executed_actions_cannot_be_edited_by_sql(conn: Connection) -> None:
    action_id = factories.insert_action(
        conn,
        factories.action_row(
            1,
            status="approved",
            requires_approval=False,
            decided_by="autoscaler",
            decided_at="2026-11-02 16:00+00",
        ),
    )
    set_status(conn, action_id, "executed", actor="autoscaler")
    message = refused(
        conn, "UPDATE autoscaler.scaling_actions SET status = 'approved' WHERE action_id = :id", id=action_id
    )
    assert "is executed and can no longer be changed" in message


@pytest.mark.parametrize(
    ("start", "target"),
    [("pending_approval", "executed"), ("pending_approval", "drifted"), ("approved", "rejected")],
)
def test_illegal_status_transitions_are_refused(conn: Connection, start: str, target: str) -> None:
    extra = (
        {"decided_by": "autoscaler", "decided_at": "2026-11-02 16:00+00", "requires_approval": False}
        if start == "approved"
        else {}
    )
    action_id = factories.insert_action(conn, factories.action_row(1, status=start, **extra))
    message = refused(
        conn,
        "UPDATE autoscaler.scaling_actions SET status = :s, executed_at = now() WHERE action_id = :id",
        s=target,
        id=action_id,
    )
    assert f"cannot go from {start} to {target}" in message


@pytest.mark.parametrize("change", ["budget_after = 99999", "base_before = 5000, base_after = 5000"])
def test_the_facts_of_a_decision_cannot_be_rewritten(conn: Connection, change: str) -> None:
    action_id = factories.insert_action(conn, factories.action_row(1))
    message = refused(
        conn, f"UPDATE autoscaler.scaling_actions SET {change} WHERE action_id = :id", id=action_id
    )
    assert "only its status and outcome may change" in message


def test_actions_start_open_or_simulated(conn: Connection) -> None:
    message = refused(
        conn,
        "INSERT INTO autoscaler.scaling_actions (account_id, entity_id, entity_level, origin, action_type, mode, "
        "currency, budget_before, budget_after, reasoning, requires_approval, status, decided_by, decided_at, "
        "executed_at) VALUES ('act_1001', '2001', 'campaign', 'operator', 'rollback', 'live', 'USD', 30000, 20000, "
        "'undo', false, 'executed', 'ops', now(), now())",
    )
    assert "a new action starts as pending_approval, approved or simulated, not executed" in message


@pytest.mark.parametrize(
    ("table", "where"),
    [
        ("scaling_actions", "true"),
        ("action_events", "true"),
        ("scaling_rules", "true"),
        ("scaling_rule_revisions", "true"),
    ],
)
def test_audit_rows_are_never_deleted(conn: Connection, table: str, where: str) -> None:
    factories.insert_action(conn, factories.action_row(1))
    message = refused(conn, f"DELETE FROM autoscaler.{table} WHERE {where}")
    assert "audit table" in message or "append-only" in message


def test_action_events_are_append_only(conn: Connection) -> None:
    factories.insert_action(conn, factories.action_row(1))
    assert "append-only" in refused(conn, "UPDATE autoscaler.action_events SET actor = 'mallory'")


def test_rule_updates_keep_every_revision(conn: Connection) -> None:
    conn.execute(text("SELECT set_config('autoscaler.actor', 'x', true)"))
    conn.execute(
        text(
            "UPDATE autoscaler.scaling_rules SET roas_scale_up = 3.5, updated_by = 'carol' WHERE rule_id = 1"
        )
    )
    rows = conn.execute(
        text(
            "SELECT revision, settings->>'roas_scale_up', changed_by FROM autoscaler.scaling_rule_revisions "
            "WHERE rule_id = 1 ORDER BY revision"
        )
    ).all()
    assert [tuple(r) for r in rows] == [(1, "3.0000", "tests"), (2, "3.5000", "carol")]
