"""Conformance: the real google-ads library against the local Google Ads sandbox (gRPC).

Every call goes through the library's own service clients and interceptors (GoogleClient
builds them as ``get_service`` does, over a local channel); the tests compare what comes back
with the simulator behind the sandbox.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from google.ads.googleads.errors import GoogleAdsException

from autoscaler.google.client import GoogleClient, GoogleConfig
from autoscaler.google.errors import (
    GoogleAuthError,
    GoogleInvalidRequestError,
    GooglePermissionError,
    GoogleQuotaExhaustedError,
    GoogleTransientError,
)
from autoscaler.hourly import holder_metrics
from autoscaler.meta import MetaClient, MetaConfig
from autoscaler.meta.client import BudgetChange
from autoscaler.sandbox.faults import FaultPlan
from autoscaler.sandbox.google.server import (
    DEVELOPER_TOKEN,
    GoogleSandbox,
    RunningGoogleSandbox,
    requests_by_method,
)
from autoscaler.sandbox.scenario import Scenario, parse_scenario
from autoscaler.sandbox.server import RunningSandbox

pytestmark = pytest.mark.sandbox

CUSTOMER = "1234567890"
READ_ONLY = "2222222222"


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


def scenario() -> Scenario:
    return parse_scenario(
        {
            "start": "2026-11-03T12:00:00Z",
            "history_days": 2,
            "accounts": [
                {"account_id": "act_1001", "groups": [{"kind": "cbo", "count": 2}]},
                {
                    "account_id": CUSTOMER,
                    "platform": "google",
                    "name": "Shop (Google)",
                    "timezone": "America/Los_Angeles",
                    "groups": [
                        {"kind": "cbo", "count": 4, "daily_budget": [40, 120]},
                        {"kind": "cbo", "count": 2, "adsets_per_campaign": 3, "daily_budget": [100, 200]},
                    ],
                },
                {
                    "account_id": READ_ONLY,
                    "platform": "google",
                    "read_only": True,
                    "groups": [{"kind": "cbo", "count": 1}],
                },
            ],
        }
    )


def running(faults: str = "", clock: FakeClock | None = None, **kwargs: Any) -> RunningGoogleSandbox:
    sandbox = GoogleSandbox(
        scenario(),
        seed=3,
        faults=FaultPlan.parse(faults),
        wall_time=clock.time if clock else time.time,
        **kwargs,
    )
    return RunningGoogleSandbox(sandbox)


def client(run: RunningGoogleSandbox, clock: FakeClock, **config: Any) -> GoogleClient:
    settings: dict[str, Any] = {
        "developer_token": DEVELOPER_TOKEN,
        "endpoint": run.endpoint,
        "access_token": "sandbox-token",
        "clock": "sandbox",
        **config,
    }
    return GoogleClient(GoogleConfig(**settings), sleep=clock.sleep, rng=random.Random(0))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def google(clock: FakeClock) -> Iterator[RunningGoogleSandbox]:
    with running(clock=clock) as run:
        yield run


def yesterday(ads: GoogleClient) -> str:
    """The customer's previous local day (a whole day of delivery)."""
    return (ads.now().astimezone(ZoneInfo("America/Los_Angeles")).date() - timedelta(days=1)).isoformat()


# ---- reads ----------------------------------------------------------------------------------


def test_the_library_streams_rows_of_its_own_message_types(
    google: RunningGoogleSandbox, clock: FakeClock
) -> None:
    service = client(google, clock).service("GoogleAdsService")
    batches = list(
        service.search_stream(
            customer_id=CUSTOMER,
            query="SELECT campaign_budget.id, campaign_budget.amount_micros, campaign_budget.explicitly_shared, "
            "campaign_budget.reference_count FROM campaign_budget",
        )
    )
    rows = [row for batch in batches for row in batch.results]
    assert type(rows[0]).__name__ == "GoogleAdsRow"
    assert sorted(r.campaign_budget.reference_count for r in rows) == [1, 1, 1, 1, 3, 3]
    assert all(r.campaign_budget.explicitly_shared == (r.campaign_budget.reference_count > 1) for r in rows)
    assert all(r.campaign_budget.amount_micros % 10_000 == 0 for r in rows)  # whole cents
    assert next(iter(batches[0].field_mask.paths)) == "campaign_budget.id"
    assert batches[0].request_id


