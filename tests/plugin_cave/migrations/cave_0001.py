"""The cave_entry table.

Revision ID: cave_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from journalloft.plugin import TENANT, shared_record_columns

revision = "cave_0001"
down_revision = None
branch_labels = ("cave",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cave_entry",
        *shared_record_columns(),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.String(200), nullable=False),
        schema=TENANT,
    )
    op.create_index("ix_cave_entry_patient", "cave_entry", ["patient"], schema=TENANT)


def downgrade() -> None:
    op.drop_table("cave_entry", schema=TENANT)
