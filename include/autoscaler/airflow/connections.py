"""Airflow connections of the autoscaler: ``meta_ads_default`` (Meta), ``google_ads_default``
(Google Ads) and ``autoscaler_db`` (Postgres)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from autoscaler.meta import MetaClient, MetaConfig

if TYPE_CHECKING:  # the google-ads library takes seconds to import: only where it is used
    from autoscaler.google.client import GoogleClient, GoogleConfig

META_CONN_ID = "meta_ads_default"
# The Airflow Google provider's default for its google_ads connection type.
GOOGLE_CONN_ID = "google_ads_default"


def meta_config(conn_id: str = META_CONN_ID) -> MetaConfig:
    """The Meta client's settings from an Airflow connection.

    password: the access token (Airflow masks it in task logs); extra: ``app_id``,
    ``app_secret``, ``api_version``, ``graph_url`` (another host, such as the sandbox),
    ``timeout``, ``page_size``, ``insights_page_size``, ``max_attempts``.
    """
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    return MetaConfig.from_connection(conn.password, conn.extra_dejson, conn_id)


def meta_client(conn_id: str = META_CONN_ID) -> MetaClient:
    return MetaClient(meta_config(conn_id))


def google_config(conn_id: str = GOOGLE_CONN_ID) -> GoogleConfig:
    """The Google Ads client's settings from an Airflow ``google_ads`` connection's extras.

    The provider's extras (docs/google-ads.md): ``developer_token``, ``client_id``,
    ``client_secret``, ``refresh_token``, ``login_customer_id``, flat or nested under
    ``google_ads_client``; a bad one is refused in one line naming it.
    """
    from airflow.sdk import BaseHook

    from autoscaler.google.client import GoogleConfig

    conn = BaseHook.get_connection(conn_id)
    return GoogleConfig.from_connection(conn.extra_dejson, conn_id)


def google_client(conn_id: str = GOOGLE_CONN_ID) -> GoogleClient:
    from autoscaler.google.client import GoogleClient

    return GoogleClient(google_config(conn_id))
