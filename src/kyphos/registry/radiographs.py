"""Radiographs and their blinded two-observer readings (issue 7).

* :func:`add_radiograph` de-identifies an upload in memory (:mod:`kyphos.imaging`),
  stores it content-addressed under ``KYPHOS_HOME/images`` and records it against a
  patient's visit. Admins and the investigators of the patient's site upload.
* Editors :func:`assign` the radiograph to observers (two primary readings is the
  norm; one adjudicator when the two disagree, :func:`request_adjudication`).
* An observer places landmarks per vertebra (:func:`save_reading`, a draft nobody
  else sees) and submits (:func:`submit_reading`): each vertebra read becomes a
  :class:`~kyphos.registry.models.Measurement` of that observer, with its landmarks and
  the spacing source, values computed by :mod:`kyphos.clinical.reading`.
* Blinding: while a principal holds an unsubmitted reading of an image, every other
  reading of it (and every other observer's measurement of that visit) is hidden
  from them; :func:`comparison` opens only when all primary readings are submitted.
* :func:`recompute` recomputes every measurement that has landmarks, for when a
  formula is ever corrected (``kyphos measurements recompute``).

Who may do what: admins everything; investigators their sites' radiographs (upload,
assign, compare, adjudicate; and read when assigned); observers the radiographs of
their sites, and readings only when assigned; analysts nothing here (AccessDenied).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kyphos import imaging
from kyphos.clinical import geometry, levels, reading
from kyphos.clinical.errors import ClinicalValueError, ClinicalValueErrors
from kyphos.clinical.numbers import parse_number
from kyphos.clinical.procedure import ObserverRole
from kyphos.errors import ConflictError, NotFoundError
from kyphos.imaging.calibration import manual_spacing
from kyphos.imaging.store import ImageStore
from kyphos.registry import access
from kyphos.registry.access import Principal
from kyphos.registry.editing import AccessDenied, check_version
from kyphos.registry.models import (
    Measurement,
    Patient,
    Radiograph,
    Reading,
    User,
    Vertebra,
    Visit,
)
from kyphos.registry.repository import Registry

MANUAL = "manual"
"""The spacing source of a manual calibration (two clicks on an object of known length)."""

READER_ROLES = frozenset({access.ADMIN, access.INVESTIGATOR, access.OBSERVER})
"""Roles that may be assigned a reading."""

VIEWS = ("lateral", "ap")


@dataclass(frozen=True)
class ReadingSummary:
    """Who reads an image and whether they submitted (never their values)."""

    observer: str
    role: str
    submitted: bool


@dataclass(frozen=True)
class RadiographView:
    id: int
    study_code: str
    timepoint: str | None
    view: str
    kind: str | None
    width: int | None
    height: int | None
    spacing_mm: tuple[float, float] | None
    spacing_source: str | None
    burned_in_annotation: str | None
    created_at: dt.datetime
    levels: list[tuple[int, int]]
    version: int
    vertebrae: list[str]
    readings: list[ReadingSummary]
    may_assign: bool
    my_role: str | None
    my_submitted: bool
    comparable: bool
    """All primary readings (at least two) are submitted and the principal may compare."""


@dataclass(frozen=True)
class ReadingView:
    radiograph_id: int
    observer: str
    role: str
    landmarks: dict[str, dict[str, Any]]
    readouts: dict[str, reading.Readout]
    submitted_at: dt.datetime | None
    version: int


@dataclass(frozen=True)
class ComparisonView:
    radiograph: RadiographView
    readings: list[ReadingView]
    differences: dict[str, dict[str, float]]
    exceeds: dict[str, list[str]]
    adjudication_requested: bool
    threshold_mm: float = reading.ADJUDICATION_MM
    threshold_deg: float = reading.ADJUDICATION_DEG


@dataclass(frozen=True)
class ReadingTask:
    radiograph_id: int
    study_code: str
    timepoint: str | None
    role: str
    submitted: bool
    assigned_at: dt.datetime
    vertebrae: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RecomputeReport:
    checked: int
    changed: int
    problems: list[str]


# --- images ---------------------------------------------------------------------------------


def image_store(registry: Registry) -> ImageStore:
    return ImageStore(Path(registry.settings.home) / "images")


def uid_key(registry: Registry) -> bytes:
    """The key that replaces DICOM UIDs consistently within this registry."""
    return hmac.new(registry.secret, b"kyphos dicom uid", hashlib.sha256).digest()


def add_radiograph(
    registry: Registry,
    principal: Principal,
    study_code: str,
    timepoint: str,
    data: bytes,
    *,
    filename: str = "",
    view: str = "lateral",
) -> RadiographView:
    """De-identify ``data`` in memory, store it and record it at the patient's visit.

    Nothing is written when the file is refused (:class:`kyphos.imaging.ImageRefused`),
    the patient or visit does not exist, or the principal may not add clinical data.
    """
    if view not in VIEWS:
        raise ClinicalValueError(
            "view",
            f"{view!r} is not a radiograph view ({', '.join(VIEWS)})",
            message_zh=f"{view!r} 不是影像体位（{', '.join(VIEWS)}）",
        )
    with registry.read() as session:
        patient = _editable(session, principal, study_code)
        _visit(session, patient, timepoint)
    image = imaging.ingest(data, uid_key=uid_key(registry), filename=filename)
    store = image_store(registry)
    existed = store.has(image.sha256)
    store.put(image)
    try:
        with registry.write() as session:
            patient = _editable(session, principal, study_code)
            visit = _visit(session, patient, timepoint)
            _refuse_repeat(session, visit, image.sha256)
            row = Radiograph(
                patient_id=patient.id,
                visit_id=visit.id,
                view=view,
                file_hash=image.sha256,
                spacing_row_mm=image.spacing_mm[0] if image.spacing_mm else None,
                spacing_col_mm=image.spacing_mm[1] if image.spacing_mm else None,
                spacing_source=image.spacing_source,
                created_at=dt.datetime.now(dt.UTC),
                kind=image.kind,
                width=image.width,
                height=image.height,
                burned_in_annotation=image.burned_in_annotation,
                photometric=image.photometric,
                transfer_syntax=image.transfer_syntax,
            )
            session.add(row)
            session.flush()
            _audit(registry, session, "create", row, patient, after=_radiograph_audit(row))
            return _view(registry, session, principal, row, patient)
    except BaseException:
        if not existed:
            store.remove(image.sha256)
        raise


def _refuse_repeat(session: Session, visit: Visit, file_hash: str) -> None:
    """Refuse an image already recorded at this visit: a second record of the same image
    would ask the observers to read it twice."""
    earlier = session.execute(
        select(Radiograph.id).where(
            Radiograph.visit_id == visit.id, Radiograph.file_hash == file_hash
        )
    ).scalar()
    if earlier is not None:
        raise ClinicalValueError(
            "file",
            f"this image is already recorded at this visit (radiograph {earlier})",
            message_zh=f"该影像已记录于此次随访（影像 {earlier}）",
        )


def list_radiographs(
    registry: Registry, principal: Principal, study_code: str
) -> list[RadiographView]:
    with registry.read() as session:
        patient = _readable(session, principal, study_code)
        rows = session.execute(
            select(Radiograph)
            .where(Radiograph.patient_id == patient.id)
            .order_by(Radiograph.created_at, Radiograph.id)
        ).scalars()
        return [_view(registry, session, principal, row, patient) for row in rows]


def read_radiograph(registry: Registry, principal: Principal, radiograph_id: int) -> RadiographView:
    with registry.read() as session:
        row, patient = _radiograph(session, principal, radiograph_id)
        return _view(registry, session, principal, row, patient)


def display_png(registry: Registry, principal: Principal, radiograph_id: int, level: int) -> bytes:
    """The display image (8-bit PNG) of one level; level 0 is the largest."""
    with registry.read() as session:
        row, _ = _radiograph(session, principal, radiograph_id)
        sha = row.file_hash
    return image_store(registry).display(sha, level)


def calibrate(
    registry: Registry,
    principal: Principal,
    radiograph_id: int,
    first: object,
    second: object,
    known_mm: object,
    *,
    version: object,
) -> RadiographView:
    """Set a manual spacing from two points on an object of ``known_mm`` millimetres.

    Only for an image without a spacing of its own (or calibrated by hand before), and
    only before any reading of it is submitted (values already submitted would no longer
    match the image). Editors and the observers assigned to it may calibrate.
    """
    with registry.write() as session:
        row, patient = _radiograph(session, principal, radiograph_id)
        mine = _own_reading(session, principal, row)
        if not (access.may_edit_clinical(principal, patient) or mine is not None):
            raise AccessDenied("only editors and the observers reading this image may calibrate it")
        check_version(f"radiograph {radiograph_id}", row, version)
        if row.spacing_source not in (None, MANUAL):
            raise ClinicalValueError(
                "calibration",
                f"this image carries its own pixel spacing ({row.spacing_source}); "
                "a manual calibration would override it",
                message_zh=f"该图像自带像素间距（{row.spacing_source}），不能手动标定覆盖",
            )
        if any(r.submitted_at is not None for r in _readings(session, row)):
            raise ConflictError(
                "a reading of this image is already submitted; its values were computed with "
                "the current calibration, so it can no longer change"
            )
        point_a = geometry.parse_point(first, "calibration.first")
        point_b = geometry.parse_point(second, "calibration.second")
        length = _known_length(known_mm)
        spacing = manual_spacing(point_a, point_b, length)
        before = _radiograph_audit(row)
        row.spacing_row_mm, row.spacing_col_mm = spacing
        row.spacing_source = MANUAL
        session.flush()
        _audit(registry, session, "update", row, patient, before, _radiograph_audit(row))
        return _view(registry, session, principal, row, patient)


# --- assignments and readings -------------------------------------------------------------


def assign(
    registry: Registry,
    principal: Principal,
    radiograph_id: int,
    observer: str,
    *,
    role: str = "primary",
) -> RadiographView:
    """Assign ``observer`` (a user name) to read the radiograph as ``role``."""
    if role not in (ObserverRole.primary.value, ObserverRole.adjudicator.value):
        raise ClinicalValueError(
            "role",
            f"{role!r} is not a reading role (primary, adjudicator)",
            message_zh=f"{role!r} 不是阅片角色（primary、adjudicator）",
        )
    with registry.write() as session:
        row, patient = _radiograph(session, principal, radiograph_id)
        _require_editor(principal, patient)
        user = _reader(session, observer, patient)
        existing = _readings(session, row)
        if any(r.observer_id == user.id for r in existing):
            raise ConflictError(f"{user.username} is already assigned to this radiograph")
        if role == ObserverRole.adjudicator.value and any(r.role == role for r in existing):
            raise ConflictError("this radiograph already has an adjudicator")
        new = Reading(
            radiograph_id=row.id,
            observer_id=user.id,
            role=role,
            assigned_by=principal.username,
            assigned_at=dt.datetime.now(dt.UTC),
        )
        session.add(new)
        session.flush()
        _audit_reading(registry, session, "assign", row, patient, user.username, new)
        return _view(registry, session, principal, row, patient)


def request_adjudication(
    registry: Registry, principal: Principal, radiograph_id: int, observer: str
) -> RadiographView:
    """Assign an adjudicator, allowed when the two primary readings differ beyond the
    threshold for at least one value (2 mm or 5° by default; ``KYPHOS_ADJUDICATION_MM``
    and ``KYPHOS_ADJUDICATION_DEG`` set others)."""
    with registry.read() as session:
        row, patient = _radiograph(session, principal, radiograph_id)
        _require_editor(principal, patient)
        compared = _comparison(registry, session, principal, row, patient)
        if not any(compared.exceeds.values()):
            raise ConflictError(
                "the two readings agree within the thresholds "
                f"({compared.threshold_mm:g} mm, {compared.threshold_deg:g}°): "
                "no adjudication is needed"
            )
        primaries = {r.observer for r in compared.readings if r.role == "primary"}
    if observer in primaries:
        raise ClinicalValueError(
            "observer",
            f"{observer} read this image already; the adjudicator must be someone else",
            message_zh=f"{observer} 已阅读此影像；仲裁者须为他人",
        )
    return assign(registry, principal, radiograph_id, observer, role="adjudicator")


def my_reading(registry: Registry, principal: Principal, radiograph_id: int) -> ReadingView:
    with registry.read() as session:
        row, _ = _radiograph(session, principal, radiograph_id)
        mine = _require_own_reading(session, principal, row)
        return _reading_view(session, row, mine, principal.username)


def save_reading(
    registry: Registry,
    principal: Principal,
    radiograph_id: int,
    landmarks: object,
    *,
    version: object,
) -> ReadingView:
    """Keep the landmarks placed so far (a draft; nobody else sees it)."""
    with registry.write() as session:
        row, patient = _radiograph(session, principal, radiograph_id)
        mine = _require_own_reading(session, principal, row)
        check_version(f"reading of radiograph {radiograph_id}", mine, version)
        if mine.submitted_at is not None:
            raise ConflictError("this reading is submitted; it can no longer change")
        parsed = _parse_levels(session, row, patient, landmarks)
        before = {"landmarks": mine.landmarks}
        mine.landmarks = reading.dumps(parsed)
        session.flush()
        if before["landmarks"] != mine.landmarks:
            _audit_reading(
                registry, session, "update", row, patient, principal.username, mine, before
            )
        return _reading_view(session, row, mine, principal.username)


def submit_reading(
    registry: Registry, principal: Principal, radiograph_id: int, *, version: object
) -> ReadingView:
    """Submit the reading: one measurement per vertebra read; the reading is then fixed."""
    with registry.write() as session:
        row, patient = _radiograph(session, principal, radiograph_id)
        mine = _require_own_reading(session, principal, row)
        check_version(f"reading of radiograph {radiograph_id}", mine, version)
        if mine.submitted_at is not None:
            raise ConflictError("this reading is already submitted")
        placed = _stored_landmarks(mine)
        if not placed:
            raise ClinicalValueError(
                "landmarks",
                "nothing to submit: place the landmarks of at least one vertebra",
                message_zh="没有可提交的内容：请至少标出一个椎体的标志点",
            )
        problems: list[ClinicalValueError] = []
        readouts: dict[str, reading.Readout] = {}
        for level, points in placed.items():
            try:
                reading.complete(points, f"landmarks.{level}")
            except ClinicalValueError as problem:
                problems.append(problem)
                continue
            result = _readout(session, row, patient, placed, level, principal.username)
            problems += [p.located(f"landmarks.{level}") for p in result.problems]
            readouts[level] = result
        ClinicalValueErrors.raise_if_any(problems)
        if row.visit_id is None:
            raise ClinicalValueError(
                "timepoint",
                "this radiograph is not linked to a visit; its readings cannot be recorded",
                message_zh="该影像未关联随访，无法记录测量",
            )
        for level, result in readouts.items():
            _write_measurement(
                registry,
                session,
                patient,
                row,
                level,
                observer=principal.username,
                role=mine.role,
                landmarks=placed[level],
                result=result,
            )
        mine.submitted_at = dt.datetime.now(dt.UTC)
        session.flush()
        _audit_reading(registry, session, "submit", row, patient, principal.username, mine)
        return _reading_view(session, row, mine, principal.username)


def reading_readout(
    registry: Registry,
    principal: Principal,
    radiograph_id: int,
    level: object,
    landmarks: object,
) -> reading.Readout:
    """The live read-out of one vertebra's landmarks as the principal places them.

    Uses the image's spacing, the principal's own draft of the neighbouring levels on
    this image (for the reference height) and their own pre-operative measurement of
    the vertebra (for the restoration).
    """
    with registry.read() as session:
        row, patient = _radiograph(session, principal, radiograph_id)
        mine = _own_reading(session, principal, row)
        if mine is None and not access.may_edit_clinical(principal, patient):
            raise AccessDenied("you are not assigned to read this radiograph")
        name = _level(session, patient, level)
        drafts = _stored_landmarks(mine) if mine is not None else {}
        drafts[name] = reading.parse_landmarks(landmarks, f"landmarks.{name}")
        return _readout(session, row, patient, drafts, name, principal.username)


def comparison(registry: Registry, principal: Principal, radiograph_id: int) -> ComparisonView:
    """Both readings side by side, once every primary reading is submitted."""
    with registry.read() as session:
        row, patient = _radiograph(session, principal, radiograph_id)
        return _comparison(registry, session, principal, row, patient)


def observer_worklist(registry: Registry, principal: Principal) -> list[ReadingTask]:
    """The principal's readings, waiting ones first."""
    with registry.read() as session:
        rows = session.execute(
            select(Reading, Radiograph, Patient, Visit)
            .join(Radiograph, Radiograph.id == Reading.radiograph_id)
            .join(Patient, Patient.id == Radiograph.patient_id)
            .outerjoin(Visit, Visit.id == Radiograph.visit_id)
            .where(Reading.observer_id == principal.user_id, access.patient_filter(principal))
            .order_by(Reading.assigned_at, Reading.id)
        ).all()
        tasks = [
            ReadingTask(
                radiograph_id=radiograph.id,
                study_code=patient.study_code,
                timepoint=visit.timepoint if visit else None,
                role=task.role,
                submitted=task.submitted_at is not None,
                assigned_at=task.assigned_at,
                vertebrae=_fractured(session, patient),
            )
            for task, radiograph, patient, visit in rows
        ]
    return sorted(tasks, key=lambda task: task.submitted)


