"""The radiograph pages and the annotator's JSON calls (issue 7), through the web app.

Expected values come from CLINICAL.md §4, not from kyphos: a trapezoid body with Ha 15,
Hp 25 and depth 30 has a wedge ratio of 0.60 and a wedge angle of atan(10/30) = 18.43°;
endplate inclinations of +5° and −10° make a 15° segmental angle. The landmarks here are
drawn in pixels so that a manual calibration of 20 mm over 100 pixels (0.2 mm per pixel)
gives those millimetres. What was stored is read back with raw SQL or from the files.
"""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import starlette.formparsers
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import text
from web_client import PASSWORD, Web

from kyphos.registry import editing
from kyphos.registry.access import Principal
from kyphos.web.routes import radiographs as radiograph_pages

_ADMIN = Principal(user_id=0, username="test-setup", role="admin", site_ids=frozenset())
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
SPACING_MM = 0.2  # 20 mm over 100 pixels, the calibration the tests post

# CLINICAL.md §4's trapezoid at 0.2 mm per pixel: Ha 15 mm = 75 px, Hp 25 mm = 125 px,
# depth 30 mm = 150 px; the superior endplate level, the inferior one sloping.
TRAPEZOID: dict[str, Any] = {
    "sa": [100.0, 100.0],
    "sp": [250.0, 100.0],
    "ia": [100.0, 175.0],
    "ip": [250.0, 225.0],
}
WEDGE_RATIO = 15 / 25
WEDGE_ANGLE_DEG = math.degrees(math.atan(10 / 30))  # 18.43°


def _endplate(anterior_x: float, y: float, inclination_deg: float, length: float) -> list[Any]:
    """An endplate from its anterior point, rising by ``inclination_deg`` towards the
    posterior side (+x), in image pixels (y down)."""
    rad = math.radians(inclination_deg)
    return [[anterior_x, y], [anterior_x + length * math.cos(rad), y - length * math.sin(rad)]]


def _png(width: int = 400, height: int = 320) -> bytes:
    image = Image.new("L", (width, height))
    image.putdata([(x + 2 * y) % 256 for y in range(height) for x in range(width)])
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _signed_in(web: Web, username: str) -> tuple[TestClient, str]:
    client = web.sign_in(username)
    return client, web.page_csrf(client)


def _rows(web: Web, sql: str, **params: object) -> list[tuple[object, ...]]:
    with web.registry.read() as session:
        return [tuple(row) for row in session.execute(text(sql), params)]


def _upload(client: TestClient, token: str, data: bytes, name: str = "film.png") -> Any:
    return client.post(
        "/patients/OWN-1/radiographs",
        data={"csrf_token": token, "timepoint": "preop", "view": "lateral"},
        files={"file": (name, data, "application/octet-stream")},
    )


def _vertebrae(web: Web, *levels: str) -> None:
    for level in levels:
        editing.create_item(
            web.registry, _ADMIN, "OWN-1", "vertebrae", {"level": level, "treated": level == "L1"}
        )


def _radiograph_id(web: Web) -> int:
    found = _rows(web, "SELECT id FROM radiograph ORDER BY id DESC")
    assert found, "no radiograph stored"
    return int(found[0][0])  # type: ignore[call-overload]


@pytest.fixture
def readers(web: Web) -> Web:
    """``web`` with a second observer at MAIN, vertebrae L1 and L2 on OWN-1, an uploaded PNG
    of OWN-1 and both observers assigned to it as primary readers."""
    web.registry.add_user("observer2", role="observer", password=PASSWORD, sites=["MAIN"])
    web.passwords["observer2"] = PASSWORD
    _vertebrae(web, "L1", "L2")
    client, token = _signed_in(web, "investigator")
    assert _upload(client, token, _png()).status_code == 303
    radiograph = _radiograph_id(web)
    for observer in ("observer", "observer2"):
        answer = client.post(
            f"/radiographs/{radiograph}/assign",
            data={"csrf_token": token, "observer": observer, "role": "primary"},
        )
        assert answer.status_code == 303, answer.text
    web.shared[("radiograph",)] = {"id": radiograph}
    return web


