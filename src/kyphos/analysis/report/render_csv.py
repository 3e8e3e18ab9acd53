"""The study report's tables as CSV files, one file per table, in English or Chinese.

Each file (``table1_baseline.csv``, ``table2_outcomes.csv`` …) holds one table as it
appears in the report, for pasting into a manuscript or opening in Excel: the caption
("表1 …" / "Table 1 …") in the first row, the header row, the body rows (finished text:
"8.39 ± 0.60", "<0.001"; a "—" cell carries its footnote label as "[a]"), then an empty
row and the remarks and footnotes, one per row. Numbers for computation are in the JSON
report (``kyphos report --format json``), unrounded.

Files are UTF-8 with a byte-order mark ("utf-8-sig"), so Excel opens Chinese text
correctly (without the BOM it reads the file in the system code page and garbles it);
rows end in CRLF, as RFC 4180 and Excel expect.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from kyphos.analysis.report import i18n
from kyphos.analysis.report.tables import Table, build_tables
from kyphos.analysis.results import StudyReport
from kyphos.errors import KyphosError

if TYPE_CHECKING:
    from kyphos.analysis.dataset import StudyDataset

__all__ = ["ENCODING", "file_name", "table_rows", "write"]

ENCODING = "utf-8-sig"
"""UTF-8 with a byte-order mark: Excel needs the BOM to read UTF-8."""


def file_name(number: int, table: Table) -> str:
    """``table1_baseline.csv``: the table's number and key."""
    return f"table{number}_{table.key}.csv"


def table_rows(table: Table) -> list[list[str]]:
    """The rows of one CSV file: caption, header, body, an empty row, notes."""
    rows: list[list[str]] = [[table.caption], list(table.header)]
    for row in table.rows:
        if row.group:
            rows.append([row.cells[0].plain(), *[""] * (table.columns - 1)])
        else:
            rows.append([cell.plain() for cell in row.cells])
    notes = table.notes()
    if notes:
        rows.append([])
        rows.extend([note] for note in notes)
    return rows


def write(
    report: StudyReport, dataset: StudyDataset | None, lang: str, folder: str | Path
) -> list[Path]:
    """Write one CSV file per table into ``folder`` (created if needed); return the paths."""
    chosen = i18n.check_lang(lang)
    target = Path(folder)
    protocol = dataset.protocol if dataset is not None else None
    written: list[Path] = []
    try:
        target.mkdir(parents=True, exist_ok=True)
        for number, table in enumerate(build_tables(report, chosen, protocol), start=1):
            path = target / file_name(number, table)
            with path.open("w", encoding=ENCODING, newline="") as handle:
                csv.writer(handle).writerows(table_rows(table))
            written.append(path)
    except OSError as error:
        raise KyphosError(f"{target}: cannot write the CSV tables ({error.strerror})") from None
    return written
