"""Known test images for the imaging tests, built in memory (no DICOM file is downloaded).

The pattern: a horizontal/vertical gradient with a bright square, so every pixel is
predictable and any decoder mistake (swapped rows, lost bits, wrong order) shows.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, ExplicitVRLittleEndian, SecondaryCaptureImageStorage

ROWS, COLUMNS = 48, 64
SQUARE = (slice(10, 26), slice(20, 36))  # rows 10–25, columns 20–35


def pattern(bits: int = 12, rows: int = ROWS, columns: int = COLUMNS) -> np.ndarray:
    """value = 30·column + 20·row, and the square at the top of the ``bits`` range."""
    y, x = np.mgrid[0:rows, 0:columns]
    values = (30 * x + 20 * y).astype(np.int64)
    values[SQUARE] = 2**bits - 1
    dtype = np.uint8 if bits <= 8 else np.uint16
    return np.clip(values, 0, 2**bits - 1).astype(dtype)


def dataset(
    pixels: np.ndarray, *, bits_stored: int | None = None, photometric: str = "MONOCHROME2"
) -> Dataset:
    """A secondary-capture dataset holding ``pixels`` uncompressed (explicit VR LE)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.9.7777.1.1"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.9.7777.2.1"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.9.7777.3.1"
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    allocated = 8 if pixels.dtype == np.uint8 else 16
    ds.BitsAllocated = allocated
    ds.BitsStored = bits_stored or allocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    return ds


def to_bytes(ds: Dataset, *, explicit_le: bool = False) -> bytes:
    """The Part 10 file; ``explicit_le`` for a transfer syntax pydicom does not know."""
    buffer = io.BytesIO()
    extra = {"implicit_vr": False, "little_endian": True} if explicit_le else {}
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True, **extra)
    return buffer.getvalue()


def encapsulated(ds: Dataset, frame: bytes, syntax: UID) -> Dataset:
    """``ds`` with ``frame`` as its single compressed frame in transfer syntax ``syntax``."""
    ds.file_meta.TransferSyntaxUID = syntax
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return ds


def pillow_jpeg(pixels: np.ndarray, quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


# --- lossless JPEG (ITU-T T.81 Annex H, process 14, selection value 1) -------------------
# No encoder for this syntax is on PyPI for pydicom (pylibjpeg-libjpeg only decodes),
# so the tests write the bitstream themselves from the standard: SOF3 frame header,
# one Huffman table, predictor 1 (the pixel to the left; first column: the pixel
# above; first pixel: 2^(P-1)), differences coded as SSSS category + SSSS extra bits.


class _Bits:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.count = 0

    def write(self, value: int, length: int) -> None:
        for shift in range(length - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> shift) & 1)
            self.count += 1
            if self.count == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0x00)  # byte stuffing (T.81 F.1.2.3)
                self.acc = 0
                self.count = 0

    def finish(self) -> bytes:
        if self.count:
            self.write((1 << (8 - self.count)) - 1, 8 - self.count)  # pad with 1-bits
        return bytes(self.out)


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def lossless_jpeg(pixels: np.ndarray, precision: int) -> bytes:
    """A process-14 SV1 lossless JPEG of a 2-D unsigned array."""
    rows, columns = pixels.shape
    # Huffman table: the 17 categories 0–16 each get a 5-bit code 0..16 (never all ones).
    counts = bytes([0, 0, 0, 0, 17] + [0] * 11)
    values = bytes(range(17))
    bits = _Bits()
    data = pixels.astype(np.int64)
    for row in range(rows):
        for column in range(columns):
            if row == 0 and column == 0:
                predicted = 1 << (precision - 1)
            elif column == 0:
                predicted = int(data[row - 1, 0])
            else:
                predicted = int(data[row, column - 1])
            difference = (int(data[row, column]) - predicted) % 65536
            if difference >= 32768:
                difference -= 65536
            category = 0 if difference == 0 else abs(difference).bit_length()
            bits.write(category, 5)
            if 0 < category < 16:
                extra = difference if difference > 0 else difference + (1 << category) - 1
                bits.write(extra, category)
    return (
        b"\xff\xd8"
        + _segment(0xFFC3, struct.pack(">BHHB", precision, rows, columns, 1) + b"\x01\x11\x00")
        + _segment(0xFFC4, b"\x00" + counts + values)
        + _segment(0xFFDA, b"\x01\x01\x00" + bytes([1, 0, 0]))
        + bits.finish()
        + b"\xff\xd9"
    )


# --- PNG headers --------------------------------------------------------------------------


def png_with_size(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares ``width`` × ``height`` with a tiny (wrong) IDAT.

    Enough to test size checks made from the header before any pixel is decoded.
    """
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)
