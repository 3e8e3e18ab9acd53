"""Importing the canonical workbook: validate everything, write all or nothing.

One import is one database transaction. Sheets are read in the order of
:data:`kyphos.exchange.schema.SHEETS` (every sheet refers only to earlier ones),
in batches: each cell is parsed by its column's reader (which calls
:mod:`kyphos.clinical`), references are resolved against the database as it stands
inside the transaction, and the batch is upserted on its natural keys with one audit
event carrying the batch's row-level changes. Any problem anywhere means the
transaction is rolled back: nothing is written, and every problem is reported as
``sheet:row:column: message``. ``dry_run`` does all of that and always rolls back.

Memory stays bounded by the batch size: keys already seen in this import (for
duplicate detection and row numbers) live in a temporary table, not in Python.

An import may be restricted to a set of site codes (``sites``; None = every site, for
admins and the ``kyphos import`` CLI), for investigators who may write only the patients
of their own sites. Then:

* a patients row whose ``site`` is outside the set is refused at
  ``patients:<row>:site`` (whether or not such a site exists);
* the patients of other sites are treated exactly like patients that do not exist: a
  row of any other sheet naming one gets the same "does not exist" message as a study
  code nobody uses, and the checks across sheets look only at the allowed sites' patients
  (a problem of another site's patient would name it);
* a patients row whose study code belongs to a patient of another site cannot create
  the patient anew (study codes are unique across the registry) nor move it: it is
  refused at ``patients:<row>:patient_id`` as "not available". That one answer cannot
  avoid saying that the code is taken, but it names no site and does not say that a
  patient holds the code, and "patient X belongs to a site you cannot write" would.

Problems carry a Chinese text where the message has one (the clinical readers' and the
site rules'); the others fall back to English (:meth:`ImportFailed.lines`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from kyphos.clinical import reading
from kyphos.clinical.errors import ClinicalValueError, ClinicalValueErrors
from kyphos.clinical.fracture import NEW_FRACTURE_TYPES
from kyphos.clinical.odi import VERSION as ODI_VERSION
from kyphos.clinical.procedure import Technique
from kyphos.clinical.protocol import PREOP
from kyphos.clinical.values import refuse_nul
from kyphos.errors import KyphosError
from kyphos.exchange.schema import SHEETS, Column, Sheet
from kyphos.exchange.workbook import SheetRows, open_workbook
from kyphos.registry import access, audit
from kyphos.registry.bulk import BulkWriter, RegistryChecks
from kyphos.registry.models import (
    AdverseEvent,
    Measurement,
    Patient,
    PatientIdentity,
    Procedure,
    RegistryInfo,
    Site,
    TreatedLevel,
    Vertebra,
    Visit,
)
from kyphos.registry.repository import DEFAULT_SITE_CODE, Registry

BATCH_ROWS = 2000
MAX_PROBLEMS = 1000
_CACHE_LIMIT = 4096
_SEP = "\x1f"

Progress = Callable[[str, int], None]


class ImportFailed(KyphosError):
    """The workbook has problems; nothing was written.

    ``problems`` holds the English lines; ``problems_zh`` the same lines in Chinese where
    a message has a Chinese text (English otherwise), in the same order.
    """

    def __init__(self, *problems: str, problems_zh: Sequence[str] | None = None) -> None:
        super().__init__(*problems)
        zh = tuple(problems_zh) if problems_zh is not None else ()
        self.problems_zh: tuple[str, ...] = zh if len(zh) == len(problems) else self.problems

    def lines(self, lang: str = "en") -> tuple[str, ...]:
        """The problem lines in ``lang`` (``en`` or ``zh``)."""
        return self.problems_zh if lang == "zh" else self.problems


@dataclass
class SheetCounts:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ImportReport:
    source: str
    dry_run: bool
    counts: dict[str, SheetCounts] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        verb = "would be " if self.dry_run else ""
        out = [
            f"{name}: {c.read} rows — {c.created} {verb}created, {c.updated} {verb}updated, "
            f"{c.unchanged} unchanged"
            for name, c in self.counts.items()
        ]
        return out + self.notes


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.items_zh: list[str] = []
        self.more = 0

    def add(
        self,
        sheet: str,
        row: int | str,
        column: str | None,
        message: str,
        message_zh: str | None = None,
    ) -> None:
        if len(self.items) >= MAX_PROBLEMS:
            self.more += 1
            return
        where = f"{sheet}:{row}" + (f":{column}" if column else "")
        self.items.append(f"{where}: {message}")
        self.items_zh.append(f"{where}: {message_zh or message}")

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_PROBLEMS

    def __bool__(self) -> bool:
        return bool(self.items)

    def lines(self) -> list[str]:
        tail = [f"… and {self.more} more problems"] if self.more else []
        return self.items + tail

    def lines_zh(self) -> list[str]:
        tail = [f"……另有 {self.more} 个问题"] if self.more else []
        return self.items_zh + tail

    def failure(self) -> ImportFailed:
        return ImportFailed(*self.lines(), problems_zh=self.lines_zh())


def _chunks(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while batch := list(islice(rows, size)):
        yield batch


def _key_text(*parts: object) -> str:
    return _SEP.join("" if part is None else str(part) for part in parts)


class _CachedColumn:
    """A column's reader that remembers its recent answers (cells repeat a lot)."""

    def __init__(self, column: Column, position: int | None) -> None:
        self.column = column
        self.name = column.name
        self.position = position
        self.required = column.required
        self._cache: dict[tuple[type, Any], tuple[bool, Any]] = {}

    def parse(self, raw: Any) -> Any:
        refuse_nul(raw, self.name)  # before any cell reaches a query (PostgreSQL refuses NUL)
        try:
            key = (type(raw), raw)
            hit = self._cache.get(key)
        except TypeError:  # an unhashable cell value: parse it without the cache
            return self.column.parse(raw, self.name)
        if hit is None:
            try:
                hit = (True, self.column.parse(raw, self.name))
            except ClinicalValueError as error:
                hit = (False, error)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = hit
        ok, value = hit
        if not ok:
            raise value
        return value


