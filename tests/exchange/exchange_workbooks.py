"""A small canonical workbook (DATA.md §1) written by hand, and ways to put it on disk.

The workbook is kept as plain tables of cell text (header first) so each test can change
one cell and say exactly which problem it expects, at which ``sheet:row:column``. Row
numbers are spreadsheet rows: the header is row 1, so ``rows[n]`` of a table is row
``n + 1``. Nothing here calls kyphos: the files are what a user would type.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import text

from kyphos.config import Settings
from kyphos.registry.repository import Registry, init_registry

Table = list[list[str]]
Sheets = dict[str, Table]

FORMULA = '=HYPERLINK("http://x","y")'
"""Text a spreadsheet would evaluate; kyphos must store it as text."""
NAME = "王秀英"
HOSPITAL_NUMBER = "H0012345"
PHONE = "13800138000"
EMBOLISM_NOTE = "无症状骨水泥肺栓塞"

ODI = [f"odi_{n}" for n in range(1, 11)]

_VALID: Sheets = {
    "patients": [
        [
            "patient_id",
            "site",
            "sex",
            "age",
            "birth_date",
            "height_cm",
            "weight_kg",
            "bmd_t_score",
            "comorbidities",
            "injury_mechanism",
            "injury_date",
            "symptom_onset_date",
        ],
        # row 2
        [
            "KT-001",
            "",
            "F",
            "72",
            "",
            "158",
            "55.5",
            "-3.2",
            "diabetes; hypertension",
            "fall_walking",
            "2010-05-20",
            "2010-05-22",
        ],
        # row 3
        ["KT-002", "MAIN", "男", "95", "", "170", "68", "-2.5", "none", "lifting", "", ""],
        # row 4
        ["KT-003", "", "女", "", "1940-06-15", "", "", "", "", "", "", ""],
    ],
    "identity": [
        ["patient_id", "full_name", "hospital_number", "phone"],
        ["KT-001", NAME, HOSPITAL_NUMBER, PHONE],  # row 2
        ["KT-002", FORMULA, "H0067890", ""],  # row 3
    ],
    "vertebrae": [
        [
            "patient_id",
            "level",
            "mri_t1",
            "mri_t2",
            "mri_stir",
            "posterior_wall_intact",
            "morphology",
            "treated",
        ],
        ["KT-001", "T 12", "low", "high", "high", "yes", "wedge", "yes"],  # row 2
        ["KT-001", "l1", "iso", "high", "high", "是", "biconcave", "1"],  # row 3
        ["KT-001", "T10", "", "", "", "", "crush", "no"],  # row 4
        ["KT-002", "t12", "low", "high", "high", "y", "wedge", "true"],  # row 5
        ["KT-002", "L2", "", "", "", "n", "crush", "yes"],  # row 6
        ["KT-003", "L1", "", "", "", "", "", "Y"],  # row 7
    ],
    "procedures": [
        [
            "patient_id",
            "level",
            "procedure_date",
            "technique",
            "approach",
            "anaesthesia",
            "cement_volume_ml",
            "leakage",
            "leakage_symptomatic",
            "duration_min",
            "operator",
        ],
        # row 2, 3: one procedure of two levels
        [
            "KT-001",
            "T12",
            "2010-06-01",
            "",
            "bipedicular",
            "local",
            "4.5",
            "intradiscal;anterior",
            "no",
            "35",
            "Dr Li",
        ],
        [
            "KT-001",
            "L1",
            "2010-06-01",
            "vertebroplasty",
            "unipedicular",
            "local",
            "3",
            "none",
            "",
            "40",
            "Dr Li",
        ],
        # row 4: KT-002's second procedure comes first in the file; row 5 is the index one
        [
            "KT-002",
            "T12",
            "2011-03-10",
            "kyphoplasty",
            "bipedicular",
            "general",
            "5",
            "",
            "",
            "50",
            "Dr Wu",
        ],
        ["KT-002", "L2", "2011-01-15", "", "", "local", "2.5", "venous; epidural", "yes", "30", ""],
        # row 6
        ["KT-003", "L1", "2012-09-09", "", "unipedicular", "general", "6", "NONE", "", "45.5", ""],
    ],
    "visits": [
        ["patient_id", "timepoint", "visit_date", "vas", *ODI, "odi_version", "odi_language"],
        # row 2
        [
            "KT-001",
            "preop",
            "2010-05-31",
            "8.5",
            *["4", "3", "4", "3", "3", "4", "3", "_", "3", "4"],
            "",
            "zh",
        ],
        # row 3
        [
            "KT-001",
            "postop",
            "2010-06-02",
            "3",
            *["2", "1", "2", "2", "1", "2", "1", "_", "1", "2"],
            "2.1a",
            "zh",
        ],
        # row 4
        [
            "KT-001",
            "m3",
            "2010-09-01",
            "2.1",
            *["1", "0", "1", "1", "1", "1", "0", "_", "0", "1"],
            "",
            "en",
        ],
        # row 5
        ["KT-002", "preop", "", "7", *["_", "_", "_", "_", "_", "_", "_", "_", "_", "_"], "", ""],
        # row 6
        [
            "KT-002",
            "postop",
            "2011-01-16",
            "4.0",
            *["2", "2", "2", "2", "2", "2", "2", "2", "2", "2"],
            "",
            "",
        ],
        # row 7
        [
            "KT-002",
            "m12",
            "2012-01-20",
            "1.5",
            *["0", "0", "0", "0", "0", "0", "0", "0", "0", "0"],
            "",
            "",
        ],
        # row 8
        [
            "KT-003",
            "preop",
            "2012-09-08",
            "9",
            *["5", "4", "5", "4", "4", "5", "4", "_", "5", "5"],
            "",
            "",
        ],
        # row 9
        [
            "KT-003",
            "w2",
            "2012-09-23",
            "2",
            *["1", "1", "1", "1", "1", "1", "1", "_", "1", "1"],
            "",
            "",
        ],
    ],
    "measurements": [
        [
            "patient_id",
            "level",
            "timepoint",
            "observer",
            "role",
            "anterior_height_mm",
            "middle_height_mm",
            "posterior_height_mm",
            "wedge_angle_deg",
            "kyphotic_angle_deg",
        ],
        ["KT-001", "T12", "preop", "ZL", "", "18.5", "16", "27", "17.5", "21"],  # row 2
        ["KT-001", "T12", "preop", "WX", "primary", "19", "16.5", "27.5", "16", "20.5"],  # 3
        ["KT-001", "T12", "preop", "HY", "adjudicator", "18.8", "16.2", "27.2", "16.8", "20.8"],
        ["KT-001", "T12", "postop", "ZL", "", "22", "21", "27.5", "9.5", "12"],  # row 5
        ["KT-001", "l1", "postop", "ZL", "", "24", "23.5", "28", "4", "-4.5"],  # row 6
        ["KT-002", "T 12", "postop", "WX", "", "20", "19", "26", "-2", "3"],  # row 7
    ],
    "adverse_events": [
        ["patient_id", "event_date", "type", "level", "serious", "related", "description"],
        # row 2: T11 is a new fracture, not in the vertebrae sheet
        ["KT-001", "2010-09-15", "adjacent_fracture", "T11", "yes", "yes", FORMULA],
        # row 3
        ["KT-002", "2011-02-01", "cement_embolism", "", "no", "unknown", EMBOLISM_NOTE],
    ],
}
for _row in _VALID["visits"][1:]:
    _row[:] = ["" if cell == "_" else cell for cell in _row]

DATA_TABLES = (
    "patient",
    "patient_identity",
    "vertebra",
    "procedure",
    "treated_level",
    "visit",
    "measurement",
    "adverse_event",
)
VALID_COUNTS = {
    "patient": 3,
    "patient_identity": 2,
    "vertebra": 6,
    "procedure": 4,  # KT-001 one date, KT-002 two dates, KT-003 one date
    "treated_level": 5,
    "visit": 8,
    "measurement": 6,
    "adverse_event": 2,
}

# Cells that stay text in the xlsx version (codes and identifiers that look like numbers).
_TEXT_COLUMNS = frozenset(
    {"patient_id", "full_name", "hospital_number", "phone", "observer", "operator", "description"}
)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def valid_sheets() -> Sheets:
    """A fresh copy of the valid workbook (tests change cells in it)."""
    return copy.deepcopy(_VALID)


def column(sheets: Sheets, sheet: str, name: str) -> int:
    return sheets[sheet][0].index(name)


def set_cell(sheets: Sheets, sheet: str, row: int, name: str, value: str) -> None:
    """Set the cell at spreadsheet row ``row`` (the header is row 1) of column ``name``."""
    sheets[sheet][row - 1][column(sheets, sheet, name)] = value


def add_row(sheets: Sheets, sheet: str, **values: str) -> int:
    """Append a row (missing columns empty); return its spreadsheet row number."""
    header = sheets[sheet][0]
    unknown = set(values) - set(header)
    if unknown:
        raise KeyError(unknown)
    sheets[sheet].append([values.get(name, "") for name in header])
    return len(sheets[sheet])


def csv_text(table: Table) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(table)
    return buffer.getvalue()


def write_csv_folder(folder: Path, sheets: Sheets, encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in sheets.items():
        (folder / f"{name}.csv").write_bytes(csv_text(table).encode(encoding))
    return folder


def _typed(name: str, cell: str) -> Any:
    """The cell as a spreadsheet holds it: numbers as numbers, dates as dates."""
    if cell == "":
        return None
    if name in _TEXT_COLUMNS:
        return cell
    if _NUMBER.match(cell):
        number = float(cell)
        return int(number) if number.is_integer() and "." not in cell else number
    if _DATE.match(cell):
        return dt.date.fromisoformat(cell)
    return cell


def write_xlsx(path: Path, sheets: Sheets) -> Path:
    """The workbook as an .xlsx file, cells typed as a spreadsheet would type them."""
    book = Workbook()
    book.remove(book.active)
    for name, table in sheets.items():
        sheet = book.create_sheet(name)
        header = table[0]
        sheet.append(header)
        for row_number, row in enumerate(table[1:], start=2):
            for column_number, (title, cell) in enumerate(zip(header, row, strict=True), 1):
                target = sheet.cell(row=row_number, column=column_number)
                target.value = _typed(title, cell)
                if isinstance(target.value, str) and target.value.startswith("="):
                    target.data_type = "s"  # typed as text ('=…), not a formula
    book.save(path)
    return path


def xlsx_values(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every sheet's cell values (openpyxl, values only)."""
    book = load_workbook(path, read_only=True)
    try:
        return {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}
    finally:
        book.close()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# --- looking into the database (raw SQL, not kyphos's helpers) ------------------------------


