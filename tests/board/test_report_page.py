"""The usage report's HTML page in a real browser, opened from a file with no network: every chart
renders, and every bar carries the figure the JSON report has for it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver

from support import people, tenant_document
from support.browser import chromium
from support.platform import Backend, TestPlatform, start_platform

KT = "kommunale-tjenester"
NOW = datetime(2026, 11, 20, 18, 45, tzinfo=UTC)
"""19:45 in Bodø."""
WHO = people(6, seed="report-page")
CHARTS = ("lookups-per-day", "hit-rate", "data-age", "pushes", "hour-profile")


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[TestPlatform]:
    for platform in start_platform(Backend("sqlite", None, None), tmp_path):
        platform.onboard(tenant_document("1804"))
        platform.set_now(NOW)
        headers = platform.headers("bodo-epj")
        records = [
            {
                "id": f"r{i}",
                "patient": p,
                "updated": (NOW - timedelta(hours=i + 1)).isoformat(),
                "service_code": "6",
                "start": "2026-01-05",
            }
            for i, p in enumerate(WHO)
        ]
        pushed = platform.client.post(
            f"/v1/tenants/1804/{KT}/records", json={"records": records}, headers=headers
        )
        assert pushed.status_code == 200, pushed.text
        refused = platform.client.post(
            f"/v1/tenants/1804/{KT}/records",
            json={"records": [{**records[0], "service_code": "x"}]},
            headers=headers,
        )
        assert refused.status_code == 422
        legevakt = platform.headers("bodo-legevakt")
        for path, patients in ((f"/v1/{KT}/query", WHO), ("/v1/news2/query", WHO[:2])):
            asked = platform.client.post(path, json={"patients": patients}, headers=legevakt)
            assert asked.status_code == 200, asked.text
        yield platform


def bars(browser: webdriver.Chrome) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = browser.execute_script(
        """return [...document.querySelectorAll('rect.bar')].map(r => ({
            chart: r.dataset.chart, series: r.dataset.series, category: r.dataset.category,
            value: r.dataset.value, height: r.getBoundingClientRect().height}))"""
    )
    return found


def test_the_page_draws_every_chart_with_the_figures_of_the_json(
    platform: TestPlatform, tmp_path: Path
) -> None:
    query = {"from": "2026-11-14", "to": "2026-11-20"}
    drift = platform.headers("bodo-drift")
    url = "/v1/tenants/1804/report"
    report = platform.client.get(url, params=query, headers=drift).json()
    page = platform.client.get(url, params={**query, "format": "html"}, headers=drift)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    file = tmp_path / "report.html"
    file.write_text(page.text, encoding="utf-8")

    with chromium(tmp_path / "chromium") as browser:
        browser.get(file.as_uri())
        sizes = browser.execute_script(
            "return [...document.querySelectorAll('svg.chart')].map(s => "
            "[s.id, s.getBoundingClientRect().width, s.getBoundingClientRect().height])"
        )
        drawn = bars(browser)

    assert [s[0] for s in sizes] == list(CHARTS)
    assert all(width > 300 and height > 50 for _, width, height in sizes)
    shown = {(b["chart"], b["series"], b["category"]): b for b in drawn}
    assert len(shown) == len(drawn)

    services = [e["service"] for e in report["lookups"]]
    expected: dict[tuple[str, str, str], Any] = {}
    for e in report["lookups_per_day"]:
        expected[("lookups-per-day", e["service"], e["date"])] = e["lookups"]
    for e in report["lookups"]:
        expected[("hit-rate", "hit_rate", e["service"])] = e["hit_rate"]
        expected[("data-age", "median", e["service"])] = e["data_age_median_seconds"]
        expected[("data-age", "p90", e["service"])] = e["data_age_p90_seconds"]
    for e in report["pushes"]:
        category = f"{e['service']} · {e['source']}"
        for outcome in ("created", "updated", "unchanged", "stale", "withdrawn"):
            expected[("pushes", outcome, category)] = e[outcome]
        for problem, n in e["refused"].items():
            expected[("pushes", f"refused:{problem}", category)] = n
    for e in report["hour_profile"]:
        expected[("hour-profile", e["service"], f"{e['hour']:02d}")] = e["lookups"]
    assert set(shown) == set(expected)
    for key, value in expected.items():
        assert shown[key]["value"] == ("" if value is None else str(value)), key

    # the figures this traffic made, as drawn: 6 hits of 6, 2 news2 lookups suppressed, the
    # refused batch of one record suppressed, and bars as tall as their figures say
    assert shown[("hit-rate", "hit_rate", KT)]["value"] == "1.0"
    assert shown[("hour-profile", KT, "19")]["value"] == "6"
    assert shown[("hour-profile", "news2", "19")]["value"] == "<5"
    assert shown[("pushes", "created", f"{KT} · bodo-epj")]["value"] == "6"
    assert shown[("pushes", "refused:invalid-content", f"{KT} · bodo-epj")]["value"] == "<5"
    assert shown[("lookups-per-day", KT, "2026-11-20")]["height"] > 0
    assert shown[("lookups-per-day", KT, "2026-11-19")]["height"] == 0
    assert shown[("data-age", "p90", KT)]["height"] > shown[("data-age", "median", KT)]["height"]
    median = by_service(report, KT)["data_age_median_seconds"]
    assert median == 3 * 3600  # ages 1–6 h: the 3rd of 6 by nearest rank
    assert services == sorted(services)


def by_service(report: dict[str, Any], service: str) -> dict[str, Any]:
    [found] = [e for e in report["lookups"] if e["service"] == service]
    entry: dict[str, Any] = found
    return entry
