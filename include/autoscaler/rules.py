"""The scaling rule: its settings, their defaults, and the rules the settings must obey.

A rule is validated here before it reaches the database, with a message naming each field
and the rule it broke; the database checks the same rules again with named CHECK
constraints (sql/migrations/0001_audit_schema.sql) for anything written by SQL.

Money fields are integers in the account currency's minor units.  ``ScalingRule.from_major``
accepts them in major units (200.00 USD) as people write them in RULE.json or the API.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from autoscaler.money import MoneyError, max_daily_budget_minor, money_text, to_major, to_minor


def storable(value: str) -> str:
    # PostgreSQL text holds neither NUL characters nor lone surrogates (which JSON allows).
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    # Control characters (ESC starts the ANSI sequences that recolour or rewrite a terminal)
    # would let a name or reason forge what an operator reads in a log or a listing.
    if any(unicodedata.category(c) == "Cc" and c not in "\t\n" for c in value):
        raise ValueError("must not contain control characters (such as ANSI escape sequences)")
    return value


def _person(value: str) -> str:
    if not value.strip():
        raise ValueError("must name who it is, not be blank")
    if "\n" in value or "\t" in value:
        raise ValueError("must be one line")
    if len(value) > 200:
        raise ValueError(f"must be at most 200 characters, got {len(value):,}")
    return value


#: Free text people type (names, reasons) that the database must be able to store.
PlainText = Annotated[str, AfterValidator(storable)]
#: Who approves, rejects, locks or pauses: one printable line, recorded in the audit trail.
PersonName = Annotated[PlainText, AfterValidator(_person)]
# [0-9], not \d: \d matches Arabic-Indic and other digits, which the database refuses.
#: Each platform's account id: a Meta ad account, a Google Ads customer (no dashes).
PLATFORM_ACCOUNT_IDS: dict[str, tuple[str, str]] = {
    "meta": (r"act_[0-9]{1,20}", "must be act_ followed by 1 to 20 digits 0-9"),
    "google_ads": (r"[0-9]{10}", "must be a Google Ads customer id: 10 digits 0-9, without dashes"),
}
Platform = Literal["meta", "google_ads"]
#: Either platform's account id.  Which one an account is on is recorded with it
#: (ad_accounts.platform), which checks the id against its own platform's form.
ACCOUNT_ID_PATTERN = "^(" + "|".join(p for p, _ in PLATFORM_ACCOUNT_IDS.values()) + ")$"
AccountId = Annotated[str, Field(pattern=ACCOUNT_ID_PATTERN, examples=["act_123456789", "1234567890"])]
EntityId = Annotated[str, Field(pattern=r"^[0-9]{1,20}$")]
ScopeLevel = Literal["account", "campaign", "adset"]

#: Fields holding money, in minor units inside and major units at the edges.
MONEY_FIELDS = (
    "min_daily_budget",
    "max_daily_budget",
    "require_approval_threshold",
    "account_daily_budget_cap",
    "allocator_daily_budget",
)
Strategy = Literal["allocator", "thresholds"]


class RuleError(ValueError):
    """A rule broke one or more of the rules its settings must obey.

    ``problems`` maps each offending field to what is wrong with it.
    """

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        lines = "; ".join(f"{field}: {why}" for field, why in self.problems.items())
        super().__init__(f"invalid scaling rule: {lines}")


def _previous(info: ValidationInfo, name: str) -> Any:
    """A field validated earlier in declaration order (absent if it failed itself)."""
    return info.data.get(name)


#: Money bound when the currency is not known (rules parsed in minor units by the package):
#: far above any currency's daily-budget bound, far below bigint.  With a currency, the bound
#: is that currency's (money.MAX_DAILY_BUDGET).
ANY_CURRENCY_MAX = 10**15


def _money(info: ValidationInfo, minor: int) -> str:
    """An amount as the person who wrote the rule reads it: major units and the currency when
    the rule came in major units (from_major), else the minor units they gave."""
    currency = (info.context or {}).get("currency")
    return money_text(minor, currency) if currency else f"{minor} (minor units)"


def _money_in_range(value: int | None, info: ValidationInfo, *, low: int, inclusive: bool) -> int | None:
    if value is None:
        return None
    currency = (info.context or {}).get("currency")
    high = max_daily_budget_minor(currency) if currency else ANY_CURRENCY_MAX
    if value < low or (value == low and not inclusive):
        relation = "at least" if inclusive else "more than"
        raise ValueError(f"must be {relation} {_money(info, low)}, got {_money(info, value)}")
    if value > high:
        raise ValueError(f"must be at most {_money(info, high)}, got {_money(info, value)}")
    return value


class ScalingRule(BaseModel):
    """One scaling rule, for an account or overriding it for one campaign or ad set.

    Thresholds and multipliers default to the seed's: ROAS 4.0/3.0/1.5/1.0, CTR 3%, multipliers
    1.5/1.2/0.7, 1,000 impressions.  How the rule weighs its evidence does not: a 72 h window,
    ROAS that must clear its threshold by 2 standard errors of the purchase count, a 2 h
    cooldown (the seed: 24 h, any ROAS, none), because the backtest says so.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, validate_default=True)

    rule_id: int | None = None
    rule_name: PlainText = Field("Default", min_length=1, max_length=200)
    account_id: AccountId
    scope_level: ScopeLevel = "account"
    scope_entity_id: EntityId | None = None
    enabled: bool = True

    # Declared from the lowest threshold up so each can be checked against the one below.
    roas_pause: float = Field(1.0, gt=0, le=1000)
    roas_scale_down: float = Field(1.5, gt=0, le=1000)
    roas_scale_up: float = Field(3.0, gt=0, le=1000)
    roas_scale_up_aggressive: float = Field(4.0, gt=0, le=1000)
    ctr_scale_up_aggressive: float = Field(0.03, ge=0)

    multiplier_up: float = Field(1.2, gt=1, le=3)
    multiplier_aggressive_up: float = Field(1.5, gt=1, le=3)
    multiplier_down: float = Field(0.7, ge=0.1, lt=1)

    # Bounds checked by _money_bounds, in the rule's currency when known.
    min_daily_budget: int
    max_daily_budget: int
    require_approval_threshold: int | None = None
    pause_requires_approval: bool = False

    min_impressions: int = Field(1000, ge=0)
    min_conversions: int = Field(0, ge=0)
    # How many standard errors of the purchase count a ROAS must clear its threshold by
    # before a change (0: the seed's rule, which acts on any ROAS).  2 is what the backtest
    # supports (bench/backtest.py, README): the seed's rule pauses on noise.
    evidence_z: float = Field(2.0, ge=0, le=5)
    # Not the seed's 24 h window, 24 h cooldown and learning-phase hold: with the evidence
    # threshold above, a 72 h window, a 2 h cooldown and changes during learning earn more in
    # every backtested scenario (bench/backtest.py; README "Does it make money?").  2 h is the
    # least that shows the next decision a whole hour at the new budget; 0 earned more still
    # in the simulator, which may understate what changing every hour costs on Meta.
    lookback_hours: int = Field(72, ge=1, le=168)
    # The rule acts on an entity only once its window holds this many hours of data (None:
    # the whole window).  A new account's first live hour holds one hour: a ROAS of 0.00x
    # while purchases are still arriving is no reason to pause.
    min_window_hours: int | None = Field(None, ge=1, le=168)
    cooldown_hours: int = Field(2, ge=0, le=720)
    allow_changes_during_learning: bool = True
    account_daily_budget_cap: int | None = None

    time_optimization_enabled: bool = False
    time_min_confidence: float = Field(0.7, ge=0, le=1)
    time_multiplier_min: float = Field(0.5, gt=0, le=1)
    time_multiplier_max: float = Field(1.5, ge=1, le=3)

    # How the rule decides (docs/allocator.md): "thresholds" is the seed's rule with the
    # evidence threshold above (evidence_z 0: the seed's, exactly); "allocator" learns each
    # holder's response curve and steps toward where its marginal ROAS meets the goal.  The
    # allocator is the default because it wins the backtest in every scenario, against doing
    # nothing and against the thresholds (docs/benchmarks.md).
    strategy: Strategy = "allocator"
    target_marginal_roas: float = Field(1.0, gt=0, le=100)
    # Account rules only: a total daily budget spread by equal marginal ROAS (instead of
    # target_marginal_roas).  NULL: each holder toward the target.
    allocator_daily_budget: int | None = None
    max_step: float = Field(0.15, gt=0, le=0.5)
    pause_probability: float = Field(0.95, ge=0.5, lt=1)

    @field_validator("roas_scale_down")
    @classmethod
    def _down_not_below_pause(cls, value: float, info: ValidationInfo) -> float:
        pause = _previous(info, "roas_pause")
        if pause is not None and value < pause:
            raise ValueError(f"must be at least roas_pause ({pause}), got {value}")
        return value

    @field_validator("roas_scale_up")
    @classmethod
    def _up_not_below_down(cls, value: float, info: ValidationInfo) -> float:
        down = _previous(info, "roas_scale_down")
        if down is not None and value < down:
            raise ValueError(f"must be at least roas_scale_down ({down}), got {value}")
        return value

    @field_validator("roas_scale_up_aggressive")
    @classmethod
    def _aggressive_not_below_up(cls, value: float, info: ValidationInfo) -> float:
        up = _previous(info, "roas_scale_up")
        if up is not None and value < up:
            raise ValueError(f"must be at least roas_scale_up ({up}), got {value}")
        return value

    @field_validator("ctr_scale_up_aggressive")
    @classmethod
    def _ctr_is_a_ratio(cls, value: float) -> float:
        if value > 1:
            raise ValueError(f"is a ratio (0.03 means 3%), got {value}")
        return value

    @field_validator("multiplier_aggressive_up")
    @classmethod
    def _aggressive_multiplier_not_below_up(cls, value: float, info: ValidationInfo) -> float:
        up = _previous(info, "multiplier_up")
        if up is not None and value < up:
            raise ValueError(f"must be at least multiplier_up ({up}), got {value}")
        return value

    @field_validator(
        "min_daily_budget", "require_approval_threshold", "account_daily_budget_cap", "allocator_daily_budget"
    )
    @classmethod
    def _money_bounds(cls, value: int | None, info: ValidationInfo) -> int | None:
        positive = info.field_name != "require_approval_threshold"
        return _money_in_range(value, info, low=0, inclusive=not positive)

    @field_validator("max_daily_budget")
    @classmethod
    def _max_not_below_min(cls, value: int, info: ValidationInfo) -> int:
        _money_in_range(value, info, low=0, inclusive=False)
        low = _previous(info, "min_daily_budget")
        if low is not None and value < low:
            raise ValueError(
                f"must be at least min_daily_budget ({_money(info, low)}), got {_money(info, value)}"
            )
        return value

    @model_validator(mode="after")
    def _scope_is_consistent(self) -> ScalingRule:
        if (self.scope_level == "account") != (self.scope_entity_id is None):
            raise ValueError(
                "scope_entity_id: an account rule has no scope_entity_id; a campaign or adset rule needs one"
            )
        if self.account_daily_budget_cap is not None and self.scope_level != "account":
            raise ValueError("account_daily_budget_cap: only an account rule can cap the account's budget")
        if self.min_window_hours is not None and self.min_window_hours > self.lookback_hours:
            raise ValueError(
                f"min_window_hours: must be at most lookback_hours ({self.lookback_hours}), got {self.min_window_hours}"
            )
        if self.allocator_daily_budget is not None and self.scope_level != "account":
            raise ValueError(
                "allocator_daily_budget: only an account rule can set the account's total budget"
            )
        return self

    @property
    def required_window_hours(self) -> int:
        """Hours of data an entity's window must hold before the rule acts on it."""
        return self.min_window_hours if self.min_window_hours is not None else self.lookback_hours

    # ---- construction at the edges ------------------------------------------------------

    @classmethod
    def parse(
        cls, data: Mapping[str, Any], *, currency: str | None = None, strict: bool = False
    ) -> ScalingRule:
        """Validate ``data`` (money in minor units); raise RuleError naming every bad field.

        With ``currency``, money is bounded by that currency's limit and errors show amounts in
        its major units.  ``strict`` (for input from people: JSON bodies, RULE.json) refuses
        what lax parsing would coerce: "yes" as true, true as 1, 1.0 as a count.
        """
        try:
            return cls.model_validate(dict(data), strict=strict, context={"currency": currency})
        except ValidationError as exc:
            raise RuleError(_problems(exc)) from None

    @classmethod
    def from_major(cls, data: Mapping[str, Any], currency: str) -> ScalingRule:
        """Validate ``data`` as people write it: money fields in major units of ``currency``
        (200.00 USD), strict types, and no rule_id (the database assigns it)."""
        if "rule_id" in data:
            raise RuleError({"rule_id": "is assigned by the database; leave it out"})
        return cls.parse(money_to_minor(data, currency), currency=currency, strict=True)

    def settings(self) -> dict[str, Any]:
        """The rule's columns as stored (without rule_id)."""
        return self.model_dump(exclude={"rule_id"})

    def as_major(self, currency: str) -> dict[str, Any]:
        """The rule as people read it: money fields as decimal strings of major units."""
        data = self.model_dump()
        for name in MONEY_FIELDS:
            if data[name] is not None:
                data[name] = str(to_major(data[name], currency))
        data["currency"] = currency
        return data


