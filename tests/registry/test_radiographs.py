"""Radiographs and blinded two-observer readings (issue 7): ``kyphos.registry.radiographs``.

The image is a small synthetic DICOM (0.5 mm pixels) on which a T12 body is "read" at
landmark positions chosen here, so every value is worked out by hand:

* observer A: corners sa (50, 40), sp (110, 40), ia (50, 70), ip (110, 90) and mid-points
  sm (80, 40), im (80, 80): Ha = 30 px = 15 mm, Hp = 50 px = 25 mm, Hm = 40 px = 20 mm,
  a 60 px = 30 mm deep trapezoid: wedge angle atan(10/30) = 18.4349° (CLINICAL.md §4).
  The superior endplate of T11 is horizontal at y = 10, the inferior endplate of L1 runs
  from (50, 120) to (110, 120 + 60·tan 15°): closer anteriorly, a kyphotic angle of 15°.
* observer B: the same but ia at (50, 76): Ha = 36 px = 18 mm (3 mm more than A, over the
  2 mm threshold) and a wedge angle of atan(14/60) = 13.1340° (5.30° less, over 5°).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from sqlalchemy import text

from kyphos import imaging
from kyphos.analysis import load_dataset
from kyphos.analysis.results import compute_report
from kyphos.clinical.errors import ClinicalValueError
from kyphos.errors import ConflictError, NotFoundError
from kyphos.exchange.exporter import export_workbook
from kyphos.exchange.importer import ImportFailed, import_workbook
from kyphos.registry import browse, editing, radiographs
from kyphos.registry.access import Principal
from kyphos.registry.editing import AccessDenied
from kyphos.registry.repository import Registry

ADMIN = Principal(user_id=0, username="test-admin", role="admin", site_ids=frozenset())
DIGITAL_XRAY = "1.2.840.10008.5.1.4.1.1.1.1"
IDENTITY = ("Zhang^Wei", "H123456", "Secret Hospital", "19480312")

TAN15 = math.tan(math.radians(15.0))
READING_A: dict[str, Any] = {
    "sa": [50, 40],
    "sp": [110, 40],
    "ia": [50, 70],
    "ip": [110, 90],
    "sm": [80, 40],
    "im": [80, 80],
    "above": [[50, 10], [110, 10]],
    "below": [[50, 120], [110, 120 + 60 * TAN15]],
}
READING_B: dict[str, Any] = {**READING_A, "ia": [50, 76]}


def dicom_bytes(*, spacing: tuple[float, float] | None = (0.5, 0.5), rows: int = 160) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DIGITAL_XRAY
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = DIGITAL_XRAY
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = IDENTITY[0]
    ds.PatientID = IDENTITY[1]
    ds.InstitutionName = IDENTITY[2]
    ds.PatientBirthDate = IDENTITY[3]
    ds.Modality = "DX"
    ds.Rows, ds.Columns = rows, 200
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if spacing is not None:
        ds.PixelSpacing = list(spacing)
    pixels = np.zeros((rows, 200), dtype=np.uint16)
    pixels[40:90, 50:110] = 3000
    ds.PixelData = pixels.tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def png_bytes() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.full((160, 200), 128, dtype=np.uint8)).save(out, format="PNG")
    return out.getvalue()


def user(registry: Registry, name: str, role: str, *sites: str) -> Principal:
    return Principal.of(registry.add_user(name, role=role, password=None, sites=list(sites)))


@pytest.fixture
def reg(registry: Registry) -> Registry:
    """MAIN-1 (T12, preop visit) at MAIN and OTHER-1 at OTHER."""
    registry.add_site("OTHER", "Other hospital")
    for code, site in (("MAIN-1", "MAIN"), ("OTHER-1", "OTHER")):
        editing.create_patient(
            registry, ADMIN, {"patient_id": code, "site": site, "sex": "F", "age": 70}
        )
        editing.create_item(registry, ADMIN, code, "vertebrae", {"level": "T12", "treated": True})
        editing.create_item(registry, ADMIN, code, "visits", {"timepoint": "preop"})
    return registry


@pytest.fixture
def people(reg: Registry) -> dict[str, Principal]:
    return {
        "inv": user(reg, "inv", "investigator", "MAIN"),
        "a": user(reg, "obs-a", "observer", "MAIN"),
        "b": user(reg, "obs-b", "observer", "MAIN"),
        "c": user(reg, "obs-c", "observer", "MAIN"),
        "far": user(reg, "obs-far", "observer", "OTHER"),
        "analyst": user(reg, "ana", "analyst", "MAIN"),
    }


def images(reg: Registry) -> list[Path]:
    root = Path(reg.settings.home) / "images"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def count(reg: Registry, table: str) -> int:
    with reg.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def add(reg: Registry, who: Principal, code: str = "MAIN-1", data: bytes | None = None) -> int:
    return radiographs.add_radiograph(reg, who, code, "preop", data or dicom_bytes()).id


def read_and_submit(reg: Registry, who: Principal, rid: int, points: dict[str, Any]) -> None:
    version = radiographs.my_reading(reg, who, rid).version
    saved = radiographs.save_reading(reg, who, rid, {"T12": points}, version=version)
    radiographs.submit_reading(reg, who, rid, version=saved.version)


# --- upload -----------------------------------------------------------------------------------


def test_upload_keeps_spacing_and_stores_no_identity(
    reg: Registry, people: dict[str, Principal]
) -> None:
    added = radiographs.add_radiograph(reg, people["inv"], "MAIN-1", "preop", dicom_bytes())
    assert (added.width, added.height, added.kind) == (200, 160, "dicom")
    assert added.spacing_mm == (0.5, 0.5)
    assert added.spacing_source == "pixel_spacing"
    assert added.vertebrae == ["T12"]
    assert added.levels and added.levels[0] == (200, 160)
    stored = images(reg)
    assert stored
    for path in [*stored, *Path(reg.settings.home).rglob("kyphos.db*")]:
        content = path.read_bytes()
        for value in IDENTITY:
            assert value.encode() not in content, (path, value)
    with reg.engine.connect() as connection:
        for table in ("radiograph", "audit_event"):
            dumped = json.dumps(
                [list(map(str, row)) for row in connection.execute(text(f"SELECT * FROM {table}"))]
            )
            for value in IDENTITY:
                assert value not in dumped


@pytest.mark.parametrize(
    ("who", "code", "error"),
    [
        ("a", "MAIN-1", AccessDenied),
        ("analyst", "MAIN-1", AccessDenied),
        ("inv", "OTHER-1", NotFoundError),
    ],
)
def test_who_may_not_upload_stores_nothing(
    reg: Registry, people: dict[str, Principal], who: str, code: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        add(reg, people[who], code)
    assert images(reg) == [] and count(reg, "radiograph") == 0


def test_upload_to_a_missing_visit_or_a_bad_file_stores_nothing(
    reg: Registry, people: dict[str, Principal]
) -> None:
    with pytest.raises(ClinicalValueError, match="no 'final' visit"):
        radiographs.add_radiograph(reg, people["inv"], "MAIN-1", "final", dicom_bytes())
    with pytest.raises(imaging.ImageRefused):
        radiographs.add_radiograph(reg, people["inv"], "MAIN-1", "preop", b"not an image")
    assert images(reg) == [] and count(reg, "radiograph") == 0


def test_the_same_file_twice_is_refused_at_one_visit_and_stored_once_across_visits(
    reg: Registry, people: dict[str, Principal]
) -> None:
    data = dicom_bytes()
    first = add(reg, people["inv"], data=data)
    with pytest.raises(
        ClinicalValueError, match=rf"already recorded at this visit \(radiograph {first}\)"
    ):
        add(reg, people["inv"], data=data)
    assert count(reg, "radiograph") == 1
    editing.create_item(reg, ADMIN, "MAIN-1", "visits", {"timepoint": "postop"})
    second = radiographs.add_radiograph(reg, people["inv"], "MAIN-1", "postop", data).id
    assert second != first and count(reg, "radiograph") == 2
    originals = [p for p in images(reg) if "display" not in p.parts]
    assert len(originals) == 1


# --- assignments and blinding -------------------------------------------------------------------


def test_assignment_rules(reg: Registry, people: dict[str, Principal]) -> None:
    rid = add(reg, people["inv"])
    with pytest.raises(AccessDenied):
        radiographs.assign(reg, people["a"], rid, "obs-b")
    with pytest.raises(ClinicalValueError, match="cannot read"):
        radiographs.assign(reg, people["inv"], rid, "obs-far")  # not of the patient's site
    with pytest.raises(ClinicalValueError, match="cannot read"):
        radiographs.assign(reg, people["inv"], rid, "ana")
    with pytest.raises(ClinicalValueError, match="not an active user"):
        radiographs.assign(reg, people["inv"], rid, "nobody")
    radiographs.assign(reg, people["inv"], rid, "obs-a")
    with pytest.raises(ConflictError):
        radiographs.assign(reg, people["inv"], rid, "obs-a")
    with pytest.raises(NotFoundError):
        radiographs.read_radiograph(reg, people["far"], rid)
    with pytest.raises(AccessDenied):
        radiographs.my_reading(reg, people["b"], rid)  # not assigned


def test_blinded_until_both_submit_then_compared(
    reg: Registry, people: dict[str, Principal]
) -> None:
    rid = add(reg, people["inv"])
    for name in ("obs-a", "obs-b"):
        radiographs.assign(reg, people["inv"], rid, name)
    read_and_submit(reg, people["a"], rid, READING_A)

    # B has not submitted: A's values are nowhere B can look.
    with pytest.raises(AccessDenied):
        radiographs.comparison(reg, people["b"], rid)
    assert radiographs.my_reading(reg, people["b"], rid).landmarks == {}
    _, records = browse.patient_page(reg, people["b"], "MAIN-1")
    assert records.measurements == []
    assert editing.list_items(reg, people["b"], "MAIN-1", "measurements") == []
    visible = editing.list_items(reg, people["inv"], "MAIN-1", "measurements")
    assert [m["observer"] for m in visible] == ["obs-a"]
    with pytest.raises(NotFoundError):
        editing.read_item(reg, people["b"], "MAIN-1", "measurements", visible[0]["id"])
    # A submitted but the pair is incomplete: no comparison for A either.
    with pytest.raises(ConflictError, match="opens when both"):
        radiographs.comparison(reg, people["a"], rid)
    assert not radiographs.read_radiograph(reg, people["inv"], rid).comparable

    read_and_submit(reg, people["b"], rid, READING_B)
    compared = radiographs.comparison(reg, people["b"], rid)
    assert [r.observer for r in compared.readings] == ["obs-a", "obs-b"]
    diff = compared.differences["T12"]
    assert diff["anterior_height_mm"] == pytest.approx(3.0)
    assert diff["posterior_height_mm"] == pytest.approx(0.0, abs=1e-9)
    expected_wedge = math.degrees(math.atan(14 / 60)) - math.degrees(math.atan(10 / 30))
    assert diff["wedge_angle_deg"] == pytest.approx(expected_wedge)
    assert diff["kyphotic_angle_deg"] == pytest.approx(0.0, abs=1e-9)
    assert sorted(compared.exceeds["T12"]) == ["anterior_height_mm", "wedge_angle_deg"]
    assert len(editing.list_items(reg, people["b"], "MAIN-1", "measurements")) == 2


def test_submitted_values_come_from_the_landmarks(
    reg: Registry, people: dict[str, Principal]
) -> None:
    rid = add(reg, people["inv"])
    radiographs.assign(reg, people["inv"], rid, "obs-a")
    read_and_submit(reg, people["a"], rid, READING_A)
    (stored,) = editing.list_items(reg, people["inv"], "MAIN-1", "measurements")
    assert stored["anterior_height_mm"] == pytest.approx(15.0)
    assert stored["middle_height_mm"] == pytest.approx(20.0)
    assert stored["posterior_height_mm"] == pytest.approx(25.0)
    assert stored["wedge_angle_deg"] == pytest.approx(math.degrees(math.atan(10 / 30)))
    assert stored["kyphotic_angle_deg"] == pytest.approx(15.0)
    assert (stored["observer"], stored["role"]) == ("obs-a", "primary")
    with reg.engine.connect() as connection:
        landmarks, source = connection.execute(
            text("SELECT landmarks, spacing_source FROM measurement")
        ).one()
    assert json.loads(landmarks)["ia"] == [50, 70]
    assert source == "pixel_spacing"
    with pytest.raises(ConflictError):
        radiographs.save_reading(reg, people["a"], rid, {"T12": READING_B}, version=3)
    with pytest.raises(ClinicalValueError, match="comes from landmarks"):
        editing.update_item(
            reg, ADMIN, "MAIN-1", "measurements", stored["id"], {"anterior_height_mm": 16},
            version=stored["version"],
        )  # fmt: skip


def test_a_draft_is_checked_and_an_incomplete_reading_is_not_submitted(
    reg: Registry, people: dict[str, Principal]
) -> None:
    rid = add(reg, people["inv"])
    radiographs.assign(reg, people["inv"], rid, "obs-a")
    version = radiographs.my_reading(reg, people["a"], rid).version
    with pytest.raises(ClinicalValueError, match="outside the image"):
        radiographs.save_reading(reg, people["a"], rid, {"T12": {"sa": [500, 5]}}, version=version)
    with pytest.raises(ClinicalValueError, match="L3 of this patient is not recorded"):
        radiographs.save_reading(reg, people["a"], rid, {"L3": {"sa": [5, 5]}}, version=version)
    partial = {"sa": [50, 40], "sp": [110, 40], "ia": [50, 70]}
    saved = radiographs.save_reading(reg, people["a"], rid, {"T12": partial}, version=version)
    assert saved.readouts["T12"].missing == ["ip", "sm", "im", "above", "below"]
    with pytest.raises(ClinicalValueError, match="missing: ip"):
        radiographs.submit_reading(reg, people["a"], rid, version=saved.version)
    assert count(reg, "measurement") == 0


def test_adjudication_only_when_the_readings_differ(
    reg: Registry, people: dict[str, Principal]
) -> None:
    agreeing = add(reg, people["inv"])
    for name in ("obs-a", "obs-b"):
        radiographs.assign(reg, people["inv"], agreeing, name)
    read_and_submit(reg, people["a"], agreeing, READING_A)
    read_and_submit(reg, people["b"], agreeing, READING_A)
    with pytest.raises(ConflictError, match="agree within"):
        radiographs.request_adjudication(reg, people["inv"], agreeing, "obs-c")


def test_adjudicator_reading_counts_in_the_report(
    reg: Registry, people: dict[str, Principal]
) -> None:
    editing.create_item(
        reg,
        ADMIN,
        "MAIN-1",
        "procedures",
        {"procedure_date": "2026-01-10", "levels": [{"level": "T12"}]},
    )
    rid = add(reg, people["inv"])
    for name in ("obs-a", "obs-b"):
        radiographs.assign(reg, people["inv"], rid, name)
    read_and_submit(reg, people["a"], rid, READING_A)
    read_and_submit(reg, people["b"], rid, READING_B)
    with pytest.raises(ClinicalValueError, match="someone else"):
        radiographs.request_adjudication(reg, people["inv"], rid, "obs-a")
    radiographs.request_adjudication(reg, people["inv"], rid, "obs-c")
    read_and_submit(reg, people["c"], rid, READING_A)
    report = compute_report(load_dataset(reg.settings.url))
    assert report.reliability["anterior_height_mm"].adjudicated == 1
    assert report.reliability["anterior_height_mm"].pairs == 1


# --- calibration and recompute -------------------------------------------------------------------


def test_manual_calibration_of_a_png(reg: Registry, people: dict[str, Principal]) -> None:
    rid = add(reg, people["inv"], data=png_bytes())
    view = radiographs.read_radiograph(reg, people["inv"], rid)
    assert view.spacing_mm is None and view.kind == "png"
    radiographs.assign(reg, people["inv"], rid, "obs-a")
    uncalibrated = radiographs.reading_readout(reg, people["a"], rid, "T12", READING_A)
    assert uncalibrated.anterior_height_mm is None
    assert uncalibrated.wedge_ratio == pytest.approx(0.6)
    # 100 px between the clicks are 25 mm: 0.25 mm per pixel.
    view = radiographs.calibrate(
        reg, people["a"], rid, [20, 30], [20, 130], 25, version=view.version
    )
    assert view.spacing_mm == pytest.approx((0.25, 0.25))
    assert view.spacing_source == "manual"
    calibrated = radiographs.reading_readout(reg, people["a"], rid, "T12", READING_A)
    assert calibrated.anterior_height_mm == pytest.approx(7.5)


def test_a_dicom_spacing_is_not_overridden(reg: Registry, people: dict[str, Principal]) -> None:
    rid = add(reg, people["inv"])
    view = radiographs.read_radiograph(reg, people["inv"], rid)
    with pytest.raises(ClinicalValueError, match="carries its own pixel spacing"):
        radiographs.calibrate(reg, people["inv"], rid, [0, 0], [0, 100], 50, version=view.version)


def test_a_workbook_import_may_not_change_values_read_from_landmarks(
    reg: Registry, people: dict[str, Principal], tmp_path: Path
) -> None:
    rid = add(reg, people["inv"])
    radiographs.assign(reg, people["inv"], rid, "obs-a")
    read_and_submit(reg, people["a"], rid, READING_A)
    folder = tmp_path / "workbook"
    export_workbook(reg, folder, format="csv", with_identity=True)
    unchanged = import_workbook(reg, folder)  # the round trip is fine
    assert unchanged.counts["measurements"].unchanged == 1
    sheet = folder / "measurements.csv"
    with sheet.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert float(rows[0]["anterior_height_mm"]) == pytest.approx(15.0)  # 30 px × 0.5 mm
    rows[0]["anterior_height_mm"] = "16"
    with sheet.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(ImportFailed) as refused:
        import_workbook(reg, folder)
    assert refused.value.problems == (
        "measurements:2:anterior_height_mm: this value comes from landmarks on a radiograph: "
        "change it by reading the image again, not by typing or importing",
    )
    (stored,) = editing.list_items(reg, people["inv"], "MAIN-1", "measurements")
    assert stored["anterior_height_mm"] == pytest.approx(15.0)


def test_recompute_restores_values_from_the_landmarks(
    reg: Registry, people: dict[str, Principal]
) -> None:
    rid = add(reg, people["inv"])
    radiographs.assign(reg, people["inv"], rid, "obs-a")
    read_and_submit(reg, people["a"], rid, READING_A)
    with reg.engine.begin() as connection:
        connection.execute(text("UPDATE measurement SET anterior_height_mm = 14.0"))
    report = radiographs.recompute(reg)
    assert (report.checked, report.changed, report.problems) == (1, 1, [])
    (stored,) = editing.list_items(reg, people["inv"], "MAIN-1", "measurements")
    assert stored["anterior_height_mm"] == pytest.approx(15.0)
    assert radiographs.recompute(reg).changed == 0
    assert reg.verify_audit().ok
    with reg.engine.connect() as connection:
        reasons = connection.execute(
            text("SELECT reason FROM audit_event WHERE reason IS NOT NULL")
        ).scalars()
        assert list(reasons) == ["measurements recompute"]


def test_every_step_is_audited(reg: Registry, people: dict[str, Principal]) -> None:
    rid = add(reg, people["inv"])
    radiographs.assign(reg, people["inv"], rid, "obs-a")
    read_and_submit(reg, people["a"], rid, READING_A)
    with reg.engine.connect() as connection:
        events = connection.execute(
            text(
                "SELECT action, entity FROM audit_event WHERE entity IN "
                "('radiograph', 'reading', 'measurement') ORDER BY id"
            )
        ).all()
    assert [tuple(e) for e in events] == [
        ("create", "radiograph"),
        ("assign", "reading"),
        ("update", "reading"),
        ("create", "measurement"),
        ("submit", "reading"),
    ]
    assert reg.verify_audit().ok


def test_dicom_reads_back_without_identity(reg: Registry, people: dict[str, Principal]) -> None:
    rid = add(reg, people["inv"])
    view = radiographs.read_radiograph(reg, people["inv"], rid)
    (original,) = [p for p in images(reg) if "display" not in p.parts]
    ds = pydicom.dcmread(original)
    assert str(ds.get("PatientName", "")) not in (IDENTITY[0],)
    assert [float(v) for v in ds.PixelSpacing] == [0.5, 0.5]
    assert view.burned_in_annotation in (None, "NO", "YES")
