"""The Meta client: the Graph API calls the autoscaler makes, on the facebook-business SDK.

It knows the Graph API and nothing of Airflow.  Every call goes through ``FacebookAdsApi.call``
(so the SDK builds URLs, encodes parameters and signs with appsecret_proof), with:

* retries with exponential backoff and full jitter for transient errors;
* waits as long as Meta's usage headers say when throttled, and slowing down before the
  limit when usage is high;
* typed errors (autoscaler.meta.errors) built from Meta's error object only: the SDK's own
  exception text embeds the request parameters, access token included, and never escapes;
* a count of HTTP requests made, for the run record.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import requests
from facebook_business.api import FacebookAdsApi, FacebookResponse, FacebookSession
from facebook_business.apiconfig import ads_api_config
from facebook_business.exceptions import FacebookRequestError

from autoscaler.meta import frames
from autoscaler.meta.errors import (
    AuthError,
    InsightsTimeoutError,
    MetaError,
    ThrottledError,
    TransientError,
    classify,
    regain_seconds,
    usage_percent,
)

log = logging.getLogger(__name__)

DEFAULT_API_VERSION: str = ads_api_config["API_VERSION"]
MAX_BATCH = 50
MAX_IDS_PER_READ = 50
ADSET_FIELDS = (
    "id,name,campaign_id,status,effective_status,daily_budget,lifetime_budget,learning_stage_info,"
    "campaign{id,name,status,effective_status,daily_budget,lifetime_budget}"
)
INSIGHT_FIELDS = "adset_id,campaign_id,spend,impressions,clicks,actions,action_values"
HOURLY_BREAKDOWN = "hourly_stats_aggregated_by_advertiser_time_zone"
_CONFIG_EXTRAS = {
    "app_id",
    "app_secret",
    "api_version",
    "graph_url",
    "timeout",
    "page_size",
    "insights_page_size",
    "max_attempts",
    "clock",
}


class TokenRedactingFilter(logging.Filter):
    """Rewrites log records so no access token or appsecret_proof survives in them."""

    _PARAM = re.compile(r"(access_token|appsecret_proof)=[^&\s'\"]+")

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._PARAM.sub(r"\1=<redacted>", message)
        for secret in self.secrets:
            if secret:
                cleaned = cleaned.replace(secret, "<redacted>")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def _install_redaction(secrets: Sequence[str]) -> None:
    # urllib3 logs full request URLs (with access_token) at DEBUG.
    secrets = [s for s in secrets if s]
    for name in ("urllib3.connectionpool", "urllib3", "requests", "facebook_business"):
        logger = logging.getLogger(name)
        existing = [f for f in logger.filters if isinstance(f, TokenRedactingFilter)]
        if existing:
            existing[0].secrets = sorted({*existing[0].secrets, *secrets})
        else:
            logger.addFilter(TokenRedactingFilter(secrets))


@dataclass(frozen=True)
class MetaConfig:
    """How to reach Meta. ``repr`` never shows the token or the app secret."""

    access_token: str = field(repr=False)
    app_id: str | None = None
    app_secret: str | None = field(default=None, repr=False)
    api_version: str = DEFAULT_API_VERSION
    graph_url: str = "https://graph.facebook.com"
    connection_id: str = "meta_ads_default"
    timeout: float = 60.0
    page_size: int = 1000  # objects per page of an edge
    insights_page_size: int = 5000  # insights rows per page
    async_rows_threshold: int = 50_000  # larger expected answers go straight to an async report
    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    throttle_default_wait: float = 60.0
    slow_down_at_pct: int = 75
    max_slowdown_seconds: float = 20.0
    async_poll_seconds: float = 2.0
    async_max_wait_seconds: float = 900.0
    purchase_action_types: tuple[str, ...] = (
        "omni_purchase",
        "purchase",
        "offsite_conversion.fb_pixel_purchase",
    )
    # "wall": Meta's now is this machine's (production). "sandbox": the graph_url is the local
    # sandbox, whose simulated Meta lives on a virtual clock that the runs must follow.
    clock: str = "wall"

    def __post_init__(self) -> None:
        if not self.access_token:
            raise ValueError(f"connection {self.connection_id!r}: password (the access token) is empty")
        if not re.fullmatch(r"v[0-9]+\.[0-9]+", self.api_version):
            raise ValueError(
                f"connection {self.connection_id!r}: extra.api_version must look like v26.0, got {self.api_version!r}"
            )
        if self.clock not in ("wall", "sandbox"):
            raise ValueError(
                f"connection {self.connection_id!r}: extra.clock must be wall or sandbox, got {self.clock!r}"
            )
        if not re.match(r"^https?://[^/]+", self.graph_url):
            raise ValueError(
                f"connection {self.connection_id!r}: extra.graph_url must be an http(s) URL, got {self.graph_url!r}"
            )

    @classmethod
    def from_connection(
        cls, password: str | None, extra: Mapping[str, Any], connection_id: str = "meta_ads_default"
    ) -> MetaConfig:
        """From an Airflow connection's password (the token) and extra (app_id, app_secret, api_version, graph_url, ...)."""
        unknown = set(extra) - _CONFIG_EXTRAS
        if unknown:
            raise ValueError(
                f"connection {connection_id!r}: unknown extra field(s) {', '.join(sorted(unknown))}"
            )
        kwargs: dict[str, Any] = {
            k: extra[k] for k in _CONFIG_EXTRAS if k in extra and extra[k] not in (None, "")
        }
        for key, kind in (
            ("timeout", float),
            ("page_size", int),
            ("insights_page_size", int),
            ("max_attempts", int),
        ):
            if key in kwargs:
                kwargs[key] = kind(kwargs[key])
        return cls(access_token=password or "", connection_id=connection_id, **kwargs)


