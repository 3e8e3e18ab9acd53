"""The registry as pandas frames, read in bulk for analysis (no per-patient queries).

Patients are identified by their internal row id, never by study code or identity;
dates stay dates here and :mod:`kyphos.analysis.dataset` turns them into day offsets.
``site`` (a site code) restricts every frame to that site's patients.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from kyphos.registry.models import (
    AdverseEvent,
    Measurement,
    Patient,
    Procedure,
    Site,
    TreatedLevel,
    Vertebra,
    Visit,
)

ODI_COLUMNS = [f"odi_{n}" for n in range(1, 11)]


def _frame(session: Session, statement: Any) -> pd.DataFrame:
    """Rows of ``statement`` as a frame, fetched as plain DB-API tuples.

    SQLAlchemy's Row objects cost about half the report's time at 100k patients; the
    statement is compiled once (values inlined) and run on the raw cursor. On SQLite
    dates then arrive as ISO text and booleans as 0/1, which the dataset converts.
    """
    connection = session.connection()
    sql = str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
        columns = [description[0] for description in cursor.description]
        return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
    finally:
        cursor.close()


def _for_site(statement: Any, site: str | None, patient_column: Any) -> Any:
    if site is None:
        return statement
    return statement.where(
        patient_column.in_(
            select(Patient.id).join(Site, Site.id == Patient.site_id).where(Site.code == site)
        )
    )


def patients(session: Session, site: str | None = None) -> pd.DataFrame:
    statement = select(
        Patient.id.label("patient"),
        Site.code.label("site"),
        Patient.sex,
        Patient.age,
        Patient.birth_date,
        Patient.height_cm,
        Patient.weight_kg,
        Patient.bmd_t_score,
        Patient.comorbidities,
        Patient.injury_mechanism,
    ).join(Site, Site.id == Patient.site_id)
    return _frame(session, _for_site(statement, site, Patient.id).order_by(Patient.id))


def vertebrae(session: Session, site: str | None = None) -> pd.DataFrame:
    statement = (
        select(
            Vertebra.id.label("vertebra"),
            Vertebra.patient_id.label("patient"),
            Vertebra.level,
            Vertebra.mri_t1,
            Vertebra.mri_t2,
            Vertebra.mri_stir,
            Vertebra.posterior_wall_intact,
            Vertebra.morphology,
            Vertebra.treated,
            Procedure.procedure_date,
            TreatedLevel.technique,
            TreatedLevel.approach,
            TreatedLevel.cement_volume_ml,
            TreatedLevel.leakage,
            TreatedLevel.leakage_symptomatic,
        )
        .outerjoin(TreatedLevel, TreatedLevel.vertebra_id == Vertebra.id)
        .outerjoin(Procedure, Procedure.id == TreatedLevel.procedure_id)
    )
    return _frame(session, _for_site(statement, site, Vertebra.patient_id).order_by(Vertebra.id))


def procedures(session: Session, site: str | None = None) -> pd.DataFrame:
    statement = select(
        Procedure.patient_id.label("patient"), Procedure.procedure_date, Procedure.anaesthesia
    )
    return _frame(session, _for_site(statement, site, Procedure.patient_id))


def visits(session: Session, site: str | None = None) -> pd.DataFrame:
    statement = select(
        Visit.id.label("visit"),
        Visit.patient_id.label("patient"),
        Visit.timepoint,
        Visit.visit_date,
        Visit.vas,
        *(getattr(Visit, column) for column in ODI_COLUMNS),
        Visit.odi_version,
    )
    return _frame(session, _for_site(statement, site, Visit.patient_id).order_by(Visit.id))


def measurements(session: Session, site: str | None = None) -> pd.DataFrame:
    statement = (
        select(
            Measurement.vertebra_id.label("vertebra"),
            Vertebra.patient_id.label("patient"),
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
    )
    return _frame(session, _for_site(statement, site, Vertebra.patient_id))


def adverse_events(session: Session, site: str | None = None) -> pd.DataFrame:
    statement = select(
        AdverseEvent.patient_id.label("patient"),
        AdverseEvent.event_date,
        AdverseEvent.type,
        AdverseEvent.level,
        AdverseEvent.serious,
        AdverseEvent.related,
    )
    return _frame(session, _for_site(statement, site, AdverseEvent.patient_id))


def site_exists(session: Session, code: str) -> bool:
    return session.execute(select(Site.id).where(Site.code == code)).first() is not None
