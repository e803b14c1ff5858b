"""Google Ads requests for one hourly read of a 2,000-budget customer, and for its writes.

Counted from the Google Ads sandbox's request log (every gRPC call the google-ads library
made through GoogleClient), side by side in one run, for:

* the fetch step: the customer (currency, time zone) and its budgets with their campaigns
  (one streamed query);
* the metrics read: today's metrics of every campaign by hour, conversions included, in one
  SearchStream query -- target: 1 request, whatever the number of campaigns;
* the settle read each live run adds: yesterday's totals (one more query) -- target: 1;
* writing budget changes: target ceil(changes / 10,000) MutateCampaignBudgets requests
  (Google's operation limit), for a busy hour's changes and for every budget at once;
* the per-campaign approach, actually run against the same sandbox: one Search per campaign
  for today's metrics, and one MutateCampaignBudgets request per change;
* the same reads and writes under faults (FAULTS: INTERNAL and dropped connections, rate
  limits with a retry delay, single operations failing with CONCURRENT_MODIFICATION), on a
  fake clock so waits cost no time: the frames must equal the fault-free ones and every write
  must land, with the retries and the waits it took.
"""

from __future__ import annotations

import math
import random
import time
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from autoscaler.google.api import MAX_MUTATE_OPERATIONS
from autoscaler.google.client import GoogleClient, GoogleConfig
from autoscaler.meta.client import BudgetChange
from autoscaler.meta.errors import TransientError
from autoscaler.sandbox.faults import FaultPlan
from autoscaler.sandbox.google.server import DEVELOPER_TOKEN, GoogleSandbox, RunningGoogleSandbox
from autoscaler.sandbox.scenario import Scenario, parse_scenario
from bench.common import target_lines

CUSTOMER = "2000000000"
CHANGES = 237  # about one budget in eight changes in a busy hour, as in graph_requests
FAULTS = "5xx=0.1,malformed=0.05,throttle=0.05,batch_partial=0.1,block_seconds=30,seed=7"
ROUNDS = 12  # hourly cycles run under faults
MAX_ATTEMPTS = GoogleConfig.model_fields["max_attempts"].default


