"""``journalloft tenants export|import`` and ``journalloft backup``: a municipality's data out of
one store and into another, and online copies of the embedded default's SQLite files."""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

from journalloft.cli.common import CommandError, open_runtime
from journalloft.platform.audit.seal import key_id, load_seal_key, public_pem
from journalloft.platform.core.settings import get_settings
from journalloft.platform.core.tenancy import is_kommunenummer
from journalloft.platform.operations.portability import (
    ExportError,
    export_tenant,
    import_tenant,
    load_export_key,
    trusted_export_keys,
)


def _progress(table: str, rows: int) -> None:
    print(f"  {table}: {rows} rows", file=sys.stderr, flush=True)


def cmd_export(args: argparse.Namespace) -> None:
    if not is_kommunenummer(args.kommunenummer):
        raise CommandError("a kommunenummer is four digits")
    target = Path(args.to)
    partial = target.with_name(target.name + ".partial")
    runtime = open_runtime()
    try:
        key = load_seal_key(runtime.settings).public_key()
        try:
            signing_key = load_export_key(runtime.settings)
        except (OSError, ValueError) as exc:
            raise CommandError(f"the export signing key: {exc}") from exc
        with partial.open("wb") as out:
            summary = export_tenant(
                args.kommunenummer,
                out,
                stores=runtime.stores,
                services=runtime.services,
                signing_key=signing_key,
                # what a receiver needs to check the audit log's seals (compare the key id with
                # the one the exporting platform publishes before trusting it)
                extra_header={"audit_seal_keys": {key_id(key): public_pem(key)}},
                progress=_progress,
                now=runtime.clock(),
            )
        partial.replace(target)  # a file under the final name is always complete
    except ExportError as exc:
        partial.unlink(missing_ok=True)
        raise CommandError(str(exc)) from exc
    except BaseException:
        partial.unlink(missing_ok=True)  # no half file of health data left behind
        raise
    finally:
        runtime.close()
    total = sum(summary.counts.values())
    print(
        f"exported {summary.kommunenummer} to {target}: {total} rows "
        f"({', '.join(f'{t} {n}' for t, n in summary.counts.items())}); sha256 {summary.sha256}; "
        f"signed by export key {key_id(signing_key.public_key())}"
    )


def cmd_export_key(args: argparse.Namespace) -> None:
    public = load_export_key(get_settings()).public_key()
    print(f"# export signing key id {key_id(public)}", file=sys.stderr)
    print(public_pem(public), end="")


def cmd_import(args: argparse.Namespace) -> None:
    if args.into is not None and not is_kommunenummer(args.into):
        raise CommandError("--into: a kommunenummer is four digits")
    runtime = open_runtime()
    try:
        try:
            trusted = trusted_export_keys(
                load_export_key(runtime.settings), [Path(p) for p in args.public_key or []]
            )
        except (OSError, ValueError) as exc:
            raise CommandError(f"the export keys: {exc}") from exc
        summary = import_tenant(
            Path(args.file),
            stores=runtime.stores,
            schemas=runtime.schemas,
            services=runtime.services,
            trusted=trusted,
            trust_unsigned=args.trust_unsigned,
            into=args.into,
            replace=args.replace,
            progress=_progress,
            now=runtime.clock(),
        )
    except ExportError as exc:
        raise CommandError(f"nothing imported: {exc}") from exc
    finally:
        runtime.close()
    total = sum(summary.counts.values())
    if summary.replaced is not None:
        before = sum(summary.replaced.values())
        print(f"replaced {summary.kommunenummer}'s {before} rows and tenant file", file=sys.stderr)
    signer = (
        f"signed by export key {summary.signed_by}"
        if summary.signed_by
        else "NOT signed by a trusted key (--trust-unsigned)"
    )
    print(
        f"imported {summary.kommunenummer} ({'new' if summary.new_tenant else 'replaced'}): "
        f"{total} rows, counts and sha256 {summary.sha256} verified, {signer}"
    )


def backup_sqlite(source: Path, target: Path, *, pages: int = -1) -> None:
    """A consistent copy of a live SQLite database with SQLite's online backup API.

    By default (``pages=-1``) the whole file is copied in one step, inside one read transaction:
    the copy is the one committed state that transaction sees, and in WAL mode writers go on
    meanwhile. Copied a few pages a step instead, a write by another connection restarts the
    copy, and a busy file might never finish."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    origin = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    copy = sqlite3.connect(partial)
    try:
        origin.backup(copy, pages=pages, sleep=0.005)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        check = copy.execute("PRAGMA integrity_check").fetchone()
        if check is None or check[0] != "ok":
            raise CommandError(f"{source}: the copy failed its integrity check")
    finally:
        copy.close()
        origin.close()
    partial.replace(target)


def cmd_backup(args: argparse.Namespace) -> None:
    runtime = open_runtime()
    try:
        if runtime.stores.postgres:
            raise CommandError(
                "backup copies the embedded default's SQLite files; on PostgreSQL use pg_dump "
                "(one schema: pg_dump -n tenant_KOMMUNENUMMER; whole server: pg_basebackup), "
                "see docs/operations.md"
            )
        data = runtime.settings.data_path
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = Path(args.to) / stamp
        files = [data / "platform.sqlite3", *sorted((data / "tenants").glob("*.sqlite3"))]
        for i, source in enumerate(files, 1):
            if not source.exists():
                continue
            backup_sqlite(source, target / source.relative_to(data))
            print(f"[{i}/{len(files)}] {source.relative_to(data)}", file=sys.stderr, flush=True)
        print(f"backed up {len(files)} stores to {target}")
    finally:
        runtime.close()
