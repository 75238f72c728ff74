"""The bench's own arithmetic (issue 24): the comparison's order and ratios, the CPU accounting
across processes, and the targets' pass/fail edges. Figures themselves are never tested."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the bench is a top-level package beside src/, not installed
    sys.path.insert(0, str(ROOT))

from bench import compare, cpu, report  # noqa: E402


def test_compare_alternates_the_order_each_round_and_runs_at_least_two_rounds() -> None:
    assert compare.schedule(1) == [(0, "A"), (0, "B"), (1, "B"), (1, "A")]
    assert compare.schedule(3) == [
        (0, "A"),
        (0, "B"),
        (1, "B"),
        (1, "A"),
        (2, "A"),
        (2, "B"),
    ]


def test_ratio_is_of_the_means_with_the_rounds_own_lowest_and_highest() -> None:
    assert compare._ratio_cell([100.0, 200.0], [110.0, 180.0]) == "0.97 (0.90–1.10)"
    assert compare._ratio_cell([100.0], [150.0]) == "1.50"
    assert compare._ratio_cell([], [1.0]) == "–"


def _results() -> dict[str, Any]:
    cpu_ms = {"app": 1.0, "postgres": 0.5, "redis": 0.25, "load": 0.1, "other": 0.0}
    return {
        "machine": {"date": "x"},
        "scale": {"seconds": 1.0},
        "load_pg": {"records_per_s": 5},
        "platform": {"news2/1/c32": {"rps": 1000.0, "p99_ms": 9.0, "cpu_ms": cpu_ms}},
        "ingest": {"news2/1000": {"records_per_s": 20000, "batch_p99_ms": 50.0}},
        "idle_2": {"tenants": 4, "cpu_ms_per_s": {"app": 2.0, "postgres": 1.0, "redis": 0.5}},
        "live": {
            "cpu_ms_per_polling_lookup": 3.0,
            "runs": [
                {
                    "label": "20 real changes/s",
                    "achieved_rate": 19.5,
                    "latency_ms_p99": 80.0,
                    "cpu_ms_per_event": 1.0,
                }
            ],
        },
    }


def test_points_are_every_measured_figure_of_a_run_and_not_its_loading() -> None:
    found = compare.points(_results())
    assert found["platform/news2/1/c32"] == {
        "rate": 1000.0,
        "p99_ms": 9.0,
        "app_ms": 1.0,
        "stack_ms": 1.75,
    }
    assert found["ingest/news2/1000"] == {"rate": 20000.0, "p99_ms": 50.0}
    assert found["idle_2"] == {"app_ms": 2.0, "stack_ms": 3.5}
    assert found["live/20 real changes/s"] == {"rate": 19.5, "p99_ms": 80.0, "stack_ms": 1.0}
    assert found["live/polling lookup"] == {"stack_ms": 3.0}
    assert not any(name.startswith(("load_", "machine", "scale")) for name in found)


def test_stack_cpu_counts_a_process_that_started_between_readings_and_the_rest_as_other() -> None:
    tick = 1000 / cpu.TICK
    before = cpu.Ticks({"app": {1: 10}, "postgres": {2: 5}, "redis": {3: 0}}, machine=100, at=0)
    after = cpu.Ticks(
        {"app": {1: 30}, "postgres": {2: 5, 4: 7}, "redis": {3: 1}}, machine=150, at=1
    )
    spent = cpu.spent_ms(before, after)
    assert spent == {
        "app": 20 * tick,
        "postgres": 7 * tick,
        "redis": 1 * tick,
        "other": (50 - 28) * tick,
    }
    assert cpu.per_unit(spent, 2)["total"] == pytest.approx(14 * tick, abs=0.001)
    assert cpu.per_unit(spent, 0) == {}


def _met(results: dict[str, Any], starts: str) -> bool | None:
    rows = [ok for target, _, ok in report.target_rows(results) if target.startswith(starts)]
    assert len(rows) == 1, report.target_rows(results)
    return rows[0]


@pytest.mark.parametrize(("total", "met"), [(2.0, True), (2.01, False)])
def test_single_record_pushes_meet_their_target_at_2_ms_of_cpu_across_every_process(
    total: float, met: bool
) -> None:
    push = {
        "rps": 400.0,
        "p99_ms": 9.0,
        "cpu_ms": {"app": 1.0, "postgres": 0.5, "redis": 0.1, "other": 0.0, "total": total},
    }
    assert _met({"push": push}, "single-record NEWS2 pushes") is met


@pytest.mark.parametrize(("fhir", "met"), [(750.0, True), (749.0, False)])
def test_the_fhir_face_meets_its_target_at_75_percent_of_the_native_lookup(
    fhir: float, met: bool
) -> None:
    results = {
        "platform": {"news2/1/c32": {"rps": 1000.0, "p50_ms": 1, "p99_ms": 2}},
        "fhir": {"news2/1/c32": {"rps": fhir}},
    }
    assert _met(results, "FHIR NEWS2 _search") is met


@pytest.mark.parametrize(("rps", "met"), [(800.0, True), (799.0, False)])
def test_sqlite_meets_its_target_at_800_lookups_a_second_in_both_services(
    rps: float, met: bool
) -> None:
    results = {
        "sqlite": {"news2/1/c32": {"rps": 900.0}, "kommunale-tjenester/1/c32": {"rps": rps}},
        "dataset_sqlite": {"people_per_tenant": 10},
    }
    assert _met(results, "embedded SQLite") is met


@pytest.mark.parametrize(("pss", "met"), [(200.0, True), (201.0, False)])
def test_postgres_backend_memory_of_357_tenants_meets_its_target_at_twice_that_of_2(
    pss: float, met: bool
) -> None:
    results = {
        "dataset_many": {"tenants": 357},
        "pg_backends_2": {"pss": 100.0, "private": 50.0, "rss": 300.0, "count": 20},
        "pg_backends_many": {"pss": pss, "private": 60.0, "rss": 320.0, "count": 20},
    }
    assert _met(results, "PostgreSQL backend memory") is met


@pytest.mark.parametrize(("event_ms", "met"), [(1.0, True), (1.01, False)])
def test_a_live_event_meets_its_target_at_a_third_of_a_polling_lookup(
    event_ms: float, met: bool
) -> None:
    fed = {
        "label": "20 real changes/s put on the feed",
        "batch": 1,
        "fed": True,
        "cpu_ms_per_event": event_ms,
        "event_to_lookup": event_ms / 3.0,
        "delivered": 10,
        "ingested": 10,
    }
    live = {
        "cpu_ms_per_polling_lookup": 3.0,
        "patients_each": 50,
        "kib_per_subscription": 60,
        "kib_per_further_subscription": 64,
        "runs": [fed],
    }
    assert _met({"live": live}, "a live event") is met
    assert _met({"live": live}, "an open live stream") is True
    assert _met({"live": {**live, "kib_per_further_subscription": 64.1}}, "an open live") is False


def test_every_target_row_is_printed_last_with_its_measured_value() -> None:
    results = {
        "machine": {"date": "d", "commit": "c", "machine": "m", "python": "3", "postgresql": "p"},
        "scale": {"name": "quick", "seconds": 1.0},
        "push": {
            "rps": 400.0,
            "p50_ms": 5.0,
            "p99_ms": 9.0,
            "connections": 8,
            "errors": 0,
            "cpu_ms": {"app": 1.0, "postgres": 0.5, "redis": 0.1, "other": 0.0, "total": 1.6},
        },
    }
    text = report.render(results).rstrip("\n").splitlines()
    assert text[-1].startswith("| single-record NEWS2 pushes, c=8: ≤ 2 ms CPU a push")
    assert "1.60 ms a push" in text[-1]
    assert text[-1].endswith("| yes |")
