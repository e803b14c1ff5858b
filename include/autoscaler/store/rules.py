"""Writes to ``scaling_rules`` (and reads of them).

The Python model validates first; if the database still refuses a row (a named CHECK, the
one-enabled-rule-per-scope index, an unknown account), the refusal is turned into the same
RuleError shape, naming the field, so callers handle one kind of error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg.errors
from sqlalchemy import Connection, RowMapping, text
from sqlalchemy.exc import IntegrityError

from autoscaler.rules import RuleError, ScalingRule

_COLUMNS = tuple(name for name in ScalingRule.model_fields if name != "rule_id")

# Which field a database constraint is about, so its refusal names that field.
_CONSTRAINT_FIELDS = {
    "scaling_rules_account_id_fkey": "account_id",
    "scaling_rules_one_enabled_per_scope": "enabled",
    "scaling_rules_rule_name_not_blank": "rule_name",
    "scaling_rules_scope_level_known": "scope_level",
    "scaling_rules_scope_entity_matches_level": "scope_entity_id",
    "scaling_rules_scope_entity_id_format": "scope_entity_id",
    "scaling_rules_roas_thresholds_positive": "roas_pause",
    "scaling_rules_roas_thresholds_ordered": "roas_scale_down",
    "scaling_rules_ctr_is_ratio": "ctr_scale_up_aggressive",
    "scaling_rules_multiplier_up_increases": "multiplier_up",
    "scaling_rules_multiplier_aggressive_at_least_up": "multiplier_aggressive_up",
    "scaling_rules_multiplier_down_decreases": "multiplier_down",
    "scaling_rules_min_budget_positive": "min_daily_budget",
    "scaling_rules_min_budget_le_max": "max_daily_budget",
    "scaling_rules_money_bounded": "max_daily_budget",
    "scaling_rules_approval_threshold_non_negative": "require_approval_threshold",
    "scaling_rules_min_impressions_non_negative": "min_impressions",
    "scaling_rules_min_conversions_non_negative": "min_conversions",
    "scaling_rules_evidence_z_range": "evidence_z",
    "scaling_rules_lookback_hours_range": "lookback_hours",
    "scaling_rules_min_window_hours_range": "min_window_hours",
    "scaling_rules_cooldown_hours_range": "cooldown_hours",
    "scaling_rules_account_cap_on_account_rules": "account_daily_budget_cap",
    "scaling_rules_time_confidence_range": "time_min_confidence",
    "scaling_rules_time_multipliers_bracket_one": "time_multiplier_min",
    "scaling_rules_deleted_rules_disabled": "enabled",
}


class RuleNotFoundError(LookupError):
    def __init__(self, rule_id: int) -> None:
        super().__init__(f"no scaling rule with rule_id {rule_id}")
        self.rule_id = rule_id


def _refusal(exc: IntegrityError, rule: ScalingRule, conn: Connection | None = None) -> RuleError:
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None) or "unknown constraint"
    field = _CONSTRAINT_FIELDS.get(constraint, "rule")
    if isinstance(orig, psycopg.errors.ForeignKeyViolation):
        why = f"unknown ad account {rule.account_id}: record the account first"
    elif isinstance(orig, psycopg.errors.UniqueViolation):
        existing = _enabled_for_scope(conn, rule) if conn is not None else None
        which = f"rule {existing}" if existing is not None else "it"
        how = f"autoscaler rules disable {existing}, or " if existing is not None else ""
        why = (
            f"{rule.account_id} already has an enabled {rule.scope_level} rule for this scope; disable "
            f"{which} first ({how}change it instead: autoscaler rules update, PUT /rules/{{id}})"
        )
    else:
        why = f"refused by the database (constraint {constraint})"
    return RuleError({field: why})


def _enabled_for_scope(conn: Connection, rule: ScalingRule) -> int | None:
    """The enabled rule that holds ``rule``'s scope (the one-enabled-per-scope index's other row)."""
    found = conn.execute(
        text(
            "SELECT rule_id FROM autoscaler.scaling_rules WHERE enabled AND account_id = :a "
            "AND scope_level = :l AND coalesce(scope_entity_id, '') = coalesce(CAST(:e AS text), '') "
            "AND rule_id IS DISTINCT FROM CAST(:self AS bigint)"
        ),
        {"a": rule.account_id, "l": rule.scope_level, "e": rule.scope_entity_id, "self": rule.rule_id},
    ).scalar()
    return int(found) if found is not None else None


def _from_row(row: RowMapping | Mapping[str, Any]) -> ScalingRule:
    data = {name: row[name] for name in ("rule_id", *_COLUMNS)}
    for name, value in data.items():
        if value is not None and ScalingRule.model_fields[name].annotation is float:
            data[name] = float(value)
    return ScalingRule.model_validate(data)


def _check_scope(conn: Connection, rule: ScalingRule) -> None:
    """A campaign- or ad-set-scoped rule must name one of its account's known budget holders
    at that level, or it would silently apply to nothing (or, for an ad-set rule naming a
    campaign, to the campaign)."""
    if rule.scope_level == "account":
        return
    column = "campaign_id" if rule.scope_level == "campaign" else "entity_id"
    level = conn.execute(
        text(
            f"SELECT level FROM autoscaler.budget_holders WHERE account_id = :a AND {column} = :e "
            "ORDER BY level = :want DESC LIMIT 1"
        ),
        {"a": rule.account_id, "e": rule.scope_entity_id, "want": rule.scope_level},
    ).scalar()
    if level is None:
        raise RuleError(
            {
                "scope_entity_id": f"{rule.scope_entity_id} is not a known {rule.scope_level} of "
                f"{rule.account_id} (not yet fetched from Meta, or not this account's): a scoped rule "
                "can name only budget holders the hourly run has seen"
            }
        )
    if rule.scope_level == "adset" and level != "adset":
        raise RuleError(
            {
                "scope_entity_id": f"{rule.scope_entity_id} is a campaign of {rule.account_id} (it holds "
                'the budget itself), not an ad set: use "scope_level": "campaign"'
            }
        )


def create_rule(conn: Connection, rule: ScalingRule, *, actor: str) -> ScalingRule:
    """Insert ``rule``; return it with its rule_id."""
    _check_scope(conn, rule)
    params = {**rule.settings(), "actor": actor}
    columns = ", ".join(_COLUMNS)
    values = ", ".join(f":{name}" for name in _COLUMNS)
    statement = text(
        f"INSERT INTO autoscaler.scaling_rules ({columns}, created_by, updated_by) "
        f"VALUES ({values}, :actor, :actor) RETURNING rule_id"
    )
    try:
        with conn.begin_nested():
            rule_id = conn.execute(statement, params).scalar_one()
    except IntegrityError as exc:
        raise _refusal(exc, rule, conn) from None
    return rule.model_copy(update={"rule_id": rule_id})


def get_rule(conn: Connection, rule_id: int) -> ScalingRule:
    row = (
        conn.execute(
            text("SELECT * FROM autoscaler.scaling_rules WHERE rule_id = :rule_id AND deleted_at IS NULL"),
            {"rule_id": rule_id},
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise RuleNotFoundError(rule_id)
    return _from_row(row)


def enabled_accounts(conn: Connection) -> list[str]:
    """Accounts with at least one enabled rule: the ones the DAGs run for."""
    return list(
        conn.execute(
            text("SELECT DISTINCT account_id FROM autoscaler.scaling_rules WHERE enabled ORDER BY account_id")
        ).scalars()
    )


def list_rules(
    conn: Connection, account_id: str | None = None, *, enabled_only: bool = False
) -> list[ScalingRule]:
    """Rules not deleted, optionally of one account and only enabled ones, by rule_id."""
    rows = (
        conn.execute(
            text(
                """
                SELECT * FROM autoscaler.scaling_rules
                 WHERE deleted_at IS NULL
                   AND (CAST(:account_id AS text) IS NULL OR account_id = :account_id)
                   AND (NOT :enabled_only OR enabled)
                 ORDER BY rule_id
                """
            ),
            {"account_id": account_id, "enabled_only": enabled_only},
        )
        .mappings()
        .all()
    )
    return [_from_row(row) for row in rows]


def update_rule(
    conn: Connection,
    rule_id: int,
    changes: Mapping[str, Any],
    *,
    actor: str,
    currency: str | None = None,
    strict: bool = False,
) -> ScalingRule:
    """Apply ``changes`` (validated as a whole rule) and return the new revision.

    ``currency`` and ``strict`` as for ScalingRule.parse: give them for changes people wrote.
    """
    current = get_rule(conn, rule_id)
    if "rule_id" in changes:
        raise RuleError({"rule_id": "is the rule's identity and cannot change; it is given in the path"})
    if "account_id" in changes and changes["account_id"] != current.account_id:
        raise RuleError({"account_id": "a rule cannot move to another account; create a new rule"})
    updated = ScalingRule.parse({**current.model_dump(), **changes}, currency=currency, strict=strict)
    _check_scope(conn, updated)
    assignments = ", ".join(f"{name} = :{name}" for name in _COLUMNS)
    try:
        with conn.begin_nested():
            conn.execute(
                text(
                    f"UPDATE autoscaler.scaling_rules SET {assignments}, updated_by = :actor WHERE rule_id = :rule_id"
                ),
                {**updated.settings(), "actor": actor, "rule_id": rule_id},
            )
    except IntegrityError as exc:
        raise _refusal(exc, updated, conn) from None
    return updated


def delete_rule(conn: Connection, rule_id: int, *, actor: str) -> None:
    """Disable the rule and mark it deleted; the row stays because actions refer to it."""
    result = conn.execute(
        text(
            "UPDATE autoscaler.scaling_rules SET enabled = false, deleted_at = now(), updated_by = :actor "
            "WHERE rule_id = :rule_id AND deleted_at IS NULL"
        ),
        {"rule_id": rule_id, "actor": actor},
    )
    if result.rowcount == 0:
        raise RuleNotFoundError(rule_id)


def rule_revision(conn: Connection, rule_id: int) -> int:
    """The rule's current revision (the database increments it on every update)."""
    revision = conn.execute(
        text("SELECT revision FROM autoscaler.scaling_rules WHERE rule_id = :rule_id"), {"rule_id": rule_id}
    ).scalar_one_or_none()
    if revision is None:
        raise RuleNotFoundError(rule_id)
    return int(revision)


@dataclass(frozen=True)
class RuleRevision:
    revision: int
    changed_at: datetime
    changed_by: str
    rule: ScalingRule


def rule_revisions(conn: Connection, rule_id: int) -> list[RuleRevision]:
    """Every revision of a rule, oldest first, as the revision trigger recorded them."""
    rows = conn.execute(
        text(
            "SELECT revision, changed_at, changed_by, settings FROM autoscaler.scaling_rule_revisions "
            "WHERE rule_id = :rule_id ORDER BY revision"
        ),
        {"rule_id": rule_id},
    ).all()
    if not rows:
        raise RuleNotFoundError(rule_id)
    return [RuleRevision(r.revision, r.changed_at, r.changed_by, _from_row(r.settings)) for r in rows]
