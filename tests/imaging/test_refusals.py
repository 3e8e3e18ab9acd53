"""Every kind of bad upload is refused with a specific, bilingual message, writing nothing."""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from dicom_patterns import dataset, encapsulated, pattern, png_with_size, to_bytes
from pydicom.uid import MPEG2MPML, UID

from kyphos.errors import KyphosError
from kyphos.imaging import MAX_PIXELS, MAX_UPLOAD_BYTES, ImageRefused, ingest

KEY = b"k"


def _refused(data: bytes, filename: str = "") -> ImageRefused:
    with pytest.raises(ImageRefused) as caught:
        ingest(data, uid_key=KEY, filename=filename)
    error = caught.value
    assert isinstance(error, KyphosError)
    assert error.field == "file"
    assert str(error) == error.text("en") == error.message
    assert error.text("zh") == error.message_zh != error.message
    assert "Traceback" not in error.message
    return error


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("scan.dcm", b"not really")
    return buffer.getvalue()


def test_empty_file_is_refused() -> None:
    error = _refused(b"", filename="scan.dcm")
    assert error.message == "scan.dcm: the file is empty"
    assert error.message_zh == "scan.dcm: 文件为空"


@pytest.mark.parametrize(
    "data",
    [b"Patient: Zhang Wei\nfracture at L1\n", _zip(), b"%PDF-1.7\n"],
    ids=["text", "zip", "pdf"],
)
def test_a_file_that_is_not_an_image_is_refused(data: bytes) -> None:
    error = _refused(data)
    assert "not an image" in error.message
    assert "DICOM" in error.message and "PNG" in error.message and "JPEG" in error.message


def test_file_over_the_size_limit_names_the_limit_in_mb() -> None:
    error = _refused(b"\0" * (MAX_UPLOAD_BYTES + 1))
    assert "upload limit of 50 MB" in error.message
    assert "50 MB" in error.message_zh


def test_truncated_dicom_is_refused() -> None:
    whole = to_bytes(dataset(pattern(12), bits_stored=12))
    error = _refused(whole[: len(whole) - 500])
    assert "truncated or damaged" in error.message


def test_dicom_cut_inside_its_header_is_refused() -> None:
    whole = to_bytes(dataset(pattern(12), bits_stored=12))
    error = _refused(whole[:300])
    assert "no Pixel Data" in error.message or "truncated" in error.message


def test_dicom_without_pixel_data_is_refused() -> None:
    ds = dataset(pattern(12), bits_stored=12)
    del ds.PixelData
    error = _refused(to_bytes(ds))
    assert "no Pixel Data" in error.message


def test_zero_by_zero_dicom_is_refused() -> None:
    ds = dataset(pattern(12), bits_stored=12)
    ds.Rows = 0
    ds.Columns = 0
    ds.PixelData = b""
    assert "0 × 0 pixels" in _refused(to_bytes(ds)).message


def test_zero_by_zero_png_is_refused() -> None:
    assert "0 × 0 pixels" in _refused(png_with_size(0, 0)).message


def test_unsupported_transfer_syntax_is_named() -> None:
    ds = dataset(pattern(12), bits_stored=12)
    # an MPEG-2 sequence header start code (0x000001B3) stands in for the video stream
    encapsulated(ds, b"\x00\x00\x01\xb3" + bytes(62), MPEG2MPML)
    error = _refused(to_bytes(ds))
    assert "MPEG2 Main Profile / Main Level" in error.message
    assert str(MPEG2MPML) in error.message_zh


def test_unknown_transfer_syntax_is_named_by_its_uid() -> None:
    ds = dataset(pattern(12), bits_stored=12)
    ds.file_meta.TransferSyntaxUID = UID("1.2.3.4.5.6")
    error = _refused(to_bytes(ds, explicit_le=True))
    assert "unknown transfer syntax 1.2.3.4.5.6" in error.message


def test_dicom_declaring_too_many_pixels_is_refused_before_decoding() -> None:
    ds = dataset(pattern(12), bits_stored=12)
    ds.Rows = 8000
    ds.Columns = 8000  # 64,000,000 pixels, with only 6 kB of pixel data behind them
    error = _refused(to_bytes(ds))
    assert "64,000,000 pixels" in error.message
    assert f"limit of {MAX_PIXELS:,} pixels" in error.message


def test_multiframe_dicom_counts_every_frame_against_the_pixel_limit() -> None:
    ds = dataset(pattern(12), bits_stored=12)
    ds.Rows, ds.Columns, ds.NumberOfFrames = 4000, 4000, 4  # 4 × 16,000,000
    assert "64,000,000 pixels" in _refused(to_bytes(ds)).message


@pytest.mark.parametrize(
    ("width", "height", "pixels"),
    [(8000, 8000, "64,000,000"), (10000, 10000, "100,000,000"), (20000, 20000, "400,000,000")],
)
def test_png_bomb_is_refused_with_the_pixel_limit(width: int, height: int, pixels: str) -> None:
    # 64 M is under Pillow's own limit (kyphos's check), 100 M trips Pillow's warning and
    # 400 M its DecompressionBombError: all three become the same refusal
    error = _refused(png_with_size(width, height))
    assert f"{pixels} pixels" in error.message
    assert f"{MAX_PIXELS:,}" in error.message


def test_truncated_png_is_refused() -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.effect_noise((300, 200), 60).save(buffer, format="PNG")
    data = buffer.getvalue()
    assert "truncated or damaged" in _refused(data[: len(data) // 2]).message


def test_truncated_jpeg_is_refused() -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.effect_noise((300, 200), 60).save(buffer, format="JPEG")
    data = buffer.getvalue()
    assert "truncated or damaged" in _refused(data[:400]).message


@pytest.fixture
def quiet_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    temporary = tmp_path / "tmp"
    working = tmp_path / "cwd"
    temporary.mkdir()
    working.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    monkeypatch.chdir(working)
    yield [temporary, working]


def test_ingest_writes_no_file_whether_it_accepts_or_refuses(quiet_dirs: list[Path]) -> None:
    good = to_bytes(dataset(pattern(12), bits_stored=12))
    ingest(good, uid_key=KEY)
    with pytest.raises(ImageRefused):
        ingest(good[:-500], uid_key=KEY)
    for folder in quiet_dirs:
        assert os.listdir(folder) == []


def _without_file_meta_class(remove_from_dataset: bool) -> bytes:
    ds = dataset(pattern(12), bits_stored=12)
    del ds.file_meta.MediaStorageSOPClassUID
    if remove_from_dataset:
        del ds.SOPClassUID
    ds.preamble = b"\0" * 128
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=False)
    return buffer.getvalue()


def test_missing_file_meta_sop_class_is_taken_from_the_dataset() -> None:
    image = ingest(_without_file_meta_class(remove_from_dataset=False), uid_key=KEY)
    stored = pydicom.dcmread(io.BytesIO(image.data))
    assert stored.file_meta.MediaStorageSOPClassUID == stored.SOPClassUID


def test_dicom_without_any_sop_class_is_refused() -> None:
    error = _refused(_without_file_meta_class(remove_from_dataset=True))
    assert "Media Storage SOP Class UID" in error.message
