"""NEWS2 provenance: who measured (FNR/DNR as VKP names the author), the organisation
responsible (ENH or RESH), where the source says it comes from (meta.source), and the source's
text for each sub-score. All nullable: stored measurements keep working as they are.

Revision ID: news2_0003
Revises: news2_0002
"""

import sqlalchemy as sa
from alembic import op

from journalloft.plugin import TENANT

revision = "news2_0003"
down_revision = "news2_0002"
branch_labels = None
depends_on = None

COLUMNS = (
    ("recorded_by_national_id", sa.String(11)),
    ("data_controller_orgnr", sa.String(9)),
    ("data_controller_resh", sa.String(9)),
    ("data_controller_name", sa.String(200)),
    ("source_system", sa.String(255)),
    ("interpretations", sa.JSON()),
)


def _schema() -> str | None:
    """The tenant's real schema: ALTER TABLE is rendered without the connection's
    ``schema_translate_map`` (CREATE TABLE and CREATE INDEX are translated)."""
    translate = op.get_bind().get_execution_options().get("schema_translate_map") or {}
    schema: str | None = translate.get(TENANT, TENANT)
    return schema


def upgrade() -> None:
    for name, kind in COLUMNS:
        op.add_column("news2_measurement", sa.Column(name, kind), schema=_schema())


def downgrade() -> None:
    with op.batch_alter_table("news2_measurement", schema=_schema()) as batch:
        for name, _kind in reversed(COLUMNS):
            batch.drop_column(name)