def money_to_minor(data: Mapping[str, Any], currency: str) -> dict[str, Any]:
    """``data`` (whole rule settings, or changes to some) with its money fields in minor units;
    RuleError naming every amount the currency cannot express."""
    converted = dict(data)
    problems: dict[str, str] = {}
    for name in MONEY_FIELDS:
        value = converted.get(name)
        if value is None:
            continue
        try:
            converted[name] = to_minor(value, currency, field=name)
        except MoneyError as exc:
            problems[name] = str(exc).split(": ", 1)[-1]
    if problems:
        raise RuleError(problems)
    return converted


def _problems(exc: ValidationError) -> dict[str, str]:
    problems: dict[str, str] = {}
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if not loc and ": " in message:
            # Model-level checks name their field at the start of the message.
            loc, message = message.split(": ", 1)
        if error["type"] == "extra_forbidden":
            message = "is not a rule setting"
        elif error["type"] == "missing":
            message = "is required"
        elif "input" in error and error["type"] not in ("value_error",):
            message = f"{message} (got {_shown(error['input'])})"
        problems.setdefault(loc or "rule", message)
    return problems


def _shown(value: Any) -> str:
    """A bad input as the error shows it: JSON's words for JSON values, and never 100,000
    characters of it."""
    text = (
        {True: "true", False: "false", None: "null"}.get(value, repr(value))
        if isinstance(value, bool | None)
        else repr(value)
    )
    return text if len(text) <= 60 else text[:57] + "..."
