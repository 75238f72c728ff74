"""Diagnoses.

Revision ID: diagnoser_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from journalloft.platform.plugin import TENANT, UTCDateTime

revision = "diagnoser_0001"
down_revision = None
branch_labels = ("diagnoser",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "diagnose",
        sa.Column("source", sa.String(128), primary_key=True),
        sa.Column("record_id", sa.String(128), primary_key=True),
        sa.Column("patient", sa.String(11), nullable=False),
        sa.Column("updated", UTCDateTime, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("withdrawn_at", UTCDateTime, nullable=True),
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
