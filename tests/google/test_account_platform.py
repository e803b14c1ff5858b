"""The audit schema records each account's platform and checks its id by it (migration 0013)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

pytestmark = pytest.mark.integration

INSERT = text(
    "INSERT INTO autoscaler.ad_accounts (account_id, currency, timezone_name, platform) "
    "VALUES (:account_id, 'USD', 'America/Chicago', :platform)"
)


def test_accounts_recorded_so_far_are_meta_accounts(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO autoscaler.ad_accounts (account_id, currency, timezone_name) "
                "VALUES ('act_77', 'USD', 'America/Chicago')"
            )
        )
        platform = conn.execute(
            text("SELECT platform FROM autoscaler.ad_accounts WHERE account_id = 'act_77'")
        ).scalar_one()
    assert platform == "meta"


def test_a_google_ads_customer_is_stored_by_its_ten_digit_id_with_campaign_budgets(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(INSERT, {"account_id": "1234567890", "platform": "google_ads"})
        conn.execute(
            text(
                "INSERT INTO autoscaler.budget_holders (entity_id, account_id, level, campaign_id) "
                "VALUES ('9001', '1234567890', 'campaign_budget', '9002')"
            )
        )
        level = conn.execute(
            text("SELECT level FROM autoscaler.budget_holders WHERE entity_id = '9001'")
        ).scalar_one()
    assert level == "campaign_budget"


@pytest.mark.parametrize(
    ("account_id", "platform"),
    [("act_1234567890", "google_ads"), ("123-456-7890", "google_ads"), ("1234567890", "meta")],
)
def test_an_id_that_does_not_fit_its_platform_is_refused(
    engine: Engine, account_id: str, platform: str
) -> None:
    with pytest.raises(IntegrityError, match="ad_accounts_account_id_format"), engine.begin() as conn:
        conn.execute(INSERT, {"account_id": account_id, "platform": platform})
