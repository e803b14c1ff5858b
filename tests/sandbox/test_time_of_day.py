"""Time-of-day adjustments through the hourly steps, against the sandbox and PostgreSQL."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from autoscaler.execute import execute_account
from autoscaler.hourly import RunHour, decide_account
from autoscaler.meta import MetaClient
from autoscaler.profiles import Profile
from autoscaler.rules import ScalingRule
from autoscaler.sandbox.server import RunningSandbox
from autoscaler.store.profiles import replace_profiles
from autoscaler.store.rules import create_rule
from tests.sandbox.test_hourly_steps import ACCOUNT, START, meta, run_live_hour, sandbox  # noqa: F401

pytestmark = [pytest.mark.sandbox, pytest.mark.integration]

EVENING = START + timedelta(hours=17)  # its run writes for 18:00-19:00 in New York


def profile(entity_id: str, multipliers: dict[int, float], confidence: float = 0.9) -> Profile:
    hours = [multipliers.get(h, 1.0) for h in range(24)]
    return Profile(
        entity_id=entity_id,
        days_observed=28,
        total_spend=1,
        total_revenue=1,
        total_conversions=500,
        hour_spend=[0] * 24,
        hour_revenue=[0] * 24,
        hour_conversions=[0] * 24,
        hour_roas=[0.0] * 24,
        hour_index=hours,
        hour_multiplier=hours,
        peak_hours=[h for h, m in multipliers.items() if m > 1],
        valley_hours=[h for h, m in multipliers.items() if m < 1],
        confidence=confidence,
    )


def run_hour(engine: Engine, meta: MetaClient, sandbox: RunningSandbox, hour: object) -> None:  # noqa: F811
    run_live_hour(engine, meta, sandbox, hour)  # type: ignore[arg-type]
    now = hour + timedelta(hours=1, minutes=5)  # type: ignore[operator]
    decide_account(engine, RunHour(ACCOUNT, hour), now, now + timedelta(minutes=45))  # type: ignore[arg-type]
    execute_account(engine, meta, ACCOUNT)


def time_actions(engine: Engine, entity: str) -> list[tuple[str, int, int, int, str]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT action_type, budget_before, budget_after, base_after, status "
                    "FROM autoscaler.scaling_actions WHERE entity_id = :e ORDER BY run_hour"
                ),
                {"e": entity},
            )
        ]


def time_optimised(engine: Engine, meta: MetaClient, sandbox: RunningSandbox) -> tuple[str, int]:  # noqa: F811
    """A rule with time optimisation on, and one entity with a confident profile: (entity, budget)."""
    run_live_hour(engine, meta, sandbox, EVENING - timedelta(hours=1))  # holders known
    with engine.begin() as conn:
        create_rule(
            conn,
            ScalingRule.parse(
                {
                    "account_id": ACCOUNT,
                    "min_daily_budget": 100,
                    "max_daily_budget": 10_000_000,
                    "min_impressions": 10**9,  # no performance changes: time of day alone
                    "time_optimization_enabled": True,
                    "time_min_confidence": 0.5,
                    "time_multiplier_min": 0.6,
                    "time_multiplier_max": 1.4,
                }
            ),
            actor="tests",
        )
        entity, budget = conn.execute(
            text(
                "SELECT entity_id, daily_budget FROM autoscaler.budget_holders "
                "WHERE account_id = :a AND status = 'ACTIVE' AND daily_budget IS NOT NULL ORDER BY entity_id LIMIT 1"
            ),
            {"a": ACCOUNT},
        ).one()
        window = (EVENING - timedelta(days=28), EVENING)
        replace_profiles(conn, ACCOUNT, [profile(entity, {18: 1.1, 19: 0.95, 20: 1.9})], *window)

    return str(entity), int(budget)


def test_hourly_budgets_follow_the_profile_from_the_base_and_never_compound(
    engine: Engine,
    meta: MetaClient,  # noqa: F811
    sandbox: RunningSandbox,  # noqa: F811
) -> None:
    entity, b = time_optimised(engine, meta, sandbox)
    run_hour(engine, meta, sandbox, EVENING)  # 18:00 local: x1.1
    run_hour(engine, meta, sandbox, EVENING + timedelta(hours=1))  # 19:00: x0.95 of the base
    run_hour(engine, meta, sandbox, EVENING + timedelta(hours=2))  # 20:00: x1.9, bounded to 1.4
    # ... and walked there: at most 15% above what Meta holds (timeopt.TIME_STEP).
    peak = math.floor(round(b * 0.95) * 1.15 + 1e-6)
    assert peak < round(b * 1.4)

    assert time_actions(engine, entity) == [
        ("time_adjust", b, round(b * 1.1), b, "executed"),
        ("time_adjust", round(b * 1.1), round(b * 0.95), b, "executed"),
        ("time_adjust", round(b * 0.95), peak, b, "executed"),
    ]
    with engine.connect() as conn:
        base = conn.execute(
            text("SELECT base_daily_budget FROM autoscaler.budget_holders WHERE entity_id = :e"),
            {"e": entity},
        ).scalar_one()
        others = conn.execute(
            text("SELECT count(*) FROM autoscaler.scaling_actions WHERE entity_id <> :e"), {"e": entity}
        ).scalar_one()
    assert base == b
    assert others == 0  # entities without a confident profile are left alone
    writes = [(h["entity_id"], h["before"], h["after"]) for h in sandbox.sandbox.sim.history]
    assert writes == [
        (entity, b, round(b * 1.1)),
        (entity, round(b * 1.1), round(b * 0.95)),
        (entity, round(b * 0.95), peak),
    ]


def test_a_shadow_run_records_time_adjustments_as_simulated_and_writes_nothing(
    engine: Engine,
    meta: MetaClient,  # noqa: F811
    sandbox: RunningSandbox,  # noqa: F811
) -> None:
    entity, b = time_optimised(engine, meta, sandbox)
    run_live_hour(engine, meta, sandbox, EVENING)
    now = EVENING + timedelta(hours=1, minutes=5)
    decide_account(engine, RunHour(ACCOUNT, EVENING, mode="shadow"), now, None)
    execute_account(engine, meta, ACCOUNT)
    assert time_actions(engine, entity) == [("time_adjust", b, round(b * 1.1), b, "simulated")]
    assert sandbox.sandbox.sim.history == []
