"""Who owns each client of the built-in issuer (``client.owner``).

A client belongs to the tenant whose file registered it (its kommunenummer) or, when ``owner`` is
null, to the platform operator. Only the owner's tenant file may give the client keys.

Existing clients get the owner they most likely had, never one that named them later: the
onboarded tenant that names the client and was onboarded first (on a tie, the lowest
kommunenummer), since the first file that named a client created it. A client no tenant names,
or one that existed before that tenant was onboarded, was added by the operator: null. Check
``journalloft clients list`` after upgrading: a file that needs to give keys to a client the
operator now owns is refused until the operator adds them (``journalloft clients rotate-key``).

Revision ID: platform_0002
Revises: platform_0001
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from journalloft.platform.storage.tables import UTCDateTime

revision = "platform_0002"
down_revision = "platform_0001"
branch_labels = None
depends_on = None

ROLES = ("sources", "consumers", "operators")

tenant = sa.table(
    "tenant",
    sa.column("kommunenummer", sa.String),
    sa.column("document", sa.JSON),
    sa.column("onboarded_at", UTCDateTime),
)
client = sa.table(
    "client",
    sa.column("client_id", sa.String),
    sa.column("created_at", UTCDateTime),
    sa.column("owner", sa.String),
)


def _named(document: Any) -> set[str]:
    named = set()
    for role in ROLES:
        items = document.get(role) if isinstance(document, dict) else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and isinstance(item.get("client_id"), str):
                named.add(item["client_id"])
    return named


def upgrade() -> None:
    op.add_column("client", sa.Column("owner", sa.String(4), nullable=True))
    bind = op.get_bind()
    first: dict[str, tuple[datetime, str]] = {}
    rows = bind.execute(sa.select(tenant.c.kommunenummer, tenant.c.document, tenant.c.onboarded_at))
    for kommunenummer, document, onboarded_at in rows:
        for client_id in _named(document):
            candidate = (onboarded_at, kommunenummer)
            if client_id not in first or candidate < first[client_id]:
                first[client_id] = candidate
    for client_id, created_at in bind.execute(sa.select(client.c.client_id, client.c.created_at)):
        found = first.get(client_id)
        if found is not None and created_at >= found[0]:
            bind.execute(
                sa.update(client).where(client.c.client_id == client_id).values(owner=found[1])
            )


def downgrade() -> None:
    with op.batch_alter_table("client") as batch:
        batch.drop_column("owner")
