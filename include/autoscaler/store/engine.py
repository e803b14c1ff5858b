"""Which database, and a SQLAlchemy engine for it.

Resolution order, first match wins:

1. ``AUTOSCALER_DB_URL`` (any ``postgresql://`` URL; the psycopg 3 driver is used);
2. the Airflow connection ``autoscaler_db`` from ``AIRFLOW_CONN_AUTOSCALER_DB``;
3. the Airflow connection ``autoscaler_db`` from Airflow's secrets backends and metadata
   database, when Airflow is configured here (``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` is set
   or ``$AIRFLOW_HOME/airflow.cfg`` exists); an error there is raised, never skipped over;
4. otherwise the embedded PostgreSQL in ``$AUTOSCALER_HOME`` (default ``./.autoscaler``),
   started for the duration of the command and stopped afterwards.

Inside Airflow tasks the connection goes through PostgresHook instead (autoscaler.airflow).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url

log = logging.getLogger(__name__)

AIRFLOW_CONN_ID = "autoscaler_db"


class DatabaseConfigError(RuntimeError):
    """The configured database URL or connection is unusable."""


def autoscaler_home() -> Path:
    """Project-local state: the embedded cluster, sandbox logs."""
    return Path(os.environ.get("AUTOSCALER_HOME", ".autoscaler")).resolve()


def normalize_url(url: str | URL) -> URL:
    """Any PostgreSQL URL, driven by psycopg 3."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except Exception as exc:
        raise DatabaseConfigError(f"not a database URL: {_redact(str(url))}") from exc
    backend = parsed.get_backend_name()
    if backend not in ("postgresql", "postgres"):
        raise DatabaseConfigError(f"the audit database must be PostgreSQL, got {backend!r}")
    return parsed.set(drivername="postgresql+psycopg")


def _redact(text: str) -> str:
    try:
        return make_url(text).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable>"


def _airflow_configured() -> bool:
    if os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        return True
    home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    return (home / "airflow.cfg").exists()


def _url_from_airflow_connection() -> URL | None:
    if not (os.environ.get(f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()}") or _airflow_configured()):
        return None
    from airflow.models.connection import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get_connection_from_secrets(AIRFLOW_CONN_ID)
    except AirflowNotFoundException:
        return None
    return connection_to_url(conn)


def connection_to_url(conn: object) -> URL:
    """SQLAlchemy URL from an Airflow Connection-like object (host, port, login, password, schema)."""
    return URL.create(
        "postgresql+psycopg",
        username=getattr(conn, "login", None) or None,
        password=getattr(conn, "password", None) or None,
        host=getattr(conn, "host", None) or None,
        port=getattr(conn, "port", None) or None,
        database=getattr(conn, "schema", None) or None,
    )


def configured_url() -> URL | None:
    """The configured database (steps 1-3 above), or None when the embedded one should be used."""
    env_url = os.environ.get("AUTOSCALER_DB_URL")
    if env_url:
        return normalize_url(env_url)
    return _url_from_airflow_connection()


def make_engine(url: str | URL, **kwargs: object) -> Engine:
    """An engine with sane pooling for short CLI commands and long-lived workers alike."""
    return create_engine(normalize_url(url), pool_pre_ping=True, **kwargs)


@contextmanager
def database(url: str | URL | None = None) -> Iterator[Engine]:
    """An engine for ``url``, the configured database, or the embedded one (started and stopped)."""
    chosen = normalize_url(url) if url is not None else configured_url()
    if chosen is not None:
        engine = make_engine(chosen)
        try:
            yield engine
        finally:
            engine.dispose()
        return

    from autoscaler.embedded_pg import EmbeddedPostgres

    server = EmbeddedPostgres(autoscaler_home() / "pgdata")
    log.info("no database configured: using the embedded PostgreSQL in %s", server.data_dir)
    embedded_url = server.start()
    engine = make_engine(embedded_url)
    try:
        yield engine
    finally:
        engine.dispose()
        server.stop()
