"""Operator surface: operator actions unlimited, control_events, dashboard views.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from autoscaler.migrations import run_sql_file

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("migrations/0004_operator_surface.sql")


def downgrade() -> None:
    raise NotImplementedError("the audit schema is not downgraded: restore a backup instead")
