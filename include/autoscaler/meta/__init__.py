"""The Meta client (Graph API via the facebook-business SDK). Knows nothing of Airflow."""

from autoscaler.meta.client import AccountInfo, BudgetChange, MetaClient, MetaConfig, WriteResult
from autoscaler.meta.errors import (
    AuthError,
    BudgetChangeLimitError,
    InsightsTimeoutError,
    InvalidRequestError,
    MetaError,
    MetaPermissionError,
    ThrottledError,
    TransientError,
)

__all__ = [
    "AccountInfo",
    "AuthError",
    "BudgetChange",
    "BudgetChangeLimitError",
    "InsightsTimeoutError",
    "InvalidRequestError",
    "MetaClient",
    "MetaConfig",
    "MetaError",
    "MetaPermissionError",
    "ThrottledError",
    "TransientError",
    "WriteResult",
]
