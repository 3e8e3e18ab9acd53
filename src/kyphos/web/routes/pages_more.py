"""More pages: follow-up worklist, patient diagrams, measurement work list, report,
import, audit trail and administration (users, sites).

The reads here are filtered through :mod:`kyphos.registry.access` like those of
:mod:`kyphos.registry.browse`; the writes go through :class:`Registry` (audited). The
worklist states come from :func:`kyphos.clinical.protocol.worklist_state` (CLINICAL.md
§10), never re-derived here.

The import page keeps an uploaded workbook under ``KYPHOS_HOME/uploads`` between its
dry run and the confirmation. That pending file may hold identity (names, hospital
numbers, phones) until it is confirmed or cancelled: it is named after its uploader (one
user cannot reach another's: 404), removed on confirm and cancel, and any left older
than :data:`UPLOAD_MAX_AGE_SECONDS` is removed on the next upload.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import secrets
import tempfile
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from argon2 import PasswordHasher
from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from kyphos.clinical import protocol as visit_protocol
from kyphos.clinical.levels import LEVELS
from kyphos.errors import KyphosError
from kyphos.registry import access, browse
from kyphos.registry.access import Principal
from kyphos.registry.audit import IDENTITY_FIELDS
from kyphos.registry.models import (
    ROLES,
    AuditEvent,
    Measurement,
    Patient,
    Procedure,
    Radiograph,
    Site,
    TreatedLevel,
    User,
    Vertebra,
    Visit,
)
from kyphos.registry.radiographs import observer_worklist
from kyphos.registry.repository import Registry, check_password_rules
from kyphos.web import csrf, i18n
from kyphos.web.deps import PageViewer, Viewer, render, session_of, web_state

if TYPE_CHECKING:
    from kyphos.exchange.importer import ImportReport

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form(max_length=1000)]
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
WORKLIST_LIMIT = 500
AUDIT_PAGE = 200
URGENCY = {visit_protocol.OVERDUE: 0, visit_protocol.DUE: 1, visit_protocol.UPCOMING: 2}
WORKLIST_SORTS = ("status", "patient", "site", "timepoint", "opens")
REPORT_DOWNLOADS = ("docx", "csv", "json", "figures")
_UPLOAD_TOKEN = re.compile(r"^[0-9a-f]{32}$")
_UPLOAD_NAME = re.compile(r"^[0-9]+-[0-9a-f]{32}\.xlsx$")
UPLOAD_MAX_AGE_SECONDS = 24 * 60 * 60
_hasher = PasswordHasher()


def _today(request: Request) -> dt.date:
    return dt.datetime.fromtimestamp(web_state(request).clock(), dt.UTC).date()


def _forbidden(viewer: Viewer) -> HTTPException:
    _ = i18n.translator(viewer.lang)
    return HTTPException(status_code=403, detail=_("Your role may not open this page."))


def _require(viewer: Viewer, *roles: str) -> None:
    if viewer.principal.role not in roles:
        raise _forbidden(viewer)


# --- follow-up worklist (CLINICAL.md §10) ------------------------------------------------------


@dataclass(frozen=True)
class WorklistRow:
    study_code: str
    site: str
    timepoint: str
    status: str
    opens: dt.date
    closes: dt.date | None
    """The last day of the window (final: the day before it becomes overdue)."""


def _index_dates_and_visits(
    registry: Registry, principal: Principal
) -> tuple[dict[int, tuple[str, str, dt.date]], dict[int, dict[str, dt.date | None]]]:
    visible = access.patient_filter(principal)
    with registry.read() as session:
        index_rows = session.execute(
            select(Patient.id, Patient.study_code, Site.code, func.min(Procedure.procedure_date))
            .join(Procedure, Procedure.patient_id == Patient.id)
            .join(Site, Site.id == Patient.site_id)
            .where(visible)
            .group_by(Patient.id, Patient.study_code, Site.code)
        ).all()
        visit_rows = session.execute(
            select(Visit.patient_id, Visit.timepoint, Visit.visit_date)
            .join(Patient, Patient.id == Visit.patient_id)
            .where(visible)
        ).all()
    patients = {pid: (code, site, index) for pid, code, site, index in index_rows}
    visits: dict[int, dict[str, dt.date | None]] = defaultdict(dict)
    for pid, timepoint, when in visit_rows:
        visits[pid][timepoint] = when
    return patients, visits


def worklist(
    registry: Registry, principal: Principal, today: dt.date, sort: str = "status"
) -> list[WorklistRow]:
    """Every upcoming, due or overdue time point of the visible patients on ``today``."""
    protocol = registry.protocol()
    patients, visits = _index_dates_and_visits(registry, principal)
    rows: list[WorklistRow] = []
    for pid, (code, site, index) in patients.items():
        states = visit_protocol.worklist_state(index, visits.get(pid, {}), today, protocol)
        for point in protocol.timepoints:
            status = states.get(point.key)
            if status not in URGENCY:
                continue
            if point.is_final:
                opens = index + dt.timedelta(days=protocol.final_start_day)
                closes: dt.date | None = index + dt.timedelta(days=protocol.final_overdue_day - 1)
            else:
                opens = index + dt.timedelta(days=point.window_start)
                closes = (
                    None
                    if point.window_end is None
                    else index + dt.timedelta(days=point.window_end)
                )
            rows.append(WorklistRow(code, site, point.key, str(status), opens, closes))
    order = {key: n for n, key in enumerate(protocol.keys)}
    keys = {
        "status": lambda r: (URGENCY[r.status], r.opens, r.study_code),
        "patient": lambda r: (r.study_code, order.get(r.timepoint, 0)),
        "site": lambda r: (r.site, r.study_code, order.get(r.timepoint, 0)),
        "timepoint": lambda r: (order.get(r.timepoint, 0), URGENCY[r.status], r.study_code),
        "opens": lambda r: (r.opens, r.study_code),
    }
    rows.sort(key=keys.get(sort, keys["status"]))
    return rows


def overdue_patient_ids(registry: Registry, principal: Principal, today: dt.date) -> set[int]:
    protocol = registry.protocol()
    patients, visits = _index_dates_and_visits(registry, principal)
    found: set[int] = set()
    for pid, (_code, _site, index) in patients.items():
        states = visit_protocol.worklist_state(index, visits.get(pid, {}), today, protocol)
        if visit_protocol.OVERDUE in states.values():
            found.add(pid)
    return found


def dashboard_worklist(request: Request, viewer: Viewer, sort: str) -> dict[str, Any]:
    """The worklist part of the dashboard's context."""
    chosen = sort if sort in WORKLIST_SORTS else "status"
    rows = worklist(viewer.registry, viewer.principal, _today(request), chosen)
    return {
        "worklist": rows[:WORKLIST_LIMIT],
        "worklist_total": len(rows),
        "worklist_sort": chosen,
        "worklist_today": _today(request),
    }


