"""Matrix rows of the record forms (create, edit, delete pages) and their live read-outs.

Written out by hand from issue 6 and the forms brief: admins and investigators (own
sites) may use the forms; observers and analysts get 403; another site's patient is a
404 (admins see every site); the read-outs need a signed-in session and nothing more.
A POST carries only the CSRF token: a create is refused for its missing fields (422),
an edit or delete for its missing ``version`` (422) — after the CSRF, role and site
checks, so nothing is written.

:func:`call` makes the requests of the item routes on one record per patient and kind,
created (as an admin, through the use cases) for the first row that needs it and shared
by the rest: no row here writes (a GET only reads, each POST is refused before anything
is written), so no row sees another's doing. :func:`finish` removes them after the rows.
"""

from __future__ import annotations

from typing import Any

from web_client import Web

from kyphos.registry import editing
from kyphos.registry.access import Principal

KINDS = ("vertebrae", "procedures", "visits", "measurements", "adverse-events")
_SETUP = Principal(user_id=0, username="matrix-forms", role="admin", site_ids=frozenset())
_TARGETS = {"own": "OWN-1", "other": "OTHER-1"}


def _kind_rows(kind: str) -> list[tuple[str, str, str, str, int, str]]:
    new = f"/patients/{{study_code}}/{kind}/new"
    item = f"/patients/{{study_code}}/{kind}/{{item_id}}"
    rows = []
    for method, path, ok in (
        ("GET", new, 200),
        ("POST", new, 422),
        ("GET", item + "/edit", 200),
        ("POST", item + "/edit", 422),
        ("POST", item + "/delete", 422),
    ):
        rows += [
            (method, path, "admin", "other", ok, "other" if ok == 200 else ""),
            (method, path, "investigator", "own", ok, "own" if ok == 200 else ""),
            (method, path, "investigator", "other", 404, ""),
            (method, path, "observer", "own", 403, ""),
        ]
    rows.append(("GET", new, "anonymous", "own", 303, "/signin"))
    rows.append(("GET", new, "analyst", "own", 403, ""))
    return rows


# fmt: off
ROWS: list[tuple[str, str, str, str, int, str]] = [
    ("GET",  "/patients/new",                      "anonymous",    "-",     303, "/signin"),
    ("GET",  "/patients/new",                      "admin",        "-",     200, ""),
    ("GET",  "/patients/new",                      "investigator", "-",     200, ""),
    ("GET",  "/patients/new",                      "observer",     "-",     403, ""),
    ("GET",  "/patients/new",                      "analyst",      "-",     403, ""),
    ("POST", "/patients/new",                      "anonymous",    "-",     303, "/signin"),
    ("POST", "/patients/new",                      "admin",        "-",     422, ""),
    ("POST", "/patients/new",                      "investigator", "-",     422, ""),
    ("POST", "/patients/new",                      "observer",     "-",     403, ""),
    ("POST", "/patients/new",                      "analyst",      "-",     403, ""),
    ("GET",  "/patients/{study_code}/edit",        "anonymous",    "own",   303, "/signin"),
    ("GET",  "/patients/{study_code}/edit",  "admin",        "own",   200, "own own_identity"),
    ("GET",  "/patients/{study_code}/edit",  "admin",        "other", 200, "other other_identity"),
    ("GET",  "/patients/{study_code}/edit",  "investigator", "own",   200, "own own_identity"),
    ("GET",  "/patients/{study_code}/edit",        "investigator", "other", 404, ""),
    ("GET",  "/patients/{study_code}/edit",        "observer",     "own",   403, ""),
    ("GET",  "/patients/{study_code}/edit",        "observer",     "other", 404, ""),
    ("GET",  "/patients/{study_code}/edit",        "analyst",      "own",   403, ""),
    ("GET",  "/patients/{study_code}/edit",        "analyst",      "other", 404, ""),
    ("POST", "/patients/{study_code}/edit",        "anonymous",    "own",   303, "/signin"),
    ("POST", "/patients/{study_code}/edit",        "admin",        "other", 422, ""),
    ("POST", "/patients/{study_code}/edit",        "investigator", "own",   422, ""),
    ("POST", "/patients/{study_code}/edit",        "investigator", "other", 404, ""),
    ("POST", "/patients/{study_code}/edit",        "observer",     "own",   403, ""),
    ("POST", "/patients/{study_code}/edit",        "analyst",      "own",   403, ""),
    ("POST", "/patients/{study_code}/delete",      "anonymous",    "own",   303, "/signin"),
    ("POST", "/patients/{study_code}/delete",      "admin",        "other", 422, ""),
    ("POST", "/patients/{study_code}/delete",      "investigator", "own",   422, ""),
    ("POST", "/patients/{study_code}/delete",      "investigator", "other", 404, ""),
    ("POST", "/patients/{study_code}/delete",      "observer",     "own",   403, ""),
    ("POST", "/patients/{study_code}/delete",      "analyst",      "own",   403, ""),
    ("GET",  "/forms/odi",                         "anonymous",    "-",     303, "/signin"),
    ("GET",  "/forms/odi",                         "admin",        "-",     200, ""),
    ("GET",  "/forms/odi",                         "investigator", "-",     200, ""),
    ("GET",  "/forms/odi",                         "observer",     "-",     200, ""),
    ("GET",  "/forms/odi",                         "analyst",      "-",     200, ""),
    ("GET",  "/forms/acuity",                      "anonymous",    "-",     303, "/signin"),
    ("GET",  "/forms/acuity",                      "admin",        "-",     200, ""),
    ("GET",  "/forms/acuity",                      "investigator", "-",     200, ""),
    ("GET",  "/forms/acuity",                      "observer",     "-",     200, ""),
    ("GET",  "/forms/acuity",                      "analyst",      "-",     200, ""),
    *(row for kind in KINDS for row in _kind_rows(kind)),
]
# fmt: on


