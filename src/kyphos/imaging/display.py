"""8-bit display images: windowing, display levels and PNG encoding.

The VOI window follows DICOM PS3.3 section C.11.2.1.2 (Window Center and Window Width):
``LINEAR`` (the default), ``LINEAR_EXACT`` and ``SIGMOID``. Display levels: level 0
is the full image with its long side capped at :data:`MAX_DISPLAY_SIDE`; each next level
halves both sides (rounding down, at least 1 pixel) until the long side is at most
:data:`SMALLEST_LEVEL_SIDE`.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeAlias

import numpy as np
from PIL import Image

MAX_DISPLAY_SIDE = 4096
SMALLEST_LEVEL_SIDE = 512
PNG_COMPRESS_LEVEL = 1  # display PNGs are a cache: fast to write matters more than size

Array: TypeAlias = np.ndarray[Any, np.dtype[Any]]


def level_sizes(width: int, height: int) -> list[tuple[int, int]]:
    """``(width, height)`` of every display level of a ``width`` × ``height`` image."""
    if width < 1 or height < 1:
        raise ValueError(f"an image of {width} × {height} pixels has no display levels")
    long_side = max(width, height)
    if long_side > MAX_DISPLAY_SIDE:
        scale = MAX_DISPLAY_SIDE / long_side
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
    sizes = [(width, height)]
    while max(width, height) > SMALLEST_LEVEL_SIDE:
        width, height = max(1, width // 2), max(1, height // 2)
        sizes.append((width, height))
    return sizes


def _by_table(values: Array, scale: Callable[[Array], Array]) -> Array:
    """``scale`` applied to every value; 8- and 16-bit integers go through a lookup table.

    A table of at most 65,536 entries computed once and indexed is several times faster
    than float arithmetic on every pixel of a large radiograph, with the same result.
    """
    if values.dtype.kind in "ui" and values.dtype.itemsize <= 2:
        info = np.iinfo(values.dtype)
        table = scale(np.arange(info.min, info.max + 1, dtype=np.float32))
        if info.min == 0:
            result: Array = table[values]
        else:
            result = table[values.astype(np.int32) - info.min]
        return result
    return scale(values.astype(np.float32))


def min_max(values: Array) -> Array:
    """Scale grey values linearly so the smallest is 0 and the largest 255."""
    low = float(values.min())
    high = float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    factor = np.float32(255.0 / (high - low))

    def scale(x: Array) -> Array:
        scaled: Array = np.rint(np.clip((x - np.float32(low)) * factor, 0, 255)).astype(np.uint8)
        return scaled

    return _by_table(values, scale)


def window(values: Array, center: float, width: float, function: str = "LINEAR") -> Array:
    """Apply a VOI window (PS3.3 C.11.2.1.2) and return 8-bit grey values."""
    function = function.strip().upper() or "LINEAR"
    if function in ("SIGMOID", "LINEAR_EXACT") and width <= 0:
        raise ValueError(f"a {function} window needs a width above 0")
    if function not in ("SIGMOID", "LINEAR_EXACT") and width < 1:
        raise ValueError("a LINEAR window needs a width of at least 1")

    def scale(x: Array) -> Array:
        if function == "SIGMOID":
            y = 255.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
        elif function == "LINEAR_EXACT":
            y = ((x - center) / width + 0.5) * 255.0
        elif width == 1:
            # C.11.2.1.2.1: with width 1 the window is a threshold at center - 0.5
            y = np.where(x <= center - 0.5, 0.0, 255.0)
        else:
            y = ((x - (center - 0.5)) / (width - 1) + 0.5) * 255.0
        result: Array = np.rint(np.clip(y, 0.0, 255.0)).astype(np.uint8)
        return result

    return _by_table(values, scale)


def to_image(pixels: Array) -> Image.Image:
    """An 8-bit ``L`` or ``RGB`` Pillow image of an ``uint8`` array."""
    if pixels.dtype != np.uint8:
        raise ValueError("display pixels must be 8-bit")
    if pixels.ndim not in (2, 3):
        raise ValueError("display pixels must be rows × columns (× 3 for RGB)")
    return Image.fromarray(pixels)


def levels(pixels: Array) -> list[Image.Image]:
    """Every display level of an 8-bit image, level 0 first."""
    image = to_image(pixels)
    sizes = level_sizes(image.width, image.height)
    out: list[Image.Image] = []
    current = image
    for size in sizes:
        if current.size != size:
            current = current.resize(size, Image.Resampling.BOX)
        out.append(current)
    return out


def encode_pngs(images: list[Image.Image]) -> list[bytes]:
    """PNG bytes of each image, encoded on two threads (Pillow releases the GIL)."""
    if len(images) == 1:
        return [encode_png(images[0])]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(encode_png, images))


def encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()
