"""``autoscaler demo`` (``make demo``): the hourly DAG over a simulated day, on embedded defaults.

Starts the embedded PostgreSQL, the Meta sandbox (``demo`` scenario) and, over the same
simulator, the Google Ads sandbox with one Google Ads customer beside the Meta accounts
(GOOGLE_ACCOUNT), initialises an Airflow home under $AUTOSCALER_HOME, records each sandbox
account with a default rule, then
runs the real ``autoscaler_hourly`` DAG (``dag.test()``) hour by hour on the sandbox's
virtual clock: the first hours in shadow mode, the rest live.  A stand-in approver approves
one waiting action and rejects another; the rest expire at their deadline.  It prints what
happened and stops what it started.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from autoscaler import migrations
from autoscaler.embedded_pg import EmbeddedPostgres
from autoscaler.google.client import GoogleClient, GoogleConfig
from autoscaler.meta import MetaClient, MetaConfig
from autoscaler.money import format_money
from autoscaler.rules import ScalingRule
from autoscaler.sandbox.google.server import DEVELOPER_TOKEN, GoogleSandbox, RunningGoogleSandbox
from autoscaler.sandbox.scenario import Scenario, load_scenario, parse_scenario
from autoscaler.sandbox.server import RunningSandbox
from autoscaler.store import actions
from autoscaler.store.accounts import AdAccount, upsert_account
from autoscaler.store.engine import autoscaler_home, make_engine
from autoscaler.store.rules import create_rule

DATABASE = "autoscaler_demo"
APPROVER = "demo-approver"
# The demo's Google Ads customer, served by the Google Ads sandbox over the Meta accounts'
# simulator: separate campaign budgets, and budgets shared by two campaigns each.
GOOGLE_ACCOUNT: dict[str, Any] = {
    "account_id": "4455667788",
    "platform": "google",
    "name": "Garden Supplies UK (Google Ads)",
    "currency": "GBP",
    "timezone": "Europe/London",
    "groups": [
        {"kind": "cbo", "count": 5, "daily_budget": [30, 250], "roas": [0.6, 5.0]},
        {"kind": "cbo", "count": 2, "adsets_per_campaign": 2, "daily_budget": [80, 300], "roas": [0.8, 4.0]},
    ],
}


def demo_scenario() -> Scenario:
    """The built-in ``demo`` scenario (three Meta accounts) with GOOGLE_ACCOUNT beside them."""
    data = load_scenario("demo").model_dump(mode="json", exclude_unset=True)
    data["accounts"] = [*data["accounts"], GOOGLE_ACCOUNT]
    return parse_scenario(data)


def say(message: str) -> None:
    print(message, flush=True)


@contextlib.contextmanager
def quiet(log_file: Path) -> Iterator[None]:
    """Send Airflow's task output to a file (file descriptors, so subprocess and C output too)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_file.open("a") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _database(home: Path) -> tuple[EmbeddedPostgres, str]:
    server = EmbeddedPostgres(home / "pgdata")
    base = make_url(server.start("postgres"))
    with psycopg.connect(
        host=base.host, port=base.port, user=base.username, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return server, base.set(database=DATABASE).render_as_string(hide_password=False)


def sandbox_airflow_env(
    airflow_home: Path,
    dags: Path,
    db_url: str,
    graph_url: str,
    poke_seconds: int = 2,
    google: GoogleConfig | None = None,
) -> dict[str, str]:
    """Airflow settings for a local home: SQLite metadata, the audit database and the sandboxes as connections."""
    airflow_home.mkdir(parents=True, exist_ok=True)
    google_conn = {}
    if google is not None:
        assert google.access_token is not None
        google_conn["AIRFLOW_CONN_GOOGLE_ADS_DEFAULT"] = json.dumps(
            {
                "conn_type": "generic",
                "extra": {
                    "developer_token": google.developer_token.get_secret_value(),
                    "endpoint": google.endpoint,
                    "access_token": google.access_token.get_secret_value(),
                    "clock": google.clock,
                },
            }
        )
    return {
        **google_conn,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home}/airflow.db",
        "AIRFLOW_CONN_AUTOSCALER_DB": make_url(db_url)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False),
        "AIRFLOW_CONN_META_ADS_DEFAULT": json.dumps(
            {
                "conn_type": "generic",
                "password": "sandbox-token",
                "extra": {"graph_url": graph_url, "clock": "sandbox"},
            }
        ),
        "AUTOSCALER_APPROVAL_POKE_SECONDS": str(poke_seconds),
    }