# --- patient list filters ----------------------------------------------------------------------


def list_patients_filtered(
    request: Request,
    viewer: Viewer,
    *,
    search: str,
    site: str,
    page: int,
    level: str,
    leakage: str,
    overdue: bool,
) -> browse.PatientPage:
    """:func:`browse.list_patients` narrowed by fractured level, leakage and overdue."""
    principal = viewer.principal
    also: list[ColumnElement[bool]] = []
    if level:
        also.append(
            exists().where(and_(Vertebra.patient_id == Patient.id, Vertebra.level == level))
        )
    if leakage in ("yes", "no"):
        leaked = (
            exists()
            .where(Procedure.patient_id == Patient.id)
            .where(TreatedLevel.procedure_id == Procedure.id)
            .where(TreatedLevel.leakage != "")
        )
        also.append(leaked if leakage == "yes" else ~leaked)
    if overdue:
        ids = overdue_patient_ids(viewer.registry, principal, _today(request))
        also.append(Patient.id.in_(sorted(ids)) if ids else Patient.id.is_(None))
    return browse.list_patients(
        viewer.registry, principal, search=search, site=site, page=page, also=also
    )


# --- patient page: spine diagram, timeline, trends, measurements ---------------------------------


@dataclass(frozen=True)
class SpineLevel:
    level: str
    y: int
    fractured: bool
    treated: bool
    leaked: bool

    @property
    def classes(self) -> str:
        names = [
            name
            for name, on in (
                ("fractured", self.fractured),
                ("treated", self.treated),
                ("leaked", self.leaked),
            )
            if on
        ]
        return " ".join(names) or "intact"


@dataclass(frozen=True)
class TimelineEntry:
    when: dt.date | None
    kind: str
    text: str


@dataclass(frozen=True)
class Trend:
    name: str
    maximum: float
    points: list[tuple[float, float, str, float]]
    """(x, y, label, value) in the chart's own coordinates."""

    @property
    def polyline(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in self.points)


SPINE_STEP = 22
CHART_WIDTH = 220
CHART_HEIGHT = 80
CHART_PAD = 12


