"""The registry schema (SQLAlchemy 2.0 typed models).

One registry is one study (DESIGN.md "Data model"). Clinical values are validated by
:mod:`kyphos.clinical` before they get here; the CHECK, UNIQUE and FOREIGN KEY
constraints below protect them again, so nothing invalid lands by another path.
Every row carries a ``version``: SQLAlchemy refuses a stale update
(optimistic locking), which :mod:`kyphos.registry.repository` turns into a
:class:`kyphos.errors.ConflictError`.

Identifying data live in :class:`PatientIdentity` only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from kyphos.clinical import geometry, levels, odi
from kyphos.clinical.fracture import AdverseEventType, Morphology, MriSignal
from kyphos.clinical.patient import (
    MAX_AGE_YEARS,
    MAX_BMD_T_SCORE,
    MAX_HEIGHT_CM,
    MAX_WEIGHT_KG,
    MIN_AGE_YEARS,
    MIN_BMD_T_SCORE,
    MIN_HEIGHT_CM,
    MIN_WEIGHT_KG,
    InjuryMechanism,
    Sex,
)
from kyphos.clinical.procedure import (
    MAX_CEMENT_VOLUME_ML,
    MAX_DURATION_MIN,
    Anaesthesia,
    Approach,
    ObserverRole,
    Related,
    Technique,
)
from kyphos.clinical.vas import VAS_MAX_CM

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("admin", "investigator", "observer", "analyst")


def _in(column: str, allowed: Any) -> str:
    words = ", ".join(f"'{value!s}'" for value in allowed)
    return f"{column} IS NULL OR {column} IN ({words})"


def _between(column: str, low: float, high: float) -> str:
    return f"{column} IS NULL OR ({column} >= {low} AND {column} <= {high})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class RegistryInfo(Base):
    """One row: facts about this registry (demo flag, study protocol)."""

    __tablename__ = "registry_info"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    demo: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    protocol: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)
    __mapper_args__ = {"version_id_col": version}


class Site(Base):
    __tablename__ = "site"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}


class UserSite(Base):
    __tablename__ = "user_site"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), primary_key=True)


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    lang: Mapped[str] = mapped_column(String(2), nullable=False, default="en")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    session_generation: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    """Signed-in sessions carry the generation they began in; sign-out, disabling the
    user and a password reset move it on, which ends every session begun before."""

    sites: Mapped[list[Site]] = relationship(secondary="user_site", lazy="selectin")

    __table_args__ = (
        CheckConstraint(f"role IN ({', '.join(repr(r) for r in ROLES)})", name="role"),
        CheckConstraint("lang IN ('en', 'zh')", name="lang"),
    )
    __mapper_args__ = {"version_id_col": version}


class Patient(Base):
    __tablename__ = "patient"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_code: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), nullable=False, index=True)
    sex: Mapped[str] = mapped_column(String(1), nullable=False)
    age: Mapped[int | None] = mapped_column(Integer)
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    height_cm: Mapped[float | None] = mapped_column(Float)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    bmd_t_score: Mapped[float | None] = mapped_column(Float)
    comorbidities: Mapped[str | None] = mapped_column(String(300))
    injury_mechanism: Mapped[str | None] = mapped_column(String(32))
    injury_date: Mapped[dt.date | None] = mapped_column(Date)
    symptom_onset_date: Mapped[dt.date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    site: Mapped[Site] = relationship(lazy="joined")

    __table_args__ = (
        CheckConstraint(_in("sex", list(Sex)), name="sex"),
        CheckConstraint("sex IS NOT NULL", name="sex_required"),
        CheckConstraint("age IS NOT NULL OR birth_date IS NOT NULL", name="age_or_birth_date"),
        CheckConstraint(_between("age", MIN_AGE_YEARS, MAX_AGE_YEARS), name="age"),
        CheckConstraint(_between("height_cm", MIN_HEIGHT_CM, MAX_HEIGHT_CM), name="height_cm"),
        CheckConstraint(_between("weight_kg", MIN_WEIGHT_KG, MAX_WEIGHT_KG), name="weight_kg"),
        CheckConstraint(
            _between("bmd_t_score", MIN_BMD_T_SCORE, MAX_BMD_T_SCORE), name="bmd_t_score"
        ),
        CheckConstraint(_in("injury_mechanism", list(InjuryMechanism)), name="injury_mechanism"),
    )
    __mapper_args__ = {"version_id_col": version}


class PatientIdentity(Base):
    """Identifying data, kept apart: read only by admins and the site's investigators."""

    __tablename__ = "patient_identity"

    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), primary_key=True
    )
    full_name: Mapped[str | None] = mapped_column(String(200))
    hospital_number: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}


