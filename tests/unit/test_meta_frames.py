"""Graph answers become frames in one place: budget holders, insights in minor units."""

from __future__ import annotations

import pandas as pd
import pytest

from autoscaler.meta import MetaConfig
from autoscaler.meta.frames import budget_holders, insights, per_holder

PURCHASE = ("omni_purchase", "purchase", "offsite_conversion.fb_pixel_purchase")

ADSETS = [
    {
        "id": "11",
        "campaign_id": "10",
        "learning_stage_info": {"status": "LEARNING"},
        "campaign": {
            "id": "10",
            "name": "CBO",
            "status": "ACTIVE",
            "effective_status": "ACTIVE",
            "daily_budget": "20000",
        },
    },
    {"id": "12", "campaign_id": "10", "campaign": {"id": "10", "daily_budget": "20000"}},
    {
        "id": "21",
        "campaign_id": "20",
        "name": "ABO a",
        "status": "PAUSED",
        "effective_status": "PAUSED",
        "daily_budget": "5000",
        "campaign": {"id": "20", "name": "ABO"},
    },
    {"id": "22", "campaign_id": "20", "lifetime_budget": "90000", "campaign": {"id": "20"}},
]


def test_campaigns_with_a_budget_hold_it_otherwise_their_ad_sets_do() -> None:
    holders = budget_holders(ADSETS)
    assert holders[["entity_id", "level", "campaign_id"]].values.tolist() == [
        ["10", "campaign", "10"],
        ["21", "adset", "20"],
        ["22", "adset", "20"],
    ]
    # An ABO campaign holds no budget, but its name is kept beside its ad sets.
    assert holders["campaign_name"].fillna("").tolist() == ["CBO", "ABO", ""]
    assert holders["daily_budget"].tolist() == [20000, 5000, pd.NA]
    assert holders["learning"].tolist() == [
        True,
        False,
        False,
    ]  # a learning ad set makes its CBO campaign learn


def test_insights_money_becomes_minor_units_with_the_currency_offset() -> None:
    row = {
        "adset_id": "21",
        "campaign_id": "20",
        "spend": "48.75",
        "impressions": "3114",
        "clicks": "145",
        "actions": [{"action_type": "purchase", "value": "3"}, {"action_type": "link_click", "value": "145"}],
        "action_values": [{"action_type": "purchase", "value": "138.29"}],
        "date_start": "2026-11-01",
    }
    usd = insights([row], "USD", PURCHASE).iloc[0]
    assert (usd.spend, usd.revenue, usd.conversions, usd.impressions) == (4875, 13829, 3, 3114)
    jpy = insights(
        [{**row, "spend": "4875", "action_values": [{"action_type": "purchase", "value": "13829"}]}],
        "JPY",
        PURCHASE,
    ).iloc[0]
    assert (jpy.spend, jpy.revenue) == (4875, 13829)


def test_the_first_preferred_purchase_type_counts_once() -> None:
    row = {
        "adset_id": "1",
        "actions": [
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "2"},
            {"action_type": "omni_purchase", "value": "3"},
        ],
    }
    assert insights([row], "USD", PURCHASE).iloc[0].conversions == 3


def test_hourly_rows_keep_their_local_hour_and_have_no_purchases() -> None:
    row = {
        "adset_id": "21",
        "spend": "1.00",
        "hourly_stats_aggregated_by_advertiser_time_zone": "13:00:00 - 13:59:59",
    }
    frame = insights([row], "USD", PURCHASE)
    assert frame.iloc[0].local_hour == 13
    assert frame.iloc[0].conversions == 0


def test_ad_set_rows_sum_to_their_budget_holder() -> None:
    holders = budget_holders(ADSETS)
    rows = insights(
        [
            {"adset_id": "11", "campaign_id": "10", "spend": "1.00", "date_start": "d"},
            {"adset_id": "12", "campaign_id": "10", "spend": "2.00", "date_start": "d"},
            {"adset_id": "21", "campaign_id": "20", "spend": "4.00", "date_start": "d"},
        ],
        "USD",
        PURCHASE,
    )
    assert per_holder(rows, holders).set_index("entity_id")["spend"].to_dict() == {"10": 300, "21": 400}


def test_config_from_a_connection_refuses_unknown_extras_and_hides_secrets() -> None:
    config = MetaConfig.from_connection(
        "EAAsecret", {"app_id": "1", "app_secret": "shh", "graph_url": "http://127.0.0.1:9"}
    )
    assert "EAAsecret" not in repr(config)
    assert "shh" not in repr(config)
    with pytest.raises(ValueError, match="unknown extra field"):
        MetaConfig.from_connection("t", {"graph_host": "x"})
    with pytest.raises(ValueError, match="password"):
        MetaConfig.from_connection("", {})
    with pytest.raises(ValueError, match=r"api_version must look like v26\.0"):
        MetaConfig.from_connection("t", {"api_version": "26"})


def test_log_redaction_hides_tokens_and_leaves_the_rest_readable() -> None:
    import logging

    from autoscaler.meta.client import TokenRedactingFilter

    record = logging.LogRecord(
        "urllib3", logging.DEBUG, "f", 1, 'GET /v26.0/act_1?access_token=%s&x=1 "200"', ("EAAtok",), None
    )
    TokenRedactingFilter(["EAAtok", ""]).filter(record)
    assert record.getMessage() == 'GET /v26.0/act_1?access_token=<redacted>&x=1 "200"'
