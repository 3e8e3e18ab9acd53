"""The radiograph pages: a patient's radiographs, the landmark annotator, the comparison.

Thin like :mod:`kyphos.web.routes.forms`: every route calls a use case of
:mod:`kyphos.registry.radiographs` (which checks roles, sites, assignments and blinding)
and presents the answer. The registry's errors become:

* :class:`~kyphos.errors.NotFoundError` → 404 (missing, or another site's);
* :class:`~kyphos.registry.editing.AccessDenied` → 403;
* :class:`~kyphos.errors.ConflictError` (a stale version, a submitted reading) → 409;
* :class:`~kyphos.clinical.errors.ClinicalValueError` and
  :class:`~kyphos.imaging.ImageRefused` → 422.

The pages answer HTML; the annotator's calls (``/readout``, ``/reading``, ``/submit``,
``/calibration``) answer JSON, errors as ``{"detail": [{"loc": [...], "msg": "..."}]}``
in the user's language. They carry the session's CSRF token in the ``X-CSRF-Token``
header (the forms carry it in a field).

Analysts read de-identified reports only: every page here answers them 403.

Blinding is the registry's: the annotator shows the viewer's own reading only
(:func:`~kyphos.registry.radiographs.my_reading`), and the comparison page exists only
once :func:`~kyphos.registry.radiographs.comparison` gives it.

An upload is read into memory with the size cap (:data:`kyphos.imaging.MAX_UPLOAD_BYTES`)
and parsed there (:mod:`kyphos.web.uploads`): Starlette's form parser would spool a file
over 1 MB to the system's temporary folder, before the de-identification.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from kyphos.clinical.errors import ClinicalValueError, ClinicalValueErrors
from kyphos.clinical.reading import ADJUDICATION_DEG, ADJUDICATION_MM, KEYS, VALUE_FIELDS
from kyphos.errors import ConflictError, KyphosError, NotFoundError
from kyphos.imaging import MAX_UPLOAD_BYTES, ImageRefused
from kyphos.registry import access
from kyphos.registry import radiographs as use
from kyphos.registry.editing import AccessDenied
from kyphos.web import csrf, i18n, uploads
from kyphos.web.deps import PageViewer, Viewer, render, session_of

router = APIRouter(include_in_schema=False)

READER_ROLES = (access.ADMIN, access.INVESTIGATOR, access.OBSERVER)
"""The roles the radiograph pages are for (analysts: de-identified reports only)."""
EDIT_ROLES = (access.ADMIN, access.INVESTIGATOR)
"""The roles that upload, assign and request adjudication (the forms are hidden to others)."""
CSRF_HEADER = "x-csrf-token"
MAX_JSON_BYTES = 256 * 1024
"""A reading of every level of a spine is a few kilobytes; larger bodies are refused."""
MAX_FORM_FIELD_BYTES = 1000
MULTIPART_OVERHEAD_BYTES = 64 * 1024
"""Room for the form's other fields and boundaries around a file at the size cap."""
DISPLAY_CACHE = "private, max-age=31536000, immutable"
"""Display images are content-addressed: the same address always gives the same PNG."""


# --- answers --------------------------------------------------------------------------------


def _json_error(status: int, problems: list[tuple[list[str | int], str]]) -> JSONResponse:
    return JSONResponse(
        {"detail": [{"loc": loc, "msg": msg} for loc, msg in problems]}, status_code=status
    )


def _clinical(error: ClinicalValueError) -> list[ClinicalValueError]:
    return list(error.problems) if isinstance(error, ClinicalValueErrors) else [error]


def _forbidden_text(viewer: Viewer) -> str:
    _ = i18n.translator(viewer.lang)
    return _("Your role may not do this with radiographs.")


def _conflict_text(viewer: Viewer, error: ConflictError) -> str:
    _ = i18n.translator(viewer.lang)
    if viewer.lang == "en":
        return "; ".join(error.problems)
    return _(
        "Someone saved this first, or the reading is already submitted: reload the page "
        "and try again."
    )


def _require_reader(viewer: Viewer) -> None:
    if viewer.principal.role not in READER_ROLES:
        raise HTTPException(status_code=403, detail=_forbidden_text(viewer))