def test_paged_search_serves_the_same_rows_and_refuses_a_page_size(
    google: RunningGoogleSandbox, clock: FakeClock
) -> None:
    ads = client(google, clock)
    query = "SELECT campaign.id, campaign.status FROM campaign"
    service = ads.service("GoogleAdsService")
    settings = {"return_total_results_count": True}
    pager = service.search(request={"customer_id": CUSTOMER, "query": query, "search_settings": settings})
    paged = [(r.campaign.id, r.campaign.status.name) for r in pager]
    assert pager.total_results_count == 10
    streamed = [(r["campaign.id"], r["campaign.status"]) for r in ads.search(CUSTOMER, query)]
    assert paged == streamed
    assert len(paged) == 10  # 4 budgets of one campaign, 2 shared by three
    with pytest.raises(GoogleAdsException) as caught:
        list(service.search(request={"customer_id": CUSTOMER, "query": query, "page_size": 100}))
    assert caught.value.failure.errors[0].error_code.request_error.name == "PAGE_SIZE_NOT_SUPPORTED"


def test_the_customers_reachable_and_the_login_customer_id_sent(
    google: RunningGoogleSandbox, clock: FakeClock
) -> None:
    ads = client(google, clock, login_customer_id="9876543210")
    accounts = ads.list_accounts()
    assert sorted(a.account_id for a in accounts) == [CUSTOMER, READ_ONLY]
    assert google.sandbox.requests[-1]["login_customer_id"] == "9876543210"


def test_budget_holders_are_campaign_budgets_with_their_exact_amounts(
    google: RunningGoogleSandbox, clock: FakeClock
) -> None:
    ads = client(google, clock)
    account = ads.get_account(CUSTOMER)
    assert (account.name, account.currency, account.timezone_name) == (
        "Shop (Google)",
        "USD",
        "America/Los_Angeles",
    )
    holders = ads.list_budget_holders(CUSTOMER)
    sim = google.sandbox.simulator
    assert len(holders) == 6
    assert set(holders["level"]) == {"campaign_budget"}
    for entity_id, daily_budget in zip(holders["entity_id"], holders["daily_budget"], strict=True):
        assert daily_budget == sim.budget[sim.holder_by_id[str(entity_id)].index]
    assert ads.requests_made == 2  # one query each


def test_a_shared_budget_is_decided_on_with_every_campaigns_metrics(
    google: RunningGoogleSandbox, clock: FakeClock
) -> None:
    ads = client(google, clock)
    day = yesterday(ads)
    per_budget = ads.holder_insights(CUSTOMER, "USD", time_range=(day, day)).set_index("entity_id")
    campaigns = ads.search(
        CUSTOMER,
        f"SELECT campaign.campaign_budget, metrics.cost_micros FROM campaign WHERE segments.date = '{day}'",
    )
    shared = [h for h in google.sandbox.ads.budgets[CUSTOMER] if len(h.adset_ids) == 3]
    for holder in shared:
        micros = sum(
            r["metrics.cost_micros"]
            for r in campaigns
            if r["campaign.campaign_budget"].endswith(holder.entity_id)
        )
        assert per_budget.loc[holder.entity_id, "spend"] == micros // 10_000 > 0


