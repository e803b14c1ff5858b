"""The rule model: the seed's defaults, and a clear refusal naming each broken setting."""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.rules import RuleError, ScalingRule

BASE: dict[str, Any] = {"account_id": "act_123456789", "min_daily_budget": 1_000, "max_daily_budget": 100_000}


def problems(**changes: Any) -> dict[str, str]:
    with pytest.raises(RuleError) as caught:
        ScalingRule.parse({**BASE, **changes})
    return caught.value.problems


def test_defaults_are_the_seeds_thresholds_and_multipliers() -> None:
    rule = ScalingRule.parse(BASE)
    assert (rule.roas_scale_up_aggressive, rule.roas_scale_up, rule.roas_scale_down, rule.roas_pause) == (
        4.0,
        3.0,
        1.5,
        1.0,
    )
    assert rule.ctr_scale_up_aggressive == 0.03
    assert (rule.multiplier_aggressive_up, rule.multiplier_up, rule.multiplier_down) == (1.5, 1.2, 0.7)
    assert rule.min_impressions == 1000
    assert rule.scope_level == "account"
    assert rule.enabled


def test_budgets_are_required_because_money_has_no_safe_default() -> None:
    with pytest.raises(RuleError) as caught:
        ScalingRule.parse({"account_id": "act_1"})
    assert caught.value.problems == {"min_daily_budget": "is required", "max_daily_budget": "is required"}


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"roas_scale_down": 0.9}, "roas_scale_down", "at least roas_pause"),
        ({"roas_scale_up": 1.4}, "roas_scale_up", "at least roas_scale_down"),
        ({"roas_scale_up_aggressive": 2.5}, "roas_scale_up_aggressive", "at least roas_scale_up"),
        ({"roas_pause": 0}, "roas_pause", "greater than 0"),
        ({"ctr_scale_up_aggressive": 3}, "ctr_scale_up_aggressive", "is a ratio (0.03 means 3%)"),
        ({"ctr_scale_up_aggressive": -0.1}, "ctr_scale_up_aggressive", "greater than or equal to 0"),
        ({"multiplier_up": 1.0}, "multiplier_up", "greater than 1"),
        ({"multiplier_up": 5}, "multiplier_up", "less than or equal to 3"),
        ({"multiplier_aggressive_up": 1.1}, "multiplier_aggressive_up", "at least multiplier_up"),
        ({"multiplier_down": 1.0}, "multiplier_down", "less than 1"),
        ({"multiplier_down": 0.05}, "multiplier_down", "greater than or equal to 0.1"),
        (
            {"min_daily_budget": 0},
            "min_daily_budget",
            "must be more than 0 (minor units), got 0 (minor units)",
        ),
        ({"max_daily_budget": 999}, "max_daily_budget", "at least min_daily_budget"),
        (
            {"require_approval_threshold": -1},
            "require_approval_threshold",
            "must be at least 0 (minor units)",
        ),
        ({"min_impressions": -5}, "min_impressions", "greater than or equal to 0"),
        ({"lookback_hours": 0}, "lookback_hours", "greater than or equal to 1"),
        ({"lookback_hours": 169}, "lookback_hours", "less than or equal to 168"),
        ({"cooldown_hours": 721}, "cooldown_hours", "less than or equal to 720"),
        ({"time_min_confidence": 1.5}, "time_min_confidence", "less than or equal to 1"),
        ({"time_multiplier_min": 1.2}, "time_multiplier_min", "less than or equal to 1"),
        ({"time_multiplier_max": 0.9}, "time_multiplier_max", "greater than or equal to 1"),
        ({"account_id": "123"}, "account_id", "act_"),
        ({"scope_level": "ad"}, "scope_level", "'account', 'campaign' or 'adset'"),
        ({"scope_level": "campaign"}, "scope_entity_id", "a campaign or adset rule needs one"),
        ({"scope_entity_id": "42"}, "scope_entity_id", "an account rule has no scope_entity_id"),
        ({"rule_name": ""}, "rule_name", "at least 1 character"),
        ({"roas_scale_up": float("nan")}, "roas_scale_up", "finite number"),
        ({"colour": "red"}, "colour", "is not a rule setting"),
    ],
)
def test_each_broken_setting_is_named_with_the_rule_it_broke(
    changes: dict[str, Any], field: str, says: str
) -> None:
    found = problems(**changes)
    assert field in found, found
    assert says in found[field]


def test_every_problem_is_reported_at_once() -> None:
    found = problems(roas_scale_up=1.0, multiplier_down=2, colour="red")
    assert set(found) == {"roas_scale_up", "multiplier_down", "colour"}


def test_account_cap_belongs_to_account_rules_only() -> None:
    found = problems(scope_level="campaign", scope_entity_id="2001", account_daily_budget_cap=50_000)
    assert "only an account rule" in found["account_daily_budget_cap"]


