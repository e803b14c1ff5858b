"""Writes to ``scaling_actions``: decisions become actions, and actions change status.

Every status change goes through here with an actor and a reason; the database records it in
``action_events`` by trigger (the actor and detail travel as transaction settings) and
refuses any transition the life cycle does not allow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, RowMapping, text

from autoscaler.policy import reasoning

AUTOSCALER = "autoscaler"
BUDGET_ACTIONS = ("scale_up_aggressive", "scale_up", "scale_down")
RECORDED_ACTIONS = (*BUDGET_ACTIONS, "pause")


class ActionNotFoundError(LookupError):
    def __init__(self, action_id: int) -> None:
        super().__init__(f"no scaling action with id {action_id}")
        self.action_id = action_id


class ActionStateError(RuntimeError):
    """The action exists but is not in a state that allows the change (a 409, in HTTP terms)."""


class ApprovalExpiredError(ActionStateError):
    """The action is still pending, but its approval deadline has passed: approving it now
    would execute a change decided on data that is no longer current."""


@dataclass(frozen=True)
class Action:
    action_id: int
    account_id: str
    entity_id: str
    entity_level: str
    action_type: str
    status: str
    mode: str
    currency: str
    budget_before: int | None
    budget_after: int | None
    status_before: str | None
    status_after: str | None
    requires_approval: bool
    reasoning: str
    run_hour: datetime | None
    approval_deadline: datetime | None
    base_before: int | None = None  # set under time optimisation (migration 0003)
    base_after: int | None = None

    @classmethod
    def from_row(cls, row: RowMapping) -> Action:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


def set_actor(conn: Connection, actor: str, detail: str | None = None) -> None:
    """Who is acting, and why, for the action_events rows this transaction's changes write."""
    conn.execute(
        text(
            "SELECT set_config('autoscaler.actor', :actor, true), set_config('autoscaler.detail', :detail, true)"
        ),
        {"actor": actor, "detail": detail or ""},
    )


def record_decisions(
    conn: Connection,
    decisions: pd.DataFrame,
    *,
    account_id: str,
    currency: str,
    run_hour: datetime,
    window: tuple[datetime, datetime],
    mode: str,
    approval_deadline: datetime | None,
    rule_revisions: dict[int, int],
) -> list[int]:
    """Insert one action per decided change; re-running the same run hour inserts nothing new.

    Returns the ids of this run hour's actions (new or already recorded), in entity order.
    ``decisions`` is policy.decide's output with entity_level in a ``level`` column.
    """
    changes = decisions[decisions["action"].isin(RECORDED_ACTIONS)]
    if changes.empty:
        return []
    shadow = mode == "shadow"
    rows = []
    row: Any
    for row in changes.itertuples():
        needs = bool(row.requires_approval) and not shadow
        status = "simulated" if shadow else ("pending_approval" if needs else "approved")
        is_pause = row.action == "pause"
        # Under time optimisation the decision was taken on the base: Meta holds ``held``,
        # and the write is the new base times the hour's multiplier (timeopt.plan_hour).
        managed = bool(getattr(row, "managed", False)) and not is_pause
        rows.append(
            {
                "account_id": account_id,
                "entity_id": row.entity_id,
                "entity_level": getattr(row, "level", "campaign"),
                "run_hour": run_hour,
                "rule_id": int(row.rule_id),
                "rule_revision": rule_revisions[int(row.rule_id)],
                "action_type": str(row.action),
                "mode": mode,
                "currency": currency,
                "budget_before": int(row.held if managed else row.daily_budget),
                "budget_after": None if is_pause else int(row.target if managed else row.new_daily_budget),
                "base_before": int(row.base_now) if managed else None,
                "base_after": int(row.base_new) if managed else None,
                "status_before": getattr(row, "status", "ACTIVE"),
                "status_after": "PAUSED" if is_pause else None,
                "window_start": window[0],
                "window_end": window[1],
                "window_spend": int(row.spend),
                "window_revenue": int(row.revenue),
                "window_impressions": int(row.impressions),
                "window_clicks": int(row.clicks),
                "window_conversions": int(getattr(row, "conversions", 0)),
                "roas": float(row.roas),
                "ctr": float(row.ctr),
                "reasoning": reasoning(row, currency),
                "requires_approval": bool(row.requires_approval),
                "status": status,
                "approval_deadline": approval_deadline if status == "pending_approval" else None,
                "decided_by": AUTOSCALER if status == "approved" else None,
                "decided_at": run_hour if status == "approved" else None,
                "decision_reason": "within the rule's approval threshold" if status == "approved" else None,
                **_curve(row),
            }
        )
    columns = list(rows[0])
    set_actor(conn, AUTOSCALER, f"decided in the run for {run_hour.isoformat()}")
    conn.execute(
        text(
            f"INSERT INTO autoscaler.scaling_actions ({', '.join(columns)}, origin) "
            f"VALUES ({', '.join(':' + c for c in columns)}, 'rule') "
            "ON CONFLICT ON CONSTRAINT scaling_actions_one_per_entity_hour_rule DO NOTHING"
        ),
        rows,
    )
    ids = conn.execute(
        text(
            "SELECT action_id FROM autoscaler.scaling_actions WHERE account_id = :account AND run_hour = :hour "
            "AND mode = :mode AND origin = 'rule' AND entity_id = ANY(:entities) ORDER BY entity_id"
        ),
        {"account": account_id, "hour": run_hour, "mode": mode, "entities": [r["entity_id"] for r in rows]},
    ).scalars()
    return list(ids)


