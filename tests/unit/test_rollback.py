"""Rollback planning: one compensating change per entity, back to where the window found it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from autoscaler.rollback import plan
from autoscaler.store.actions import Action

HOUR = datetime(2026, 11, 2, 15, tzinfo=UTC)


def executed(action_id: int, entity_id: str = "11", **changes: Any) -> Action:
    fields: dict[str, Any] = {
        "action_id": action_id,
        "account_id": "act_1",
        "entity_id": entity_id,
        "entity_level": "campaign",
        "action_type": "scale_up",
        "status": "executed",
        "mode": "live",
        "currency": "USD",
        "budget_before": 10000,
        "budget_after": 12000,
        "status_before": "ACTIVE",
        "status_after": None,
        "requires_approval": False,
        "reasoning": "r",
        "run_hour": HOUR,
        "approval_deadline": None,
    }
    fields.update(changes)
    return Action(**fields)


def test_a_chain_of_changes_is_undone_by_one_write_back_to_the_first_budget() -> None:
    (only,) = plan(
        [
            executed(1, budget_before=10000, budget_after=12000),
            executed(2, budget_before=12000, budget_after=14400),
        ]
    )
    assert (only.budget_before, only.budget_after) == (14400, 10000)
    assert (only.status_before, only.status_after) == (None, None)
    assert only.compensates_action_id == 2
    assert only.undone == (1, 2)
    assert only.reasoning == "Rollback of actions #1, #2: daily budget $144.00 back to $100.00"


def test_a_pause_is_undone_by_restoring_the_status_and_the_budget_it_found() -> None:
    (only,) = plan(
        [
            executed(1, budget_before=10000, budget_after=7000, action_type="scale_down"),
            executed(2, action_type="pause", budget_before=7000, budget_after=None, status_after="PAUSED"),
        ]
    )
    assert (only.budget_before, only.budget_after) == (7000, 10000)
    assert (only.status_before, only.status_after) == ("PAUSED", "ACTIVE")


def test_changes_that_cancel_out_need_nothing_and_entities_are_planned_apart() -> None:
    plans = plan(
        [
            executed(1, "11", budget_before=10000, budget_after=12000),
            executed(2, "22", budget_before=5000, budget_after=6000),
            executed(3, "11", budget_before=12000, budget_after=10000, action_type="scale_down"),
        ]
    )
    assert [(p.entity_id, p.budget_before, p.budget_after) for p in plans] == [("22", 6000, 5000)]


def test_time_adjustments_restore_the_base_too() -> None:
    (only,) = plan(
        [
            executed(
                1,
                action_type="time_adjust",
                budget_before=10000,
                budget_after=13000,
                base_before=10000,
                base_after=10000,
            ),
            executed(
                2,
                action_type="scale_up",
                budget_before=13000,
                budget_after=15600,
                base_before=10000,
                base_after=12000,
            ),
        ]
    )
    assert (only.budget_after, only.base_before, only.base_after) == (10000, 12000, 10000)


@pytest.mark.parametrize(
    ("action", "says"),
    [
        (executed(1, status="approved"), "only executed live actions"),
        (executed(1, mode="shadow"), "only executed live actions"),
        (executed(1, action_type="rollback"), "rollback cannot be rolled back"),
    ],
)
def test_only_executed_live_changes_are_rolled_back(action: Action, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        plan([action])


def test_rolling_back_again_what_a_rollback_already_tried_is_a_no_op_with_a_message() -> None:
    from autoscaler.rollback import drop_done

    plans = plan([executed(1, "11"), executed(2, "12")])
    todo, skipped = drop_done(plans, {1: (7, "drifted")}, {"12": {"daily_budget": 12000, "status": "ACTIVE"}})
    assert [p.entity_id for p in todo] == ["12"]
    assert [(k.entity_id, k.undone) for k in skipped] == [("11", (1,))]
    assert skipped[0].why.startswith("already rolled back by action #7 (drifted); nothing recorded")


def test_a_rollback_whose_target_meta_already_holds_is_a_no_op() -> None:
    from autoscaler.rollback import drop_done

    plans = plan([executed(1, "11")])
    todo, skipped = drop_done(plans, {}, {"11": {"daily_budget": 10000, "status": "ACTIVE"}})
    assert todo == []
    assert skipped[0].why == "Meta already holds the state before the window; nothing to roll back"
