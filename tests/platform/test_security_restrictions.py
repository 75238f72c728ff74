"""Restrictions (sperring): marked and lifted by a tenant's source or operator, through the API and
the command line, each change audited; a restricted person's entry carries no data; break the
glass opens it only where the tenant allows it, flagged and reported."""

from __future__ import annotations

import getpass
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx  # what the test client answers with
import pytest
from sqlalchemy import select

from journalloft.cli import main
from journalloft.platform.audit.log import AUDIT_EVENT, FEED_DELAY_SECONDS
from journalloft.platform.caller import Caller
from journalloft.platform.core.settings import get_settings
from journalloft.platform.live.changes import Change, data_change
from journalloft.platform.operations.access import RestrictionAccess
from journalloft.platform.operations.restrictions import change_restrictions, restricted_people
from support import SERVICES, people, sample_record, tenant_document, token_form
from support.platform import Backend, TestPlatform, start_platform
from support.security import (
    PUBLIC_URL,
    an_hour_ago,
    attestation_details,
    read_feed,
    use_platform_settings,
)

AT = an_hour_ago()
OPERATOR = {"1804": "bodo-drift", "3201": "baerum-drift"}
LEGEVAKT = {"1804": "bodo-legevakt", "3201": "baerum-legevakt"}


@pytest.fixture(scope="module")
def platform(
    module_backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestPlatform]:
    """Bodø allows break the glass; Bærum does not."""
    for platform in start_platform(module_backend, tmp_path_factory.mktemp("restrictions")):
        platform.onboard(tenant_document("1804", policy={"allow_break_the_glass": True}))
        platform.onboard(tenant_document("3201"))
        yield platform


