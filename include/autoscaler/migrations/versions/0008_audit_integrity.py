"""Histories written by the database only, every action column guarded, no TRUNCATE, every control change an event.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from autoscaler.migrations import run_sql_file

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("migrations/0008_audit_integrity.sql")


def downgrade() -> None:
    raise NotImplementedError("the audit schema is not downgraded: restore a backup instead")