@contextmanager
def _page_errors(viewer: Viewer) -> Iterator[None]:
    """A page's use-case errors: AccessDenied → 403, a conflict → 409 (missing → the app's
    404, refused values → the app's 422 page)."""
    try:
        yield
    except AccessDenied:
        raise HTTPException(status_code=403, detail=_forbidden_text(viewer)) from None
    except ConflictError as error:
        raise HTTPException(status_code=409, detail=_conflict_text(viewer, error)) from None


class _JsonRefused(Exception):
    def __init__(self, answer: JSONResponse) -> None:
        super().__init__("refused")
        self.answer = answer


def _refuse(status: int, loc: list[str | int], msg: str) -> NoReturn:
    raise _JsonRefused(_json_error(status, [(loc, msg)]))


@contextmanager
def _json_errors(viewer: Viewer) -> Iterator[None]:
    """The annotator's calls: every use-case error as JSON, in the viewer's language."""
    _ = i18n.translator(viewer.lang)
    try:
        yield
    except NotFoundError:
        _refuse(404, ["path"], _("Not found."))
    except AccessDenied:
        _refuse(403, [], _forbidden_text(viewer))
    except ConflictError as error:
        _refuse(409, ["body", "version"], _conflict_text(viewer, error))
    except ClinicalValueError as error:
        problems = _clinical(error)
        raise _JsonRefused(
            _json_error(
                422, [(["body", *p.field.split(".")], p.text(viewer.lang)) for p in problems]
            )
        ) from None
    except KyphosError as error:
        _refuse(400, [], "; ".join(error.problems))


async def _reader_body(request: Request, viewer: Viewer) -> dict[str, Any]:
    """The posted JSON object of a reader's request, after the CSRF header is checked
    (403 without it); roles that do not read radiographs are refused (403)."""
    _ = i18n.translator(viewer.lang)
    try:
        csrf.check(session_of(request).csrf, request.headers.get(CSRF_HEADER))
    except csrf.CsrfRefused:
        _refuse(403, ["header", CSRF_HEADER], _("The page has expired; reload it and try again."))
    try:
        raw = await uploads.read_body(request, MAX_JSON_BYTES)
    except uploads.TooLarge:
        _refuse(413, ["body"], _("The request is too large."))
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        _refuse(422, ["body"], _("The request is not valid JSON."))
    if not isinstance(body, dict):
        _refuse(422, ["body"], _("The request must be a JSON object."))
    if viewer.principal.role not in READER_ROLES:
        _refuse(403, [], _forbidden_text(viewer))
    return body


def _json_route(viewer: Viewer, work: Callable[[], Any]) -> Response:
    try:
        with _json_errors(viewer):
            return JSONResponse(work())
    except _JsonRefused as refused:
        return refused.answer


# --- what the pages show ----------------------------------------------------------------------


def _patient_url(study_code: str) -> str:
    return f"/patients/{quote(study_code, safe='')}"


def _list_url(study_code: str) -> str:
    return _patient_url(study_code) + "/radiographs"


def _readout_json(readout: Any, lang: str) -> dict[str, Any]:
    out: dict[str, Any] = readout.as_json(lang)
    return out


def _reading_json(reading: Any, lang: str) -> dict[str, Any]:
    return {
        "radiograph_id": reading.radiograph_id,
        "observer": reading.observer,
        "role": reading.role,
        "landmarks": reading.landmarks,
        "readouts": {
            level: _readout_json(value, lang) for level, value in reading.readouts.items()
        },
        "submitted": reading.submitted_at is not None,
        "submitted_at": reading.submitted_at.isoformat() if reading.submitted_at else None,
        "version": reading.version,
    }


def _radiograph_json(radiograph: Any) -> dict[str, Any]:
    return {
        "id": radiograph.id,
        "width": radiograph.width,
        "height": radiograph.height,
        "spacing_mm": list(radiograph.spacing_mm) if radiograph.spacing_mm else None,
        "spacing_source": radiograph.spacing_source,
        "levels": [list(level) for level in radiograph.levels],
        "vertebrae": list(radiograph.vertebrae),
        "version": radiograph.version,
    }


def _timepoint_labels(viewer: Viewer) -> dict[str, str]:
    return {point.key: point.label(viewer.lang) for point in viewer.registry.protocol().timepoints}


