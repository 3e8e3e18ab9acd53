"""The request bodies of the REST API (``/api/v1``), as the OpenAPI document describes them.

The field names are those of :mod:`kyphos.registry.editing` (``*_FIELDS``, DATA.md §1).
The types are deliberately loose — a number may arrive as a string, a yes/no as
``true``, ``"yes"``, ``"是"`` or ``1`` — because the values are checked where every
other entry path checks them: by the use cases, through :mod:`kyphos.clinical`, which
report every problem of one request together, each located by its field. For the same
reason no field is required here (the use cases answer ``required`` for a missing one;
the descriptions say which are), and an unknown field is kept for the use case to
refuse ("is not a field of this record") while the schema documents it as not allowed.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, WithJsonSchema

from kyphos.clinical.errors import ClinicalValueErrors
from kyphos.clinical.values import NUL, nul_problem

_DATE_SCHEMA = WithJsonSchema({"type": "string", "format": "date"})

Text = str | int | float | None
"""Free text or a code (a number is taken as its text)."""
Date = Annotated[str, _DATE_SCHEMA] | None
"""An ISO date, ``YYYY-MM-DD``."""
Number = int | float | str | None
"""A number, or its text (``"7.5"``)."""
YesNo = bool | int | str | None
"""``true``/``false``, ``1``/``0``, or ``yes``/``no``, ``y``/``n``, ``是``/``否``."""
Listed = list[str] | str | None
"""A list of codes, or the codes separated by ``;``."""


def _nul_fields(value: object, field: str) -> list[str]:
    """The fields under ``value`` (``levels[0].operator``) whose text holds NUL."""
    if isinstance(value, str):
        return [field] if NUL in value else []
    if isinstance(value, dict):
        return [
            found
            for key, item in value.items()
            for found in _nul_fields(item, f"{field}.{key}" if field else str(key))
        ]
    if isinstance(value, list):
        return [
            found for n, item in enumerate(value) for found in _nul_fields(item, f"{field}[{n}]")
        ]
    return []


def _field(description: str, *examples: object) -> Any:
    """An optional field (absent: not given) documented by ``description``."""
    return Field(default=None, description=description, examples=list(examples) or None)


def _config(example: dict[str, Any] | None = None) -> ConfigDict:
    """Unknown fields kept (for the use case to refuse), documented as not allowed; an
    example body when given."""
    schema: dict[str, Any] = {"additionalProperties": False}
    if example is not None:
        schema["examples"] = [example]
    return ConfigDict(extra="allow", json_schema_extra=schema)


class RequestBody(BaseModel):
    """A JSON object whose fields the use cases parse; unknown fields reach them too."""

    model_config = _config()

    def values(self) -> dict[str, Any]:
        """The fields the client sent (unknown ones included), as plain JSON values.

        Raises :class:`ClinicalValueErrors` naming each field whose text holds NUL."""
        values = self.model_dump(exclude_unset=True)
        ClinicalValueErrors.raise_if_any(nul_problem(f) for f in _nul_fields(values, ""))
        return values


class _Versioned(RequestBody):
    version: StrictInt | None = _field(
        "Required: the version of the record you read (a stale one is a 409).", 1
    )


# --- patients -------------------------------------------------------------------------------


class IdentityIn(RequestBody):
    """Identifying data: only admins and the investigators of the patient's site."""

    full_name: Text = _field("Full name.")
    hospital_number: Text = _field("Hospital (medical record) number.")
    phone: Text = _field("Phone number.")


class _PatientFields(RequestBody):
    sex: Text = _field("Required: M or F (男/女 accepted).", "F")
    age: Number = _field("Years at the index procedure, 18–120; required unless birth_date.", 71)
    birth_date: Date = _field("ISO date.", "1953-04-02")
    height_cm: Number = _field("Height in cm, 100–230.", 158)
    weight_kg: Number = _field("Weight in kg, 25–250.", 52.5)
    bmd_t_score: Number = _field("Bone mineral density T-score, −7 … +4.", -3.1)
    comorbidities: Listed = _field(
        "none, hypertension, coronary_heart_disease, diabetes, chronic_bronchitis, copd, "
        "stroke, renal_failure, malignancy, other.",
        ["hypertension", "diabetes"],
    )
    injury_mechanism: Text = _field(
        "fall_walking, lifting, vehicle_jolt, twist_or_sit, none or other.", "fall_walking"
    )
    injury_date: Date = _field("ISO date; not after the index procedure.", "2024-02-20")
    symptom_onset_date: Date = _field("ISO date; not after the index procedure.", "2024-02-20")
    identity: IdentityIn | None = Field(
        default=None, description="Identifying data (admins and investigators only)."
    )


class PatientCreate(_PatientFields):
    """A new patient (DATA.md §1, patients)."""

    model_config = _config(
        {"patient_id": "P-001", "site": "MAIN", "sex": "F", "age": 71, "comorbidities": ["none"]}
    )

    patient_id: Text = _field("Required: the pseudonymous study code, unique, no spaces.", "P-001")
    site: Text = _field("Site code (one of yours); the default site when absent.", "MAIN")


