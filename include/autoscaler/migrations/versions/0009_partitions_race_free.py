"""Snapshot partitions created race-free by concurrent writers.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from autoscaler.migrations import run_sql_file

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("migrations/0009_partitions_race_free.sql")


def downgrade() -> None:
    raise NotImplementedError("the audit schema is not downgraded: restore a backup instead")
