"""``make mutation``'s targets name files that exist: a module moved without its entry in
``mutation/__main__.py`` would make that run mutate nothing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


def _mutation() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "mutation_main", REPO / "mutation" / "__main__.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


CORE = _mutation().CORE


@pytest.mark.parametrize("target", CORE, ids=[target.name for target in CORE])
def test_each_mutation_target_names_a_source_and_tests_that_exist(target: Any) -> None:
    assert (REPO / target.source).is_file(), f"{target.name}: no {target.source}"
    missing = [test for test in target.tests if not (REPO / test).is_file()]
    assert not missing, f"{target.name}: no {missing}"
