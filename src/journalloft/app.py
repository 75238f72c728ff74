"""The composition root: the app assembled from the platform, the services and the faces, and
the board's parts gathered from the services.

The platform names no face and no service; this module, above all of them, finds the faces
(entry points of the group ``journalloft.faces``) and hands them to the platform's app factory,
which finds the services (``journalloft.services``) itself through its registry. The board is a
client: it gets the services' board parts from here (:func:`board_parts`), not from the API.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from importlib.metadata import entry_points

from fastapi import FastAPI

from journalloft.board.parts import BoardPart, parts_checked
from journalloft.platform.core.settings import Settings, get_settings
from journalloft.platform.face import FACE_ENTRY_POINT_GROUP, Face, parts_of
from journalloft.platform.http import app as platform_app
from journalloft.platform.observability.logs import lean_log_records
from journalloft.platform.plugins.registry import discover_services
from journalloft.platform.runtime import Runtime

GC_THRESHOLDS = (50_000, 20, 20)
"""The garbage collector of a serving process: a collection after 50 000 more live containers,
not Python's 700. A response is thousands of short-lived dicts and lists, freed by reference
counting as soon as it is sent; at 700 the collector ran every few rows of a NEWS2 board and,
traversing the responses still in flight, cost as much as building them (measured: 30 → 13 ms
for 1 830 rows)."""


class FaceError(Exception):
    """A face plugin is broken: the app refuses to start."""


def discover_faces() -> tuple[Face, ...]:
    """Every installed face (entry points), in name order; each face's name is its entry's."""
    found: dict[str, Face] = {}
    for entry in entry_points(group=FACE_ENTRY_POINT_GROUP):
        face: Face = entry.load()
        if face.name != entry.name:
            raise FaceError(f"entry point {entry.name} names a face called {face.name}")
        found[entry.name] = face
    prefixes = [face.prefix for face in found.values()]
    if len(set(prefixes)) != len(prefixes):
        raise FaceError(f"two faces share a prefix: {sorted(prefixes)}")
    return tuple(found[name] for name in sorted(found))


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    handle_signals: bool = False,
    faces: Sequence[Face] | None = None,
) -> FastAPI:
    """The app with every installed face (or ``faces``); see
    :func:`journalloft.platform.http.app.create_app`."""
    return platform_app.create_app(
        settings,
        runtime=runtime,
        handle_signals=handle_signals,
        faces=discover_faces() if faces is None else faces,
    )


def board_parts(settings: Settings | None = None) -> list[BoardPart]:
    """What every installed service (and ``JOURNALLOFT_SERVICE_PLUGINS``) brings to the board
    (``face_parts["board"]``), checked and in their order."""
    plugins = (settings or get_settings()).service_plugins
    return parts_checked(
        [part for service in discover_services(plugins) for part in parts_of(service, "board")]
    )


def serving_app() -> FastAPI:
    """The app as ``journalloft serve`` runs it in each worker process.

    What start-up built (modules, schemas, routes) lives as long as the process, so it is
    frozen out of the garbage collector's work, and collections are rarer (:data:`GC_THRESHOLDS`);
    log records skip what no log line of the platform writes (:func:`lean_log_records`).
    """
    app = create_app(handle_signals=True)
    lean_log_records()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return app
