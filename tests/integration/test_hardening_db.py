"""Hardening cases in the database (issue 17, items 1-3): the audit trail cannot be forged.

Each case runs one statement, as the least-privilege application role (sql/roles.sql) or as
the schema's owner, against an approved action (``:approved``) and a pending one
(``:pending``), and must be refused with the error it names.  docs/hardening.md lists them.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from tests import factories
from tests.hardening import Case, params

pytestmark = pytest.mark.integration

APP_CASES = [
    Case(
        "db-app-insert-action-event",
        "as autoscaler_app: INSERT a forged 'approved' row into action_events",
        "permission denied for table action_events",
        "INSERT INTO autoscaler.action_events (action_id, from_status, to_status, actor, detail) "
        "VALUES (:pending, 'pending_approval', 'approved', 'someone', 'forged')",
    ),
    Case(
        "db-app-insert-control-event",
        "as autoscaler_app: INSERT into control_events",
        "permission denied for table control_events",
        "INSERT INTO autoscaler.control_events (control, scope, engaged, actor) VALUES ('pause_switch', 'all', false, 'x')",
    ),
    Case(
        "db-app-insert-rule-revision",
        "as autoscaler_app: INSERT into scaling_rule_revisions",
        "permission denied for table scaling_rule_revisions",
        "INSERT INTO autoscaler.scaling_rule_revisions (rule_id, revision, settings, changed_at, changed_by) "
        "VALUES (1, 99, '{}', now(), 'x')",
    ),
    Case(
        "db-app-rewrite-approver",
        "as autoscaler_app: UPDATE decided_by = 'mallory', decided_at = '2020-01-01' on an approved action",
        "its decision and outcome change only with its status",
        "UPDATE autoscaler.scaling_actions SET decided_by = 'mallory', decided_at = '2020-01-01' WHERE action_id = :approved",
    ),
    Case(
        "db-app-move-deadline",
        "as autoscaler_app: UPDATE approval_deadline = now() + 10 years on a pending action",
        "records a decision; only its status and outcome may change",
        "UPDATE autoscaler.scaling_actions SET approval_deadline = now() + interval '10 years' WHERE action_id = :pending",
    ),
    Case(
        "db-app-insert-preapproved",
        "as autoscaler_app: INSERT an action that requires approval as already approved",
        "an action that requires approval starts as pending_approval",
        "INSERT INTO autoscaler.scaling_actions (account_id, entity_id, entity_level, origin, action_type, mode, "
        "currency, budget_before, budget_after, reasoning, requires_approval, status, decided_by, decided_at) "
        "VALUES ('act_1001', '2001', 'campaign', 'operator', 'rollback', 'live', 'USD', 20000, 90000, 'x', true, "
        "'approved', 'alice', now())",
    ),
    Case(
        "db-app-truncate-events",
        "as autoscaler_app: TRUNCATE action_events",
        "permission denied for table action_events",
        "TRUNCATE autoscaler.action_events",
    ),
]

OWNER_CASES = [
    Case(
        "db-owner-insert-action-event",
        "as the owner: INSERT into action_events directly",
        "autoscaler.action_events is written by the database only",
        "INSERT INTO autoscaler.action_events (action_id, from_status, to_status, actor) "
        "VALUES (:pending, 'pending_approval', 'approved', 'someone')",
    ),
    Case(
        "db-owner-truncate-events",
        "as the owner: TRUNCATE action_events",
        "autoscaler.action_events is an audit table: it is never truncated",
        "TRUNCATE autoscaler.action_events",
    ),
    Case(
        "db-owner-truncate-cascade",
        "as the owner: TRUNCATE scaling_actions CASCADE",
        "is an audit table: it is never truncated",
        "TRUNCATE autoscaler.scaling_actions CASCADE",
    ),
    Case(
        "db-owner-truncate-controls",
        "as the owner: TRUNCATE control_events",
        "autoscaler.control_events is an audit table: it is never truncated",
        "TRUNCATE autoscaler.control_events",
    ),
    Case(
        "db-owner-rewrite-outcome",
        "as the owner: UPDATE meta_response on an approved action without executing it",
        "its decision and outcome change only with its status",
        "UPDATE autoscaler.scaling_actions SET meta_response = '{\"success\": true}' WHERE action_id = :approved",
    ),
    Case(
        "db-owner-expire-with-approver",
        "as the owner: expire a pending action and name who decided it",
        "expired: nobody decided it",
        "UPDATE autoscaler.scaling_actions SET status = 'expired', decided_by = 'mallory' WHERE action_id = :pending",
    ),
    Case(
        "db-owner-approve-by-nobody",
        "as the owner: approve a pending action with no decided_by",
        "decided_by is required",
        "UPDATE autoscaler.scaling_actions SET status = 'approved' WHERE action_id = :pending",
    ),
]
CASES = APP_CASES + OWNER_CASES


@pytest.fixture
def ids(engine: Engine) -> dict[str, Any]:
    with engine.begin() as conn:
        factories.world(conn)
        pending = factories.insert_action(conn, factories.action_row(1))
        approved = factories.insert_action(
            conn,
            factories.action_row(
                1,
                run_hour="2026-11-02 16:00:00+00",
                status="approved",
                requires_approval=False,
                decided_by="autoscaler",
                decided_at="2026-11-02 17:00+00",
            ),
        )
    return {"pending": pending, "approved": approved}


def _refused(engine: Engine, sql: str, ids: dict[str, Any]) -> str:
    with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
        conn.execute(text(sql), {k: v for k, v in ids.items() if f":{k}" in sql})
    return str(caught.value.orig).splitlines()[0]


def _trail(engine: Engine) -> tuple[Any, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM autoscaler.action_events), "
                    "(SELECT string_agg(concat_ws('|', action_id, status, decided_by, decided_at, approval_deadline, "
                    "meta_response), ';' ORDER BY action_id) FROM autoscaler.scaling_actions)"
                )
            ).one()
        )


@pytest.mark.parametrize("case", params(APP_CASES))
def test_the_application_role_cannot_forge_the_trail(
    engine: Engine, app_engine: Engine, ids: dict[str, Any], case: Case
) -> None:
    before = _trail(engine)
    assert case.expected in _refused(app_engine, case.given, ids)
    assert _trail(engine) == before


@pytest.mark.parametrize("case", params(OWNER_CASES))
def test_the_owner_cannot_forge_the_trail_without_disabling_triggers(
    engine: Engine, ids: dict[str, Any], case: Case
) -> None:
    before = _trail(engine)
    assert case.expected in _refused(engine, case.given, ids)
    assert _trail(engine) == before


def test_an_approval_is_dated_by_the_database_whatever_the_caller_writes(
    engine: Engine, ids: dict[str, Any]
) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE autoscaler.scaling_actions SET status = 'approved', decided_by = 'ana', "
                "decided_at = '2020-01-01' WHERE action_id = :id"
            ),
            {"id": ids["pending"]},
        )
        decided_at, now = conn.execute(
            text("SELECT decided_at, now() FROM autoscaler.scaling_actions WHERE action_id = :id"),
            {"id": ids["pending"]},
        ).one()
    assert decided_at == now
