"""Pixel spacing from the DICOM header, and PNG/JPEG uploads stripped to their pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from dicom_patterns import dataset, pattern, to_bytes
from PIL import Image, PngImagePlugin

from kyphos.imaging import ingest

KEY = b"k"


def _dicom(**attributes: object) -> bytes:
    ds = dataset(pattern(12), bits_stored=12)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return to_bytes(ds)


def test_pixel_spacing_is_used_first_in_row_column_order() -> None:
    image = ingest(_dicom(PixelSpacing=[0.2, 0.3], ImagerPixelSpacing=[0.5, 0.5]), uid_key=KEY)
    assert image.spacing_mm == (0.2, 0.3)
    assert image.spacing_source == "pixel_spacing"


def test_imager_pixel_spacing_is_divided_by_the_magnification_factor() -> None:
    # 0.2 mm at the detector, magnification 1.25 → 0.2 / 1.25 = 0.16 mm at the patient
    image = ingest(
        _dicom(ImagerPixelSpacing=[0.2, 0.2], EstimatedRadiographicMagnificationFactor=1.25),
        uid_key=KEY,
    )
    assert image.spacing_mm == pytest.approx((0.16, 0.16))
    assert image.spacing_source == "imager_pixel_spacing_magnification"


def test_imager_pixel_spacing_without_a_usable_factor_is_used_as_it_is() -> None:
    for extra in ({}, {"EstimatedRadiographicMagnificationFactor": 0}):
        image = ingest(_dicom(ImagerPixelSpacing=[0.14, 0.14], **extra), uid_key=KEY)
        assert image.spacing_mm == (0.14, 0.14)
        assert image.spacing_source == "imager_pixel_spacing"


def test_no_spacing_attribute_gives_none() -> None:
    image = ingest(_dicom(), uid_key=KEY)
    assert (image.spacing_mm, image.spacing_source) == (None, None)


def _png_with_metadata(pixels: np.ndarray) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "Patient Zhang Wei, Secret Hospital")
    info.add_itxt("Author", "Dr Referrer")
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x010E] = "Zhang Wei H123456"  # ImageDescription
    Image.fromarray(pixels).save(buffer, format="PNG", pnginfo=info, exif=exif.tobytes())
    return buffer.getvalue()


def test_png_keeps_its_pixels_and_loses_text_and_exif() -> None:
    pixels = pattern(8)
    upload = _png_with_metadata(pixels)
    assert b"Zhang Wei" in upload
    image = ingest(upload, uid_key=KEY)
    assert b"Zhang" not in image.data and b"Secret" not in image.data
    assert b"Referrer" not in image.data
    assert (image.kind, image.width, image.height) == ("png", 64, 48)
    assert (image.spacing_mm, image.transfer_syntax) == (None, None)
    assert image.photometric == "MONOCHROME2"
    stored = Image.open(io.BytesIO(image.data))
    assert stored.format == "PNG" and not stored.info
    np.testing.assert_array_equal(np.asarray(stored), pixels)


def test_sixteen_bit_png_keeps_sixteen_bits() -> None:
    pixels = pattern(16)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    image = ingest(buffer.getvalue(), uid_key=KEY)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(image.data))), pixels)


def test_jpeg_is_stored_as_png_without_exif_or_comment() -> None:
    rgb = np.stack([pattern(8), pattern(8)[::-1], np.full((48, 64), 90, np.uint8)], axis=-1)
    exif = Image.Exif()
    exif[0x013B] = "Zhang Wei"  # Artist
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(
        buffer, format="JPEG", quality=95, exif=exif.tobytes(), comment=b"Secret Hospital"
    )
    upload = buffer.getvalue()
    assert b"Zhang Wei" in upload and b"Secret Hospital" in upload
    image = ingest(upload, uid_key=KEY)
    assert b"Zhang" not in image.data and b"Secret" not in image.data
    assert image.kind == "jpeg" and image.photometric == "RGB"
    stored = Image.open(io.BytesIO(image.data))
    assert stored.format == "PNG" and stored.mode == "RGB"
    decoded_upload = np.asarray(Image.open(io.BytesIO(upload)))
    np.testing.assert_array_equal(np.asarray(stored), decoded_upload)  # no second loss


def test_jpeg_exif_orientation_is_applied_to_the_pixels() -> None:
    pixels = pattern(8)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    image = ingest(buffer.getvalue(), uid_key=KEY)
    assert (image.width, image.height) == (48, 64)
