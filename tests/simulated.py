"""Weeks of snapshots from the simulator, without running the hourly DAG 672 times.

Delivery comes straight from the simulated hours.  Purchases and revenue are placed the way
the live path observes them: a click hour's purchases are reported over the following hours
(the scenario's attribution delays), so revenue lands in the hours it was reported in, not
the hour of the click; this blurs hour-of-day effects exactly as live observation does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from autoscaler.localtime import local_calendar
from autoscaler.sandbox.scenario import Scenario
from autoscaler.sandbox.simulator import Simulator
from autoscaler.store.accounts import AdAccount, upsert_account
from autoscaler.store.holders import upsert_budget_holders
from autoscaler.store.snapshots import ensure_partitions, upsert_snapshots


def simulated_snapshots(scenario: Scenario, seed: int) -> tuple[Simulator, pd.DataFrame]:
    """Every holder's snapshot rows for the scenario's history (up to its start)."""
    sim = Simulator(scenario, seed)
    sim.advance_to(scenario.start)
    hours = sim.completed_hours
    delays = sim.delay_weights
    click_conv = np.vstack([sim.reported(k)[0] for k in range(hours)]).astype(float)
    click_rev = np.vstack([sim.reported(k)[1] for k in range(hours)])
    observed_conv = np.zeros_like(click_conv)
    observed_rev = np.zeros_like(click_rev)
    for d, weight in enumerate(delays):
        observed_conv[d:] += weight * click_conv[: hours - d]
        observed_rev[d:] += weight * click_rev[: hours - d]
    frames = []
    for account in sim.accounts:
        idx = np.asarray([h.index for h in sim.holders if h.account_index == account.index])
        starts = pd.Series([sim.hour_start(k) for k in range(hours)])
        frame = pd.DataFrame(
            {
                "entity_id": np.tile(np.asarray([sim.holders[i].entity_id for i in idx]), hours),
                "hour_start": np.repeat(pd.to_datetime(starts, utc=True).to_numpy(), len(idx)),
                "account_id": account.account_id,
                "spend": np.vstack(sim.spend)[:, idx].ravel(),
                "impressions": np.vstack(sim.impressions)[:, idx].ravel(),
                "clicks": np.vstack(sim.clicks)[:, idx].ravel(),
                "conversions": np.rint(observed_conv[:, idx]).astype(np.int64).ravel(),
                "revenue": np.rint(observed_rev[:, idx]).astype(np.int64).ravel(),
            }
        )
        frame["hour_start"] = pd.to_datetime(frame["hour_start"], utc=True)
        frame = frame.join(local_calendar(frame["hour_start"], account.timezone))
        frame["revenue_source"] = "observed"
        frame["daily_budget"] = pd.array([None] * len(frame), dtype="Int64")  # not kept per hour here
        frame["status"] = None
        frame["effective_status"] = None
        frame["observed_at"] = frame["hour_start"] + pd.Timedelta(minutes=65)
        frames.append(frame)
    return sim, pd.concat(frames, ignore_index=True)


def load_into(engine: Engine, sim: Simulator, rows: pd.DataFrame, seen_at: datetime | None = None) -> None:
    """The accounts, budget holders and snapshot rows, stored as the hourly DAG would have."""
    seen = seen_at or sim.scenario.start
    with engine.begin() as conn:
        for account in sim.accounts:
            upsert_account(
                conn, AdAccount(account.account_id, account.currency, account.timezone, account.name)
            )
            holders = pd.DataFrame(
                [
                    {
                        "entity_id": h.entity_id,
                        "level": h.level,
                        "campaign_id": h.campaign_id,
                        "name": h.name,
                        "daily_budget": int(sim.budget[h.index]),
                        "status": "ACTIVE",
                        "effective_status": "ACTIVE",
                        "learning": False,
                    }
                    for h in sim.holders
                    if h.account_index == account.index
                ]
            )
            upsert_budget_holders(conn, account.account_id, holders, seen)
    ensure_partitions(engine, rows["hour_start"].unique())
    upsert_snapshots(engine, rows)


def hours_before(start: datetime, days: int) -> tuple[datetime, datetime]:
    return start - timedelta(days=days), start
