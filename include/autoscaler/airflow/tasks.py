"""The hourly DAG's task callables: Airflow context in, the package's steps called, counts out.

Each returns a small dict (XComs carry counts, never frames), records its step on the run's
``scaling_runs`` row, and logs one line a person can read at a glance.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text

from autoscaler import hourly
from autoscaler.airflow import notifier
from autoscaler.airflow.connections import google_client, meta_client
from autoscaler.notify import approval_notice, pause_notice
from autoscaler.store import actions, runs
from autoscaler.store.engine import AIRFLOW_CONN_ID, make_engine
from autoscaler.store.rules import enabled_accounts

if TYPE_CHECKING:
    from autoscaler.google.client import GoogleClient
    from autoscaler.meta import MetaClient

log = logging.getLogger("autoscaler.hourly")

DAG_ID = "autoscaler_hourly"
APPROVAL_WINDOW = timedelta(minutes=45)
KILL_SWITCH_VARIABLE = "autoscaler_paused"


class UnknownAccountsError(ValueError):
    """The run asked for accounts the autoscaler has no enabled rule for."""


class DoctorFailedError(RuntimeError):
    """A check the run needs failed (the message names each, with its fix)."""


@dataclass(frozen=True)
class TaskRun:
    account_id: str
    run_hour: datetime
    run_type: str
    airflow_run_id: str
    mode: str
    shadow_reason: str | None

    @property
    def step(self) -> hourly.RunHour:
        return hourly.RunHour(self.account_id, self.run_hour, self.mode, backfill=self.run_type == "backfill")


def audit_engine() -> Engine:
    """The audit database through the Airflow connection autoscaler_db (PostgresHook)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return make_engine(PostgresHook(postgres_conn_id=AIRFLOW_CONN_ID).get_uri())


def _run_type(context: Any) -> str:
    value = context["dag_run"].run_type
    return str(getattr(value, "value", value))


def _run_hour(context: Any) -> datetime:
    start = context.get("data_interval_start")
    if start is None:  # a manual run without a data interval: the hour that just ended
        start = datetime.now(UTC) - timedelta(hours=1)
    hour: datetime = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return hour


def variable_paused() -> bool:
    """The Airflow Variable kill switch (for when the audit database itself is the problem).

    Fails safe: a Variable that is set but cannot be read (a Fernet key that differs between
    components) keeps the run in shadow mode rather than letting it go live.
    """
    from airflow.sdk import Variable

    from autoscaler.store.controls import switched_on

    missing = object()
    try:
        value = Variable.get(KILL_SWITCH_VARIABLE, default=missing)
    except Exception:  # set, but unreadable here: not a reason to go live
        log.warning(
            "the kill-switch Variable %s cannot be read: running in shadow mode", KILL_SWITCH_VARIABLE
        )
        return True
    return value is not missing and switched_on(value)


def _kill_switch(engine: Engine, account_id: str) -> bool:
    from autoscaler.store.controls import is_paused

    if variable_paused():
        return True
    with engine.connect() as conn:
        return is_paused(conn, account_id)


def task_run(context: Any, account_id: str, engine: Engine) -> TaskRun:
    run_type = _run_type(context)
    reason = None
    if run_type == "backfill":
        reason = "backfill"
    elif context["params"].get("dry_run"):
        reason = "dry_run"
    elif _kill_switch(engine, account_id):
        reason = "kill_switch"
    return TaskRun(
        account_id=account_id,
        run_hour=_run_hour(context),
        run_type=run_type if run_type in ("scheduled", "manual", "backfill", "asset_triggered") else "manual",
        airflow_run_id=str(context["dag_run"].run_id),
        mode="shadow" if reason else "live",
        shadow_reason=reason,
    )


