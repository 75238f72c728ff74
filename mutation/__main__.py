"""Mutation testing of the safety core, one module at a time: ``make mutation``.

For each module of :data:`CORE` mutmut mutates it in a scratch copy of the tree under
``var/mutation/<name>`` and runs the module's own fast tests (SQLite only) against every mutant.
mutmut switches mutants at call time in forked workers, so a mutant in code that runs only at
import (a chart row built at module level) is never switched on there. With ``--confirm`` every
survivor is checked again cold: the mutant applied to the scratch copy and the tests run in a new
process (slow: a whole test run per survivor). docs/mutation.md explains the survivors.

The results go to ``docs/mutation-results.md`` (the table) and ``var/mutation/results.json``.
``python -m mutation scoring dpop`` runs only those modules.
The scratch copies stay for ``mutmut show`` / ``mutmut browse`` there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / "var" / "mutation"
REPORT = ROOT / "docs" / "mutation-results.md"
BIN = Path(sys.executable).parent
SQLITE_ONLY = "not postgres and not redis"
MARK = "\u01c1"
"""How mutmut names a method's mutants: ``x<MARK>Class<MARK>method__mutmut_<n>``."""
COPIED = ("src", "tests", "schemas", "migrations", "tenants")
"""What the tests read besides the code (the JSON Schemas, the platform's migrations)."""


@dataclass(frozen=True)
class Module:
    name: str
    source: str
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()
    """Only these functions of the source are mutated (a large module whose rules live in a few
    functions: a bounded run); every function when empty. A method is ``Class.method``."""

    @property
    def patterns(self) -> list[str]:
        """mutmut's names of this module's chosen mutants (fnmatch patterns)."""
        dotted = self.source.removeprefix("src/").removesuffix(".py").replace("/", ".")
        return [
            f"{dotted}.x{MARK}{cls}{MARK}{method}__mutmut_*"
            if method
            else f"{dotted}.x_{cls}__mutmut_*"
            for cls, _, method in (function.partition(".") for function in self.functions)
        ]


CORE = (
    Module(
        "scoring",
        "src/journalloft/services/news2/scoring.py",
        ("tests/services/news2/test_scoring.py", "tests/services/news2/test_scoring_edges.py"),
    ),
    Module(
        "identifiers",
        "src/journalloft/platform/core/identifiers.py",
        ("tests/platform/test_identifiers.py", "tests/platform/test_identifiers_edges.py"),
    ),
    Module(
        "dpop",
        "src/journalloft/platform/auth/dpop.py",
        (
            "tests/platform/test_windows_auth.py",
            "tests/platform/test_dpop_refusals.py",
            "tests/platform/test_security_dpop.py",
        ),
    ),
    Module(
        "issuer",
        "src/journalloft/platform/auth/issuer.py",
        ("tests/platform/test_issuer_rules.py",),
        # the client assertion's checks and the token endpoint's refusals and claims: 467 of
        # the module's 648 mutants (the key file, discovery document and JWKS are tested in
        # test_issuer_rules.py too, and were mutated in a partial run: docs/mutation.md)
        functions=("BuiltinIssuer._authenticate", "BuiltinIssuer.token"),
    ),
    Module(
        "instants",
        "src/journalloft/platform/core/instants.py",
        ("tests/platform/test_instants.py", "tests/platform/test_instants_edges.py"),
    ),
    Module(
        "access",
        "src/journalloft/platform/operations/access.py",
        (
            "tests/platform/test_access_rules.py",
            "tests/platform/test_security_grants.py",
            "tests/platform/test_security_policy_scope.py",
        ),
    ),
    Module(
        "restrictions",
        "src/journalloft/platform/operations/restrictions.py",
        ("tests/platform/test_security_restrictions.py",),
    ),
    Module(
        "audit",
        "src/journalloft/platform/audit/log.py",
        (
            "tests/platform/test_audit_rules.py",
            "tests/platform/test_audit.py",
            "tests/platform/test_windows_retention.py",
        ),
    ),
    Module(
        "audit-before-data",
        "src/journalloft/platform/operations/sharing.py",
        (
            "tests/platform/test_lookup_rules.py",
            "tests/platform/test_stream_reads_failures.py",
            "tests/platform/test_answer_bounds.py",
            "tests/platform/test_audit.py",
        ),
        # the lookup's restriction filter and its audit events, committed before any answer is
        # returned; a municipality whose events cannot be written answers nothing
        functions=("look_up_in_together", "_look_up_or_unavailable"),
    ),
    Module(
        "okt-status",
        "src/journalloft/services/kommunale_tjenester/status.py",
        ("tests/services/kommunale_tjenester/test_status.py",),
    ),
    Module(
        "diagnoser-status",
        "src/journalloft/services/diagnoser/status.py",
        (
            "tests/services/diagnoser/test_status.py",
            "tests/services/diagnoser/test_status_words.py",
        ),
    ),
)


