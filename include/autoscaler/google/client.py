"""The Google Ads client: the calls the autoscaler makes, on the official google-ads library.

It knows the Google Ads API and nothing of Airflow.  Reads are GAQL through
``GoogleAdsService.SearchStream`` (one request streams every row); writes are
``CampaignBudgetService.MutateCampaignBudgets`` (amounts) and
``CampaignService.MutateCampaigns`` (status: a budget pauses by pausing every campaign that
shares it), with ``partial_failure`` so good operations land and bad ones are reported one by
one, in batches of at most 10,000 operations.  Every call goes through the library's service
clients and interceptors, with:

* retries with exponential backoff and full jitter for transient errors;
* waits as long as Google's quota error says (``retry_delay``) when rate limited;
* typed errors (autoscaler.google.errors, subclasses of the Meta ones) from the
  GoogleAdsFailure and the gRPC status, never from the library's text;
* a count of requests made, for the run record.

Production uses ``GoogleAdsClient.load_from_dict`` and ``get_service`` as Google documents.
The sandbox (``endpoint`` set, a loopback ``host:port``) gets the same generated service
clients over a channel with gRPC's local credentials: the library's ``endpoint`` setting
alone cannot reach a local server, because ``get_service`` always opens a TLS channel.
"""

from __future__ import annotations

import importlib
import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import grpc
import pandas as pd
from google.ads.googleads.client import GoogleAdsClient
from google.ads.googleads.errors import GoogleAdsException
from google.ads.googleads.interceptors import ExceptionInterceptor, MetadataInterceptor
from google.ads.googleads.util import convert_upper_case_to_snake_case
from google.ads.googleads.v26.errors.types import errors as ads_errors
from google.api_core import exceptions as core_exceptions
from google.auth import exceptions as auth_exceptions
from google.oauth2.credentials import Credentials
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from autoscaler.google import frames
from autoscaler.google.api import API_VERSION, FAILURE_KEY, MAX_MUTATE_OPERATIONS, REQUEST_ID_KEY
from autoscaler.google.errors import (
    GoogleAdsError,
    GoogleAuthError,
    GoogleThrottledError,
    GoogleTransientError,
    classify_errors,
    from_status,
)
from autoscaler.meta.client import AccountInfo, BudgetChange, WriteResult

log = logging.getLogger(__name__)

CONN_ID = "google_ads_default"
CONTROL_STATE = "/autoscaler.sandbox.v1.Control/State"
LOOPBACK = re.compile(r"^(127\.0\.0\.1|localhost|\[::1\]):[0-9]{1,5}$")
HOLDER_QUERY = (
    "SELECT customer.currency_code, campaign.id, campaign.name, campaign.status, "
    "campaign.bidding_strategy_system_status, "
    "campaign_budget.id, campaign_budget.name, campaign_budget.amount_micros, "
    "campaign_budget.total_amount_micros, campaign_budget.period "
    "FROM campaign WHERE campaign.status != 'REMOVED'"
)
METRICS = (
    "campaign.campaign_budget, segments.date, metrics.cost_micros, metrics.impressions, "
    "metrics.clicks, metrics.conversions, metrics.conversions_value"
)
T = TypeVar("T")