def init_airflow(env: dict[str, str]) -> None:
    """Migrate the metadata database and create the Meta pool, in the given (whole) environment."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    for command in (["db", "migrate"], ["pools", "set", "meta_api", "8", "Meta Graph API calls"]):
        subprocess.run([airflow, *command], env=env, check=True, capture_output=True, timeout=600)


def _airflow(home: Path, dags: Path, db_url: str, graph_url: str, google: GoogleConfig) -> dict[str, str]:
    env = sandbox_airflow_env(home / "airflow", dags, db_url, graph_url, google=google)
    os.environ.update(env)  # dag.test() runs in this process
    init_airflow({**os.environ})
    return env


def default_rules(
    engine: Engine, client: MetaClient | GoogleClient, strategy: str = "allocator"
) -> list[str]:
    """Each sandbox account of the client's platform with a default rule sized from its own
    budgets (``strategy``: the default's, or ``thresholds`` where a world of every kind of
    action is wanted)."""
    lines = []
    platform = "google_ads" if isinstance(client, GoogleClient) else "meta"
    for account in client.list_accounts():
        holders = client.list_budget_holders(account.account_id)
        budgets = holders["daily_budget"].dropna().astype(int)
        low, high = max(int(budgets.min()) // 4, 1), int(budgets.max()) * 3
        approval = int(budgets.quantile(0.75))
        settings = {
            "account_id": account.account_id,
            "rule_name": "Default",
            "min_daily_budget": low,
            "max_daily_budget": high,
            "require_approval_threshold": approval,
            "min_impressions": 500,
            # The default strategy, the allocator (docs/allocator.md).  Were a rule switched to
            # the thresholds, it would act on any ROAS over 24 hours (as the seed's did), so the
            # day shows every kind of change and an approval.
            "evidence_z": 0,
            "lookback_hours": 24,
            # The demo's live hours follow 16 shadow hours: act once half a day is in the
            # window (the default waits for the whole window).
            "min_window_hours": 12,
            "strategy": strategy,
        }
        with engine.begin() as conn:
            upsert_account(
                conn,
                AdAccount(
                    account.account_id, account.currency, account.timezone_name, account.name, platform
                ),
            )
            create_rule(conn, ScalingRule.parse(settings), actor="demo")
        lines.append(
            f"  {account.account_id} {account.name} ({account.currency}, {account.timezone_name}): {len(holders)} budget holders; "
            f"rule ({'the allocator' if strategy == 'allocator' else 'thresholds on any 24 h ROAS'}, acting once 12 hours of data are in): budgets {format_money(low, account.currency)}-{format_money(high, account.currency)}, "
            f"approval above {format_money(approval, account.currency)}"
        )
    return lines


def _advance_clock(sandbox_url: str, to: datetime) -> None:
    """Move the sandbox's clock forward to ``to`` (never back)."""
    state = json.loads(urllib.request.urlopen(f"{sandbox_url}/__sandbox/state").read())
    if datetime.fromisoformat(state["now"]) >= to:
        return
    body = json.dumps({"to": to.isoformat()}).encode()
    urllib.request.urlopen(
        urllib.request.Request(f"{sandbox_url}/__sandbox/clock", data=body, method="POST")
    ).read()


class Approver(threading.Thread):
    """Plays the person who answers approvals: approves one, rejects one, lets the rest expire."""

    def __init__(self, engine: Engine, sandbox_url: str) -> None:
        super().__init__(daemon=True)
        self.engine, self.sandbox_url = engine, sandbox_url
        self.stop = threading.Event()
        self.decided: list[str] = []
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.wait(0.5):
            try:
                self._answer()
            except Exception as exc:  # keep answering: racing the sensor's expiry is normal
                self.errors.append(repr(exc))

    def _answer(self) -> None:
        with self.engine.begin() as conn:
            waiting = sorted(
                actions.list_actions(conn, status="pending_approval", limit=100), key=lambda a: a.action_id
            )
            if not waiting:
                return
            if not any(d.startswith("approved") for d in self.decided):
                # Deadlines are on the sandbox's virtual clock, so the approval is judged by it.
                state = json.loads(urllib.request.urlopen(f"{self.sandbox_url}/__sandbox/state").read())
                actions.approve(
                    conn,
                    waiting[0].action_id,
                    by=APPROVER,
                    reason="demo: looks right",
                    now=datetime.fromisoformat(state["now"]),
                )
                self.decided.append(f"approved #{waiting[0].action_id}")
                return
            if not any(d.startswith("rejected") for d in self.decided):
                actions.reject(conn, waiting[0].action_id, by=APPROVER, reason="demo: too big a jump")
                self.decided.append(f"rejected #{waiting[0].action_id}")
                return
        # Nobody answers the rest: move Meta's clock past their approval deadlines.
        deadlines = [a.approval_deadline for a in waiting if a.approval_deadline is not None]
        if deadlines:
            _advance_clock(self.sandbox_url, max(deadlines) + timedelta(minutes=1))


