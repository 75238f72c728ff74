"""The ``journalloft`` command: serve, onboard and offboard municipalities, migrate, seed demo
data, purge, manage the built-in issuer's clients, mark and lift restrictions, and report
break-the-glass accesses."""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import import_key

from journalloft.platform.audit import (
    EPOCH,
)
from journalloft.platform.auth.clients import (
    add_key,
    get_client,
    list_clients,
    register_client,
    remove_client,
    remove_key,
)
from journalloft.platform.auth.issuer import CLIENT_ASSERTION_TYPE
from journalloft.platform.caller import Caller
from journalloft.platform.identifiers import person_id_errors
from journalloft.platform.operations import audit_access, restricting
from journalloft.platform.operations.access import OperatorAccess, RestrictionAccess
from journalloft.platform.runtime import Runtime, build_runtime
from journalloft.platform.settings import get_settings
from journalloft.platform.storage.migrations import migrate_platform, migrate_tenant
from journalloft.platform.tenancy import Tenant

BTG_REPORT_COLUMNS = (
    "occurred_at",
    "patient",
    "service",
    "client_id",
    "practitioner_name",
    "practitioner_hpr",
    "point_of_care",
    "purpose",
    "correlation_id",
)


class CommandError(Exception):
    """A failure to report in one line, exiting non-zero."""


def _runtime() -> Runtime:
    settings = get_settings()
    runtime = build_runtime(settings)
    migrate_platform(runtime.stores)
    return runtime


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = get_settings()
    runtime = _runtime()
    runtime.close()
    uvicorn.run(
        "journalloft.platform.http.app:serving_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        log_config=logging_config(settings.log_level),
        access_log=False,
    )


