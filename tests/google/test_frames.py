"""Google Ads rows become the Meta path's frames, with money exact in integer minor units."""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.google.frames import (
    budget_holders,
    holder_insights,
    micros_to_minor,
    minor_to_micros,
    value_micros,
)
from autoscaler.meta.frames import HOLDER_COLUMNS

BUDGET = "customers/1234567890/campaignBudgets/"


@pytest.mark.parametrize(
    ("micros", "currency", "minor"),
    [
        (12_340_000, "USD", 1234),  # $12.34: a whole number of cents, exact
        (5_000, "USD", 0),  # half a cent rounds to the even cent
        (15_000, "USD", 2),
        (25_000, "USD", 2),
        (1_500_000, "JPY", 2),  # offset 1: micros of a yen
        (2_500_000, "JPY", 2),
        (123_456_789_000_000, "USD", 12_345_678_900),
    ],
)
def test_micros_become_minor_units_exactly_with_half_to_even(micros: int, currency: str, minor: int) -> None:
    assert micros_to_minor(micros, currency) == minor


def test_minor_units_become_micros_exactly_and_back() -> None:
    for minor, currency in ((1, "USD"), (999_999_999, "USD"), (7, "JPY"), (123, "EUR")):
        assert micros_to_minor(minor_to_micros(minor, currency), currency) == minor
    assert minor_to_micros(2000, "USD") == 20_000_000
    assert minor_to_micros(2000, "JPY") == 2_000_000_000


def test_conversion_value_doubles_become_integer_micros_from_their_shortest_form() -> None:
    assert value_micros(0.1 + 0.2) == 300_000  # 0.30000000000000004 is 0.3 to the micro
    assert value_micros(49.99) == 49_990_000
    assert value_micros(0.0) == 0


def campaign(campaign_id: int, budget_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "customer.currency_code": "USD",
        "campaign.id": campaign_id,
        "campaign.name": f"campaign {campaign_id}",
        "campaign.status": "ENABLED",
        "campaign.bidding_strategy_system_status": "ENABLED",
        "campaign_budget.id": budget_id,
        "campaign_budget.name": f"budget {budget_id}",
        "campaign_budget.amount_micros": 50_000_000,
        "campaign_budget.total_amount_micros": 0,
        "campaign_budget.period": "DAILY",
        **fields,
    }


def test_a_shared_budget_is_one_holder_active_and_learning_if_any_campaign_is() -> None:
    frame = budget_holders(
        [
            campaign(30, 7),
            campaign(12, 7, **{"campaign.status": "PAUSED"}),
            campaign(20, 7, **{"campaign.bidding_strategy_system_status": "LEARNING_BUDGET_CHANGE"}),
            campaign(40, 8, **{"campaign.status": "PAUSED"}),
        ],
        "USD",
    )
    assert list(frame.columns) == HOLDER_COLUMNS
    shared, alone = frame.to_dict("records")
    assert shared["entity_id"] == "7"
    assert shared["level"] == "campaign_budget"
    assert shared["campaign_id"] == "12"  # the lowest id, compared as a number
    assert shared["campaign_name"] == "campaign 12"  # and that campaign's name
    assert (shared["status"], shared["learning"], shared["daily_budget"]) == ("ACTIVE", True, 5000)
    assert (alone["status"], alone["learning"]) == ("PAUSED", False)


def test_a_budget_with_a_custom_period_is_not_a_daily_budget() -> None:
    frame = budget_holders(
        [
            campaign(
                1,
                9,
                **{
                    "campaign_budget.period": "CUSTOM_PERIOD",
                    "campaign_budget.total_amount_micros": 900_000_000,
                },
            )
        ],
        "USD",
    )
    assert frame["daily_budget"].isna().all()
    assert frame.loc[0, "lifetime_budget"] == 90_000


def metric(
    campaign_id: int, budget_id: int, hour: int, cost: int, value: float, conversions: float
) -> dict[str, Any]:
    return {
        "campaign.id": campaign_id,
        "campaign.campaign_budget": f"{BUDGET}{budget_id}",
        "segments.date": "2026-11-02",
        "segments.hour": hour,
        "metrics.cost_micros": cost,
        "metrics.impressions": 100,
        "metrics.clicks": 3,
        "metrics.conversions": conversions,
        "metrics.conversions_value": value,
    }


def test_campaigns_sharing_a_budget_add_up_before_rounding_once() -> None:
    # Three campaigns of one budget, each a third of a cent over: summed in micros first.
    rows = [metric(c, 7, 9, 1_003_333, 10.5, 0.5) for c in (1, 2, 3)]
    frame = holder_insights(rows, "USD", hourly=True)
    assert frame.to_dict("records") == [
        {
            "entity_id": "7",
            "date_start": "2026-11-02",
            "local_hour": 9,
            "spend": 301,  # 3,009,999 micros is 300.9999 cents: 301, not 3 x 100
            "impressions": 300,
            "clicks": 9,
            "conversions": 2,  # 1.5 conversions, half to even
            "revenue": 3150,
        }
    ]
    assert frame["spend"].dtype == "int64"
    assert frame["revenue"].dtype == "int64"


def test_daily_rows_have_the_columns_of_the_meta_path_without_an_hour() -> None:
    rows = [metric(1, 7, 0, 2_000_000, 0.0, 0.0) | {"segments.hour": None}]
    frame = holder_insights(rows, "USD", hourly=False)
    assert list(frame.columns) == [
        "entity_id",
        "date_start",
        "spend",
        "impressions",
        "clicks",
        "conversions",
        "revenue",
    ]
    assert frame.loc[0, "spend"] == 200
