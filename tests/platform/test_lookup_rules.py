"""One municipality's part of a lookup (``sharing.look_up_in_together``), called directly: the
restriction filter, break the glass, and the audit events committed before any answer is
returned, each event's person, count, outcome, flag and data age exact.

- A restricted person's entry is ``{"restricted": true}`` and nothing else, audited as
  ``restricted`` with no result; the people beside them are read and audited as usual.
- Break the glass (where the municipality allows it, with a named practitioner) opens the
  restricted person's data, and only that person's event is flagged.
- If the events cannot be written, the read fails and no answer comes back: audit before data.
- A live stream's read leaves out (and does not audit) a person whose entry is what it last sent,
  and answers ``{"removed": true}`` for one with nothing left to show.
- Accesses read together each get their own answer and their own events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from journalloft.platform.audit.log import AUDIT_EVENT, AuditUnavailable
from journalloft.platform.auth.attestation import attestation_from_details
from journalloft.platform.auth.tokens import Principal
from journalloft.platform.caller import Caller
from journalloft.platform.core.errors import NotFound, ServiceUnavailable
from journalloft.platform.core.tenancy import Tenant
from journalloft.platform.operations.access import (
    ReaderAccess,
    RestrictionAccess,
    SourceAccess,
    reader_access,
)
from journalloft.platform.operations.restrictions import change_restrictions
from journalloft.platform.operations.sharing import (
    _look_up_or_unavailable,
    entry_digest,
    ingest,
    look_up_in_together,
    withdraw,
)
from journalloft.platform.storage.query_path import StoreUnavailable
from support import people, tenant_document
from support.platform import Backend, TestRuntime, start_runtime
from support.security import attestation_details

NOW = datetime.now(UTC).replace(microsecond=0)
AT = NOW - timedelta(hours=1)
OPEN, SHUT, NONE, GHOST = people(4, seed="lookup-rules")
"""Someone with data; someone restricted, with data; someone with none; someone restricted with
none."""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestRuntime]:
    """Bodø allows break the glass; its source pushed for OPEN and SHUT, and SHUT is restricted."""
    for platform in start_runtime(Backend("sqlite", None, None), tmp_path_factory.mktemp("lu")):
        platform.onboard(tenant_document("1804", policy={"allow_break_the_glass": True}))
        baerum = tenant_document("3201", services={"news2": {}, "kommunale-tjenester": {}})
        baerum["services"]["kommunale-tjenester"] = {"ended_window_days": 5}
        baerum["sources"][0]["client_id"] = "bodo-epj"  # one system writing for both
        platform.onboard(baerum)
        push(platform, OPEN, "o-1")
        push(platform, SHUT, "s-1")
        operator = Caller.command_line(now=NOW)
        change_restrictions(
            platform.runtime,
            RestrictionAccess(operator, bodo(platform)),
            [SHUT, GHOST],
            restricted=True,
        )
        yield platform


def bodo(platform: TestRuntime) -> Tenant:
    found = platform.runtime.tenants.get("1804")
    assert found is not None
    return found


def source(platform: TestRuntime) -> SourceAccess:
    principal = Principal(client_id="bodo-epj", scopes=frozenset(), issuer="test")
    caller = Caller(principal, "push", None, NOW)
    return SourceAccess(caller, bodo(platform), platform.runtime.services["news2"])


def push(
    platform: TestRuntime, patient: str, record_id: str, pulse: int = 70, at: datetime = AT
) -> None:
    record = {
        "id": record_id,
        "patient": patient,
        "updated": at.isoformat(),
        "effective": at.isoformat(),
        "spo2_scale": 1,
        "pulse": pulse,
    }
    ingest(platform.runtime, source(platform), {"records": [record]})


def reader(
    platform: TestRuntime, correlation: str, *, btg: bool = False, named: bool = True
) -> ReaderAccess:
    attestation = None
    if btg:
        details = attestation_details(
            purpose="BTG",
            name="Lege Glass" if named else None,
            hpr=None if not named else "9144900",
        )
        attestation = attestation_from_details(
            [details], issued_at=NOW.timestamp(), now=NOW.timestamp(), source="token"
        )
    principal = Principal(
        client_id="bodo-legevakt", scopes=frozenset({"news2:read"}), issuer="test",
        attestation=attestation,
    )  # fmt: skip
    service = platform.runtime.services["news2"]
    return reader_access(Caller(principal, correlation, None, NOW), service)


def read(
    platform: TestRuntime,
    *reads: tuple[ReaderAccess, Sequence[str]],
    sent: Sequence[Mapping[str, bytes]] | None = None,
) -> list[dict[str, dict[str, Any]]]:
    return asyncio.run(
        look_up_in_together(platform.runtime, bodo(platform), list(reads), options={}, sent=sent)
    )


def events(platform: TestRuntime, correlation: str) -> list[dict[str, Any]]:
    query = select(AUDIT_EVENT).where(AUDIT_EVENT.c.correlation_id == correlation)
    with platform.runtime.stores.tenant_engine("1804").connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def logged(platform: TestRuntime, correlation: str) -> list[tuple[Any, ...]]:
    """The events of one access: (person, count, outcome, break the glass)."""
    return sorted(
        (e["patient"], e["result_count"], e["outcome"], e["break_the_glass"])
        for e in events(platform, correlation)
        if e["action"] == "read"
    )


def ages(platform: TestRuntime, correlation: str) -> dict[str, Any]:
    return {e["patient"]: e["data_age_seconds"] for e in events(platform, correlation)}


def test_a_restricted_person_is_answered_restricted_and_audited_so(platform: TestRuntime) -> None:
    [answer] = read(platform, (reader(platform, "plain"), [OPEN, SHUT, NONE]))
    assert {(e["action"], e["service"]) for e in events(platform, "plain")} == {("read", "news2")}
    assert list(answer) == [SHUT, OPEN]
    assert answer[SHUT] == {"restricted": True}
    assert answer[OPEN]["latest"]["pulse"] == 70
    assert logged(platform, "plain") == sorted(
        [(OPEN, 1, "ok", False), (NONE, 0, "ok", False), (SHUT, 0, "restricted", False)]
    )
    assert ages(platform, "plain") == {OPEN: 3600, NONE: None, SHUT: None}


def test_breaking_the_glass_opens_the_restricted_person_and_flags_only_them(
    platform: TestRuntime,
) -> None:
    [answer] = read(platform, (reader(platform, "glass", btg=True), [OPEN, SHUT, NONE, GHOST]))
    assert sorted(answer) == sorted([OPEN, SHUT])
    assert answer[SHUT]["latest"]["pulse"] == 70
    assert "restricted" not in answer[SHUT]
    assert logged(platform, "glass") == sorted(
        [
            (OPEN, 1, "ok", False),
            (NONE, 0, "ok", False),
            (SHUT, 1, "ok", True),
            (GHOST, 0, "ok", True),
        ]
    )
    assert ages(platform, "glass") == {OPEN: 3600, NONE: None, SHUT: 3600, GHOST: None}
    assert {(e["action"], e["service"]) for e in events(platform, "glass")} == {("read", "news2")}


def test_break_the_glass_without_a_named_practitioner_opens_nothing(
    platform: TestRuntime,
) -> None:
    [answer] = read(platform, (reader(platform, "anonymous", btg=True, named=False), [SHUT]))
    assert answer == {SHUT: {"restricted": True}}
    assert logged(platform, "anonymous") == [(SHUT, 0, "restricted", False)]


def test_accesses_read_together_each_get_their_own_answer_and_events(
    platform: TestRuntime,
) -> None:
    lookups = REGISTRY.get_sample_value(
        "journalloft_lookups_total", {"service": "news2", "kommunenummer": "1804"}
    )
    asked = REGISTRY.get_sample_value(
        "journalloft_patients_looked_up_total", {"service": "news2", "kommunenummer": "1804"}
    )
    plain, glass = read(
        platform,
        (reader(platform, "together-1"), [SHUT, NONE]),
        (reader(platform, "together-2", btg=True), [SHUT]),
    )
    assert plain == {SHUT: {"restricted": True}}
    assert glass[SHUT]["latest"]["pulse"] == 70
    assert logged(platform, "together-1") == sorted(
        [(NONE, 0, "ok", False), (SHUT, 0, "restricted", False)]
    )
    assert logged(platform, "together-2") == [(SHUT, 1, "ok", True)]
    assert (
        REGISTRY.get_sample_value(
            "journalloft_lookups_total", {"service": "news2", "kommunenummer": "1804"}
        )
        == (lookups or 0) + 2
    )
    assert (
        REGISTRY.get_sample_value(
            "journalloft_patients_looked_up_total", {"service": "news2", "kommunenummer": "1804"}
        )
        == (asked or 0) + 3
    )


def test_no_answer_leaves_when_its_events_cannot_be_written(platform: TestRuntime) -> None:
    engine = platform.runtime.stores.tenant_engine("1804")
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE audit_event RENAME TO audit_event_offline")
    try:
        with pytest.raises(AuditUnavailable):
            read(platform, (reader(platform, "offline", btg=True), [OPEN, SHUT]))
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE audit_event_offline RENAME TO audit_event")
    assert logged(platform, "offline") == []


def test_a_stream_gets_and_audits_only_what_changed_since_it_last_sent(
    platform: TestRuntime,
) -> None:
    (later,) = people(1, seed="lookup-rules-later")
    push(platform, later, "l-1")
    everyone = [OPEN, SHUT, NONE, later]
    [first] = read(platform, (reader(platform, "stream-1"), everyone), sent=[{}])
    assert first[NONE] == {"removed": True}
    assert first[SHUT] == {"restricted": True}
    assert sorted(first) == sorted(everyone)
    digests = {p: entry_digest(entry) for p, entry in first.items()}

    [again] = read(platform, (reader(platform, "stream-2"), everyone), sent=[digests])
    assert again == {}
    assert logged(platform, "stream-2") == []

    push(platform, OPEN, "o-2", pulse=90, at=AT + timedelta(minutes=1))
    withdraw(platform.runtime, source(platform), "l-1")
    [changed] = read(platform, (reader(platform, "stream-3"), everyone), sent=[digests])
    assert sorted(changed) == sorted([OPEN, later])
    assert changed[OPEN]["latest"]["pulse"] == 90
    assert changed[later] == {"removed": True}
    assert logged(platform, "stream-3") == sorted([(OPEN, 1, "ok", False), (later, 0, "ok", False)])
    assert ages(platform, "stream-3") == {OPEN: 3540, later: None}  # the newest is 59 min old

    [glass] = read(platform, (reader(platform, "stream-4", btg=True), [SHUT]), sent=[digests])
    assert glass[SHUT]["latest"]["pulse"] == 70  # what it last sent was "restricted"
    assert logged(platform, "stream-4") == [(SHUT, 1, "ok", True)]


def test_a_municipality_whose_store_is_down_answers_503_with_nothing_of_it(
    platform: TestRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*_: Any, **__: Any) -> Any:
        raise StoreUnavailable("refused")

    monkeypatch.setattr(platform.runtime.query_path, "fetch", down)
    answer = asyncio.run(
        _look_up_or_unavailable(
            platform.runtime, reader(platform, "down"), bodo(platform), patients=[OPEN], options={}
        )
    )
    assert type(answer) is ServiceUnavailable
    assert answer.detail == "municipality 1804: its database is unavailable"
    assert logged(platform, "down") == []


@pytest.mark.parametrize("offboarded", [False, True])
def test_an_audit_that_cannot_be_written_is_a_503_or_an_unknown_municipality_if_it_left(
    platform: TestRuntime, monkeypatch: pytest.MonkeyPatch, offboarded: bool
) -> None:
    """Events that cannot be written mean nothing of the municipality leaves: 503; or, when the
    municipality was offboarded meanwhile (its store gone), 404 as if it had not been asked."""
    monkeypatch.setattr(platform.runtime.tenants, "offboarded", lambda _: offboarded)
    engine = platform.runtime.stores.tenant_engine("1804")
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE audit_event RENAME TO audit_event_offline")
    try:
        answer = asyncio.run(
            _look_up_or_unavailable(
                platform.runtime,
                reader(platform, "gone"),
                bodo(platform),
                patients=[OPEN],
                options={},
            )
        )
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE audit_event_offline RENAME TO audit_event")
    if offboarded:
        assert type(answer) is NotFound
        assert (answer.detail, answer.instance_title) == (
            "no municipality 1804 on this platform",
            "Unknown tenant",
        )
    else:
        assert type(answer) is AuditUnavailable


def test_the_municipalitys_own_settings_for_the_service_shape_its_answer(
    platform: TestRuntime,
) -> None:
    """Bærum shows ended services for 5 days, Bodø for 90 (the default): a service ended 10 days
    ago is shown by Bodø only."""
    (person,) = people(1, seed="lookup-rules-settings")
    service = platform.runtime.services["kommunale-tjenester"]
    ended = (NOW - timedelta(days=10)).date().isoformat()
    found = {}
    for kommunenummer in ("1804", "3201"):
        tenant = platform.runtime.tenants.get(kommunenummer)
        assert tenant is not None
        principal = Principal(client_id="bodo-epj", scopes=frozenset(), issuer="test")
        record = {
            "id": f"kt-{kommunenummer}",
            "patient": person,
            "updated": AT.isoformat(),
            "service_code": "6",
            "start": "2026-01-05",
            "end": ended,
        }
        writer = SourceAccess(Caller(principal, "push", None, NOW), tenant, service)
        ingest(platform.runtime, writer, {"records": [record]})
        asker = Principal(client_id="bodo-legevakt", scopes=frozenset(), issuer="test")
        access = ReaderAccess(Caller(asker, f"settings-{kommunenummer}", None, NOW), service)
        [answer] = asyncio.run(
            look_up_in_together(platform.runtime, tenant, [(access, [person])], options={})
        )
        found[kommunenummer] = person in answer
    assert found == {"1804": True, "3201": False}
