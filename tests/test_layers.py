"""The clinical layer stays pure: no other kyphos layer, nothing heavier than numpy/PyYAML."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import kyphos.clinical

CLINICAL = Path(kyphos.clinical.__file__).parent
ALLOWED_THIRD_PARTY = {"numpy", "yaml"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_clinical_layer_imports_only_itself_stdlib_numpy_and_yaml() -> None:
    offenders: list[str] = []
    for path in sorted(CLINICAL.rglob("*.py")):
        for module in _imported_modules(path):
            top = module.split(".")[0]
            if top == "kyphos":
                if not module.startswith("kyphos.clinical"):
                    offenders.append(f"{path.name}: {module}")
            elif top not in sys.stdlib_module_names and top not in ALLOWED_THIRD_PARTY:
                offenders.append(f"{path.name}: {module}")
    assert offenders == []


def test_the_layer_check_would_notice_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import sqlalchemy\nfrom kyphos.registry import db\n", encoding="utf-8")
    assert _imported_modules(sample) == {"sqlalchemy", "kyphos.registry"}
