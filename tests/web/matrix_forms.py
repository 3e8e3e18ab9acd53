"""Matrix rows of the record forms (create, edit, delete pages) and their live read-outs.

Written out by hand from issue 6 and the forms brief: admins and investigators (own
sites) may use the forms; observers and analysts get 403; another site's patient is a
404 (admins see every site); the read-outs need a signed-in session and nothing more.
A POST carries only the CSRF token: a create is refused for its missing fields (422),
an edit or delete for its missing ``version`` (422) — after the CSRF, role and site
checks, so nothing is written.

:func:`call` makes the requests of the item routes on a record created for the row
(as an admin, through the use cases) and removed after it.
"""

from __future__ import annotations

import itertools
from typing import Any

from web_client import Web

from kyphos.registry import editing
from kyphos.registry.access import Principal

KINDS = ("vertebrae", "procedures", "visits", "measurements", "adverse-events")
_SETUP = Principal(user_id=0, username="matrix-forms", role="admin", site_ids=frozenset())
_TARGETS = {"own": "OWN-1", "other": "OTHER-1"}
_counter = itertools.count(1)


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


def _fresh(web: Web, code: str, kind: str) -> dict[str, Any]:
    """Values of a new ``kind`` record of patient ``code`` that clash with nothing."""
    n = next(_counter)
    level = ("T6", "T7", "T8", "T9", "T10")[n % 5]
    if kind == "vertebrae":
        return {"level": level, "treated": False}
    if kind == "visits":
        return {"timepoint": f"d{n + 1}", "vas": 3}
    if kind == "adverse-events":
        return {"event_date": "2024-02-01", "type": "other"}
    treated = kind == "procedures"
    editing.create_item(
        web.registry, _SETUP, code, "vertebrae", {"level": level, "treated": treated}
    )
    if treated:
        return {"procedure_date": "2024-01-01", "levels": [{"level": level}]}
    return {"level": level, "timepoint": "preop", "observer": f"obs{n}"}


def _remove_made(web: Web, code: str) -> None:
    """Remove what :func:`_fresh` made (the fixture's preop visit stays)."""
    for kind in ("measurements", "procedures", "vertebrae", "visits", "adverse-events"):
        for item in editing.list_items(web.registry, _SETUP, code, kind):
            if kind == "visits" and item["timepoint"] == "preop":
                continue
            editing.delete_item(
                web.registry, _SETUP, code, kind, item["id"], version=item["version"]
            )


def call(web: Web, method: str, path: str, role: str, target: str) -> Any:
    """The request of an item route's row, on a record made for it; None for others."""
    if "{item_id}" not in path or not path.startswith("/patients/"):
        return None
    code = _TARGETS[target]
    kind = path.split("/")[3]
    client = web.client_for()
    if role != "anonymous":
        web.sign_in(role, client)
    try:
        made = editing.create_item(web.registry, _SETUP, code, kind, _fresh(web, code, kind))
        url = path.replace("{study_code}", code).replace("{item_id}", str(made["id"]))
        if method == "GET":
            return client.get(url)
        return client.post(url, data={"csrf_token": web.csrf(client)})
    finally:
        _remove_made(web, code)
