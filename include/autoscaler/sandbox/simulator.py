"""The campaign simulator behind the sandbox: deterministic, with a virtual clock.

The unit of simulation is the *budget holder* (a CBO campaign, or an ABO ad set): it has a
true return curve with diminishing returns on budget, hour-of-day and day-of-week effects,
a CTR and a CPM, and pays out conversions that are reported late.  CBO campaigns' ad sets
get fixed shares of their campaign's delivery.

Hours are simulated once, when the clock passes their end, with the budgets and statuses in
force then; writes take effect from the hour they are made in.  Random draws come from
streams seeded by (seed, hour, quantity), so the same scenario, seed and sequence of writes
give the same numbers whatever is queried in between.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from autoscaler.money import currency_offset
from autoscaler.sandbox.scenario import CampaignGroup, Scenario

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Share of a day's delivery in each local hour (people sleep; evenings are busy).
TRAFFIC = np.array(
    [
        1.2,
        0.8,
        0.6,
        0.5,
        0.5,
        0.7,
        1.3,
        2.4,
        3.6,
        4.4,
        4.8,
        5.0,
        5.2,
        5.1,
        5.0,
        5.0,
        5.2,
        5.6,
        6.2,
        6.8,
        7.0,
        6.4,
        4.6,
        2.6,
    ]
)
TRAFFIC = TRAFFIC / TRAFFIC.sum()
WEEKDAY_EFFECT = np.array([0.97, 0.98, 1.0, 1.0, 1.02, 1.05, 1.03])  # Monday .. Sunday
MAX_DAILY_OVERDELIVERY = 1.25  # Meta may spend up to 125% of a daily budget on one day
BUDGET_CHANGES_PER_HOUR = 4
SIGNIFICANT_EDIT = 0.2  # a budget change of 20% or more restarts learning
USD_CAP = 1_000_000  # Meta caps daily and lifetime budgets at USD 1M (error 1885261)
_USD_RATE = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 150.0, "KRW": 1350.0, "CAD": 1.36, "AUD": 1.52}


class SimulatorError(Exception):
    """A request the simulated Meta refuses; carries Meta's error fields."""

    def __init__(
        self, message: str, code: int, subcode: int | None = None, *, user_title: str = "", user_msg: str = ""
    ) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.user_title = user_title
        self.user_msg = user_msg


@dataclass
class Holder:
    """Static facts of one budget holder (the varying state lives in arrays)."""

    index: int
    entity_id: str
    level: str  # campaign (CBO) or adset (ABO)
    campaign_id: str
    account_index: int
    name: str
    adset_ids: tuple[str, ...]
    adset_shares: tuple[float, ...]


@dataclass
class Account:
    index: int
    account_id: str
    name: str
    currency: str
    timezone: str
    zone: ZoneInfo
    read_only: bool = False


