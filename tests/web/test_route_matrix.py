"""Every route × role × own/other site, against a table written out by hand.

The table is :data:`TABLE` here plus ``ROWS`` of every ``tests/web/matrix_*.py`` module
(one per area of the app, written out by hand the same way); such a module may also
define ``call(web, method, path, role, target)`` that makes the request for its own
routes (return ``None`` to leave a row to the default request below), and
``finish(web)``, run after its rows, to remove what ``call`` made for them.

Each role signs in once and its client is reused (a sign-in costs an argon2 check):
after a row that ends the session (sign-out) the next row signs in afresh, and a row's
other lasting change (the language kept on the user) is put back, so no row's outcome
depends on an earlier row.

The expected outcomes come from issue 6 (roles, sites, 404 for another site's
patient), not from ``kyphos.registry.access``. A route of the app without a row here
fails :func:`test_every_route_of_the_app_has_rows_in_the_table`.

Columns: method, path, role (``anonymous`` = not signed in), target patient (``own`` =
OWN-1 at the users' site MAIN, ``other`` = OTHER-1 at site OTHER, ``-`` = none),
status, and then: for a redirect the start of its Location; for a 200 the markers the
body must show, all others of MARKERS being absent.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route
from web_client import Web, use_quick_hashes

MARKERS = {
    "own": "OWN-1",
    "other": "OTHER-1",
    "own_identity": "Wang Own",
    "other_identity": "Li Other",
}

# fmt: off
TABLE: list[tuple[str, str, str, str, int, str]] = [
    # sign-in page and form (POST: the role's own credentials; anonymous: a wrong password)
    ("GET",  "/signin",                       "anonymous",    "-",     200, ""),
    ("GET",  "/signin",                       "admin",        "-",     200, ""),
    ("GET",  "/signin",                       "investigator", "-",     200, ""),
    ("GET",  "/signin",                       "observer",     "-",     200, ""),
    ("GET",  "/signin",                       "analyst",      "-",     200, ""),
    ("POST", "/signin",                       "anonymous",    "-",     401, ""),
    ("POST", "/signin",                       "admin",        "-",     303, "/"),
    ("POST", "/signin",                       "investigator", "-",     303, "/"),
    ("POST", "/signin",                       "observer",     "-",     303, "/"),
    ("POST", "/signin",                       "analyst",      "-",     303, "/"),
    ("POST", "/signout",                      "anonymous",    "-",     303, "/signin"),
    ("POST", "/signout",                      "admin",        "-",     303, "/signin"),
    ("POST", "/signout",                      "investigator", "-",     303, "/signin"),
    ("POST", "/signout",                      "observer",     "-",     303, "/signin"),
    ("POST", "/signout",                      "analyst",      "-",     303, "/signin"),
    ("POST", "/lang",                         "anonymous",    "-",     303, "/signin"),
    ("POST", "/lang",                         "admin",        "-",     303, "/"),
    ("POST", "/lang",                         "investigator", "-",     303, "/"),
    ("POST", "/lang",                         "observer",     "-",     303, "/"),
    ("POST", "/lang",                         "analyst",      "-",     303, "/"),
    # dashboard
    ("GET",  "/",                             "anonymous",    "-",     303, "/signin"),
    ("GET",  "/",                             "admin",        "-",     200, ""),
    ("GET",  "/",                             "investigator", "-",     200, ""),
    ("GET",  "/",                             "observer",     "-",     200, ""),
    ("GET",  "/",                             "analyst",      "-",     200, ""),
    # patients list
    ("GET",  "/patients",                     "anonymous",    "-",     303, "/signin"),
    ("GET",  "/patients",                     "admin",        "-",     200, "own other"),
    ("GET",  "/patients",                     "investigator", "-",     200, "own"),
    ("GET",  "/patients",                     "observer",     "-",     200, "own"),
    ("GET",  "/patients",                     "analyst",      "-",     200, "own"),
    # patient page
    ("GET",  "/patients/{study_code}",        "anonymous",    "own",   303, "/signin"),
    ("GET",  "/patients/{study_code}",        "anonymous",    "other", 303, "/signin"),
    ("GET",  "/patients/{study_code}",        "admin",        "own",   200, "own own_identity"),
    ("GET",  "/patients/{study_code}",        "admin",        "other", 200, "other other_identity"),
    ("GET",  "/patients/{study_code}",        "investigator", "own",   200, "own own_identity"),
    ("GET",  "/patients/{study_code}",        "investigator", "other", 404, ""),
    ("GET",  "/patients/{study_code}",        "observer",     "own",   200, "own"),
    ("GET",  "/patients/{study_code}",        "observer",     "other", 404, ""),
    ("GET",  "/patients/{study_code}",        "analyst",      "own",   200, "own"),
    ("GET",  "/patients/{study_code}",        "analyst",      "other", 404, ""),
    # REST: token (anonymous: a wrong password), list, one patient
    ("POST", "/api/v1/auth/token",            "anonymous",    "-",     401, ""),
    ("POST", "/api/v1/auth/token",            "admin",        "-",     200, ""),
    ("POST", "/api/v1/auth/token",            "investigator", "-",     200, ""),
    ("POST", "/api/v1/auth/token",            "observer",     "-",     200, ""),
    ("POST", "/api/v1/auth/token",            "analyst",      "-",     200, ""),
    ("GET",  "/api/v1/patients",              "anonymous",    "-",     401, ""),
    ("GET",  "/api/v1/patients",              "admin",        "-",     200, "own other"),
    ("GET",  "/api/v1/patients",              "investigator", "-",     200, "own"),
    ("GET",  "/api/v1/patients",              "observer",     "-",     200, "own"),
    ("GET",  "/api/v1/patients",              "analyst",      "-",     200, "own"),
    ("GET",  "/api/v1/patients/{patient_id}", "anonymous",    "own",   401, ""),
    ("GET",  "/api/v1/patients/{patient_id}", "anonymous",    "other", 401, ""),
    ("GET",  "/api/v1/patients/{patient_id}", "admin",        "own",   200, "own own_identity"),
    ("GET",  "/api/v1/patients/{patient_id}", "admin",        "other", 200, "other other_identity"),
    ("GET",  "/api/v1/patients/{patient_id}", "investigator", "own",   200, "own own_identity"),
    ("GET",  "/api/v1/patients/{patient_id}", "investigator", "other", 404, ""),
    ("GET",  "/api/v1/patients/{patient_id}", "observer",     "own",   200, "own"),
    ("GET",  "/api/v1/patients/{patient_id}", "observer",     "other", 404, ""),
    ("GET",  "/api/v1/patients/{patient_id}", "analyst",      "own",   200, "own"),
    ("GET",  "/api/v1/patients/{patient_id}", "analyst",      "other", 404, ""),
    # public: the API description and the style sheet
    ("GET",  "/api/v1/openapi.json",          "anonymous",    "-",     200, ""),
    ("GET",  "/api/v1/openapi.json",          "admin",        "-",     200, ""),
    ("GET",  "/api/v1/docs",                  "anonymous",    "-",     200, ""),
    ("GET",  "/api/v1/docs",                  "admin",        "-",     200, ""),
    ("GET",  "/static",                       "anonymous",    "-",     200, ""),
    ("GET",  "/static",                       "admin",        "-",     200, ""),
]
# fmt: on

TARGETS = {"own": "OWN-1", "other": "OTHER-1", "-": ""}

AREAS = [
    importlib.import_module(path.stem) for path in sorted(Path(__file__).parent.glob("matrix_*.py"))
]
ALL_ROWS: list[tuple[str, str, str, str, int, str]] = TABLE + [
    row for area in AREAS for row in area.ROWS
]


def _routes(routes: list[Any], prefix: str = "") -> set[tuple[str, str]]:
    """(method, path) of every route, into included routers (FastAPI ≥ 0.120 keeps an
    included router as one ``_IncludedRouter`` entry, older ones copy its routes)."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, Mount):
            found.add(("GET", prefix + route.path))
        elif isinstance(route, APIRoute | Route):
            methods = route.methods or set()
            found.update((method, prefix + route.path) for method in methods if method != "HEAD")
        elif hasattr(route, "original_router"):
            inner = prefix + route.include_context.prefix
            found |= _routes(route.original_router.routes, inner)
        else:
            raise AssertionError(f"a route of an unknown kind: {route!r}")
    return found


