"""The reference legevakt board in a real browser: journal systems push through the API, the page
shows what the board's server relays from its subscriptions."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from journalloft.app import board_parts
from journalloft.board.app import create_board_app, valid_fodselsnummer
from support import SERVICES, measurement, people, tenant_document
from support.browser import Served, chromium
from support.live import served_platform
from support.platform import REPO, Backend, TestPlatform

ANNE, BJORN, CECILIE, DAG, EVA = people(5, seed="board")
LEGEVAKT = "bodo-legevakt"


@dataclass
class Clinic:
    platform: TestPlatform
    board: Served
    browser: webdriver.Chrome
    client: dict[str, Any]


def board_client(platform: TestPlatform) -> dict[str, Any]:
    """The demo client's entry as ``journalloft demo`` writes it (its private key included)."""
    return {
        "client_id": LEGEVAKT,
        "private_jwk": platform.key(LEGEVAKT).as_dict(private=True),
        "scopes": ["news2:read", "kommunale-tjenester:read"],
    }


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    with served_platform(Backend("sqlite", None, None), tmp_path, heartbeat_seconds=1) as api:
        for kommunenummer in ("1804", "3201"):
            api.onboard(tenant_document(kommunenummer, services={s: {} for s in SERVICES}))
        client = board_client(api)
        with (
            Served(
                create_board_app(str(api.client.base_url), client, parts=board_parts())
            ) as board,
            chromium(tmp_path / "chromium") as browser,
        ):
            browser.get(board.url)
            wait_for(lambda: connection(browser) == "Tilkoblet")
            yield Clinic(api, board, browser, client)


def wait_for(condition: Any, timeout: float = 5.0) -> float:
    """Seconds until ``condition()`` is true; fails after ``timeout``."""
    start = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - start
        except Exception:  # the page is re-rendering: an element went stale; look again
            pass
        assert time.monotonic() - start < timeout, f"not within {timeout} s"
        time.sleep(0.05)


def connection(browser: webdriver.Chrome) -> str:
    return str(browser.find_element(By.ID, "connection").text)


def rows(browser: webdriver.Chrome) -> list[WebElement]:
    return list(browser.find_elements(By.CSS_SELECTOR, "#rows tr[data-key]"))


def row_of(browser: webdriver.Chrome, patient: str) -> WebElement | None:
    for row in rows(browser):
        if row.find_element(By.CSS_SELECTOR, "td.patient").text.endswith(patient[-4:]):
            return row
    return None


def score(browser: webdriver.Chrome, patient: str) -> tuple[str, str] | None:
    row = row_of(browser, patient)
    if row is None:
        return None
    found = row.find_elements(By.CSS_SELECTOR, "span.score")
    if not found:
        return None
    return str(found[0].text), str(found[0].get_attribute("data-risk"))


def add(browser: webdriver.Chrome, patient: str) -> None:
    field = browser.find_element(By.ID, "fnr")
    field.clear()
    field.send_keys(patient)
    browser.find_element(By.CSS_SELECTOR, "#add button[type=submit]").click()


def vitals(record_id: str, patient: str, *, ago_minutes: int = 3, **fields: Any) -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(minutes=ago_minutes)).isoformat()
    return measurement(record_id, patient, at=at, **fields)


def source_scored(record_id: str, patient: str, *, ago_minutes: int) -> dict[str, Any]:
    """A NEWS2 score the journal system computed and sent without the vital signs."""
    at = (datetime.now(UTC) - timedelta(minutes=ago_minutes)).isoformat()
    parameters = ("respiration_rate", "spo2", "air_or_oxygen", "systolic_bp", "pulse")
    scores = {name: 0 for name in (*parameters, "consciousness", "temperature")}
    return {
        "id": record_id,
        "patient": patient,
        "updated": at,
        "effective": at,
        "spo2_scale": 1,
        "source_scores": scores,
        "total_score": 0,
    }


def push(platform: TestPlatform, service: str, *records: dict[str, Any]) -> None:
    response = platform.client.post(
        f"/v1/tenants/1804/{service}/records",
        json={"records": list(records)},
        headers=platform.headers("bodo-epj"),
    )
    assert response.status_code == 200, response.text


