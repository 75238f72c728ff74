"""Moving a municipality (export, import), backups of the embedded default, and the sealed audit
log that ``journalloft audit verify`` checks."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, func, insert, select, update

from journalloft.cli import main
from journalloft.cli.portability import backup_sqlite
from journalloft.platform.audit.log import AUDIT_EVENT, events_for_patient
from journalloft.platform.audit.seal import (
    AUDIT_SEAL,
    key_id,
    load_seal_key,
    public_pem,
    read_anchor,
    seal_all,
    trusted_keys,
    verify,
)
from journalloft.platform.auth.clients import add_key
from journalloft.platform.core.settings import get_settings
from journalloft.platform.operations.portability import (
    ExportError,
    export_tenant,
    import_tenant,
    sign_export,
    tenant_tables,
    trusted_export_keys,
)
from journalloft.platform.runtime import Runtime, build_runtime
from journalloft.platform.storage.directory import TENANT_TABLE
from journalloft.platform.storage.engines import Stores
from support import PILOTS, people, tenant_document
from support.platform import REPO, Backend, TestPlatform, provide_backend, start_platform

NEWS2_TABLE = "news2_measurement"
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
AT = "2026-11-22T02:00:00+00:00"
LATER = NOW + timedelta(hours=1)
EXPORT_KEY = Ed25519PrivateKey.generate()
"""The exporting operator's signing key in these tests; every import trusts it."""
TRUSTED = trusted_export_keys(EXPORT_KEY, [])


def prefix_of(kommunenummer: str) -> str:
    return PILOTS[kommunenummer][2] if kommunenummer in PILOTS else f"k{kommunenummer}"


def measurement(record_id: str, patient: str, score: int = 1) -> dict[str, Any]:
    return {
        "id": record_id,
        "patient": patient,
        "updated": AT,
        "effective": AT,
        "spo2_scale": 1,
        "pulse": 60 + score,
        "temperature": 37.25,
    }


def kt_service(record_id: str, patient: str) -> dict[str, Any]:
    return {
        "id": record_id,
        "patient": patient,
        "updated": AT,
        "service_code": "15",
        "start": "2026-01-05",
        "temporary_cessation": False,
    }


def post(platform: TestPlatform, path: str, body: Any, client: str) -> Any:
    response = platform.client.post(path, json=body, headers=platform.headers(client))
    assert response.status_code == 200, response.text
    return response.json()


def fill(platform: TestPlatform, kommunenummer: str, who: list[str]) -> None:
    """Records of both services, a withdrawal, a restriction and lookups (so audit events)."""
    prefix = prefix_of(kommunenummer)
    records = [measurement(f"n-{i}", p, i) for i, p in enumerate(who)]
    post(
        platform,
        f"/v1/tenants/{kommunenummer}/news2/records",
        {"records": records},
        f"{prefix}-epj",
    )
    post(
        platform,
        f"/v1/tenants/{kommunenummer}/kommunale-tjenester/records",
        {"records": [kt_service(f"k-{i}", p) for i, p in enumerate(who[:3])]},
        f"{prefix}-epj",
    )
    withdrawn = platform.client.delete(
        f"/v1/tenants/{kommunenummer}/news2/records/n-1", headers=platform.headers(f"{prefix}-epj")
    )
    assert withdrawn.status_code == 204
    restricted = platform.client.put(
        f"/v1/tenants/{kommunenummer}/restrictions",
        json={"patient": who[2], "restricted": True},
        headers=platform.headers(f"{prefix}-drift"),
    )
    assert restricted.status_code == 200, restricted.text
    lookups(platform, kommunenummer, who)


def lookups(platform: TestPlatform, kommunenummer: str, who: list[str]) -> list[Any]:
    prefix = prefix_of(kommunenummer)
    return [
        post(platform, f"/v1/{service}/query", {"patients": who}, f"{prefix}-legevakt")
        for service in ("news2", "kommunale-tjenester")
    ]


def audit_answers(runtime: Runtime, kommunenummer: str, who: list[str]) -> Any:
    """Every audit query's answer: each person's access log, and the whole log in feed order."""
    with runtime.stores.tenant_engine(kommunenummer).connect() as connection:
        per_person = [events_for_patient(connection, patient=p) for p in who]
        everything = [
            dict(row)
            for row in connection.execute(
                select(AUDIT_EVENT).order_by(AUDIT_EVENT.c.occurred_at, AUDIT_EVENT.c.id)
            ).mappings()
        ]
    return per_person, everything


