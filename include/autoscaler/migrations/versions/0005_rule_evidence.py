"""How much evidence a ROAS must rest on before a rule acts (scaling_rules.evidence_z).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from autoscaler.migrations import run_sql_file

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("migrations/0005_rule_evidence.sql")


def downgrade() -> None:
    raise NotImplementedError("the audit schema is not downgraded: restore a backup instead")
