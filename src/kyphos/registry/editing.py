"""Create, update and delete one record at a time, as a signed-in user (forms, REST API).

Each use case takes the acting :class:`~kyphos.registry.access.Principal` and plain
values (text from a form, JSON values from the API), and:

* finds the patient with :func:`kyphos.registry.access.visible_patient` — a patient the
  principal cannot see is a :class:`~kyphos.errors.NotFoundError`, like a missing one;
* refuses a change the principal's role may not make on a patient it sees with
  :class:`AccessDenied` (the web layer answers 403);
* validates every value through :mod:`kyphos.clinical`; all problems of one request
  travel together in one :class:`~kyphos.clinical.errors.ClinicalValueErrors`, each
  named by its field as in DATA.md §1 (``odi_3``, ``levels[1].cement_volume_ml``);
* refuses an update or delete whose ``version`` is not the stored one with
  :class:`StaleVersion` (a :class:`~kyphos.errors.ConflictError` naming both versions);
* writes and audits (before/after, identity masked) in one transaction: nothing is
  written when anything is refused.

Records come back as plain dicts (``id``, ``version`` and the DATA.md field names).
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from kyphos.clinical import geometry, levels, odi, protocol, reading, vas
from kyphos.clinical.errors import ClinicalValueError, ClinicalValueErrors
from kyphos.clinical.fracture import (
    NEW_FRACTURE_TYPES,
    AdverseEventType,
    Morphology,
    parse_leakage,
    parse_signal,
)
from kyphos.clinical.patient import (
    SEX_ALIASES,
    Comorbidity,
    InjuryMechanism,
    Sex,
    check_age,
    check_bmd_t_score,
    check_height_cm,
    check_weight_kg,
)
from kyphos.clinical.procedure import (
    RELATED_ALIASES,
    Anaesthesia,
    Approach,
    ObserverRole,
    Related,
    Technique,
    check_cement_volume_ml,
    check_duration_min,
)
from kyphos.clinical.values import (
    parse_choice,
    parse_choice_set,
    parse_date,
    parse_text,
    parse_yes_no,
)
from kyphos.errors import ConflictError, KyphosError, NotFoundError
from kyphos.registry import access
from kyphos.registry.access import Principal
from kyphos.registry.models import (
    AdverseEvent,
    Base,
    Measurement,
    Patient,
    PatientIdentity,
    Procedure,
    RevokedToken,
    Site,
    TreatedLevel,
    Vertebra,
    Visit,
)
from kyphos.registry.repository import DEFAULT_SITE_CODE, Registry, snapshot

Parser = Callable[[object, str], Any]
Record = dict[str, Any]

MAX_TEXT = 200
MAX_LONG_TEXT = 4000


class AccessDenied(KyphosError):
    """The principal sees this patient but its role may not make this change (403)."""


class StaleVersion(ConflictError):
    """The record changed since the caller read it: ``yours`` is not ``stored``."""

    def __init__(self, what: str, yours: int, stored: int) -> None:
        super().__init__(
            f"{what} was saved by someone else first (your version {yours}, stored version "
            f"{stored}); nothing was overwritten — reload and apply your change again"
        )
        self.yours = yours
        self.stored = stored


# --- value readers (each one calls the clinical layer) -----------------------------------


def _text(value: object, field: str) -> str | None:
    return parse_text(value, field, max_length=MAX_TEXT)


def _long_text(value: object, field: str) -> str | None:
    return parse_text(value, field, max_length=MAX_LONG_TEXT)


def _code(value: object, field: str) -> str | None:
    text = _text(value, field)
    if text is not None and any(ch.isspace() for ch in text):
        raise ClinicalValueError(
            field,
            f"{text!r} contains spaces; codes are written without spaces",
            message_zh=f"{text!r} 含有空格；编码中不能有空格",
        )
    return text


def _level(value: object, field: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return levels.parse_level(value, field)


def _timepoint(value: object, field: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return protocol.parse_key(str(value)).key
    except ClinicalValueError as error:
        raise ClinicalValueError(field, error.message, message_zh=error.message_zh) from None


def _choice(choices: Any, aliases: Mapping[str, Any] | None = None) -> Parser:
    def parse(value: object, field: str) -> str | None:
        member = parse_choice(value, choices, field, dict(aliases) if aliases else None)
        return None if member is None else str(member.value)

    return parse


def _comorbidities(value: object, field: str) -> str | None:
    if isinstance(value, list | tuple):
        value = ";".join(str(item) for item in value)
    members = parse_choice_set(value, Comorbidity, field)
    return None if members is None else ";".join(sorted(m.value for m in members))


def _leakage(value: object, field: str) -> str:
    if isinstance(value, list | tuple):
        value = ";".join(str(item) for item in value)
    return ";".join(sorted(site.value for site in parse_leakage(value, field)))


def _signal(value: object, field: str) -> str | None:
    member = parse_signal(value, field)
    return None if member is None else member.value


def _odi_answer(section: int) -> Parser:
    def parse(value: object, field: str) -> int | None:
        try:
            return odi.parse_answer(value, section)
        except ClinicalValueError as error:
            raise ClinicalValueError(field, error.message, message_zh=error.message_zh) from None

    return parse


def _odi_language(value: object, field: str) -> str | None:
    text = _text(value, field)
    if text is not None and text.lower() not in odi.LANGUAGES:
        raise ClinicalValueError(
            field,
            f"{text!r} is not one of: {', '.join(odi.LANGUAGES)}",
            message_zh=f"{text!r} 不是以下之一：{', '.join(odi.LANGUAGES)}",
        )
    return None if text is None else text.lower()


def _height(value: object, field: str) -> float | None:
    return geometry.validate_height_mm(value, field)


def _angle(value: object, field: str) -> float | None:
    return geometry.validate_angle_deg(value, field)


# --- the fields of each record (DATA.md §1) -----------------------------------------------

PATIENT_FIELDS: dict[str, Parser] = {
    "sex": _choice(Sex, SEX_ALIASES),
    "age": check_age,
    "birth_date": parse_date,
    "height_cm": check_height_cm,
    "weight_kg": check_weight_kg,
    "bmd_t_score": check_bmd_t_score,
    "comorbidities": _comorbidities,
    "injury_mechanism": _choice(InjuryMechanism),
    "injury_date": parse_date,
    "symptom_onset_date": parse_date,
}
IDENTITY_FIELDS: dict[str, Parser] = {
    "full_name": _text,
    "hospital_number": _text,
    "phone": _text,
}
VERTEBRA_FIELDS: dict[str, Parser] = {
    "level": _level,
    "mri_t1": _signal,
    "mri_t2": _signal,
    "mri_stir": _signal,
    "posterior_wall_intact": parse_yes_no,
    "morphology": _choice(Morphology),
    "treated": parse_yes_no,
}
PROCEDURE_FIELDS: dict[str, Parser] = {
    "procedure_date": parse_date,
    "anaesthesia": _choice(Anaesthesia),
    "operator": _text,
}
TREATED_LEVEL_FIELDS: dict[str, Parser] = {
    "level": _level,
    "technique": _choice(Technique),
    "approach": _choice(Approach),
    "cement_volume_ml": check_cement_volume_ml,
    "leakage": _leakage,
    "leakage_symptomatic": parse_yes_no,
    "duration_min": check_duration_min,
}
VISIT_FIELDS: dict[str, Parser] = {
    "timepoint": _timepoint,
    "visit_date": parse_date,
    "vas": vas.parse_cm,
    **{odi.answer_field(n): _odi_answer(n) for n in range(1, odi.SECTION_COUNT + 1)},
    "odi_version": _text,
    "odi_language": _odi_language,
}
MEASUREMENT_FIELDS: dict[str, Parser] = {
    "level": _level,
    "timepoint": _timepoint,
    "observer": _code,
    "role": _choice(ObserverRole),
    "anterior_height_mm": _height,
    "middle_height_mm": _height,
    "posterior_height_mm": _height,
    "wedge_angle_deg": _angle,
    "kyphotic_angle_deg": _angle,
}
ADVERSE_EVENT_FIELDS: dict[str, Parser] = {
    "event_date": parse_date,
    "type": _choice(AdverseEventType),
    "level": _level,
    "serious": parse_yes_no,
    "related": _choice(Related, RELATED_ALIASES),
    "description": _long_text,
}


def _parse(
    values: Mapping[str, object],
    fields: Mapping[str, Parser],
    *,
    required: tuple[str, ...] = (),
    partial: bool = False,
    prefix: str = "",
) -> tuple[dict[str, Any], list[ClinicalValueError]]:
    """The values of ``fields`` that ``values`` hold, parsed; every problem, located.

    ``partial``: fields absent from ``values`` are left out (an update), else None.
    """
    parsed: dict[str, Any] = {}
    problems: list[ClinicalValueError] = []
    for name in values:
        if name not in fields:
            problems.append(
                ClinicalValueError(
                    prefix + name,
                    "is not a field of this record",
                    message_zh="不是该记录的字段",
                )
            )
    for name, parse in fields.items():
        if partial and name not in values:
            continue
        field = prefix + name
        try:
            value = parse(values.get(name), field)
        except ClinicalValueErrors as errors:
            problems.extend(errors.problems)
            continue
        except ClinicalValueError as error:
            problems.append(ClinicalValueError(field, error.message, message_zh=error.message_zh))
            continue
        if value is None and name in required:
            problems.append(_required(field))
            continue
        parsed[name] = value
    return parsed, problems


def _required(field: str) -> ClinicalValueError:
    return ClinicalValueError(field, "required", message_zh="必填")


def _problem(field: str, message: str, message_zh: str) -> ClinicalValueError:
    return ClinicalValueError(field, message, message_zh=message_zh)


def check_version(what: str, row: Any, version: object) -> None:
    """Refuse ``version`` unless it is the row's stored one (StaleVersion, 409)."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise ClinicalValueErrors(
            [_problem("version", "required: the version you read", "必填：所读取记录的版本")]
        )
    if row.version != version:
        raise StaleVersion(what, version, row.version)