class Simulator:
    """All accounts of a scenario, simulated hour by hour up to the virtual clock."""

    def __init__(self, scenario: Scenario, seed: int = 0) -> None:
        self.scenario = scenario
        self.seed = seed
        self.origin = scenario.start - timedelta(days=scenario.history_days)
        self.accounts: list[Account] = [
            Account(i, a.account_id, a.name, a.currency, a.timezone, ZoneInfo(a.timezone), a.read_only)
            for i, a in enumerate(scenario.accounts)
        ]
        self.account_by_id = {a.account_id: a for a in self.accounts}
        self.holders: list[Holder] = []
        self._build(scenario)
        self.holder_by_id = {h.entity_id: h for h in self.holders}
        self.adset_owner: dict[str, tuple[Holder, int]] = {
            adset: (h, j) for h in self.holders for j, adset in enumerate(h.adset_ids)
        }
        self.delay_weights = np.asarray(scenario.attribution_delay, dtype=float)
        n = len(self.holders)
        # Varying state, by holder index.
        self.budget = self._initial_budget.copy()
        self.active = self._initial_active.copy()
        self.learning_until = np.full(n, -1, dtype=np.int64)
        self.last_significant_edit = np.full(n, np.nan)
        self._change_times: dict[int, list[float]] = {}
        self.history: list[dict[str, Any]] = []  # every write: when, what, before, after
        # Per simulated hour k: delivery, and conversions by reporting delay until settled.
        self.spend: list[IntArray] = []
        self.impressions: list[IntArray] = []
        self.clicks: list[IntArray] = []
        self.conversions_final: list[IntArray | None] = []
        self.revenue_final: list[FloatArray | None] = []
        self._pending: dict[int, tuple[IntArray, FloatArray]] = {}
        self._day_spend = np.zeros(n)
        self._day_key = np.full(n, -1, dtype=np.int64)
        self.now = self.origin
        self.advance_to(scenario.start)

    # ---- construction -------------------------------------------------------------------

    def _build(self, scenario: Scenario) -> None:
        rng = np.random.default_rng([self.seed, 1_000_001])
        budgets: list[int] = []
        params: dict[str, list[float]] = {k: [] for k in ("roas", "ctr", "cpm", "aov", "elasticity")}
        effects: list[FloatArray] = []
        self.planted_peaks: dict[str, list[int]] = {}
        self.planted_valleys: dict[str, list[int]] = {}
        actives: list[bool] = []
        serial = 0
        for a_index, spec in enumerate(scenario.accounts):
            offset = currency_offset(spec.currency)
            account_digits = spec.account_id[4:]
            for group in spec.groups:
                for _ in range(group.count):
                    serial += 1
                    campaign_id = f"1202{int(account_digits) % 10**6:06d}{serial:07d}0"
                    if group.kind == "cbo":
                        units = [
                            (
                                campaign_id,
                                "campaign",
                                tuple(f"{campaign_id[:-1]}{j + 1}" for j in range(group.adsets_per_campaign)),
                            )
                        ]
                    else:
                        units = [
                            (f"{campaign_id[:-1]}{j + 1}", "adset", (f"{campaign_id[:-1]}{j + 1}",))
                            for j in range(group.adsets_per_campaign)
                        ]
                    for entity_id, level, adsets in units:
                        shares = rng.dirichlet(np.full(len(adsets), 4.0)) if len(adsets) > 1 else np.ones(1)
                        self.holders.append(
                            Holder(
                                index=len(self.holders),
                                entity_id=entity_id,
                                level=level,
                                campaign_id=campaign_id,
                                account_index=a_index,
                                name=f"{spec.name} {group.kind.upper()} {serial}"
                                + ("" if level == "campaign" else f".{entity_id[-1]}"),
                                adset_ids=adsets,
                                adset_shares=tuple(float(s) for s in shares),
                            )
                        )
                        budgets.append(self._draw_budget(rng, group, offset))
                        for key, bounds in (
                            ("roas", group.roas),
                            ("ctr", group.ctr),
                            ("cpm", group.cpm),
                            ("aov", group.order_value),
                            ("elasticity", group.elasticity),
                        ):
                            value = rng.uniform(*bounds)
                            params[key].append(value * offset if key in ("cpm", "aov") else value)
                        effects.append(self._hour_effect(rng, group, entity_id))
                        actives.append(bool(rng.random() >= group.paused_share))
        self._initial_budget = np.asarray(budgets, dtype=np.int64)
        self._initial_active = np.asarray(actives, dtype=bool)
        self.base_budget = self._initial_budget.astype(float)
        self.roas0 = np.asarray(params["roas"])
        self.ctr = np.asarray(params["ctr"])
        self.cpm = np.asarray(params["cpm"])
        self.aov = np.asarray(params["aov"])
        self.elasticity = np.asarray(params["elasticity"])
        self.hour_effect = np.vstack(effects) if effects else np.ones((0, 24))
        self.holder_account = np.asarray([h.account_index for h in self.holders], dtype=np.int64)

    @staticmethod
    def _draw_budget(rng: np.random.Generator, group: CampaignGroup, offset: int) -> int:
        low, high = group.daily_budget
        major = math.exp(rng.uniform(math.log(low), math.log(high))) if low > 0 else rng.uniform(low, high)
        return max(round(major) * offset, offset)

    def _hour_effect(self, rng: np.random.Generator, group: CampaignGroup, entity_id: str) -> FloatArray:
        hours = np.arange(24)
        if group.hour_effects == "flat":
            effect = np.ones(24)
        elif group.hour_effects == "mild":
            phase = rng.uniform(0, 24)
            effect = 1.0 + 0.12 * np.cos(2 * np.pi * (hours - phase) / 24)
        else:
            # Planted: a contiguous run of peak hours in the active day and of valley hours.
            peak_start = int(rng.integers(8, 20))
            valley_start = int((peak_start + rng.integers(8, 14)) % 24)
            peaks = [(peak_start + i) % 24 for i in range(3)]
            valleys = [(valley_start + i) % 24 for i in range(3) if (valley_start + i) % 24 not in peaks]
            effect = np.ones(24)
            effect[peaks] = 1.6
            effect[valleys] = 0.5
            self.planted_peaks[entity_id] = sorted(peaks)
            self.planted_valleys[entity_id] = sorted(valleys)
        # Normalise so the delivery-weighted mean effect is 1: the effect moves value between hours.
        return effect / float(np.dot(effect, TRAFFIC))

    # ---- time ---------------------------------------------------------------------------

    def hour_index(self, when: datetime) -> int:
        """Index of the hour containing ``when`` (0 = the first simulated hour)."""
        return int((when - self.origin).total_seconds() // 3600)

    def hour_start(self, k: int) -> datetime:
        return self.origin + timedelta(hours=k)

    @property
    def completed_hours(self) -> int:
        """Hours whose delivery is known at the current clock."""
        return len(self.spend)

    @lru_cache(maxsize=200_000)  # noqa: B019 - the simulator lives as long as its cache should
    def _local(self, account_index: int, k: int) -> tuple[int, int, int]:
        """(local date ordinal, local hour, weekday) of hour k for an account."""
        local = self.hour_start(k).astimezone(self.accounts[account_index].zone)
        return local.toordinal(), local.hour, local.weekday()

    def local_day_hours(self, account_index: int, day: date) -> range:
        """The hour indices making up one local calendar day (23, 24 or 25 of them)."""
        zone = self.accounts[account_index].zone
        start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        nxt = day + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).astimezone(UTC)
        return range(self.hour_index(start), self.hour_index(end))

    def local_today(self, account_index: int) -> date:
        return self.now.astimezone(self.accounts[account_index].zone).date()

    def advance_to(self, when: datetime) -> None:
        """Move the clock forward to ``when``, simulating every hour that completes."""
        when = when.astimezone(UTC)
        if when < self.now:
            raise SimulatorError(
                f"the clock cannot go back from {self.now.isoformat()} to {when.isoformat()}", 100
            )
        target = self.hour_index(when)
        while self.completed_hours < target:
            self._simulate_hour(self.completed_hours)
        self.now = when

    # ---- one hour -----------------------------------------------------------------------

    def _stream(self, k: int, quantity: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, k, quantity])

    def _simulate_hour(self, k: int) -> None:
        n = len(self.holders)
        local = np.asarray([self._local(a.index, k) for a in self.accounts], dtype=np.int64).reshape(-1, 3)
        day_key = local[self.holder_account, 0] if n else np.zeros(0, dtype=np.int64)
        local_hour = local[self.holder_account, 1] if n else np.zeros(0, dtype=np.int64)
        weekday = local[self.holder_account, 2] if n else np.zeros(0, dtype=np.int64)
        new_day = day_key != self._day_key
        self._day_spend[new_day] = 0.0
        self._day_key = day_key

        budget = self.budget.astype(float)
        daily_intent = np.clip(self._stream(k - k % 24, 1).normal(1.0, 0.08, n), 0.8, 1.2)
        wanted = budget * daily_intent * TRAFFIC[local_hour] * self._stream(k, 2).lognormal(0.0, 0.1, n)
        room = np.maximum(MAX_DAILY_OVERDELIVERY * budget - self._day_spend, 0.0)
        spend = np.where(self.active, np.minimum(wanted, room), 0.0).round()
        self._day_spend += spend

        impressions = (spend * 1000.0 / self.cpm * self._stream(k, 3).lognormal(0.0, 0.15, n)).round()
        impressions = np.where(spend > 0, np.maximum(impressions, 1), 0).astype(np.int64)
        clicks = self._stream(k, 4).binomial(impressions, np.clip(self.ctr, 0, 1)).astype(np.int64)

        learning = (self.learning_until > k).astype(float)
        efficiency = self.hour_effect[np.arange(n), local_hour] * WEEKDAY_EFFECT[weekday]
        efficiency *= 1.0 - (1.0 - self.scenario.learning_penalty) * learning
        roas_now = self.roas0 * np.power(np.maximum(budget, 1.0) / self.base_budget, self.elasticity - 1.0)
        expected_revenue = spend * roas_now * efficiency
        conversions = self._stream(k, 5).poisson(expected_revenue / self.aov).astype(np.int64)
        shape = 2.0
        revenue = self._stream(k, 6).gamma(np.maximum(conversions * shape, 1e-9), self.aov / shape)
        revenue = np.where(conversions > 0, revenue, 0.0)

        # Late attribution: split each hour's conversions over reporting delays.
        by_delay = (
            self._stream(k, 7).multinomial(conversions, self.delay_weights)
            if n
            else np.zeros((0, len(self.delay_weights)), dtype=np.int64)
        )
        share = np.divide(
            by_delay, conversions[:, None], out=np.zeros(by_delay.shape), where=conversions[:, None] > 0
        )
        self.spend.append(spend.astype(np.int64))
        self.impressions.append(impressions)
        self.clicks.append(clicks)
        self.conversions_final.append(None)
        self.revenue_final.append(None)
        self._pending[k] = (by_delay.astype(np.int64), share * revenue[:, None])
        settle = k - len(self.delay_weights) + 1
        if settle in self._pending:
            conv, rev = self._pending.pop(settle)
            self.conversions_final[settle] = conv.sum(axis=1)
            self.revenue_final[settle] = rev.sum(axis=1)

    # ---- what Meta reports --------------------------------------------------------------

    def reported(self, k: int) -> tuple[IntArray, FloatArray]:
        """Conversions and revenue of click hour k reported by the current clock."""
        if self.conversions_final[k] is not None:
            return self.conversions_final[k], self.revenue_final[k]  # type: ignore[return-value]
        conv, rev = self._pending[k]
        visible = max(self.completed_hours - k, 0)  # delays 0..visible-1 have been reported
        return conv[:, :visible].sum(axis=1), rev[:, :visible].sum(axis=1)

    def delivery(self, hours: range | list[int], holders: IntArray) -> dict[str, npt.NDArray[Any]]:
        """Summed delivery of ``holders`` over hour indices (only completed hours count)."""
        done = [k for k in hours if 0 <= k < self.completed_hours]
        out: dict[str, npt.NDArray[Any]] = {
            "spend": np.zeros(len(holders), dtype=np.int64),
            "impressions": np.zeros(len(holders), dtype=np.int64),
            "clicks": np.zeros(len(holders), dtype=np.int64),
            "conversions": np.zeros(len(holders), dtype=np.int64),
            "revenue": np.zeros(len(holders)),
        }
        for k in done:
            out["spend"] += self.spend[k][holders]
            out["impressions"] += self.impressions[k][holders]
            out["clicks"] += self.clicks[k][holders]
            conv, rev = self.reported(k)
            out["conversions"] += conv[holders]
            out["revenue"] += rev[holders]
        return out

    def is_learning(self, holder: Holder) -> bool:
        return bool(self.learning_until[holder.index] > self.completed_hours)

    # ---- writes -------------------------------------------------------------------------

    def _usd_cap(self, currency: str) -> int:
        rate = _USD_RATE.get(currency, 1.0)
        return int(USD_CAP * rate) * currency_offset(currency)

    def set_budget(self, holder: Holder, amount: int, actor: str = "api") -> None:
        """Set an absolute daily budget (minor units) from the current hour on."""
        account = self.accounts[holder.account_index]
        offset = currency_offset(account.currency)
        minimum = round(self.scenario.minimum_daily_budget * offset)
        if amount < minimum:
            raise SimulatorError(
                f"Invalid parameter: daily_budget must be at least {minimum}",
                100,
                1885272,
                user_title="Budget too low",
                user_msg=f"Your daily budget must be at least {minimum} (in {account.currency} minor units).",
            )
        if amount > self._usd_cap(account.currency):
            raise SimulatorError(
                "Invalid parameter: budget exceeds the maximum allowed",
                100,
                1885261,
                user_title="Budget too high",
                user_msg="Daily budgets cannot exceed the equivalent of USD 1,000,000.",
            )
        now = self.now.timestamp()
        recent = [t for t in self._change_times.get(holder.index, []) if now - t < 3600]
        if len(recent) >= BUDGET_CHANGES_PER_HOUR:
            raise SimulatorError(
                "(#17) User request limit reached: too many budget changes",
                17,
                1487632,
                user_title="Budget change limit reached",
                user_msg="This budget was changed 4 times in the last hour; try again later.",
            )
        before = int(self.budget[holder.index])
        if amount == before:
            return
        self._change_times[holder.index] = [*recent, now]
        self.budget[holder.index] = amount
        if abs(amount - before) / before >= SIGNIFICANT_EDIT:
            self.learning_until[holder.index] = self.hour_index(self.now) + self.scenario.learning_hours
            self.last_significant_edit[holder.index] = now
        self.history.append(
            {
                "at": self.now.isoformat(),
                "entity_id": holder.entity_id,
                "field": "daily_budget",
                "before": before,
                "after": amount,
                "actor": actor,
            }
        )

    def set_status(self, holder: Holder, status: str, actor: str = "api") -> None:
        if status not in ("ACTIVE", "PAUSED"):
            raise SimulatorError(
                f"Invalid parameter: status must be ACTIVE or PAUSED, got {status}", 100, 1815186
            )
        before = "ACTIVE" if self.active[holder.index] else "PAUSED"
        if before == status:
            return
        self.active[holder.index] = status == "ACTIVE"
        self.history.append(
            {
                "at": self.now.isoformat(),
                "entity_id": holder.entity_id,
                "field": "status",
                "before": before,
                "after": status,
                "actor": actor,
            }
        )

    def status_of(self, holder: Holder) -> str:
        return "ACTIVE" if self.active[holder.index] else "PAUSED"
