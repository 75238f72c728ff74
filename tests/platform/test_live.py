"""Subscriptions and their event streams: a snapshot, then an update per committed change, each
audited before it is sent; a reconnect replays what was missed, in order, once."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from journalloft.platform.live.subscription_store import connect_subscriptions, new_subscription
from journalloft.platform.observability.metrics import REDIS_ERRORS
from journalloft.platform.storage.models import AuditEvent
from support import SERVICES, measurement, people, tenant_document
from support.live import EventReader, open_events, served_platform
from support.platform import Backend, TestPlatform
from support.security import FakeHelseID

ANNE, BJORN, CECILIE, DAG = people(4, seed="live-streams")
EPJ, LEGEVAKT, DRIFT = "bodo-epj", "bodo-legevakt", "bodo-drift"


def make_live(backend: Backend, tmp_path: Path, **settings: Any) -> Iterator[TestPlatform]:
    with served_platform(backend, tmp_path, heartbeat_seconds=0.5, **settings) as platform:
        for kommunenummer in ("1804", "3201"):
            platform.onboard(tenant_document(kommunenummer, services={s: {} for s in SERVICES}))
        yield platform


@pytest.fixture
def live(backend: Backend, tmp_path: Path) -> Iterator[TestPlatform]:
    yield from make_live(backend, tmp_path)


def push(platform: TestPlatform, *records: dict[str, Any], kommunenummer: str = "1804") -> None:
    epj = "bodo-epj" if kommunenummer == "1804" else "baerum-epj"
    response = platform.client.post(
        f"/v1/tenants/{kommunenummer}/news2/records",
        json={"records": list(records)},
        headers=platform.headers(epj),
    )
    assert response.status_code == 200, response.text


def subscribe(platform: TestPlatform, body: dict[str, Any], client: str = LEGEVAKT) -> Any:
    response = platform.client.post(
        "/v1/news2/subscriptions", json=body, headers=platform.headers(client)
    )
    assert response.status_code == 201, response.text
    return response.json()


def reads(platform: TestPlatform, kommunenummer: str, client: str = LEGEVAKT) -> list[Any]:
    with platform.runtime.stores.tenant_transaction(kommunenummer) as connection:
        table = AuditEvent.__table__.c  # type: ignore[attr-defined]
        rows = connection.execute(
            select(table.patient, table.result_count, table.outcome)
            .where(table.action == "read", table.client_id == client)
            .order_by(table.id)
        )
        return [tuple(row) for row in rows]


def test_a_subscription_is_made_listed_replaced_and_ended_by_its_owner_only(
    live: TestPlatform,
) -> None:
    made = subscribe(live, {"patients": [ANNE, BJORN], "kommuner": ["1804"]})
    assert made["patients"] == [ANNE, BJORN]
    assert made["kommuner"] == ["1804"]
    assert made["events"] == f"/v1/subscriptions/{made['id']}/events"
    assert ANNE not in made["events"]
    assert made["expires_at"].endswith("Z")
    mine = live.client.get("/v1/news2/subscriptions", headers=live.headers(LEGEVAKT)).json()
    assert [s["id"] for s in mine["subscriptions"]] == [made["id"]]
    theirs = live.client.get("/v1/news2/subscriptions", headers=live.headers("baerum-legevakt"))
    assert theirs.json() == {"subscriptions": []}
    url = f"/v1/news2/subscriptions/{made['id']}"
    assert live.client.delete(url, headers=live.headers("baerum-legevakt")).status_code == 404
    events = live.client.get(made["events"], headers=live.headers("baerum-legevakt"))
    assert events.status_code == 404
    replaced = live.client.put(url, json={"patients": [CECILIE]}, headers=live.headers(LEGEVAKT))
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["patients"] == [CECILIE]
    assert "kommuner" not in replaced.json()
    assert live.client.delete(url, headers=live.headers(LEGEVAKT)).status_code == 204
    assert live.client.delete(url, headers=live.headers(LEGEVAKT)).status_code == 404
    assert live.client.get(made["events"], headers=live.headers(LEGEVAKT)).status_code == 404


def test_a_subscription_carries_the_label_its_client_gave_it(live: TestPlatform) -> None:
    made = subscribe(live, {"patients": [ANNE], "label": "board:rom-1"})
    assert made["label"] == "board:rom-1"
    assert "label" not in subscribe(live, {"patients": [BJORN]})
    listed = live.client.get("/v1/news2/subscriptions", headers=live.headers(LEGEVAKT)).json()
    assert [s.get("label") for s in listed["subscriptions"]] == ["board:rom-1", None]
    url = f"/v1/news2/subscriptions/{made['id']}"
    kept = live.client.put(url, json={"patients": [CECILIE]}, headers=live.headers(LEGEVAKT))
    assert kept.json()["label"] == "board:rom-1"
    relabelled = live.client.put(
        url, json={"patients": [CECILIE], "label": "board:rom-2"}, headers=live.headers(LEGEVAKT)
    )
    assert relabelled.json()["label"] == "board:rom-2"
    for bad in ("", "x" * 65, 5, None, "rom 1", "rom\u00e6", ["a"]):
        refused = live.client.post(
            "/v1/news2/subscriptions",
            json={"patients": [ANNE], "label": bad},
            headers=live.headers(LEGEVAKT),
        )
        assert refused.status_code == 422, (bad, refused.text)
        assert [e["pointer"] for e in refused.json()["errors"]] == ["/label"]
    longest = subscribe(live, {"patients": [ANNE], "label": "x" * 64})
    assert longest["label"] == "x" * 64


def test_a_client_holds_at_most_its_limit_of_subscriptions(
    backend: Backend, tmp_path: Path
) -> None:
    for live in make_live(backend, tmp_path, subscriptions_per_client=2):
        made = [subscribe(live, {"patients": [p]}) for p in (ANNE, BJORN)]
        one_more = live.client.post(
            "/v1/news2/subscriptions", json={"patients": [CECILIE]}, headers=live.headers(LEGEVAKT)
        )
        assert one_more.status_code == 409, one_more.text
        assert one_more.json()["type"] == "urn:journalloft:problem:conflict"
        assert "2 subscriptions" in one_more.json()["detail"]
        # replacing one's people is not one more; another client has its own count
        url = f"/v1/news2/subscriptions/{made[0]['id']}"
        replaced = live.client.put(url, json={"patients": [DAG]}, headers=live.headers(LEGEVAKT))
        assert replaced.status_code == 200
        subscribe(live, {"patients": [CECILIE]}, client="baerum-legevakt")
        # ending one makes room
        assert live.client.delete(url, headers=live.headers(LEGEVAKT)).status_code == 204
        subscribe(live, {"patients": [CECILIE]})


def test_expired_subscriptions_do_not_count_against_the_limit(backend: Backend) -> None:
    store = connect_subscriptions(backend.redis_url)
    try:
        gone = new_subscription("c-" + uuid.uuid4().hex, "news2", {"patients": [ANNE]},
                                lifetime_seconds=60)  # fmt: skip
        store.save(replace(gone, expires_at=time.time() - 5))
        fresh = new_subscription(gone.client_id, "news2", {"patients": [BJORN]},
                                 lifetime_seconds=60)  # fmt: skip
        assert store.add(fresh, limit=1)
        assert [s.id for s in store.owned_by(gone.client_id)] == [fresh.id]
        assert not store.add(replace(fresh, id="another"), limit=1)
        assert store.delete(fresh.id)
    finally:
        store.close()


def test_a_subscription_is_refused_as_a_lookup_would_be(live: TestPlatform) -> None:
    post = live.client.post
    bad = post("/v1/news2/subscriptions", json={"patients": ["12345678901"]},
               headers=live.headers(LEGEVAKT))  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "/patients/0"
    ungranted = post(
        "/v1/news2/subscriptions",
        json={"patients": [ANNE], "kommuner": ["3201"]},
        headers=live.headers(LEGEVAKT),
    )
    assert ungranted.status_code == 403
    assert post("/v1/news2/subscriptions", json={"patients": [ANNE]}).status_code == 401
    writer = post("/v1/news2/subscriptions", json={"patients": [ANNE]}, headers=live.headers(EPJ))
    assert writer.status_code == 403


def test_the_stream_starts_with_the_lookup_and_pushes_each_committed_change_audited(
    live: TestPlatform,
) -> None:
    push(live, measurement("m-1", ANNE))
    made = subscribe(live, {"patients": [ANNE, BJORN]})
    lookup = live.client.post(
        "/v1/news2/query", json={"patients": [ANNE, BJORN]}, headers=live.headers(LEGEVAKT)
    ).json()
    before = len(reads(live, "1804"))
    with open_events(live.client, made["id"], live.headers(LEGEVAKT)) as events:
        [snapshot] = events.take(1)
        assert snapshot.event == "snapshot"
        assert snapshot.id
        assert snapshot.json() == lookup
        push(live, measurement("m-2", BJORN, pulse=135))
        [update] = events.take(1)
        assert update.event == "update"
        assert update.id is not None
        assert update.id > snapshot.id
        entry = update.json()
        assert (entry["patient"], entry["kommunenummer"]) == (BJORN, "1804")
        assert entry["latest"]["id"] == "m-2"
        assert entry["latest"]["score"]["total"] == 3
        # the event is the lookup's entry, and was audited as a read before it was sent
        answer = live.client.post(
            "/v1/news2/query", json={"patients": [BJORN]}, headers=live.headers(LEGEVAKT)
        ).json()
        assert answer["results"] == [entry]
        logged = reads(live, "1804")[before:]
        assert logged[:3] == [(ANNE, 1, "ok"), (BJORN, 0, "ok"), (BJORN, 1, "ok")]
        # a change for someone the subscription does not cover sends nothing: the next event
        # is the next change of someone it does
        push(live, measurement("m-3", CECILIE))
        push(live, measurement("m-4", ANNE, pulse=95))
        [next_update] = events.take(1)
        assert next_update.json()["patient"] == ANNE
        assert next_update.json()["latest"]["id"] == "m-4"
    assert CECILIE not in [patient for patient, _, _ in reads(live, "1804")]


def test_restrictions_and_withdrawals_are_pushed_as_a_lookup_shows_them(
    live: TestPlatform,
) -> None:
    push(live, measurement("m-1", ANNE), measurement("m-2", BJORN))
    made = subscribe(live, {"patients": [ANNE, BJORN]})
    with open_events(live.client, made["id"], live.headers(LEGEVAKT)) as events:
        events.take(1)
        restricted = live.client.put(
            "/v1/tenants/1804/restrictions",
            json={"patient": ANNE, "restricted": True},
            headers=live.headers(DRIFT),
        )
        assert restricted.status_code == 200, restricted.text
        [update] = events.take(1)
        assert update.json() == {"patient": ANNE, "kommunenummer": "1804", "restricted": True}
        withdrawn = live.client.delete(
            "/v1/tenants/1804/news2/records/m-2", headers=live.headers(EPJ)
        )
        assert withdrawn.status_code == 204
        [gone] = events.take(1)
        assert gone.json() == {"patient": BJORN, "kommunenummer": "1804", "removed": True}
    assert reads(live, "1804")[-2:] == [(ANNE, 0, "restricted"), (BJORN, 0, "ok")]


def test_a_reconnect_gets_every_missed_event_in_order_and_none_twice(live: TestPlatform) -> None:
    made = subscribe(live, {"patients": [ANNE, BJORN, CECILIE]})
    with open_events(live.client, made["id"], live.headers(LEGEVAKT)) as events:
        [snapshot] = events.take(1)
        push(live, measurement("m-1", ANNE))
        [first] = events.take(1)
    # away: five changes, one of them for someone else
    push(live, measurement("m-2", BJORN))
    push(live, measurement("m-3", DAG))
    push(live, measurement("m-4", CECILIE), measurement("m-5", ANNE, pulse=95))
    push(live, measurement("m-6", BJORN, pulse=135))
    with open_events(
        live.client, made["id"], live.headers(LEGEVAKT), last_event_id=first.id
    ) as events:
        missed = events.take(4)
        push(live, measurement("m-7", CECILIE, pulse=95))
        [live_one] = events.take(1)
    # one event per missed change, in the order they committed; a replayed event carries the
    # person's entry as it is now (Bjørn's first change shows his latest measurement, m-6)
    got = [(e.event, e.json()["patient"], e.json()["latest"]["id"]) for e in missed]
    assert got == [
        ("update", BJORN, "m-6"),
        ("update", CECILIE, "m-4"),
        ("update", ANNE, "m-5"),
        ("update", BJORN, "m-6"),
    ]
    ids = [snapshot.id, first.id, *(e.id for e in missed), live_one.id]
    assert ids == sorted(ids, key=lambda i: tuple(int(p) for p in str(i).split("-")))
    assert len(set(ids)) == len(ids)
    assert live_one.json()["latest"]["id"] == "m-7"


NOW_MS = "<now>"
"""Stands for the current time in milliseconds in a Last-Event-ID below."""


@pytest.mark.parametrize(
    "last_event_id",
    [
        "1-0",
        "0-0",  # older than any window: not "everything since the beginning"
        "0-1",
        "not-an-id",
        "99999999999999-0",
        f"{NOW_MS}-18446744073709551616",  # beyond a stream id's 64-bit sequence
        f"{NOW_MS}-18446744073709551615",
        "18446744073709551616-0",
        "1\u00b2-0",  # a digit to str.isdigit(), not to int()
        "\u00b9\u00b2-0",
        "1-2-3",
        "-1",
        "1-",
        f"{NOW_MS}-" + "0" * 60,
        "1" * 200,
    ],
)
def test_an_id_outside_the_replay_window_gets_a_reset_and_a_fresh_snapshot(
    live: TestPlatform, last_event_id: str
) -> None:
    push(live, measurement("m-1", ANNE))
    made = subscribe(live, {"patients": [ANNE]})
    now_ms = str(int(time.time() * 1000))
    # the header as bytes: latin-1, as a client may send it (0xB2 is '²')
    raw = last_event_id.replace(NOW_MS, now_ms).encode("latin-1")
    headers = {k.encode(): v.encode() for k, v in live.headers(LEGEVAKT).items()}
    headers |= {b"Accept": b"text/event-stream", b"Last-Event-ID": raw}
    before = redis_errors()
    with live.client.stream("GET", made["events"], headers=headers) as response:
        assert response.status_code == 200, response.read()
        reset, snapshot = EventReader(response).take(2)
    assert reset.event == "reset"
    assert reset.json()["reason"]
    assert snapshot.event == "snapshot"
    assert [r["latest"]["id"] for r in snapshot.json()["results"]] == ["m-1"]
    assert redis_errors() == before


def redis_errors() -> float:
    return sum(
        sample.value
        for metric in REDIS_ERRORS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


def test_an_id_within_the_window_replays_and_its_neighbours_in_time_do_not(
    live: TestPlatform,
) -> None:
    """The edge of the window: an id the feed gave replays; the same instant's id a
    millisecond later than the newest change is not one the feed gave (reset)."""
    push(live, measurement("m-1", ANNE))
    made = subscribe(live, {"patients": [ANNE]})
    with open_events(live.client, made["id"], live.headers(LEGEVAKT)) as events:
        [snapshot] = events.take(1)
    assert snapshot.id is not None
    push(live, measurement("m-2", ANNE, pulse=95))
    headers = live.headers(LEGEVAKT)
    with open_events(live.client, made["id"], headers, last_event_id=snapshot.id) as events:
        [update] = events.take(1)
    assert (update.event, update.json()["latest"]["id"]) == ("update", "m-2")
    ms, seq = (int(p) for p in update.id.split("-")) if update.id else (0, 0)
    with open_events(
        live.client, made["id"], live.headers(LEGEVAKT), last_event_id=f"{ms + 1}-{seq}"
    ) as events:
        assert events.take(1)[0].event == "reset"


def test_replacing_the_people_sends_a_new_snapshot_and_ending_ends_the_stream(
    live: TestPlatform,
) -> None:
    push(live, measurement("m-1", ANNE), measurement("m-2", BJORN))
    made = subscribe(live, {"patients": [ANNE]})
    url = f"/v1/news2/subscriptions/{made['id']}"
    with open_events(live.client, made["id"], live.headers(LEGEVAKT)) as events:
        events.take(1)
        live.client.put(url, json={"patients": [BJORN]}, headers=live.headers(LEGEVAKT))
        [snapshot] = events.take(1)
        assert snapshot.event == "snapshot"
        assert [r["patient"] for r in snapshot.json()["results"]] == [BJORN]
        push(live, measurement("m-3", ANNE, pulse=95), measurement("m-4", BJORN, pulse=95))
        [update] = events.take(1)
        assert update.json()["patient"] == BJORN
        assert live.client.delete(url, headers=live.headers(LEGEVAKT)).status_code == 204
        [ended] = events.take(1)
        assert ended.event == "disconnect"
        assert "ended" in ended.json()["reason"]
        assert events.next() is None


def test_idle_streams_get_heartbeats(live: TestPlatform) -> None:
    made = subscribe(live, {"patients": [ANNE]})
    with open_events(live.client, made["id"], live.headers(LEGEVAKT)) as events:
        events.take(1)
        push(live, measurement("m-1", BJORN))  # not covered: nothing but heartbeats follow
        time.sleep(1.3)
        push(live, measurement("m-2", ANNE))
        [update] = events.take(1)
        assert update.json()["patient"] == ANNE
        assert events.comments >= 2


def test_a_stream_too_slow_to_keep_up_is_ended_with_a_reason_and_loses_nothing(
    backend: Backend, tmp_path: Path
) -> None:
    ward = people(12, seed="live-slow")
    for live in make_live(backend, tmp_path, stream_queue_limit=2):
        # a feed that holds a change: a snapshot of an empty feed has the id 0-0, older than
        # any window, and a reconnect with it gets a fresh snapshot instead of the updates
        push(live, measurement("m-other", DAG))
        made = subscribe(live, {"patients": ward})
        with open_events(live.client, made["id"], live.headers(LEGEVAKT)) as events:
            [snapshot] = events.take(1)
            # twelve changes at once: more than the stream may hold while it reads the first
            push(live, *(measurement(f"m-{i}", p) for i, p in enumerate(ward)))
            seen = []
            while (event := events.next()) is not None and event.event == "update":
                seen.append(event)
            assert event is not None
            assert event.event == "disconnect"
            assert "too slow" in event.json()["reason"]
            assert event.id == (seen[-1].id if seen else snapshot.id)  # the last one sent
        with open_events(
            live.client, made["id"], live.headers(LEGEVAKT), last_event_id=event.id
        ) as events:
            rest = events.take(len(ward) - len(seen))
        assert [e.json()["patient"] for e in [*seen, *rest]] == ward


def open_when_allowed(platform: TestPlatform, made: dict[str, Any]) -> Any:
    """The status of a stream opened (and closed at once) as soon as it is not 429, polling
    within a bound: a stream's end reaches the server asynchronously."""
    deadline = time.monotonic() + 10
    while True:
        headers = {**platform.headers(LEGEVAKT), "Accept": "text/event-stream"}
        with platform.client.stream("GET", made["events"], headers=headers) as response:
            if response.status_code != 429 or time.monotonic() > deadline:
                return response.status_code
        time.sleep(0.05)


