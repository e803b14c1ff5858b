"""autoscaler doctor's questions to Meta, against the sandbox faking each failure it must see."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from autoscaler.doctor import AccountFacts, TokenFacts, account_checks, ask_account, ask_token, doctor_client
from autoscaler.meta import MetaClient, MetaConfig
from autoscaler.sandbox.faults import FaultPlan, FaultSpecError
from autoscaler.sandbox.scenario import load_scenario
from autoscaler.sandbox.server import RunningSandbox
from autoscaler.store.accounts import AdAccount

pytestmark = pytest.mark.sandbox

RECORDED = AdAccount("act_1001", "USD", "America/New_York")


@contextmanager
def meta(faults: str = "", token: str = "sandbox-token") -> Iterator[tuple[MetaClient, RunningSandbox]]:
    with RunningSandbox(load_scenario("demo"), seed=1, faults=FaultPlan.parse(faults)) as running:
        client = MetaClient(MetaConfig(access_token=token, graph_url=running.url, clock="sandbox"))
        yield doctor_client(client), running


def test_the_sandbox_token_is_valid_never_expires_and_holds_both_permissions() -> None:
    with meta() as (client, _):
        assert ask_token(client) == TokenFacts(
            is_valid=True, expires_at=None, scopes=("ads_read", "ads_management", "business_management")
        )


def test_an_expiring_token_is_reported_with_its_expiry_on_the_sandbox_clock() -> None:
    with meta("token_expires_in=30") as (client, running):
        token = ask_token(client)
        assert token.expires_at == running.sandbox.sim.now + timedelta(hours=30)


def test_a_missing_permission_is_left_out_of_the_scopes() -> None:
    with meta("missing_scope=ads_management") as (client, _):
        assert ask_token(client).scopes == ("ads_read", "business_management")


def test_an_expired_or_wrong_token_is_refused() -> None:
    with meta("expire_after=0") as (client, _):
        assert "Session has expired" in (ask_token(client).error or "")
    with meta(token="not-the-token") as (client, _):
        assert ask_token(client).error is not None


def test_a_healthy_account_reads_as_recorded_with_write_tasks_and_usage() -> None:
    with meta() as (client, _):
        facts = ask_account(client, RECORDED, shadow=False)
    assert (facts.currency, facts.timezone, facts.error) == ("USD", "America/New_York", None)
    assert facts.tasks == ("MANAGE", "ADVERTISE", "ANALYZE")
    assert facts.usage_pct is not None
    assert facts.usage_pct < 75


def test_an_unreachable_account_is_an_error_not_an_exception() -> None:
    with meta("unreachable=act_1001") as (client, _):
        facts = ask_account(client, RECORDED, shadow=False)
    assert "does not exist, cannot be loaded due to missing permissions" in (facts.error or "")


def test_a_read_only_account_shows_only_the_analyze_task() -> None:
    with meta("read_only=act_1001") as (client, _):
        facts = ask_account(client, RECORDED, shadow=False)
    assert facts.tasks == ("ANALYZE",)


def test_currency_and_time_zone_are_what_meta_reports() -> None:
    with meta("currency=act_1001:EUR,timezone=act_1001:Europe/Paris") as (client, _):
        facts = ask_account(client, RECORDED, shadow=False)
    assert (facts.currency, facts.timezone) == ("EUR", "Europe/Paris")
    assert [c.status for c in account_checks(facts)][2:4] == ["fail", "fail"]


def test_high_usage_headers_are_read_without_the_doctor_waiting_for_them() -> None:
    with meta("usage=97") as (client, _):
        started = datetime.now(UTC)
        facts = ask_account(client, RECORDED, shadow=False)
        assert datetime.now(UTC) - started < timedelta(seconds=5)  # no slow-down sleep
    assert facts.usage_pct == 97
    assert account_checks(facts)[-1].status == "warn"


def test_a_meta_that_does_not_answer_is_unanswered_not_a_failure() -> None:
    with meta("5xx=1") as (client, _):
        assert ask_token(client).unanswered is not None
        facts = ask_account(client, RECORDED, shadow=False)
    assert facts == AccountFacts("act_1001", "USD", "America/New_York", unanswered=facts.unanswered)
    assert account_checks(facts)[0].status == "warn"


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("usage=101", "usage: a percentage between 0 and 100"),
        ("currency=EUR", "expected act_<digits>:VALUE"),
        ("unreachable=", "unreachable: give a value"),
    ],
)
def test_a_bad_doctor_fault_is_refused_naming_it(spec: str, says: str) -> None:
    with pytest.raises(FaultSpecError, match=says):
        FaultPlan.parse(spec)
