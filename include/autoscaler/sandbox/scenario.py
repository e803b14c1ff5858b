"""Scenarios: which accounts, campaigns and ad sets the sandbox simulates, and how they behave.

A scenario is JSON (docs/sandbox.md documents every field).  Accounts list *groups* of
campaigns; the generator expands them into entities deterministically from the seed, so a
scenario file stays short even for 100,000 budget holders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

HourEffects = Literal["flat", "mild", "planted"]


@dataclass(frozen=True)
class CampaignGroup:
    """``count`` campaigns of one kind: CBO (the campaign holds the budget) or ABO (ad sets do)."""

    kind: Literal["cbo", "abo"]
    count: int
    adsets_per_campaign: int = 1
    daily_budget: tuple[float, float] = (20.0, 200.0)  # major units, uniform range
    roas: tuple[float, float] = (0.5, 5.0)  # true ROAS at the starting budget
    ctr: tuple[float, float] = (0.008, 0.05)
    cpm: tuple[float, float] = (6.0, 25.0)  # major units per 1,000 impressions
    order_value: tuple[float, float] = (30.0, 120.0)  # major units
    elasticity: tuple[float, float] = (0.6, 0.9)  # revenue ~ spend**elasticity: diminishing returns
    hour_effects: HourEffects = "mild"
    paused_share: float = 0.0


@dataclass(frozen=True)
class AccountSpec:
    account_id: str
    name: str
    currency: str
    timezone: str
    groups: tuple[CampaignGroup, ...]
    read_only: bool = False  # the token may read but not manage this account (error 200 on writes)


@dataclass(frozen=True)
class Scenario:
    name: str
    accounts: tuple[AccountSpec, ...]
    start: datetime  # the virtual clock's first instant (UTC, on the hour)
    history_days: int = 7  # days simulated before ``start``, so backfills find data
    access_token: str = "sandbox-token"
    app_secret: str | None = None
    attribution_delay: tuple[float, ...] = (
        0.45,
        0.2,
        0.1,
        0.07,
        0.05,
        0.04,
        0.03,
        0.02,
        0.02,
        0.01,
        0.005,
        0.005,
    )
    learning_hours: int = 72
    learning_penalty: float = 0.8
    minimum_daily_budget: float = 1.0  # major units; Meta's floor for the sandbox's currencies
    metadata: dict[str, Any] = field(default_factory=dict)


class ScenarioError(ValueError):
    """A scenario file that cannot be used, naming the field."""


def _pair(value: Any, name: str) -> tuple[float, float]:
    if isinstance(value, int | float):
        return (float(value), float(value))
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        low, high = float(value[0]), float(value[1])
        if low > high:
            raise ScenarioError(f"{name}: range [{low}, {high}] is reversed")
        return (low, high)
    raise ScenarioError(f"{name}: expected a number or [low, high], got {value!r}")


def _group(raw: dict[str, Any], where: str) -> CampaignGroup:
    known = set(CampaignGroup.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if raw.get("kind") not in ("cbo", "abo"):
        raise ScenarioError(f"{where}.kind: must be cbo or abo")
    count = raw.get("count")
    if not isinstance(count, int) or count < 0:
        raise ScenarioError(f"{where}.count: must be a whole number >= 0")
    kwargs: dict[str, Any] = {"kind": raw["kind"], "count": count}
    for name in ("daily_budget", "roas", "ctr", "cpm", "order_value", "elasticity"):
        if name in raw:
            kwargs[name] = _pair(raw[name], f"{where}.{name}")
    if "adsets_per_campaign" in raw:
        kwargs["adsets_per_campaign"] = int(raw["adsets_per_campaign"])
    if "hour_effects" in raw:
        if raw["hour_effects"] not in ("flat", "mild", "planted"):
            raise ScenarioError(f"{where}.hour_effects: must be flat, mild or planted")
        kwargs["hour_effects"] = raw["hour_effects"]
    if "paused_share" in raw:
        kwargs["paused_share"] = float(raw["paused_share"])
    return CampaignGroup(**kwargs)


def _start(value: Any) -> datetime:
    try:
        start = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ScenarioError(f"start: not an ISO timestamp: {value!r}") from exc
    if start.tzinfo is None:
        raise ScenarioError("start: must carry a time zone (use Z for UTC)")
    start = start.astimezone(UTC)
    if start.minute or start.second or start.microsecond:
        raise ScenarioError("start: must be on the hour")
    return start


def parse_scenario(data: dict[str, Any]) -> Scenario:
    """Build a Scenario from its JSON form, refusing anything it does not understand."""
    start = _start(data.get("start", "2026-11-02T00:00:00+00:00"))
    accounts = []
    for i, raw in enumerate(data.get("accounts") or []):
        where = f"accounts[{i}]"
        account_id = str(raw.get("account_id", ""))
        if not account_id.startswith("act_") or not account_id[4:].isdigit():
            raise ScenarioError(f"{where}.account_id: must be act_<digits>")
        groups = tuple(_group(g, f"{where}.groups[{j}]") for j, g in enumerate(raw.get("groups") or []))
        accounts.append(
            AccountSpec(
                account_id=account_id,
                name=str(raw.get("name", account_id)),
                currency=str(raw.get("currency", "USD")).upper(),
                timezone=str(raw.get("timezone", "America/New_York")),
                groups=groups,
                read_only=bool(raw.get("read_only", False)),
            )
        )
    if not accounts:
        raise ScenarioError("accounts: a scenario needs at least one account")
    extra: dict[str, Any] = {}
    for name in (
        "history_days",
        "access_token",
        "app_secret",
        "learning_hours",
        "learning_penalty",
        "minimum_daily_budget",
    ):
        if name in data:
            extra[name] = data[name]
    if "attribution_delay" in data:
        weights = tuple(float(w) for w in data["attribution_delay"])
        if not weights or any(w < 0 for w in weights) or not np.isclose(sum(weights), 1.0):
            raise ScenarioError("attribution_delay: non-negative weights summing to 1")
        extra["attribution_delay"] = weights
    return Scenario(
        name=str(data.get("name", "custom")),
        accounts=tuple(accounts),
        start=start,
        metadata={k: v for k, v in data.items() if k == "description"},
        **extra,
    )


BUILT_IN = ("demo", "bench-2000", "scale-100x1000", "flat", "planted", "seed-100k", "losers")


def load_scenario(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a JSON file by path."""
    path = Path(name_or_path)
    if name_or_path in BUILT_IN:
        text = resources.files("autoscaler.sandbox").joinpath("scenarios", f"{name_or_path}.json").read_text()
    elif path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        raise ScenarioError(
            f"no built-in scenario or file named {name_or_path!r} (built-in: {', '.join(BUILT_IN)})"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{name_or_path}: not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    return parse_scenario(data)