def _trend(
    name: str, maximum: float, values: list[tuple[str, float]], labels: dict[str, str]
) -> Trend:
    n = len(values)
    span = CHART_WIDTH - 2 * CHART_PAD
    points = []
    for i, (key, value) in enumerate(values):
        x = CHART_PAD + (span * i / (n - 1) if n > 1 else span / 2)
        y = CHART_PAD + (CHART_HEIGHT - 2 * CHART_PAD) * (1 - min(value, maximum) / maximum)
        points.append((x, y, labels.get(key, key), value))
    return Trend(name=name, maximum=maximum, points=points)


def patient_extras(
    viewer: Viewer, detail: browse.PatientDetail, records: browse.PatientRecords
) -> dict[str, Any]:
    """The patient page's diagram, timeline, trends and measurements (context entries),
    from what :func:`browse.patient_page` read."""
    _ = i18n.translator(viewer.lang)
    labels = {p.key: p.label(viewer.lang) for p in viewer.registry.protocol().timepoints}
    leaked = {t.level for p in detail.procedures for t in p.levels if t.leakage}
    treated = {t.level for p in detail.procedures for t in p.levels} | {
        v.level for v in detail.vertebrae if v.treated
    }
    fractured = {v.level for v in detail.vertebrae}
    spine = [
        SpineLevel(
            level=name,
            y=8 + n * SPINE_STEP,
            fractured=name in fractured,
            treated=name in treated,
            leaked=name in leaked,
        )
        for n, name in enumerate(LEVELS)
    ]
    order = {key: n for n, key in enumerate(viewer.registry.protocol().keys)}
    measurements = sorted(
        records.measurements,
        key=lambda m: (LEVELS.index(m.level), order.get(m.timepoint, 99), m.observer),
    )
    timeline: list[TimelineEntry] = []
    for p in detail.procedures:
        levels = ", ".join(t.level for t in p.levels)
        techniques = dict.fromkeys(
            i18n.coded_label("technique", t.technique, viewer.lang) for t in p.levels
        )
        text = " · ".join([levels, *(name for name in techniques if name)])
        timeline.append(TimelineEntry(p.procedure_date, "procedure", text))
    for v in detail.visits:
        timeline.append(TimelineEntry(v.visit_date, "visit", labels.get(v.timepoint, v.timepoint)))
    for e in records.events:
        text = i18n.coded_label("event", e.type, viewer.lang)
        text += f" ({e.level})" if e.level else ""
        timeline.append(TimelineEntry(e.event_date, "event", text))
    timeline.sort(key=lambda entry: entry.when or dt.date.max)
    vas = [(v.timepoint, v.vas) for v in detail.visits if v.vas is not None]
    odi_values = [(v.timepoint, v.odi_percent) for v in detail.visits if v.odi_percent is not None]
    trends = [
        _trend("VAS", 10.0, [(k, float(x)) for k, x in vas], labels),
        _trend("ODI", 100.0, [(k, float(x)) for k, x in odi_values], labels),
    ]
    return {
        "spine": spine,
        "spine_height": 16 + len(LEVELS) * SPINE_STEP,
        "timeline": timeline,
        "trends": trends,
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "measurements": measurements,
        "timeline_kinds": {
            "procedure": _("Procedure"),
            "visit": _("Visit"),
            "event": _("Adverse event"),
        },
    }


# --- measurement work list ---------------------------------------------------------------------


@dataclass(frozen=True)
class MeasurementTask:
    study_code: str
    site: str
    timepoint: str
    view: str
    levels: list[str]
    measured_by_me: list[str]