class Vertebra(Base):
    __tablename__ = "vertebra"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), nullable=False
    )
    level: Mapped[str] = mapped_column(String(3), nullable=False)
    mri_t1: Mapped[str | None] = mapped_column(String(4))
    mri_t2: Mapped[str | None] = mapped_column(String(4))
    mri_stir: Mapped[str | None] = mapped_column(String(4))
    posterior_wall_intact: Mapped[bool | None] = mapped_column(Boolean)
    morphology: Mapped[str | None] = mapped_column(String(10))
    treated: Mapped[bool] = mapped_column(Boolean, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __table_args__ = (
        UniqueConstraint("patient_id", "level"),
        CheckConstraint(f"level IN ({', '.join(repr(x) for x in levels.LEVELS)})", name="level"),
        CheckConstraint(_in("mri_t1", list(MriSignal)), name="mri_t1"),
        CheckConstraint(_in("mri_t2", list(MriSignal)), name="mri_t2"),
        CheckConstraint(_in("mri_stir", list(MriSignal)), name="mri_stir"),
        CheckConstraint(_in("morphology", list(Morphology)), name="morphology"),
    )
    __mapper_args__ = {"version_id_col": version}


class Procedure(Base):
    """One procedure date of a patient; its treated levels hang below it."""

    __tablename__ = "procedure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), nullable=False
    )
    procedure_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    anaesthesia: Mapped[str | None] = mapped_column(String(8))
    operator: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __table_args__ = (
        UniqueConstraint("patient_id", "procedure_date"),
        CheckConstraint(_in("anaesthesia", list(Anaesthesia)), name="anaesthesia"),
    )
    __mapper_args__ = {"version_id_col": version}


