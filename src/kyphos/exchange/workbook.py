"""Reading the canonical workbook: an ``.xlsx`` file or a folder of CSV files.

Rows are streamed, never loaded whole: openpyxl's read-only mode for xlsx, the csv
module for CSV. Each row comes with its number as a spreadsheet shows it (the header
is row 1), so every problem can be reported as ``sheet:row:column: message``.

CSV files are read as UTF-8 (a byte-order mark is fine). A file that is not UTF-8
but decodes as GB18030 (Excel's default for "CSV" on Chinese Windows) is read as
such and the import says so; anything else is refused with the encoding expected.
"""

from __future__ import annotations

import codecs
import csv
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from kyphos.errors import KyphosError
from kyphos.exchange.schema import SHEETS_BY_NAME, unescape_text

CHUNK_BYTES = 1 << 20


@dataclass
class SheetRows:
    """The header and the data rows of one sheet."""

    name: str
    header: list[str]
    rows: Iterator[tuple[int, list[Any]]]
    notes: list[str] = field(default_factory=list)


class WorkbookSource(AbstractContextManager["WorkbookSource"], ABC):
    """Base: the sheets a file or folder holds, each opened on demand."""

    label: str

    @abstractmethod
    def sheet_names(self) -> list[str]:
        """The sheet names the source holds."""

    @abstractmethod
    def open_sheet(self, name: str) -> SheetRows:
        """The header and a row iterator of sheet ``name``."""

    def close(self) -> None:
        """Release open files."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _clean_header(cells: list[Any]) -> list[str]:
    header = ["" if cell is None else str(cell).strip().lstrip("\ufeff") for cell in cells]
    while header and header[-1] == "":
        header.pop()
    return header


def _blank(values: list[Any]) -> bool:
    return all(value is None or (isinstance(value, str) and not value.strip()) for value in values)


class CsvFolder(WorkbookSource):
    """A folder with one ``<sheet>.csv`` per sheet."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.label = str(folder)
        self._handles: list[Any] = []

    def sheet_names(self) -> list[str]:
        return sorted(path.stem for path in self.folder.glob("*.csv"))

    def open_sheet(self, name: str) -> SheetRows:
        path = self.folder / f"{name}.csv"
        encoding, note = _detect_encoding(path)
        handle = path.open(encoding=encoding, newline="")
        self._handles.append(handle)
        reader = csv.reader(handle)
        try:
            first = next(reader)
        except StopIteration:
            raise KyphosError(f"{name}: {path.name} is empty (expected a header row)") from None
        except csv.Error as error:
            raise KyphosError(f"{name}:1: not a readable CSV file ({error})") from None
        header = _clean_header(list(first))

        def rows() -> Iterator[tuple[int, list[Any]]]:
            number = 1
            try:
                for record in reader:
                    number += 1
                    if _blank(record):
                        continue
                    yield (
                        number,
                        [unescape_text(value) if value[:1] == "'" else value for value in record],
                    )
            except csv.Error as error:
                raise KyphosError(
                    f"{name}:{number + 1}: not a readable CSV row ({error})"
                ) from None

        return SheetRows(name, header, rows(), [note] if note else [])

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
        self._handles.clear()


def _detect_encoding(path: Path) -> tuple[str, str | None]:
    """``utf-8-sig`` when the whole file decodes as UTF-8, else GB18030, else refuse."""
    if _decodes(path, "utf-8"):
        return "utf-8-sig", None
    if _decodes(path, "gb18030"):
        return "gb18030", f"{path.name}: not UTF-8; read as GB18030 (GBK) Chinese text"
    raise KyphosError(
        f"{path.stem}: {path.name} is not UTF-8 text; save it as 'CSV UTF-8' and import again"
    )


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


class XlsxWorkbook(WorkbookSource):
    """An ``.xlsx`` file read with openpyxl in read-only (streaming) mode."""

    def __init__(self, path: Path) -> None:
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException

        self.label = str(path)
        try:
            self.book = load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as error:
            raise KyphosError(
                f"{path.name}: not an .xlsx workbook ({type(error).__name__}); "
                "save it from your spreadsheet as 'Excel Workbook (.xlsx)' or export CSV files"
            ) from None

    def sheet_names(self) -> list[str]:
        return list(self.book.sheetnames)

    def open_sheet(self, name: str) -> SheetRows:
        sheet = self.book[name]
        iterator = sheet.iter_rows(values_only=True)
        try:
            first = next(iterator)
        except StopIteration:
            raise KyphosError(f"{name}: the sheet is empty (expected a header row)") from None
        header = _clean_header(list(first))

        def rows() -> Iterator[tuple[int, list[Any]]]:
            for number, values in enumerate(iterator, start=2):
                cells = list(values)
                if _blank(cells):
                    continue
                yield number, [unescape_text(value) for value in cells]

        return SheetRows(name, header, rows())

    def close(self) -> None:
        self.book.close()


def open_workbook(path: Path) -> WorkbookSource:
    """The workbook at ``path``: a folder of CSV files or an ``.xlsx`` file."""
    if not path.exists():
        raise KyphosError(f"{path}: no such file or folder")
    if path.is_dir():
        source: WorkbookSource = CsvFolder(path)
    elif path.suffix.lower() == ".xlsx":
        if path.stat().st_size == 0:
            raise KyphosError(f"{path.name}: the file is empty (0 bytes)")
        source = XlsxWorkbook(path)
    elif path.suffix.lower() == ".csv":
        raise KyphosError(
            f"{path.name}: a workbook is an .xlsx file or a folder of CSV files "
            f"(patients.csv, vertebrae.csv, …); put {path.name} in a folder and import the folder"
        )
    else:
        raise KyphosError(f"{path.name}: not a workbook (expected an .xlsx file or a CSV folder)")
    unknown = [name for name in source.sheet_names() if name not in SHEETS_BY_NAME]
    if unknown:
        source.close()
        known = ", ".join(SHEETS_BY_NAME)
        raise KyphosError(
            *(f"{name}: unknown sheet (the workbook's sheets are {known})" for name in unknown)
        )
    if "patients" not in source.sheet_names():
        source.close()
        raise KyphosError("patients: the sheet is missing (every workbook has a patients sheet)")
    return source
