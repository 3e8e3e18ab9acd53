"""Read models for the web app and the REST API: dashboard, patient list, patient page.

Every query here is filtered through :mod:`kyphos.registry.access`; reading identity
writes an audit event. Results are plain dataclasses (no ORM rows leave this module).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from kyphos.clinical import odi
from kyphos.clinical.errors import ClinicalValueError
from kyphos.clinical.fracture import mri_acuity
from kyphos.clinical.levels import level_index
from kyphos.registry import access
from kyphos.registry.access import Principal
from kyphos.registry.models import (
    AdverseEvent,
    Measurement,
    Patient,
    PatientIdentity,
    Procedure,
    Site,
    TreatedLevel,
    User,
    UserSite,
    Vertebra,
    Visit,
)
from kyphos.registry.repository import Registry

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_SEARCH_CHARS = 100


def account(
    registry: Registry, user_id: int, *, generation: int | None = None
) -> tuple[Principal, str] | None:
    """The principal and language of an active user; None for a missing or disabled one.

    With ``generation`` (a session cookie's), also None when the user's sessions have
    been ended since that session began (sign-out, password reset, disabled). One query:
    this runs on every request.
    """
    with registry.read() as session:
        rows = session.execute(
            select(
                User.username,
                User.role,
                User.active,
                User.lang,
                User.session_generation,
                UserSite.site_id,
            )
            .outerjoin(UserSite, UserSite.user_id == User.id)
            .where(User.id == user_id)
        ).all()
    if not rows:
        return None
    username, role, active, lang, current, _ = rows[0]
    if not active or (generation is not None and generation != current):
        return None
    sites = frozenset(row.site_id for row in rows if row.site_id is not None)
    return Principal(user_id=user_id, username=username, role=role, site_ids=sites), lang


def session_generation(registry: Registry, user_id: int) -> int:
    """The generation a session beginning now carries (see :func:`end_sessions`)."""
    with registry.read() as session:
        current = session.execute(
            select(User.session_generation).where(User.id == user_id)
        ).scalar_one_or_none()
    return current or 0


def end_sessions(registry: Registry, principal: Principal, *, reason: str) -> None:
    """Sign ``principal`` out everywhere: every session begun before ends now; audited."""
    with registry.write() as session:
        session.execute(
            update(User)
            .where(User.id == principal.user_id)
            .values(session_generation=User.session_generation + 1)
        )
        registry.record(
            session, action="logout", entity="session", entity_key=principal.username, reason=reason
        )


def set_user_language(registry: Registry, principal: Principal, lang: str) -> None:
    """Keep ``lang`` (en or zh) as the user's language; audited."""
    if lang not in ("en", "zh"):
        raise ClinicalValueError("lang", f"{lang!r} is not a language kyphos speaks (en, zh)")
    with registry.write() as session:
        user = session.get(User, principal.user_id)
        if user is None or user.lang == lang:
            return
        before = user.lang
        user.lang = lang
        registry.record(
            session,
            action="update",
            entity="user",
            entity_key=user.username,
            before={"lang": before},
            after={"lang": lang},
        )


def visible_sites(registry: Registry, principal: Principal) -> list[tuple[str, str]]:
    """(code, name) of the sites ``principal`` may see, by code."""
    with registry.read() as session:
        rows = session.execute(
            select(Site.code, Site.name).where(access.site_filter(principal)).order_by(Site.code)
        ).all()
        return [(code, name) for code, name in rows]


# --- dashboard ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Completeness:
    """How many visible patients have a visit, a VAS, an ODI score and a measurement."""

    timepoint: str
    visits: int
    vas: int
    odi: int
    measured: int


@dataclass(frozen=True)
class Dashboard:
    patients: int
    enrolment: list[tuple[str, int]]
    """(YYYY-MM of the index procedure, patients), oldest first."""
    without_procedure: int
    completeness: list[Completeness]


def dashboard(registry: Registry, principal: Principal) -> Dashboard:
    visible = access.patient_filter(principal)
    with registry.read() as session:
        patients = session.execute(
            select(func.count()).select_from(Patient).where(visible)
        ).scalar_one()
        index_dates = session.execute(
            select(Procedure.patient_id, func.min(Procedure.procedure_date))
            .join(Patient, Patient.id == Procedure.patient_id)
            .where(visible)
            .group_by(Procedure.patient_id)
        ).all()
        months = Counter(date.strftime("%Y-%m") for _, date in index_dates if date is not None)
        visit_rows = session.execute(
            select(Visit)
            .join(Patient, Patient.id == Visit.patient_id)
            .where(visible)
            .order_by(Visit.id)
        ).scalars()
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for visit in visit_rows:
            row = counts[visit.timepoint]
            row["visits"] += 1
            row["vas"] += visit.vas is not None
            row["odi"] += _odi_percent(visit) is not None
        measured = session.execute(
            select(Visit.timepoint, func.count(func.distinct(Visit.patient_id)))
            .join(Measurement, Measurement.visit_id == Visit.id)
            .join(Patient, Patient.id == Visit.patient_id)
            .where(visible)
            .group_by(Visit.timepoint)
        ).all()
    for timepoint, number in measured:
        counts[timepoint]["measured"] = number
    protocol_keys = list(registry.protocol().keys)
    order = protocol_keys + sorted(key for key in counts if key not in protocol_keys)
    return Dashboard(
        patients=patients,
        enrolment=sorted(months.items()),
        without_procedure=patients - len(index_dates),
        completeness=[
            Completeness(
                timepoint=key,
                visits=counts[key]["visits"],
                vas=counts[key]["vas"],
                odi=counts[key]["odi"],
                measured=counts[key]["measured"],
            )
            for key in order
        ],
    )


def _odi_percent(visit: Visit) -> float | None:
    answers = [getattr(visit, odi.answer_field(n)) for n in range(1, odi.SECTION_COUNT + 1)]
    if all(answer is None for answer in answers):
        return None
    try:
        return odi.score(answers).percent
    except ClinicalValueError:  # too many sections missing: no score
        return None


# --- patient list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientRow:
    study_code: str
    site: str
    sex: str
    age: int | None
    levels: list[str]


@dataclass(frozen=True)
class PatientPage:
    rows: list[PatientRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def list_patients(
    registry: Registry,
    principal: Principal,
    *,
    search: str = "",
    site: str = "",
    page: int = 1,
    page_size: int = PAGE_SIZE,
    also: Sequence[ColumnElement[bool]] = (),
) -> PatientPage:
    """One page of the patients ``principal`` may see, by study code.

    ``search`` matches a part of the study code; for those who may read identity also a
    part of the name or the hospital number (of visible patients only). ``also``: more
    conditions on ``Patient`` (the page's level, leakage and overdue filters).
    """
    if page < 1:
        raise ClinicalValueError("page", f"{page} is not a page number (1 or more)")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ClinicalValueError("page_size", f"{page_size} is not a page size (1–{MAX_PAGE_SIZE})")
    search = search.strip()
    if len(search) > MAX_SEARCH_CHARS:
        raise ClinicalValueError("q", f"use at most {MAX_SEARCH_CHARS} characters")
    query = (
        select(Patient)
        .join(Site, Site.id == Patient.site_id)
        .where(access.patient_filter(principal))
    )
    if site:
        query = query.where(Site.code == site.strip())
    if search:
        pattern = f"%{_escape_like(search.lower())}%"
        matches = [func.lower(Patient.study_code).like(pattern, escape="\\")]
        if access.may_search_identity(principal):
            query = query.outerjoin(PatientIdentity, PatientIdentity.patient_id == Patient.id)
            matches.append(func.lower(PatientIdentity.full_name).like(pattern, escape="\\"))
            matches.append(func.lower(PatientIdentity.hospital_number).like(pattern, escape="\\"))
        query = query.where(or_(*matches))
    for condition in also:
        query = query.where(condition)
    with registry.read() as session:
        total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        patients = list(
            session.execute(
                query.order_by(Patient.study_code).offset((page - 1) * page_size).limit(page_size)
            ).scalars()
        )
        level_rows = session.execute(
            select(Vertebra.patient_id, Vertebra.level).where(
                Vertebra.patient_id.in_([patient.id for patient in patients])
            )
        ).all()
    levels: dict[int, list[str]] = defaultdict(list)
    for patient_id, level in level_rows:
        levels[patient_id].append(level)
    rows = [
        PatientRow(
            study_code=patient.study_code,
            site=patient.site.code,
            sex=patient.sex,
            age=patient.age,
            levels=_spine_order(levels[patient.id]),
        )
        for patient in patients
    ]
    return PatientPage(rows=rows, total=total, page=page, page_size=page_size)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _spine_order(names: list[str]) -> list[str]:
    from kyphos.clinical.levels import LEVELS

    return sorted(names, key=LEVELS.index)


# --- patient page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    full_name: str | None
    hospital_number: str | None
    phone: str | None


@dataclass(frozen=True)
class VertebraView:
    level: str
    mri_t1: str | None
    mri_t2: str | None
    mri_stir: str | None
    acuity: str
    posterior_wall_intact: bool | None
    morphology: str | None
    treated: bool


@dataclass(frozen=True)
class TreatedLevelView:
    level: str
    technique: str
    approach: str | None
    cement_volume_ml: float | None
    leakage: list[str]
    leakage_symptomatic: bool | None


@dataclass(frozen=True)
class ProcedureView:
    procedure_date: dt.date
    anaesthesia: str | None
    operator: str | None
    levels: list[TreatedLevelView]


@dataclass(frozen=True)
class VisitView:
    timepoint: str
    visit_date: dt.date | None
    vas: float | None
    odi_percent: float | None
    odi_band: str | None


@dataclass(frozen=True)
class PatientDetail:
    study_code: str
    site: str
    sex: str
    age: int | None
    birth_date: dt.date | None
    height_cm: float | None
    weight_kg: float | None
    bmd_t_score: float | None
    comorbidities: list[str]
    injury_mechanism: str | None
    injury_date: dt.date | None
    symptom_onset_date: dt.date | None
    vertebrae: list[VertebraView]
    procedures: list[ProcedureView]
    visits: list[VisitView]
    identity_allowed: bool
    identity: Identity | None = field(default=None)
    """Set only when ``identity_allowed`` and an identity is recorded."""


@dataclass(frozen=True)
class EventView:
    id: int
    event_date: dt.date
    type: str
    level: str | None


@dataclass(frozen=True)
class MeasurementView:
    id: int
    level: str
    timepoint: str
    observer: str
    role: str
    anterior_height_mm: float | None
    middle_height_mm: float | None
    posterior_height_mm: float | None
    wedge_angle_deg: float | None
    kyphotic_angle_deg: float | None


@dataclass(frozen=True)
class PatientRecords:
    """The rest of the patient page, read with its :class:`PatientDetail`: adverse events
    and measurements (by id), and the id of each record the page shows, by what it shows
    of it (level, procedure date, time point), for the edit links."""

    vertebra_ids: dict[str, int]
    procedure_ids: dict[dt.date, int]
    visit_ids: dict[str, int]
    events: list[EventView]
    measurements: list[MeasurementView]


@dataclass
class _PatientRows:
    """One patient's rows as read (inside one session)."""

    patient: Patient
    identity_allowed: bool
    identity: PatientIdentity | None
    vertebrae: list[Vertebra]
    procedures: list[Procedure]
    treated: list[TreatedLevel]
    visits: list[Visit]


def patient_detail(registry: Registry, principal: Principal, study_code: str) -> PatientDetail:
    """The patient's content; raises the same NotFoundError for missing and hidden.

    Identity is included for those allowed to read it, and that read is audited.
    """
    with registry.read() as session:
        rows = _patient_rows(session, principal, study_code)
    return _detail(registry, rows)


def patient_page(
    registry: Registry, principal: Principal, study_code: str
) -> tuple[PatientDetail, PatientRecords]:
    """The patient page: :func:`patient_detail` and :class:`PatientRecords`, read in one
    transaction with one query per table."""
    with registry.read() as session:
        rows = _patient_rows(session, principal, study_code)
        records = _patient_records(session, rows, principal)
    return _detail(registry, rows), records


def _patient_rows(session: Session, principal: Principal, study_code: str) -> _PatientRows:
    patient = access.visible_patient(session, principal, study_code)
    identity_allowed = access.may_read_identity(principal, patient)
    procedures = list(
        session.execute(
            select(Procedure)
            .where(Procedure.patient_id == patient.id)
            .order_by(Procedure.procedure_date)
        ).scalars()
    )
    treated = (
        list(
            session.execute(
                select(TreatedLevel)
                .where(TreatedLevel.procedure_id.in_([procedure.id for procedure in procedures]))
                .order_by(TreatedLevel.id)
            ).scalars()
        )
        if procedures
        else []
    )
    return _PatientRows(
        patient=patient,
        identity_allowed=identity_allowed,
        identity=session.get(PatientIdentity, patient.id) if identity_allowed else None,
        vertebrae=list(
            session.execute(select(Vertebra).where(Vertebra.patient_id == patient.id)).scalars()
        ),
        procedures=procedures,
        treated=treated,
        visits=list(session.execute(select(Visit).where(Visit.patient_id == patient.id)).scalars()),
    )


def _patient_records(session: Session, rows: _PatientRows, principal: Principal) -> PatientRecords:
    patient_id = rows.patient.id
    events = session.execute(
        select(AdverseEvent.id, AdverseEvent.event_date, AdverseEvent.type, AdverseEvent.level)
        .where(AdverseEvent.patient_id == patient_id)
        .order_by(AdverseEvent.id)
    ).all()
    levels = {vertebra.id: vertebra.level for vertebra in rows.vertebrae}
    timepoints = {visit.id: visit.timepoint for visit in rows.visits}
    measured = (
        session.execute(
            select(
                Measurement.id,
                Measurement.vertebra_id,
                Measurement.visit_id,
                Measurement.observer,
                Measurement.role,
                Measurement.anterior_height_mm,
                Measurement.middle_height_mm,
                Measurement.posterior_height_mm,
                Measurement.wedge_angle_deg,
                Measurement.kyphotic_angle_deg,
            )
            .where(Measurement.vertebra_id.in_(list(levels)))
            .order_by(Measurement.id)
        ).all()
        if levels
        else []
    )
    hidden = access.blinded_visits(session, principal)
    measured = [
        row for row in measured if not access.blinded(hidden, principal, row.visit_id, row.observer)
    ]
    return PatientRecords(
        vertebra_ids={level: id_ for id_, level in levels.items()},
        procedure_ids={procedure.procedure_date: procedure.id for procedure in rows.procedures},
        visit_ids={timepoint: id_ for id_, timepoint in timepoints.items()},
        events=[
            EventView(id=id_, event_date=day, type=kind, level=level or None)
            for id_, day, kind, level in events
        ],
        measurements=[
            MeasurementView(
                id=row.id,
                level=levels[row.vertebra_id],
                timepoint=timepoints.get(row.visit_id, ""),
                observer=row.observer,
                role=row.role,
                anterior_height_mm=row.anterior_height_mm,
                middle_height_mm=row.middle_height_mm,
                posterior_height_mm=row.posterior_height_mm,
                wedge_angle_deg=row.wedge_angle_deg,
                kyphotic_angle_deg=row.kyphotic_angle_deg,
            )
            for row in measured
        ],
    )


def _detail(registry: Registry, rows: _PatientRows) -> PatientDetail:
    """The detail of rows read; audits the read of identity when it shows one."""
    patient = rows.patient
    order = {key: position for position, key in enumerate(registry.protocol().keys)}
    visits = sorted(
        rows.visits,
        key=lambda v: (order.get(v.timepoint, len(order)), v.visit_date or dt.date.max),
    )
    by_id = {vertebra.id: vertebra.level for vertebra in rows.vertebrae}
    treated: dict[int, list[TreatedLevel]] = defaultdict(list)
    for level in rows.treated:
        treated[level.procedure_id].append(level)
    identity = None
    if rows.identity is not None:
        identity = Identity(
            full_name=rows.identity.full_name,
            hospital_number=rows.identity.hospital_number,
            phone=rows.identity.phone,
        )
        with registry.write() as session:
            registry.record(
                session,
                action="read_identity",
                entity="identity",
                entity_key=patient.study_code,
                reason="patient page",
            )
    return PatientDetail(
        study_code=patient.study_code,
        site=patient.site.code,
        sex=patient.sex,
        age=patient.age,
        birth_date=patient.birth_date,
        height_cm=patient.height_cm,
        weight_kg=patient.weight_kg,
        bmd_t_score=patient.bmd_t_score,
        comorbidities=[item for item in (patient.comorbidities or "").split(";") if item],
        injury_mechanism=patient.injury_mechanism,
        injury_date=patient.injury_date,
        symptom_onset_date=patient.symptom_onset_date,
        vertebrae=[
            VertebraView(
                level=vertebra.level,
                mri_t1=vertebra.mri_t1,
                mri_t2=vertebra.mri_t2,
                mri_stir=vertebra.mri_stir,
                acuity=str(mri_acuity(vertebra.mri_t1, vertebra.mri_t2, vertebra.mri_stir)),
                posterior_wall_intact=vertebra.posterior_wall_intact,
                morphology=vertebra.morphology,
                treated=vertebra.treated,
            )
            for vertebra in sorted(rows.vertebrae, key=lambda v: level_index(v.level))
        ],
        procedures=[
            ProcedureView(
                procedure_date=procedure.procedure_date,
                anaesthesia=procedure.anaesthesia,
                operator=procedure.operator,
                levels=[
                    TreatedLevelView(
                        level=by_id[level.vertebra_id],
                        technique=level.technique,
                        approach=level.approach,
                        cement_volume_ml=level.cement_volume_ml,
                        leakage=[site for site in level.leakage.split(";") if site],
                        leakage_symptomatic=level.leakage_symptomatic,
                    )
                    for level in treated[procedure.id]
                ],
            )
            for procedure in rows.procedures
        ],
        visits=[
            VisitView(
                timepoint=visit.timepoint,
                visit_date=visit.visit_date,
                vas=visit.vas,
                odi_percent=(percent := _odi_percent(visit)),
                odi_band=None if percent is None else odi.band(percent),
            )
            for visit in visits
        ],
        identity_allowed=rows.identity_allowed,
        identity=identity,
    )
