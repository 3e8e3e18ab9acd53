"""Accepting an upload: refuse bad files, de-identify, find the pixel spacing.

Everything happens on the bytes in memory; nothing is written anywhere.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

import pydicom

from kyphos.imaging import dicom, display, raster
from kyphos.imaging.deidentify import deidentify
from kyphos.imaging.errors import ImageRefused
from kyphos.imaging.limits import MAX_UPLOAD_BYTES

SPACING_SOURCES = ("pixel_spacing", "imager_pixel_spacing", "imager_pixel_spacing_magnification")


@dataclass(frozen=True)
class Ingested:
    """A de-identified image, ready to store.

    ``kind`` is what was uploaded; ``data`` is the de-identified file as stored: a DICOM
    Part 10 file for ``"dicom"`` (original transfer syntax, compressed pixel data kept as
    it was) and a PNG for both ``"png"`` and ``"jpeg"`` (see :mod:`kyphos.imaging.raster`).
    ``spacing_mm`` is (row, column) millimetres per pixel. ``display_pixels`` holds the
    8-bit full-size display image so that storing does not decode the file again.
    """

    sha256: str
    kind: str
    data: bytes
    width: int
    height: int
    spacing_mm: tuple[float, float] | None
    spacing_source: str | None
    burned_in_annotation: str | None
    photometric: str | None
    transfer_syntax: str | None
    display_pixels: display.Array | None = field(default=None, compare=False, repr=False)


def _check_bytes(data: bytes, filename: str) -> None:
    if not data:
        raise ImageRefused("the file is empty", "文件为空", filename=filename)
    if len(data) > MAX_UPLOAD_BYTES:
        limit_mb = MAX_UPLOAD_BYTES // (1024 * 1024)
        raise ImageRefused(
            f"the file is {len(data) / 2**20:.1f} MB, over the upload limit of {limit_mb} MB",
            f"文件大小为 {len(data) / 2**20:.1f} MB，超过 {limit_mb} MB 的上传上限",
            filename=filename,
        )


def ingest(data: bytes, *, uid_key: bytes, filename: str = "") -> Ingested:
    """Read an upload held in memory, refuse bad files, de-identify, find pixel spacing.

    Raises :class:`ImageRefused` for an empty file, one over :data:`MAX_UPLOAD_BYTES`,
    anything that is not a DICOM Part 10, PNG or JPEG file, a truncated or damaged file,
    a DICOM file without pixel data or in a transfer syntax that cannot be decoded here,
    a 0 × 0 image, and an image declaring more than :data:`MAX_PIXELS` pixels (checked
    from the header before decoding). Writes nothing anywhere.
    """
    _check_bytes(data, filename)
    if dicom.looks_like_dicom(data):
        return _ingest_dicom(data, uid_key, filename)
    kind = raster.kind_of(data)
    if kind is None:
        raise ImageRefused(
            "this is not an image kyphos can read: upload a DICOM file (with its 'DICM' "
            "preamble), a PNG or a JPEG",
            "无法识别为图像：请上传DICOM文件（含“DICM”前导标记）、PNG或JPEG",
            filename=filename,
        )
    image = raster.read(data, kind, filename)
    return Ingested(
        sha256=hashlib.sha256(image.data).hexdigest(),
        kind=kind,
        data=image.data,
        width=image.width,
        height=image.height,
        spacing_mm=None,
        spacing_source=None,
        burned_in_annotation=None,
        photometric=image.photometric,
        transfer_syntax=None,
        display_pixels=image.display_pixels,
    )


def _ingest_dicom(data: bytes, uid_key: bytes, filename: str) -> Ingested:
    dataset = dicom.read(data, filename)
    pixels = dicom.decode_first_frame(dataset, filename)
    shown = dicom.to_display(dataset, pixels)
    spacing_mm, source = dicom.spacing(dataset)
    burned = dataset.get("BurnedInAnnotation")
    photometric = dataset.get("PhotometricInterpretation")
    syntax = dicom.transfer_syntax_name(dataset)
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    buffer = io.BytesIO()
    try:
        deidentify(dataset, uid_key)
        _complete_meta(dataset)
        pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    except Exception as error:  # a header pydicom cannot rewrite as a valid Part 10 file
        raise ImageRefused(
            f"the DICOM header cannot be rewritten as a valid DICOM file ({error})",
            f"无法将该DICOM文件头重写为有效的DICOM文件（{error}）",
            filename=filename,
        ) from None
    stored = buffer.getvalue()
    return Ingested(
        sha256=hashlib.sha256(stored).hexdigest(),
        kind="dicom",
        data=stored,
        width=columns,
        height=rows,
        spacing_mm=spacing_mm,
        spacing_source=source,
        burned_in_annotation=str(burned).strip().upper() if burned else None,
        photometric=str(photometric).strip().upper() if photometric else None,
        transfer_syntax=syntax,
        display_pixels=shown,
    )


def _complete_meta(dataset: pydicom.Dataset) -> None:
    """Fill the file meta's SOP Class / Instance UIDs from the dataset when they are missing
    (PS3.10 7.1 requires them; some exporters leave them out)."""
    meta = dataset.file_meta
    for meta_keyword, keyword in (
        ("MediaStorageSOPClassUID", "SOPClassUID"),
        ("MediaStorageSOPInstanceUID", "SOPInstanceUID"),
    ):
        if not meta.get(meta_keyword) and dataset.get(keyword):
            setattr(meta, meta_keyword, dataset[keyword].value)


def display_pixels(data: bytes) -> display.Array:
    """The 8-bit full-size display pixels of a stored (already de-identified) file."""
    if dicom.looks_like_dicom(data):
        dataset = dicom.read(data)
        return dicom.to_display(dataset, dicom.decode_first_frame(dataset))
    kind = raster.kind_of(data)
    if kind is None:
        raise ImageRefused("the stored file is not an image", "存储的文件不是图像")
    return raster.read(data, kind).display_pixels
