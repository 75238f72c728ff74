"""Tenants and clients of the built-in issuer.

Revision ID: platform_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from journalloft.platform.storage.tables import UTCDateTime

revision = "platform_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant",
        sa.Column("kommunenummer", sa.String(4), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("organisasjonsnummer", sa.String(9), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("onboarded_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "client",
        sa.Column("client_id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("admin", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "client_key",
        sa.Column("kid", sa.String(128), primary_key=True),
        sa.Column("client_id", sa.String(128), sa.ForeignKey("client.client_id"), nullable=False),
        sa.Column("jwk", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_client_key_client_id", "client_key", ["client_id"])


def downgrade() -> None:
    op.drop_table("client_key")
    op.drop_table("client")
    op.drop_table("tenant")
