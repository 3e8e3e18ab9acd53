"""Matrix rows of the REST API's radiographs (issue 7).

Written out by hand from issue 7 and the rules of issue 6: anonymous → 401; admins and the
investigators of the patient's site upload, assign, calibrate and request adjudication;
observers of the site see its radiographs and work on the readings assigned to them
(403 for an editor's action, 403 for a reading not assigned to them); analysts 403 on
every radiograph route (they work with de-identified reports); another site's patient
or radiograph is a 404 for everyone but admins (and analysts, refused before the site
is looked at, so nothing is confirmed either way).

Each row gets a fresh radiograph (a small PNG without a pixel spacing) of its target
patient, made as the admin, with the ``observer`` user assigned to it when it is of the
observer's own site. Bodies are valid but empty where that is enough to pass the checks
(an empty draft, a submit of an empty reading → 422 "nothing to submit"); the
comparison and the adjudication of a pair not yet read answer 409 to editors.
:func:`finish` removes the radiographs and the vertebra made for the rows.
"""

from __future__ import annotations

import io
import itertools
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import text
from web_client import Web

from kyphos.registry import editing, radiographs
from kyphos.registry.access import Principal

_R = "/api/v1/radiographs/{radiograph_id}"
_LIST = "/api/v1/patients/{patient_id}/radiographs"


def _rows(
    method: str, path: str, admin: int, inv_own: int, obs_own: int, *, shows_code: bool = False
) -> list[tuple[str, str, str, str, int, str]]:
    """The nine rows of one route; with ``shows_code`` a 200 answer names the patient's
    study code (the marker of the target), any other answer names no patient."""

    def shown(status: int, target: str) -> str:
        return target if shows_code and status == 200 else ""

    return [
        (method, path, "anonymous", "own", 401, ""),
        (method, path, "admin", "own", admin, shown(admin, "own")),
        (method, path, "admin", "other", admin, shown(admin, "other")),
        (method, path, "investigator", "own", inv_own, shown(inv_own, "own")),
        (method, path, "investigator", "other", 404, ""),
        (method, path, "observer", "own", obs_own, shown(obs_own, "own")),
        (method, path, "observer", "other", 404, ""),
        (method, path, "analyst", "own", 403, ""),
        (method, path, "analyst", "other", 403, ""),
    ]


# fmt: off
ROWS: list[tuple[str, str, str, str, int, str]] = [
    #                 method  path                               admin inv  observer (own)
    *_rows("POST", _LIST,                                        201,  201, 403),
    *_rows("GET",  _LIST,                                        200,  200, 200, shows_code=True),
    *_rows("GET",  _R,                                           200,  200, 200, shows_code=True),
    *_rows("GET",  _R + "/display/{level}",                      200,  200, 200),
    *_rows("POST", _R + "/assignments",                          200,  200, 403, shows_code=True),
    *_rows("POST", _R + "/adjudication",                         409,  409, 403),
    *_rows("GET",  _R + "/reading",                              403,  403, 200),
    *_rows("PUT",  _R + "/reading",                              403,  403, 200),
    *_rows("POST", _R + "/reading/submit",                       403,  403, 422),
    *_rows("POST", _R + "/readout",                              200,  200, 200),
    *_rows("POST", _R + "/calibration",                          200,  200, 200, shows_code=True),
    *_rows("GET",  _R + "/comparison",                           409,  409, 403),
]
# fmt: on

_TARGETS = {"own": "OWN-1", "other": "OTHER-1"}
_ADMIN = Principal(user_id=0, username="matrix-radiographs", role="admin", site_ids=frozenset())
_LEVEL = "T12"
_started: set[int] = set()


_serial = itertools.count()


def _png() -> bytes:
    """A small grey PNG, a different image each call: the same image twice at one visit
    is refused, and the rows upload many to the same preop visit."""
    pixels = np.full((60, 80), 100, dtype=np.uint8)
    pixels.reshape(-1)[:4] = np.frombuffer(next(_serial).to_bytes(4, "big"), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def _fresh(web: Web, target: str) -> radiographs.RadiographView:
    code = _TARGETS[target]
    levels = {v["level"] for v in editing.list_items(web.registry, _ADMIN, code, "vertebrae")}
    if _LEVEL not in levels:
        editing.create_item(
            web.registry, _ADMIN, code, "vertebrae", {"level": _LEVEL, "treated": False}
        )
    made = radiographs.add_radiograph(web.registry, _ADMIN, code, "preop", _png())
    if target == "own":
        radiographs.assign(web.registry, _ADMIN, made.id, "observer")
    return made


def _body(path: str, made: radiographs.RadiographView) -> dict[str, Any] | None:
    if path.endswith("/assignments"):
        return {"observer": "admin"}
    if path.endswith("/adjudication"):
        return {"observer": "admin"}
    if path.endswith("/reading/submit"):
        return {"version": 1}
    if path.endswith("/reading"):
        return {"landmarks": {}, "version": 1}
    if path.endswith("/readout"):
        return {"level": _LEVEL, "landmarks": {"sa": [10, 10]}}
    if path.endswith("/calibration"):
        return {"first": [5, 5], "second": [5, 55], "known_mm": 25, "version": made.version}
    return None


def call(web: Web, method: str, path: str, role: str, target: str) -> Any:
    """The request of one row of ``ROWS``; None for the rows of other areas."""
    if (method, path) not in {(m, p) for m, p, *_ in ROWS}:
        return None
    if id(web) not in _started:
        # The token rows of matrix_api revoke each user's token; with the test clock
        # standing still a new token would be the same string: move the clock a second.
        _started.add(id(web))
        web.clock.now += 1
        web.tokens.clear()
    headers = {} if role == "anonymous" else web.bearer(role)
    made = _fresh(web, target)
    url = (
        path.replace("{patient_id}", _TARGETS[target])
        .replace("{radiograph_id}", str(made.id))
        .replace("{level}", "0")
    )
    if path == _LIST and method == "POST":
        files = {"file": ("x.png", _png(), "image/png")}
        return web.client.post(url, files=files, data={"timepoint": "preop"}, headers=headers)
    body = _body(path, made)
    if method == "GET":
        return web.client.get(url, headers=headers)
    return web.client.request(method, url, json=body, headers=headers)


def finish(web: Web) -> None:
    """Remove the radiographs (and their readings) and the vertebra the rows made."""
    with web.registry.engine.begin() as connection:
        connection.execute(text("DELETE FROM reading"))
        connection.execute(text("DELETE FROM radiograph"))
    for code in _TARGETS.values():
        for item in editing.list_items(web.registry, _ADMIN, code, "vertebrae"):
            if item["level"] == _LEVEL:
                editing.delete_item(
                    web.registry, _ADMIN, code, "vertebrae", item["id"], version=item["version"]
                )
