"""Scenarios: which accounts, campaigns and ad sets the sandbox simulates, and how they behave.

A scenario is JSON (docs/sandbox.md documents every field and its range).  Accounts list
*groups* of campaigns; the generator expands them into entities deterministically from the
seed, so a scenario file stays short even for 100,000 budget holders.

The file is validated at the edge with pydantic: unknown fields are refused by name at every
level, types are strict (``"0.6"`` is not a number), every numeric field has a stated range,
and the first problem is reported as one line naming the field, e.g.
``accounts[0].groups[1].elasticity: must be below 1 (got 1.0)``.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from autoscaler.sandbox.fx import USD_RATES

HourEffects = Literal["flat", "mild", "planted"]
# A Meta ad account is act_<digits>; a Google Ads customer id is 10 digits, without dashes.
ACCOUNT_ID = r"^(act_[0-9]{1,20}|[0-9]{10})$"


class ScenarioError(ValueError):
    """A scenario file that cannot be used, naming the field."""


# Each [low, high] field's bounds: (lowest, highest, lowest excluded, highest excluded).
_PAIR_BOUNDS: dict[str, tuple[float, float, bool, bool]] = {
    "daily_budget": (0, 1_000_000_000, True, False),
    "roas": (0, 100, False, False),
    "ctr": (0, 1, True, False),
    "cpm": (0, 1_000_000, True, False),
    "order_value": (0, 100_000_000, True, False),
    "elasticity": (0, 1, True, True),  # 1 would be no diminishing returns, and no optimum
    "audience_ceiling": (0.05, 1000, False, False),
    "launch_day": (0, 365, False, False),
}
_PAIRS = tuple(_PAIR_BOUNDS)


def _as_pair(value: Any) -> Any:
    """A number stands for the range [number, number]."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (float(value), float(value))
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        return (float(value[0]), float(value[1]))
    return value


def _check_pair(name: str, value: tuple[float, float]) -> tuple[float, float]:
    low, high, open_low, open_high = _PAIR_BOUNDS[name]
    for end in value:
        if (
            not math.isfinite(end)
            or end < low
            or end > high
            or (open_low and end == low)
            or (open_high and end == high)
        ):
            left, right = "(" if open_low else "[", ")" if open_high else "]"
            raise ValueError(f"each end must lie in {left}{low:g}, {high:g}{right} (got {end:g})")
    if value[0] > value[1]:
        raise ValueError(f"range [{value[0]}, {value[1]}] is reversed")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Fatigue(_Strict):
    """Creative fatigue: true ROAS decays with the creative's age, and recovers on a refresh.

    ROAS x (floor + (1 - floor) * 0.5 ** (age_days / half_life_days)); age counts from the
    entity's launch (or the scenario's origin) and restarts at each refresh, every
    ``refresh_days`` (each entity's first refresh at a random point of its first period).
    Fatigue by age, not by impressions, keeps the world independent of the policy.
    """

    half_life_days: Annotated[float, Field(gt=0, le=365, allow_inf_nan=False)]
    floor: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.3
    refresh_days: Annotated[float, Field(gt=0, le=365, allow_inf_nan=False)] | None = None


class CampaignGroup(_Strict):
    """``count`` campaigns of one kind: CBO (the campaign holds the budget) or ABO (ad sets do)."""

    kind: Literal["cbo", "abo"]
    count: Annotated[int, Field(ge=0, le=200_000)]
    adsets_per_campaign: Annotated[int, Field(ge=1, le=50)] = 1
    # Ranges: [low, high] or one number; each entity draws its value uniformly from it.
    daily_budget: tuple[float, float] = (20.0, 200.0)  # major units
    roas: tuple[float, float] = (0.5, 5.0)  # true ROAS at the starting budget
    ctr: tuple[float, float] = (0.008, 0.05)
    cpm: tuple[float, float] = (6.0, 25.0)  # major units per 1,000 impressions
    order_value: tuple[float, float] = (30.0, 120.0)  # major units
    elasticity: tuple[float, float] = (0.6, 0.9)  # revenue ~ budget**elasticity
    hour_effects: HourEffects = "mild"
    paused_share: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.0
    fatigue: Fatigue | None = None
    # Daily spend the audience can absorb, as a multiple of the starting budget: past it the
    # budget under-delivers and the extra budget buys nothing.
    audience_ceiling: tuple[float, float] | None = None
    # Days after ``start`` on which the group's entities launch (before: they do not exist).
    launch_day: tuple[float, float] | None = None
    # CBO: how far each ad set's share of its campaign's delivery drifts a day (sd of log share).
    share_drift: Annotated[float, Field(ge=0, le=2, allow_inf_nan=False)] = 0.0

    @field_validator(*_PAIRS, mode="before")
    @classmethod
    def _number_is_a_pair(cls, value: Any) -> Any:
        return _as_pair(value)

    @field_validator(*_PAIRS)
    @classmethod
    def _pair_within_bounds(
        cls, value: tuple[float, float] | None, info: ValidationInfo
    ) -> tuple[float, float] | None:
        return None if value is None else _check_pair(str(info.field_name), value)


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as America/New_York)") from None
    if value not in available_timezones():
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as America/New_York)")
    return value


