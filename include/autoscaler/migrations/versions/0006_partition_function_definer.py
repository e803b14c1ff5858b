"""The snapshot-partition function runs with its owner's rights, for the least-privilege app role.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from autoscaler.migrations import run_sql_file

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("migrations/0006_partition_function_definer.sql")


def downgrade() -> None:
    raise NotImplementedError("the audit schema is not downgraded: restore a backup instead")
