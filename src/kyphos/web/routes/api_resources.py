"""The REST API's records (``/api/v1``): patients and what hangs below them, report,
export, import, token revocation.

Thin: every route parses its input, calls a use case of :mod:`kyphos.registry.editing`
(or the report, exporter, importer) and answers with its result. Errors are answered
as ``{"detail": [{"loc": [...], "msg": "..."}]}`` with the status of issue 6: 401 no or
bad token, 403 the role may not, 404 missing or another site's, 409 stale ``version``,
413 oversized body, 422 invalid values.

Installed by :func:`install` (the router, and a middleware that refuses oversized
bodies and revoked tokens before any route runs).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import tempfile
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Response, UploadFile
from fastapi import Path as FastApiPath
from fastapi.responses import JSONResponse

from kyphos.clinical.errors import ClinicalValueError, ClinicalValueErrors
from kyphos.clinical.values import NUL, nul_problem
from kyphos.errors import ConflictError, KyphosError, NotFoundError
from kyphos.registry import access, editing
from kyphos.registry.editing import AccessDenied
from kyphos.web.api_models import (
    BODIES,
    RECORDS,
    PatientCreate,
    PatientRecord,
    PatientUpdate,
    RequestBody,
)
from kyphos.web.deps import ApiError, ApiViewer, Viewer, web_state

router = APIRouter()

MAX_JSON_BYTES = 1024 * 1024
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
_UPLOAD_PATHS = re.compile(r"^/api/v1/(import|patients/[^/]+/radiographs)$")
"""Paths whose bodies may be as large as an upload (MAX_UPLOAD_BYTES)."""

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ItemId = Annotated[int, FastApiPath(ge=1, le=2**31 - 1, description="the record's id")]


ERROR_BODY: dict[str, Any] = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["detail"],
                "properties": {
                    "detail": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["loc", "msg"],
                            "properties": {
                                "loc": {
                                    "type": "array",
                                    "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                                },
                                "msg": {"type": "string"},
                            },
                        },
                    }
                },
            }
        }
    }
}
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": "error", **ERROR_BODY} for status in (400, 401, 403, 404, 409, 413, 422)
}
"""The errors every operation may answer (400: a body that is not JSON at all)."""


# --- errors of the use cases → HTTP ---------------------------------------------------------


@contextmanager
def answers(lang: str = "en") -> Iterator[None]:
    """Turn the use cases' errors into API errors with the issue's status codes; clinical
    validation messages in ``lang`` (the user's language), the others in English."""
    try:
        yield
    except AccessDenied as error:
        raise ApiError(403, error.problems[0]) from None
    except NotFoundError as error:
        raise ApiError(404, error.problems[0], ["path"]) from None
    except ConflictError as error:
        raise ApiError(409, error.problems[0], ["body", "version"]) from None
    except ClinicalValueErrors as errors:
        located: list[tuple[list[str | int], str]] = [
            (["body", *p.field.split(".")], p.text(lang)) for p in errors.problems
        ]
        raise _Invalid(located) from None
    except ClinicalValueError as error:
        raise _Invalid([(["body", *error.field.split(".")], error.text(lang))]) from None
    except KyphosError as error:
        raise _Invalid([(["body"], line) for line in error.problems]) from None


class _Invalid(ApiError):
    """Several located problems at once (422)."""

    def __init__(self, problems: list[tuple[list[str | int], str]]) -> None:
        super().__init__(422, problems[0][1], problems[0][0])
        self.problems = problems


def _version(values: dict[str, Any]) -> object:
    return values.get("version")


def _with_body(route: Callable[..., Any], model: type[RequestBody]) -> Callable[..., Any]:
    """``route`` with its ``body`` parameter typed as ``model`` (a closure's annotations
    are strings FastAPI cannot resolve from the module)."""
    route.__annotations__["body"] = model
    return route


# --- patients -------------------------------------------------------------------------------


_PATIENT_OUT: dict[str, Any] = {
    "response_model": PatientRecord,
    "response_model_exclude_unset": True,  # no "identity" key for those who may not see it
    "responses": ERRORS,
}


@router.post("/patients", status_code=201, **_PATIENT_OUT)
def create_patient(viewer: ApiViewer, body: PatientCreate) -> dict[str, Any]:
    with answers(viewer.lang):
        values = body.values()
        return editing.create_patient(viewer.registry, viewer.principal, values)


@router.patch("/patients/{patient_id}", **_PATIENT_OUT)
def update_patient(viewer: ApiViewer, patient_id: str, body: PatientUpdate) -> dict[str, Any]:
    with answers(viewer.lang):
        values = body.values()
        return editing.update_patient(
            viewer.registry, viewer.principal, patient_id, values, version=_version(values)
        )


@router.delete("/patients/{patient_id}", status_code=204, responses=ERRORS)
def delete_patient(
    viewer: ApiViewer, patient_id: str, version: Annotated[int, Query(ge=1, le=2**31 - 1)]
) -> Response:
    with answers(viewer.lang):
        editing.delete_patient(viewer.registry, viewer.principal, patient_id, version=version)
    return Response(status_code=204)


# --- records below a patient ------------------------------------------------------------------


def _add_kind_routes(kind: str) -> None:
    base = f"/patients/{{patient_id}}/{kind}"
    name = kind.replace("-", "_")
    create_body, update_body = BODIES[kind]
    record = RECORDS[kind]

    def list_items(viewer: ApiViewer, patient_id: str) -> list[dict[str, Any]]:
        with answers(viewer.lang):
            return editing.list_items(viewer.registry, viewer.principal, patient_id, kind)

    def get_item(viewer: ApiViewer, patient_id: str, item_id: ItemId) -> dict[str, Any]:
        with answers(viewer.lang):
            return editing.read_item(viewer.registry, viewer.principal, patient_id, kind, item_id)

    def create_item(viewer: ApiViewer, patient_id: str, body: RequestBody) -> dict[str, Any]:
        with answers(viewer.lang):
            values = body.values()
            return editing.create_item(viewer.registry, viewer.principal, patient_id, kind, values)

    def update_item(
        viewer: ApiViewer, patient_id: str, item_id: ItemId, body: RequestBody
    ) -> dict[str, Any]:
        with answers(viewer.lang):
            values = body.values()
            return editing.update_item(
                viewer.registry,
                viewer.principal,
                patient_id,
                kind,
                item_id,
                values,
                version=_version(values),
            )

    def delete_item(
        viewer: ApiViewer,
        patient_id: str,
        item_id: ItemId,
        version: Annotated[int, Query(ge=1, le=2**31 - 1)],
    ) -> Response:
        with answers(viewer.lang):
            editing.delete_item(
                viewer.registry, viewer.principal, patient_id, kind, item_id, version=version
            )
        return Response(status_code=204)

    item = base + "/{item_id}"
    router.add_api_route(
        base,
        list_items,
        methods=["GET"],
        name=f"list_{name}",
        response_model=list[record],  # type: ignore[valid-type]
        responses=ERRORS,
    )
    router.add_api_route(
        base,
        _with_body(create_item, create_body),
        methods=["POST"],
        status_code=201,
        name=f"create_{name}",
        response_model=record,
        responses=ERRORS,
    )
    router.add_api_route(
        item,
        get_item,
        methods=["GET"],
        name=f"get_{name}",
        response_model=record,
        responses=ERRORS,
    )
    router.add_api_route(
        item,
        _with_body(update_item, update_body),
        methods=["PATCH"],
        name=f"update_{name}",
        response_model=record,
        responses=ERRORS,
    )
    router.add_api_route(
        item,
        delete_item,
        methods=["DELETE"],
        status_code=204,
        name=f"delete_{name}",
        responses=ERRORS,
    )


for _kind in editing.KINDS:
    _add_kind_routes(_kind)


# --- report, export, import -------------------------------------------------------------------

_REPORT_ROLES = frozenset({access.ADMIN, access.INVESTIGATOR, access.ANALYST})
_IMPORT_ROLES = frozenset({access.ADMIN, access.INVESTIGATOR})


def _require(viewer: Viewer, roles: frozenset[str], what: str) -> None:
    if viewer.principal.role not in roles:
        raise ApiError(403, f"your role ({viewer.principal.role}) may not {what}")


@router.get("/report", responses=ERRORS)
def report(viewer: ApiViewer, site: Annotated[str, Query(max_length=32)] = "") -> dict[str, Any]:
    """The JSON study report (DATA.md §2) over the patients of the sites you see."""
    _require(viewer, _REPORT_ROLES, "read the report")
    codes = editing.visible_site_codes(viewer.registry, viewer.principal)
    if site and site not in codes:
        raise ApiError(404, f"site {site!r} does not exist", ["query", "site"])
    every = access.sees_every_site(viewer.principal) and not site
    with answers(viewer.lang):
        return _study_report(viewer, None if every else ([site] if site else codes))


def _study_report(viewer: Viewer, sites: list[str] | None) -> dict[str, Any]:
    import pandas as pd

    from kyphos.analysis.cohorts import installed_cohorts
    from kyphos.analysis.dataset import build_dataset
    from kyphos.analysis.report.render_json import report_dict
    from kyphos.analysis.results import compute_report
    from kyphos.registry import frames

    registry = viewer.registry
    readers = (
        frames.patients,
        frames.vertebrae,
        frames.procedures,
        frames.visits,
        frames.measurements,
        frames.adverse_events,
    )
    with registry.read() as session:
        if sites is None:
            parts = [reader(session, None) for reader in readers]
        else:
            per_site = [[reader(session, code) for code in sites] for reader in readers]
            empty = [reader(session, "no site") for reader in readers]  # codes have no spaces
            parts = [
                pd.concat(found, ignore_index=True) if found else blank
                for found, blank in zip(per_site, empty, strict=True)
            ]
    dataset = build_dataset(registry.protocol(), *parts)
    result = compute_report(
        dataset,
        site=sites[0] if sites is not None and len(sites) == 1 else None,
        demo=registry.is_demo(),
        references=installed_cohorts(registry),
    )
    answer: dict[str, Any] = report_dict(result)
    return answer


@router.get(
    "/export",
    responses={
        **ERRORS,
        200: {"content": {"application/zip": {}, XLSX_TYPE: {}}},
    },
    response_class=Response,
)
def export(
    viewer: ApiViewer,
    format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv",
    deidentify: bool = True,
) -> Response:
    """The workbook of the patients you see: a zip of CSV files, or one .xlsx file.

    Analysts always get the de-identified variant."""
    _require(viewer, _REPORT_ROLES, "export")
    if viewer.principal.role != access.ADMIN:
        deidentify = deidentify or viewer.principal.role == access.ANALYST
    with answers(viewer.lang):
        content, media, name = _export(viewer, format=format, deidentify=deidentify)
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/import", responses=ERRORS)
async def import_workbook(
    request: Request, viewer: ApiViewer, file: UploadFile, dry_run: bool = True
) -> dict[str, Any]:
    """Upload a workbook (.xlsx, or a .zip of CSV files); ``dry_run`` validates only."""
    _require(viewer, _IMPORT_ROLES, "import")
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in (".xlsx", ".zip", ".csv"):
        raise ApiError(422, "upload an .xlsx workbook or a .zip of CSV files", ["body", "file"])
    with tempfile.TemporaryDirectory(prefix="kyphos-import-") as folder:
        target = Path(folder) / f"upload{suffix}"
        size = 0
        with target.open("wb") as handle:
            while chunk := await file.read(1024 * 1024):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise ApiError(413, "the upload is larger than 50 MB", ["body", "file"])
                handle.write(chunk)
        with answers(viewer.lang):
            try:
                report = _import(
                    viewer,
                    target,
                    label=Path(file.filename or "upload").name[:100],
                    dry_run=dry_run,
                )
            except _ImportRefused as error:
                located = [(["body", "file", *loc], msg) for loc, msg in error.located]
                raise _Invalid(located) from None
    return report


def _export(viewer: Viewer, *, format: str, deidentify: bool) -> tuple[bytes, str, str]:
    """The export's bytes, media type and file name; other sites' patients left out."""
    from kyphos.exchange.exporter import export_workbook, pseudonym

    registry = viewer.registry
    every = access.sees_every_site(viewer.principal)
    keep: set[str] | None = None
    if not every:
        codes = editing.visible_study_codes(registry, viewer.principal)
        keep = {pseudonym(code, registry.secret) for code in codes} if deidentify else codes
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    with tempfile.TemporaryDirectory(prefix="kyphos-export-") as folder:
        if format == "xlsx" and keep is None:
            target = Path(folder) / f"kyphos-{stamp}.xlsx"
            export_workbook(registry, target, format="xlsx", deidentify=deidentify)
            return target.read_bytes(), XLSX_TYPE, target.name
        target = Path(folder) / "export"
        export_workbook(registry, target, format="csv", deidentify=deidentify)
        files = sorted(target.iterdir())
        if keep is not None:
            for path in files:
                if path.suffix == ".csv":
                    _keep_rows(path, keep)
        if format == "xlsx":
            return _csv_to_xlsx(files), XLSX_TYPE, f"kyphos-{stamp}.xlsx"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.name)
        return buffer.getvalue(), "application/zip", f"kyphos-{stamp}.zip"


