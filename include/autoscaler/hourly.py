"""The hourly run's steps for one ad account, as plain functions (the DAG's tasks call them).

Each step is safe to re-run: it writes keyed upserts, and what it writes depends only on
Meta's answers and the database, never on a previous attempt's memory.  Data moves between
steps through the audit database; steps return counts.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from autoscaler import metrics
from autoscaler.allocator import HISTORY_COLUMNS, HISTORY_HOURS, AllocatorSettings, allocate
from autoscaler.meta import MetaClient
from autoscaler.meta.frames import per_holder
from autoscaler.policy import decide, with_rules
from autoscaler.rules import ScalingRule
from autoscaler.store import actions
from autoscaler.store.accounts import AdAccount, get_account, upsert_account
from autoscaler.store.evaluations import record_evaluations
from autoscaler.store.holders import upsert_budget_holders
from autoscaler.store.profiles import hour_multipliers
from autoscaler.store.rules import list_rules
from autoscaler.store.snapshots import apply_settlement, day_rows, upsert_snapshots
from autoscaler.store.windows import (
    holder_state,
    hourly_history,
    previous_cumulative,
    trailing_window,
    window_bounds,
)
from autoscaler.timeopt import BUDGET_ACTIONS, plan_hour

if TYPE_CHECKING:  # the google-ads library takes seconds to import: only where it is used
    from autoscaler.google.client import GoogleClient

log = logging.getLogger(__name__)

# A read this long after its hour still describes the hour; later, the hour is backfilled
# from the hourly breakdown instead (a late cumulative read would pour later hours into it).
LIVE_READ_GRACE = timedelta(hours=2)


@dataclass(frozen=True)
class RunHour:
    """One account's run: which hour (UTC, the data interval start) and how."""

    account_id: str
    run_hour: datetime
    mode: str = "live"  # or shadow: decisions are recorded as simulated, nothing is written
    backfill: bool = False

    def __post_init__(self) -> None:
        if self.run_hour.tzinfo is None or self.run_hour != self.run_hour.replace(
            minute=0, second=0, microsecond=0
        ):
            raise ValueError(f"run_hour: must be a time-zone-aware start of an hour, got {self.run_hour!r}")


def holder_metrics(
    client: MetaClient | GoogleClient,
    account_id: str,
    currency: str,
    day_range: tuple[str, str],
    structure: pd.DataFrame,
    *,
    hourly: bool = False,
) -> pd.DataFrame:
    """A local day's metrics per budget holder, from either platform (the seam for reads).

    Meta: ad-set insights summed to their holders (``structure``: level and campaign of each);
    its hourly rows carry no purchases.  Google Ads: one streamed query summed to campaign
    budgets; its hourly rows carry conversions (docs/metrics.md).
    """
    if isinstance(client, MetaClient):
        return per_holder(
            client.insights(account_id, currency, time_range=day_range, hourly=hourly), structure
        )
    return client.holder_insights(account_id, currency, time_range=day_range, hourly=hourly)


def platform_of(client: MetaClient | GoogleClient) -> str:
    """The ad_accounts.platform a client reads and writes."""
    return "meta" if isinstance(client, MetaClient) else "google_ads"


def fetch(engine: Engine, client: MetaClient | GoogleClient, run: RunHour, now: datetime) -> dict[str, int]:
    """Read the account and its budget holders from its platform; record both."""
    before = client.requests_made
    info = client.get_account(run.account_id)
    holders = client.list_budget_holders(run.account_id)
    account = AdAccount(info.account_id, info.currency, info.timezone_name, info.name, platform_of(client))
    with engine.begin() as conn:
        upsert_account(conn, account)
        upsert_budget_holders(conn, run.account_id, holders, now)
    return {"entities": len(holders), "requests": client.requests_made - before}


