"""One world for the operator-surface tests: Airflow's API server with the plugin, over an
audit database filled by the real hourly steps against the Meta sandbox.

Built once per package (about half a minute): the server, the browser and schemathesis tests
share it.  Tests that change it make their own accounts' state or undo what they change.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from autoscaler.demo import default_rules
from autoscaler.execute import execute_account
from autoscaler.hourly import RunHour, decide_account, fetch, snapshot
from autoscaler.meta import MetaClient, MetaConfig
from autoscaler.sandbox.scenario import load_scenario
from autoscaler.sandbox.server import RunningSandbox
from autoscaler.store.engine import make_engine
from tests.api.server import ApiServer
from tests.conftest import new_database

START = datetime(2026, 11, 2, 5, tzinfo=UTC)  # the demo scenario's clock start
HOURS = 30
ACCOUNTS = ("act_1001", "act_1002")


@dataclass
class World:
    server: ApiServer
    engine: Engine
    sandbox: RunningSandbox
    meta: MetaClient
    db_url: URL

    def get(self, path: str, user: str | None = "admin") -> tuple[int, Any]:
        return self.server.request("GET", "/api/auto-scaler" + path, user=user)

    def post(self, path: str, body: object, user: str | None = "ops") -> tuple[int, Any]:
        return self.server.request("POST", "/api/auto-scaler" + path, body, user=user)


def set_clock(sandbox: RunningSandbox, when: datetime) -> None:
    body = json.dumps({"to": when.isoformat()}).encode()
    urllib.request.urlopen(
        urllib.request.Request(f"{sandbox.url}/__sandbox/clock", data=body, method="POST")
    ).read()


def run_hours(engine: Engine, meta: MetaClient, sandbox: RunningSandbox, hours: int) -> None:
    """The hourly run's steps for every account, hour after hour, with far approval deadlines."""
    for i in range(hours):
        hour = START + timedelta(hours=i)
        now = hour + timedelta(hours=1, minutes=5)
        set_clock(sandbox, now)
        for account_id in ACCOUNTS:
            run = RunHour(account_id, hour)
            fetch(engine, meta, run, now)
            snapshot(engine, meta, run, now)
            decide_account(engine, run, now, approval_deadline=now + timedelta(days=365))
            execute_account(engine, meta, account_id)


@contextmanager
def built_world(pg_server_url: URL, template: str, home: Path) -> Iterator[World]:
    """A new audit database filled by HOURS of hourly steps, the sandbox, and the API server."""
    databases = new_database(pg_server_url, template)
    db_url = next(databases)
    engine = make_engine(db_url)
    try:
        with RunningSandbox(load_scenario("demo"), seed=1) as sandbox:
            meta = MetaClient(MetaConfig(access_token="sandbox-token", graph_url=sandbox.url))
            # The thresholds on any ROAS: a world with every kind of action (pauses, approvals)
            # for the routes to show; the allocator is tested in tests/sandbox and tests/unit.
            default_rules(engine, meta, strategy="thresholds")
            run_hours(engine, meta, sandbox, HOURS)
            with ApiServer(home, db_url.render_as_string(hide_password=False), sandbox.url) as server:
                yield World(server, engine, sandbox, meta, db_url)
    finally:
        engine.dispose()
        next(databases, None)


@pytest.fixture(scope="package")
def world(
    pg_server_url: URL, migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with built_world(pg_server_url, migrated_template, tmp_path_factory.mktemp("api-airflow")) as built:
        yield built
