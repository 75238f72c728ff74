"""Assessments.

Revision ID: kartlegginger_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from journalloft.plugin import TENANT, shared_record_columns

revision = "kartlegginger_0001"
down_revision = None
branch_labels = ("kartlegginger",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kartlegging",
        *shared_record_columns(),
        sa.Column("instrument", sa.String(16), nullable=False),
        sa.Column("assessed_on", sa.Date, nullable=False),
        sa.Column("total", sa.Integer, nullable=True),
        sa.Column("items", sa.JSON, nullable=True),
        sa.Column("band", sa.String(16), nullable=True),
        sa.Column("band_by", sa.String(8), nullable=True),
        sa.Column("assessed_by_unit", sa.String(200), nullable=False),
        sa.Column("assessed_by_hpr", sa.String(9), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        schema=TENANT,
    )
    op.create_index(
        "ix_kartlegging_patient_visible",
        "kartlegging",
        ["patient", "assessed_on"],
        schema=TENANT,
        postgresql_where=sa.column("withdrawn_at").is_(None),
        sqlite_where=sa.column("withdrawn_at").is_(None),
    )


def downgrade() -> None:
    op.drop_index("ix_kartlegging_patient_visible", "kartlegging", schema=TENANT)
    op.drop_table("kartlegging", schema=TENANT)
