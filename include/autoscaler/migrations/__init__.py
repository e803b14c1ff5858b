"""Versioned schema migrations, applied by ``autoscaler db upgrade``.

Alembic (already in Airflow's dependency tree) keeps the revision history; each revision
executes one readable file from ``sql/migrations/``.  The version table lives in the
``autoscaler`` schema, apart from Airflow's own ``alembic_version``, and every upgrade runs
in one transaction under an advisory lock, so running it twice, or from two processes at
once, is safe: the second waits, then finds nothing to do.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text

from autoscaler.resources import read_sql

if TYPE_CHECKING:  # Alembic is imported where it is used: a CLI command only checks the revision
    from alembic.config import Config

SCHEMA = "autoscaler"
VERSION_TABLE = "alembic_version"
LOCK_NAME = "autoscaler.migrations"


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision this installation knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


def _revision_on(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

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


def declared_head() -> str:
    """The head revision, read from the revision files' own ``revision`` / ``down_revision``
    lines: what Alembic's ScriptDirectory says (tests/unit/test_cli_speed.py holds them equal)
    without importing Alembic, which would cost every CLI command about 0.15 s."""
    parents: dict[str, str | None] = {}
    for path in (Path(__file__).parent / "versions").glob("[0-9]*.py"):
        source = path.read_text(encoding="utf-8")
        revision = re.search(r'^revision = "([^"]+)"', source, re.M)
        parent = re.search(r'^down_revision = (?:"([^"]+)"|None)', source, re.M)
        if revision is None or parent is None:
            return head_revision()  # a file of another shape: let Alembic read it
        parents[revision.group(1)] = parent.group(1)
    heads = set(parents) - {p for p in parents.values() if p is not None}
    return heads.pop() if len(heads) == 1 else head_revision()


def _stored_revision(engine: Engine) -> str | None:
    """The revision in the version table, read with plain SQL (None: no schema yet)."""
    with engine.connect() as conn:
        if conn.execute(text(f"SELECT to_regclass('{SCHEMA}.{VERSION_TABLE}')")).scalar() is None:
            return None
        found = conn.execute(text(f"SELECT version_num FROM {SCHEMA}.{VERSION_TABLE}")).scalars().all()
    return found[0] if len(found) == 1 else current_revision(engine)  # several heads: Alembic's words


def require_current(engine: Engine) -> None:
    """Raise SchemaNotCurrentError, saying what to run, unless the schema is at head."""
    current, head = _stored_revision(engine), declared_head()
    if current != head:
        state = "not installed" if current is None else f"at revision {current}, this version needs {head}"
        raise SchemaNotCurrentError(f"the audit schema is {state}: run `autoscaler db upgrade`")


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to ``revision`` in one transaction; return (revision before, after).

    Both revisions are read under the lock, so with concurrent callers exactly one reports
    a change and the others report that there was nothing to do.
    """
    from alembic import command

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
