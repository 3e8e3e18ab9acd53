"""Radiograph uploads through the REST API and the CLI (issue 7): de-identified before
anything is written anywhere, in memory only, refused files store nothing.

The DICOM carries a patient name, ID, birth date and institution chosen here; none of
those strings may appear under ``KYPHOS_HOME`` (image store and SQLite file), in the
database's tables, or in a temporary file — and no temporary file may be made at all
during an API upload (Starlette would spool a multipart part over 1 MB to one).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from sqlalchemy import inspect, text
from web_client import Web

from kyphos.registry import editing
from kyphos.registry.access import Principal

IDENTITY = ("Zhou^Xiaoming", "PID-99123", "19390701", "Harbour Spine Institute")
_ADMIN = Principal(user_id=0, username="test-admin", role="admin", site_ids=frozenset())


def identified_dicom(rows: int = 1200, columns: int = 1000) -> bytes:
    """A 16-bit lateral radiograph of ``rows`` × ``columns`` with identity set (2.4 MB at
    the default size: more than Starlette's 1 MB spool threshold)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.InstitutionName = IDENTITY
    ds.Modality = "DX"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelSpacing = [0.2, 0.2]
    ds.PixelData = (np.arange(rows * columns, dtype=np.uint32) % 4096).astype(np.uint16).tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.fixture
def temp_files(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every temporary file or folder made through :mod:`tempfile` in the system's
    temporary folder while the test runs (the image store's atomic writes make their
    temporary file inside the store, with ``dir=``: those hold de-identified data)."""
    made: list[str] = []

    def recording(name: str) -> Callable[..., Any]:
        original = getattr(tempfile, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("dir") is None:
                made.append(name)
            return original(*args, **kwargs)

        return wrapper

    for name in ("TemporaryFile", "NamedTemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, recording(name))
    yield made


def _with_vertebra(web: Web) -> None:
    editing.create_item(
        web.registry, _ADMIN, "OWN-1", "vertebrae", {"level": "L1", "treated": False}
    )


def _assert_no_identity(web: Web, *folders: Path) -> None:
    home = Path(web.registry.settings.home)
    files = [p for folder in (home, *folders) for p in folder.rglob("*") if p.is_file()]
    assert any("images" in p.parts for p in files)
    for path in files:
        content = path.read_bytes()
        for value in IDENTITY:
            assert value.encode() not in content, (path, value)
    with web.registry.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                dumped = repr(tuple(row))
                for value in IDENTITY:
                    assert value not in dumped, (table, value)


def test_api_upload_is_deidentified_in_memory(web: Web, temp_files: list[str]) -> None:
    _with_vertebra(web)
    data = identified_dicom()
    assert len(data) > 1024 * 1024
    answer = web.client.post(
        "/api/v1/patients/OWN-1/radiographs",
        files={"file": ("Zhou Xiaoming.dcm", data, "application/dicom")},
        data={"timepoint": "preop"},
        headers=web.bearer("investigator"),
    )
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert (made["width"], made["height"]) == (1000, 1200)
    assert made["spacing_mm"] == [0.2, 0.2] and made["spacing_source"] == "pixel_spacing"
    assert temp_files == []
    _assert_no_identity(web)
    shown = web.client.get(
        f"/api/v1/radiographs/{made['id']}/display/0", headers=web.bearer("investigator")
    )
    assert shown.status_code == 200 and shown.content.startswith(b"\x89PNG")


def test_api_upload_as_the_raw_body_and_the_same_file_again_is_refused(web: Web) -> None:
    _with_vertebra(web)
    data = identified_dicom(rows=300, columns=200)
    headers = {**web.bearer("admin"), "content-type": "application/dicom"}
    url = "/api/v1/patients/OWN-1/radiographs?timepoint=preop"
    answer = web.client.post(url, content=data, headers=headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["kind"] == "dicom"
    again = web.client.post(url, content=data, headers=headers)
    assert again.status_code == 422, again.text
    [problem] = again.json()["detail"]
    expected = f"already recorded at this visit (radiograph {answer.json()['id']})"
    assert expected in problem["msg"] and problem["loc"][-1] == "file"
    listed = web.client.get("/api/v1/patients/OWN-1/radiographs", headers=web.bearer("admin"))
    assert [r["id"] for r in listed.json()] == [answer.json()["id"]]


def test_cli_upload_is_deidentified_and_makes_no_temporary_file(
    web: Web, kyphos_cli: Callable[..., Any], tmp_path: Path
) -> None:
    _with_vertebra(web)
    source = tmp_path / "upload" / "study.dcm"
    source.parent.mkdir()
    source.write_bytes(identified_dicom(rows=400, columns=300))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    ran = kyphos_cli("radiograph", "add", "OWN-1", "preop", source, env={"TMPDIR": str(scratch)})
    assert ran.returncode == 0, ran.stderr
    assert "300 × 400 dicom" in ran.stdout and "0.2 × 0.2 mm/pixel" in ran.stdout
    assert list(scratch.iterdir()) == []
    source.unlink()  # the user's own file is theirs; everything kyphos wrote is checked
    _assert_no_identity(web, scratch)


def test_cli_refuses_a_bad_file_with_one_line_and_stores_nothing(
    web: Web, kyphos_cli: Callable[..., Any], tmp_path: Path
) -> None:
    _with_vertebra(web)
    bad = tmp_path / "notes.txt"
    bad.write_text("not a radiograph")
    ran = kyphos_cli("radiograph", "add", "OWN-1", "preop", bad)
    assert ran.returncode == 2
    assert ran.stderr.startswith("error: ") and "Traceback" not in ran.stderr
    images = Path(web.registry.settings.home) / "images"
    assert not images.exists() or not any(p.is_file() for p in images.rglob("*"))
    missing = kyphos_cli("radiograph", "add", "OWN-1", "final", bad)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_refused_uploads_answer_422_413_and_store_nothing(web: Web) -> None:
    _with_vertebra(web)
    url = "/api/v1/patients/OWN-1/radiographs"
    headers = web.bearer("investigator")
    text_file = web.client.post(
        url, files={"file": ("a.dcm", b"hello", "application/dicom")}, data={"timepoint": "preop"},
        headers=headers,
    )  # fmt: skip
    assert text_file.status_code == 422
    assert text_file.json()["detail"][0]["loc"] == ["body", "file"]
    no_visit = web.client.post(
        url, files={"file": ("a.dcm", identified_dicom(20, 20), "application/dicom")},
        data={"timepoint": "m3"}, headers=headers,
    )  # fmt: skip
    assert no_visit.status_code == 422 and "record the visit first" in no_visit.text
    no_timepoint = web.client.post(
        url, files={"file": ("a.dcm", identified_dicom(20, 20), "application/dicom")},
        headers=headers,
    )  # fmt: skip
    assert no_timepoint.status_code == 422
    huge = web.client.post(
        url + "?timepoint=preop",
        content=b"\0" * (50 * 1024 * 1024 + 1),
        headers={**headers, "content-type": "application/dicom"},
    )
    assert huge.status_code == 413
    images = Path(web.registry.settings.home) / "images"
    assert not images.exists() or not any(p.is_file() for p in images.rglob("*"))
    with web.registry.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM radiograph")).scalar_one() == 0


def test_a_chinese_speaking_user_gets_chinese_messages(web: Web) -> None:
    _with_vertebra(web)
    with web.registry.engine.begin() as connection:
        connection.execute(text("UPDATE user_account SET lang = 'zh' WHERE username = 'admin'"))
    answer = web.client.post(
        "/api/v1/patients/OWN-1/radiographs?timepoint=m3",
        content=identified_dicom(20, 20),
        headers={**web.bearer("admin", fresh=True), "content-type": "application/dicom"},
    )
    assert answer.status_code == 422
    message = answer.json()["detail"][0]["msg"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in message), message