def _json(client: TestClient, token: str, method: str, url: str, body: dict[str, Any]) -> Any:
    return client.request(method, url, json=body, headers={"X-CSRF-Token": token})


def _state(client: TestClient, radiograph: int) -> dict[str, Any]:
    """What the annotator page gives its script (the viewer's own reading only)."""
    page = client.get(f"/radiographs/{radiograph}")
    assert page.status_code == 200, page.text[:300]
    found = re.search(
        r'<script type="application/json" id="annotator-state">(.*?)</script>', page.text, re.S
    )
    assert found is not None
    state: dict[str, Any] = json.loads(found.group(1))
    return state


def _version(client: TestClient, radiograph: int) -> int:
    return int(_state(client, radiograph)["reading"]["version"])


def _calibrate(web: Web, client: TestClient, token: str, radiograph: int) -> None:
    version = int(_rows(web, "SELECT version FROM radiograph WHERE id = :id", id=radiograph)[0][0])  # type: ignore[call-overload]
    answer = _json(
        client,
        token,
        "POST",
        f"/radiographs/{radiograph}/calibration",
        {"first": [10, 300], "second": [110, 300], "known_mm": 20, "version": version},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["spacing_mm"] == pytest.approx([SPACING_MM, SPACING_MM])


def _read_and_submit(
    client: TestClient, token: str, radiograph: int, landmarks: dict[str, Any]
) -> dict[str, Any]:
    version = _version(client, radiograph)
    saved = _json(
        client,
        token,
        "PUT",
        f"/radiographs/{radiograph}/reading",
        {"landmarks": {"L1": landmarks}, "version": version},
    )
    assert saved.status_code == 200, saved.text
    submitted = _json(
        client,
        token,
        "POST",
        f"/radiographs/{radiograph}/submit",
        {"version": saved.json()["version"]},
    )
    assert submitted.status_code == 200, submitted.text
    body: dict[str, Any] = submitted.json()
    return body


# --- the list and the upload -------------------------------------------------------------------


def test_an_uploaded_png_is_listed_as_not_calibrated(web: Web) -> None:
    client, token = _signed_in(web, "investigator")
    answer = _upload(client, token, _png())
    assert answer.status_code == 303
    assert answer.headers["location"] == "/patients/OWN-1/radiographs"
    page = client.get("/patients/OWN-1/radiographs")
    assert page.status_code == 200
    assert "400 × 320" in page.text
    assert "not calibrated" in page.text
    assert _rows(web, "SELECT kind, width, height FROM radiograph") == [("png", 400, 320)]


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"this is not an image at all", "notes.txt"),
        (b"DICM" + b"\x00" * 10, "cut.dcm"),
        (_png()[:60], "truncated.png"),
    ],
)
def test_a_refused_upload_says_why_and_keeps_nothing(web: Web, data: bytes, name: str) -> None:
    images = Path(web.registry.settings.home) / "images"
    before = sorted(p.name for p in images.rglob("*")) if images.exists() else []
    client, token = _signed_in(web, "investigator")
    answer = _upload(client, token, data, name)
    assert answer.status_code == 422
    assert 'id="upload-problems"' in answer.text
    assert "Nothing was stored" in answer.text
    assert _rows(web, "SELECT id FROM radiograph") == []
    after = sorted(p.name for p in images.rglob("*")) if images.exists() else []
    assert after == before


def test_an_upload_without_a_file_is_refused_in_chinese_for_a_chinese_user(web: Web) -> None:
    client, token = _signed_in(web, "investigator")
    answer = client.post(
        "/patients/OWN-1/radiographs?lang=zh", data={"csrf_token": token, "timepoint": "preop"}
    )
    assert answer.status_code == 422
    assert "请选择要上传的文件" in answer.text