def run(hours: int = 24, shadow_hours: int = 16, seed: int = 7, dags: Path = Path("dags")) -> int:
    home = autoscaler_home()
    home.mkdir(parents=True, exist_ok=True)
    log_file = home / "demo-airflow.log"
    log_file.write_text("")
    started = time.perf_counter()
    say("Starting the embedded PostgreSQL, the Meta and the Google Ads sandboxes (demo scenario)...")
    server, db_url = _database(home)
    engine = make_engine(db_url)
    try:
        migrations.upgrade(engine)
        scenario = demo_scenario()
        with (
            RunningSandbox(scenario, seed=seed) as sandbox,
            # The same simulator (and lock) behind Google Ads: one clock, one world.
            RunningGoogleSandbox(
                GoogleSandbox(scenario, sim=sandbox.sandbox.sim, lock=sandbox.sandbox.lock)
            ) as google_sandbox,
        ):
            google = GoogleConfig(
                developer_token=DEVELOPER_TOKEN,
                endpoint=google_sandbox.endpoint,
                access_token=scenario.access_token,
                clock="sandbox",
            )
            say(
                f"  audit database {make_url(db_url).render_as_string(hide_password=True)}; "
                f"Meta sandbox {sandbox.url}; Google Ads sandbox {google_sandbox.endpoint}"
            )
            say("Initialising Airflow (SQLite metadata in $AUTOSCALER_HOME/airflow)...")
            env = _airflow(home, dags.resolve(), db_url, sandbox.url, google)
            client = MetaClient(MetaConfig(access_token=scenario.access_token, graph_url=sandbox.url))
            say("Default rules:")
            for line in [*default_rules(engine, client), *default_rules(engine, GoogleClient(google))]:
                say(line)
            _run_hours(engine, sandbox, dags, log_file, hours, shadow_hours)
            _report(engine, sandbox.url)
        say(f"\nDone in {time.perf_counter() - started:.0f} s. Airflow's own output: {log_file}")
        say("To look at the same runs in the Airflow UI (the audit database is dropped on the next demo):")
        say("  .venv/bin/autoscaler db start   # keeps the embedded PostgreSQL up; then, with")
        say(
            f"  export AIRFLOW_HOME={env['AIRFLOW_HOME']} AIRFLOW__CORE__DAGS_FOLDER={env['AIRFLOW__CORE__DAGS_FOLDER']}"
            f" AIRFLOW__CORE__PLUGINS_FOLDER={dags.resolve().parent / 'plugins'}"
        )
        say(f"  export AIRFLOW_CONN_AUTOSCALER_DB={env['AIRFLOW_CONN_AUTOSCALER_DB']}")
        say(
            "  .venv/bin/airflow api-server --port 8080   # open http://localhost:8080: the DAG autoscaler_hourly, "
            "and Browse > Autoscaler"
        )
        say(
            "  (user admin, password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated once the server has started)"
        )
        return 0
    finally:
        engine.dispose()
        server.stop()


