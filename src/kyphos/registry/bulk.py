"""Bulk reads and writes for the importer, inside the importer's one transaction.

The workbook importer (:mod:`kyphos.exchange.importer`) validates; this module does its
SQL. Lookups by natural key and inserts go straight to the DB-API cursor with
plain SQL built once per batch: SQLAlchemy's per-statement compilation of 2,000-row
``IN`` lists cost more than the database work itself (see docs/performance.md).
Values are converted at the boundary: SQLite holds dates as ISO text and booleans as
0/1, which :meth:`BulkWriter.fetch_existing` turns back into ``date`` and ``bool``.

Keys already seen in this import live in a temporary table, so memory stays bounded
by the batch size whatever the size of the file.

An import restricted to some sites (an investigator's) runs :class:`RegistryChecks` with
those sites' ids: its checks and its clean-up then look only at their patients, so a
problem of another site's patient neither blocks the import nor names that patient.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Boolean, Date, DateTime, Select, Table, delete, func, select
from sqlalchemy.orm import Session

from kyphos.errors import ConflictError
from kyphos.registry.models import (
    AdverseEvent,
    Patient,
    Procedure,
    TreatedLevel,
    Vertebra,
    Visit,
)

SEEN_TABLE = "kyphos_import_seen"
_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])
CHUNK = 2000


class BulkWriter:
    """Plain-SQL helpers bound to one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.connection = session.connection()
        self.sqlite = self.connection.dialect.name == "sqlite"
        self.mark = "?" if self.sqlite else "%s"

    # --- plumbing ---------------------------------------------------------------------------

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        cursor = self.connection.exec_driver_sql(sql, tuple(params))
        return [tuple(row) for row in cursor.fetchall()]

    def select_in(
        self,
        select_sql: str,
        key_columns: Sequence[str],
        keys: Iterable[tuple[Any, ...]],
    ) -> list[tuple[Any, ...]]:
        """Rows of ``select_sql`` (``SELECT … FROM …``) whose ``key_columns`` match ``keys``.

        One key column: ``WHERE column IN (…)``. Several: the keys become a ``VALUES`` list
        joined to the tables, which both databases answer through the unique indexes
        (SQLite scans the whole table for a row-value ``IN (VALUES …)``).
        """
        wanted = list(dict.fromkeys(keys))
        columns, _, tables = select_sql.partition(" FROM ")
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(wanted), CHUNK):
            part = wanted[start : start + CHUNK]
            if len(key_columns) == 1:
                marks = ", ".join([self.mark] * len(part))
                sql = f"{select_sql} WHERE {key_columns[0]} IN ({marks})"
            else:
                names = [f"k{position}" for position in range(len(key_columns))]
                values = ", ".join(["(" + ", ".join([self.mark] * len(names)) + ")"] * len(part))
                matches = " AND ".join(
                    f"{column} = k.{name}" for column, name in zip(key_columns, names, strict=True)
                )
                sql = (
                    f"WITH k({', '.join(names)}) AS (VALUES {values}) "
                    f"{columns} FROM k, {tables} WHERE {matches}"
                )
            rows.extend(self._fetch(sql, [value for key in part for value in key]))
        return rows

    # --- keys seen in this import -------------------------------------------------------------

    def create_seen_table(self) -> None:
        self.connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {SEEN_TABLE} (sheet VARCHAR(32) NOT NULL, key TEXT NOT NULL, "
            "row_number INTEGER NOT NULL, PRIMARY KEY (sheet, key))"
        )

    def drop_seen_table(self) -> None:
        self.connection.exec_driver_sql(f"DROP TABLE {SEEN_TABLE}")

    def seen_rows(self, sheet: str, keys: Sequence[str]) -> dict[str, int]:
        """The row number at which each of ``keys`` was first seen, if it was."""
        rows = self.select_in(
            f"SELECT key, row_number FROM {SEEN_TABLE}",
            ("sheet", "key"),
            ((sheet, key) for key in keys),
        )
        return {key: row for key, row in rows}

    def mark_seen(self, sheet: str, keyed: Sequence[tuple[int, str]]) -> dict[int, int]:
        """Record the keys of a batch; return ``{row: earlier row}`` for repeated keys."""
        duplicates: dict[int, int] = {}
        first: dict[str, int] = {}
        for row, key in keyed:
            if key in first:
                duplicates[row] = first[key]
            else:
                first[key] = row
        if not first:
            return duplicates
        earlier = self.seen_rows(sheet, list(first))
        fresh = []
        for key, row in first.items():
            if key in earlier:
                duplicates[row] = earlier[key]
            else:
                fresh.append((sheet, key, row))
        if fresh:
            self.connection.exec_driver_sql(
                f"INSERT INTO {SEEN_TABLE} (sheet, key, row_number) "
                f"VALUES ({self.mark}, {self.mark}, {self.mark})",
                fresh,
            )
        return duplicates

    # --- rows ---------------------------------------------------------------------------------

    def fetch_existing(
        self, table: Table, key_columns: Sequence[str], keys: Sequence[tuple[Any, ...]]
    ) -> dict[tuple[Any, ...], dict[str, Any]]:
        """Stored rows of ``table`` whose natural key is one of ``keys``, typed as Python."""
        names = [column.name for column in table.columns]
        rows = self.select_in(f"SELECT {', '.join(names)} FROM {table.name}", key_columns, keys)
        converters = {column.name: _reader(column.type) for column in table.columns if self.sqlite}
        found: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            values = {
                name: (
                    converters[name](value) if name in converters and value is not None else value
                )
                for name, value in zip(names, row, strict=True)
            }
            found[tuple(values[name] for name in key_columns)] = values
        return found

    def insert_rows(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``rows`` (all with the same keys); new rows start at version 1."""
        if not rows:
            return
        columns = list(rows[0])
        versioned = "version" in table.c and "version" not in columns
        names = [*columns, "version"] if versioned else columns
        sql = (
            f"INSERT INTO {table.name} ({', '.join(names)}) "
            f"VALUES ({', '.join([self.mark] * len(names))})"
        )
        if versioned:
            params = [(*(row[name] for name in columns), 1) for row in rows]
        else:
            params = [tuple(row[name] for name in columns) for row in rows]
        self.connection.exec_driver_sql(sql, params)

    def update_rows(
        self, table: Table, match: str, rows: Sequence[tuple[Any, int, dict[str, Any]]]
    ) -> None:
        """Update rows found by ``match`` (``id`` or a key column) at their stored version.

        Each item is ``(match value, stored version, new values)``. A row whose version
        moved on since it was read is not overwritten: ConflictError, nothing written.
        """
        if not rows:
            return
        names = list(rows[0][2])
        assignments = ", ".join(f"{name} = {self.mark}" for name in names)
        sql = (
            f"UPDATE {table.name} SET {assignments}, version = version + 1 "
            f"WHERE {match} = {self.mark} AND version = {self.mark}"
        )
        updated = 0
        for key, version, values in rows:
            params = (*(values[name] for name in names), key, version)
            updated += self.connection.exec_driver_sql(sql, params).rowcount
        if updated != len(rows):
            raise ConflictError(
                f"{table.name}: someone changed {len(rows) - updated} of these rows during the "
                "import; nothing was written — import again"
            )

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a plain SQL query (``?`` placeholders are adapted to the database)."""
        if not self.sqlite:
            sql = sql.replace("?", "%s")
        return self._fetch(sql, params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if not self.sqlite:
            sql = sql.replace("?", "%s")
        self.connection.exec_driver_sql(sql, tuple(params))


def _reader(column_type: Any) -> Any:
    if isinstance(column_type, DateTime):
        return lambda value: dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if isinstance(column_type, Date):
        return lambda value: dt.date.fromisoformat(value) if isinstance(value, str) else value
    if isinstance(column_type, Boolean):
        return bool
    return lambda value: value


def to_date(value: Any) -> dt.date:
    """A date read by plain SQL (ISO text on SQLite)."""
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


class RegistryChecks:
    """Lookups and consistency queries the importer runs against the registry as it stands.

    ``site_ids`` (None: every site) limits the consistency queries and the removal of
    empty procedures to the patients of those sites.
    """

    def __init__(
        self, session: Session, bulk: BulkWriter, *, site_ids: frozenset[int] | None = None
    ) -> None:
        self.session = session
        self.bulk = bulk
        self.site_ids = site_ids

    def _of_sites(self, query: _Query) -> _Query:
        """``query`` (which selects from or joins :class:`Patient`) within ``site_ids``."""
        if self.site_ids is None:
            return query
        return query.where(Patient.site_id.in_(sorted(self.site_ids)))

    def sites(self) -> dict[str, int]:
        """Site id by code."""
        return {code: site_id for site_id, code in self.bulk.fetch("SELECT id, code FROM site")}

    def procedure_ids(self, pairs: Iterable[tuple[int, dt.date]]) -> dict[tuple[int, dt.date], int]:
        rows = self.bulk.select_in(
            "SELECT id, patient_id, procedure_date FROM procedure",
            ("patient_id", "procedure_date"),
            pairs,
        )
        return {(patient_id, to_date(day)): proc_id for proc_id, patient_id, day in rows}

    def procedure_values(self, patient_id: int, day: dt.date) -> tuple[str | None, str | None]:
        """The stored anaesthesia and operator of one procedure date."""
        row = self.session.execute(
            select(Procedure.anaesthesia, Procedure.operator).where(
                Procedure.patient_id == patient_id, Procedure.procedure_date == day
            )
        ).one()
        return row.anaesthesia, row.operator

    def adjudicators(self, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], str]:
        """The observer of the stored adjudicator reading per (vertebra id, visit id)."""
        rows = self.bulk.select_in(
            "SELECT vertebra_id, visit_id, observer, role FROM measurement",
            ("vertebra_id", "visit_id"),
            pairs,
        )
        return {
            (vertebra_id, visit_id): observer
            for vertebra_id, visit_id, observer, role in rows
            if role == "adjudicator"
        }

    def _index(self) -> Any:
        return (
            select(Procedure.patient_id, func.min(Procedure.procedure_date).label("index_date"))
            .group_by(Procedure.patient_id)
            .subquery()
        )

    def dates_after_index(self, limit: int) -> list[Any]:
        """Patients whose injury or symptom onset is after their index procedure."""
        index = self._index()
        return list(
            self.session.execute(
                self._of_sites(
                    select(
                        Patient.study_code,
                        Patient.injury_date,
                        Patient.symptom_onset_date,
                        index.c.index_date,
                    )
                    .join(index, index.c.patient_id == Patient.id)
                    .where(
                        (Patient.injury_date > index.c.index_date)
                        | (Patient.symptom_onset_date > index.c.index_date)
                    )
                ).limit(limit)
            )
        )

    def visits_out_of_order(self, preop: str, limit: int) -> list[Any]:
        """Postoperative visits before the index procedure, preop visits after it."""
        index = self._index()
        return list(
            self.session.execute(
                self._of_sites(
                    select(
                        Patient.study_code, Visit.timepoint, Visit.visit_date, index.c.index_date
                    )
                    .join(Patient, Patient.id == Visit.patient_id)
                    .join(index, index.c.patient_id == Visit.patient_id)
                    .where(
                        ((Visit.timepoint != preop) & (Visit.visit_date < index.c.index_date))
                        | ((Visit.timepoint == preop) & (Visit.visit_date > index.c.index_date))
                    )
                ).limit(limit)
            )
        )

    def events_before_index(self, limit: int) -> list[Any]:
        index = self._index()
        return list(
            self.session.execute(
                self._of_sites(
                    select(
                        Patient.study_code,
                        AdverseEvent.event_date,
                        AdverseEvent.type,
                        AdverseEvent.level,
                        index.c.index_date,
                    )
                    .join(Patient, Patient.id == AdverseEvent.patient_id)
                    .join(index, index.c.patient_id == AdverseEvent.patient_id)
                    .where(AdverseEvent.event_date < index.c.index_date)
                ).limit(limit)
            )
        )

    def untreated_with_procedure(self, limit: int) -> list[Any]:
        return list(
            self.session.execute(
                self._of_sites(
                    select(Patient.study_code, Vertebra.level)
                    .join(Patient, Patient.id == Vertebra.patient_id)
                    .join(TreatedLevel, TreatedLevel.vertebra_id == Vertebra.id)
                    .where(Vertebra.treated.is_(False))
                ).limit(limit)
            )
        )

    def delete_empty_procedures(self) -> list[tuple[str, dt.date]]:
        """Remove procedure dates with no treated level left; return (code, date) of each."""
        empty = list(
            self.session.execute(
                self._of_sites(
                    select(Procedure.id, Patient.study_code, Procedure.procedure_date)
                    .join(Patient, Patient.id == Procedure.patient_id)
                    .where(
                        ~select(TreatedLevel.id)
                        .where(TreatedLevel.procedure_id == Procedure.id)
                        .exists()
                    )
                )
            )
        )
        if empty:
            self.session.execute(
                delete(Procedure).where(Procedure.id.in_([row.id for row in empty]))
            )
        return [(row.study_code, row.procedure_date) for row in empty]