def test_an_upload_without_the_form_token_is_refused(web: Web) -> None:
    client, _ = _signed_in(web, "investigator")
    answer = client.post(
        "/patients/OWN-1/radiographs",
        data={"timepoint": "preop"},
        files={"file": ("film.png", _png(), "image/png")},
    )
    assert answer.status_code == 403
    assert _rows(web, "SELECT id FROM radiograph") == []


def test_the_display_image_is_a_png_that_may_be_kept(readers: Web) -> None:
    radiograph = readers.shared[("radiograph",)]["id"]
    client, _ = _signed_in(readers, "observer")
    answer = client.get(f"/radiographs/{radiograph}/display/0.png")
    assert answer.status_code == 200
    assert answer.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert "immutable" in answer.headers["cache-control"]
    assert "private" in answer.headers["cache-control"]
    assert Image.open(io.BytesIO(answer.content)).size == (400, 320)


# --- the annotator's calls ---------------------------------------------------------------------


def test_the_readout_of_an_uncalibrated_image_gives_ratios_and_angles_only(readers: Web) -> None:
    radiograph = readers.shared[("radiograph",)]["id"]
    client, token = _signed_in(readers, "observer")
    page = client.get(f"/radiographs/{radiograph}")
    assert "Not calibrated: angles and ratios only." in page.text
    answer = _json(
        client,
        token,
        "POST",
        f"/radiographs/{radiograph}/readout",
        {"level": "L1", "landmarks": TRAPEZOID},
    )
    assert answer.status_code == 200, answer.text
    values = answer.json()
    assert values["calibrated"] is False
    assert values["anterior_height_mm"] is None
    assert values["wedge_ratio"] == pytest.approx(WEDGE_RATIO)
    assert values["wedge_angle_deg"] == pytest.approx(WEDGE_ANGLE_DEG)
    assert values["kyphotic_angle_deg"] is None
    assert "above" in values["missing"]
    assert _rows(readers, "SELECT landmarks FROM reading WHERE landmarks IS NOT NULL") == []


def test_after_a_manual_calibration_the_readout_gives_millimetres(readers: Web) -> None:
    radiograph = readers.shared[("radiograph",)]["id"]
    client, token = _signed_in(readers, "observer")
    _calibrate(readers, client, token, radiograph)
    landmarks = {
        **TRAPEZOID,
        "above": _endplate(100, 60, 5, 150),
        "below": _endplate(100, 270, -10, 150),
    }
    answer = _json(
        client,
        token,
        "POST",
        f"/radiographs/{radiograph}/readout",
        {"level": "L1", "landmarks": landmarks},
    )
    assert answer.status_code == 200, answer.text
    values = answer.json()
    assert values["calibrated"] is True
    assert values["spacing_source"] == "manual"
    assert values["anterior_height_mm"] == pytest.approx(15.0)
    assert values["posterior_height_mm"] == pytest.approx(25.0)
    assert values["kyphotic_angle_deg"] == pytest.approx(15.0)
    page = client.get("/patients/OWN-1/radiographs")
    assert "manual calibration" in page.text


def test_the_annotator_calls_need_the_csrf_header(readers: Web) -> None:
    radiograph = readers.shared[("radiograph",)]["id"]
    client, _ = _signed_in(readers, "observer")
    answer = client.put(
        f"/radiographs/{radiograph}/reading", json={"landmarks": {"L1": TRAPEZOID}, "version": 1}
    )
    assert answer.status_code == 403
    assert answer.json()["detail"][0]["loc"] == ["header", "x-csrf-token"]
    assert _rows(readers, "SELECT landmarks FROM reading WHERE landmarks IS NOT NULL") == []


