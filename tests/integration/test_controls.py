"""Emergency controls in the database: kill switches and locks, each flip in control_events."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from autoscaler.store.controls import UnknownEntityError, is_paused, set_lock, set_pause, switches
from tests import factories

pytestmark = pytest.mark.integration


def events(engine: Engine) -> list[tuple[str, str, bool, str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT control, scope, engaged, actor, reason FROM autoscaler.control_events ORDER BY event_id"
            )
        ).all()
    return [tuple(r) for r in rows]


def test_the_global_switch_pauses_every_account_and_an_account_switch_only_its_own(engine: Engine) -> None:
    with engine.begin() as conn:
        factories.account(conn)
        factories.account(conn, "act_2002")
        set_pause(conn, "act_2002", paused=True, by="ana", reason="bad data")
        assert (is_paused(conn, "act_1001"), is_paused(conn, "act_2002")) == (False, True)
        set_pause(conn, "all", paused=True, by="ana", reason="incident")
        assert is_paused(conn, "act_1001")
        set_pause(conn, "all", paused=False, by="ben", reason="resolved")
        assert (is_paused(conn, "act_1001"), is_paused(conn, "act_2002")) == (False, True)
        assert [(s.scope, s.paused, s.changed_by) for s in switches(conn)] == [
            ("act_2002", True, "ana"),
            ("all", False, "ben"),
        ]
    assert events(engine) == [
        ("pause_switch", "act_2002", True, "ana", "bad data"),
        ("pause_switch", "all", True, "ana", "incident"),
        ("pause_switch", "all", False, "ben", "resolved"),
    ]


def test_locks_are_recorded_whoever_sets_them(engine: Engine) -> None:
    with engine.begin() as conn:
        factories.account(conn)
        factories.budget_holder(conn)
        assert set_lock(conn, factories.CAMPAIGN, locked=True, by="ana", reason="launch") is True
        assert set_lock(conn, factories.CAMPAIGN, locked=True, by="ana", reason="launch") is False
        locked = conn.execute(
            text("SELECT locked, locked_by, lock_reason FROM autoscaler.budget_holders WHERE entity_id = :e"),
            {"e": factories.CAMPAIGN},
        ).one()
        assert tuple(locked) == (True, "ana", "launch")
        with pytest.raises(UnknownEntityError, match="no budget holder with id 999"):
            set_lock(conn, "999", locked=True, by="ana", reason="x")
    # Plain SQL, as an operator at a psql prompt would: still recorded, under the database user.
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE autoscaler.budget_holders SET locked = false, locked_by = NULL, locked_at = NULL")
        )
        user = conn.execute(text("SELECT session_user")).scalar_one()
    assert events(engine) == [
        ("entity_lock", factories.CAMPAIGN, True, "ana", "launch"),
        ("entity_lock", factories.CAMPAIGN, False, user, "launch"),
    ]


def test_the_history_of_controls_cannot_be_rewritten(engine: Engine) -> None:
    with engine.begin() as conn:
        set_pause(conn, "all", paused=True, by="ana", reason="incident")
    for statement in (
        "UPDATE autoscaler.control_events SET actor = 'mallory'",
        "DELETE FROM autoscaler.control_events",
        "DELETE FROM autoscaler.pause_switches",
    ):
        with pytest.raises(DBAPIError), engine.begin() as conn:
            conn.execute(text(statement))
    assert len(events(engine)) == 1


def test_relocking_as_someone_else_is_an_event_and_the_same_lock_again_is_not(engine: Engine) -> None:
    with engine.begin() as conn:
        factories.account(conn)
        factories.budget_holder(conn)
        set_lock(conn, factories.CAMPAIGN, locked=True, by="ana", reason="launch")
        assert set_lock(conn, factories.CAMPAIGN, locked=True, by="ana", reason="launch") is False
        assert set_lock(conn, factories.CAMPAIGN, locked=True, by="ben", reason="audit") is True
    with engine.begin() as conn:  # plain SQL that rewrites only the reason is recorded too
        conn.execute(text("UPDATE autoscaler.budget_holders SET lock_reason = 'quiet' WHERE locked"))
        user = conn.execute(text("SELECT session_user")).scalar_one()
    assert events(engine) == [
        ("entity_lock", factories.CAMPAIGN, True, "ana", "launch"),
        ("entity_lock", factories.CAMPAIGN, True, "ben", "audit"),
        ("entity_lock", factories.CAMPAIGN, True, user, "quiet"),
    ]


def test_a_resume_that_changes_the_reason_is_an_event_and_an_identical_one_is_not(engine: Engine) -> None:
    with engine.begin() as conn:
        set_pause(conn, "all", paused=True, by="ana", reason="incident")
        set_pause(conn, "all", paused=False, by="ben", reason="resolved")
        set_pause(conn, "all", paused=False, by="ben", reason="resolved")  # nothing changes
        set_pause(conn, "all", paused=False, by="carl", reason=None)  # wipes ben's reason
        assert switches(conn)[0].reason is None
    assert events(engine) == [
        ("pause_switch", "all", True, "ana", "incident"),
        ("pause_switch", "all", False, "ben", "resolved"),
        ("pause_switch", "all", False, "carl", None),
    ]