def test_campaign_rule_with_its_campaign_is_valid() -> None:
    rule = ScalingRule.parse({**BASE, "scope_level": "campaign", "scope_entity_id": "2001"})
    assert rule.scope_entity_id == "2001"


def test_major_units_convert_with_the_currency_offset() -> None:
    data = {
        "account_id": "act_1",
        "min_daily_budget": "5.00",
        "max_daily_budget": 1000,
        "require_approval_threshold": 500,
    }
    usd = ScalingRule.from_major(data, "USD")
    assert (usd.min_daily_budget, usd.max_daily_budget, usd.require_approval_threshold) == (
        500,
        100_000,
        50_000,
    )
    jpy = ScalingRule.from_major({**data, "min_daily_budget": 500}, "JPY")
    assert (jpy.min_daily_budget, jpy.max_daily_budget) == (500, 1000)


def test_major_units_finer_than_the_currency_are_refused() -> None:
    with pytest.raises(RuleError) as caught:
        ScalingRule.from_major(
            {"account_id": "act_1", "min_daily_budget": 10.5, "max_daily_budget": 100}, "JPY"
        )
    assert caught.value.problems == {
        "min_daily_budget": "JPY has no minor unit, so 10.5 must be a whole amount"
    }


def test_rules_are_immutable_values() -> None:
    rule = ScalingRule.parse(BASE)
    with pytest.raises(Exception, match="frozen"):
        rule.roas_pause = 0.5  # type: ignore[misc]


def test_a_rule_name_the_database_cannot_store_is_refused_by_name() -> None:
    with pytest.raises(RuleError) as raised:
        ScalingRule.parse(
            {"account_id": "act_1", "min_daily_budget": 1, "max_daily_budget": 2, "rule_name": "a\x00b"}
        )
    assert raised.value.problems == {"rule_name": "must not contain NUL characters"}


def test_the_defaults_are_the_seeds_thresholds_weighed_as_the_backtest_says() -> None:
    rule = ScalingRule.parse({"account_id": "act_1", "min_daily_budget": 1, "max_daily_budget": 2})
    seed = (rule.roas_scale_up_aggressive, rule.roas_scale_up, rule.roas_scale_down, rule.roas_pause)
    assert seed == (4.0, 3.0, 1.5, 1.0)
    assert (rule.multiplier_aggressive_up, rule.multiplier_up, rule.multiplier_down) == (1.5, 1.2, 0.7)
    assert (rule.ctr_scale_up_aggressive, rule.min_impressions) == (0.03, 1000)
    # Not the seed's: bench/backtest.py measured these against it (README, "Does it make money?").
    assert (rule.lookback_hours, rule.cooldown_hours, rule.evidence_z) == (72, 2, 2.0)
    assert rule.allow_changes_during_learning


@pytest.mark.parametrize(
    ("currency", "changes", "field", "says"),
    [
        ("USD", {"min_daily_budget": -10}, "min_daily_budget", "must be more than 0.00 USD, got -10.00 USD"),
        (
            "EUR",
            {"min_daily_budget": 500, "max_daily_budget": 100},
            "max_daily_budget",
            "must be at least min_daily_budget (500.00 EUR), got 100.00 EUR",
        ),
        (
            "JPY",
            {"min_daily_budget": 500, "max_daily_budget": 100},
            "max_daily_budget",
            "must be at least min_daily_budget (500 JPY), got 100 JPY",
        ),
        (
            "USD",
            {"max_daily_budget": 1e30},
            "max_daily_budget",
            "must be at most 10,000,000.00 USD, got 1e+30 USD",
        ),
        ("USD", {"max_daily_budget": 92e15}, "max_daily_budget", "must be at most 10,000,000.00 USD"),
        (
            "USD",
            {"min_daily_budget": True},
            "min_daily_budget",
            "must be an amount (a number or a decimal string)",
        ),
        ("USD", {"max_daily_budget": "inf"}, "max_daily_budget", "is not a finite amount"),
        ("USD", {"enabled": "yes"}, "enabled", "Input should be a valid boolean (got 'yes')"),
        ("USD", {"min_impressions": 1000.0}, "min_impressions", "Input should be a valid integer"),
        ("USD", {"rule_id": 999}, "rule_id", "is assigned by the database; leave it out"),
    ],
)
def test_rules_in_major_units_are_strict_and_speak_in_major_units(
    currency: str, changes: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(RuleError) as caught:
        ScalingRule.from_major(
            {"account_id": "act_1", "min_daily_budget": 10, "max_daily_budget": 1000, **changes}, currency
        )
    assert says in caught.value.problems[field], caught.value.problems