def scalar(registry: Registry, sql: str, **params: Any) -> Any:
    with registry.engine.connect() as connection:
        return connection.execute(text(sql), params).scalar_one()


def rows(registry: Registry, sql: str, **params: Any) -> list[dict[str, Any]]:
    with registry.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(sql), params)]


def table_counts(registry: Registry) -> dict[str, int]:
    """Rows in every data table (not the audit trail)."""
    return {
        table: int(scalar(registry, f'SELECT count(*) FROM "{table}"')) for table in DATA_TABLES
    }


def audit_count(registry: Registry) -> int:
    return int(scalar(registry, "SELECT count(*) FROM audit_event"))


def audit_events(registry: Registry, after_id: int = 0) -> list[dict[str, Any]]:
    events = rows(
        registry,
        "SELECT id, action, entity, entity_key, before, after FROM audit_event "
        "WHERE id > :after_id ORDER BY id",
        after_id=after_id,
    )
    for event in events:
        for side in ("before", "after"):
            event[f"{side}_json"] = None if event[side] is None else json.loads(event[side])
    return events


def last_audit_id(registry: Registry) -> int:
    return int(scalar(registry, "SELECT coalesce(max(id), 0) FROM audit_event"))


def second_registry(home: Path) -> Registry:
    """Another, empty registry on SQLite in ``home`` (for round trips)."""
    settings = Settings(home=home, database_url=None, secret_key=None, lang="en")
    init_registry(settings)
    return Registry.open(settings)


