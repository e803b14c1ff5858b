"""Each ad account belongs to a platform: meta or google_ads (ad_accounts.platform).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from autoscaler.migrations import run_sql_file

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("migrations/0013_account_platform.sql")


def downgrade() -> None:
    raise NotImplementedError("the audit schema is not downgraded: restore a backup instead")
