"""The cave_entry table.

Revision ID: cave_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from journalloft.platform.plugin import TENANT, UTCDateTime

revision = "cave_0001"
down_revision = None
branch_labels = ("cave",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cave_entry",
        sa.Column("source", sa.String(128), primary_key=True),
        sa.Column("record_id", sa.String(128), primary_key=True),
        sa.Column("patient", sa.String(11), nullable=False, index=True),
        sa.Column("updated", UTCDateTime, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("withdrawn_at", UTCDateTime, nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.String(200), nullable=False),
        schema=TENANT,
    )


def downgrade() -> None:
    op.drop_table("cave_entry", schema=TENANT)
