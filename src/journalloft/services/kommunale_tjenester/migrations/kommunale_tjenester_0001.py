"""The kommunal_tjeneste table and its indexes.

Revision ID: kommunale_tjenester_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from journalloft.plugin import TENANT, UTCDateTime

revision = "kommunale_tjenester_0001"
down_revision = None
branch_labels = ("kommunale_tjenester",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kommunal_tjeneste",
        sa.Column("source", sa.String(128), primary_key=True),
        sa.Column("record_id", sa.String(128), primary_key=True),
        sa.Column("patient", sa.String(11), nullable=False),
        sa.Column("updated", UTCDateTime, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("withdrawn_at", UTCDateTime, nullable=True),
        sa.Column("service_code", sa.String(3), nullable=False),
        sa.Column("description", sa.String(1000), nullable=True),
        sa.Column("unit_name", sa.String(200), nullable=True),
        sa.Column("unit_phone", sa.String(32), nullable=True),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=True),
        sa.Column("temporary_cessation", sa.Boolean, nullable=False),
        sa.Column("weekly_extent", sa.String(100), nullable=True),
        sa.Column("stay_type", sa.String(32), nullable=True),
        schema=TENANT,
    )
    op.create_index(
        "ix_kommunal_tjeneste_patient_visible",
        "kommunal_tjeneste",
        ["patient"],
        schema=TENANT,
        postgresql_where=sa.column("withdrawn_at").is_(None),
        sqlite_where=sa.column("withdrawn_at").is_(None),
    )


def downgrade() -> None:
    op.drop_table("kommunal_tjeneste", schema=TENANT)
