"""`autoscaler doctor` for Google Ads customers, through the google-ads library and the sandbox.

Reachable, currency and time zone as recorded, and write access: Google says nothing of a
user's access level through the API, so the doctor asks for a validate-only write of one
budget at the amount it holds, which Google checks like a write and applies nowhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from autoscaler import doctor as dr
from autoscaler.google.client import GoogleClient, GoogleConfig
from autoscaler.rules import ScalingRule
from autoscaler.sandbox.google.server import DEVELOPER_TOKEN, GoogleSandbox, RunningGoogleSandbox
from autoscaler.store.accounts import AdAccount, upsert_account
from autoscaler.store.controls import set_pause
from autoscaler.store.rules import create_rule
from tests.sandbox.test_google_sandbox import CUSTOMER, READ_ONLY, scenario

pytestmark = [pytest.mark.sandbox, pytest.mark.integration]

NOW = datetime(2026, 11, 3, 12, tzinfo=UTC)
NOT_OURS = "9999999999"  # a customer these credentials cannot reach


@pytest.fixture
def sandbox() -> Iterator[tuple[GoogleSandbox, GoogleClient]]:
    google = GoogleSandbox(scenario(), seed=3)
    with RunningGoogleSandbox(google) as running:
        config = GoogleConfig(
            developer_token=DEVELOPER_TOKEN,
            endpoint=running.endpoint,
            access_token="sandbox-token",
            clock="sandbox",
        )
        yield google, GoogleClient(config)


def _recorded(customer: str, currency: str = "USD", timezone: str = "America/New_York") -> AdAccount:
    return AdAccount(customer, currency, timezone, platform="google_ads")


def by_name(checks: list[dr.Check]) -> dict[str, dr.Check]:
    return {c.name: c for c in checks}


def test_a_customer_with_write_access_is_reachable_as_recorded_and_nothing_is_written(
    sandbox: tuple[GoogleSandbox, GoogleClient],
) -> None:
    google, client = sandbox
    facts = dr.ask_google_account(client, _recorded(CUSTOMER, timezone="America/Los_Angeles"), shadow=False)
    checks = by_name(dr.account_checks(facts))
    assert checks[CUSTOMER].status == "ok"
    assert checks[f"{CUSTOMER} write access"].status == "ok"
    assert checks[f"{CUSTOMER} currency"].status == "ok"
    assert checks[f"{CUSTOMER} time zone"].status == "ok"
    assert all(c.account == CUSTOMER for c in checks.values())
    assert f"{CUSTOMER} rate limit" not in checks  # Google sends no usage headers
    assert google.simulator.history == []  # validate-only: checked like a write, applied nowhere


def test_a_read_only_customer_fails_write_access_unless_its_kill_switch_is_on(
    sandbox: tuple[GoogleSandbox, GoogleClient],
) -> None:
    _, client = sandbox
    live = by_name(dr.account_checks(dr.ask_google_account(client, _recorded(READ_ONLY), shadow=False)))
    write = live[f"{READ_ONLY} write access"]
    assert write.status == "fail"
    assert "may only read it" in write.detail
    assert write.fix is not None
    assert "Standard or Admin access" in write.fix
    shadow = by_name(dr.account_checks(dr.ask_google_account(client, _recorded(READ_ONLY), shadow=True)))
    assert shadow[f"{READ_ONLY} write access"].status == "warn"


def test_an_unreachable_customer_and_a_different_time_zone_name_their_fix(
    sandbox: tuple[GoogleSandbox, GoogleClient],
) -> None:
    _, client = sandbox
    unreachable = dr.account_checks(dr.ask_google_account(client, _recorded(NOT_OURS), shadow=False))
    assert [(c.status, c.account) for c in unreachable] == [("fail", NOT_OURS)]
    assert "not reachable" in unreachable[0].detail
    assert unreachable[0].fix is not None
    assert "login_customer_id" in unreachable[0].fix
    moved = by_name(dr.account_checks(dr.ask_google_account(client, _recorded(CUSTOMER), shadow=False)))
    zone = moved[f"{CUSTOMER} time zone"]
    assert zone.status == "fail"
    assert zone.detail == "Google Ads says America/Los_Angeles, the audit database has America/New_York"
    assert zone.fix is not None
    assert "--platform google_ads" in zone.fix


def _rule(account_id: str) -> ScalingRule:
    return ScalingRule.parse({"account_id": account_id, "min_daily_budget": 500, "max_daily_budget": 100_000})


def test_gather_asks_google_only_for_google_accounts_and_reports_a_broken_connection(
    engine: Engine, sandbox: tuple[GoogleSandbox, GoogleClient]
) -> None:
    _, client = sandbox
    asked: list[str] = []

    def build() -> GoogleClient:
        asked.append("google")
        return client

    def broken() -> GoogleClient:
        raise ValueError("connection 'google_ads_default': developer_token: required")

    connections = {dr.DB_CONN_ID: None}
    with engine.begin() as conn:
        upsert_account(conn, AdAccount("act_1001", "USD", "America/New_York"))
        create_rule(conn, _rule("act_1001"), actor="tests")
    meta_only = dr.gather(NOW, connections, engine, None, dr.AirflowFacts(unknown="-"), google=build)
    assert asked == []
    assert dr.GOOGLE_CONN_ID not in meta_only.connections

    with engine.begin() as conn:
        upsert_account(conn, _recorded(CUSTOMER, timezone="America/Los_Angeles"))
        create_rule(conn, _rule(CUSTOMER), actor="tests")
        set_pause(conn, CUSTOMER, paused=True, by="tests", reason="trying doctor")
    both = dr.gather(NOW, connections, engine, None, dr.AirflowFacts(unknown="-"), google=build)
    assert asked == ["google"]
    assert both.connections[dr.GOOGLE_CONN_ID] is None
    (google_facts,) = both.accounts
    assert (google_facts.account_id, google_facts.platform, google_facts.shadow) == (
        CUSTOMER,
        "google_ads",
        True,
    )

    failed = dr.gather(NOW, connections, engine, None, dr.AirflowFacts(unknown="-"), google=broken)
    checks = by_name(dr.examine(failed))
    assert checks[f"connection {dr.GOOGLE_CONN_ID}"].status == "fail"
    assert "developer_token: required" in checks[f"connection {dr.GOOGLE_CONN_ID}"].detail
    assert failed.accounts == ()
