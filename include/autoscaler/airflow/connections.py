"""Airflow connections of the autoscaler: ``meta_ads_default`` (Meta) and ``autoscaler_db`` (Postgres)."""

from __future__ import annotations

from autoscaler.meta import MetaClient, MetaConfig

META_CONN_ID = "meta_ads_default"


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
