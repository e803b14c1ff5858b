"""Request and response bodies of the REST API.

Money is in major units (a decimal string such as "200.00") with the currency beside it;
inside the package and the database it stays in integer minor units.  ROAS is a multiple,
CTR a ratio here as in the tables (the page shows it as a percent).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from autoscaler.money import to_major
from autoscaler.rules import ACCOUNT_ID_PATTERN, AccountId, EntityId, PlainText
from autoscaler.store.actions import Action

ActionStatus = Literal[
    "pending_approval", "approved", "rejected", "expired", "executed", "failed", "drifted", "simulated"
]
ActionType = Literal[
    "scale_up_aggressive",
    "scale_up",
    "scale_down",
    "pause",
    "resume",
    "time_adjust",
    "time_restore",
    "rollback",
]
Reason = Annotated[PlainText, Field(min_length=1, max_length=1000)]


def _moment(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone, e.g. 2026-11-25T10:00:00Z")
    if not 2000 <= value.year <= 2100:
        raise ValueError("must be between the years 2000 and 2100")
    return value


#: A point in time as the API takes it: with a time zone, in a sane range.
Moment = Annotated[datetime, AfterValidator(_moment)]

FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)


def check_day(value: date | None, name: str) -> None:
    """A day the dashboard can count over: between 2000 and 2100 (9999-12-31 + 1 day overflows)."""
    if value is not None and not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"{name}: must be between {FIRST_DAY} and {LAST_DAY}, got {value}")


class Body(BaseModel):
    # Unknown fields are refused, and booleans and counts are strict (StrictBool, StrictInt)
    # where they appear; times stay parsed from their ISO text.
    model_config = ConfigDict(extra="forbid")


def major(minor: int | None, currency: str) -> Decimal | None:
    return None if minor is None else to_major(int(minor), currency)


# ---- evaluate ------------------------------------------------------------------------------


class EvaluateIn(Body):
    entity_id: EntityId
    run_hour: Moment | None = Field(
        None,
        description="Start (UTC) of the hour to decide for, as the hourly run would; default: the hour that last ended.",
    )


class EvaluateBulkIn(Body):
    account_id: AccountId
    entity_ids: list[EntityId] | None = Field(
        None, max_length=10_000, description="Default: every budget holder."
    )
    run_hour: Moment | None = None


class Evaluation(BaseModel):
    entity_id: str
    rule_id: int | None
    action: str
    reason: str
    currency: str
    daily_budget: Decimal | None
    new_daily_budget: Decimal | None
    requires_approval: bool
    spend: Decimal
    revenue: Decimal
    impressions: int
    clicks: int
    conversions: int
    roas: float | None
    ctr: float
    time_action: str | None
    budget_this_hour: Decimal | None = Field(description="What the run would write for the coming hour.")
    reasoning: str


class EvaluateOut(BaseModel):
    account_id: str
    run_hour: datetime
    window_start: datetime
    window_end: datetime
    evaluation: Evaluation


class EvaluateBulkOut(BaseModel):
    account_id: str
    run_hour: datetime
    window_start: datetime
    window_end: datetime
    summary: dict[str, int]
    evaluations: list[Evaluation]


# ---- actions -------------------------------------------------------------------------------


class ApproveIn(Body):
    # Strict: "yes", "no", 1 or "1" are not an answer to an approval (issue 17).
    action_id: StrictInt = Field(ge=1, le=2**63 - 1)
    approve: StrictBool = Field(description="true approves, false rejects (JSON true or false only).")
    reason: Reason | None = None


class ActionOut(BaseModel):
    action_id: int
    account_id: str
    entity_id: str
    entity_level: str
    action_type: str
    status: str
    mode: str
    currency: str
    budget_before: Decimal | None
    budget_after: Decimal | None
    status_before: str | None
    status_after: str | None
    requires_approval: bool
    reasoning: str
    run_hour: datetime | None
    approval_deadline: datetime | None

    @classmethod
    def of(cls, action: Action) -> ActionOut:
        data = {name: getattr(action, name) for name in cls.model_fields}
        data["budget_before"] = major(action.budget_before, action.currency)
        data["budget_after"] = major(action.budget_after, action.currency)
        return cls(**data)


class HistoryRow(ActionOut):
    origin: str
    roas: float | None
    ctr: float | None
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    executed_at: datetime | None
    error_message: str | None
    compensates_action_id: int | None
    created_at: datetime
    status_changed_at: datetime
    entity_name: str | None = None
    campaign_id: str | None = None
    campaign_name: str | None = None


class Page(BaseModel):
    total: int
    page: int
    page_size: int
    items: list[HistoryRow]


# ---- dashboard -----------------------------------------------------------------------------


class Summary(BaseModel):
    total_actions: int
    executed: int
    pending: int
    execution_rate: float = Field(description="executed / total_actions (0 when there are none).")


class BudgetImpact(BaseModel):
    currency: str
    total_increase: Decimal
    total_decrease: Decimal
    net_change: Decimal


class Performance(BaseModel):
    currency: str
    spend: Decimal
    revenue_tracked: Decimal
    avg_roas: float | None = Field(description="Portfolio ROAS: revenue / spend over the period.")


class DashboardOut(BaseModel):
    period_start: datetime
    period_end: datetime
    account_id: str | None
    mode: str
    summary: Summary
    action_breakdown: dict[str, int]
    budget_impact: list[BudgetImpact] = Field(
        description="One entry per currency: amounts in different currencies are never added."
    )
    performance: list[Performance]


# ---- rules ---------------------------------------------------------------------------------

RuleBody = Annotated[
    dict[str, Any],
    Field(
        description="Rule settings as in docs/configuration.md; money fields (min_daily_budget, "
        "max_daily_budget, require_approval_threshold, account_daily_budget_cap) in major units.",
        examples=[
            {"account_id": "act_123456789", "min_daily_budget": "20.00", "max_daily_budget": "2000.00"}
        ],
    ),
]


# ---- time optimization ---------------------------------------------------------------------


class LearnIn(Body):
    account_id: AccountId | None = Field(None, description="Default: every account with an enabled rule.")
    days: StrictInt = Field(28, ge=1, le=90)
    as_of: Moment | None = Field(
        None, description="Learn from the complete local days before this time (default: now)."
    )


# ---- emergency controls --------------------------------------------------------------------


# A pause switch's scope: every account, or one account of either platform.
SCOPE_PATTERN = "^(all|" + ACCOUNT_ID_PATTERN.removeprefix("^").removesuffix("$") + ")$"


class PauseIn(Body):
    scope: Annotated[str, Field(pattern=SCOPE_PATTERN)] = "all"
    reason: Reason


class ResumeIn(Body):
    scope: Annotated[str, Field(pattern=SCOPE_PATTERN)] = "all"
    reason: Reason | None = None


class SwitchOut(BaseModel):
    scope: str
    paused: bool
    reason: str | None
    changed_by: str
    changed_at: datetime


class LockIn(Body):
    reason: Reason


class UnlockIn(Body):
    reason: Reason | None = None


class LockOut(BaseModel):
    entity_id: str
    locked: bool
    changed: bool


class RollbackIn(Body):
    account_id: AccountId | None = None
    entity_id: EntityId | None = None
    since: Moment = Field(description="Roll back changes executed at or after this time.")
    until: Moment | None = Field(None, description="... and before this time (default: now).")
    reason: Reason
    dry_run: StrictBool = Field(False, description="Show the plan; record and write nothing.")


class Compensation(BaseModel):
    action_id: int | None
    entity_id: str
    currency: str
    budget_before: Decimal | None
    budget_after: Decimal | None
    status_before: str | None
    status_after: str | None
    undoes: list[int]
    reasoning: str
    status: str


class SkippedCompensation(BaseModel):
    entity_id: str
    undoes: list[int]
    why: str


class RollbackOut(BaseModel):
    dry_run: bool
    compensations: list[Compensation]
    outcomes: dict[str, int]
    skipped: list[SkippedCompensation] = Field(
        default_factory=list,
        description="Entities with nothing to do: already rolled back, or Meta already holds the state before the window.",
    )


# ---- the page: overview, entity table, entity history, approvals ----------------------------


class AccountOut(BaseModel):
    account_id: str
    name: str | None
    currency: str
    timezone_name: str
    platform: str | None = Field(None, description="The ad platform, when the account row records one.")


class ModeFigures(BaseModel):
    """The seed dashboard's figures for one kind of decision: live, or shadow and why."""

    kind: str = Field(description="live, or the shadow reason: backfill, dry_run, kill_switch, shadow.")
    mode: str
    total_actions: int
    executed: int
    pending: int
    execution_rate: float
    action_breakdown: dict[str, int]
    budget_increase: Decimal
    budget_decrease: Decimal
    budget_net: Decimal


