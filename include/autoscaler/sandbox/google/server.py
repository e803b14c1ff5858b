"""The Google Ads sandbox's gRPC server: the real google-ads library talks to it.

The library ships message classes and clients but no servicer base classes (GAPIC), so the
server registers generic handlers under Google's own full method names
(``/google.ads.googleads.v26.services.GoogleAdsService/SearchStream`` and so on), with the
library's request and response types as (de)serializers.  It listens on 127.0.0.1 only, with
gRPC's *local* credentials: the channel is not TLS, yet the library's OAuth call credentials
(``authorization: Bearer ...``) still travel, as gRPC allows them over a local connection.
The client connects with ``grpc.local_channel_credentials()`` (autoscaler.google.client).

What it checks and how it fails is Google's: the bearer token and the ``developer-token``
header (UNAUTHENTICATED), access to the customer (PERMISSION_DENIED), queries and mutates
(INVALID_ARGUMENT), request rates (RESOURCE_EXHAUSTED with a retry delay) and the daily
operations quota of the developer token's access level (RESOURCE_EXHAUSTED); each failure
carries a GoogleAdsFailure in the trailing metadata and a ``request-id``.  Faults use the
Meta sandbox's spec (sandbox/faults.py), mapped onto gRPC: ``5xx`` is INTERNAL, ``malformed``
UNAVAILABLE (a dropped connection), ``timeout`` answers after ``timeout_delay`` seconds,
``throttle`` and ``burst`` RESOURCE_EXHAUSTED, ``expire`` an expired OAuth token, and
``batch_partial`` fails single mutate operations with CONCURRENT_MODIFICATION.

Sandbox-only control methods (no token): ``/autoscaler.sandbox.v1.Control/State`` answers
JSON ``{"now": ...}`` (the virtual clock, which GoogleClient.now follows in sandbox mode) and
``.../Advance`` takes ``{"advance_hours": h}``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import grpc
from google.ads.googleads.v26.errors.types import errors as ads_errors
from google.ads.googleads.v26.services.types import campaign_budget_service as budget_service
from google.ads.googleads.v26.services.types import campaign_service, customer_service
from google.ads.googleads.v26.services.types import google_ads_service as ads_service
from google.rpc import status_pb2

from autoscaler.google.api import FAILURE_KEY, REQUEST_ID_KEY, SEARCH_PAGE_SIZE, SERVICES
from autoscaler.sandbox.faults import FaultPlan
from autoscaler.sandbox.google.ads import AdsFailure, GoogleAds, Mutated, error
from autoscaler.sandbox.scenario import Scenario
from autoscaler.sandbox.server import RateLimiter
from autoscaler.sandbox.simulator import Simulator

DEVELOPER_TOKEN = "sandbox-developer-token"
CONTROL = "autoscaler.sandbox.v1.Control"
_ROW = ads_service.GoogleAdsRow.pb()
_STREAM_BATCH = 10_000  # rows per streamed message, as Google sends them


@dataclass
class GoogleSandbox:
    """Everything one running Google Ads sandbox holds; one lock serialises calls."""

    scenario: Scenario
    seed: int = 0
    faults: FaultPlan = field(default_factory=FaultPlan)
    access_token: str | None = None  # default: the scenario's access_token
    developer_token: str = DEVELOPER_TOKEN
    # Operations a developer token may run a day (Basic access: 15,000); None: no limit.
    daily_operations: int | None = None
    wall_time: Callable[[], float] = time.time
    sim: Simulator | None = None  # share a simulator (and its lock) with the Meta sandbox
    lock: Any = None

    def __post_init__(self) -> None:
        if self.sim is None:
            self.sim = Simulator(self.scenario, self.seed)
        self.ads = GoogleAds(self.sim)
        self.lock = self.lock or threading.RLock()
        self.token = self.access_token or self.scenario.access_token
        self.limiter = RateLimiter(
            max_score=self.faults.max_score,
            decay_seconds=self.faults.decay_seconds,
            block_seconds=self.faults.block_seconds,
        )
        self.requests: list[dict[str, Any]] = []
        self.operations_by_day: dict[str, int] = {}
        self.token_expired = False
        self._request_ids = itertools.count(1)

    @property
    def simulator(self) -> Simulator:
        assert self.sim is not None
        return self.sim

    # ---- admission: auth, faults, quotas -----------------------------------------------

    def admit(self, context: grpc.ServicerContext, method: str, customer_id: str, operations: int) -> str:
        """Check one call before it runs; return its request id, or abort the call."""
        request_id = f"sandbox-{next(self._request_ids):08d}"
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        entry: dict[str, Any] = {
            "n": len(self.requests) + 1,
            "method": method,
            "customer_id": customer_id,
            "operations": operations,
            "login_customer_id": metadata.get("login-customer-id"),
            "status": "OK",
        }
        self.requests.append(entry)
        try:
            self._authenticate(metadata)
            self._inject(len(self.requests), customer_id)
            self._authorize(customer_id, writes=method.startswith("Mutate"))
            self._charge(customer_id, operations)
        except AdsFailure as failure:
            entry["status"] = failure.status.name
            abort(context, failure, request_id)
        return request_id

    def _authenticate(self, metadata: dict[str, str]) -> None:
        bearer = metadata.get("authorization", "")
        if not bearer.startswith("Bearer "):
            raise _denied("AUTHENTICATION_ERROR", "Authentication of the request failed: no OAuth token.")
        if self.token_expired:
            raise _denied("OAUTH_TOKEN_EXPIRED", "The OAuth access token has expired.")
        if bearer.removeprefix("Bearer ") != self.token:
            raise _denied("OAUTH_TOKEN_INVALID", "The OAuth access token is invalid.")
        if metadata.get("developer-token") != self.developer_token:
            raise _denied("DEVELOPER_TOKEN_INVALID", "The developer token is not valid.")

    def _inject(self, number: int, customer_id: str) -> None:
        if self.faults.expire_after is not None and number > self.faults.expire_after:
            self.token_expired = True
        fault = self.faults.draw(number)
        if fault == "expire":
            self.token_expired = True
        if self.token_expired:
            raise _denied("OAUTH_TOKEN_EXPIRED", "The OAuth access token has expired.")
        if fault == "timeout":
            time.sleep(self.faults.timeout_delay)  # the client's deadline decides
        elif fault == "5xx":
            raise AdsFailure(
                grpc.StatusCode.INTERNAL,
                [
                    error(
                        "internal_error",
                        "TRANSIENT_ERROR",
                        "An internal error has occurred. Retry the request.",
                    )
                ],
            )
        elif fault == "malformed":
            raise AdsFailure(grpc.StatusCode.UNAVAILABLE, [])
        now = self.wall_time()
        if fault == "throttle":
            self.limiter.block(customer_id, now)
        if not self.limiter.charge(customer_id, 1, now):
            wait = max(1.0, self.limiter.blocked_until.get(customer_id, now) - now)
            raise AdsFailure(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                [
                    error(
                        "quota_error",
                        "RESOURCE_TEMPORARILY_EXHAUSTED",
                        f"Too many requests. Retry in {wait:.0f} seconds.",
                        retry_seconds=wait,
                    )
                ],
            )

    def _authorize(self, customer_id: str, *, writes: bool) -> None:
        account = self.ads.customers.get(customer_id)
        if account is None:
            raise AdsFailure(
                grpc.StatusCode.PERMISSION_DENIED,
                [
                    error(
                        "authorization_error",
                        "USER_PERMISSION_DENIED",
                        "User doesn't have permission to access customer. Note: If you're accessing a client "
                        "customer, the manager's customer id must be set in the 'login-customer-id' header.",
                    )
                ],
            )
        if writes and account.read_only:
            raise AdsFailure(
                grpc.StatusCode.PERMISSION_DENIED,
                [
                    error(
                        "authorization_error",
                        "ACTION_NOT_PERMITTED",
                        "The user may read but not change this account.",
                    )
                ],
            )

    def _charge(self, customer_id: str, operations: int) -> None:
        if self.daily_operations is None:
            return
        day = self.simulator.now.date().isoformat()
        used = self.operations_by_day.get(day, 0)
        if used + operations > self.daily_operations:
            raise AdsFailure(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                [
                    error(
                        "quota_error",
                        "RESOURCE_EXHAUSTED",
                        f"The developer token's {self.daily_operations:,} operations a day are used up.",
                    )
                ],
            )
        self.operations_by_day[day] = used + operations

    # ---- the services -------------------------------------------------------------------

    def search_stream(self, request: Any, context: grpc.ServicerContext) -> Iterator[bytes]:
        with self.lock:
            request_id = self.admit(context, "SearchStream", request.customer_id, 1)
            rows = self._rows(request.customer_id, request.query, context, request_id)
            fields = _selected(request.query)
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
        for start in range(0, max(len(rows), 1), _STREAM_BATCH):
            answer = ads_service.SearchGoogleAdsStreamResponse.pb()(request_id=request_id)
            answer.results.extend(rows[start : start + _STREAM_BATCH])
            answer.field_mask.paths.extend(fields)
            yield answer.SerializeToString()

    def search(self, request: Any, context: grpc.ServicerContext) -> bytes:
        with self.lock:
            request_id = self.admit(context, "Search", request.customer_id, 1)
            if request.page_size:
                abort(
                    context,
                    AdsFailure(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        [
                            error(
                                "request_error",
                                "PAGE_SIZE_NOT_SUPPORTED",
                                "Pages hold 10,000 rows; page_size cannot be set.",
                            )
                        ],
                    ),
                    request_id,
                )
            rows = self._rows(request.customer_id, request.query, context, request_id)
        start = 0
        if request.page_token:
            try:
                start = int(request.page_token.removeprefix("offset:"))
            except ValueError:
                abort(
                    context,
                    AdsFailure(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        [error("request_error", "INVALID_PAGE_TOKEN", "Invalid page token.")],
                    ),
                    request_id,
                )
        answer = ads_service.SearchGoogleAdsResponse.pb()()
        answer.results.extend(rows[start : start + SEARCH_PAGE_SIZE])
        answer.field_mask.paths.extend(_selected(request.query))
        if start + SEARCH_PAGE_SIZE < len(rows):
            answer.next_page_token = f"offset:{start + SEARCH_PAGE_SIZE}"
        if request.search_settings.return_total_results_count:
            answer.total_results_count = len(rows)
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
        return bytes(answer.SerializeToString())

    def _rows(
        self, customer_id: str, query: str, context: grpc.ServicerContext, request_id: str
    ) -> list[Any]:
        try:
            return [_row(r) for r in self.ads.search(customer_id, query)]
        except AdsFailure as failure:
            abort(context, failure, request_id)
            raise  # unreachable: abort raises

    def mutate_budgets(self, request: Any, context: grpc.ServicerContext) -> bytes:
        with self.lock:
            operations = list(request.operations)
            request_id = self.admit(context, "MutateCampaignBudgets", request.customer_id, len(operations))
            parsed = [
                (
                    op.update.resource_name,
                    list(op.update_mask.paths),
                    op.update.amount_micros if op.update.HasField("amount_micros") else None,
                )
                if op.WhichOneof("operation") == "update"
                else ("", [], None)
                for op in operations
            ]
            failing = {
                i for i in range(len(parsed)) if request.partial_failure and self.faults.batch_call_fails()
            }
            try:
                done = self.ads.mutate_budgets(
                    request.customer_id,
                    parsed,
                    partial_failure=request.partial_failure,
                    validate_only=request.validate_only,
                    failing=failing,
                )
            except AdsFailure as failure:
                abort(context, failure, request_id)
        answer = budget_service.MutateCampaignBudgetsResponse.pb()()
        _fill(answer, done, request_id)
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
        return bytes(answer.SerializeToString())

    def mutate_campaigns(self, request: Any, context: grpc.ServicerContext) -> bytes:
        with self.lock:
            operations = list(request.operations)
            request_id = self.admit(context, "MutateCampaigns", request.customer_id, len(operations))
            parsed = [
                (op.update.resource_name, list(op.update_mask.paths), _enum_name(op.update, "status"))
                for op in operations
            ]
            try:
                done = self.ads.mutate_campaigns(
                    request.customer_id,
                    parsed,
                    partial_failure=request.partial_failure,
                    validate_only=request.validate_only,
                )
            except AdsFailure as failure:
                abort(context, failure, request_id)
        answer = campaign_service.MutateCampaignsResponse.pb()()
        _fill(answer, done, request_id)
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
        return bytes(answer.SerializeToString())

    def list_accessible_customers(self, request: Any, context: grpc.ServicerContext) -> bytes:
        with self.lock:
            metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
            request_id = f"sandbox-{next(self._request_ids):08d}"
            try:
                self._authenticate(metadata)
            except AdsFailure as failure:
                abort(context, failure, request_id)
            names = [f"customers/{c}" for c in self.ads.customers]
        return bytes(
            customer_service.ListAccessibleCustomersResponse.pb()(resource_names=names).SerializeToString()
        )

    def control(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if name == "Advance":
                self.simulator.advance_to(
                    self.simulator.now + timedelta(hours=float(body.get("advance_hours", 0)))
                )
            return {"now": self.simulator.now.isoformat(), "requests": len(self.requests)}

    # ---- wiring -------------------------------------------------------------------------

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        def raw(kind: Any) -> Callable[[bytes], Any]:
            return kind.pb().FromString  # type: ignore[no-any-return]

        def same(data: bytes) -> bytes:
            return data

        def control(name: str) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(
                lambda body, _context: json.dumps(self.control(name, json.loads(body or b"{}"))).encode(),
                request_deserializer=same,
                response_serializer=same,
            )

        return [
            grpc.method_handlers_generic_handler(
                f"{SERVICES}.GoogleAdsService",
                {
                    "SearchStream": grpc.unary_stream_rpc_method_handler(
                        self.search_stream,
                        request_deserializer=raw(ads_service.SearchGoogleAdsStreamRequest),
                        response_serializer=same,
                    ),
                    "Search": grpc.unary_unary_rpc_method_handler(
                        self.search,
                        request_deserializer=raw(ads_service.SearchGoogleAdsRequest),
                        response_serializer=same,
                    ),
                },
            ),
            grpc.method_handlers_generic_handler(
                f"{SERVICES}.CampaignBudgetService",
                {
                    "MutateCampaignBudgets": grpc.unary_unary_rpc_method_handler(
                        self.mutate_budgets,
                        request_deserializer=raw(budget_service.MutateCampaignBudgetsRequest),
                        response_serializer=same,
                    )
                },
            ),
            grpc.method_handlers_generic_handler(
                f"{SERVICES}.CampaignService",
                {
                    "MutateCampaigns": grpc.unary_unary_rpc_method_handler(
                        self.mutate_campaigns,
                        request_deserializer=raw(campaign_service.MutateCampaignsRequest),
                        response_serializer=same,
                    )
                },
            ),
            grpc.method_handlers_generic_handler(
                f"{SERVICES}.CustomerService",
                {
                    "ListAccessibleCustomers": grpc.unary_unary_rpc_method_handler(
                        self.list_accessible_customers,
                        request_deserializer=raw(customer_service.ListAccessibleCustomersRequest),
                        response_serializer=same,
                    )
                },
            ),
            grpc.method_handlers_generic_handler(
                CONTROL, {"State": control("State"), "Advance": control("Advance")}
            ),
        ]


def abort(context: grpc.ServicerContext, failure: AdsFailure, request_id: str) -> None:
    """End the call as Google does: the status, the GoogleAdsFailure and the request id in trailers."""
    trailers: list[tuple[str, str | bytes]] = [(REQUEST_ID_KEY, request_id)]
    if failure.errors:
        serialized = ads_errors.GoogleAdsFailure.serialize(
            ads_errors.GoogleAdsFailure(errors=failure.errors, request_id=request_id)
        )
        trailers.append((FAILURE_KEY, serialized))
    context.set_trailing_metadata(tuple(trailers))
    message = str(failure) if failure.errors else "Connection reset by peer"
    context.abort(failure.status, message)


def _denied(reason: str, message: str) -> AdsFailure:
    return AdsFailure(grpc.StatusCode.UNAUTHENTICATED, [error("authentication_error", reason, message)])


def _fill(answer: Any, done: Mutated, request_id: str) -> None:
    """Results (an empty resource name where an operation failed) and the partial failure."""
    for name in done.results:
        answer.results.add(resource_name=name or "")
    if done.errors:
        failure = ads_errors.GoogleAdsFailure(errors=done.errors, request_id=request_id)
        status = status_pb2.Status(
            code=grpc.StatusCode.INVALID_ARGUMENT.value[0], message=str(done.errors[0].message)
        )
        status.details.add().Pack(ads_errors.GoogleAdsFailure.pb(failure))
        answer.partial_failure_error.CopyFrom(status)


def _enum_name(message: Any, name: str) -> str:
    value = message.DESCRIPTOR.fields_by_name[name].enum_type.values_by_number.get(getattr(message, name))
    return str(value.name) if value is not None else "UNKNOWN"


def _selected(query: str) -> list[str]:
    head = query.strip()[len("SELECT") :]
    return [f.strip() for f in head[: head.upper().find(" FROM ")].split(",") if f.strip()]


def _row(values: dict[str, Any]) -> Any:
    """A GoogleAdsRow (the library's own message) from field paths and values; enums by name."""
    row = _ROW()
    for path, value in values.items():
        if value is None:
            continue
        resource, name = path.split(".", 1)
        message = getattr(row, resource)
        descriptor = message.DESCRIPTOR.fields_by_name[name]
        if descriptor.enum_type is not None:
            value = descriptor.enum_type.values_by_name[value].number
        setattr(message, name, value)
    return row


class RunningGoogleSandbox:
    """A Google Ads sandbox served from background threads: ``with RunningGoogleSandbox(...) as sb: sb.endpoint``."""

    def __init__(self, sandbox: GoogleSandbox, port: int = 0, workers: int = 4) -> None:
        self.sandbox = sandbox
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="google-sandbox"),
            options=[("grpc.max_send_message_length", 64 * 1024 * 1024)],
        )
        self.server.add_generic_rpc_handlers(tuple(sandbox.handlers()))
        self.port = self.server.add_secure_port(
            f"127.0.0.1:{port}", grpc.local_server_credentials(grpc.LocalConnectionType.LOCAL_TCP)
        )

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> RunningGoogleSandbox:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop(grace=None).wait()


def requests_by_method(sandbox: GoogleSandbox, methods: Sequence[str] | None = None) -> dict[str, int]:
    """How many calls of each method the sandbox answered (for tests and benchmarks)."""
    counts: dict[str, int] = {}
    for entry in sandbox.requests:
        if methods is None or entry["method"] in methods:
            counts[entry["method"]] = counts.get(entry["method"], 0) + 1
    return counts
