"""``journalloft report``: a municipality's usage and data-quality report, the same operation as
``GET /v1/tenants/{kommunenummer}/report``, as the platform operator on this machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from journalloft.cli.common import CommandError, open_runtime, tenant_named
from journalloft.platform.caller import Caller
from journalloft.platform.core.errors import InvalidContent
from journalloft.platform.http.report_pages import RENDERERS
from journalloft.platform.operations import usage_report
from journalloft.platform.operations.access import OperatorAccess


def cmd_report(args: argparse.Namespace) -> None:
    runtime = open_runtime()
    try:
        names = args.kommunenummer or [t.kommunenummer for t in runtime.tenants.all()]
        if len(names) != 1 and args.output_dir is None:
            raise CommandError("more than one municipality: give --output-dir for their files")
        tenants = [tenant_named(runtime, name) for name in names]
        caller = Caller.command_line(now=runtime.clock())
        try:
            period = usage_report.parse_period(args.start, args.end, now=caller.now)
        except InvalidContent as problem:
            raise CommandError("; ".join(e.message for e in problem.errors)) from None
        render = RENDERERS[args.format]
        for tenant in tenants:
            access = OperatorAccess.command_line(caller, tenant)
            rendered = render(usage_report.usage_report(runtime, access, period))
            data = rendered.encode("utf-8") if isinstance(rendered, str) else rendered
            if args.output_dir is None:
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
                continue
            folder = Path(args.output_dir)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{tenant.kommunenummer}-{period.first}-{period.last}.{args.format}"
            path.write_bytes(data)
            print(f"{tenant.kommunenummer}: {path}", file=sys.stderr)
    finally:
        runtime.close()


def add_report_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``journalloft report``: registered by the command's parser (``cli/main.py``)."""
    report = commands.add_parser(
        "report",
        help="a municipality's usage and data-quality report (no person in it; counts 1–4: <5)",
    )
    report.add_argument(
        "kommunenummer", nargs="*", help="municipalities (default: every one; then --output-dir)"
    )
    report.add_argument("--from", dest="start", help="first day, YYYY-MM-DD (default: 30 days)")
    report.add_argument("--to", dest="end", help="last day, YYYY-MM-DD, included (default: today)")
    report.add_argument("--format", choices=sorted(RENDERERS), default="json")
    report.add_argument("--output-dir", help="write <kommunenummer>-<from>-<to>.<format> here")
    report.set_defaults(run=cmd_report)