def snapshot(
    engine: Engine, client: MetaClient | GoogleClient, run: RunHour, now: datetime
) -> dict[str, int]:
    """Read the hour's metrics and upsert one snapshot per budget holder for it."""
    before = client.requests_made
    with engine.connect() as conn:
        account = get_account(conn, run.account_id)
        holders = holder_state(conn, run.account_id)
    hour = pd.Timestamp(run.run_hour)
    day = hour.tz_convert(account.timezone_name).date()
    day_range = (day.isoformat(), day.isoformat())
    structure = holders.assign(level=holders["level"], campaign_id=holders["campaign_id"])
    if not run.backfill and now - (run.run_hour + timedelta(hours=1)) <= LIVE_READ_GRACE:
        cumulative = holder_metrics(client, run.account_id, account.currency, day_range, structure)
        with engine.connect() as conn:
            previous = previous_cumulative(conn, run.account_id, day, run.run_hour)
        rows = metrics.live_hour(
            hour, account.timezone_name, run.account_id, holders, cumulative, previous, pd.Timestamp(now)
        )
        settled = _settle_day_before(engine, client, run, account.currency, structure, day, now)
    else:
        hourly = holder_metrics(client, run.account_id, account.currency, day_range, structure, hourly=True)
        # Google's hours carry their purchases (docs/metrics.md): no day totals to share out.
        by_hour = platform_of(client) == "google_ads"
        totals = (
            hourly.iloc[:0]
            if by_hour
            else holder_metrics(client, run.account_id, account.currency, day_range, structure)
        )
        rows = metrics.backfilled_hour(
            hour,
            account.timezone_name,
            run.account_id,
            holders,
            hourly,
            totals,
            pd.Timestamp(now),
            purchases_by_hour=by_hour,
        )
        rows[["daily_budget", "status", "effective_status"]] = None  # not known for a past hour
        settled = 0
    written = upsert_snapshots(engine, rows)
    return {
        "snapshots": len(rows),
        "changed": written,
        "settled": settled,
        "requests": client.requests_made - before,
    }


def _settle_day_before(
    engine: Engine,
    client: MetaClient | GoogleClient,
    run: RunHour,
    currency: str,
    structure: pd.DataFrame,
    day: date,
    now: datetime,
) -> int:
    """Re-read the previous local day's totals and settle its hours to them (late purchases).

    Every live run does it (one request), so purchases attributed to yesterday's clicks
    reach the trailing window within the hour they are reported, not never.
    """
    yesterday = day - timedelta(days=1)
    with engine.connect() as conn:
        rows = day_rows(conn, run.account_id, yesterday)
    if rows.empty:
        return 0
    day_range = (yesterday.isoformat(), yesterday.isoformat())
    totals = holder_metrics(client, run.account_id, currency, day_range, structure)
    settled = metrics.settle_day(rows, totals)
    with engine.begin() as conn:
        return apply_settlement(conn, settled, now)


@dataclass(frozen=True)
class Decided:
    """One account's decisions for one run hour, and what they were decided on."""

    frame: pd.DataFrame  # policy.decide + timeopt.plan_hour output, one row per budget holder
    currency: str
    window: tuple[datetime, datetime]
    rule_revisions: dict[int, int]


def decisions(conn: Connection, account_id: str, run_hour: datetime, now: datetime) -> Decided | None:
    """Evaluate every budget holder of the account with its rule over the trailing window.

    No side effect: the hourly run records what this returns, and the API's evaluate routes
    show it as a preview.  None when the account has no enabled rule.
    """
    account = get_account(conn, account_id)
    rules = list_rules(conn, account_id, enabled_only=True)
    if not rules:
        return None
    revisions: dict[int, int] = dict(
        conn.execute(
            text("SELECT rule_id, revision FROM autoscaler.scaling_rules WHERE rule_id = ANY(:ids)"),
            {"ids": [r.rule_id for r in rules]},
        ).all()
    )
    lookback = max(r.lookback_hours for r in rules)
    window = window_bounds(run_hour, lookback)
    local_hour = pd.Timestamp(run_hour + timedelta(hours=1)).tz_convert(account.timezone_name).hour
    history = (
        hourly_history(conn, account_id, window[1], HISTORY_HOURS)
        if any(r.strategy == "allocator" for r in rules)
        else None
    )
    decided = decision_frame(
        holder_state(conn, account_id),
        trailing_window(conn, account_id, *window),
        rules,
        hour_multipliers(conn, account_id, local_hour),
        local_hour,
        pd.Timestamp(now),
        history,
        seed=int(pd.Timestamp(run_hour).timestamp()) // 3600,
    )
    return Decided(decided, account.currency, window, revisions)


