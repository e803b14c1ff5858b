"""The database bounds money (10^15 minor units) and accepts only the currencies Meta uses.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from autoscaler.migrations import run_sql_file

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("migrations/0010_money_bounds.sql")


def downgrade() -> None:
    raise NotImplementedError("the audit schema is not downgraded: restore a backup instead")
