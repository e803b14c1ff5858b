"""The name of the campaign each budget holder belongs to.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from autoscaler.migrations import run_sql_file

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("migrations/0015_holder_campaign_name.sql")


def downgrade() -> None:
    raise NotImplementedError("the audit schema is not downgraded: restore a backup instead")
