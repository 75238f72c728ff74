"""``journalloft tenants onboard|list|offboard`` and ``journalloft migrate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from journalloft.cli.common import CommandError, open_runtime
from journalloft.cli.progress import Progress
from journalloft.platform.storage.migrations import migrate_tenant


def cmd_migrate(args: argparse.Namespace) -> None:
    runtime = open_runtime()
    tenants = runtime.tenants.all()
    print(f"platform store: up to date; {len(tenants)} tenant stores")
    progress = Progress("migrate", len(tenants))
    try:
        for tenant in tenants:
            name = f"{tenant.kommunenummer} {tenant.name}"
            try:
                report = migrate_tenant(
                    runtime.stores, tenant.kommunenummer, runtime.services.values()
                )
            except Exception as exc:  # one broken store must not stop the other 356
                progress.failed(name, str(exc))
            else:
                progress.succeeded(name, "migrated" if report.changed else "up to date")
    finally:
        runtime.close()
    progress.finish()


def cmd_onboard(args: argparse.Namespace) -> None:
    from journalloft.platform.operations.onboarding import onboard

    runtime = open_runtime()
    progress = Progress("onboard", len(args.files))
    try:
        for file in args.files:
            try:
                report = onboard(
                    Path(file),
                    stores=runtime.stores,
                    schemas=runtime.schemas,
                    services=runtime.services,
                )
            except Exception as exc:  # name the file, go on with the others
                progress.failed(file, str(exc).removeprefix(f"{file}: "))
                continue
            tenant = report.tenant
            verb = "onboarded" if report.new_tenant else "updated"
            progress.succeeded(
                file,
                f"{verb} {tenant.kommunenummer} {tenant.name}: services "
                f"{', '.join(sorted(tenant.services))}; store "
                f"{'migrated' if report.migration.changed else 'up to date'}; "
                f"{len(tenant.clients())} clients ({len(report.new_clients)} new)",
            )
            for client_id, owner in sorted(report.foreign_clients.items()):
                print(
                    f"  grants {client_id}, registered by {owner or 'the platform operator'} "
                    f"(its keys are not {tenant.kommunenummer}'s to manage)"
                )
    finally:
        runtime.close()
    progress.finish()


def cmd_list(args: argparse.Namespace) -> None:
    runtime = open_runtime()
    for tenant in runtime.tenants.all():
        print(
            f"{tenant.kommunenummer}  {tenant.name:<24} {tenant.organisasjonsnummer}  "
            f"{', '.join(sorted(tenant.services))}"
        )
    runtime.close()


def cmd_offboard(args: argparse.Namespace) -> None:
    from journalloft.platform.operations.onboarding import offboard

    if not args.yes:
        raise CommandError(
            "offboarding deletes the municipality's store and all its data: add --yes"
        )
    runtime = open_runtime()
    try:
        report = offboard(args.kommunenummer, stores=runtime.stores)
        if report is None:
            raise CommandError(f"no municipality {args.kommunenummer} is onboarded")
        print(f"offboarded {args.kommunenummer}: its store is removed")
        for client_id in report.removed_clients:
            print(f"removed client {client_id} and its keys")
        for kept in report.kept_clients:
            print(
                f"kept client {kept.client_id}: {kept.reason}; now owned by the platform "
                "operator (its keys stay; see journalloft clients)"
            )
    finally:
        runtime.close()