@router.get("/measurements", response_class=HTMLResponse)
def measurement_worklist(request: Request, viewer: PageViewer) -> Response:
    """Radiographs of the visible patients and which treated levels this user has measured."""
    _require(viewer, access.ADMIN, access.INVESTIGATOR, access.OBSERVER)
    visible = access.patient_filter(viewer.principal)
    with viewer.registry.read() as session:
        radiographs = session.execute(
            select(Radiograph, Patient.study_code, Site.code, Visit.timepoint)
            .join(Patient, Patient.id == Radiograph.patient_id)
            .join(Site, Site.id == Patient.site_id)
            .outerjoin(Visit, Visit.id == Radiograph.visit_id)
            .where(visible)
            .order_by(Patient.study_code, Radiograph.id)
            .limit(WORKLIST_LIMIT)
        ).all()
        patient_ids = {r.patient_id for r, *_ in radiographs}
        treated = session.execute(
            select(Vertebra.patient_id, Vertebra.level).where(
                Vertebra.patient_id.in_(sorted(patient_ids)), Vertebra.treated.is_(True)
            )
        ).all()
        mine = session.execute(
            select(Measurement.radiograph_id, Vertebra.level)
            .join(Vertebra, Vertebra.id == Measurement.vertebra_id)
            .where(
                Measurement.radiograph_id.in_([r.id for r, *_ in radiographs]),
                Measurement.observer == viewer.principal.username,
            )
        ).all()
    levels: dict[int, list[str]] = defaultdict(list)
    for pid, level in treated:
        levels[pid].append(level)
    done: dict[int, list[str]] = defaultdict(list)
    for rid, level in mine:
        if rid is not None:
            done[rid].append(level)
    tasks = [
        MeasurementTask(
            study_code=code,
            site=site,
            timepoint=timepoint or "",
            view=r.view,
            levels=sorted(levels[r.patient_id], key=LEVELS.index),
            measured_by_me=sorted(done[r.id], key=LEVELS.index),
        )
        for r, code, site, timepoint in radiographs
    ]
    labels = {p.key: p.label(viewer.lang) for p in viewer.registry.protocol().timepoints}
    readings = observer_worklist(viewer.registry, viewer.principal)
    return render(
        request,
        "measurements.html",
        lang=viewer.lang,
        viewer=viewer,
        tasks=tasks,
        labels=labels,
        readings=readings,
    )


# --- report ------------------------------------------------------------------------------------

_REPORT_ROLES = (access.ADMIN, access.INVESTIGATOR, access.ANALYST)


def _report_site(viewer: Viewer, site: str) -> tuple[str | None, list[str]]:
    """(the one site code or None for all, the visible site codes the report covers)."""
    visible = [code for code, _ in browse.visible_sites(viewer.registry, viewer.principal)]
    if site:
        if site not in visible:
            raise HTTPException(status_code=404)
        return site, [site]
    if access.sees_every_site(viewer.principal):
        return None, visible
    return (visible[0] if len(visible) == 1 else None), visible


def _report(viewer: Viewer, site: str) -> tuple[Any, Any]:
    import pandas as pd

    from kyphos.analysis.cohorts import installed_cohorts
    from kyphos.analysis.dataset import build_dataset
    from kyphos.analysis.results import compute_report
    from kyphos.registry import frames

    one, covered = _report_site(viewer, site)
    registry = viewer.registry
    if not covered:
        raise HTTPException(status_code=404)
    readers = (
        frames.patients,
        frames.vertebrae,
        frames.procedures,
        frames.visits,
        frames.measurements,
        frames.adverse_events,
    )
    with registry.read() as session:
        if one is not None or access.sees_every_site(viewer.principal):
            parts = [reader(session, one) for reader in readers]
        else:
            parts = [
                pd.concat([reader(session, code) for code in covered], ignore_index=True)
                for reader in readers
            ]
    dataset = build_dataset(registry.protocol(), *parts)
    result = compute_report(
        dataset, site=one, demo=registry.is_demo(), references=installed_cohorts(registry)
    )
    return result, dataset


def _report_lang(value: str, viewer: Viewer) -> str:
    return i18n.language(value, viewer.lang)


@router.get("/report", response_class=HTMLResponse)
def report_page(
    request: Request,
    viewer: PageViewer,
    site: Annotated[str, Query(max_length=32)] = "",
    report_lang: Annotated[str, Query(max_length=8)] = "",
) -> Response:
    _require(viewer, *_REPORT_ROLES)
    _report_site(viewer, site)
    return render(
        request,
        "report.html",
        lang=viewer.lang,
        viewer=viewer,
        sites=browse.visible_sites(viewer.registry, viewer.principal),
        site=site,
        report_lang=_report_lang(report_lang, viewer),
        downloads=REPORT_DOWNLOADS,
    )


@router.get("/report/document", response_class=HTMLResponse)
def report_document(
    viewer: PageViewer,
    site: Annotated[str, Query(max_length=32)] = "",
    report_lang: Annotated[str, Query(max_length=8)] = "",
) -> Response:
    """The HTML report itself (shown in the report page's frame)."""
    import kyphos.analysis.report.render_html as render_html

    _require(viewer, *_REPORT_ROLES)
    result, dataset = _report(viewer, site)
    html = render_html.render(result, dataset, _report_lang(report_lang, viewer))
    return HTMLResponse(html, headers={"Content-Security-Policy": "script-src 'none'"})


