"""Each account's platform is recorded, and its id checked by it: in Python, and again by the
audit schema (migrations 0013 and 0014)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from autoscaler.rules import ACCOUNT_ID_PATTERN
from autoscaler.store.accounts import AccountError, AdAccount, get_account, upsert_account, validate_account

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


def test_the_store_records_and_reads_an_accounts_platform(engine: Engine) -> None:
    with engine.begin() as conn:
        upsert_account(conn, AdAccount("1234567890", "EUR", "Europe/Berlin", "Shop", platform="google_ads"))
        upsert_account(conn, AdAccount("act_77", "USD", "America/Chicago"))
        assert get_account(conn, "1234567890").platform == "google_ads"
        assert get_account(conn, "act_77").platform == "meta"


@pytest.mark.parametrize(
    ("account", "says"),
    [
        (
            AdAccount("act_1234567890", "USD", "UTC", platform="google_ads"),
            "account_id: must be a Google Ads customer id: 10 digits 0-9, without dashes on a google_ads "
            "account (got 'act_1234567890')",
        ),
        (
            AdAccount("123-456-7890", "USD", "UTC", platform="google_ads"),
            "account_id: must be a Google Ads customer id: 10 digits 0-9, without dashes (got '123-456-7890')",
        ),
        (
            AdAccount("1234567890", "USD", "UTC"),
            "account_id: must be act_ followed by 1 to 20 digits 0-9 on a meta account (got '1234567890')",
        ),
        (
            AdAccount("1234567890", "USD", "UTC", platform="tiktok"),
            "platform: Input should be 'meta' or 'google_ads'",
        ),
    ],
)
def test_an_account_id_is_checked_against_its_own_platform_in_one_line(account: AdAccount, says: str) -> None:
    with pytest.raises(AccountError) as raised:
        validate_account(account)
    assert str(raised.value).startswith(says)
    assert "\n" not in str(raised.value)


def test_rules_pauses_and_queries_take_either_platforms_account_id() -> None:
    from autoscaler.airflow.params import accounts_param
    from autoscaler.api.schemas import PauseIn

    for good in ("act_1", "1234567890"):
        assert re.fullmatch(ACCOUNT_ID_PATTERN, good)
        assert PauseIn.model_validate({"scope": good, "reason": "incident"}).scope == good
    for bad in ("123456789", "act_", "12345678901", "act_١٢٣"):
        assert not re.fullmatch(ACCOUNT_ID_PATTERN, bad)
    # The DAG param writes the pattern out (DAG files import it at parse time): the same one.
    assert accounts_param().schema["items"]["pattern"] == ACCOUNT_ID_PATTERN


def test_a_google_ads_customer_can_be_paused_and_its_budgets_acted_on(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(INSERT, {"account_id": "1234567890", "platform": "google_ads"})
        conn.execute(
            text(
                "INSERT INTO autoscaler.pause_switches (scope, paused, reason, changed_by) "
                "VALUES ('1234567890', true, 'incident', 'ana')"
            )
        )
    with pytest.raises(IntegrityError, match="pause_switches_scope_format"), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO autoscaler.pause_switches (scope, paused, reason, changed_by) "
                "VALUES ('123456789', true, 'incident', 'ana')"
            )
        )


def test_the_command_line_records_a_google_ads_account_and_refuses_a_meta_id_for_one(
    db_url: URL, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    from autoscaler.cli import main

    url = db_url.render_as_string(hide_password=False)
    add = ("accounts", "add", "--platform", "google_ads", "--currency", "EUR", "--timezone", "Europe/Berlin")
    assert main([*add, "1234567890", "--url", url]) == 0
    assert capsys.readouterr().out == "recorded 1234567890 (EUR, Europe/Berlin)\n"
    assert main([*add, "act_7", "--url", url]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "autoscaler: error: account_id: must be a Google Ads customer id: 10 digits 0-9, without dashes "
        "on a google_ads account (got 'act_7')"
    ]
    with engine.connect() as conn:
        assert get_account(conn, "1234567890").platform == "google_ads"
        assert conn.execute(text("SELECT count(*) FROM autoscaler.ad_accounts")).scalar_one() == 1


def test_a_budget_id_kept_for_another_account_is_refused_not_written_over(engine: Engine) -> None:
    from datetime import UTC, datetime

    import pandas as pd

    from autoscaler.store.holders import HolderOwnerError, upsert_budget_holders

    seen = datetime(2026, 11, 3, 12, tzinfo=UTC)
    holder = pd.DataFrame(
        {"entity_id": ["9001"], "level": ["campaign"], "campaign_id": ["9001"], "name": ["Meta's"]}
    )
    with engine.begin() as conn:
        upsert_account(conn, AdAccount("act_77", "USD", "America/Chicago"))
        upsert_account(conn, AdAccount("1234567890", "USD", "America/Chicago", platform="google_ads"))
        upsert_budget_holders(conn, "act_77", holder, seen)
    budget = holder.assign(level="campaign_budget", name="Google's")
    with (
        pytest.raises(
            HolderOwnerError, match=r"^entity_id 9001: already recorded for account act_77, not 1234567890"
        ),
        engine.begin() as conn,
    ):
        upsert_budget_holders(conn, "1234567890", budget, seen)
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT account_id, name FROM autoscaler.budget_holders")).all()
    assert [tuple(k) for k in kept] == [("act_77", "Meta's")]
