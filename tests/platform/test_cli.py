"""The ``journalloft`` command as an operator uses it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from journalloft.cli import main
from journalloft.platform.core.settings import get_settings
from support import free_port, tenant_document
from support.platform import REPO, Backend


@pytest.fixture
def env(backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings for the command, as an operator's environment would give them."""
    monkeypatch.setenv("JOURNALLOFT_ENVIRONMENT", "test")
    monkeypatch.setenv("JOURNALLOFT_HOME", str(REPO))
    monkeypatch.setenv("JOURNALLOFT_DATA_DIR", str(tmp_path / "var"))
    if backend.database_url:
        monkeypatch.setenv("JOURNALLOFT_DATABASE_URL", backend.database_url)
    if backend.redis_url:
        monkeypatch.setenv("JOURNALLOFT_REDIS_URL", backend.redis_url)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def write_tenant(tmp: Path, document: dict[str, object]) -> Path:
    path = tmp / f"{document['kommunenummer']}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def test_onboard_the_pilots_twice_list_and_offboard(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pilots = [str(REPO / "tenants" / "bodo.yaml"), str(REPO / "tenants" / "baerum.yaml")]
    assert main(["tenants", "onboard", *pilots]) == 0
    first = capsys.readouterr().out
    assert "onboarded 1804 Bodø kommune" in first
    assert "store migrated" in first
    assert main(["tenants", "onboard", *pilots]) == 0
    again = capsys.readouterr().out
    assert "updated 1804 Bodø kommune" in again
    assert "store up to date" in again
    assert main(["tenants", "list"]) == 0
    listing = capsys.readouterr().out
    assert "1804  Bodø kommune" in listing
    assert "3201  Bærum kommune" in listing
    assert main(["migrate"]) == 0
    assert "[2/2]" in capsys.readouterr().out


