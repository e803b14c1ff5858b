"""Where the autoscaler's notices go, from Airflow connections; and its failure notifier.

* always: the task log (a WARNING line, so it stands out in the Airflow UI's log view);
* email, when the connection ``autoscaler_smtp`` exists: an SMTP connection (host, port,
  login, password; extra ``from_email``, ``disable_tls``, ``disable_ssl`` as the smtp
  provider reads them) with extra ``to``: a list of addresses, or a comma-separated string;
* Slack, when the connection ``autoscaler_slack`` exists: an incoming webhook whose URL is
  the connection's password (so Airflow masks it), or host + password as the Slack
  provider splits it (``https://hooks.slack.com/services`` + ``T000/B000/XXXX``).

``AutoscalerNotifier`` is the DAG's ``on_failure_callback``: a task that has used up its
retries says so through the same channels.
"""

from __future__ import annotations

import html
from typing import Any

from airflow.sdk import BaseHook, BaseNotifier
from airflow.sdk.exceptions import AirflowNotFoundException

from autoscaler.notify import Channel, Notice, deliver, failure_notice, send_slack

SMTP_CONN_ID = "autoscaler_smtp"
SLACK_CONN_ID = "autoscaler_slack"


def _connection(conn_id: str) -> Any | None:
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def slack_webhook_url(password: str | None, host: str | None) -> str:
    secret = (password or "").strip()
    if secret.startswith(("https://", "http://")):
        return secret
    if not host or not secret:
        raise ValueError(
            f"{SLACK_CONN_ID}: password must be the webhook URL, or host the webhook base and password its path"
        )
    base = host if host.startswith(("https://", "http://")) else f"https://{host}"
    return f"{base.rstrip('/')}/{secret.lstrip('/')}"


def _recipients(extra: dict[str, Any]) -> list[str]:
    to = extra.get("to")
    if isinstance(to, str):
        to = [part.strip() for part in to.split(",")]
    recipients = [str(r) for r in (to or []) if str(r).strip()]
    if not recipients:
        raise ValueError(f'{SMTP_CONN_ID}: extra "to" must name at least one address')
    return recipients


def _email_channel(recipients: list[str]) -> Channel:
    def send(notice: Notice) -> None:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        with SmtpHook(smtp_conn_id=SMTP_CONN_ID) as hook:
            hook.send_email_smtp(
                to=recipients,
                subject=f"[autoscaler] {notice.subject}",
                html_content=f"<pre>{html.escape(notice.text())}</pre>",
            )

    return send


def _slack_channel(url: str) -> Channel:
    def send(notice: Notice) -> None:
        send_slack(url, notice)

    return send


def channels() -> list[tuple[str, Channel]]:
    """The configured channels besides the task log (which deliver always writes)."""
    found: list[tuple[str, Channel]] = []
    smtp = _connection(SMTP_CONN_ID)
    if smtp is not None:
        found.append(("email", _email_channel(_recipients(smtp.extra_dejson))))
    slack = _connection(SLACK_CONN_ID)
    if slack is not None:
        found.append(("slack", _slack_channel(slack_webhook_url(slack.password, slack.host))))
    return found


def send(notice: Notice | None) -> list[str]:
    """Deliver a notice (None: nothing to say) through the task log and every configured channel."""
    if notice is None:
        return []
    try:
        configured = channels()
    except ValueError as exc:  # a misconfigured channel is reported, and the log still gets the notice
        deliver(Notice("failure", "notification channels misconfigured", str(exc)), [])
        configured = []
    return deliver(notice, configured)


class AutoscalerNotifier(BaseNotifier):
    """``on_failure_callback``: a task that failed for good, through every configured channel."""

    def notify(self, context: Any) -> None:
        ti = context["ti"]
        error = context.get("exception")
        send(
            failure_notice(
                dag_id=str(ti.dag_id),
                task_id=str(ti.task_id),
                run_id=str(ti.run_id),
                map_index=getattr(ti, "map_index", None),
                tries=int(getattr(ti, "try_number", 0) or 0),
                error=f"{type(error).__name__}: {error}" if error else "no exception recorded",
            )
        )