def give_keys(target: TestPlatform, source: TestPlatform) -> None:
    """The clients' keys, as their owners would register them again on the new platform."""
    with target.runtime.stores.platform_engine.begin() as connection:
        for client_id, key in source.keys.items():
            target.keys[client_id] = key
            add_key(connection, client_id=client_id, jwk=key.as_dict(private=False))
    target.runtime.tenants.reload()


def export_to(
    platform: TestPlatform,
    kommunenummer: str,
    path: Path,
    *,
    signing_key: Ed25519PrivateKey | None = EXPORT_KEY,
) -> None:
    seal = load_seal_key(platform.runtime.settings).public_key()
    with path.open("wb") as out:
        export_tenant(
            kommunenummer,
            out,
            stores=platform.runtime.stores,
            services=platform.runtime.services,
            signing_key=signing_key,
            extra_header={"audit_seal_keys": {key_id(seal): public_pem(seal)}},
        )


def load(
    platform: TestPlatform,
    path: Path,
    *,
    replace: bool = False,
    trusted: dict[str, Any] = TRUSTED,
    trust_unsigned: bool = False,
    into: str | None = None,
) -> None:
    import_tenant(
        path,
        stores=platform.runtime.stores,
        schemas=platform.runtime.schemas,
        services=platform.runtime.services,
        trusted=trusted,
        trust_unsigned=trust_unsigned,
        into=into,
        replace=replace,
        now=NOW,
    )
    platform.runtime.tenants.reload()


@pytest.fixture
def sqlite_platform(tmp_path: Path) -> Iterator[TestPlatform]:
    for platform in start_platform(Backend("sqlite", None, None), tmp_path / "sqlite"):
        platform.set_now(NOW)
        platform.onboard(tenant_document("1804"))
        yield platform


def test_a_municipality_moves_sqlite_to_postgresql_to_another_postgresql_with_equal_answers(
    sqlite_platform: TestPlatform, tmp_path: Path
) -> None:
    who = people(6, seed="portability")
    fill(sqlite_platform, "1804", who)
    with sqlite_platform.runtime.stores.tenant_transaction("1804") as connection:
        connection.execute(insert(AUDIT_EVENT).values(_event(NOW, "unicode: æøå ✓")))
    key = load_seal_key(sqlite_platform.runtime.settings)
    # 24 events of people and one "push" event per push (created), which names no one
    assert seal_all(sqlite_platform.runtime.stores, ["1804"], key=key, now=LATER) == {"1804": 26}
    before_audit = audit_answers(sqlite_platform.runtime, "1804", who)
    before_lookups = lookups(sqlite_platform, "1804", who)
    assert before_lookups[0]["results"], "the lookups must find something to compare"
    after_lookups = audit_answers(sqlite_platform.runtime, "1804", who)
    first = tmp_path / "1804-a.jsonl.gz"
    export_to(sqlite_platform, "1804", first)

    pem = tmp_path / "seal-key.pem"
    pem.write_text(public_pem(key.public_key()), encoding="ascii")
    for one, two in _two_postgres(tmp_path):
        one.set_now(NOW)
        two.set_now(NOW)
        load(one, first)
        assert audit_answers(one.runtime, "1804", who) == after_lookups
        second = tmp_path / "1804-b.jsonl.gz"
        export_to(one, "1804", second)
        load(two, second)
        assert audit_answers(two.runtime, "1804", who) == after_lookups
        with pytest.raises(ExportError, match="--replace"):
            load(two, second)
        load(two, second, replace=True)
        assert audit_answers(two.runtime, "1804", who) == after_lookups
        assert after_lookups[1][: len(before_audit[1])] == before_audit[1]
        give_keys(two, sqlite_platform)
        assert lookups(two, "1804", who) == before_lookups
        # the restriction moved too: the restricted person is left out
        [entry] = [r for r in before_lookups[0]["results"] if r["patient"] == who[2]]
        assert entry == {"patient": who[2], "kommunenummer": "1804", "restricted": True}
        # new events get new ids after the imported ones, and the seals still verify, with
        # the exporting platform's key
        with two.runtime.stores.tenant_engine("1804").connect() as connection:
            ids = [row.id for row in connection.execute(select(AUDIT_EVENT.c.id))]
            assert len(ids) == len(set(ids))
            report = verify(
                connection,
                kommunenummer="1804",
                trusted=trusted_keys(load_seal_key(two.runtime.settings), [pem]),
                now=NOW,
                retention_years=5,
                anchor=read_anchor(two.runtime.stores, "1804"),
            )
        assert report.anchored == report.newest  # the import recorded the file's newest seal
        assert report.intact, report.problems
        assert report.events_checked == 26


