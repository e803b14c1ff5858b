"""Backtest: run a policy against the simulator hour by hour and count what it earned.

What a policy sees is what production would see (docs/backtest.md):

* every hour, the sandbox's Graph layer is asked, in-process, for the account's budget
  holders and the local day's insights to date, and its answer goes through the same
  functions as the hourly DAG's ``fetch`` and ``snapshot``: ``meta.frames`` (Graph rows to
  frames), ``metrics.live_hour`` (an hour from day-to-date totals) and, for the day before,
  ``metrics.settle_day`` (late purchases);
* the trailing window is summed from those snapshot rows over ``store.windows.window_bounds``,
  and ``hourly.decision_frame`` decides, exactly as the hourly ``decide`` step does;
* changes are written through the Graph layer (``GraphAPI.handle``), so Meta's rules apply:
  read-only accounts answer error 200, budgets below the minimum or above the cap are
  refused, four changes an hour, a budget only on the holder.  Refused writes are counted.

Before the period, the account runs in shadow mode for the rule's window plus a day, so the
first decision has a full window, as after ``docs/getting-started.md``'s shadow period.

Policies: ``static`` (budgets never change), ``seed`` (the seed's rule literally: its
thresholds on raw 24 h ROAS, no cooldown, no regard for learning or evidence),
``thresholds`` (this project's threshold rule with its defaults: evidence, a 72 h window,
a 2 h cooldown), ``allocator`` (the default strategy: docs/allocator.md; ``default`` names
it) and ``oracle`` (``autoscaler.oracle``: knows the world and
plans each budget's path; an upper bound checked by ``bound``).

Money: a run's spend is what was spent; its revenue is what the spend was worth in
expectation (the simulator's expected value of the purchases it caused, however late or
whether ever reported): luck in purchase draws neither flatters nor punishes a policy, and
the oracle, which plans on expectations, is comparable.  Totals are in US dollars at the
table in ``sandbox.fx`` (a scenario may override it), and per account in its own currency.
Wasted spend is spend in entity-hours whose expected return was below 1x.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from autoscaler import metrics, profiles
from autoscaler.allocator import HISTORY_COLUMNS, HISTORY_HOURS, AllocatorSettings
from autoscaler.hourly import decision_frame
from autoscaler.meta import frames
from autoscaler.meta.client import ADSET_FIELDS, INSIGHT_FIELDS, MetaConfig
from autoscaler.money import currency_offset
from autoscaler.rules import ScalingRule
from autoscaler.sandbox.graph import GraphAPI, GraphError
from autoscaler.sandbox.scenario import Scenario
from autoscaler.sandbox.simulator import Account, Simulator
from autoscaler.store.profiles import KERNEL_DAYS
from autoscaler.store.profiles import window as profile_window
from autoscaler.store.windows import window_bounds

POLICIES = ("static", "seed", "thresholds", "allocator", "allocator+time", "oracle")
RULE_POLICIES = ("seed", "thresholds", "allocator", "allocator+time")
# The daily profile DAG's schedule (dags/autoscaler_daily_profiles.py: 09:00 UTC) and window.
PROFILE_HOUR_UTC = 9
PROFILE_DAYS = 28
DEFAULT_POLICY = "allocator"  # what a new rule does (rules.ScalingRule's default strategy)
WRITES = ("scale_up_aggressive", "scale_up", "scale_down", "pause")
PURCHASE_TYPES: tuple[str, ...] = MetaConfig.__dataclass_fields__["purchase_action_types"].default  # type: ignore[assignment]
VERSION = "v0"


@dataclass(frozen=True)
class AccountTotals:
    account_id: str
    currency: str
    spend: float  # major units of the account's currency
    revenue: float
    profit: float


@dataclass(frozen=True)
class BacktestResult:
    scenario: str
    policy: str
    seed: int
    days: int
    holders: int
    spend: float  # USD
    revenue: float  # USD, the expected value of every purchase the period's spend caused
    wasted_spend: float  # USD
    changes: int  # budget and status writes Meta accepted
    refused: int  # writes Meta refused (read-only account, limits, 4 changes an hour, ...)
    reported_revenue: float = 0.0  # USD, the purchases drawn and reported by the end (what Meta shows)
    accounts: tuple[AccountTotals, ...] = field(default=())
    refused_by_code: dict[str, int] = field(default_factory=dict)

    @property
    def roas(self) -> float:
        return self.revenue / self.spend if self.spend else math.nan

    @property
    def profit(self) -> float:
        return self.revenue - self.spend

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "roas": round(self.roas, 4), "profit": round(self.profit, 2)}


def limits(sim: Simulator) -> dict[int, tuple[int, int]]:
    """Each account's budget limits (minor units): a quarter of its smallest starting budget
    to three times its largest, as `autoscaler demo` sizes its default rules."""
    out = {}
    for account in sim.accounts:
        budgets = sim.budget[sim.holder_account == account.index]
        if len(budgets):
            floor = round(sim.scenario.minimum_daily_budget * currency_offset(account.currency))
            out[account.index] = (max(int(budgets.min()) // 4, floor), int(budgets.max()) * 3)
    return out


def rule_for(policy: str, account_id: str, low: int, high: int) -> ScalingRule:
    settings: dict[str, Any] = {
        "rule_id": 1,
        "account_id": account_id,
        "min_daily_budget": low,
        "max_daily_budget": high,
    }
    settings["strategy"] = "allocator" if policy.startswith("allocator") else "thresholds"
    if policy == "allocator+time":
        # Time optimisation on, with the rule's other time settings at their defaults.
        settings["time_optimization_enabled"] = True
    if policy == "seed":
        # The seed's rule: a 24 h window, no cooldown, no learning-phase hold, any ROAS.
        settings.update(
            lookback_hours=24,
            cooldown_hours=0,
            allow_changes_during_learning=True,
            min_conversions=0,
            evidence_z=0,
        )
    return ScalingRule.parse(settings)


class Books:
    """What the period spent and earned, per entity in its currency's minor units."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.first_hour = sim.completed_hours
        n = len(sim.holders)
        self.spend = np.zeros(n)
        self.revenue = np.zeros(n)
        self.wasted = np.zeros(n)
        # Minor units of each entity's currency -> US dollars.
        self.to_usd = np.asarray(
            [
                1.0
                / currency_offset(sim.accounts[a].currency)
                / sim.scenario.usd_rate(sim.accounts[a].currency)
                for a in sim.holder_account
            ]
        )

    def close_hour(self, k: int) -> None:
        spend = self.sim.spend[k].astype(float)
        revenue = self.sim.expected_revenue[k]
        self.spend += spend
        self.revenue += revenue
        self.wasted += np.where(revenue < spend, spend, 0.0)

    def profit_by_entity(self) -> np.ndarray:
        out: np.ndarray = self.revenue - self.spend
        return out

    def reported_revenue_usd(self) -> float:
        total = 0.0
        for k in range(self.first_hour, self.sim.completed_hours):
            total += float((self.sim.reported(k)[1] * self.to_usd).sum())
        return total

    def result(
        self, scenario: Scenario, policy: str, seed: int, days: int, changes: int, refused: dict[str, int]
    ) -> BacktestResult:
        sim = self.sim
        accounts = []
        for account in sim.accounts:
            mine = sim.holder_account == account.index
            offset = currency_offset(account.currency)
            spend, revenue = float(self.spend[mine].sum()) / offset, float(self.revenue[mine].sum()) / offset
            accounts.append(
                AccountTotals(
                    account.account_id,
                    account.currency,
                    round(spend, 2),
                    round(revenue, 2),
                    round(revenue - spend, 2),
                )
            )
        return BacktestResult(
            scenario=scenario.name,
            policy=policy,
            seed=seed,
            days=days,
            holders=len(sim.holders),
            spend=round(float((self.spend * self.to_usd).sum()), 2),
            revenue=round(float((self.revenue * self.to_usd).sum()), 2),
            wasted_spend=round(float((self.wasted * self.to_usd).sum()), 2),
            changes=changes,
            refused=sum(refused.values()),
            reported_revenue=round(self.reported_revenue_usd(), 2),
            accounts=tuple(accounts),
            refused_by_code=dict(sorted(refused.items())),
        )


