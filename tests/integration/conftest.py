"""Fixtures the integration tests share."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from autoscaler.store.engine import make_engine

ROLES = Path(__file__).resolve().parents[2] / "sql" / "roles.sql"


def owner_connection(db_url: URL) -> psycopg.Connection:
    """A plain autocommit connection as the database's owner (the tests' user)."""
    return psycopg.connect(
        host=db_url.host,
        port=db_url.port,
        user=db_url.username,
        password=db_url.password,
        dbname=db_url.database,
        autocommit=True,
    )


@pytest.fixture
def app_engine(db_url: URL) -> Iterator[Engine]:
    """An engine logged in as a new role that is only a member of autoscaler_app (sql/roles.sql)."""
    login = f"autoscaler_svc_{uuid.uuid4().hex[:8]}"
    with owner_connection(db_url) as owner:
        can = owner.execute(
            "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        if not (can and can[0]):
            pytest.skip("the test server's user may not create roles")
        owner.execute(ROLES.read_text())
        owner.execute(f'CREATE ROLE "{login}" LOGIN IN ROLE autoscaler_app')
    engine = make_engine(db_url.set(username=login, password=None))
    try:
        yield engine
    finally:
        engine.dispose()
        with owner_connection(db_url) as owner:
            owner.execute(f'DROP ROLE "{login}"')