def _environment(scratch: Path | None = None) -> dict[str, str]:
    """SQLite only: no test of a shared PostgreSQL or Redis runs under mutation."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("JOURNALLOFT_TEST_") and key != "PYTHONPATH"
    }
    if scratch is not None:
        env["PYTHONPATH"] = str(scratch / "src")
    return env


def _prepare(module: Module) -> Path:
    scratch = SCRATCH / module.name
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    for part in COPIED:
        shutil.copytree(ROOT / part, scratch / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", scratch / "pyproject.toml")
    tests = "\n    ".join(module.tests)
    extra = "\n    ".join(COPIED[2:])
    (scratch / "setup.cfg").write_text(
        "[mutmut]\n"
        f"only_mutate = {module.source}\n"
        f"also_copy =\n    {extra}\n"
        f"pytest_add_cli_args_test_selection =\n    {tests}\n"
        f"pytest_add_cli_args = -p no:xdist -p no:cacheprovider -m '{SQLITE_ONLY}'\n"
    )
    return scratch


def _mutmut(scratch: Path, *args: str) -> str:
    done = subprocess.run(
        ["nice", "-n", "10", str(BIN / "mutmut"), *args],
        cwd=scratch,
        env=_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout


def _killed_cold(scratch: Path, module: Module, mutant: str) -> bool:
    """Apply one mutant to the scratch copy and run the tests in a new process."""
    source = scratch / module.source
    original = source.read_text()
    try:
        _mutmut(scratch, "apply", mutant)
        done = subprocess.run(
            [
                "nice",
                "-n",
                "10",
                sys.executable,
                "-m",
                "pytest",
                "-x",
                "-q",
                "-p",
                "no:xdist",
                "-p",
                "no:cacheprovider",
                "-m",
                SQLITE_ONLY,
                *module.tests,
            ],
            cwd=scratch,
            env=_environment(scratch),
            capture_output=True,
            text=True,
            check=False,
        )
        return done.returncode != 0
    finally:
        source.write_text(original)


_RESULT = re.compile(r"^\s*(\S+): (\w[\w ]*)$")


def run(module: Module, *, confirm: bool) -> dict[str, object]:
    started = time.monotonic()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()  # the tree the run copies, not the one it ends on
    scratch = _prepare(module)
    ran = _mutmut(scratch, "run", "--max-children", "1", *module.patterns)
    statuses = {
        match.group(1): match.group(2)
        for line in _mutmut(scratch, "results", "--all", "true").splitlines()
        if (match := _RESULT.match(line))
        and (not module.functions or any(fnmatch(match.group(1), p) for p in module.patterns))
    }
    not_run = sorted(name for name, status in statuses.items() if status == "not checked")
    if not statuses or len(not_run) == len(statuses):
        raise SystemExit(f"mutation: {module.name}: mutmut ran no mutant:\n{ran[-3000:]}")
    # a mutant that makes the tests hang is caught too (the suite's faulthandler ends it)
    caught = ("killed", "timeout")
    survivors = sorted(name for name, status in statuses.items() if status not in caught)
    confirmed = [
        name for name in survivors if not confirm or not _killed_cold(scratch, module, name)
    ]
    killed = len(statuses) - len(confirmed)
    diffs = {
        name: "\n".join(
            line
            for line in _mutmut(scratch, "show", name).splitlines()
            if line[:1] in "+-" and line[:3] not in ("+++", "---")
        )
        for name in confirmed
    }
    return {
        "module": module.name,
        "source": module.source,
        "functions": list(module.functions),
        "tests": list(module.tests),
        "mutants": len(statuses),
        "killed": killed,
        "killed_cold_only": len(survivors) - len(confirmed),
        "timeouts": sum(status == "timeout" for status in statuses.values()),
        "survived": diffs,
        "seconds": round(time.monotonic() - started),
        "commit": commit,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _write(results: dict[str, dict[str, object]]) -> None:
    SCRATCH.mkdir(parents=True, exist_ok=True)
    (SCRATCH / "results.json").write_text(json.dumps(results, indent=2))
    lines = [
        "# Mutation testing: the latest results",
        "",
        "Written by `make mutation` (`python -m mutation`); what the numbers mean and why each",
        "survivor is judged equivalent or left: docs/mutation.md.",
        "",
        "| module | source | mutants | killed | survived | killed % | minutes | run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results.values():
        mutants, killed = int(str(result["mutants"])), int(str(result["killed"]))
        share = f"{100 * killed / mutants:.1f}" if mutants else "-"
        functions = result.get("functions") or []
        assert isinstance(functions, list)
        only = f" ({', '.join(functions)})" if functions else ""
        lines.append(
            f"| {result['module']} | `{result['source']}`{only} | {mutants} | {killed} | "
            f"{mutants - killed} | {share} | {int(str(result['seconds'])) / 60:.1f} | "
            f"{result.get('when', '')} {result.get('commit', '')} |"
        )
    for result in results.values():
        survived = result["survived"]
        assert isinstance(survived, dict)
        if not survived:
            continue
        lines += ["", f"## {result['module']}: survivors", ""]
        for name, diff in survived.items():
            lines += [f"`{name}`", "", "```diff", diff, "```", ""]
    REPORT.write_text("\n".join(lines).rstrip() + "\n")


_ROW = re.compile(
    r"^\| (?P<module>[\w-]+) \| `(?P<source>[^`]+)`(?: \((?P<functions>[^)]*)\))? \| "
    r"(?P<mutants>\d+) \| (?P<killed>\d+) \| \d+ \| [\d.-]+ \| (?P<minutes>[\d.]+) \| "
    r"(?:(?P<when>\d{4}-\d\d-\d\d \d\d:\d\d UTC) )?(?P<commit>\w*) *\|$"
)


def _from_report() -> dict[str, dict[str, object]]:
    """The results as the committed report gives them (a fresh checkout has no results.json),
    so that a run of some modules keeps the others' figures and survivors."""
    if not REPORT.exists():
        return {}
    results: dict[str, dict[str, object]] = {}
    section: dict[str, str] | None = None
    name = ""
    diff: list[str] | None = None
    for line in REPORT.read_text().splitlines():
        if row := _ROW.match(line):
            functions = row["functions"]
            results[row["module"]] = {
                "module": row["module"],
                "source": row["source"],
                "functions": functions.split(", ") if functions else [],
                "mutants": int(row["mutants"]),
                "killed": int(row["killed"]),
                "survived": {},
                "seconds": round(float(row["minutes"]) * 60),
                "when": row["when"] or "",
                "commit": row["commit"],
            }
        elif line.startswith("## ") and line.endswith(": survivors"):
            survived = results[line[3 : -len(": survivors")]]["survived"]
            assert isinstance(survived, dict)
            section = survived
        elif section is not None and line == "```diff":
            diff = []
        elif section is not None and diff is None and line.startswith("`"):
            name = line.strip("`")
        elif section is not None and diff is not None and line == "```":
            section[name] = "\n".join(diff)
            diff = None
        elif diff is not None:
            diff.append(line)
    return results


def main(argv: list[str]) -> int:
    confirm = "--confirm" in argv
    names = [arg for arg in argv if arg != "--confirm"]
    chosen = [module for module in CORE if not names or module.name in names]
    previous = SCRATCH / "results.json"
    results: dict[str, dict[str, object]] = (
        json.loads(previous.read_text()) if previous.exists() else _from_report()
    )
    for module in chosen:
        print(f"mutation: {module.name} ({module.source})", flush=True)
        results[module.name] = run(module, confirm=confirm)
        result = results[module.name]
        print(
            f"mutation: {module.name}: {result['killed']} of {result['mutants']} killed",
            flush=True,
        )
        _write({m.name: results[m.name] for m in CORE if m.name in results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
