"""Matrix rows of the radiograph pages, the annotator's JSON calls and the comparison.

Written out by hand from issue 7 and the annotator brief, not from the registry's code:

* admins (every site) and the investigators of the patient's site list, upload, assign
  and request adjudication; they open the annotator and the display image of any
  radiograph they see, but save, submit and calibrate only what they are assigned to
  read (here nothing: 403 for the reading calls that need an assignment);
* an observer sees the radiographs of their own sites (another site's: 404), may not
  upload or assign (403), and reads, saves and submits only the reading assigned to
  them (the observer is assigned the OWN-1 radiograph);
* analysts work with de-identified reports only: 403 on every radiograph page, whatever
  the site;
* anonymous: to the sign-in page.

Every POST and PUT here is refused before anything is written: an upload without a file,
an assignment or adjudication without an observer, a read-out without a vertebra, a save,
submit or calibration without the version (422 where the role and site allow the call).
The comparison is closed while the pair is incomplete: 409 for the editors (the
registry's ConflictError), 403 for an observer whose own reading is not submitted.

:func:`call` makes the requests on one radiograph per patient (a small PNG at the preop
visit, the fixture's), made for the first row that needs it; :func:`finish` checks that
no row changed them and removes them.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image
from sqlalchemy import delete, select
from web_client import Web

from kyphos.registry import radiographs
from kyphos.registry.access import Principal
from kyphos.registry.models import Radiograph, Reading

_SETUP = Principal(user_id=0, username="matrix-radiographs", role="admin", site_ids=frozenset())
_TARGETS = {"own": "OWN-1", "other": "OTHER-1"}
_KEY = "matrix_radiograph_pages"
_JSON_BODIES: dict[str, dict[str, Any]] = {
    "readout": {"landmarks": {}},
    "reading": {"landmarks": {}},
    "submit": {},
    "calibration": {"first": [1, 1], "second": [20, 1], "known_mm": 10},
}
"""What each JSON call posts: every one lacks the vertebra or the version it needs."""

L = "/patients/{study_code}/radiographs"
R = "/radiographs/{radiograph_id}"

# fmt: off
ROWS: list[tuple[str, str, str, str, int, str]] = [
    # a patient's radiographs
    ("GET",  L,                               "anonymous",    "own",   303, "/signin"),
    ("GET",  L,                               "admin",        "own",   200, "own"),
    ("GET",  L,                               "admin",        "other", 200, "other"),
    ("GET",  L,                               "investigator", "own",   200, "own"),
    ("GET",  L,                               "investigator", "other", 404, ""),
    ("GET",  L,                               "observer",     "own",   200, "own"),
    ("GET",  L,                               "observer",     "other", 404, ""),
    ("GET",  L,                               "analyst",      "own",   403, ""),
    ("GET",  L,                               "analyst",      "other", 403, ""),
    # upload (a form without a file)
    ("POST", L,                               "anonymous",    "own",   303, "/signin"),
    ("POST", L,                               "admin",        "own",   422, ""),
    ("POST", L,                               "admin",        "other", 422, ""),
    ("POST", L,                               "investigator", "own",   422, ""),
    ("POST", L,                               "investigator", "other", 404, ""),
    ("POST", L,                               "observer",     "own",   403, ""),
    ("POST", L,                               "observer",     "other", 404, ""),
    ("POST", L,                               "analyst",      "own",   403, ""),
    ("POST", L,                               "analyst",      "other", 403, ""),
    # assign (no observer named)
    ("POST", R + "/assign",                   "anonymous",    "own",   303, "/signin"),
    ("POST", R + "/assign",                   "admin",        "own",   422, ""),
    ("POST", R + "/assign",                   "admin",        "other", 422, ""),
    ("POST", R + "/assign",                   "investigator", "own",   422, ""),
    ("POST", R + "/assign",                   "investigator", "other", 404, ""),
    ("POST", R + "/assign",                   "observer",     "own",   403, ""),
    ("POST", R + "/assign",                   "observer",     "other", 404, ""),
    ("POST", R + "/assign",                   "analyst",      "own",   403, ""),
    ("POST", R + "/assign",                   "analyst",      "other", 403, ""),
    # request adjudication (no adjudicator named)
    ("POST", R + "/adjudication",             "anonymous",    "own",   303, "/signin"),
    ("POST", R + "/adjudication",             "admin",        "own",   422, ""),
    ("POST", R + "/adjudication",             "admin",        "other", 422, ""),
    ("POST", R + "/adjudication",             "investigator", "own",   422, ""),
    ("POST", R + "/adjudication",             "investigator", "other", 404, ""),
    ("POST", R + "/adjudication",             "observer",     "own",   403, ""),
    ("POST", R + "/adjudication",             "observer",     "other", 404, ""),
    ("POST", R + "/adjudication",             "analyst",      "own",   403, ""),
    ("POST", R + "/adjudication",             "analyst",      "other", 403, ""),
    # the annotator
    ("GET",  R,                               "anonymous",    "own",   303, "/signin"),
    ("GET",  R,                               "admin",        "own",   200, "own"),
    ("GET",  R,                               "admin",        "other", 200, "other"),
    ("GET",  R,                               "investigator", "own",   200, "own"),
    ("GET",  R,                               "investigator", "other", 404, ""),
    ("GET",  R,                               "observer",     "own",   200, "own"),
    ("GET",  R,                               "observer",     "other", 404, ""),
    ("GET",  R,                               "analyst",      "own",   403, ""),
    ("GET",  R,                               "analyst",      "other", 403, ""),
    # the display image (level 0)
    ("GET",  R + "/display/{level}.png",      "anonymous",    "own",   303, "/signin"),
    ("GET",  R + "/display/{level}.png",      "admin",        "own",   200, ""),
    ("GET",  R + "/display/{level}.png",      "admin",        "other", 200, ""),
    ("GET",  R + "/display/{level}.png",      "investigator", "own",   200, ""),
    ("GET",  R + "/display/{level}.png",      "investigator", "other", 404, ""),
    ("GET",  R + "/display/{level}.png",      "observer",     "own",   200, ""),
    ("GET",  R + "/display/{level}.png",      "observer",     "other", 404, ""),
    ("GET",  R + "/display/{level}.png",      "analyst",      "own",   403, ""),
    ("GET",  R + "/display/{level}.png",      "analyst",      "other", 403, ""),
    # live read-out (no vertebra named): editors and the assigned observer may ask
    ("POST", R + "/readout",                  "anonymous",    "own",   303, "/signin"),
    ("POST", R + "/readout",                  "admin",        "own",   422, ""),
    ("POST", R + "/readout",                  "admin",        "other", 422, ""),
    ("POST", R + "/readout",                  "investigator", "own",   422, ""),
    ("POST", R + "/readout",                  "investigator", "other", 404, ""),
    ("POST", R + "/readout",                  "observer",     "own",   422, ""),
    ("POST", R + "/readout",                  "observer",     "other", 404, ""),
    ("POST", R + "/readout",                  "analyst",      "own",   403, ""),
    ("POST", R + "/readout",                  "analyst",      "other", 403, ""),
    # save a draft (no version): only the assigned observer's own reading
    ("PUT",  R + "/reading",                  "anonymous",    "own",   303, "/signin"),
    ("PUT",  R + "/reading",                  "admin",        "own",   403, ""),
    ("PUT",  R + "/reading",                  "admin",        "other", 403, ""),
    ("PUT",  R + "/reading",                  "investigator", "own",   403, ""),
    ("PUT",  R + "/reading",                  "investigator", "other", 404, ""),
    ("PUT",  R + "/reading",                  "observer",     "own",   422, ""),
    ("PUT",  R + "/reading",                  "observer",     "other", 404, ""),
    ("PUT",  R + "/reading",                  "analyst",      "own",   403, ""),
    ("PUT",  R + "/reading",                  "analyst",      "other", 403, ""),
    # submit (no version): only the assigned observer's own reading
    ("POST", R + "/submit",                   "anonymous",    "own",   303, "/signin"),
    ("POST", R + "/submit",                   "admin",        "own",   403, ""),
    ("POST", R + "/submit",                   "admin",        "other", 403, ""),
    ("POST", R + "/submit",                   "investigator", "own",   403, ""),
    ("POST", R + "/submit",                   "investigator", "other", 404, ""),
    ("POST", R + "/submit",                   "observer",     "own",   422, ""),
    ("POST", R + "/submit",                   "observer",     "other", 404, ""),
    ("POST", R + "/submit",                   "analyst",      "own",   403, ""),
    ("POST", R + "/submit",                   "analyst",      "other", 403, ""),
    # manual calibration (no version): editors and the assigned observer
    ("POST", R + "/calibration",              "anonymous",    "own",   303, "/signin"),
    ("POST", R + "/calibration",              "admin",        "own",   422, ""),
    ("POST", R + "/calibration",              "admin",        "other", 422, ""),
    ("POST", R + "/calibration",              "investigator", "own",   422, ""),
    ("POST", R + "/calibration",              "investigator", "other", 404, ""),
    ("POST", R + "/calibration",              "observer",     "own",   422, ""),
    ("POST", R + "/calibration",              "observer",     "other", 404, ""),
    ("POST", R + "/calibration",              "analyst",      "own",   403, ""),
    ("POST", R + "/calibration",              "analyst",      "other", 403, ""),
    # the comparison: closed while the pair is incomplete (an observer: own reading first)
    ("GET",  R + "/compare",                  "anonymous",    "own",   303, "/signin"),
    ("GET",  R + "/compare",                  "admin",        "own",   409, ""),
    ("GET",  R + "/compare",                  "admin",        "other", 409, ""),
    ("GET",  R + "/compare",                  "investigator", "own",   409, ""),
    ("GET",  R + "/compare",                  "investigator", "other", 404, ""),
    ("GET",  R + "/compare",                  "observer",     "own",   403, ""),
    ("GET",  R + "/compare",                  "observer",     "other", 404, ""),
    ("GET",  R + "/compare",                  "analyst",      "own",   403, ""),
    ("GET",  R + "/compare",                  "analyst",      "other", 403, ""),
]
# fmt: on


def _png(width: int = 64, height: int = 48) -> bytes:
    """A small grey PNG (a gradient, so it is a plausible image)."""
    image = Image.new("L", (width, height))
    image.putdata([(x * 4 + y) % 256 for y in range(height) for x in range(width)])
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _shared(web: Web, target: str) -> int:
    """The id of the radiograph of the ``target`` patient, made for the first row asking
    (the observer is assigned to read OWN-1's)."""
    key = (_KEY, target)
    if key not in web.shared:
        made = radiographs.add_radiograph(
            web.registry, _SETUP, _TARGETS[target], "preop", _png(), filename="matrix.png"
        )
        if target == "own":
            made = radiographs.assign(web.registry, _SETUP, made.id, "observer")
        web.shared[key] = {"id": made.id, "version": made.version}
    return int(web.shared[key]["id"])


def _multipart(token: str) -> tuple[bytes, str]:
    """A multipart form with the CSRF token and an empty file field (no file chosen)."""
    boundary = "matrix-boundary-7"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="csrf_token"\r\n\r\n'
        f"{token}\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="timepoint"\r\n\r\n'
        "preop\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename=""\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
        "\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    return body, f"multipart/form-data; boundary={boundary}"


def call(web: Web, method: str, path: str, role: str, target: str) -> Any:
    """The request of a radiograph row; None for the rows of other areas."""
    if not (path.startswith("/radiographs/") or path == L):
        return None
    code = _TARGETS[target]
    url = path.replace("{study_code}", code).replace("{level}", "0")
    if "{radiograph_id}" in url:
        url = url.replace("{radiograph_id}", str(_shared(web, target)))
    signed_in = web.session(role)
    client = signed_in.client
    if method == "GET":
        return client.get(url)
    if role == "anonymous":
        return client.request(method, url, data={"csrf_token": "none"})
    token = web.form_token(signed_in)
    if path == L:
        body, content_type = _multipart(token)
        return client.post(url, content=body, headers={"content-type": content_type})
    name = path.rsplit("/", 1)[-1]
    if name in _JSON_BODIES:
        return client.request(method, url, json=_JSON_BODIES[name], headers={"X-CSRF-Token": token})
    return client.post(url, data={"csrf_token": token})


def finish(web: Web) -> None:
    """Check that no row added a radiograph or changed the shared ones (sharing them rests
    on that), then remove them."""
    made = set()
    for target in _TARGETS:
        shared = web.shared.pop((_KEY, target), None)
        if shared is not None:
            made.add(int(shared["id"]))
    if not made:
        return
    with web.registry.write() as session:
        later = session.execute(select(Radiograph.id).where(Radiograph.id > max(made))).all()
        if later:
            raise AssertionError(f"radiographs {sorted(later)} were added by a row")
        for row in session.execute(select(Radiograph).where(Radiograph.id.in_(made))).scalars():
            if row.version != 1 or row.spacing_source is not None:
                raise AssertionError(f"radiograph {row.id} was changed by a row")
        readings = (
            session.execute(select(Reading).where(Reading.radiograph_id.in_(made))).scalars().all()
        )
        if len(readings) != 1 or readings[0].landmarks or readings[0].submitted_at:
            raise AssertionError("a reading was changed or added by a row")
        session.execute(delete(Reading).where(Reading.radiograph_id.in_(made)))
        session.execute(delete(Radiograph).where(Radiograph.id.in_(made)))