def test_a_client_has_at_most_its_limit_of_open_streams(backend: Backend, tmp_path: Path) -> None:
    for live in make_live(backend, tmp_path, streams_per_client=2):
        made = subscribe(live, {"patients": [ANNE]})
        headers = live.headers(LEGEVAKT)
        with (
            open_events(live.client, made["id"], headers) as first,
            open_events(live.client, made["id"], live.headers(LEGEVAKT)) as second,
        ):
            first.take(1)
            second.take(1)
            third = live.client.get(made["events"], headers=live.headers(LEGEVAKT))
            assert third.status_code == 429, third.text
            assert third.headers["content-type"] == "application/problem+json"
            assert third.json()["type"] == "urn:journalloft:problem:rate-limited"
            assert "2 event streams" in third.json()["detail"]
            assert int(third.headers["retry-after"]) > 0
            # another client counts its own
            theirs = subscribe(live, {"patients": [ANNE]}, client="baerum-legevakt")
            with open_events(live.client, theirs["id"], live.headers("baerum-legevakt")) as other:
                assert other.take(1)[0].event == "snapshot"
        # both closed: the count is down again
        with open_events(live.client, made["id"], live.headers(LEGEVAKT)) as first:
            first.take(1)
            assert open_when_allowed(live, made) == 200
        assert open_when_allowed(live, made) == 200