class OverviewDay(BaseModel):
    day: date
    spend: Decimal
    revenue: Decimal
    profit: Decimal
    roas: float | None
    actions: dict[str, int] = Field(description="The day's live actions by type.")
    shadow_actions: int


class OverviewOut(BaseModel):
    account: AccountOut
    period_start: datetime
    period_end: datetime
    live: ModeFigures
    shadow: list[ModeFigures] = Field(description="Decisions recorded but not written, by why.")
    spend: Decimal
    revenue_tracked: Decimal
    profit: Decimal
    avg_roas: float | None = Field(description="Portfolio ROAS: revenue / spend over the period.")
    days: list[OverviewDay]
    switches: list[SwitchOut] = Field(description="The kill switches that govern the account.")
    paused: bool = Field(description="Decisions are simulated: a switch above, or the Airflow Variable.")
    variable_paused: bool = Field(
        description="The Airflow Variable kill switch (autoscaler_paused) is on, for every account."
    )


class SparkPoint(BaseModel):
    day: date
    budget: Decimal | None
    roas: float | None


class EntityRow(BaseModel):
    entity_id: str
    level: str
    campaign_id: str
    campaign_name: str | None
    name: str | None
    daily_budget: Decimal | None
    status: str | None
    locked: bool
    spend: Decimal
    revenue: Decimal
    roas: float | None
    purchases: int
    marginal_roas: float | None = Field(description="The allocator's latest recorded marginal ROAS.")
    target_marginal_roas: float | None
    target_budget: Decimal | None = Field(description="Where the allocator's steps head.")
    curve_at: datetime | None
    last_action_id: int | None
    last_action_type: str | None
    last_action_status: str | None
    last_action_mode: str | None
    last_action_at: datetime | None
    spark: list[SparkPoint]