class _FakeClock:
    """Shared by the client (its waits) and the sandbox (its rate limits): no real waiting."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.waited = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.waited += seconds


def scenario() -> Scenario:
    """2,000 budgets: 1,500 for one campaign each and 500 shared by two campaigns (2,500 campaigns)."""
    return parse_scenario(
        {
            "name": "google-bench-2000",
            "start": "2026-11-02T05:00:00Z",
            "history_days": 2,
            "accounts": [
                {
                    "account_id": CUSTOMER,
                    "platform": "google",
                    "name": "Big Retailer (Google)",
                    "timezone": "America/Chicago",
                    "groups": [
                        {"kind": "cbo", "count": 1500},
                        {"kind": "cbo", "count": 500, "adsets_per_campaign": 2},
                    ],
                }
            ],
        }
    )


def _calls(sandbox: GoogleSandbox, since: int) -> dict[str, int]:
    log = sandbox.requests[since:]
    return {
        "requests": len(log),
        "reads": sum(1 for e in log if e["method"].startswith("Search")),
        "writes": sum(1 for e in log if e["method"].startswith("Mutate")),
        "operations": sum(e["operations"] for e in log if e["method"].startswith("Mutate")),
    }


def _timed_calls(sandbox: GoogleSandbox, work: Any) -> dict[str, Any]:
    since = len(sandbox.requests)
    started = time.perf_counter()
    work()
    return {**_calls(sandbox, since), "seconds": time.perf_counter() - started}


def run() -> dict[str, Any]:
    sandbox = GoogleSandbox(scenario(), seed=1)
    sandbox.control("Advance", {"advance_hours": 10})  # mid-afternoon in Chicago: today has data
    with RunningGoogleSandbox(sandbox) as running:
        ads = GoogleClient(
            GoogleConfig(
                developer_token=DEVELOPER_TOKEN,
                endpoint=running.endpoint,
                access_token=sandbox.token,
                clock="sandbox",
            )
        )
        found: dict[str, Any] = {}
        fetch = _timed_calls(
            sandbox,
            lambda: found.update(
                account=ads.get_account(CUSTOMER), holders=ads.list_budget_holders(CUSTOMER)
            ),
        )
        holders = found["holders"]
        local = ads.now().astimezone(ZoneInfo(found["account"].timezone_name))
        today, yesterday = local.date().isoformat(), (local.date() - timedelta(days=1)).isoformat()
        metrics = _timed_calls(
            sandbox,
            lambda: found.update(
                today=ads.holder_insights(CUSTOMER, "USD", time_range=(today, today), hourly=True)
            ),
        )
        settle = _timed_calls(
            sandbox, lambda: ads.holder_insights(CUSTOMER, "USD", time_range=(yesterday, yesterday))
        )
        busy = _changes(holders, CHANGES, 1.2)
        writes = _timed_calls(sandbox, lambda: _all_ok(ads.apply(CUSTOMER, busy, currency="USD")))
        every = _changes(holders, len(holders), 0.9)
        writes_all = _timed_calls(sandbox, lambda: _all_ok(ads.apply(CUSTOMER, every, currency="USD")))
        per_campaign = _per_campaign(ads, sandbox, today, busy)
    faulty = _under_faults(holders, found["today"], today, busy)

    result: dict[str, Any] = {
        "scenario": "google-bench-2000",
        "budgets": len(holders),
        "campaigns": sum(len(h.adset_ids) for h in sandbox.ads.budgets[CUSTOMER]),
        "hourly_rows": len(found["today"]),
        "fetch": fetch,
        "metrics_read": metrics,
        "settle_read": settle,
        "writes": {**writes, "changes": len(busy)},
        "writes_every_budget": {**writes_all, "changes": len(every)},
        "per_campaign_approach": per_campaign,
        "under_faults": faulty,
    }
    result["targets"] = {
        "metrics read == 1 request": metrics["requests"] == 1,
        "settle read == 1 request": settle["requests"] == 1,
        "writes == ceil(changes/10,000) requests": writes["writes"]
        == math.ceil(len(busy) / MAX_MUTATE_OPERATIONS)
        and writes_all["writes"] == math.ceil(len(every) / MAX_MUTATE_OPERATIONS),
        "under faults: same frames; acknowledged writes held, failures transient": faulty["same_frames"]
        and faulty["faithful"],
    }
    return result


def _under_faults(holders: Any, today_frame: Any, today: str, changes: list[BudgetChange]) -> dict[str, Any]:
    """The fetch, the metrics read and the busy hour's writes again, on a sandbox with FAULTS."""
    clock = _FakeClock()
    sandbox = GoogleSandbox(scenario(), seed=1, faults=FaultPlan.parse(FAULTS), wall_time=clock.time)
    sandbox.control("Advance", {"advance_hours": 10})
    with RunningGoogleSandbox(sandbox) as running:
        ads = GoogleClient(
            GoogleConfig(
                developer_token=DEVELOPER_TOKEN, endpoint=running.endpoint, access_token=sandbox.token
            ),
            sleep=clock.sleep,
            rng=random.Random(1),
        )
        same = ads.list_budget_holders(CUSTOMER).equals(holders)
        landed = unlanded = 0
        faithful = True  # every acknowledged write is held as written; every failure is transient
        for round_ in range(ROUNDS):
            metrics = ads.holder_insights(CUSTOMER, "USD", time_range=(today, today), hourly=True)
            same = same and metrics.equals(today_frame)  # the clock stands still: same numbers
            # Up one round, back the next: every round writes every change anew.
            wanted = {
                c.entity_id: int(c.daily_budget * (1.0 if round_ % 2 == 0 else 1.1))
                for c in changes
                if c.daily_budget is not None
            }
            batch = [BudgetChange(e, daily_budget=amount) for e, amount in wanted.items()]
            results = ads.apply(CUSTOMER, batch, currency="USD")
            held = ads.read_budgets(CUSTOMER, list(wanted))
            for result in results:
                if result.ok:
                    landed += 1
                    faithful = faithful and held[result.entity_id]["daily_budget"] == wanted[result.entity_id]
                else:
                    unlanded += 1
                    faithful = faithful and isinstance(result.error, TransientError)
    return {
        "faults": FAULTS,
        "rounds": ROUNDS,
        "requests": len(sandbox.requests),
        "failed_requests": sum(1 for e in sandbox.requests if e["status"] != "OK"),
        "mutate_requests": sum(1 for e in sandbox.requests if e["method"].startswith("Mutate")),
        "waited_seconds": clock.waited,
        "same_frames": bool(same),
        "writes_landed": landed,
        "writes_failed_after_retries": unlanded,
        "faithful": bool(faithful),
    }