def _spacing_sources(lang: str) -> dict[str, str]:
    """Where an image's pixel spacing came from, as the pages name it."""
    _ = i18n.translator(lang)
    return {
        "pixel_spacing": _("DICOM PixelSpacing"),
        "imager_pixel_spacing": _("DICOM ImagerPixelSpacing (at the detector)"),
        "imager_pixel_spacing_magnification": _(
            "DICOM ImagerPixelSpacing corrected for magnification"
        ),
        "manual": _("manual calibration"),
    }


def _field_labels(lang: str) -> dict[str, str]:
    _ = i18n.translator(lang)
    return {
        "anterior_height_mm": _("Anterior height (mm)"),
        "middle_height_mm": _("Middle height (mm)"),
        "posterior_height_mm": _("Posterior height (mm)"),
        "wedge_angle_deg": _("Wedge angle (°)"),
        "kyphotic_angle_deg": _("Segmental kyphotic angle (°)"),
    }


OVERLAY_SIDE = 1000
"""The comparison draws on the smallest display level at least this many pixels long."""


def _fitting_level(levels: list[tuple[int, int]], side: int) -> int:
    fitting = [n for n, (w, h) in enumerate(levels) if max(w, h) >= side]
    return fitting[-1] if fitting else 0


def _observers(viewer: Viewer) -> list[str]:
    """User names the assign form offers (the registry decides whom it accepts)."""
    return [
        user.username
        for user in viewer.registry.list_users()
        if user.active and user.role in (access.OBSERVER, access.INVESTIGATOR)
    ]


@dataclass
class ListPage:
    study_code: str
    problems: list[str]
    timepoint: str = ""
    view: str = "lateral"


def _show_list(request: Request, viewer: Viewer, page: ListPage, status: int = 200) -> Response:
    with _page_errors(viewer):
        radiographs = use.list_radiographs(viewer.registry, viewer.principal, page.study_code)
    may_edit = viewer.principal.role in EDIT_ROLES
    return render(
        request,
        "radiographs/list.html",
        lang=viewer.lang,
        viewer=viewer,
        status_code=status,
        page=page,
        radiographs=radiographs,
        labels=_timepoint_labels(viewer),
        spacing_sources=_spacing_sources(viewer.lang),
        may_edit=may_edit,
        observers=_observers(viewer) if may_edit else [],
        back=_patient_url(page.study_code),
    )


# --- a patient's radiographs ----------------------------------------------------------------


@router.get("/patients/{study_code}/radiographs", response_class=HTMLResponse)
def radiograph_list(request: Request, viewer: PageViewer, study_code: str) -> Response:
    _require_reader(viewer)
    return _show_list(request, viewer, ListPage(study_code, []))