class EntityTableOut(BaseModel):
    account_id: str
    currency: str
    window_start: datetime
    window_end: datetime
    total: int
    page: int
    page_size: int
    items: list[EntityRow]


class HourPoint(BaseModel):
    hour_start: datetime
    daily_budget: Decimal | None
    budget_source: str | None = Field(
        description="snapshot (read that hour), evaluation (a backfilled hour: the budget its run decided with)."
    )
    spend: Decimal
    revenue: Decimal
    purchases: int
    status: str | None


class DayPoint(BaseModel):
    day: date
    spend: Decimal
    revenue: Decimal
    roas: float | None


class EntityAction(BaseModel):
    action_id: int
    action_type: str
    status: str
    mode: str
    origin: str
    budget_before: Decimal | None
    budget_after: Decimal | None
    status_after: str | None
    reasoning: str
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    created_at: datetime
    executed_at: datetime | None
    run_hour: datetime | None = Field(
        description="The run's data interval start (None: an operator's change)."
    )
    effective_at: datetime = Field(
        description="Where it sits on the time line (the hour it was decided for)."
    )
    marginal_roas: float | None
    target_budget: Decimal | None


class EntityHistoryOut(BaseModel):
    entity_id: str
    account_id: str
    level: str
    campaign_id: str
    campaign_name: str | None
    name: str | None
    daily_budget: Decimal | None
    status: str | None
    locked: bool
    currency: str
    timezone_name: str
    profile_computed_at: datetime | None = Field(
        description="When its optimal-hour profile was learned (None: none yet, so no hour report)."
    )
    window_start: datetime
    window_end: datetime
    hours: list[HourPoint]
    days: list[DayPoint]
    actions: list[EntityAction]


class Approval(BaseModel):
    action_id: int
    account_id: str
    entity_id: str
    entity_name: str | None
    campaign_id: str
    campaign_name: str | None
    action_type: str
    currency: str
    budget_before: Decimal | None
    budget_after: Decimal | None = Field(description="What Meta will hold after this hour's write.")
    base_before: Decimal | None = Field(
        description="Under time optimisation, the base daily budget the decision moves (the hour's "
        "budget walks toward base x the hour's multiplier, at most 15% an hour); null otherwise."
    )
    base_after: Decimal | None
    change: Decimal | None = Field(
        description="The change the answer commits to: base_after - base_before under time "
        "optimisation, else budget_after - budget_before."
    )
    change_percent: float | None
    status_before: str | None
    status_after: str | None
    reasoning: str
    roas: float | None
    approval_deadline: datetime | None
    seconds_left: int | None = Field(description="Until the deadline, by the clock deadlines are set by.")


class ApprovalsOut(BaseModel):
    now: datetime = Field(description="The clock deadlines are set by (the sandbox's in a demo).")
    items: list[Approval]


class BulkApproveIn(Body):
    action_ids: list[Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=500)
    approve: StrictBool = Field(description="true approves them all, false rejects them all.")
    reason: Reason | None = None


class BulkApproveOut(BaseModel):
    answered: list[ActionOut]