def recompute(registry: Registry) -> RecomputeReport:
    """Recompute every measurement that has landmarks from them (and its image's spacing)."""
    checked = changed = 0
    problems: list[str] = []
    with registry.write() as session:
        rows = session.execute(
            select(Measurement, Radiograph, Vertebra, Patient, Visit)
            .join(Radiograph, Radiograph.id == Measurement.radiograph_id)
            .join(Vertebra, Vertebra.id == Measurement.vertebra_id)
            .join(Patient, Patient.id == Vertebra.patient_id)
            .join(Visit, Visit.id == Measurement.visit_id)
            .where(Measurement.landmarks.is_not(None))
            .order_by(Measurement.id)
        ).all()
        for measurement, radiograph, vertebra, patient, visit in rows:
            checked += 1
            where = (
                f"{patient.study_code}/{vertebra.level}/{visit.timepoint}/{measurement.observer}"
            )
            try:
                placed = {vertebra.level: json.loads(measurement.landmarks or "{}")}
                neighbours = _neighbour_measurements(session, measurement, vertebra, patient)
                placed.update(neighbours)
                result = _readout(
                    session, radiograph, patient, placed, vertebra.level, measurement.observer
                )
            except (ClinicalValueError, ValueError) as problem:
                problems.append(f"{where}: {problem}")
                continue
            if result.problems:
                problems += [f"{where}: {p}" for p in result.problems]
                continue
            before = _measurement_audit(measurement)
            for name, value in result.values().items():
                setattr(measurement, name, value)
            measurement.spacing_source = radiograph.spacing_source
            after = _measurement_audit(measurement)
            if after != before:
                changed += 1
                session.flush()
                registry.record(
                    session,
                    action="update",
                    entity="measurement",
                    entity_key=f"{patient.study_code}/{vertebra.level}/{visit.timepoint}/"
                    f"{measurement.observer}/{measurement.role}",
                    before=before,
                    after=after,
                    reason="measurements recompute",
                )
    return RecomputeReport(checked=checked, changed=changed, problems=problems)


