"""``autoscaler doctor``: is this installation ready to move money, and if not, what to do.

The checks are pure functions over *facts* (what was found: a connection resolved or not,
what Meta says of the token and of each account, the schema's revision, the pool, the
DAGs); each returns ok, warn or fail with the fix.  The facts are gathered by the functions
at the bottom of this module (the imperative shell): from the Airflow connections, the audit
database, Meta, and Airflow's metadata database when it is reachable.  The CLI prints the
checks; the hourly DAG's ``doctor`` task runs the same ones and fails the run, naming the
fix, before anything is read from or written to Meta.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from autoscaler.google.client import GoogleClient
    from autoscaler.meta import MetaClient
    from autoscaler.store.accounts import AdAccount

log = logging.getLogger("autoscaler.doctor")

Status = Literal["ok", "warn", "fail"]
REQUIRED_SCOPES = ("ads_read", "ads_management")
# Tasks on an ad account that allow changing budgets (Business settings: "Manage campaigns").
WRITE_TASKS = frozenset({"MANAGE", "ADVERTISE"})
EXPIRY_NOTICE_DAYS = 7
USAGE_WARN_PCT = 75  # where the Meta client starts slowing down
META_CONN_ID = "meta_ads_default"
GOOGLE_CONN_ID = "google_ads_default"
# What a validate-only budget write Google accepted shows: these credentials may change budgets.
GOOGLE_WRITE = "validate-only budget write accepted"
DB_CONN_ID = "autoscaler_db"
POOL = "meta_api"
POOL_FIX = f'airflow pools set {POOL} 8 "Meta Graph API calls"'
DAG_IDS = ("autoscaler_hourly", "autoscaler_daily_profiles")
TOKEN_FIX = (
    "generate a new system-user token with ads_read and ads_management (Business settings > "
    f"Users > System users > Generate new token) and set it as the password of the connection {META_CONN_ID}"
)


@dataclass(frozen=True)
class Check:
    """One verdict: what was checked, how it stands, what was found, and what to do."""

    name: str
    status: Status
    detail: str
    fix: str | None = None
    account: str | None = None  # the ad account the verdict is about; None: the whole deployment

    def line(self) -> str:
        fix = f" -> {self.fix}" if self.fix and self.status != "ok" else ""
        return f"{self.status.upper():4} {self.name}: {self.detail}{fix}"


# ---- facts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenFacts:
    """What Meta's debug_token said of the access token, or why it could not be asked."""

    is_valid: bool = False
    expires_at: datetime | None = None  # None: never expires (system-user tokens)
    scopes: tuple[str, ...] = ()
    error: str | None = None  # the token was refused (expired, revoked, malformed)
    unanswered: str | None = None  # Meta did not answer (a transient failure)


@dataclass(frozen=True)
class AccountFacts:
    """An account with a rule: as recorded, and as Meta shows it to this token."""

    account_id: str
    recorded_currency: str
    recorded_timezone: str
    shadow: bool = False  # its kill switch is on: nothing is written, so read access is enough
    currency: str | None = None
    timezone: str | None = None
    tasks: tuple[str, ...] | None = None  # the token's tasks on the account (user_tasks)
    usage_pct: int | None = None
    regain_seconds: float = 0.0
    error: str | None = None  # Meta refused the read
    unanswered: str | None = None  # Meta did not answer (a transient failure)
    # google_ads: ``tasks`` is (GOOGLE_WRITE,) when Google accepted a validate-only write,
    # () when it refused one for permission, None when there was no daily budget to try.
    platform: str = "meta"


@dataclass(frozen=True)
class AirflowFacts:
    """The pool and the DAGs, from Airflow's metadata database; ``unknown`` says why not."""

    pool_slots: int | None = None  # None: no such pool
    paused: Mapping[str, bool | None] = dataclasses.field(default_factory=dict)  # None: not parsed
    unknown: str | None = None


