"""Emergency controls: kill switches (``pause_switches``) and entity locks (``budget_holders.locked``).

A paused scope's hourly runs still fetch and decide but record every decision as simulated
and write nothing to Meta; a locked entity is evaluated and left alone.  Every flip is in
``control_events`` (by trigger) with its actor and reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from autoscaler.store.actions import set_actor


class UnknownEntityError(LookupError):
    def __init__(self, entity_id: str) -> None:
        super().__init__(f"no budget holder with id {entity_id}")
        self.entity_id = entity_id


@dataclass(frozen=True)
class Switch:
    scope: str
    paused: bool
    reason: str | None
    changed_by: str
    changed_at: datetime


def set_pause(conn: Connection, scope: str, *, paused: bool, by: str, reason: str | None) -> Switch:
    """Engage (paused=True) or release the kill switch of ``all`` or one account.

    Asking for the state the switch is already in, by the same person for the same reason,
    changes nothing; anything else (a flip, a new reason, another person) is a change, and
    the database records each one in control_events.
    """
    set_actor(conn, by, reason)
    conn.execute(
        text(
            "INSERT INTO autoscaler.pause_switches AS p (scope, paused, reason, changed_by, changed_at) "
            "VALUES (:scope, :paused, :reason, :by, now()) "
            "ON CONFLICT (scope) DO UPDATE SET paused = EXCLUDED.paused, reason = EXCLUDED.reason, "
            "changed_by = EXCLUDED.changed_by, changed_at = EXCLUDED.changed_at "
            "WHERE (p.paused, p.reason, p.changed_by) IS DISTINCT FROM "
            "(EXCLUDED.paused, EXCLUDED.reason, EXCLUDED.changed_by)"
        ),
        {"scope": scope, "paused": paused, "reason": reason, "by": by},
    )
    row = (
        conn.execute(
            text(
                "SELECT scope, paused, reason, changed_by, changed_at FROM autoscaler.pause_switches "
                "WHERE scope = :scope"
            ),
            {"scope": scope},
        )
        .mappings()
        .one()
    )
    return Switch(**row)


def switches(conn: Connection) -> list[Switch]:
    rows = conn.execute(
        text(
            "SELECT scope, paused, reason, changed_by, changed_at FROM autoscaler.pause_switches ORDER BY scope"
        )
    ).mappings()
    return [Switch(**r) for r in rows]


OFF_VALUES = ("0", "false", "no", "off", "")


def switched_on(value: object) -> bool:
    """How the Airflow Variable ``autoscaler_paused`` reads as a switch.

    Fails safe: only a plain "off" (false, 0, no, off, empty) lets the run go live; anything
    else -- true, or a value nobody can read, such as ciphertext from another Fernet key --
    keeps it in shadow mode.
    """
    return str(value).strip().lower() not in OFF_VALUES


def is_paused(conn: Connection, account_id: str) -> bool:
    """Whether the account runs in shadow mode because its switch or the global one is engaged."""
    return bool(
        conn.execute(
            text("SELECT bool_or(paused) FROM autoscaler.pause_switches WHERE scope IN ('all', :a)"),
            {"a": account_id},
        ).scalar()
    )


def set_lock(conn: Connection, entity_id: str, *, locked: bool, by: str, reason: str | None) -> bool:
    """Lock (the autoscaler leaves the entity alone) or unlock it; returns whether it changed.

    Re-locking by someone else, or for another reason, is a change too (recorded in
    control_events with the new actor and reason); the same lock asked for again is not.
    """
    set_actor(conn, by, reason)
    row = conn.execute(
        text(
            "UPDATE autoscaler.budget_holders AS h SET locked = :locked, "
            "locked_by = CASE WHEN :locked THEN :by END, locked_at = CASE WHEN :locked THEN now() END, "
            "lock_reason = CASE WHEN :locked THEN :reason END "
            "FROM (SELECT entity_id, locked AS was FROM autoscaler.budget_holders WHERE entity_id = :e FOR UPDATE) AS o "
            "WHERE h.entity_id = o.entity_id "
            "AND (h.locked, h.locked_by, h.lock_reason) IS DISTINCT FROM "
            "(CAST(:locked AS boolean), CASE WHEN :locked THEN CAST(:by AS text) END, "
            "CASE WHEN :locked THEN CAST(:reason AS text) END) "
            "RETURNING o.was"
        ),
        {"e": entity_id, "locked": locked, "by": by, "reason": reason},
    ).one_or_none()
    if row is None:
        exists = conn.execute(
            text("SELECT 1 FROM autoscaler.budget_holders WHERE entity_id = :e"), {"e": entity_id}
        ).scalar()
        if exists is None:
            raise UnknownEntityError(entity_id)
        return False
    return True
