"""``journalloft board``: the reference legevakt board for a demo client."""

from __future__ import annotations

import argparse
import socket

from journalloft.cli.clients import demo_client
from journalloft.cli.serving import logging_config
from journalloft.platform.core.settings import get_settings


def cmd_board(args: argparse.Namespace) -> None:
    import uvicorn

    from journalloft.app import board_parts
    from journalloft.board.app import create_board_app

    settings = get_settings()
    client = demo_client(args.client, args.clients_file)
    api = (args.api or settings.issuer_url).rstrip("/")
    name = args.name or f"{socket.gethostname()[:40]}:{args.port}"
    hosts = args.allowed_host or [args.host, *(["localhost"] if args.host == "127.0.0.1" else [])]
    print(
        f"the {args.client} board {name!r}: http://{args.host}:{args.port}/ (API: {api})",
        flush=True,
    )
    uvicorn.run(
        create_board_app(api, client, parts=board_parts(settings), allowed_hosts=hosts, name=name),
        host=args.host,
        port=args.port,
        log_config=logging_config(settings.log_level),
        access_log=False,
    )
