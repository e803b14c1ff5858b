"""Schema migrations: up from empty, idempotent, safe from two processes, documented."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from autoscaler import migrations
from autoscaler.store.engine import make_engine

pytestmark = pytest.mark.integration

TABLES = {
    "ad_accounts",
    "budget_holders",
    "scaling_rules",
    "scaling_rule_revisions",
    "campaign_performance_snapshots",
    "scaling_runs",
    "scaling_evaluations",
    "scaling_actions",
    "action_events",
    "optimal_hour_profiles",
    "pause_switches",
    "control_events",
    "alembic_version",
}


def tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'autoscaler' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
            )
        )
        return {r[0] for r in rows}


def test_upgrade_from_empty_creates_every_table_at_head(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    assert migrations.current_revision(engine) is None
    migrations.upgrade(engine)
    assert migrations.current_revision(engine) == migrations.head_revision()
    assert tables(engine) == TABLES
    engine.dispose()


def test_upgrade_twice_changes_nothing(engine: Engine) -> None:
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM pg_class")).scalar_one()
    migrations.upgrade(engine)
    with engine.connect() as conn:
        after = conn.execute(text("SELECT count(*) FROM pg_class")).scalar_one()
    assert after == before
    assert migrations.current_revision(engine) == migrations.head_revision()


def test_two_processes_upgrading_at_once_both_succeed(empty_db_url: URL) -> None:
    url = empty_db_url.render_as_string(hide_password=False)
    command = [sys.executable, "-m", "autoscaler.cli", "db", "upgrade", "--url", url]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    outcomes = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outcomes
    said = sorted(out.strip() for out, _ in outcomes)
    head = migrations.head_revision()
    assert said == [
        f"audit schema already at revision {head}",
        f"audit schema already at revision {head}",
        f"audit schema upgraded from empty to {head}",
    ]
    engine = make_engine(empty_db_url)
    assert tables(engine) == TABLES
    engine.dispose()


def test_upgrading_revision_by_revision_keeps_existing_rows(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    assert migrations.upgrade(engine, "0001") == (None, "0001")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO autoscaler.ad_accounts VALUES ('act_9', 'kept', 'USD', 'UTC')"))
    with pytest.raises(migrations.SchemaNotCurrentError, match="at revision 0001, this version needs"):
        migrations.require_current(engine)
    assert migrations.upgrade(engine) == ("0001", migrations.head_revision())
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM autoscaler.ad_accounts")).scalar_one() == "kept"
    engine.dispose()


def test_require_current_says_what_to_run_on_an_empty_database(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    with pytest.raises(migrations.SchemaNotCurrentError, match="run `autoscaler db upgrade`"):
        migrations.require_current(engine)
    engine.dispose()


def test_every_table_and_column_has_a_comment(engine: Engine) -> None:
    with engine.connect() as conn:
        undocumented = (
            conn.execute(
                text(
                    """
                SELECT c.relname || coalesce('.' || a.attname, '')
                  FROM pg_class c
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                  LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                 WHERE n.nspname = 'autoscaler' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                   AND c.relname <> 'alembic_version'
                   AND (obj_description(c.oid, 'pg_class') IS NULL
                        OR (a.attnum IS NOT NULL AND col_description(c.oid, a.attnum) IS NULL))
                """
                )
            )
            .scalars()
            .all()
        )
    assert undocumented == []


def test_version_table_is_apart_from_airflows_own(engine: Engine) -> None:
    with engine.connect() as conn:
        public = conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar_one()
        ours = conn.execute(text("SELECT version_num FROM autoscaler.alembic_version")).scalar_one()
    assert public is None
    assert ours == migrations.head_revision()
