"""Each supported transfer syntax: a known pattern encoded by a registry package (or by
the T.81 bitstream written in dicom_patterns for lossless JPEG) is ingested, stored with
its compressed pixel data as it was, and decodes back to the same pixels."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from dicom_patterns import dataset, encapsulated, lossless_jpeg, pattern, pillow_jpeg, to_bytes
from pydicom.uid import (
    JPEG2000,
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from kyphos.imaging import ingest

KEY = b"test key"


def _stored_pixels(data: bytes) -> tuple[UID, np.ndarray]:
    stored = pydicom.dcmread(io.BytesIO(data))
    return stored.file_meta.TransferSyntaxUID, stored.pixel_array


def _lossless_case(syntax: UID) -> tuple[bytes, np.ndarray]:
    pixels = pattern(12)
    ds = dataset(pixels, bits_stored=12)
    if syntax == ImplicitVRLittleEndian:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    elif syntax in (JPEGLossless, JPEGLosslessSV1):
        # process 14 with selection value 1 is valid in both lossless JPEG syntaxes
        encapsulated(ds, lossless_jpeg(pixels, precision=12), syntax)
    elif syntax != ExplicitVRLittleEndian:
        ds.compress(syntax)  # RLE: pydicom; JPEG-LS: pyjpegls; JPEG 2000: pylibjpeg-openjpeg
    return to_bytes(ds), pixels


@pytest.mark.parametrize(
    "syntax",
    [
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        RLELossless,
        JPEGLSLossless,
        JPEG2000Lossless,
        JPEGLossless,
        JPEGLosslessSV1,
    ],
    ids=lambda uid: uid.name,
)
def test_lossless_syntax_is_kept_and_decodes_to_the_exact_pattern(syntax: UID) -> None:
    data, pixels = _lossless_case(syntax)
    image = ingest(data, uid_key=KEY)
    stored_syntax, decoded = _stored_pixels(image.data)
    assert stored_syntax == syntax
    assert image.transfer_syntax == syntax.name
    assert (image.width, image.height) == (64, 48)
    np.testing.assert_array_equal(decoded, pixels)


def test_compressed_pixel_data_is_stored_as_it_was_uploaded() -> None:
    data, _ = _lossless_case(JPEG2000Lossless)
    original = pydicom.dcmread(io.BytesIO(data))
    stored = pydicom.dcmread(io.BytesIO(ingest(data, uid_key=KEY).data))
    assert stored.PixelData == original.PixelData


def test_jpeg_baseline_decodes_within_jpeg_loss() -> None:
    pixels = pattern(8)
    ds = encapsulated(dataset(pixels), pillow_jpeg(pixels, quality=95), JPEGBaseline8Bit)
    image = ingest(to_bytes(ds), uid_key=KEY)
    syntax, decoded = _stored_pixels(image.data)
    assert syntax == JPEGBaseline8Bit
    error = np.abs(decoded.astype(int) - pixels.astype(int))
    assert error.mean() < 2.0
    assert error.max() <= 24  # ringing at the square's edges


def test_lossy_jpeg_2000_decodes_close_to_the_pattern() -> None:
    pixels = pattern(12)
    ds = dataset(pixels, bits_stored=12)
    ds.compress(JPEG2000, j2k_cr=[5])
    image = ingest(to_bytes(ds), uid_key=KEY)
    _, decoded = _stored_pixels(image.data)
    assert np.abs(decoded.astype(int) - pixels.astype(int)).mean() < 20


def test_display_of_a_compressed_file_is_the_min_max_scaled_pattern() -> None:
    # no window in the file: 8-bit value = round(255 · (v − min) / (max − min)), and the
    # pattern's min is 0 (top-left corner) and max 4095 (the square)
    data, pixels = _lossless_case(RLELossless)
    image = ingest(data, uid_key=KEY)
    assert image.display_pixels is not None
    expected = np.rint(pixels.astype(float) * 255 / 4095).astype(np.uint8)
    np.testing.assert_array_equal(image.display_pixels, expected)