def _event(at: datetime, epj: str = "EPJ") -> dict[str, Any]:
    return {
        "occurred_at": at,
        "action": "read",
        "service": "news2",
        "patient": people(1, seed="inserted")[0],
        "client_id": "someone",
        "correlation_id": uuid.uuid4().hex,
        "break_the_glass": False,
        "result_count": 1,
        "outcome": "ok",
        "epj_system": epj,
    }


def _two_postgres(tmp_path: Path) -> Iterator[tuple[TestPlatform, TestPlatform]]:
    for first in provide_backend("postgresql"):
        for second in provide_backend("postgresql"):
            for one in start_platform(first, tmp_path / "pg-one"):
                for two in start_platform(second, tmp_path / "pg-two"):
                    yield one, two


def _rewrite(source: Path, target: Path, change: Any) -> None:
    lines = gzip.decompress(source.read_bytes()).splitlines(keepends=True)
    target.write_bytes(gzip.compress(b"".join(change(lines))))


def _rewrite_with_trailer(
    source: Path,
    target: Path,
    change: Any,
    *,
    header: Any = None,
    signing_key: Ed25519PrivateKey | None = EXPORT_KEY,
) -> None:
    """The rows (and the header) changed, with a trailer that matches them: a well-formed file,
    signed anew with ``signing_key`` (as its holder could), or unsigned."""
    lines = gzip.decompress(source.read_bytes()).splitlines(keepends=True)
    first = json.loads(lines[0])
    if header is not None:
        header(first)
    rows = change(lines[1:-1])
    counts: dict[str, int] = dict.fromkeys(first["tables"], 0)
    for row in rows:
        counts[json.loads(row)["t"]] += 1
    body = (json.dumps(first, ensure_ascii=False) + "\n").encode() + b"".join(rows)
    digest = hashlib.sha256(body).hexdigest()
    trailer: dict[str, Any] = {"end": True, "counts": counts, "sha256": digest}
    if signing_key is not None:
        trailer["signature"] = sign_export(
            signing_key, kommunenummer=first["kommunenummer"], counts=counts, sha256=digest
        )
    target.write_bytes(gzip.compress(body + json.dumps(trailer).encode() + b"\n"))


def _relabel(source: Path, target: Path, header: Any, **signing: Any) -> None:
    """The header changed, the rows kept, the checksum recomputed."""
    _rewrite_with_trailer(source, target, lambda rows: rows, header=header, **signing)


def _keep_signature(source: Path, target: Path) -> None:
    """The target's trailer gets the source's signature back (the attacker has no key)."""
    lines = gzip.decompress(target.read_bytes()).splitlines(keepends=True)
    original = json.loads(gzip.decompress(source.read_bytes()).splitlines()[-1])
    trailer = json.loads(lines[-1])
    trailer["signature"] = original["signature"]
    target.write_bytes(gzip.compress(b"".join(lines[:-1]) + json.dumps(trailer).encode() + b"\n"))