def test_hours_carry_conversions_and_add_up_to_the_day_exactly(
    google: RunningGoogleSandbox, clock: FakeClock
) -> None:
    ads = client(google, clock)
    day = yesterday(ads)
    hourly = ads.holder_insights(CUSTOMER, "USD", time_range=(day, day), hourly=True)
    daily = ads.holder_insights(CUSTOMER, "USD", time_range=(day, day))
    assert set(hourly["local_hour"]) <= set(range(24))
    assert hourly["conversions"].sum() > 0
    summed = hourly.groupby("entity_id")[["spend", "impressions", "clicks", "conversions"]].sum()
    assert summed.equals(daily.set_index("entity_id")[["spend", "impressions", "clicks", "conversions"]])
    # Revenue is rounded once per hour, so the day may differ by at most a cent an hour.
    gap = (hourly.groupby("entity_id")["revenue"].sum() - daily.set_index("entity_id")["revenue"]).abs()
    assert (gap <= 24).all()


def test_the_clock_is_the_sandboxs_and_moves_the_data(google: RunningGoogleSandbox, clock: FakeClock) -> None:
    ads = client(google, clock)
    before = ads.now()
    assert before == google.sandbox.simulator.now
    google.sandbox.control("Advance", {"advance_hours": 2})
    assert ads.now() == before + timedelta(hours=2)


# ---- writes ---------------------------------------------------------------------------------


def test_budgets_are_written_absolutely_in_minor_units(
    google: RunningGoogleSandbox, clock: FakeClock
) -> None:
    ads = client(google, clock)
    ids = list(ads.list_budget_holders(CUSTOMER)["entity_id"])
    results = ads.apply(
        CUSTOMER, [BudgetChange(ids[0], daily_budget=12_345), BudgetChange(ids[1], daily_budget=9_999)]
    )
    assert [r.ok for r in results] == [True, True]
    assert ads.requests_made == 2  # the holders' read told the currency: no account read first
    held = ads.read_budgets(CUSTOMER, ids[:2])
    assert (held[ids[0]]["daily_budget"], held[ids[1]]["daily_budget"]) == (12_345, 9_999)
    assert requests_by_method(google.sandbox, ["MutateCampaignBudgets"]) == {"MutateCampaignBudgets": 1}


def test_partial_failure_lands_the_good_operations_and_names_the_bad_ones(
    google: RunningGoogleSandbox, clock: FakeClock
) -> None:
    ads = client(google, clock)
    ids = list(ads.list_budget_holders(CUSTOMER)["entity_id"])
    settled: list[int] = []
    results = ads.apply(
        CUSTOMER,
        [
            BudgetChange(ids[0], daily_budget=5_000),
            BudgetChange(ids[1], daily_budget=1),  # below the daily minimum
            BudgetChange("999", daily_budget=5_000),  # no such budget
        ],
        on_final=lambda batch: settled.extend(i for i, _ in batch),
    )
    assert [r.ok for r in results] == [True, False, False]
    low, missing = results[1].error, results[2].error
    assert isinstance(low, GoogleInvalidRequestError)
    assert low.reasons == ("campaign_budget_error.BUDGET_BELOW_PER_DAY_MINIMUM",)
    assert isinstance(missing, GoogleInvalidRequestError)
    assert missing.reasons == ("mutate_error.RESOURCE_NOT_FOUND",)
    assert sorted(settled) == [0, 1, 2]
    assert ads.read_budgets(CUSTOMER, [ids[0]])[ids[0]]["daily_budget"] == 5_000


def test_without_partial_failure_a_request_is_all_or_nothing(
    google: RunningGoogleSandbox, clock: FakeClock
) -> None:
    ads = client(google, clock)
    ids = list(ads.list_budget_holders(CUSTOMER)["entity_id"])
    before = ads.read_budgets(CUSTOMER, ids[:2])
    service = ads.service("CampaignBudgetService")
    operations = []
    for budget, micros in ((ids[0], 77_000_000), (ids[1], 3)):
        op = ads._ads.get_type("CampaignBudgetOperation")
        op.update.resource_name = service.campaign_budget_path(CUSTOMER, budget)
        op.update.amount_micros = micros
        op.update_mask.paths.append("amount_micros")
        operations.append(op)
    with pytest.raises(GoogleAdsException) as caught:
        service.mutate_campaign_budgets(customer_id=CUSTOMER, operations=operations)
    (error,) = caught.value.failure.errors
    assert error.error_code.campaign_budget_error.name == "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT"
    assert error.location.field_path_elements[0].index == 1
    assert caught.value.request_id
    assert ads.read_budgets(CUSTOMER, ids[:2]) == before


