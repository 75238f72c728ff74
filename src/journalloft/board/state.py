"""The board's state on its server side: its patients, what each service's stream last said about
them, and the relays that keep one subscription per service and follow its event stream.

A relay reconnects with the last event id it saw, so a dropped connection, an expired token or
a restarted API process loses nothing; a ``snapshot`` replaces the service's entries, an
``update`` replaces one. Every change is handed to the pages watching (:meth:`Board.watch`) as
the whole board, masked (:meth:`Board.view`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from journalloft.board.parts import BoardPart, Cell, item
from journalloft.board.session import ApiError, ApiSession

log = logging.getLogger("journalloft.board")


def mask(patient: str) -> str:
    """A person id as the page shows it: only the last four digits."""
    return "•" * (len(patient) - 4) + patient[-4:]


class Relay:
    """One service's subscription and event stream."""

    def __init__(self, board: Board, service: str) -> None:
        self.board = board
        self.service = service
        self.subscription_id: str | None = None
        self.last_event_id: str | None = None
        self.entries: dict[tuple[str, str], dict[str, Any]] = {}
        self.connected = False
        self.reason = "starting"
        self.wanted = asyncio.Event()

    async def adopt(self) -> list[str]:
        """This board's own existing subscription to this service, if any: its people (a board
        restarted within a subscription's lifetime shows the same patients). Only subscriptions
        labelled with this board's name are its own; every other subscription of the client
        (another board's, another system's) is left alone."""
        response = await self.board.api.request("GET", f"/v1/{self.service}/subscriptions")
        if response.status_code != 200:
            return []
        found = response.json()["subscriptions"]
        mine = [s for s in found if s.get("label") == self.board.label]
        if not mine:
            return []
        newest = mine[-1]
        self.subscription_id = newest["id"]
        for extra in mine[:-1]:  # this board's own leftovers (it stopped between two steps)
            await self.board.api.request(
                "DELETE", f"/v1/{self.service}/subscriptions/{extra['id']}"
            )
        patients: list[str] = newest["patients"]
        return patients

    async def sync(self, patients: list[str]) -> None:
        """Make the subscription's people the board's (a new snapshot follows on the stream)."""
        api, base = self.board.api, f"/v1/{self.service}/subscriptions"
        if not patients:
            if self.subscription_id is not None:
                await api.request("DELETE", f"{base}/{self.subscription_id}")
            self.subscription_id, self.last_event_id = None, None
            self.entries.clear()
            return
        body = {"patients": patients, "label": self.board.label}
        if self.subscription_id is not None:
            response = await api.request("PUT", f"{base}/{self.subscription_id}", body)
            if response.status_code == 200:
                self.wanted.set()
                return
            self.subscription_id, self.last_event_id = None, None
        response = await api.request("POST", base, body)
        if response.status_code != 201:
            raise ApiError(response.status_code, response.text[:300])
        self.subscription_id = response.json()["id"]
        self.wanted.set()

    async def run(self) -> None:
        backoff = 0.5
        while True:
            if self.subscription_id is None:
                self._status(False, "no patients")
                self.wanted.clear()
                await self.wanted.wait()
                continue
            try:
                await self._follow(self.subscription_id)
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except (httpx.HTTPError, ApiError, ValueError) as exc:
                self._status(False, f"reconnecting: {type(exc).__name__}")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5)

    async def _follow(self, subscription_id: str) -> None:
        path = f"/v1/subscriptions/{subscription_id}/events"
        async with self.board.api.stream(path, self.last_event_id) as response:
            if response.status_code == 404:  # expired or ended: make it again
                if self.subscription_id == subscription_id:
                    self.subscription_id, self.last_event_id = None, None
                    await self.sync(self.board.patients)
                return
            if response.status_code != 200:
                raise ApiError(response.status_code, (await response.aread()).decode()[:300])
            self._status(True, "connected")
            name, event_id, data = "message", None, list[str]()
            async for line in response.aiter_lines():
                if line == "":
                    if data:
                        self._apply(name, event_id, "\n".join(data))
                    name, event_id, data = "message", None, list[str]()
                elif line.startswith(":"):
                    continue
                else:
                    key, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if key == "event":
                        name = value
                    elif key == "id":
                        event_id = value
                    elif key == "data":
                        data.append(value)
        self._status(False, "reconnecting")

    def _apply(self, name: str, event_id: str | None, data: str) -> None:
        payload = json.loads(data)
        if name == "snapshot":
            self.entries = {(r["patient"], r["kommunenummer"]): r for r in payload["results"]}
        elif name == "update":
            key = (payload["patient"], payload["kommunenummer"])
            if payload.get("removed"):
                self.entries.pop(key, None)
            else:
                self.entries[key] = payload
        elif name == "disconnect":
            self.reason = payload.get("reason", "disconnected")
        if event_id is not None:
            self.last_event_id = event_id
        self.board.changed()

    def _status(self, connected: bool, reason: str) -> None:
        if (self.connected, self.reason) != (connected, reason):
            self.connected, self.reason = connected, reason
            self.board.changed()


