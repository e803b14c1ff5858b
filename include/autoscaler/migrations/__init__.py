"""Versioned schema migrations, applied by ``autoscaler db upgrade``.

Alembic (already in Airflow's dependency tree) keeps the revision history; each revision
executes one readable file from ``sql/migrations/``.  The version table lives in the
``autoscaler`` schema, apart from Airflow's own ``alembic_version``, and every upgrade runs
in one transaction under an advisory lock, so running it twice, or from two processes at
once, is safe: the second waits, then finds nothing to do.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from autoscaler.resources import read_sql

SCHEMA = "autoscaler"
VERSION_TABLE = "alembic_version"
LOCK_NAME = "autoscaler.migrations"


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision this installation knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


def _revision_on(conn: Connection) -> str | None:
    ctx = MigrationContext.configure(
        conn, opts={"version_table": VERSION_TABLE, "version_table_schema": SCHEMA}
    )
    return ctx.get_current_revision()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as conn:
        return _revision_on(conn)


class SchemaNotCurrentError(RuntimeError):
    """The audit schema is missing or older than this installation expects."""


def require_current(engine: Engine) -> None:
    """Raise SchemaNotCurrentError, saying what to run, unless the schema is at head."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        state = "not installed" if current is None else f"at revision {current}, this version needs {head}"
        raise SchemaNotCurrentError(f"the audit schema is {state}: run `autoscaler db upgrade`")


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to ``revision`` in one transaction; return (revision before, after).

    Both revisions are read under the lock, so with concurrent callers exactly one reports
    a change and the others report that there was nothing to do.
    """
    with engine.begin() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock(hashtext('{LOCK_NAME}'))")
        # Alembic looks for its version table inside the schema, so the schema comes first.
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        before = _revision_on(conn)
        command.upgrade(_config(conn), revision)
        return before, _revision_on(conn)


def run_sql_file(relative_path: str) -> None:
    """Execute ``sql/<relative_path>`` inside the running migration (for revision scripts)."""
    from alembic import op

    # Sent through psycopg without parameters, so the file goes to the server exactly as
    # written (no bind-parameter or %-placeholder parsing), on the migration's transaction.
    raw = op.get_bind().connection.driver_connection
    assert raw is not None
    raw.execute(read_sql(relative_path))