class TreatedLevel(Base):
    """The augmentation of one vertebra: technique, cement, leakage."""

    __tablename__ = "treated_level"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    procedure_id: Mapped[int] = mapped_column(
        ForeignKey("procedure.id", ondelete="CASCADE"), nullable=False, index=True
    )
    vertebra_id: Mapped[int] = mapped_column(
        ForeignKey("vertebra.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    technique: Mapped[str] = mapped_column(String(16), nullable=False)
    approach: Mapped[str | None] = mapped_column(String(16))
    cement_volume_ml: Mapped[float | None] = mapped_column(Float)
    leakage: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    leakage_symptomatic: Mapped[bool | None] = mapped_column(Boolean)
    duration_min: Mapped[float | None] = mapped_column(Float)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __table_args__ = (
        CheckConstraint(_in("technique", list(Technique)), name="technique"),
        CheckConstraint(_in("approach", list(Approach)), name="approach"),
        CheckConstraint(
            f"cement_volume_ml IS NULL OR (cement_volume_ml > 0 "
            f"AND cement_volume_ml <= {MAX_CEMENT_VOLUME_ML})",
            name="cement_volume_ml",
        ),
        CheckConstraint(
            f"duration_min IS NULL OR (duration_min > 0 AND duration_min <= {MAX_DURATION_MIN})",
            name="duration_min",
        ),
    )
    __mapper_args__ = {"version_id_col": version}


class Visit(Base):
    __tablename__ = "visit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), nullable=False
    )
    timepoint: Mapped[str] = mapped_column(String(16), nullable=False)
    visit_date: Mapped[dt.date | None] = mapped_column(Date)
    vas: Mapped[float | None] = mapped_column(Float)
    odi_1: Mapped[int | None] = mapped_column(Integer)
    odi_2: Mapped[int | None] = mapped_column(Integer)
    odi_3: Mapped[int | None] = mapped_column(Integer)
    odi_4: Mapped[int | None] = mapped_column(Integer)
    odi_5: Mapped[int | None] = mapped_column(Integer)
    odi_6: Mapped[int | None] = mapped_column(Integer)
    odi_7: Mapped[int | None] = mapped_column(Integer)
    odi_8: Mapped[int | None] = mapped_column(Integer)
    odi_9: Mapped[int | None] = mapped_column(Integer)
    odi_10: Mapped[int | None] = mapped_column(Integer)
    odi_version: Mapped[str] = mapped_column(String(16), nullable=False, default=odi.VERSION)
    odi_language: Mapped[str | None] = mapped_column(String(2))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __table_args__ = (
        UniqueConstraint("patient_id", "timepoint"),
        CheckConstraint(_between("vas", 0, VAS_MAX_CM), name="vas"),
        *(
            CheckConstraint(_between(f"odi_{n}", 0, odi.MAX_ANSWER), name=f"odi_{n}")
            for n in range(1, odi.SECTION_COUNT + 1)
        ),
        CheckConstraint(_in("odi_language", odi.LANGUAGES), name="odi_language"),
    )
    __mapper_args__ = {"version_id_col": version}


class Radiograph(Base):
    __tablename__ = "radiograph"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), nullable=False, index=True
    )
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visit.id", ondelete="SET NULL"))
    view: Mapped[str] = mapped_column(String(16), nullable=False, default="lateral")
    file_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    spacing_row_mm: Mapped[float | None] = mapped_column(Float)
    spacing_col_mm: Mapped[float | None] = mapped_column(Float)
    spacing_source: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    kind: Mapped[str | None] = mapped_column(String(8))
    """dicom, png or jpeg (the stored, de-identified file)."""
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    burned_in_annotation: Mapped[str | None] = mapped_column(String(8))
    """DICOM BurnedInAnnotation as the file said (YES: text in the pixels may identify)."""
    photometric: Mapped[str | None] = mapped_column(String(16))
    transfer_syntax: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint("spacing_row_mm IS NULL OR spacing_row_mm > 0", name="spacing_row_mm"),
        CheckConstraint("spacing_col_mm IS NULL OR spacing_col_mm > 0", name="spacing_col_mm"),
    )
    __mapper_args__ = {"version_id_col": version}


class Reading(Base):
    """An observer's assignment to read one radiograph, and the landmarks placed so far.

    Landmarks stay here (a draft, seen by nobody else) until the observer submits;
    submitting writes one :class:`Measurement` per vertebra read and sets
    ``submitted_at``. Blinding: while an observer's reading of an image is not
    submitted, the other readings of it stay hidden from them.
    """

    __tablename__ = "reading"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    radiograph_id: Mapped[int] = mapped_column(
        ForeignKey("radiograph.id", ondelete="CASCADE"), nullable=False, index=True
    )
    observer_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id"), nullable=False, index=True
    )
    role: Mapped[str] = mapped_column(String(12), nullable=False, default="primary")
    landmarks: Mapped[str | None] = mapped_column(Text)
    assigned_by: Mapped[str] = mapped_column(String(64), nullable=False)
    assigned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __table_args__ = (
        UniqueConstraint("radiograph_id", "observer_id"),
        Index(
            "uq_reading_one_adjudicator",
            "radiograph_id",
            unique=True,
            sqlite_where=text("role = 'adjudicator'"),
            postgresql_where=text("role = 'adjudicator'"),
        ),
        CheckConstraint(_in("role", list(ObserverRole)), name="role"),
    )
    __mapper_args__ = {"version_id_col": version}