@contextmanager
def _step(context: Any, account_id: str, name: str) -> Iterator[tuple[TaskRun, Engine, dict[str, Any]]]:
    engine = audit_engine()
    started = time.perf_counter()
    state: dict[str, Any] = {"summary": "", "counts": {}, "finished": False}
    run = task_run(context, account_id, engine)
    try:
        yield run, engine, state
    except Exception as exc:
        with engine.begin() as conn:
            runs.record_step(
                conn,
                airflow_run_id=run.airflow_run_id,
                dag_id=DAG_ID,
                account_id=account_id,
                run_hour=run.run_hour,
                run_type=run.run_type,
                mode=run.mode,
                shadow_reason=run.shadow_reason,
                step=name,
                seconds=time.perf_counter() - started,
                counts={},
                summary=f"{name} failed",
            )
            runs.mark_failed(
                conn, airflow_run_id=run.airflow_run_id, account_id=account_id, error=f"{name}: {exc}"
            )
        raise
    else:
        with engine.begin() as conn:
            runs.record_step(
                conn,
                airflow_run_id=run.airflow_run_id,
                dag_id=DAG_ID,
                account_id=account_id,
                run_hour=run.run_hour,
                run_type=run.run_type,
                mode=run.mode,
                shadow_reason=run.shadow_reason,
                step=name,
                seconds=time.perf_counter() - started,
                counts=state["counts"],
                summary=state["summary"],
                finished=state["finished"],
            )
        log.info("%s %s: %s", account_id, name, state["summary"])
    finally:
        engine.dispose()


def accounts_to_run(context: Any) -> list[str]:
    """Accounts with an enabled rule, narrowed to the run's ``accounts`` param if given."""
    engine = audit_engine()
    try:
        with engine.connect() as conn:
            enabled = enabled_accounts(conn)
    finally:
        engine.dispose()
    wanted = list(context["params"].get("accounts") or [])
    unknown = sorted(set(wanted) - set(enabled))
    if unknown:
        from airflow.sdk.exceptions import AirflowFailException

        # A wrong account list will not fix itself: fail without retries.
        raise AirflowFailException(
            str(UnknownAccountsError(f"accounts: no enabled scaling rule for {', '.join(unknown)}"))
        )
    chosen = wanted or enabled
    log.info("running %d account(s): %s", len(chosen), ", ".join(chosen) or "none")
    return chosen


def doctor(account_ids: list[str], context: Any) -> list[str]:
    """The checks of ``autoscaler doctor`` for this run's accounts, before any of them starts.

    A failed general check fails the run at once, without retries (a missing permission does
    not fix itself), naming every failure and its fix, except a refused token, which the task's
    retries give time to be replaced; warnings go to the task log.  A token that
    expires within 7 days sends a notice, once a day (the UTC day's first run) and at every
    run in its last 24 hours.  An account whose own checks fail is skipped with a notice while
    the others run.  Returns the accounts to run, for the per-account runs.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowFailException

    from autoscaler import doctor as dr
    from autoscaler.airflow.connections import meta_config
    from autoscaler.notify import doctor_notice, token_expiry_notice

    found = dr.resolve((dr.META_CONN_ID,), meta_config) | dr.resolve(
        (dr.DB_CONN_ID,), BaseHook.get_connection
    )
    meta = meta_client() if found[dr.META_CONN_ID] is None else None
    engine = audit_engine() if found[dr.DB_CONN_ID] is None else None
    now = datetime.now(UTC)
    try:
        if meta is not None:
            now = meta.now()
        shadow = (
            _run_type(context) == "backfill" or bool(context["params"].get("dry_run")) or variable_paused()
        )
        facts = dr.gather(
            now,
            found,
            engine,
            meta,
            dr.AirflowFacts(
                unknown="a task cannot read Airflow's metadata database (Airflow 3 keeps tasks from it)"
            ),
            accounts=account_ids,
            kill_switch=shadow,
            google=google_client,
        )
    finally:
        if engine is not None:
            engine.dispose()
    checks = dr.examine(facts)
    for check in checks:
        log.log(logging.INFO if check.status == "ok" else logging.WARNING, "%s", check.line())
    token = facts.token
    if token is not None and dr.expiring_soon(token.expires_at, now):
        assert token.expires_at is not None
        if _run_hour(context).hour == 0 or token.expires_at - now <= timedelta(hours=24):
            notifier.send(token_expiry_notice(dr.META_CONN_ID, token.expires_at, now))
    failed = dr.failures(checks)
    # One account's own failure (its permission, currency, time zone) skips that account, with
    # a notice, and lets the others run: stopping every account would also stop their approved
    # writes and their time-of-day restores.  Anything else (connections, token, schema) fails
    # the run, and so does every account failing.
    general, by_account = dr.by_account(failed, account_ids)
    runnable = [a for a in account_ids if a not in by_account]
    if general or (by_account and not runnable):
        message = f"doctor: {len(failed)} check(s) failed; nothing was read or written:\n" + "\n".join(
            c.line() for c in failed
        )
        if any(c.name == "token" for c in failed):
            # A refused token is often being replaced right now: the task's retries give the
            # operator those minutes before the run fails.
            raise DoctorFailedError(message)
        raise AirflowFailException(message)  # a permission or a setting does not fix itself
    for account_id, own in by_account.items():
        lines = [c.line() for c in own]
        log.error("doctor: %s skipped this hour:\n%s", account_id, "\n".join(lines))
        notifier.send(doctor_notice(account_id, lines))
    return runnable


def account_client(engine: Engine, account_id: str) -> MetaClient | GoogleClient:
    """The client of the account's platform (ad_accounts.platform): Meta's through
    meta_ads_default, Google Ads' through google_ads_default."""
    from autoscaler.store.accounts import get_account

    with engine.connect() as conn:
        platform = get_account(conn, account_id).platform
    return google_client() if platform == "google_ads" else meta_client()