# --- internals ------------------------------------------------------------------------------


def _readable(session: Session, principal: Principal, study_code: str) -> Patient:
    if principal.role == access.ANALYST:
        raise AccessDenied("analysts work with de-identified reports, not radiographs")
    return access.visible_patient(session, principal, study_code)


def _editable(session: Session, principal: Principal, study_code: str) -> Patient:
    patient = _readable(session, principal, study_code)
    _require_editor(principal, patient)
    return patient


def _require_editor(principal: Principal, patient: Patient) -> None:
    if not access.may_edit_clinical(principal, patient):
        raise AccessDenied(f"your role ({principal.role}) may not add or assign radiographs")


def _radiograph(
    session: Session, principal: Principal, radiograph_id: int
) -> tuple[Radiograph, Patient]:
    missing = NotFoundError(f"radiograph {radiograph_id} does not exist")
    if principal.role == access.ANALYST:
        raise AccessDenied("analysts work with de-identified reports, not radiographs")
    if not 0 < radiograph_id < 2**31:
        raise missing
    row = session.get(Radiograph, radiograph_id)
    if row is None:
        raise missing
    patient = session.get(Patient, row.patient_id)
    if patient is None or not access.may_see_patient(principal, patient):
        raise missing
    return row, patient


def _visit(session: Session, patient: Patient, timepoint: str) -> Visit:
    visit = session.execute(
        select(Visit).where(Visit.patient_id == patient.id, Visit.timepoint == timepoint)
    ).scalar_one_or_none()
    if visit is None:
        raise ClinicalValueError(
            "timepoint",
            f"patient {patient.study_code} has no {timepoint!r} visit: record the visit first",
            message_zh=f"患者 {patient.study_code} 没有 {timepoint!r} 随访：请先记录该随访",
        )
    return visit