def test_every_route_of_the_app_has_rows_in_the_table(web: Web) -> None:
    in_table = {(method, path) for method, path, *_ in ALL_ROWS}
    assert _routes(list(web.client.app.routes)) == in_table  # type: ignore[attr-defined]


def _call(web: Web, method: str, path: str, role: str, target: str):  # type: ignore[no-untyped-def]
    for area in AREAS:
        own_call = getattr(area, "call", None)
        answer = own_call(web, method, path, role, target) if own_call else None
        if answer is not None:
            return answer
    concrete = path.replace("{study_code}", TARGETS[target]).replace(
        "{patient_id}", TARGETS[target]
    )
    if concrete == "/static":
        concrete = "/static/kyphos.css"
    if path.startswith("/api/v1/") and path != "/api/v1/auth/token":
        headers = {} if role == "anonymous" else web.bearer(role)
        return web.client.request(method, concrete, headers=headers)
    if path == "/api/v1/auth/token":
        password = "not-the-password" if role == "anonymous" else web.passwords[role]
        user = "admin" if role == "anonymous" else role
        return web.client.post(concrete, json={"username": user, "password": password})
    if path == "/signin" and method == "POST":
        client = web.client_for()
        token = web.csrf(client)
        user = "admin" if role == "anonymous" else role
        password = "not-the-password" if role == "anonymous" else web.passwords[role]
        return client.post(
            "/signin", data={"username": user, "password": password, "csrf_token": token}
        )
    signed_in = web.session(role)
    if method == "POST":
        token = web.form_token(signed_in)
        return signed_in.client.post(
            concrete, data={"csrf_token": token, "lang": "zh", "next": "/"}
        )
    return signed_in.client.get(concrete)