def decision_frame(
    state: pd.DataFrame,
    sums: pd.DataFrame,
    rules: list[ScalingRule],
    multipliers: pd.DataFrame,
    local_hour: int,
    now: pd.Timestamp,
    history: pd.DataFrame | None = None,
    seed: int = 0,
    allocator: AllocatorSettings | None = None,
) -> pd.DataFrame:
    """The hour's decisions from what the store holds (pure: the backtest calls it too).

    ``state``: holder_state's columns; ``sums``: trailing_window's (per entity over the
    window); ``multipliers``: hour_multipliers' for the local hour starting now;
    ``history``: the holders' hourly rows (store.windows.hourly_history), which rules whose
    strategy is the allocator fit their curves on (``allocator``: its fixed settings; the
    rule's own come from its columns).
    """
    frame = state.merge(sums, on="entity_id", how="left").fillna(
        {"spend": 0, "revenue": 0, "impressions": 0, "clicks": 0, "conversions": 0, "hours": 0}
    )
    frame = frame[frame["daily_budget"].notna()]  # lifetime budgets are not scaled
    frame = _with_time_of_day(with_rules(frame, rules), multipliers, local_hour)
    frame = with_allocator(frame, history, allocator, seed)
    decided = plan_hour(decide(frame, now))
    # A scaling of the base that this hour's multiplier cancels writes nothing this hour.
    cancelled = (
        decided["managed"] & decided["action"].isin(BUDGET_ACTIONS) & (decided["target"] == decided["held"])
    )
    decided.loc[cancelled, "action"] = "no_change"
    return decided


def with_allocator(
    frame: pd.DataFrame, history: pd.DataFrame | None, allocator: AllocatorSettings | None, seed: int
) -> pd.DataFrame:
    """The allocator's proposal beside each active holder whose rule's strategy is the allocator."""
    allocated = frame["strategy"].astype(str).to_numpy() == "allocator"
    if not allocated.any():
        return frame
    active = (frame["status"].astype(str) == "ACTIVE").to_numpy() if "status" in frame else True
    proposal = allocate(
        history if history is not None else pd.DataFrame(columns=list(HISTORY_COLUMNS)),
        frame[allocated & active],
        allocator or AllocatorSettings(),
        seed=seed,
    )
    return frame.merge(proposal, on="entity_id", how="left")


def decide_account(
    engine: Engine, run: RunHour, now: datetime, approval_deadline: datetime | None
) -> dict[str, int]:
    """Decide for every budget holder (``decisions``); record evaluations and actions."""
    with engine.begin() as conn:
        found = decisions(conn, run.account_id, run.run_hour, now)
        if found is None:
            return {"evaluated": 0}
        decided = found.frame
        # What the run is, for every record it makes.
        run_facts: dict[str, Any] = {
            "account_id": run.account_id,
            "run_hour": run.run_hour,
            "mode": run.mode,
            "window": found.window,
            "rule_revisions": found.rule_revisions,
        }
        evaluated = record_evaluations(conn, decided, **run_facts)
        ids = actions.record_decisions(
            conn, decided, currency=found.currency, approval_deadline=approval_deadline, **run_facts
        )
        timed = actions.record_time_actions(conn, decided, currency=found.currency, **run_facts)
    counts = Counter(str(a) for a in decided["action"])
    return {
        "evaluated": evaluated,
        "actions": len(ids) + timed,
        "time_adjust": timed,
        **{k: v for k, v in counts.items()},
    }


def _with_time_of_day(frame: pd.DataFrame, profiles: pd.DataFrame, local_hour: int) -> pd.DataFrame:
    """Attach what timeopt.plan_hour needs; managed entities are decided on their base budget."""
    out = frame.merge(profiles, on="entity_id", how="left")
    out["held"] = out["daily_budget"].astype("int64")
    out["base"] = out["base_daily_budget"]
    out["local_hour"] = local_hour
    enabled = out["time_optimization_enabled"].fillna(False).to_numpy(dtype=bool)
    confident = out["confidence"].to_numpy(dtype=float, na_value=np.nan) >= out[
        "time_min_confidence"
    ].to_numpy(dtype=float, na_value=np.inf)
    out["applies"] = enabled & confident
    managed = out["applies"].to_numpy(dtype=bool) | out["base"].notna().to_numpy(dtype=bool)
    out["daily_budget"] = np.where(
        managed, out["base"].fillna(out["held"]).to_numpy(dtype=np.int64), out["held"]
    )
    return out


def utc_now() -> datetime:
    return datetime.now(UTC)
