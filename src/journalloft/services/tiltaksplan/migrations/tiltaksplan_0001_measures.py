"""Measures of a person's plan.

Revision ID: tiltaksplan_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from journalloft.plugin import TENANT, shared_record_columns

revision = "tiltaksplan_0001"
down_revision = None
branch_labels = ("tiltaksplan",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tiltak",
        *shared_record_columns(),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("description", sa.String(1000), nullable=True),
        sa.Column("schedule_times", sa.String(150), nullable=True),
        sa.Column("schedule_weekdays", sa.String(30), nullable=True),
        sa.Column("schedule_every_days", sa.Integer, nullable=True),
        sa.Column("schedule_text", sa.String(200), nullable=True),
        sa.Column("unit_name", sa.String(200), nullable=False),
        sa.Column("unit_phone", sa.String(32), nullable=True),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ended_on", sa.Date, nullable=True),
        sa.Column("goal", sa.String(500), nullable=True),
        schema=TENANT,
    )
    op.create_index(
        "ix_tiltak_patient_visible",
        "tiltak",
        ["patient"],
        schema=TENANT,
        postgresql_where=sa.column("withdrawn_at").is_(None),
        sqlite_where=sa.column("withdrawn_at").is_(None),
    )


def downgrade() -> None:
    op.drop_index("ix_tiltak_patient_visible", "tiltak", schema=TENANT)
    op.drop_table("tiltak", schema=TENANT)
