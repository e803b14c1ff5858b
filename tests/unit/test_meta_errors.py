"""Meta's errors become a small typed set that says whether and how long to wait."""

from __future__ import annotations

import json

import pytest

from autoscaler.meta.errors import (
    AuthError,
    BudgetChangeLimitError,
    InsightsTimeoutError,
    InvalidRequestError,
    MetaError,
    MetaPermissionError,
    ThrottledError,
    TransientError,
    classify,
    regain_seconds,
    usage_percent,
)


def error(code: int, subcode: int | None = None, status: int = 400, **extra: object) -> MetaError:
    body = {
        "error": {"message": "m", "code": code, **({"error_subcode": subcode} if subcode else {}), **extra}
    }
    return classify(status, body, {}, connection_id="meta_ads_default", default_wait=60)


@pytest.mark.parametrize(
    ("code", "subcode", "status", "kind"),
    [
        (190, None, 400, AuthError),
        (190, 463, 400, AuthError),
        (1, None, 500, TransientError),
        (2, None, 500, TransientError),
        (2, 1504043, 500, TransientError),
        (100, 1504018, 400, InsightsTimeoutError),
        (2, 1504038, 500, InsightsTimeoutError),
        (4, None, 400, ThrottledError),
        (17, None, 400, ThrottledError),
        (32, None, 400, ThrottledError),
        (613, None, 400, ThrottledError),
        (80004, 2446079, 400, ThrottledError),
        (80014, None, 400, ThrottledError),
        (17, 1487632, 400, BudgetChangeLimitError),
        (613, 1487632, 400, BudgetChangeLimitError),
        (10, None, 403, MetaPermissionError),
        (200, None, 403, MetaPermissionError),
        (294, None, 403, MetaPermissionError),
        (368, None, 400, MetaPermissionError),
        (100, None, 400, InvalidRequestError),
        (9999, None, 400, MetaError),
    ],
)
def test_each_code_maps_to_its_kind(
    code: int, subcode: int | None, status: int, kind: type[MetaError]
) -> None:
    err = error(code, subcode, status)
    assert type(err) is kind
    assert err.code == code


def test_only_transient_and_throttled_errors_are_retried() -> None:
    assert error(2, status=500).retryable
    assert error(80004).retryable
    assert not error(190).retryable
    assert not error(100).retryable
    assert not error(17, 1487632).retryable


def test_auth_errors_name_the_connection_and_say_not_to_retry() -> None:
    message = str(error(190, 463))
    assert "connection 'meta_ads_default'" in message
    assert "not retried" in message


def test_invalid_requests_carry_metas_explanation_of_the_field() -> None:
    err = error(100, 1885272, error_user_msg="Your daily budget must be at least 100.")
    assert "Your daily budget must be at least 100." in str(err)


def test_throttled_waits_as_the_usage_headers_say() -> None:
    headers = {
        "X-Business-Use-Case-Usage": json.dumps(
            {"123": [{"type": "ads_management", "call_count": 100, "estimated_time_to_regain_access": "3"}]}
        ),
        "x-ad-account-usage": json.dumps({"acc_id_util_pct": 100, "reset_time_duration": 50}),
    }
    err = classify(
        400, {"error": {"code": 80004, "message": "too many"}}, headers, connection_id="c", default_wait=10
    )
    assert isinstance(err, ThrottledError)
    assert err.wait_seconds == 180
    assert regain_seconds(headers) == 180
    assert usage_percent(headers) == 100


def test_throttled_without_headers_waits_the_default() -> None:
    err = classify(
        400, {"error": {"code": 4, "message": "app limit"}}, {}, connection_id="c", default_wait=42
    )
    assert isinstance(err, ThrottledError)
    assert err.wait_seconds == 42


def test_usage_values_may_be_strings_or_missing() -> None:
    assert (
        usage_percent({"x-fb-ads-insights-throttle": '{"app_id_util_pct": "12.5", "acc_id_util_pct": 80}'})
        == 80
    )
    assert usage_percent({"x-ad-account-usage": "not json"}) == 0
    assert usage_percent({}) == 0


def test_an_answer_without_an_error_object_is_transient() -> None:
    assert isinstance(
        classify(502, "<html>Bad gateway</html>", {}, connection_id="c", default_wait=1), TransientError
    )