# --- the command line, in this process (same entry point as the console script) ------------


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    @property
    def errors(self) -> list[str]:
        """The problems on stderr, without the ``error: `` prefix."""
        return [
            line[len("error: ") :] for line in self.err.splitlines() if line.startswith("error: ")
        ]

    @property
    def other_stderr(self) -> list[str]:
        """Stderr lines that are not problem lines (there should be none)."""
        return [line for line in self.err.splitlines() if line and not line.startswith("error: ")]


def cli_in_process(capsys: pytest.CaptureFixture[str], *args: str | Path) -> CliResult:
    """``kyphos ARGS…`` through :func:`kyphos.cli.main`, as the console script runs it."""
    from kyphos.cli import main

    capsys.readouterr()
    try:
        main([str(arg) for arg in args])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    else:
        code = 0
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def stored_values(registry: Registry) -> dict[str, list[tuple[Any, ...]]]:
    """Every data row as typed values keyed by natural keys (no database ids), sorted."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from kyphos.registry.models import (
        AdverseEvent,
        Measurement,
        Patient,
        PatientIdentity,
        Procedure,
        Site,
        TreatedLevel,
        Vertebra,
        Visit,
    )

    def plain(row: Any, skip: tuple[str, ...] = ()) -> tuple[Any, ...]:
        columns = row.__table__.columns
        return tuple(
            getattr(row, c.key)
            for c in columns
            if c.key not in ("id", "version", *skip) and not c.foreign_keys
        )

    with Session(registry.engine) as session:
        code = Patient.study_code
        found = {
            "patient": [
                (site, *plain(p))
                for p, site in session.execute(
                    select(Patient, Site.code).join(Site, Site.id == Patient.site_id)
                )
            ],
            "identity": [
                (c, *plain(i))
                for i, c in session.execute(
                    select(PatientIdentity, code).join(
                        Patient, Patient.id == PatientIdentity.patient_id
                    )
                )
            ],
            "vertebra": [
                (c, *plain(v))
                for v, c in session.execute(
                    select(Vertebra, code).join(Patient, Patient.id == Vertebra.patient_id)
                )
            ],
            "treated_level": [
                (c, level, *plain(p), *plain(t))
                for t, p, level, c in session.execute(
                    select(TreatedLevel, Procedure, Vertebra.level, code)
                    .join(Procedure, Procedure.id == TreatedLevel.procedure_id)
                    .join(Vertebra, Vertebra.id == TreatedLevel.vertebra_id)
                    .join(Patient, Patient.id == Vertebra.patient_id)
                )
            ],
            "visit": [
                (c, *plain(v))
                for v, c in session.execute(
                    select(Visit, code).join(Patient, Patient.id == Visit.patient_id)
                )
            ],
            "measurement": [
                (c, level, timepoint, *plain(m))
                for m, level, timepoint, c in session.execute(
                    select(Measurement, Vertebra.level, Visit.timepoint, code)
                    .join(Vertebra, Vertebra.id == Measurement.vertebra_id)
                    .join(Visit, Visit.id == Measurement.visit_id)
                    .join(Patient, Patient.id == Vertebra.patient_id)
                )
            ],
            "adverse_event": [
                (c, *plain(e))
                for e, c in session.execute(
                    select(AdverseEvent, code).join(Patient, Patient.id == AdverseEvent.patient_id)
                )
            ],
        }
    return {name: sorted(values, key=repr) for name, values in found.items()}