@dataclass(frozen=True)
class AccountInfo:
    account_id: str
    name: str | None
    currency: str
    timezone_name: str


@dataclass(frozen=True)
class BudgetChange:
    """An absolute change to write: a daily budget in minor units and/or a status."""

    entity_id: str
    daily_budget: int | None = None
    status: str | None = None

    def params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.daily_budget is not None:
            out["daily_budget"] = str(int(self.daily_budget))
        if self.status is not None:
            out["status"] = self.status
        return out


@dataclass
class WriteResult:
    entity_id: str
    ok: bool
    response: dict[str, Any] | None = None
    error: MetaError | None = None


class MetaClient:
    """One access token's view of the Graph API."""

    def __init__(
        self,
        config: MetaConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._rng = rng or random.Random()
        session = FacebookSession(
            config.app_id, config.app_secret, config.access_token, timeout=config.timeout
        )
        session.GRAPH = config.graph_url.rstrip("/")  # the SDK's host is a plain attribute
        # Built directly, not with FacebookAdsApi.init(): no global default, no crash reporter
        # (which would post tracebacks to the real Graph host).
        self._api = FacebookAdsApi(session, api_version=config.api_version)
        self.requests_made = 0
        self.usage_pct = 0
        self.waited_seconds = 0.0
        _install_redaction([config.access_token, config.app_secret or ""])

    def __repr__(self) -> str:
        return f"MetaClient(graph_url={self.config.graph_url!r}, connection={self.config.connection_id!r})"

    def now(self) -> datetime:
        """Meta's current time: the wall clock, or the sandbox's virtual clock."""
        if self.config.clock == "wall":
            return datetime.now(UTC)
        with requests.get(
            f"{self.config.graph_url.rstrip('/')}/__sandbox/state", timeout=self.config.timeout
        ) as answer:
            answer.raise_for_status()
            return datetime.fromisoformat(answer.json()["now"])

    # ---- transport ----------------------------------------------------------------------

    def _wait(self, seconds: float, why: str) -> None:
        if seconds > 0:
            log.info("waiting %.1fs: %s", seconds, why)
            self.waited_seconds += seconds
            self._sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0, min(self.config.backoff_cap, self.config.backoff_base * 2**attempt))

    def _once(
        self, method: str, path: tuple[str, ...] | str, params: Mapping[str, Any] | None
    ) -> tuple[Any, Mapping[str, str]]:
        self.requests_made += 1
        try:
            response: FacebookResponse = self._api.call(method, path, params=dict(params or {}))
        except FacebookRequestError as exc:
            raise classify(
                exc.http_status(),
                exc.body(),
                exc.http_headers() or {},
                connection_id=self.config.connection_id,
                default_wait=self.config.throttle_default_wait,
            ) from None
        except requests.Timeout:
            raise TransientError(f"no answer from Meta within {self.config.timeout:.0f}s") from None
        except requests.ConnectionError:
            raise TransientError("could not connect to Meta's Graph API") from None
        body = response.json()
        headers = response.headers() or {}
        if not isinstance(body, dict | list):
            raise TransientError(
                "Meta answered with a malformed body (not JSON)", http_status=response.status()
            )
        self._note_usage(headers)
        return body, headers

    def _note_usage(self, headers: Mapping[str, str]) -> None:
        self.usage_pct = usage_percent(headers)
        threshold = self.config.slow_down_at_pct
        if self.usage_pct >= threshold:
            share = (self.usage_pct - threshold) / max(100 - threshold, 1)
            pause = max(
                share * self.config.max_slowdown_seconds,
                regain_seconds(headers) if self.usage_pct >= 100 else 0,
            )
            self._wait(pause, f"Meta usage at {self.usage_pct}%, slowing down before the limit")

    def _send(self, method: str, path: tuple[str, ...] | str, params: Mapping[str, Any] | None = None) -> Any:
        """One call, retried while the error says so, up to max_attempts."""
        for attempt in range(self.config.max_attempts):
            try:
                return self._once(method, path, params)[0]
            except MetaError as exc:
                if not exc.retryable or attempt == self.config.max_attempts - 1:
                    raise
                wait = exc.wait_seconds if isinstance(exc, ThrottledError) else self._backoff(attempt)
                log.warning(
                    "%s %s: %s; retry %d of %d",
                    method,
                    _describe(path),
                    exc,
                    attempt + 1,
                    self.config.max_attempts - 1,
                )
                self._wait(wait, "retry")
        raise AssertionError("unreachable")

    def _pages(
        self, path: tuple[str, ...], params: Mapping[str, Any], page_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of an edge, following paging.next (the end is the absence of next)."""
        body = self._send("GET", path, {"limit": page_size or self.config.page_size, **params})
        while True:
            yield from body.get("data", [])
            next_url = (body.get("paging") or {}).get("next")
            if not next_url:
                return
            body = self._send("GET", next_url, None)

    # ---- reads --------------------------------------------------------------------------

    def list_accounts(self) -> list[AccountInfo]:
        return [
            self._account(a)
            for a in self._pages(("me", "adaccounts"), {"fields": "id,name,currency,timezone_name"})
        ]

    def get_account(self, account_id: str) -> AccountInfo:
        return self._account(self._send("GET", (account_id,), {"fields": "id,name,currency,timezone_name"}))

    @staticmethod
    def _account(data: Mapping[str, Any]) -> AccountInfo:
        name = data.get("name")
        if isinstance(name, str):
            # A name is only shown to people: whatever Meta sends, it is kept printable and at
            # most 200 characters (what the store accepts), rather than failing the hourly run.
            name = "".join(c for c in name if c.isprintable() or c == " ")[:200] or None
        return AccountInfo(str(data["id"]), name, str(data["currency"]), str(data["timezone_name"]))

    def debug_token(self) -> dict[str, Any]:
        """What Meta knows of this token (GET /debug_token): is_valid, expires_at (0: never), scopes."""
        body = self._send("GET", ("debug_token",), {"input_token": self.config.access_token})
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise TransientError("Meta answered debug_token with a malformed body")
        return data

    def account_access(self, account_id: str) -> tuple[AccountInfo, list[str], dict[str, str]]:
        """The account, this token's tasks on it (user_tasks: MANAGE, ADVERTISE, ANALYZE, ...) and
        the usage headers Meta sent with the answer (for autoscaler doctor)."""
        body, headers = self._once(
            "GET", (account_id,), {"fields": "id,name,currency,timezone_name,user_tasks"}
        )
        tasks = body.get("user_tasks") if isinstance(body, dict) else None
        return self._account(body), [str(t) for t in tasks or []], dict(headers)

    def list_budget_holders(self, account_id: str) -> pd.DataFrame:
        """CBO campaigns and ABO ad sets with budget, status and learning state (one edge read)."""
        with warnings.catch_warnings():
            # The SDK's field checker does not know nested expansion; the Graph API does.
            warnings.filterwarnings("ignore", message=".*does not allow field.*")
            return frames.budget_holders(self._pages((account_id, "adsets"), {"fields": ADSET_FIELDS}))

    def insights(
        self,
        account_id: str,
        currency: str,
        *,
        date_preset: str | None = None,
        time_range: tuple[str, str] | None = None,
        hourly: bool = False,
        use_async: bool | None = None,
        expected_rows: int | None = None,
    ) -> pd.DataFrame:
        """Ad-set level insights (money in minor units); hourly rows carry no purchases, as Meta's.

        Synchronous unless ``use_async`` says otherwise, ``expected_rows`` exceeds the async
        threshold, or Meta answers that the synchronous query timed out.
        """
        if (
            use_async is None
            and expected_rows is not None
            and expected_rows > self.config.async_rows_threshold
        ):
            use_async = True
        params: dict[str, Any] = {"level": "adset", "fields": INSIGHT_FIELDS, "time_increment": 1}
        if time_range is not None:
            params["time_range"] = {"since": time_range[0], "until": time_range[1]}
        else:
            params["date_preset"] = date_preset or "today"
        if hourly:
            params["breakdowns"] = [HOURLY_BREAKDOWN]
        if use_async:
            rows = self._async_insights(account_id, params)
        else:
            try:
                rows = list(self._pages((account_id, "insights"), params, self.config.insights_page_size))
            except InsightsTimeoutError:
                if use_async is False:
                    raise
                log.info("synchronous insights for %s timed out; running it as an async report", account_id)
                rows = self._async_insights(account_id, params)
        return frames.insights(rows, currency, self.config.purchase_action_types)

    def _async_insights(self, account_id: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        for attempt in range(self.config.max_attempts):
            run_id = str(self._send("POST", (account_id, "insights"), params)["report_run_id"])
            waited = 0.0
            while True:
                status = self._send("GET", (run_id,), {"fields": "async_status,async_percent_completion"})
                state = status.get("async_status")
                if state == "Job Completed":
                    return list(self._pages((run_id, "insights"), {}, self.config.insights_page_size))
                if state in ("Job Failed", "Job Skipped"):
                    break
                if waited >= self.config.async_max_wait_seconds:
                    raise TransientError(f"async report {run_id} not done after {waited:.0f}s")
                self._wait(
                    self.config.async_poll_seconds,
                    f"async report {run_id} at {status.get('async_percent_completion')}%",
                )
                waited += self.config.async_poll_seconds
            log.warning(
                "async report %s ended %s; attempt %d of %d",
                run_id,
                state,
                attempt + 1,
                self.config.max_attempts,
            )
            self._wait(self._backoff(attempt), "async report retry")
        raise TransientError(f"async insights for {account_id} failed {self.config.max_attempts} times")

    def read_budgets(self, entity_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """What Meta holds now for each id: daily_budget (int, minor units or None) and status."""
        held: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(entity_ids), MAX_IDS_PER_READ):
            body = self._send(
                "GET", (), {"ids": ",".join(chunk), "fields": "id,daily_budget,status,effective_status"}
            )
            if not isinstance(body, dict) or not all(isinstance(o, dict) for o in body.values()):
                # Valid JSON of the wrong shape is as malformed as a truncated body: typed, so
                # the task's retry reads again, never a raw AttributeError.
                raise TransientError("Meta answered a budget read with a malformed body")
            for entity_id, obj in body.items():
                budget = obj.get("daily_budget")
                held[entity_id] = {
                    "daily_budget": int(budget) if budget not in (None, "") else None,
                    "status": obj.get("status"),
                    "effective_status": obj.get("effective_status"),
                }
        return held

    # ---- writes -------------------------------------------------------------------------

    def apply(
        self,
        changes: Sequence[BudgetChange],
        on_final: Callable[[list[tuple[int, WriteResult]]], None] | None = None,
    ) -> list[WriteResult]:
        """Write absolute budgets/statuses in batches of at most 50, retrying what may be retried.

        Returns one result per change, in order.  ``on_final`` is called after every batch with
        the (index, result) pairs that batch settled for good, before the next request is sent,
        so a caller can record each write Meta acknowledged before anything else can fail.  An
        AuthError stops everything and is raised (after ``on_final`` has seen its batch).
        """
        results: dict[int, WriteResult] = {}
        pending = list(range(len(changes)))
        for attempt in range(self.config.max_attempts):
            if not pending:
                break
            retry: list[int] = []
            longest_wait = 0.0
            for chunk in _chunks(pending, MAX_BATCH):
                outcomes = self._batch([changes[i] for i in chunk])
                settled: list[tuple[int, WriteResult]] = []
                for index, outcome in zip(chunk, outcomes, strict=True):
                    if (
                        outcome.ok
                        or outcome.error is None
                        or not outcome.error.retryable
                        or attempt == self.config.max_attempts - 1
                    ):
                        results[index] = outcome
                        settled.append((index, outcome))
                    else:
                        retry.append(index)
                        if isinstance(outcome.error, ThrottledError):
                            longest_wait = max(longest_wait, outcome.error.wait_seconds)
                if on_final is not None and settled:
                    on_final(settled)
                auth = next((o.error for _, o in settled if isinstance(o.error, AuthError)), None)
                if auth is not None:
                    raise auth
            pending = retry
            if pending:
                self._wait(max(longest_wait, self._backoff(attempt)), f"{len(pending)} writes to retry")
        return [results[i] for i in range(len(changes))]

    def _batch(self, changes: Sequence[BudgetChange]) -> list[WriteResult]:
        """One batch request; per-call outcomes (the whole batch failing fails every call)."""
        outcomes: list[WriteResult | None] = [None] * len(changes)
        batch = self._api.new_batch()

        def record(i: int) -> tuple[Callable[[FacebookResponse], None], Callable[[FacebookResponse], None]]:
            def ok(response: FacebookResponse) -> None:
                body = response.json()
                outcomes[i] = WriteResult(
                    changes[i].entity_id, True, body if isinstance(body, dict) else {"raw": str(body)}
                )

            def failed(response: FacebookResponse) -> None:
                body = response.json()
                error = classify(
                    response.status(),
                    body if isinstance(body, dict) else {},
                    _batch_headers(response.headers()),
                    connection_id=self.config.connection_id,
                    default_wait=self.config.throttle_default_wait,
                )
                outcomes[i] = WriteResult(
                    changes[i].entity_id, False, body if isinstance(body, dict) else None, error
                )

            return ok, failed

        for i, change in enumerate(changes):
            ok, failed = record(i)
            batch.add("POST", (change.entity_id,), params=change.params(), success=ok, failure=failed)
        try:
            self.requests_made += 1
            batch.execute()
        except FacebookRequestError as exc:
            error = classify(
                exc.http_status(),
                exc.body(),
                exc.http_headers() or {},
                connection_id=self.config.connection_id,
                default_wait=self.config.throttle_default_wait,
            )
            return [WriteResult(c.entity_id, False, None, error) for c in changes]
        except (requests.Timeout, requests.ConnectionError):
            # The writes may or may not have landed: callers re-read before writing again.
            error = TransientError("no answer from Meta for a batch of writes")
            return [WriteResult(c.entity_id, False, None, error) for c in changes]
        except (ValueError, TypeError, AttributeError, KeyError, IndexError):
            # The SDK walks Meta's answer as it parses it: a truncated or mangled body surfaces
            # as whatever Python error that walk hits.  Calls already answered keep their
            # outcome; the rest may or may not have been written, so they are transient (the
            # retry re-reads nothing and writes the same absolute value again, which is harmless).
            error = TransientError("Meta answered a batch with a malformed body; the write may have landed")
            return [
                outcome or WriteResult(changes[i].entity_id, False, None, error)
                for i, outcome in enumerate(outcomes)
            ]
        return [
            outcome
            or WriteResult(
                changes[i].entity_id, False, None, TransientError("no answer for this call in the batch")
            )
            for i, outcome in enumerate(outcomes)
        ]


def _batch_headers(headers: Any) -> dict[str, str]:
    if isinstance(headers, list):
        return {str(h.get("name")): str(h.get("value")) for h in headers if isinstance(h, dict)}
    return dict(headers or {})


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _describe(path: tuple[str, ...] | str) -> str:
    if isinstance(path, str):
        return re.sub(r"\?.*$", "", path)  # never log query strings: they may carry tokens
    return "/" + "/".join(path)


def dump_safe(data: Any) -> str:
    """JSON for storing Meta's answers (they never contain our token)."""
    return json.dumps(data, default=str, sort_keys=True)