def _readings(session: Session, row: Radiograph) -> list[Reading]:
    return list(
        session.execute(
            select(Reading).where(Reading.radiograph_id == row.id).order_by(Reading.id)
        ).scalars()
    )


def _own_reading(session: Session, principal: Principal, row: Radiograph) -> Reading | None:
    return session.execute(
        select(Reading).where(
            Reading.radiograph_id == row.id, Reading.observer_id == principal.user_id
        )
    ).scalar_one_or_none()


def _require_own_reading(session: Session, principal: Principal, row: Radiograph) -> Reading:
    mine = _own_reading(session, principal, row)
    if mine is None:
        raise AccessDenied("you are not assigned to read this radiograph")
    return mine


def _reader(session: Session, username: str, patient: Patient) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active:
        raise ClinicalValueError(
            "observer",
            f"{username!r} is not an active user",
            message_zh=f"{username!r} 不是有效用户",
        )
    reader = Principal.of(user)
    if user.role not in READER_ROLES or not access.may_see_patient(reader, patient):
        raise ClinicalValueError(
            "observer",
            f"{username} cannot read this radiograph (role {user.role}, or not a member of "
            "the patient's site)",
            message_zh=f"{username} 不能阅读此影像（角色 {user.role}，或不属于该患者的中心）",
        )
    return user