@dataclass(frozen=True)
class Facts:
    now: datetime
    connections: Mapping[str, str | None]  # connection id -> None (resolved) or why not
    schema: tuple[str | None, str] | None = None  # (revision, head); None: database unreachable
    database_error: str | None = None
    token: TokenFacts | None = None  # None: not asked (no Meta connection)
    accounts: tuple[AccountFacts, ...] = ()
    airflow: AirflowFacts = dataclasses.field(default_factory=lambda: AirflowFacts(unknown="not asked"))


# ---- checks (pure) --------------------------------------------------------------------------


def connection_checks(connections: Mapping[str, str | None]) -> list[Check]:
    fixes = {
        META_CONN_ID: f'create it: password = the access token, extra = {{"app_secret": ...}} '
        f"(AIRFLOW_CONN_{META_CONN_ID.upper()}, or airflow connections add; docs/getting-started.md)",
        DB_CONN_ID: f"create it: a Postgres connection to the audit database (AIRFLOW_CONN_{DB_CONN_ID.upper()}, "
        "or airflow connections add; docs/getting-started.md)",
        GOOGLE_CONN_ID: "create it: conn type google_ads, extras developer_token, client_id, client_secret, "
        "refresh_token, login_customer_id (docs/google-ads.md)",
    }
    return [
        Check(f"connection {conn_id}", "ok", "resolves")
        if why is None
        else Check(f"connection {conn_id}", "fail", why, fixes.get(conn_id))
        for conn_id, why in connections.items()
    ]


def schema_check(schema: tuple[str | None, str] | None, database_error: str | None) -> Check:
    if schema is None:
        return Check(
            "audit database",
            "fail",
            f"cannot be reached: {database_error or 'no connection'}",
            f"check the connection {DB_CONN_ID} (host, port, login) and that PostgreSQL is up",
        )
    current, head = schema
    if current == head:
        return Check("migrations", "ok", f"the audit schema is at {head}, this version's head")
    state = "not installed" if current is None else f"at {current}, this version needs {head}"
    return Check("migrations", "fail", f"the audit schema is {state}", "autoscaler db upgrade")


def token_checks(token: TokenFacts, now: datetime) -> list[Check]:
    """Validity and expiry, then permissions."""
    if token.unanswered is not None:
        return [Check("token", "warn", f"Meta did not answer debug_token: {token.unanswered}", "try again")]
    if token.error is not None or not token.is_valid:
        return [Check("token", "fail", f"Meta refuses it: {token.error or 'not valid'}", TOKEN_FIX)]
    checks = [_expiry_check(token.expires_at, now)]
    missing = [s for s in REQUIRED_SCOPES if s not in token.scopes]
    if missing:
        checks.append(
            Check(
                "token permissions",
                "fail",
                f"missing {', '.join(missing)} (it has {', '.join(token.scopes) or 'none'})",
                TOKEN_FIX,
            )
        )
    else:
        checks.append(Check("token permissions", "ok", ", ".join(REQUIRED_SCOPES)))
    return checks


def _expiry_check(expires_at: datetime | None, now: datetime) -> Check:
    if expires_at is None:
        return Check("token", "ok", "valid; never expires")
    left = expires_at - now
    when = f"{expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    if left <= timedelta(0):
        return Check("token", "fail", f"expired at {when}", TOKEN_FIX)
    if expiring_soon(expires_at, now):
        return Check("token", "warn", f"valid, but expires at {when} (in {_duration(left)})", TOKEN_FIX)
    return Check("token", "ok", f"valid until {when} (in {_duration(left)})")


def expiring_soon(expires_at: datetime | None, now: datetime) -> bool:
    """A token that expires within EXPIRY_NOTICE_DAYS (and has not yet)."""
    return expires_at is not None and timedelta(0) < expires_at - now <= timedelta(days=EXPIRY_NOTICE_DAYS)


