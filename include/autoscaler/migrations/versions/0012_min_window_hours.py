"""A rule acts only once an entity's window holds enough hours of data (scaling_rules.min_window_hours).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from autoscaler.migrations import run_sql_file

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("migrations/0012_min_window_hours.sql")


def downgrade() -> None:
    raise NotImplementedError("the audit schema is not downgraded: restore a backup instead")
