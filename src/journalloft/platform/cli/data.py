"""``journalloft demo`` (synthetic data and demo clients) and ``journalloft purge`` (retention)."""

from __future__ import annotations

import argparse
import json

from journalloft.platform.cli.common import open_runtime


def cmd_demo(args: argparse.Namespace) -> None:
    from journalloft.platform.demo import ensure_demo_clients, seed_demo_data

    runtime = open_runtime()
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

    runtime = open_runtime()
    try:
        for result in purge_all(runtime):
            print(f"{result.kommunenummer} {result.service}: {result.deleted} purged")
    finally:
        runtime.close()