def _undo(web: Web, method: str, path: str, role: str) -> None:
    """Put back what a row changed beyond itself, so that no row depends on another:
    a sign-out ends every session of its user (the reused client signs in afresh), a
    language switch is kept on the user (switched back to English)."""
    if role == "anonymous" or method != "POST":
        return
    if path == "/signout":
        web.forget(role)
    elif path == "/lang":
        signed_in = web.session(role)
        token = web.form_token(signed_in)
        back = signed_in.client.post("/lang", data={"csrf_token": token, "lang": "en", "next": "/"})
        assert back.status_code == 303, back.text


def _mismatch(
    web: Web, method: str, path: str, role: str, target: str, status: int, detail: str
) -> str | None:
    answer = _call(web, method, path, role, target)
    _undo(web, method, path, role)
    if answer.status_code != status:
        return f"status {answer.status_code}, expected {status}: {answer.text[:300]}"
    if 300 <= status < 400 and not answer.headers["location"].startswith(detail):
        return f"redirects to {answer.headers['location']}, expected {detail}"
    if status == 200:
        shown = set(detail.split())
        for marker, text in MARKERS.items():
            if (text in answer.text) != (marker in shown):
                return f"{marker} ({text}) {'missing' if marker in shown else 'shown'}"
    return None


@pytest.fixture
def matrix_web(web: Web) -> Web:
    """``web`` with its users' passwords hashed at a small argon2id cost: the rows sign in
    and ask for tokens about 30 times (each check costs about 0.2 s at the real cost)."""
    use_quick_hashes(web)
    return web


def test_every_route_role_and_site_gives_the_outcome_of_the_table(matrix_web: Web) -> None:
    """All rows against one registry per backend (a fresh registry per row costs about
    1.5 s each), area by area; every mismatching row is listed."""
    mismatches = []
    for rows, finish in [
        (TABLE, None),
        *((area.ROWS, getattr(area, "finish", None)) for area in AREAS),
    ]:
        for row in rows:
            problem = _mismatch(matrix_web, *row)
            if problem is not None:
                mismatches.append(f"{' '.join(map(str, row[:4]))}: {problem}")
        if finish is not None:
            finish(matrix_web)
    assert not mismatches, "\n".join(mismatches)