def test_a_third_municipality_joins_and_leaves_without_code_changes(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tromso = write_tenant(
        env,
        tenant_document(
            "5501",
            name="Tromsø kommune",
            organisasjonsnummer="940101808",
            services={"news2": {"retention_days": 14}},
        ),
    )
    assert main(["tenants", "onboard", str(tromso)]) == 0
    assert "onboarded 5501 Tromsø kommune: services news2" in capsys.readouterr().out
    assert main(["tenants", "offboard", "5501"]) == 1
    assert "--yes" in capsys.readouterr().err
    assert main(["tenants", "offboard", "5501", "--yes"]) == 0
    assert "store is removed" in capsys.readouterr().out
    assert main(["tenants", "list"]) == 0
    assert "5501" not in capsys.readouterr().out
    assert main(["tenants", "offboard", "5501", "--yes"]) == 1
    assert "no municipality 5501" in capsys.readouterr().err


def test_a_bad_file_fails_with_one_line_naming_file_field_and_reason(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_tenant(env, tenant_document("1804", organisasjonsnummer="972418014"))
    assert main(["tenants", "onboard", str(bad)]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert str(bad) in error
    assert "/organisasjonsnummer" in error


def test_demo_seeds_synthetic_people_and_writes_usable_clients(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tenants", "onboard", str(REPO / "tenants" / "bodo.yaml")]) == 0
    assert main(["demo", "--people", "5"]) == 0
    output = capsys.readouterr().out
    assert "1804: 5 synthetic people" in output
    clients = json.loads((env / "var" / "demo-clients.json").read_text(encoding="utf-8"))
    roles = {c["client_id"]: c["role"] for c in clients}
    assert roles == {
        "journalloft-admin": "admin",
        "bodo-epj": "source",
        "bodo-legevakt": "consumer",
        "bodo-drift": "operator",
    }
    assert all("d" in c["private_jwk"] for c in clients)
    keys_before = {c["client_id"]: c["private_jwk"]["kid"] for c in clients}
    assert main(["demo", "--people", "5"]) == 0
    again = json.loads((env / "var" / "demo-clients.json").read_text(encoding="utf-8"))
    assert {c["client_id"]: c["private_jwk"]["kid"] for c in again} == keys_before
    people = json.loads((env / "var" / "demo-people.json").read_text(encoding="utf-8"))
    assert len(people["1804"]) == 5


def test_purge_reports_per_tenant_and_service(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tenants", "onboard", str(REPO / "tenants" / "bodo.yaml")]) == 0
    capsys.readouterr()
    assert main(["purge"]) == 0
    assert "1804 news2: 0 purged" in capsys.readouterr().out


def test_serve_names_the_port_it_serves(tmp_path: Path) -> None:
    """Before: ``journalloft serve --port 8600`` advertised its token endpoint on port 8000, so
    ``journalloft token`` failed with "connection refused"."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("JOURNALLOFT_") or k == "JOURNALLOFT_HOME"
    }
    env["JOURNALLOFT_DATA_DIR"] = str(tmp_path)
    server = subprocess.Popen(
        [sys.executable, "-m", "journalloft.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        metadata = None
        for _ in range(100):
            try:
                metadata = httpx.get(
                    f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server", timeout=1
                ).json()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert metadata is not None, "the server did not start"
        assert metadata["token_endpoint"] == f"http://127.0.0.1:{port}/oauth/token"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_onboarding_many_goes_on_past_a_failure_names_it_and_sums_up(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [
        write_tenant(env, tenant_document("1804")),
        write_tenant(env, tenant_document("5501", organisasjonsnummer="972418014")),
        write_tenant(env, tenant_document("3201")),
    ]
    assert main(["tenants", "onboard", *map(str, files)]) == 1
    captured = capsys.readouterr()
    assert f"[2/3] {files[1]}: FAILED" in captured.out
    assert "onboard: 2 of 3 done, 1 failed" in captured.out
    error = captured.err.strip()
    assert len(error.splitlines()) == 1
    assert str(files[1]) in error
    assert "/organisasjonsnummer" in error
    assert main(["tenants", "list"]) == 0
    listed = capsys.readouterr().out
    assert "1804" in listed
    assert "3201" in listed
    assert "5501" not in listed


def test_demo_and_purge_go_on_past_a_failing_municipality_and_name_it(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from journalloft.platform.core.errors import ServiceUnavailable
    from journalloft.platform.operations import demo, retention

    pilots = [str(REPO / "tenants" / f) for f in ("bodo.yaml", "baerum.yaml")]
    assert main(["tenants", "onboard", *pilots]) == 0
    capsys.readouterr()
    seed, purge = demo.seed_tenant, retention.purge_tenant

    def seed_but_not_1804(runtime: object, tenant: object, **kwargs: object) -> object:
        if getattr(tenant, "kommunenummer", None) == "1804":
            raise ServiceUnavailable("the store of 1804 is not reachable")
        return seed(runtime, tenant, **kwargs)  # type: ignore[arg-type]

    def purge_but_not_1804(runtime: object, tenant: object, **kwargs: object) -> object:
        if getattr(tenant, "kommunenummer", None) == "1804":
            raise ServiceUnavailable("the store of 1804 is not reachable")
        return purge(runtime, tenant, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(demo, "seed_tenant", seed_but_not_1804)
    monkeypatch.setattr(retention, "purge_tenant", purge_but_not_1804)
    assert main(["demo", "--people", "3"]) == 1
    captured = capsys.readouterr()
    assert "3201: 3 synthetic people" in captured.out
    assert "demo: 1 of 2 done, 1 failed" in captured.out
    assert "1804 Bodø kommune: the store of 1804 is not reachable" in captured.err
    people = json.loads((env / "var" / "demo-people.json").read_text(encoding="utf-8"))
    assert list(people) == ["3201"]
    assert main(["purge"]) == 1
    captured = capsys.readouterr()
    assert "3201 news2: 0 purged" in captured.out
    assert "purge: 1 of 2 done, 1 failed" in captured.out
    assert "1804 Bodø kommune" in captured.err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_a_bar_on_a_terminal_and_plain_lines_elsewhere() -> None:
    from journalloft.cli.common import CommandError
    from journalloft.cli.progress import Progress

    lines, bar = io.StringIO(), Terminal()
    progress = Progress("migrate", 3, out=lines, bar=bar)
    progress.succeeded("1804 Bodø", "up to date")
    progress.failed("3201 Bærum", "unreachable")
    progress.succeeded("5501 Tromsø", "migrated")
    with pytest.raises(CommandError, match="3201 Bærum: unreachable"):
        progress.finish()
    assert lines.getvalue().splitlines()[:3] == [
        "[1/3] 1804 Bodø: up to date",
        "[2/3] 3201 Bærum: FAILED unreachable",
        "[3/3] 5501 Tromsø: migrated",
    ]
    assert "migrate: 2 of 3 done, 1 failed" in lines.getvalue()
    assert "migrate [####################..........] 2/3" in bar.getvalue()
    plain_lines, plain_bar = io.StringIO(), io.StringIO()
    quiet = Progress("migrate", 1, out=plain_lines, bar=plain_bar)
    quiet.succeeded("1804", "up to date")
    quiet.finish()
    assert plain_bar.getvalue() == ""


def test_serve_refuses_several_workers_without_redis(tmp_path: Path) -> None:
    """Each worker would keep its own replay cache, rate counts, subscriptions and change feed:
    a DPoP proof replayable against the other worker, a board that finds no subscription when
    its stream reaches the other one. It stops before serving, and says what it needs."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("JOURNALLOFT_") or k == "JOURNALLOFT_HOME"
    }
    env["JOURNALLOFT_DATA_DIR"] = str(tmp_path)
    port = free_port()
    command = ("serve", "--port", str(port), "--workers", "2")
    ran = subprocess.run(
        [sys.executable, "-m", "journalloft.cli", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode != 0
    assert "--workers above 1 needs JOURNALLOFT_REDIS_URL" in ran.stderr
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