def _curve(row: Any) -> dict[str, Any]:
    """What an allocator decision rested on (scaling_actions' curve columns); NULLs otherwise."""
    elasticity = getattr(row, "elasticity", None)
    if elasticity is None or pd.isna(elasticity) or str(getattr(row, "strategy", "")) != "allocator":
        return dict.fromkeys(CURVE_COLUMNS)
    budget, new = float(row.daily_budget), float(row.new_daily_budget)
    marginal = float(row.marginal_roas)
    return {
        "curve_elasticity": round(float(elasticity), 4),
        "curve_elasticity_sd": round(float(row.elasticity_sd), 4),
        "curve_roas": round(float(row.curve_roas), 4),
        "curve_purchases": round(float(row.curve_purchases), 2),
        "marginal_roas": round(marginal, 4),
        "marginal_roas_new": round(marginal * (new / budget) ** (float(elasticity) - 1.0), 4)
        if budget > 0
        else None,
        "target_marginal_roas": round(float(row.goal), 4),
        "curve_target_budget": int(row.curve_target),
    }


CURVE_COLUMNS = (
    "curve_elasticity",
    "curve_elasticity_sd",
    "curve_roas",
    "curve_purchases",
    "marginal_roas",
    "marginal_roas_new",
    "target_marginal_roas",
    "curve_target_budget",
)


def record_time_actions(
    conn: Connection,
    planned: pd.DataFrame,
    *,
    account_id: str,
    currency: str,
    run_hour: datetime,
    window: tuple[datetime, datetime],
    mode: str,
    rule_revisions: dict[int, int],
) -> int:
    """Insert the hour's time_adjust / time_restore actions (timeopt.plan_hour); idempotent per hour.

    They keep the base, need no approval (the rule bounds them), and are simulated in shadow runs.
    """
    from autoscaler.timeopt import time_reasoning

    timed = planned[planned["time_action"] != ""]
    if timed.empty:
        return 0
    status = "simulated" if mode == "shadow" else "approved"
    rows = [
        {
            "account_id": account_id,
            "entity_id": row["entity_id"],
            "entity_level": row.get("level", "campaign"),
            "run_hour": run_hour,
            "rule_id": int(row["rule_id"]),
            "rule_revision": rule_revisions[int(row["rule_id"])],
            "action_type": row["time_action"],
            "mode": mode,
            "currency": currency,
            "budget_before": int(row["held"]),
            "budget_after": int(row["target"]),
            "base_before": int(row["base_now"]),
            "base_after": int(row["base_now"]),
            "window_start": window[0],
            "window_end": window[1],
            "window_spend": int(row["spend"]),
            "window_revenue": int(row["revenue"]),
            "window_impressions": int(row["impressions"]),
            "window_clicks": int(row["clicks"]),
            "window_conversions": int(row.get("conversions", 0)),
            "roas": float(row["roas"]) if pd.notna(row["roas"]) else None,
            "ctr": float(row["ctr"]),
            "reasoning": time_reasoning(row, currency),
            "status": status,
            "decided_by": AUTOSCALER if status == "approved" else None,
            "decided_at": run_hour if status == "approved" else None,
            "decision_reason": "time-of-day adjustment within the rule's bounds"
            if status == "approved"
            else None,
        }
        for _, row in timed.iterrows()
    ]
    columns = list(rows[0])
    set_actor(conn, AUTOSCALER, f"time of day, run for {run_hour.isoformat()}")
    result = conn.execute(
        text(
            f"INSERT INTO autoscaler.scaling_actions ({', '.join(columns)}, origin, requires_approval) "
            f"VALUES ({', '.join(':' + c for c in columns)}, 'time_optimization', false) "
            "ON CONFLICT ON CONSTRAINT scaling_actions_one_per_entity_hour_rule DO NOTHING"
        ),
        rows,
    )
    return int(result.rowcount)