async def _read_upload(request: Request, viewer: Viewer) -> tuple[dict[str, str], bytes, str]:
    """(text fields, file bytes, file name) of the upload form, held in memory only
    (:mod:`kyphos.web.uploads`)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        # a form without a file (urlencoded: nothing is spooled), or no form at all
        urlencoded = content_type.lower().startswith("application/x-www-form-urlencoded")
        form = await request.form() if urlencoded else {}
        return {str(k): str(v)[:MAX_FORM_FIELD_BYTES] for k, v in form.items()}, b"", ""
    try:
        body = await uploads.read_body(request, MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES)
        parts = uploads.form_parts(body, content_type)
    except uploads.TooLarge:
        raise HTTPException(status_code=413, detail=_too_large(viewer)) from None
    except uploads.BadForm:
        _ = i18n.translator(viewer.lang)
        raise HTTPException(status_code=422, detail=_("Choose a file to upload.")) from None
    file = parts.pop("file", None)
    fields = {name: part.text[:MAX_FORM_FIELD_BYTES] for name, part in parts.items()}
    data = file.data if file is not None else b""
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(status_code=413, detail=_too_large(viewer))
    return fields, data, (file.filename or "")[:200] if file is not None else ""


def _too_large(viewer: Viewer) -> str:
    _ = i18n.translator(viewer.lang)
    return _("The file is larger than {megabytes} MB.").format(
        megabytes=MAX_UPLOAD_BYTES // (1024 * 1024)
    )


@router.post("/patients/{study_code}/radiographs", response_class=HTMLResponse)
async def radiograph_upload(request: Request, viewer: PageViewer, study_code: str) -> Response:
    _require_reader(viewer)
    fields, data, filename = await _read_upload(request, viewer)
    csrf.check(session_of(request).csrf, fields.get(csrf.FIELD))
    _ = i18n.translator(viewer.lang)
    page = ListPage(
        study_code,
        [],
        timepoint=fields.get("timepoint", "").strip(),
        view=fields.get("view", "lateral").strip() or "lateral",
    )
    try:
        with _page_errors(viewer):
            if not data:
                use.list_radiographs(viewer.registry, viewer.principal, study_code)  # 404 first
                if viewer.principal.role not in EDIT_ROLES:
                    raise AccessDenied("upload")
                page.problems = [_("Choose a file to upload.")]
                return _show_list(request, viewer, page, status=422)
            use.add_radiograph(
                viewer.registry,
                viewer.principal,
                study_code,
                page.timepoint,
                data,
                filename=filename,
                view=page.view,
            )
    except ImageRefused as refused:
        page.problems = [refused.text(viewer.lang)]
        return _show_list(request, viewer, page, status=422)
    except ClinicalValueError as error:
        page.problems = [f"{p.field}: {p.text(viewer.lang)}" for p in _clinical(error)]
        return _show_list(request, viewer, page, status=422)
    return RedirectResponse(_list_url(study_code), status_code=303)


async def _posted(request: Request) -> Any:
    form = await request.form()
    csrf.check(session_of(request).csrf, str(form.get(csrf.FIELD, "") or ""))
    return form


def _form_text(form: Any, name: str) -> str:
    return str(form.get(name, "") or "").strip()[:MAX_FORM_FIELD_BYTES]


def _back_to_list(viewer: Viewer, radiograph_id: int) -> Response:
    radiograph = use.read_radiograph(viewer.registry, viewer.principal, radiograph_id)
    return RedirectResponse(_list_url(radiograph.study_code), status_code=303)


def _refused_form(
    request: Request, viewer: Viewer, radiograph_id: int, error: Exception
) -> Response:
    radiograph = use.read_radiograph(viewer.registry, viewer.principal, radiograph_id)
    if isinstance(error, ClinicalValueError):
        problems = [p.text(viewer.lang) for p in _clinical(error)]
    else:
        problems = [_conflict_text(viewer, error)] if isinstance(error, ConflictError) else []
    page = ListPage(radiograph.study_code, problems)
    return _show_list(request, viewer, page, status=422)


@router.post("/radiographs/{radiograph_id}/assign", response_class=HTMLResponse)
async def radiograph_assign(request: Request, viewer: PageViewer, radiograph_id: int) -> Response:
    form = await _posted(request)
    _require_reader(viewer)
    observer = _form_text(form, "observer")
    role = _form_text(form, "role") or "primary"
    try:
        with _page_errors(viewer):
            if not observer:
                use.read_radiograph(viewer.registry, viewer.principal, radiograph_id)
                if viewer.principal.role not in EDIT_ROLES:
                    raise AccessDenied("assign")
                raise ClinicalValueError(
                    "observer", "choose an observer", message_zh="请选择测量者"
                )
            use.assign(viewer.registry, viewer.principal, radiograph_id, observer, role=role)
    except ClinicalValueError as error:
        return _refused_form(request, viewer, radiograph_id, error)
    return _back_to_list(viewer, radiograph_id)


@router.post("/radiographs/{radiograph_id}/adjudication", response_class=HTMLResponse)
async def radiograph_adjudication(
    request: Request, viewer: PageViewer, radiograph_id: int
) -> Response:
    form = await _posted(request)
    _require_reader(viewer)
    observer = _form_text(form, "observer")
    try:
        with _page_errors(viewer):
            if not observer:
                use.read_radiograph(viewer.registry, viewer.principal, radiograph_id)
                if viewer.principal.role not in EDIT_ROLES:
                    raise AccessDenied("adjudication")
                raise ClinicalValueError(
                    "observer", "choose an adjudicator", message_zh="请选择仲裁者"
                )
            use.request_adjudication(viewer.registry, viewer.principal, radiograph_id, observer)
    except ClinicalValueError as error:
        return _refused_form(request, viewer, radiograph_id, error)
    return RedirectResponse(f"/radiographs/{radiograph_id}/compare", status_code=303)


# --- the annotator --------------------------------------------------------------------------


def _annotator_texts(lang: str) -> dict[str, Any]:
    """The texts annotator.js shows, in ``lang`` (the script holds none of its own)."""
    _ = i18n.translator(lang)
    return {
        "points": {
            "sa": _("superior-anterior corner"),
            "sp": _("superior-posterior corner"),
            "ia": _("inferior-anterior corner"),
            "ip": _("inferior-posterior corner"),
            "sm": _("mid-point of the superior endplate"),
            "im": _("mid-point of the inferior endplate"),
            "above.0": _("vertebra above: anterior end of its superior endplate"),
            "above.1": _("vertebra above: posterior end of its superior endplate"),
            "below.0": _("vertebra below: anterior end of its inferior endplate"),
            "below.1": _("vertebra below: posterior end of its inferior endplate"),
        },
        "place": _("Click the {point}."),
        "done": _("All points of this vertebra are placed; drag a point to move it."),
        "calibrate_first": _("Calibration: click one end of the object of known length."),
        "calibrate_second": _("Calibration: click the other end."),
        "calibrate_length": _("Length between the two points in millimetres:"),
        "saved": _("Draft saved."),
        "submitted": _("Submitted: the reading can no longer be changed."),
        "not_calibrated": _("Not calibrated: angles and ratios only."),
        "error": _("Not saved:"),
        "offline": _("The server did not answer; try again."),
        "confirm_submit": _("Submit this reading? It cannot be changed afterwards."),
        "spacing_sources": _spacing_sources(lang),
        "pixel": _("pixel"),
    }


@router.get("/radiographs/{radiograph_id}", response_class=HTMLResponse)
def annotator(request: Request, viewer: PageViewer, radiograph_id: int) -> Response:
    _require_reader(viewer)
    with _page_errors(viewer):
        radiograph = use.read_radiograph(viewer.registry, viewer.principal, radiograph_id)
        reading = None
        if radiograph.my_role is not None:
            reading = use.my_reading(viewer.registry, viewer.principal, radiograph_id)
    state = {
        "radiograph": _radiograph_json(radiograph),
        "reading": _reading_json(reading, viewer.lang) if reading is not None else None,
        "texts": _annotator_texts(viewer.lang),
        "keys": list(KEYS),
        "lang": viewer.lang,
    }
    return render(
        request,
        "radiographs/annotator.html",
        lang=viewer.lang,
        viewer=viewer,
        radiograph=radiograph,
        reading=reading,
        state=state,
        labels=_timepoint_labels(viewer),
        spacing_sources=_spacing_sources(viewer.lang),
        back=_list_url(radiograph.study_code),
    )


@router.get("/radiographs/{radiograph_id}/display/{level}.png")
def display_image(viewer: PageViewer, radiograph_id: int, level: int) -> Response:
    _require_reader(viewer)
    with _page_errors(viewer):
        png = use.display_png(viewer.registry, viewer.principal, radiograph_id, level)
    return Response(png, media_type="image/png", headers={"Cache-Control": DISPLAY_CACHE})


async def _reader_call(
    request: Request, viewer: Viewer, work: Callable[[dict[str, Any]], Any]
) -> Response:
    """Answer a reader's JSON request: ``work`` turns the checked body into the JSON
    answer; refusals of the body or of the use case answer as :func:`_json_route`."""
    try:
        body = await _reader_body(request, viewer)
    except _JsonRefused as refused:
        return refused.answer
    return _json_route(viewer, lambda: work(body))


@router.post("/radiographs/{radiograph_id}/readout")
async def readout(request: Request, viewer: PageViewer, radiograph_id: int) -> Response:
    """The values the posted landmarks of one vertebra give (nothing is saved)."""
    return await _reader_call(
        request,
        viewer,
        lambda body: _readout_json(
            use.reading_readout(
                viewer.registry,
                viewer.principal,
                radiograph_id,
                body.get("level"),
                body.get("landmarks") or {},
            ),
            viewer.lang,
        ),
    )


@router.put("/radiographs/{radiograph_id}/reading")
async def save_reading(request: Request, viewer: PageViewer, radiograph_id: int) -> Response:
    """Save the viewer's draft: ``{"landmarks": {level: {...}}, "version": n}``."""
    return await _reader_call(
        request,
        viewer,
        lambda body: _reading_json(
            use.save_reading(
                viewer.registry,
                viewer.principal,
                radiograph_id,
                body.get("landmarks") or {},
                version=body.get("version"),
            ),
            viewer.lang,
        ),
    )


