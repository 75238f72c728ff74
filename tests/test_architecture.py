"""The architecture is executable: the import contracts of pyproject.toml
(``[tool.importlinter]``, drawn in docs/architecture.md) hold for the tree, and each breaks when
the rule it names is broken (in a copy of the tree with one import added)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


PLUGIN_CONTRACTS = Path("tests") / "plugin_cave" / "importlinter.toml"


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    """Both sets of contracts, as `make lint` runs them: the product's (pyproject.toml, plain
    ``lint-imports`` with only ``src`` on the path) and the test plugin's; one exit status (the
    worse) and both reports."""
    runs = [
        subprocess.run(
            [str(LINT_IMPORTS), "--no-cache", *config],
            cwd=root,
            env={**os.environ, "PYTHONPATH": path},
            capture_output=True,
            text=True,
            check=False,
        )
        for config, path in (
            ((), str(root / "src")),
            (("--config", str(PLUGIN_CONTRACTS)), f"{root / 'src'}{os.pathsep}{root / 'tests'}"),
        )
    ]
    return subprocess.CompletedProcess(
        runs[0].args,
        max(run.returncode for run in runs),
        "".join(run.stdout for run in runs),
        "".join(run.stderr for run in runs),
    )


def test_the_tree_keeps_every_contract() -> None:
    result = lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("0 broken") == 2, result.stdout  # the product's and the plugin's


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        (
            "src/journalloft/platform/plugins/registry.py",
            "import journalloft.faces.fhir.routes",
            "The platform imports no face",
        ),
        (
            "src/journalloft/services/diagnoser/fhir.py",
            "import journalloft.platform.core.errors",
            "A service imports only its door",
        ),
        (
            "src/journalloft/services/diagnoser/board.py",
            "import journalloft.services.news2.scoring",
            "Services are independent",
        ),
        (
            "src/journalloft/faces/fhir/resources.py",
            "import journalloft.platform.operations.sharing",
            "A face imports no service and the platform only through its door",
        ),
        (
            "src/journalloft/faces/fhir/searchset.py",
            "import journalloft.services.news2.scoring",
            "No face reaches a service's internals",
        ),
        (
            "src/journalloft/faces/fhir/search.py",
            "import journalloft.plugin",
            "Layers",
        ),
        (
            "src/journalloft/board/state.py",
            "import journalloft.platform.auth.keys",
            "The board is a client",
        ),
        (
            "src/journalloft/board/app.py",
            "import journalloft.platform.core.json_reader",
            "The board is a client",
        ),
        (
            "src/journalloft/client.py",
            "import journalloft.platform.face",
            "A client's token and DPoP helpers import nothing of the platform",
        ),
        (
            "src/journalloft/platform/live/hub.py",
            "import journalloft.platform.operations.stream_reads",
            "No import cycle",
        ),
        (
            "src/journalloft/app.py",
            "import plugin_cave.board",
            "Nothing of journalloft imports the test plugin",
        ),
        (
            "tests/plugin_cave/board.py",
            "import journalloft.platform.plugins.registry",
            "The test plugin, as a service, imports only its door",
        ),
    ],
)
def test_a_contract_breaks_when_its_rule_is_broken(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    shutil.copytree(REPO / "tests" / "plugin_cave", tmp_path / "tests" / "plugin_cave")
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    target = tmp_path / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", "utf-8")
    result = lint(tmp_path)
    assert result.returncode == 1, result.stdout
    report = " ".join(result.stdout.split())  # the report wraps long names
    verdict = report[report.index(contract) :].split(" KEPT")[0].split(" BROKEN")
    assert len(verdict) == 2, f"{contract!r} is not broken: {result.stdout}"
