"""NEWS2 scored by the source: the sub-scores a source sent without the vital signs.

Revision ID: news2_0002
Revises: news2_0001
"""

import sqlalchemy as sa
from alembic import op

from journalloft.plugin import TENANT

revision = "news2_0002"
down_revision = "news2_0001"
branch_labels = None
depends_on = None


def _schema() -> str | None:
    """The tenant's real schema: ALTER TABLE is rendered without the connection's
    ``schema_translate_map`` (CREATE TABLE and CREATE INDEX are translated)."""
    translate = op.get_bind().get_execution_options().get("schema_translate_map") or {}
    schema: str | None = translate.get(TENANT, TENANT)
    return schema


def upgrade() -> None:
    op.add_column("news2_measurement", sa.Column("source_scores", sa.String(32)), schema=_schema())


def downgrade() -> None:
    with op.batch_alter_table("news2_measurement", schema=_schema()) as batch:
        batch.drop_column("source_scores")