class AccountSpec(_Strict):
    account_id: Annotated[str, Field(pattern=ACCOUNT_ID)]
    # Which platform's sandbox serves the account (docs/google-ads.md): on Google Ads a "cbo"
    # group is one campaign budget per campaign, shared by ``adsets_per_campaign`` campaigns.
    platform: Literal["meta", "google"] = "meta"
    name: Annotated[str, Field(min_length=1, max_length=200)] = ""
    currency: str = "USD"
    timezone: Annotated[str, AfterValidator(_zone)] = "America/New_York"
    groups: tuple[CampaignGroup, ...] = ()
    read_only: bool = False  # the token may read but not manage this account (error 200 on writes)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in USD_RATES:
            raise ValueError(
                f"{value!r} is not a currency the sandbox has a rate for ({', '.join(USD_RATES)})"
            )
        return value

    @model_validator(mode="after")
    def _default_name(self) -> AccountSpec:
        google = self.platform == "google"
        if google != (not self.account_id.startswith("act_")):
            raise ValueError(
                "account_id: a Google Ads customer id is 10 digits without dashes"
                if google
                else "account_id: a Meta ad account id is act_ followed by digits"
            )
        if google and any(g.kind != "cbo" for g in self.groups):
            raise ValueError("groups: a Google Ads account holds campaign budgets: kind must be cbo")
        if not self.name:
            object.__setattr__(self, "name", self.account_id)
        return self


def _utc_hour(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO timestamp: {value!r}") from None
        if parsed.tzinfo is None:
            raise ValueError("must carry a time zone (use Z for UTC)")
        parsed = parsed.astimezone(UTC)
        if parsed.minute or parsed.second or parsed.microsecond:
            raise ValueError("must be on the hour")
        return parsed
    return value


UtcHour = Annotated[datetime, BeforeValidator(_utc_hour)]
Factor = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


def _day(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an ISO date (YYYY-MM-DD): {value!r}") from None
    return value


class Shock(_Strict):
    """From ``from`` (inclusive) to ``to`` (exclusive), UTC hours: the world changes by factors.

    ``roas``: true return (a stock-out: 0.2); ``cpm``: the price of impressions (an auction
    where CPM doubles: 2; fewer impressions per dollar, so return falls by the same factor);
    ``reported``: the share of purchases Meta ever reports (a pixel outage: 0; purchases still
    happen and still count as revenue, nobody sees them).  ``account_id`` limits it to one
    account; ``share`` to that share of its entities (chosen from the seed).
    """

    model_config = ConfigDict(populate_by_name=True)
    start: UtcHour = Field(alias="from")
    end: UtcHour = Field(alias="to")
    account_id: Annotated[str, Field(pattern=ACCOUNT_ID)] | None = None
    share: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 1.0
    roas: Factor = 1.0
    cpm: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] = 1.0
    reported: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 1.0

    @model_validator(mode="after")
    def _forward(self) -> Shock:
        if self.end <= self.start:
            raise ValueError("to: must be after from")
        return self


class Season(_Strict):
    """Local calendar dates ``from`` .. ``to`` (inclusive) in every account: demand changes.

    A Black-Friday week: ``roas`` 1.4 (buyers convert more), ``cpm`` 1.5 (everyone bids).
    """

    model_config = ConfigDict(populate_by_name=True)
    start: Annotated[date, BeforeValidator(_day)] = Field(alias="from")
    end: Annotated[date, BeforeValidator(_day)] = Field(alias="to")
    roas: Factor = 1.0
    cpm: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] = 1.0

    @model_validator(mode="after")
    def _forward(self) -> Season:
        if self.end < self.start:
            raise ValueError("to: must not be before from")
        return self


def _weights(value: tuple[float, ...]) -> tuple[float, ...]:
    if abs(sum(value) - 1.0) > 1e-6:
        raise ValueError(f"weights must sum to 1 (they sum to {sum(value):.6g})")
    return value


DEFAULT_DELAY = (0.45, 0.2, 0.1, 0.07, 0.05, 0.04, 0.03, 0.02, 0.02, 0.01, 0.005, 0.005)


