"""NEWS2 scored by the source: the sub-scores a source sent without the vital signs.

Revision ID: news2_0002
Revises: news2_0001
"""

import sqlalchemy as sa
from alembic import op

from journalloft.plugin import alter_schema

revision = "news2_0002"
down_revision = "news2_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    column = sa.Column("source_scores", sa.String(32))
    op.add_column("news2_measurement", column, schema=alter_schema())


def downgrade() -> None:
    with op.batch_alter_table("news2_measurement", schema=alter_schema()) as batch:
        batch.drop_column("source_scores")