def logging_config(level: str) -> dict[str, object]:
    """One line per event on stderr; the platform's own access log replaces uvicorn's, and no
    traceback prints an exception's message (:class:`~journalloft.platform.logs.SafeFormatter`)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "line": {
                "()": "journalloft.platform.logs.SafeFormatter",
                "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            }
        },
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line"}},
        "loggers": {
            "journalloft": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
    }


def cmd_migrate(args: argparse.Namespace) -> None:
    runtime = _runtime()
    tenants = runtime.tenants.all()
    print(f"platform store: up to date; {len(tenants)} tenant stores")
    failed = 0
    for i, tenant in enumerate(tenants, 1):
        try:
            report = migrate_tenant(runtime.stores, tenant.kommunenummer, runtime.services.values())
            state = "migrated" if report.changed else "up to date"
            print(f"[{i}/{len(tenants)}] {tenant.kommunenummer} {tenant.name}: {state}", flush=True)
        except Exception as exc:  # report per tenant and go on: one broken store must not stop 356
            failed += 1
            print(
                f"[{i}/{len(tenants)}] {tenant.kommunenummer} {tenant.name}: FAILED {exc}",
                flush=True,
            )
    runtime.close()
    if failed:
        raise CommandError(f"{failed} of {len(tenants)} tenant stores failed to migrate")


def cmd_onboard(args: argparse.Namespace) -> None:
    from journalloft.platform.onboarding import onboard

    runtime = _runtime()
    try:
        for file in args.files:
            report = onboard(
                Path(file),
                stores=runtime.stores,
                schemas=runtime.schemas,
                services=runtime.services,
            )
            tenant = report.tenant
            verb = "onboarded" if report.new_tenant else "updated"
            print(
                f"{verb} {tenant.kommunenummer} {tenant.name}: services "
                f"{', '.join(sorted(tenant.services))}; store "
                f"{'migrated' if report.migration.changed else 'up to date'}; "
                f"{len(tenant.clients())} clients ({len(report.new_clients)} new)"
            )
    finally:
        runtime.close()


def cmd_list(args: argparse.Namespace) -> None:
    runtime = _runtime()
    for tenant in runtime.tenants.all():
        print(
            f"{tenant.kommunenummer}  {tenant.name:<24} {tenant.organisasjonsnummer}  "
            f"{', '.join(sorted(tenant.services))}"
        )
    runtime.close()


def cmd_offboard(args: argparse.Namespace) -> None:
    from journalloft.platform.onboarding import offboard

    if not args.yes:
        raise CommandError(
            "offboarding deletes the municipality's store and all its data: add --yes"
        )
    runtime = _runtime()
    try:
        if not offboard(args.kommunenummer, stores=runtime.stores):
            raise CommandError(f"no municipality {args.kommunenummer} is onboarded")
        print(f"offboarded {args.kommunenummer}: its store is removed")
    finally:
        runtime.close()


def cmd_demo(args: argparse.Namespace) -> None:
    from journalloft.platform.demo import ensure_demo_clients, seed_demo_data

    runtime = _runtime()
    try:
        path = runtime.settings.data_path / "demo-clients.json"
        clients = ensure_demo_clients(runtime, path)
        print(f"demo clients: {len(clients)} written to {path}")
        seeded = seed_demo_data(runtime, people=args.people)
        people_file = runtime.settings.data_path / "demo-people.json"
        people_file.write_text(json.dumps(seeded, indent=2), encoding="utf-8")
        for kommunenummer, patients in seeded.items():
            print(
                f"{kommunenummer}: {len(patients)} synthetic people, e.g. {', '.join(patients[:3])}"
            )
        print(f"all demo person ids: {people_file}")
    finally:
        runtime.close()


def cmd_purge(args: argparse.Namespace) -> None:
    from journalloft.platform.retention import purge_all

    runtime = _runtime()
    try:
        for result in purge_all(runtime):
            print(f"{result.kommunenummer} {result.service}: {result.deleted} purged")
    finally:
        runtime.close()


def _load_jwks(path: str) -> list[dict[str, Any]]:
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
    runtime = _runtime()
    try:
        with runtime.stores.platform_engine.begin() as connection:
            if args.action == "list":
                for client in list_clients(connection):
                    role = "admin" if client["admin"] else "client"
                    kids = ", ".join(client["kids"]) or "-"
                    print(f"{client['client_id']:<28} {role:<6} keys: {kids}")
            elif args.action == "add":
                register_client(
                    connection,
                    client_id=args.client_id,
                    name=args.name or args.client_id,
                    admin=args.admin,
                )
                if args.jwk:
                    for jwk in _load_jwks(args.jwk):
                        kid = add_key(connection, client_id=args.client_id, jwk=jwk)
                        print(f"{args.client_id}: key {kid}")
                else:
                    print(f"{args.client_id}: registered (no key yet: add one with rotate-key)")
            elif args.action == "rotate-key":
                if get_client(connection, args.client_id) is None:
                    raise CommandError(f"no client {args.client_id}")
                for jwk in _load_jwks(args.jwk):
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


def _tenant(runtime: Runtime, kommunenummer: str) -> Tenant:
    tenant = runtime.tenants.get(kommunenummer)
    if tenant is None:
        raise CommandError(f"no municipality {kommunenummer} is onboarded")
    return tenant


def _person_ids(args: argparse.Namespace, *, allow_synthetic: bool) -> list[str]:
    """Person ids, one a line, from ``--file`` or standard input: never from the command line,
    where they would stay in the shell's history and in the process list. Errors name the line,
    not the id."""
    if args.file:
        text = Path(args.file).read_text(encoding="utf-8")
    else:
        if sys.stdin.isatty():
            print("person ids, one a line; end with Ctrl-D:", file=sys.stderr)
        text = sys.stdin.read()
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1)]
    given = [(number, value) for number, value in lines if value]
    ids = [value for _, value in given]
    errors = [
        f"{e.pointer}: {e.message}"
        for e in person_id_errors(
            ids, allow_synthetic=allow_synthetic, pointer=lambda i: f"line {given[i][0]}"
        )
    ]
    if errors:
        raise CommandError("nothing changed: " + "; ".join(errors))
    if not ids:
        raise CommandError("no person ids given (one a line on standard input, or --file)")
    return list(dict.fromkeys(ids))


def cmd_restrictions(args: argparse.Namespace) -> None:
    runtime = _runtime()
    try:
        tenant = _tenant(runtime, args.kommunenummer)
        access = RestrictionAccess.command_line(Caller.command_line(now=runtime.clock()), tenant)
        if args.action == "list":
            rows = restricting.restricted_people(runtime, access)
            for row in rows:
                print(
                    f"{row['patient']}  since {row['restricted_at'].isoformat()}  "
                    f"by {row['restricted_by']}"
                )
            print(f"{tenant.kommunenummer}: {len(rows)} restricted", file=sys.stderr)
            return
        restricted = args.action == "add"
        patients = _person_ids(args, allow_synthetic=bool(runtime.settings.allow_synthetic_ids))
        changes = restricting.change_restrictions(runtime, access, patients, restricted=restricted)
        changed = sum(1 for change in changes if change["changed"])
        verb = "restricted" if restricted else "lifted"
        print(
            f"{tenant.kommunenummer}: {changed} {verb}, {len(patients) - changed} unchanged "
            f"(every change is in the audit log)"
        )
    finally:
        runtime.close()


def cmd_audit(args: argparse.Namespace) -> None:
    runtime = _runtime()
    try:
        tenant = _tenant(runtime, args.kommunenummer)
        try:
            since = datetime.fromisoformat(args.since) if args.since else EPOCH
        except ValueError as exc:
            raise CommandError(f"--since: {exc}") from exc
        if since.tzinfo is None:
            raise CommandError("--since needs an offset, e.g. 2026-01-01T00:00:00+01:00")
        access = OperatorAccess.command_line(Caller.command_line(now=runtime.clock()), tenant)
        events = audit_access.break_the_glass_report(runtime, access, since=since)
        for event in events:
            print("  ".join(str(event[name] or "-") for name in BTG_REPORT_COLUMNS))
        print(
            f"{tenant.kommunenummer}: {len(events)} break-the-glass accesses since "
            f"{since.isoformat()} (the report shows what the review feed does: events at least "
            "two minutes old)",
            file=sys.stderr,
        )
    finally:
        runtime.close()


def cmd_token(args: argparse.Namespace) -> None:
    settings = get_settings()
    path = (
        Path(args.clients_file) if args.clients_file else settings.data_path / "demo-clients.json"
    )
    if not path.exists():
        raise CommandError(f"{path} does not exist: run 'make run' (or 'journalloft demo') first")
    clients = {c["client_id"]: c for c in json.loads(path.read_text(encoding="utf-8"))}
    client = clients.get(args.client_id)
    if client is None:
        raise CommandError(f"no client {args.client_id} in {path} (have: {', '.join(clients)})")
    base = (args.url or settings.issuer_url).rstrip("/")
    metadata = httpx.get(f"{base}/.well-known/oauth-authorization-server", timeout=10).json()
    key = import_key(client["private_jwk"])
    now = int(time.time())
    assertion = jwt.encode(
        {"alg": "ES256", "kid": client["private_jwk"]["kid"], "typ": "client-authentication+jwt"},
        {
            "iss": args.client_id,
            "sub": args.client_id,
            "aud": metadata["issuer"],
            "iat": now,
            "exp": now + 30,
            "jti": uuid.uuid4().hex,
        },
        key,
    )
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": args.scope or " ".join(client["scopes"]),
    }
    response = httpx.post(metadata["token_endpoint"], data=form, timeout=10)
    if response.status_code != 200:
        raise CommandError(f"token request refused: {response.text}")
    print(response.json()["access_token"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="journalloft", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API with uvicorn")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=cmd_serve)

    commands.add_parser(
        "migrate", help="migrate the platform store and every tenant store"
    ).set_defaults(run=cmd_migrate)

    tenants = commands.add_parser("tenants", help="onboard, list and offboard municipalities")
    tenant_commands = tenants.add_subparsers(dest="tenant_command", required=True)
    onboard = tenant_commands.add_parser(
        "onboard", help="onboard (or update) from tenant files; idempotent"
    )
    onboard.add_argument("files", nargs="+", metavar="FILE")
    onboard.set_defaults(run=cmd_onboard)
    tenant_commands.add_parser("list", help="list onboarded municipalities").set_defaults(
        run=cmd_list
    )
    offboard = tenant_commands.add_parser("offboard", help="remove a municipality and its store")
    offboard.add_argument("kommunenummer")
    offboard.add_argument("--yes", action="store_true", help="confirm: all its data is deleted")
    offboard.set_defaults(run=cmd_offboard)

    demo = commands.add_parser("demo", help="seed synthetic demo data and demo clients")
    demo.add_argument("--people", type=int, default=50, help="synthetic people per municipality")
    demo.set_defaults(run=cmd_demo)

    commands.add_parser("purge", help="delete what is past retention in every tenant").set_defaults(
        run=cmd_purge
    )

    clients = commands.add_parser("clients", help="clients of the built-in issuer")
    client_commands = clients.add_subparsers(dest="action", required=True)
    client_commands.add_parser("list").set_defaults(run=cmd_clients)
    add = client_commands.add_parser("add")
    add.add_argument("client_id")
    add.add_argument("--name")
    add.add_argument("--jwk", help="file with the client's public JWK or JWKS ('-': stdin)")
    add.add_argument("--admin", action="store_true", help="may get the admin scope")
    add.set_defaults(run=cmd_clients)
    rotate = client_commands.add_parser("rotate-key")
    rotate.add_argument("client_id")
    rotate.add_argument(
        "--jwk", required=True, help="file with the new public JWK or JWKS ('-': stdin)"
    )
    rotate.add_argument(
        "--remove",
        action="append",
        metavar="KID",
        help="old key to remove (write --remove=KID: a kid may start with '-')",
    )
    rotate.set_defaults(run=cmd_clients)
    remove = client_commands.add_parser("remove")
    remove.add_argument("client_id")
    remove.add_argument("--yes", action="store_true")
    remove.set_defaults(run=cmd_clients)

    restrictions = commands.add_parser(
        "restrictions", help="mark, lift and list restrictions (sperring) in a municipality"
    )
    restriction_commands = restrictions.add_subparsers(dest="action", required=True)
    for action, text in (
        ("add", "restrict the people whose ids are read from stdin (or --file)"),
        ("remove", "lift the restriction of the people read from stdin (or --file)"),
    ):
        command = restriction_commands.add_parser(action, help=text)
        command.add_argument("kommunenummer")
        command.add_argument("--file", help="person ids, one a line (default: stdin)")
        command.set_defaults(run=cmd_restrictions)
    listing = restriction_commands.add_parser("list", help="list the restricted people")
    listing.add_argument("kommunenummer")
    listing.set_defaults(run=cmd_restrictions)

    audit = commands.add_parser("audit", help="reports from a municipality's audit log")
    audit_commands = audit.add_subparsers(dest="report", required=True)
    glass = audit_commands.add_parser(
        "break-the-glass", help="accesses that opened a restricted person's data (purpose BTG)"
    )
    glass.add_argument("kommunenummer")
    glass.add_argument("--since", help="RFC 3339 instant (default: everything kept)")
    glass.set_defaults(run=cmd_audit)

    token = commands.add_parser(
        "token", help="get an access token for a demo client from a running server"
    )
    token.add_argument("client_id")
    token.add_argument("--scope")
    token.add_argument("--url", help="the server (default: the configured public URL)")
    token.add_argument("--clients-file")
    token.set_defaults(run=cmd_token)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except CommandError as exc:
        print(f"journalloft: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line for the operator; the traceback is not for them
        print(f"journalloft: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
