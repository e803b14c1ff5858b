"""How a rule decides (scaling_rules.strategy and the allocator's settings), and what an
allocator decision rests on (scaling_actions' curve columns).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from autoscaler.migrations import run_sql_file

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("migrations/0011_allocator_strategy.sql")


def downgrade() -> None:
    raise NotImplementedError("the audit schema is not downgraded: restore a backup instead")
