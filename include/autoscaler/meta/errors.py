"""Meta's errors as a small typed set, each saying whether and how to retry.

Built from the error object Meta returns (code, subcode, message, is_transient) and the
usage headers, never from the SDK's exception text, which embeds the request parameters,
access token included.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
BUDGET_CHANGE_LIMIT_SUBCODES = frozenset({1487632})
INSIGHTS_TIMEOUT_SUBCODES = frozenset({1504018, 1504038})


class MetaError(Exception):
    """An error from (or on the way to) Meta's Graph API."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
        fbtrace_id: str | None = None,
        user_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.http_status = http_status
        self.fbtrace_id = fbtrace_id
        self.user_message = user_message

    def as_dict(self) -> dict[str, Any]:
        """What is safe to store (scaling_actions.meta_response) and show."""
        return {
            "error": type(self).__name__,
            "message": str(self),
            "code": self.code,
            "subcode": self.subcode,
            "fbtrace_id": self.fbtrace_id,
        }


class TransientError(MetaError):
    """Codes 1 and 2, HTTP 5xx, timeouts, dropped connections, malformed answers: retry with backoff."""

    retryable = True


class InsightsTimeoutError(TransientError):
    """A synchronous insights query was too big; ask again as an async report.

    Not retried as it stands: the same query would time out again.
    """

    retryable = False


class ThrottledError(MetaError):
    """Rate limited (4, 17, 32, 613, 80000-80014): wait as long as Meta says, then retry."""

    retryable = True

    def __init__(self, message: str, *, wait_seconds: float, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.wait_seconds = wait_seconds


class AuthError(MetaError):
    """Code 190: the access token is invalid or expired. Never retried."""


class MetaPermissionError(MetaError):
    """Codes 10 and 200-299 (and 368, a policy block): the token may not do this."""


class InvalidRequestError(MetaError):
    """Code 100: a parameter Meta refuses; the message names it. Not retried."""


class BudgetChangeLimitError(MetaError):
    """This entity's budget changed too often this hour (Meta allows 4); try next hour."""


def usage_percent(headers: Mapping[str, str]) -> int:
    """The highest utilisation any of Meta's usage headers reports (0-100)."""
    highest = 0
    for name in (
        "x-business-use-case-usage",
        "x-ad-account-usage",
        "x-fb-ads-insights-throttle",
        "x-app-usage",
    ):
        raw = _header(headers, name)
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except (TypeError, ValueError):
            continue
        for value in _numbers(
            data, ("call_count", "total_cputime", "total_time", "acc_id_util_pct", "app_id_util_pct")
        ):
            highest = max(highest, int(value))
    return min(highest, 100)


def regain_seconds(headers: Mapping[str, str]) -> float:
    """Seconds until access returns, from estimated_time_to_regain_access (minutes) or reset_time_duration."""
    best = 0.0
    for name, key, scale in (
        ("x-business-use-case-usage", "estimated_time_to_regain_access", 60.0),  # minutes
        ("x-ad-account-usage", "reset_time_duration", 1.0),  # seconds
    ):
        raw = _header(headers, name)
        if raw:
            with contextlib.suppress(TypeError, ValueError):
                for value in _numbers(json.loads(raw), (key,)):
                    best = max(best, value * scale)
    return best


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _numbers(data: Any, keys: tuple[str, ...]) -> list[float]:
    """Values of ``keys`` anywhere in nested JSON (Meta sends numbers, sometimes as strings)."""
    found: list[float] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key in keys:
                with contextlib.suppress(TypeError, ValueError):
                    found.append(float(value))
            else:
                found += _numbers(value, keys)
    elif isinstance(data, list):
        for item in data:
            found += _numbers(item, keys)
    return found


def classify(
    http_status: int | None, body: Any, headers: Mapping[str, str], *, connection_id: str, default_wait: float
) -> MetaError:
    """The typed error for one failed answer."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return TransientError(
            f"Meta answered HTTP {http_status} without an error object", http_status=http_status
        )
    code = _int(error.get("code"))
    subcode = _int(error.get("error_subcode"))
    message = str(error.get("message", "no message"))
    details: dict[str, Any] = {
        "code": code,
        "subcode": subcode,
        "http_status": http_status,
        "fbtrace_id": error.get("fbtrace_id"),
        "user_message": error.get("error_user_msg"),
    }
    where = f"(code {code}{f'/{subcode}' if subcode else ''})"
    if code == 190:
        return AuthError(
            f"Meta rejected the access token of connection {connection_id!r} {where}: {message}. "
            "Renew the token in that Airflow connection; this is not retried.",
            **details,
        )
    if subcode in BUDGET_CHANGE_LIMIT_SUBCODES:
        return BudgetChangeLimitError(f"budget change limit reached {where}: {message}", **details)
    if code in THROTTLE_CODES:
        wait = max(regain_seconds(headers), default_wait)
        return ThrottledError(
            f"rate limited by Meta {where}: {message}; waiting {wait:.0f}s", wait_seconds=wait, **details
        )
    if code in (1, 2) or (http_status or 0) >= 500 or error.get("is_transient") is True:
        if subcode in INSIGHTS_TIMEOUT_SUBCODES:
            return InsightsTimeoutError(f"insights query timed out {where}: {message}", **details)
        return TransientError(f"temporary Meta error {where}: {message}", **details)
    if code == 100 and subcode in INSIGHTS_TIMEOUT_SUBCODES:
        return InsightsTimeoutError(f"insights query timed out {where}: {message}", **details)
    if code == 10 or (code is not None and 200 <= code <= 299) or code == 368:
        return MetaPermissionError(
            f"connection {connection_id!r} lacks permission {where}: {message}", **details
        )
    if code == 100:
        user = error.get("error_user_msg")
        return InvalidRequestError(
            f"Meta refused a parameter {where}: {message}{f' ({user})' if user else ''}", **details
        )
    return MetaError(f"Meta error {where}: {message}", **details)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