def test_a_refused_submit_answers_json_in_the_users_language(readers: Web) -> None:
    radiograph = readers.shared[("radiograph",)]["id"]
    client, token = _signed_in(readers, "observer")
    lang = client.post("/lang", data={"csrf_token": token, "lang": "zh", "next": "/"})
    assert lang.status_code == 303
    version = _version(client, radiograph)
    only_two = {"sa": TRAPEZOID["sa"], "sp": TRAPEZOID["sp"]}
    saved = _json(
        client,
        token,
        "PUT",
        f"/radiographs/{radiograph}/reading",
        {"landmarks": {"L1": only_two}, "version": version},
    )
    assert saved.status_code == 200, saved.text
    refused = _json(
        client,
        token,
        "POST",
        f"/radiographs/{radiograph}/submit",
        {"version": saved.json()["version"]},
    )
    assert refused.status_code == 422
    messages = " ".join(d["msg"] for d in refused.json()["detail"])
    assert CJK.search(messages), messages
    assert _rows(readers, "SELECT submitted_at FROM reading WHERE submitted_at IS NOT NULL") == []
    stale = _json(
        client,
        token,
        "PUT",
        f"/radiographs/{radiograph}/reading",
        {"landmarks": {"L1": TRAPEZOID}, "version": version},
    )
    assert stale.status_code == 409


def test_a_submitted_reading_is_stored_as_a_measurement_and_can_no_longer_change(
    readers: Web,
) -> None:
    radiograph = readers.shared[("radiograph",)]["id"]
    client, token = _signed_in(readers, "observer")
    _calibrate(readers, client, token, radiograph)
    submitted = _read_and_submit(client, token, radiograph, TRAPEZOID)
    assert submitted["submitted"] is True
    stored = _rows(
        readers,
        "SELECT m.observer, m.anterior_height_mm, m.posterior_height_mm, m.wedge_angle_deg "
        "FROM measurement m WHERE m.radiograph_id = :id",
        id=radiograph,
    )
    assert len(stored) == 1
    observer, anterior, posterior, wedge = stored[0]
    assert observer == "observer"
    assert anterior == pytest.approx(15.0)
    assert posterior == pytest.approx(25.0)
    assert wedge == pytest.approx(WEDGE_ANGLE_DEG)
    again = _json(
        client,
        token,
        "PUT",
        f"/radiographs/{radiograph}/reading",
        {"landmarks": {"L1": TRAPEZOID}, "version": submitted["version"]},
    )
    assert again.status_code == 409
    page = client.get(f"/radiographs/{radiograph}")
    assert 'id="submitted-flag"' in page.text
    assert 'id="save-draft"' not in page.text


# --- blinding and the comparison ---------------------------------------------------------------

FIRST_READER = {
    "sa": [101.125, 100.375],
    "sp": [250.625, 100.875],
    "ia": [101.375, 176.125],
    "ip": [250.875, 224.625],
}
"""Observer 1's points: coordinates no other reading here has, to look for in pages."""
SECOND_READER = {
    "sa": [100.0, 100.0],
    "sp": [250.0, 100.0],
    "ia": [100.0, 150.0],
    "ip": [250.0, 225.0],
}
"""Observer 2's points: Ha 50 px = 10 mm (5 mm less than observer 1's): over 2 mm."""


def test_the_second_observer_sees_nothing_of_the_first_until_both_have_submitted(
    readers: Web,
) -> None:
    radiograph = readers.shared[("radiograph",)]["id"]
    first, first_token = _signed_in(readers, "observer")
    _calibrate(readers, first, first_token, radiograph)
    done = _read_and_submit(first, first_token, radiograph, FIRST_READER)
    first_ha = done["readouts"]["L1"]["anterior_height_mm"]
    assert first_ha == pytest.approx(math.dist(FIRST_READER["sa"], FIRST_READER["ia"]) * 0.2)

    second, second_token = _signed_in(readers, "observer2")
    marks = ("101.125", "250.625", "176.125", "224.625", repr(first_ha))
    seen = [
        second.get(f"/radiographs/{radiograph}").text,
        second.get("/patients/OWN-1/radiographs").text,
        second.get("/measurements").text,
        _json(
            second,
            second_token,
            "POST",
            f"/radiographs/{radiograph}/readout",
            {"level": "L1", "landmarks": SECOND_READER},
        ).text,
    ]
    for text_seen in seen:
        for mark in marks:
            assert mark not in text_seen
    assert second.get(f"/radiographs/{radiograph}/compare").status_code == 403

    _read_and_submit(second, second_token, radiograph, SECOND_READER)
    compare = second.get(f"/radiographs/{radiograph}/compare")
    assert compare.status_code == 200
    assert 'data-observer="observer"' in compare.text
    assert 'data-observer="observer2"' in compare.text
    row = re.search(
        r'<tr class="exceeds" data-level="L1" data-field="anterior_height_mm">(.*?)</tr>',
        compare.text,
        re.S,
    )
    assert row is not None, "the anterior height difference is not marked over the threshold"
    lead, _ = _signed_in(readers, "investigator")
    listing = lead.get("/patients/OWN-1/radiographs")
    assert f'href="/radiographs/{radiograph}/compare"' in listing.text
    assert 'id="adjudication-form"' in lead.get(f"/radiographs/{radiograph}/compare").text


