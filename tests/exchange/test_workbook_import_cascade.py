"""A refused row or an unreadable sheet is reported once, not again by every row that
refers to it."""

from __future__ import annotations

from pathlib import Path

import pytest
from exchange_workbooks import set_cell, valid_sheets, write_csv_folder

from kyphos.exchange.importer import ImportFailed, import_workbook
from kyphos.registry.repository import Registry


def test_a_refused_patient_row_is_not_reported_again_by_the_rows_that_refer_to_it(
    registry: Registry, tmp_path: Path
) -> None:
    sheets = valid_sheets()
    # Row 2 of the patients sheet is KT-001, whom every other sheet refers to.
    set_cell(sheets, "patients", 2, "sex", "X")
    folder = write_csv_folder(tmp_path / "workbook", sheets)
    with pytest.raises(ImportFailed) as failed:
        import_workbook(registry, folder)
    assert failed.value.problems == ("patients:2:sex: 'X' is not one of: M, F",)


def test_an_unreadable_patients_sheet_is_the_only_problem_reported(
    registry: Registry, tmp_path: Path
) -> None:
    sheets = valid_sheets()
    header = sheets["patients"][0]
    header[header.index("sex")] = "gender"
    folder = write_csv_folder(tmp_path / "workbook", sheets)
    with pytest.raises(ImportFailed) as failed:
        import_workbook(registry, folder)
    problems = failed.value.problems
    assert problems[0].startswith("patients:1:gender: unknown column")
    assert problems[1] == "patients:1:sex: a required column is missing"
    assert len(problems) == 2