class GoogleConfig(BaseModel):
    """How to reach Google Ads: an Airflow ``google_ads`` connection's extras, validated.

    The extras are the Airflow Google provider's (``developer_token``, ``client_id``,
    ``client_secret``, ``refresh_token``, ``login_customer_id``), so one connection serves
    both.  ``endpoint`` and ``access_token`` are for the local sandbox only.  ``repr`` never
    shows a secret.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    developer_token: SecretStr
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    login_customer_id: Annotated[str, Field(pattern=r"^[0-9]{10}$")] | None = None
    endpoint: str | None = None  # a loopback host:port: the sandbox
    access_token: SecretStr | None = None  # the sandbox's fixed bearer token
    connection_id: str = CONN_ID
    timeout: Annotated[float, Field(gt=0, le=3600)] = 120.0
    batch_size: Annotated[int, Field(ge=1, le=MAX_MUTATE_OPERATIONS)] = MAX_MUTATE_OPERATIONS
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 6
    backoff_base: Annotated[float, Field(ge=0, le=60)] = 1.0
    backoff_cap: Annotated[float, Field(ge=0, le=600)] = 60.0
    throttle_default_wait: Annotated[float, Field(ge=0, le=3600)] = 30.0
    # "wall": Google's now is this machine's; "sandbox": the sandbox's virtual clock.
    clock: Literal["wall", "sandbox"] = "wall"

    @model_validator(mode="after")
    def _complete(self) -> GoogleConfig:
        if not self.developer_token.get_secret_value():
            raise ValueError("developer_token: required")
        if self.endpoint is not None:
            if not LOOPBACK.match(self.endpoint):
                raise ValueError(
                    f"endpoint: the sandbox listens on a loopback host:port such as 127.0.0.1:50051, got {self.endpoint!r}"
                )
            if self.access_token is None:
                raise ValueError("access_token: required with endpoint (the sandbox's bearer token)")
        else:
            for name in ("client_id", "client_secret", "refresh_token"):
                if not getattr(self, name):
                    raise ValueError(f"{name}: required (the OAuth client and its refresh token)")
        return self

    @classmethod
    def from_connection(cls, extra: Mapping[str, Any], connection_id: str = CONN_ID) -> GoogleConfig:
        """From an Airflow connection's extras; one line naming the field when they are wrong.

        The provider's flat extras, or its legacy nested ``google_ads_client`` object.  Its
        service-account flow (``json_key_file_path``, ``impersonated_email``) is not supported
        here: it is refused by name rather than half used.
        """
        if isinstance(extra.get("google_ads_client"), Mapping):
            extra = {
                **extra["google_ads_client"],
                **{k: v for k, v in extra.items() if k != "google_ads_client"},
            }
        for name in ("json_key_file_path", "impersonated_email"):
            if extra.get(name):
                raise ValueError(
                    f"connection {connection_id!r}: extra.{name}: the service-account flow is not supported; "
                    "give client_id, client_secret and refresh_token"
                )
        values = {k: v for k, v in extra.items() if v not in (None, "") and k != "use_proto_plus"}
        try:
            return cls(**values, connection_id=connection_id)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "extra"
            message = str(first["msg"]).removeprefix("Value error, ")
            if first["type"] == "extra_forbidden":
                message = "unknown field"
            prefix = "" if message.split(":")[0] in cls.model_fields else f"extra.{where}: "
            raise ValueError(f"connection {connection_id!r}: {prefix}{message}") from None


class GoogleClient:
    """One Google Ads connection's view of its customers."""

    def __init__(
        self,
        config: GoogleConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._library: GoogleAdsClient | None = None
        self._services: dict[str, Any] = {}
        self._currency: dict[str, str] = {}
        self.requests_made = 0
        self.waited_seconds = 0.0

    @property
    def _ads(self) -> GoogleAdsClient:
        """The library's client, built at first use: for Google's host, building it refreshes the
        OAuth token (a network call), whose failure is a typed error like any other."""
        if self._library is None:
            try:
                self._library = self._build()
            except auth_exceptions.GoogleAuthError as exc:
                raise self._typed(exc) from None
        return self._library

    def _build(self) -> GoogleAdsClient:
        config = self.config
        secret = SecretStr.get_secret_value
        login = config.login_customer_id
        if config.endpoint is None:
            return GoogleAdsClient.load_from_dict(
                {
                    "developer_token": secret(config.developer_token),
                    "client_id": config.client_id,
                    "client_secret": secret(config.client_secret) if config.client_secret else None,
                    "refresh_token": secret(config.refresh_token) if config.refresh_token else None,
                    "login_customer_id": login,
                    "use_proto_plus": True,
                },
                version=API_VERSION,
            )
        # The sandbox: a fixed bearer token, no refresh token, so nothing is ever refreshed.
        token = secret(config.access_token) if config.access_token else ""
        return GoogleAdsClient(
            Credentials(token=token),  # type: ignore[no-untyped-call]
            developer_token=secret(config.developer_token),
            login_customer_id=login,
            version=API_VERSION,
            use_proto_plus=True,
        )

    def __repr__(self) -> str:
        return f"GoogleClient(endpoint={self.config.endpoint or 'googleads.googleapis.com'!r}, connection={self.config.connection_id!r})"

    # ---- services -------------------------------------------------------------------------

    def service(self, name: str) -> Any:
        """The library's service client, e.g. ``GoogleAdsService``."""
        if name not in self._services:
            self._services[name] = (
                self._ads.get_service(name, version=API_VERSION)
                if self.config.endpoint is None
                else self._local_service(name)
            )
        return self._services[name]

    def _local_service(self, name: str) -> Any:
        """The generated client over a local channel, with the library's own interceptors
        (developer-token and login-customer-id headers; GoogleAdsFailure into GoogleAdsException)
        and its OAuth credentials, as ``get_service`` builds it for Google's host."""
        module = importlib.import_module(
            f"google.ads.googleads.{API_VERSION}.services.services.{convert_upper_case_to_snake_case(name)}"
        )
        client_class = getattr(module, f"{name}Client")
        transport_class = client_class.get_transport_class("grpc")
        channel = transport_class.create_channel(
            host=self.config.endpoint,
            credentials=self._ads.credentials,
            ssl_credentials=grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP),
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
        )
        channel = grpc.intercept_channel(
            channel,
            MetadataInterceptor(self._ads.developer_token, self._ads.login_customer_id, None),
            ExceptionInterceptor(API_VERSION, use_proto_plus=True),
        )
        return client_class(transport=transport_class(channel=channel))

    def now(self) -> datetime:
        """Google's current time: the wall clock, or the sandbox's virtual clock."""
        if self.config.clock == "wall" or self.config.endpoint is None:
            return datetime.now(UTC)
        credentials = grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
        with grpc.secure_channel(self.config.endpoint, credentials) as channel:
            state = channel.unary_unary(CONTROL_STATE)(b"{}", timeout=self.config.timeout)
        return datetime.fromisoformat(json.loads(state)["now"])

    # ---- transport ------------------------------------------------------------------------

    def _wait(self, seconds: float, why: str) -> None:
        if seconds > 0:
            log.info("waiting %.1fs: %s", seconds, why)
            self.waited_seconds += seconds
            self._sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0, min(self.config.backoff_cap, self.config.backoff_base * 2**attempt))

    def _typed(self, exc: Exception) -> GoogleAdsError:
        """The typed error for whatever the library raised."""
        wait = self.config.throttle_default_wait
        conn = self.config.connection_id
        if isinstance(exc, GoogleAdsException):
            return classify_errors(
                list(exc.failure.errors),
                status=exc.error.code().name,
                request_id=exc.request_id,
                connection_id=conn,
                default_wait=wait,
            )
        if isinstance(exc, core_exceptions.GoogleAPICallError):
            # INTERNAL and RESOURCE_EXHAUSTED reach here unwrapped by the library's interceptor;
            # their GoogleAdsFailure (with the quota's retry delay) is still in the trailers.
            call = exc.response
            trailers = call.trailing_metadata() if isinstance(call, grpc.Call) else None
            status = exc.grpc_status_code.name if exc.grpc_status_code else None
            request_id = next((str(v) for k, v in trailers or () if k == REQUEST_ID_KEY), None)
            failure = next((v for k, v in trailers or () if k == FAILURE_KEY), None)
            if isinstance(failure, bytes):
                errors = list(ads_errors.GoogleAdsFailure.deserialize(failure).errors)
                return classify_errors(
                    errors, status=status, request_id=request_id, connection_id=conn, default_wait=wait
                )
            return from_status(
                status, exc.message, request_id=request_id, connection_id=conn, default_wait=wait
            )
        if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
            return from_status(
                exc.code().name, str(exc.details()), request_id=None, connection_id=conn, default_wait=wait
            )
        if isinstance(exc, auth_exceptions.RefreshError):
            return from_status(
                "UNAUTHENTICATED",
                "the OAuth refresh token was refused; renew it in the connection",
                request_id=None,
                connection_id=conn,
                default_wait=wait,
            )
        if isinstance(exc, auth_exceptions.TransportError):
            return from_status(
                "UNAVAILABLE",
                "could not reach Google's OAuth server",
                request_id=None,
                connection_id=conn,
                default_wait=wait,
            )
        raise exc

    def _call(self, what: str, send: Callable[[], T]) -> T:
        """One request, retried while the error says so, up to max_attempts."""
        for attempt in range(self.config.max_attempts):
            self.requests_made += 1
            try:
                return send()
            except GoogleAdsError as exc:  # already typed (building the library's client)
                error = exc
            except (
                GoogleAdsException,
                core_exceptions.GoogleAPICallError,
                grpc.RpcError,
                auth_exceptions.GoogleAuthError,
            ) as exc:
                error = self._typed(exc)
            if not error.retryable or attempt == self.config.max_attempts - 1:
                raise error
            wait = error.wait_seconds if isinstance(error, GoogleThrottledError) else self._backoff(attempt)
            log.warning("%s: %s; retry %d of %d", what, error, attempt + 1, self.config.max_attempts - 1)
            self._wait(wait, "retry")
        raise AssertionError("unreachable")

    def search(self, customer_id: str, query: str) -> list[dict[str, Any]]:
        """Every row of a GAQL query (one SearchStream request), each as field path -> value."""
        fields = _fields(query)

        def send() -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = []
            stream = self.service("GoogleAdsService").search_stream(
                customer_id=customer_id, query=query, timeout=self.config.timeout
            )
            for batch in stream:
                rows.extend(_plain(row, fields) for row in batch.results)
            return rows

        return self._call(f"SearchStream {customer_id}", send)

    # ---- reads ----------------------------------------------------------------------------

    def list_accounts(self) -> list[AccountInfo]:
        """The customers the credentials can reach directly (CustomerService), each read once."""
        names = self._call(
            "ListAccessibleCustomers",
            lambda: list(
                self.service("CustomerService")
                .list_accessible_customers(timeout=self.config.timeout)
                .resource_names
            ),
        )
        return [self.get_account(name.rsplit("/", 1)[-1]) for name in names]

    def get_account(self, customer_id: str) -> AccountInfo:
        rows = self.search(
            customer_id,
            "SELECT customer.id, customer.descriptive_name, customer.currency_code, customer.time_zone FROM customer",
        )
        if not rows:
            raise GoogleTransientError(f"Google Ads returned no customer row for {customer_id}")
        row = rows[0]
        name = str(row["customer.descriptive_name"] or "")
        # Shown to people only: printable, at most 200 characters (what the store accepts).
        name = "".join(c for c in name if c.isprintable() or c == " ")[:200]
        self._currency[customer_id] = str(row["customer.currency_code"])
        return AccountInfo(
            customer_id, name or None, str(row["customer.currency_code"]), str(row["customer.time_zone"])
        )

    def list_budget_holders(self, customer_id: str) -> pd.DataFrame:
        """Campaign budgets with their campaigns' status and learning state (one streamed query)."""
        rows = self.search(customer_id, HOLDER_QUERY)
        if rows:
            self._currency[customer_id] = str(rows[0]["customer.currency_code"])
        return frames.budget_holders(rows, self._currency.get(customer_id, "USD"))

    def holder_insights(
        self, customer_id: str, currency: str, *, time_range: tuple[str, str], hourly: bool = False
    ) -> pd.DataFrame:
        """Metrics per budget (all campaigns sharing it) and day, or hour of the account's day.

        One streamed query for any number of campaigns and days.  ``segments.hour`` carries
        conversions and conversion value, so hourly rows are complete (Meta's are not).
        """
        since, until = (_iso_date(d) for d in time_range)
        query = (
            f"SELECT {METRICS}{', segments.hour' if hourly else ''} FROM campaign "
            f"WHERE segments.date BETWEEN '{since}' AND '{until}'"
        )
        return frames.holder_insights(self.search(customer_id, query), currency, hourly=hourly)

    def read_budgets(self, customer_id: str, entity_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """What Google holds now for each budget: daily_budget (minor units) and status (one query)."""
        holders = self.list_budget_holders(customer_id).set_index("entity_id")
        wanted = set(entity_ids)
        return {
            budget: {
                "daily_budget": None if pd.isna(row["daily_budget"]) else int(row["daily_budget"]),
                "status": row["status"],
                "effective_status": row["effective_status"],
            }
            for budget, row in holders.iterrows()
            if budget in wanted
        }

    def campaigns_of(self, customer_id: str, budget_ids: Sequence[str]) -> dict[str, list[str]]:
        """The campaigns (resource names) sharing each budget, for status writes (one query)."""
        wanted = set(budget_ids)
        out: dict[str, list[str]] = {b: [] for b in budget_ids}
        for row in self.search(
            customer_id,
            "SELECT campaign.resource_name, campaign.campaign_budget FROM campaign WHERE campaign.status != 'REMOVED'",
        ):
            budget = frames.budget_of(str(row["campaign.campaign_budget"]))
            if budget in wanted:
                out[budget].append(str(row["campaign.resource_name"]))
        return out

    # ---- writes ---------------------------------------------------------------------------

    def apply(
        self,
        customer_id: str,
        changes: Sequence[BudgetChange],
        on_final: Callable[[list[tuple[int, WriteResult]]], None] | None = None,
        *,
        currency: str | None = None,
        validate_only: bool = False,
    ) -> list[WriteResult]:
        """Write absolute budgets (minor units) and statuses, retrying what may be retried.

        Amounts go in MutateCampaignBudgets requests of at most ``batch_size`` operations with
        partial failure; statuses in MutateCampaigns (every campaign sharing the budget).
        ``on_final`` sees each change once it is settled for good, after the request that
        settled it; an auth error stops everything and is raised after ``on_final`` saw it.
        ``validate_only``: Google checks every operation and applies none (shadow mode).
        """
        writes = _Writes(changes, self._parts(customer_id, changes, currency), validate_only)
        pending = writes.parts
        for attempt in range(self.config.max_attempts):
            last = attempt == self.config.max_attempts - 1
            retry: list[_Part] = []
            for kind in ("budget", "status"):
                of_kind = [p for p in pending if p.kind == kind]
                for start in range(0, len(of_kind), self.config.batch_size):
                    chunk = of_kind[start : start + self.config.batch_size]
                    outcomes = self._mutate(
                        customer_id, kind, [changes[p.index].entity_id for p in chunk], chunk, validate_only
                    )
                    settled = writes.settle(chunk, outcomes, retry, last=last)
                    if on_final is not None and settled:
                        on_final(settled)
                    auth = next((r.error for _, r in settled if isinstance(r.error, GoogleAuthError)), None)
                    if auth is not None:
                        raise auth
            pending = retry
            if not pending:
                break
            self._wait(
                max(writes.longest_wait, self._backoff(attempt)), f"{len(pending)} operations to retry"
            )
        return writes.answers()

    def _parts(self, customer_id: str, changes: Sequence[BudgetChange], currency: str | None) -> list[_Part]:
        """Each change's operations: its amount in micros, and a status for each of its campaigns.

        Amounts need the customer's currency (micros per minor unit): given, known from an
        earlier read, or read once.
        """
        if currency is None and any(c.daily_budget is not None for c in changes):
            currency = self._currency.get(customer_id) or self.get_account(customer_id).currency
        parts = [
            _Part(i, "budget", frames.minor_to_micros(c.daily_budget, str(currency)))
            for i, c in enumerate(changes)
            if c.daily_budget is not None
        ]
        statuses = [(i, c) for i, c in enumerate(changes) if c.status is not None]
        if statuses:
            campaigns = self.campaigns_of(customer_id, [c.entity_id for _, c in statuses])
            for index, change in statuses:
                # A budget no campaign uses any more: one operation Google will refuse by name.
                for name in campaigns[change.entity_id] or [""]:
                    parts.append(_Part(index, "status", (name, _campaign_status(str(change.status)))))
        return parts

    def _mutate(
        self, customer_id: str, kind: str, budget_ids: list[str], parts: list[_Part], validate_only: bool
    ) -> list[GoogleAdsError | None]:
        """One mutate request; the error of each operation (None: it landed)."""
        self.requests_made += 1
        try:
            method, request = self._request(customer_id, kind, budget_ids, parts, validate_only)
            response = method(request=request, timeout=self.config.timeout)
        except GoogleAdsError as built:  # building the library's client failed
            return [built] * len(parts)
        except (
            GoogleAdsException,
            core_exceptions.GoogleAPICallError,
            grpc.RpcError,
            auth_exceptions.GoogleAuthError,
        ) as exc:
            failed = self._typed(exc)  # the whole request failed: every operation with it
            return [failed] * len(parts)
        return self._partial(response, len(parts))

    def _request(
        self, customer_id: str, kind: str, budget_ids: list[str], parts: list[_Part], validate_only: bool
    ) -> tuple[Callable[..., Any], Any]:
        """The service method and its request: budget amounts, or campaign statuses."""
        operations = []
        if kind == "budget":
            service = self.service("CampaignBudgetService")
            for budget, part in zip(budget_ids, parts, strict=True):
                op = self._ads.get_type("CampaignBudgetOperation")
                op.update.resource_name = service.campaign_budget_path(customer_id, budget)
                op.update.amount_micros = int(part.payload)
                op.update_mask.paths.append("amount_micros")
                operations.append(op)
            method, request_type = service.mutate_campaign_budgets, "MutateCampaignBudgetsRequest"
        else:
            service = self.service("CampaignService")
            for part in parts:
                name, status = part.payload
                op = self._ads.get_type("CampaignOperation")
                op.update.resource_name = name
                op.update.status = status
                op.update_mask.paths.append("status")
                operations.append(op)
            method, request_type = service.mutate_campaigns, "MutateCampaignsRequest"
        request = self._ads.get_type(request_type)
        request.customer_id = customer_id
        request.operations.extend(operations)
        request.partial_failure = True
        request.validate_only = validate_only
        return method, request

    def _partial(self, response: Any, count: int) -> list[GoogleAdsError | None]:
        """Per-operation errors from a partial-failure response (index from the error location)."""
        out: list[GoogleAdsError | None] = [None] * count
        status = response.partial_failure_error
        if not status.code:
            return out
        by_index: dict[int, list[Any]] = {}
        request_id: str | None = None
        for detail in status.details:
            failure = ads_errors.GoogleAdsFailure.deserialize(detail.value)
            for item in failure.errors:
                path = list(item.location.field_path_elements)
                index = path[0].index if path and path[0].field_name == "operations" else None
                if index is None or not 0 <= index < count:
                    continue
                by_index.setdefault(index, []).append(item)
                request_id = failure.request_id or request_id
        for index, items in by_index.items():
            out[index] = classify_errors(
                items,
                status="INVALID_ARGUMENT",
                request_id=request_id,
                connection_id=self.config.connection_id,
                default_wait=self.config.throttle_default_wait,
            )
        return out


class _Writes:
    """The state of one apply: which operations of each change are settled, and how."""

    def __init__(self, changes: Sequence[BudgetChange], parts: list[_Part], validate_only: bool) -> None:
        self.changes, self.parts, self.validate_only = changes, parts, validate_only
        self.left = {i: 0 for i in range(len(changes))}
        for part in parts:
            self.left[part.index] += 1
        self.errors: dict[int, GoogleAdsError] = {}
        self.results: dict[int, WriteResult] = {}
        self.longest_wait = 0.0

    def settle(
        self, chunk: list[_Part], outcomes: list[GoogleAdsError | None], retry: list[_Part], *, last: bool
    ) -> list[tuple[int, WriteResult]]:
        """Record one request's outcomes; the changes it settled for good."""
        settled: list[tuple[int, WriteResult]] = []
        for part, error in zip(chunk, outcomes, strict=True):
            if error is not None and error.retryable and not last:
                retry.append(part)
                if isinstance(error, GoogleThrottledError):
                    self.longest_wait = max(self.longest_wait, error.wait_seconds)
                continue
            if error is not None:
                self.errors.setdefault(part.index, error)
            self.left[part.index] -= 1
            if self.left[part.index] == 0:
                failed = self.errors.get(part.index)
                answer = {"validate_only": self.validate_only} if failed is None else failed.as_dict()
                result = WriteResult(self.changes[part.index].entity_id, failed is None, answer, failed)
                self.results[part.index] = result
                settled.append((part.index, result))
        return settled

    def answers(self) -> list[WriteResult]:
        """One result per change, in order (a change with nothing to write succeeds as it is)."""
        return [
            self.results.get(i, WriteResult(c.entity_id, True, {"nothing_to_write": True}))
            for i, c in enumerate(self.changes)
        ]


class _Part:
    """One operation of a change: its budget amount (micros) or one campaign's status."""

    __slots__ = ("index", "kind", "payload")

    def __init__(self, index: int, kind: str, payload: Any) -> None:
        self.index, self.kind, self.payload = index, kind, payload


def _campaign_status(status: str) -> str:
    """The autoscaler's ACTIVE/PAUSED as Google's campaign status."""
    return {"ACTIVE": "ENABLED", "PAUSED": "PAUSED"}.get(status, status)


def _fields(query: str) -> list[str]:
    head = query.strip()[len("SELECT") :]
    return [f.strip() for f in head[: head.upper().index(" FROM ")].split(",") if f.strip()]


def _plain(row: Any, fields: Sequence[str]) -> dict[str, Any]:
    """A GoogleAdsRow's selected fields as plain values (enums by name), read once at the edge."""
    raw = type(row).pb(row)
    out: dict[str, Any] = {}
    for path in fields:
        resource, name = path.split(".", 1)
        message = getattr(raw, resource)
        value = getattr(message, name)
        enum = message.DESCRIPTOR.fields_by_name[name].enum_type
        out[path] = enum.values_by_number[value].name if enum is not None else value
    return out


def _iso_date(value: str) -> str:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError(f"time_range: dates are YYYY-MM-DD, got {value!r}")
    return value
