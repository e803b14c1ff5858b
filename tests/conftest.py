"""Shared fixtures: a real PostgreSQL for the integration tests.

By default a throwaway embedded server (pip-installed binaries, fsync off) is started once
per test session.  Set AUTOSCALER_TEST_DB_URL to a PostgreSQL 15+ server URL whose user may
create databases to run against that instead.  Either way each test gets a database of its
own, copied from a template migrated once per session, and dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url

from autoscaler import migrations
from autoscaler.store.engine import make_engine, normalize_url

TEMPLATE_DB = f"autoscaler_test_template_{os.getpid()}"


def _admin(url: URL) -> psycopg.Connection:
    return psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname="postgres",
        autocommit=True,
    )


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[URL]:
    """URL of a PostgreSQL server (database part ignored) the tests may create databases on."""
    external = os.environ.get("AUTOSCALER_TEST_DB_URL")
    if external:
        yield normalize_url(external)
        return
    from autoscaler.embedded_pg import EmbeddedPostgres

    # Under /tmp, not pytest's per-user temp dir: that one is 0700 and, when we run as root,
    # the server runs as an unprivileged user who must reach the data directory.
    root = Path(tempfile.mkdtemp(prefix="autoscaler-test-pg-"))
    root.chmod(0o755)
    server = EmbeddedPostgres(root / "pgdata", fast_unsafe=True)
    try:
        yield make_url(server.start("postgres"))
    finally:
        server.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def migrated_template(pg_server_url: URL) -> Iterator[str]:
    """A database migrated to head, copied for each test that needs the schema."""
    with _admin(pg_server_url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
        admin.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    engine = make_engine(pg_server_url.set(database=TEMPLATE_DB))
    migrations.upgrade(engine)
    engine.dispose()
    yield TEMPLATE_DB
    with _admin(pg_server_url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)')


def new_database(pg_server_url: URL, template: str | None) -> Iterator[URL]:
    name = f"autoscaler_test_{uuid.uuid4().hex[:12]}"
    with _admin(pg_server_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield pg_server_url.set(database=name)
    finally:
        with _admin(pg_server_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_db_url(pg_server_url: URL) -> Iterator[URL]:
    """A new, empty database."""
    yield from new_database(pg_server_url, None)


@pytest.fixture
def db_url(pg_server_url: URL, migrated_template: str) -> Iterator[URL]:
    """A new database with the audit schema at head."""
    yield from new_database(pg_server_url, migrated_template)


@pytest.fixture
def engine(db_url: URL) -> Iterator[Engine]:
    """Engine on a new database with the audit schema at head."""
    eng = make_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()