@router.post("/radiographs/{radiograph_id}/submit")
async def submit_reading(request: Request, viewer: PageViewer, radiograph_id: int) -> Response:
    """Submit the viewer's reading (``{"version": n}``); it cannot change afterwards."""
    return await _reader_call(
        request,
        viewer,
        lambda body: _reading_json(
            use.submit_reading(
                viewer.registry, viewer.principal, radiograph_id, version=body.get("version")
            ),
            viewer.lang,
        ),
    )


@router.post("/radiographs/{radiograph_id}/calibration")
async def calibrate(request: Request, viewer: PageViewer, radiograph_id: int) -> Response:
    """Manual spacing from two points and the known length between them:
    ``{"first": [x, y], "second": [x, y], "known_mm": 50, "version": n}``."""
    return await _reader_call(
        request,
        viewer,
        lambda body: _radiograph_json(
            use.calibrate(
                viewer.registry,
                viewer.principal,
                radiograph_id,
                body.get("first"),
                body.get("second"),
                body.get("known_mm"),
                version=body.get("version"),
            )
        ),
    )


# --- the comparison -------------------------------------------------------------------------


@dataclass(frozen=True)
class CompareRow:
    level: str
    field: str
    values: list[float | None]
    difference: float | None
    exceeds: bool


def _compare_rows(comparison: Any) -> list[CompareRow]:
    rows = []
    levels: list[str] = []
    for reading in comparison.readings:
        levels += [level for level in reading.readouts if level not in levels]
    for level in levels:
        for name in VALUE_FIELDS:
            values = [
                getattr(reading.readouts[level], name, None) if level in reading.readouts else None
                for reading in comparison.readings
            ]
            if all(value is None for value in values):
                continue
            difference = comparison.differences.get(level, {}).get(name)
            rows.append(
                CompareRow(
                    level=level,
                    field=name,
                    values=values,
                    difference=difference,
                    exceeds=name in comparison.exceeds.get(level, []),
                )
            )
    return rows


