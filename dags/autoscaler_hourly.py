"""
### autoscaler_hourly — scale Meta ad budgets from the hour that just ended

For every ad account with an enabled scaling rule (or those named in the `accounts` param),
after **doctor** has checked what the run needs (the checks of `autoscaler doctor`: the
connections, the token's validity, expiry and permissions, each account reachable, writable,
in the currency and time zone recorded, migrations current) and failed the run naming the fix
if anything is wrong:

1. **fetch** — read the account and its budget holders (CBO campaigns, ABO ad sets) from Meta;
2. **snapshot** — read the hour's metrics and store one snapshot per budget holder
   (live: the local day's cumulative totals, differenced; a backfill: the hourly breakdown);
3. **decide** — apply the rule to the trailing window (default 72 h); every evaluation is
   recorded, every proposed change becomes an action with its reasoning;
4. **execute** — changes within the approval threshold are written at once;
5. **await_approval** — bigger changes wait (without holding a worker slot) until approved
   (on the Autoscaler page, `POST /api/auto-scaler/approve`, or `autoscaler actions approve`)
   or rejected, or expire after 45 minutes;
6. **execute_approved** — then the approved ones are written.

Writes are absolute and checked against what Meta holds now; a per-account lock keeps two
runs from both writing. **Backfills and `dry_run` runs, and every run while the kill switch
is on** (Variable `autoscaler_paused`, or the `pause_switches` table), record their
decisions as `simulated` and write nothing to Meta.

Notices (failures, pauses, changes awaiting approval) go to the task log, and by email or
Slack when the connections `autoscaler_smtp` / `autoscaler_slack` exist.

Connections: `meta_ads_default` (Meta), `google_ads_default` (Google Ads: each account's
tasks use its platform's, `ad_accounts.platform`), `autoscaler_db` (the audit database). Pool:
`meta_api` bounds concurrent Meta calls. Audit trail: the `autoscaler` schema —
`scaling_runs` has one row per account per run.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task, task_group

from autoscaler.airflow.notifier import AutoscalerNotifier
from autoscaler.airflow.params import accounts_param

META_POOL = "meta_api"
# How often the approval sensor looks (seconds). The demo shortens it; reading the
# environment costs nothing at parse time.
APPROVAL_POKE_SECONDS = int(os.environ.get("AUTOSCALER_APPROVAL_POKE_SECONDS", "60"))


@dag(
    dag_id="autoscaler_hourly",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=2,
    doc_md=__doc__,
    tags=["autoscaler", "meta-ads"],
    default_args={
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        # A task that has used up its retries says so: task log, and email/Slack if configured.
        "on_failure_callback": AutoscalerNotifier(),
    },
    params={
        "dry_run": Param(False, type="boolean", description="Decide and record, but write nothing to Meta."),
        "accounts": accounts_param(),
    },
)
def autoscaler_hourly() -> None:
    @task
    def accounts() -> list[str]:
        from autoscaler.airflow import tasks

        return tasks.accounts_to_run(get_current_context())

    @task_group
    def account_run(account_id: str) -> None:
        @task(pool=META_POOL)
        def fetch(account_id: str) -> dict[str, Any]:
            from autoscaler.airflow import tasks

            return tasks.fetch(account_id, get_current_context())

        @task(pool=META_POOL)
        def snapshot(account_id: str) -> dict[str, Any]:
            from autoscaler.airflow import tasks

            return tasks.snapshot(account_id, get_current_context())

        @task
        def decide(account_id: str) -> dict[str, Any]:
            from autoscaler.airflow import tasks

            return tasks.decide(account_id, get_current_context())

        @task(pool=META_POOL)
        def execute(account_id: str) -> dict[str, Any]:
            from autoscaler.airflow import tasks

            return tasks.execute(account_id, get_current_context())

        @task.sensor(poke_interval=APPROVAL_POKE_SECONDS, timeout=3600, mode="reschedule")
        def await_approval(account_id: str) -> bool:
            from autoscaler.airflow import tasks

            return tasks.approvals_settled(account_id, get_current_context())

        @task(pool=META_POOL)
        def execute_approved(account_id: str) -> dict[str, Any]:
            from autoscaler.airflow import tasks

            return tasks.execute(account_id, get_current_context(), step="execute_approved")

        decided = fetch(account_id) >> snapshot(account_id) >> decide(account_id)
        decided >> execute(account_id)
        decided >> await_approval(account_id) >> execute_approved(account_id)

    @task
    def doctor(account_ids: list[str]) -> list[str]:
        from autoscaler.airflow import tasks

        return tasks.doctor(account_ids, get_current_context())

    checked = doctor(accounts())  # type: ignore[arg-type]  # the XComArg is the list at run time
    account_run.expand(account_id=checked)


hourly_dag = autoscaler_hourly()
