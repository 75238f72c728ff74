"""Trust-framework context in the audit log, and an index for the break-the-glass report.

Revision ID: tenant_0002
Revises: tenant_0001
"""

import sqlalchemy as sa
from alembic import op

from journalloft.platform.storage.migrations import alter_schema
from journalloft.platform.storage.tables import TENANT

revision = "tenant_0002"
down_revision = "tenant_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = alter_schema()
    op.add_column("audit_event", sa.Column("legal_entity", sa.String(9)), schema=schema)
    op.add_column("audit_event", sa.Column("point_of_care", sa.String(9)), schema=schema)
    op.add_column("audit_event", sa.Column("decision_ref", sa.String(128)), schema=schema)
    op.create_index(
        "ix_audit_event_break_the_glass",
        "audit_event",
        ["occurred_at", "id"],
        schema=TENANT,
        postgresql_where=sa.column("break_the_glass"),
        sqlite_where=sa.column("break_the_glass"),
    )


def downgrade() -> None:
    op.drop_index("ix_audit_event_break_the_glass", "audit_event", schema=TENANT)
    with op.batch_alter_table("audit_event", schema=alter_schema()) as batch:
        batch.drop_column("decision_ref")
        batch.drop_column("point_of_care")
        batch.drop_column("legal_entity")
