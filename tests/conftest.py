"""The fixtures of every test: a backend (SQLite, and PostgreSQL + Redis when configured), and the
platform on it. The helpers they use are in ``support.platform``; tests import helpers from
``support``, never from this file (pytest loads it itself)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import SERVICES, tenant_document
from support.fhir import fhir_checked
from support.platform import BACKENDS, Backend, TestPlatform, provide_backend, start_platform


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """SQLite files and in-process state; or a fresh PostgreSQL database and Redis."""
    yield from provide_backend(request.param)


@pytest.fixture(scope="module", params=BACKENDS)
def module_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """As :func:`backend`, shared by the tests of one module (one database, not one per test)."""
    yield from provide_backend(request.param)


@pytest.fixture
def empty_platform(backend: Backend, tmp_path: Path) -> Iterator[TestPlatform]:
    """The platform with no tenant onboarded."""
    yield from start_platform(backend, tmp_path)


@pytest.fixture
def platform(empty_platform: TestPlatform) -> TestPlatform:
    """The platform with the two pilot tenants, 1804 (Bodø) and 3201 (Bærum), each with both
    services and the clients ``<bodo|baerum>-epj`` (source), ``-legevakt`` (consumer) and
    ``-drift`` (operator)."""
    for kommunenummer in ("1804", "3201"):
        empty_platform.onboard(tenant_document(kommunenummer, services={s: {} for s in SERVICES}))
    return empty_platform


@pytest.fixture
def fhir_answers_checked(platform: TestPlatform) -> Iterator[TestPlatform]:
    """``platform``, its client checking every ``application/fhir+json`` answer with FHIR JSON's
    rules, HL7's R4 JSON schema and fhir.resources (``support.fhir.check_fhir``): a FHIR test
    module uses it for all its tests (``pytestmark``)."""
    with fhir_checked(platform.client):
        yield platform


SERVICE_MARKERS = ("postgres", "redis")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Note each test of PostgreSQL or Redis that passed, in the file that
    ``JOURNALLOFT_TEST_SERVICES_PASSED`` names (by the main process only, under xdist too):
    ``.ci/run`` holds their number to the number collected, so that CI fails if they did not
    run (deselected, lost their marker, or skipped without the env var that fails a skip)."""
    path = os.environ.get("JOURNALLOFT_TEST_SERVICES_PASSED")
    if not path or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if (
        report.when == "call"
        and report.passed
        and any(marker in report.keywords for marker in SERVICE_MARKERS)
    ):
        with open(path, "a", encoding="utf-8") as passed:
            passed.write(report.nodeid + "\n")