LABEL_PREFIX = "board:"


class Board:
    """The board's patients and relays. ``name`` tells this board from the other boards (and
    systems) of the same client: the subscriptions it makes are labelled with it, and it adopts
    and ends only those. ``parts``: the services' columns it shows."""

    def __init__(
        self, api: ApiSession, *, client_id: str, name: str, parts: list[BoardPart]
    ) -> None:
        self.api = api
        self.client_id = client_id
        self.label = LABEL_PREFIX + name
        self.parts = parts
        self.patients: list[str] = []
        self.relays: dict[str, Relay] = {}
        self._salt = secrets.token_bytes(16)
        self._watchers: set[asyncio.Queue[str]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        await self.api.token()
        wanted = dict.fromkeys(part.service for part in self.parts)
        services = [s for s in wanted if f"{s}:read" in self.api.scopes]
        self.relays = {s: Relay(self, s) for s in services}
        adopted: list[str] = []
        for relay in self.relays.values():
            adopted = adopted or await relay.adopt()
        self.patients = adopted
        for relay in self.relays.values():
            await relay.sync(self.patients)
            self._tasks.append(asyncio.create_task(relay.run()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.api.close()

    def key(self, patient: str) -> str:
        """The handle the page removes a patient by: not the person id."""
        return hashlib.sha256(self._salt + patient.encode()).hexdigest()[:16]

    async def add(self, patient: str) -> None:
        async with self._lock:
            if patient in self.patients:
                return
            if len(self.patients) >= 200:
                raise ApiError(422, "a board holds at most 200 patients")
            patients = [*self.patients, patient]
            for relay in self.relays.values():
                await relay.sync(patients)
            self.patients = patients
            self.changed()

    async def remove(self, key: str) -> bool:
        async with self._lock:
            patients = [p for p in self.patients if self.key(p) != key]
            if len(patients) == len(self.patients):
                return False
            for relay in self.relays.values():
                await relay.sync(patients)
            self.patients = patients
            self.changed()
            return True

    def view(self) -> dict[str, Any]:
        """The board as the page shows it: person ids masked, one row per patient, each part's
        cells (a service restricted for the person: "sperret" in its first column)."""
        parts = [part for part in self.parts if part.service in self.relays]
        rows = []
        for patient in self.patients:
            cells: dict[str, Cell] = {}
            restricted = False
            for part in parts:
                found = [
                    e for (p, _), e in self.relays[part.service].entries.items() if p == patient
                ]
                withheld = any(e.get("restricted") for e in found)
                restricted = restricted or withheld
                made = part.cells([e for e in found if not e.get("restricted")])
                cells |= {key: cell for key, cell in made.items() if cell}
                first = part.columns[0].key
                if withheld and first not in cells:
                    cells[first] = {"items": [item("sperret", **{"class": "mark"})]}
            rows.append(
                {
                    "key": self.key(patient),
                    "masked": mask(patient),
                    "restricted": restricted,
                    "cells": cells,
                }
            )
        relays = list(self.relays.values())
        return {
            "client": self.client_id,
            "connected": bool(relays) and all(r.connected or not self.patients for r in relays),
            "status": {r.service: r.reason for r in relays},
            "at": time.time(),
            "columns": [
                {"key": column.key, "title": column.title}
                for part in parts
                for column in part.columns
            ],
            "legend": [entry for part in parts for entry in part.legend],
            "patients": rows,
        }

    def changed(self) -> None:
        text = json.dumps(self.view(), ensure_ascii=False)
        for queue in list(self._watchers):
            if queue.full():  # a page that stopped reading gets the newest board only
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(text)

    async def watch(self) -> AsyncIterator[str]:
        """The board now, then again after every change, for one page."""
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        self._watchers.add(queue)
        try:
            yield json.dumps(self.view(), ensure_ascii=False)
            while True:
                yield await queue.get()
        finally:
            self._watchers.discard(queue)