def _duration(left: timedelta) -> str:
    hours = int(left.total_seconds() // 3600)
    return (
        f"{hours // 24} days {hours % 24} h"
        if hours >= 24
        else f"{hours} h {int(left.seconds % 3600 // 60)} min"
    )


def by_account(
    failed: Sequence[Check], account_ids: Sequence[str]
) -> tuple[list[Check], dict[str, list[Check]]]:
    """Failures split into the general ones and each of these accounts' own."""
    own: dict[str, list[Check]] = {}
    general = []
    for check in failed:
        if check.account in account_ids:
            own.setdefault(str(check.account), []).append(check)
        else:
            general.append(check)
    return general, own


def account_checks(account: AccountFacts) -> list[Check]:
    """Reachable, writable unless in shadow mode, currency and time zone as recorded, usage:
    each verdict marked as the account's own."""
    return [replace(check, account=account.account_id) for check in _account_checks(account)]


def _account_checks(account: AccountFacts) -> list[Check]:
    name = account.account_id
    google = account.platform == "google_ads"
    who = "Google Ads" if google else "Meta"
    if account.unanswered is not None:
        return [Check(name, "warn", f"{who} did not answer: {account.unanswered}", "try again")]
    if account.error is not None:
        fix = (
            f"give the Google user of {GOOGLE_CONN_ID}'s refresh token access to {name}, or set its "
            f"login_customer_id to the manager account that reaches it; or disable its rules: "
            "autoscaler rules disable RULE_ID"
            if google
            else f"assign {name} to the system user (Business settings > Users > System users > Assign assets), "
            f"or disable its rules: autoscaler rules disable RULE_ID"
        )
        return [Check(name, "fail", f"not reachable with these credentials: {account.error}", fix)]
    checks = [
        Check(name, "ok", "reachable"),
        _google_write_check(account) if google else _write_check(account),
    ]
    for what, recorded, found in (
        ("currency", account.recorded_currency, account.currency),
        ("time zone", account.recorded_timezone, account.timezone),
    ):
        if found == recorded:
            checks.append(Check(f"{name} {what}", "ok", f"{found}, as recorded"))
        else:
            platform = " --platform google_ads" if google else ""
            checks.append(
                Check(
                    f"{name} {what}",
                    "fail",
                    f"{who} says {found}, the audit database has {recorded}",
                    f"record what {who} says: autoscaler accounts add {name}{platform} --currency "
                    f"{account.currency} --timezone {account.timezone}",
                )
            )
    if not google:  # Google sends no usage headers; its quota errors say when to retry
        checks.append(usage_check(name, account.usage_pct, account.regain_seconds))
    return checks


def _write_check(account: AccountFacts) -> Check:
    name = f"{account.account_id} write access"
    tasks = account.tasks or ()
    if WRITE_TASKS & set(tasks):
        return Check(name, "ok", f"the token may change budgets ({', '.join(tasks)})")
    fix = (
        f"give the system user the task 'Manage campaigns' on {account.account_id} "
        "(Business settings > Ad accounts > Assign people)"
    )
    detail = f"the token may only read it ({', '.join(tasks) or 'no tasks'})"
    if account.shadow:
        return Check(name, "warn", f"{detail}; its kill switch is on, so nothing is written", fix)
    return Check(name, "fail", detail, fix)


def _google_write_check(account: AccountFacts) -> Check:
    """Google says nothing of a user's access level through the API; a validate-only write of
    one budget at its own amount is checked like a write and applied nowhere."""
    name = f"{account.account_id} write access"
    if account.tasks is None:
        return Check(name, "warn", "not checked: the customer has no daily campaign budget to try a write on")
    if GOOGLE_WRITE in account.tasks:
        return Check(name, "ok", f"these credentials may change budgets ({GOOGLE_WRITE})")
    fix = (
        f"give the Google user of {GOOGLE_CONN_ID}'s refresh token Standard or Admin access to "
        f"{account.account_id} (Google Ads > Admin > Access and security)"
    )
    detail = "these credentials may only read it (Google refused a validate-only budget write)"
    if account.shadow:
        return Check(name, "warn", f"{detail}; its kill switch is on, so nothing is written", fix)
    return Check(name, "fail", detail, fix)


def usage_check(scope: str, usage_pct: int | None, regain_seconds: float = 0.0) -> Check:
    """Rate-limit headroom from Meta's usage headers (the highest utilisation any reports)."""
    name = f"{scope} rate limit"
    if usage_pct is None:
        return Check(name, "ok", "Meta sent no usage headers")
    if usage_pct >= 100:
        regain = f"; access returns in about {regain_seconds / 60:.0f} min" if regain_seconds else ""
        return Check(
            name,
            "warn",
            f"at 100% of Meta's limit: calls are refused{regain}",
            "wait; if it recurs, lower the meta_api pool's slots or spread the accounts over time",
        )
    if usage_pct >= USAGE_WARN_PCT:
        return Check(
            name,
            "warn",
            f"{usage_pct}% used ({100 - usage_pct}% headroom): the client slows down past {USAGE_WARN_PCT}%",
            "lower the meta_api pool's slots if this persists",
        )
    return Check(name, "ok", f"{usage_pct}% used ({100 - usage_pct}% headroom)")


def airflow_checks(airflow: AirflowFacts) -> list[Check]:
    if airflow.unknown is not None:
        return [
            Check(
                "pool and DAGs",
                "warn",
                f"not checked: {airflow.unknown}",
                "run autoscaler doctor where Airflow's metadata database is reachable (the scheduler's host)",
            )
        ]
    checks = [
        Check(f"pool {POOL}", "fail", "does not exist: the Meta tasks would wait for it forever", POOL_FIX)
        if airflow.pool_slots is None
        else Check(f"pool {POOL}", "ok", f"{airflow.pool_slots} slots")
    ]
    for dag_id, paused in airflow.paused.items():
        if paused is None:
            checks.append(
                Check(
                    f"DAG {dag_id}",
                    "fail",
                    "not parsed by Airflow",
                    "copy dags/ into Airflow's DAGs folder and check airflow dags list-import-errors",
                )
            )
        elif paused:
            checks.append(
                Check(f"DAG {dag_id}", "warn", "paused: it does not run", f"airflow dags unpause {dag_id}")
            )
        else:
            checks.append(Check(f"DAG {dag_id}", "ok", "unpaused"))
    return checks


def examine(facts: Facts) -> list[Check]:
    """Every check, in the order a person fixes things: connections, database, token, accounts, Airflow."""
    checks = connection_checks(facts.connections)
    if facts.connections.get(DB_CONN_ID) is None:  # else its connection check already says why
        checks.append(schema_check(facts.schema, facts.database_error))
    if facts.token is not None:
        checks.extend(token_checks(facts.token, facts.now))
    for account in facts.accounts:
        checks.extend(account_checks(account))
    schema_current = facts.schema is not None and facts.schema[0] == facts.schema[1]
    if schema_current and facts.token is not None and facts.token.error is None and not facts.accounts:
        checks.append(
            Check(
                "accounts",
                "warn",
                "no account has an enabled rule: the hourly DAG has nothing to run for",
                "autoscaler accounts add act_... --currency ... --timezone ..., then autoscaler rules add RULE.json",
            )
        )
    checks.extend(airflow_checks(facts.airflow))
    return checks


def worst(checks: Iterable[Check]) -> Status:
    statuses = {c.status for c in checks}
    return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "ok"


def failures(checks: Iterable[Check]) -> list[Check]:
    return [c for c in checks if c.status == "fail"]


# ---- gathering facts (the shell) -----------------------------------------------------------


def ask_token(meta: MetaClient) -> TokenFacts:
    """debug_token, as TokenFacts; Meta's refusals and silences become facts, not exceptions."""
    from autoscaler.meta.errors import AuthError, MetaError

    try:
        data = meta.debug_token()
    except AuthError as exc:
        return TokenFacts(error=str(exc))
    except MetaError as exc:
        if exc.retryable:
            return TokenFacts(unanswered=str(exc))
        return TokenFacts(error=str(exc))
    if not data.get("is_valid"):
        error = data.get("error") or {}
        return TokenFacts(error=str(error.get("message") or "Meta says the token is not valid"))
    expires = int(data.get("expires_at") or 0)
    return TokenFacts(
        is_valid=True,
        expires_at=datetime.fromtimestamp(expires, UTC) if expires else None,
        scopes=tuple(str(s) for s in data.get("scopes") or ()),
    )


def ask_account(meta: MetaClient, recorded: AdAccount, shadow: bool) -> AccountFacts:
    """One account as this token sees it: currency, time zone, tasks, and the usage headers."""
    from autoscaler.meta.errors import MetaError, regain_seconds, usage_percent

    facts = AccountFacts(recorded.account_id, recorded.currency, recorded.timezone_name, shadow=shadow)
    try:
        info, tasks, headers = meta.account_access(recorded.account_id)
    except MetaError as exc:
        if exc.retryable:
            return dataclasses.replace(facts, unanswered=str(exc))
        return dataclasses.replace(facts, error=str(exc))
    has_usage = any(k.lower().startswith(("x-business-use-case", "x-ad-account-usage")) for k in headers)
    return dataclasses.replace(
        facts,
        currency=info.currency,
        timezone=info.timezone_name,
        tasks=tuple(tasks),
        usage_pct=usage_percent(headers) if has_usage else None,
        regain_seconds=regain_seconds(headers),
    )


def doctor_client(meta: MetaClient) -> MetaClient:
    """The same connection, asked once per question: no retries, no slowing down (a doctor
    reports a throttled account, it does not wait for it)."""
    from autoscaler.meta import MetaClient

    config = dataclasses.replace(meta.config, max_attempts=1, slow_down_at_pct=101)
    return MetaClient(config)


def ask_google_account(google: GoogleClient, recorded: AdAccount, shadow: bool) -> AccountFacts:
    """One Google Ads customer as these credentials see it: currency, time zone, and whether
    Google accepts a validate-only write of its first daily budget at the amount it holds."""
    from autoscaler.google.errors import GooglePermissionError
    from autoscaler.meta.client import BudgetChange
    from autoscaler.meta.errors import MetaError

    facts = AccountFacts(
        recorded.account_id, recorded.currency, recorded.timezone_name, shadow=shadow, platform="google_ads"
    )
    try:
        info = google.get_account(recorded.account_id)
        budgets = google.list_budget_holders(recorded.account_id).dropna(subset=["daily_budget"])
        tasks: tuple[str, ...] | None = None
        if not budgets.empty:
            first = budgets.iloc[0]
            change = BudgetChange(str(first["entity_id"]), int(first["daily_budget"]))
            (result,) = google.apply(
                recorded.account_id, [change], currency=info.currency, validate_only=True
            )
            if result.ok:
                tasks = (GOOGLE_WRITE,)
            elif isinstance(result.error, GooglePermissionError):
                tasks = ()
            elif result.error is not None:
                raise result.error
    except MetaError as exc:  # the Google errors are typed as Meta's (autoscaler.google.errors)
        if exc.retryable:
            return dataclasses.replace(facts, unanswered=str(exc))
        return dataclasses.replace(facts, error=str(exc))
    return dataclasses.replace(facts, currency=info.currency, timezone=info.timezone_name, tasks=tasks)


def doctor_google_client(google: GoogleClient) -> GoogleClient:
    """The same Google connection, asked once per question (no retries)."""
    from autoscaler.google.client import GoogleClient

    return GoogleClient(google.config.model_copy(update={"max_attempts": 1}))


def audit_facts(
    engine: Engine, accounts: Sequence[str] | None
) -> tuple[tuple[str | None, str], list[AdAccount], set[str]]:
    """(schema revision and head, the recorded accounts to check, those whose kill switch is on).

    The accounts are those with an enabled rule, or ``accounts`` when given."""
    from autoscaler import migrations
    from autoscaler.store.accounts import get_account
    from autoscaler.store.controls import is_paused
    from autoscaler.store.rules import enabled_accounts

    schema = (migrations.current_revision(engine), migrations.head_revision())
    if schema[0] != schema[1]:
        return schema, [], set()
    with engine.connect() as conn:
        chosen = list(accounts) if accounts is not None else enabled_accounts(conn)
        recorded = [get_account(conn, a) for a in chosen]
        shadow = {a for a in chosen if is_paused(conn, a)}
    return schema, recorded, shadow


def gather(
    now: datetime,
    connections: Mapping[str, str | None],
    engine: Engine | None,
    meta: MetaClient | None,
    airflow: AirflowFacts,
    accounts: Sequence[str] | None = None,
    kill_switch: bool = False,
    google: Callable[[], GoogleClient] | None = None,
) -> Facts:
    """Every fact, each failure to learn one recorded as a fact (never raised).

    ``google`` builds the Google Ads client from its connection; it is asked for only when a
    Google Ads account is among those checked, and a failure to build it is the fact about
    the connection GOOGLE_CONN_ID."""
    schema: tuple[str | None, str] | None = None
    database_error = None
    recorded: list[AdAccount] = []
    shadow: set[str] = set()
    if engine is not None:
        try:
            schema, recorded, shadow = audit_facts(engine, accounts)
        except Exception as exc:  # unreachable, refused: the check says so
            database_error = _first_line(exc)
    token = None
    checked: list[AccountFacts] = []
    if meta is not None:
        client = doctor_client(meta)
        token = ask_token(client)
        if token.error is None:
            checked = [
                ask_account(client, r, shadow=kill_switch or r.account_id in shadow)
                for r in recorded
                if r.platform == "meta"
            ]
    on_google = [r for r in recorded if r.platform == "google_ads"]
    if on_google and google is not None:
        built: list[GoogleClient] = []
        found = resolve((GOOGLE_CONN_ID,), lambda _conn_id: built.append(google()))
        connections = {**connections, **found}
        if built:
            google_client = doctor_google_client(built[0])
            checked += [
                ask_google_account(google_client, r, shadow=kill_switch or r.account_id in shadow)
                for r in on_google
            ]
    return Facts(now, connections, schema, database_error, token, tuple(checked), airflow)


def airflow_metadata() -> AirflowFacts:
    """The pool and the DAGs from Airflow's metadata database, when this process can reach it."""
    try:
        from airflow.models import DagModel  # the metadata table of DAGs (not authoring)
        from airflow.models.pool import Pool
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            pool = session.scalar(select(Pool).where(Pool.pool == POOL))
            found = {
                d.dag_id: bool(d.is_paused)
                for d in session.scalars(select(DagModel).where(DagModel.dag_id.in_(DAG_IDS)))
            }
    except Exception as exc:
        return AirflowFacts(unknown=f"Airflow's metadata database is not reachable here ({_first_line(exc)})")
    return AirflowFacts(
        pool_slots=None if pool is None else int(pool.slots),
        paused={d: found.get(d) for d in DAG_IDS},
    )


def _first_line(exc: BaseException) -> str:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def resolve(conn_ids: Sequence[str], get: Callable[[str], object]) -> dict[str, str | None]:
    """Each connection id -> None when ``get`` finds it, else the reason in one line."""
    found: dict[str, str | None] = {}
    for conn_id in conn_ids:
        try:
            get(conn_id)
        except Exception as exc:
            found[conn_id] = "not defined" if "isn't defined" in str(exc) else _first_line(exc)
        else:
            found[conn_id] = None
    return found
