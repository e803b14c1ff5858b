"""Fault injection for the sandbox: rates, bursts and scripts, deterministic for a seed.

A spec is comma-separated ``key=value`` pairs (docs/sandbox.md):

``5xx=0.05``                 share of Graph requests answered 500 with a transient error (code 1 or 2)
``timeout=0.02``             share answered only after ``timeout_delay`` seconds (default 3)
``throttle=0.01``            share refused with code 80004 and usage headers at 100%
``burst=N:M``                requests N..N+M-1 (1-based, Graph requests only) are throttled
``expire_after=N``           the access token expires after N Graph requests (then code 190)
``batch_partial=0.2``        share of calls inside a batch that fail (code 2, is_transient)
``malformed=0.01``           share answered 200 with a truncated JSON body
``async_fail=0.5``           share of async report runs that end "Job Failed"
``async_polls=N``            status reads before an async report completes (default 1)
``sync_rows=N``              synchronous insights answering more than N rows time out (100/1504018)
``block_seconds=S``          how long a throttled account stays blocked (default 60)
``max_score=N``              points an account may hold before it is throttled (default 9000)
``decay_seconds=S``          how long a full score takes to decay to zero (default 300)
``timeout_delay=S``          delay of a ``timeout`` fault in seconds (default 3)
``seed=S``                   seed of the fault draws (default 0)
``script=FILE``              JSON list of {"request": n, "fault": "5xx|timeout|throttle|expire|malformed"}

What ``autoscaler doctor`` checks, each of which can be made to fail (keys marked * repeat):

``token_expires_in=H``       debug_token says the token expires H hours after the virtual clock's now
``missing_scope=NAME`` *     debug_token leaves the permission NAME (ads_read, ads_management) out
``unreachable=ACCOUNT`` *    every read of ACCOUNT answers code 100/33 (not assigned to this token)
``read_only=ACCOUNT`` *      the token may read ACCOUNT but not write it (user_tasks ANALYZE; writes: code 200)
``currency=ACCOUNT:CODE`` *  Meta reports ACCOUNT's currency as CODE
``timezone=ACCOUNT:ZONE`` *  Meta reports ACCOUNT's time zone as ZONE
``usage=PCT``                usage headers report at least PCT% (0-100) of the rate limit used
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class FaultSpecError(ValueError):
    """A fault spec that cannot be parsed, naming the key."""


@dataclass
class FaultPlan:
    rate_5xx: float = 0.0
    rate_timeout: float = 0.0
    rate_throttle: float = 0.0
    burst: tuple[int, int] | None = None
    expire_after: int | None = None
    rate_batch_partial: float = 0.0
    rate_malformed: float = 0.0
    rate_async_fail: float = 0.0
    async_polls: int = 1
    sync_rows: int | None = None
    block_seconds: float = 60.0
    max_score: float = 9000.0
    decay_seconds: float = 300.0
    timeout_delay: float = 3.0
    seed: int = 0
    script: dict[int, str] = field(default_factory=dict)
    token_expires_in_hours: float | None = None
    missing_scopes: set[str] = field(default_factory=set)
    unreachable: set[str] = field(default_factory=set)
    read_only: set[str] = field(default_factory=set)
    account_overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    usage_floor: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @classmethod
    def parse(cls, spec: str | None) -> FaultPlan:
        plan = cls()
        if not spec:
            return plan
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, value = part.partition("=")
            if not sep:
                raise FaultSpecError(f"{part!r}: expected key=value")
            setter = _SETTERS.get(key)
            if setter is None:
                raise FaultSpecError(f"{key}: unknown fault (see docs/sandbox.md)")
            try:
                setter(plan, value)
            except FaultSpecError:
                raise
            except ValueError as exc:
                raise FaultSpecError(f"{key}: cannot read {value!r}") from exc
        plan._rng = random.Random(plan.seed)
        return plan

    def draw(self, request_number: int) -> str | None:
        """The fault for the n-th Graph request, if any (scripted faults first)."""
        if request_number in self.script:
            return self.script[request_number]
        if self.burst and self.burst[0] <= request_number < self.burst[0] + self.burst[1]:
            return "throttle"
        # One draw per request keeps the sequence reproducible whatever the rates are.
        roll = self._rng.random()
        for name, rate in (
            ("5xx", self.rate_5xx),
            ("timeout", self.rate_timeout),
            ("throttle", self.rate_throttle),
            ("malformed", self.rate_malformed),
        ):
            if roll < rate:
                return name
            roll -= rate
        return None

    def batch_call_fails(self) -> bool:
        return self.rate_batch_partial > 0 and self._rng.random() < self.rate_batch_partial

    def async_fails(self) -> bool:
        return self.rate_async_fail > 0 and self._rng.random() < self.rate_async_fail


def _rate(attribute: str) -> Callable[[FaultPlan, str], None]:
    def set_rate(plan: FaultPlan, value: str) -> None:
        rate = float(value)
        if not 0 <= rate <= 1:
            raise FaultSpecError(f"{attribute.removeprefix('rate_')}: a rate between 0 and 1, got {value}")
        setattr(plan, attribute, rate)

    return set_rate


def _burst(plan: FaultPlan, value: str) -> None:
    start, _, length = value.partition(":")
    plan.burst = (int(start), int(length))


def _adder(attribute: str) -> Callable[[FaultPlan, str], None]:
    def add(plan: FaultPlan, value: str) -> None:
        if not value.strip():
            raise FaultSpecError(f"{attribute}: give a value")
        getattr(plan, attribute).add(value.strip())

    return add


def _override(field_name: str) -> Callable[[FaultPlan, str], None]:
    def override(plan: FaultPlan, value: str) -> None:
        account, sep, reported = value.partition(":")
        if not sep or not account.startswith("act_") or not reported:
            raise FaultSpecError(f"{value!r}: expected act_<digits>:VALUE")
        plan.account_overrides.setdefault(account, {})[field_name] = reported

    return override


def _usage(plan: FaultPlan, value: str) -> None:
    pct = int(value)
    if not 0 <= pct <= 100:
        raise FaultSpecError(f"usage: a percentage between 0 and 100, got {value}")
    plan.usage_floor = pct


def _setter(attribute: str, kind: Callable[[str], object]) -> Callable[[FaultPlan, str], None]:
    return lambda plan, value: setattr(plan, attribute, kind(value))


_SETTERS: dict[str, Callable[[FaultPlan, str], None]] = {
    "5xx": _rate("rate_5xx"),
    "timeout": _rate("rate_timeout"),
    "throttle": _rate("rate_throttle"),
    "batch_partial": _rate("rate_batch_partial"),
    "malformed": _rate("rate_malformed"),
    "async_fail": _rate("rate_async_fail"),
    "burst": _burst,
    "expire_after": _setter("expire_after", int),
    "async_polls": _setter("async_polls", int),
    "sync_rows": _setter("sync_rows", int),
    "block_seconds": _setter("block_seconds", float),
    "max_score": _setter("max_score", float),
    "decay_seconds": _setter("decay_seconds", float),
    "timeout_delay": _setter("timeout_delay", float),
    "seed": _setter("seed", int),
    "script": _setter("script", lambda value: load_script(Path(value))),
    "token_expires_in": _setter("token_expires_in_hours", float),
    "missing_scope": _adder("missing_scopes"),
    "unreachable": _adder("unreachable"),
    "read_only": _adder("read_only"),
    "currency": _override("currency"),
    "timezone": _override("timezone_name"),
    "usage": _usage,
}


def load_script(path: Path) -> dict[int, str]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FaultSpecError(f"script: cannot read {path}: {exc}") from exc
    script: dict[int, str] = {}
    for entry in entries:
        fault = entry.get("fault")
        if fault not in ("5xx", "timeout", "throttle", "expire", "malformed"):
            raise FaultSpecError(f"script: unknown fault {fault!r} at request {entry.get('request')}")
        script[int(entry["request"])] = fault
    return script
