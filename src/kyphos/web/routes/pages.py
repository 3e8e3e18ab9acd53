"""The pages: sign-in, sign-out, language, dashboard, patients list and patient page."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kyphos.clinical import odi
from kyphos.clinical.levels import LEVELS
from kyphos.registry import access, browse, signin
from kyphos.web import csrf, i18n
from kyphos.web.auth import SessionData
from kyphos.web.deps import PageViewer, State, render, request_language, session_of
from kyphos.web.routes import forms, pages_more

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form(max_length=1000)]


def _local(target: str | None) -> str:
    """Only a path on this site is a place to go back to (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, next: str = "/", expired: bool = False) -> Response:
    lang = request_language(request)
    _ = i18n.translator(lang)
    message = _("Your session has ended; please sign in again.") if expired else ""
    return render(request, "signin.html", lang=lang, next=_local(next), message=message)


@router.post("/signin", response_class=HTMLResponse)
def signin_submit(
    request: Request,
    state: State,
    username: FormText = "",
    password: FormText = "",
    csrf_token: FormText = "",
    next: FormText = "/",
) -> Response:
    csrf.check(session_of(request).csrf, csrf_token)
    lang = request_language(request)
    _ = i18n.translator(lang)
    now = dt.datetime.fromtimestamp(state.clock(), dt.UTC)
    outcome = signin.sign_in(state.registry, username, password, now=now, via="web")
    if outcome.principal is None:
        if outcome.throttled_for:
            message = _("Too many failed sign-ins; try again in {seconds} seconds.").format(
                seconds=outcome.throttled_for
            )
            status = 429
        else:
            message = _("Wrong user name or password.")
            status = 401
        return render(
            request,
            "signin.html",
            lang=lang,
            status_code=status,
            next=_local(next),
            message=message,
            username=username,
        )
    # A new session (and CSRF token) at sign-in: a session fixed before cannot be reused.
    user_id = outcome.principal.user_id
    request.state.session = replace(
        SessionData.fresh(state.clock()),
        user_id=user_id,
        generation=browse.session_generation(state.registry, user_id),
    )
    return RedirectResponse(_local(next), status_code=303)


@router.post("/signout")
def signout(request: Request, state: State, csrf_token: FormText = "") -> Response:
    """End the session here and every copy of its cookie (the user's other sessions too)."""
    session = session_of(request)
    csrf.check(session.csrf, csrf_token)
    if session.user_id is not None:
        found = browse.account(state.registry, session.user_id, generation=session.generation)
        if found is not None:  # a copy of an ended session has nothing left to end
            principal = found[0]
            acting = replace(state.registry, actor=principal.username)
            browse.end_sessions(acting, principal, reason="signed out on the web")
    request.state.session = SessionData.fresh(state.clock())
    return RedirectResponse("/signin", status_code=303)


@router.post("/lang")
def switch_language(
    request: Request,
    viewer: PageViewer,
    lang: FormText = "en",
    csrf_token: FormText = "",
    next: FormText = "/",
) -> Response:
    csrf.check(session_of(request).csrf, csrf_token)
    browse.set_user_language(viewer.registry, viewer.principal, lang)
    return RedirectResponse(_local(next), status_code=303)


@router.get("/", response_class=HTMLResponse)
def dashboard(
    request: Request, viewer: PageViewer, sort: Annotated[str, Query(max_length=16)] = "status"
) -> Response:
    board = browse.dashboard(viewer.registry, viewer.principal)
    protocol = viewer.registry.protocol()
    labels = {point.key: point.label(viewer.lang) for point in protocol.timepoints}
    peak = max((count for _, count in board.enrolment), default=0)
    return render(
        request,
        "dashboard.html",
        lang=viewer.lang,
        viewer=viewer,
        board=board,
        labels=labels,
        peak=peak,
        **pages_more.dashboard_worklist(request, viewer, sort),
    )


@router.get("/patients", response_class=HTMLResponse)
def patients(
    request: Request,
    viewer: PageViewer,
    q: Annotated[str, Query(max_length=browse.MAX_SEARCH_CHARS)] = "",
    site: Annotated[str, Query(max_length=32)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    level: Annotated[str, Query(max_length=3)] = "",
    leakage: Annotated[str, Query(max_length=3)] = "",
    overdue: bool = False,
) -> Response:
    listing = pages_more.list_patients_filtered(
        request,
        viewer,
        search=q,
        site=site,
        page=page,
        level=level,
        leakage=leakage,
        overdue=overdue,
    )
    return render(
        request,
        "patients.html",
        lang=viewer.lang,
        viewer=viewer,
        listing=listing,
        sites=browse.visible_sites(viewer.registry, viewer.principal),
        q=q,
        site=site,
        identity_search=access.may_search_identity(viewer.principal),
        levels=LEVELS,
        level=level,
        leakage=leakage,
        overdue=overdue,
    )


@router.get("/patients/{study_code}", response_class=HTMLResponse)
def patient(request: Request, viewer: PageViewer, study_code: str) -> Response:
    detail, records = browse.patient_page(viewer.registry, viewer.principal, study_code)
    protocol = viewer.registry.protocol()
    labels = {point.key: point.label(viewer.lang) for point in protocol.timepoints}
    bands = {band.key: odi.band_label(band.key, viewer.lang) for band in odi.BANDS}
    return render(
        request,
        "patient.html",
        lang=viewer.lang,
        viewer=viewer,
        patient=detail,
        labels=labels,
        bands=bands,
        **pages_more.patient_extras(viewer, detail, records),
        **forms.patient_links(viewer, records),
    )