def _keep_rows(path: Path, keep: set[str]) -> None:
    """Keep the header and the rows of the patients in ``keep`` (column ``patient_id``)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or "patient_id" not in rows[0]:
        return
    column = rows[0].index("patient_id")
    kept = [rows[0], *(row for row in rows[1:] if len(row) > column and row[column] in keep)]
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(kept)


def _csv_to_xlsx(files: list[Path]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active) if book.active is not None else None
    for path in files:
        if path.suffix != ".csv":
            continue
        sheet = book.create_sheet(path.stem)
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


class _ImportRefused(Exception):
    def __init__(self, located: list[tuple[list[str | int], str]]) -> None:
        super().__init__("import refused")
        self.located = located


def _import(viewer: Viewer, path: Path, *, label: str, dry_run: bool) -> dict[str, Any]:
    """Run the importer within the sites the viewer may write (admins: every site)."""
    from kyphos.exchange.importer import ImportFailed, writable_sites
    from kyphos.exchange.importer import import_workbook as run

    if path.suffix == ".zip":
        folder = path.parent / "csv"
        folder.mkdir()
        try:
            with zipfile.ZipFile(path) as archive:
                for member in archive.infolist():
                    name = Path(member.filename).name
                    if name.endswith(".csv") and not member.is_dir():
                        (folder / name).write_bytes(archive.read(member))
        except (zipfile.BadZipFile, OSError, ValueError):
            raise _ImportRefused([([], "the upload is not a readable .zip file")]) from None
        path = folder
    try:
        report = run(
            viewer.registry,
            path,
            dry_run=dry_run,
            reason=f"REST API import of {label}",
            sites=writable_sites(viewer.registry, viewer.principal),
        )
    except ImportFailed as error:
        raise _ImportRefused([(_location(line), line) for line in error.problems]) from None
    return {
        "dry_run": dry_run,
        "counts": {
            name: {"created": c.created, "updated": c.updated, "unchanged": c.unchanged}
            for name, c in report.counts.items()
        },
        "notes": list(report.notes),
    }


def _location(line: str) -> list[str | int]:
    """``sheet:row:column: message`` → ``[sheet, row, column]``."""
    head = line.split(": ", 1)[0].split(":")
    if len(head) < 2:
        return []
    return [int(part) if part.isdigit() else part for part in head[:3]]


# --- tokens -----------------------------------------------------------------------------------


@router.post("/auth/revoke", status_code=204, responses=ERRORS)
def revoke(request: Request, viewer: ApiViewer) -> Response:
    """Revoke the bearer token of this request: it is refused (401) from now on."""
    token = _bearer(request) or ""
    state = web_state(request)
    expires = dt.datetime.fromtimestamp(state.clock() + state.tokens.lifetime_seconds, dt.UTC)
    editing.revoke_token(viewer.registry, viewer.principal, _digest(token), expires_at=expires)
    return Response(status_code=204)


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


# --- installation -----------------------------------------------------------------------------


def _error(status: int, loc: list[str | int], msg: str) -> Response:
    return JSONResponse({"detail": [{"loc": loc, "msg": msg}]}, status_code=status)


def _nul_location(request: Request) -> list[str | int] | None:
    """Where the (decoded) path or query holds a NUL character, if anywhere."""
    if NUL in request.scope.get("path", ""):
        return ["path"]
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            return ["query", name]
    return None


async def _guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Refuse an oversized body (413), a NUL character in the address (422) and a revoked
    token (401) before any API route."""
    path = request.url.path
    if not path.startswith("/api/v1/"):
        return await call_next(request)
    nul = _nul_location(request)
    if nul is not None:
        return _error(422, nul, nul_problem(str(nul[-1])).text("en"))
    limit = MAX_UPLOAD_BYTES if _UPLOAD_PATHS.match(path) else MAX_JSON_BYTES
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            return _error(400, ["header", "content-length"], "invalid Content-Length")
        if int(length) > limit:
            megabytes = limit // (1024 * 1024)
            return _error(413, ["body"], f"the request body is larger than {megabytes} MB")
    token = _bearer(request)
    if token is not None:
        state = web_state(request)
        if editing.token_revoked(state.registry, _digest(token)):
            return _error(401, ["header", "authorization"], "invalid or expired token")
    return await call_next(request)


def _invalid_handler(request: Request, error: Exception) -> Response:
    problems = error.problems if isinstance(error, _Invalid) else []
    return JSONResponse(
        {"detail": [{"loc": loc, "msg": msg} for loc, msg in problems]}, status_code=422
    )


def install(app: FastAPI, prefix: str) -> None:
    """Add the router under ``prefix`` and the body-size and revocation guard."""
    app.include_router(router, prefix=prefix)
    app.middleware("http")(_guard)
    app.add_exception_handler(_Invalid, _invalid_handler)


__all__ = ["install", "router"]
