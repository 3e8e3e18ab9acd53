"""Reading DICOM uploads: header checks, pixel spacing and the 8-bit display image."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut, apply_voi_lut
from pydicom.uid import UID, JPEGLSLossless, JPEGLSNearLossless

from kyphos.imaging import display
from kyphos.imaging.errors import ImageRefused
from kyphos.imaging.limits import MAX_PIXELS

Array = display.Array
PREAMBLE_MAGIC = b"DICM"


def looks_like_dicom(data: bytes) -> bool:
    """A DICOM Part 10 file: a 128-byte preamble then ``DICM`` (PS3.10 section 7.1)."""
    return data[128:132] == PREAMBLE_MAGIC


def read(data: bytes, filename: str = "") -> Dataset:
    """Parse and check the header: pixel data present, size within limits, decodable."""
    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
    except Exception as error:  # any parse failure means a damaged file, never a traceback
        raise ImageRefused(
            f"the DICOM header cannot be read; the file is truncated or damaged ({error})",
            f"无法读取DICOM文件头，文件不完整或已损坏（{error}）",
            filename=filename,
        ) from None
    meta = getattr(dataset, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if "PixelData" not in dataset:
        raise ImageRefused(
            "the DICOM file holds no image (no Pixel Data element); it may be a report, "
            "or the file was cut short",
            "该DICOM文件不含图像（无像素数据元素）；可能是报告文件，或文件不完整",
            filename=filename,
        )
    if syntax is None:
        raise ImageRefused(
            "the DICOM file has no transfer syntax in its header; it is truncated or damaged",
            "DICOM文件头缺少传输语法；文件不完整或已损坏",
            filename=filename,
        )
    _check_size(dataset, filename)
    _check_syntax(UID(str(syntax)), filename)
    return dataset


def _integer(dataset: Dataset, keyword: str, default: int | None = None) -> int | None:
    value = dataset.get(keyword, default)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _check_size(dataset: Dataset, filename: str) -> None:
    rows = _integer(dataset, "Rows")
    columns = _integer(dataset, "Columns")
    frames = _integer(dataset, "NumberOfFrames", 1)
    if rows is None or columns is None or frames is None:
        raise ImageRefused(
            "the DICOM header lacks a readable Rows, Columns or Number of Frames",
            "DICOM文件头缺少可读的行数、列数或帧数",
            filename=filename,
        )
    if rows <= 0 or columns <= 0 or frames <= 0:
        raise ImageRefused(
            f"the image is {columns} × {rows} pixels: there is nothing to show",
            f"图像尺寸为 {columns} × {rows} 像素，没有可显示的内容",
            filename=filename,
        )
    if rows * columns * frames > MAX_PIXELS:
        raise ImageRefused(
            f"the image has {rows * columns * frames:,} pixels ({columns} × {rows} × {frames} "
            f"frames), over the limit of {MAX_PIXELS:,} pixels",
            f"图像共有 {rows * columns * frames:,} 像素（{columns} × {rows} × {frames} 帧），"
            f"超过 {MAX_PIXELS:,} 像素的上限",
            filename=filename,
        )


def _check_syntax(syntax: UID, filename: str) -> None:
    name = syntax.name if syntax.is_transfer_syntax else f"unknown transfer syntax {syntax}"
    try:
        decoder = get_decoder(syntax)
        available = decoder.is_available
    except NotImplementedError:
        available = False
    if not available:
        raise ImageRefused(
            f"images in the transfer syntax '{name}' ({syntax}) cannot be decoded here; "
            "export the image uncompressed or as JPEG, JPEG-LS, JPEG 2000 or RLE",
            f"无法解码传输语法为“{name}”（{syntax}）的图像；"
            "请以未压缩或JPEG、JPEG-LS、JPEG 2000、RLE格式导出",
            filename=filename,
        )


def transfer_syntax_name(dataset: Dataset) -> str:
    return str(UID(str(dataset.file_meta.TransferSyntaxUID)).name)


def _positive_pair(value: Any) -> tuple[float, float] | None:
    try:
        pair = (float(value[0]), float(value[1]))
    except (TypeError, ValueError, IndexError):
        return None
    if not all(math.isfinite(v) and v > 0 for v in pair):
        return None
    return pair


def spacing(dataset: Dataset) -> tuple[tuple[float, float] | None, str | None]:
    """``((row, column) mm per pixel, source)``; PS3.3 10.7.1.3 orders both as row, column.

    Pixel Spacing (0028,0030) first; else Imager Pixel Spacing (0018,1164), divided by the
    Estimated Radiographic Magnification Factor (0018,1114) when that is above 0, which
    brings the detector-plane spacing to the patient (the isocentre) per PS3.3 C.8.11.7.
    Missing or unusable values count as absent.
    """
    pixel = _positive_pair(dataset.get("PixelSpacing"))
    if pixel is not None:
        return pixel, "pixel_spacing"
    imager = _positive_pair(dataset.get("ImagerPixelSpacing"))
    if imager is None:
        return None, None
    try:
        factor = float(dataset.get("EstimatedRadiographicMagnificationFactor"))
    except (TypeError, ValueError):
        factor = 0.0
    if math.isfinite(factor) and factor > 0:
        return (imager[0] / factor, imager[1] / factor), "imager_pixel_spacing_magnification"
    return imager, "imager_pixel_spacing"


def _first(value: Any) -> float | None:
    """A number from a DS/IS value that may hold several (the first one counts)."""
    if isinstance(value, MultiValue | list | tuple):
        value = value[0] if len(value) else None
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _preferred_plugin(dataset: Dataset) -> str:
    """pyjpegls (CharLS) for JPEG-LS: about 4 times faster than libjpeg on a radiograph."""
    syntax = UID(str(dataset.file_meta.TransferSyntaxUID))
    if syntax in (JPEGLSLossless, JPEGLSNearLossless):
        decoder = get_decoder(syntax)
        if "pyjpegls" in decoder.available_plugins:
            return "pyjpegls"
    return ""


def decode_first_frame(dataset: Dataset, filename: str = "") -> Array:
    """The first frame's stored values (RGB for colour images); refuses undecodable data."""
    try:
        dataset.pixel_array_options(index=0, decoding_plugin=_preferred_plugin(dataset))
        pixels: Array = dataset.pixel_array
    except Exception as error:  # every decoder failure means a damaged file
        raise ImageRefused(
            f"the DICOM pixel data cannot be decoded; the file is truncated or damaged ({error})",
            f"无法解码DICOM像素数据；文件不完整或已损坏（{error}）",
            filename=filename,
        ) from None
    return pixels


