"""The change outbox: changes committed and not yet in the change feed (outbox.py).

Revision ID: tenant_0004
Revises: tenant_0003
"""

import sqlalchemy as sa
from alembic import op

from journalloft.platform.storage.tables import TENANT, UTCDateTime

revision = "tenant_0004"
down_revision = "tenant_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "change_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("changes", sa.JSON, nullable=False),
        schema=TENANT,
    )
    op.create_index("ix_change_outbox_created_at", "change_outbox", ["created_at"], schema=TENANT)


def downgrade() -> None:
    op.drop_index("ix_change_outbox_created_at", table_name="change_outbox", schema=TENANT)
    op.drop_table("change_outbox", schema=TENANT)
