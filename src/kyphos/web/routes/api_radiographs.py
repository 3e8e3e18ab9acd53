"""The REST API's radiographs (``/api/v1``): upload, display, assignments, blinded
readings, read-outs, calibration, comparison and adjudication (issue 7).

Thin like the other API routes: each parses its input, calls a use case of
:mod:`kyphos.registry.radiographs` and answers with its result; errors as
``{"detail": [{"loc", "msg"}]}`` with the statuses of :mod:`api_resources`.

An upload is read into memory with the 50 MB cap (:mod:`kyphos.web.uploads`), never
spooled to a temporary file, and de-identified before anything is stored. It is either
``multipart/form-data`` (fields ``file``, ``timepoint``, optional ``view``) or the file
itself as the body with ``?timepoint=`` (and optional ``&view=``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as FastApiPath
from pydantic import BaseModel, Field

from kyphos import imaging
from kyphos.registry import radiographs
from kyphos.web.deps import ApiError, ApiViewer
from kyphos.web.routes.api_resources import ERRORS, MAX_UPLOAD_BYTES, answers
from kyphos.web.uploads import BadForm, TooLarge, form_parts, read_body

router = APIRouter()

RadiographId = Annotated[int, FastApiPath(ge=1, le=2**31 - 1, description="the radiograph's id")]
Level = Annotated[int, FastApiPath(ge=0, le=32, description="display level, 0 = largest")]


class ReadingSummaryOut(BaseModel):
    observer: str
    role: str
    submitted: bool


class RadiographOut(BaseModel):
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
    readings: list[ReadingSummaryOut]
    may_assign: bool
    my_role: str | None
    my_submitted: bool
    comparable: bool


class ProblemOut(BaseModel):
    field: str
    msg: str


class ReadoutOut(BaseModel):
    calibrated: bool
    spacing_source: str | None
    anterior_height_mm: float | None
    middle_height_mm: float | None
    posterior_height_mm: float | None
    wedge_ratio: float | None
    biconcavity_ratio: float | None
    wedge_angle_deg: float | None
    kyphotic_angle_deg: float | None
    height_loss_percent: float | None
    height_loss_method: str | None
    genant_grade: int | None
    restoration: dict[str, float | None] | None
    missing: list[str]
    problems: list[ProblemOut]


class ReadingOut(BaseModel):
    radiograph_id: int
    observer: str
    role: str
    landmarks: dict[str, dict[str, Any]]
    readouts: dict[str, ReadoutOut]
    submitted_at: dt.datetime | None
    version: int


class ComparisonOut(BaseModel):
    radiograph: RadiographOut
    readings: list[ReadingOut]
    differences: dict[str, dict[str, float]]
    exceeds: dict[str, list[str]]
    adjudication_requested: bool
    threshold_mm: float
    threshold_deg: float


class AssignmentIn(BaseModel):
    observer: str = Field(min_length=1, max_length=64, description="the reader's user name")
    role: str = Field("primary", max_length=12, description="primary or adjudicator")


class AdjudicationIn(BaseModel):
    observer: str = Field(min_length=1, max_length=64, description="the adjudicator's user name")


class ReadingIn(BaseModel):
    landmarks: dict[str, dict[str, Any]] = Field(
        description='per level: {"sa": [x, y], …, "above": [[x, y], [x, y]], "below": …}'
    )
    version: int = Field(ge=1, le=2**31 - 1)


class SubmitIn(BaseModel):
    version: int = Field(ge=1, le=2**31 - 1)


class ReadoutIn(BaseModel):
    level: str = Field(max_length=8)
    landmarks: dict[str, Any]


class CalibrationIn(BaseModel):
    first: tuple[float, float]
    second: tuple[float, float]
    known_mm: float
    version: int = Field(ge=1, le=2**31 - 1)


def readout_json(readout: Any, lang: str = "en") -> dict[str, Any]:
    return readout.as_json(lang)  # type: ignore[no-any-return]


def reading_json(view: radiographs.ReadingView, lang: str = "en") -> dict[str, Any]:
    out = asdict(view)
    out["readouts"] = {level: readout_json(r, lang) for level, r in view.readouts.items()}
    return out


def comparison_json(view: radiographs.ComparisonView, lang: str = "en") -> dict[str, Any]:
    return {
        "radiograph": asdict(view.radiograph),
        "readings": [reading_json(r, lang) for r in view.readings],
        "differences": view.differences,
        "exceeds": view.exceeds,
        "adjudication_requested": view.adjudication_requested,
        "threshold_mm": view.threshold_mm,
        "threshold_deg": view.threshold_deg,
    }


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "timepoint"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "timepoint": {"type": "string", "maxLength": 16},
                        "view": {"type": "string", "enum": list(radiographs.VIEWS)},
                    },
                }
            },
        },
    }
}


@router.post(
    "/patients/{patient_id}/radiographs",
    status_code=201,
    response_model=RadiographOut,
    responses=ERRORS,
    openapi_extra=_UPLOAD_BODY,
)
async def upload_radiograph(
    request: Request,
    viewer: ApiViewer,
    patient_id: str,
    timepoint: Annotated[str | None, Query(max_length=16)] = None,
    view: Annotated[str | None, Query(max_length=16)] = None,
) -> dict[str, Any]:
    """Upload a DICOM, PNG or JPEG radiograph; it is de-identified before it is stored."""
    try:
        body = await read_body(request, MAX_UPLOAD_BYTES)
    except TooLarge as error:
        raise ApiError(413, str(error), ["body", "file"]) from None
    filename = ""
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/"):
        try:
            parts = form_parts(body, content_type)
        except BadForm as error:
            raise ApiError(422, str(error), ["body"]) from None
        if "file" not in parts:
            raise ApiError(422, "the form has no file", ["body", "file"])
        body, filename = parts["file"].data, parts["file"].filename or ""
        timepoint = parts["timepoint"].text if "timepoint" in parts else timepoint
        view = parts["view"].text if "view" in parts else view
    if not timepoint:
        raise ApiError(422, "the time point is required (preop, postop …)", ["body", "timepoint"])
    with answers(viewer.lang):
        try:
            added = radiographs.add_radiograph(
                viewer.registry,
                viewer.principal,
                patient_id,
                timepoint,
                body,
                filename=filename,
                view=view or "lateral",
            )
        except imaging.ImageRefused as error:
            raise ApiError(422, error.text(viewer.lang), ["body", "file"]) from None
    return asdict(added)


@router.get(
    "/patients/{patient_id}/radiographs", response_model=list[RadiographOut], responses=ERRORS
)
def list_radiographs(viewer: ApiViewer, patient_id: str) -> list[dict[str, Any]]:
    with answers(viewer.lang):
        found = radiographs.list_radiographs(viewer.registry, viewer.principal, patient_id)
    return [asdict(view) for view in found]


@router.get("/radiographs/{radiograph_id}", response_model=RadiographOut, responses=ERRORS)
def get_radiograph(viewer: ApiViewer, radiograph_id: RadiographId) -> dict[str, Any]:
    with answers(viewer.lang):
        return asdict(radiographs.read_radiograph(viewer.registry, viewer.principal, radiograph_id))


@router.get(
    "/radiographs/{radiograph_id}/display/{level}",
    responses={**ERRORS, 200: {"content": {"image/png": {}}, "description": "an 8-bit PNG"}},
    response_class=Response,
)
def get_display(viewer: ApiViewer, radiograph_id: RadiographId, level: Level) -> Response:
    """The display image of one level (8-bit PNG; level 0 is the largest)."""
    with answers(viewer.lang):
        data = radiographs.display_png(viewer.registry, viewer.principal, radiograph_id, level)
    return Response(
        data, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"}
    )


@router.post(
    "/radiographs/{radiograph_id}/assignments", response_model=RadiographOut, responses=ERRORS
)
def assign(viewer: ApiViewer, radiograph_id: RadiographId, body: AssignmentIn) -> dict[str, Any]:
    with answers(viewer.lang):
        return asdict(
            radiographs.assign(
                viewer.registry, viewer.principal, radiograph_id, body.observer, role=body.role
            )
        )


@router.post(
    "/radiographs/{radiograph_id}/adjudication", response_model=RadiographOut, responses=ERRORS
)
def adjudication(
    viewer: ApiViewer, radiograph_id: RadiographId, body: AdjudicationIn
) -> dict[str, Any]:
    with answers(viewer.lang):
        return asdict(
            radiographs.request_adjudication(
                viewer.registry, viewer.principal, radiograph_id, body.observer
            )
        )


@router.get("/radiographs/{radiograph_id}/reading", response_model=ReadingOut, responses=ERRORS)
def get_reading(viewer: ApiViewer, radiograph_id: RadiographId) -> dict[str, Any]:
    with answers(viewer.lang):
        return reading_json(
            radiographs.my_reading(viewer.registry, viewer.principal, radiograph_id)
        )


@router.put("/radiographs/{radiograph_id}/reading", response_model=ReadingOut, responses=ERRORS)
def put_reading(viewer: ApiViewer, radiograph_id: RadiographId, body: ReadingIn) -> dict[str, Any]:
    with answers(viewer.lang):
        saved = radiographs.save_reading(
            viewer.registry, viewer.principal, radiograph_id, body.landmarks, version=body.version
        )
    return reading_json(saved)


@router.post(
    "/radiographs/{radiograph_id}/reading/submit", response_model=ReadingOut, responses=ERRORS
)
def submit_reading(
    viewer: ApiViewer, radiograph_id: RadiographId, body: SubmitIn
) -> dict[str, Any]:
    with answers(viewer.lang):
        submitted = radiographs.submit_reading(
            viewer.registry, viewer.principal, radiograph_id, version=body.version
        )
    return reading_json(submitted)


@router.post("/radiographs/{radiograph_id}/readout", response_model=ReadoutOut, responses=ERRORS)
def readout(viewer: ApiViewer, radiograph_id: RadiographId, body: ReadoutIn) -> dict[str, Any]:
    """The values of one vertebra's landmarks as placed so far (nothing is saved)."""
    with answers(viewer.lang):
        result = radiographs.reading_readout(
            viewer.registry, viewer.principal, radiograph_id, body.level, body.landmarks
        )
    return readout_json(result)


@router.post(
    "/radiographs/{radiograph_id}/calibration", response_model=RadiographOut, responses=ERRORS
)
def calibration(
    viewer: ApiViewer, radiograph_id: RadiographId, body: CalibrationIn
) -> dict[str, Any]:
    with answers(viewer.lang):
        return asdict(
            radiographs.calibrate(
                viewer.registry,
                viewer.principal,
                radiograph_id,
                body.first,
                body.second,
                body.known_mm,
                version=body.version,
            )
        )


@router.get(
    "/radiographs/{radiograph_id}/comparison", response_model=ComparisonOut, responses=ERRORS
)
def get_comparison(viewer: ApiViewer, radiograph_id: RadiographId) -> dict[str, Any]:
    with answers(viewer.lang):
        return comparison_json(
            radiographs.comparison(viewer.registry, viewer.principal, radiograph_id)
        )


__all__ = ["comparison_json", "reading_json", "readout_json", "router"]
