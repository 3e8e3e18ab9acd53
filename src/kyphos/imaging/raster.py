"""PNG and JPEG uploads through Pillow.

Only the pixels are kept: the image is rebuilt from its decoded pixel values and
written as a new PNG, so EXIF, text chunks, comments, ICC profiles and XMP cannot come
along. A JPEG is also stored as PNG (lossless), which avoids a second generation of
JPEG loss; :attr:`Ingested.kind` still says ``"jpeg"`` to record what was uploaded.
An EXIF orientation is applied to the pixels first, so the image looks as it did.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from kyphos.imaging import display
from kyphos.imaging.errors import ImageRefused
from kyphos.imaging.limits import MAX_PIXELS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"

# Pillow modes kept as they are; every other mode is converted as this says.
_KEPT_MODES = frozenset({"L", "I;16", "RGB"})
_CONVERTED = {
    "1": "L",
    "LA": "L",
    "P": "RGB",
    "PA": "RGB",
    "RGBA": "RGB",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
    "I;16B": "I;16",
    "I;16L": "I;16",
}


@dataclass(frozen=True)
class Raster:
    kind: str
    data: bytes
    width: int
    height: int
    photometric: str
    display_pixels: display.Array


def kind_of(data: bytes) -> str | None:
    if data.startswith(PNG_MAGIC):
        return "png"
    if data.startswith(JPEG_MAGIC):
        return "jpeg"
    return None


def _damaged(kind: str, error: Exception, filename: str) -> ImageRefused:
    label = kind.upper()
    return ImageRefused(
        f"the {label} image cannot be decoded; the file is truncated or damaged ({error})",
        f"无法解码该{label}图像；文件不完整或已损坏（{error}）",
        filename=filename,
    )


def _bomb(pixels: int, filename: str) -> ImageRefused:
    return ImageRefused(
        f"the image declares {pixels:,} pixels, over the limit of {MAX_PIXELS:,} pixels "
        "(a guard against decompression bombs)",
        f"图像声明了 {pixels:,} 像素，超过 {MAX_PIXELS:,} 像素的上限（防止解压炸弹）",
        filename=filename,
    )


def _check_not_empty(width: int, height: int, filename: str) -> None:
    if width <= 0 or height <= 0:
        raise ImageRefused(
            f"the image is {width} × {height} pixels: there is nothing to show",
            f"图像尺寸为 {width} × {height} 像素，没有可显示的内容",
            filename=filename,
        )


def read(data: bytes, kind: str, filename: str = "") -> Raster:
    """Decode, check and re-encode a PNG or JPEG upload from its pixels only."""
    fmt = "PNG" if kind == "png" else "JPEG"
    if kind == "png" and data[12:16] == b"IHDR":
        # Pillow refuses a 0-pixel IHDR as "unidentified"; say what is really wrong
        declared = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        _check_not_empty(*declared, filename)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image: Image.Image = Image.open(io.BytesIO(data), formats=[fmt])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _bomb(_declared_pixels(data, kind), filename) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            raise _damaged(kind, error, filename) from None
        width, height = image.size
        _check_not_empty(width, height, filename)
        if width * height > MAX_PIXELS:
            raise _bomb(width * height, filename)
        try:
            image.load()
            image = ImageOps.exif_transpose(image)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            raise _damaged(kind, error, filename) from None
    mode = image.mode if image.mode in _KEPT_MODES else _CONVERTED.get(image.mode, "RGB")
    if mode != image.mode:
        image = image.convert(mode)
    clean = Image.frombytes(mode, image.size, image.tobytes())  # pixels only, no info
    buffer = io.BytesIO()
    clean.save(buffer, format="PNG", compress_level=6)
    return Raster(
        kind=kind,
        data=buffer.getvalue(),
        width=clean.width,
        height=clean.height,
        photometric="RGB" if mode == "RGB" else "MONOCHROME2",
        display_pixels=to_display(clean),
    )


def to_display(image: Image.Image) -> display.Array:
    """8-bit display pixels: 8-bit grey and RGB as they are, 16-bit grey min–max scaled."""
    pixels = np.asarray(image)
    if pixels.dtype == np.uint8:
        return pixels
    return display.min_max(pixels)


def _declared_pixels(data: bytes, kind: str) -> int:
    """Width × height from a PNG IHDR when Pillow refused to open the file at all."""
    if kind == "png" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big") * int.from_bytes(data[20:24], "big")
    return MAX_PIXELS + 1