def _load_dag(dags: Path) -> Any:
    spec = importlib.util.spec_from_file_location("autoscaler_hourly", dags / "autoscaler_hourly.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.hourly_dag


def _run_hours(
    engine: Engine, sandbox: RunningSandbox, dags: Path, log_file: Path, hours: int, shadow_hours: int
) -> None:
    with quiet(log_file):
        dag = _load_dag(dags)
    first = sandbox.sandbox.sim.now
    approver = Approver(engine, sandbox.url)
    approver.start()
    say(
        f"\nRunning autoscaler_hourly for {hours} simulated hours from {first:%Y-%m-%d %H:00} UTC "
        f"({shadow_hours} in shadow mode, then live):"
    )
    try:
        with hours_bar(hours) as show:
            for i in range(hours):
                hour = first + timedelta(hours=i)
                _advance_clock(sandbox.url, hour + timedelta(hours=1, minutes=5))
                conf = {"dry_run": i < shadow_hours}
                began = time.perf_counter()
                with quiet(log_file):
                    state = dag.test(logical_date=hour + timedelta(hours=1), run_conf=conf).state
                line = _hour_line(engine, hour, "shadow" if conf["dry_run"] else "live", str(state))
                show(f"{line}  ({time.perf_counter() - began:.0f} s)", i + 1)
    finally:
        approver.stop.set()
    for error in approver.errors[:3]:
        say(f"  (the stand-in approver hit: {error})")


@contextlib.contextmanager
def hours_bar(hours: int) -> Iterator[Callable[[str, int], None]]:
    """Yields ``show(line, hours_done)``: the line printed, and on a terminal a progress bar of
    the hours below the lines (rich), redrawn only between hours: while an hour runs, the
    process's output goes to the log file (quiet), and the bar must not follow it there."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if not (console.is_terminal and sys.stdout.isatty()):
        yield lambda line, done: say(line)
        return
    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(
        "simulated hours",
        *columns,
        console=console,
        auto_refresh=False,
        redirect_stdout=False,
        redirect_stderr=False,
    ) as bar:
        task = bar.add_task("hours", total=hours)
        bar.refresh()

        def show(line: str, done: int) -> None:
            bar.console.print(line, highlight=False, markup=False)
            bar.update(task, completed=done)
            bar.refresh()

        yield show


def _hour_line(engine: Engine, hour: datetime, mode: str, state: str) -> str:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                """
                SELECT sum(snapshots_written) AS snapshots, sum(evaluated) AS evaluated,
                       sum(actions_proposed) AS proposed, sum(executed) AS executed,
                       sum(awaiting_approval) AS waited
                  FROM autoscaler.scaling_runs WHERE run_hour = :h
                """
            ),
            {"h": hour},
        ).one()
    ok = "" if state.endswith("success") else f"  [{state}]"
    return (
        f"  {hour:%H:00} UTC {mode:6s} {int(row.snapshots or 0):3d} snapshots, {int(row.evaluated or 0):3d} evaluated, "
        f"{int(row.proposed or 0):2d} actions, {int(row.executed or 0):2d} executed, {int(row.waited or 0)} waited for approval{ok}"
    )


def _report(engine: Engine, sandbox_url: str) -> None:
    with engine.connect() as conn:
        by_type = conn.execute(
            text(
                "SELECT action_type, status, count(*) AS n FROM autoscaler.scaling_actions "
                "GROUP BY 1, 2 ORDER BY 1, 2"
            )
        ).all()
        impact = conn.execute(
            text(
                """
                SELECT currency,
                       sum(greatest(budget_after - budget_before, 0)) AS up,
                       sum(greatest(budget_before - budget_after, 0)) AS down
                  FROM autoscaler.scaling_actions
                 WHERE status = 'executed' AND budget_after IS NOT NULL
                 GROUP BY currency ORDER BY currency
                """
            )
        ).all()
        examples = conn.execute(
            text(
                "SELECT DISTINCT ON (action_type) action_type, entity_id, reasoning FROM autoscaler.scaling_actions "
                "WHERE status = 'executed' ORDER BY action_type, action_id"
            )
        ).all()
        approvals = conn.execute(
            text(
                "SELECT e.to_status, e.actor, a.action_id, a.reasoning FROM autoscaler.action_events e "
                "JOIN autoscaler.scaling_actions a USING (action_id) "
                "WHERE e.to_status IN ('approved', 'rejected', 'expired') AND a.requires_approval ORDER BY e.event_id"
            )
        ).all()
        waiting = conn.execute(
            text("SELECT count(*) FROM autoscaler.scaling_actions WHERE status = 'pending_approval'")
        ).scalar_one()
    say("\nActions by type and outcome:")
    for row in by_type:
        say(f"  {row.action_type:20s} {row.status:17s} {row.n}")
    say("Budget impact of executed changes (per day):")
    for row in impact:
        up, down = int(row.up), int(row.down)
        say(
            f"  {row.currency}: +{format_money(up, row.currency)} / -{format_money(down, row.currency)}"
            f" (net {format_money(up - down, row.currency)})"
        )
    say("Some reasoning:")
    for row in examples:
        say(f"  {row.action_type:20s} {row.entity_id}: {row.reasoning}")
    say("Approvals (an unanswered scale-up is proposed again next hour, so expiries repeat):")
    for row in approvals[:6]:
        say(f"  #{row.action_id} {row.to_status} by {row.actor}: {row.reasoning}")
    if len(approvals) > 6:
        rest: dict[str, int] = {}
        for row in approvals[6:]:
            rest[row.to_status] = rest.get(row.to_status, 0) + 1
        say("  ... and " + ", ".join(f"{n} more {status}" for status, n in sorted(rest.items())))
    say(f"  {waiting} action(s) still waiting for approval")
    # Both sandboxes write to the one simulator; its history says which account each write hit.
    writes = json.loads(urllib.request.urlopen(f"{sandbox_url}/__sandbox/history").read())
    with engine.connect() as conn:
        platform_of: dict[str, str] = dict(
            conn.execute(
                text(
                    "SELECT h.entity_id, a.platform FROM autoscaler.budget_holders h "
                    "JOIN autoscaler.ad_accounts a USING (account_id)"
                )
            ).all()
        )
    google = sum(platform_of.get(w["entity_id"]) == "google_ads" for w in writes)
    say(
        f"The sandboxes applied {len(writes)} changes (Meta {len(writes) - google}, Google Ads {google}); "
        "every one is an executed action in the audit trail."
    )