def _fractured(session: Session, patient: Patient) -> list[str]:
    found = session.execute(select(Vertebra.level).where(Vertebra.patient_id == patient.id))
    return levels.sort_levels(level for (level,) in found)


def _level(session: Session, patient: Patient, value: object) -> str:
    name = levels.parse_level(value, "level")
    if name not in _fractured(session, patient):
        raise ClinicalValueError(
            "level",
            f"vertebra {name} of this patient is not recorded",
            message_zh=f"该患者的 {name} 椎体未记录",
        )
    return name


def _parse_levels(
    session: Session, row: Radiograph, patient: Patient, value: object
) -> dict[str, reading.Landmarks]:
    if not isinstance(value, Mapping):
        raise ClinicalValueError(
            "landmarks",
            "landmarks must be a mapping of vertebral levels to their points",
            message_zh="标志点应为“椎体节段 → 标志点”的映射",
        )
    problems: list[ClinicalValueError] = []
    parsed: dict[str, reading.Landmarks] = {}
    for raw_level, points in value.items():
        try:
            name = _level(session, patient, raw_level)
            one = reading.parse_landmarks(points, f"landmarks.{name}")
            if row.width and row.height:
                reading.check_inside(one, row.width, row.height, f"landmarks.{name}")
        except ClinicalValueError as problem:
            problems.append(problem)
            continue
        if one:
            parsed[name] = one
    ClinicalValueErrors.raise_if_any(problems)
    return parsed


