"""``journalloft restrictions`` and ``journalloft audit``: the same operations as the API's, as the
platform operator on this machine."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from journalloft.cli.common import (
    CommandError,
    open_runtime,
    read_person_ids,
    tenant_named,
)
from journalloft.platform.audit.log import (
    EPOCH,
)
from journalloft.platform.audit.seal import (
    key_id,
    load_seal_key,
    public_pem,
    read_anchor,
    seal_all,
    trusted_keys,
    verify,
)
from journalloft.platform.caller import Caller
from journalloft.platform.core.settings import get_settings
from journalloft.platform.operations import audit_access, restrictions
from journalloft.platform.operations.access import OperatorAccess, RestrictionAccess

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


def cmd_restrictions(args: argparse.Namespace) -> None:
    runtime = open_runtime()
    try:
        tenant = tenant_named(runtime, args.kommunenummer)
        access = RestrictionAccess.command_line(Caller.command_line(now=runtime.clock()), tenant)
        if args.action == "list":
            rows = restrictions.restricted_people(runtime, access)
            for row in rows:
                print(
                    f"{row['patient']}  since {row['restricted_at'].isoformat()}  "
                    f"by {row['restricted_by']}"
                )
            print(f"{tenant.kommunenummer}: {len(rows)} restricted", file=sys.stderr)
            return
        restricted = args.action == "add"
        patients = read_person_ids(args, allow_synthetic=bool(runtime.settings.allow_synthetic_ids))
        changes = restrictions.change_restrictions(runtime, access, patients, restricted=restricted)
        changed = sum(1 for change in changes if change["changed"])
        verb = "restricted" if restricted else "lifted"
        print(
            f"{tenant.kommunenummer}: {changed} {verb}, {len(patients) - changed} unchanged "
            f"(every change is in the audit log)"
        )
    finally:
        runtime.close()


def cmd_audit(args: argparse.Namespace) -> None:
    runtime = open_runtime()
    try:
        tenant = tenant_named(runtime, args.kommunenummer)
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


def cmd_seal(args: argparse.Namespace) -> None:
    runtime = open_runtime()
    try:
        key = load_seal_key(runtime.settings)
        names = (
            [tenant_named(runtime, args.kommunenummer).kommunenummer]
            if args.kommunenummer
            else [tenant.kommunenummer for tenant in runtime.tenants.all()]
        )
        sealed = seal_all(runtime.stores, names, key=key, now=runtime.clock())
        for kommunenummer in names:
            if kommunenummer in sealed:
                print(f"{kommunenummer}: {sealed[kommunenummer]} events sealed")
            else:
                print(f"{kommunenummer}: FAILED (see the log)")
        if len(sealed) < len(names):
            raise CommandError(f"{len(names) - len(sealed)} of {len(names)} tenants failed")
    finally:
        runtime.close()


def cmd_verify(args: argparse.Namespace) -> None:
    runtime = open_runtime()
    try:
        tenant = tenant_named(runtime, args.kommunenummer)
        try:
            trusted = trusted_keys(
                load_seal_key(runtime.settings), [Path(p) for p in args.public_key or []]
            )
        except (OSError, ValueError) as exc:
            raise CommandError(f"--public-key: {exc}") from exc
        with runtime.stores.tenant_engine(tenant.kommunenummer).connect() as connection:
            report = verify(
                connection,
                kommunenummer=tenant.kommunenummer,
                trusted=trusted,
                now=runtime.clock(),
                retention_years=tenant.policy.audit_retention_years,
                anchor=read_anchor(runtime.stores, tenant.kommunenummer),
            )
        for problem in report.problems:
            print(f"{tenant.kommunenummer}: {problem}")
        print(
            f"{tenant.kommunenummer}: {report.seals} seals (newest {report.newest or '-'}, "
            f"the platform recorded {report.anchored or '-'}), {report.events_checked} events "
            f"checked, {report.skipped} seals past retention not checked, {report.unsealed} "
            "events not sealed yet: "
            + ("intact" if report.intact else f"{len(report.problems)} problems"),
        )
        if not report.intact:
            raise CommandError(f"the audit log of {tenant.kommunenummer} has been changed")
    finally:
        runtime.close()


def cmd_public_key(args: argparse.Namespace) -> None:
    settings = get_settings()
    public = load_seal_key(settings).public_key()
    print(f"# audit seal key id {key_id(public)}", file=sys.stderr)
    print(public_pem(public), end="")