class Production:
    """One account as the hourly DAG sees it, on an in-memory snapshot store.

    Each hour it reads what the Graph layer answers and keeps the snapshot rows that
    ``metrics.live_hour`` and ``metrics.settle_day`` make of it, column by column; the
    database's four reads it stands in for (previous cumulative, the trailing window's sums,
    the day's rows, holder state) are the same plain filters and sums, and
    tests/integration/test_backtest_store.py checks them against the SQL on the same rows.
    """

    def __init__(
        self,
        graph: GraphAPI,
        account: Account,
        rules: list[ScalingRule],
        allocator: AllocatorSettings | None = None,
    ) -> None:
        self.graph = graph
        self.allocator = allocator
        self.sim = graph.sim
        self.account = account
        self.rules = rules
        self.lookback = max(r.lookback_hours for r in rules)
        self.ids = [h.entity_id for h in self.sim.holders if h.account_index == account.index]
        self.position = {e: i for i, e in enumerate(self.ids)}
        self.rows: dict[str, dict[int, np.ndarray]] = {m: {} for m in (*metrics.METRICS, "daily_budget")}
        self.observed: dict[int, np.ndarray] = {}  # which entities have a row for hour k
        self.local_date: dict[int, Any] = {}
        self.cumulative: dict[str, np.ndarray] | None = None
        self.cumulative_day: Any = None
        self.last_change: dict[str, pd.Timestamp] = {}
        self.settled_totals: tuple[Any, pd.DataFrame] | None = None
        self.final_day: Any = None  # the last local day whose totals can no longer change
        # When set, every snapshot frame and settlement made, in order (the store's conformance test).
        self.journal: list[tuple[str, pd.DataFrame]] | None = None
        self.holders = pd.DataFrame()
        # Time optimisation (a rule enables it): the daily run's profiles, and each managed
        # holder's base budget as the executed actions left it (budget_holders.base_daily_budget).
        self.timed = any(r.time_optimization_enabled for r in rules)
        self.local_hour: dict[int, int] = {}
        self.profile_ids: list[str] = []
        self.profile_confidence = np.zeros(0)
        self.profile_multiplier = np.zeros((0, profiles.HOURS))
        self.base: dict[str, int] = {}

    # ---- reads, as fetch and snapshot do them ------------------------------------------------

    def _get(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        params = {**params, "limit": "5000"}
        while True:
            page = self.graph.handle("GET", path, params, version=VERSION)
            assert isinstance(page, dict)
            rows.extend(page["data"])
            after = page.get("paging", {}).get("cursors", {}).get("after")
            if "next" not in page.get("paging", {}):
                return rows
            params = {**params, "after": after}

    def _insights(self, day: Any) -> pd.DataFrame:
        params = {
            "level": "adset",
            "fields": INSIGHT_FIELDS,
            "time_increment": "1",
            "time_range": f'{{"since":"{day.isoformat()}","until":"{day.isoformat()}"}}',
        }
        raw = frames.insights(
            self._get(f"{self.account.account_id}/insights", params), self.account.currency, PURCHASE_TYPES
        )
        return frames.per_holder(raw, self.holders)

    def observe(self, k: int) -> None:
        """The hourly run for hour k, read live at the end of it: fetch, snapshot, settle."""
        self.holders = frames.budget_holders(
            self._get(f"{self.account.account_id}/adsets", {"fields": ADSET_FIELDS})
        )
        hour = pd.Timestamp(self.sim.hour_start(k))
        now = pd.Timestamp(self.sim.now)
        day = hour.tz_convert(self.account.timezone).date()
        cumulative = self._insights(day)
        previous = self._previous(day)
        rows = metrics.live_hour(
            hour, self.account.timezone, self.account.account_id, self.holders, cumulative, previous, now
        )
        if self.journal is not None:
            self.journal.append(("snapshot", rows))
        at = np.asarray([self.position[e] for e in rows["entity_id"]], dtype=np.int64)
        n = len(self.ids)
        for m in metrics.METRICS:
            column = np.zeros(n, dtype=np.int64)
            column[at] = rows[m].to_numpy(dtype=np.int64)
            self.rows[m][k] = column
        budget = np.full(n, np.nan)
        budget[at] = rows["daily_budget"].to_numpy(dtype=float, na_value=np.nan)
        self.rows["daily_budget"][k] = budget
        seen = np.zeros(n, dtype=bool)
        seen[at] = True
        self.observed[k] = seen
        self.local_date[k] = day
        self.local_hour[k] = hour.tz_convert(self.account.timezone).hour
        to_date = {m: np.zeros(n, dtype=np.int64) for m in metrics.METRICS}
        for m in metrics.METRICS:
            to_date[m][at] = rows[metrics.TO_DATE[m]].to_numpy(dtype=np.int64)
        self.cumulative, self.cumulative_day = to_date, day
        self._settle(day - timedelta(days=1))
        if self.timed and now.hour == PROFILE_HOUR_UTC:
            self.learn_profiles(now.to_pydatetime())

    # ---- the daily profile run, as daily.learn_account does it -----------------------------------

    def learn_profiles(self, now: Any) -> None:
        """Replace the profiles from the last PROFILE_DAYS complete local days before ``now``."""
        start, end = profile_window(now, self.account.timezone, PROFILE_DAYS)
        kernel = profiles.delay_kernel(*self._lag_moments(start, end))
        learned = profiles.learn(self._hour_sums(start, end), None, kernel)
        self.profile_ids = [p.entity_id for p in learned]
        self.profile_confidence = np.asarray([p.confidence for p in learned], dtype=float)
        self.profile_multiplier = np.asarray([p.hour_multiplier for p in learned], dtype=float).reshape(
            len(learned), profiles.HOURS
        )

    def _hours(self, start: Any, end: Any) -> list[int]:
        return [h for h in range(self.sim.hour_index(start), self.sim.hour_index(end)) if h in self.observed]

    def _hour_sums(self, start: Any, end: Any) -> pd.DataFrame:
        """store.profiles.hour_sums: per entity and local hour, profiles.SUM_COLUMNS and day masks."""
        columns = ["entity_id", "local_hour", *profiles.SUM_COLUMNS, "days_lo", "days_hi"]
        hours = self._hours(start, end)
        if not hours:
            return pd.DataFrame(columns=columns)
        seen = np.stack([self.observed[h] for h in hours])  # hours x entities
        spend, revenue, conversions = (
            np.stack([self.rows[m][h] for h in hours]) * seen for m in ("spend", "revenue", "conversions")
        )
        paid = seen & (spend > 0)
        first_day = start.astimezone(ZoneInfo(self.account.timezone)).date()
        day = np.asarray([(self.local_date[h] - first_day).days for h in hours], dtype=np.uint64)
        bits = np.where(paid, (np.uint64(1) << day)[:, None], np.uint64(0))
        local = np.asarray([self.local_hour[h] for h in hours])
        ids = np.asarray(self.ids, dtype=object)
        s, r = spend.astype(np.float64), revenue.astype(np.float64)
        parts = []
        for hour in range(profiles.HOURS):
            at = local == hour
            present = seen[at].any(axis=0)
            if not present.any():
                continue
            parts.append(
                pd.DataFrame(
                    {
                        "entity_id": ids[present],
                        "local_hour": hour,
                        "n": paid[at].sum(axis=0)[present],
                        "spend": spend[at].sum(axis=0)[present],
                        "revenue": revenue[at].sum(axis=0)[present],
                        "conversions": conversions[at].sum(axis=0)[present],
                        "rr": (r[at] * r[at]).sum(axis=0)[present],
                        "rs": (r[at] * s[at]).sum(axis=0)[present],
                        "ss": (s[at] * s[at]).sum(axis=0)[present],
                        "days_lo": np.bitwise_or.reduce(bits[at], axis=0).view(np.int64)[present],
                        "days_hi": 0,
                    }
                )
            )
        if not parts:  # hours read, but no holder in them
            return pd.DataFrame(columns=columns)
        out = pd.concat(parts, ignore_index=True)
        for column in ("local_hour", "n", "spend", "revenue", "conversions", "days_lo", "days_hi"):
            out[column] = out[column].astype("int64")
        return out[columns]

    def _lag_moments(self, start: Any, end: Any) -> tuple[np.ndarray, np.ndarray]:
        """store.profiles.lag_moments over every entity (the store samples ~200 of a larger account)."""
        inside_from = max(start, end - timedelta(days=KERNEL_DAYS))
        first = self.sim.hour_index(inside_from)
        hours = self._hours(inside_from - timedelta(hours=profiles.MAX_DELAY_HOURS), end)
        if not hours:
            return np.zeros((profiles.MAX_DELAY_HOURS, profiles.MAX_DELAY_HOURS)), np.zeros(
                profiles.MAX_DELAY_HOURS
            )
        seen = np.stack([self.observed[h] for h in hours]).T.ravel()  # entity-major, hours in order
        rows = pd.DataFrame(
            {
                "entity_id": np.repeat(np.asarray(self.ids, dtype=object), len(hours))[seen],
                "spend": np.stack([self.rows["spend"][h] for h in hours]).T.ravel()[seen],
                "revenue": np.stack([self.rows["revenue"][h] for h in hours]).T.ravel()[seen],
                "inside": np.tile(np.asarray(hours) >= first, len(self.ids))[seen],
            }
        )
        return profiles.lagged_moments(rows)

    def _multipliers(self, local_hour: int) -> pd.DataFrame:
        """store.profiles.hour_multipliers: each profile's confidence and multiplier for the hour."""
        return pd.DataFrame(
            {
                "entity_id": pd.Series(self.profile_ids, dtype=object),
                "confidence": self.profile_confidence,
                "multiplier": self.profile_multiplier[:, local_hour] if len(self.profile_ids) else [],
            }
        )

    def _previous(self, day: Any) -> pd.DataFrame:
        """previous_cumulative: the latest earlier live read of the same local day."""
        if self.cumulative is None or self.cumulative_day != day:
            return pd.DataFrame(columns=["entity_id", *metrics.TO_DATE.values()])
        frame = pd.DataFrame({"entity_id": self.ids})
        for m, column in metrics.TO_DATE.items():
            frame[column] = self.cumulative[m]
        return frame

    def _settle(self, yesterday: Any) -> None:
        if yesterday == self.final_day:
            return
        hours = [k for k, d in self.local_date.items() if d == yesterday]
        if not hours:
            return
        # Once every hour of the day is past its last reporting delay, Meta's totals for it
        # cannot change: one more settlement, then none (settling to the same totals is a no-op).
        final = all(self.sim.conversions_final[k] is not None for k in hours)
        totals = self._insights(yesterday)
        if final:
            self.final_day = yesterday
        if (
            self.settled_totals is not None
            and self.settled_totals[0] == yesterday
            and self.settled_totals[1].equals(totals)
        ):
            return  # settling again to the same totals changes nothing (settle_day is idempotent)
        self.settled_totals = (yesterday, totals)
        parts = []
        for k in hours:
            seen = self.observed[k]
            parts.append(
                pd.DataFrame(
                    {
                        "entity_id": np.asarray(self.ids, dtype=object)[seen],
                        "hour_start": pd.Timestamp(self.sim.hour_start(k)),
                        **{m: self.rows[m][k][seen] for m in ("spend", "conversions", "revenue")},
                    }
                )
            )
        day_rows = pd.concat(parts, ignore_index=True)
        settled = metrics.settle_day(day_rows, totals)
        if settled.empty:
            return
        if self.journal is not None:
            self.journal.append(("settlement", settled))
        k_of = {pd.Timestamp(self.sim.hour_start(k)): k for k in hours}
        for entity, start, conversions, revenue in zip(
            settled["entity_id"],
            settled["hour_start"],
            settled["conversions"],
            settled["revenue"],
            strict=True,
        ):
            k, i = k_of[pd.Timestamp(start)], self.position[entity]
            self.rows["conversions"][k][i] = int(conversions)
            self.rows["revenue"][k][i] = int(revenue)

    # ---- decide, as the decide step does it ----------------------------------------------------

    def _window(self, k: int) -> pd.DataFrame:
        """trailing_window: per entity, sums over the snapshot hours inside window_bounds."""
        start, end = window_bounds(self.sim.hour_start(k), self.lookback)
        first, last = self.sim.hour_index(start), self.sim.hour_index(end)
        hours = [h for h in range(first, last) if h in self.observed]
        n = len(self.ids)
        frame = pd.DataFrame({"entity_id": self.ids})
        for m in metrics.METRICS:
            frame[m] = np.sum([self.rows[m][h] for h in hours], axis=0) if hours else np.zeros(n, np.int64)
        frame["hours"] = np.sum([self.observed[h] for h in hours], axis=0) if hours else np.zeros(n, np.int64)
        return frame[frame["hours"] > 0].reset_index(drop=True)

    def _state(self) -> pd.DataFrame:
        """holder_state: the holders as last read, with locks, base budgets and last changes."""
        state = self.holders[
            ["entity_id", "level", "campaign_id", "daily_budget", "status", "learning"]
        ].copy()
        state["locked"] = False
        state["base_daily_budget"] = pd.array(
            [self.base.get(e, pd.NA) for e in state["entity_id"]], dtype="Int64"
        )
        state["last_budget_change_at"] = pd.to_datetime(
            pd.Series([self.last_change.get(e) for e in state["entity_id"]], dtype=object), utc=True
        )
        return state

    def decide(self, k: int) -> pd.DataFrame:
        local_hour = pd.Timestamp(self.sim.hour_start(k + 1)).tz_convert(self.account.timezone).hour
        history = self._history(k) if self.allocator is not None else None
        return decision_frame(
            self._state(),
            self._window(k),
            self.rules,
            self._multipliers(local_hour),
            local_hour,
            pd.Timestamp(self.sim.now),
            history,
            seed=k,
            allocator=self.allocator,
        )

    def _history(self, k: int) -> pd.DataFrame:
        """The holders' hourly rows of the last two weeks, as the allocator reads them from the store."""
        hours = [h for h in range(k - HISTORY_HOURS + 1, k + 1) if h in self.observed]
        if not hours:
            return pd.DataFrame(columns=list(HISTORY_COLUMNS))
        seen = np.stack([self.observed[h] for h in hours]).ravel()
        ids = np.tile(np.asarray(self.ids, dtype=object), len(hours))
        age = np.repeat(k - np.asarray(hours), len(self.ids))
        columns = {
            m: np.stack([self.rows[m][h] for h in hours]).ravel()[seen]
            for m in ("spend", "revenue", "conversions", "daily_budget")
        }
        return pd.DataFrame({"entity_id": ids[seen], "age_hours": age[seen], **columns})

    def write(self, decided: pd.DataFrame, refused: dict[str, int]) -> int:
        """Write the hour's changes through the Graph layer, as execute does; returns the writes accepted.

        A holder under time optimisation is written the hour's target (its base times the
        hour's multiplier) and keeps the action's base; a time adjustment is not a budget
        change for the cooldown (store.windows.holder_state).
        """
        acting = decided["action"].isin(WRITES).to_numpy()
        timed = (decided["time_action"].astype(str) != "").to_numpy() & ~acting
        managed = decided["managed"].to_numpy(dtype=bool)
        budget = np.where(managed, decided["target"], decided["new_daily_budget"]).astype(np.int64)
        base = np.where(acting, decided["base_new"], decided["base_now"]).astype(np.int64)
        done = 0
        for at in np.flatnonzero(acting | timed).tolist():
            entity_id, action = str(decided["entity_id"].iat[at]), str(decided["action"].iat[at])
            pausing = acting[at] and action == "pause"
            params = {"status": "PAUSED"} if pausing else {"daily_budget": str(int(budget[at]))}
            try:
                self.graph.handle("POST", entity_id, params, version=VERSION)
            except GraphError as exc:
                code = str(exc.body.get("code"))
                subcode = exc.body.get("error_subcode")
                key = f"{code}/{subcode}" if subcode else code
                refused[key] = refused.get(key, 0) + 1
                continue
            done += 1
            if managed[at] and not pausing:
                self.base[entity_id] = int(base[at])
            if acting[at] and not pausing:
                self.last_change[entity_id] = pd.Timestamp(self.sim.now)
        return done


def _simulator(scenario: Scenario, seed: int, warmup_hours: int) -> Simulator:
    """A simulator whose clock stands ``warmup_hours`` before the scenario's start (or at its origin)."""
    origin = scenario.start - timedelta(days=scenario.history_days)
    clock = max(origin, scenario.start - timedelta(hours=warmup_hours))
    return Simulator(scenario, seed=seed, clock=clock)


def _step(sim: Simulator) -> int:
    """Simulate the hour now running and move the clock to its end; returns its index."""
    k = sim.completed_hours
    sim.advance_to(sim.hour_start(k + 1))
    return k


def _checked(policy: str, days: int) -> str:
    """The policy's name (``default``: the default strategy's), or ValueError naming the field."""
    policy = DEFAULT_POLICY if policy == "default" else policy
    if policy not in POLICIES:
        raise ValueError(f"policy: one of {', '.join(POLICIES)} or default, not {policy!r}")
    if days < 1:
        raise ValueError(f"days: must be at least 1, got {days}")
    return policy


def run(
    scenario: Scenario,
    *,
    days: int,
    seed: int,
    policy: str,
    progress: Callable[[int, int], None] | None = None,
    allocator: AllocatorSettings | None = None,
) -> BacktestResult:
    """One policy over ``days`` days of the scenario (``allocator``: the allocator's settings,
    default AllocatorSettings())."""
    policy = _checked(policy, days)
    if policy == "oracle":
        from autoscaler.oracle import run_oracle

        return run_oracle(scenario, days=days, seed=seed, progress=progress)
    warmup = 0
    if policy in RULE_POLICIES:
        # Every rule policy gets the same shadow period, so they differ only in how they decide:
        # enough for the profiles' 28 days (and the thresholds' window plus a day), as far as
        # the scenario has history.
        warmup = max(PROFILE_DAYS * 24, rule_for("thresholds", "act_0", 1, 1).lookback_hours + 24)
    allocator = (allocator or AllocatorSettings()) if policy.startswith("allocator") else None
    sim = _simulator(scenario, seed, warmup)
    bounds = limits(sim)
    graph = GraphAPI(sim)
    accounts = [
        Production(graph, a, [rule_for(policy, a.account_id, *bounds[a.index])], allocator)
        for a in sim.accounts
        if a.index in bounds and policy in RULE_POLICIES
    ]
    while sim.now < scenario.start:  # the shadow period: observe, decide nothing
        k = _step(sim)
        for account in accounts:
            account.observe(k)
    books = Books(sim)
    changes, refused = 0, dict[str, int]()
    hours = days * 24
    for step in range(hours):
        k = _step(sim)
        books.close_hour(k)
        for account in accounts:
            account.observe(k)
            changes += account.write(account.decide(k), refused)
        if progress is not None:
            progress(step + 1, hours)
    return books.result(scenario, policy, seed, days, changes, refused)


def bound(sim: Simulator, first_hour: int, bounds: dict[int, tuple[int, int]]) -> np.ndarray:
    """Per entity, an upper bound on the profit any policy within ``bounds`` could have made
    over the simulated hours from ``first_hour`` (minor units of its currency).

    For each entity-hour, the best of pausing and of the budget b in [low, min(high, ceiling)]
    that maximises rate x (efficiency x roas_at(b) x b - b): the spend a budget can buy in an
    hour is at most rate x b (the day's 125% cap only lowers it; rounding adds at most half a
    minor unit), learning only lowers return,
    and the hour's rate and efficiency do not depend on the policy.  Nothing can do better.
    """
    low = np.asarray([bounds[a][0] for a in sim.holder_account], dtype=float)
    high = np.minimum(np.asarray([bounds[a][1] for a in sim.holder_account], dtype=float), sim.ceiling)
    e = sim.elasticity
    scale = sim.roas0 * np.power(sim.base_budget, 1.0 - e)  # revenue at budget b: scale * b**e
    total = np.zeros(len(sim.holders))
    for k in range(first_hour, sim.completed_hours):
        gain = scale * sim.efficiency[k]
        best = np.power(e * np.maximum(gain, 1e-300), 1.0 / (1.0 - e))
        b = np.clip(best, low, np.maximum(high, low))
        # Spend is rounded to the minor unit: half a unit more, at the best margin there is.
        rounding = 0.5 * np.maximum(gain * np.power(low, e - 1.0) - 1.0, 0.0) * (sim.delivery_rate[k] > 0)
        total += np.maximum(sim.delivery_rate[k] * (gain * np.power(b, e) - b), 0.0) + rounding
    return total
