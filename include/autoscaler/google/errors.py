"""Google Ads failures as the typed errors the Meta path already uses (autoscaler.meta.errors).

The rest of the autoscaler (execute, the hourly steps, retries) knows one small set of errors:
transient, throttled, auth, permission, invalid.  A Google failure is classified from what the
library hands over, never from its text: the GoogleAdsFailure's error codes (a oneof per
error: ``quota_error``, ``authentication_error``, ...), the gRPC status, the quota's retry
delay, and the request id.  Each class below is a subclass of the Meta one, so
``except ThrottledError`` catches both platforms; ``as_dict`` adds what Google support asks
for (the request id) and the error codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from autoscaler.meta.errors import (
    AuthError,
    InvalidRequestError,
    MetaError,
    MetaPermissionError,
    ThrottledError,
    TransientError,
)

# ErrorCode oneof names, by what the autoscaler does about them.
_AUTH = frozenset({"authentication_error"})
_PERMISSION = frozenset({"authorization_error", "resource_access_denied_error"})
_TRANSIENT = frozenset({"internal_error"})
_TRANSIENT_REASONS = frozenset({"CONCURRENT_MODIFICATION", "TRANSIENT_ERROR", "DEADLINE_EXCEEDED"})
_TRANSIENT_STATUS = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
    }
)


class GoogleAdsError(MetaError):
    """Any error from (or on the way to) the Google Ads API; the typed ones below say more."""

    request_id: str | None = None
    reasons: tuple[str, ...] = ()  # "quota_error.RESOURCE_TEMPORARILY_EXHAUSTED", ...
    status: str | None = None  # the gRPC status name

    def as_dict(self) -> dict[str, Any]:
        return {
            "error": type(self).__name__,
            "message": str(self),
            "platform": "google_ads",
            "status": self.status,
            "reasons": list(self.reasons),
            "request_id": self.request_id,
        }


class GoogleTransientError(GoogleAdsError, TransientError):
    """INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED, CONCURRENT_MODIFICATION: retry with backoff."""


class GoogleThrottledError(GoogleAdsError, ThrottledError):
    """RESOURCE_EXHAUSTED with a retry delay (a rate limit): wait as long as Google says."""


class GoogleQuotaExhaustedError(GoogleThrottledError):
    """The developer token's daily operations are used up (no retry delay): not retried today."""

    retryable = False


class GoogleAuthError(GoogleAdsError, AuthError):
    """The OAuth token or the developer token is refused (UNAUTHENTICATED). Never retried."""


class GooglePermissionError(GoogleAdsError, MetaPermissionError):
    """The user may not see or change this customer (PERMISSION_DENIED, authorization_error)."""


class GoogleInvalidRequestError(GoogleAdsError, InvalidRequestError):
    """A query, field or amount Google refuses; the message names it. Not retried."""


@dataclass(frozen=True)
class _Where:
    """What identifies a failure: its error codes, the gRPC status and the request id."""

    reasons: tuple[str, ...]
    status: str | None
    request_id: str | None


def _make(
    kind: type[GoogleAdsError], message: str, where: _Where, wait_seconds: float | None = None
) -> GoogleAdsError:
    error = (
        kind(message, wait_seconds=wait_seconds or 0.0)
        if issubclass(kind, GoogleThrottledError)
        else kind(message)
    )
    error.reasons, error.status, error.request_id = where.reasons, where.status, where.request_id
    return error


def classify_errors(
    errors: Sequence[Any],
    *,
    status: str | None,
    request_id: str | None,
    connection_id: str,
    default_wait: float,
) -> GoogleAdsError:
    """The typed error for a GoogleAdsFailure's errors (the first decisive one wins)."""
    reasons: list[str] = []
    retry_delay: float | None = None
    kinds: list[str] = []
    raw = [type(e).pb(e) if hasattr(type(e), "pb") else e for e in errors]  # proto-plus or protobuf
    for item in raw:
        code = item.error_code
        kind = code.WhichOneof("error_code") or "unknown"
        field = code.DESCRIPTOR.fields_by_name.get(kind)
        value = (
            field.enum_type.values_by_number.get(getattr(code, kind)) if field and field.enum_type else None
        )
        kinds.append(kind)
        reasons.append(f"{kind}.{value.name if value else 'UNKNOWN'}")
        delay = item.details.quota_error_details.retry_delay
        if delay.seconds or delay.nanos:
            retry_delay = max(retry_delay or 0.0, delay.seconds + delay.nanos / 1e9)
    first = str(raw[0].message) if raw else "no message"
    where = f"({', '.join(reasons) or status}{f'; request {request_id}' if request_id else ''})"
    details = _Where(tuple(reasons), status, request_id)
    if any(k in _AUTH for k in kinds):
        return _make(
            GoogleAuthError,
            f"Google Ads refused the credentials of connection {connection_id!r} {where}: {first}. "
            "Renew the refresh token or fix the developer token in that Airflow connection; this is not retried.",
            details,
        )
    if any(k in _PERMISSION for k in kinds):
        return _make(
            GooglePermissionError,
            f"connection {connection_id!r} lacks permission {where}: {first}",
            details,
        )
    if "quota_error" in kinds:
        if retry_delay is None and "quota_error.RESOURCE_TEMPORARILY_EXHAUSTED" not in reasons:
            return _make(
                GoogleQuotaExhaustedError,
                f"Google Ads quota used up {where}: {first}; not retried until the quota resets",
                details,
                wait_seconds=default_wait,
            )
        wait = max(retry_delay or 0.0, 1.0) if retry_delay is not None else default_wait
        return _make(
            GoogleThrottledError,
            f"rate limited by Google Ads {where}: {first}; waiting {wait:.0f}s",
            details,
            wait_seconds=wait,
        )
    if any(k in _TRANSIENT for k in kinds) or any(r.split(".")[1] in _TRANSIENT_REASONS for r in reasons):
        return _make(GoogleTransientError, f"temporary Google Ads error {where}: {first}", details)
    if errors:
        return _make(GoogleInvalidRequestError, f"Google Ads refused the request {where}: {first}", details)
    return from_status(
        status, first, request_id=request_id, connection_id=connection_id, default_wait=default_wait
    )


def from_status(
    status: str | None, message: str, *, request_id: str | None, connection_id: str, default_wait: float
) -> GoogleAdsError:
    """The typed error for a gRPC status that came without a GoogleAdsFailure."""
    details = _Where((), status, request_id)
    code = getattr(grpc.StatusCode, status or "UNKNOWN", grpc.StatusCode.UNKNOWN)
    if code in _TRANSIENT_STATUS:
        return _make(GoogleTransientError, f"temporary Google Ads error ({status}): {message}", details)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return _make(
            GoogleThrottledError,
            f"rate limited by Google Ads ({status}): {message}; waiting {default_wait:.0f}s",
            details,
            wait_seconds=default_wait,
        )
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return _make(
            GoogleAuthError,
            f"Google Ads refused the credentials of connection {connection_id!r} ({status}): {message}",
            details,
        )
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return _make(
            GooglePermissionError,
            f"connection {connection_id!r} lacks permission ({status}): {message}",
            details,
        )
    if code in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
    ):
        return _make(
            GoogleInvalidRequestError, f"Google Ads refused the request ({status}): {message}", details
        )
    return _make(GoogleAdsError, f"Google Ads error ({status}): {message}", details)