class Measurement(Base):
    """One observer's reading of one vertebra at one visit."""

    __tablename__ = "measurement"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vertebra_id: Mapped[int] = mapped_column(
        ForeignKey("vertebra.id", ondelete="CASCADE"), nullable=False
    )
    visit_id: Mapped[int] = mapped_column(
        ForeignKey("visit.id", ondelete="CASCADE"), nullable=False, index=True
    )
    radiograph_id: Mapped[int | None] = mapped_column(
        ForeignKey("radiograph.id", ondelete="SET NULL")
    )
    observer: Mapped[str] = mapped_column(String(64), nullable=False)
    role: Mapped[str] = mapped_column(String(12), nullable=False, default="primary")
    anterior_height_mm: Mapped[float | None] = mapped_column(Float)
    middle_height_mm: Mapped[float | None] = mapped_column(Float)
    posterior_height_mm: Mapped[float | None] = mapped_column(Float)
    wedge_angle_deg: Mapped[float | None] = mapped_column(Float)
    kyphotic_angle_deg: Mapped[float | None] = mapped_column(Float)
    landmarks: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    spacing_source: Mapped[str | None] = mapped_column(String(40))
    """Where the millimetres came from (pixel_spacing, imager_pixel_spacing, …, manual);
    None for values typed in."""

    __table_args__ = (
        UniqueConstraint("vertebra_id", "visit_id", "observer", "role"),
        Index(
            "uq_measurement_one_adjudicator",
            "vertebra_id",
            "visit_id",
            unique=True,
            sqlite_where=text("role = 'adjudicator'"),
            postgresql_where=text("role = 'adjudicator'"),
        ),
        CheckConstraint(_in("role", list(ObserverRole)), name="role"),
        *(
            CheckConstraint(_between(column, 0, geometry.MAX_HEIGHT_MM), name=column)
            for column in ("anterior_height_mm", "middle_height_mm", "posterior_height_mm")
        ),
        *(
            CheckConstraint(
                _between(column, geometry.MIN_ANGLE_DEG, geometry.MAX_ANGLE_DEG), name=column
            )
            for column in ("wedge_angle_deg", "kyphotic_angle_deg")
        ),
    )
    __mapper_args__ = {"version_id_col": version}


class AdverseEvent(Base):
    __tablename__ = "adverse_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), nullable=False
    )
    event_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    type: Mapped[str] = mapped_column(String(24), nullable=False)
    level: Mapped[str] = mapped_column(String(3), nullable=False, default="")
    serious: Mapped[bool | None] = mapped_column(Boolean)
    related: Mapped[str | None] = mapped_column(String(8))
    description: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __table_args__ = (
        UniqueConstraint("patient_id", "event_date", "type", "level"),
        CheckConstraint(_in("type", list(AdverseEventType)), name="type"),
        CheckConstraint(
            f"level = '' OR level IN ({', '.join(repr(x) for x in levels.LEVELS)})", name="level"
        ),
        CheckConstraint(_in("related", list(Related)), name="related"),
    )
    __mapper_args__ = {"version_id_col": version}


class AuditEvent(Base):
    """Append-only: one link of the registry's hash chain."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[str] = mapped_column(String(40), nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_key: Mapped[str | None] = mapped_column(String(200), index=True)
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)


class EvidenceCohort(Base):
    """A published cohort a user added (``kyphos evidence add``): the validated file.

    ``content`` is the file's JSON (printed statistics as printed text); ``key`` is the
    file's own key, unique in the registry (adding the same key again replaces it).
    """

    __tablename__ = "evidence_cohort"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    citation: Mapped[str] = mapped_column(String(300), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    source_name: Mapped[str | None] = mapped_column(String(300))
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __table_args__ = (CheckConstraint("key <> ''", name="key"),)
    __mapper_args__ = {"version_id_col": version}


class RevokedToken(Base):
    """A REST API bearer token revoked before it expired (kept until then).

    Only the token's SHA-256 is stored, never the token itself.
    """

    __tablename__ = "revoked_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True
    )
    revoked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}


ENTITY_MODELS: dict[str, type[Base]] = {
    "site": Site,
    "user": User,
    "patient": Patient,
    "identity": PatientIdentity,
    "vertebra": Vertebra,
    "procedure": Procedure,
    "treated_level": TreatedLevel,
    "visit": Visit,
    "radiograph": Radiograph,
    "reading": Reading,
    "measurement": Measurement,
    "adverse_event": AdverseEvent,
    "evidence_cohort": EvidenceCohort,
}

__all__ = [
    "ENTITY_MODELS",
    "ROLES",
    "AdverseEvent",
    "AuditEvent",
    "Base",
    "EvidenceCohort",
    "Measurement",
    "Patient",
    "PatientIdentity",
    "Procedure",
    "Radiograph",
    "Reading",
    "RegistryInfo",
    "RevokedToken",
    "Site",
    "TreatedLevel",
    "User",
    "UserSite",
    "Vertebra",
    "Visit",
]