@router.get("/radiographs/{radiograph_id}/compare", response_class=HTMLResponse)
def compare(request: Request, viewer: PageViewer, radiograph_id: int) -> Response:
    _require_reader(viewer)
    _ = i18n.translator(viewer.lang)
    with _page_errors(viewer):
        radiograph = use.read_radiograph(viewer.registry, viewer.principal, radiograph_id)
        closed = _(
            "The comparison opens when both primary readings are submitted (and your "
            "own, if you read this radiograph)."
        )
        try:
            comparison = use.comparison(viewer.registry, viewer.principal, radiograph_id)
        except AccessDenied:  # the viewer's own reading is not submitted, or not theirs
            raise HTTPException(status_code=403, detail=closed) from None
        except ConflictError:  # the pair is not complete yet
            raise HTTPException(status_code=409, detail=closed) from None
    overlay = [
        {"observer": reading.observer, "landmarks": reading.landmarks}
        for reading in comparison.readings
    ]
    return render(
        request,
        "radiographs/compare.html",
        lang=viewer.lang,
        viewer=viewer,
        radiograph=radiograph,
        comparison=comparison,
        rows=_compare_rows(comparison),
        overlay=overlay,
        overlay_level=_fitting_level(list(radiograph.levels), OVERLAY_SIDE),
        field_labels=_field_labels(viewer.lang),
        may_edit=viewer.principal.role in EDIT_ROLES,
        observers=_observers(viewer) if viewer.principal.role in EDIT_ROLES else [],
        threshold_mm=ADJUDICATION_MM,
        threshold_deg=ADJUDICATION_DEG,
        labels=_timepoint_labels(viewer),
        back=_list_url(radiograph.study_code),
    )
