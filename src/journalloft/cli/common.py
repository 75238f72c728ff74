"""What every command shares: one-line errors, the runtime, a tenant by number, person ids from a
file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from journalloft.platform.core.identifiers import person_id_errors
from journalloft.platform.core.settings import get_settings
from journalloft.platform.core.tenancy import Tenant
from journalloft.platform.runtime import Runtime, build_runtime
from journalloft.platform.storage.migrations import migrate_platform


class CommandError(Exception):
    """A failure to report in one line, exiting non-zero."""


def open_runtime() -> Runtime:
    settings = get_settings()
    runtime = build_runtime(settings)
    migrate_platform(runtime.stores)
    return runtime


def tenant_named(runtime: Runtime, kommunenummer: str) -> Tenant:
    tenant = runtime.tenants.get(kommunenummer)
    if tenant is None:
        raise CommandError(f"no municipality {kommunenummer} is onboarded")
    return tenant


def read_person_ids(args: argparse.Namespace, *, allow_synthetic: bool) -> list[str]:
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
