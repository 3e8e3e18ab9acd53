"""Manual calibration: pixel spacing from two clicks on an object of known length.

Used for images without Pixel Spacing or Imager Pixel Spacing (PNG, JPEG, some DICOM):
the user clicks both ends of something whose length is known (a calibration ball or
ruler, a cannula of known size), and the spacing is the known length divided by the
distance in pixels between the clicks. The result is isotropic: the same millimetres
per pixel along rows and columns.
"""

from __future__ import annotations

import math

from kyphos.clinical.errors import ClinicalValueError

FIELD = "calibration"


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _point(point: object) -> tuple[float, float]:
    values: tuple[object, ...] = tuple(point) if isinstance(point, tuple | list) else ()
    if len(values) == 2:
        x, y = _finite(values[0]), _finite(values[1])
        if x is not None and y is not None:
            return x, y
    raise ClinicalValueError(
        FIELD,
        f"a calibration point must be two pixel coordinates, not {point!r}",
        message_zh=f"标定点应为两个像素坐标，而不是 {point!r}",
    )


def manual_spacing(
    first: tuple[float, float], second: tuple[float, float], known_mm: float
) -> tuple[float, float]:
    """Isotropic (row, column) mm per pixel from two points ``known_mm`` apart.

    Points are (x, y) or (row, column) pixel positions: only their distance matters.
    Raises :class:`ClinicalValueError` (field ``calibration``) for a length that is not a
    number above 0, a point that is not two numbers, or two coincident points.
    """
    length = _finite(known_mm)
    if length is None or length <= 0:
        raise ClinicalValueError(
            FIELD,
            f"the known length must be a number of millimetres above 0, not {known_mm!r}",
            message_zh=f"已知长度应为大于0的毫米数，而不是 {known_mm!r}",
        )
    x1, y1 = _point(first)
    x2, y2 = _point(second)
    distance_px = math.hypot(x2 - x1, y2 - y1)
    if distance_px == 0:
        raise ClinicalValueError(
            FIELD,
            "the two calibration points are the same point; click both ends of the object",
            message_zh="两个标定点重合；请点击已知长度物体的两端",
        )
    spacing_mm = length / distance_px
    return spacing_mm, spacing_mm
