"""The newest audit seal of each tenant, in the platform's store (``audit_anchor``).

A tenant's seals live in its own store; whoever can change that store can delete the newest
seals together with the events they cover, and the shorter chain still verifies. The platform
store keeps the newest seal's number and chain hash of each tenant, so that ``audit verify``
notices. Existing tenants get their anchor at their next seal.

Revision ID: platform_0003
Revises: platform_0002
"""

import sqlalchemy as sa
from alembic import op

from journalloft.platform.storage.tables import UTCDateTime

revision = "platform_0003"
down_revision = "platform_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_anchor",
        sa.Column("kommunenummer", sa.String(4), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("chain_hash", sa.String(64), nullable=False),
        sa.Column("last_occurred_at", UTCDateTime, nullable=False),
        sa.Column("sealed_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_anchor")
