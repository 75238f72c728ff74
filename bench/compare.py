"""``python -m bench --compare REV``: this checkout (B) against another revision (A), alternately.

REV is checked out (detached) into a git worktree under ``var/compare/<commit>`` (kept for the
next comparison). Each run is a whole ``python -m bench`` of the chosen phases in a process of
its own, on the same stack (the same PostgreSQL databases, the same Redis, the same datasets,
loaded once), with the same virtualenv: only the servers under test differ, by ``PYTHONPATH``
(``BENCH_SERVER_SRC``): REV's ``src`` for A, this checkout's (uncommitted changes included) for
B. The bench itself (data, onboarding, load, accounting) is this checkout's in every run.

Runs alternate A B, B A, A B, ... (the order swapped each round, so that neither revision always
goes first on a warm or a cold machine), ``--rounds`` rounds (at least 2). The table gives per
point both revisions' rates and CPU per request (means over the rounds), and B/A with its spread:
the lowest and highest of the rounds' own B/A. A spread that straddles 1.00 is no difference.

Both revisions run against one schema: the dataset's store is migrated by this checkout's
bench; compare revisions that the same migrations serve.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bench import stack
from bench.report import target_rows

ROOT = stack.ROOT
MIN_ROUNDS = 2


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] compare: {message}", flush=True)


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def checkout(rev: str) -> tuple[str, Path]:
    """REV's commit and a worktree of it under var/compare (made once, reused after)."""
    commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    tree = ROOT / "var" / "compare" / commit[:12]
    if not (tree / "src").is_dir():
        tree.parent.mkdir(parents=True, exist_ok=True)
        git("worktree", "prune")
        git("worktree", "add", "--detach", str(tree), commit)
    elif git("rev-parse", "HEAD", cwd=tree) != commit:
        git("checkout", "--detach", commit, cwd=tree)
    return commit, tree


# -- the points of one run's results ------------------------------------------------------------