def test_a_pushed_score_appears_on_the_page(clinic: Clinic) -> None:
    """The score is relayed to the page (polled for, bounded); how fast is for make bench."""
    browser, platform = clinic.browser, clinic.platform
    add(browser, ANNE)
    wait_for(lambda: row_of(browser, ANNE) is not None)
    row = row_of(browser, ANNE)
    assert row is not None
    masked = row.find_element(By.CSS_SELECTOR, "td.patient").text
    assert masked.endswith(ANNE[-4:])
    assert ANNE[:7] not in browser.page_source  # the person id never reaches the page whole
    push(platform, "news2", vitals("m-1", ANNE, pulse=135, respiration_rate=26, temperature=38.5))
    wait_for(lambda: score(browser, ANNE) == ("7", "high"), timeout=10.0)
    push(platform, "news2", vitals("m-2", ANNE, ago_minutes=1, pulse=95))
    wait_for(lambda: score(browser, ANNE) == ("1", "low"), timeout=10.0)
    row = row_of(browser, ANNE)
    assert row is not None
    assert row.find_element(By.CSS_SELECTOR, "td.trend").text == "↓ fallende"
    assert row.find_element(By.CSS_SELECTOR, "td.age").text == "1 min siden"


def test_a_fodselsnummer_is_checked_before_it_is_sent(clinic: Clinic) -> None:
    browser = clinic.browser
    wrong_check_digit = ANNE[:10] + str((int(ANNE[10]) + 1) % 10)
    assert not valid_fodselsnummer(wrong_check_digit)
    for bad in ("1234", wrong_check_digit, "abcdefghijk"):
        add(browser, bad)
        wait_for(lambda: "Ugyldig" in browser.find_element(By.ID, "add-error").text)
    assert rows(browser) == []
    response = clinic.platform.client.get(
        "/v1/news2/subscriptions", headers=clinic.platform.headers(LEGEVAKT)
    )
    assert response.json() == {"subscriptions": []}  # nothing reached the API


def test_one_click_removes_a_patient_and_the_subscription_follows(clinic: Clinic) -> None:
    browser, platform = clinic.browser, clinic.platform
    add(browser, ANNE)
    wait_for(lambda: row_of(browser, ANNE) is not None)
    add(browser, BJORN)
    wait_for(lambda: len(rows(browser)) == 2)
    row = row_of(browser, ANNE)
    assert row is not None
    row.find_element(By.CSS_SELECTOR, "button.remove").click()
    wait_for(lambda: len(rows(browser)) == 1 and row_of(browser, BJORN) is not None)
    [subscription] = platform.client.get(
        "/v1/news2/subscriptions", headers=platform.headers(LEGEVAKT)
    ).json()["subscriptions"]
    assert subscription["patients"] == [BJORN]


def test_the_page_shows_a_lost_connection_and_catches_up_after_it(clinic: Clinic) -> None:
    browser, platform = clinic.browser, clinic.platform
    add(browser, ANNE)
    wait_for(lambda: row_of(browser, ANNE) is not None)
    clinic.board.__exit__(None, None, None)  # the board's server goes away
    wait_for(lambda: connection(browser).startswith("Frakoblet"))
    push(platform, "news2", vitals("m-1", ANNE, spo2=90))  # missed while away
    port = clinic.board.port
    board = create_board_app(str(platform.client.base_url), clinic.client, parts=board_parts())
    with Served(board, port=port):
        wait_for(lambda: connection(browser) == "Tilkoblet", timeout=10)
        wait_for(lambda: score(browser, ANNE) == ("3", "low-medium"), timeout=5)


