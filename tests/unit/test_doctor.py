"""autoscaler doctor's checks: facts in, ok / warn / fail with the fix out (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autoscaler.doctor import (
    AccountFacts,
    AirflowFacts,
    Facts,
    TokenFacts,
    account_checks,
    airflow_checks,
    by_account,
    examine,
    expiring_soon,
    failures,
    schema_check,
    token_checks,
    usage_check,
    worst,
)
from autoscaler.notify import token_expiry_notice

NOW = datetime(2026, 11, 2, 15, tzinfo=UTC)
GOOD_TOKEN = TokenFacts(is_valid=True, scopes=("ads_read", "ads_management"))


def account(**changes: object) -> AccountFacts:
    base = AccountFacts(
        "act_1001",
        "USD",
        "America/New_York",
        currency="USD",
        timezone="America/New_York",
        tasks=("MANAGE", "ADVERTISE", "ANALYZE"),
        usage_pct=3,
    )
    return AccountFacts(**{**base.__dict__, **changes})


def by_name(checks: list, name: str):  # type: ignore[no-untyped-def,type-arg]
    return next(c for c in checks if c.name == name)


def test_a_token_that_never_expires_with_both_permissions_is_ok() -> None:
    checks = token_checks(GOOD_TOKEN, NOW)
    assert [(c.name, c.status) for c in checks] == [("token", "ok"), ("token permissions", "ok")]
    assert checks[0].detail == "valid; never expires"


@pytest.mark.parametrize(
    ("left", "status"),
    [
        (timedelta(days=30), "ok"),
        (timedelta(days=7, minutes=1), "ok"),
        (timedelta(days=7), "warn"),
        (timedelta(hours=5), "warn"),
        (timedelta(0), "fail"),
        (timedelta(hours=-1), "fail"),
    ],
)
def test_a_token_warns_within_seven_days_of_expiry_and_fails_after_it(left: timedelta, status: str) -> None:
    token = TokenFacts(is_valid=True, expires_at=NOW + left, scopes=("ads_read", "ads_management"))
    check = token_checks(token, NOW)[0]
    assert check.status == status
    assert expiring_soon(token.expires_at, NOW) == (status == "warn")
    if status != "ok":
        assert "set it as the password of the connection meta_ads_default" in (check.fix or "")


def test_a_missing_permission_fails_naming_it() -> None:
    token = TokenFacts(is_valid=True, scopes=("ads_read", "business_management"))
    check = by_name(token_checks(token, NOW), "token permissions")
    assert check.status == "fail"
    assert check.detail == "missing ads_management (it has ads_read, business_management)"


def test_a_refused_token_fails_and_one_meta_did_not_answer_for_only_warns() -> None:
    refused = token_checks(TokenFacts(error="Error validating access token: Session has expired"), NOW)
    assert [(c.status, c.detail) for c in refused] == [
        ("fail", "Meta refuses it: Error validating access token: Session has expired")
    ]
    silent = token_checks(TokenFacts(unanswered="could not connect to Meta's Graph API"), NOW)
    assert [c.status for c in silent] == ["warn"]


def test_a_healthy_account_is_reachable_writable_as_recorded_and_has_headroom() -> None:
    checks = account_checks(account())
    assert worst(checks) == "ok"
    assert [c.name for c in checks] == [
        "act_1001",
        "act_1001 write access",
        "act_1001 currency",
        "act_1001 time zone",
        "act_1001 rate limit",
    ]


def test_an_unreachable_account_fails_saying_how_to_assign_it() -> None:
    checks = account_checks(account(error="Object with ID 'act_1001' does not exist"))
    assert [c.status for c in checks] == ["fail"]
    assert "Assign assets" in (checks[0].fix or "")


def test_a_read_only_account_fails_unless_its_kill_switch_keeps_it_from_being_written() -> None:
    live = by_name(account_checks(account(tasks=("ANALYZE",))), "act_1001 write access")
    assert (live.status, live.detail) == ("fail", "the token may only read it (ANALYZE)")
    shadow = by_name(account_checks(account(tasks=("ANALYZE",), shadow=True)), "act_1001 write access")
    assert shadow.status == "warn"


def test_a_currency_or_time_zone_unlike_the_recorded_one_fails_with_the_command_that_records_it() -> None:
    checks = account_checks(account(currency="EUR", timezone="Europe/Paris"))
    currency = by_name(checks, "act_1001 currency")
    assert (currency.status, currency.detail) == ("fail", "Meta says EUR, the audit database has USD")
    assert currency.fix == (
        "record what Meta says: autoscaler accounts add act_1001 --currency EUR --timezone Europe/Paris"
    )
    assert by_name(checks, "act_1001 time zone").status == "fail"


@pytest.mark.parametrize(
    ("pct", "status"), [(None, "ok"), (0, "ok"), (74, "ok"), (75, "warn"), (99, "warn"), (100, "warn")]
)
def test_rate_limit_headroom_warns_from_where_the_client_slows_down(pct: int | None, status: str) -> None:
    assert usage_check("act_1001", pct, 300.0).status == status


def test_an_exhausted_rate_limit_says_when_access_returns() -> None:
    assert "access returns in about 5 min" in usage_check("act_1001", 100, 300.0).detail


def test_migrations_behind_fail_with_the_upgrade_command() -> None:
    assert schema_check(("0012", "0012"), None).status == "ok"
    behind = schema_check(("0011", "0012"), None)
    assert (behind.status, behind.fix) == ("fail", "autoscaler db upgrade")
    assert schema_check((None, "0012"), None).detail == "the audit schema is not installed"
    assert schema_check(None, "OperationalError: connection refused").status == "fail"


def test_a_missing_pool_fails_a_paused_dag_warns_and_an_unknown_airflow_warns_saying_why() -> None:
    checks = airflow_checks(
        AirflowFacts(pool_slots=None, paused={"autoscaler_hourly": True, "autoscaler_daily_profiles": None})
    )
    assert [(c.name, c.status) for c in checks] == [
        ("pool meta_api", "fail"),
        ("DAG autoscaler_hourly", "warn"),
        ("DAG autoscaler_daily_profiles", "fail"),
    ]
    assert checks[0].fix == 'airflow pools set meta_api 8 "Meta Graph API calls"'
    assert checks[1].fix == "airflow dags unpause autoscaler_hourly"
    unknown = airflow_checks(AirflowFacts(unknown="Airflow is not configured here"))
    assert [(c.status, c.detail) for c in unknown] == [
        ("warn", "not checked: Airflow is not configured here")
    ]
    ok = airflow_checks(AirflowFacts(pool_slots=8, paused={"autoscaler_hourly": False}))
    assert worst(ok) == "ok"


def test_an_unresolved_connection_fails_and_its_database_is_not_examined_twice() -> None:
    facts = Facts(NOW, {"meta_ads_default": None, "autoscaler_db": "not defined"})
    checks = examine(facts)
    assert [c.name for c in failures(checks)] == ["connection autoscaler_db"]  # the pool: "not asked"
    assert not any(c.name in ("migrations", "audit database") for c in checks)


def test_the_expiry_notice_says_when_and_how_to_replace_the_token() -> None:
    notice = token_expiry_notice("meta_ads_default", NOW + timedelta(days=3, hours=4), NOW)
    assert notice.kind == "token"
    assert notice.subject == "the Meta access token expires in 3 days 4 h (2026-11-05 19:00 UTC)"
    assert "password of the Airflow connection meta_ads_default" in notice.body


def test_no_account_with_a_rule_warns_that_the_dag_has_nothing_to_do() -> None:
    facts = Facts(NOW, {"meta_ads_default": None}, schema=("0013", "0013"), token=GOOD_TOKEN)
    check = by_name(examine(facts), "accounts")
    assert (check.status, check.detail) == (
        "warn",
        "no account has an enabled rule: the hourly DAG has nothing to run for",
    )
    with_one = Facts(
        NOW, {"meta_ads_default": None}, schema=("0013", "0013"), token=GOOD_TOKEN, accounts=(account(),)
    )
    assert not any(c.name == "accounts" for c in examine(with_one))


def test_one_accounts_failures_are_its_own_and_the_tokens_are_everyones() -> None:
    failed = failures(
        [
            *account_checks(account(currency="EUR")),
            *account_checks(account(account_id="act_1002", tasks=("ANALYZE",))),
            *token_checks(TokenFacts(error="expired"), NOW),
        ]
    )
    general, own = by_account(failed, ["act_1001", "act_1002", "act_1003"])
    assert [c.name for c in general] == ["token"]  # fails the run: no account can be read
    assert {a: [c.name for c in checks] for a, checks in own.items()} == {
        "act_1001": ["act_1001 currency"],
        "act_1002": ["act_1002 write access"],
    }  # skipped with a notice while act_1003 runs