class PatientUpdate(_PatientFields, _Versioned):
    """The fields to change of a patient (absent ones are kept)."""

    model_config = _config({"weight_kg": 54, "version": 1})

    site: Text = _field("Site code (one of yours).", "MAIN")


# --- records below a patient ------------------------------------------------------------------


class _VertebraFields(RequestBody):
    level: Text = _field("Required: C7, T1…T12, L1…L5 (unique per patient).", "T12")
    mri_t1: Text = _field("MRI T1 signal: low, iso or high.", "low")
    mri_t2: Text = _field("MRI T2 signal: low, iso or high.", "high")
    mri_stir: Text = _field("MRI STIR signal: low, iso or high.", "high")
    posterior_wall_intact: YesNo = _field("yes/no.", True)
    morphology: Text = _field("wedge, biconcave or crush.", "wedge")
    treated: YesNo = _field("Required: yes/no.", True)


class VertebraCreate(_VertebraFields):
    """A fractured vertebra (DATA.md §1, vertebrae)."""

    model_config = _config({"level": "T12", "mri_stir": "high", "treated": True})


class VertebraUpdate(_VertebraFields, _Versioned):
    """The fields to change of a vertebra."""

    model_config = _config({"morphology": "wedge", "version": 1})


class TreatedLevelIn(RequestBody):
    """One vertebra treated in a procedure (recorded with treated = yes)."""

    level: Text = _field("Required: a vertebra of this patient recorded as treated.", "T12")
    technique: Text = _field("kyphoplasty (default) or vertebroplasty.", "kyphoplasty")
    approach: Text = _field("unipedicular or bipedicular.", "bipedicular")
    cement_volume_ml: Number = _field("Cement volume in ml, 0 < v ≤ 20.", 4.5)
    leakage: Listed = _field(
        "none, needle_tract, intradiscal, anterior, lateral, paravertebral, epidural, venous, "
        "other.",
        ["intradiscal"],
    )
    leakage_symptomatic: YesNo = _field("yes/no.", False)
    duration_min: Number = _field("Duration in minutes.", 35)


class _ProcedureFields(RequestBody):
    procedure_date: Date = _field("Required: ISO date (one procedure per date).", "2024-03-01")
    anaesthesia: Text = _field("local or general.", "local")
    operator: Text = _field("Operator.")
    levels: list[TreatedLevelIn] | None = Field(
        default=None,
        description="Required on create: the treated levels (on update: replaces them).",
    )


class ProcedureCreate(_ProcedureFields):
    """A procedure with its treated levels (DATA.md §1, procedures)."""

    model_config = _config(
        {
            "procedure_date": "2024-03-01",
            "anaesthesia": "local",
            "levels": [{"level": "T12", "cement_volume_ml": 4.5, "leakage": ["none"]}],
        }
    )


class ProcedureUpdate(_ProcedureFields, _Versioned):
    """The fields to change of a procedure."""

    model_config = _config({"operator": "dr-li", "version": 1})


def _odi(section: int) -> Any:
    return _field(f"ODI v2.1a section {section}: integer answer 0–5.", 2)


class _VisitFields(RequestBody):
    timepoint: Text = _field(
        "Required: preop, postop, final, or d<N>/w<N>/m<N> (unique per patient).", "m3"
    )
    visit_date: Date = _field("ISO date; not before the procedure except preop.", "2024-06-01")
    vas: Number = _field("VAS pain, cm 0–10, one decimal.", 3.5)
    odi_1: Number = _odi(1)
    odi_2: Number = _odi(2)
    odi_3: Number = _odi(3)
    odi_4: Number = _odi(4)
    odi_5: Number = _odi(5)
    odi_6: Number = _odi(6)
    odi_7: Number = _odi(7)
    odi_8: Number = _odi(8)
    odi_9: Number = _odi(9)
    odi_10: Number = _odi(10)
    odi_version: Text = _field("ODI version (default 2.1a).", "2.1a")
    odi_language: Text = _field("en or zh.", "zh")


class VisitCreate(_VisitFields):
    """A visit at one time point (DATA.md §1, visits)."""

    model_config = _config(
        {"timepoint": "m3", "visit_date": "2024-06-01", "vas": 2.5, "odi_1": 1, "odi_2": 0}
    )


class VisitUpdate(_VisitFields, _Versioned):
    """The fields to change of a visit."""

    model_config = _config({"vas": 3, "version": 1})


def _height(which: str) -> Any:
    return _field(f"{which} height in mm, 0–60.", 21.5)


class _MeasurementFields(RequestBody):
    level: Text = _field("Required: a recorded vertebra of this patient.", "T12")
    timepoint: Text = _field("Required: a recorded visit of this patient.", "postop")
    observer: Text = _field("Required: user name or initials, no spaces.", "ab")
    role: Text = _field("primary (default) or adjudicator.", "primary")
    anterior_height_mm: Number = _height("Anterior")
    middle_height_mm: Number = _height("Middle")
    posterior_height_mm: Number = _height("Posterior")
    wedge_angle_deg: Number = _field("Wedge angle in degrees, −30 … 90.", 12.0)
    kyphotic_angle_deg: Number = _field("Segmental kyphotic angle in degrees, −30 … 90.", 15.0)