def _stored_landmarks(mine: Reading | None) -> dict[str, reading.Landmarks]:
    if mine is None or not mine.landmarks:
        return {}
    loaded = json.loads(mine.landmarks)
    return {str(level): dict(points) for level, points in loaded.items()}


def _spacing(row: Radiograph) -> tuple[float, float] | None:
    if row.spacing_row_mm is None or row.spacing_col_mm is None:
        return None
    return (row.spacing_row_mm, row.spacing_col_mm)


def _readout(
    session: Session,
    row: Radiograph,
    patient: Patient,
    placed: Mapping[str, reading.Landmarks],
    level: str,
    observer: str,
) -> reading.Readout:
    spacing = _spacing(row)
    neighbours: list[geometry.Heights] = []
    for other in levels.adjacent(level):
        if other is not None and other in placed:
            heights = reading.heights_of(placed[other], spacing)
            if heights is not None:
                neighbours.append(heights)
    return reading.readout(
        placed[level],
        spacing,
        spacing_source=row.spacing_source,
        neighbours=neighbours,
        pre=_pre_heights(session, row, patient, level, observer),
    )


def _pre_heights(
    session: Session, row: Radiograph, patient: Patient, level: str, observer: str
) -> geometry.Heights | None:
    """The observer's pre-operative heights of ``level``, for a later image's restoration."""
    if row.visit_id is None:
        return None
    found = session.execute(
        select(Measurement, Visit)
        .join(Visit, Visit.id == Measurement.visit_id)
        .join(Vertebra, Vertebra.id == Measurement.vertebra_id)
        .where(
            Vertebra.patient_id == patient.id,
            Vertebra.level == level,
            Visit.timepoint == "preop",
            Measurement.observer == observer,
            Measurement.visit_id != row.visit_id,
        )
    ).first()
    if found is None:
        return None
    pre = found[0]
    if pre.anterior_height_mm is None or pre.posterior_height_mm is None:
        return None
    return geometry.Heights(pre.anterior_height_mm, pre.middle_height_mm, pre.posterior_height_mm)


