"""Notices: what they say, where they go, and that a failing channel never fails the step."""

from __future__ import annotations

import json
import logging
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest

from autoscaler.airflow import notifier
from autoscaler.notify import Notice, approval_notice, deliver, failure_notice, pause_notice
from autoscaler.store.actions import Action

UP = Action(
    action_id=41,
    account_id="act_1001",
    entity_id="2001",
    entity_level="campaign",
    action_type="scale_up_aggressive",
    status="pending_approval",
    mode="live",
    currency="USD",
    budget_before=20_000,
    budget_after=30_000,
    status_before=None,
    status_after=None,
    requires_approval=True,
    reasoning="Exceptional performance: ROAS 4.20x (>4.0x) and CTR 3.50% (>3%)",
    run_hour=datetime(2026, 11, 2, 15, tzinfo=UTC),
    approval_deadline=datetime(2026, 11, 2, 16, 50, tzinfo=UTC),
)
PAUSE = replace(
    UP,
    action_id=42,
    entity_id="3001",
    entity_level="adset",
    action_type="pause",
    budget_before=None,
    budget_after=None,
    status_before="ACTIVE",
    status_after="PAUSED",
    reasoning="Unprofitable: ROAS 0.62x (<1.0x)",
)


def test_an_approval_notice_lists_each_change_with_its_reason_and_says_how_to_answer() -> None:
    notice = approval_notice("act_1001", [UP], UP.approval_deadline)
    assert notice is not None
    assert notice.subject == "act_1001: 1 budget change(s) await approval until 2026-11-02 16:50 UTC"
    assert (
        "#41 campaign 2001: scale_up_aggressive, $200.00/day -> $300.00/day. Exceptional performance"
        in notice.body
    )
    # The page and the API, where the approver is the logged-in user (not --by free text).
    assert "/auto-scaler/" in notice.body
    assert "POST /api/auto-scaler/approve" in notice.body
    assert "--by" not in notice.body


def test_a_pause_notice_names_the_status_change() -> None:
    notice = pause_notice("act_1001", [PAUSE])
    assert notice is not None
    assert notice.subject == "act_1001: paused 1 budget holder(s) on Meta"
    assert "#42 adset 3001: pause, ACTIVE -> PAUSED. Unprofitable: ROAS 0.62x (<1.0x)" in notice.body


def test_nothing_to_say_is_no_notice() -> None:
    assert approval_notice("act_1001", [], None) is None
    assert pause_notice("act_1001", []) is None
    assert notifier.send(None) == []


def test_a_long_list_is_cut_and_counted() -> None:
    many = [replace(UP, action_id=i) for i in range(25)]
    notice = approval_notice("act_1001", many, None)
    assert notice is not None
    assert notice.body.count("\n  #") + notice.body.startswith("  #") == 10
    assert "  and 15 more" in notice.body


def test_a_failure_notice_names_the_mapped_task_and_its_attempts() -> None:
    notice = failure_notice(
        "autoscaler_hourly", "account_run.snapshot", "scheduled__x", 3, 4, "TransientError: 500"
    )
    assert notice.subject == "autoscaler_hourly: account_run.snapshot[3] failed after 4 attempt(s)"
    assert notice.body == "run scheduled__x: TransientError: 500"