def to_display(dataset: Dataset, pixels: Array) -> Array:
    """8-bit display pixels: Modality LUT, then the VOI window (or VOI LUT, or min–max).

    MONOCHROME1 (0 is white) is inverted so that bone is bright as for MONOCHROME2;
    colour images stay RGB.
    """
    photometric = str(dataset.get("PhotometricInterpretation", "")).strip().upper()
    if photometric == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, dataset)
    if pixels.ndim == 3:
        if pixels.dtype == np.uint8:
            return pixels
        bits = _integer(dataset, "BitsStored", 8) or 8
        if photometric == "PALETTE COLOR":
            bits = 16 if pixels.max() > 255 else 8
        scaled = pixels.astype(np.float32) * np.float32(255.0 / (2**bits - 1))
        rgb: Array = np.clip(scaled, 0, 255).astype(np.uint8)
        return rgb
    values = _modality(dataset, pixels)
    center = _first(dataset.get("WindowCenter"))
    width = _first(dataset.get("WindowWidth"))
    function = str(dataset.get("VOILUTFunction", "LINEAR") or "LINEAR")
    out: Array | None = None
    if center is not None and width is not None:
        try:
            out = display.window(values, center, width, function)
        except ValueError:
            out = None
    if out is None and "VOILUTSequence" in dataset:
        try:
            out = display.min_max(apply_voi_lut(pixels, dataset, index=0, prefer_lut=True))
        except (ValueError, AttributeError, IndexError):
            out = None
    if out is None:
        out = display.min_max(values)
    if photometric == "MONOCHROME1":
        out = np.subtract(255, out, dtype=np.uint8)
    return out


def _modality(dataset: Dataset, pixels: Array) -> Array:
    if "ModalityLUTSequence" in dataset:
        result: Array = apply_modality_lut(pixels, dataset)
        return result
    slope = _first(dataset.get("RescaleSlope")) or 1.0
    intercept = _first(dataset.get("RescaleIntercept")) or 0.0
    if slope == 1.0 and intercept == 0.0:
        return pixels
    return pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)
