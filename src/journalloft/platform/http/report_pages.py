"""The usage report (``operations/usage_report.py``) as CSV and as one self-contained HTML page.

The CSV is long: one row per figure (``section, date, hour, service, organisasjonsnummer,
source, measure, value``), for the municipality's own tools. The page has no script and fetches
nothing: its charts are inline SVG drawn here, each bar carrying its figure exactly as the JSON
has it (``data-value``, ``"<5"`` for a suppressed count, empty for a rate not shown), with the
numbers in a table under each chart. Both are made from the report's JSON and nothing else, so
they can hold nothing the JSON does not.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from datetime import date, datetime
from html import escape
from typing import Any, Final

import orjson

from journalloft.platform.operations.sharing import PUSH_OUTCOMES
from journalloft.platform.operations.usage_report import SUPPRESSED

CSV_COLUMNS: Final = (
    "section",
    "date",
    "hour",
    "service",
    "organisasjonsnummer",
    "source",
    "measure",
    "value",
)
_KEYS: Final = {"date", "hour", "service", "organisasjonsnummer", "source"}
PAGE_POLICY: Final = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""The page's Content-Security-Policy: nothing is fetched, nothing runs."""
COLOURS: Final = ("#1f5fa8", "#e07b00", "#2e8b57", "#b03060", "#6a5acd", "#8b6914", "#20808f")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date | datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def _rows(section: str, entries: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for entry in entries:
        keys = [_text(entry.get(name)) for name in CSV_COLUMNS[1:6]]
        for measure, value in entry.items():
            if measure in _KEYS or isinstance(value, list):
                continue
            if isinstance(value, dict):
                rows += [[section, *keys, f"{measure}:{k}", _text(v)] for k, v in value.items()]
            else:
                rows.append([section, *keys, measure, _text(value)])
    return rows


def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for section in (
        "lookups",
        "consumers",
        "lookups_per_day",
        "hour_profile",
        "pushes",
        "pushes_per_day",
        "streams",
        "coverage",
    ):
        writer.writerows(_rows(section, report[section]))
    for entry in report["coverage"]:
        per_day = [{"service": entry["service"], **day} for day in entry["new_per_day"]]
        writer.writerows(_rows("coverage_per_day", per_day))
    return out.getvalue()


def _number(value: Any) -> float:
    """A bar's height: a suppressed count is drawn as 2.5 (between 1 and 4), marked as such."""
    if value == SUPPRESSED:
        return 2.5
    return float(value) if isinstance(value, int | float) else 0.0


def bar_chart(
    chart: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[Any]]],
    *,
    stacked: bool = False,
    scale: Callable[[Any], float] = _number,
    label: Callable[[Any], str] = _text,
    ceiling: float | None = None,
) -> str:
    """An inline SVG bar chart: one ``rect.bar`` per (category, series), always, carrying
    ``data-chart``, ``data-series``, ``data-category`` and ``data-value`` (the figure as the
    JSON has it); grouped, or stacked per category."""
    width, height, left, bottom, top = 960, 260, 56, 36, 12
    plot_w, plot_h = width - left - 12, height - bottom - top
    n = max(len(categories), 1)
    heights = [[scale(v) for v in values] for _, values in series]
    if stacked:
        peak = max((sum(h[i] for h in heights) for i in range(len(categories))), default=0.0)
    else:
        peak = max((v for h in heights for v in h), default=0.0)
    peak = max(peak, ceiling or 0.0) or 1.0
    slot = plot_w / n
    parts = [
        f'<svg class="chart" id="{escape(chart)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#555"/>',
        f'<text x="{left - 6}" y="{top + 8}" text-anchor="end" font-size="11">{peak:g}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    longest = max((len(c) for c in categories), default=1)
    every = max(1, math.ceil(n * longest * 6.5 / plot_w))  # labels of 10 px type do not touch
    for i, category in enumerate(categories):
        x0 = left + i * slot
        base = float(top + plot_h)
        for j, (name, values) in enumerate(series):
            value = values[i]
            h = heights[j][i] / peak * plot_h
            if stacked:
                x, w = x0 + slot * 0.1, max(slot * 0.8, 0.5)
                base -= h
                y = base
            else:
                w = max(slot * 0.8 / len(series), 0.5)
                x, y = x0 + slot * 0.1 + j * w, top + plot_h - h
            suppressed = value == SUPPRESSED
            faint = ' fill-opacity="0.45"' if suppressed else ""
            parts.append(
                f'<rect class="bar{" suppressed" if suppressed else ""}" '
                f'data-chart="{escape(chart)}" data-series="{escape(name)}" '
                f'data-category="{escape(category)}" data-value="{escape(label(value))}" '
                f'x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{h:.2f}" '
                f'fill="{COLOURS[j % len(COLOURS)]}"{faint}>'
                f"<title>{escape(category)} · {escape(name)}: {escape(label(value))}</title>"
                "</rect>"
            )
        if i % every == 0:
            parts.append(
                f'<text x="{x0 + slot / 2:.2f}" y="{top + plot_h + 14}" text-anchor="middle" '
                f'font-size="10">{escape(category)}</text>'
            )
    legend_x = left
    for j, (name, _) in enumerate(series):
        parts.append(
            f'<rect x="{legend_x}" y="{height - 12}" width="10" height="10" '
            f'fill="{COLOURS[j % len(COLOURS)]}"/>'
            f'<text x="{legend_x + 14}" y="{height - 3}" font-size="11">{escape(name)}</text>'
        )
        legend_x += 24 + 7 * len(name)
    parts.append("</svg>")
    table = [
        "<details><summary>Tallene</summary><table><tr><th></th>",
        *(f"<th>{escape(name)}</th>" for name, _ in series),
        "</tr>",
    ]
    for i, category in enumerate(categories):
        table.append(f"<tr><th>{escape(category)}</th>")
        table += [f"<td>{escape(label(values[i]))}</td>" for _, values in series]
        table.append("</tr>")
    table.append("</table></details>")
    return f"<section><h2>{escape(title)}</h2>{''.join(parts)}{''.join(table)}</section>"


def _percent(value: Any) -> str:
    return "" if value is None else f"{value * 100:.1f} %"


def _hours(value: Any) -> str:
    return "" if value is None else f"{value / 3600:.1f} t"


def _table(title: str, rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return f"<section><h2>{escape(title)}</h2><p>Ingen.</p></section>"
    columns = [c for c in rows[0] if not isinstance(rows[0][c], list)]
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            "<td>"
            + escape(
                ", ".join(f"{k}: {_text(v)}" for k, v in row[c].items())
                if isinstance(row[c], dict)
                else _text(row[c])
            )
            + "</td>"
            for c in columns
        )
        + "</tr>"
        for row in rows
    )
    return f"<section><h2>{escape(title)}</h2><table><tr>{head}</tr>{body}</table></section>"