def test_the_board_as_a_legevakt_sees_it(clinic: Clinic, tmp_path: Path) -> None:
    """Every risk band, an incomplete set, a trend and the municipal services; saved under the
    test's tmp dir, or as docs/board.png for the README when JOURNALLOFT_REFRESH_BOARD_PNG=1."""
    browser, platform = clinic.browser, clinic.platform
    push(
        platform,
        "news2",
        vitals("a-1", ANNE, ago_minutes=240, pulse=95),
        vitals("a-2", ANNE, ago_minutes=12, pulse=135, respiration_rate=26, temperature=38.5),
        vitals("b-1", BJORN, ago_minutes=35, spo2=90),
        vitals("c-1", CECILIE, ago_minutes=90, pulse=115, respiration_rate=22, temperature=38.4),
        vitals("d-1", DAG, ago_minutes=5, systolic_bp=None, consciousness=None),
        vitals("e-1", EVA, ago_minutes=300, pulse=75),
        source_scored("e-2", EVA, ago_minutes=20),
    )
    push(
        platform,
        "kommunale-tjenester",
        {
            "id": "k-1",
            "patient": ANNE,
            "updated": datetime.now(UTC).isoformat(),
            "service_code": "15",
            "start": "2025-01-05",
            "unit": {"name": "Hjemmesykepleien sone nord", "phone": "75 55 50 00"},
        },
        {
            "id": "k-2",
            "patient": CECILIE,
            "updated": datetime.now(UTC).isoformat(),
            "service_code": "15",
            "start": "2025-03-01",
            "temporary_cessation": True,
            "unit": {"name": "Hjemmesykepleien sentrum", "phone": "75 55 60 00"},
        },
    )
    for patient in (ANNE, BJORN, CECILIE, DAG, EVA):
        add(browser, patient)
        wait_for(lambda p=patient: row_of(browser, p) is not None)
    wait_for(lambda: score(browser, ANNE) == ("7", "high"))
    assert score(browser, BJORN) == ("3", "low-medium")
    assert score(browser, CECILIE) == ("5", "medium")  # 2 + 2 + 1
    assert score(browser, EVA) == ("0", "low")
    assert score(browser, DAG) == ("≥0", "unknown")
    dag = row_of(browser, DAG)
    assert dag is not None
    assert "ufullstendig" in dag.find_element(By.CSS_SELECTOR, "td.marks").text
    eva = row_of(browser, EVA)
    assert eva is not None
    assert "skåret av kilden" in eva.find_element(By.CSS_SELECTOR, "td.marks").text
    anne = row_of(browser, ANNE)
    assert anne is not None
    assert anne.find_element(By.CSS_SELECTOR, "td.trend").text == "↑ stigende"
    services = anne.find_element(By.CSS_SELECTOR, "ul.services").text
    assert "(aktiv)" in services
    assert "Hjemmesykepleien sone nord, tlf. 75 55 50 00" in services
    cecilie = row_of(browser, CECILIE)
    assert cecilie is not None
    assert "(pause)" in cecilie.find_element(By.CSS_SELECTOR, "ul.services").text
    refresh = os.environ.get("JOURNALLOFT_REFRESH_BOARD_PNG") == "1"
    picture = REPO / "docs" / "board.png" if refresh else tmp_path / "board.png"
    assert browser.save_screenshot(str(picture))
    assert picture.stat().st_size > 0


def test_every_service_the_municipality_shares_is_on_the_board(tmp_path: Path) -> None:
    """Each service's own board part makes its columns: Diagnoser's active diagnoses appear, and
    the test plugin's column (tests/plugin_cave/board.py) with no change outside its package."""
    plugins = ["plugin_cave:spec"]
    with served_platform(
        Backend("sqlite", None, None), tmp_path, heartbeat_seconds=1, service_plugins=plugins
    ) as api:
        services: dict[str, Any] = {s: {} for s in (*SERVICES, "cave")}
        api.onboard(tenant_document("1804", services=services))
        client = {
            "client_id": LEGEVAKT,
            "private_jwk": api.key(LEGEVAKT).as_dict(private=True),
            "scopes": [f"{s}:read" for s in services],
        }
        now = datetime.now(UTC).isoformat()
        push(api, "news2", vitals("m-1", ANNE, pulse=135))
        diagnosis = {
            "patient": ANNE,
            "updated": now,
            "verification_status": "confirmed",
            "recorded_by": {"unit": "Hjemmetjenesten"},
        }
        push(
            api,
            "diagnoser",
            {
                **diagnosis,
                "id": "d-1",
                "code": {"system": "icpc-2", "code": "P70", "display": "Demens"},
                "clinical_status": "active",
            },
            {
                **diagnosis,
                "id": "d-2",
                "code": {"system": "icpc-2", "code": "R81", "display": "Lungebetennelse"},
                "clinical_status": "resolved",
            },
        )
        push(
            api,
            "cave",
            {"id": "c-1", "patient": ANNE, "updated": now, "kind": "allergi", "text": "Penicillin"},
        )
        parts = board_parts(api.runtime.settings)
        with Served(create_board_app(str(api.client.base_url), client, parts=parts)) as board:
            origin = {"Origin": board.url}
            added = httpx.post(f"{board.url}/patients", json={"patient": ANNE}, headers=origin)
            assert added.status_code == 201, added.text

            def cells() -> dict[str, Any]:
                view = httpx.get(f"{board.url}/board").json()
                found: dict[str, Any] = view["patients"][0]["cells"]
                return found

            wait_for(lambda: {"news2", "diagnoses", "cave"} <= set(cells()))
            view = httpx.get(f"{board.url}/board").json()
            assert [c["key"] for c in view["columns"]] == [
                "news2",
                "trend",
                "age",
                "services",
                "diagnoses",
                "assessments",
                "cave",
                "next_measure",
            ]
            shown = cells()
            assert [i["text"] for i in shown["diagnoses"]["items"]] == ["Demens (P70)"]
            assert [i["text"] for i in shown["cave"]["items"]] == ["allergi: Penicillin"]
            assert "services" not in shown  # nothing shared: the page shows "–"
