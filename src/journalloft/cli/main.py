"""The ``journalloft`` command: serve, onboard and offboard municipalities, migrate, seed demo
data, purge, manage the built-in issuer's clients, mark and lift restrictions, and report
break-the-glass accesses."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from journalloft.cli.audit import (
    cmd_audit,
    cmd_public_key,
    cmd_restrictions,
    cmd_seal,
    cmd_verify,
)
from journalloft.cli.board import cmd_board
from journalloft.cli.clients import cmd_clients, cmd_token
from journalloft.cli.common import CommandError
from journalloft.cli.data import cmd_demo, cmd_purge
from journalloft.cli.portability import (
    cmd_backup,
    cmd_export,
    cmd_export_key,
    cmd_import,
)
from journalloft.cli.report import add_report_command
from journalloft.cli.serving import cmd_serve
from journalloft.cli.tenants import cmd_list, cmd_migrate, cmd_offboard, cmd_onboard


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
    export = tenant_commands.add_parser(
        "export", help="write everything of one municipality to a file (gzip'd JSON Lines)"
    )
    export.add_argument("kommunenummer")
    export.add_argument("--to", required=True, metavar="FILE")
    export.set_defaults(run=cmd_export)
    load = tenant_commands.add_parser(
        "import", help="load an export into this platform's store, checked before and after"
    )
    load.add_argument("file", metavar="FILE")
    load.add_argument(
        "--replace",
        action="store_true",
        help="overwrite a municipality this platform already has (its tenant file and data)",
    )
    load.add_argument(
        "--into",
        metavar="KOMMUNENUMMER",
        help="the municipality the file must be for (refused if it is another's)",
    )
    load.add_argument(
        "--public-key",
        action="append",
        metavar="PEM",
        help="also trust exports signed by this key (the exporting operator's `tenants "
        "export-key`)",
    )
    load.add_argument(
        "--trust-unsigned",
        action="store_true",
        help="import a file that is unsigned or not signed by a trusted key (you vouch for it)",
    )
    load.set_defaults(run=cmd_import)
    tenant_commands.add_parser(
        "export-key", help="print the public key that checks this operator's export files"
    ).set_defaults(run=cmd_export_key)

    backup = commands.add_parser(
        "backup", help="online copy of every SQLite store (the embedded default)"
    )
    backup.add_argument("--to", required=True, metavar="DIR")
    backup.set_defaults(run=cmd_backup)

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
    add.add_argument(
        "--admin",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="may get the admin scope (--no-admin takes it away; neither keeps it as it is)",
    )
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
    seal = audit_commands.add_parser(
        "seal", help="seal settled audit events in signed checkpoints (the server does this too)"
    )
    seal.add_argument("kommunenummer", nargs="?", help="one municipality (default: every one)")
    seal.set_defaults(run=cmd_seal)
    check = audit_commands.add_parser(
        "verify", help="report audit events altered, removed or inserted after they were sealed"
    )
    check.add_argument("kommunenummer")
    check.add_argument(
        "--public-key",
        action="append",
        metavar="PEM",
        help="also trust seals of this key (another platform's, for an imported municipality)",
    )
    check.set_defaults(run=cmd_verify)
    audit_commands.add_parser(
        "public-key", help="print the public key that checks this platform's audit seals"
    ).set_defaults(run=cmd_public_key)

    add_report_command(commands)

    token = commands.add_parser(
        "token", help="get an access token for a demo client from a running server"
    )
    token.add_argument("client_id")
    token.add_argument("--scope")
    token.add_argument("--url", help="the server (default: the configured public URL)")
    token.add_argument("--clients-file")
    token.set_defaults(run=cmd_token)

    board = commands.add_parser(
        "board", help="serve the reference legevakt board for a demo client (needs the API up)"
    )
    board.add_argument("--client", required=True, help="a demo client, e.g. bodo-legevakt")
    board.add_argument("--host", default="127.0.0.1")
    board.add_argument("--port", type=int, default=8100)
    board.add_argument("--api", help="the API's URL (default: the configured public URL)")
    board.add_argument("--clients-file")
    board.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="a name requests may give as Host (repeatable; default: --host, and localhost "
        "for 127.0.0.1); any other Host is refused (DNS rebinding)",
    )
    board.add_argument(
        "--name",
        help="this board's name among its client's boards (default: <hostname>:<port>); it "
        "adopts and ends only the subscriptions labelled with it",
    )
    board.set_defaults(run=cmd_board)
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
    except ValidationError as exc:  # settings: say what is wrong, never echo the values
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            print(f"journalloft: {where}: {error['msg']}", file=sys.stderr)
        return 1
    except Exception as exc:  # one line for the operator; the traceback is not for them
        print(f"journalloft: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0
