"""Graph requests for one hourly read of a 2,000-budget-holder account, and for its writes.

Counted from the sandbox's request log (every HTTP request the SDK made), for:

* the hourly read the fetch step makes: the account (currency, time zone), its budget
  holders (one ad-set edge read with the campaign expanded), and today's cumulative
  insights at ad-set level (all metrics, purchases included) — target <= 12 requests;
* the settle read each live run adds: yesterday's totals (docs/metrics.md, settling yesterday);
* writing budget changes: target ceil(changes / 50) requests (batches of 50);
* the seed's approach, actually run against the same sandbox: one insights request per
  campaign ("for each campaign: fetch 24h metrics") and one request per change.

Also the sandbox's own serving rate, so pipeline benchmarks know how much of their time is
the sandbox's.
"""

from __future__ import annotations

import json
import math
import time
import urllib.request
import warnings
from typing import Any

import requests
from facebook_business.adobjects.adset import AdSet
from facebook_business.adobjects.campaign import Campaign
from facebook_business.api import FacebookAdsApi, FacebookSession

from autoscaler.meta import BudgetChange, MetaClient, MetaConfig
from autoscaler.sandbox.scenario import load_scenario
from autoscaler.sandbox.server import RunningSandbox
from bench.common import target_lines

ACCOUNT = "act_2000"
CHANGES = 237  # about one holder in eight changes in a busy hour


def _log(url: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(urllib.request.urlopen(f"{url}/__sandbox/requests").read())
    return entries


def _clear(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{url}/__sandbox/requests", method="DELETE")).read()


def _advance(url: str, hours: float) -> None:
    body = json.dumps({"advance_hours": hours}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{url}/__sandbox/clock", data=body, method="POST")).read()


def _counts(url: str) -> dict[str, int]:
    log = _log(url)
    return {
        "http_requests": len(log),
        "read_requests": sum(1 for e in log if e["reads"] and not e["writes"]),
        "write_requests": sum(1 for e in log if e["writes"]),
        "calls_inside": sum(e["reads"] + e["writes"] for e in log),
    }


def run() -> dict[str, Any]:
    scenario = load_scenario("bench-2000")
    with RunningSandbox(scenario, seed=1) as sandbox:
        url = sandbox.url
        _advance(url, 10)  # mid-afternoon in Chicago: today has data
        meta = MetaClient(MetaConfig(access_token=scenario.access_token, graph_url=url))

        _clear(url)
        started = time.perf_counter()
        account = meta.get_account(ACCOUNT)
        holders = meta.list_budget_holders(ACCOUNT)
        today = meta.insights(ACCOUNT, account.currency, date_preset="today")
        hourly_read = {**_counts(url), "seconds": time.perf_counter() - started}
        hourly_read.update(budget_holders=len(holders), insight_rows=len(today))

        _clear(url)
        meta.insights(ACCOUNT, account.currency, date_preset="yesterday")
        settle_read = _counts(url)

        chosen = holders.head(CHANGES)
        changes = [
            BudgetChange(e, daily_budget=int(b * 1.2))
            for e, b in zip(chosen["entity_id"], chosen["daily_budget"], strict=True)
        ]
        _clear(url)
        results = meta.apply(changes)
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
        writes = {**_counts(url), "changes": len(changes)}

        seed = _seed_approach(url, scenario.access_token, holders, changes)
        serving = _serving_rate(url, scenario.access_token)

    result: dict[str, Any] = {
        "scenario": "bench-2000",
        "hourly_read": hourly_read,
        "settle_read": settle_read,
        "writes": writes,
        "seed_approach": seed,
        "sandbox_serving": serving,
    }
    result["targets"] = {
        "hourly read <= 12 requests": hourly_read["http_requests"] <= 12,
        "writes == ceil(changes/50) requests": writes["write_requests"] == math.ceil(len(changes) / 50),
    }
    return result


def _seed_approach(url: str, token: str, holders: Any, changes: list[BudgetChange]) -> dict[str, int]:
    """The seed's loop: insights per campaign, then one write per change, through the SDK."""
    session = FacebookSession(access_token=token)
    session.GRAPH = url
    api = FacebookAdsApi(session)
    _clear(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for entity_id, level in zip(holders["entity_id"], holders["level"], strict=True):
            node = Campaign(entity_id, api=api) if level == "campaign" else AdSet(entity_id, api=api)
            list(
                node.get_insights(
                    fields=["spend", "impressions", "clicks", "actions", "action_values"],
                    params={"date_preset": "today"},
                )
            )
        _advance(url, 1.01)  # an hour later, so Meta's 4-changes-an-hour limit does not bite
        level_of = dict(zip(holders["entity_id"], holders["level"], strict=True))
        for change in changes:
            node = (
                Campaign(change.entity_id, api=api)
                if level_of[change.entity_id] == "campaign"
                else AdSet(change.entity_id, api=api)
            )
            node.api_update(params=change.params())
    return _counts(url)


def _serving_rate(url: str, token: str, n: int = 400) -> dict[str, float]:
    with requests.Session() as http:
        started = time.perf_counter()
        for _ in range(n):
            http.get(
                f"{url}/v26.0/{ACCOUNT}", params={"fields": "currency", "access_token": token}
            ).raise_for_status()
        simple = n / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(5):
            http.get(
                f"{url}/v26.0/{ACCOUNT}/insights",
                params={
                    "level": "adset",
                    "date_preset": "today",
                    "fields": "spend,actions",
                    "limit": "5000",
                    "access_token": token,
                },
            ).raise_for_status()
        insights_s = (time.perf_counter() - started) / 5
    return {"simple_reads_per_second": simple, "insights_3000_rows_seconds": insights_s}


def report(result: dict[str, Any]) -> str:
    h, s, w, seed, srv = (
        result[k] for k in ("hourly_read", "settle_read", "writes", "seed_approach", "sandbox_serving")
    )
    lines = [
        f"Graph requests, account with {h['budget_holders']:,} budget holders ({result['scenario']}):",
        f"  hourly read (account, holders, today's insights): {h['http_requests']} requests ({h['insight_rows']:,} insight rows, {h['seconds']:.2f} s)",
        f"  settle read (yesterday's totals, each live run):  {s['http_requests']} requests",
        f"  {w['changes']} budget changes:                          {w['write_requests']} write requests (ceil({w['changes']}/50) = {math.ceil(w['changes'] / 50)})",
        f"  the seed's per-campaign approach, same work:       {seed['http_requests']:,} requests ({seed['read_requests']:,} reads + {seed['write_requests']:,} writes)",
        f"  sandbox serving: {srv['simple_reads_per_second']:,.0f} simple reads/s; one 3,000-row insights page in {srv['insights_3000_rows_seconds']:.2f} s",
    ]
    return "\n".join([*lines, *target_lines(result)])


if __name__ == "__main__":
    from bench.common import main

    main("graph_requests", run, report)