def _neighbour_measurements(
    session: Session, measurement: Measurement, vertebra: Vertebra, patient: Patient
) -> dict[str, reading.Landmarks]:
    out: dict[str, reading.Landmarks] = {}
    for other in levels.adjacent(vertebra.level):
        if other is None:
            continue
        found = session.execute(
            select(Measurement.landmarks)
            .join(Vertebra, Vertebra.id == Measurement.vertebra_id)
            .where(
                Vertebra.patient_id == patient.id,
                Vertebra.level == other,
                Measurement.radiograph_id == measurement.radiograph_id,
                Measurement.observer == measurement.observer,
                Measurement.role == measurement.role,
            )
        ).scalar_one_or_none()
        if found:
            out[other] = json.loads(found)
    return out


def _write_measurement(
    registry: Registry,
    session: Session,
    patient: Patient,
    row: Radiograph,
    level: str,
    *,
    observer: str,
    role: str,
    landmarks: reading.Landmarks,
    result: reading.Readout,
) -> None:
    vertebra = session.execute(
        select(Vertebra).where(Vertebra.patient_id == patient.id, Vertebra.level == level)
    ).scalar_one()
    visit = session.get(Visit, row.visit_id)
    assert visit is not None
    if role == ObserverRole.adjudicator.value:
        other = session.execute(
            select(Measurement).where(
                Measurement.vertebra_id == vertebra.id,
                Measurement.visit_id == visit.id,
                Measurement.role == role,
                Measurement.observer != observer,
            )
        ).scalar_one_or_none()
        if other is not None:
            raise ConflictError(
                f"{level} at {visit.timepoint} already has an adjudicator reading "
                f"(by {other.observer})"
            )
    measurement = session.execute(
        select(Measurement).where(
            Measurement.vertebra_id == vertebra.id,
            Measurement.visit_id == visit.id,
            Measurement.observer == observer,
            Measurement.role == role,
        )
    ).scalar_one_or_none()
    before = _measurement_audit(measurement) if measurement is not None else None
    if measurement is None:
        measurement = Measurement(
            vertebra_id=vertebra.id, visit_id=visit.id, observer=observer, role=role
        )
        session.add(measurement)
    measurement.radiograph_id = row.id
    measurement.landmarks = json.dumps(landmarks, sort_keys=True, separators=(",", ":"))
    measurement.spacing_source = row.spacing_source
    for name, value in result.values().items():
        setattr(measurement, name, value)
    session.flush()
    registry.record(
        session,
        action="create" if before is None else "update",
        entity="measurement",
        entity_key=f"{patient.study_code}/{level}/{visit.timepoint}/{observer}/{role}",
        before=before,
        after=_measurement_audit(measurement),
    )


def _reading_view(session: Session, row: Radiograph, mine: Reading, observer: str) -> ReadingView:
    patient = session.get(Patient, row.patient_id)
    assert patient is not None
    placed = _stored_landmarks(mine)
    readouts = {level: _readout(session, row, patient, placed, level, observer) for level in placed}
    return ReadingView(
        radiograph_id=row.id,
        observer=observer,
        role=mine.role,
        landmarks=placed,
        readouts=readouts,
        submitted_at=mine.submitted_at,
        version=mine.version,
    )


def _comparable(readings: Sequence[Reading]) -> bool:
    primaries = [r for r in readings if r.role == ObserverRole.primary.value]
    return len(primaries) >= 2 and all(r.submitted_at is not None for r in primaries)


def _may_compare(principal: Principal, patient: Patient, mine: Reading | None) -> bool:
    if mine is not None:
        return mine.submitted_at is not None
    return access.may_edit_clinical(principal, patient)