class MeasurementCreate(_MeasurementFields):
    """One observer's reading of a vertebra at a time point (DATA.md §1, measurements)."""

    model_config = _config(
        {"level": "T12", "timepoint": "preop", "observer": "ab", "anterior_height_mm": 18.5}
    )


class MeasurementUpdate(_MeasurementFields, _Versioned):
    """The fields to change of a measurement."""

    model_config = _config({"kyphotic_angle_deg": 14.5, "version": 1})


class _AdverseEventFields(RequestBody):
    event_date: Date = _field("Required: ISO date, not before the procedure.", "2024-05-01")
    type: Text = _field(
        "Required: adjacent_fracture, remote_fracture, refracture, cement_embolism, infection, "
        "neurologic_deficit, death or other.",
        "adjacent_fracture",
    )
    level: Text = _field("Level; required for the three fracture types.", "L1")
    serious: YesNo = _field("yes/no.", False)
    related: Text = _field("yes, no or unknown: related to the procedure.", "unknown")
    description: Text = _field("Free text (up to 4000 characters).")


class AdverseEventCreate(_AdverseEventFields):
    """An adverse event (DATA.md §1, adverse_events)."""

    model_config = _config(
        {"event_date": "2024-05-01", "type": "adjacent_fracture", "level": "L1", "serious": False}
    )


class AdverseEventUpdate(_AdverseEventFields, _Versioned):
    """The fields to change of an adverse event."""

    model_config = _config({"related": "unknown", "version": 1})


BODIES: dict[str, tuple[type[RequestBody], type[_Versioned]]] = {
    "vertebrae": (VertebraCreate, VertebraUpdate),
    "procedures": (ProcedureCreate, ProcedureUpdate),
    "visits": (VisitCreate, VisitUpdate),
    "measurements": (MeasurementCreate, MeasurementUpdate),
    "adverse-events": (AdverseEventCreate, AdverseEventUpdate),
}
"""The create and update bodies of each kind of record below a patient."""


# --- records out (the dicts of kyphos.registry.editing's *_record) ---------------------------


class _Record(BaseModel):
    id: int
    version: int


class IdentityRecord(BaseModel):
    full_name: str | None
    hospital_number: str | None
    phone: str | None
    version: int


class PatientRecord(BaseModel):
    """A patient as written; ``identity`` only for those allowed to read it."""

    patient_id: str
    site: str
    sex: str
    age: int | None
    birth_date: dt.date | None
    height_cm: float | None
    weight_kg: float | None
    bmd_t_score: float | None
    comorbidities: list[str] | None
    injury_mechanism: str | None
    injury_date: dt.date | None
    symptom_onset_date: dt.date | None
    version: int
    identity: IdentityRecord | None = Field(
        default=None, description="Present only for admins and the site's investigators."
    )


class VertebraRecord(_Record):
    level: str
    mri_t1: str | None
    mri_t2: str | None
    mri_stir: str | None
    posterior_wall_intact: bool | None
    morphology: str | None
    treated: bool


class TreatedLevelRecord(BaseModel):
    level: str
    technique: str
    approach: str | None
    cement_volume_ml: float | None
    leakage: list[str]
    leakage_symptomatic: bool | None
    duration_min: float | None


class ProcedureRecord(_Record):
    procedure_date: dt.date
    anaesthesia: str | None
    operator: str | None
    levels: list[TreatedLevelRecord]


class VisitRecord(_Record):
    timepoint: str
    visit_date: dt.date | None
    vas: float | None
    odi_1: int | None
    odi_2: int | None
    odi_3: int | None
    odi_4: int | None
    odi_5: int | None
    odi_6: int | None
    odi_7: int | None
    odi_8: int | None
    odi_9: int | None
    odi_10: int | None
    odi_version: str
    odi_language: str | None
    odi_percent: float | None
    odi_band: str | None
    odi_unscored_reason: str | None = Field(
        default=None,
        description="Why answered ODI sections give no score (more than 2 missing), else null.",
    )


class MeasurementRecord(_Record):
    level: str
    timepoint: str
    observer: str
    role: str
    anterior_height_mm: float | None
    middle_height_mm: float | None
    posterior_height_mm: float | None
    wedge_angle_deg: float | None
    kyphotic_angle_deg: float | None


class AdverseEventRecord(_Record):
    event_date: dt.date
    type: str
    level: str | None
    serious: bool | None
    related: str | None
    description: str | None


RECORDS: dict[str, type[_Record]] = {
    "vertebrae": VertebraRecord,
    "procedures": ProcedureRecord,
    "visits": VisitRecord,
    "measurements": MeasurementRecord,
    "adverse-events": AdverseEventRecord,
}
"""What the operations on each kind of record below a patient answer."""
