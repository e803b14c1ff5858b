"""The base budget on actions (base_before, base_after), for time-of-day adjustments.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from autoscaler.migrations import run_sql_file

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("migrations/0003_action_base_budget.sql")


def downgrade() -> None:
    raise NotImplementedError("the audit schema is not downgraded: restore a backup instead")