def points(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Every measured point of one run: its name (the results' keys joined by ``/``) and its
    figures: ``rate`` (requests, records, or changes a second), ``p99_ms``, ``app_ms`` and
    ``stack_ms`` (CPU per request of the app, and of app + PostgreSQL + Redis)."""
    found: dict[str, dict[str, float]] = {}

    def cpu_of(raw: Any) -> dict[str, float]:
        if not isinstance(raw, dict) or "app" not in raw:
            return {}
        total = raw.get("total", raw["app"] + raw.get("postgres", 0) + raw.get("redis", 0))
        return {"app_ms": float(raw["app"]), "stack_ms": float(total)}

    def walk(name: str, node: Any) -> None:
        if not isinstance(node, dict):
            return
        figures: dict[str, float] = {}
        rate = node.get("rps", node.get("records_per_s"))
        if isinstance(rate, int | float):
            figures["rate"] = float(rate)
        p99 = node.get("p99_ms", node.get("batch_p99_ms"))
        if isinstance(p99, int | float):
            figures["p99_ms"] = float(p99)
        figures |= cpu_of(node.get("cpu_ms") or node.get("cpu_ms_per_s"))
        if figures:
            found[name] = figures
            return
        for key, value in node.items():
            walk(f"{name}/{key}" if name else str(key), value)

    for key, value in results.items():
        if key in {"machine", "scale", "live"} or key.startswith("load_"):
            continue
        walk(key, value)
    live = results.get("live")
    if live:
        for run in live.get("runs", []):
            figures = {"rate": float(run["achieved_rate"]), "p99_ms": run["latency_ms_p99"]}
            if run.get("cpu_ms_per_event") is not None:
                figures["stack_ms"] = float(run["cpu_ms_per_event"])
            found[f"live/{run['label']}"] = {
                k: float(v) for k, v in figures.items() if v is not None
            }
        lookup = live.get("cpu_ms_per_polling_lookup")
        if lookup is not None:
            found["live/polling lookup"] = {"stack_ms": float(lookup)}
    return found


# -- the comparison -----------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _ratio_cell(a: list[float], b: list[float]) -> str:
    """B/A of the means, and the lowest–highest of the rounds' own B/A."""
    if not a or not b or not _mean(a):
        return "–"
    mean_a, mean_b = statistics.fmean(a), statistics.fmean(b)
    rounds = [y / x for x, y in zip(a, b, strict=False) if x]
    spread = f" ({min(rounds):.2f}–{max(rounds):.2f})" if len(rounds) > 1 else ""
    return f"{mean_b / mean_a:.2f}{spread}"


def table(runs: dict[str, list[dict[str, Any]]], labels: dict[str, str]) -> list[str]:
    """Per point: rate and CPU per request of A and B (means over the rounds), and B/A."""
    a_points = [points(r) for r in runs["A"]]
    b_points = [points(r) for r in runs["B"]]
    names = list(dict.fromkeys(name for p in (*a_points, *b_points) for name in p))
    lines = [
        f"A = {labels['A']}; B = {labels['B']}. Means over {len(runs['A'])} rounds; B/A with "
        "(lowest–highest of the rounds' own B/A). Rate: requests, records or changes a second; "
        "CPU: ms a request (a record, an event; idle points: a second) of the app, and of app + "
        "PostgreSQL + Redis.",
        "",
        "| point | A rate | B rate | B/A rate | A p99 ms | B p99 ms | A app CPU | B app CPU "
        "| B/A app CPU | A stack CPU | B stack CPU | B/A stack CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def series(side: list[dict[str, dict[str, float]]], name: str, figure: str) -> list[float]:
        return [p[name][figure] for p in side if name in p and figure in p[name]]

    for name in names:
        cells = [name]
        for figure, digits in (("rate", 1), ("p99_ms", 2), ("app_ms", 3), ("stack_ms", 3)):
            a, b = series(a_points, name, figure), series(b_points, name, figure)
            cells += [_fmt(_mean(a), digits), _fmt(_mean(b), digits)]
            if figure != "p99_ms":
                cells.append(_ratio_cell(a, b))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def targets_side_by_side(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Every target with both revisions' last run's measured value."""
    marks = {True: "yes", False: "NO", None: "–"}
    rows_a = {target: (measured, ok) for target, measured, ok in target_rows(a)}
    rows_b = {target: (measured, ok) for target, measured, ok in target_rows(b)}
    lines = [
        "| target | A measured | A met | B measured | B met |",
        "| --- | --- | --- | --- | --- |",
    ]
    for target in dict.fromkeys([*rows_a, *rows_b]):
        ma, oa = rows_a.get(target, ("–", None))
        mb, ob = rows_b.get(target, ("–", None))
        lines.append(f"| {target} | {ma} | {marks[oa]} | {mb} | {marks[ob]} |")
    return lines


def schedule(rounds: int) -> list[tuple[int, str]]:
    """(round, side) in the order they run: A B, B A, A B, ... (at least MIN_ROUNDS rounds)."""
    return [
        (n, side)
        for n in range(max(MIN_ROUNDS, rounds))
        for side in (("A", "B") if n % 2 == 0 else ("B", "A"))
    ]


CHILD: list[subprocess.Popen[bytes]] = []


def _stop_child(signum: int, _frame: object) -> None:
    """A signal to the comparison stops the run under way (which stops its servers) first."""
    for child in CHILD:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=60)
    os._exit(128 + signum)


def run_child(argv: list[str], *, env: dict[str, str], output: IO[bytes]) -> int:
    child = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    CHILD.append(child)
    try:
        return child.wait()
    finally:
        CHILD.remove(child)


def run_compare(rev: str, forwarded: list[str], *, rounds: int, work: Path, write: bool) -> int:
    rounds = max(MIN_ROUNDS, rounds)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _stop_child)
    commit, tree = checkout(rev)
    head = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no", "src")
    labels = {
        "A": f"{rev} ({commit[:9]})",
        "B": f"this checkout ({head}{', src modified' if dirty else ''})",
    }
    sources = {"A": tree / "src", "B": ROOT / "src"}
    out_dir = work / "compare" / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    log(f"A = {labels['A']} from {tree}; B = {labels['B']}; {rounds} rounds; logs in {out_dir}")
    runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    started, date = time.monotonic(), datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    for n, side in schedule(rounds):
        name = f"round{n + 1}-{side}"
        result_file = out_dir / f"{name}.json"
        env = {
            **os.environ,
            "BENCH_SERVER_SRC": str(sources[side]),
            "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        }
        argv = [
            sys.executable,
            "-m",
            "bench",
            *forwarded,
            "--no-write",
            "--json",
            str(result_file),
        ]
        log(f"round {n + 1}: {side} ({labels[side]})")
        with (out_dir / f"{name}.log").open("wb") as output:
            code = run_child(argv, env=env, output=output)
        if code != 0 or not result_file.exists():
            log(f"{name} failed (exit {code}); see {out_dir / f'{name}.log'}")
            return 1
        runs[side].append(json.loads(result_file.read_text("utf-8")))
    info = runs["B"][-1]["machine"]
    text = "\n".join(
        [
            f"## {date} · compare {labels['A']} (A) vs {labels['B']} (B)",
            "",
            f"`python -m bench --compare {rev} {' '.join(forwarded)}`".replace(" `", "`"),
            f"Machine: {info['machine']}; PostgreSQL {info['postgresql']}. "
            f"{len(runs['A'])} rounds, "
            f"runs alternating (A B, B A, ...); took {time.monotonic() - started:.0f} s.",
            "",
            *table(runs, labels),
            "",
            "### Targets, each revision's last run",
            "",
            *targets_side_by_side(runs["A"][-1], runs["B"][-1]),
            "",
        ]
    )
    print()
    print(text)
    (out_dir / "compare.md").write_text(text, "utf-8")
    if write:
        from bench.report import write_results

        write_results(ROOT / "bench" / "RESULTS.md", text)
        print(f"appended to {ROOT / 'bench' / 'RESULTS.md'}")
    return 0
