"""Writes to ``scaling_evaluations``: every entity's decision, one compact row per rule."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, text

_ARRAYS = {
    "entity_ids": ("entity_id", "text"),
    "decisions": ("action", "text"),
    "reasons": ("reason", "text"),
    "spend": ("spend", "bigint"),
    "revenue": ("revenue", "bigint"),
    "impressions": ("impressions", "bigint"),
    "clicks": ("clicks", "bigint"),
    "conversions": ("conversions", "bigint"),
    "daily_budget": ("daily_budget", "bigint"),
    "new_daily_budget": ("new_daily_budget", "bigint"),
}


def record_evaluations(
    conn: Connection,
    decided: pd.DataFrame,
    *,
    account_id: str,
    run_hour: datetime,
    mode: str,
    window: tuple[datetime, datetime],
    rule_revisions: dict[int, int],
) -> int:
    """Upsert one row per rule that decided (re-running the hour replaces it). Returns entities recorded."""
    covered = decided[decided["rule_id"].notna()]
    rule_key: Any
    for rule_key, group in covered.groupby("rule_id"):
        rule_id = int(rule_key)
        params: dict[str, object] = {
            name: [str(v) if kind == "text" else int(v) for v in group[column]]
            for name, (column, kind) in _ARRAYS.items()
        }
        params.update(
            run_hour=run_hour,
            account=account_id,
            rule_id=int(rule_id),
            revision=rule_revisions[int(rule_id)],
            mode=mode,
            start=window[0],
            end=window[1],
        )
        columns = ", ".join(_ARRAYS)
        values = ", ".join(f"CAST(:{name} AS {kind}[])" for name, (_, kind) in _ARRAYS.items())
        updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in _ARRAYS)
        conn.execute(
            text(
                f"""
                INSERT INTO autoscaler.scaling_evaluations
                       (run_hour, account_id, rule_id, rule_revision, mode, window_start, window_end, {columns})
                VALUES (:run_hour, :account, :rule_id, :revision, :mode, :start, :end, {values})
                ON CONFLICT (run_hour, account_id, rule_id, mode) DO UPDATE
                   SET rule_revision = EXCLUDED.rule_revision, window_start = EXCLUDED.window_start,
                       window_end = EXCLUDED.window_end, evaluated_at = now(), {updates}
                """
            ),
            params,
        )
    return len(covered)