@router.get("/report/download/{kind}")
def report_download(
    viewer: PageViewer,
    kind: str,
    site: Annotated[str, Query(max_length=32)] = "",
    report_lang: Annotated[str, Query(max_length=8)] = "",
) -> Response:
    _require(viewer, *_REPORT_ROLES)
    if kind not in REPORT_DOWNLOADS:
        raise HTTPException(status_code=404)
    lang = _report_lang(report_lang, viewer)
    result, dataset = _report(viewer, site)
    stem = "kyphos-report" + (f"-{site}" if site else "")
    if kind == "json":
        from kyphos.analysis.report.render_json import report_dict

        body: bytes = json.dumps(report_dict(result), ensure_ascii=False, indent=2).encode()
        media, name = "application/json", f"{stem}.json"
    elif kind == "docx":
        import kyphos.analysis.report.render_docx as render_docx

        body = render_docx.render(result, dataset, lang)
        media = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        name = f"{stem}.docx"
    elif kind == "csv":
        import kyphos.analysis.report.render_csv as render_csv

        with tempfile.TemporaryDirectory() as folder:
            paths = render_csv.write(result, dataset, lang, Path(folder))
            body = _zip({path.name: path.read_bytes() for path in paths})
        media, name = "application/zip", f"{stem}-csv.zip"
    else:
        from kyphos.analysis.report.figures import render_figures

        figures = render_figures(result, dataset, lang)
        files: dict[str, bytes] = {}
        for n, figure in enumerate(figures.figures, start=1):
            files[f"figure{n}.svg"] = figure.svg
            files[f"figure{n}.png"] = figure.png
        body = _zip(files)
        media, name = "application/zip", f"{stem}-figures.zip"
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


# --- import ------------------------------------------------------------------------------------
# Admins import into every site, investigators into their own (the importer refuses the
# rows of other sites: kyphos.exchange.importer.writable_sites); other roles 403.

_IMPORT_ROLES = (access.ADMIN, access.INVESTIGATOR)


@dataclass(frozen=True)
class Problem:
    sheet: str
    row: str
    column: str
    message: str


def located(line: str) -> Problem:
    """``sheet:row:column: message`` (row and column optional) as its parts."""
    where, sep, message = line.partition(": ")
    if not sep:
        return Problem("", "", "", line)
    parts = where.split(":")
    if len(parts) > 3 or " " in where:
        return Problem("", "", "", line)
    parts += [""] * (3 - len(parts))
    return Problem(parts[0], parts[1], parts[2], message)


def _upload_dir(viewer: Viewer) -> Path:
    folder = viewer.registry.settings.home / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _upload_path(viewer: Viewer, token: str) -> Path:
    if not _UPLOAD_TOKEN.match(token):
        raise HTTPException(status_code=404)
    return _upload_dir(viewer) / f"{viewer.principal.user_id}-{token}.xlsx"


def _purge_stale_uploads(viewer: Viewer) -> None:
    """Remove pending workbooks (anyone's) left unconfirmed for longer than a day."""
    cutoff = time.time() - UPLOAD_MAX_AGE_SECONDS
    for path in _upload_dir(viewer).iterdir():
        if _UPLOAD_NAME.match(path.name) and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def _import_problems(viewer: Viewer, error: KyphosError) -> list[Problem]:
    """The importer's problem lines in the viewer's language, as located parts."""
    from kyphos.exchange.importer import ImportFailed

    lines = error.lines(viewer.lang) if isinstance(error, ImportFailed) else error.problems
    return [located(line) for line in lines]


def _import(viewer: Viewer, path: Path, *, label: str, dry_run: bool) -> ImportReport:
    """Run the importer on ``path`` within the sites the viewer may write."""
    from kyphos.exchange.importer import import_workbook, writable_sites

    return import_workbook(
        viewer.registry,
        path,
        dry_run=dry_run,
        reason=f"web import of {label}",
        sites=writable_sites(viewer.registry, viewer.principal),
    )


@router.get("/import", response_class=HTMLResponse)
def import_page(request: Request, viewer: PageViewer) -> Response:
    _require(viewer, *_IMPORT_ROLES)
    return render(request, "import.html", lang=viewer.lang, viewer=viewer)


