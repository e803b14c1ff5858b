"""The Meta client through the real facebook-business SDK, against the local Graph sandbox."""

from __future__ import annotations

import json
import logging
import random
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from autoscaler.meta import (
    AuthError,
    BudgetChange,
    BudgetChangeLimitError,
    InvalidRequestError,
    MetaClient,
    MetaConfig,
    TransientError,
)
from autoscaler.sandbox.faults import FaultPlan
from autoscaler.sandbox.scenario import load_scenario
from autoscaler.sandbox.server import RunningSandbox

pytestmark = pytest.mark.sandbox

TOKEN = "sandbox-token"
ACCOUNT = "act_1001"


class FakeClock:
    """Shared by client (sleep) and sandbox (rate-limit time): waits cost no real time."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def sandbox(
    faults: str = "", scenario: str = "demo", clock: FakeClock | None = None, **kwargs: Any
) -> RunningSandbox:
    return RunningSandbox(
        load_scenario(scenario),
        seed=1,
        faults=FaultPlan.parse(faults),
        wall_time=clock.time if clock else __import__("time").time,
        **kwargs,
    )


def client(url: str, clock: FakeClock, **config: Any) -> MetaClient:
    return MetaClient(
        MetaConfig(access_token=config.pop("token", TOKEN), graph_url=url, **config),
        sleep=clock.sleep,
        rng=random.Random(0),
    )


def requests_log(url: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(urllib.request.urlopen(f"{url}/__sandbox/requests").read())
    return entries


def history(url: str) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = json.loads(urllib.request.urlopen(f"{url}/__sandbox/history").read())
    return changes


def advance(url: str, hours: float) -> None:
    request = urllib.request.Request(
        f"{url}/__sandbox/clock", data=json.dumps({"advance_hours": hours}).encode(), method="POST"
    )
    urllib.request.urlopen(request).read()


@pytest.fixture
def demo(clock: FakeClock) -> Iterator[RunningSandbox]:
    with sandbox(clock=clock) as running:
        yield running


# ---- reads -------------------------------------------------------------------------------


def test_accounts_and_their_currency_and_time_zone(demo: RunningSandbox, clock: FakeClock) -> None:
    meta = client(demo.url, clock)
    assert [(a.account_id, a.currency, a.timezone_name) for a in meta.list_accounts()] == [
        ("act_1001", "USD", "America/New_York"),
        ("act_1002", "JPY", "Asia/Tokyo"),
        ("act_1003", "EUR", "Europe/Berlin"),
    ]
    assert meta.get_account("act_1002").currency == "JPY"


def test_budget_holders_are_cbo_campaigns_and_abo_ad_sets(demo: RunningSandbox, clock: FakeClock) -> None:
    holders = client(demo.url, clock).list_budget_holders(ACCOUNT)
    assert holders["level"].value_counts().to_dict() == {"campaign": 6, "adset": 12}
    assert holders["daily_budget"].notna().all()
    assert set(holders["status"]) == {"ACTIVE"}


def test_pagination_follows_next_past_the_first_page(demo: RunningSandbox, clock: FakeClock) -> None:
    whole = client(demo.url, clock).list_budget_holders(ACCOUNT)
    paged_client = client(demo.url, clock, page_size=7)
    paged = paged_client.list_budget_holders(ACCOUNT)
    assert paged.equals(whole)
    assert paged_client.requests_made == 5  # 30 ad sets, 7 a page
    assert sum(1 for r in requests_log(demo.url) if r["path"] == f"{ACCOUNT}/adsets") == 1 + 5


def test_insights_in_minor_units_with_purchases(demo: RunningSandbox, clock: FakeClock) -> None:
    rows = client(demo.url, clock).insights(ACCOUNT, "USD", date_preset="yesterday")
    assert len(rows) == 30
    assert rows["spend"].dtype == "int64"
    assert rows["conversions"].sum() > 0
    assert rows["revenue"].sum() > 0


def test_the_hourly_breakdown_carries_no_purchases(demo: RunningSandbox, clock: FakeClock) -> None:
    meta = client(demo.url, clock)
    daily = meta.insights(ACCOUNT, "USD", date_preset="yesterday")
    hourly = meta.insights(ACCOUNT, "USD", date_preset="yesterday", hourly=True)
    assert hourly["local_hour"].nunique() == 24
    assert hourly["spend"].sum() == daily["spend"].sum()
    assert hourly["conversions"].sum() == 0
    assert hourly["revenue"].sum() == 0
    assert daily["conversions"].sum() > 0


def test_async_report_runs_are_polled_until_complete(clock: FakeClock) -> None:
    with sandbox("async_polls=3", clock=clock) as running:
        meta = client(running.url, clock, async_poll_seconds=5)
        sync = meta.insights(ACCOUNT, "USD", date_preset="yesterday")
        via_async = meta.insights(ACCOUNT, "USD", date_preset="yesterday", use_async=True)
        assert via_async.equals(sync)
        assert clock.sleeps == [5, 5]  # two polls said "Job Running"
        assert [
            r["method"] for r in requests_log(running.url) if "insights" in r["path"] or r["path"].isdigit()
        ][-5:] == [
            "POST",
            "GET",
            "GET",
            "GET",
            "GET",
        ]


def test_a_sync_query_too_big_falls_back_to_an_async_report(clock: FakeClock) -> None:
    with sandbox("sync_rows=10", clock=clock) as running:
        meta = client(running.url, clock)
        rows = meta.insights(ACCOUNT, "USD", date_preset="yesterday")
        assert len(rows) == 30
        errors = [r["error_code"] for r in requests_log(running.url)]
        assert errors.count(100) == 1  # the synchronous timeout, then the async report


def test_failed_async_reports_are_retried_then_given_up(clock: FakeClock) -> None:
    with sandbox("async_fail=1", clock=clock) as running:
        meta = client(running.url, clock, max_attempts=2)
        with pytest.raises(TransientError, match="failed 2 times"):
            meta.insights(ACCOUNT, "USD", date_preset="yesterday", use_async=True)


def test_current_budgets_are_read_50_ids_a_request(demo: RunningSandbox, clock: FakeClock) -> None:
    meta = client(demo.url, clock)
    holders = meta.list_budget_holders(ACCOUNT)
    before = meta.requests_made
    held = meta.read_budgets(list(holders["entity_id"]))
    assert meta.requests_made - before == 1
    assert {k: v["daily_budget"] for k, v in held.items()} == dict(
        zip(holders["entity_id"], holders["daily_budget"], strict=True)
    )


# ---- writes ------------------------------------------------------------------------------


def raise_budgets(meta: MetaClient, account: str, count: int) -> list[BudgetChange]:
    """Raise the first ``count`` budget holders by 100 minor units each."""
    holders = meta.list_budget_holders(account).head(count)
    return [
        BudgetChange(e, daily_budget=int(b) + 100)
        for e, b in zip(holders["entity_id"], holders["daily_budget"], strict=True)
    ]


def test_writes_go_in_batches_of_at_most_50(clock: FakeClock) -> None:
    with sandbox(scenario="bench-2000", clock=clock) as running:
        meta = client(running.url, clock)
        changes = raise_budgets(meta, "act_2000", 120)
        results = meta.apply(changes)
        assert all(r.ok for r in results)
        writes = [r["writes"] for r in requests_log(running.url) if r["writes"]]
        assert writes == [50, 50, 20]
        assert {(h["entity_id"], h["after"]) for h in history(running.url)} == {
            (c.entity_id, c.daily_budget) for c in changes
        }


def test_calls_failing_inside_a_batch_are_retried_and_never_applied_twice(clock: FakeClock) -> None:
    with sandbox("batch_partial=0.3,seed=3", scenario="bench-2000", clock=clock) as running:
        meta = client(running.url, clock)
        results = meta.apply(raise_budgets(meta, "act_2000", 100))
        assert all(r.ok for r in results)
        assert len(history(running.url)) == 100
        assert sum(1 for r in requests_log(running.url) if r["writes"]) > 2  # some had to be retried


def test_refused_writes_are_reported_per_change_and_not_retried(
    demo: RunningSandbox, clock: FakeClock
) -> None:
    meta = client(demo.url, clock)
    holders = meta.list_budget_holders(ACCOUNT)
    good, bad = holders["entity_id"].iloc[0], holders["entity_id"].iloc[1]
    results = meta.apply([BudgetChange(good, daily_budget=25_000), BudgetChange(bad, daily_budget=10)])
    assert results[0].ok
    assert isinstance(results[1].error, InvalidRequestError)
    assert "must be at least" in str(results[1].error)
    assert sum(1 for r in requests_log(demo.url) if r["writes"]) == 1


def test_the_fifth_budget_change_in_an_hour_is_refused(demo: RunningSandbox, clock: FakeClock) -> None:
    meta = client(demo.url, clock)
    entity = meta.list_budget_holders(ACCOUNT)["entity_id"].iloc[0]
    outcomes = [meta.apply([BudgetChange(entity, daily_budget=20_000 + i * 100)])[0] for i in range(5)]
    assert [o.ok for o in outcomes] == [True, True, True, True, False]
    assert isinstance(outcomes[-1].error, BudgetChangeLimitError)


def test_status_changes_pause_an_entity(demo: RunningSandbox, clock: FakeClock) -> None:
    meta = client(demo.url, clock)
    entity = meta.list_budget_holders(ACCOUNT)["entity_id"].iloc[3]
    assert meta.apply([BudgetChange(entity, status="PAUSED")])[0].ok
    assert meta.read_budgets([entity])[entity]["status"] == "PAUSED"


# ---- errors and backoff ------------------------------------------------------------------


def test_a_bad_token_fails_at_once_naming_the_connection(demo: RunningSandbox, clock: FakeClock) -> None:
    meta = client(demo.url, clock, token="EAA_wrong_token_for_tests", connection_id="meta_ads_prod")
    with pytest.raises(AuthError, match="connection 'meta_ads_prod'") as caught:
        meta.get_account(ACCOUNT)
    assert meta.requests_made == 1
    assert "EAA_wrong_token_for_tests" not in str(caught.value)


def test_an_expired_token_is_not_retried(clock: FakeClock) -> None:
    with sandbox("expire_after=2", clock=clock) as running:
        meta = client(running.url, clock)
        meta.get_account(ACCOUNT)
        meta.get_account(ACCOUNT)
        with pytest.raises(AuthError, match="Session has expired"):
            meta.get_account(ACCOUNT)
        assert meta.requests_made == 3


def test_a_token_expired_by_the_operator_route_works_again_once_reissued(clock: FakeClock) -> None:
    with sandbox("expire_after=50", clock=clock) as running:
        meta = client(running.url, clock)

        def token(expired: bool) -> None:
            body = json.dumps({"expired": expired}).encode()
            urllib.request.urlopen(
                urllib.request.Request(f"{running.url}/__sandbox/token", data=body, method="POST")
            ).read()

        token(True)
        with pytest.raises(AuthError, match="Session has expired"):
            meta.get_account(ACCOUNT)
        token(False)  # re-issued: the expire_after fault is over too
        for _ in range(60):
            assert meta.get_account(ACCOUNT).currency == "USD"


@pytest.mark.parametrize("fault", ["5xx", "malformed"])
def test_transient_failures_are_retried_with_backoff(tmp_path: Any, clock: FakeClock, fault: str) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"request": 1, "fault": fault}, {"request": 2, "fault": fault}]))
    with sandbox(f"script={script}", clock=clock) as running:
        meta = client(running.url, clock, backoff_base=2)
        assert meta.get_account(ACCOUNT).currency == "USD"
        assert meta.requests_made == 3
        assert len(clock.sleeps) == 2
        assert all(0 <= s <= 2 * 2**i for i, s in enumerate(clock.sleeps))


def test_timeouts_are_retried(tmp_path: Any, clock: FakeClock) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"request": 1, "fault": "timeout"}]))
    with sandbox(f"script={script},timeout_delay=1.5", clock=clock) as running:
        meta = client(running.url, clock, timeout=0.5)
        assert meta.get_account(ACCOUNT).currency == "USD"
        assert meta.requests_made == 2


def test_retries_give_up_after_max_attempts(clock: FakeClock) -> None:
    with sandbox("5xx=1", clock=clock) as running:
        meta = client(running.url, clock, max_attempts=3)
        with pytest.raises(TransientError, match="temporary Meta error"):
            meta.get_account(ACCOUNT)
        assert meta.requests_made == 3


def test_throttling_waits_as_long_as_the_usage_headers_say(clock: FakeClock) -> None:
    with sandbox("burst=1:1,block_seconds=90", clock=clock) as running:
        meta = client(running.url, clock)
        assert meta.get_account(ACCOUNT).currency == "USD"
        assert meta.requests_made == 2
        # Meta says "2 minutes" (estimated_time_to_regain_access rounds up) and 90 s to reset.
        assert clock.sleeps == [120.0]


def test_high_usage_slows_the_client_down_before_the_limit(clock: FakeClock) -> None:
    with sandbox("max_score=20,decay_seconds=10", clock=clock) as running:
        meta = client(running.url, clock, slow_down_at_pct=50, max_slowdown_seconds=10)
        for _ in range(30):
            meta.get_account(ACCOUNT)
        assert meta.waited_seconds > 0
        assert all(r["error_code"] is None for r in requests_log(running.url))
    with sandbox("max_score=20,decay_seconds=10", clock=clock) as running:  # control: never slowing down
        careless = client(running.url, clock, slow_down_at_pct=101)
        for _ in range(30):
            careless.get_account(ACCOUNT)
        assert any(r["error_code"] == 80004 for r in requests_log(running.url))


def test_appsecret_proof_is_sent_and_checked(clock: FakeClock) -> None:
    scenario = load_scenario("demo").model_copy(update={"app_secret": "app-secret"})
    with RunningSandbox(scenario, seed=1, wall_time=clock.time) as running:
        assert client(running.url, clock, app_secret="app-secret").get_account(ACCOUNT).currency == "USD"
        with pytest.raises(InvalidRequestError, match="appsecret_proof"):
            client(running.url, clock, app_secret="wrong").get_account(ACCOUNT)


def test_the_token_never_reaches_a_log_line_or_an_error(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "EAA_fake_sandbox_token_for_tests"
    scenario = load_scenario("demo").model_copy(update={"access_token": secret})
    caplog.set_level(logging.DEBUG)
    with RunningSandbox(
        scenario, seed=1, faults=FaultPlan.parse("5xx=0.5,seed=2"), wall_time=clock.time
    ) as running:
        meta = MetaClient(
            MetaConfig(access_token=secret, graph_url=running.url, page_size=5), sleep=clock.sleep
        )
        meta.list_budget_holders(ACCOUNT)
        results = meta.apply([BudgetChange("999", daily_budget=5000)])
    assert "access_token=<redacted>" in caplog.text  # urllib3 logged the URLs, redacted
    assert secret not in caplog.text
    assert secret not in repr(meta)
    assert secret not in repr(meta.config)
    assert secret not in str(results[0].error)
    assert secret not in json.dumps(results[0].error.as_dict() if results[0].error else {})


def test_writes_without_permission_fail_as_permission_errors(clock: FakeClock) -> None:
    from autoscaler.meta import MetaPermissionError
    from autoscaler.sandbox.scenario import parse_scenario

    scenario = parse_scenario(
        {"accounts": [{"account_id": "act_7", "read_only": True, "groups": [{"kind": "abo", "count": 1}]}]}
    )
    with RunningSandbox(scenario, wall_time=clock.time) as running:
        meta = client(running.url, clock)
        holder = meta.list_budget_holders("act_7")["entity_id"].iloc[0]
        result = meta.apply([BudgetChange(holder, daily_budget=9_000)])[0]
        assert isinstance(result.error, MetaPermissionError)
        assert "lacks permission (code 200)" in str(result.error)
        assert sum(1 for r in requests_log(running.url) if r["writes"]) == 1  # not retried


def test_the_client_is_configured_from_the_airflow_connection(
    demo: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autoscaler.airflow.connections import meta_client, meta_config

    extra = {"graph_url": demo.url, "api_version": "v25.0", "page_size": "7"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_META_ADS_DEFAULT",
        json.dumps({"conn_type": "generic", "password": TOKEN, "extra": extra}),
    )
    config = meta_config()
    assert (config.graph_url, config.api_version, config.page_size, config.connection_id) == (
        demo.url,
        "v25.0",
        7,
        "meta_ads_default",
    )
    assert meta_client().get_account(ACCOUNT).currency == "USD"
    monkeypatch.setenv(
        "AIRFLOW_CONN_META_ADS_DEFAULT",
        json.dumps({"conn_type": "generic", "password": TOKEN, "extra": {"host": "x"}}),
    )
    with pytest.raises(ValueError, match="connection 'meta_ads_default': unknown extra field"):
        meta_config()


def test_a_query_expected_to_be_big_goes_straight_to_an_async_report(
    demo: RunningSandbox, clock: FakeClock
) -> None:
    meta = client(demo.url, clock, async_rows_threshold=100)
    rows = meta.insights(ACCOUNT, "USD", date_preset="yesterday", hourly=True, expected_rows=30 * 24)
    assert len(rows) == 720
    insights_calls = [
        (r["method"], r["path"]) for r in requests_log(demo.url) if r["path"].endswith("insights")
    ]
    assert insights_calls[0] == ("POST", f"{ACCOUNT}/insights")  # no synchronous attempt first