def get_action(conn: Connection, action_id: int) -> Action:
    row = (
        conn.execute(
            text("SELECT * FROM autoscaler.scaling_actions WHERE action_id = :id"), {"id": action_id}
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise ActionNotFoundError(action_id)
    return Action.from_row(row)


def list_actions(
    conn: Connection,
    *,
    account_id: str | None = None,
    status: str | None = None,
    run_hour: datetime | None = None,
    limit: int = 100,
) -> list[Action]:
    """Newest first, optionally one account's, in one status, of one run hour."""
    rows = conn.execute(
        text(
            """
            SELECT * FROM autoscaler.scaling_actions
             WHERE (CAST(:account AS text) IS NULL OR account_id = :account)
               AND (CAST(:status AS text) IS NULL OR status = :status)
               AND (CAST(:hour AS timestamptz) IS NULL OR run_hour = :hour)
             ORDER BY action_id DESC LIMIT :limit
            """
        ),
        {"account": account_id, "status": status, "hour": run_hour, "limit": limit},
    ).mappings()
    return [Action.from_row(r) for r in rows]


def _transition(
    conn: Connection,
    action_id: int,
    *,
    allowed_from: Sequence[str],
    to: str,
    actor: str,
    detail: str | None,
    extra: str = "",
    params: dict[str, Any] | None = None,
) -> Action:
    set_actor(conn, actor, detail)
    row = (
        conn.execute(
            text(
                f"UPDATE autoscaler.scaling_actions SET status = :to{extra} "
                "WHERE action_id = :id AND status = ANY(:allowed) RETURNING *"
            ),
            {"to": to, "id": action_id, "allowed": list(allowed_from), **(params or {})},
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        current = get_action(conn, action_id)  # raises ActionNotFoundError for unknown ids
        raise ActionStateError(
            f"action {action_id} is {current.status}; only {' or '.join(allowed_from)} actions can become {to}"
        )
    return Action.from_row(row)


def approve(
    conn: Connection, action_id: int, *, by: str, reason: str | None = None, now: datetime | None = None
) -> Action:
    """Approve a pending action (who and why are recorded) whose approval deadline is still ahead.

    ``now`` is the clock the deadline was set by: the database's (the wall clock) unless given,
    as the sandbox's virtual clock is.  Past the deadline the action is refused with
    ApprovalExpiredError, even before the sensor has marked it expired.
    """
    row = conn.execute(
        text(
            "SELECT approval_deadline, approval_deadline <= coalesce(CAST(:now AS timestamptz), now()) "
            "FROM autoscaler.scaling_actions WHERE action_id = :id AND status = 'pending_approval' FOR UPDATE"
        ),
        {"id": action_id, "now": now},
    ).one_or_none()
    if row is not None and row[1]:
        raise ApprovalExpiredError(
            f"action {action_id} cannot be approved: its approval deadline passed at "
            f"{row[0].astimezone(UTC).isoformat(timespec='seconds')} (it expires unapproved; "
            "the next hourly run decides again on current data)"
        )
    return _transition(
        conn,
        action_id,
        allowed_from=("pending_approval",),
        to="approved",
        actor=by,
        detail=reason,
        extra=", decided_by = :by, decision_reason = :reason",
        params={"by": by, "reason": reason},
    )


def reject(conn: Connection, action_id: int, *, by: str, reason: str | None = None) -> Action:
    """Reject a pending action (who and why are recorded)."""
    return _transition(
        conn,
        action_id,
        allowed_from=("pending_approval",),
        to="rejected",
        actor=by,
        detail=reason,
        extra=", decided_by = :by, decision_reason = :reason",
        params={"by": by, "reason": reason},
    )


def expire_overdue(conn: Connection, account_id: str, now: datetime) -> int:
    """Pending actions of the account whose approval deadline has passed become expired."""
    set_actor(conn, AUTOSCALER, "approval deadline passed")
    result = conn.execute(
        text(
            "UPDATE autoscaler.scaling_actions SET status = 'expired' "
            "WHERE account_id = :account AND status = 'pending_approval' AND approval_deadline <= :now"
        ),
        {"account": account_id, "now": now},
    )
    return int(result.rowcount)


def approved_live(conn: Connection, account_id: str, only: Sequence[int] | None = None) -> list[Action]:
    """The account's approved, live actions waiting to be written (or those of ``only``), oldest first."""
    rows = conn.execute(
        text(
            "SELECT * FROM autoscaler.scaling_actions WHERE account_id = :account AND status = 'approved' "
            "AND mode = 'live' AND (CAST(:only AS bigint[]) IS NULL OR action_id = ANY(:only)) ORDER BY action_id"
        ),
        {"account": account_id, "only": None if only is None else list(only)},
    ).mappings()
    return [Action.from_row(r) for r in rows]


def executed_between(
    conn: Connection,
    *,
    since: datetime,
    until: datetime,
    account_id: str | None = None,
    entity_id: str | None = None,
) -> list[Action]:
    """Executed live changes with executed_at in [since, until), oldest first, that a rollback
    could undo: not rollbacks themselves (undoing an undo is a decision for a person), and not
    already undone by an approved or executed rollback of the entity (which undid every change
    up to the one it names in compensates_action_id)."""
    rows = conn.execute(
        text(
            """
            SELECT a.* FROM autoscaler.scaling_actions AS a
             WHERE a.status = 'executed' AND a.mode = 'live' AND a.action_type <> 'rollback'
               AND a.executed_at >= :since AND a.executed_at < :until
               AND (CAST(:account AS text) IS NULL OR a.account_id = :account)
               AND (CAST(:entity AS text) IS NULL OR a.entity_id = :entity)
               AND NOT EXISTS (
                   SELECT 1 FROM autoscaler.scaling_actions AS r
                     JOIN autoscaler.scaling_actions AS c ON c.action_id = r.compensates_action_id
                    WHERE r.entity_id = a.entity_id AND r.action_type = 'rollback'
                      AND r.status IN ('approved', 'executed') AND c.executed_at >= a.executed_at)
             ORDER BY a.executed_at, a.action_id
            """
        ),
        {"since": since, "until": until, "account": account_id, "entity": entity_id},
    ).mappings()
    return [Action.from_row(r) for r in rows]


def rollbacks_of(conn: Connection, action_ids: Sequence[int]) -> dict[int, tuple[int, str]]:
    """For each of ``action_ids`` already named by a rollback that was not refused outright
    (approved, executed or drifted), that latest rollback's (id, status)."""
    rows = conn.execute(
        text(
            "SELECT DISTINCT ON (compensates_action_id) compensates_action_id, action_id, status "
            "FROM autoscaler.scaling_actions WHERE action_type = 'rollback' "
            "AND compensates_action_id = ANY(:ids) AND status IN ('approved', 'executed', 'drifted') "
            "ORDER BY compensates_action_id, action_id DESC"
        ),
        {"ids": list(action_ids)},
    ).all()
    return {int(r[0]): (int(r[1]), str(r[2])) for r in rows}


def record_rollbacks(conn: Connection, plans: Sequence[Any], *, by: str, reason: str) -> list[int]:
    """Record rollback.plan's compensations as approved operator actions; returns their ids.

    One statement per compensation (a rollback is a handful of rows; RETURNING needs it).
    """
    set_actor(conn, by, reason)
    statement = text(
        """
        INSERT INTO autoscaler.scaling_actions (
            account_id, entity_id, entity_level, origin, action_type, mode, currency,
            budget_before, budget_after, status_before, status_after, base_before, base_after,
            reasoning, requires_approval, status, decided_by, decided_at, decision_reason,
            compensates_action_id)
        VALUES (:account_id, :entity_id, :entity_level, 'operator', 'rollback', 'live', :currency,
                :budget_before, :budget_after, :status_before, :status_after, :base_before, :base_after,
                :reasoning, false, 'approved', :by, now(), :reason, :compensates_action_id)
        RETURNING action_id
        """
    )
    columns = (
        "account_id",
        "entity_id",
        "entity_level",
        "currency",
        "budget_before",
        "budget_after",
        "status_before",
        "status_after",
        "base_before",
        "base_after",
        "reasoning",
        "compensates_action_id",
    )
    return [
        int(
            conn.execute(
                statement, {name: getattr(p, name) for name in columns} | {"by": by, "reason": reason}
            ).scalar_one()
        )
        for p in plans
    ]


def store_bases(conn: Connection, bases: Sequence[tuple[str, int]]) -> None:
    """Executed actions' base budgets onto their holders (time optimisation's base)."""
    if not bases:
        return
    conn.execute(
        text(
            "UPDATE autoscaler.budget_holders AS h SET base_daily_budget = u.base, base_budget_set_at = now() "
            "FROM unnest(CAST(:ids AS text[]), CAST(:bases AS bigint[])) AS u(entity_id, base) "
            "WHERE h.entity_id = u.entity_id AND h.base_daily_budget IS DISTINCT FROM u.base"
        ),
        {"ids": [e for e, _ in bases], "bases": [b for _, b in bases]},
    )


def finish(
    conn: Connection, action_id: int, outcome: str, *, detail: str, response: dict[str, Any] | None = None
) -> Action:
    """approved -> executed | failed | drifted, with Meta's answer or the reason."""
    finish_many(conn, outcome, detail=detail, items=[(action_id, response)])
    return get_action(conn, action_id)


def finish_many(
    conn: Connection,
    outcome: str,
    *,
    detail: str,
    items: Sequence[tuple[int, dict[str, Any] | None]],
) -> None:
    """Many approved actions -> one outcome with one reason, each with its own Meta answer.

    One statement for the lot: at 100k actions an hour a round trip per action would be
    most of the run.  Raises (and so rolls back the caller's transaction) if any action is
    unknown or no longer approved, naming it.
    """
    if outcome not in ("executed", "failed", "drifted"):
        raise ValueError(f"outcome: executed, failed or drifted, not {outcome!r}")
    if not items:
        return
    import json

    ids = [action_id for action_id, _ in items]
    set_actor(conn, AUTOSCALER, detail)
    done = conn.execute(
        text(
            "UPDATE autoscaler.scaling_actions AS a SET status = :to, "
            "executed_at = CASE WHEN :to = 'executed' THEN now() END, "
            "meta_response = CAST(u.response AS jsonb), "
            "error_message = CASE WHEN :to = 'executed' THEN NULL ELSE :detail END "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:responses AS text[])) AS u(action_id, response) "
            "WHERE a.action_id = u.action_id AND a.status = 'approved' RETURNING a.action_id"
        ),
        {
            "to": outcome,
            "detail": detail,
            "ids": ids,
            "responses": [json.dumps(r) if r is not None else None for _, r in items],
        },
    ).scalars()
    missing = set(ids) - set(done)
    if missing:
        first = min(missing)
        current = get_action(conn, first)  # raises ActionNotFoundError for unknown ids
        raise ActionStateError(
            f"action {first} is {current.status}; only approved actions can become {outcome}"
            + (f" ({len(missing) - 1} more like it)" if len(missing) > 1 else "")
        )