@router.post("/import", response_class=HTMLResponse)
async def import_upload(
    request: Request,
    viewer: PageViewer,
    workbook: Annotated[UploadFile | None, File()] = None,
    csrf_token: FormText = "",
) -> Response:
    csrf.check(session_of(request).csrf, csrf_token)
    _require(viewer, *_IMPORT_ROLES)
    _ = i18n.translator(viewer.lang)
    _purge_stale_uploads(viewer)
    content = b"" if workbook is None else await workbook.read(MAX_UPLOAD_BYTES + 1)
    if not content:
        return _import_answer(
            request,
            viewer,
            422,
            problems=[Problem("", "", "", _("Choose a workbook (.xlsx) to upload."))],
        )
    if len(content) > MAX_UPLOAD_BYTES:
        return _import_answer(
            request,
            viewer,
            413,
            problems=[Problem("", "", "", _("The file is larger than 50 MB."))],
        )
    token = secrets.token_hex(16)
    path = _upload_path(viewer, token)
    path.write_bytes(content)
    label = (workbook.filename if workbook else None) or "workbook.xlsx"
    try:
        report = _import(viewer, path, label=label, dry_run=True)
    except KyphosError as error:
        path.unlink(missing_ok=True)
        return _import_answer(request, viewer, 422, problems=_import_problems(viewer, error))
    return _import_answer(request, viewer, 200, lines=report.lines(), token=token, label=label)


def _import_answer(
    request: Request,
    viewer: Viewer,
    status: int,
    *,
    problems: list[Problem] | None = None,
    lines: list[str] | None = None,
    token: str = "",
    label: str = "",
    done: bool = False,
) -> Response:
    return render(
        request,
        "import.html",
        lang=viewer.lang,
        viewer=viewer,
        status_code=status,
        problems=problems or [],
        lines=lines or [],
        token=token,
        label=label,
        done=done,
    )


@router.post("/import/confirm", response_class=HTMLResponse)
def import_confirm(
    request: Request,
    viewer: PageViewer,
    token: FormText = "",
    label: FormText = "",
    csrf_token: FormText = "",
) -> Response:
    csrf.check(session_of(request).csrf, csrf_token)
    _require(viewer, *_IMPORT_ROLES)
    path = _upload_path(viewer, token)
    if not path.exists():
        return _upload_expired(request, viewer)
    try:
        report = _import(viewer, path, label=label or path.name, dry_run=False)
    except KyphosError as error:
        return _import_answer(request, viewer, 422, problems=_import_problems(viewer, error))
    finally:
        path.unlink(missing_ok=True)
    return _import_answer(request, viewer, 200, lines=report.lines(), done=True)


@router.post("/import/cancel", response_class=HTMLResponse)
def import_cancel(
    request: Request, viewer: PageViewer, token: FormText = "", csrf_token: FormText = ""
) -> Response:
    """Discard the pending workbook of a dry run (it may hold identity) and start over."""
    csrf.check(session_of(request).csrf, csrf_token)
    _require(viewer, *_IMPORT_ROLES)
    path = _upload_path(viewer, token)
    if not path.exists():
        return _upload_expired(request, viewer)
    path.unlink(missing_ok=True)
    return RedirectResponse("/import", status_code=303)


def _upload_expired(request: Request, viewer: Viewer) -> Response:
    """404: no pending workbook of this user under that token (gone, or never theirs)."""
    _ = i18n.translator(viewer.lang)
    message = _("The upload has expired; upload the workbook again.")
    return _import_answer(request, viewer, 404, problems=[Problem("", "", "", message)])


# --- audit trail -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRow:
    at: str
    """ISO date-time in UTC (the page formats it per language)."""
    actor: str
    action: str
    entity: str
    entity_key: str
    changes: list[tuple[str, str, str]]
    """(field, before, after) of every field that either side names."""
    reason: str


