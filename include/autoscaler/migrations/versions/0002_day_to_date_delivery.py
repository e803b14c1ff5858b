"""Day-to-date delivery on snapshots (to difference live reads); last-seen budget, status, learning on holders.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from autoscaler.migrations import run_sql_file

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("migrations/0002_day_to_date_delivery.sql")


def downgrade() -> None:
    raise NotImplementedError("the audit schema is not downgraded: restore a backup instead")
