"""Valid rows for the audit schema, so each test changes only what it is about."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Connection, text

from autoscaler.localtime import local_calendar
from autoscaler.rules import ScalingRule
from autoscaler.store.accounts import AdAccount, upsert_account
from autoscaler.store.rules import create_rule

ACCOUNT = "act_1001"
CAMPAIGN = "2001"
ADSET = "3001"


def account(conn: Connection, account_id: str = ACCOUNT, currency: str = "USD") -> AdAccount:
    acct = AdAccount(account_id, currency, "America/New_York", "Test account")
    upsert_account(conn, acct)
    return acct


def budget_holder(conn: Connection, entity_id: str = CAMPAIGN, level: str = "campaign", **cols: Any) -> None:
    row = {
        "entity_id": entity_id,
        "account_id": ACCOUNT,
        "level": level,
        "campaign_id": entity_id if level == "campaign" else CAMPAIGN,
        "name": f"{level} {entity_id}",
        **cols,
    }
    conn.execute(
        text(
            f"INSERT INTO autoscaler.budget_holders ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"
        ),
        row,
    )


def rule(conn: Connection, **overrides: Any) -> ScalingRule:
    # Acting on any ROAS (evidence_z 0): the frames these tests record carry no conversions.
    settings = {
        "account_id": ACCOUNT,
        "min_daily_budget": 1_000,
        "max_daily_budget": 100_000,
        "evidence_z": 0,
        **overrides,
    }
    return create_rule(conn, ScalingRule.parse(settings), actor="tests")


def action_row(rule_id: int, **overrides: Any) -> dict[str, Any]:
    """Columns of a valid pending scale-up of CAMPAIGN from $200 to $300."""
    return {
        "account_id": ACCOUNT,
        "entity_id": CAMPAIGN,
        "entity_level": "campaign",
        "run_hour": "2026-11-02 15:00:00+00",
        "rule_id": rule_id,
        "rule_revision": 1,
        "origin": "rule",
        "action_type": "scale_up_aggressive",
        "mode": "live",
        "currency": "USD",
        "budget_before": 20_000,
        "budget_after": 30_000,
        "window_start": "2026-11-01 15:00:00+00",
        "window_end": "2026-11-02 15:00:00+00",
        "window_spend": 19_000,
        "window_revenue": 79_800,
        "window_impressions": 15_000,
        "window_clicks": 525,
        "window_conversions": 12,
        "roas": 4.2,
        "ctr": 0.035,
        "reasoning": "Exceptional performance: ROAS 4.20x (>4.0x) and CTR 3.50% (>3%)",
        "requires_approval": True,
        "status": "pending_approval",
        **overrides,
    }


def insert_action(conn: Connection, row: dict[str, Any]) -> int:
    columns = ", ".join(row)
    values = ", ".join(f":{k}" for k in row)
    return int(
        conn.execute(
            text(f"INSERT INTO autoscaler.scaling_actions ({columns}) VALUES ({values}) RETURNING action_id"),
            row,
        ).scalar_one()
    )


def world(conn: Connection) -> ScalingRule:
    """An account with one campaign, one ad set and an account rule."""
    account(conn)
    budget_holder(conn)
    budget_holder(conn, ADSET, "adset")
    return rule(conn)


def snapshot_frame(
    entities: int = 3, hours: int = 2, start: str = "2026-11-02 14:00", **overrides: Any
) -> pd.DataFrame:
    """``entities`` x ``hours`` valid live snapshot rows of account act_1001; ``overrides`` set columns."""
    hour_index = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    rows = pd.MultiIndex.from_product([[str(2001 + i) for i in range(entities)], hour_index]).to_frame(
        index=False, name=["entity_id", "hour_start"]
    )
    rows["account_id"] = "act_1001"
    rows = rows.join(local_calendar(rows["hour_start"], "America/New_York"))
    n = len(rows)
    rows["spend"] = range(1000, 1000 + n)
    rows["impressions"] = 500
    rows["clicks"] = 12
    rows["conversions"] = 1
    rows["revenue"] = 4200
    rows["revenue_source"] = "observed"
    rows["day_conversions_to_date"] = pd.array([None] * n, dtype="Int64")
    rows["day_revenue_to_date"] = pd.array([None] * n, dtype="Int64")
    rows["daily_budget"] = 20_000
    rows["status"] = "ACTIVE"
    rows["effective_status"] = "ACTIVE"
    rows["observed_at"] = rows["hour_start"] + pd.Timedelta(minutes=65)
    for column, value in overrides.items():
        rows[column] = value
    return rows
