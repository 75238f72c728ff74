"""The results table: printed at the end of a run and appended to ``bench/RESULTS.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SHORT = {"news2": "news2", "kommunale-tjenester": "kommunale-tjenester"}


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    return f"{round(value):,}"


def _ratio(a: Any, b: Any) -> str:
    if not a or not b:
        return "–"
    return f"{a / b:.0%}"


def _times(a: Any, b: Any) -> str:
    if not a or not b:
        return "–"
    return f"{a / b:.2f}×"


def _errors(point: dict[str, Any] | None) -> str:
    return f" ⚠{point['errors']} errors" if point and point.get("errors") else ""


def _cpu(point: dict[str, Any] | None) -> str:
    cpu = (point or {}).get("cpu_ms")
    if not cpu:
        return "–"
    return f"{cpu['app']:.2f} + {cpu['postgres']:.2f} + {cpu['redis']:.2f} ({cpu['other']:.2f})"


def capacity(point: dict[str, Any] | None, cores: int = 2) -> float | None:
    """Requests/s the stack's own CPU per request allows on ``cores`` cores (app + PostgreSQL +
    Redis, not the load generator nor other work on the machine): a figure that other sessions
    sharing the machine do not move, unlike the measured rate."""
    cpu = (point or {}).get("cpu_ms")
    if not cpu:
        return None
    spent = cpu["app"] + cpu["postgres"] + cpu["redis"]
    return cores * 1000 / spent if spent > 0 else None


def query_table(results: dict[str, Any]) -> list[str]:
    platform = results.get("platform", {})
    bare = results.get("bare", {})
    pgbench = results.get("pgbench", {})
    lines = [
        "| service | patients | conc. | platform req/s | p50 ms | p99 ms | patient results/s "
        "| (b) bare req/s | platform/(b) | (a) pgbench tx/s | platform/(a) "
        "| CPU ms/req app + pg + redis (other) | (b) CPU ms/req "
        "| CPU capacity req/s: platform / (b) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: |",
    ]
    for key, point in platform.items():
        service, size, conc = key.split("/")
        b = bare.get(key, {})
        a = pgbench.get(key) or pgbench.get(f"{service}/{size}/c32" if conc != "c1" else key)
        a_text = _num(a["rps"]) + ("" if f"{key}" in pgbench else " (c32)") if a else "–"
        lines.append(
            f"| {SHORT[service]} | {size} | {conc[1:]} | {_num(point['rps'])}{_errors(point)} "
            f"| {point['p50_ms']:.2f} | {point['p99_ms']:.2f} "
            f"| {_num(point['rps'] * int(size))} | {_num(b.get('rps'))}{_errors(b)} "
            f"| {_ratio(point['rps'], b.get('rps'))} | {a_text} "
            f"| {_ratio(point['rps'], a['rps'] if a else None)} | {_cpu(point)} | {_cpu(b)} "
            f"| {_num(capacity(point))} / {_num(capacity(b))} "
            f"({_ratio(capacity(point), capacity(b))}) |"
        )
    return lines


def render(results: dict[str, Any]) -> str:
    info = results["machine"]
    scale = results["scale"]
    out = [
        f"## {info['date']} · commit {info['commit']} · {scale['name']} run",
        "",
        f"Machine: {info['machine']}; Python {info['python']}; PostgreSQL {info['postgresql']}. "
        f"Run took {results.get('seconds', '?')} s; {scale['seconds']:g} s per load point "
        "(wrk, closed loop, real bearer tokens from the built-in issuer; server and load share "
        "the 2 cores).",
        "",
    ]
    if "dataset_pg" in results:
        load = results.get("load_pg", {})
        out += [
            "### Queries: PostgreSQL + Redis, `journalloft serve --workers 2`, audit and auth on",
            "",
            f"Data: 2 tenants × {scale['people']:,} people (+ a {scale['small_people']:,}-people "
            f"tenant), ~18 NEWS2 measurements (half in the 72 h window) and ~1.8 municipal "
            f"services per person, loaded through HTTP ingest in batches of 1000: "
            f"{_num(load.get('records'))} records at {_num(load.get('records_per_s'))} records/s "
            f"(loader generating them in the same 2 cores).",
            "",
            *query_table(results),
            "",
            "CPU ms/req: CPU time per request of the server's processes, of this database's "
            "PostgreSQL backends and of Redis; (other) is the rest of the machine's busy time "
            "meanwhile, per request (other sessions on the machine, the kernel). CPU capacity = "
            "2 cores ÷ (app + pg + redis) CPU per request: what the stack could serve with the "
            "machine to itself, which other load does not move; the measured req/s does move.",
            "",
        ]
    hello = results.get("hello")
    if hello:
        out += [
            "Ceiling (c), bare FastAPI hello world, 2 workers: "
            + ", ".join(
                f"c={k[1:]}: {_num(v['rps'])} req/s (p50 {v['p50_ms']:.2f} ms)"
                for k, v in hello.items()
            ),
            "",
        ]
    ingest = results.get("ingest")
    if ingest:
        raw = ingest.get("raw_insert_1000", {})
        copy = ingest.get("raw_copy_1000", {})
        out += [
            "### Ingest: NEWS2, validated and scored, 4 requests in flight",
            "",
            "| batch | records/s | batch p50 ms | batch p99 ms "
            "| CPU µs/record app + pg + redis (other) | raw multi-row INSERT records/s "
            "| platform/raw | raw COPY records/s | platform/COPY |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for size in (100, 1000):
            point = ingest.get(f"news2/{size}")
            if point:
                raw_rate = raw.get("records_per_s") if size == 1000 else None
                copy_rate = copy.get("records_per_s") if size == 1000 else None
                cpu = point.get("cpu_ms") or {}
                cpu_text = (
                    f"{cpu['app'] * 1000:.0f} + {cpu['postgres'] * 1000:.0f} + "
                    f"{cpu['redis'] * 1000:.0f} ({cpu['other'] * 1000:.0f})"
                    if cpu
                    else "–"
                )
                out.append(
                    f"| {size} | {_num(point['records_per_s'])}{_errors(point)} "
                    f"| {point['batch_p50_ms']:.0f} | {point['batch_p99_ms']:.0f} | {cpu_text} "
                    f"| {_num(raw_rate)} | {_ratio(point['records_per_s'], raw_rate)} "
                    f"| {_num(copy_rate)} | {_ratio(point['records_per_s'], copy_rate)} |"
                )
        out.append("")
    fhir = results.get("fhir")
    if fhir:
        native = results.get("platform", {}).get("news2/1/c32")
        search = fhir.get("news2/1/c32")
        bundles = fhir.get("transaction/100")
        out += [
            "### The FHIR face, same server and run",
            "",
            "| point | rate | p50 ms | p99 ms | native in this run | FHIR/native |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        if search:
            out.append(
                f"| NEWS2 `POST _search`, 1 patient, c=32 | {_num(search['rps'])} req/s"
                f"{_errors(search)} | {search['p50_ms']:.1f} | {search['p99_ms']:.1f} "
                f"| {_num(native['rps']) if native else '–'} req/s "
                f"| {_ratio(search['rps'], native['rps'] if native else None)} |"
            )
        if bundles:
            out.append(
                f"| transaction Bundles of 100 NEWS2 Observations, 4 in flight "
                f"| {_num(bundles['records_per_s'])} resources/s{_errors(bundles)} "
                f"| {bundles['batch_p50_ms']:.0f} | {bundles['batch_p99_ms']:.0f} | | |"
            )
        out.append("")
    out += scaling(results)
    out += soak_table(results.get("soak"))
    sqlite = results.get("sqlite")
    if sqlite:
        people = results.get("dataset_sqlite", {}).get("people_per_tenant")
        out += [
            f"### Embedded default: SQLite, one process, 2 tenants × {_num(people)} people",
            "",
            "| service | patients | conc. | req/s | p50 ms | p99 ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for key, point in sqlite.items():
            service, size, conc = key.split("/")
            out.append(
                f"| {SHORT[service]} | {size} | {conc[1:]} | {_num(point['rps'])}{_errors(point)} "
                f"| {point['p50_ms']:.2f} | {point['p99_ms']:.2f} |"
            )
        memory = results.get("memory_sqlite")
        if memory:
            out.append(f"\nPeak RSS: {memory[0]:.0f} MiB.")
        out.append("")
    out += push_and_idle(results)
    if "live" in results:
        from bench.live import render_live

        out += render_live(results["live"])
    out += targets(results)  # last: every target with its measured value
    return "\n".join(out) + "\n"


def _spent(point: dict[str, Any]) -> float:
    cpu = point.get("cpu_ms") or {}
    return float(cpu.get("app", 0) + cpu.get("postgres", 0))


def scaling(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    many = results.get("many")
    platform = results.get("platform", {})
    if many:
        count = results["dataset_many"]["tenants"]
        m2, mm = results.get("memory_2"), results.get("memory_many")
        out += [
            f"### Scaling: 2 vs {count} tenants, same total people "
            f"({_num(results['dataset_many']['people_total'])})",
            "",
            f"| point | 2 tenants p50 / p99 ms | {count} tenants p50 / p99 ms | p50 ratio "
            f"| 2 tenants req/s | {count} tenants req/s | CPU ms/req app+pg: 2 / {count} "
            "| CPU ratio |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for key, point in many.items():
            two = platform.get(key)
            if not two:
                continue
            out.append(
                f"| {key} | {two['p50_ms']:.2f} / {two['p99_ms']:.2f} "
                f"| {point['p50_ms']:.2f} / {point['p99_ms']:.2f}{_errors(point)} "
                f"| {_times(point['p50_ms'], two['p50_ms'])} | {_num(two['rps'])} "
                f"| {_num(point['rps'])} | {_spent(two):.2f} / {_spent(point):.2f} "
                f"| {_times(_spent(point), _spent(two))} |"
            )
        if m2 and mm:
            out += [
                "",
                f"Peak RSS of the largest worker: 2 tenants {m2[0]:.0f} MiB, {count} tenants "
                f"{mm[0]:.0f} MiB ({_times(mm[0], m2[0])}); whole process tree {m2[1]:.0f} vs "
                f"{mm[1]:.0f} MiB.",
            ]
        pg2, pgm = results.get("pg_memory_2"), results.get("pg_memory_many")
        b2, bm = results.get("pg_backends_2"), results.get("pg_backends_many")
        if b2 and bm:
            out.append(
                f"PostgreSQL backends of the app, 2 / {count} tenants: PSS {b2['pss']:.0f} / "
                f"{bm['pss']:.0f} MiB, private {b2['private']:.0f} / {bm['private']:.0f} MiB, "
                f"RSS {b2['rss']:.0f} / {bm['rss']:.0f} MiB, in {b2['count']} / {bm['count']} "
                "backends."
            )
        elif pg2 and pgm:
            out.append(
                f"PostgreSQL backends of the app (private memory: plans, prepared statements): "
                f"2 tenants {pg2[0]:.0f} MiB in {pg2[1]}, {count} tenants {pgm[0]:.0f} MiB in "
                f"{pgm[1]}."
            )
        out.append("")
    out += one_tenant(results.get("one_tenant"))
    out += one_tenant(results.get("one_tenant_million"), lean=True)
    return out


def one_tenant(one: dict[str, Any] | None, *, lean: bool = False) -> list[str]:
    """Small vs large tenant, the same points in both."""
    if not one:
        return []
    small, large = one["people"]["small"], one["people"]["large"]
    data = "one measurement and one service a person" if lean else "the board's data"
    out = [
        f"### Scaling: one tenant with {small:,} vs {large:,} people ({data}, 1 patient)",
        "",
        "| point | small p50 / p99 ms | small req/s | large p50 / p99 ms | large req/s "
        "| p50 ratio | CPU ms/req app+pg: small / large |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, s in one["small"].items():
        big = one["large"][key]
        out.append(
            f"| {key} | {s['p50_ms']:.2f} / {s['p99_ms']:.2f} "
            f"| {_num(s['rps'])} | {big['p50_ms']:.2f} / {big['p99_ms']:.2f} "
            f"| {_num(big['rps'])} | {_times(big['p50_ms'], s['p50_ms'])} "
            f"| {_spent(s):.2f} / {_spent(big):.2f} |"
        )
    return [*out, ""]


def _div(a: float, b: float) -> float:
    """a / b; NaN (fails every bound, prints as nan) where a point measured nothing."""
    return a / b if b else float("nan")


def _total(point: dict[str, Any] | None) -> float | None:
    cpu = (point or {}).get("cpu_ms") or {}
    if "total" in cpu:
        return float(cpu["total"])
    return float(cpu["app"] + cpu["postgres"] + cpu["redis"]) if cpu else None


def live_single(live: dict[str, Any] | None) -> dict[str, Any] | None:
    """The live phase's figure for single-record pushes: real changes put on the feed at the
    single-record rate (the streams' own CPU, nothing subtracted but their idle cost)."""
    runs = (live or {}).get("runs", [])
    single = [r for r in runs if r.get("batch") == 1]
    fed = [r for r in single if r.get("fed")]
    chosen: dict[str, Any] | None = (fed or single or [None])[-1]
    return chosen


def target_rows(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for every target whose point this run measured; met None: a
    figure the issue asks to be measured, with no bound."""
    rows: list[tuple[str, str, bool | None]] = []
    platform, bare = results.get("platform", {}), results.get("bare", {})
    for service in ("news2", "kommunale-tjenester"):
        point = platform.get(f"{service}/1/c32")
        if point:
            b = bare.get(f"{service}/1/c32", {})
            share = point["rps"] / b["rps"] if b.get("rps") else None
            app, bare_app = (
                (point.get("cpu_ms") or {}).get("app"),
                (b.get("cpu_ms") or {}).get("app"),
            )
            cpu_ratio = app / bare_app if app and bare_app else None
            rows.append(
                (
                    f"{service}, 1 patient, c=32: ≥ 75 % of (b), app CPU ≤ 1.33× (b)'s",
                    f"{_num(point['rps'])} req/s, {_ratio(point['rps'], b.get('rps'))} of (b); "
                    f"app CPU {_num(app, 2)} vs {_num(bare_app, 2)} ms ({_times(app, bare_app)})",
                    None if share is None else share >= 0.75 and (cpu_ratio or 0) <= 1.33,
                )
            )
    for service in ("news2", "kommunale-tjenester"):
        point = platform.get(f"{service}/50/c32")
        if point:
            b_rps = bare.get(f"{service}/50/c32", {}).get("rps")
            rate = point["rps"] * 50
            rows.append(
                (
                    f"{service}, 50 patients, c=32: ≥ 60 % of (b); ≥ 10 000 patient results/s",
                    f"{_ratio(point['rps'], b_rps)} of (b); {_num(rate)} patient results/s",
                    rate >= 10_000 and (b_rps is None or point["rps"] >= 0.6 * b_rps),
                )
            )
    point = platform.get("news2/1/c8")
    if point:
        rows.append(
            (
                "news2, 1 patient, c=8: p99 < 10 ms",
                f"{point['p99_ms']:.1f} ms",
                point["p99_ms"] < 10,
            )
        )
    ingest = results.get("ingest", {})
    if "news2/1000" in ingest:
        point = ingest["news2/1000"]
        rate = point["records_per_s"]
        app_us = (point.get("cpu_ms") or {}).get("app", 0) * 1000
        rows.append(
            (
                "ingest NEWS2, batches of 1000: ≥ 20 000 records/s, ≤ 50 µs app CPU a record",
                f"{_num(rate)} records/s, {app_us:.0f} µs app CPU a record",
                rate >= 20_000 and app_us <= 50,
            )
        )
    pushes = results.get("push")
    if pushes:
        total = _total(pushes)
        rows.append(
            (
                "single-record NEWS2 pushes, c=8: ≤ 2 ms CPU a push, every process "
                "(app + PostgreSQL + Redis)",
                f"{_num(pushes['rps'])} req/s, p99 {pushes['p99_ms']:.1f} ms, "
                f"{_num(total, 2)} ms a push ({_cpu_split(pushes)})",
                total is not None and total <= 2.0,
            )
        )
    idle_2, idle_many = results.get("idle_2"), results.get("idle_many")
    if idle_2 or idle_many:
        measured = "; ".join(
            f"{i['tenants']} tenants {_num(_total(_as_point(i)), 2)} ms/s "
            f"({_cpu_split(_as_point(i))})"
            for i in (idle_2, idle_many)
            if i
        )
        rows.append(("idle CPU, no traffic (measured, kept small)", measured, None))
    fhir = results.get("fhir", {})
    if "news2/1/c32" in fhir and "news2/1/c32" in platform:
        ratio = _div(fhir["news2/1/c32"]["rps"], platform["news2/1/c32"]["rps"])
        rows.append(
            (
                "FHIR NEWS2 _search, 1 patient, c=32: ≥ 75 % of the native query's req/s",
                f"{_num(fhir['news2/1/c32']['rps'])} vs {_num(platform['news2/1/c32']['rps'])} "
                f"req/s: {ratio:.0%}",
                ratio >= 0.75,
            )
        )
    if "transaction/100" in fhir:
        rate = fhir["transaction/100"]["records_per_s"]
        rows.append(
            (
                "FHIR transaction of 100 Observations: ≥ 3 000 resources/s",
                f"{_num(rate)} /s",
                rate >= 3000,
            )
        )
    many = results.get("many", {})
    if many and "news2/1/c32" in many and "news2/1/c32" in platform:
        count = results["dataset_many"]["tenants"]
        cpu_many, cpu_2 = _spent(many["news2/1/c32"]), _spent(platform["news2/1/c32"])
        rows.append(
            (
                f"{count} tenants: ≤ 1.2× the CPU per request of 2 (news2, 1 patient, c=32)",
                f"{cpu_many:.2f} vs {cpu_2:.2f} ms app + pg ({_times(cpu_many, cpu_2)})",
                cpu_2 > 0 and cpu_many <= 1.2 * cpu_2,
            )
        )
        if "news2/1/c1" in many and "news2/1/c1" in platform:
            lat = _div(many["news2/1/c32"]["p50_ms"], platform["news2/1/c32"]["p50_ms"])
            lat1 = _div(many["news2/1/c1"]["p50_ms"], platform["news2/1/c1"]["p50_ms"])
            mem = _div(results["memory_many"][0], results["memory_2"][0])
            rows.append(
                (
                    f"{count} tenants ≤ 1.2× latency and memory of 2",
                    f"news2 p50 {lat1:.2f}× at c=1, {lat:.2f}× at c=32; "
                    f"largest worker RSS {mem:.2f}×",
                    lat <= 1.2 and lat1 <= 1.2 and mem <= 1.2,
                )
            )
    pg_2, pg_many = results.get("pg_backends_2"), results.get("pg_backends_many")
    if pg_2 and pg_many:
        count = results.get("dataset_many", {}).get("tenants", "many")
        rows.append(
            (
                f"PostgreSQL backend memory, {count} tenants ≤ 2× of 2 (PSS)",
                f"PSS {pg_many['pss']:.0f} vs {pg_2['pss']:.0f} MiB "
                f"({_times(pg_many['pss'], pg_2['pss'])}); private {pg_many['private']:.0f} vs "
                f"{pg_2['private']:.0f}; RSS {pg_many['rss']:.0f} vs {pg_2['rss']:.0f} "
                f"({pg_many['count']} vs {pg_2['count']} backends)",
                pg_2["pss"] > 0 and pg_many["pss"] <= 2 * pg_2["pss"],
            )
        )
    million = results.get("one_tenant_million")
    if million and "news2/1/c32" in million["large"]:
        ratios = [
            _div(million["large"][key]["p50_ms"], point["p50_ms"])
            for key, point in million["small"].items()
        ]
        rows.append(
            (
                f"{million['people']['small']:,} vs {million['people']['large']:,} people in "
                "one tenant: flat (≤ 1.2×)",
                "p50 " + ", ".join(f"{r:.2f}×" for r in ratios),
                max(ratios) <= 1.2,
            )
        )
    sqlite = results.get("sqlite", {})
    if "news2/1/c32" in sqlite:
        rps = sqlite["news2/1/c32"]["rps"]
        kt = sqlite.get("kommunale-tjenester/1/c32", {}).get("rps", 0)
        people = results.get("dataset_sqlite", {}).get("people_per_tenant", 0)
        rows.append(
            (
                f"embedded SQLite (`make run`, {people:,} people/tenant): ≥ 800 lookups/s at "
                "1 patient (c=32)",
                f"news2 {_num(rps)} req/s, kommunale-tjenester {_num(kt)} req/s",
                rps >= 800 and kt >= 800,
            )
        )
    live = results.get("live")
    if live:
        kib = live.get("kib_per_further_subscription")
        rows.append(
            (
                "an open live stream ≤ 64 KiB (what each stream of the second half added)",
                f"{kib} KiB (average {live.get('kib_per_subscription')} KiB)",
                kib is not None and kib <= 64,
            )
        )
        single = live_single(live)
        if single:
            event_ratio = single.get("event_to_lookup")
            ok = (
                None
                if event_ratio is None or single["cpu_ms_per_event"] <= 0
                else bool(event_ratio <= 1 / 3)
            )
            ingested = [r for r in live.get("runs", []) if r.get("batch") == 1 and not r.get("fed")]
            beside = (
                f"; from the single-record ingests with and without streams: "
                f"{ingested[-1]['event_to_lookup']}"
                if ingested and ingested[-1] is not single
                else ""
            )
            rows.append(
                (
                    "a live event ≤ ⅓ of a polling lookup's CPU, single-record pushes",
                    f"{single['label']}: {single['cpu_ms_per_event']} ms an event vs "
                    f"{live['cpu_ms_per_polling_lookup']} ms a lookup of "
                    f"{live['patients_each']}: {event_ratio} "
                    f"({single['delivered']:,} of {single['ingested']:,} delivered){beside}",
                    ok,
                )
            )
    return rows


def _as_point(idle: dict[str, Any]) -> dict[str, Any]:
    return {"cpu_ms": idle.get("cpu_ms_per_s")}


def _cpu_split(point: dict[str, Any] | None) -> str:
    cpu = (point or {}).get("cpu_ms") or {}
    if not cpu:
        return "–"
    return f"app {cpu['app']:.2f} + pg {cpu['postgres']:.2f} + redis {cpu['redis']:.2f}"


def targets(results: dict[str, Any]) -> list[str]:
    rows = target_rows(results)
    if not rows:
        return []
    out = [
        "### Targets (issues 6 and 24)",
        "",
        "| target | measured | met |",
        "| --- | --- | --- |",
    ]
    marks = {True: "yes", False: "NO", None: "–"}
    for target, measured, ok in rows:
        out.append(f"| {target} | {measured} | {marks[ok]} |")
    return [*out, ""]


def push_and_idle(results: dict[str, Any]) -> list[str]:
    """The single-record push point and the idle points."""
    out: list[str] = []
    pushes = results.get("push")
    if pushes:
        out += [
            "### Single-record NEWS2 pushes (as journal systems send), PostgreSQL + Redis, "
            "2 workers",
            "",
            f"One new measurement a request to the native API, {pushes['connections']} in "
            "flight (closed loop, raw keep-alive connections), each for another of the two "
            "large tenants' people at its own time. CPU: every process of the stack (the app's "
            "process tree; every PostgreSQL process of the database: backends, checkpointer, "
            "background writer, WAL writer, postmaster; Redis).",
            "",
            "| req/s | p50 ms | p99 ms | CPU ms a push, all processes | app + pg + redis | other |",
            "| ---: | ---: | ---: | ---: | --- | ---: |",
            f"| {_num(pushes['rps'])}{_errors(pushes)} | {pushes['p50_ms']:.2f} "
            f"| {pushes['p99_ms']:.2f} | {_num(_total(pushes), 3)} | {_cpu_split(pushes)} "
            f"| {pushes['cpu_ms'].get('other', 0):.2f} |",
            "",
        ]
    idles = [i for i in (results.get("idle_2"), results.get("idle_many")) if i]
    if idles:
        out += [
            "### Idle: no traffic, after start (every process of the stack, CPU ms a second)",
            "",
            "| tenants | seconds | total ms/s | app + pg + redis | other |",
            "| ---: | ---: | ---: | --- | ---: |",
        ]
        for i in idles:
            point = _as_point(i)
            out.append(
                f"| {i['tenants']} | {i['seconds']:g} | {_num(_total(point), 2)} "
                f"| {_cpu_split(point)} | {point['cpu_ms'].get('other', 0):.2f} |"
            )
        out.append("")
    return out


HEADER = """# Benchmark results

Appended by `make bench` (`python -m bench`); each run measures the platform and the machine's own
ceilings in the same run on the same data. Newest last. Figures, not tests: nothing here fails CI.

"""


def write_results(path: Path, text: str) -> None:
    existing = path.read_text("utf-8") if path.exists() else HEADER
    path.write_text(existing.rstrip("\n") + "\n\n" + text, "utf-8")


def soak_table(soak: dict[str, Any] | None) -> list[str]:
    """The soak phase per minute: throughput, latency, errors, memory of every process."""
    if not soak:
        return []
    rows = soak["minutes"]
    names = sorted({name for row in rows for name in row["memory_mib"]})
    out = [
        f"### Soak: {len(rows)} minutes of mixed traffic at {soak['rate']:.0f} requests/s "
        f"(half the measured {soak['capacity']:.0f}/s), PostgreSQL + Redis, 2 workers",
        "",
        "| minute | req/s | p50 ms | p99 ms | errors | "
        + " | ".join(f"{n} MiB" for n in names)
        + " |",
        "| ---: | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in names) + " |",
    ]
    for row in rows:
        memory = row["memory_mib"]
        out.append(
            f"| {row['minute']} | {row['requests_per_s']:.1f} | {row['p50_ms']:.1f} "
            f"| {row['p99_ms']:.1f} | {row['errors']} | "
            + " | ".join(f"{memory.get(n, 0):.1f}" for n in names)
            + " |"
        )
    growth = ", ".join(f"{k} {v:+.1f}" for k, v in soak.get("growth_mib", {}).items())
    out += [
        "",
        f"Flat: {'yes' if soak['flat'] else 'NO'} (errors {soak['errors']}; memory after "
        f"warm-up to the last minute, MiB: {growth or 'n/a'}).",
        "",
    ]
    return out
