"""Hardening cases of the REST API (issue 17, items 5, 7, 10, 12-14), in process.

The app is the one the plugin mounts (autoscaler.api.app.create_app) on a real audit
database; only Airflow's authentication is replaced by an operator named "ops", which the
tests against the real API server (tests/api) cover.  Every case must get its status and
say what it expected, change nothing, and never be a 500.  docs/hardening.md lists them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from autoscaler.api.app import Services, create_app
from autoscaler.api.auth import Operator, Reader
from autoscaler.meta import MetaClient
from tests import factories
from tests.hardening import Case, params

pytestmark = pytest.mark.integration

# given: (method, path, body); expected: "HTTP <status>: <fragment of the detail>"
CASES = [
    Case(
        "api-approve-yes",
        'POST /approve {"approve": "yes"}',
        "HTTP 422: approve: Input should be a valid boolean",
        ("POST", "/approve", {"action_id": "{pending}", "approve": "yes"}),
    ),
    Case(
        "api-approve-no",
        'POST /approve {"approve": "no"}',
        "HTTP 422: approve: Input should be a valid boolean",
        ("POST", "/approve", {"action_id": "{pending}", "approve": "no"}),
    ),
    Case(
        "api-approve-one",
        'POST /approve {"approve": 1}',
        "HTTP 422: approve: Input should be a valid boolean",
        ("POST", "/approve", {"action_id": "{pending}", "approve": 1}),
    ),
    Case(
        "api-approve-id-as-text",
        'POST /approve {"action_id": "12"}',
        "HTTP 422: action_id: Input should be a valid integer",
        ("POST", "/approve", {"action_id": "12", "approve": True}),
    ),
    Case(
        "api-approve-after-deadline",
        "POST /approve on a pending action whose approval deadline has passed",
        "HTTP 409: cannot be approved: its approval deadline passed at",
        ("POST", "/approve", {"action_id": "{stale}", "approve": True}),
    ),
    Case(
        "api-rule-money-true",
        'POST /rules {"min_daily_budget": true}',
        "HTTP 422: min_daily_budget: must be an amount (a number or a decimal string), got True",
        ("POST", "/rules", {"account_id": "act_1001", "min_daily_budget": True, "max_daily_budget": "20"}),
    ),
    Case(
        "api-rule-enabled-text",
        'POST /rules {"enabled": "yes"}',
        "HTTP 422: enabled: Input should be a valid boolean (got 'yes')",
        (
            "POST",
            "/rules",
            {"account_id": "act_1001", "min_daily_budget": "1", "max_daily_budget": "2", "enabled": "yes"},
        ),
    ),
    Case(
        "api-rule-put-1e30",
        'PUT /rules/1 {"max_daily_budget": 1e30}',
        "HTTP 422: max_daily_budget: must be at most 10,000,000.00 USD, got 1e+30 USD",
        ("PUT", "/rules/1", {"max_daily_budget": 1e30}),
    ),
    Case(
        "api-rule-92-quadrillion",
        'POST /rules {"max_daily_budget": "92000000000000000"}',
        "HTTP 422: max_daily_budget: must be at most 10,000,000.00 USD",
        (
            "POST",
            "/rules",
            {"account_id": "act_1001", "min_daily_budget": "1", "max_daily_budget": "92000000000000000"},
        ),
    ),
    Case(
        "api-rule-minor-units-in-errors",
        'PUT /rules/1 {"min_daily_budget": -10}',
        "HTTP 422: min_daily_budget: must be more than 0.00 USD, got -10.00 USD",
        ("PUT", "/rules/1", {"min_daily_budget": -10}),
    ),
    Case(
        "api-rule-id-in-body",
        'POST /rules {"rule_id": 999, ...}',
        "HTTP 422: rule_id: is assigned by the database; leave it out",
        (
            "POST",
            "/rules",
            {"rule_id": 999, "account_id": "act_1001", "min_daily_budget": "1", "max_daily_budget": "2"},
        ),
    ),
    Case(
        "api-rule-put-rule-id",
        'PUT /rules/1 {"rule_id": 999}',
        "HTTP 422: rule_id: is the rule's identity and cannot change",
        ("PUT", "/rules/1", {"rule_id": 999}),
    ),
    Case(
        "api-rule-unknown-campaign",
        "POST /rules scoped to campaign 999999, which the account does not have",
        "HTTP 422: scope_entity_id: 999999 is not a known campaign of act_1001",
        (
            "POST",
            "/rules",
            {
                "account_id": "act_1001",
                "scope_level": "campaign",
                "scope_entity_id": "999999",
                "min_daily_budget": "1",
                "max_daily_budget": "2",
            },
        ),
    ),
    Case(
        "api-rule-adset-scope-on-campaign",
        "POST /rules scoped to an ad set, naming a campaign id",
        "HTTP 422: scope_entity_id: 2001 is a campaign of act_1001",
        (
            "POST",
            "/rules",
            {
                "account_id": "act_1001",
                "scope_level": "adset",
                "scope_entity_id": "2001",
                "min_daily_budget": "1",
                "max_daily_budget": "2",
            },
        ),
    ),
    Case(
        "api-dashboard-far-date",
        "GET /dashboard?end_date=9999-12-31",
        "HTTP 422: end_date: must be between 2000-01-01 and 2100-12-31, got 9999-12-31",
        ("GET", "/dashboard?end_date=9999-12-31", None),
    ),
    Case(
        "api-dashboard-first-date",
        "GET /dashboard?start_date=0001-01-01",
        "HTTP 422: start_date: must be between 2000-01-01 and 2100-12-31",
        ("GET", "/dashboard?start_date=0001-01-01", None),
    ),
    Case(
        "api-entities-unknown-account",
        "GET /entities?account_id=act_9999",
        "HTTP 404: unknown ad account act_9999",
        ("GET", "/entities?account_id=act_9999", None),
    ),
    Case(
        "api-lock-ansi-reason",
        "POST /entities/2001/lock with an ANSI escape in the reason",
        "HTTP 422: reason: Value error, must not contain control characters",
        ("POST", "/entities/2001/lock", {"reason": "\x1b[2Jall clear"}),
    ),
    Case(
        "api-rollback-dry-run-text",
        'POST /rollback {"dry_run": "false"}',
        "HTTP 422: dry_run: Input should be a valid boolean",
        (
            "POST",
            "/rollback",
            {"account_id": "act_1001", "since": "2026-11-01T00:00:00Z", "reason": "x", "dry_run": "false"},
        ),
    ),
]


class _Ops:
    def get_name(self) -> str:
        return "ops"


@pytest.fixture
def world(engine: Engine) -> Iterator[tuple[TestClient, dict[str, int]]]:
    with engine.begin() as conn:
        factories.world(conn)  # act_1001 (USD), campaign 2001, ad set 3001, account rule 1
        pending = factories.insert_action(
            conn, factories.action_row(1, approval_deadline="2100-01-01 00:00+00")
        )
        stale = factories.insert_action(
            conn,
            factories.action_row(
                1, entity_id="3001", entity_level="adset", approval_deadline="2026-01-01 00:00+00"
            ),
        )

    def no_meta() -> MetaClient:
        raise LookupError("no Meta connection in these cases")  # deadlines on the wall clock

    app = create_app(Services(engine=engine, meta=no_meta))
    for dependency in (Reader, Operator):
        app.dependency_overrides[get_args(dependency)[1].dependency] = _Ops
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, {"pending": pending, "stale": stale}


def _state(engine: Engine) -> tuple[Any, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM autoscaler.action_events), "
                    "(SELECT count(*) FROM autoscaler.scaling_rule_revisions), "
                    "(SELECT count(*) FROM autoscaler.control_events), "
                    "(SELECT string_agg(status, ',' ORDER BY action_id) FROM autoscaler.scaling_actions)"
                )
            ).one()
        )


def _detail(body: Any) -> str:
    detail = body.get("detail") if isinstance(body, dict) else body
    if isinstance(detail, list):  # FastAPI's and RuleError's shape: [{"loc": [...], "msg": ...}]
        return "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in detail)
    return str(detail)


@pytest.mark.parametrize("case", params(CASES))
def test_bad_requests_get_a_clear_answer_and_change_nothing(
    engine: Engine, world: tuple[TestClient, dict[str, int]], case: Case
) -> None:
    client, ids = world
    method, path, body = case.given
    if body is not None:
        body = {k: ids[v[1:-1]] if v in ("{pending}", "{stale}") else v for k, v in body.items()}
    before = _state(engine)
    answer = client.request(method, path, json=body)
    got = f"HTTP {answer.status_code}: {_detail(answer.json())}"
    status, fragment = case.expected.split(": ", 1)
    assert got.startswith(status + ":"), got
    assert fragment in got, got
    assert _state(engine) == before


def test_a_timely_approval_through_the_api_is_recorded(world: tuple[TestClient, dict[str, int]]) -> None:
    client, ids = world
    answer = client.post("/approve", json={"action_id": ids["pending"], "approve": True, "reason": "ok"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "approved"


def test_approvals_are_judged_by_the_sandbox_clock_when_meta_follows_it(engine: Engine) -> None:
    # The demo and docker-compose run Meta's sandbox on a virtual clock; deadlines are set by
    # it, so a person approving in the UI is judged by it too, not by the wall.
    from datetime import UTC, datetime

    with engine.begin() as conn:
        factories.world(conn)
        waiting = factories.insert_action(
            conn, factories.action_row(1, approval_deadline="2026-01-01 00:45+00")
        )

    class SandboxClock:
        config = type("C", (), {"clock": "sandbox"})()

        def now(self) -> datetime:
            return datetime(2026, 1, 1, 0, 30, tzinfo=UTC)

    app = create_app(Services(engine=engine, meta=lambda: SandboxClock()))  # type: ignore[arg-type,return-value]
    for dependency in (Reader, Operator):
        app.dependency_overrides[get_args(dependency)[1].dependency] = _Ops
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post("/approve", json={"action_id": waiting, "approve": True})
    assert answer.status_code == 200, answer.text
