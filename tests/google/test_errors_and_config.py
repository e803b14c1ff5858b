"""Google failures map to the Meta path's typed errors; a connection's extras are checked by name."""

from __future__ import annotations

from typing import Any

import pytest
from google.ads.googleads.v26.errors.types import errors as ads_errors

from autoscaler.google.client import GoogleConfig
from autoscaler.google.errors import (
    GoogleAdsError,
    GoogleAuthError,
    GoogleInvalidRequestError,
    GooglePermissionError,
    GoogleQuotaExhaustedError,
    GoogleThrottledError,
    GoogleTransientError,
    classify_errors,
    from_status,
)
from autoscaler.meta.errors import (
    AuthError,
    InvalidRequestError,
    MetaPermissionError,
    ThrottledError,
    TransientError,
)


def failure(kind: str, reason: str, retry_seconds: int | None = None) -> Any:
    error = ads_errors.GoogleAdsError(message="m", error_code=ads_errors.ErrorCode(**{kind: reason}))
    if retry_seconds is not None:
        error.details = ads_errors.ErrorDetails(
            quota_error_details=ads_errors.QuotaErrorDetails(retry_delay={"seconds": retry_seconds})
        )
    return classify_errors(
        [error], status="X", request_id="r1", connection_id="google_ads_default", default_wait=30
    )


def test_a_rate_limit_waits_as_long_as_google_says() -> None:
    error = failure("quota_error", "RESOURCE_TEMPORARILY_EXHAUSTED", retry_seconds=42)
    assert isinstance(error, GoogleThrottledError)
    assert isinstance(error, ThrottledError)
    assert error.retryable
    assert error.wait_seconds == 42


def test_a_used_up_daily_quota_is_not_retried() -> None:
    error = failure("quota_error", "RESOURCE_EXHAUSTED")
    assert isinstance(error, GoogleQuotaExhaustedError)
    assert isinstance(error, ThrottledError)
    assert not error.retryable


@pytest.mark.parametrize(
    ("kind", "reason", "expected", "meta_class", "retryable"),
    [
        ("authentication_error", "OAUTH_TOKEN_EXPIRED", GoogleAuthError, AuthError, False),
        ("authentication_error", "DEVELOPER_TOKEN_INVALID", GoogleAuthError, AuthError, False),
        ("authorization_error", "USER_PERMISSION_DENIED", GooglePermissionError, MetaPermissionError, False),
        ("internal_error", "INTERNAL_ERROR", GoogleTransientError, TransientError, True),
        ("database_error", "CONCURRENT_MODIFICATION", GoogleTransientError, TransientError, True),
        (
            "campaign_budget_error",
            "MONEY_AMOUNT_TOO_LARGE",
            GoogleInvalidRequestError,
            InvalidRequestError,
            False,
        ),
        ("query_error", "UNRECOGNIZED_FIELD", GoogleInvalidRequestError, InvalidRequestError, False),
    ],
)
def test_each_error_code_maps_to_the_typed_error_meta_uses(
    kind: str, reason: str, expected: type[GoogleAdsError], meta_class: type, retryable: bool
) -> None:
    error = failure(kind, reason)
    assert isinstance(error, expected)
    assert isinstance(error, meta_class)
    assert error.retryable is retryable
    stored = error.as_dict()
    assert stored["reasons"] == [f"{kind}.{reason}"]
    assert stored["request_id"] == "r1"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("UNAVAILABLE", GoogleTransientError),
        ("DEADLINE_EXCEEDED", GoogleTransientError),
        ("RESOURCE_EXHAUSTED", GoogleThrottledError),
        ("UNAUTHENTICATED", GoogleAuthError),
        ("PERMISSION_DENIED", GooglePermissionError),
        ("INVALID_ARGUMENT", GoogleInvalidRequestError),
    ],
)
def test_a_status_without_a_failure_still_maps(status: str, expected: type) -> None:
    error = from_status(status, "m", request_id=None, connection_id="c", default_wait=5)
    assert isinstance(error, expected)


PRODUCTION = {
    "developer_token": "DEVTOKEN-x1",
    "client_id": "id.apps.googleusercontent.com",
    "client_secret": "GOCSPX-s3cr3t",
    "refresh_token": "1//r3fr3sh",
    "login_customer_id": "1234567890",
}


def test_the_providers_extras_make_a_config_and_no_secret_shows_in_its_repr() -> None:
    config = GoogleConfig.from_connection({**PRODUCTION, "use_proto_plus": True})
    assert config.login_customer_id == "1234567890"
    assert config.endpoint is None
    shown = repr(config)
    assert not any(value in shown for value in ("DEVTOKEN-x1", "GOCSPX-s3cr3t", "1//r3fr3sh"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({**PRODUCTION, "refresh_token": ""}, "refresh_token: required"),
        ({**PRODUCTION, "login_customer_id": "123-456-7890"}, "extra.login_customer_id: String should match"),
        ({**PRODUCTION, "colour": "red"}, "extra.colour: unknown field"),
        (
            {**PRODUCTION, "batch_size": 20_000},
            "extra.batch_size: Input should be less than or equal to 10000",
        ),
        (
            {"developer_token": "d", "endpoint": "googleads.example.com:443", "access_token": "t"},
            "endpoint: the sandbox",
        ),
        ({"developer_token": "d", "endpoint": "127.0.0.1:5000"}, "access_token: required with endpoint"),
    ],
)
def test_bad_extras_are_refused_in_one_line_naming_the_field(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=r"^connection 'google_ads_default': ") as caught:
        GoogleConfig.from_connection(extra)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_providers_legacy_nested_extras_are_read_too() -> None:
    config = GoogleConfig.from_connection({"google_ads_client": {**PRODUCTION, "use_proto_plus": "True"}})
    assert config.login_customer_id == "1234567890"
    assert config.refresh_token is not None


def test_the_service_account_flow_is_refused_by_name_not_half_used() -> None:
    extra = {
        "google_ads_client": {
            "developer_token": "d",
            "json_key_file_path": None,
            "impersonated_email": "a@b.c",
        }
    }
    with pytest.raises(
        ValueError, match=r"extra\.impersonated_email: the service-account flow is not supported"
    ):
        GoogleConfig.from_connection(extra)


def test_production_extras_build_the_librarys_own_service_for_googles_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from google.oauth2.credentials import Credentials

    from autoscaler.google.client import GoogleClient

    refreshed: list[str] = []
    monkeypatch.setattr(Credentials, "refresh", lambda self, request: refreshed.append(self.refresh_token))
    service = GoogleClient(GoogleConfig.from_connection(PRODUCTION)).service("GoogleAdsService")
    assert type(service).__name__ == "GoogleAdsServiceClient"
    assert service.transport._host == "googleads.googleapis.com:443"
    assert refreshed == ["1//r3fr3sh"]  # the library refreshed the token from the connection's


def test_a_refresh_token_google_refuses_is_an_auth_error_at_the_first_call_never_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from google.auth.exceptions import RefreshError
    from google.oauth2.credentials import Credentials

    from autoscaler.google.client import GoogleClient
    from autoscaler.google.errors import GoogleAuthError

    def refused(self: Credentials, request: object) -> None:
        raise RefreshError("invalid_grant: Token has been expired or revoked.")  # type: ignore[no-untyped-call]

    monkeypatch.setattr(Credentials, "refresh", refused)
    ads = GoogleClient(GoogleConfig.from_connection(PRODUCTION), sleep=lambda _: None)  # no call yet
    with pytest.raises(GoogleAuthError, match="refresh token was refused"):
        ads.get_account("1234567890")
    assert ads.requests_made == 1
