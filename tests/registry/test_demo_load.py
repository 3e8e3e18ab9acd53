"""Loading the demo cohort: through the importer, marked demo, never over real patients."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kyphos.demo import load_demo
from kyphos.errors import KyphosError
from kyphos.exchange.importer import import_workbook
from kyphos.registry.models import Patient, RegistryInfo
from kyphos.registry.repository import Registry


def _patients(registry: Registry) -> int:
    with registry.read() as session:
        return int(session.execute(select(func.count()).select_from(Patient)).scalar_one())


def test_demo_refuses_a_demo_registry_that_real_patients_were_imported_into(
    registry: Registry, tmp_path: Path
) -> None:
    load_demo(registry, patients=5)
    with registry.read() as session:
        info = session.get(RegistryInfo, 1)
        assert info is not None and info.demo
    folder = tmp_path / "real"
    folder.mkdir()
    (folder / "patients.csv").write_text("patient_id,sex,age\nBJ-001,F,70\n", encoding="utf-8")
    import_workbook(registry, folder)
    assert _patients(registry) == 6

    with pytest.raises(KyphosError, match="holds 1 real patients"):
        load_demo(registry, patients=5, seed=99)
    assert _patients(registry) == 6


def test_demo_loads_again_without_changes(registry: Registry) -> None:
    load_demo(registry, patients=5)
    report = load_demo(registry, patients=5)
    assert report.counts["patients"].created == 0
    assert report.counts["patients"].unchanged == 5
    assert _patients(registry) == 5


def test_a_command_line_usage_error_is_one_error_line(
    kyphos_cli: Callable[..., Any], registry: Registry
) -> None:
    result = kyphos_cli("demo", "--patients", "0")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: Invalid value for '--patients'")
    assert lines[0].endswith("(see `kyphos demo --help`)")
