"""The campaign simulator behind the sandbox: deterministic, with a virtual clock.

The unit of simulation is the *budget holder* (a CBO campaign, or an ABO ad set): it has a
true return curve with diminishing returns on budget, hour-of-day and day-of-week effects,
a CTR and a CPM, and pays out conversions that are reported late.  CBO campaigns' ad sets
get fixed shares of their campaign's delivery.

The world may change (each a scenario field, docs/sandbox.md): creative fatigue by age with
refreshes, shocks to return, CPM or reporting over a time range, seasons by local date and
weekday, an audience ceiling past which a budget under-delivers, entities launched mid-run,
CBO ad-set shares that drift, and learning that ends after about 50 purchases or the
configured hours, whichever first.  Every one of them is fixed by the scenario and the seed,
never by what a policy does, so what a budget path earns can be computed for any path.

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
# The shape of the day-of-week effect, Monday .. Sunday; the scenario's weekday_amplitude
# scales it (0.05: 0.97 on Mondays to 1.05 on Saturdays).
WEEKDAY_SHAPE = np.array([-0.6, -0.4, 0.0, 0.0, 0.4, 1.0, 0.6])
MAX_DAILY_OVERDELIVERY = 1.25  # Meta may spend up to 125% of a daily budget on one day
GOOGLE_MAX_DAILY_OVERDELIVERY = 2.0  # Google Ads: up to 2x the average daily budget on one day
BUDGET_CHANGES_PER_HOUR = 4
LEARNING_WINDOW_HOURS = 7 * 24  # learning ends after ~50 purchases within 7 days of its start
USD_CAP = 1_000_000  # Meta caps daily and lifetime budgets at USD 1M (error 1885261)


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
    platform: str = "meta"  # or google: served by the Google Ads sandbox (sandbox/google)


class Simulator:
    """All accounts of a scenario, simulated hour by hour up to the virtual clock."""

    def __init__(self, scenario: Scenario, seed: int = 0, clock: datetime | None = None) -> None:
        self.scenario = scenario
        self.seed = seed
        self.origin = scenario.start - timedelta(days=scenario.history_days)
        self.accounts: list[Account] = [
            Account(
                i, a.account_id, a.name, a.currency, a.timezone, ZoneInfo(a.timezone), a.read_only, a.platform
            )
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
        # What each hour was worth in expectation, and the policy-independent parts of it
        # (backtest.py scores on these, and bounds every policy with them).
        self.expected_revenue: list[FloatArray] = []
        self.delivery_rate: list[
            FloatArray
        ] = []  # spend per unit of deliverable budget, before the day's cap
        self.efficiency: list[FloatArray] = []  # return multiplier from time, season, shocks, fatigue
        self._learning_start = np.full(n, -1, dtype=np.int64)
        self._learning_conversions = np.zeros(n)
        self._day_spend = np.zeros(n)
        self._day_key = np.full(n, -1, dtype=np.int64)
        self.now = self.origin
        self.advance_to(scenario.start if clock is None else clock)

    # ---- construction -------------------------------------------------------------------

    def _build(self, scenario: Scenario) -> None:
        rng = np.random.default_rng([self.seed, 1_000_001])
        budgets: list[int] = []
        params: dict[str, list[float]] = {k: [] for k in ("roas", "ctr", "cpm", "aov", "elasticity")}
        effects: list[FloatArray] = []
        self.planted_peaks: dict[str, list[int]] = {}
        self.planted_valleys: dict[str, list[int]] = {}
        actives: list[bool] = []
        group_of: list[CampaignGroup] = []
        serial = 0
        for a_index, spec in enumerate(scenario.accounts):
            offset = currency_offset(spec.currency)
            account_digits = spec.account_id.removeprefix("act_")
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
                        group_of.append(group)
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
        google = np.asarray([a.platform == "google" for a in self.accounts], dtype=bool)
        self.overdelivery = np.where(google, GOOGLE_MAX_DAILY_OVERDELIVERY, MAX_DAILY_OVERDELIVERY)[
            self.holder_account
        ]
        self._build_world(scenario, group_of)

    def _build_world(self, scenario: Scenario, group_of: list[CampaignGroup]) -> None:
        """Per-entity facts of a changing world, from their own stream (the draws above stay as they were)."""
        rng = np.random.default_rng([self.seed, 1_000_002])
        n = len(self.holders)
        self.launch_hour = np.zeros(n, dtype=np.int64)  # hour index from which an entity exists
        self.launches_mid_run = np.zeros(n, dtype=bool)
        self.ceiling = np.full(n, np.inf)  # deliverable daily budget, minor units
        self.fatigue_half_life = np.full(n, np.inf)  # hours
        self.fatigue_floor = np.ones(n)
        self.refresh_period = np.full(n, np.inf)  # hours
        self.refresh_phase = np.zeros(n)
        self.share_drift = np.zeros(n)
        start_hour = self.hour_index(scenario.start)
        for i, group in enumerate(group_of):
            if group.launch_day is not None:
                self.launch_hour[i] = start_hour + round(24 * rng.uniform(*group.launch_day))
                self.launches_mid_run[i] = True
            if group.audience_ceiling is not None:
                self.ceiling[i] = rng.uniform(*group.audience_ceiling) * self.base_budget[i]
            if group.fatigue is not None:
                self.fatigue_half_life[i] = 24 * group.fatigue.half_life_days
                self.fatigue_floor[i] = group.fatigue.floor
                if group.fatigue.refresh_days is not None:
                    self.refresh_period[i] = 24 * group.fatigue.refresh_days
                    self.refresh_phase[i] = rng.uniform(0, self.refresh_period[i])
            self.share_drift[i] = group.share_drift
        # Which entities each shock hits: its account's (or all), then a seeded share of them.
        self.shock_masks: list[npt.NDArray[np.bool_]] = []
        for j, shock in enumerate(scenario.shocks):
            mask = np.ones(n, dtype=bool)
            if shock.account_id is not None:
                mask &= self.holder_account == self.account_by_id[shock.account_id].index
            picked = np.random.default_rng([self.seed, 1_000_003, j]).random(n) < shock.share
            self.shock_masks.append(mask & picked)
        self.shock_hours = [(self.hour_index(s.start), self.hour_index(s.end)) for s in scenario.shocks]
        self.weekday_effect = 1.0 + scenario.weekday_amplitude * WEEKDAY_SHAPE
        self._log_shares: dict[int, list[FloatArray]] = {}  # CBO share drift, by day, per holder

    def exists(self, k: int) -> npt.NDArray[np.bool_]:
        """Entities launched by hour k (earlier, Meta has no such object)."""
        launched: npt.NDArray[np.bool_] = self.launch_hour <= k
        return launched

    def fatigue(self, k: int) -> FloatArray:
        """Creative fatigue's multiplier on return at hour k (1: fresh)."""
        age = (k - self.launch_hour).astype(float)
        since_refresh = np.where(
            np.isfinite(self.refresh_period) & (age >= self.refresh_phase),
            np.mod(
                age - self.refresh_phase, np.where(np.isfinite(self.refresh_period), self.refresh_period, 1.0)
            ),
            age,
        )
        decay = np.power(0.5, np.maximum(since_refresh, 0.0) / self.fatigue_half_life)
        out: FloatArray = self.fatigue_floor + (1.0 - self.fatigue_floor) * decay
        return out

    def world(self, k: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(return factor, CPM factor, reported share) at hour k from shocks and seasons."""
        n = len(self.holders)
        roas, cpm, reported = np.ones(n), np.ones(n), np.ones(n)
        for (start, end), mask, shock in zip(
            self.shock_hours, self.shock_masks, self.scenario.shocks, strict=True
        ):
            if start <= k < end:
                roas[mask] *= shock.roas
                cpm[mask] *= shock.cpm
                reported[mask] *= shock.reported
        if self.scenario.seasons and n:
            days = np.asarray([date.fromordinal(self._local(a.index, k)[0]) for a in self.accounts])
            for season in self.scenario.seasons:
                hit = ((days >= season.start) & (days <= season.end))[self.holder_account]
                roas[hit] *= season.roas
                cpm[hit] *= season.cpm
        return roas, cpm, reported

    def adset_shares(self, holder: Holder, k: int) -> tuple[float, ...]:
        """A CBO campaign's ad-set shares of its delivery on hour k's day (they drift if asked)."""
        if self.share_drift[holder.index] == 0 or len(holder.adset_ids) < 2:
            return holder.adset_shares
        day = max(k, 0) // 24
        walk = self._log_shares.setdefault(holder.index, [np.log(np.asarray(holder.adset_shares))])
        while len(walk) <= day:
            step = np.random.default_rng([self.seed, 1_000_004, holder.index, len(walk)]).normal(
                0.0, self.share_drift[holder.index], len(holder.adset_ids)
            )
            walk.append(walk[-1] + step)
        weights = np.exp(walk[day] - walk[day].max())
        return tuple(float(w) for w in weights / weights.sum())

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
        new_day = day_key != self._day_key
        self._day_spend[new_day] = 0.0
        self._day_key = day_key

        exists = self.exists(k)
        launching = self.launches_mid_run & (self.launch_hour == k)
        if launching.any():  # a new entity starts in learning
            self.learning_until[launching] = k + self.scenario.learning_hours
            self._learning_start[launching] = k
            self._learning_conversions[launching] = 0.0
        budget = self.budget.astype(float)
        # Past the audience ceiling a budget buys nothing more: delivery and return follow
        # the budget the audience can absorb.
        deliverable = np.minimum(budget, self.ceiling)
        rate, efficiency, cpm_factor, reported_share = self.conditions(k)
        room = np.maximum(self.overdelivery * deliverable - self._day_spend, 0.0)
        spend = np.where(self.active & exists, np.minimum(deliverable * rate, room), 0.0).round()
        self._day_spend += spend

        drawn = (
            spend * 1000.0 / (self.cpm * cpm_factor) * self._stream(k, 3).lognormal(0.0, 0.15, n)
        ).round()
        impressions: IntArray = np.where(spend > 0, np.maximum(drawn, 1), 0).astype(np.int64)
        clicks = self._stream(k, 4).binomial(impressions, np.clip(self.ctr, 0, 1)).astype(np.int64)

        learning = self.learning_until > k
        penalty = np.where(learning, self.scenario.learning_penalty, 1.0)
        expected_revenue = spend * self.roas_at(deliverable) * efficiency * penalty
        expected_conversions = expected_revenue / self.aov
        conversions = self._stream(k, 5).poisson(expected_conversions).astype(np.int64)
        shape = 2.0
        revenue = self._stream(k, 6).gamma(np.maximum(conversions * shape, 1e-9), self.aov / shape)
        revenue = np.where(conversions > 0, revenue, 0.0)
        self._end_learning(k, learning, expected_conversions)

        # Late attribution: split each hour's conversions over reporting delays; what is
        # never reported (a pixel outage) is dropped from what Meta shows, not from revenue.
        by_delay: IntArray = (
            self._stream(k, 7).multinomial(conversions, self.delay_weights).astype(np.int64)
            if n
            else np.zeros((0, len(self.delay_weights)), dtype=np.int64)
        )
        share = np.divide(
            by_delay, conversions[:, None], out=np.zeros(by_delay.shape), where=conversions[:, None] > 0
        )
        value = share * revenue[:, None]
        if (reported_share < 1).any():
            shown = self._stream(k, 8).binomial(by_delay, np.clip(reported_share, 0, 1)[:, None])
            value = np.divide(value * shown, by_delay, out=np.zeros(value.shape), where=by_delay > 0)
            by_delay = shown.astype(np.int64)
        self.spend.append(spend.astype(np.int64))
        self.impressions.append(impressions)
        self.clicks.append(clicks)
        self.expected_revenue.append(expected_revenue)
        self.delivery_rate.append(rate)
        self.efficiency.append(efficiency)
        self.conversions_final.append(None)
        self.revenue_final.append(None)
        self._pending[k] = (by_delay.astype(np.int64), value)
        settle = k - len(self.delay_weights) + 1
        if settle in self._pending:
            conv, rev = self._pending.pop(settle)
            self.conversions_final[settle] = conv.sum(axis=1)
            self.revenue_final[settle] = rev.sum(axis=1)

    def conditions(self, k: int) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """What hour k is like, whatever the budgets: (delivery rate, efficiency, CPM factor,
        reported share).  Spend is min(deliverable budget x rate, the day's room); expected
        revenue is spend x roas_at(deliverable budget) x efficiency (x the learning penalty).
        Pure in (scenario, seed, k): the oracle plans with it ahead of time."""
        n = len(self.holders)
        local = np.asarray([self._local(a.index, k) for a in self.accounts], dtype=np.int64).reshape(-1, 3)
        local_hour = local[self.holder_account, 1] if n else np.zeros(0, dtype=np.int64)
        weekday = local[self.holder_account, 2] if n else np.zeros(0, dtype=np.int64)
        daily_intent = np.clip(self._stream(k - k % 24, 1).normal(1.0, 0.08, n), 0.8, 1.2)
        rate = daily_intent * TRAFFIC[local_hour] * self._stream(k, 2).lognormal(0.0, 0.1, n)
        rate = np.where(self.exists(k), rate, 0.0)
        roas_factor, cpm_factor, reported_share = self.world(k)
        # Dearer impressions buy fewer purchases per dollar: return falls with CPM.
        efficiency = (
            self.hour_effect[np.arange(n), local_hour]
            * self.weekday_effect[weekday]
            * roas_factor
            / cpm_factor
            * self.fatigue(k)
        )
        return rate, efficiency, cpm_factor, reported_share

    def roas_at(self, budget: FloatArray) -> FloatArray:
        """Each entity's true return at a deliverable daily budget, before time effects:
        revenue = spend * roas0 * (budget / base) ** (elasticity - 1)."""
        out: FloatArray = self.roas0 * np.power(
            np.maximum(budget, 1.0) / self.base_budget, self.elasticity - 1.0
        )
        return out

    def _end_learning(self, k: int, learning: npt.NDArray[np.bool_], conversions: FloatArray) -> None:
        """Learning ends after ``learning_conversions`` (expected) purchases within 7 days of its
        start, or after ``learning_hours``, whichever comes first (Meta's documented rule)."""
        target = self.scenario.learning_conversions
        if not target or not learning.any():
            return
        in_window = learning & (k - self._learning_start < LEARNING_WINDOW_HOURS)
        self._learning_conversions += np.where(in_window, conversions, 0.0)
        done = in_window & (self._learning_conversions >= target)
        self.learning_until[done] = k + 1

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
        return int(USD_CAP * self.scenario.usd_rate(currency)) * currency_offset(currency)

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
        # Meta's limit of 4 budget changes an hour; Google Ads has no such per-budget limit.
        if len(recent) >= BUDGET_CHANGES_PER_HOUR and account.platform == "meta":
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
        if abs(amount - before) / before >= self.scenario.learning_reset:
            k = self.hour_index(self.now)
            self.learning_until[holder.index] = k + self.scenario.learning_hours
            self._learning_start[holder.index] = k
            self._learning_conversions[holder.index] = 0.0
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