def test_validate_only_checks_every_operation_and_applies_none(
    google: RunningGoogleSandbox, clock: FakeClock
) -> None:
    ads = client(google, clock)
    ids = list(ads.list_budget_holders(CUSTOMER)["entity_id"])
    before = ads.read_budgets(CUSTOMER, ids)
    results = ads.apply(
        CUSTOMER,
        [BudgetChange(ids[0], daily_budget=20_000), BudgetChange(ids[1], daily_budget=1)],
        validate_only=True,
    )
    assert [r.ok for r in results] == [True, False]
    assert ads.read_budgets(CUSTOMER, ids) == before
    assert not google.sandbox.simulator.history


def test_writes_go_in_batches_of_the_allowed_size(google: RunningGoogleSandbox, clock: FakeClock) -> None:
    ads = client(google, clock, batch_size=4)
    ids = list(ads.list_budget_holders(CUSTOMER)["entity_id"])
    ads.apply(CUSTOMER, [BudgetChange(i, daily_budget=10_000 + n) for n, i in enumerate(ids)])
    assert requests_by_method(google.sandbox, ["MutateCampaignBudgets"]) == {
        "MutateCampaignBudgets": 2
    }  # ceil(6 / 4)
    assert [e["operations"] for e in google.sandbox.requests if e["method"] == "MutateCampaignBudgets"] == [
        4,
        2,
    ]


def test_more_operations_than_google_allows_are_refused_by_name(
    google: RunningGoogleSandbox, clock: FakeClock
) -> None:
    ads = client(google, clock)
    budget = ads.list_budget_holders(CUSTOMER)["entity_id"].iloc[0]
    service = ads.service("CampaignBudgetService")
    op = ads._ads.get_type("CampaignBudgetOperation")
    op.update.resource_name = service.campaign_budget_path(CUSTOMER, budget)
    op.update.amount_micros = 50_000_000
    op.update_mask.paths.append("amount_micros")
    with pytest.raises(GoogleAdsException) as caught:
        service.mutate_campaign_budgets(customer_id=CUSTOMER, operations=[op] * 10_001)
    assert caught.value.failure.errors[0].error_code.request_error.name == "TOO_MANY_MUTATE_OPERATIONS"


def test_pausing_a_shared_budget_pauses_every_campaign_that_uses_it(
    google: RunningGoogleSandbox, clock: FakeClock
) -> None:
    ads = client(google, clock)
    shared = next(h for h in google.sandbox.ads.budgets[CUSTOMER] if len(h.adset_ids) == 3)
    (result,) = ads.apply(CUSTOMER, [BudgetChange(shared.entity_id, status="PAUSED")])
    assert result.ok
    assert [google.sandbox.ads.campaign_status[c] for c in shared.adset_ids] == ["PAUSED"] * 3
    assert ads.read_budgets(CUSTOMER, [shared.entity_id])[shared.entity_id]["status"] == "PAUSED"
    assert google.sandbox.simulator.status_of(shared) == "PAUSED"


def test_a_big_budget_change_puts_smart_bidding_into_learning(
    google: RunningGoogleSandbox, clock: FakeClock
) -> None:
    ads = client(google, clock)
    holders = ads.list_budget_holders(CUSTOMER)
    quiet = holders[~holders["learning"]].iloc[0]
    ads.apply(CUSTOMER, [BudgetChange(quiet.entity_id, daily_budget=int(quiet.daily_budget) * 2)])
    after = ads.list_budget_holders(CUSTOMER).set_index("entity_id")
    assert after.loc[quiet.entity_id, "learning"]
    statuses = ads.search(
        CUSTOMER, "SELECT campaign.campaign_budget, campaign.bidding_strategy_system_status FROM campaign"
    )
    mine = [r for r in statuses if r["campaign.campaign_budget"].endswith(quiet.entity_id)]
    assert {r["campaign.bidding_strategy_system_status"] for r in mine} == {"LEARNING_BUDGET_CHANGE"}


