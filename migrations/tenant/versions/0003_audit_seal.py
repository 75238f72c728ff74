"""Signed checkpoints over each tenant's audit log (platform/audit/seal.py).

Revision ID: tenant_0003
Revises: tenant_0002
"""

import sqlalchemy as sa
from alembic import op

from journalloft.platform.storage.tables import TENANT, UTCDateTime

revision = "tenant_0003"
down_revision = "tenant_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_seal",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sealed_at", UTCDateTime, nullable=False),
        sa.Column("after_occurred_at", UTCDateTime),
        sa.Column("after_id", sa.BigInteger),
        sa.Column("last_occurred_at", UTCDateTime, nullable=False),
        sa.Column("last_id", sa.BigInteger, nullable=False),
        sa.Column("event_count", sa.Integer, nullable=False),
        sa.Column("previous_hash", sa.String(64), nullable=False),
        sa.Column("chain_hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        schema=TENANT,
    )


def downgrade() -> None:
    op.drop_table("audit_seal", schema=TENANT)
