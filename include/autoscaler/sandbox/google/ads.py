"""Google Ads semantics over the simulator: GAQL rows, budget and campaign mutates, errors.

Each Google Ads account of a scenario is a customer.  A simulator budget holder (a "cbo"
group's entity) is a ``CampaignBudget``; the campaigns that share it are its "ad sets" in the
simulator's terms (``Holder.adset_ids``), each taking its share of the budget's delivery, as
Meta's ad sets take theirs of a campaign budget.  A budget used by more than one campaign is
``explicitly_shared``.

Money is Google's: ``amount_micros`` and ``metrics.cost_micros`` in micros (1 currency unit =
1,000,000), ``metrics.conversions_value`` as a double in currency units.  ``segments.hour``
carries conversions and their value (unlike Meta's hourly breakdowns).  Transport, auth,
quotas and faults are the server's business (server.py); this module answers one call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Any

import grpc
import numpy as np
from google.ads.googleads.v26.errors.types import errors as ads_errors

from autoscaler.google.api import MAX_MUTATE_OPERATIONS, MICROS
from autoscaler.money import currency_offset
from autoscaler.sandbox.google import gaql
from autoscaler.sandbox.simulator import Account, Holder, Simulator

METRIC_KEYS = ("spend", "impressions", "clicks", "conversions", "revenue")
_BUDGET_NAME = re.compile(r"^customers/([0-9]{10})/campaignBudgets/([0-9]+)$")
_CAMPAIGN_NAME = re.compile(r"^customers/([0-9]{10})/campaigns/([0-9]+)$")


class AdsFailure(Exception):
    """A failed call: the gRPC status and the GoogleAdsFailure's errors."""

    def __init__(self, status: grpc.StatusCode, errors: Sequence[ads_errors.GoogleAdsError]) -> None:
        super().__init__(errors[0].message if errors else status.name)
        self.status = status
        self.errors = list(errors)


def error(
    kind: str,
    reason: str,
    message: str,
    *,
    index: int | None = None,
    field: str | None = None,
    retry_seconds: float | None = None,
) -> ads_errors.GoogleAdsError:
    """One GoogleAdsError: ``kind`` is the ErrorCode oneof (quota_error, ...), ``reason`` its enum name."""
    out = ads_errors.GoogleAdsError(message=message, error_code=ads_errors.ErrorCode(**{kind: reason}))
    if index is not None:
        path = [ads_errors.ErrorLocation.FieldPathElement(field_name="operations", index=index)]
        if field:
            path += [
                ads_errors.ErrorLocation.FieldPathElement(field_name="update"),
                ads_errors.ErrorLocation.FieldPathElement(field_name=field),
            ]
        out.location = ads_errors.ErrorLocation(field_path_elements=path)
    if retry_seconds is not None:
        out.details = ads_errors.ErrorDetails(
            quota_error_details=ads_errors.QuotaErrorDetails(
                rate_scope="ACCOUNT",
                rate_name="Requests per customer",
                retry_delay={"seconds": int(retry_seconds)},
            )
        )
    return out


def invalid(kind: str, reason: str, message: str, **where: Any) -> AdsFailure:
    return AdsFailure(grpc.StatusCode.INVALID_ARGUMENT, [error(kind, reason, message, **where)])


@dataclass(frozen=True)
class Mutated:
    """What a mutate did: a resource name per operation (None where it failed) and the failures."""

    results: list[str | None]
    errors: list[ads_errors.GoogleAdsError]


