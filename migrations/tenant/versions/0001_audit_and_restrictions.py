"""Audit log and restrictions (sperring) in every tenant store.

Revision ID: tenant_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from journalloft.platform.storage.tables import TENANT, UTCDateTime

revision = "tenant_0001"
down_revision = None
branch_labels = ("platform",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("service", sa.String(64)),
        sa.Column("patient", sa.String(11)),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("organisasjonsnummer", sa.String(9)),
        sa.Column("practitioner_name", sa.String(200)),
        sa.Column("practitioner_hpr", sa.String(16)),
        sa.Column("purpose", sa.String(32)),
        sa.Column("healthcare_service", sa.String(32)),
        sa.Column("break_the_glass", sa.Boolean, nullable=False),
        sa.Column("epj_system", sa.String(200)),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("result_count", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        schema=TENANT,
    )
    op.create_index("ix_audit_event_occurred_at", "audit_event", ["occurred_at"], schema=TENANT)
    op.create_index(
        "ix_audit_event_patient_time", "audit_event", ["patient", "occurred_at"], schema=TENANT
    )
    op.create_table(
        "restriction",
        sa.Column("patient", sa.String(11), primary_key=True),
        sa.Column("restricted_at", UTCDateTime, nullable=False),
        sa.Column("restricted_by", sa.String(128), nullable=False),
        schema=TENANT,
    )


def downgrade() -> None:
    op.drop_table("restriction", schema=TENANT)
    op.drop_table("audit_event", schema=TENANT)
