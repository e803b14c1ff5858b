"""Execute approved actions: absolute writes, checked against what the platform holds now.

Under a per-account advisory lock (so two overlapping runs never both write), for each
approved live action:

* Meta already holds the target           -> executed, nothing written (a retry after a crash
                                             between the Meta write and the database commit
                                             must not apply the change twice);
* Meta holds something other than before  -> drifted, nothing written (changed by hand);
* otherwise                               -> written in batches of 50, and executed or failed
                                             with Meta's answer.

Writes are absolute ("daily_budget = 30000"), never relative, so repeating one is harmless.
A Google Ads account goes through the same steps with GoogleClient's read-back and writes
(MutateCampaignBudgets in batches of up to 10,000, with partial failure): execute_account
takes either client, as the hourly reads do (hourly.holder_metrics).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text

from autoscaler.meta import BudgetChange, MetaClient, WriteResult
from autoscaler.store import actions as store
from autoscaler.store.actions import Action

if TYPE_CHECKING:  # the google-ads library takes seconds to import: only where it is used
    from autoscaler.google.client import GoogleClient

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


def _drifted(action: Action, held: dict[str, Any], platform: str = "Meta") -> str | None:
    if action.budget_after is not None and held.get("daily_budget") != action.budget_before:
        return f"{platform} holds daily_budget {held.get('daily_budget')}, not {action.budget_before} as decided: changed by someone else"
    if action.status_after is not None and held.get("status") != action.status_before:
        return f"{platform} holds status {held.get('status')}, not {action.status_before} as decided: changed by someone else"
    return None


def _platform(client: MetaClient | GoogleClient) -> str:
    """The platform's name, as the recorded outcomes say it."""
    return "Meta" if isinstance(client, MetaClient) else "Google Ads"


def read_held(
    client: MetaClient | GoogleClient, account_id: str, ids: list[str]
) -> dict[str, dict[str, Any]]:
    """What the platform holds now for each entity (Google's calls name the customer too)."""
    if isinstance(client, MetaClient):
        return client.read_budgets(ids)
    return client.read_budgets(account_id, ids)


def _apply(
    client: MetaClient | GoogleClient,
    account_id: str,
    changes: list[BudgetChange],
    on_final: Callable[[list[tuple[int, WriteResult]]], None],
) -> None:
    if isinstance(client, MetaClient):
        client.apply(changes, on_final=on_final)
    else:
        client.apply(account_id, changes, on_final)


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
    engine: Engine, client: MetaClient | GoogleClient, account_id: str, only: Sequence[int] | None = None
) -> ExecuteSummary:
    """Write the account's approved live actions (or just those of ``only``, such as a
    rollback's); every outcome is recorded on its action."""
    summary = ExecuteSummary(account_id)
    with account_lock(engine, account_id):
        with engine.connect() as conn:
            pending = store.approved_live(conn, account_id, only)
        if not pending:
            return summary
        held = read_held(client, account_id, [a.entity_id for a in pending])
        platform = _platform(client)
        outcomes = _Outcomes(summary)
        to_write: list[Action] = []
        for action in pending:
            now_held = held.get(action.entity_id)
            if now_held is None:
                outcomes.add(action, "failed", f"{platform} no longer returns this entity")
            elif _at_target(action, now_held):
                outcomes.add(
                    action, "executed", f"{platform} already held the target; nothing written", now_held
                )
            elif (why := _drifted(action, now_held, platform)) is not None:
                outcomes.add(action, "drifted", why, now_held)
            else:
                to_write.append(action)
        outcomes.record(engine)
        for start in range(0, len(to_write), WRITE_SLICE):
            _write(engine, client, account_id, to_write[start : start + WRITE_SLICE], outcomes)
    log.info("%s", summary.line())
    return summary


def _write(
    engine: Engine,
    client: MetaClient | GoogleClient,
    account_id: str,
    actions: list[Action],
    outcomes: _Outcomes,
) -> None:
    platform = _platform(client)

    def settled(results: list[tuple[int, WriteResult]]) -> None:
        # Recorded as each batch is answered, before the next request: whatever fails later
        # (an expired token, a crash, a killed worker), every write Meta acknowledged is
        # already "executed" with its answer, never left for a retry to misreport.
        for index, result in results:
            action = actions[index]
            if result.ok:
                outcomes.add(action, "executed", f"written to {platform}", result.response)
            else:
                error = result.error
                outcomes.add(action, "failed", str(error), error.as_dict() if error else None)
        outcomes.record(engine)

    before = client.requests_made
    try:
        _apply(
            client,
            account_id,
            [BudgetChange(a.entity_id, daily_budget=a.budget_after, status=a.status_after) for a in actions],
            settled,
        )
    finally:
        outcomes.summary.write_requests += client.requests_made - before
