"""Bad workbooks: every problem located as ``sheet:row:column: message``, all at once,
exit code 2 from the command line, no traceback, and nothing written.

Each case builds a small file and states, by hand, the exact lines DATA.md's rules call
for. Rows are numbered as a spreadsheet shows them (the header is row 1).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from exchange_workbooks import (
    VALID_COUNTS,
    Sheets,
    add_row,
    audit_count,
    cli_in_process,
    set_cell,
    table_counts,
    valid_sheets,
    write_csv_folder,
    write_xlsx,
)

from kyphos.exchange.importer import ImportFailed, import_workbook
from kyphos.registry.repository import Registry

EMPTY_COUNTS = dict.fromkeys(VALID_COUNTS, 0)
SHEET_NAMES = "patients, identity, vertebrae, procedures, visits, measurements, adverse_events"
NOT_A_LEVEL = "is not a vertebral level kyphos records (C7, T1–T12, L1–L5)"
EVENT_TYPES = (
    "adjacent_fracture, remote_fracture, refracture, cement_embolism, infection, "
    "neurologic_deficit, death, other"
)


@dataclass(frozen=True)
class Case:
    """A bad workbook, built in a folder, and the problem lines it must produce."""

    build: Callable[[Path], Path]
    expected: tuple[str | re.Pattern[str], ...]


def _csv(change: Callable[[Sheets], None]) -> Callable[[Path], Path]:
    """The valid workbook as a CSV folder, after ``change``."""

    def build(folder: Path) -> Path:
        sheets = valid_sheets()
        change(sheets)
        return write_csv_folder(folder / "workbook", sheets)

    return build


def _xlsx(change: Callable[[Sheets], None]) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        sheets = valid_sheets()
        change(sheets)
        folder.mkdir(parents=True, exist_ok=True)
        return write_xlsx(folder / "workbook.xlsx", sheets)

    return build


def _with_colours_csv(folder: Path) -> Path:
    target = write_csv_folder(folder / "workbook", valid_sheets())
    (target / "colours.csv").write_text("colour\nred\n", encoding="utf-8")
    return target


def _drop_column(sheet: str, name: str) -> Callable[[Sheets], None]:
    def change(sheets: Sheets) -> None:
        position = sheets[sheet][0].index(name)
        for row in sheets[sheet]:
            del row[position]

    return change


def _rename_column(sheet: str, old: str, new: str) -> Callable[[Sheets], None]:
    def change(sheets: Sheets) -> None:
        header = sheets[sheet][0]
        header[header.index(old)] = new

    return change


def _cell(sheet: str, row: int, name: str, value: str) -> Callable[[Sheets], None]:
    return lambda sheets: set_cell(sheets, sheet, row, name, value)


def _row(sheet: str, **values: str) -> Callable[[Sheets], None]:
    def change(sheets: Sheets) -> None:
        add_row(sheets, sheet, **values)

    return change


def _blank_visit_row_then_vas_11(sheets: Sheets) -> None:
    sheets["visits"].insert(1, [""] * len(sheets["visits"][0]))  # row 2 is empty now
    set_cell(sheets, "visits", 9, "vas", "11")  # KT-003 preop, moved from row 8 to row 9


def _three_sheets(sheets: Sheets) -> None:
    add_row(sheets, "vertebrae", patient_id="KT-003", level="T13", treated="no")  # row 8
    set_cell(sheets, "visits", 8, "vas", "11")
    set_cell(sheets, "adverse_events", 3, "type", "fall")


def _empty_xlsx(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "book.xlsx"
    target.write_bytes(b"")
    return target


def _text_named_xlsx(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "book.xlsx"
    target.write_text("patient_id,sex,age\nKT-001,F,72\n", encoding="utf-8")
    return target


def _xlsx_with_default_sheet(folder: Path) -> Path:
    from openpyxl import load_workbook

    target = _xlsx(lambda sheets: None)(folder)
    book = load_workbook(target)
    book.create_sheet("Sheet")
    book.save(target)
    return target


def _empty_patients_csv(folder: Path) -> Path:
    target = write_csv_folder(folder / "workbook", valid_sheets())
    (target / "patients.csv").write_bytes(b"")
    return target


def _no_patients_csv(folder: Path) -> Path:
    target = write_csv_folder(folder / "workbook", valid_sheets())
    (target / "patients.csv").unlink()
    return target


def _utf16_patients_csv(folder: Path) -> Path:
    """Excel's "Unicode text": UTF-16 with a byte-order mark; neither UTF-8 nor GB18030."""
    target = write_csv_folder(folder / "workbook", valid_sheets())
    text = (target / "patients.csv").read_text(encoding="utf-8")
    (target / "patients.csv").write_bytes(text.encode("utf-16"))
    return target