def _values(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        loaded = json.loads(text)
    except ValueError:
        return {"": text}
    return loaded if isinstance(loaded, dict) else {"": loaded}


def _shown(field: str, value: Any, masked: str, identity: bool) -> str:
    if value is None:
        return ""
    if field in IDENTITY_FIELDS:
        # The chain stores identity as keyed hashes only; show the hash to those who may
        # read identity, a plain "masked" to everyone else.
        return str(value) if identity else masked
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    viewer: PageViewer,
    patient: Annotated[str, Query(max_length=64)] = "",
    user: Annotated[str, Query(max_length=64)] = "",
    date_from: Annotated[dt.date | None, Query(alias="from")] = None,
    date_to: Annotated[dt.date | None, Query(alias="to")] = None,
) -> Response:
    _require(viewer, access.ADMIN, access.INVESTIGATOR)
    _ = i18n.translator(viewer.lang)
    principal = viewer.principal
    query = select(AuditEvent)
    if not access.sees_every_site(principal):
        # Investigators: the events about patients of their own sites.
        query = query.where(
            exists().where(
                access.patient_filter(principal),
                or_(
                    Patient.study_code == AuditEvent.entity_key,
                    AuditEvent.entity_key.like(Patient.study_code + "/%"),
                ),
            )
        )
    if patient.strip():
        code = patient.strip()
        query = query.where(
            or_(AuditEvent.entity_key == code, AuditEvent.entity_key.like(code + "/%"))
        )
    if user.strip():
        query = query.where(AuditEvent.actor == user.strip())
    if date_from is not None:
        query = query.where(AuditEvent.at >= date_from.isoformat())
    if date_to is not None:
        query = query.where(AuditEvent.at < (date_to + dt.timedelta(days=1)).isoformat())
    with viewer.registry.read() as session:
        events = list(
            session.execute(query.order_by(AuditEvent.id.desc()).limit(AUDIT_PAGE)).scalars()
        )
    identity = principal.role in (access.ADMIN, access.INVESTIGATOR)
    masked = _("masked")
    rows = []
    for event in events:
        before, after = _values(event.before), _values(event.after)
        fields = list(dict.fromkeys([*before, *after]))
        rows.append(
            AuditRow(
                at=event.at[:19],
                actor=event.actor,
                action=event.action,
                entity=event.entity,
                entity_key=event.entity_key or "",
                changes=[
                    (
                        name,
                        _shown(name, before.get(name), masked, identity),
                        _shown(name, after.get(name), masked, identity),
                    )
                    for name in fields
                ],
                reason=event.reason or "",
            )
        )
    return render(
        request,
        "audit.html",
        lang=viewer.lang,
        viewer=viewer,
        rows=rows,
        patient=patient,
        user=user,
        date_from=date_from.isoformat() if date_from else "",
        date_to=date_to.isoformat() if date_to else "",
        limit=AUDIT_PAGE,
    )


# --- administration: users and sites -----------------------------------------------------------


def _users_page(
    request: Request,
    viewer: Viewer,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    message: str = "",
) -> Response:
    with viewer.registry.read() as session:
        users = list(session.execute(select(User).order_by(User.username)).scalars())
        listed = [
            {
                "username": u.username,
                "display_name": u.display_name,
                "role": u.role,
                "active": u.active,
                "sites": sorted(site.code for site in u.sites),
            }
            for u in users
        ]
    return render(
        request,
        "admin_users.html",
        lang=viewer.lang,
        viewer=viewer,
        status_code=status,
        users=listed,
        roles=ROLES,
        sites=browse.visible_sites(viewer.registry, viewer.principal),
        errors=errors or {},
        values=values or {"role": "investigator", "sites": []},
        message=message,
    )


def _field_of(problem: str) -> str:
    for prefix, name in (
        ("user name", "username"),
        ("user ", "username"),
        ("role", "role"),
        ("password", "password"),
        ("display name", "display_name"),
        ("site", "sites"),
    ):
        if problem.startswith(prefix):
            return name
    return "form"


@router.get("/admin/users", response_class=HTMLResponse)
def admin_users(request: Request, viewer: PageViewer) -> Response:
    _require(viewer, access.ADMIN)
    return _users_page(request, viewer)


@router.post("/admin/users", response_class=HTMLResponse)
async def admin_user_create(request: Request, viewer: PageViewer) -> Response:
    form = await request.form()
    csrf.check(session_of(request).csrf, str(form.get("csrf_token", "")))
    _require(viewer, access.ADMIN)
    _ = i18n.translator(viewer.lang)
    username = str(form.get("username", ""))[:200]
    display_name = str(form.get("display_name", ""))[:300]
    role = str(form.get("role", ""))[:20]
    sites = [str(s)[:32] for s in form.getlist("sites")][:100]
    values: dict[str, Any] = {
        "username": username,
        "display_name": display_name,
        "role": role,
        "sites": sites,
    }
    password = str(form.get("password", ""))[:1000]
    errors: dict[str, str] = {}
    if not username.strip():
        errors["username"] = _("Enter a user name.")
    if not password:
        errors["password"] = _("Enter a password.")
    if role != access.ADMIN and not sites:
        errors["sites"] = _("Choose at least one site.")
    if not errors:
        try:
            viewer.registry.add_user(
                username,
                role=role,
                password=password,
                sites=sites,
                display_name=display_name.strip() or None,
            )
        except KyphosError as error:
            for line in error.problems:
                errors[_field_of(line)] = line
    if errors:
        return _users_page(request, viewer, status=422, errors=errors, values=values)
    message = _("User {name} created.").format(name=username.strip())
    return _users_page(request, viewer, message=message)


