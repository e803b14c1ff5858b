"""The audit schema: accounts, budget holders, rules, snapshots, runs, evaluations, actions, events, profiles.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from autoscaler.migrations import run_sql_file

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("migrations/0001_audit_schema.sql")


def downgrade() -> None:
    raise NotImplementedError("the audit schema is not downgraded: restore a backup instead")
