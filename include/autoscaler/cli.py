"""The ``autoscaler`` command line.

Every command that needs the audit database uses the configured one (AUTOSCALER_DB_URL or
the Airflow connection ``autoscaler_db``) or else the embedded PostgreSQL, which it starts
for the command and stops afterwards unless ``autoscaler db start`` left it running.
Errors print one line naming what is wrong and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from autoscaler import __version__

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger("autoscaler")

Handler = Callable[[argparse.Namespace], int]
ACTION_STATUSES = (
    "pending_approval",
    "approved",
    "rejected",
    "expired",
    "executed",
    "failed",
    "drifted",
    "simulated",
)


def _account_id(value: str) -> str:
    """argparse type: act_ and 1-20 ASCII digits (Meta) or 10 (Google Ads), as the database keeps them."""
    import re

    if not re.fullmatch(r"act_[0-9]{1,20}|[0-9]{10}", value):
        raise argparse.ArgumentTypeError(
            f"must be act_ followed by 1 to 20 digits 0-9, or a 10-digit Google Ads customer id, got {value!r}"
        )
    return value


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def _moment(value: str, option: str) -> Any:
    """An ISO time with a time zone, as a UTC pandas Timestamp; CommandError naming ``option``."""
    import pandas as pd

    try:
        moment = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise CommandError(f"{option}: not an ISO time, e.g. 2026-11-02T15:00:00Z (got {value!r})") from None
    if pd.isna(moment) or moment.tzinfo is None:
        raise CommandError(f"{option}: give a time zone, e.g. 2026-11-02T15:00:00Z (got {value!r})")
    if not 2000 <= moment.year <= 2100:
        raise CommandError(f"{option}: must be between the years 2000 and 2100 (got {value!r})")
    return moment.tz_convert("UTC")


def _person(value: str) -> str:
    """argparse type for --by: a name the audit trail can record (rules.PersonName)."""
    from pydantic import TypeAdapter, ValidationError

    from autoscaler.rules import PersonName

    try:
        return str(TypeAdapter(PersonName).validate_python(value))
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise argparse.ArgumentTypeError(message) from None


def _reason(value: str) -> str:
    """argparse type for --reason: text the audit trail can record."""
    from pydantic import TypeAdapter, ValidationError

    from autoscaler.rules import PlainText

    try:
        return str(TypeAdapter(PlainText).validate_python(value))
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None


def _bounded(low: int, high: int) -> Callable[[str], int]:
    """argparse type: a whole number in [low, high]."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {value!r}") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {number}")
        return number

    return parse


@contextmanager
def progress_bar(description: str, total: int, console: Any = None) -> Iterator[Callable[[int], None]]:
    """A progress bar on standard error when it is a terminal (rich, which Airflow's own CLI
    uses), else nothing: yields ``advance_to(done)``.  Lines printed meanwhile go above it."""
    from rich.console import Console

    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield lambda done: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress("{task.description}", *columns, console=console) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.update(task, completed=done)


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


# ---- db ----------------------------------------------------------------------------------


def _db_upgrade(args: argparse.Namespace) -> int:
    from autoscaler import migrations

    with _database(args.url) as engine:
        before, after = migrations.upgrade(engine)
    if before == after:
        print(f"audit schema already at revision {after}")
    else:
        print(f"audit schema upgraded from {before or 'empty'} to {after}")
    return 0


def _db_current(args: argparse.Namespace) -> int:
    from autoscaler import migrations

    with _database(args.url) as engine:
        current = migrations.current_revision(engine)
    head = migrations.head_revision()
    state = "up to date" if current == head else f"behind (head is {head}): run autoscaler db upgrade"
    print(f"{current or 'empty'} - {state}")
    return 0 if current == head else 1


def _embedded() -> Any:
    from autoscaler.embedded_pg import EmbeddedPostgres
    from autoscaler.store.engine import autoscaler_home

    return EmbeddedPostgres(autoscaler_home() / "pgdata")


def _db_start(args: argparse.Namespace) -> int:
    server = _embedded()
    url = server.start()
    print(url)
    print(f"# running until `autoscaler db stop`; data in {server.data_dir}", file=sys.stderr)
    return 0


def _db_stop(args: argparse.Namespace) -> int:
    server = _embedded()
    server.stop(force=True)
    print("embedded PostgreSQL stopped")
    return 0