# ---- errors, quotas and faults ----------------------------------------------------------------


def test_a_rate_limit_is_waited_out_for_the_retry_delay_google_gives(clock: FakeClock) -> None:
    with running("burst=1:1,block_seconds=7", clock=clock) as run:
        ads = client(run, clock)
        assert ads.get_account(CUSTOMER).currency == "USD"
    assert clock.sleeps == [7.0]
    assert ads.requests_made == 2


def test_internal_errors_and_dropped_connections_are_retried(clock: FakeClock) -> None:
    plan = FaultPlan.parse("")
    plan.script = {1: "5xx", 2: "malformed"}
    with RunningGoogleSandbox(GoogleSandbox(scenario(), seed=3, faults=plan, wall_time=clock.time)) as run:
        ads = client(run, clock)
        assert len(ads.list_budget_holders(CUSTOMER)) == 6
    assert ads.requests_made == 3
    assert len(clock.sleeps) == 2


def test_a_slow_answer_past_the_deadline_is_transient(clock: FakeClock) -> None:
    plan = FaultPlan.parse("timeout_delay=0.6")
    plan.script = {1: "timeout"}
    with RunningGoogleSandbox(GoogleSandbox(scenario(), seed=3, faults=plan, wall_time=clock.time)) as run:
        ads = client(run, clock, timeout=0.2, max_attempts=1)
        with pytest.raises(GoogleTransientError, match="DEADLINE_EXCEEDED"):
            ads.get_account(CUSTOMER)


def test_an_expired_token_is_an_auth_error_and_never_retried(clock: FakeClock) -> None:
    with running("expire_after=0", clock=clock) as run:
        ads = client(run, clock)
        with pytest.raises(GoogleAuthError, match="OAUTH_TOKEN_EXPIRED"):
            ads.list_budget_holders(CUSTOMER)
    assert ads.requests_made == 1


def test_a_wrong_developer_token_or_bearer_is_refused(google: RunningGoogleSandbox, clock: FakeClock) -> None:
    with pytest.raises(GoogleAuthError, match="DEVELOPER_TOKEN_INVALID"):
        client(google, clock, developer_token="someone-elses").get_account(CUSTOMER)
    with pytest.raises(GoogleAuthError, match="OAUTH_TOKEN_INVALID"):
        client(google, clock, access_token="stolen").get_account(CUSTOMER)


def test_customers_out_of_reach_or_read_only_are_permission_errors(
    google: RunningGoogleSandbox, clock: FakeClock
) -> None:
    ads = client(google, clock)
    with pytest.raises(GooglePermissionError, match="USER_PERMISSION_DENIED"):
        ads.get_account("9999999999")
    budget = ads.list_budget_holders(READ_ONLY)["entity_id"].iloc[0]
    (result,) = ads.apply(READ_ONLY, [BudgetChange(budget, daily_budget=5_000)])
    assert isinstance(result.error, GooglePermissionError)
    assert "ACTION_NOT_PERMITTED" in str(result.error)


def test_a_query_google_would_refuse_is_refused_by_name(
    google: RunningGoogleSandbox, clock: FakeClock
) -> None:
    ads = client(google, clock)
    with pytest.raises(GoogleInvalidRequestError, match="UNRECOGNIZED_FIELD"):
        ads.search(CUSTOMER, "SELECT campaign.colour FROM campaign")
    with pytest.raises(GoogleInvalidRequestError, match="EXPECTED_FILTERS_ON_DATE_RANGE"):
        ads.search(CUSTOMER, "SELECT campaign.id, segments.hour FROM campaign")