def fetch(account_id: str, context: Any) -> dict[str, Any]:
    with _step(context, account_id, "fetch") as (run, engine, state):
        client = account_client(engine, account_id)
        counts = hourly.fetch(engine, client, run.step, client.now())
        state["counts"] = {"entities_fetched": counts["entities"]}
        state["summary"] = f"fetched {counts['entities']:,} budget holders in {counts['requests']} requests"
    return counts


def snapshot(account_id: str, context: Any) -> dict[str, Any]:
    with _step(context, account_id, "snapshot") as (run, engine, state):
        client = account_client(engine, account_id)
        counts = hourly.snapshot(engine, client, run.step, client.now())
        state["counts"] = {"snapshots_written": counts["snapshots"]}
        kind = "backfilled" if run.step.backfill else "live"
        state["summary"] = (
            f"{counts['snapshots']:,} {kind} snapshots for {run.run_hour:%Y-%m-%d %H:00} UTC in {counts['requests']} requests"
        )
    return counts


def decide(account_id: str, context: Any) -> dict[str, Any]:
    with _step(context, account_id, "decide") as (run, engine, state):
        now = account_client(engine, account_id).now()
        deadline = None if run.mode == "shadow" else now + APPROVAL_WINDOW
        counts = hourly.decide_account(engine, run.step, now, deadline)
        with engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM autoscaler.scaling_actions WHERE account_id = :a AND run_hour = :h "
                    "AND status = 'pending_approval'"
                ),
                {"a": account_id, "h": run.run_hour},
            ).scalar_one()
        if waiting and run.mode == "live":
            with engine.connect() as conn:
                pending = actions.list_actions(
                    conn, account_id=account_id, status="pending_approval", run_hour=run.run_hour, limit=1000
                )
            notifier.send(approval_notice(account_id, pending, deadline))
        kinds = [
            k
            for k in ("scale_up_aggressive", "scale_up", "scale_down", "pause", "time_adjust")
            if counts.get(k)
        ]
        detail = ", ".join(f"{counts[k]} {k}" for k in kinds) or "none"
        state["counts"] = {
            "evaluated": counts.get("evaluated", 0),
            "actions_proposed": counts.get("actions", 0),
            "awaiting_approval": waiting,
        }
        mode = f" ({run.mode}: {run.shadow_reason})" if run.shadow_reason else ""
        state["summary"] = (
            f"{counts.get('evaluated', 0):,} evaluated; {counts.get('actions', 0)} actions: {detail}; {waiting} await approval{mode}"
        )
    return {**counts, "awaiting_approval": waiting, "mode": run.mode}


