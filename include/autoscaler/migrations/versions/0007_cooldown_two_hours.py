"""New rules' cooldown defaults to 2 hours (the backtest), existing rules keep theirs.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from autoscaler.migrations import run_sql_file

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("migrations/0007_cooldown_two_hours.sql")


def downgrade() -> None:
    raise NotImplementedError("the audit schema is not downgraded: restore a backup instead")