# --- records out ---------------------------------------------------------------------------


def _columns(row: Base, names: Any) -> Record:
    return {name: getattr(row, name) for name in names}


def patient_record(patient: Patient, identity: PatientIdentity | None = None) -> Record:
    record = {
        "patient_id": patient.study_code,
        "site": patient.site.code,
        **_columns(patient, PATIENT_FIELDS),
        "version": patient.version,
    }
    record["comorbidities"] = (
        None
        if patient.comorbidities is None
        else [c for c in patient.comorbidities.split(";") if c]
    )
    if identity is not None:
        record["identity"] = {**_columns(identity, IDENTITY_FIELDS), "version": identity.version}
    return record


def vertebra_record(vertebra: Vertebra) -> Record:
    return {"id": vertebra.id, **_columns(vertebra, VERTEBRA_FIELDS), "version": vertebra.version}


def procedure_record(session: Session, procedure: Procedure) -> Record:
    rows = session.execute(
        select(TreatedLevel, Vertebra.level)
        .join(Vertebra, Vertebra.id == TreatedLevel.vertebra_id)
        .where(TreatedLevel.procedure_id == procedure.id)
    ).all()
    treated = sorted(rows, key=lambda pair: levels.level_index(pair[1]))
    return {
        "id": procedure.id,
        **_columns(procedure, PROCEDURE_FIELDS),
        "levels": [
            {
                "level": level,
                **_columns(row, [name for name in TREATED_LEVEL_FIELDS if name != "level"]),
                "leakage": [site for site in row.leakage.split(";") if site],
            }
            for row, level in treated
        ],
        "version": procedure.version,
    }