def test_a_failing_channel_is_logged_without_its_secret_and_the_others_still_deliver(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got: list[Notice] = []

    def broken(notice: Notice) -> None:
        raise OSError("cannot reach https://hooks.slack.com/services/T0/B0/SECRET")

    notice = Notice("pause", "act_1001: paused 1 budget holder(s) on Meta", "details")
    with caplog.at_level(logging.INFO, logger="autoscaler.notify"):
        delivered = deliver(notice, [("slack", broken), ("email", got.append)])
    assert delivered == ["email"]
    assert got == [notice]
    assert "not delivered by slack: OSError" in caplog.text
    assert "SECRET" not in caplog.text
    assert "act_1001: paused 1 budget holder(s) on Meta" in caplog.text  # the task log always has it


@pytest.mark.parametrize(
    ("password", "host", "url"),
    [
        ("https://hooks.slack.com/services/T0/B0/X", None, "https://hooks.slack.com/services/T0/B0/X"),
        ("T0/B0/X", "https://hooks.slack.com/services", "https://hooks.slack.com/services/T0/B0/X"),
        ("/T0/B0/X", "hooks.slack.com/services/", "https://hooks.slack.com/services/T0/B0/X"),
    ],
)
def test_the_slack_webhook_comes_from_the_password_or_host_and_password(
    password: str, host: str | None, url: str
) -> None:
    assert notifier.slack_webhook_url(password, host) == url


def test_a_slack_connection_without_a_webhook_says_what_is_missing() -> None:
    with pytest.raises(ValueError, match="autoscaler_slack: password must be the webhook URL"):
        notifier.slack_webhook_url("", "https://hooks.slack.com/services")


# ---- real channels: a Slack webhook and an SMTP server on 127.0.0.1 -------------------------


class _Webhook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Webhook.received.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    _Webhook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Webhook.received
    finally:
        server.shutdown()
        server.server_close()


class _SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP to accept a message: what a mail relay says, line by line."""

    messages: ClassVar[list[dict[str, Any]]] = []

    def handle(self) -> None:
        self.wfile.write(b"220 sink ESMTP\r\n")
        message: dict[str, Any] = {"to": [], "data": ""}
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250 sink\r\n")
            elif verb == "MAIL":
                self.wfile.write(b"250 OK\r\n")
            elif verb == "RCPT":
                message["to"].append(command.split(":", 1)[1].strip(" <>"))
                self.wfile.write(b"250 OK\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 go on\r\n")
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    message["data"] += data.decode()
                _SmtpSink.messages.append(message)
                self.wfile.write(b"250 queued\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 OK\r\n")


@pytest.fixture
def smtp_sink() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    _SmtpSink.messages = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpSink)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], _SmtpSink.messages
    finally:
        server.shutdown()
        server.server_close()


def test_notices_go_to_slack_and_email_when_their_connections_exist(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    webhook: tuple[str, list[dict[str, Any]]],
    smtp_sink: tuple[int, list[dict[str, Any]]],
) -> None:
    url, posted = webhook
    port, mails = smtp_sink
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv(
        "AIRFLOW_CONN_AUTOSCALER_SLACK",
        json.dumps({"conn_type": "generic", "password": f"{url}/services/T0/B0/X"}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_AUTOSCALER_SMTP",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": port,
                "extra": {
                    "to": "ads-team@shop.example, oncall@shop.example",
                    "from_email": "autoscaler@shop.example",
                    "disable_tls": True,
                    "disable_ssl": True,
                },
            }
        ),
    )
    notice = approval_notice("act_1001", [UP], UP.approval_deadline)
    assert notifier.send(notice) == ["email", "slack"]
    assert posted[0]["path"] == "/services/T0/B0/X"
    assert posted[0]["body"]["text"].startswith("*act_1001: 1 budget change(s) await approval")
    assert mails[0]["to"] == ["ads-team@shop.example", "oncall@shop.example"]
    assert "Subject: [autoscaler] act_1001: 1 budget change(s) await approval" in mails[0]["data"]


def test_an_email_connection_without_recipients_is_reported_and_the_log_still_has_the_notice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_AUTOSCALER_SMTP", json.dumps({"conn_type": "smtp", "host": "127.0.0.1"}))
    with caplog.at_level(logging.INFO, logger="autoscaler.notify"):
        assert notifier.send(pause_notice("act_1001", [PAUSE])) == []
    assert 'autoscaler_smtp: extra "to" must name at least one address' in caplog.text
    assert "act_1001: paused 1 budget holder(s) on Meta" in caplog.text
