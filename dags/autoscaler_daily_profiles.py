"""
### autoscaler_daily_profiles — learn each budget holder's best and worst hours of the day

Once a day, for every ad account with an enabled scaling rule (or those named in the
`accounts` param), recompute each budget holder's row in `autoscaler.optimal_hour_profiles`
from the last `days` (default 28) **complete local days** of hourly snapshots:

- PostgreSQL sums spend, revenue and purchases per entity and *local* hour (so a
  daylight-saving change shifts nothing), and the moments that estimate how many hours
  after the click Meta reports a purchase;
- pandas turns them into an hour-by-hour index against the entity's own average, shrunk
  toward "no hour effect" where evidence is thin, with peak and valley hours only where they
  are distinguishable from noise, a budget multiplier per hour, and a confidence score;
- each account's profiles are replaced in one transaction, with the window they cover.

Accounts in different time zones: each account's window ends at its own most recent local
midnight, so whenever this runs, a profile covers whole local days. The time of day it runs
only decides how fresh the newest day is. Formulas: docs/time-optimization.md.

Connections: `autoscaler_db` (the audit database). It reads no Meta data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from autoscaler.airflow.notifier import AutoscalerNotifier
from autoscaler.airflow.params import accounts_param


@dag(
    dag_id="autoscaler_daily_profiles",
    # 09:00 UTC: after local midnight from Auckland to Los Angeles (see the doc above).
    schedule=CronDataIntervalTimetable("0 9 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["autoscaler", "meta-ads"],
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "on_failure_callback": AutoscalerNotifier(),
    },
    params={
        "days": Param(
            28, type="integer", minimum=7, maximum=90, description="Complete local days to learn from."
        ),
        "accounts": accounts_param(),
    },
)
def autoscaler_daily_profiles() -> None:
    @task
    def accounts() -> list[str]:
        from autoscaler.airflow import tasks

        return tasks.accounts_to_run(get_current_context())

    @task
    def learn(account_id: str) -> dict[str, Any]:
        from autoscaler.airflow import tasks

        return tasks.learn_profiles(account_id, get_current_context())

    learn.expand(account_id=accounts())


daily_profiles_dag = autoscaler_daily_profiles()
