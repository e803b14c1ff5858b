"""Scaling actions on Google Ads campaign budgets, and pause switches for Google Ads customers.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from autoscaler.migrations import run_sql_file

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("migrations/0014_google_ads_actions.sql")


def downgrade() -> None:
    raise NotImplementedError("the audit schema is not downgraded: restore a backup instead")