@pytest.fixture
def cli(platform: TestPlatform, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    use_platform_settings(platform, monkeypatch)
    yield
    get_settings.cache_clear()


def push(platform: TestPlatform, kommunenummer: str, *patients: str) -> None:
    source = {"1804": "bodo-epj", "3201": "baerum-epj"}[kommunenummer]
    records = [
        {"id": f"r-{p}", "patient": p, "updated": AT, "effective": AT, "spo2_scale": 1, "pulse": 70}
        for p in patients
    ]
    response = platform.client.post(
        f"/v1/tenants/{kommunenummer}/news2/records",
        json={"records": records},
        headers=platform.headers(source),
    )
    assert response.status_code == 200, response.text


def restrict(
    platform: TestPlatform, kommunenummer: str, patient: str, client: str, restricted: bool = True
) -> httpx.Response:
    return platform.client.put(
        f"/v1/tenants/{kommunenummer}/restrictions",
        json={"patient": patient, "restricted": restricted},
        headers=platform.headers(client),
    )


def attested_token(platform: TestPlatform, client_id: str, **details: Any) -> str:
    form = token_form(client_id, platform.key(client_id), audience=PUBLIC_URL)
    form["authorization_details"] = json.dumps([attestation_details(**details)])
    response = platform.client.post("/oauth/token", data=form)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def look_up(
    platform: TestPlatform, kommunenummer: str, *patients: str, token: str | None = None
) -> list[dict[str, Any]]:
    token = token or platform.token(LEGEVAKT[kommunenummer])
    response = platform.client.post(
        "/v1/news2/query",
        json={"patients": list(patients), "kommuner": [kommunenummer]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def access_log(platform: TestPlatform, kommunenummer: str, patient: str) -> list[dict[str, Any]]:
    response = platform.client.post(
        f"/v1/tenants/{kommunenummer}/audit/query",
        json={"patient": patient},
        headers=platform.headers(OPERATOR[kommunenummer]),
    )
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = list(reversed(response.json()["events"]))
    return events


def test_a_source_marks_and_an_operator_lifts_a_restriction(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="restriction-api")
    push(platform, "1804", eva)
    marked = restrict(platform, "1804", eva, "bodo-epj")
    assert marked.status_code == 200, marked.text
    assert marked.json() == {
        "patient": eva,
        "kommunenummer": "1804",
        "restricted": True,
        "changed": True,
    }
    assert restrict(platform, "1804", eva, "bodo-epj").json()["changed"] is False
    assert look_up(platform, "1804", eva) == [
        {"patient": eva, "kommunenummer": "1804", "restricted": True}
    ]
    lifted = restrict(platform, "1804", eva, "bodo-drift", restricted=False)
    assert lifted.json()["changed"] is True
    assert look_up(platform, "1804", eva)[0]["latest"]["pulse"] == 70
    trail = [
        (e["action"], e["client_id"], e["result_count"], e["outcome"])
        for e in access_log(platform, "1804", eva)
    ]
    assert trail == [
        ("write", "bodo-epj", 1, "ok"),
        ("restrict", "bodo-epj", 1, "ok"),
        ("restrict", "bodo-epj", 0, "ok"),
        ("read", "bodo-legevakt", 0, "restricted"),
        ("lift-restriction", "bodo-drift", 1, "ok"),
        ("read", "bodo-legevakt", 1, "ok"),
    ]


def test_only_the_tenants_own_sources_and_operators_may_restrict(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="restriction-who")
    consumer = restrict(platform, "1804", eva, "bodo-legevakt")
    assert consumer.status_code == 403
    assert consumer.json()["title"] == "Missing scope"
    foreign_source = restrict(platform, "1804", eva, "baerum-epj")
    assert foreign_source.status_code == 403
    assert foreign_source.json()["title"] == "No grant from this municipality"
    foreign_operator = restrict(platform, "1804", eva, "baerum-drift")
    assert foreign_operator.status_code == 403
    bad = platform.client.put(
        "/v1/tenants/1804/restrictions",
        json={"patient": "12345678901"},
        headers=platform.headers("bodo-drift"),
    )
    assert bad.status_code == 422
    assert {e["pointer"] for e in bad.json()["errors"]} == {"/patient", "/restricted"}
    assert access_log(platform, "1804", eva) == []


def test_break_the_glass_opens_a_restriction_only_where_the_tenant_allows_it(
    platform: TestPlatform,
) -> None:
    eva, bob = people(2, seed="restriction-btg")
    for kommunenummer in ("1804", "3201"):
        push(platform, kommunenummer, eva, bob)
        assert restrict(platform, kommunenummer, eva, OPERATOR[kommunenummer]).json()["changed"]

    etreat = attested_token(platform, "bodo-legevakt", purpose="ETREAT")
    assert look_up(platform, "1804", eva, token=etreat)[0] == {
        "patient": eva,
        "kommunenummer": "1804",
        "restricted": True,
    }
    anonymous_btg = attested_token(platform, "bodo-legevakt", purpose="BTG", name=None, hpr=None)
    assert look_up(platform, "1804", eva, token=anonymous_btg)[0]["restricted"] is True

    btg = attested_token(platform, "bodo-legevakt", purpose="BTG", name="Vakthavende Lege")
    opened = look_up(platform, "1804", eva, bob, token=btg)
    assert [(r["patient"], r["latest"]["pulse"]) for r in opened] == [(eva, 70), (bob, 70)]
    flagged = [e for e in access_log(platform, "1804", eva) if e["break_the_glass"]]
    assert [(e["purpose"], e["practitioner_name"], e["outcome"]) for e in flagged] == [
        ("BTG", "Vakthavende Lege", "ok")
    ]
    assert not any(e["break_the_glass"] for e in access_log(platform, "1804", bob))

    baerum_btg = attested_token(platform, "baerum-legevakt", purpose="BTG")
    assert look_up(platform, "3201", eva, token=baerum_btg)[0]["restricted"] is True
    refused = access_log(platform, "3201", eva)[-1]
    assert (refused["purpose"], refused["outcome"], refused["break_the_glass"]) == (
        "BTG",
        "restricted",
        False,
    )

    report = read_feed(platform, "1804", "bodo-drift", break_the_glass="true")["events"]
    assert [
        (e["patient"], e["practitioner_name"]) for e in report if e["patient"] in (eva, bob)
    ] == [(eva, "Vakthavende Lege")]
    assert all(e["break_the_glass"] for e in report)
    assert read_feed(platform, "3201", "baerum-drift", break_the_glass="true")["events"] == []


def test_the_command_line_marks_lists_and_lifts_from_stdin_or_a_file(
    platform: TestPlatform,
    cli: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    eva, bob = people(2, seed="restriction-cli")
    push(platform, "3201", eva, bob)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{eva}\n\n  {bob}  \n{eva}\n"))
    assert main(["restrictions", "add", "3201"]) == 0
    assert "3201: 2 restricted, 0 unchanged" in capsys.readouterr().out
    assert [r.get("restricted") for r in look_up(platform, "3201", eva, bob)] == [True, True]

    assert main(["restrictions", "list", "3201"]) == 0
    listed = capsys.readouterr().out
    assert eva in listed
    assert bob in listed

    file = tmp_path / "lift.txt"
    file.write_text(f"{bob}\n", encoding="utf-8")
    assert main(["restrictions", "remove", "3201", "--file", str(file)]) == 0
    assert "3201: 1 lifted, 0 unchanged" in capsys.readouterr().out
    assert "restricted" not in look_up(platform, "3201", bob)[0]

    operator = f"cli:{getpass.getuser()}"
    trail = [(e["action"], e["client_id"]) for e in access_log(platform, "3201", bob)]
    assert ("restrict", operator) in trail
    assert ("lift-restriction", operator) in trail


def test_the_command_line_changes_nothing_on_a_bad_line_and_never_echoes_ids(
    platform: TestPlatform,
    cli: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (eva,) = people(1, seed="restriction-cli-bad")
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{eva}\n12345678901\n"))
    assert main(["restrictions", "add", "1804"]) == 1
    error = capsys.readouterr().err
    assert "line 2" in error
    assert "12345678901" not in error
    assert access_log(platform, "1804", eva) == []
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{eva}\n"))
    assert main(["restrictions", "add", "9999"]) == 1
    assert "no municipality 9999" in capsys.readouterr().err


def test_the_break_the_glass_report_on_the_command_line(
    platform: TestPlatform, cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command line and the API's review feed call one operation: the same events, and the
    same horizon (events at least two minutes old), so the report never shows what the feed still
    holds back."""
    (eva,) = people(1, seed="restriction-report")
    platform.set_now(datetime.now(UTC) - timedelta(seconds=FEED_DELAY_SECONDS + 60))
    push(platform, "1804", eva)
    restrict(platform, "1804", eva, "bodo-drift")
    btg = attested_token(platform, "bodo-legevakt", purpose="BTG", name="Lege Rapport")
    look_up(platform, "1804", eva, token=btg)
    platform.set_now(datetime.now(UTC))
    held_back = attested_token(platform, "bodo-legevakt", purpose="BTG", name="Lege Nylig")
    look_up(platform, "1804", eva, token=held_back)  # too new for the feed and the report
    assert main(["audit", "break-the-glass", "1804", "--since", "2020-01-01T00:00:00Z"]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if eva in line]
    assert len(lines) == 1
    assert "Lege Rapport" in lines[0]
    assert "BTG" in lines[0]
    assert "break-the-glass accesses" in captured.err
    feed = platform.client.get(
        "/v1/tenants/1804/audit/events",
        params={"break_the_glass": "true"},
        headers=platform.headers("bodo-drift"),
    ).json()["events"]
    assert [e["practitioner_name"] for e in feed if e["patient"] == eva] == ["Lege Rapport"]
    assert main(["audit", "break-the-glass", "1804", "--since", "2020-01-01"]) == 1


def test_the_command_line_and_the_api_restrict_through_one_operation(
    platform: TestPlatform,
    cli: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Marking a person at the command line and over HTTP gives the same answer to a lookup and
    the same audit event (but for who did it)."""
    by_api, by_cli = people(2, seed="restriction-one-operation")
    push(platform, "1804", by_api, by_cli)
    restrict(platform, "1804", by_api, "bodo-drift")
    monkeypatch.setattr("sys.stdin", io.StringIO(by_cli + "\n"))
    assert main(["restrictions", "add", "1804"]) == 0
    capsys.readouterr()
    answers = {patient: look_up(platform, "1804", patient) for patient in (by_api, by_cli)}
    assert answers[by_api] == [{"patient": by_api, "kommunenummer": "1804", "restricted": True}]
    assert answers[by_cli] == [{"patient": by_cli, "kommunenummer": "1804", "restricted": True}]

    def restrict_event(patient: str) -> dict[str, Any]:
        events = platform.client.post(
            "/v1/tenants/1804/audit/query",
            json={"patient": patient},
            headers=platform.headers("bodo-drift"),
        ).json()["events"]
        (event,) = [e for e in events if e["action"] == "restrict"]
        return {k: v for k, v in event.items() if k in ("action", "result_count", "outcome")}

    assert restrict_event(by_api) == restrict_event(by_cli)


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_withholds_a_restricted_person_unless_the_glass_is_broken(
    platform: TestPlatform, service: str
) -> None:
    eva, bob = people(2, seed=f"restriction-every-{service}")
    pushed = platform.client.post(
        f"/v1/tenants/1804/{service}/records",
        json={"records": [sample_record(service, f"r-{p}", p, at=AT) for p in (eva, bob)]},
        headers=platform.headers("bodo-epj"),
    )
    assert pushed.status_code == 200, pushed.text
    assert restrict(platform, "1804", eva, "bodo-drift").json()["changed"]

    def look(token: str) -> list[dict[str, Any]]:
        response = platform.client.post(
            f"/v1/{service}/query",
            json={"patients": [eva, bob], "kommuner": ["1804"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["results"]
        return found

    plain = look(platform.token("bodo-legevakt"))
    assert plain[0] == {"patient": eva, "kommunenummer": "1804", "restricted": True}
    assert plain[1]["patient"] == bob
    assert "restricted" not in plain[1]
    opened = look(attested_token(platform, "bodo-legevakt", purpose="BTG", name="Lege Glass"))
    assert [(r["patient"], "restricted" in r) for r in opened] == [(eva, False), (bob, False)]
    assert opened[1] == plain[1]
    reads = [
        (e["outcome"], e["break_the_glass"], e["result_count"])
        for e in access_log(platform, "1804", eva)
        if e["action"] == "read" and e["service"] == service
    ]
    assert reads == [("restricted", False, 0), ("ok", True, 1)]


def test_the_listing_is_oldest_first_then_by_person_and_says_who_marked_whom(
    platform: TestPlatform,
) -> None:
    """The command line's listing (:func:`restricted_people`): by when each was marked, and by
    the person id between those marked at the same instant; whoever marked them; one
    ``restrictions-list`` event that counts them."""
    tenant = platform.runtime.tenants.get("3201")
    assert tenant is not None
    first, second, third = (
        datetime(2026, 3, 1, 8, tzinfo=UTC) + timedelta(hours=h) for h in range(3)
    )
    a, b, c, d = sorted(people(4, seed="restriction-order"))

    def mark(at: datetime, *patients: str) -> None:
        caller = Caller.command_line(now=at)
        access = RestrictionAccess.command_line(caller, tenant)
        change_restrictions(platform.runtime, access, list(patients), restricted=True)

    mark(third, a)
    mark(second, d, b)  # the same instant: by person id, not the order they were marked in
    mark(first, c)
    listing = RestrictionAccess.command_line(Caller.command_line(now=third), tenant)
    rows = [r for r in restricted_people(platform.runtime, listing) if r["patient"] in (a, b, c, d)]
    assert [(r["patient"], r["restricted_at"]) for r in rows] == [
        (c, first),
        (b, second),
        (d, second),
        (a, third),
    ]
    assert {r["restricted_by"] for r in rows} == {f"cli:{getpass.getuser()}"}
    query = select(AUDIT_EVENT).where(AUDIT_EVENT.c.correlation_id == listing.caller.correlation_id)
    with platform.runtime.stores.tenant_engine("3201").connect() as connection:
        [event] = connection.execute(query).mappings()
    assert (event["action"], event["patient"], event["service"]) == (
        "restrictions-list",
        None,
        None,
    )
    assert event["result_count"] == len(restricted_people(platform.runtime, listing))
    change_restrictions(platform.runtime, listing, [a, b, c, d], restricted=False)


def test_a_mark_or_lift_that_changed_something_is_told_to_the_live_streams(
    platform: TestPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream that sent a person's data must learn at once that they are now restricted (and
    when it is lifted): each change is handed on after its commit, for its municipality and
    person, any service; a mark that changed nothing is not."""
    eva, bob = people(2, seed="restriction-changes")
    told: list[tuple[str, list[Change]]] = []
    committed = platform.runtime.committed

    def spy(kommunenummer: str, outbox_id: int | None, changes: Any) -> None:
        told.append((kommunenummer, list(changes)))
        committed(kommunenummer, outbox_id, changes)

    monkeypatch.setattr(platform.runtime, "committed", spy)
    tenant = platform.runtime.tenants.get("3201")
    assert tenant is not None
    access = RestrictionAccess.command_line(Caller.command_line(now=datetime.now(UTC)), tenant)
    change_restrictions(platform.runtime, access, [bob], restricted=True)
    told.clear()
    change_restrictions(platform.runtime, access, [eva, bob], restricted=True)
    assert told == [("3201", [data_change("3201", None, eva)])]
    told.clear()
    change_restrictions(platform.runtime, access, [eva, bob], restricted=False)
    assert told == [("3201", [data_change("3201", None, eva), data_change("3201", None, bob)])]


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        ([], [""]),
        ({"patient": "123", "restricted": True}, ["/patient"]),
        ({"patient": 123, "restricted": True}, ["/patient"]),
    ],
    ids=["not an object", "a bad id", "not a string"],
)
def test_a_bad_restriction_is_422_with_one_error_per_field(
    platform: TestPlatform, body: Any, pointers: list[str]
) -> None:
    refused = platform.client.put(
        "/v1/tenants/1804/restrictions", json=body, headers=platform.headers("bodo-drift")
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"] == "the restriction is not valid"
    assert [e["pointer"] for e in refused.json()["errors"]] == pointers