def _db_url(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    from autoscaler.store.engine import configured_url

    url = configured_url()
    if url is None:
        server = _embedded()
        if not server.is_running():
            print(f"embedded (not running; data in {server.data_dir}): autoscaler db start starts it")
            return 0
        url = make_url(server.url())
    if not args.sqlalchemy:
        # libpq's form (psql, pg_dump, any driver): no "+psycopg"; the password hidden unless asked.
        url = url.set(drivername="postgresql")
    print(url.render_as_string(hide_password=not args.show_password))
    return 0


@contextmanager
def _database(url: str | None) -> Iterator[Engine]:
    """The database (autoscaler.store.engine.database), with standard output kept for results.

    Finding the connection may configure Airflow, whose logging then writes to whatever
    standard output was at that moment: it is standard error while the connection is looked
    up, so a command's JSON or table is all that standard output carries."""
    from contextlib import ExitStack, redirect_stdout

    from autoscaler.store.engine import database

    with ExitStack() as stack:
        with redirect_stdout(sys.stderr):
            engine = stack.enter_context(database(url))
        yield engine


@contextmanager
def _audit_db(args: argparse.Namespace) -> Iterator[Engine]:
    """The audit database, refusing with what to run when its schema is not current."""
    from autoscaler.migrations import require_current

    with _database(args.url) as engine:
        require_current(engine)
        yield engine


# ---- accounts ------------------------------------------------------------------------------


def _accounts_add(args: argparse.Namespace) -> int:
    from autoscaler.store.accounts import AdAccount, upsert_account, validate_account

    account = AdAccount(
        args.account_id, args.currency.strip().upper(), args.timezone, args.name, args.platform
    )
    validate_account(account)  # before the database is even started: one line naming the field
    with _audit_db(args) as engine, engine.begin() as conn:
        upsert_account(conn, account)
    print(f"recorded {account.account_id} ({account.currency}, {account.timezone_name})")
    return 0


# ---- rules ---------------------------------------------------------------------------------


def _load_json(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    from decimal import Decimal

    from autoscaler.rules import MONEY_FIELDS

    try:
        # Money from its digits: 19.999999999999999 read as a float would be stored as $20.00.
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise CommandError(f"{path} must hold a JSON object of rule settings")
    # Every other number as JSON means it (a ratio, a multiplier): the rule's float fields.
    return {k: float(v) if isinstance(v, Decimal) and k not in MONEY_FIELDS else v for k, v in data.items()}


def _rule_json(rule: Any, currency: str) -> dict[str, Any]:
    data: dict[str, Any] = rule.as_major(currency)
    return data


def _rules_add(args: argparse.Namespace) -> int:
    from autoscaler.rules import ScalingRule
    from autoscaler.store.accounts import get_account
    from autoscaler.store.rules import create_rule

    data = _load_json(args.file)
    account_id = data.get("account_id")
    if not isinstance(account_id, str):
        raise CommandError("account_id: is required (act_<digits>)")
    with _audit_db(args) as engine, engine.begin() as conn:
        account = get_account(conn, account_id)
        rule = create_rule(conn, ScalingRule.from_major(data, account.currency), actor=args.actor)
    _print_json(_rule_json(rule, account.currency))
    return 0


def _rules_list(args: argparse.Namespace) -> int:
    from autoscaler.store.accounts import get_account
    from autoscaler.store.rules import list_rules

    with _audit_db(args) as engine, engine.connect() as conn:
        rules = list_rules(conn, args.account)
        currencies = {r.account_id: get_account(conn, r.account_id).currency for r in rules}
    _print_json([_rule_json(r, currencies[r.account_id]) for r in rules])
    return 0


def _rules_set_enabled(args: argparse.Namespace) -> int:
    from autoscaler.store.rules import get_rule, rule_revision, update_rule

    enabled = args.rules_command == "enable"
    with _audit_db(args) as engine, engine.begin() as conn:
        if get_rule(conn, args.rule_id).enabled == enabled:
            print(f"rule {args.rule_id} is already {args.rules_command}d; nothing changed")
            return 0
        rule = update_rule(conn, args.rule_id, {"enabled": enabled}, actor=args.actor)
        revision = rule_revision(conn, args.rule_id)
    print(f"rule {rule.rule_id} {args.rules_command}d by {args.actor} (revision {revision})")
    return 0


def _rules_update(args: argparse.Namespace) -> int:
    from autoscaler.rules import money_to_minor
    from autoscaler.store.accounts import get_account
    from autoscaler.store.rules import get_rule, rule_revision, update_rule

    changes = _load_json(args.file)
    if not changes:
        raise CommandError(f"{args.file}: give at least one setting to change")
    with _audit_db(args) as engine, engine.begin() as conn:
        currency = get_account(conn, get_rule(conn, args.rule_id).account_id).currency
        minor = money_to_minor(changes, currency)  # RuleError (a ValueError) names each bad amount
        rule = update_rule(conn, args.rule_id, minor, actor=args.actor, currency=currency, strict=True)
        revision = rule_revision(conn, args.rule_id)
    _print_json({**_rule_json(rule, currency), "revision": revision})
    return 0


def _rules_history(args: argparse.Namespace) -> int:
    from autoscaler.store.accounts import get_account
    from autoscaler.store.rules import get_rule, rule_revisions

    with _audit_db(args) as engine, engine.connect() as conn:
        currency = get_account(conn, get_rule(conn, args.rule_id).account_id).currency
        revisions = rule_revisions(conn, args.rule_id)
    _print_json(
        [
            {
                "revision": r.revision,
                "changed_at": r.changed_at,
                "changed_by": r.changed_by,
                **_rule_json(r.rule, currency),
            }
            for r in revisions
        ]
    )
    return 0


def _rules_delete(args: argparse.Namespace) -> int:
    from autoscaler.store.rules import delete_rule

    with _audit_db(args) as engine, engine.begin() as conn:
        delete_rule(conn, args.rule_id, actor=args.actor)
    print(f"rule {args.rule_id} deleted (disabled; kept for the audit trail)")
    return 0


# ---- actions -------------------------------------------------------------------------------


def _action_json(action: Any) -> dict[str, Any]:
    from autoscaler.money import to_major

    data = dict(action.__dict__)
    for name in ("budget_before", "budget_after"):
        if data[name] is not None:
            data[name] = str(to_major(data[name], action.currency))
    return data


def _actions_decide(args: argparse.Namespace) -> int:
    from autoscaler.store import actions

    change = actions.approve if args.actions_command == "approve" else actions.reject
    with _audit_db(args) as engine, engine.begin() as conn:
        action = change(conn, args.action_id, by=args.by, reason=args.reason)
    print(f"action {action.action_id} {action.status} by {args.by}: {action.reasoning}")
    return 0


def _actions_list(args: argparse.Namespace) -> int:
    from autoscaler.store import actions

    with _audit_db(args) as engine, engine.connect() as conn:
        found = actions.list_actions(conn, account_id=args.account, status=args.status, limit=args.limit + 1)
    shown = found[: args.limit]
    _print_json([_action_json(a) for a in shown])
    if len(found) > args.limit:
        print(
            f"autoscaler: showing the newest {args.limit} actions; there are more: --limit N (up to 10000) "
            "shows more, --account and --status narrow them",
            file=sys.stderr,
        )
    return 0


# ---- profiles ------------------------------------------------------------------------------


def _profiles_learn(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from autoscaler.daily import learn_account, no_profiles_reason
    from autoscaler.store.rules import enabled_accounts

    now = _moment(args.now, "--now").to_pydatetime() if args.now else datetime.now(UTC)
    with _audit_db(args) as engine:
        if args.account:
            accounts = list(args.account)
        else:
            with engine.connect() as conn:
                accounts = enabled_accounts(conn)
        with progress_bar("learning profiles, accounts", len(accounts)) as advance:
            for done, account_id in enumerate(accounts, 1):
                counts = learn_account(engine, account_id, now, args.days)
                advance(done)
                print(
                    f"{account_id}: {counts['profiles']} profiles from the last {args.days} local days; "
                    f"{counts['with_peaks']} with peak hours, {counts['with_valleys']} with valleys"
                )
                if counts["profiles"] == 0:
                    print(f"  why none: {no_profiles_reason(engine, account_id, now, args.days, '--now')}")
    return 0


def _profiles_report(args: argparse.Namespace) -> int:
    from autoscaler import profile_views

    with _audit_db(args) as engine, engine.connect() as conn:
        data = profile_views.report(profile_views.load(conn, args.entity_id))
    if args.format == "json":
        _print_json(data)
        return 0
    print(
        f"{data['entity_id']} ({data['account_id']}, {data['currency']}, local hours of {data['timezone']}): "
        f"{data['days_observed']} days from {data['window_start']} to {data['window_end']}; "
        f"confidence {data['confidence']:.2f}; peaks {data['peak_hours'] or 'none'}, valleys {data['valley_hours'] or 'none'}"
    )
    columns = [
        "local_hour",
        "spend",
        "revenue",
        "conversions",
        "spend_share_pct",
        "roas",
        "index",
        "multiplier",
        "mark",
    ]
    print(profile_views.table(data["hours"], columns))
    return 0


def _curves(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from autoscaler.curves import CurveNotFoundError, entity_curve
    from autoscaler.profile_views import table

    now = _moment(args.now, "--now").to_pydatetime() if args.now else datetime.now(UTC)
    try:
        with _audit_db(args) as engine, engine.connect() as conn:
            data = entity_curve(conn, args.entity_id, now)
    except CurveNotFoundError as exc:
        raise CommandError(str(exc)) from None
    if args.format == "json":
        _print_json(data)
        return 0
    low, high = data["elasticity_interval"]
    print(
        f"{data['entity_id']} ({data['account_id']}, {data['currency']}), fitted on the {data['history_hours'] // 24} days "
        f"to {data['as_of']}: elasticity {data['elasticity']:.2f} [{low:.2f}, {high:.2f}] from "
        f"{data['purchases']:,.0f} purchases; ROAS {data['roas_at_budget']:.2f}x and marginal ROAS "
        f"{data['marginal_roas']:.2f}x at {data['current_budget']} {data['currency']}/day; target "
        f"{data['target_budget']} {data['currency']}/day (marginal ROAS {data['goal_marginal_roas']:.2f}x)"
        + ("; its response changed recently (a change point)" if data["changepoint"] else "")
    )
    print(
        table(data["points"], ["budget", "revenue", "revenue_low", "revenue_high", "roas", "marginal_roas"])
    )
    return 0


def _profiles_schedule(args: argparse.Namespace) -> int:
    from autoscaler import profile_views

    with _audit_db(args) as engine, engine.connect() as conn:
        data = profile_views.recommended_schedule(conn, profile_views.load(conn, args.entity_id))
    if args.format == "json":
        _print_json(data)
        return 0
    print(
        f"{data['entity_id']}: base {data['base_daily_budget']} {data['currency']}/day, multipliers within "
        f"{data['multiplier_bounds']}; {'applies' if data['applies'] else 'does not apply'}: {data['why']}"
    )
    print(profile_views.table(data["hours"], ["local_hour", "multiplier", "daily_budget"]))
    return 0


# ---- evaluate ------------------------------------------------------------------------------


def _evaluate(args: argparse.Namespace) -> int:
    import pandas as pd

    from autoscaler.evaluate import evaluate

    rule = _load_json(args.rule)
    try:
        metrics = sys.stdin.read() if args.metrics == "-" else Path(args.metrics).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read {args.metrics}: {exc.strerror}") from None
    now = _moment(args.now, "--now") if args.now else pd.Timestamp.now(tz="UTC")
    history = None
    if args.history:
        try:
            history = Path(args.history).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {args.history}: {exc.strerror}") from None
    decisions = evaluate(rule, metrics, now=now, currency=args.currency, history_csv=history)
    from autoscaler.rules import ScalingRule

    if rule.get("strategy", ScalingRule.model_fields["strategy"].default) == "allocator" and history is None:
        # The allocator decides from each holder's hourly history, which METRICS.csv does not
        # hold: say plainly what is shown instead of letting it pass for the allocator's.
        print(
            "autoscaler: note: the rule's strategy is the allocator, which decides on each holder's "
            "hourly history; shown are the thresholds' decisions (pass --history HISTORY.csv for the "
            'allocator\'s, or add "strategy": "thresholds" to the rule to silence this)',
            file=sys.stderr,
        )
    if args.format == "csv":
        sys.stdout.write(decisions.to_csv(index=False))
    else:
        _print_json(decisions.to_dict(orient="records"))
    return 0


# ---- backtest ------------------------------------------------------------------------------


def _scenario_list() -> str:
    """The built-in scenarios, for help texts: the files the package ships (the same list as
    scenario.BUILT_IN, which tests/unit/test_cli_help.py holds equal), read without importing
    the simulator."""
    from importlib import resources

    folder = resources.files("autoscaler.sandbox").joinpath("scenarios")
    return ", ".join(
        sorted(f.name.removesuffix(".json") for f in folder.iterdir() if f.name.endswith(".json"))
    )


def _backtest(args: argparse.Namespace) -> int:
    from autoscaler import backtest
    from autoscaler.sandbox.scenario import ScenarioError, load_scenario

    if args.days < 1:
        raise CommandError(f"--days: must be at least 1, got {args.days}")
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        raise CommandError(str(exc)) from None
    policies = backtest.POLICIES if args.policy == "all" else (args.policy,)
    results = []
    for policy in policies:
        with progress_bar(f"{policy:>10}, hours", args.days * 24) as advance:
            results.append(
                backtest.run(
                    scenario,
                    days=args.days,
                    seed=args.seed,
                    policy=policy,
                    progress=lambda done, total: advance(done),
                )
            )
    if args.format == "json":
        _print_json([r.as_dict() for r in results] if len(results) > 1 else results[0].as_dict())
        return 0
    first = results[0]
    print(
        f"{scenario.name}: {first.holders} budget holders, {args.days} days, seed {args.seed}; "
        "money in USD at the sandbox's stated rates (sandbox/fx.py); revenue is what the spend "
        "earned in expectation, reported or not"
    )
    rows = [
        {
            "policy": r.policy,
            "spend": f"{r.spend:,.0f}",
            "revenue": f"{r.revenue:,.0f}",
            "roas": f"{r.roas:.2f}",
            "profit": f"{r.profit:,.0f}",
            "wasted_spend": f"{r.wasted_spend:,.0f}",
            "changes": r.changes,
        }
        for r in results
    ]
    from autoscaler.profile_views import table

    print(table(rows, list(rows[0])))
    return 0


# ---- demo ----------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from autoscaler import demo

    return demo.run(
        hours=args.hours, shadow_hours=args.shadow_hours, seed=args.seed, dags=Path(args.dags_folder)
    )


# ---- sandbox -------------------------------------------------------------------------------


def _sandbox_serve(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from autoscaler.sandbox.faults import FaultPlan
    from autoscaler.sandbox.scenario import ScenarioError, load_scenario
    from autoscaler.sandbox.server import RunningSandbox, connection_json

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        raise CommandError(str(exc)) from None
    follow = args.start == "now"
    if follow:
        # The virtual clock starts at this hour and keeps up with the wall clock, so a real
        # scheduler's runs (on wall time) find the sandbox's hours where they expect them.
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        scenario = scenario.model_copy(update={"start": hour})
    faults = FaultPlan.parse(args.faults)
    with RunningSandbox(scenario, seed=args.seed, faults=faults, port=args.port) as running:
        sim = running.sandbox.sim
        print(f"Meta Graph API sandbox on {running.url}")
        print(
            f"  {scenario.name}: {len(scenario.accounts)} accounts, {len(sim.holders)} budget holders, seed {args.seed}"
        )
        if follow:
            print(f"  its clock started at {sim.now:%Y-%m-%d %H:%M} UTC and follows the wall clock")
        else:
            print(
                f"  its clock is at {sim.now:%Y-%m-%d %H:%M} UTC and moves only when told "
                "(POST /__sandbox/clock); --start now follows the wall clock instead (docs/sandbox.md)"
            )
        print("  control routes under /__sandbox/ (state, clock, requests, history); the connection:")
        print(f"export AIRFLOW_CONN_META_ADS_DEFAULT='{connection_json(scenario, running.url)}'")
        sys.stdout.flush()
        try:
            while True:
                time.sleep(30)
                if follow:
                    with running.sandbox.lock:
                        sim.advance_to(datetime.now(UTC))
        except KeyboardInterrupt:
            print("sandbox stopped")
    return 0


# ---- doctor --------------------------------------------------------------------------------


def _meta_from_airflow(conn_id: str) -> Any:
    """The Meta client of an Airflow connection (environment, secrets backend or metadata DB)."""
    from contextlib import redirect_stdout

    with redirect_stdout(sys.stderr):
        from airflow.models.connection import Connection

    from autoscaler.meta import MetaClient, MetaConfig

    with redirect_stdout(sys.stderr):  # as in _database: Airflow's log lines away from the results
        conn = Connection.get_connection_from_secrets(conn_id)
    return MetaClient(MetaConfig.from_connection(conn.password, conn.extra_dejson, conn_id))


def _google_from_airflow(conn_id: str) -> Any:
    """The Google Ads client of an Airflow connection (environment, secrets backend or metadata DB)."""
    from contextlib import redirect_stdout

    with redirect_stdout(sys.stderr):
        from airflow.models.connection import Connection

    from autoscaler.google.client import GoogleClient, GoogleConfig

    with redirect_stdout(sys.stderr):
        conn = Connection.get_connection_from_secrets(conn_id)
    return GoogleClient(GoogleConfig.from_connection(conn.extra_dejson, conn_id))


def _doctor_facts(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    """Gather what the checks need; checks about the gathering itself come back beside the facts."""
    from datetime import UTC, datetime

    from autoscaler import doctor as dr
    from autoscaler.store.engine import _airflow_configured, configured_url

    airflow_here = (
        _airflow_configured()
    )  # before anything imports Airflow, which writes a default airflow.cfg
    extra: list[dr.Check] = []
    found = dr.resolve((dr.META_CONN_ID,), _meta_from_airflow)
    meta = _meta_from_airflow(dr.META_CONN_ID) if found[dr.META_CONN_ID] is None else None
    if args.url is None and configured_url() is None:
        extra.append(
            dr.Check(
                f"connection {dr.DB_CONN_ID}",
                "warn",
                "not configured: this command uses the embedded PostgreSQL, which is for trying things out",
                f"set AIRFLOW_CONN_{dr.DB_CONN_ID.upper()} (or AUTOSCALER_DB_URL) to the audit database",
            )
        )
    now = datetime.now(UTC)
    if meta is not None:
        try:
            now = meta.now()
        except Exception:  # the sandbox's clock is unreachable: the token check will say so
            log.debug("no clock from %s", meta, exc_info=True)
    airflow = (
        dr.airflow_metadata()
        if airflow_here
        else dr.AirflowFacts(
            unknown="Airflow is not configured here (no AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, no $AIRFLOW_HOME/airflow.cfg)"
        )
    )
    with _database(args.url) as engine:
        facts = dr.gather(
            now,
            found,
            engine,
            meta,
            airflow,
            accounts=args.account,
            google=lambda: _google_from_airflow(dr.GOOGLE_CONN_ID),
        )
    return facts, extra


def _doctor(args: argparse.Namespace) -> int:
    from autoscaler import doctor as dr

    facts, extra = _doctor_facts(args)
    checks = [*extra, *dr.examine(facts)]
    if args.format == "json":
        _print_json([c.__dict__ for c in checks])
    else:
        _print_checks(checks)
    return 1 if dr.failures(checks) else 0


def _print_checks(checks: Sequence[Any]) -> None:
    """ok / warn / fail in colour on a terminal (rich), plain text otherwise; the fix beside each."""
    from rich.console import Console
    from rich.text import Text

    from autoscaler.doctor import worst

    console = Console(soft_wrap=True, highlight=False)
    styles = {"ok": "green", "warn": "yellow", "fail": "bold red"}
    for check in checks:
        line = Text.assemble(
            (f"{check.status.upper():4}", styles[check.status]), f" {check.name}: {check.detail}"
        )
        if check.fix and check.status != "ok":
            line.append(f"\n     fix: {check.fix}", style="dim" if check.status == "warn" else "")
        console.print(line)
    verdict = worst(checks)
    counts = {s: sum(c.status == s for c in checks) for s in ("ok", "warn", "fail")}
    console.print(
        Text.assemble(
            (
                "\n" + {"ok": "ready", "warn": "ready, with warnings", "fail": "NOT ready"}[verdict],
                styles[verdict],
            ),
            f": {counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail",
        )
    )


# ---- wiring --------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse with the house's error shape: one line naming the option, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="autoscaler", description="Meta ad-budget autoscaler for Airflow 3.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log debug detail, and the libraries' INFO lines (Alembic, Airflow)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def db_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", help="database URL (default: AUTOSCALER_DB_URL, autoscaler_db, or embedded)")

    def add(group: Any, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = group.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    db = commands.add_parser("db", help="the audit database").add_subparsers(dest="db_command", required=True)
    db_option(add(db, "upgrade", _db_upgrade, "apply schema migrations (safe to run twice, or concurrently)"))
    db_option(add(db, "current", _db_current, "show the schema revision; exit 1 if behind"))
    add(db, "start", _db_start, "start the embedded PostgreSQL and leave it running; print its URL")
    add(db, "stop", _db_stop, "stop the embedded PostgreSQL")
    p = add(
        db, "url", _db_url, "print the database commands will use, as a URL psql accepts (password hidden)"
    )
    p.add_argument("--sqlalchemy", action="store_true", help="SQLAlchemy's form, postgresql+psycopg://...")
    p.add_argument("--show-password", action="store_true", help="print the password too (e.g. for psql)")

    accounts = commands.add_parser("accounts", help="ad accounts").add_subparsers(
        dest="accounts_command", required=True
    )
    p = add(accounts, "add", _accounts_add, "record an ad account with its currency and time zone")
    p.add_argument(
        "account_id", help="act_<digits> (Meta), or a 10-digit customer id without dashes (Google Ads)"
    )
    p.add_argument(
        "--platform",
        choices=("meta", "google_ads"),
        default="meta",
        help="the account's platform (default: meta)",
    )
    p.add_argument("--currency", required=True, help="ISO 4217 code, e.g. USD or JPY")
    p.add_argument("--timezone", required=True, help="IANA time zone, e.g. America/New_York")
    p.add_argument("--name")
    db_option(p)

    rules = commands.add_parser("rules", help="scaling rules").add_subparsers(
        dest="rules_command", required=True
    )
    p = add(rules, "add", _rules_add, "create a rule from RULE.json (money in major units)")
    p.add_argument("file", help="RULE.json, or - for standard input")
    p.add_argument("--actor", type=_person, default="cli", help="who is creating it (recorded)")
    db_option(p)
    p = add(rules, "list", _rules_list, "list rules as JSON (money in major units)")
    p.add_argument("--account", type=_account_id, help="only this act_<digits>")
    db_option(p)
    for verb, text_ in (
        ("disable", "stop a rule acting (kept, with its history; a new revision is recorded)"),
        ("enable", "let a disabled rule act again (a new revision is recorded)"),
    ):
        p = add(rules, verb, _rules_set_enabled, text_)
        p.add_argument("rule_id", type=_bounded(1, 2**63 - 1))
        p.add_argument("--actor", type=_person, default="cli", help="who is doing it (recorded; default cli)")
        db_option(p)
    p = add(
        rules,
        "update",
        _rules_update,
        "change the settings given in CHANGES.json (money in major units); a new revision is recorded",
    )
    p.add_argument("rule_id", type=_bounded(1, 2**63 - 1))
    p.add_argument(
        "file", metavar="CHANGES.json", help='e.g. {"max_daily_budget": 300}, or - for standard input'
    )
    p.add_argument("--actor", type=_person, default="cli", help="who is changing it (recorded; default cli)")
    db_option(p)
    p = add(rules, "history", _rules_history, "every revision of a rule: when, by whom, and its settings")
    p.add_argument("rule_id", type=_bounded(1, 2**63 - 1))
    db_option(p)
    p = add(rules, "delete", _rules_delete, "disable and mark a rule deleted")
    p.add_argument("rule_id", type=_bounded(1, 2**63 - 1))
    p.add_argument("--actor", type=_person, default="cli", help="who is deleting it (recorded)")
    db_option(p)
    acts = commands.add_parser("actions", help="scaling actions and approvals").add_subparsers(
        dest="actions_command", required=True
    )
    for verb in ("approve", "reject"):
        p = add(acts, verb, _actions_decide, f"{verb} a pending action (recorded with who and why)")
        p.add_argument("action_id", type=_bounded(1, 2**63 - 1))
        p.add_argument("--by", required=True, type=_person, help="who decides (recorded)")
        p.add_argument("--reason", type=_reason, help="why (recorded)")
        db_option(p)
    p = add(acts, "list", _actions_list, "list actions, newest first (money in major units)")
    p.add_argument("--account", type=_account_id)
    p.add_argument("--status", choices=ACTION_STATUSES, help="e.g. pending_approval")
    p.add_argument("--limit", type=_bounded(1, 10_000), default=50, help="at most this many (1-10000)")
    db_option(p)

    profiles = commands.add_parser("profiles", help="optimal-hour profiles").add_subparsers(
        dest="profiles_command", required=True
    )
    p = add(profiles, "learn", _profiles_learn, "recompute optimal-hour profiles from stored snapshots")
    p.add_argument(
        "--account", action="append", help="act_<digits> (repeatable; default: accounts with a rule)"
    )
    p.add_argument(
        "--days",
        type=_bounded(1, 90),
        default=28,
        help="complete local days to learn from (1-90, default 28)",
    )
    p.add_argument("--now", help="learn as of this time (default: now)")
    db_option(p)
    for verb, handler, text_ in (
        ("report", _profiles_report, "an entity's hour-by-hour profile"),
        ("schedule", _profiles_schedule, "an entity's recommended 24-hour budget schedule"),
    ):
        p = add(profiles, verb, handler, text_)
        p.add_argument("entity_id")
        p.add_argument("--format", choices=("table", "json"), default="table")
        db_option(p)

    p = add(
        commands, "curves", _curves, "an entity's fitted response curve, its band, current and target budgets"
    )
    p.add_argument("entity_id")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--now", help="fit as of this time (default: now)")
    db_option(p)

    p = add(commands, "evaluate", _evaluate, "show what a rule decides for a metrics CSV (no side effects)")
    p.add_argument("--rule", required=True, help="RULE.json: rule settings, money in major units")
    p.add_argument("--metrics", required=True, help="METRICS.csv (or - for standard input)")
    p.add_argument("--format", choices=("json", "csv"), default="json")
    p.add_argument("--currency", default="USD", help="currency when METRICS.csv has no currency column")
    p.add_argument("--now", help="evaluation time for cooldowns (default: now)")
    p.add_argument(
        "--history",
        help="HISTORY.csv: each holder's hours (entity_id, hour_start, spend, revenue, conversions, "
        "daily_budget), which an allocator rule decides on",
    )

    p = add(commands, "backtest", _backtest, "run a policy against the simulator and count what it earned")
    p.add_argument(
        "--scenario",
        required=True,
        help=f"a built-in scenario ({_scenario_list()}) or a JSON file",
    )
    p.add_argument("--days", type=int, default=14, help="days backtested (default 14)")
    p.add_argument("--seed", type=int, default=1, help="the simulator's seed (default 1)")
    p.add_argument(
        "--policy",
        choices=("static", "seed", "thresholds", "allocator", "allocator+time", "default", "oracle", "all"),
        default="all",
        help="default: what a new rule does (the allocator); allocator+time: it with time optimisation on; "
        "all: every policy but default (default all)",
    )
    p.add_argument("--format", choices=("table", "json"), default="table", help="(default table)")

    p = add(commands, "demo", _demo, "run the hourly DAG over a simulated day on the embedded defaults")
    p.add_argument("--hours", type=int, default=24)
    p.add_argument("--shadow-hours", type=int, default=16, help="first hours run in shadow mode")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--dags-folder", default="dags")

    p = add(
        commands,
        "doctor",
        _doctor,
        "check that this installation is ready: connections, token (expiry, permissions), accounts "
        "(reachable, writable, currency and time zone), migrations, pool, DAGs, rate limits; exit 1 on a failure",
    )
    p.add_argument("--account", type=_account_id, action="append", help="only this act_<digits> (repeatable)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    db_option(p)

    sandbox = commands.add_parser("sandbox", help="the local Meta Graph API sandbox").add_subparsers(
        dest="sandbox_command", required=True
    )
    p = add(
        sandbox, "serve", _sandbox_serve, "serve a simulated Meta Graph API on 127.0.0.1 until interrupted"
    )
    p.add_argument(
        "--scenario",
        default="demo",
        help=f"a built-in scenario ({_scenario_list()}) or a JSON file (default: demo)",
    )
    p.add_argument("--port", type=_bounded(0, 65535), default=0, help="port (default: any free one)")
    p.add_argument("--seed", type=int, default=0, help="the simulator's seed (default 0)")
    p.add_argument(
        "--start",
        choices=("scenario", "now"),
        default="scenario",
        help="scenario: the clock starts at the scenario's start and moves when told (default); "
        "now: at the current hour, following the wall clock (for a real scheduler)",
    )
    p.add_argument("--faults", default="", help="fault spec, e.g. 5xx=0.05,burst=10:3 (docs/sandbox.md)")
    return parser


# Failures a person can act on: (module, class) pairs, looked up only in modules already
# imported, so that naming them costs a command nothing (an exception of a module that was
# never imported cannot have been raised).
USER_ERRORS = (
    ("autoscaler.embedded_pg", "EmbeddedPostgresError"),
    ("autoscaler.migrations", "SchemaNotCurrentError"),
    ("autoscaler.profile_views", "ProfileNotFoundError"),
    ("autoscaler.store.accounts", "UnknownAccountError"),
    ("autoscaler.store.actions", "ActionNotFoundError"),
    ("autoscaler.store.actions", "ActionStateError"),
    ("autoscaler.store.engine", "DatabaseConfigError"),
    ("autoscaler.store.rules", "RuleNotFoundError"),
)


def _user_error(exc: BaseException) -> bool:
    if isinstance(exc, CommandError | ValueError):
        return True
    return any(
        module in sys.modules and isinstance(exc, getattr(sys.modules[module], name))
        for module, name in USER_ERRORS
    )


def _configure_logging(verbose: bool) -> None:
    """The autoscaler's own lines at INFO; everyone else's (Alembic's "Context impl ...", Airflow's)
    only from WARNING, unless -v asks for everything."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        logging.getLogger("autoscaler").setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("autoscaler: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if _user_error(exc):
            print(f"autoscaler: error: {exc}", file=sys.stderr)
            return 2
        # Nothing a person typed should get here; if something does, they read one line (with
        # the database's own words, never the SQL and its parameters) and the traceback goes
        # to the log at debug level (-v).
        log.debug("unexpected failure", exc_info=True)
        print(f"autoscaler: error: {_unexpected(exc)} (run with -v for details)", file=sys.stderr)
        return 1


def _unexpected(exc: Exception) -> str:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"the database refused: {str(exc.orig).splitlines()[0]}"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}"


if __name__ == "__main__":
    sys.exit(main())