def _user(session: Any, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise HTTPException(status_code=404)
    return user  # type: ignore[no-any-return]


@router.post("/admin/users/{username}/disable", response_class=HTMLResponse)
def admin_user_disable(
    request: Request, viewer: PageViewer, username: str, csrf_token: FormText = ""
) -> Response:
    csrf.check(session_of(request).csrf, csrf_token)
    _require(viewer, access.ADMIN)
    _ = i18n.translator(viewer.lang)
    if username == viewer.principal.username:
        return _users_page(
            request, viewer, status=422, errors={"form": _("You cannot disable your own account.")}
        )
    with viewer.registry.read() as session:
        _user(session, username)
    viewer.registry.disable_user(username)
    return _users_page(request, viewer, message=_("User {name} disabled.").format(name=username))


@router.post("/admin/users/{username}/password", response_class=HTMLResponse)
def admin_user_password(
    request: Request,
    viewer: PageViewer,
    username: str,
    password: FormText = "",
    csrf_token: FormText = "",
) -> Response:
    csrf.check(session_of(request).csrf, csrf_token)
    _require(viewer, access.ADMIN)
    _ = i18n.translator(viewer.lang)
    try:
        check_password_rules(password or "")
    except KyphosError as error:
        return _users_page(
            request, viewer, status=422, errors={f"password:{username}": error.problems[0]}
        )
    with viewer.registry.write() as session:
        user = _user(session, username)
        user.password_hash = _hasher.hash(password)
        user.session_generation += 1  # the old password's sessions end with it
        viewer.registry.record(
            session,
            action="reset_password",
            entity="user",
            entity_key=username,
            reason="password reset by an administrator",
        )
    return _users_page(
        request, viewer, message=_("Password of {name} reset.").format(name=username)
    )


@router.post("/admin/users/{username}/access", response_class=HTMLResponse)
async def admin_user_access(request: Request, viewer: PageViewer, username: str) -> Response:
    form = await request.form()
    csrf.check(session_of(request).csrf, str(form.get("csrf_token", "")))
    _require(viewer, access.ADMIN)
    _ = i18n.translator(viewer.lang)
    role = str(form.get("role", ""))[:20]
    codes = sorted({str(s)[:32] for s in form.getlist("sites")})[:100]
    key = f"access:{username}"
    if role not in ROLES:
        return _users_page(request, viewer, status=422, errors={key: _("Choose a role.")})
    if role != access.ADMIN and not codes:
        return _users_page(
            request, viewer, status=422, errors={key: _("Choose at least one site.")}
        )
    if username == viewer.principal.username and role != access.ADMIN:
        message = _("You cannot take the administrator role from your own account.")
        return _users_page(request, viewer, status=422, errors={key: message})
    with viewer.registry.write() as session:
        user = _user(session, username)
        sites = list(session.execute(select(Site).where(Site.code.in_(codes))).scalars())
        if len(sites) != len(codes):
            raise HTTPException(status_code=404)
        before = {"role": user.role, "sites": sorted(s.code for s in user.sites)}
        user.role = role
        user.sites = sites
        after = {"role": role, "sites": codes}
        if before != after:
            viewer.registry.record(
                session,
                action="update",
                entity="user",
                entity_key=username,
                before=before,
                after=after,
            )
    return _users_page(
        request, viewer, message=_("Role and sites of {name} saved.").format(name=username)
    )


def _sites_page(
    request: Request,
    viewer: Viewer,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    message: str = "",
) -> Response:
    return render(
        request,
        "admin_sites.html",
        lang=viewer.lang,
        viewer=viewer,
        status_code=status,
        sites=browse.visible_sites(viewer.registry, viewer.principal),
        errors=errors or {},
        values=values or {},
        message=message,
    )


@router.get("/admin/sites", response_class=HTMLResponse)
def admin_sites(request: Request, viewer: PageViewer) -> Response:
    _require(viewer, access.ADMIN)
    return _sites_page(request, viewer)


@router.post("/admin/sites", response_class=HTMLResponse)
def admin_site_create(
    request: Request,
    viewer: PageViewer,
    code: FormText = "",
    name: FormText = "",
    csrf_token: FormText = "",
) -> Response:
    csrf.check(session_of(request).csrf, csrf_token)
    _require(viewer, access.ADMIN)
    _ = i18n.translator(viewer.lang)
    values = {"code": code, "name": name}
    errors: dict[str, str] = {}
    if not code.strip():
        errors["code"] = _("Enter a site code.")
    if not name.strip():
        errors["name"] = _("Enter a site name.")
    if not errors:
        try:
            viewer.registry.add_site(code, name)
        except KyphosError as error:
            for line in error.problems:
                errors["name" if line.startswith("site name") else "code"] = line
    if errors:
        return _sites_page(request, viewer, status=422, errors=errors, values=values)
    return _sites_page(request, viewer, message=_("Site {code} created.").format(code=code.strip()))