def _changes(holders: Any, count: int, factor: float) -> list[BudgetChange]:
    chosen = holders.head(count)
    return [
        BudgetChange(str(e), daily_budget=int(b * factor))
        for e, b in zip(chosen["entity_id"], chosen["daily_budget"], strict=True)
    ]


def _all_ok(results: list[Any]) -> None:
    failed = [r.error for r in results if not r.ok]
    assert not failed, failed[:3]


def _per_campaign(
    ads: GoogleClient, sandbox: GoogleSandbox, day: str, changes: list[BudgetChange]
) -> dict[str, Any]:
    """The per-campaign loop: a query per campaign for today's metrics, a request per change."""
    campaigns = [c for h in sandbox.ads.budgets[CUSTOMER] for c in h.adset_ids]

    def work() -> None:
        for campaign in campaigns:
            ads.search(
                CUSTOMER,
                "SELECT campaign.id, campaign.campaign_budget, segments.date, segments.hour, metrics.cost_micros, "
                "metrics.conversions, metrics.conversions_value FROM campaign "
                f"WHERE campaign.id = {campaign} AND segments.date = '{day}'",
            )
        for change in changes:
            _all_ok(ads.apply(CUSTOMER, [change], currency="USD"))

    return _timed_calls(sandbox, work)


def report(result: dict[str, Any]) -> str:
    f, m, s, w, wa, p, u = (
        result[k]
        for k in (
            "fetch",
            "metrics_read",
            "settle_read",
            "writes",
            "writes_every_budget",
            "per_campaign_approach",
            "under_faults",
        )
    )
    limit = MAX_MUTATE_OPERATIONS

    def row(label: str, figures: str) -> str:
        return f"  {label + ':':<54}{figures}"

    lines = [
        f"Google Ads requests, customer with {result['budgets']:,} budgets and {result['campaigns']:,} campaigns ({result['scenario']}):",
        row(
            "fetch (customer, budgets with their campaigns)",
            f"{f['requests']} requests ({f['seconds']:.2f} s)",
        ),
        row(
            "metrics read (today by hour, conversions included)",
            f"{m['requests']} SearchStream request ({result['hourly_rows']:,} budget-hours, {m['seconds']:.2f} s)",
        ),
        row("settle read (yesterday's totals, each live run)", f"{s['requests']} request"),
        row(
            f"{w['changes']} budget changes",
            f"{w['writes']} MutateCampaignBudgets request(s) (ceil({w['changes']}/{limit:,}) = {math.ceil(w['changes'] / limit)})",
        ),
        row(
            f"{wa['changes']:,} budget changes (every budget)",
            f"{wa['writes']} request(s) (ceil({wa['changes']:,}/{limit:,}) = {math.ceil(wa['changes'] / limit)}; {wa['seconds']:.2f} s)",
        ),
        row(
            f"per-campaign approach, today's reads + {w['changes']} writes",
            f"{p['requests']:,} requests ({p['reads']:,} reads + {p['writes']:,} writes, {p['seconds']:.1f} s)",
        ),
        row(
            f"{u['rounds']} rounds of the read and the writes under faults",
            f"{u['requests']} requests, {u['failed_requests']} failed and retried; {u['mutate_requests']} mutate "
            f"requests; {u['waited_seconds']:.0f} s of waits; same frames: {u['same_frames']}; "
            f"{u['writes_landed']:,} writes landed, {u['writes_failed_after_retries']} failed after "
            f"{MAX_ATTEMPTS} attempts (transient: the next hour writes them again)",
        ),
        f"    ({u['faults']})",
    ]
    return "\n".join([*lines, *target_lines(result)])


if __name__ == "__main__":
    from bench.common import main

    main("google_requests", run, report)
