"""The sandbox's HTTP server: a local Graph API the real facebook-business SDK talks to.

Point the SDK at it with ``FacebookSession.GRAPH = server.url`` (the Meta client does this
from the connection's ``graph_url``).  It binds to 127.0.0.1 only.  Besides the Graph routes
(``/v<major>.<minor>/...``) it serves control routes for tests, the demo and benchmarks under
``/__sandbox/`` (clock, request log, budget history, planted truth), which need no token.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from autoscaler.sandbox.faults import FaultPlan
from autoscaler.sandbox.graph import GraphAPI, GraphError, invalid
from autoscaler.sandbox.scenario import Scenario
from autoscaler.sandbox.simulator import Simulator

log = logging.getLogger(__name__)

VERSION = re.compile(r"^/(v[0-9]+\.[0-9]+)(/.*)?$")
MAX_BATCH = 50
READ_POINTS, WRITE_POINTS = 1, 3


@dataclass
class RateLimiter:
    """Meta's scored limit per ad account: reads 1 point, writes 3; the score decays."""

    max_score: float = 9_000.0
    decay_seconds: float = 300.0
    block_seconds: float = 60.0
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)  # account -> (score, at)
    blocked_until: dict[str, float] = field(default_factory=dict)

    def _score(self, account: str, now: float) -> float:
        score, at = self.scores.get(account, (0.0, now))
        return max(0.0, score - (now - at) * self.max_score / self.decay_seconds)

    def charge(self, account: str, points: float, now: float) -> bool:
        """Add points; False when the account is (now) blocked."""
        if self.blocked_until.get(account, 0.0) > now:
            return False
        score = self._score(account, now) + points
        self.scores[account] = (score, now)
        if score > self.max_score:
            self.blocked_until[account] = now + self.block_seconds
            return False
        return True

    def block(self, account: str, now: float) -> None:
        self.blocked_until[account] = now + self.block_seconds
        self.scores[account] = (self.max_score, now)

    def usage_pct(self, account: str, now: float) -> int:
        if self.blocked_until.get(account, 0.0) > now:
            return 100
        return min(100, int(100 * self._score(account, now) / self.max_score))

    def regain_minutes(self, account: str, now: float) -> int:
        left = self.blocked_until.get(account, 0.0) - now
        return max(0, int(-(-left // 60)))


@dataclass
class Sandbox:
    """Everything one running sandbox holds; one lock serialises Graph calls on it."""

    scenario: Scenario
    seed: int = 0
    faults: FaultPlan = field(default_factory=FaultPlan)
    base_url: str = ""
    # Rate limits run on wall-clock time; tests inject a fake clock shared with the client.
    wall_time: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self.sim = Simulator(self.scenario, self.seed)
        self.graph = GraphAPI(self.sim, self.base_url)
        self.graph.async_polls = self.faults.async_polls
        self.graph.sync_rows_limit = self.faults.sync_rows
        self.graph.async_fail_next = self.faults.async_fails  # type: ignore[method-assign]
        self.graph.access_token = self.scenario.access_token
        self.graph.token_expires_in_hours = self.faults.token_expires_in_hours
        self.graph.scopes = tuple(s for s in self.graph.scopes if s not in self.faults.missing_scopes)
        self.graph.unreachable = frozenset(self.faults.unreachable)
        self.graph.read_only_accounts = frozenset(self.faults.read_only)
        self.graph.account_overrides = self.faults.account_overrides
        self.limiter = RateLimiter(
            max_score=self.faults.max_score,
            decay_seconds=self.faults.decay_seconds,
            block_seconds=self.faults.block_seconds,
        )
        self.lock = threading.RLock()
        self.requests: list[dict[str, Any]] = []
        self.graph_requests = 0
        self.batch_calls_failed = 0  # calls inside batches answered with an injected failure
        self.token_expired = False

    # ---- one HTTP request ---------------------------------------------------------------

    def respond(
        self, method: str, raw_path: str, params: dict[str, str]
    ) -> tuple[int, Any, dict[str, str], str | None]:
        """(HTTP status, JSON body or raw text, headers, fault injected) for one Graph request."""
        match = VERSION.match(raw_path)
        if not match:
            error = invalid(f"Unknown path {raw_path}: Graph paths start with /vNN.N/")
            return 400, {"error": error.body}, {}, None
        version, path = match.group(1), (match.group(2) or "/").strip("/")
        with self.lock:
            self.graph_requests += 1
            number = self.graph_requests
            fault = self.faults.draw(number)
            entry: dict[str, Any] = {
                "n": number,
                "at": self.wall_time(),
                "virtual_now": self.sim.now.isoformat(),
                "method": method,
                "path": path,
                "account": _account_of(path, params),
                "reads": 0,
                "writes": 0,
                "status": 200,
                "error_code": None,
                "fault": fault,
            }
            self.requests.append(entry)
            status, body, headers = self._answer(method, path, params, version, fault, entry)
            entry["status"] = status
            if isinstance(body, dict) and "error" in body:
                entry["error_code"] = body["error"].get("code")
            return status, body, headers, fault

    def _answer(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        version: str,
        fault: str | None,
        entry: dict[str, Any],
    ) -> tuple[int, Any, dict[str, str]]:
        now = self.wall_time()
        account = entry["account"]
        if fault == "expire" or (
            self.faults.expire_after is not None and entry["n"] > self.faults.expire_after
        ):
            self.token_expired = True
        try:
            self._authenticate(params)
        except GraphError as exc:
            return exc.status, {"error": exc.body}, {}
        if fault == "5xx":
            code = 2 if entry["n"] % 2 else 1
            message = "Service temporarily unavailable" if code == 2 else "An unknown error occurred"
            return 500, {"error": GraphError(500, message, code, is_transient=True).body}, {}
        if fault == "throttle" and account:
            self.limiter.block(account, now)
        calls = self._calls(method, path, params)
        reads = sum(1 for c in calls if c[0] == "GET")
        writes = len(calls) - reads
        entry["reads"], entry["writes"] = reads, writes
        if account and not self.limiter.charge(account, reads * READ_POINTS + writes * WRITE_POINTS, now):
            error = GraphError(
                400,
                "There have been too many calls to this ad-account. Wait a bit and try again.",
                80004,
                2446079,
                is_transient=True,
                error_user_title="Too many calls",
                error_user_msg="Too many calls to this ad account; wait and try again.",
            )
            return 400, {"error": error.body}, self._usage_headers(account, now)
        if method == "POST" and path == "":
            status, body = self._batch(params, version)
        else:
            try:
                status, body = 200, self.graph.handle(method, path, params, version=version)
            except GraphError as exc:
                status, body = exc.status, {"error": exc.body}
        headers = self._usage_headers(account, now) if account else {}
        if fault == "malformed" and status == 200:
            text = json.dumps(body)
            return 200, text[: max(1, len(text) // 2)], headers
        return status, body, headers

    def _authenticate(self, params: dict[str, str]) -> None:
        token = params.get("access_token")
        if not token or token != self.scenario.access_token:
            raise GraphError(
                400, "Invalid OAuth access token - Cannot parse access token", 190, type="OAuthException"
            )
        if self.token_expired:
            raise GraphError(
                400,
                f"Error validating access token: Session has expired on {datetime.now().strftime('%A, %d-%b-%y %H:%M:%S')} PST.",
                190,
                463,
                type="OAuthException",
            )
        if self.scenario.app_secret is not None:
            expected = hmac.new(self.scenario.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(params.get("appsecret_proof", ""), expected):
                raise GraphError(
                    400,
                    "Invalid appsecret_proof provided in the API argument",
                    100,
                    type="GraphMethodException",
                )

    @staticmethod
    def _calls(method: str, path: str, params: dict[str, str]) -> list[tuple[str, str]]:
        if method == "POST" and path == "":
            try:
                batch = json.loads(params.get("batch", "[]"))
            except json.JSONDecodeError:
                return [("POST", "")]
            return [(str(c.get("method", "GET")).upper(), str(c.get("relative_url", ""))) for c in batch]
        return [(method, path)]

    def _batch(self, params: dict[str, str], version: str) -> tuple[int, Any]:
        try:
            batch = json.loads(params.get("batch", ""))
            assert isinstance(batch, list)
        except (json.JSONDecodeError, AssertionError):
            return 400, {"error": invalid("Param batch must be a JSON array of requests").body}
        if len(batch) > MAX_BATCH:
            return 400, {
                "error": invalid(
                    f"Too many requests in batch. Maximum batch size is {MAX_BATCH}", 1357046
                ).body
            }
        answers: list[dict[str, Any]] = []
        for call in batch:
            method = str(call.get("method", "GET")).upper()
            url = urlsplit(str(call.get("relative_url", "")))
            sub_path = re.sub(r"^/?v[0-9]+\.[0-9]+/", "", url.path).strip("/")
            sub_params = dict(parse_qsl(url.query))
            sub_params.update(parse_qsl(str(call.get("body", ""))))
            sub_params.setdefault("access_token", params.get("access_token", ""))
            if "appsecret_proof" in params:
                sub_params.setdefault("appsecret_proof", params["appsecret_proof"])
            if self.faults.batch_call_fails():
                self.batch_calls_failed += 1
                error = GraphError(500, "Service temporarily unavailable", 2, is_transient=True)
                answers.append(_batch_answer(500, {"error": error.body}))
                continue
            try:
                answers.append(
                    _batch_answer(200, self.graph.handle(method, sub_path, sub_params, version=version))
                )
            except GraphError as exc:
                answers.append(_batch_answer(exc.status, {"error": exc.body}))
        return 200, answers

    def _usage_headers(self, account: str | None, now: float) -> dict[str, str]:
        if not account:
            return {}
        pct = max(self.limiter.usage_pct(account, now), self.faults.usage_floor)
        regain = self.limiter.regain_minutes(account, now)
        business = {
            "1234567890": [
                {
                    "type": "ads_management",
                    "call_count": pct,
                    "total_cputime": max(1, pct // 2),
                    "total_time": max(1, pct // 2),
                    "estimated_time_to_regain_access": regain,
                }
            ]
        }
        return {
            "x-business-use-case-usage": json.dumps(business),
            "x-ad-account-usage": json.dumps(
                {
                    "acc_id_util_pct": pct,
                    "reset_time_duration": max(
                        0, math.ceil(self.limiter.blocked_until.get(account, 0.0) - now)
                    ),
                    "ads_api_access_tier": "standard_access",
                }
            ),
            "x-fb-ads-insights-throttle": json.dumps(
                {"app_id_util_pct": min(pct, 100), "acc_id_util_pct": pct}
            ),
        }

    # ---- control ------------------------------------------------------------------------

    def control(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        with self.lock:
            if path == "state" and method == "GET":
                return 200, {
                    "scenario": self.scenario.name,
                    "seed": self.seed,
                    "now": self.sim.now.isoformat(),
                    "completed_hours": self.sim.completed_hours,
                    "graph_requests": self.graph_requests,
                    "batch_calls_failed": self.batch_calls_failed,
                    # A local stand-in's token, to paste into the connection (never a real one).
                    "access_token": self.scenario.access_token,
                    "connection": json.loads(connection_json(self.scenario, self.base_url)),
                }
            if path == "clock" and method == "POST":
                if "to" in body:
                    target = datetime.fromisoformat(str(body["to"]).replace("Z", "+00:00"))
                else:
                    from datetime import timedelta

                    target = self.sim.now + timedelta(hours=float(body.get("advance_hours", 1)))
                self.sim.advance_to(target)
                return 200, {"now": self.sim.now.isoformat()}
            if path == "requests" and method == "GET":
                return 200, self.requests
            if path == "requests" and method == "DELETE":
                self.requests.clear()
                return 200, {"cleared": True}
            if path == "history" and method == "GET":
                return 200, self.sim.history
            if path == "token" and method == "POST":
                # {"expired": true} expires the access token now; false re-issues it (the
                # operator rotated it), which also ends an ``expire_after`` fault.
                self.token_expired = bool(body.get("expired", False))
                if not self.token_expired:
                    self.faults.expire_after = None
                return 200, {"expired": self.token_expired}
            if path == "truth" and method == "GET":
                return 200, {"peaks": self.sim.planted_peaks, "valleys": self.sim.planted_valleys}
        return 404, {"error": f"no control route {method} /__sandbox/{path}"}


def connection_json(scenario: Scenario, url: str) -> str:
    """The Airflow connection meta_ads_default for a sandbox at ``url``, as AIRFLOW_CONN_... JSON.

    ``clock: sandbox`` makes the runs read Meta's "now" from the sandbox's virtual clock."""
    extra: dict[str, str] = {"graph_url": url, "clock": "sandbox"}
    if scenario.app_secret is not None:
        extra["app_secret"] = scenario.app_secret
    return json.dumps({"conn_type": "generic", "password": scenario.access_token, "extra": extra})


def _account_of(path: str, params: dict[str, str]) -> str | None:
    head = path.split("/", 1)[0]
    return head if head.startswith("act_") else None


def _batch_answer(code: int, body: Any) -> dict[str, Any]:
    return {
        "code": code,
        "headers": [{"name": "Content-Type", "value": "text/javascript; charset=UTF-8"}],
        "body": json.dumps(body),
    }


class _Handler(BaseHTTPRequestHandler):
    server: SandboxHTTPServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, keep-alive clients wait
    # ~40 ms for the delayed ACK on every request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        # Never echo request lines: they carry access tokens.
        return

    def _params(self) -> tuple[str, dict[str, str], bytes]:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if raw and "application/json" not in (self.headers.get("Content-Type") or ""):
            params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        return url.path, params, raw

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        path, params, raw = self._params()
        sandbox = self.server.sandbox
        if path.startswith("/__sandbox/"):
            body = json.loads(raw) if raw and raw.strip().startswith(b"{") else {}
            status, answer = sandbox.control(method, path.removeprefix("/__sandbox/").strip("/"), body)
            self._send(status, answer)
            return
        status, body, headers, fault = sandbox.respond(method, path, params)
        if fault == "timeout":
            # Answer late, outside the lock, so a slow answer does not stall other requests.
            time.sleep(sandbox.faults.timeout_delay)
            # The client stopped waiting, as the fault meant it to: no traceback on stderr.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._send(status, body, headers)
            return
        self._send(status, body, headers)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sandbox: Sandbox, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.sandbox = sandbox
        sandbox.base_url = self.url
        sandbox.graph.base_url = self.url

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class RunningSandbox:
    """A sandbox served from a background thread: ``with RunningSandbox(...) as sb: sb.url``."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int = 0,
        faults: FaultPlan | None = None,
        port: int = 0,
        wall_time: Callable[[], float] = time.time,
    ) -> None:
        self.sandbox = Sandbox(scenario, seed, faults or FaultPlan(), wall_time=wall_time)
        self.httpd = SandboxHTTPServer(self.sandbox, port)
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="meta-sandbox", daemon=True)

    @property
    def url(self) -> str:
        return self.httpd.url

    def __enter__(self) -> RunningSandbox:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