def visit_record(visit: Visit) -> Record:
    answers = [getattr(visit, odi.answer_field(n)) for n in range(1, odi.SECTION_COUNT + 1)]
    percent: float | None = None
    band: str | None = None
    unscored: str | None = None
    if any(answer is not None for answer in answers):
        try:
            result = odi.score(answers)
        except ClinicalValueError as error:
            unscored = error.message  # too many sections missing: no score, and why
        else:
            percent, band = result.percent, result.band
    return {
        "id": visit.id,
        **_columns(visit, VISIT_FIELDS),
        "odi_percent": percent,
        "odi_band": band,
        "odi_unscored_reason": unscored,
        "version": visit.version,
    }


def measurement_record(measurement: Measurement, level: str, timepoint: str) -> Record:
    own = [name for name in MEASUREMENT_FIELDS if name not in ("level", "timepoint")]
    record = {"id": measurement.id, **_columns(measurement, own)}
    record.update(level=level, timepoint=timepoint, version=measurement.version)
    return record


def adverse_event_record(event: AdverseEvent) -> Record:
    record = {"id": event.id, **_columns(event, ADVERSE_EVENT_FIELDS), "version": event.version}
    record["level"] = event.level or None
    return record


# --- shared steps ---------------------------------------------------------------------------


def _editable_patient(session: Session, principal: Principal, study_code: str) -> Patient:
    patient = access.visible_patient(session, principal, study_code)
    if not access.may_edit_clinical(principal, patient):
        raise AccessDenied(f"your role ({principal.role}) may not change clinical data")
    return patient


def _readable_patient(session: Session, principal: Principal, study_code: str) -> Patient:
    return access.visible_patient(session, principal, study_code)


def _child(session: Session, model: type[Any], item_id: int, patient: Patient, what: str) -> Any:
    if model is Measurement:
        return _measurement_child(session, item_id, patient)
    row = session.get(model, item_id)
    if row is None or row.patient_id != patient.id:
        raise NotFoundError(f"{what} {item_id} of patient {patient.study_code!r} does not exist")
    return row


