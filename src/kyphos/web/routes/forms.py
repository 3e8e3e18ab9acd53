"""The record forms: create, edit and delete a patient and what hangs below it.

Thin, like the REST API: every route reads the posted form, calls a use case of
:mod:`kyphos.registry.editing` (which checks roles and sites, validates through
:mod:`kyphos.clinical`, writes and audits) and answers:

* saved → 303 to the patient page;
* refused values → 422, the form again with everything typed kept and each message next
  to its field (and in a summary), in the user's language;
* stale version (someone saved first) → 409, the form with what was typed *and* what is
  stored now, carrying the stored version so that saving again overwrites on purpose;
* a role that may not edit → 403; another site's (or a missing) patient → 404.

Also the JSON read-outs the forms update live: ``/forms/odi`` and ``/forms/acuity``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from kyphos.clinical.errors import ClinicalValueError
from kyphos.clinical.procedure import Technique
from kyphos.registry import access, browse, editing
from kyphos.registry.editing import AccessDenied, StaleVersion
from kyphos.web import csrf, i18n
from kyphos.web.deps import PageViewer, Viewer, render, session_of
from kyphos.web.routes import forms_fields as ff

router = APIRouter(include_in_schema=False)

EDIT_ROLES = (access.ADMIN, access.INVESTIGATOR)
"""The roles the forms are for (editing.py refuses the others; the links are hidden)."""
READ_REASON = "edit form"
"""Why identity was read, in the audit trail, when an edit form shows it."""


# --- what a form page shows --------------------------------------------------------------


@dataclass
class FormPage:
    """One form as the template draws it."""

    kind: str
    study_code: str | None
    action: str
    values: ff.Values
    item_id: int | None = None
    version: int | None = None
    problems: list[ClinicalValueError] = field(default_factory=list)
    stored: ff.Values | None = None
    """Stale edit: the values stored now (shown beside the typed ones)."""
    message: str = ""

    @property
    def editing(self) -> bool:
        return self.version is not None


def _page_base(study_code: str | None, kind: str, item_id: int | None = None) -> str:
    if kind == "patients":
        return "/patients/new" if study_code is None else _patient_url(study_code)
    base = f"{_patient_url(study_code or '')}/{kind}"
    return f"{base}/new" if item_id is None else f"{base}/{item_id}"


def _action(study_code: str | None, kind: str, item_id: int | None) -> str:
    base = _page_base(study_code, kind, item_id)
    return base if base.endswith("/new") else base + "/edit"


def _show(request: Request, viewer: Viewer, page: FormPage, status: int = 200) -> Response:
    lang = viewer.lang
    _ = i18n.translator(lang)
    lists = ff.choice_lists(
        viewer.registry.protocol(), lang, browse.visible_sites(viewer.registry, viewer.principal)
    )
    names = ff.KIND_FIELDS[page.kind]
    if page.kind == "patients" and page.study_code is None:
        names = ("patient_id", *names)
    identity = page.kind == "patients" and _may_read_identity(viewer)
    errors: dict[str, list[str]] = {}
    summary: list[tuple[str, str, str]] = []
    for problem in page.problems:
        where = ff.field_id(problem.field)
        errors.setdefault(where, []).append(problem.text(lang))
        summary.append((where, ff.field_label(where, _, lang), problem.text(lang)))
    rows = max(ff.level_count(page.values), 1) if page.kind == "procedures" else 0
    return render(
        request,
        "forms/record.html",
        lang=lang,
        viewer=viewer,
        status_code=status,
        page=page,
        title=_(ff.KIND_TITLES[page.kind]),
        fields=ff.fields(names),
        identity_fields=ff.fields(ff.IDENTITY) if identity else [],
        level_fields=ff.fields(ff.LEVEL_FIELDS),
        level_rows=range(rows),
        errors=errors,
        summary=summary,
        label=lambda f: ff.label(f, _, lang),
        choices=lambda f: ff.choices(f, lang, lists),
        shown_as=lambda f, value: ff.display(f, value, lang, lists),
        odi=ff.odi_or_none(page.values, lang) if page.kind == "visits" else None,
        acuity=ff.acuity_or_none(page.values, lang) if page.kind == "vertebrae" else None,
        back=_patient_url(page.study_code) if page.study_code else "/patients",
        delete_action=(
            _page_base(page.study_code, page.kind, page.item_id) + "/delete" if page.editing else ""
        ),
    )


def _may_read_identity(viewer: Viewer) -> bool:
    """Identity fields on a patient form: for the roles that read and record identity
    (the forms open only for patients these roles may edit, so of their sites)."""
    return viewer.principal.role in EDIT_ROLES


def _patient_url(study_code: str) -> str:
    return f"/patients/{quote(study_code, safe='')}"


# --- use-case errors → answers -------------------------------------------------------------


@contextmanager
def _allowed(viewer: Viewer) -> Iterator[None]:
    """A role that may not edit: 403 (a hidden patient stays a 404, answered by the app)."""
    try:
        yield
    except AccessDenied:
        _ = i18n.translator(viewer.lang)
        raise HTTPException(
            status_code=403, detail=_("Your role may not change clinical data.")
        ) from None


def _version(form: Mapping[str, Any]) -> int | None:
    text = str(form.get("version", "") or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


Save = Callable[[], object]
Stored = Callable[[], tuple[ff.Values, int]]


def _save(
    request: Request,
    viewer: Viewer,
    page: FormPage,
    save: Save,
    stored: Stored | None,
    done: str,
) -> Response:
    """Run ``save``; 303 to ``done``, or the form again with why it was refused."""
    with _allowed(viewer):
        try:
            save()
        except StaleVersion as error:
            if stored is None:  # pragma: no cover - only edits carry a version
                raise
            page.stored, page.version = stored()
            _ = i18n.translator(viewer.lang)
            page.message = _(
                "Someone else saved this record first (your version {yours}, stored version "
                "{stored}). Nothing was overwritten: compare what you typed with what is "
                "stored now, then save again to replace it, or go back."
            ).format(yours=error.yours, stored=error.stored)
            return _show(request, viewer, page, status=409)
        except ClinicalValueError as error:
            page.problems = ff.problems_of(error)
            return _show(request, viewer, page, status=422)
    return RedirectResponse(done, status_code=303)


async def _posted(request: Request) -> Any:
    form = await request.form()
    csrf.check(session_of(request).csrf, str(form.get(csrf.FIELD, "") or ""))
    return form


# --- patients ------------------------------------------------------------------------------


def _patient_names(with_identity: bool) -> tuple[str, ...]:
    return ff.KIND_FIELDS["patients"] + (ff.IDENTITY if with_identity else ())


def _patient_values(form: Any, *, new: bool, with_identity: bool) -> ff.Values:
    names = (("patient_id",) if new else ()) + _patient_names(with_identity)
    return ff.typed_values(form, names, multiple=("comorbidities",))


def _patient_use_values(
    values: ff.Values, with_identity: bool, had_identity: bool
) -> dict[str, Any]:
    own = [name for name in values if name not in ff.IDENTITY]
    out: dict[str, Any] = ff.for_use_case(values, own)
    if with_identity:
        identity = ff.for_use_case(values, ff.IDENTITY)
        if had_identity or any(value is not None for value in identity.values()):
            out["identity"] = identity
    return out


def _stored_patient(viewer: Viewer, study_code: str) -> tuple[ff.Values, int, bool]:
    record = editing.read_patient(viewer.registry, viewer.principal, study_code, reason=READ_REASON)
    names = _patient_names(_may_read_identity(viewer))
    values = ff.record_values(record, names)
    return values, int(record["version"]), bool(record.get("identity"))


@router.get("/patients/new", response_class=HTMLResponse)
def new_patient(request: Request, viewer: PageViewer) -> Response:
    with _allowed(viewer):
        editing.check_editable(viewer.registry, viewer.principal, None)
    sites = editing.visible_site_codes(viewer.registry, viewer.principal)
    values: ff.Values = {"site": sites[0] if len(sites) == 1 else ""}
    page = FormPage("patients", None, "/patients/new", values)
    return _show(request, viewer, page)


@router.post("/patients/new", response_class=HTMLResponse)
async def create_patient(request: Request, viewer: PageViewer) -> Response:
    form = await _posted(request)
    with_identity = _may_read_identity(viewer)
    values = _patient_values(form, new=True, with_identity=with_identity)
    page = FormPage("patients", None, "/patients/new", values)
    code = str(values.get("patient_id", "")).strip()
    use = _patient_use_values(values, with_identity, had_identity=False)
    return _save(
        request,
        viewer,
        page,
        lambda: editing.create_patient(viewer.registry, viewer.principal, use),
        None,
        _patient_url(code),
    )


@router.get("/patients/{study_code}/edit", response_class=HTMLResponse)
def edit_patient(request: Request, viewer: PageViewer, study_code: str) -> Response:
    with _allowed(viewer):
        editing.check_editable(viewer.registry, viewer.principal, study_code)
    values, version, _ = _stored_patient(viewer, study_code)
    page = FormPage(
        "patients", study_code, _action(study_code, "patients", None), values, version=version
    )
    return _show(request, viewer, page)


@router.post("/patients/{study_code}/edit", response_class=HTMLResponse)
async def update_patient(request: Request, viewer: PageViewer, study_code: str) -> Response:
    form = await _posted(request)
    with _allowed(viewer):
        editing.check_editable(viewer.registry, viewer.principal, study_code)
    with_identity = _may_read_identity(viewer)
    values = _patient_values(form, new=False, with_identity=with_identity)
    version = _version(form)
    page = FormPage(
        "patients", study_code, _action(study_code, "patients", None), values, version=version or 0
    )

    def save() -> object:
        use = _patient_use_values(values, with_identity, had_identity=True)
        return editing.update_patient(
            viewer.registry, viewer.principal, study_code, use, version=version
        )

    def stored() -> tuple[ff.Values, int]:
        found, number, _ = _stored_patient(viewer, study_code)
        return found, number

    return _save(request, viewer, page, save, stored, _patient_url(study_code))


@router.post("/patients/{study_code}/delete", response_class=HTMLResponse)
async def delete_patient(request: Request, viewer: PageViewer, study_code: str) -> Response:
    form = await _posted(request)
    with _allowed(viewer):
        editing.check_editable(viewer.registry, viewer.principal, study_code)
    values, stored_version, _ = _stored_patient(viewer, study_code)
    page = FormPage(
        "patients",
        study_code,
        _action(study_code, "patients", None),
        values,
        version=stored_version,
    )
    version = _version(form)

    def stored() -> tuple[ff.Values, int]:
        return values, stored_version

    return _save(
        request,
        viewer,
        page,
        lambda: editing.delete_patient(
            viewer.registry, viewer.principal, study_code, version=version
        ),
        stored,
        "/patients",
    )


# --- records below a patient ---------------------------------------------------------------


def _item_values(kind: str, form: Any) -> ff.Values:
    names = ff.KIND_FIELDS[kind]
    multiple = [name for name in names if ff.FIELDS[name].widget == "checkboxes"]
    values = ff.typed_values(form, names, multiple)
    if kind == "procedures":
        values.update(ff.flatten_levels(ff.level_rows(form)))
    return values


def _item_use_values(kind: str, values: ff.Values) -> dict[str, Any]:
    out: dict[str, Any] = ff.for_use_case(values, ff.KIND_FIELDS[kind])
    if kind == "procedures":
        out["levels"] = [
            ff.for_use_case(
                {name: values.get(f"levels-{n}-{name}", "") for name in ff.LEVEL_FIELDS},
                ff.LEVEL_FIELDS,
            )
            for n in range(ff.level_count(values))
        ]
    return out


def _stored_item(viewer: Viewer, code: str, kind: str, item_id: int) -> tuple[ff.Values, int]:
    record = editing.read_item(viewer.registry, viewer.principal, code, kind, item_id)
    return ff.record_values(record, ff.KIND_FIELDS[kind]), int(record["version"])


def _new_values(viewer: Viewer, code: str, kind: str) -> ff.Values:
    """A new record's form: a procedure starts with the patient's vertebrae recorded
    treated that no procedure has yet (one empty row when there are none)."""
    if kind != "procedures":
        return {}
    vertebrae = editing.list_items(viewer.registry, viewer.principal, code, "vertebrae")
    procedures = editing.list_items(viewer.registry, viewer.principal, code, "procedures")
    done = {level["level"] for procedure in procedures for level in procedure["levels"]}
    free = [v["level"] for v in vertebrae if v["treated"] and v["level"] not in done]
    rows = [{"level": level, "technique": Technique.kyphoplasty.value} for level in free]
    return ff.flatten_levels(rows)


def _add_kind_routes(kind: str) -> None:
    base = f"/patients/{{study_code}}/{kind}"
    name = kind.replace("-", "_")

    def new_form(request: Request, viewer: PageViewer, study_code: str) -> Response:
        with _allowed(viewer):
            editing.check_editable(viewer.registry, viewer.principal, study_code)
        values = _new_values(viewer, study_code, kind)
        page = FormPage(kind, study_code, _action(study_code, kind, None), values)
        return _show(request, viewer, page)

    async def create(request: Request, viewer: PageViewer, study_code: str) -> Response:
        form = await _posted(request)
        values = _item_values(kind, form)
        page = FormPage(kind, study_code, _action(study_code, kind, None), values)
        use = _item_use_values(kind, values)
        return _save(
            request,
            viewer,
            page,
            lambda: editing.create_item(viewer.registry, viewer.principal, study_code, kind, use),
            None,
            _patient_url(study_code),
        )

    def edit_form(request: Request, viewer: PageViewer, study_code: str, item_id: int) -> Response:
        with _allowed(viewer):
            editing.check_editable(viewer.registry, viewer.principal, study_code)
        values, version = _stored_item(viewer, study_code, kind, item_id)
        page = FormPage(
            kind, study_code, _action(study_code, kind, item_id), values, item_id, version
        )
        return _show(request, viewer, page)

    async def update(
        request: Request, viewer: PageViewer, study_code: str, item_id: int
    ) -> Response:
        form = await _posted(request)
        with _allowed(viewer):
            editing.check_editable(viewer.registry, viewer.principal, study_code)
        values = _item_values(kind, form)
        version = _version(form)
        page = FormPage(
            kind, study_code, _action(study_code, kind, item_id), values, item_id, version or 0
        )
        use = _item_use_values(kind, values)
        return _save(
            request,
            viewer,
            page,
            lambda: editing.update_item(
                viewer.registry, viewer.principal, study_code, kind, item_id, use, version=version
            ),
            lambda: _stored_item(viewer, study_code, kind, item_id),
            _patient_url(study_code),
        )

    async def delete(
        request: Request, viewer: PageViewer, study_code: str, item_id: int
    ) -> Response:
        form = await _posted(request)
        with _allowed(viewer):
            editing.check_editable(viewer.registry, viewer.principal, study_code)
        values, stored_version = _stored_item(viewer, study_code, kind, item_id)
        page = FormPage(
            kind, study_code, _action(study_code, kind, item_id), values, item_id, stored_version
        )
        version = _version(form)
        return _save(
            request,
            viewer,
            page,
            lambda: editing.delete_item(
                viewer.registry, viewer.principal, study_code, kind, item_id, version=version
            ),
            lambda: (values, stored_version),
            _patient_url(study_code),
        )

    item = base + "/{item_id}"
    for path, endpoint, method, route in (
        (base + "/new", new_form, "GET", f"new_{name}"),
        (base + "/new", create, "POST", f"create_{name}"),
        (item + "/edit", edit_form, "GET", f"edit_{name}"),
        (item + "/edit", update, "POST", f"save_{name}"),
        (item + "/delete", delete, "POST", f"delete_{name}"),
    ):
        router.add_api_route(
            path, endpoint, methods=[method], name=route, response_class=HTMLResponse
        )


for _kind in editing.KINDS:
    _add_kind_routes(_kind)


# --- the patient page's links --------------------------------------------------------------


def patient_links(viewer: Viewer, records: browse.PatientRecords) -> dict[str, Any]:
    """For the patient page: whether the viewer may edit, the id of each record (by what
    the page shows of it) for its edit link, and the adverse events and measurements
    listed with theirs; all from what :func:`browse.patient_page` read."""
    if viewer.principal.role not in EDIT_ROLES:
        return {"may_edit": False, "edit_ids": {}, "records": {}}
    edit_ids = {
        "vertebrae": records.vertebra_ids,
        "procedures": records.procedure_ids,
        "visits": records.visit_ids,
    }
    listed = {"adverse-events": records.events, "measurements": records.measurements}
    return {"may_edit": True, "edit_ids": edit_ids, "records": listed}


# --- live read-outs ------------------------------------------------------------------------


def _lang(request: Request, viewer: Viewer) -> str:
    return i18n.language(request.query_params.get("lang"), viewer.lang)


def _invalid(error: ClinicalValueError, lang: str) -> JSONResponse:
    return JSONResponse(
        {
            "detail": [
                {"loc": ["query", problem.field], "msg": problem.text(lang)}
                for problem in ff.problems_of(error)
            ]
        },
        status_code=422,
    )


@router.get("/forms/odi")
def odi_readout(request: Request, viewer: PageViewer) -> Response:
    """The ODI of the answers given (``odi_1`` … ``odi_10``): percent, band, answered
    sections, and why there is no score when there is none (CLINICAL.md §1)."""
    lang = _lang(request, viewer)
    answers = {key: str(value)[:20] for key, value in request.query_params.items()}
    try:
        return JSONResponse(ff.odi_readout(answers, lang))
    except ClinicalValueError as error:
        return _invalid(error, lang)


@router.get("/forms/acuity")
def acuity_readout(request: Request, viewer: PageViewer) -> Response:
    """The MRI acuity verdict of the signals given (CLINICAL.md §6) and its label."""
    lang = _lang(request, viewer)
    query = request.query_params
    try:
        return JSONResponse(
            ff.acuity_readout(
                query.get("mri_t1", "")[:20],
                query.get("mri_t2", "")[:20],
                query.get("mri_stir", "")[:20],
                lang,
            )
        )
    except ClinicalValueError as error:
        return _invalid(error, lang)