def approvals_settled(account_id: str, context: Any) -> bool:
    """The sensor's poke: expire what is past its deadline, write what has been approved since
    the last poke, and be done when nothing of the account waits any more.

    Writing at each poke means an approved change reaches Meta within one poke interval of its
    approval, instead of waiting for the account's other, unrelated approvals (up to their
    45-minute deadline).  execute_approved, after the sensor, still writes whatever is left.
    """
    from autoscaler.execute import execute_account

    engine = audit_engine()
    try:
        meta = account_client(engine, account_id)
        with engine.begin() as conn:
            expired = actions.expire_overdue(conn, account_id, meta.now())
        run = task_run(context, account_id, engine)
        with engine.connect() as conn:
            approved = bool(actions.approved_live(conn, account_id)) if run.mode == "live" else False
        written = None
        if approved:
            written = execute_account(engine, meta, account_id)
            notifier.send(pause_notice(account_id, written.paused))
        with engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM autoscaler.scaling_actions WHERE account_id = :a AND status = 'pending_approval'"
                ),
                {"a": account_id},
            ).scalar_one()
    finally:
        engine.dispose()
    if expired:
        log.info("%s: %d action(s) expired unapproved", account_id, expired)
    if written is not None:
        log.info("%s: approved since the last look: %s", account_id, written.line())
    if waiting:
        log.info(
            "%s: %d action(s) still await approval (the Autoscaler page, or POST /api/auto-scaler/approve)",
            account_id,
            waiting,
        )
    return int(waiting) == 0


def execute(account_id: str, context: Any, step: str = "execute") -> dict[str, Any]:
    """Write the account's approved actions (right after decide, and again after approvals)."""
    from autoscaler.execute import execute_account

    with _step(context, account_id, step) as (run, engine, state):
        if run.mode == "shadow":
            state["summary"] = f"nothing written: {run.shadow_reason}"
            state["finished"] = True
            return {"written": 0, "mode": run.mode}
        summary = execute_account(engine, account_client(engine, account_id), account_id)
        notifier.send(pause_notice(account_id, summary.paused))
        with engine.connect() as conn:
            totals: dict[str, int] = dict(
                conn.execute(
                    text(
                        "SELECT status, count(*) FROM autoscaler.scaling_actions WHERE account_id = :a AND run_hour = :h "
                        "AND status IN ('executed', 'failed', 'drifted', 'expired') GROUP BY status"
                    ),
                    {"a": account_id, "h": run.run_hour},
                ).all()
            )
        state["counts"] = {k: int(totals.get(k, 0)) for k in ("executed", "failed", "drifted", "expired")}
        state["summary"] = summary.line()
        state["finished"] = True
    return {**dict(summary.outcomes), "write_requests": summary.write_requests, "mode": run.mode}


def learn_profiles(account_id: str, context: Any) -> dict[str, Any]:
    """The daily DAG's task: replace the account's optimal-hour profiles.

    "Now" is the run's data interval end, not the wall clock, so a re-run or a backfill of a
    day learns from exactly the same window.
    """
    from autoscaler.daily import learn_account

    end = context.get("data_interval_end") or datetime.now(UTC)
    days = int(context["params"].get("days", 28))
    engine = audit_engine()
    try:
        counts = learn_account(engine, account_id, end.astimezone(UTC), days)
    finally:
        engine.dispose()
    log.info(
        "%s: %d profiles from %d local days ending before %s; %d with peak hours, %d with valleys; "
        "%d%% of purchase value reported in the click's hour",
        account_id,
        counts["profiles"],
        days,
        end.astimezone(UTC).isoformat(),
        counts["with_peaks"],
        counts["with_valleys"],
        counts["same_hour_delay_share_pct"],
    )
    return counts
