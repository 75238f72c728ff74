"""What the usage report needs from the audit log: the age of the newest data a read returned,
and the channel it went out on (a live stream's reads are not lookups).

Revision ID: tenant_0005
Revises: tenant_0004
"""

import sqlalchemy as sa
from alembic import op

from journalloft.platform.storage.migrations import alter_schema

revision = "tenant_0005"
down_revision = "tenant_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = alter_schema()
    op.add_column("audit_event", sa.Column("data_age_seconds", sa.BigInteger), schema=schema)
    op.add_column("audit_event", sa.Column("channel", sa.String(16)), schema=schema)


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=alter_schema()) as batch:
        batch.drop_column("channel")
        batch.drop_column("data_age_seconds")