class _Import:
    """One import run inside one transaction."""

    def __init__(
        self,
        registry: Registry,
        session: Session,
        label: str,
        reason: str | None,
        sites: Collection[str] | None = None,
    ) -> None:
        self.registry = registry
        self.session = session
        self.label = label
        self.reason = reason
        self.problems = _Problems()
        self.report_counts: dict[str, SheetCounts] = {}
        self.batch_number = 0
        self.unreadable: set[str] = set()
        self.bulk = BulkWriter(session)
        self.sites = {
            code: site_id for site_id, code in self.bulk.fetch("SELECT id, code FROM site")
        }
        self.allowed_codes = None if sites is None else sorted(set(sites))
        self.allowed: frozenset[int] | None = (
            None
            if sites is None
            else frozenset(self.sites[code] for code in sites if code in self.sites)
        )
        self.checks = RegistryChecks(session, self.bulk, site_ids=self.allowed)
        self.bulk.create_seen_table()

    def writable(self, site_id: int) -> bool:
        """Whether this import may write the patients of ``site_id``."""
        return self.allowed is None or site_id in self.allowed

    def finish(self) -> None:
        self.bulk.drop_seen_table()

    def mark_seen(self, sheet: str, keyed: Sequence[tuple[int, str]]) -> dict[int, int]:
        return self.bulk.mark_seen(sheet, keyed)

    def seen_rows(self, sheet: str, keys: Sequence[str]) -> dict[str, int]:
        return self.bulk.seen_rows(sheet, keys)

    # --- lookups ----------------------------------------------------------------------------

    def patient_ids(self, codes: Iterable[str]) -> dict[str, int]:
        """Patient id by study code, of the patients this import may write."""
        rows = self.bulk.select_in(
            "SELECT study_code, id, site_id FROM patient",
            ("study_code",),
            ((code,) for code in codes),
        )
        return {code: patient_id for code, patient_id, site_id in rows if self.writable(site_id)}

    def hidden_codes(self, codes: Iterable[str]) -> set[str]:
        """The study codes among ``codes`` held by patients of sites this import may not write."""
        if self.allowed is None:
            return set()
        rows = self.bulk.select_in(
            "SELECT study_code, site_id FROM patient", ("study_code",), ((code,) for code in codes)
        )
        return {code for code, site_id in rows if not self.writable(site_id)}

    def find_vertebrae(
        self, pairs: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, bool]]:
        rows = self.bulk.select_in(
            "SELECT patient.study_code, vertebra.level, vertebra.id, vertebra.treated, "
            "patient.site_id FROM vertebra JOIN patient ON patient.id = vertebra.patient_id",
            ("patient.study_code", "vertebra.level"),
            pairs,
        )
        return {
            (code, level): (vid, bool(treated))
            for code, level, vid, treated, site_id in rows
            if self.writable(site_id)
        }

    def visit_ids(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        rows = self.bulk.select_in(
            "SELECT patient.study_code, visit.timepoint, visit.id, patient.site_id "
            "FROM visit JOIN patient ON patient.id = visit.patient_id",
            ("patient.study_code", "visit.timepoint"),
            pairs,
        )
        return {
            (code, timepoint): vid
            for code, timepoint, vid, site_id in rows
            if self.writable(site_id)
        }

    def refused_earlier(self, sheet: str, *key: str) -> bool:
        """Whether a row with this key was refused, or its sheet unreadable: said already."""
        if sheet in self.unreadable:
            return True
        text = _key_text(*key)
        return text in self.seen_rows(f"refused:{sheet}", [text])

    def refuse(self, sheet: str, number: int, *key: str) -> None:
        self.bulk.mark_seen(f"refused:{sheet}", [(number, _key_text(*key))])

    def missing_patient(self, sheet: str, row: int, code: str) -> None:
        if self.refused_earlier("patients", code):
            return
        self.problems.add(
            sheet, row, "patient_id", f"patient {code!r} does not exist (patients sheet)"
        )

    # --- reading ---------------------------------------------------------------------------

    def read_sheet(
        self, sheet: Sheet, rows: SheetRows
    ) -> Iterator[list[tuple[int, dict[str, Any]]]]:
        """Batches of parsed rows; problems are collected, bad rows left out."""
        positions = self.check_header(sheet, rows.header)
        if positions is None:
            self.unreadable.add(sheet.name)
            return
        counts = self.report_counts.setdefault(sheet.name, SheetCounts())
        width = len(rows.header)
        columns = [_CachedColumn(column, positions.get(column.name)) for column in sheet.columns]
        for batch in _chunks(rows.rows, BATCH_ROWS):
            parsed: list[tuple[int, dict[str, Any]]] = []
            refused: list[tuple[int, str]] = []
            for number, cells in batch:
                counts.read += 1
                values, ok = self.parse_row(sheet, columns, width, number, cells)
                if ok:
                    parsed.append((number, values))
                elif all(values.get(name) is not None for name in sheet.key[:2]):
                    refused.append((number, _key_text(*(_text(values[k]) for k in sheet.key[:2]))))
            self.bulk.mark_seen(f"refused:{sheet.name}", refused)
            yield parsed
            if self.problems.full:
                return

    def check_header(self, sheet: Sheet, header: list[str]) -> dict[str, int] | None:
        positions: dict[str, int] = {}
        ok = True
        for position, name in enumerate(header):
            if not name:
                self.problems.add(sheet.name, 1, f"column {position + 1}", "the header is empty")
                ok = False
            elif name not in sheet.column_names:
                self.problems.add(
                    sheet.name,
                    1,
                    name,
                    f"unknown column (the {sheet.name} sheet has: {', '.join(sheet.column_names)})",
                )
                ok = False
            elif name in positions:
                self.problems.add(sheet.name, 1, name, "the column appears twice")
                ok = False
            else:
                positions[name] = position
        for column in sheet.columns:
            if column.required and column.name not in positions:
                self.problems.add(sheet.name, 1, column.name, "a required column is missing")
                ok = False
        return positions if ok else None

    def parse_row(
        self,
        sheet: Sheet,
        columns: list[_CachedColumn],
        width: int,
        number: int,
        cells: list[Any],
    ) -> tuple[dict[str, Any], bool]:
        """The row's values by column, and whether every cell was valid."""
        if len(cells) > width and any(cell not in (None, "") for cell in cells[width:]):
            self.problems.add(
                sheet.name, number, None, f"the row has more cells than the header ({width})"
            )
            return {}, False
        values: dict[str, Any] = {}
        ok = True
        count = len(cells)
        for column in columns:
            position = column.position
            raw = cells[position] if position is not None and position < count else None
            try:
                value = column.parse(raw)
            except ClinicalValueErrors as errors:
                for problem in errors.problems:
                    self.problems.add(
                        sheet.name, number, column.name, problem.message, problem.message_zh
                    )
                ok = False
                continue
            except ClinicalValueError as error:
                self.problems.add(sheet.name, number, column.name, error.message, error.message_zh)
                ok = False
                continue
            if value is None and column.required:
                self.problems.add(sheet.name, number, column.name, "required; the cell is empty")
                ok = False
            values[column.name] = value
        return values, ok

    # --- writing ----------------------------------------------------------------------------

    def upsert(
        self,
        sheet: str,
        table: Table,
        key_columns: Sequence[str],
        rows: Sequence[tuple[int, dict[str, Any]]],
        describe: Callable[[dict[str, Any]], str],
        identity: bool = False,
        counted: bool = True,
        check_change: Callable[[int, dict[str, Any], dict[str, Any]], None] | None = None,
    ) -> None:
        """Create or update ``rows`` (database values) keyed on ``key_columns``; audit the batch.

        ``counted`` is False for rows the sheet implies rather than holds (the procedure
        date behind the treated levels of the procedures sheet). ``check_change`` sees
        each update (row number, stored row, changed values) and reports what it refuses.
        """
        counts = self.report_counts.setdefault(sheet, SheetCounts()) if counted else SheetCounts()
        if not rows:
            return
        keys = [tuple(values[name] for name in key_columns) for _, values in rows]
        existing = self.bulk.fetch_existing(table, key_columns, keys)
        match = "id" if "id" in table.c else key_columns[0]
        created: list[dict[str, Any]] = []
        changed: list[tuple[Any, int, dict[str, Any]]] = []
        log_created: list[dict[str, Any]] = []
        log_updated: list[dict[str, Any]] = []
        for key, (number, values) in zip(keys, rows, strict=True):
            before = existing.get(key)
            if before is None:
                created.append(values)
                log_created.append({"key": describe(values), **_plain(values)})
                continue
            diff = {name: value for name, value in values.items() if before.get(name) != value}
            if not diff:
                counts.unchanged += 1
                continue
            if check_change is not None:
                check_change(number, before, diff)
            changed.append((before[match], before["version"], values))
            log_updated.append(
                {
                    "key": describe(values),
                    "before": _plain({name: before.get(name) for name in diff}),
                    "after": _plain(diff),
                }
            )
        self.bulk.insert_rows(table, created)
        counts.created += len(created)
        self.bulk.update_rows(table, match, changed)
        counts.updated += len(changed)
        if log_created or log_updated:
            secret = self.registry.secret
            if identity:
                log_created = [audit.mask_identity(item, secret) or {} for item in log_created]
                log_updated = [
                    {
                        "key": item["key"],
                        "before": audit.mask_identity(item["before"], secret),
                        "after": audit.mask_identity(item["after"], secret),
                    }
                    for item in log_updated
                ]
            self.batch_number += 1
            self.registry.record(
                self.session,
                action="import",
                entity=sheet,
                entity_key=f"{self.label}#{self.batch_number}",
                after={"created": log_created, "updated": log_updated},
                reason=self.reason,
            )

    # --- sheets -------------------------------------------------------------------------------

    def patients(self, batch: list[tuple[int, dict[str, Any]]]) -> None:
        rows: list[tuple[int, dict[str, Any]]] = []
        self.duplicates("patients", batch, ("patient_id",))
        hidden = self.hidden_codes(values["patient_id"] for _, values in batch)
        for number, values in batch:
            site_code = values["site"] or DEFAULT_SITE_CODE
            site_id = self.sites.get(site_code)
            if not self.within_sites(number, values["patient_id"], site_code, hidden):
                continue
            if site_id is None:
                self.problems.add(
                    "patients",
                    number,
                    "site",
                    f"site {site_code!r} does not exist (create it with `kyphos site add "
                    f"{site_code}`)",
                )
                self.refuse("patients", number, values["patient_id"])
                continue
            if values["age"] is None and values["birth_date"] is None:
                self.problems.add("patients", number, "age", "required unless birth_date is given")
                self.refuse("patients", number, values["patient_id"])
                continue
            rows.append(
                (
                    number,
                    {
                        "study_code": values["patient_id"],
                        "site_id": site_id,
                        **{k: values[k] for k in _PATIENT_FIELDS},
                    },
                )
            )
        self.upsert("patients", _t(Patient), ("study_code",), rows, lambda v: v["study_code"])

    def within_sites(self, number: int, code: str, site_code: str, hidden: set[str]) -> bool:
        """Whether a patients row passes the import's site restriction (reported if not).

        The row's site comes first: a site outside the allowed set is refused the same
        way whether it exists or not. A study code held at a hidden site is "not
        available", never "belongs to another site" (see the module docstring).
        """
        allowed = self.allowed_codes
        if allowed is not None and site_code not in allowed:
            shown = ", ".join(allowed) or "none"
            self.problems.add(
                "patients",
                number,
                "site",
                f"site {site_code!r} is not one of your sites ({shown}); only an administrator "
                "may import the patients of other sites",
                f"站点 {site_code!r} 不是您所属的站点（{shown}）；只有管理员可以导入其他站点的患者",
            )
        elif code in hidden:
            self.problems.add(
                "patients",
                number,
                "patient_id",
                f"study code {code!r} is not available; choose another study code",
                f"研究编号 {code!r} 不可用；请换一个研究编号",
            )
        else:
            return True
        self.refuse("patients", number, code)
        return False

    def of_patients(
        self, sheet: str, batch: list[tuple[int, dict[str, Any]]], fields: Sequence[str]
    ) -> tuple[list[tuple[int, dict[str, Any]]], dict[int, str]]:
        """Rows with the patient's id and ``fields``; rows of unknown patients reported.

        Also returns the study code of each patient id (for the audit trail's keys).
        """
        ids = self.patient_ids(values["patient_id"] for _, values in batch)
        rows = []
        for number, values in batch:
            patient_id = ids.get(values["patient_id"])
            if patient_id is None:
                self.missing_patient(sheet, number, values["patient_id"])
                continue
            rows.append((number, {"patient_id": patient_id, **{k: values[k] for k in fields}}))
        return rows, {patient_id: code for code, patient_id in ids.items()}

    def identity(self, batch: list[tuple[int, dict[str, Any]]]) -> None:
        self.duplicates("identity", batch, ("patient_id",))
        rows, codes = self.of_patients("identity", batch, _IDENTITY_FIELDS)
        self.upsert(
            "identity",
            _t(PatientIdentity),
            ("patient_id",),
            rows,
            lambda v: codes[v["patient_id"]],
            identity=True,
        )

    def vertebrae(self, batch: list[tuple[int, dict[str, Any]]]) -> None:
        self.duplicates("vertebrae", batch, ("patient_id", "level"))
        rows, codes = self.of_patients("vertebrae", batch, _VERTEBRA_FIELDS)
        self.upsert(
            "vertebrae",
            _t(Vertebra),
            ("patient_id", "level"),
            rows,
            lambda v: f"{codes[v['patient_id']]}/{v['level']}",
        )

    def procedures(self, batch: list[tuple[int, dict[str, Any]]]) -> None:
        self.duplicates("procedures", batch, ("patient_id", "level"))
        found = self.vertebrae_of(batch, "procedures")
        ids = self.patient_ids(values["patient_id"] for _, values in batch)
        # One procedure row per (patient, date): create or update it first.
        first_rows: dict[tuple[int, dt.date], tuple[int, dict[str, Any]]] = {}
        usable: list[tuple[int, dict[str, Any], int]] = []
        for number, values in batch:
            vertebra = found.get((values["patient_id"], values["level"]))
            if vertebra is None:
                continue
            vertebra_id, treated = vertebra
            if not treated:
                self.problems.add(
                    "procedures",
                    number,
                    "level",
                    f"vertebra {values['level']} of patient {values['patient_id']!r} is not "
                    "marked treated (vertebrae sheet: treated = yes)",
                )
                continue
            patient_id = ids[values["patient_id"]]
            key = (patient_id, values["procedure_date"])
            usable.append((number, values, vertebra_id))
            if key in first_rows:
                self.same_procedure("procedures", number, values, first_rows[key])
            else:
                first_rows[key] = (number, values)
        procedure_keys = [
            (number, _key_text(pid, day.isoformat()))
            for (pid, day), (number, _) in first_rows.items()
        ]
        earlier = self.seen_rows("procedure", [key for _, key in procedure_keys])
        fresh_rows: list[tuple[int, dict[str, Any]]] = []
        for (patient_id, day), (number, values) in first_rows.items():
            seen_key = _key_text(patient_id, day.isoformat())
            if seen_key in earlier:
                self.check_against_stored(number, values, patient_id, day, earlier[seen_key])
                continue
            fresh_rows.append(
                (
                    number,
                    {
                        "patient_id": patient_id,
                        "procedure_date": day,
                        "anaesthesia": values["anaesthesia"],
                        "operator": values["operator"],
                    },
                )
            )
        self.mark_seen("procedure", [(n, k) for n, k in procedure_keys if k not in earlier])
        codes = {pid: code for code, pid in ids.items()}
        self.upsert(
            "procedures",
            _t(Procedure),
            ("patient_id", "procedure_date"),
            fresh_rows,
            lambda v: f"{codes[v['patient_id']]}/{v['procedure_date'].isoformat()}",
            counted=False,
        )
        procedure_ids = self.checks.procedure_ids(first_rows)
        rows = []
        names: dict[int, str] = {}
        for number, values, vertebra_id in usable:
            patient_id = ids[values["patient_id"]]
            names[vertebra_id] = f"{values['patient_id']}/{values['level']}"
            rows.append(
                (
                    number,
                    {
                        "vertebra_id": vertebra_id,
                        "procedure_id": procedure_ids[(patient_id, values["procedure_date"])],
                        "technique": values["technique"] or Technique.kyphoplasty.value,
                        **{k: values[k] for k in _TREATED_LEVEL_FIELDS},
                    },
                )
            )
        self.upsert(
            "procedures",
            _t(TreatedLevel),
            ("vertebra_id",),
            rows,
            lambda v: names[v["vertebra_id"]],
        )

    def same_procedure(
        self,
        sheet: str,
        number: int,
        values: dict[str, Any],
        first: tuple[int, dict[str, Any]],
    ) -> None:
        first_number, first_values = first
        for name in ("anaesthesia", "operator"):
            if values[name] != first_values[name]:
                self.problems.add(
                    sheet,
                    number,
                    name,
                    f"{values[name]!r} differs from row {first_number} ({first_values[name]!r}); "
                    "all levels of one procedure date share it",
                )

    def check_against_stored(
        self, number: int, values: dict[str, Any], patient_id: int, day: dt.date, first: int
    ) -> None:
        anaesthesia, operator = self.checks.procedure_values(patient_id, day)
        self.same_procedure(
            "procedures",
            number,
            values,
            (first, {"anaesthesia": anaesthesia, "operator": operator}),
        )

    def vertebrae_of(
        self, batch: list[tuple[int, dict[str, Any]]], sheet: str
    ) -> dict[tuple[str, str], tuple[int, bool]]:
        found = self.find_vertebrae((v["patient_id"], v["level"]) for _, v in batch)
        known = self.patient_ids(v["patient_id"] for _, v in batch)
        for number, values in batch:
            if values["patient_id"] not in known:
                self.missing_patient(sheet, number, values["patient_id"])
            elif (values["patient_id"], values["level"]) not in found and not self.refused_earlier(
                "vertebrae", values["patient_id"], values["level"]
            ):
                self.problems.add(
                    sheet,
                    number,
                    "level",
                    f"vertebra {values['level']} of patient {values['patient_id']!r} is not in "
                    "the vertebrae sheet",
                )
        return found

    def visits(self, batch: list[tuple[int, dict[str, Any]]]) -> None:
        self.duplicates("visits", batch, ("patient_id", "timepoint"))
        rows, codes = self.of_patients("visits", batch, _VISIT_FIELDS)
        for _, item in rows:
            item["odi_version"] = item["odi_version"] or ODI_VERSION
        self.upsert(
            "visits",
            _t(Visit),
            ("patient_id", "timepoint"),
            rows,
            lambda v: f"{codes[v['patient_id']]}/{v['timepoint']}",
        )

    def measurements(self, batch: list[tuple[int, dict[str, Any]]]) -> None:
        for _, values in batch:
            values["role"] = values["role"] or "primary"
        self.duplicates(
            "measurements", batch, ("patient_id", "level", "timepoint", "observer", "role")
        )
        vertebrae = self.vertebrae_of(batch, "measurements")
        visits = self.visit_ids((v["patient_id"], v["timepoint"]) for _, v in batch)
        rows = []
        names: dict[tuple[int, int], str] = {}
        adjudicators: list[tuple[int, str]] = []
        for number, values in batch:
            vertebra = vertebrae.get((values["patient_id"], values["level"]))
            if vertebra is None:
                continue
            visit_id = visits.get((values["patient_id"], values["timepoint"]))
            if visit_id is None and self.refused_earlier(
                "visits", values["patient_id"], values["timepoint"]
            ):
                continue
            if visit_id is None:
                self.problems.add(
                    "measurements",
                    number,
                    "timepoint",
                    f"patient {values['patient_id']!r} has no {values['timepoint']!r} visit "
                    "(visits sheet)",
                )
                continue
            names[(vertebra[0], visit_id)] = (
                f"{values['patient_id']}/{values['level']}/{values['timepoint']}"
            )
            if values["role"] == "adjudicator":
                adjudicators.append((number, _key_text(vertebra[0], visit_id)))
            rows.append(
                (
                    number,
                    {
                        "vertebra_id": vertebra[0],
                        "visit_id": visit_id,
                        "observer": values["observer"],
                        "role": values["role"],
                        **{k: values[k] for k in _MEASUREMENT_FIELDS},
                    },
                )
            )
        second = self.mark_seen("adjudicator", adjudicators)
        for number, earlier in second.items():
            self.problems.add(
                "measurements",
                number,
                "role",
                f"a second adjudicator reading for this vertebra and time point (row {earlier})",
            )
        # Refused rows are left out: written, they would trip the database's one-adjudicator
        # constraint and the located problem would become an unlocated database error.
        refused = set(second) | self.check_stored_adjudicators(rows)
        rows = [(number, values) for number, values in rows if number not in refused]
        self.upsert(
            "measurements",
            _t(Measurement),
            ("vertebra_id", "visit_id", "observer", "role"),
            rows,
            lambda v: f"{names[(v['vertebra_id'], v['visit_id'])]}/{v['observer']}/{v['role']}",
            check_change=self.keep_values_read_from_landmarks,
        )

    def keep_values_read_from_landmarks(
        self, number: int, stored: dict[str, Any], changed: dict[str, Any]
    ) -> None:
        """A measurement read from landmarks on a radiograph changes only by reading the
        image again (:func:`kyphos.clinical.reading.typed_over`)."""
        if stored.get("landmarks") is None:
            return
        for name in _MEASUREMENT_FIELDS:
            if name in changed:
                problem = reading.typed_over(name)
                self.problems.add("measurements", number, name, problem.message, problem.message_zh)

    def check_stored_adjudicators(self, rows: list[tuple[int, dict[str, Any]]]) -> set[int]:
        """Report rows whose adjudicator reading clashes with a stored one; return their rows."""
        wanted = [(v["vertebra_id"], v["visit_id"]) for _, v in rows if v["role"] == "adjudicator"]
        if not wanted:
            return set()
        stored = self.checks.adjudicators(wanted)
        clashing: set[int] = set()
        for number, values in rows:
            observer = stored.get((values["vertebra_id"], values["visit_id"]))
            if values["role"] == "adjudicator" and observer not in (None, values["observer"]):
                self.problems.add(
                    "measurements",
                    number,
                    "role",
                    f"the registry already holds an adjudicator reading by {observer!r} for this "
                    "vertebra and time point",
                )
                clashing.add(number)
        return clashing

    def adverse_events(self, batch: list[tuple[int, dict[str, Any]]]) -> None:
        for _, values in batch:
            values["level"] = values["level"] or ""
        self.duplicates("adverse_events", batch, ("patient_id", "event_date", "type", "level"))
        complete = []
        for number, values in batch:
            if values["type"] in NEW_FRACTURE_TYPES and not values["level"]:
                self.problems.add(
                    "adverse_events", number, "level", f"required for {values['type']}"
                )
            else:
                complete.append((number, values))
        rows, codes = self.of_patients("adverse_events", complete, _EVENT_FIELDS)
        self.upsert(
            "adverse_events",
            _t(AdverseEvent),
            ("patient_id", "event_date", "type", "level"),
            rows,
            lambda v: (
                f"{codes[v['patient_id']]}/{v['event_date'].isoformat()}/{v['type']}"
                + (f"/{v['level']}" if v["level"] else "")
            ),
        )

    def duplicates(
        self, sheet: str, batch: list[tuple[int, dict[str, Any]]], key: Sequence[str]
    ) -> None:
        """Report rows whose natural key an earlier row of this import had; drop them."""
        keyed = [(number, _key_text(*(_text(values[k]) for k in key))) for number, values in batch]
        found = self.mark_seen(sheet, keyed)
        if not found:
            return
        for number, earlier in sorted(found.items()):
            shown = ", ".join(key)
            self.problems.add(sheet, number, key[-1], f"duplicate of row {earlier} (same {shown})")
        batch[:] = [(number, values) for number, values in batch if number not in found]

    # --- checks across sheets ---------------------------------------------------------------

    def cross_checks(self) -> None:
        """Date order and consistency rules that span sheets, on the registry as it now is."""
        late = self.checks.dates_after_index(MAX_PROBLEMS)
        rows = self.seen_rows("patients", [_key_text(code) for code, *_ in late])
        for code, injury, onset, index_date in late:
            for column, value in (("injury_date", injury), ("symptom_onset_date", onset)):
                if value is not None and value > index_date:
                    self.problems.add(
                        "patients",
                        rows.get(_key_text(code), "(registry)"),
                        column,
                        f"{value.isoformat()} is after the index procedure "
                        f"({index_date.isoformat()}) of patient {code!r}",
                    )
        visits = self.checks.visits_out_of_order(PREOP, MAX_PROBLEMS)
        rows = self.seen_rows("visits", [_key_text(code, tp) for code, tp, *_ in visits])
        for code, timepoint, visit_date, index_date in visits:
            where = "after" if timepoint == PREOP else "before"
            self.problems.add(
                "visits",
                rows.get(_key_text(code, timepoint), "(registry)"),
                "visit_date",
                f"{visit_date.isoformat()} is {where} the index procedure "
                f"({index_date.isoformat()}) of patient {code!r} ({timepoint} visit)",
            )
        events = self.checks.events_before_index(MAX_PROBLEMS)
        keys = [
            _key_text(code, day.isoformat(), kind, level) for code, day, kind, level, _ in events
        ]
        rows = self.seen_rows("adverse_events", keys)
        for key, (code, day, _kind, _level, index_date) in zip(keys, events, strict=True):
            self.problems.add(
                "adverse_events",
                rows.get(key, "(registry)"),
                "event_date",
                f"{day.isoformat()} is before the index procedure ({index_date.isoformat()}) "
                f"of patient {code!r}",
            )
        untreated = self.checks.untreated_with_procedure(MAX_PROBLEMS)
        rows = self.seen_rows("vertebrae", [_key_text(code, level) for code, level in untreated])
        for code, level in untreated:
            self.problems.add(
                "vertebrae",
                rows.get(_key_text(code, level), "(registry)"),
                "treated",
                f"vertebra {level} of patient {code!r} has a procedure but is marked not treated",
            )

    def remove_empty_procedures(self) -> None:
        """A procedure date whose levels all moved to another date is removed (audited)."""
        empty = self.checks.delete_empty_procedures()
        if not empty:
            return
        self.registry.record(
            self.session,
            action="delete",
            entity="procedures",
            entity_key=f"{self.label}#empty",
            before=[{"key": f"{code}/{day.isoformat()}"} for code, day in empty],
            reason="no treated level left on this procedure date after the import",
        )


_PATIENT_FIELDS = (
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
)
_IDENTITY_FIELDS = ("full_name", "hospital_number", "phone")
_VERTEBRA_FIELDS = (
    "level",
    "mri_t1",
    "mri_t2",
    "mri_stir",
    "posterior_wall_intact",
    "morphology",
    "treated",
)
_TREATED_LEVEL_FIELDS = (
    "approach",
    "cement_volume_ml",
    "leakage",
    "leakage_symptomatic",
    "duration_min",
)
_VISIT_FIELDS = (
    "timepoint",
    "visit_date",
    "vas",
    *(f"odi_{n}" for n in range(1, 11)),
    "odi_version",
    "odi_language",
)
_MEASUREMENT_FIELDS = (
    "anterior_height_mm",
    "middle_height_mm",
    "posterior_height_mm",
    "wedge_angle_deg",
    "kyphotic_angle_deg",
)
_EVENT_FIELDS = ("event_date", "type", "level", "serious", "related", "description")


def _t(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _text(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else str(value)


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: value.isoformat() if isinstance(value, dt.date) else value
        for name, value in values.items()
    }


SheetStreams = Mapping[str, SheetRows]


def run_import(
    registry: Registry,
    sheets: SheetStreams,
    *,
    label: str,
    dry_run: bool = False,
    reason: str | None = None,
    progress: Progress | None = None,
    mark_demo: bool = False,
    sites: Collection[str] | None = None,
) -> ImportReport:
    """Validate and write ``sheets`` in one transaction; raise ImportFailed on any problem.

    ``sites`` restricts the import to the patients of those site codes (None: every
    site); see the module docstring.
    """
    report = ImportReport(source=label, dry_run=dry_run)
    for rows in sheets.values():
        report.notes.extend(rows.notes)
    with registry.write() as session:
        job = _Import(registry, session, label, reason or f"import of {label}", sites)
        handlers: dict[str, Callable[[list[tuple[int, dict[str, Any]]]], None]] = {
            "patients": job.patients,
            "identity": job.identity,
            "vertebrae": job.vertebrae,
            "procedures": job.procedures,
            "visits": job.visits,
            "measurements": job.measurements,
            "adverse_events": job.adverse_events,
        }
        for sheet in SHEETS:
            stream = sheets.get(sheet.name)
            if stream is None:
                continue
            done = 0
            for batch in job.read_sheet(sheet, stream):
                done += len(batch)
                handlers[sheet.name](batch)
                if progress is not None:
                    progress(sheet.name, done)
            if job.problems.full:
                break
        if not job.problems.full:
            job.cross_checks()
        if not job.problems:
            job.remove_empty_procedures()
        report.counts = job.report_counts
        if job.problems:
            raise job.problems.failure()
        if mark_demo:
            info = session.get(RegistryInfo, 1)
            if info is not None and not info.demo:
                info.demo = True
                registry.record(
                    session,
                    action="update",
                    entity="registry",
                    entity_key="demo",
                    before={"demo": False},
                    after={"demo": True},
                )
        registry.record(
            session,
            action="import_summary",
            entity="workbook",
            entity_key=label,
            after={
                name: {"created": c.created, "updated": c.updated, "unchanged": c.unchanged}
                for name, c in report.counts.items()
            },
            reason=reason or f"import of {label}",
        )
        job.finish()
        if dry_run:
            session.rollback()
            audit.forget_head(session)
    return report


def writable_sites(registry: Registry, principal: access.Principal) -> frozenset[str] | None:
    """The site codes ``principal`` may import into (the ``sites`` of an import).

    None (every site) for admins; an investigator's own sites; no site at all for the
    roles that may not change clinical data (observers, analysts), whose imports the
    web layer refuses before they get here.
    """
    if access.sees_every_site(principal):
        return None
    if principal.role != access.INVESTIGATOR:
        return frozenset()
    with registry.read() as session:
        codes = session.execute(select(Site.code).where(access.site_filter(principal)))
        return frozenset(codes.scalars())


def import_workbook(
    registry: Registry,
    path: Path,
    *,
    dry_run: bool = False,
    reason: str | None = None,
    progress: Progress | None = None,
    sites: Collection[str] | None = None,
) -> ImportReport:
    """Import an ``.xlsx`` file or a CSV folder (DATA.md §1), within ``sites`` if given."""
    with open_workbook(path) as source:
        sheets: dict[str, SheetRows] = {}
        unreadable: list[str] = []
        for name in source.sheet_names():
            try:
                sheets[name] = source.open_sheet(name)
            except KyphosError as error:
                unreadable.extend(error.problems)
        if unreadable:
            raise ImportFailed(*unreadable)
        return run_import(
            registry,
            sheets,
            label=path.name,
            dry_run=dry_run,
            reason=reason,
            progress=progress,
            sites=sites,
        )
