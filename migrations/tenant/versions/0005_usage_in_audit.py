"""What the usage report needs from the audit log: the age of the newest data a read returned,
and the channel it went out on (a live stream's reads are not lookups).

Revision ID: tenant_0005
Revises: tenant_0004
"""

import sqlalchemy as sa
from alembic import op

from journalloft.platform.storage.tables import TENANT

revision = "tenant_0005"
down_revision = "tenant_0004"
branch_labels = None
depends_on = None


def _schema() -> str | None:
    """The tenant's real schema: ALTER TABLE is rendered without the connection's
    ``schema_translate_map`` (CREATE TABLE and CREATE INDEX are translated)."""
    translate = op.get_bind().get_execution_options().get("schema_translate_map") or {}
    schema: str | None = translate.get(TENANT, TENANT)
    return schema


def upgrade() -> None:
    schema = _schema()
    op.add_column("audit_event", sa.Column("data_age_seconds", sa.BigInteger), schema=schema)
    op.add_column("audit_event", sa.Column("channel", sa.String(16)), schema=schema)


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=_schema()) as batch:
        batch.drop_column("channel")
        batch.drop_column("data_age_seconds")
