"""Clients of the built-in issuer and their public keys, in the platform store.

Each client has an owner: the tenant whose file registered it, or the platform operator (see
:mod:`journalloft.platform.operations.onboarding` for what a tenant file may and may not do to
a client).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from journalloft.platform.auth.keys import public_key
from journalloft.platform.storage.models import ClientKeyRow, ClientRow

CLIENT = ClientRow.__table__  # type: ignore[attr-defined]
CLIENT_KEY = ClientKeyRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Registration:
    """What naming a client in a tenant file did: ``created`` it (owned by that tenant), or
    found it owned by ``owner`` (a kommunenummer; None: the platform operator)."""

    created: bool
    owner: str | None


def register_client(
    connection: Connection, *, client_id: str, name: str | None, admin: bool | None = None
) -> bool:
    """The platform operator registers a client: create it if it is new (True; the operator owns
    it), or update what is given of its name and admin flag (None keeps it). Its owner and keys
    are kept."""
    exists = connection.execute(
        select(CLIENT.c.client_id).where(CLIENT.c.client_id == client_id)
    ).first()
    if exists:
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = name
        if admin is not None:
            values["admin"] = admin
        if values:
            connection.execute(update(CLIENT).where(CLIENT.c.client_id == client_id).values(values))
        return False
    connection.execute(
        insert(CLIENT).values(
            client_id=client_id,
            name=name or client_id,
            admin=bool(admin),
            created_at=datetime.now(UTC),
            owner=None,
        )
    )
    return True


def register_for_tenant(
    connection: Connection, *, client_id: str, name: str, kommunenummer: str
) -> Registration:
    """A client named in a tenant's file. A new one is created, owned by that tenant and never an
    admin; one the tenant owns gets the file's name; anyone else's is left exactly as it is (the
    file grants it access to the tenant's own data, nothing more)."""
    exists, owner = client_owner(connection, client_id)
    if not exists:
        connection.execute(
            insert(CLIENT).values(
                client_id=client_id,
                name=name,
                admin=False,
                created_at=datetime.now(UTC),
                owner=kommunenummer,
            )
        )
        return Registration(created=True, owner=kommunenummer)
    if owner == kommunenummer:
        connection.execute(update(CLIENT).where(CLIENT.c.client_id == client_id).values(name=name))
    return Registration(created=False, owner=owner)


def client_owner(connection: Connection, client_id: str) -> tuple[bool, str | None]:
    """Whether the client exists, and its owner (a kommunenummer; None: the platform operator)."""
    query = select(CLIENT.c.owner).where(CLIENT.c.client_id == client_id)
    row = connection.execute(query).first()
    return (False, None) if row is None else (True, row[0])


def key_holder(connection: Connection, kid: str) -> str | None:
    """The client a key (by its RFC 7638 thumbprint) is registered to, if any."""
    holder: str | None = connection.execute(
        select(CLIENT_KEY.c.client_id).where(CLIENT_KEY.c.kid == kid)
    ).scalar_one_or_none()
    return holder


def clients_owned_by(connection: Connection, kommunenummer: str) -> list[tuple[str, bool]]:
    """The clients a tenant owns, each with its admin flag."""
    rows = connection.execute(
        select(CLIENT.c.client_id, CLIENT.c.admin)
        .where(CLIENT.c.owner == kommunenummer)
        .order_by(CLIENT.c.client_id)
    )
    return [(client_id, bool(admin)) for client_id, admin in rows]


def hand_to_operator(connection: Connection, *, client_id: str) -> None:
    """Make the platform operator the client's owner (its owner left; its keys stay)."""
    connection.execute(update(CLIENT).where(CLIENT.c.client_id == client_id).values(owner=None))


def add_key(connection: Connection, *, client_id: str, jwk: Mapping[str, Any]) -> str:
    """Register a public key (idempotent); return its kid (the RFC 7638 thumbprint)."""
    key = public_key(jwk)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid}
    owner = key_holder(connection, kid)
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
