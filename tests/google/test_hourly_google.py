"""One Google Ads account through the real hourly tasks, beside a Meta account (issue 20).

The DAG's task callables (fetch, snapshot, decide, execute) run against PostgreSQL, the Meta
sandbox and the Google Ads sandbox over one simulator: each account's client is chosen by
``ad_accounts.platform`` (the Meta client is never built for the Google account), the same
rule decides, a person approves, and execute writes through the google-ads library to the
sandbox, with the outcome on the one audit trail.  Under a pause switch, nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, get_args
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from autoscaler.airflow import notifier, tasks
from autoscaler.api.app import Services, create_app
from autoscaler.api.auth import Operator, Reader
from autoscaler.google.client import GoogleClient, GoogleConfig
from autoscaler.meta import MetaClient, MetaConfig
from autoscaler.notify import Notice
from autoscaler.rules import ScalingRule
from autoscaler.sandbox.google.server import DEVELOPER_TOKEN, GoogleSandbox, RunningGoogleSandbox
from autoscaler.sandbox.scenario import parse_scenario
from autoscaler.sandbox.server import RunningSandbox
from autoscaler.store import actions
from autoscaler.store.accounts import AdAccount, upsert_account
from autoscaler.store.controls import set_pause
from autoscaler.store.rules import create_rule

pytestmark = [pytest.mark.sandbox, pytest.mark.integration]

CUSTOMER = "1234567890"
META = "act_1001"
# Local midnight in Chicago (CST, UTC-6): the simulator's clock starts here.
START = datetime.fromisoformat("2026-11-03T06:00:00+00:00")
HOURS = 6


@dataclass
class World:
    engine: Engine
    meta: MetaClient
    google: GoogleClient
    sandbox: GoogleSandbox
    notices: list[Notice]
    clients_built: list[str]

    def advance_to(self, when: datetime) -> None:
        with self.sandbox.lock:
            self.sandbox.simulator.advance_to(when)


def scenario() -> Any:
    return parse_scenario(
        {
            "start": START.isoformat(),
            "history_days": 1,
            "accounts": [
                {"account_id": META, "timezone": "America/Chicago", "groups": [{"kind": "cbo", "count": 3}]},
                {
                    "account_id": CUSTOMER,
                    "platform": "google",
                    "name": "Shop (Google)",
                    "timezone": "America/Chicago",
                    "groups": [
                        {"kind": "cbo", "count": 4, "daily_budget": [40, 120]},
                        # Shared budgets: each is one holder with both campaigns' metrics.
                        {"kind": "cbo", "count": 2, "adsets_per_campaign": 2, "daily_budget": [100, 200]},
                    ],
                },
            ],
        }
    )


def rule(account_id: str) -> ScalingRule:
    return ScalingRule.from_major(
        {
            "account_id": account_id,
            "strategy": "thresholds",
            "min_daily_budget": "5.00",
            "max_daily_budget": "5000.00",
            "min_impressions": 100,
            "evidence_z": 0,  # act on any ROAS: six hours of a small account rest on few purchases
            "min_window_hours": 1,
            "lookback_hours": HOURS,
            # Every change waits for a person.
            "require_approval_threshold": "0.01",
            "pause_requires_approval": True,
        },
        "USD",
    )


@pytest.fixture
def world(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with RunningSandbox(scenario(), seed=2) as meta_sandbox:
        # One simulator behind both platforms' sandboxes (and one lock around it).
        google_sandbox = GoogleSandbox(
            meta_sandbox.sandbox.scenario, sim=meta_sandbox.sandbox.sim, lock=meta_sandbox.sandbox.lock
        )
        with RunningGoogleSandbox(google_sandbox) as running:
            meta = MetaClient(
                MetaConfig(access_token="sandbox-token", graph_url=meta_sandbox.url, clock="sandbox")
            )
            google = GoogleClient(
                GoogleConfig(
                    developer_token=DEVELOPER_TOKEN,
                    endpoint=running.endpoint,
                    access_token=google_sandbox.token,
                    clock="sandbox",
                )
            )
            built: list[str] = []
            notices: list[Notice] = []

            def meta_client() -> MetaClient:
                built.append("meta")
                return meta

            def google_client() -> GoogleClient:
                built.append("google_ads")
                return google

            monkeypatch.setattr(tasks, "audit_engine", lambda: engine)
            monkeypatch.setattr(engine, "dispose", lambda: None)  # the fixture's engine outlives each task
            monkeypatch.setattr(tasks, "meta_client", meta_client)
            monkeypatch.setattr(tasks, "google_client", google_client)
            monkeypatch.setattr(tasks, "variable_paused", lambda: False)
            monkeypatch.setattr(notifier, "send", notices.append)
            with engine.begin() as conn:
                # As `autoscaler accounts add` records them before their first rule.
                upsert_account(conn, AdAccount(CUSTOMER, "USD", "America/Chicago", platform="google_ads"))
                upsert_account(conn, AdAccount(META, "USD", "America/Chicago"))
                for account_id in (CUSTOMER, META):
                    create_rule(conn, rule(account_id), actor="tests")
            yield World(engine, meta, google, google_sandbox, notices, built)


def context(hour: datetime) -> dict[str, Any]:
    return {
        "dag_run": SimpleNamespace(run_type="scheduled", run_id=f"scheduled__{hour.isoformat()}"),
        "params": {},
        "data_interval_start": hour,
    }


def run_hours(world: World, accounts: tuple[str, ...]) -> datetime:
    """Fetch and snapshot every account for HOURS live hours from local midnight; the last hour."""
    hour = START
    for i in range(HOURS):
        hour = START + timedelta(hours=i)
        world.advance_to(hour + timedelta(hours=1, minutes=5))
        for account_id in accounts:
            tasks.fetch(account_id, context(hour))
            tasks.snapshot(account_id, context(hour))
    return hour


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def test_a_google_ads_account_runs_the_hourly_steps_beside_a_meta_one(world: World) -> None:
    last = run_hours(world, (CUSTOMER, META))
    engine = world.engine
    # Fetch recorded six campaign budgets (two shared by two campaigns each), snapshots for every hour.
    holders = rows(
        engine,
        "SELECT level, count(*) FROM autoscaler.budget_holders WHERE account_id = :a GROUP BY 1",
        a=CUSTOMER,
    )
    assert holders == [("campaign_budget", 6)]
    snapshots = rows(
        engine,
        "SELECT count(DISTINCT hour_start), count(*), sum(spend) FROM autoscaler.campaign_performance_snapshots "
        "WHERE account_id = :a",
        a=CUSTOMER,
    )
    assert snapshots[0][:2] == (HOURS, HOURS * 6)
    assert snapshots[0][2] > 0

    decided = {account_id: tasks.decide(account_id, context(last)) for account_id in (CUSTOMER, META)}
    assert decided[CUSTOMER]["evaluated"] == 6
    assert decided[CUSTOMER]["mode"] == "live"
    pending = rows(
        engine,
        "SELECT action_id, entity_level, currency, budget_before, budget_after, status_after "
        "FROM autoscaler.scaling_actions WHERE account_id = :a AND status = 'pending_approval' ORDER BY action_id",
        a=CUSTOMER,
    )
    assert len(pending) == decided[CUSTOMER]["awaiting_approval"] > 0
    assert {(p.entity_level, p.currency) for p in pending} == {("campaign_budget", "USD")}
    assert [n.kind for n in world.notices if CUSTOMER in n.text()] == ["approval"]

    now = world.google.now()
    with engine.begin() as conn:
        for p in pending:
            actions.approve(conn, p.action_id, by="ana", reason="looks right", now=now)
    written = tasks.execute(CUSTOMER, context(last))
    assert written["executed"] == len(pending)
    assert written["write_requests"] >= 1

    ids = [p.action_id for p in pending]
    recorded = rows(
        engine,
        "SELECT status, decided_by, meta_response IS NOT NULL FROM autoscaler.scaling_actions "
        "WHERE action_id = ANY(:ids)",
        ids=ids,
    )
    assert {tuple(r) for r in recorded} == {("executed", "ana", True)}
    trail = rows(
        engine,
        "SELECT from_status, to_status, actor, detail FROM autoscaler.action_events "
        "WHERE action_id = :id ORDER BY event_id",
        id=ids[0],
    )
    assert [(e.from_status, e.to_status) for e in trail][-2:] == [
        ("pending_approval", "approved"),
        ("approved", "executed"),
    ]
    assert trail[-1].detail == "written to Google Ads"
    # What Google Ads holds now is what was decided, read back through the library.
    entity_of = dict(
        rows(
            engine,
            "SELECT action_id, entity_id FROM autoscaler.scaling_actions WHERE account_id = :a",
            a=CUSTOMER,
        )
    )
    held = world.google.read_budgets(CUSTOMER, list(entity_of.values()))
    for p in pending:
        if p.budget_after is not None:
            assert held[entity_of[p.action_id]]["daily_budget"] == p.budget_after
        if p.status_after is not None:
            assert held[entity_of[p.action_id]]["status"] == p.status_after
    # The simulator behind the sandbox took exactly these writes, and only from Google's side.
    wrote = {(h["entity_id"], h["field"], h["after"]) for h in world.sandbox.simulator.history}
    assert wrote == {
        (entity_of[p.action_id], "daily_budget", p.budget_after)
        for p in pending
        if p.budget_after is not None
    } | {(entity_of[p.action_id], "status", p.status_after) for p in pending if p.status_after is not None}
    mutates = {r["method"] for r in world.sandbox.requests if r["method"].startswith("Mutate")}
    assert mutates == {
        "MutateCampaignBudgets",
        "MutateCampaigns",
    }  # amounts; pauses of the budgets' campaigns
    # Meta's account decided beside it, on the same trail, and waits for its own approvals.
    assert rows(
        engine, "SELECT DISTINCT status FROM autoscaler.scaling_actions WHERE account_id = :a", a=META
    ) == [("pending_approval",)]

    # Each account's run is on the one audit trail, with every step it took.
    runs = {
        r.account_id: set(r.steps)
        for r in rows(
            engine,
            "SELECT account_id, array(SELECT jsonb_object_keys(step_seconds)) AS steps FROM autoscaler.scaling_runs "
            "WHERE airflow_run_id = :r",
            r=context(last)["dag_run"].run_id,
        )
    }
    assert runs == {
        CUSTOMER: {"fetch", "snapshot", "decide", "execute"},
        META: {"fetch", "snapshot", "decide"},
    }
    # Each account's tasks built its own platform's client, never the other's.
    assert world.clients_built.count("google_ads") == world.clients_built.count("meta") + 1


def test_the_runs_doctor_checks_each_account_through_its_own_platforms_connection(world: World) -> None:
    from autoscaler import doctor

    facts = doctor.gather(
        world.meta.now(),
        {doctor.META_CONN_ID: None, doctor.DB_CONN_ID: None},
        world.engine,
        world.meta,
        doctor.AirflowFacts(unknown="not asked here"),
        accounts=[CUSTOMER, META],
        google=lambda: world.google,
    )
    assert sorted((a.account_id, a.platform) for a in facts.accounts) == [
        (CUSTOMER, "google_ads"),
        (META, "meta"),
    ]
    checks = doctor.examine(facts)
    assert doctor.failures(checks) == []
    google_checks = {c.name: c.status for c in checks if c.account == CUSTOMER}
    assert google_checks[f"{CUSTOMER} write access"] == "ok"  # a validate-only write: nothing applied
    assert world.sandbox.simulator.history == []


def test_a_backfilled_google_ads_hour_takes_its_own_purchases_not_a_share_of_the_days(world: World) -> None:
    from autoscaler import hourly

    run_hours(world, (CUSTOMER,))
    day = START.astimezone(ZoneInfo("America/Chicago")).date().isoformat()
    by_hour = world.google.holder_insights(CUSTOMER, "USD", time_range=(day, day), hourly=True)
    # The hour of the day so far with the most purchases, backfilled again as a past hour.
    busiest = int(str(by_hour.groupby("local_hour")["conversions"].sum().idxmax()))
    hour = START + timedelta(hours=busiest)
    hourly.snapshot(
        world.engine, world.google, hourly.RunHour(CUSTOMER, hour, backfill=True), START + timedelta(hours=7)
    )
    truth = by_hour[by_hour["local_hour"] == busiest].set_index("entity_id")
    stored = rows(
        world.engine,
        "SELECT entity_id, spend, conversions, revenue, revenue_source FROM autoscaler.campaign_performance_snapshots "
        "WHERE account_id = :a AND hour_start = :h ORDER BY entity_id",
        a=CUSTOMER,
        h=hour,
    )
    assert len(stored) == 6
    assert {r.revenue_source for r in stored} == {"observed"}
    for r in stored:
        expected = truth.loc[r.entity_id] if r.entity_id in truth.index else None
        got = (r.spend, r.conversions, r.revenue)
        assert got == (
            (0, 0, 0)
            if expected is None
            else tuple(int(expected[m]) for m in ("spend", "conversions", "revenue"))
        )
    assert sum(r.conversions for r in stored) > 0


def held(world: World) -> dict[str, tuple[int, str]]:
    """What Google Ads holds for each budget now: (daily budget in cents, status)."""
    ids = world.google.list_budget_holders(CUSTOMER)["entity_id"].astype(str).tolist()
    return {e: (h["daily_budget"], h["status"]) for e, h in world.google.read_budgets(CUSTOMER, ids).items()}


class _Ops:
    def get_name(self) -> str:
        return "ops"


def test_the_sensor_writes_an_approved_google_ads_hour_and_the_apis_rollback_undoes_it(world: World) -> None:
    last = run_hours(world, (CUSTOMER,))
    tasks.decide(CUSTOMER, context(last))
    before = held(world)
    with world.engine.begin() as conn:
        for action in actions.list_actions(conn, account_id=CUSTOMER, status="pending_approval", limit=1000):
            actions.approve(conn, action.action_id, by="ana", reason="looks right", now=world.google.now())
    # The approval sensor's poke writes what was approved since its last look.
    assert tasks.approvals_settled(CUSTOMER, context(last)) is True
    assert held(world) != before

    def no_meta() -> MetaClient:
        raise AssertionError("a Google Ads account's rollback never builds Meta's client")

    app = create_app(Services(engine=world.engine, meta=no_meta, google=lambda: world.google))
    for dependency in (Reader, Operator):
        app.dependency_overrides[get_args(dependency)[1].dependency] = _Ops
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post(
            "/rollback", json={"account_id": CUSTOMER, "since": START.isoformat(), "reason": "bad hour"}
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcomes"] == {"executed": len(answer.json()["compensations"])}
    assert held(world) == before


def test_a_paused_google_ads_account_decides_in_shadow_and_writes_nothing(world: World) -> None:
    last = run_hours(world, (CUSTOMER,))
    with world.engine.begin() as conn:
        set_pause(conn, CUSTOMER, paused=True, by="ana", reason="incident")
    decided = tasks.decide(CUSTOMER, context(last))
    assert decided["mode"] == "shadow"
    assert decided["actions"] > 0
    assert tasks.execute(CUSTOMER, context(last)) == {"written": 0, "mode": "shadow"}
    statuses = rows(world.engine, "SELECT DISTINCT status FROM autoscaler.scaling_actions")
    assert statuses == [("simulated",)]
    assert not [r for r in world.sandbox.requests if r["method"].startswith("Mutate")]
    assert world.sandbox.simulator.history == []
    assert world.notices == []  # nothing awaits approval in shadow mode