_LEVELS = {"vertebrae": "T6", "procedures": "T7", "measurements": "T8"}
"""The level of the vertebra each kind's record is on (one record per kind and patient)."""


def _values(web: Web, code: str, kind: str) -> dict[str, Any]:
    """Values of the ``kind`` record of patient ``code`` the rows share; a procedure or a
    measurement gets a vertebra of its own first."""
    if kind == "visits":
        return {"timepoint": "d2", "vas": 3}
    if kind == "adverse-events":
        return {"event_date": "2024-02-01", "type": "other"}
    level = _LEVELS[kind]
    if kind == "vertebrae":
        return {"level": level, "treated": False}
    treated = kind == "procedures"
    editing.create_item(
        web.registry, _SETUP, code, "vertebrae", {"level": level, "treated": treated}
    )
    if treated:
        return {"procedure_date": "2024-01-01", "levels": [{"level": level}]}
    return {"level": level, "timepoint": "preop", "observer": "obs1"}


def _key(code: str, kind: str) -> tuple[str, str, str]:
    """Where this area keeps patient ``code``'s ``kind`` record in ``Web.shared``."""
    return ("matrix_forms", code, kind)


def _shared(web: Web, code: str, kind: str) -> int:
    """The id of the ``kind`` record of patient ``code``, made for the first row asking."""
    key = _key(code, kind)
    if key not in web.shared:
        web.shared[key] = editing.create_item(
            web.registry, _SETUP, code, kind, _values(web, code, kind)
        )
    return int(web.shared[key]["id"])


def call(web: Web, method: str, path: str, role: str, target: str) -> Any:
    """The request of an item route's row, on the shared record; None for other rows."""
    if "{item_id}" not in path or not path.startswith("/patients/"):
        return None
    code = _TARGETS[target]
    kind = path.split("/")[3]
    url = path.replace("{study_code}", code).replace("{item_id}", str(_shared(web, code, kind)))
    signed_in = web.session(role)
    if method == "GET":
        return signed_in.client.get(url)
    return signed_in.client.post(url, data={"csrf_token": web.form_token(signed_in)})


def finish(web: Web) -> None:
    """Check that no row changed a shared record (sharing them rests on that), then remove
    what :func:`call` made (the fixture's preop visit stays)."""
    for code in _TARGETS.values():
        for kind in ("measurements", "procedures", "vertebrae", "visits", "adverse-events"):
            made = web.shared.pop(_key(code, kind), None)
            items = editing.list_items(web.registry, _SETUP, code, kind)
            if made is not None:
                now = {item["id"]: item["version"] for item in items}
                if now.get(made["id"]) != made["version"]:
                    raise AssertionError(f"{code} {kind} {made['id']}: changed by a row")
            for item in items:
                if kind == "visits" and item["timepoint"] == "preop":
                    continue
                editing.delete_item(
                    web.registry, _SETUP, code, kind, item["id"], version=item["version"]
                )
