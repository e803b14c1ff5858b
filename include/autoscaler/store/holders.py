"""Writes to ``budget_holders``: the campaigns and ad sets seen in a fetch."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, text


def upsert_budget_holders(conn: Connection, account_id: str, holders: pd.DataFrame, seen_at: datetime) -> int:
    """Record or refresh the account's budget holders (one statement, keyed by entity_id).

    ``holders`` is the Meta client's frame (entity_id, level, campaign_id, name).  Locks and
    base budgets, which the autoscaler itself owns, are left as they are.
    """
    if holders.empty:
        return 0
    result = conn.execute(
        text(
            """
            INSERT INTO autoscaler.budget_holders (entity_id, account_id, level, campaign_id, name, last_seen_at)
            SELECT u.entity_id, :account, u.level, u.campaign_id, u.name, :seen
              FROM unnest(CAST(:ids AS text[]), CAST(:levels AS text[]), CAST(:campaigns AS text[]), CAST(:names AS text[]))
                   AS u(entity_id, level, campaign_id, name)
            ON CONFLICT (entity_id) DO UPDATE
               SET name = EXCLUDED.name, level = EXCLUDED.level, campaign_id = EXCLUDED.campaign_id,
                   last_seen_at = greatest(budget_holders.last_seen_at, EXCLUDED.last_seen_at)
            """
        ),
        {
            "account": account_id,
            "seen": seen_at,
            "ids": holders["entity_id"].astype(str).tolist(),
            "levels": holders["level"].astype(str).tolist(),
            "campaigns": holders["campaign_id"].astype(str).tolist(),
            "names": holders["name"].astype(object).where(holders["name"].notna(), None).tolist(),
        },
    )
    return int(result.rowcount)
