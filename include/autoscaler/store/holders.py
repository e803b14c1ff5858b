"""Writes to ``budget_holders``: the campaigns and ad sets seen in a fetch."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, text


def _values(frame: pd.DataFrame, column: str) -> list[object]:
    if column not in frame.columns:
        return [None] * len(frame)
    return frame[column].astype(object).where(frame[column].notna(), None).tolist()


class HolderOwnerError(ValueError):
    """A budget holder id the store already keeps for another account."""


def upsert_budget_holders(conn: Connection, account_id: str, holders: pd.DataFrame, seen_at: datetime) -> int:
    """Record or refresh the account's budget holders (one statement, keyed by entity_id).

    ``holders`` is the Meta client's frame (entity_id, level, campaign_id, campaign_name, name, daily_budget,
    status, effective_status, learning), or the Google Ads client's, in the same columns.
    Locks and base budgets, which the autoscaler itself owns, are left as they are.

    Holders are keyed by their id alone: Meta's ids are unique across Meta, but a Google Ads
    budget id comes from another id space.  An id already kept for another account is refused
    (HolderOwnerError), never written over that account's holder.
    """
    if holders.empty:
        return 0
    ids = holders["entity_id"].astype(str).tolist()
    taken = conn.execute(
        text(
            "SELECT entity_id, account_id FROM autoscaler.budget_holders "
            "WHERE entity_id = ANY(CAST(:ids AS text[])) AND account_id <> :account ORDER BY entity_id LIMIT 1"
        ),
        {"ids": ids, "account": account_id},
    ).one_or_none()
    if taken is not None:
        raise HolderOwnerError(
            f"entity_id {taken.entity_id}: already recorded for account {taken.account_id}, not {account_id} "
            "(budget holder ids must be unique across accounts and platforms)"
        )
    result = conn.execute(
        text(
            """
            INSERT INTO autoscaler.budget_holders
                   (entity_id, account_id, level, campaign_id, campaign_name, name, daily_budget, status,
                    effective_status, learning, last_seen_at)
            SELECT u.entity_id, :account, u.level, u.campaign_id, u.campaign_name, u.name, u.daily_budget,
                   u.status, u.effective_status, u.learning, :seen
              FROM unnest(CAST(:ids AS text[]), CAST(:levels AS text[]), CAST(:campaigns AS text[]),
                          CAST(:campaign_names AS text[]), CAST(:names AS text[]), CAST(:budgets AS bigint[]),
                          CAST(:statuses AS text[]), CAST(:effective AS text[]), CAST(:learning AS boolean[]))
                   AS u(entity_id, level, campaign_id, campaign_name, name, daily_budget, status,
                        effective_status, learning)
            ON CONFLICT (entity_id) DO UPDATE
               SET name = EXCLUDED.name, level = EXCLUDED.level, campaign_id = EXCLUDED.campaign_id,
                   campaign_name = EXCLUDED.campaign_name,
                   daily_budget = EXCLUDED.daily_budget, status = EXCLUDED.status,
                   effective_status = EXCLUDED.effective_status, learning = EXCLUDED.learning,
                   last_seen_at = EXCLUDED.last_seen_at
             WHERE EXCLUDED.last_seen_at >= budget_holders.last_seen_at
            """
        ),
        {
            "account": account_id,
            "seen": seen_at,
            "ids": ids,
            "levels": holders["level"].astype(str).tolist(),
            "campaigns": holders["campaign_id"].astype(str).tolist(),
            "campaign_names": _values(holders, "campaign_name"),
            "names": _values(holders, "name"),
            "budgets": [
                None if pd.isna(v) else int(v)
                for v in holders.get("daily_budget", pd.Series([None] * len(holders)))
            ],
            "statuses": _values(holders, "status"),
            "effective": _values(holders, "effective_status"),
            "learning": [bool(v) for v in holders.get("learning", pd.Series([False] * len(holders)))],
        },
    )
    return int(result.rowcount)
