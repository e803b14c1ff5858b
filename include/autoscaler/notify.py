"""Notices for people: failures, pauses, and actions waiting for approval.

A notice is built here from what happened (pure: text in, text out) and sent through the
channels configured (autoscaler.airflow.notifier reads them from Airflow connections): the
task log always, email and Slack when configured.  A notice says what happened, to which
account, and what a person can do about it; it never carries a secret.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from autoscaler.money import format_money

if TYPE_CHECKING:  # the DAG file imports this module: keep pandas (via the store) out of parsing
    from autoscaler.store.actions import Action

log = logging.getLogger("autoscaler.notify")

# A notice lists at most this many actions; the rest are counted ("and 12 more").
MAX_LISTED = 10


@dataclass(frozen=True)
class Notice:
    kind: str  # "approval", "pause", "failure", "token" or "doctor"
    subject: str
    body: str

    def text(self) -> str:
        return f"{self.subject}\n{self.body}" if self.body else self.subject


def _change(action: Action) -> str:
    if action.budget_after is not None and action.budget_before is not None:
        before = format_money(action.budget_before, action.currency)
        return f"{before}/day -> {format_money(action.budget_after, action.currency)}/day"
    return f"{action.status_before} -> {action.status_after}"


def _listed(actions: Sequence[Action]) -> list[str]:
    lines = [
        f"  #{a.action_id} {a.entity_level} {a.entity_id}: {a.action_type}, {_change(a)}. {a.reasoning}"
        for a in actions[:MAX_LISTED]
    ]
    if len(actions) > MAX_LISTED:
        lines.append(f"  and {len(actions) - MAX_LISTED} more")
    return lines


def approval_notice(account_id: str, waiting: Sequence[Action], deadline: datetime | None) -> Notice | None:
    """Changes of this run that wait for a person; None when nothing waits."""
    if not waiting:
        return None
    until = f" until {deadline:%Y-%m-%d %H:%M} UTC" if deadline else ""
    return Notice(
        "approval",
        f"{account_id}: {len(waiting)} budget change(s) await approval{until}",
        "\n".join(
            [
                *_listed(waiting),
                "Approve or reject on the Autoscaler page (Airflow UI: Browse > Autoscaler, /auto-scaler/) "
                'or with POST /api/auto-scaler/approve {"action_id": ID, "approve": true}: the approver '
                "recorded is the logged-in user. Unanswered changes expire at the deadline and are not made.",
            ]
        ),
    )


def token_expiry_notice(connection_id: str, expires_at: datetime, now: datetime) -> Notice:
    """The Meta access token stops working soon: after it, every run fails until it is replaced."""
    left = expires_at - now
    days, hours = left.days, left.seconds // 3600
    return Notice(
        "token",
        f"the Meta access token expires in {f'{days} days {hours} h' if days else f'{hours} h'} "
        f"({expires_at:%Y-%m-%d %H:%M} UTC)",
        "After that every hourly run fails until it is replaced. Generate a new system-user token "
        "with ads_read and ads_management (Business settings > Users > System users > Generate new "
        f"token) and set it as the password of the Airflow connection {connection_id}; "
        "then `autoscaler doctor` shows its new expiry.",
    )


def doctor_notice(account_id: str, failed: Sequence[str]) -> Notice:
    """An account the hourly run skipped because its own doctor checks failed (others ran)."""
    return Notice(
        "doctor",
        f"{account_id}: skipped this hour, {len(failed)} check(s) failed",
        "Nothing was read from or written to Meta for it; the other accounts ran.\n"
        + "\n".join(failed)
        + "\n`autoscaler doctor --account "
        + account_id
        + "` shows the same checks.",
    )


def pause_notice(account_id: str, paused: Sequence[Action]) -> Notice | None:
    """Budget holders the autoscaler has just paused on Meta; None when none were."""
    if not paused:
        return None
    return Notice(
        "pause",
        f"{account_id}: paused {len(paused)} budget holder(s) on Meta",
        "\n".join(_listed(paused)),
    )


def failure_notice(
    dag_id: str, task_id: str, run_id: str, map_index: int | None, tries: int, error: str
) -> Notice:
    """A task that failed for good (its retries used up)."""
    where = f"{task_id}[{map_index}]" if map_index is not None and map_index >= 0 else task_id
    return Notice(
        "failure",
        f"{dag_id}: {where} failed after {tries} attempt(s)",
        f"run {run_id}: {error}",
    )


def send_slack(webhook_url: str, notice: Notice, timeout: float = 10.0) -> None:
    """Post a notice to a Slack incoming webhook (the URL is the secret: never logged)."""
    body = json.dumps({"text": f"*{notice.subject}*\n{notice.body}"}).encode()
    request = urllib.request.Request(
        webhook_url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()


Channel = Callable[[Notice], None]


def deliver(notice: Notice, channels: Sequence[tuple[str, Channel]]) -> list[str]:
    """Log the notice, then try every channel; a channel that fails is logged, never raised.

    A notification must not fail the step that moves money, nor stop the other channels.
    Returns the names of the channels that delivered.
    """
    log.warning("%s", notice.text())
    delivered = []
    for name, channel in channels:
        try:
            channel(notice)
        except Exception as exc:
            # The type only: an HTTP error's text could echo the webhook URL.
            log.error("notice %r not delivered by %s: %s", notice.subject, name, type(exc).__name__)
        else:
            delivered.append(name)
    return delivered
