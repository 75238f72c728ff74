"""``journalloft clients``: clients of the built-in issuer and their keys; ``journalloft token``: a
token for a demo client from a running server."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import httpx

from journalloft.cli.common import CommandError, open_runtime
from journalloft.client import demo_client_form
from journalloft.platform.auth.clients import (
    add_key,
    get_client,
    list_clients,
    register_client,
    remove_client,
    remove_key,
)
from journalloft.platform.core.settings import get_settings


def load_jwks(path: str) -> list[dict[str, Any]]:
    """Public keys from a file (``-``: standard input): one JWK, or a JWKS ``{"keys": [...]}``."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{path}: not JSON") from exc
    keys = document.get("keys", [document]) if isinstance(document, dict) else None
    if not keys or not all(isinstance(k, dict) for k in keys):
        raise CommandError(f"{path}: a JWK is a JSON object, a JWKS one with keys")
    return list(keys)


def cmd_clients(args: argparse.Namespace) -> None:
    runtime = open_runtime()
    try:
        with runtime.stores.platform_engine.begin() as connection:
            if args.action == "list":
                for client in list_clients(connection):
                    role = "admin" if client["admin"] else "client"
                    owner = client["owner"] or "operator"
                    kids = ", ".join(client["kids"]) or "-"
                    print(f"{client['client_id']:<28} {role:<6} owner: {owner:<8} keys: {kids}")
            elif args.action == "add":
                register_client(
                    connection,
                    client_id=args.client_id,
                    name=args.name,
                    admin=args.admin,
                )
                if args.jwk:
                    for jwk in load_jwks(args.jwk):
                        kid = add_key(connection, client_id=args.client_id, jwk=jwk)
                        print(f"{args.client_id}: key {kid}")
                else:
                    print(f"{args.client_id}: registered (no key yet: add one with rotate-key)")
            elif args.action == "rotate-key":
                if get_client(connection, args.client_id) is None:
                    raise CommandError(f"no client {args.client_id}")
                for jwk in load_jwks(args.jwk):
                    kid = add_key(connection, client_id=args.client_id, jwk=jwk)
                    print(f"{args.client_id}: added key {kid}")
                for old in args.remove or []:
                    if not remove_key(connection, client_id=args.client_id, kid=old):
                        raise CommandError(f"{args.client_id} has no key {old}")
                    print(f"{args.client_id}: removed key {old}")
            elif args.action == "remove":
                if not args.yes:
                    raise CommandError("removing a client stops it from getting tokens: add --yes")
                if not remove_client(connection, client_id=args.client_id):
                    raise CommandError(f"no client {args.client_id}")
                print(f"removed {args.client_id}")
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    finally:
        runtime.close()


def cmd_token(args: argparse.Namespace) -> None:
    settings = get_settings()
    client = demo_client(args.client_id, args.clients_file)
    base = (args.url or settings.issuer_url).rstrip("/")
    metadata = httpx.get(f"{base}/.well-known/oauth-authorization-server", timeout=10).json()
    form = demo_client_form(client, audience=metadata["issuer"], scope=args.scope)
    response = httpx.post(metadata["token_endpoint"], data=form, timeout=10)
    if response.status_code != 200:
        raise CommandError(f"token request refused: {response.text}")
    print(response.json()["access_token"])


def demo_client(client_id: str, clients_file: str | None) -> dict[str, Any]:
    """A demo client's entry in ``var/demo-clients.json`` (or ``clients_file``)."""
    settings = get_settings()
    path = Path(clients_file) if clients_file else settings.data_path / "demo-clients.json"
    if not path.exists():
        raise CommandError(f"{path} does not exist: run 'make run' (or 'journalloft demo') first")
    clients = {c["client_id"]: c for c in json.loads(path.read_text(encoding="utf-8"))}
    client: dict[str, Any] | None = clients.get(client_id)
    if client is None:
        raise CommandError(f"no client {client_id} in {path} (have: {', '.join(clients)})")
    return client
