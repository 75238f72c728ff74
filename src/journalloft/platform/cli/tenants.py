"""``journalloft tenants onboard|list|offboard`` and ``journalloft migrate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from journalloft.platform.cli.common import CommandError, open_runtime
from journalloft.platform.storage.migrations import migrate_tenant


def cmd_migrate(args: argparse.Namespace) -> None:
    runtime = open_runtime()
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

    runtime = open_runtime()
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
            for client_id, owner in sorted(report.foreign_clients.items()):
                print(
                    f"  grants {client_id}, registered by {owner or 'the platform operator'} "
                    f"(its keys are not {tenant.kommunenummer}'s to manage)"
                )
    finally:
        runtime.close()


def cmd_list(args: argparse.Namespace) -> None:
    runtime = open_runtime()
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