def _audit(
    registry: Registry,
    session: Session,
    action: str,
    entity: str,
    key: str,
    before: Base | dict[str, Any] | None = None,
    after: Base | dict[str, Any] | None = None,
) -> None:
    def plain(value: Base | dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None or isinstance(value, dict):
            return value
        return snapshot(value, registry.secret)

    registry.record(
        session,
        action=action,
        entity=entity,
        entity_key=key,
        before=plain(before),
        after=plain(after),
    )


def _index_date(session: Session, patient: Patient) -> dt.date | None:
    found: dt.date | None = session.execute(
        select(func.min(Procedure.procedure_date)).where(Procedure.patient_id == patient.id)
    ).scalar_one()
    return found


def _raise(problems: list[ClinicalValueError]) -> None:
    ClinicalValueErrors.raise_if_any(problems)


# --- patients -------------------------------------------------------------------------------


def _site_for(
    session: Session, principal: Principal, code: object
) -> tuple[Site | None, list[ClinicalValueError]]:
    try:
        text = _code(code, "site") or DEFAULT_SITE_CODE
    except ClinicalValueError as error:
        return None, [error]
    site = session.execute(select(Site).where(Site.code == text)).scalar_one_or_none()
    if site is None or not access.may_see_site(principal, site.id):
        return None, [
            _problem(
                "site",
                f"site {text!r} does not exist or is not one of your sites",
                f"中心 {text!r} 不存在或不是您所属的中心",
            )
        ]
    return site, []


def _patient_checks(patient: Patient, session: Session) -> list[ClinicalValueError]:
    problems: list[ClinicalValueError] = []
    if patient.age is None and patient.birth_date is None:
        problems.append(
            _problem("age", "required unless birth_date is given", "未填出生日期时年龄必填")
        )
    index_date = _index_date(session, patient) if patient.id is not None else None
    for name in ("injury_date", "symptom_onset_date"):
        value = getattr(patient, name)
        if index_date is not None and value is not None and value > index_date:
            problems.append(
                _problem(
                    name,
                    f"{value.isoformat()} is after the index procedure ({index_date.isoformat()})",
                    f"{value.isoformat()} 晚于首次手术日期（{index_date.isoformat()}）",
                )
            )
    return problems


def _identity_values(
    principal: Principal, values: Mapping[str, object], patient: Patient | None
) -> tuple[dict[str, Any] | None, list[ClinicalValueError]]:
    raw = values.get("identity")
    if raw is None:
        return None, []
    if patient is not None and not access.may_read_identity(principal, patient):
        raise AccessDenied(f"your role ({principal.role}) may not record identifying data")
    if patient is None and principal.role not in (access.ADMIN, access.INVESTIGATOR):
        raise AccessDenied(f"your role ({principal.role}) may not record identifying data")
    if not isinstance(raw, Mapping):
        return None, [_problem("identity", "must be an object", "必须是对象")]
    return _parse(raw, IDENTITY_FIELDS, partial=True, prefix="identity.")


def _any_value(values: Mapping[str, object] | None) -> bool:
    """Whether ``values`` hold anything (an identity of blank fields is not recorded)."""
    return values is not None and any(value is not None for value in values.values())


def check_editable(registry: Registry, principal: Principal, study_code: str | None) -> None:
    """Refuse, before a form is shown, what the use cases below would refuse on saving:
    a patient ``principal`` cannot see (:class:`NotFoundError`), a role that may not change
    its clinical data (:class:`AccessDenied`); ``None``: creating a patient."""
    if study_code is None:
        if principal.role not in (access.ADMIN, access.INVESTIGATOR):
            raise AccessDenied(f"your role ({principal.role}) may not change clinical data")
        return
    with registry.read() as session:
        _editable_patient(session, principal, study_code)


def read_patient(
    registry: Registry, principal: Principal, study_code: str, *, reason: str = "REST API"
) -> Record:
    """One patient (identity included for those allowed, and that read audited with
    ``reason``: where it was shown)."""
    with registry.read() as session:
        patient = _readable_patient(session, principal, study_code)
        identity = (
            session.get(PatientIdentity, patient.id)
            if access.may_read_identity(principal, patient)
            else None
        )
        record = patient_record(patient, identity)
    if identity is not None:
        with registry.write() as session:
            registry.record(
                session,
                action="read_identity",
                entity="identity",
                entity_key=study_code,
                reason=reason,
            )
    return record


def create_patient(
    registry: Registry, principal: Principal, values: Mapping[str, object]
) -> Record:
    """A new patient (``patient_id``, ``site``, DATA.md fields; ``identity`` if allowed)."""
    if principal.role not in (access.ADMIN, access.INVESTIGATOR):
        raise AccessDenied(f"your role ({principal.role}) may not change clinical data")
    fields = {k: v for k, v in values.items() if k not in ("patient_id", "site", "identity")}
    problems: list[ClinicalValueError] = []
    study_code = None
    try:
        study_code = _code(values.get("patient_id"), "patient_id")
        if study_code is None:
            problems.append(_required("patient_id"))
    except ClinicalValueError as error:
        problems.append(error)
    parsed, found = _parse(fields, PATIENT_FIELDS, required=("sex",))
    problems += found
    with registry.write() as session:
        site, found = _site_for(session, principal, values.get("site"))
        problems += found
        identity_values, found = _identity_values(principal, values, None)
        problems += found
        if (
            study_code is not None
            and session.execute(select(Patient.id).where(Patient.study_code == study_code)).first()
        ):
            problems.append(
                _problem(
                    "patient_id",
                    f"{study_code!r} exists already; study codes are unique in the registry",
                    f"{study_code!r} 已存在；研究编号在登记库中唯一",
                )
            )
        _raise(problems)
        if site is None or study_code is None:  # pragma: no cover - reported above
            raise KyphosError("patient_id and site are required")
        patient = Patient(study_code=study_code, site_id=site.id, **parsed)
        patient.site = site
        _raise(_patient_checks(patient, session))
        session.add(patient)
        session.flush()
        _audit(registry, session, "create", "patient", study_code, after=patient)
        identity = None
        if _any_value(identity_values):
            identity = PatientIdentity(patient_id=patient.id, **(identity_values or {}))
            session.add(identity)
            session.flush()
            _audit(registry, session, "create", "identity", study_code, after=identity)
        return patient_record(patient, identity)


def update_patient(
    registry: Registry,
    principal: Principal,
    study_code: str,
    values: Mapping[str, object],
    *,
    version: object,
) -> Record:
    """Change the fields ``values`` name (``site`` among them; identity if allowed)."""
    fields = {k: v for k, v in values.items() if k not in ("site", "identity", "version")}
    with registry.write() as session:
        patient = _editable_patient(session, principal, study_code)
        check_version(f"patient {study_code!r}", patient, version)
        parsed, problems = _parse(fields, PATIENT_FIELDS, required=("sex",), partial=True)
        site = patient.site
        if "site" in values:
            found_site, found = _site_for(session, principal, values.get("site"))
            problems += found
            site = found_site or site
        identity_values, found = _identity_values(principal, values, patient)
        problems += found
        _raise(problems)
        before = snapshot(patient, registry.secret)
        for name, value in parsed.items():
            setattr(patient, name, value)
        if site.id != patient.site_id:
            patient.site_id = site.id
            patient.site = site
        _raise(_patient_checks(patient, session))
        session.flush()
        after = snapshot(patient, registry.secret)
        if after != before:
            _audit(registry, session, "update", "patient", study_code, before, after)
        identity = session.get(PatientIdentity, patient.id)
        if identity_values is not None and (identity is not None or _any_value(identity_values)):
            if identity is None:
                identity = PatientIdentity(patient_id=patient.id, **identity_values)
                session.add(identity)
                session.flush()
                _audit(registry, session, "create", "identity", study_code, after=identity)
            else:
                before_identity = snapshot(identity, registry.secret)
                for name, value in identity_values.items():
                    setattr(identity, name, value)
                session.flush()
                after_identity = snapshot(identity, registry.secret)
                if after_identity != before_identity:
                    _audit(
                        registry,
                        session,
                        "update",
                        "identity",
                        study_code,
                        before_identity,
                        after_identity,
                    )
        shown = identity if access.may_read_identity(principal, patient) else None
        return patient_record(patient, shown)


def delete_patient(
    registry: Registry, principal: Principal, study_code: str, *, version: object
) -> None:
    """Remove a patient and everything recorded about it (cascade), audited."""
    with registry.write() as session:
        patient = _editable_patient(session, principal, study_code)
        check_version(f"patient {study_code!r}", patient, version)
        before = snapshot(patient, registry.secret)
        identity = session.get(PatientIdentity, patient.id)
        if identity is not None:
            _audit(registry, session, "delete", "identity", study_code, before=identity)
        _audit_removal(registry, session, patient, tuple(_REMOVAL_ORDER))
        session.delete(patient)
        session.flush()
        _audit(registry, session, "delete", "patient", study_code, before=before)


# --- generic children -----------------------------------------------------------------------


def list_items(
    registry: Registry, principal: Principal, study_code: str, kind: str
) -> list[Record]:
    """Every record of ``kind`` (``vertebrae``, ``procedures`` …) of one patient."""
    with registry.read() as session:
        patient = _readable_patient(session, principal, study_code)
        spec = _KINDS[kind]
        if spec.model is not Measurement:
            return spec.list(session, patient)
        hidden = access.blinded_visits(session, principal)
        return [
            spec.record(session, row)
            for row in spec.rows(session, patient)
            if not access.blinded(hidden, principal, row.visit_id, row.observer)
        ]


def read_item(
    registry: Registry, principal: Principal, study_code: str, kind: str, item_id: int
) -> Record:
    with registry.read() as session:
        patient = _readable_patient(session, principal, study_code)
        spec = _KINDS[kind]
        row = _child(session, spec.model, item_id, patient, spec.noun)
        if spec.model is Measurement and access.blinded(
            access.blinded_visits(session, principal), principal, row.visit_id, row.observer
        ):
            raise NotFoundError(
                f"measurement {item_id} of patient {patient.study_code!r} does not exist"
            )
        return spec.record(session, row)


def create_item(
    registry: Registry,
    principal: Principal,
    study_code: str,
    kind: str,
    values: Mapping[str, object],
) -> Record:
    spec = _KINDS[kind]
    with registry.write() as session:
        patient = _editable_patient(session, principal, study_code)
        row = spec.build(session, patient, values, None)
        session.flush()
        key = spec.key(session, patient, row)
        _audit(registry, session, "create", spec.entity, key, after=spec.audit(session, row))
        return spec.record(session, row)


def update_item(
    registry: Registry,
    principal: Principal,
    study_code: str,
    kind: str,
    item_id: int,
    values: Mapping[str, object],
    *,
    version: object,
) -> Record:
    spec = _KINDS[kind]
    with registry.write() as session:
        patient = _editable_patient(session, principal, study_code)
        row = _child(session, spec.model, item_id, patient, spec.noun)
        check_version(f"{spec.noun} {item_id}", row, version)
        before = spec.audit(session, row)
        spec.build(session, patient, {k: v for k, v in values.items() if k != "version"}, row)
        session.flush()
        after = spec.audit(session, row)
        if after != before:
            key = spec.key(session, patient, row)
            _audit(registry, session, "update", spec.entity, key, before, after)
        return spec.record(session, row)


def delete_item(
    registry: Registry,
    principal: Principal,
    study_code: str,
    kind: str,
    item_id: int,
    *,
    version: object,
) -> None:
    spec = _KINDS[kind]
    with registry.write() as session:
        patient = _editable_patient(session, principal, study_code)
        row = _child(session, spec.model, item_id, patient, spec.noun)
        check_version(f"{spec.noun} {item_id}", row, version)
        spec.check_delete(session, row)
        key = spec.key(session, patient, row)
        before = spec.audit(session, row)
        going = spec.dependents(row)
        if going is not None:
            _audit_removal(registry, session, patient, ("measurements",), going)
        session.delete(row)
        session.flush()
        _audit(registry, session, "delete", spec.entity, key, before=before)


class _Kind(ABC):
    """How one kind of record below a patient is read, built, keyed and audited."""

    model: type[Any]
    noun: str
    entity: str

    def rows(self, session: Session, patient: Patient) -> list[Any]:
        return list(
            session.execute(
                select(self.model)
                .where(self.model.patient_id == patient.id)
                .order_by(self.model.id)
            ).scalars()
        )

    def list(self, session: Session, patient: Patient) -> list[Record]:
        return [self.record(session, row) for row in self.rows(session, patient)]

    @abstractmethod
    def record(self, session: Session, row: Any) -> Record:
        """See the subclasses."""

    @abstractmethod
    def build(
        self, session: Session, patient: Patient, values: Mapping[str, object], row: Any | None
    ) -> Any:
        """See the subclasses."""

    @abstractmethod
    def key(self, session: Session, patient: Patient, row: Any) -> str:
        """See the subclasses."""

    def audit(self, session: Session, row: Any) -> dict[str, Any]:
        return self.record(session, row)

    def check_delete(self, session: Session, row: Any) -> None:
        return None

    def dependents(self, row: Any) -> Callable[[Any], bool] | None:
        """Which measurements go with ``row`` when it is deleted (the database removes
        them by cascade; each is audited first). None: no measurement depends on it."""
        return None


def _apply(row: Any, parsed: Mapping[str, Any]) -> None:
    for name, value in parsed.items():
        setattr(row, name, value)


def _merged(row: Any | None, parsed: Mapping[str, Any], names: Any) -> dict[str, Any]:
    """The values the row will hold: stored ones overlaid with ``parsed``."""
    current = {name: getattr(row, name) for name in names} if row is not None else {}
    return {**current, **parsed}


class _Vertebrae(_Kind):
    model = Vertebra
    noun = "vertebra"
    entity = "vertebra"

    def check_delete(self, session: Session, row: Any) -> None:
        treated = session.execute(
            select(TreatedLevel.id).where(TreatedLevel.vertebra_id == row.id)
        ).first()
        if treated:
            _raise(
                [
                    _problem(
                        "level",
                        f"vertebra {row.level} has a procedure; remove its treated level first",
                        f"{row.level} 椎体已有手术记录；请先删除该治疗节段",
                    )
                ]
            )

    def dependents(self, row: Any) -> Callable[[Any], bool] | None:
        return lambda measurement: bool(measurement.vertebra_id == row.id)

    def record(self, session: Session, row: Any) -> Record:
        return vertebra_record(row)

    def key(self, session: Session, patient: Patient, row: Any) -> str:
        return f"{patient.study_code}/{row.level}"

    def build(
        self, session: Session, patient: Patient, values: Mapping[str, object], row: Any | None
    ) -> Any:
        parsed, problems = _parse(
            values, VERTEBRA_FIELDS, required=("level", "treated"), partial=row is not None
        )
        merged = _merged(row, parsed, VERTEBRA_FIELDS)
        level = merged.get("level")
        if level is not None and "level" in parsed:
            clash = session.execute(
                select(Vertebra.id).where(
                    Vertebra.patient_id == patient.id, Vertebra.level == level
                )
            ).scalar_one_or_none()
            if clash is not None and (row is None or clash != row.id):
                problems.append(
                    _problem(
                        "level",
                        f"vertebra {level} of this patient exists already",
                        f"该患者的 {level} 椎体已存在",
                    )
                )
        if row is not None and merged.get("treated") is False:
            has_procedure = session.execute(
                select(TreatedLevel.id).where(TreatedLevel.vertebra_id == row.id)
            ).first()
            if has_procedure:
                problems.append(
                    _problem(
                        "treated",
                        f"vertebra {row.level} has a procedure; remove its treated level first",
                        f"{row.level} 椎体已有手术记录；请先删除该治疗节段",
                    )
                )
        _raise(problems)
        if row is None:
            row = Vertebra(patient_id=patient.id, **parsed)
            session.add(row)
        else:
            _apply(row, parsed)
        return row


class _Procedures(_Kind):
    model = Procedure
    noun = "procedure"
    entity = "procedure"

    def record(self, session: Session, row: Any) -> Record:
        return procedure_record(session, row)

    def key(self, session: Session, patient: Patient, row: Any) -> str:
        return f"{patient.study_code}/{row.procedure_date.isoformat()}"

    def rows(self, session: Session, patient: Patient) -> list[Any]:
        return list(
            session.execute(
                select(Procedure)
                .where(Procedure.patient_id == patient.id)
                .order_by(Procedure.procedure_date)
            ).scalars()
        )

    def build(
        self, session: Session, patient: Patient, values: Mapping[str, object], row: Any | None
    ) -> Any:
        own = {k: v for k, v in values.items() if k != "levels"}
        parsed, problems = _parse(
            own, PROCEDURE_FIELDS, required=("procedure_date",), partial=row is not None
        )
        day = parsed.get("procedure_date")
        if day is not None:
            clash = session.execute(
                select(Procedure.id).where(
                    Procedure.patient_id == patient.id, Procedure.procedure_date == day
                )
            ).scalar_one_or_none()
            if clash is not None and (row is None or clash != row.id):
                problems.append(
                    _problem(
                        "procedure_date",
                        f"this patient has a procedure on {day.isoformat()} already; add the "
                        "level to it",
                        f"该患者在 {day.isoformat()} 已有手术记录；请将节段加入该记录",
                    )
                )
        treated: list[tuple[int, dict[str, Any]]] | None = None
        if row is None or "levels" in values:
            treated, found = self._levels(session, patient, values.get("levels"), row)
            problems += found
        _raise(problems)
        if row is None:
            row = Procedure(patient_id=patient.id, **parsed)
            session.add(row)
            session.flush()
        else:
            _apply(row, parsed)
            if treated is not None:
                flag_modified(row, "procedure_date")  # a change of levels is a new version
        if treated is not None:
            stored = {
                level.vertebra_id: level
                for level in session.execute(
                    select(TreatedLevel).where(TreatedLevel.procedure_id == row.id)
                ).scalars()
            }
            for vertebra_id, level_values in treated:
                existing = stored.pop(vertebra_id, None)
                if existing is None:
                    session.add(
                        TreatedLevel(procedure_id=row.id, vertebra_id=vertebra_id, **level_values)
                    )
                else:
                    _apply(existing, level_values)
            for gone in stored.values():
                session.delete(gone)
        return row

    def _levels(
        self, session: Session, patient: Patient, raw: object, row: Any | None
    ) -> tuple[list[tuple[int, dict[str, Any]]], list[ClinicalValueError]]:
        if not isinstance(raw, list) or not raw:
            return [], [
                _problem(
                    "levels",
                    "required: a list of at least one treated level",
                    "必填：至少一个治疗节段的列表",
                )
            ]
        vertebrae = {
            v.level: v
            for v in session.execute(
                select(Vertebra).where(Vertebra.patient_id == patient.id)
            ).scalars()
        }
        taken = dict(
            session.execute(
                select(TreatedLevel.vertebra_id, TreatedLevel.procedure_id).where(
                    TreatedLevel.vertebra_id.in_([v.id for v in vertebrae.values()])
                )
            ).all()
        )
        problems: list[ClinicalValueError] = []
        out: list[tuple[int, dict[str, Any]]] = []
        seen: set[str] = set()
        for position, item in enumerate(raw):
            prefix = f"levels[{position}]."
            if not isinstance(item, Mapping):
                problems.append(_problem(f"levels[{position}]", "must be an object", "必须是对象"))
                continue
            parsed, found = _parse(item, TREATED_LEVEL_FIELDS, required=("level",), prefix=prefix)
            problems += found
            level = parsed.pop("level", None)
            if level is None:
                continue
            vertebra = vertebrae.get(level)
            if level in seen:
                problems.append(
                    _problem(prefix + "level", f"{level} is listed twice", f"{level} 重复列出")
                )
            elif vertebra is None or not vertebra.treated:
                problems.append(
                    _problem(
                        prefix + "level",
                        f"vertebra {level} of this patient is not recorded with treated = yes",
                        f"该患者的 {level} 椎体未记录为已治疗",
                    )
                )
            elif taken.get(vertebra.id) not in (None, row.id if row is not None else None):
                problems.append(
                    _problem(
                        prefix + "level",
                        f"vertebra {level} was treated in another procedure of this patient",
                        f"{level} 椎体已在该患者的另一次手术中治疗",
                    )
                )
            seen.add(level)
            if vertebra is not None:
                parsed["technique"] = parsed.get("technique") or Technique.kyphoplasty.value
                out.append((vertebra.id, parsed))
        return out, problems


class _Visits(_Kind):
    model = Visit
    noun = "visit"
    entity = "visit"

    def dependents(self, row: Any) -> Callable[[Any], bool] | None:
        return lambda measurement: bool(measurement.visit_id == row.id)

    def record(self, session: Session, row: Any) -> Record:
        return visit_record(row)

    def key(self, session: Session, patient: Patient, row: Any) -> str:
        return f"{patient.study_code}/{row.timepoint}"

    def build(
        self, session: Session, patient: Patient, values: Mapping[str, object], row: Any | None
    ) -> Any:
        parsed, problems = _parse(
            values, VISIT_FIELDS, required=("timepoint",), partial=row is not None
        )
        if "odi_version" in parsed and parsed["odi_version"] is None:
            parsed["odi_version"] = odi.VERSION
        merged = _merged(row, parsed, VISIT_FIELDS)
        timepoint = parsed.get("timepoint")
        if timepoint is not None:
            clash = session.execute(
                select(Visit.id).where(Visit.patient_id == patient.id, Visit.timepoint == timepoint)
            ).scalar_one_or_none()
            if clash is not None and (row is None or clash != row.id):
                problems.append(
                    _problem(
                        "timepoint",
                        f"this patient has a {timepoint} visit already",
                        f"该患者已有 {timepoint} 随访",
                    )
                )
        index_date = _index_date(session, patient)
        visit_date = merged.get("visit_date")
        if index_date is not None and visit_date is not None and merged.get("timepoint"):
            preop = merged["timepoint"] == protocol.PREOP
            if (preop and visit_date > index_date) or (not preop and visit_date < index_date):
                where = "after" if preop else "before"
                where_zh = "晚于" if preop else "早于"
                problems.append(
                    _problem(
                        "visit_date",
                        f"{visit_date.isoformat()} is {where} the index procedure "
                        f"({index_date.isoformat()})",
                        f"{visit_date.isoformat()} {where_zh}首次手术日期"
                        f"（{index_date.isoformat()}）",
                    )
                )
        _raise(problems)
        if row is None:
            row = Visit(patient_id=patient.id, **parsed)
            row.odi_version = row.odi_version or odi.VERSION
            session.add(row)
        else:
            _apply(row, parsed)
        return row


class _Measurements(_Kind):
    model = Measurement
    noun = "measurement"
    entity = "measurement"

    def rows(self, session: Session, patient: Patient) -> list[Any]:
        return list(
            session.execute(
                select(Measurement)
                .join(Vertebra, Vertebra.id == Measurement.vertebra_id)
                .where(Vertebra.patient_id == patient.id)
                .order_by(Measurement.id)
            ).scalars()
        )

    def _place(self, session: Session, row: Any) -> tuple[str, str]:
        vertebra = session.get(Vertebra, row.vertebra_id)
        visit = session.get(Visit, row.visit_id)
        return (vertebra.level if vertebra else "", visit.timepoint if visit else "")

    def record(self, session: Session, row: Any) -> Record:
        level, timepoint = self._place(session, row)
        return measurement_record(row, level, timepoint)

    def key(self, session: Session, patient: Patient, row: Any) -> str:
        level, timepoint = self._place(session, row)
        return f"{patient.study_code}/{level}/{timepoint}/{row.observer}/{row.role}"

    def build(
        self, session: Session, patient: Patient, values: Mapping[str, object], row: Any | None
    ) -> Any:
        parsed, problems = _parse(
            values,
            MEASUREMENT_FIELDS,
            required=("level", "timepoint", "observer"),
            partial=row is not None,
        )
        if row is not None and row.landmarks is not None:
            problems += [
                reading.typed_over(name)
                for name in MEASUREMENT_FIELDS
                if name in parsed and parsed[name] != getattr(row, name, parsed[name])
            ]
        if "role" in parsed and parsed["role"] is None:
            parsed["role"] = ObserverRole.primary.value
        level = parsed.pop("level", None)
        timepoint = parsed.pop("timepoint", None)
        if level is not None:
            vertebra_id = session.execute(
                select(Vertebra.id).where(
                    Vertebra.patient_id == patient.id, Vertebra.level == level
                )
            ).scalar_one_or_none()
            if vertebra_id is None:
                problems.append(
                    _problem(
                        "level",
                        f"vertebra {level} of this patient is not recorded",
                        f"该患者的 {level} 椎体未记录",
                    )
                )
            parsed["vertebra_id"] = vertebra_id
        if timepoint is not None:
            visit_id = session.execute(
                select(Visit.id).where(Visit.patient_id == patient.id, Visit.timepoint == timepoint)
            ).scalar_one_or_none()
            if visit_id is None:
                problems.append(
                    _problem(
                        "timepoint",
                        f"this patient has no {timepoint} visit",
                        f"该患者没有 {timepoint} 随访",
                    )
                )
            parsed["visit_id"] = visit_id
        _raise(problems)
        merged = _merged(row, parsed, ("vertebra_id", "visit_id", "observer", "role"))
        merged["role"] = merged.get("role") or ObserverRole.primary.value
        clash = session.execute(
            select(Measurement.id, Measurement.observer).where(
                Measurement.vertebra_id == merged["vertebra_id"],
                Measurement.visit_id == merged["visit_id"],
                Measurement.role == merged["role"],
            )
        ).all()
        for other_id, observer in clash:
            if row is not None and other_id == row.id:
                continue
            if observer == merged["observer"] or merged["role"] == ObserverRole.adjudicator:
                problems.append(
                    _problem(
                        "observer",
                        f"this vertebra and time point has a {merged['role']} reading by "
                        f"{observer} already",
                        f"该椎体该时间点已有 {observer} 的 {merged['role']} 测量",
                    )
                )
        _raise(problems)
        if row is None:
            row = Measurement(**parsed)
            row.role = row.role or ObserverRole.primary.value
            session.add(row)
        else:
            _apply(row, parsed)
        return row


def _measurement_child(session: Session, item_id: int, patient: Patient) -> Measurement:
    row = session.get(Measurement, item_id)
    vertebra = session.get(Vertebra, row.vertebra_id) if row is not None else None
    if row is None or vertebra is None or vertebra.patient_id != patient.id:
        raise NotFoundError(
            f"measurement {item_id} of patient {patient.study_code!r} does not exist"
        )
    return row


class _AdverseEvents(_Kind):
    model = AdverseEvent
    noun = "adverse event"
    entity = "adverse_event"

    def record(self, session: Session, row: Any) -> Record:
        return adverse_event_record(row)

    def key(self, session: Session, patient: Patient, row: Any) -> str:
        return f"{patient.study_code}/{row.event_date.isoformat()}/{row.type}" + (
            f"/{row.level}" if row.level else ""
        )

    def build(
        self, session: Session, patient: Patient, values: Mapping[str, object], row: Any | None
    ) -> Any:
        parsed, problems = _parse(
            values, ADVERSE_EVENT_FIELDS, required=("event_date", "type"), partial=row is not None
        )
        if "level" in parsed:
            parsed["level"] = parsed["level"] or ""
        merged = _merged(row, parsed, ADVERSE_EVENT_FIELDS)
        if merged.get("type") in NEW_FRACTURE_TYPES and not merged.get("level"):
            problems.append(
                _problem("level", f"required for {merged['type']}", f"{merged['type']} 须填节段")
            )
        index_date = _index_date(session, patient)
        day = merged.get("event_date")
        if index_date is not None and day is not None and day < index_date:
            problems.append(
                _problem(
                    "event_date",
                    f"{day.isoformat()} is before the index procedure ({index_date.isoformat()})",
                    f"{day.isoformat()} 早于首次手术日期（{index_date.isoformat()}）",
                )
            )
        if merged.get("type") and day is not None:
            clash = session.execute(
                select(AdverseEvent.id).where(
                    AdverseEvent.patient_id == patient.id,
                    AdverseEvent.event_date == day,
                    AdverseEvent.type == merged["type"],
                    AdverseEvent.level == (merged.get("level") or ""),
                )
            ).scalar_one_or_none()
            if clash is not None and (row is None or clash != row.id):
                problems.append(
                    _problem(
                        "type",
                        "this event (same date, type and level) is recorded already",
                        "该事件（同日期、类型和节段）已记录",
                    )
                )
        _raise(problems)
        if row is None:
            parsed.setdefault("level", "")
            row = AdverseEvent(patient_id=patient.id, **parsed)
            session.add(row)
        else:
            _apply(row, parsed)
        return row


_KINDS: dict[str, _Kind] = {
    "vertebrae": _Vertebrae(),
    "procedures": _Procedures(),
    "visits": _Visits(),
    "measurements": _Measurements(),
    "adverse-events": _AdverseEvents(),
}
KINDS = tuple(_KINDS)
"""The kinds of records below a patient, as the REST API names them."""
_REMOVAL_ORDER = ("measurements", "adverse-events", "procedures", "visits", "vertebrae")
"""Dependents before what they depend on: the order a patient's records are audited in
when the patient is deleted."""


def _audit_removal(
    registry: Registry,
    session: Session,
    patient: Patient,
    kinds: tuple[str, ...],
    keep: Callable[[Any], bool] | None = None,
) -> None:
    """A ``delete`` event, with its before values, for every record of ``kinds`` (those
    ``keep`` selects) that a cascading delete is about to remove."""
    for kind in kinds:
        spec = _KINDS[kind]
        for row in spec.rows(session, patient):
            if keep is None or keep(row):
                key = spec.key(session, patient, row)
                _audit(
                    registry, session, "delete", spec.entity, key, before=spec.audit(session, row)
                )


# --- what the REST API needs besides records ------------------------------------------------


def visible_site_codes(registry: Registry, principal: Principal) -> list[str]:
    """The codes of the sites ``principal`` sees, in code order."""
    with registry.read() as session:
        return list(
            session.execute(
                select(Site.code).where(access.site_filter(principal)).order_by(Site.code)
            ).scalars()
        )


def visible_study_codes(registry: Registry, principal: Principal) -> set[str]:
    """The study codes of every patient ``principal`` sees."""
    with registry.read() as session:
        return set(
            session.execute(
                select(Patient.study_code).where(access.patient_filter(principal))
            ).scalars()
        )


def revoke_token(
    registry: Registry, principal: Principal, token_sha256: str, *, expires_at: dt.datetime
) -> None:
    """Refuse a bearer token (by its SHA-256) from now on; audited. Idempotent."""
    with registry.write() as session:
        found = session.execute(
            select(RevokedToken.id).where(RevokedToken.token_sha256 == token_sha256)
        ).first()
        if found:
            return
        session.add(
            RevokedToken(
                token_sha256=token_sha256,
                user_id=principal.user_id,
                revoked_at=dt.datetime.now(dt.UTC),
                expires_at=expires_at,
            )
        )
        registry.record(
            session,
            action="revoke_token",
            entity="user",
            entity_key=principal.username,
            after={"token_sha256": token_sha256[:16]},
        )


def token_revoked(registry: Registry, token_sha256: str) -> bool:
    with registry.read() as session:
        return (
            session.execute(
                select(RevokedToken.id).where(RevokedToken.token_sha256 == token_sha256)
            ).first()
            is not None
        )
