"""Params the autoscaler's DAGs share (cheap to import: DAG files use them at parse time)."""

from __future__ import annotations

from airflow.sdk import Param


def accounts_param() -> Param:
    """A manual run's ``accounts``: only these ad accounts; empty means every account with an enabled rule."""
    return Param(
        [],
        type="array",
        # autoscaler.rules.ACCOUNT_ID_PATTERN, written out: DAG files import this at parse time.
        items={"type": "string", "pattern": "^(act_[0-9]{1,20}|[0-9]{10})$"},
        description=(
            "Only these ad accounts (Meta act_<digits>, Google Ads 10-digit customer ids); "
            "empty: every account with an enabled rule."
        ),
    )
