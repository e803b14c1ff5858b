"""Execute approved actions: absolute writes, checked against what Meta holds now.

Under a per-account advisory lock (so two overlapping runs never both write), for each
approved live action:

* Meta already holds the target           -> executed, nothing written (a retry after a crash
                                             between the Meta write and the database commit
                                             must not apply the change twice);
* Meta holds something other than before  -> drifted, nothing written (changed by hand);
* otherwise                               -> written in batches of 50, and executed or failed
                                             with Meta's answer.

Writes are absolute ("daily_budget = 30000"), never relative, so repeating one is harmless.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from autoscaler.meta import BudgetChange, MetaClient, WriteResult
from autoscaler.store import actions as store
from autoscaler.store.actions import Action

log = logging.getLogger(__name__)

LOCK_TIMEOUT = "10min"


@dataclass
class ExecuteSummary:
    account_id: str
    outcomes: Counter[str] = field(default_factory=Counter)
    write_requests: int = 0
    paused: list[Action] = field(default_factory=list)  # pauses now in force on Meta

    def line(self) -> str:
        parts = ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes.items())) or "nothing to execute"
        return f"{self.account_id}: {parts} ({self.write_requests} write requests)"


@contextmanager
def account_lock(engine: Engine, account_id: str) -> Iterator[None]:
    """Hold the account's execute lock for the block (waits for another holder, up to 10 min)."""
    with engine.connect() as conn:
        conn.execute(text(f"SET lock_timeout = '{LOCK_TIMEOUT}'"))
        conn.execute(
            text("SELECT pg_advisory_lock(hashtext('autoscaler.execute:' || :a))"), {"a": account_id}
        )
        conn.commit()
        try:
            yield
        finally:
            conn.execute(
                text("SELECT pg_advisory_unlock(hashtext('autoscaler.execute:' || :a))"), {"a": account_id}
            )
            conn.commit()


def _at_target(action: Action, held: dict[str, Any]) -> bool:
    budget_ok = action.budget_after is None or held.get("daily_budget") == action.budget_after
    status_ok = action.status_after is None or held.get("status") == action.status_after
    return budget_ok and status_ok


def _drifted(action: Action, held: dict[str, Any]) -> str | None:
    if action.budget_after is not None and held.get("daily_budget") != action.budget_before:
        return f"Meta holds daily_budget {held.get('daily_budget')}, not {action.budget_before} as decided: changed by someone else"
    if action.status_after is not None and held.get("status") != action.status_before:
        return f"Meta holds status {held.get('status')}, not {action.status_before} as decided: changed by someone else"
    return None


# Writes go out in slices of this many changes (ten batch requests); each batch's outcomes
# are recorded in one transaction as soon as Meta has answered it (MetaClient.apply's
# on_final), so a crash loses at most the bookkeeping of the batch in flight, which the
# retry recovers by reading Meta (at target -> executed, nothing written).
WRITE_SLICE = 500


class _Outcomes:
    """Outcomes waiting to be recorded, grouped by (outcome, detail) so each group is one UPDATE."""

    def __init__(self, summary: ExecuteSummary) -> None:
        self.summary = summary
        self.groups: dict[tuple[str, str], list[tuple[int, dict[str, Any] | None]]] = {}
        self.pauses: list[Action] = []
        self.bases: list[tuple[str, int]] = []

    def add(self, action: Action, outcome: str, detail: str, response: dict[str, Any] | None = None) -> None:
        self.groups.setdefault((outcome, detail), []).append((action.action_id, response))
        if outcome == "executed" and action.status_after == "PAUSED":
            self.pauses.append(action)
        if outcome == "executed" and action.base_after is not None:
            self.bases.append((action.entity_id, action.base_after))

    def record(self, engine: Engine) -> None:
        if not self.groups:
            return
        with engine.begin() as conn:
            for (outcome, detail), items in self.groups.items():
                store.finish_many(conn, outcome, detail=detail, items=items)
            # In the same transaction: a change in force on Meta moves the entity's base with it.
            store.store_bases(conn, self.bases)
        for (outcome, _), items in self.groups.items():
            self.summary.outcomes[outcome] += len(items)
        self.summary.paused.extend(self.pauses)
        self.groups, self.pauses, self.bases = {}, [], []


def execute_account(
    engine: Engine, client: MetaClient, account_id: str, only: Sequence[int] | None = None
) -> ExecuteSummary:
    """Write the account's approved live actions (or just those of ``only``, such as a
    rollback's); every outcome is recorded on its action."""
    summary = ExecuteSummary(account_id)
    with account_lock(engine, account_id):
        with engine.connect() as conn:
            pending = store.approved_live(conn, account_id, only)
        if not pending:
            return summary
        held = client.read_budgets([a.entity_id for a in pending])
        outcomes = _Outcomes(summary)
        to_write: list[Action] = []
        for action in pending:
            now_held = held.get(action.entity_id)
            if now_held is None:
                outcomes.add(action, "failed", "Meta no longer returns this entity")
            elif _at_target(action, now_held):
                outcomes.add(action, "executed", "Meta already held the target; nothing written", now_held)
            elif (why := _drifted(action, now_held)) is not None:
                outcomes.add(action, "drifted", why, now_held)
            else:
                to_write.append(action)
        outcomes.record(engine)
        for start in range(0, len(to_write), WRITE_SLICE):
            _write(engine, client, to_write[start : start + WRITE_SLICE], outcomes)
    log.info("%s", summary.line())
    return summary


def _write(engine: Engine, client: MetaClient, actions: list[Action], outcomes: _Outcomes) -> None:
    def settled(results: list[tuple[int, WriteResult]]) -> None:
        # Recorded as each batch is answered, before the next request: whatever fails later
        # (an expired token, a crash, a killed worker), every write Meta acknowledged is
        # already "executed" with its answer, never left for a retry to misreport.
        for index, result in results:
            action = actions[index]
            if result.ok:
                outcomes.add(action, "executed", "written to Meta", result.response)
            else:
                error = result.error
                outcomes.add(action, "failed", str(error), error.as_dict() if error else None)
        outcomes.record(engine)

    before = client.requests_made
    try:
        client.apply(
            [BudgetChange(a.entity_id, daily_budget=a.budget_after, status=a.status_after) for a in actions],
            on_final=settled,
        )
    finally:
        outcomes.summary.write_requests += client.requests_made - before