NUL_REFUSED = "contains a NUL character (\\x00), which cannot be stored; remove it"

CASES: dict[str, Case] = {
    "unknown_sheet": Case(
        _with_colours_csv,
        (f"colours: unknown sheet (the workbook's sheets are {SHEET_NAMES})",),
    ),
    "xlsx_with_a_leftover_default_sheet": Case(
        _xlsx_with_default_sheet,
        (f"Sheet: unknown sheet (the workbook's sheets are {SHEET_NAMES})",),
    ),
    "unknown_column": Case(
        _csv(_rename_column("adverse_events", "serious", "severity")),
        (
            "adverse_events:1:severity: unknown column (the adverse_events sheet has: "
            "patient_id, event_date, type, level, serious, related, description)",
        ),
    ),
    "missing_required_column": Case(
        _csv(_drop_column("adverse_events", "type")),
        ("adverse_events:1:type: a required column is missing",),
    ),
    "duplicate_patient_id": Case(
        _csv(_row("patients", patient_id="KT-002", sex="F", age="70")),  # row 5
        ("patients:5:patient_id: duplicate of row 3 (same patient_id)",),
    ),
    "same_vertebra_spelled_differently": Case(
        _csv(_row("vertebrae", patient_id="KT-001", level="t 12", treated="yes")),  # row 8
        ("vertebrae:8:level: duplicate of row 2 (same patient_id, level)",),
    ),
    "level_T13": Case(
        _csv(_row("vertebrae", patient_id="KT-003", level="T13", treated="no")),  # row 8
        (f"vertebrae:8:level: T13 {NOT_A_LEVEL}",),
    ),
    "vas_11": Case(
        _csv(_cell("visits", 8, "vas", "11")),
        ("visits:8:vas: 11 is not a VAS score (0–10 cm)",),
    ),
    "blank_rows_still_count_in_csv": Case(
        _csv(_blank_visit_row_then_vas_11),
        ("visits:9:vas: 11 is not a VAS score (0–10 cm)",),
    ),
    "blank_rows_still_count_in_xlsx": Case(
        _xlsx(_blank_visit_row_then_vas_11),
        ("visits:9:vas: 11 is not a VAS score (0–10 cm)",),
    ),
    "odi_item_6": Case(
        _csv(_cell("visits", 8, "odi_3", "6")),
        ("visits:8:odi_3: 6 is not an ODI answer (0–5)",),
    ),
    # PostgreSQL refuses NUL in text: a study code holding one once failed the lookup of
    # the patients with a 500 on the web import; it is refused as a cell like any other.
    "nul_in_a_study_code": Case(
        _csv(_cell("visits", 8, "patient_id", "KT-0\x0001")),
        (f"visits:8:patient_id: {NUL_REFUSED}",),
    ),
    "nul_in_free_text": Case(
        _csv(_cell("patients", 3, "comorbidities", "diabetes\x00")),
        (f"patients:3:comorbidities: {NUL_REFUSED}",),
    ),
    "date_in_wrong_format": Case(
        _csv(_cell("visits", 9, "visit_date", "31/05/2010")),
        ("visits:9:visit_date: '31/05/2010' is not a date in the form YYYY-MM-DD",),
    ),
    "visit_before_the_index_procedure": Case(
        _csv(_cell("visits", 6, "visit_date", "2011-01-10")),  # KT-002 postop
        (
            "visits:6:visit_date: 2011-01-10 is before the index procedure (2011-01-15) of "
            "patient 'KT-002' (postop visit)",
        ),
    ),
    "measurement_of_a_vertebra_that_does_not_exist": Case(
        _csv(
            _row("measurements", patient_id="KT-001", level="T9", timepoint="postop", observer="ZL")
        ),  # row 8
        ("measurements:8:level: vertebra T9 of patient 'KT-001' is not in the vertebrae sheet",),
    ),
    "procedure_for_an_untreated_vertebra": Case(
        _csv(
            _row(
                "procedures",
                patient_id="KT-001",
                level="T10",
                procedure_date="2010-06-01",
                anaesthesia="local",
                operator="Dr Li",
            )
        ),  # row 7; T10 is in the vertebrae sheet with treated = no
        (
            "procedures:7:level: vertebra T10 of patient 'KT-001' is not marked treated "
            "(vertebrae sheet: treated = yes)",
        ),
    ),
    "two_adjudicator_readings": Case(
        _csv(
            _row(
                "measurements",
                patient_id="KT-001",
                level="T12",
                timepoint="preop",
                observer="ZL",
                role="adjudicator",
            )
        ),  # row 8; HY's adjudicator reading of T12 preop is row 4
        (
            "measurements:8:role: a second adjudicator reading for this vertebra and time "
            "point (row 4)",
        ),
    ),
    "levels_of_one_procedure_date_with_different_anaesthesia": Case(
        _csv(_cell("procedures", 3, "anaesthesia", "general")),  # KT-001 L1; T12 is row 2
        (
            "procedures:3:anaesthesia: 'general' differs from row 2 ('local'); all levels of "
            "one procedure date share it",
        ),
    ),
    "fracture_without_a_level": Case(
        _csv(
            _row("adverse_events", patient_id="KT-001", event_date="2010-10-01", type="refracture")
        ),  # row 4
        ("adverse_events:4:level: required for refracture",),
    ),
    "three_problems_in_three_sheets": Case(
        _csv(_three_sheets),
        (
            f"vertebrae:8:level: T13 {NOT_A_LEVEL}",
            "visits:8:vas: 11 is not a VAS score (0–10 cm)",
            f"adverse_events:3:type: 'fall' is not one of: {EVENT_TYPES}",
        ),
    ),
    "empty_xlsx_file": Case(_empty_xlsx, ("book.xlsx: the file is empty (0 bytes)",)),
    "text_file_named_xlsx": Case(
        _text_named_xlsx,
        (re.compile(r"book\.xlsx: not an \.xlsx workbook .*'Excel Workbook \(\.xlsx\)'.*CSV.*"),),
    ),
    "empty_patients_csv": Case(
        _empty_patients_csv, ("patients: patients.csv is empty (expected a header row)",)
    ),
    "no_patients_sheet": Case(
        _no_patients_csv,
        ("patients: the sheet is missing (every workbook has a patients sheet)",),
    ),
    "csv_neither_utf8_nor_gb18030": Case(
        _utf16_patients_csv,
        ("patients: patients.csv is not UTF-8 text; save it as 'CSV UTF-8' and import again",),
    ),
}


