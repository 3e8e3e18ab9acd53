"""The registry read back as rows of the canonical workbook (for export and reports).

Each sheet's rows come as dicts keyed by the workbook's column names, holding database
values (dates as ``date``, booleans as ``bool``), streamed in natural-key order:
patients by study code; within a patient, levels head to tail and time points in
protocol order. Plain column selects (no ORM objects) keep a million-row export fast.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from functools import lru_cache
from itertools import groupby
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kyphos.clinical import levels
from kyphos.clinical.protocol import parse_key
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

FETCH_ROWS = 5000


@lru_cache(maxsize=512)
def _timepoint_order(key: str) -> tuple[float, str]:
    try:
        point = parse_key(key)
    except ValueError:
        return (float("inf"), key)
    if point.is_final or point.target_day is None:
        return (float("inf"), key)
    return (float(point.target_day), key)


def _stream(
    session: Session, statement: Any, sort: Callable[[dict[str, Any]], Any] | None
) -> Iterator[dict[str, Any]]:
    rows = (
        dict(row)
        for row in session.execute(statement.execution_options(yield_per=FETCH_ROWS)).mappings()
    )
    if sort is None:
        yield from rows
        return
    for _, group in groupby(rows, key=lambda row: row["patient_id"]):
        yield from sorted(group, key=sort)


def _level_order(row: dict[str, Any]) -> int:
    return levels.LEVELS.index(row["level"])


def sheet_rows(session: Session, name: str) -> Iterator[dict[str, Any]]:
    """Every row of sheet ``name`` as database values keyed by workbook column."""
    code = Patient.study_code.label("patient_id")
    statement: Any
    if name == "patients":
        statement = (
            select(
                code,
                Site.code.label("site"),
                Patient.sex,
                Patient.age,
                Patient.birth_date,
                Patient.height_cm,
                Patient.weight_kg,
                Patient.bmd_t_score,
                Patient.comorbidities,
                Patient.injury_mechanism,
                Patient.injury_date,
                Patient.symptom_onset_date,
            )
            .join(Site, Site.id == Patient.site_id)
            .order_by(Patient.study_code)
        )
        yield from _stream(session, statement, None)
    elif name == "identity":
        statement = (
            select(
                code,
                PatientIdentity.full_name,
                PatientIdentity.hospital_number,
                PatientIdentity.phone,
            )
            .join(Patient, Patient.id == PatientIdentity.patient_id)
            .order_by(Patient.study_code)
        )
        yield from _stream(session, statement, None)
    elif name == "vertebrae":
        statement = (
            select(
                code,
                Vertebra.level,
                Vertebra.mri_t1,
                Vertebra.mri_t2,
                Vertebra.mri_stir,
                Vertebra.posterior_wall_intact,
                Vertebra.morphology,
                Vertebra.treated,
            )
            .join(Patient, Patient.id == Vertebra.patient_id)
            .order_by(Patient.study_code)
        )
        yield from _stream(session, statement, _level_order)
    elif name == "procedures":
        statement = (
            select(
                code,
                Vertebra.level,
                Procedure.procedure_date,
                TreatedLevel.technique,
                TreatedLevel.approach,
                Procedure.anaesthesia,
                TreatedLevel.cement_volume_ml,
                TreatedLevel.leakage,
                TreatedLevel.leakage_symptomatic,
                TreatedLevel.duration_min,
                Procedure.operator,
            )
            .join(Procedure, Procedure.id == TreatedLevel.procedure_id)
            .join(Vertebra, Vertebra.id == TreatedLevel.vertebra_id)
            .join(Patient, Patient.id == Vertebra.patient_id)
            .order_by(Patient.study_code)
        )
        yield from _stream(
            session, statement, lambda row: (row["procedure_date"], _level_order(row))
        )
    elif name == "visits":
        statement = (
            select(
                code,
                Visit.timepoint,
                Visit.visit_date,
                Visit.vas,
                *(getattr(Visit, f"odi_{n}") for n in range(1, 11)),
                Visit.odi_version,
                Visit.odi_language,
            )
            .join(Patient, Patient.id == Visit.patient_id)
            .order_by(Patient.study_code)
        )
        yield from _stream(session, statement, lambda row: _timepoint_order(row["timepoint"]))
    elif name == "measurements":
        statement = (
            select(
                code,
                Vertebra.level,
                Visit.timepoint,
                Measurement.observer,
                Measurement.role,
                Measurement.anterior_height_mm,
                Measurement.middle_height_mm,
                Measurement.posterior_height_mm,
                Measurement.wedge_angle_deg,
                Measurement.kyphotic_angle_deg,
            )
            .join(Vertebra, Vertebra.id == Measurement.vertebra_id)
            .join(Visit, Visit.id == Measurement.visit_id)
            .join(Patient, Patient.id == Vertebra.patient_id)
            .order_by(Patient.study_code)
        )
        yield from _stream(
            session,
            statement,
            lambda row: (
                _level_order(row),
                _timepoint_order(row["timepoint"]),
                row["observer"],
                row["role"],
            ),
        )
    elif name == "adverse_events":
        statement = (
            select(
                code,
                AdverseEvent.event_date,
                AdverseEvent.type,
                AdverseEvent.level,
                AdverseEvent.serious,
                AdverseEvent.related,
                AdverseEvent.description,
            )
            .join(Patient, Patient.id == AdverseEvent.patient_id)
            .order_by(Patient.study_code)
        )
        for row in _stream(
            session, statement, lambda row: (row["event_date"], row["type"], row["level"])
        ):
            row["level"] = row["level"] or None
            yield row
    else:
        raise ValueError(f"{name}: not a sheet of the canonical workbook")


SHEET_TABLES = {
    "patients": Patient,
    "identity": PatientIdentity,
    "vertebrae": Vertebra,
    "procedures": TreatedLevel,
    "visits": Visit,
    "measurements": Measurement,
    "adverse_events": AdverseEvent,
}


def sheet_row_count(session: Session, name: str) -> int:
    """How many rows sheet ``name`` would have."""
    model = SHEET_TABLES[name]
    return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def index_dates(session: Session) -> dict[str, dt.date]:
    """Each patient's index procedure date (the earliest), by study code."""
    rows = session.execute(
        select(Patient.study_code, func.min(Procedure.procedure_date))
        .join(Procedure, Procedure.patient_id == Patient.id)
        .group_by(Patient.study_code)
    )
    return {code: day for code, day in rows}
