"""Diagnoses.

Revision ID: diagnoser_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from journalloft.plugin import TENANT, shared_record_columns

revision = "diagnoser_0001"
down_revision = None
branch_labels = ("diagnoser",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "diagnose",
        *shared_record_columns(),
        sa.Column("code_system", sa.String(8), nullable=False),
        sa.Column("code", sa.String(5), nullable=False),
        sa.Column("display", sa.String(300), nullable=False),
        sa.Column("clinical_status", sa.String(16), nullable=True),
        sa.Column("verification_status", sa.String(16), nullable=False),
        sa.Column("onset_date", sa.Date, nullable=True),
        sa.Column("abatement_date", sa.Date, nullable=True),
        sa.Column("inactive_on", sa.Date, nullable=True),
        sa.Column("recorded_by_unit", sa.String(200), nullable=False),
        sa.Column("recorded_by_hpr", sa.String(9), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        schema=TENANT,
    )
    op.create_index(
        "ix_diagnose_patient_visible",
        "diagnose",
        ["patient"],
        schema=TENANT,
        postgresql_where=sa.column("withdrawn_at").is_(None),
        sqlite_where=sa.column("withdrawn_at").is_(None),
    )


def downgrade() -> None:
    op.drop_index("ix_diagnose_patient_visible", "diagnose", schema=TENANT)
    op.drop_table("diagnose", schema=TENANT)
