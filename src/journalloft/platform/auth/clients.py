"""Clients of the built-in issuer and their public keys, in the platform store."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from journalloft.platform.auth.keys import public_key
from journalloft.platform.storage.models import ClientKeyRow, ClientRow

CLIENT = ClientRow.__table__  # type: ignore[attr-defined]
CLIENT_KEY = ClientKeyRow.__table__  # type: ignore[attr-defined]


def register_client(
    connection: Connection, *, client_id: str, name: str, admin: bool | None = None
) -> bool:
    """Create the client if it is new (True), or update its name; keys are kept."""
    exists = connection.execute(
        select(CLIENT.c.client_id).where(CLIENT.c.client_id == client_id)
    ).first()
    if exists:
        values: dict[str, Any] = {"name": name}
        if admin is not None:
            values["admin"] = admin
        connection.execute(update(CLIENT).where(CLIENT.c.client_id == client_id).values(values))
        return False
    connection.execute(
        insert(CLIENT).values(
            client_id=client_id, name=name, admin=bool(admin), created_at=datetime.now(UTC)
        )
    )
    return True


def add_key(connection: Connection, *, client_id: str, jwk: Mapping[str, Any]) -> str:
    """Register a public key (idempotent); return its kid (the RFC 7638 thumbprint)."""
    key = public_key(jwk)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid}
    owner = connection.execute(
        select(CLIENT_KEY.c.client_id).where(CLIENT_KEY.c.kid == kid)
    ).scalar_one_or_none()
    if owner is None:
        connection.execute(
            insert(CLIENT_KEY).values(
                kid=kid, client_id=client_id, jwk=public, created_at=datetime.now(UTC)
            )
        )
    elif owner != client_id:
        raise ValueError("this key is registered to another client")
    return kid


def client_keys(connection: Connection, client_id: str) -> list[dict[str, Any]]:
    rows = connection.execute(
        select(CLIENT_KEY.c.jwk)
        .where(CLIENT_KEY.c.client_id == client_id)
        .order_by(CLIENT_KEY.c.created_at)
    )
    return [dict(jwk) for (jwk,) in rows]


def remove_key(connection: Connection, *, client_id: str, kid: str) -> bool:
    result = connection.execute(
        delete(CLIENT_KEY).where(CLIENT_KEY.c.client_id == client_id, CLIENT_KEY.c.kid == kid)
    )
    return result.rowcount > 0


def remove_client(connection: Connection, *, client_id: str) -> bool:
    connection.execute(delete(CLIENT_KEY).where(CLIENT_KEY.c.client_id == client_id))
    result = connection.execute(delete(CLIENT).where(CLIENT.c.client_id == client_id))
    return result.rowcount > 0


def get_client(connection: Connection, client_id: str) -> dict[str, Any] | None:
    row = connection.execute(select(CLIENT).where(CLIENT.c.client_id == client_id)).mappings()
    first = row.first()
    return dict(first) if first else None


def list_clients(connection: Connection) -> list[dict[str, Any]]:
    clients = [dict(r) for r in connection.execute(select(CLIENT).order_by("client_id")).mappings()]
    keys: dict[str, list[str]] = {}
    for client_id, kid in connection.execute(select(CLIENT_KEY.c.client_id, CLIENT_KEY.c.kid)):
        keys.setdefault(client_id, []).append(kid)
    for client in clients:
        client["kids"] = keys.get(client["client_id"], [])
    return clients
