"""Writes to ``scaling_runs``: one row per account per hourly DAG run, updated by each step."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

COUNTERS = (
    "entities_fetched",
    "graph_requests",
    "snapshots_written",
    "evaluated",
    "actions_proposed",
    "awaiting_approval",
    "executed",
    "failed",
    "drifted",
    "expired",
)


def record_step(
    conn: Connection,
    *,
    airflow_run_id: str,
    dag_id: str,
    account_id: str,
    run_hour: datetime,
    run_type: str,
    mode: str,
    shadow_reason: str | None,
    step: str,
    seconds: float,
    counts: dict[str, int],
    summary: str,
    finished: bool = False,
) -> None:
    """Create or update the run's row with one step's counts and timing (a retried step overwrites its own)."""
    values = {name: int(counts.get(name, 0)) for name in COUNTERS if name in counts}
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    conn.execute(
        text(
            f"""
            INSERT INTO autoscaler.scaling_runs
                   (airflow_run_id, dag_id, account_id, run_hour, run_type, mode, shadow_reason, step_seconds, summary,
                    status, finished_at{"".join(", " + n for n in values)})
            VALUES (:run_id, :dag_id, :account, :run_hour, :run_type, :mode, :shadow_reason, CAST(:steps AS jsonb),
                    :summary, CASE WHEN :finished THEN 'success' ELSE 'running' END,
                    CASE WHEN :finished THEN now() END{"".join(", :" + n for n in values)})
            ON CONFLICT (airflow_run_id, account_id) DO UPDATE
               SET step_seconds = scaling_runs.step_seconds || EXCLUDED.step_seconds,
                   summary = EXCLUDED.summary, mode = EXCLUDED.mode, shadow_reason = EXCLUDED.shadow_reason,
                   status = EXCLUDED.status, finished_at = EXCLUDED.finished_at{"".join(", " + a for a in ([assignments] if assignments else []))}
            """
        ),
        {
            "run_id": airflow_run_id,
            "dag_id": dag_id,
            "account": account_id,
            "run_hour": run_hour,
            "run_type": run_type,
            "mode": mode,
            "shadow_reason": shadow_reason,
            "steps": json.dumps({step: round(seconds, 3)}),
            "summary": summary,
            "finished": finished,
            **values,
        },
    )


def mark_failed(conn: Connection, *, airflow_run_id: str, account_id: str, error: str) -> None:
    conn.execute(
        text(
            "UPDATE autoscaler.scaling_runs SET status = 'failed', finished_at = now(), error = :error "
            "WHERE airflow_run_id = :run_id AND account_id = :account"
        ),
        {"run_id": airflow_run_id, "account": account_id, "error": error[:2000]},
    )


def run_row(conn: Connection, airflow_run_id: str, account_id: str) -> dict[str, Any] | None:
    row = (
        conn.execute(
            text("SELECT * FROM autoscaler.scaling_runs WHERE airflow_run_id = :r AND account_id = :a"),
            {"r": airflow_run_id, "a": account_id},
        )
        .mappings()
        .one_or_none()
    )
    return dict(row) if row else None