def assert_lines(
    actual: list[str] | tuple[str, ...], expected: tuple[str | re.Pattern[str], ...]
) -> None:
    """The same lines in any order (a pattern must match a whole line)."""
    assert len(actual) == len(expected), actual
    for line, want in zip(sorted(actual), sorted(expected, key=_sort_key), strict=True):
        if isinstance(want, re.Pattern):
            assert want.fullmatch(line), (line, want.pattern)
        else:
            assert line == want


def _sort_key(want: str | re.Pattern[str]) -> str:
    return want.pattern if isinstance(want, re.Pattern) else want


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_bad_workbook_is_refused_by_the_cli_with_located_lines_and_nothing_written(
    case: Case, registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``kyphos import`` through ``kyphos.cli.main``, the console script's entry point."""
    path = case.build(tmp_path / "input")
    events_before = audit_count(registry)

    result = cli_in_process(capsys, "import", path)

    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.out + result.err
    assert_lines(result.errors, case.expected)
    assert result.other_stderr == []
    assert table_counts(registry) == EMPTY_COUNTS
    assert audit_count(registry) == events_before


def test_the_import_api_raises_every_problem_at_once_and_the_registry_stays_usable(
    registry: Registry, tmp_path: Path
) -> None:
    bad = CASES["three_problems_in_three_sheets"]
    path = bad.build(tmp_path / "bad")

    for _ in range(2):  # twice: a failed import must leave nothing behind that blocks the next
        with pytest.raises(ImportFailed) as failure:
            import_workbook(registry, path)
        assert_lines(failure.value.problems, bad.expected)
        with pytest.raises(ImportFailed):
            import_workbook(registry, path, dry_run=True)

    import_workbook(registry, write_csv_folder(tmp_path / "good", valid_sheets()))
    assert table_counts(registry) == VALID_COUNTS


SUBPROCESS_CASES = (
    "text_file_named_xlsx",
    "csv_neither_utf8_nor_gb18030",
    "three_problems_in_three_sheets",
)
"""Through a real ``python -m kyphos`` process: each kind of failure (the file itself, its
encoding, its cells). Every case of CASES runs through the same ``main()`` in-process above."""


def test_bad_workbooks_exit_2_from_the_kyphos_command_without_a_traceback(
    registry: Registry, tmp_path: Path, kyphos_cli
) -> None:
    events_before = audit_count(registry)
    paths = {name: CASES[name].build(tmp_path / name) for name in SUBPROCESS_CASES}

    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        results = dict(
            zip(paths, pool.map(lambda p: kyphos_cli("import", p), paths.values()), strict=True)
        )

    for name, result in results.items():
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        assert "Traceback" not in result.stdout + result.stderr, name
        lines = result.stderr.splitlines()
        problems = [line[len("error: ") :] for line in lines if line.startswith("error: ")]
        assert_lines(problems, CASES[name].expected)
        assert all(line.startswith("error: ") for line in lines), name
    assert table_counts(registry) == EMPTY_COUNTS
    assert audit_count(registry) == events_before