def _comparison(
    registry: Registry, session: Session, principal: Principal, row: Radiograph, patient: Patient
) -> ComparisonView:
    readings = _readings(session, row)
    mine = next((r for r in readings if r.observer_id == principal.user_id), None)
    if not _may_compare(principal, patient, mine):
        raise AccessDenied(
            "the readings of this image stay hidden from you until you submit your own"
            if mine is not None
            else "only editors and the observers of this image may compare its readings"
        )
    if not _comparable(readings):
        raise ConflictError("the comparison opens when both primary readings are submitted")
    names = dict(
        session.execute(
            select(User.id, User.username).where(User.id.in_([r.observer_id for r in readings]))
        ).all()
    )
    shown = [
        _reading_view(session, row, r, names[r.observer_id])
        for r in readings
        if r.submitted_at is not None
    ]
    primaries = [view for view in shown if view.role == ObserverRole.primary.value]
    first, second = sorted(primaries, key=lambda view: view.observer.casefold())[:2]
    differences: dict[str, dict[str, float]] = {}
    exceeds: dict[str, list[str]] = {}
    for level in sorted(set(first.readouts) & set(second.readouts), key=levels.level_index):
        diffs = reading.differences(first.readouts[level].values(), second.readouts[level].values())
        differences[level] = diffs
        exceeds[level] = reading.exceeding(
            diffs,
            threshold_mm=registry.settings.adjudication_mm,
            threshold_deg=registry.settings.adjudication_deg,
        )
    return ComparisonView(
        radiograph=_view(registry, session, principal, row, patient),
        readings=shown,
        differences=differences,
        exceeds=exceeds,
        adjudication_requested=any(r.role == ObserverRole.adjudicator.value for r in readings),
        threshold_mm=registry.settings.adjudication_mm,
        threshold_deg=registry.settings.adjudication_deg,
    )


def _view(
    registry: Registry, session: Session, principal: Principal, row: Radiograph, patient: Patient
) -> RadiographView:
    readings = _readings(session, row)
    names = dict(
        session.execute(
            select(User.id, User.username).where(User.id.in_([r.observer_id for r in readings]))
        ).all()
    )
    mine = next((r for r in readings if r.observer_id == principal.user_id), None)
    visit = session.get(Visit, row.visit_id) if row.visit_id is not None else None
    store = image_store(registry)
    return RadiographView(
        id=row.id,
        study_code=patient.study_code,
        timepoint=visit.timepoint if visit else None,
        view=row.view,
        kind=row.kind,
        width=row.width,
        height=row.height,
        spacing_mm=_spacing(row),
        spacing_source=row.spacing_source,
        burned_in_annotation=row.burned_in_annotation,
        created_at=row.created_at,
        levels=store.levels(row.file_hash) if store.has(row.file_hash) else [],
        version=row.version,
        vertebrae=_fractured(session, patient),
        readings=[
            ReadingSummary(names[r.observer_id], r.role, r.submitted_at is not None)
            for r in readings
        ],
        may_assign=access.may_edit_clinical(principal, patient),
        my_role=mine.role if mine else None,
        my_submitted=bool(mine and mine.submitted_at is not None),
        comparable=_comparable(readings) and _may_compare(principal, patient, mine),
    )


def _known_length(value: object) -> float:
    number = parse_number(value, "calibration.known_mm")
    if number is None or not 0 < number <= 1000:
        raise ClinicalValueError(
            "calibration.known_mm",
            "the known length must be a number of millimetres, more than 0 and at most 1000",
            message_zh="已知长度应为毫米数，大于0且不超过1000",
        )
    return number


def _radiograph_audit(row: Radiograph) -> dict[str, Any]:
    return {
        "view": row.view,
        "file_hash": row.file_hash,
        "kind": row.kind,
        "width": row.width,
        "height": row.height,
        "spacing_row_mm": row.spacing_row_mm,
        "spacing_col_mm": row.spacing_col_mm,
        "spacing_source": row.spacing_source,
        "burned_in_annotation": row.burned_in_annotation,
    }


def _measurement_audit(row: Measurement) -> dict[str, Any]:
    return {
        name: getattr(row, name)
        for name in (
            *reading.VALUE_FIELDS,
            "landmarks",
            "spacing_source",
            "radiograph_id",
            "observer",
            "role",
        )
    }


def _audit(
    registry: Registry,
    session: Session,
    action: str,
    row: Radiograph,
    patient: Patient,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    registry.record(
        session,
        action=action,
        entity="radiograph",
        entity_key=f"{patient.study_code}/radiograph/{row.id}",
        before=before,
        after=after,
    )


def _audit_reading(
    registry: Registry,
    session: Session,
    action: str,
    row: Radiograph,
    patient: Patient,
    observer: str,
    mine: Reading,
    before: dict[str, Any] | None = None,
) -> None:
    registry.record(
        session,
        action=action,
        entity="reading",
        entity_key=f"{patient.study_code}/radiograph/{row.id}/{observer}",
        before=before,
        after={
            "role": mine.role,
            "landmarks": mine.landmarks,
            "submitted_at": mine.submitted_at.isoformat() if mine.submitted_at else None,
        },
    )