ESTABLISHED = 1
"""``tcpi_state`` of a connection still open (Linux's ``TCP_ESTABLISHED``)."""


def tcp_state(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def test_a_stream_whose_client_stopped_reading_is_closed_within_the_send_timeout(
    backend: Backend, tmp_path: Path
) -> None:
    """A client that stops reading while its stream has much to send: the server's buffers fill
    and a send waits. Within the send timeout the connection is closed (reset: unsent bytes are
    dropped), not left open waiting for a client that never reads."""
    ward = people(100, seed="live-stalled")
    for live in make_live(backend, tmp_path, stream_send_timeout_seconds=1):
        earlier = datetime.now(UTC) - timedelta(hours=2)
        for n in range(4):  # a snapshot of about a megabyte: 20 measurements each
            batch = []
            for i, patient in enumerate(ward):
                for k in range(5):
                    record = measurement(f"m-{n}-{i}-{k}", patient)
                    at = (earlier + timedelta(minutes=5 * (n * 5 + k))).isoformat()
                    batch.append({**record, "effective": at, "updated": at})
            push(live, *batch)
        made = subscribe(live, {"patients": ward})
        port = live.client.base_url.port
        headers = "".join(f"{k}: {v}\r\n" for k, v in live.headers(LEGEVAKT).items())
        request = (
            f"GET {made['events']} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}"
            "Accept: text/event-stream\r\n\r\n"
        )
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", port))
            sock.sendall(request.encode())
            # it reads nothing from here on, while every person's data changes again and again
            # (each update about 10 kB) until the buffers between them are full
            deadline = time.monotonic() + 60
            n = 0
            while tcp_state(sock) == ESTABLISHED:
                assert time.monotonic() < deadline, "the stalled stream was never closed"
                n += 1
                push(live, *(measurement(f"more-{n}-{i}", p) for i, p in enumerate(ward)))
                time.sleep(0.2)  # within the ingest rate limit
        deadline = time.monotonic() + 10
        while live.runtime.hub.streams_of(LEGEVAKT):
            assert time.monotonic() < deadline, "the stalled stream is still counted"
            time.sleep(0.05)


def diagnosis(record_id: str, patient: str, code: str) -> dict[str, Any]:
    return {
        "id": record_id,
        "patient": patient,
        "updated": datetime.now(UTC).isoformat(),
        "code": {"system": "icpc-2", "code": code, "display": "Diagnose"},
        "clinical_status": "active",
        "verification_status": "confirmed",
        "recorded_by": {"unit": "Legekontoret"},
    }


def test_a_change_a_stream_cannot_see_sends_nothing_and_audits_nothing(
    backend: Backend, tmp_path: Path
) -> None:
    """A diagnosis in a range the municipality excludes changes nobody's visible entry: the
    stream sends no (unchanged) update for it and logs no read; a visible change does both."""
    services: dict[str, Any] = {s: {} for s in SERVICES}
    services["diagnoser"] = {"excluded_codes": {"icpc-2": ["P15-P19"]}}
    with served_platform(backend, tmp_path, heartbeat_seconds=0.5) as live:
        live.onboard(tenant_document("1804", services=services))

        def push_diagnoses(*records: dict[str, Any]) -> None:
            response = live.client.post(
                "/v1/tenants/1804/diagnoser/records",
                json={"records": list(records)},
                headers=live.headers(EPJ),
            )
            assert response.status_code == 200, response.text

        push_diagnoses(diagnosis("d-1", ANNE, "T90"))
        made = live.client.post(
            "/v1/diagnoser/subscriptions",
            json={"patients": [ANNE, BJORN]},
            headers=live.headers(LEGEVAKT),
        ).json()
        with open_events(live.client, made["id"], live.headers(LEGEVAKT)) as events:
            [snapshot] = events.take(1)
            [anne] = snapshot.json()["results"]
            read_so_far = len(reads(live, "1804"))
            push_diagnoses(diagnosis("d-2", ANNE, "P15"))  # excluded: Anne's entry is as it was
            push_diagnoses(diagnosis("d-3", BJORN, "R81"))
            [update] = events.take(1)
            assert update.json()["patient"] == BJORN
            assert reads(live, "1804")[read_so_far:] == [(BJORN, 1, "ok")]
            # a change Anne's entry shows is sent, and read
            push_diagnoses(diagnosis("d-4", ANNE, "K86"))
            [changed] = events.take(1)
        assert changed.json()["patient"] == ANNE
        assert changed.json() != anne
        assert "P15" not in changed.data
        assert reads(live, "1804")[read_so_far:] == [(BJORN, 1, "ok"), (ANNE, 1, "ok")]


def test_a_stream_needs_the_owners_token(live: TestPlatform) -> None:
    made = subscribe(live, {"patients": [ANNE]})
    assert live.client.get(made["events"]).status_code == 401
    assert live.client.get(made["events"], headers=live.headers(EPJ)).status_code == 404


def test_a_stream_ends_when_its_token_expires(backend: Backend, tmp_path: Path) -> None:
    helseid = FakeHelseID()
    jwks = helseid.write_jwks(tmp_path / "helseid.jwks")
    for live in make_live(backend, tmp_path, trusted_issuers=[helseid.trusted(jwks)]):
        push(live, measurement("m-other", DAG))  # not an empty feed (see the slow stream's)
        token = helseid.token(LEGEVAKT, ("news2:read",), exp=int(time.time()) + 3)
        headers = {"Authorization": f"Bearer {token}"}
        response = live.client.post(
            "/v1/news2/subscriptions", json={"patients": [ANNE]}, headers=headers
        )
        assert response.status_code == 201, response.text
        with open_events(live.client, response.json()["id"], headers) as events:
            [snapshot] = events.take(1)
            [ended] = events.take(1)
            assert ended.event == "disconnect"
            assert "expired" in ended.json()["reason"]
            assert ended.id == snapshot.id
            assert events.next() is None
        # the same token cannot open it again; a new one carries on from the last id
        assert live.client.get(response.json()["events"], headers=headers).status_code == 401
        fresh = {"Authorization": f"Bearer {helseid.token(LEGEVAKT, ('news2:read',))}"}
        push(live, measurement("m-1", ANNE))
        with open_events(
            live.client, response.json()["id"], fresh, last_event_id=ended.id
        ) as events:
            [update] = events.take(1)
        assert update.json()["latest"]["id"] == "m-1"


def test_a_withdrawn_grant_ends_a_stream_that_names_the_municipality(live: TestPlatform) -> None:
    services: dict[str, Any] = {s: {} for s in SERVICES}
    legevakt_too = [{"client_id": LEGEVAKT, "name": "Bodø legevakt", "services": list(SERVICES)}]
    live.onboard(tenant_document("3201", services=services, extra_consumers=legevakt_too))
    headers = live.headers(LEGEVAKT)
    push(live, measurement("m-1", ANNE))
    named = subscribe(live, {"patients": [ANNE], "kommuner": ["1804"]})
    unnamed = subscribe(live, {"patients": [ANNE, BJORN]})
    with (
        open_events(live.client, named["id"], headers) as by_name,
        open_events(live.client, unnamed["id"], headers) as by_grant,
    ):
        by_name.take(1)
        by_grant.take(1)
        document = tenant_document("1804", services=services)
        document["consumers"] = [
            {"client_id": "bodo-sykehjem", "name": "Sykehjem", "services": list(SERVICES)}
        ]
        live.onboard(document)  # Bodø no longer grants its legevakt; Bærum still does
        push(live, measurement("m-2", ANNE, pulse=95))
        [ended] = by_name.take(1)
        assert ended.event == "disconnect"
        assert "granted" in ended.json()["reason"]
        # the stream that names no municipality leaves Bodø out, as a lookup would: its next
        # event is Bjørn's change in Bærum, not Anne's in Bodø
        push(live, measurement("m-3", BJORN), kommunenummer="3201")
        [update] = by_grant.take(1)
        assert (update.json()["patient"], update.json()["kommunenummer"]) == (BJORN, "3201")
    assert live.client.get(named["events"], headers=headers).status_code == 403


# -- gathered reads: one read for every board a change wakes, each audited as its own -------


@pytest.fixture
def gathered(backend: Backend, tmp_path: Path) -> Iterator[TestPlatform]:
    # a wide window, so that both boards' reads fall in one however slow the machine
    yield from make_live(backend, tmp_path, stream_read_window_ms=300)


def read_events(platform: TestPlatform, correlation_id: str) -> list[tuple[str, int]]:
    with platform.runtime.stores.tenant_transaction("1804") as connection:
        table = AuditEvent.__table__.c  # type: ignore[attr-defined]
        rows = connection.execute(
            select(table.patient, table.result_count)
            .where(table.action == "read", table.correlation_id == correlation_id)
            .order_by(table.id)
        )
        return [tuple(row) for row in rows]


def test_one_change_for_two_boards_is_one_read_audited_for_each_board(
    gathered: TestPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = subscribe(gathered, {"patients": [ANNE, CECILIE]})
    second = subscribe(gathered, {"patients": [BJORN]})
    query_path = gathered.runtime.query_path
    fetched: list[int] = []
    fetch = query_path.fetch

    async def counted(kommunenummer: str, statement: Any, values: Any) -> Any:
        fetched.append(len(values["patients"]))
        return await fetch(kommunenummer, statement, values)

    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    headers = gathered.headers(LEGEVAKT)
    with (
        open_events(gathered.client, first["id"], headers | {"Correlation-Id": ids[0]}) as one,
        open_events(gathered.client, second["id"], headers | {"Correlation-Id": ids[1]}) as two,
    ):
        assert one.take(1)[0].event == "snapshot"
        assert two.take(1)[0].event == "snapshot"
        monkeypatch.setattr(query_path, "fetch", counted)
        push(gathered, measurement("m-1", ANNE), measurement("m-2", BJORN, pulse=135))
        [to_one] = one.take(1)
        [to_two] = two.take(1)
        monkeypatch.undo()
    assert (to_one.json()["patient"], to_one.json()["latest"]["id"]) == (ANNE, "m-1")
    assert (to_two.json()["patient"], to_two.json()["latest"]["id"]) == (BJORN, "m-2")
    assert to_two.json()["latest"]["score"]["total"] == 3
    assert fetched == [2], "both boards' people in one read"
    # each board's own read, under its own stream's correlation id, and nobody else's
    assert read_events(gathered, ids[0])[-1:] == [(ANNE, 1)]
    assert read_events(gathered, ids[1])[-1:] == [(BJORN, 1)]
    assert CECILIE not in [p for p, _ in read_events(gathered, ids[0])[2:]]
