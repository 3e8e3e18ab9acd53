"""Exporting the registry as the canonical workbook (DATA.md §1), plain or de-identified.

Rows are streamed from the database in natural-key order (patients by study code, then
levels head to tail, time points in protocol order), so the same registry always gives
the same files: export → import into an empty registry → export is byte-identical for
CSV and cell-identical for xlsx. Text that a spreadsheet would evaluate (``=…``) is
written with a leading ``'``, which the importer strips again.

The de-identified variant (``deidentify=True``) is for analysts and is not meant for
re-import: no identity sheet; ``patient_id`` replaced by a keyed pseudonym (HMAC of the
code with the registry's secret, stable across exports of one registry); ``birth_date``
dropped; ages above 89 written as 90; every date column replaced by ``<column>_day``,
days from the patient's index procedure; free text (``description``) dropped; a
``manifest.json`` lists what was removed or transformed.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from kyphos import __version__
from kyphos.clinical.patient import age_on
from kyphos.errors import KyphosError
from kyphos.exchange.schema import SHEETS, Sheet, escape_text, format_value
from kyphos.registry.repository import Registry
from kyphos.registry.sheets import index_dates as registry_index_dates
from kyphos.registry.sheets import sheet_row_count, sheet_rows

XLSX_MAX_ROWS = 1_048_576
"""Rows in one xlsx sheet, the header included."""
DEIDENTIFIED_MAX_AGE = 90
"""Ages above 89 are written as 90 (HIPAA Safe Harbor)."""


@dataclass
class ExportReport:
    path: Path
    format: str
    deidentified: bool
    rows: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        kind = "de-identified " if self.deidentified else ""
        counts = ", ".join(f"{name} {count}" for name, count in self.rows.items())
        return [f"exported a {kind}{self.format} workbook to {self.path}: {counts}"]


# --- de-identification ---------------------------------------------------------------------


def pseudonym(study_code: str, secret: bytes) -> str:
    """The keyed pseudonym of a study code: stable for one registry, useless without its key."""
    digest = hmac.new(secret, f"pseudonym:{study_code}".encode(), hashlib.sha256).hexdigest()
    return f"P{digest[:16]}"


DATE_COLUMNS = {
    "patients": ("injury_date", "symptom_onset_date"),
    "procedures": ("procedure_date",),
    "visits": ("visit_date",),
    "adverse_events": ("event_date",),
}
DROPPED_COLUMNS = {"patients": ("birth_date",), "adverse_events": ("description",)}


def deidentified_columns(sheet: Sheet) -> list[str]:
    columns: list[str] = []
    for name in sheet.column_names:
        if name in DROPPED_COLUMNS.get(sheet.name, ()):
            continue
        columns.append(f"{name}_day" if name in DATE_COLUMNS.get(sheet.name, ()) else name)
    return columns


def deidentify_row(
    sheet: Sheet, row: dict[str, Any], secret: bytes, index_date: dt.date | None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in sheet.column_names:
        value = row[name]
        if name in DROPPED_COLUMNS.get(sheet.name, ()):
            continue
        if name == "patient_id":
            out[name] = pseudonym(value, secret)
        elif name in DATE_COLUMNS.get(sheet.name, ()):
            out[f"{name}_day"] = (
                None if value is None or index_date is None else (value - index_date).days
            )
        elif sheet.name == "patients" and name == "age":
            age = value
            if age is None and row.get("birth_date") is not None and index_date is not None:
                age = age_on(row["birth_date"], index_date)
            out[name] = None if age is None else min(age, DEIDENTIFIED_MAX_AGE)
        else:
            out[name] = value
    return out


def _manifest(report: ExportReport) -> dict[str, Any]:
    return {
        "kyphos_version": __version__,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "variant": "de-identified",
        "not_for_reimport": True,
        "rows": report.rows,
        "removed": {
            "sheets": ["identity"],
            "columns": {sheet: list(cols) for sheet, cols in DROPPED_COLUMNS.items()},
        },
        "transformed": {
            "patient_id": "keyed pseudonym: 'P' + first 16 hex digits of "
            "HMAC-SHA-256(registry secret, 'pseudonym:' + study code); stable across exports "
            "of this registry",
            "age": f"ages above {DEIDENTIFIED_MAX_AGE - 1} written as {DEIDENTIFIED_MAX_AGE}; "
            "computed from birth_date at the index procedure when age was not recorded",
            "dates": {
                sheet: {column: f"{column}_day" for column in cols}
                for sheet, cols in DATE_COLUMNS.items()
            },
            "date_offsets": "days from the patient's index procedure (earliest procedure date); "
            "empty when the patient has no procedure",
        },
    }


# --- writing --------------------------------------------------------------------------------


def _escaped(write: Callable[[Any], str]) -> Callable[[Any], str]:
    return lambda value: escape_text(write(value))


def _writers(sheet: Sheet, columns: list[str]) -> list[tuple[str, Callable[[Any], str]]]:
    """For each output column, the function that writes its cell text."""
    writers: list[tuple[str, Callable[[Any], str]]] = []
    by_name = {column.name: column for column in sheet.columns}
    for name in columns:
        column = by_name.get(name)
        if column is None:  # a de-identified day offset: a plain integer
            writers.append((name, format_value))
        elif column.text:
            writers.append((name, _escaped(column.format)))
        else:
            writers.append((name, column.format))
    return writers


def _xlsx_cell(text: str, value: Any) -> Any:
    """Numbers stay numbers in xlsx; everything else is the canonical text."""
    if isinstance(value, bool) or value is None:
        return text or None
    if isinstance(value, int | float):
        return value
    return text


def export_workbook(
    registry: Registry,
    path: Path,
    *,
    format: str = "csv",
    deidentify: bool = False,
    with_identity: bool = False,
) -> ExportReport:
    """Write the workbook to ``path`` (a new folder of CSV files, or a new .xlsx file)."""
    if path.exists() and (path.is_file() or any(path.iterdir())):
        raise KyphosError(f"{path}: exists already; export to a new file or an empty folder")
    report = ExportReport(path=path, format=format, deidentified=deidentify)
    sheets = [
        sheet for sheet in SHEETS if sheet.name != "identity" or (with_identity and not deidentify)
    ]
    with registry.read() as session:
        if format == "xlsx":
            _check_xlsx_size(session, sheets)
        index_dates = registry_index_dates(session) if deidentify else {}
        if format == "csv":
            path.mkdir(parents=True, exist_ok=True)
            for sheet in sheets:
                report.rows[sheet.name] = _write_csv(
                    session,
                    sheet,
                    path / f"{sheet.name}.csv",
                    registry.secret,
                    index_dates,
                    deidentify,
                )
            if deidentify:
                (path / "manifest.json").write_text(
                    json.dumps(_manifest(report), indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8",
                )
        else:
            _write_xlsx(session, sheets, path, registry.secret, index_dates, deidentify, report)
    with registry.write() as session:
        registry.record(
            session,
            action="export",
            entity="workbook",
            entity_key=path.name,
            after={
                "format": format,
                "deidentified": deidentify,
                "with_identity": with_identity and not deidentify,
                "rows": report.rows,
            },
        )
    return report


def _rows_for(
    session: Session,
    sheet: Sheet,
    secret: bytes,
    index_dates: dict[str, dt.date],
    deidentify: bool,
) -> tuple[list[str], Iterator[tuple[dict[str, Any], list[str]]]]:
    columns = deidentified_columns(sheet) if deidentify else list(sheet.column_names)
    writers = _writers(sheet, columns)

    def generate() -> Iterator[tuple[dict[str, Any], list[str]]]:
        for row in sheet_rows(session, sheet.name):
            if deidentify:
                row = deidentify_row(sheet, row, secret, index_dates.get(row["patient_id"]))
            yield row, [write(row[name]) for name, write in writers]

    return columns, generate()


def _write_csv(
    session: Session,
    sheet: Sheet,
    target: Path,
    secret: bytes,
    index_dates: dict[str, dt.date],
    deidentify: bool,
) -> int:
    columns, rows = _rows_for(session, sheet, secret, index_dates, deidentify)
    count = 0
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for _, cells in rows:
            writer.writerow(cells)
            count += 1
    return count


def _check_xlsx_size(session: Session, sheets: list[Sheet]) -> None:
    too_big = []
    for sheet in sheets:
        rows = sheet_row_count(session, sheet.name)
        if rows + 1 > XLSX_MAX_ROWS:
            too_big.append(
                f"{sheet.name}: {rows} rows do not fit an xlsx sheet ({XLSX_MAX_ROWS - 1} at "
                "most); export CSV instead (--format csv)"
            )
    if too_big:
        raise KyphosError(*too_big)


def _write_xlsx(
    session: Session,
    sheets: list[Sheet],
    path: Path,
    secret: bytes,
    index_dates: dict[str, dt.date],
    deidentify: bool,
    report: ExportReport,
) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for sheet in sheets:
        columns, rows = _rows_for(session, sheet, secret, index_dates, deidentify)
        target = book.create_sheet(sheet.name)
        target.append(columns)
        count = 0
        for row, cells in rows:
            target.append(
                [_xlsx_cell(text, row[name]) for name, text in zip(columns, cells, strict=True)]
            )
            count += 1
        report.rows[sheet.name] = count
    if deidentify:
        info = book.create_sheet("manifest")
        info.append([json.dumps(_manifest(report), ensure_ascii=False)])
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