def test_the_daily_operations_quota_runs_out_and_is_not_retried(clock: FakeClock) -> None:
    with running(clock=clock, daily_operations=3) as run:
        ads = client(run, clock)
        ids = list(ads.list_budget_holders(CUSTOMER)["entity_id"])
        results = ads.apply(CUSTOMER, [BudgetChange(i, daily_budget=5_000) for i in ids[:3]], currency="USD")
    assert all(isinstance(r.error, GoogleQuotaExhaustedError) for r in results)
    assert ads.requests_made == 2  # one read, one refused write; no retry


def test_operations_failing_alone_are_retried_until_they_land(clock: FakeClock) -> None:
    with running("batch_partial=0.5,seed=4", clock=clock) as run:
        ads = client(run, clock)
        ids = list(ads.list_budget_holders(CUSTOMER)["entity_id"])
        results = ads.apply(CUSTOMER, [BudgetChange(i, daily_budget=7_000) for i in ids], currency="USD")
        assert all(r.ok for r in results)
        assert requests_by_method(run.sandbox, ["MutateCampaignBudgets"])["MutateCampaignBudgets"] > 1
        assert set(ads.read_budgets(CUSTOMER, ids)[i]["daily_budget"] for i in ids) == {7_000}


# ---- the seam the hourly steps read through ---------------------------------------------------


@pytest.mark.parametrize("hourly", [False, True])
def test_the_hourly_read_seam_gives_both_platforms_the_same_frame(
    google: RunningGoogleSandbox, clock: FakeClock, hourly: bool
) -> None:
    ads = client(google, clock)
    day = yesterday(ads)
    from_google = holder_metrics(
        ads, CUSTOMER, "USD", (day, day), ads.list_budget_holders(CUSTOMER), hourly=hourly
    )
    with RunningSandbox(scenario(), seed=3) as meta_sandbox:
        meta = MetaClient(MetaConfig(access_token="sandbox-token", graph_url=meta_sandbox.url))
        structure = meta.list_budget_holders("act_1001")
        from_meta = holder_metrics(meta, "act_1001", "USD", (day, day), structure, hourly=hourly)
    assert list(from_google.columns) == list(from_meta.columns)
    assert from_google.dtypes.astype(str).tolist() == from_meta.dtypes.astype(str).tolist()
    assert len(from_google) > 0
    assert len(from_meta) > 0
    assert set(from_google["entity_id"]) <= set(ads.list_budget_holders(CUSTOMER)["entity_id"])


def test_one_world_serves_both_platforms_when_the_sandboxes_share_a_simulator(clock: FakeClock) -> None:
    with RunningSandbox(scenario(), seed=3) as meta_sandbox:
        shared = GoogleSandbox(
            scenario(), sim=meta_sandbox.sandbox.sim, lock=meta_sandbox.sandbox.lock, wall_time=clock.time
        )
        with RunningGoogleSandbox(shared) as run:
            ads = client(run, clock)
            meta = MetaClient(
                MetaConfig(access_token="sandbox-token", graph_url=meta_sandbox.url, clock="sandbox")
            )
            assert ads.now() == meta.now()
            meta_sandbox.sandbox.sim.advance_to(meta.now() + timedelta(hours=3))
            assert ads.now() == meta.now()
            budget = ads.list_budget_holders(CUSTOMER)["entity_id"].iloc[0]
            assert ads.apply(CUSTOMER, [BudgetChange(budget, daily_budget=8_800)])[0].ok
            assert meta_sandbox.sandbox.sim.history[-1]["after"] == 8_800


def test_the_meta_sandbox_lists_only_the_meta_accounts_of_a_mixed_scenario() -> None:
    with RunningSandbox(scenario(), seed=3) as meta_sandbox:
        meta = MetaClient(MetaConfig(access_token="sandbox-token", graph_url=meta_sandbox.url))
        assert [a.account_id for a in meta.list_accounts()] == ["act_1001"]