def to_html(report: dict[str, Any]) -> str:
    services = [entry["service"] for entry in report["lookups"]]
    days = sorted({entry["date"] for entry in report["lookups_per_day"]})
    per_day = {(e["date"], e["service"]): e for e in report["lookups_per_day"]}
    per_hour = {(e["hour"], e["service"]): e for e in report["hour_profile"]}
    pushes = report["pushes"]
    problems = sorted({p for entry in pushes for p in entry["refused"]})
    push_series = [
        *((o, [entry[o] for entry in pushes]) for o in (*PUSH_OUTCOMES, "withdrawn")),
        *((f"refused:{p}", [entry["refused"].get(p, 0) for entry in pushes]) for p in problems),
    ]
    charts = [
        bar_chart(
            "lookups-per-day",
            "Oppslag per dag, per tjeneste",
            [d.isoformat() for d in days],
            [(s, [per_day[(d, s)]["lookups"] for d in days]) for s in services],
            stacked=True,
        ),
        bar_chart(
            "hit-rate",
            "Treffrate: andel oppslag som fant noe",
            services,
            [("hit_rate", [e["hit_rate"] for e in report["lookups"]])],
            scale=lambda v: float(v) if isinstance(v, float | int) else 0.0,
            label=lambda v: "" if v is None else _text(v),
            ceiling=1.0,
        ),
        bar_chart(
            "data-age",
            "Alder på nyeste data et oppslag fikk (sekunder)",
            services,
            [
                ("median", [e["data_age_median_seconds"] for e in report["lookups"]]),
                ("p90", [e["data_age_p90_seconds"] for e in report["lookups"]]),
            ],
        ),
        bar_chart(
            "pushes",
            "Innsendte poster etter utfall, per tjeneste og kilde",
            [f"{e['service']} · {e['source']}" for e in pushes],
            push_series,
        ),
        bar_chart(
            "hour-profile",
            "Døgnprofil: oppslag per time (norsk tid)",
            [f"{h:02d}" for h in range(24)],
            [(s, [per_hour[(h, s)]["lookups"] for h in range(24)]) for s in services],
            stacked=True,
        ),
    ]
    title = (
        f"Bruk og datakvalitet: {report['name']} ({report['kommunenummer']}), "
        f"{_text(report['from'])} – {_text(report['to'])}"
    )
    notes = (
        "Tall fra 1 til 4 vises som «&lt;5» (prikking), og en andel eller et persentil som "
        "bygger på et slikt tall vises ikke. Tidene er norsk tid (Europe/Oslo). Rapporten er "
        f"laget {escape(_text(report['generated_at']))} fra kommunens egen logg og database."
    )
    tables = [
        _table("Oppslag per tjeneste", report["lookups"]),
        _table("Oppslag per tjeneste og konsumentorganisasjon", report["consumers"]),
        _table("Innsendinger per tjeneste og kilde", report["pushes"]),
        _table("Sanntidsstrømmer", report["streams"]),
        _table(
            "Personer dekket per tjeneste",
            [{k: v for k, v in e.items() if k != "new_per_day"} for e in report["coverage"]],
        ),
    ]
    return (
        '<!doctype html><html lang="nb"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:1000px;color:#222}"
        "table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}"
        "td,th{border:1px solid #ccc;padding:.2rem .4rem;text-align:right}"
        "h2{font-size:1.05rem;margin-top:1.6rem}.chart{background:#fafafa}</style>"
        f"</head><body><h1>{escape(title)}</h1><p>{notes}</p>"
        f"{''.join(charts)}{''.join(tables)}</body></html>"
    )


def to_json(report: dict[str, Any]) -> bytes:
    """The report as the API's JSON renderer writes it (instants with ``Z``, dates as dates)."""
    return orjson.dumps(report, option=orjson.OPT_UTC_Z | orjson.OPT_INDENT_2)


RENDERERS: Final[dict[str, Callable[[dict[str, Any]], str | bytes]]] = {
    "json": to_json,
    "csv": to_csv,
    "html": to_html,
}