def test_an_adjudication_request_assigns_a_third_reader(readers: Web) -> None:
    radiograph = readers.shared[("radiograph",)]["id"]
    readers.registry.add_user("judge", role="observer", password=PASSWORD, sites=["MAIN"])
    first, first_token = _signed_in(readers, "observer")
    _calibrate(readers, first, first_token, radiograph)
    _read_and_submit(first, first_token, radiograph, FIRST_READER)
    second, second_token = _signed_in(readers, "observer2")
    _read_and_submit(second, second_token, radiograph, SECOND_READER)
    lead, token = _signed_in(readers, "investigator")
    answer = lead.post(
        f"/radiographs/{radiograph}/adjudication", data={"csrf_token": token, "observer": "judge"}
    )
    assert answer.status_code == 303, answer.text
    roles = _rows(
        readers,
        "SELECT u.username, r.role FROM reading r JOIN user_account u ON u.id = r.observer_id "
        "WHERE r.radiograph_id = :id ORDER BY u.username",
        id=radiograph,
    )
    assert roles == [("judge", "adjudicator"), ("observer", "primary"), ("observer2", "primary")]
    assert (
        "An adjudicating reading has been requested."
        in lead.get(f"/radiographs/{radiograph}/compare").text
    )


def test_the_observers_work_list_shows_the_radiographs_waiting_for_them(readers: Web) -> None:
    radiograph = readers.shared[("radiograph",)]["id"]
    client, _ = _signed_in(readers, "observer")
    page = client.get("/measurements")
    assert page.status_code == 200
    block = page.text.split('id="readings-waiting"', 1)[1].split("</section>", 1)[0]
    assert f'href="/radiographs/{radiograph}"' in block
    assert "waiting" in block
    assert "L1, L2" in block


def test_the_patient_page_links_to_the_radiographs_for_readers_only(web: Web) -> None:
    observer, _ = _signed_in(web, "observer")
    assert 'id="radiographs-link"' in observer.get("/patients/OWN-1").text
    analyst, _ = _signed_in(web, "analyst")
    assert 'id="radiographs-link"' not in analyst.get("/patients/OWN-1").text


def test_an_upload_is_held_in_memory_never_spooled_to_a_temporary_file(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starlette's form parser spools a file over 1 MB to the system's temporary folder;
    the upload page reads the body itself, so a 2 MB image never touches it."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the upload was spooled to a temporary file")

    monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile", refuse)
    noise = np.random.default_rng(7).integers(0, 256, size=(1000, 1400), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, format="PNG")
    assert out.tell() > 1024 * 1024
    client, token = _signed_in(web, "investigator")
    assert _upload(client, token, out.getvalue()).status_code == 303
    assert _rows(web, "SELECT width, height FROM radiograph") == [(1400, 1000)]


def test_a_file_over_the_size_limit_is_refused_and_nothing_is_stored(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(radiograph_pages, "MAX_UPLOAD_BYTES", 10_000)
    client, token = _signed_in(web, "investigator")
    answer = _upload(client, token, _png(400, 320) + b"\0" * 20_000)
    assert answer.status_code == 413
    assert _rows(web, "SELECT id FROM radiograph") == []