class GoogleAds:
    """The Google Ads accounts of one simulator, answering GAQL and mutates."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.customers: dict[str, Account] = {a.account_id: a for a in sim.accounts if a.platform == "google"}
        self.budgets: dict[str, list[Holder]] = {c: [] for c in self.customers}
        self.campaign_of: dict[str, tuple[Holder, int]] = {}
        # Campaign status is Google's own (a budget has none): a holder delivers while any of
        # the campaigns sharing it is enabled.
        self.campaign_status: dict[str, str] = {}
        for holder in sim.holders:
            account = sim.accounts[holder.account_index]
            if account.platform != "google":
                continue
            self.budgets[account.account_id].append(holder)
            for j, campaign in enumerate(holder.adset_ids):
                self.campaign_of[campaign] = (holder, j)
                self.campaign_status[campaign] = "ENABLED" if sim.active[holder.index] else "PAUSED"

    # ---- reads ---------------------------------------------------------------------------

    def _launched(self, holder: Holder) -> bool:
        return bool(self.sim.launch_hour[holder.index] <= self.sim.hour_index(self.sim.now))

    def _live_budgets(self, customer: str) -> list[Holder]:
        return [h for h in self.budgets[customer] if self._launched(h)]

    def search(self, customer_id: str, text: str) -> list[dict[str, Any]]:
        """The rows of a query, each a dict of selected field -> value (enums by name)."""
        try:
            query = gaql.parse(text)
        except gaql.QueryError as exc:
            raise invalid("query_error", exc.reason, str(exc)) from None
        account = self.customers[customer_id]
        if query.resource == "customer":
            rows: Iterator[dict[str, Any]] = iter([self._customer(account)])
        elif query.resource == "campaign_budget":
            rows = (self._budget(account, h) for h in self._live_budgets(customer_id))
        elif query.has_metrics or query.segments():
            rows = self._metric_rows(account, query)
        else:
            rows = (
                {**self._budget(account, h), **self._campaign(account, h, j)}
                for h in self._live_budgets(customer_id)
                for j in range(len(h.adset_ids))
            )
        out = [{f: row[f] for f in query.fields} for row in rows if _matches(row, query.conditions)]
        return out[: query.limit] if query.limit else out

    @staticmethod
    def _customer(account: Account) -> dict[str, Any]:
        return {
            "customer.id": int(account.account_id),
            "customer.resource_name": f"customers/{account.account_id}",
            "customer.descriptive_name": account.name,
            "customer.currency_code": account.currency,
            "customer.time_zone": account.timezone,
        }

    def _budget(self, account: Account, holder: Holder) -> dict[str, Any]:
        per_unit = MICROS // currency_offset(account.currency)
        return {
            **self._customer(account),
            "campaign_budget.id": int(holder.entity_id),
            "campaign_budget.resource_name": budget_name(account.account_id, holder.entity_id),
            "campaign_budget.name": holder.name,
            "campaign_budget.amount_micros": int(self.sim.budget[holder.index]) * per_unit,
            "campaign_budget.total_amount_micros": 0,
            "campaign_budget.explicitly_shared": len(holder.adset_ids) > 1,
            "campaign_budget.reference_count": len(holder.adset_ids),
            "campaign_budget.status": "ENABLED",
            "campaign_budget.period": "DAILY",
        }

    def _campaign(self, account: Account, holder: Holder, j: int) -> dict[str, Any]:
        campaign = holder.adset_ids[j]
        if self.sim.is_learning(holder):
            # Smart Bidding's learning: after a significant budget change, or a new campaign.
            edited = not np.isnan(self.sim.last_significant_edit[holder.index])
            bidding = "LEARNING_BUDGET_CHANGE" if edited else "LEARNING_NEW"
        else:
            bidding = "ENABLED"
        return {
            "campaign.id": int(campaign),
            "campaign.resource_name": f"customers/{account.account_id}/campaigns/{campaign}",
            "campaign.name": holder.name if len(holder.adset_ids) == 1 else f"{holder.name} #{j + 1}",
            "campaign.status": self.campaign_status[campaign],
            "campaign.campaign_budget": budget_name(account.account_id, holder.entity_id),
            "campaign.bidding_strategy_system_status": bidding,
        }

    def _dates(self, account: Account, query: gaql.Query) -> list[date]:
        """The local dates the query's segments.date conditions allow, up to today."""
        today = self.sim.local_today(account.index)
        low, high = date.min, today
        listed: set[date] | None = None
        for condition in (c for c in query.conditions if c.field == "segments.date"):
            values = [_date(v) for v in condition.values] if condition.op != "DURING" else []
            if condition.op == "BETWEEN":
                low, high = max(low, values[0]), min(high, values[1])
            elif condition.op == "DURING":
                first, last = _during(str(condition.values[0]), today)
                low, high = max(low, first), min(high, last)
            elif condition.op in ("=", "IN"):
                listed = set(values) if listed is None else listed & set(values)
            elif condition.op in (">", ">="):
                low = max(low, values[0] + timedelta(days=1 if condition.op == ">" else 0))
            elif condition.op in ("<", "<="):
                high = min(high, values[0] - timedelta(days=1 if condition.op == "<" else 0))
        if listed is not None:
            return sorted(d for d in listed if low <= d <= high)
        if low == date.min:
            low = high  # unsegmented metrics without a date filter: today, as Google's default
        return [low + timedelta(days=i) for i in range((high - low).days + 1)]

    def _metric_rows(self, account: Account, query: gaql.Query) -> Iterator[dict[str, Any]]:
        """Campaign rows with metrics per date (and hour) segment; rows without delivery are left out."""
        holders = _narrowed(self._live_budgets(account.account_id), query.conditions)
        indices = np.asarray([h.index for h in holders], dtype=np.int64)
        segments = query.segments()
        buckets: dict[tuple[str | None, int | None], list[int]] = {}
        for day in self._dates(account, query):
            for k in self.sim.local_day_hours(account.index, day):
                if k >= self.sim.completed_hours:
                    continue
                key = (
                    day.isoformat() if "segments.date" in segments else None,
                    self.sim._local(account.index, k)[1] if "segments.hour" in segments else None,
                )
                buckets.setdefault(key, []).append(k)
        offset = currency_offset(account.currency)
        per_unit = MICROS // offset
        for (day_label, hour), hours in sorted(
            buckets.items(), key=lambda item: (item[0][0] or "", item[0][1] or 0)
        ):
            totals = self.sim.delivery(hours, indices)
            for i, holder in enumerate(holders):
                values = {k: totals[k][i] for k in METRIC_KEYS}
                for j, part in enumerate(_split(values, self.sim.adset_shares(holder, max(hours)))):
                    if part["impressions"] == 0 and part["spend"] == 0 and part["conversions"] == 0:
                        continue
                    yield {
                        **self._budget(account, holder),
                        **self._campaign(account, holder, j),
                        "segments.date": day_label,
                        "segments.hour": hour,
                        "metrics.cost_micros": int(part["spend"]) * per_unit,
                        "metrics.impressions": int(part["impressions"]),
                        "metrics.clicks": int(part["clicks"]),
                        "metrics.conversions": float(part["conversions"]),
                        "metrics.conversions_value": float(part["revenue"]) / offset,
                    }

    # ---- writes --------------------------------------------------------------------------

    def mutate_budgets(
        self,
        customer_id: str,
        operations: Sequence[tuple[str, Sequence[str], int | None]],
        *,
        partial_failure: bool,
        validate_only: bool,
        failing: Collection[int] = (),
    ) -> Mutated:
        """Update operations as (resource name, field mask paths, amount_micros).

        Atomic unless ``partial_failure``: then the good operations apply and the bad ones are
        reported with their index.  ``failing``: operations a fault injection fails with
        CONCURRENT_MODIFICATION (a transient error Google reports per operation).
        """
        self._check_count(len(operations))
        account = self.customers[customer_id]
        planned: list[Callable[[], str] | None] = []
        errors: list[ads_errors.GoogleAdsError] = []
        per_unit = MICROS // currency_offset(account.currency)
        for i, (name, paths, micros) in enumerate(operations):
            problem = self._budget_problem(customer_id, i, name, paths, micros, per_unit)
            if problem is None and i in failing:
                problem = error(
                    "database_error",
                    "CONCURRENT_MODIFICATION",
                    "Multiple requests were attempting to modify the same resource at once. Retry the request.",
                    index=i,
                )
            if problem is not None:
                errors.append(problem)
                planned.append(None)
                continue
            holder = self._holder_of(name)
            assert holder is not None  # _budget_problem found it
            planned.append(partial(self._set_budget, customer_id, holder, int(micros or 0) // per_unit))
        return self._apply(planned, errors, partial_failure, validate_only)

    def _budget_problem(
        self, customer_id: str, i: int, name: str, paths: Sequence[str], micros: int | None, per_unit: int
    ) -> ads_errors.GoogleAdsError | None:
        match = _BUDGET_NAME.match(name)
        if not match:
            return error(
                "request_error", "RESOURCE_NAME_MALFORMED", f"Malformed resource name {name!r}.", index=i
            )
        if match.group(1) != customer_id:
            return error(
                "request_error", "INVALID_CUSTOMER_ID", "The resource belongs to another customer.", index=i
            )
        holder = self._holder_of(name)
        if holder is None:
            return error("mutate_error", "RESOURCE_NOT_FOUND", f"Resource {name!r} was not found.", index=i)
        if list(paths) != ["amount_micros"]:
            return error(
                "field_mask_error",
                "FIELD_NOT_FOUND" if paths else "FIELD_MASK_MISSING",
                "The sandbox updates amount_micros only; the update mask must be exactly that field.",
                index=i,
            )
        if micros is None or micros < 0:
            return error(
                "campaign_budget_error",
                "NEGATIVE_MONEY_AMOUNT",
                "Budget amount must not be negative.",
                index=i,
                field="amount_micros",
            )
        if micros % per_unit:
            return error(
                "campaign_budget_error",
                "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT",
                f"The amount must be a multiple of {per_unit} micros (the currency's minimum unit).",
                index=i,
                field="amount_micros",
            )
        account = self.customers[customer_id]
        offset = currency_offset(account.currency)
        minor = micros // per_unit
        minimum = round(self.sim.scenario.minimum_daily_budget * offset)
        if minor < minimum:
            return error(
                "campaign_budget_error",
                "BUDGET_BELOW_PER_DAY_MINIMUM",
                f"The budget is below the minimum of {minimum * per_unit} micros a day.",
                index=i,
                field="amount_micros",
            )
        if minor > self.sim._usd_cap(account.currency):
            return error(
                "campaign_budget_error",
                "MONEY_AMOUNT_TOO_LARGE",
                "The budget amount is too large.",
                index=i,
                field="amount_micros",
            )
        return None

    def mutate_campaigns(
        self,
        customer_id: str,
        operations: Sequence[tuple[str, Sequence[str], str]],
        *,
        partial_failure: bool,
        validate_only: bool,
    ) -> Mutated:
        """Status updates as (campaign resource name, field mask paths, ENABLED|PAUSED)."""
        self._check_count(len(operations))
        planned: list[Callable[[], str] | None] = []
        errors: list[ads_errors.GoogleAdsError] = []
        for i, (name, paths, status) in enumerate(operations):
            match = _CAMPAIGN_NAME.match(name)
            problem = None
            if not match or match.group(1) != customer_id or match.group(2) not in self.campaign_of:
                problem = error(
                    "mutate_error", "RESOURCE_NOT_FOUND", f"Resource {name!r} was not found.", index=i
                )
            elif list(paths) != ["status"]:
                problem = error(
                    "field_mask_error", "FIELD_NOT_FOUND", "The sandbox updates status only.", index=i
                )
            elif status not in ("ENABLED", "PAUSED"):
                problem = error(
                    "request_error",
                    "INVALID_ENUM_VALUE",
                    f"Status {status} cannot be set.",
                    index=i,
                    field="status",
                )
            if problem is not None or match is None:
                errors.extend([problem] if problem is not None else [])
                planned.append(None)
            else:
                planned.append(partial(self._set_status, customer_id, match.group(2), status))
        return self._apply(planned, errors, partial_failure, validate_only)

    @staticmethod
    def _apply(
        planned: Sequence[Callable[[], str] | None],
        errors: list[ads_errors.GoogleAdsError],
        partial_failure: bool,
        validate_only: bool,
    ) -> Mutated:
        """Run the checked operations (each a write answering its resource name), or none."""
        if errors and not partial_failure:
            raise AdsFailure(grpc.StatusCode.INVALID_ARGUMENT, errors)  # atomic: nothing applied
        if validate_only:
            return Mutated([], errors)
        return Mutated([None if write is None else write() for write in planned], errors)

    def _set_budget(self, customer_id: str, holder: Holder, minor: int) -> str:
        self.sim.set_budget(holder, minor, actor="google-ads-api")
        return budget_name(customer_id, holder.entity_id)

    def _set_status(self, customer_id: str, campaign: str, status: str) -> str:
        holder, _ = self.campaign_of[campaign]
        self.campaign_status[campaign] = status
        enabled = any(self.campaign_status[c] == "ENABLED" for c in holder.adset_ids)
        self.sim.set_status(holder, "ACTIVE" if enabled else "PAUSED", actor="google-ads-api")
        return campaign_name(customer_id, campaign)

    def _holder_of(self, name: str) -> Holder | None:
        match = _BUDGET_NAME.match(name)
        holder = self.sim.holder_by_id.get(match.group(2)) if match else None
        if holder is None or self.sim.accounts[holder.account_index].account_id != (
            match.group(1) if match else None
        ):
            return None
        return holder if self._launched(holder) else None

    @staticmethod
    def _check_count(count: int) -> None:
        if count == 0:
            raise invalid("request_error", "OPERATION_REQUIRED", "At least one operation is required.")
        if count > MAX_MUTATE_OPERATIONS:
            raise invalid(
                "request_error",
                "TOO_MANY_MUTATE_OPERATIONS",
                f"A mutate request holds at most {MAX_MUTATE_OPERATIONS:,} operations; it had {count:,}.",
            )


def budget_name(customer_id: str, budget_id: str) -> str:
    return f"customers/{customer_id}/campaignBudgets/{budget_id}"


def campaign_name(customer_id: str, campaign_id: str) -> str:
    return f"customers/{customer_id}/campaigns/{campaign_id}"


def _split(values: dict[str, Any], shares: Sequence[float]) -> list[dict[str, Any]]:
    """A budget's delivery split over the campaigns sharing it (whole units left go to the first)."""
    parts = [
        {k: (float(v) * share if k == "revenue" else int(int(v) * share)) for k, v in values.items()}
        for share in shares
    ]
    for k in ("spend", "impressions", "clicks", "conversions"):
        parts[0][k] += int(values[k]) - sum(p[k] for p in parts)
    return parts


def _narrowed(holders: list[Holder], conditions: Sequence[gaql.Condition]) -> list[Holder]:
    """Only the budgets an id condition can match (the rows are filtered exactly afterwards);
    spares computing every campaign's metrics for a query about one campaign."""
    for c in conditions:
        if c.op not in ("=", "IN"):
            continue
        wanted = {str(v) for v in c.values}
        if c.field == "campaign.id":
            holders = [h for h in holders if wanted.intersection(h.adset_ids)]
        elif c.field == "campaign_budget.id":
            holders = [h for h in holders if h.entity_id in wanted]
    return holders


def _date(value: gaql.Value) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise invalid("query_error", "UNEXPECTED_INPUT", f"Not a date: {value!r}.") from None


def _during(period: str, today: date) -> tuple[date, date]:
    if period == "TODAY":
        return today, today
    if period == "YESTERDAY":
        return today - timedelta(days=1), today - timedelta(days=1)
    days = int(period.split("_")[1])
    return today - timedelta(days=days), today - timedelta(days=1)


def _matches(row: dict[str, Any], conditions: Sequence[gaql.Condition]) -> bool:
    for c in conditions:
        if c.field == "segments.date":
            continue  # already applied when the dates were chosen
        value = row.get(c.field)
        wanted = [_like(value, v) for v in c.values]
        if c.op == "=" and value != wanted[0]:
            return False
        if c.op == "!=" and value == wanted[0]:
            return False
        if c.op == "IN" and value not in wanted:
            return False
        if c.op == "NOT_IN" and value in wanted:
            return False
        if c.op == "BETWEEN" and not (wanted[0] <= value <= wanted[1]):
            return False
        if c.op in (">", ">=", "<", "<=") and not _compare(value, c.op, wanted[0]):
            return False
    return True


def _like(value: Any, literal: gaql.Value) -> Any:
    """A literal in the type of the field it is compared with (ids are int64, '123' or 123)."""
    if isinstance(value, bool):
        return str(literal).upper() == "TRUE"
    if isinstance(value, int):
        try:
            return int(literal)
        except ValueError:
            raise invalid("query_error", "UNEXPECTED_INPUT", f"Expected a number, got {literal!r}.") from None
    return literal if isinstance(value, float) else str(literal)


def _compare(value: Any, op: str, other: Any) -> bool:
    return bool(
        (op == ">" and value > other)
        or (op == ">=" and value >= other)
        or (op == "<" and value < other)
        or (op == "<=" and value <= other)
    )