class Scenario(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)] = "custom"
    description: Annotated[str, Field(max_length=2000)] = ""
    accounts: Annotated[tuple[AccountSpec, ...], Field(min_length=1)]
    start: UtcHour = datetime(2026, 11, 2, tzinfo=UTC)  # the virtual clock's first instant
    history_days: Annotated[int, Field(ge=0, le=120)] = 7  # simulated before ``start``
    access_token: Annotated[str, Field(min_length=1, max_length=500)] = "sandbox-token"
    app_secret: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    # Share of an hour's purchases reported 0, 1, 2, ... hours late.
    attribution_delay: Annotated[
        tuple[Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)], ...],
        Field(min_length=1, max_length=240),
        AfterValidator(_weights),
    ] = DEFAULT_DELAY
    learning_hours: Annotated[int, Field(ge=0, le=2160)] = 72
    learning_penalty: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.8
    # Learning also ends after this many (expected) purchases in its first 7 days; 0: by time only.
    learning_conversions: Annotated[int, Field(ge=0, le=100_000)] = 50
    # A budget edit of this relative size or more restarts learning (Meta: 20%).
    learning_reset: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = 0.2
    minimum_daily_budget: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)] = 1.0  # major units
    # Day-of-week swing of true return: 0.05 is -3% on Mondays to +5% on Saturdays.
    weekday_amplitude: Annotated[float, Field(ge=0, le=0.9, allow_inf_nan=False)] = 0.05
    seasons: tuple[Season, ...] = ()
    shocks: tuple[Shock, ...] = ()
    # Units of each currency per US dollar, overriding the sandbox's table for this scenario.
    exchange_rates: dict[str, Annotated[float, Field(gt=0, le=1e7, allow_inf_nan=False)]] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        ids = [a.account_id for a in self.accounts]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"accounts: account_id {repeated[0]} appears more than once")
        for i, shock in enumerate(self.shocks):
            if shock.account_id is not None and shock.account_id not in ids:
                raise ValueError(
                    f"shocks[{i}].account_id: {shock.account_id} is not an account of the scenario"
                )
        for code in self.exchange_rates:
            if len(code) != 3 or not code.isupper() or not code.isalpha():
                raise ValueError(f"exchange_rates: {code!r} is not a 3-letter currency code")
        return self

    @property
    def metadata(self) -> dict[str, Any]:
        return {"description": self.description} if self.description else {}

    def usd_rate(self, currency: str) -> float:
        """Units of ``currency`` per US dollar (the scenario's override, else the table)."""
        return self.exchange_rates.get(currency, USD_RATES[currency])


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or "[" in str(part):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required",
}


def _one_line(error: ValidationError) -> str:
    errors = error.errors(include_url=False)
    locs = [tuple(e["loc"]) for e in errors]
    # A list whose item failed also reports itself "too short": the item is the problem.
    errors = [
        e
        for e, loc in zip(errors, locs, strict=True)
        if not (e["type"] == "too_short" and any(o[: len(loc)] == loc and o != loc for o in locs))
    ]
    first = errors[0]
    where = _where(tuple(first["loc"])) or "scenario"
    kind = first["type"]
    if kind in _MESSAGES:
        message = _MESSAGES[kind]
    else:
        message = str(first["msg"]).removeprefix("Value error, ")
        message = message[0].lower() + message[1:] if message else message
    shown = first.get("input")
    if kind not in _MESSAGES and not isinstance(shown, dict | list | tuple) and repr(shown) not in message:
        message += f" (got {shown!r})"
    places = {
        _where(tuple(e["loc"])[:-1] if tuple(e["loc"])[-2:-1] in [(p,) for p in _PAIRS] else tuple(e["loc"]))
        for e in errors
    }
    more = len(places) - 1
    return f"{where}: {message}" + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def parse_scenario(data: Any) -> Scenario:
    """Build a Scenario from its JSON form, refusing anything it does not understand."""
    if not isinstance(data, dict):
        raise ScenarioError("scenario: must be a JSON object")
    try:
        # JSON mode: strict types as JSON has them (arrays for pairs, ISO strings for times).
        return Scenario.model_validate_json(json.dumps(data))
    except ValidationError as exc:
        raise ScenarioError(_one_line(exc)) from None


BUILT_IN = (
    "demo",
    "bench-2000",
    "scale-100x1000",
    "flat",
    "planted",
    "seed-100k",
    "losers",
    "fatigue",
    "pixel-outage",
    "black-friday",
    "break-even",
    "long-tail",
    "late-reporting",
)


def load_scenario(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a JSON file by path."""
    path = Path(name_or_path)
    if name_or_path in BUILT_IN:
        text = resources.files("autoscaler.sandbox").joinpath("scenarios", f"{name_or_path}.json").read_text()
    elif path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"{name_or_path}: cannot be read: {exc}") from None
    else:
        raise ScenarioError(
            f"no built-in scenario or file named {name_or_path!r} (built-in: {', '.join(BUILT_IN)})"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{name_or_path}: not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    except RecursionError:
        raise ScenarioError(f"{name_or_path}: nested too deeply to be a scenario") from None
    return parse_scenario(data)