def test_import_refuses_a_damaged_or_incomplete_file_before_writing_anything(
    sqlite_platform: TestPlatform, tmp_path: Path
) -> None:
    who = people(4, seed="damaged")
    fill(sqlite_platform, "1804", who)
    good = tmp_path / "good.jsonl.gz"
    export_to(sqlite_platform, "1804", good)
    raw = good.read_bytes()
    damaged: dict[str, Callable[[Path], object]] = {
        "truncated": lambda p: p.write_bytes(raw[: len(raw) // 2]),
        "no trailer": lambda p: _rewrite(good, p, lambda lines: lines[:-1]),
        "a changed row": lambda p: _rewrite(
            good,
            p,
            lambda lines: [lines[0], lines[1].replace(b"bodo-epj", b"bodo-epk"), *lines[2:]],
        ),
        "a row removed": lambda p: _rewrite(good, p, lambda lines: [lines[0], *lines[2:]]),
        "not an export": lambda p: p.write_bytes(gzip.compress(b'{"hello": 1}\n')),
        "not gzip": lambda p: p.write_bytes(b"plain text\n"),
    }
    for empty in start_platform(Backend("sqlite", None, None), tmp_path / "target"):
        for name, make in damaged.items():
            path = tmp_path / f"{name}.gz"
            make(path)
            with pytest.raises(ExportError):
                load(empty, path)
            assert empty.runtime.tenants.get("1804") is None, name
            assert not empty.runtime.stores.tenant_store_exists("1804"), name
        # a file whose checksum and counts hold but whose rows cannot be stored: nothing stays
        duplicated = tmp_path / "duplicated.gz"
        _rewrite_with_trailer(good, duplicated, lambda rows: [rows[0], *rows])
        with pytest.raises(ExportError, match="refused the file's rows"):
            load(empty, duplicated)
        assert empty.runtime.tenants.get("1804") is None
        assert not empty.runtime.stores.tenant_store_exists("1804")
        load(empty, good)
        # a tenant with data is not overwritten unless asked
        with pytest.raises(ExportError, match="--replace"):
            load(empty, good)
        load(empty, good, replace=True)
        tables = tenant_tables(empty.runtime.services)
        with empty.runtime.stores.tenant_engine("1804").connect() as connection:
            counts = {
                t.name: connection.execute(select(func.count()).select_from(t)).scalar_one()
                for t in tables
            }
    assert counts["audit_event"] > 0
    assert counts[NEWS2_TABLE] == 4, counts


def test_the_export_is_one_snapshot_that_writers_do_not_wait_for(
    sqlite_platform: TestPlatform,
) -> None:
    fill(sqlite_platform, "1804", people(3, seed="format"))
    stores = sqlite_platform.runtime.stores
    out = io.BytesIO()
    written_meanwhile = []

    def meanwhile(table: str, rows: int) -> None:
        # the export reads one snapshot and holds no write lock: a push commits meanwhile
        with stores.tenant_transaction("1804") as connection:
            connection.execute(insert(AUDIT_EVENT).values(_event(NOW)))
        written_meanwhile.append(table)

    summary = export_tenant(
        "1804",
        out,
        stores=stores,
        services=sqlite_platform.runtime.services,
        signing_key=EXPORT_KEY,
        progress=meanwhile,
    )
    assert written_meanwhile
    with stores.tenant_engine("1804").connect() as connection:
        events = connection.execute(select(func.count()).select_from(AUDIT_EVENT)).scalar_one()
    assert events == summary.counts["audit_event"] + len(written_meanwhile)
    lines = gzip.decompress(out.getvalue()).splitlines()
    assert b'"format":"journalloft-tenant-export"' in lines[0]
    assert b'"end":true' in lines[-1]
    assert len(lines) == 2 + sum(summary.counts.values())
    assert summary.counts["restriction"] == 1


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("JOURNALLOFT_ENVIRONMENT", "test")
    monkeypatch.setenv("JOURNALLOFT_HOME", str(REPO))
    monkeypatch.setenv("JOURNALLOFT_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_the_commands_export_import_seal_verify_and_back_up(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tenants", "onboard", str(REPO / "tenants" / "bodo.yaml")]) == 0
    assert main(["demo", "--people", "5"]) == 0
    assert main(["audit", "seal"]) == 0
    # what was just written is not settled yet (the feed's delay): nothing sealed
    assert "1804: 0 events sealed" in capsys.readouterr().out
    runtime = build_runtime(get_settings())
    try:
        key = load_seal_key(runtime.settings)
        later = datetime.now(UTC) + timedelta(minutes=5)
        assert seal_all(runtime.stores, ["1804"], key=key, now=later)["1804"] > 0
    finally:
        runtime.close()
    assert main(["audit", "verify", "1804"]) == 0
    assert "1 seals" in capsys.readouterr().out
    assert main(["tenants", "export", "5501", "--to", str(env / "none.jsonl.gz")]) == 1
    assert "no municipality 5501" in capsys.readouterr().err
    assert not list(env.glob("none.jsonl.gz*"))
    exported = env / "1804.jsonl.gz"
    assert main(["tenants", "export", "1804", "--to", str(exported)]) == 0
    assert "exported 1804" in capsys.readouterr().out
    assert main(["audit", "public-key"]) == 0
    (env / "key.pem").write_text(capsys.readouterr().out, encoding="ascii")
    assert main(["tenants", "export-key"]) == 0
    (env / "export-key.pem").write_text(capsys.readouterr().out, encoding="ascii")
    assert main(["backup", "--to", str(env / "backups")]) == 0
    [copy] = (env / "backups").iterdir()
    assert (copy / "tenants" / "1804.sqlite3").exists()
    assert (copy / "platform.sqlite3").exists()

    monkeypatch.setenv("JOURNALLOFT_DATA_DIR", str(env / "elsewhere"))
    get_settings.cache_clear()
    # another operator's export needs that operator's public key, or the operator's word
    assert main(["tenants", "import", str(exported)]) == 1
    assert "does not trust" in capsys.readouterr().err
    assert not (env / "elsewhere" / "tenants" / "1804.sqlite3").exists()
    trust = ["--public-key", str(env / "export-key.pem")]
    assert main(["tenants", "import", str(exported), "--into", "3201", *trust]) == 1
    assert "not 3201's" in capsys.readouterr().err
    assert main(["tenants", "import", str(exported), "--into", "1804", *trust]) == 0
    out = capsys.readouterr().out
    assert "counts and sha256" in out
    assert "signed by export key" in out
    assert main(["tenants", "import", str(exported), *trust]) == 1
    refusal = capsys.readouterr().err
    assert "--replace" in refusal
    assert "Bodø kommune" in refusal  # what would be replaced is named
    assert "audit_event" in refusal
    # on the operator's word, without the key: imported, and said so
    monkeypatch.setenv("JOURNALLOFT_DATA_DIR", str(env / "third"))
    get_settings.cache_clear()
    assert main(["tenants", "import", str(exported), "--trust-unsigned"]) == 0
    assert "NOT signed by a trusted key" in capsys.readouterr().out
    monkeypatch.setenv("JOURNALLOFT_DATA_DIR", str(env / "elsewhere"))
    get_settings.cache_clear()
    # another platform's seals need that platform's public key
    assert main(["audit", "verify", "1804"]) == 1
    assert "untrusted key" in capsys.readouterr().out
    assert main(["audit", "verify", "1804", "--public-key", str(env / "key.pem")]) == 0


def test_backup_copies_a_store_consistently_while_a_writer_writes(
    sqlite_platform: TestPlatform, tmp_path: Path
) -> None:
    stores = sqlite_platform.runtime.stores
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        while not stop.is_set():
            with stores.tenant_transaction("1804") as connection:
                connection.execute(insert(AUDIT_EVENT), [_event(NOW) for _ in range(20)])
            written[0] += 20

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 200:
            threading.Event().wait(0.01)
        target = tmp_path / "copy.sqlite3"
        backup_sqlite(stores.sqlite_path("1804"), target)
        at_copy = written[0]
    finally:
        stop.set()
        thread.join()
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (count,) = copy.execute("SELECT count(*) FROM audit_event").fetchone()
    finally:
        copy.close()
    # a whole number of committed transactions, none torn (the writer counts a transaction just
    # after its commit, so one may be in the copy and not yet counted)
    assert count % 20 == 0
    assert 200 <= count <= at_copy + 20


@pytest.fixture
def sealed_platform(backend: Backend, tmp_path: Path) -> Iterator[TestPlatform]:
    for platform in start_platform(backend, tmp_path):
        platform.set_now(NOW)
        platform.onboard(tenant_document("1804"))
        yield platform


def _check(stores: Stores, key: Ed25519PrivateKey) -> list[str]:
    with stores.tenant_engine("1804").connect() as connection:
        report = verify(
            connection,
            kommunenummer="1804",
            trusted=trusted_keys(key, []),
            now=NOW,
            retention_years=5,
            anchor=read_anchor(stores, "1804"),
        )
    return report.problems


def _tamper(stores: Stores, key: Ed25519PrivateKey, statement: Any) -> list[str]:
    with stores.tenant_transaction("1804") as connection:
        connection.execute(statement)
    return _check(stores, key)


def test_audit_verify_finds_an_altered_a_removed_and_an_inserted_event(
    sealed_platform: TestPlatform,
) -> None:
    platform = sealed_platform
    who = people(6, seed="verify")
    fill(platform, "1804", who)
    stores = platform.runtime.stores
    key = load_seal_key(platform.runtime.settings)

    # two sealers at once (two processes): one chain, no seal twice
    sealers = [
        threading.Thread(
            target=seal_all, args=(stores, ["1804"]), kwargs={"key": key, "now": LATER}
        )
        for _ in range(2)
    ]
    for thread in sealers:
        thread.start()
    for thread in sealers:
        thread.join()
    with stores.tenant_engine("1804").connect() as connection:
        assert connection.execute(select(func.count()).select_from(AUDIT_SEAL)).scalar_one() == 1
    # later events go in a second seal that continues the first
    lookups(platform, "1804", who)
    platform.set_now(NOW + timedelta(minutes=10))
    lookups(platform, "1804", who)
    assert seal_all(stores, ["1804"], key=key, now=LATER + timedelta(minutes=10))["1804"] > 0
    assert _check(stores, key) == []

    with stores.tenant_engine("1804").connect() as connection:
        first_id = connection.execute(select(func.min(AUDIT_EVENT.c.id))).scalar_one()
        last_id = connection.execute(select(func.max(AUDIT_EVENT.c.id))).scalar_one()
    first = AUDIT_EVENT.c.id == first_id

    [altered] = _tamper(stores, key, update(AUDIT_EVENT).where(first).values(client_id="x"))
    assert "seal 1" in altered
    assert "altered" in altered
    assert _tamper(stores, key, update(AUDIT_EVENT).where(first).values(client_id="bodo-epj")) == []

    [removed] = _tamper(stores, key, delete(AUDIT_EVENT).where(AUDIT_EVENT.c.id == last_id))
    assert "seal 2" in removed
    assert "1 event(s) removed" in removed

    inserted = _tamper(stores, key, insert(AUDIT_EVENT).values(_event(NOW - timedelta(minutes=1))))
    assert any("seal 1" in p and "1 event(s) inserted" in p for p in inserted)

    # a seal changed to match is caught by its signature
    forged = _tamper(
        stores, key, update(AUDIT_SEAL).where(AUDIT_SEAL.c.seq == 1).values(event_count=9)
    )
    assert any("signature does not verify" in p for p in forged)


@pytest.fixture
def two_municipalities(backend: Backend, tmp_path: Path) -> Iterator[TestPlatform]:
    """Bodø and Bærum on one platform, each with records, a restriction, lookups, and Bodø's
    audit log sealed."""
    for platform in start_platform(backend, tmp_path):
        platform.set_now(NOW)
        platform.onboard(tenant_document("1804"))
        platform.onboard(tenant_document("3201"))
        fill(platform, "1804", people(4, seed="bodo-moves"))
        fill(platform, "3201", people(3, seed="baerum-stays"))
        key = load_seal_key(platform.runtime.settings)
        assert seal_all(platform.runtime.stores, ["1804"], key=key, now=LATER)["1804"] > 0
        yield platform


def _state(platform: TestPlatform, kommunenummer: str) -> Any:
    """A municipality's registration and every row of its store."""
    runtime = platform.runtime
    with runtime.stores.platform_engine.connect() as connection:
        registered = connection.execute(
            select(TENANT_TABLE.c.name, TENANT_TABLE.c.document).where(
                TENANT_TABLE.c.kommunenummer == kommunenummer
            )
        ).first()
    if not runtime.stores.tenant_store_exists(kommunenummer):
        return registered, None
    with runtime.stores.tenant_engine(kommunenummer).connect() as connection:
        rows = {
            t.name: sorted(map(tuple, connection.execute(select(t)).all()), key=repr)
            for t in tenant_tables(runtime.services)
        }
    return (tuple(registered) if registered else None), rows


def test_import_refuses_a_file_whose_labels_name_another_municipality(
    two_municipalities: TestPlatform, tmp_path: Path
) -> None:
    platform = two_municipalities
    bodo = tmp_path / "1804.jsonl.gz"
    export_to(platform, "1804", bodo)
    before = {k: _state(platform, k) for k in ("1804", "3201")}
    assert before["3201"][1]["audit_event"]
    assert before["1804"][1]["audit_seal"]

    def refused(path: Path, words: str, **options: Any) -> None:
        with pytest.raises(ExportError, match=words):
            load(platform, path, replace=True, **options)
        assert {k: _state(platform, k) for k in ("1804", "3201")} == before, path.name
        assert platform.runtime.tenants.get("3201").name == "Bærum kommune"  # type: ignore[union-attr]

    def header_to(kommunenummer: str) -> Any:
        return lambda header: header.update(kommunenummer=kommunenummer)

    def everything_to(kommunenummer: str, name: str, orgnr: str) -> Any:
        def change(header: dict[str, Any]) -> None:
            header["kommunenummer"] = kommunenummer
            header["tenant"].update(name=name, organisasjonsnummer=orgnr)
            header["tenant"]["document"].update(
                kommunenummer=kommunenummer, name=name, organisasjonsnummer=orgnr
            )

        return change

    # 1. the header's kommunenummer edited to Bærum's, the checksum recomputed, the signature
    # kept: the header disagrees with its tenant document, on the operator's word too
    relabelled = tmp_path / "relabelled.gz"
    _relabel(bodo, relabelled, header_to("3201"), signing_key=None)
    _keep_signature(bodo, relabelled)
    refused(relabelled, "tenant document for '1804'")
    refused(relabelled, "tenant document for '1804'", trust_unsigned=True)
    # header and tenant document both Bærum's: the signature is over Bodø's file
    everything = tmp_path / "everything.gz"
    baerum = everything_to("3201", *PILOTS["3201"][:2])
    _relabel(bodo, everything, baerum, signing_key=None)
    _keep_signature(bodo, everything)
    refused(everything, "signature is over another file")
    # ... signed anew by a key the operator does not hold
    _relabel(bodo, everything, baerum, signing_key=Ed25519PrivateKey.generate())
    refused(everything, "does not trust")
    # ... unsigned, on the operator's word: Bodø's audit log is sealed for Bodø, so its rows
    # say whose they are
    _relabel(bodo, everything, baerum, signing_key=None)
    refused(everything, "does not verify as municipality 3201's", trust_unsigned=True)
    # 2. the header Bodø's, the tenant document Bærum's: nothing moves, and Bærum keeps its
    # registration and grants
    mixed = tmp_path / "mixed.gz"
    _relabel(
        bodo,
        mixed,
        lambda header: header["tenant"]["document"].update(kommunenummer="3201"),
        signing_key=EXPORT_KEY,
    )
    refused(mixed, "tenant document for '3201'")
    # 3. the target named: the file must be for it
    refused(bodo, "not 3201's", into="3201")
    # the file as it was exported replaces Bodø (asked to), and Bodø's own seals verify
    load(platform, bodo, replace=True, into="1804")
    assert _state(platform, "3201") == before["3201"]
    assert _state(platform, "1804")[1]["news2_measurement"] == before["1804"][1][NEWS2_TABLE]
    assert _check(platform.runtime.stores, load_seal_key(platform.runtime.settings)) == []


def test_import_refuses_an_unsigned_or_foreign_signed_file_unless_trusted(
    two_municipalities: TestPlatform, tmp_path: Path
) -> None:
    platform = two_municipalities
    unsigned, foreign = tmp_path / "unsigned.gz", tmp_path / "foreign.gz"
    export_to(platform, "1804", unsigned, signing_key=None)
    other = Ed25519PrivateKey.generate()
    export_to(platform, "1804", foreign, signing_key=other)
    before = _state(platform, "1804")
    with pytest.raises(ExportError, match="not signed"):
        load(platform, unsigned, replace=True)
    with pytest.raises(ExportError, match="does not trust"):
        load(platform, foreign, replace=True)
    assert _state(platform, "1804") == before
    # the other operator's public key given, or the operator vouching for the file
    load(platform, foreign, replace=True, trusted={**TRUSTED, **trusted_export_keys(other, [])})
    load(platform, unsigned, replace=True, trust_unsigned=True)
    assert _state(platform, "1804") == before
    # a signature that does not verify: one byte of it changed
    broken = tmp_path / "broken.gz"
    lines = gzip.decompress(foreign.read_bytes()).splitlines(keepends=True)
    trailer = json.loads(lines[-1])
    head, _, signature = trailer["signature"].rpartition(".")
    trailer["signature"] = f"{head}.{'B' if signature[0] != 'B' else 'C'}{signature[1:]}"
    broken.write_bytes(gzip.compress(b"".join(lines[:-1]) + json.dumps(trailer).encode() + b"\n"))
    with pytest.raises(ExportError, match="does not verify"):
        load(platform, broken, replace=True, trusted=trusted_export_keys(other, []))


def test_a_refused_import_of_a_new_municipality_leaves_nothing_behind(
    two_municipalities: TestPlatform, tmp_path: Path
) -> None:
    platform = two_municipalities
    bodo = tmp_path / "1804.jsonl.gz"
    export_to(platform, "1804", bodo)
    stores = platform.runtime.stores
    tromso = ("5501", "Tromsø kommune", "940101808")
    attempts = {
        # the header a new municipality's, the tenant document Bodø's
        "header": lambda header: header.update(kommunenummer="5501"),
        # both a new municipality's: Bodø's sealed audit log gives it away
        "everything": lambda header: (
            header.update(kommunenummer=tromso[0]),
            header["tenant"].update(name=tromso[1], organisasjonsnummer=tromso[2]),
            header["tenant"]["document"].update(
                kommunenummer=tromso[0], name=tromso[1], organisasjonsnummer=tromso[2]
            ),
        ),
    }
    for name, change in attempts.items():
        path = tmp_path / f"{name}.gz"
        _relabel(bodo, path, change, signing_key=None)
        with pytest.raises(ExportError):
            load(platform, path, trust_unsigned=True)
        assert platform.runtime.tenants.get("5501") is None, name
        assert not stores.tenant_store_exists("5501"), name
        if not stores.postgres:
            assert not stores.sqlite_path("5501").exists(), name


def test_audit_verify_notices_seals_removed_with_their_events(
    sealed_platform: TestPlatform,
) -> None:
    """Before: deleting every seal together with the sealed events verified as intact."""
    platform = sealed_platform
    who = people(3, seed="vanished")
    fill(platform, "1804", who)
    stores = platform.runtime.stores
    key = load_seal_key(platform.runtime.settings)
    assert seal_all(stores, ["1804"], key=key, now=LATER)["1804"] > 0
    lookups(platform, "1804", who)
    platform.set_now(NOW + timedelta(minutes=10))
    assert seal_all(stores, ["1804"], key=key, now=LATER + timedelta(minutes=10))["1804"] > 0
    # the untouched log verifies, and the platform's record names its newest seal
    assert _check(stores, key) == []
    assert read_anchor(stores, "1804")["seq"] == 2  # type: ignore[index]
    with stores.tenant_engine("1804").connect() as connection:
        second = connection.execute(select(AUDIT_SEAL).where(AUDIT_SEAL.c.seq == 2)).one()
    # the newest seal cut away with its events: the rest is a valid, shorter chain
    with stores.tenant_transaction("1804") as connection:
        connection.execute(delete(AUDIT_SEAL).where(AUDIT_SEAL.c.seq == 2))
        connection.execute(
            delete(AUDIT_EVENT).where(
                (AUDIT_EVENT.c.occurred_at > second.after_occurred_at)
                | (
                    (AUDIT_EVENT.c.occurred_at == second.after_occurred_at)
                    & (AUDIT_EVENT.c.id > second.after_id)
                )
            )
        )
    [cut] = _check(stores, key)
    assert "seal 2" in cut
    assert "missing" in cut
    # every seal and every event gone
    with stores.tenant_transaction("1804") as connection:
        connection.execute(delete(AUDIT_SEAL))
        connection.execute(delete(AUDIT_EVENT))
    [gone] = _check(stores, key)
    assert "seal 2" in gone
    assert "none are left" in gone

    # retention's purge removes a newest seal whose every event is past the cutoff: the record
    # of it is then no evidence of removal, up to the cutoff and not a moment before
    anchor = read_anchor(stores, "1804")
    assert anchor is not None

    def problems_at(now: datetime) -> list[str]:
        with stores.tenant_engine("1804").connect() as connection:
            return verify(
                connection,
                kommunenummer="1804",
                trusted=trusted_keys(key, []),
                now=now,
                retention_years=5,
                anchor=anchor,
            ).problems

    last = anchor["last_occurred_at"]
    at_cutoff = last.replace(year=last.year + 5)  # the cutoff is then the seal's last event
    assert len(problems_at(at_cutoff)) == 1
    assert problems_at(at_cutoff + timedelta(microseconds=1)) == []
