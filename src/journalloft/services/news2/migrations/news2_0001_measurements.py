"""NEWS2 measurements.

Revision ID: news2_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from journalloft.plugin import TENANT, UTCDateTime

revision = "news2_0001"
down_revision = None
branch_labels = ("news2",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "news2_measurement",
        sa.Column("source", sa.String(128), primary_key=True),
        sa.Column("record_id", sa.String(128), primary_key=True),
        sa.Column("patient", sa.String(11), nullable=False),
        sa.Column("updated", UTCDateTime, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("withdrawn_at", UTCDateTime),
        sa.Column("effective", UTCDateTime, nullable=False),
        sa.Column("spo2_scale", sa.SmallInteger, nullable=False),
        sa.Column("respiration_rate", sa.SmallInteger),
        sa.Column("spo2", sa.SmallInteger),
        sa.Column("supplemental_oxygen", sa.Boolean),
        sa.Column("systolic_bp", sa.SmallInteger),
        sa.Column("pulse", sa.SmallInteger),
        sa.Column("consciousness", sa.String(1)),
        sa.Column("temperature", sa.Double),
        sa.Column("recorded_by_name", sa.String(200)),
        sa.Column("recorded_by_hpr", sa.String(9)),
        sa.Column("location", sa.String(200)),
        schema=TENANT,
    )
    op.create_index(
        "ix_news2_measurement_patient_effective",
        "news2_measurement",
        ["patient", "effective"],
        schema=TENANT,
    )


def downgrade() -> None:
    op.drop_index("ix_news2_measurement_patient_effective", "news2_measurement", schema=TENANT)
    op.drop_table("news2_measurement", schema=TENANT)
