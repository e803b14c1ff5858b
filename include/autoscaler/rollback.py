"""Rollback: undo the changes executed in a window, as compensating actions.

Pure planning over the executed actions (oldest first); the store records the plan as
``rollback`` actions (origin ``operator``, approved by the person who asked) and the usual
execute path writes them, drift-checked: a compensating action expects Meta to hold what the
window left, so an entity changed since (by hand, or by a later run) is reported as drifted,
never overwritten.

One compensating action per entity: it takes the entity from the state the window's last
executed change left back to the state before the window's first.  Writing one absolute
change instead of replaying each in reverse keeps the write count down and makes the
drift check exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from autoscaler.money import format_money
from autoscaler.store.actions import Action

#: Action types a rollback undoes: every change the autoscaler wrote to Meta.  Not rollbacks:
#: undoing an undo is a decision for a person, not for a time window.
UNDOABLE = ("scale_up_aggressive", "scale_up", "scale_down", "pause", "time_adjust", "time_restore")


@dataclass(frozen=True)
class Compensation:
    account_id: str
    entity_id: str
    entity_level: str
    currency: str
    budget_before: int | None  # what Meta should hold now (the window's last change left it)
    budget_after: int | None  # what it held before the window's first change
    status_before: str | None
    status_after: str | None
    base_before: int | None
    base_after: int | None
    compensates_action_id: int  # the window's last executed change of the entity
    undone: tuple[int, ...]  # every executed action of the entity in the window, oldest first
    reasoning: str


def plan(executed: Sequence[Action]) -> list[Compensation]:
    """Compensations for ``executed`` (the window's executed live actions, oldest first).

    Entities whose changes cancel out (scaled up then down to where they were) need nothing.
    """
    by_entity: dict[str, list[Action]] = {}
    for action in executed:
        if action.status != "executed" or action.mode != "live":
            raise ValueError(f"action {action.action_id}: only executed live actions are rolled back")
        if action.action_type not in UNDOABLE:
            raise ValueError(f"action {action.action_id}: {action.action_type} cannot be rolled back")
        by_entity.setdefault(action.entity_id, []).append(action)
    plans = []
    for entity_id, chain in by_entity.items():
        first, last = chain[0], chain[-1]
        budget_now = next((a.budget_after for a in reversed(chain) if a.budget_after is not None), None)
        budget_then = next((a.budget_before for a in chain if a.budget_after is not None), None)
        status_now = next((a.status_after for a in reversed(chain) if a.status_after is not None), None)
        status_then = next((a.status_before for a in chain if a.status_after is not None), None)
        base_now = next((a.base_after for a in reversed(chain) if a.base_after is not None), None)
        base_then = next((a.base_before for a in chain if a.base_before is not None), None)
        budget_changes = budget_now is not None and budget_then is not None and budget_now != budget_then
        status_changes = status_now is not None and status_now != status_then
        if not (budget_changes or status_changes):
            continue
        ids = tuple(a.action_id for a in chain)
        parts = []
        if budget_now is not None and budget_then is not None and budget_changes:
            parts.append(
                f"daily budget {format_money(budget_now, first.currency)} back to {format_money(budget_then, first.currency)}"
            )
        if status_changes:
            parts.append(f"status {status_now} back to {status_then}")
        plans.append(
            Compensation(
                account_id=first.account_id,
                entity_id=entity_id,
                entity_level=first.entity_level,
                currency=first.currency,
                budget_before=budget_now if budget_changes else None,
                budget_after=budget_then if budget_changes else None,
                status_before=status_now if status_changes else None,
                status_after=status_then if status_changes else None,
                base_before=base_now if base_now is not None and base_then is not None else None,
                base_after=base_then if base_now is not None and base_then is not None else None,
                compensates_action_id=last.action_id,
                undone=ids,
                reasoning=(
                    f"Rollback of action{'s' if len(ids) > 1 else ''} {', '.join(f'#{i}' for i in ids)}: "
                    + "; ".join(parts)
                ),
            )
        )
    return plans


@dataclass(frozen=True)
class Skipped:
    """A compensation not recorded, and why, in words for the person who asked."""

    entity_id: str
    undone: tuple[int, ...]
    why: str


def drop_done(
    plans: Sequence[Compensation],
    earlier: dict[int, tuple[int, str]],
    held: dict[str, dict[str, object]],
) -> tuple[list[Compensation], list[Skipped]]:
    """The compensations still to record, and those that would only repeat what was done.

    ``earlier`` maps an action id to the rollback (id, status) that already compensated it;
    ``held`` is what Meta holds now per entity.  Rolling back again what a rollback already
    wrote, or tried to write and found drifted, is a no-op with a message, not another action
    (issue 17, item 18); so is a compensation whose target Meta already holds.
    """
    todo: list[Compensation] = []
    skipped: list[Skipped] = []
    for p in plans:
        prior = earlier.get(p.compensates_action_id)
        now = held.get(p.entity_id)
        if prior is not None:
            rollback_id, status = prior
            skipped.append(
                Skipped(
                    p.entity_id,
                    p.undone,
                    f"already rolled back by action #{rollback_id} ({status}); nothing recorded. "
                    + (
                        "Meta held something else then: look at the entity and change it by hand if needed"
                        if status == "drifted"
                        else "it is being or has been written"
                    ),
                )
            )
        elif now is not None and _holds(p, now):
            skipped.append(
                Skipped(
                    p.entity_id,
                    p.undone,
                    "Meta already holds the state before the window; nothing to roll back",
                )
            )
        else:
            todo.append(p)
    return todo, skipped


def _holds(p: Compensation, now: dict[str, object]) -> bool:
    budget_ok = p.budget_after is None or now.get("daily_budget") == p.budget_after
    status_ok = p.status_after is None or now.get("status") == p.status_after
    return budget_ok and status_ok
