"""Issue 7's radiograph reading in the browser, as people would do it (a data folder of its own).

A synthetic lateral "radiograph" is built here with pydicom: 1200 × 1000 16-bit pixels,
PixelSpacing 0.2 mm, three vertebral bodies drawn as bright quadrilaterals whose corners
are known, and a patient name ("Li^Lei") and ID set. An investigator uploads it for a
patient with a preoperative visit and assigns two observers. Observer 1 opens the
annotator, zooms in with the wheel and pans by dragging (away from 1:1), clicks the ten
landmarks at their known positions, checks the read-out against the geometry worked out
below, and submits. Observer 2 (in Chinese) sees nothing of observer 1's values, reads
the same image and submits. The comparison then shows both, and the report's agreement
table counts the pair.

Expected values are worked out here by hand from the drawn corners (CLINICAL.md §4:
heights are corner distances × spacing; the wedge angle is between the index vertebra's
endplates, the segmental kyphotic angle between the superior endplate of the vertebra
above and the inferior endplate of the vertebra below, positive when the lines are closer
anteriorly; the Genant grade from 1 − min(Ha, Hm)/Hp without neighbours). The tolerance is
what half a screen pixel at the zoom in use allows.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser_demo import DEMO_PASSWORD, shoot, signed_in
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page, expect
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

pytestmark = pytest.mark.browser

CODE = "RAD-0001"
"""A patient made for this test (from a demo patient's rows): the demo's patients have
both demo observers' readings at every time point, so a third and fourth reading there
would not form a pair."""
TEMPLATE = "DEMO-000003"
LEVEL = "T11"
PATIENT_NAME = "Li^Lei"
PATIENT_ID = "LL-778899"
ROWS, COLUMNS = 1000, 1200
SPACING_MM = 0.2
VIEWPORT = {"width": 1280, "height": 900}
REPORT_TIMEOUT_MS = 180_000
CLI_TIMEOUT_SECONDS = 120
WHEEL_NOTCHES = 5
DEMO_PAIRS = 195
"""`kyphos demo`: 65 treated vertebrae × 3 time points read by both demo observers."""

Point = tuple[float, float]

# The index vertebra (x to the right = posterior, y down), and its neighbours.
INDEX: dict[str, Point] = {
    "sa": (460.0, 390.0),
    "sp": (660.0, 380.0),
    "ia": (470.0, 500.0),
    "ip": (665.0, 530.0),
    "sm": (560.0, 395.0),
    "im": (567.0, 510.0),
}
ABOVE_BODY: list[Point] = [(450.0, 200.0), (650.0, 190.0), (650.0, 330.0), (455.0, 335.0)]
BELOW_BODY: list[Point] = [(470.0, 590.0), (668.0, 600.0), (670.0, 712.0), (470.0, 700.0)]
ABOVE = (ABOVE_BODY[0], ABOVE_BODY[1])  # superior endplate of the vertebra above: ant., post.
BELOW = (BELOW_BODY[3], BELOW_BODY[2])  # inferior endplate of the vertebra below: ant., post.
CLICKS: list[tuple[str, Point]] = [
    *((name, INDEX[name]) for name in ("sa", "sp", "ia", "ip", "sm", "im")),
    ("above.0", ABOVE[0]),
    ("above.1", ABOVE[1]),
    ("below.0", BELOW[0]),
    ("below.1", BELOW[1]),
]


def _distance(a: Point, b: Point) -> float:
    return math.hypot(b[0] - a[0], b[1] - a[1])


def _inclination_deg(anterior: Point, posterior: Point) -> float:
    """How far a line from its anterior to its posterior end turns downwards on the image
    (y grows downwards), in degrees."""
    return math.degrees(math.atan2(posterior[1] - anterior[1], posterior[0] - anterior[0]))


# Worked out by hand: Ha = |sa ia|, Hp = |sp ip|, Hm = |sm im| (pixels × 0.2 mm).
HA_MM = _distance(INDEX["sa"], INDEX["ia"]) * SPACING_MM  # √(10² + 110²) × 0.2 = 22.09
HP_MM = _distance(INDEX["sp"], INDEX["ip"]) * SPACING_MM  # √(5² + 150²) × 0.2 = 30.02
HM_MM = _distance(INDEX["sm"], INDEX["im"]) * SPACING_MM  # √(7² + 115²) × 0.2 = 23.04
WEDGE_RATIO = HA_MM / HP_MM
# The endplates are closer anteriorly (Ha < Hp): kyphotic, positive. Superior endplate
# rises 10 px over 200 px, inferior one falls 30 px over 195 px:
# atan(30/195) + atan(10/200) = 8.75° + 2.86° = 11.61°.
WEDGE_DEG = _inclination_deg(INDEX["ia"], INDEX["ip"]) - _inclination_deg(INDEX["sa"], INDEX["sp"])
# Above: rises 10 px over 200 px; below: falls 12 px over 200 px → 2.86° + 3.43° = 6.30°.
KYPHOTIC_DEG = _inclination_deg(*BELOW) - _inclination_deg(*ABOVE)
# Genant (no neighbours measured): 1 − min(Ha, Hm)/Hp = 1 − 22.09/30.02 = 0.264 → grade 2.
GENANT_GRADE = 2


def _radiograph(path: Path) -> None:
    """The synthetic lateral radiograph: three bright bodies on a darker background."""
    mask = Image.new("L", (COLUMNS, ROWS), 0)
    draw = ImageDraw.Draw(mask)
    index_body = [INDEX["sa"], INDEX["sp"], INDEX["ip"], INDEX["ia"]]
    for body in (ABOVE_BODY, index_body, BELOW_BODY):
        draw.polygon(body, fill=255)
    bright = np.asarray(mask, dtype=np.uint16) * 12  # up to 3060
    rows = np.arange(ROWS, dtype=np.uint16)[:, None]
    pixels = (400 + rows // 4 + bright).astype(np.uint16)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # digital X-ray, presentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = ROWS, COLUMNS
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.PixelSpacing = [SPACING_MM, SPACING_MM]
    ds.PixelData = pixels.tobytes()
    dcmwrite(path, ds, enforce_file_format=True)


def _kyphos(home: Path, *args: str, stdin: str | None = None) -> None:
    env = {**os.environ, "KYPHOS_HOME": str(home)}
    for variable in ("KYPHOS_DATABASE_URL", "KYPHOS_SECRET_KEY", "KYPHOS_LANG"):
        env.pop(variable, None)
    done = subprocess.run(
        [sys.executable, "-m", "kyphos", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"`kyphos {' '.join(args)}` failed:\n{done.stdout}{done.stderr}")


def _new_patient(home: Path, work: Path) -> None:
    """CODE: the demo patient TEMPLATE's patient, vertebra and procedure rows and its
    preoperative visit, imported under a new study code (no measurements)."""
    exported = work / "export"
    _kyphos(home, "export", str(exported), "--format", "csv")
    workbook = work / "workbook"
    workbook.mkdir()
    for sheet in ("patients", "vertebrae", "procedures", "visits"):
        header, *rows = (exported / f"{sheet}.csv").read_text(encoding="utf-8").splitlines()
        kept = [
            CODE + row[len(TEMPLATE) :]
            for row in rows
            if row.startswith(f"{TEMPLATE},")
            and (sheet != "visits" or row.startswith(f"{TEMPLATE},preop,"))
        ]
        (workbook / f"{sheet}.csv").write_text("\n".join([header, *kept]) + "\n", "utf-8")
    _kyphos(home, "import", str(workbook))


@pytest.fixture(scope="module")
def radiology(clinic: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The module's server (``clinic``, a fresh demo registry) with patient CODE and a
    second observer, ``observer2``."""
    work = tmp_path_factory.mktemp("radiology")
    _new_patient(clinic.home, work)
    _kyphos(
        clinic.home,
        "user",
        "add",
        "observer2",
        "--role",
        "observer",
        "--site",
        "MAIN",
        "--password-stdin",
        stdin=DEMO_PASSWORD + "\n",
    )
    return clinic


@pytest.fixture
def open_as(browser: Browser, radiology: Any) -> Iterator[Any]:
    """``open_as(user)``: a fresh browser context signed in as ``user``."""
    contexts = []

    def opened(username: str) -> Page:
        context = browser.new_context(base_url=radiology.url, viewport=VIEWPORT)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        signed_in(page, username)
        return page

    yield opened
    for context in contexts:
        context.close()


# --- the annotator, driven with the mouse ------------------------------------------------------


def _stage(page: Page) -> dict[str, float]:
    box = page.locator("#annotator-canvas").bounding_box()
    assert box is not None
    return box


def _screen(page: Page, point: Point) -> Point:
    at = page.evaluate("([x, y]) => window.kyphosAnnotator.imageToScreen(x, y)", list(point))
    return float(at["x"]), float(at["y"])


def _view(page: Page) -> dict[str, float]:
    view: dict[str, float] = page.evaluate("() => window.kyphosAnnotator.view()")
    return view


def _inside(box: dict[str, float], at: Point, margin: float = 12.0) -> bool:
    return (
        box["x"] + margin <= at[0] <= box["x"] + box["width"] - margin
        and box["y"] + margin <= at[1] <= box["y"] + box["height"] - margin
    )


def _drag(page: Page, start: Point, end: Point) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()


def _zoom_and_pan(page: Page) -> None:
    """Zoom in with the wheel over the stage, then drag the middle of the three bodies to
    the middle of the stage: the view is then neither the fitted one nor 1:1."""
    box = _stage(page)
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.move(*centre)
    fitted = _view(page)["zoom"]
    for _ in range(WHEEL_NOTCHES):
        page.mouse.wheel(0, -100)
        page.wait_for_timeout(80)
    zoomed = _view(page)
    assert zoomed["zoom"] > fitted * 1.5
    middle = ((INDEX["sa"][0] + INDEX["ip"][0]) / 2, (ABOVE[0][1] + BELOW[1][1]) / 2)
    _drag(page, _screen(page, middle), (centre[0] + 7.3, centre[1] + 5.6))
    panned = _view(page)
    assert (panned["panX"], panned["panY"]) != (zoomed["panX"], zoomed["panY"])
    assert abs(panned["zoom"] - 1.0) > 0.05, "the view must not be 1:1"


def _visible(page: Page) -> dict[str, float]:
    """The part of the stage inside the browser window."""
    box = _stage(page)
    bottom = min(box["y"] + box["height"], VIEWPORT["height"])
    return {"x": box["x"], "y": box["y"], "width": box["width"], "height": bottom - box["y"]}


def _free_spot(page: Page, placed: list[Point]) -> Point:
    """A place on the visible stage at least 30 pixels from every point placed (a drag
    starting there pans instead of moving a point)."""
    box = _visible(page)
    for fx, fy in ((0.5, 0.5), (0.2, 0.5), (0.8, 0.5), (0.5, 0.2), (0.5, 0.8), (0.1, 0.1)):
        spot = (box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        if all(_distance(spot, _screen(page, p)) > 30 for p in placed):
            return spot
    raise AssertionError("no free spot on the stage to drag from")


def _place(page: Page, slot: str, point: Point, placed: list[Point]) -> None:
    """Click at ``point``'s place on the screen once the prompt asks for ``slot``,
    dragging the image first when that place is off the visible stage."""
    prompt = page.locator("#prompt")
    expect(prompt).to_have_attribute("data-slot", slot)
    at = _screen(page, point)
    box = _visible(page)
    if not _inside(box, at):
        start = _free_spot(page, placed)
        centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        _drag(page, start, (start[0] + centre[0] - at[0], start[1] + centre[1] - at[1]))
        at = _screen(page, point)
    assert _inside(box, at), f"{slot} at {at} is outside the stage"
    page.mouse.click(*at)
    placed.append(point)


def _read_landmarks(page: Page) -> dict[str, float]:
    """Place every landmark, and give what the read-out shows (full values)."""
    _zoom_and_pan(page)
    placed: list[Point] = []
    for slot, point in CLICKS:
        _place(page, slot, point, placed)
    expect(page.locator("#prompt")).to_have_attribute("data-slot", "")
    # undo the last point and redo it: the prompt asks for it again, then is done
    page.keyboard.press("Control+z")
    expect(page.locator("#prompt")).to_have_attribute("data-slot", "below.1")
    page.keyboard.press("Control+y")
    expect(page.locator("#prompt")).to_have_attribute("data-slot", "")
    expect(page.locator("#annotator")).to_have_attribute("data-readout", "done")
    expect(page.locator("#out-kyphotic_angle_deg")).to_have_attribute("data-value", re.compile("."))
    values = {}
    for name in (
        "anterior_height_mm",
        "middle_height_mm",
        "posterior_height_mm",
        "wedge_ratio",
        "wedge_angle_deg",
        "kyphotic_angle_deg",
        "genant_grade",
    ):
        output = page.locator(f"#out-{name}")
        values[name] = float(output.get_attribute("data-value") or "nan")
        values[name + ":text"] = float(re.sub(r"[^0-9.\-]", "", output.inner_text()))
    return values


def _tolerances(zoom: float) -> dict[str, float]:
    """What half a screen pixel (CSS pixel, device pixel ratio 1) at ``zoom`` allows: each
    point may be off by up to ½ px on both axes, ½·√2 / zoom image pixels; a distance
    between two points by twice that; a line's angle by twice that over its length."""
    off = 0.5 * math.sqrt(2) / zoom

    def angle_deg(*lines: tuple[Point, Point]) -> float:
        return math.degrees(sum(2 * off / _distance(a, b) for a, b in lines))

    return {
        "height_mm": 2 * off * SPACING_MM,
        "wedge_angle_deg": angle_deg((INDEX["sa"], INDEX["sp"]), (INDEX["ia"], INDEX["ip"])),
        "kyphotic_angle_deg": angle_deg(ABOVE, BELOW),
    }


def _check(values: dict[str, float], zoom: float) -> None:
    allowed = _tolerances(zoom)
    shown = 0.05  # the page shows one decimal
    for name, expected in (
        ("anterior_height_mm", HA_MM),
        ("middle_height_mm", HM_MM),
        ("posterior_height_mm", HP_MM),
    ):
        assert values[name] == pytest.approx(expected, abs=allowed["height_mm"]), name
        assert values[name + ":text"] == pytest.approx(expected, abs=allowed["height_mm"] + shown)
    for name, expected in (("wedge_angle_deg", WEDGE_DEG), ("kyphotic_angle_deg", KYPHOTIC_DEG)):
        assert values[name] == pytest.approx(expected, abs=allowed[name]), name
        assert values[name + ":text"] == pytest.approx(expected, abs=allowed[name] + shown)
    ratio_allowed = (HA_MM + allowed["height_mm"]) / (HP_MM - allowed["height_mm"]) - WEDGE_RATIO
    assert values["wedge_ratio"] == pytest.approx(WEDGE_RATIO, abs=ratio_allowed)
    assert values["genant_grade"] == GENANT_GRADE


def _submit(page: Page) -> None:
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#submit-reading").click()
    expect(page.locator("#annotator")).to_have_attribute("data-submitted", "true")


def _stored(home: Path, observer: str) -> tuple[float, float, float, float]:
    with sqlite3.connect(home / "kyphos.db") as db:
        row = db.execute(
            "SELECT m.anterior_height_mm, m.posterior_height_mm, m.wedge_angle_deg, "
            "m.kyphotic_angle_deg FROM measurement m JOIN vertebra v ON v.id = m.vertebra_id "
            "JOIN patient p ON p.id = v.patient_id WHERE p.study_code = ? AND m.observer = ?",
            (CODE, observer),
        ).fetchone()
    assert row is not None, f"no measurement of {observer}"
    return row  # type: ignore[no-any-return]


def _agreement_pairs(page: Page) -> dict[str, str]:
    """Outcome → pairs, from the report's agreement table (Table 5)."""
    page.goto("/report")
    report = page.frame_locator("iframe.report-frame")
    table = report.locator("table", has_text="Agreement between the two observers")
    expect(table).to_be_visible(timeout=REPORT_TIMEOUT_MS)
    rows = table.locator("tbody tr")
    return {
        rows.nth(n).locator("td").nth(0).inner_text(): rows.nth(n).locator("td").nth(1).inner_text()
        for n in range(rows.count())
    }


def test_two_observers_read_an_uploaded_radiograph_blind_and_the_report_counts_the_pair(
    radiology: Any, open_as: Any, screenshots: Path, tmp_path: Path
) -> None:
    dicom = tmp_path / "lateral.dcm"
    _radiograph(dicom)

    # The investigator uploads the radiograph and assigns both observers.
    lead = open_as("investigator")
    lead.goto(f"/patients/{CODE}")
    lead.locator("#radiographs-link").click()
    expect(lead).to_have_url(re.compile(rf"/patients/{CODE}/radiographs$"))
    lead.locator("#upload-file").set_input_files(str(dicom))
    lead.locator("#upload-timepoint").select_option("preop")
    lead.locator("#upload").click()
    row = lead.locator("#radiographs tbody tr[data-radiograph]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(f"{COLUMNS} × {ROWS}")
    expect(row).to_contain_text("DICOM PixelSpacing")
    listing = lead.content()
    for identifying in ("Li^Lei", "Li Lei", PATIENT_ID):
        assert identifying not in listing
    for observer in ("observer", "observer2"):
        row.locator("form.assign-form input[name='observer']").fill(observer)
        row.locator("form.assign-form button").click()
        expect(row.locator(f"li[data-observer='{observer}']")).to_be_visible()
    radiograph = row.get_attribute("data-radiograph")
    shoot(lead, screenshots, "annotator-list-en")

    # Observer 1 finds it on the work list, reads it zoomed and panned, and submits.
    first = open_as("observer")
    first.goto("/measurements")
    first.locator(f"#readings-waiting a[href='/radiographs/{radiograph}']").click()
    expect(first.locator("#annotator")).to_have_attribute("data-ready", "true")
    expect(first.locator("#vertebra")).to_have_value(LEVEL)
    values = _read_landmarks(first)
    zoom = _view(first)["zoom"]
    _check(values, zoom)
    first.keyboard.press("0")  # the whole image again, for the picture
    shoot(first, screenshots, "annotator-en")
    _submit(first)
    stored = _stored(radiology.home, "observer")
    allowed = _tolerances(zoom)
    assert stored[0] == pytest.approx(HA_MM, abs=allowed["height_mm"])
    assert stored[1] == pytest.approx(HP_MM, abs=allowed["height_mm"])
    assert stored[2] == pytest.approx(WEDGE_DEG, abs=allowed["wedge_angle_deg"])
    assert stored[3] == pytest.approx(KYPHOTIC_DEG, abs=allowed["kyphotic_angle_deg"])

    # Observer 2, in Chinese, sees none of observer 1's values before submitting.
    second = open_as("observer2")
    second.goto(f"/radiographs/{radiograph}?lang=zh")
    expect(second.locator("#annotator")).to_have_attribute("data-ready", "true")
    blind = second.content()
    for value in (values["anterior_height_mm"], values["kyphotic_angle_deg"]):
        assert f"{value:.1f}" not in second.locator("#readout").inner_text()
        assert repr(value) not in blind
    state = second.evaluate("() => JSON.parse(document.getElementById('annotator-state').text)")
    assert state["reading"]["landmarks"] == {}
    assert second.goto(f"/radiographs/{radiograph}/compare").status == 403
    second.goto(f"/radiographs/{radiograph}?lang=zh")
    expect(second.locator("#annotator")).to_have_attribute("data-ready", "true")
    assert re.search(r"[\u4e00-\u9fff]", second.locator("#prompt").inner_text())
    _check(_read_landmarks(second), _view(second)["zoom"])
    second.keyboard.press("0")
    shoot(second, screenshots, "annotator-zh")
    _submit(second)

    # The comparison shows both readings; the report counts the pair.
    lead.goto(f"/radiographs/{radiograph}/compare")
    for observer in ("observer", "observer2"):
        expect(lead.locator(f"#overlay g[data-observer='{observer}']")).to_have_count(1)
    expect(lead.locator("#comparison tbody tr")).not_to_have_count(0)
    shoot(lead, screenshots, "annotator-compare-en")
    pairs = _agreement_pairs(lead)
    assert pairs["Anterior vertebral height (mm)"] == str(DEMO_PAIRS + 1)
    assert pairs["Kyphotic (Cobb) angle (°)"] == str(DEMO_PAIRS + 1)


def test_the_synthetic_radiograph_carries_what_the_test_needs(tmp_path: Path) -> None:
    """The DICOM this module builds: its size, spacing, name and bright bodies (read back
    with pydicom and Pillow, not kyphos)."""
    from pydicom import dcmread

    path = tmp_path / "lateral.dcm"
    _radiograph(path)
    ds = dcmread(path)
    assert (ds.Rows, ds.Columns) == (ROWS, COLUMNS)
    assert [float(v) for v in ds.PixelSpacing] == [SPACING_MM, SPACING_MM]
    assert str(ds.PatientName) == PATIENT_NAME
    pixels = ds.pixel_array
    inside = pixels[int(INDEX["sm"][1]) + 40, int(INDEX["sm"][0])]
    outside = pixels[int(INDEX["sm"][1]) + 40, 100]
    assert inside > outside + 2000


def test_clicks_land_on_full_resolution_pixels_on_a_downscaled_level_at_pixel_ratio_2(
    browser: Browser, radiology: Any, tmp_path: Path
) -> None:
    """Zoomed far out on a screen of device pixel ratio 2, the viewer draws a halved display
    level; the corners clicked there still give the heights and angle of the drawn body."""
    dicom = tmp_path / "lateral.dcm"
    _radiograph(dicom)
    context = browser.new_context(base_url=radiology.url, viewport=VIEWPORT, device_scale_factor=2)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        signed_in(page, "investigator")
        page.goto(f"/patients/{CODE}/radiographs")
        page.locator("#upload-file").set_input_files(str(dicom))
        page.locator("#upload-timepoint").select_option("preop")
        page.locator("#upload").click()
        row = page.locator("#radiographs tbody tr[data-radiograph]").last
        row.locator("form.assign-form input[name='observer']").fill("investigator")
        row.locator("form.assign-form button").click()
        row = page.locator("#radiographs tbody tr[data-radiograph]").last
        expect(row.locator("li[data-observer='investigator']")).to_be_visible()
        row.locator("a.open-annotator").click()
        expect(page.locator("#annotator")).to_have_attribute("data-ready", "true")
        assert page.evaluate("() => window.devicePixelRatio") == 2
        box = _stage(page)
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        for _ in range(20):  # zoom out until the viewer draws a smaller display level
            page.mouse.wheel(0, 100)
            page.wait_for_timeout(80)
            if _view(page)["zoom"] * COLUMNS * 2 <= COLUMNS / 2:
                break
        expect(page.locator("#annotator")).to_have_attribute("data-level", "1")
        view = _view(page)
        assert view["level"] == 1
        assert view["scale"] == pytest.approx(2.0)  # one display pixel = 2 image pixels
        placed: list[Point] = []
        for slot, point in CLICKS[:4]:
            _place(page, slot, point, placed)
        expect(page.locator("#annotator")).to_have_attribute("data-readout", "done")
        expect(page.locator("#out-wedge_angle_deg")).to_have_attribute(
            "data-value", re.compile(".")
        )
        allowed = _tolerances(view["zoom"])
        shown = {
            name: float(page.locator(f"#out-{name}").get_attribute("data-value") or "nan")
            for name in ("anterior_height_mm", "posterior_height_mm", "wedge_angle_deg")
        }
        assert shown["anterior_height_mm"] == pytest.approx(HA_MM, abs=allowed["height_mm"])
        assert shown["posterior_height_mm"] == pytest.approx(HP_MM, abs=allowed["height_mm"])
        assert shown["wedge_angle_deg"] == pytest.approx(WEDGE_DEG, abs=allowed["wedge_angle_deg"])
    finally:
        context.close()
