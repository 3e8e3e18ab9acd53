"""Vertebral heights and angles from landmarks on a lateral radiograph.

Definitions follow CLINICAL.md §4:

* ``Ha``, ``Hm``, ``Hp``: anterior, middle and posterior height of the vertebral
  body, corner to corner (and mid-endplate to mid-endplate), in millimetres.
* Wedge ratio ``Ha/Hp``; biconcavity ratio ``Hm/Hp``.
* Reference height ``Href`` of a height: the mean of the same height of the
  vertebra above and the one below, whichever are measured.
  Compression % = ``(1 − H/Href) × 100``.
* Height restoration, in the four ways Spine 2003;28:2517–21 names (and shows to
  differ up to ~4-fold): absolute ``post − pre`` (mm, always reported); relative
  to the lost height ``(post − pre)/(Href − pre) × 100`` (kyphos's default
  relative measure); relative to pre ``(post − pre)/pre × 100``; relative to
  Href ``(post − pre)/Href × 100``. :class:`HeightRestoration` also carries
  ``post/Href × 100``.
* Vertebral wedge angle: between the index vertebra's superior and inferior
  endplates. Segmental kyphotic (Cobb) angle: between the superior endplate of
  the vertebra above and the inferior endplate of the vertebra below.

Conventions:

* Points are ``(x, y)`` in pixels, x to the right, y down (image order).
* ``spacing_mm`` is ``(row, column)`` in millimetres per pixel, the order of
  DICOM PixelSpacing (0028,0030): the row spacing scales y, the column spacing
  scales x. The default ``(1.0, 1.0)`` means the results are in pixels.
* Angle sign **(kyphos)**: positive = kyphotic = the two lines are closer at
  their anterior ends than at their posterior ends. The sign is worked out from
  the landmarks' anterior/posterior labels and their superior/inferior roles,
  never from the image axes, so it does not change when the patient faces left
  or right or the image is mirrored, rotated, moved or scaled.
* Plausibility limits for recorded values (DATA.md, measurements sheet):
  heights more than 0 and at most :data:`MAX_HEIGHT_MM`; angles
  :data:`MIN_ANGLE_DEG` … :data:`MAX_ANGLE_DEG`. A height of exactly 0 is
  refused (**kyphos**): no vertebral body measures 0 mm, and every ratio divides
  by a height.

The arithmetic is plain :mod:`math` on 2-D vectors; numpy would add nothing here.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

from kyphos.clinical.errors import ClinicalValueError
from kyphos.clinical.numbers import parse_number

Point = tuple[float, float]
"""A landmark in pixels: ``(x, y)``, x to the right, y down."""

Spacing = tuple[float, float]
"""Millimetres per pixel as ``(row, column)`` (DICOM PixelSpacing order)."""

Endplate = tuple[Point, Point]
"""An endplate line as ``(anterior_point, posterior_point)``."""

PIXELS: Spacing = (1.0, 1.0)
"""The default spacing: results are in pixels."""

MAX_HEIGHT_MM = 60.0
"""Largest plausible vertebral body height (DATA.md: heights 0–60 mm)."""

MIN_ANGLE_DEG = -30.0
"""Most lordotic plausible wedge or kyphotic angle (DATA.md: −30 … 90)."""

MAX_ANGLE_DEG = 90.0
"""Most kyphotic plausible wedge or kyphotic angle (DATA.md: −30 … 90)."""

MIN_LENGTH = 1e-9
"""Distances at or below this (mm, or pixels) count as zero: coincident points."""

_LINES_COINCIDE = 1e-9
"""Relative separation (of the endplate length) below which two lines coincide."""

_LANDMARK_NAMES = {
    "sa": "superior-anterior corner",
    "sp": "superior-posterior corner",
    "ia": "inferior-anterior corner",
    "ip": "inferior-posterior corner",
    "sm": "superior mid-endplate point",
    "im": "inferior mid-endplate point",
}


@dataclass(frozen=True)
class VertebraLandmarks:
    """The landmarks of one vertebral body on a lateral radiograph, in pixels.

    ``sa``/``sp``: superior endplate, anterior and posterior corner;
    ``ia``/``ip``: inferior endplate, anterior and posterior corner;
    ``sm``/``im``: optional mid-points of the superior and inferior endplates
    (both are needed for the middle height).
    """

    sa: Point
    sp: Point
    ia: Point
    ip: Point
    sm: Point | None = None
    im: Point | None = None

    def __post_init__(self) -> None:
        for name in ("sa", "sp", "ia", "ip", "sm", "im"):
            value = getattr(self, name)
            if value is None and name in ("sm", "im"):
                continue
            object.__setattr__(self, name, _point(value, name))


@dataclass(frozen=True)
class Heights:
    """Vertebral body heights in mm (or pixels with the default spacing).

    ``middle_mm`` is None when the mid-endplate points were not marked.
    """

    anterior_mm: float
    middle_mm: float | None
    posterior_mm: float

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "anterior_mm", positive_height(self.anterior_mm, "anterior_height_mm")
        )
        object.__setattr__(
            self, "posterior_mm", positive_height(self.posterior_mm, "posterior_height_mm")
        )
        if self.middle_mm is not None:
            object.__setattr__(
                self, "middle_mm", positive_height(self.middle_mm, "middle_height_mm")
            )


@dataclass(frozen=True)
class HeightRestoration:
    """Height gained by augmentation, in the ways Spine 2003;28:2517–21 names.

    * ``absolute_mm`` = post − pre; always present (report it always).
    * ``of_lost_height_percent`` = (post − pre)/(Href − pre) × 100, kyphos's
      default relative measure; None without a reference height, and None when
      the reference is not taller than the pre-operative height (no height was
      lost, so there is no lost height to restore).
    * ``relative_to_pre_percent`` = (post − pre)/pre × 100.
    * ``relative_to_reference_percent`` = (post − pre)/Href × 100; None without
      a reference height.
    * ``post_to_reference_percent`` = post/Href × 100; None without a reference.
    """

    absolute_mm: float
    of_lost_height_percent: float | None
    relative_to_pre_percent: float
    relative_to_reference_percent: float | None
    post_to_reference_percent: float | None


def heights(landmarks: VertebraLandmarks, spacing_mm: Spacing = PIXELS) -> Heights:
    """Anterior, middle and posterior height, corner to corner, in mm.

    ``spacing_mm`` is ``(row, column)``: y is scaled by the row spacing and x by
    the column spacing before the distance is taken.
    """
    spacing = _spacing(spacing_mm)
    anterior = _distance(landmarks.sa, landmarks.ia, spacing, "anterior_height_mm", "sa", "ia")
    posterior = _distance(landmarks.sp, landmarks.ip, spacing, "posterior_height_mm", "sp", "ip")
    middle = None
    if landmarks.sm is not None and landmarks.im is not None:
        middle = _distance(landmarks.sm, landmarks.im, spacing, "middle_height_mm", "sm", "im")
    return Heights(anterior_mm=anterior, middle_mm=middle, posterior_mm=posterior)


def wedge_angle(landmarks: VertebraLandmarks, spacing_mm: Spacing = PIXELS) -> float:
    """Vertebral wedge angle in degrees, positive = kyphotic (module docstring).

    The angle between the superior endplate (``sa → sp``) and the inferior
    endplate (``ia → ip``) of one vertebral body.
    """
    return _signed_angle(
        (landmarks.sa, landmarks.sp),
        (landmarks.ia, landmarks.ip),
        _spacing(spacing_mm),
        "wedge_angle_deg",
    )


def cobb_angle(upper: Endplate, lower: Endplate, spacing_mm: Spacing = PIXELS) -> float:
    """Segmental kyphotic (Cobb) angle in degrees, positive = kyphotic.

    ``upper`` is the superior endplate of the vertebra above and ``lower`` the
    inferior endplate of the vertebra below, each as
    ``(anterior_point, posterior_point)`` in pixels. The upper line is expected
    above the lower one, the two not crossing between their ends (as on any
    spine); lines that cross at their midpoints are refused.
    """
    upper_line = _endplate(upper, "upper")
    lower_line = _endplate(lower, "lower")
    return _signed_angle(upper_line, lower_line, _spacing(spacing_mm), "kyphotic_angle_deg")


def wedge_ratio(anterior_mm: float, posterior_mm: float) -> float:
    """Wedge ratio ``Ha/Hp`` (1 = no wedging)."""
    return positive_height(anterior_mm, "anterior_height_mm") / positive_height(
        posterior_mm, "posterior_height_mm"
    )


def biconcavity_ratio(middle_mm: float, posterior_mm: float) -> float:
    """Biconcavity ratio ``Hm/Hp`` (1 = no biconcavity)."""
    return positive_height(middle_mm, "middle_height_mm") / positive_height(
        posterior_mm, "posterior_height_mm"
    )


def reference_height(above_mm: float | None, below_mm: float | None) -> float:
    """``Href``: the mean of the neighbours' same height, of those measured.

    At least one neighbour is required.
    """
    measured = [
        positive_height(value, field)
        for value, field in ((above_mm, "above_height_mm"), (below_mm, "below_height_mm"))
        if value is not None
    ]
    if not measured:
        raise ClinicalValueError(
            "reference_height_mm",
            "a reference height needs the height of the vertebra above or below (neither given)",
            message_zh="参考高度需要上位或下位椎体的高度（两者均未提供）",
        )
    return sum(measured) / len(measured)


def compression_percent(height_mm: float, reference_mm: float) -> float:
    """Compression % = ``(1 − H/Href) × 100`` (negative when taller than Href)."""
    height = positive_height(height_mm, "height_mm")
    reference = positive_height(reference_mm, "reference_height_mm")
    return (1.0 - height / reference) * 100.0


def height_restoration(
    pre_mm: float, post_mm: float, reference_mm: float | None = None
) -> HeightRestoration:
    """Height restoration from ``pre_mm`` to ``post_mm`` (see :class:`HeightRestoration`)."""
    pre = positive_height(pre_mm, "pre_height_mm")
    post = positive_height(post_mm, "post_height_mm")
    gained = post - pre
    relative_to_pre = gained / pre * 100.0
    if reference_mm is None:
        return HeightRestoration(gained, None, relative_to_pre, None, None)
    reference = positive_height(reference_mm, "reference_height_mm")
    lost = reference - pre
    of_lost = gained / lost * 100.0 if lost > 0 else None
    return HeightRestoration(
        absolute_mm=gained,
        of_lost_height_percent=of_lost,
        relative_to_pre_percent=relative_to_pre,
        relative_to_reference_percent=gained / reference * 100.0,
        post_to_reference_percent=post / reference * 100.0,
    )


def validate_height_mm(value: object, field: str) -> float | None:
    """A recorded height (text or number) in mm, more than 0 and at most 60; None if empty."""
    number = parse_number(value, field)
    if number is None:
        return None
    if not 0.0 < number <= MAX_HEIGHT_MM:
        raise ClinicalValueError(
            field,
            f"{_show(number)} mm is not a plausible vertebral height "
            f"(more than 0, at most {_show(MAX_HEIGHT_MM)} mm)",
            message_zh=f"{_show(number)} mm 不是合理的椎体高度"
            f"（大于0且不超过{_show(MAX_HEIGHT_MM)} mm）",
        )
    return number


def validate_angle_deg(value: object, field: str) -> float | None:
    """A recorded wedge or kyphotic angle (text or number), −30 … 90°; None if empty."""
    number = parse_number(value, field)
    if number is None:
        return None
    if not MIN_ANGLE_DEG <= number <= MAX_ANGLE_DEG:
        raise ClinicalValueError(
            field,
            f"{_show(number)}° is not a plausible angle "
            f"({_show(MIN_ANGLE_DEG)} … {_show(MAX_ANGLE_DEG)}°, positive = kyphosis)",
            message_zh=f"{_show(number)}° 不是合理的角度"
            f"（{_show(MIN_ANGLE_DEG)} … {_show(MAX_ANGLE_DEG)}°，正值为后凸）",
        )
    return number


def positive_height(value: object, field: str) -> float:
    """``value`` as a float when it is a positive finite number, else ClinicalValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ClinicalValueError(
            field,
            f"{value!r} is not a height in mm (a positive number)",
            message_zh=f"{value!r} 不是以毫米计的高度（应为正数）",
        )
    number = float(value)
    if not (math.isfinite(number) and number > 0.0):
        raise ClinicalValueError(
            field,
            f"{value!r} is not a height in mm: heights must be positive finite numbers",
            message_zh=f"{value!r} 不是有效高度：高度应为正的有限数值",
        )
    return number


def parse_point(value: object, field: str) -> Point:
    """A landmark given as ``(x, y)`` (any pair of finite numbers), else ClinicalValueError."""
    return _point(value, field)


def parse_endplate(value: object, field: str) -> Endplate:
    """An endplate given as ``(anterior_point, posterior_point)``, else ClinicalValueError."""
    return _endplate(value, field)


# ---------------------------------------------------------------------------
# Internals


def _signed_angle(upper: Endplate, lower: Endplate, spacing: Spacing, field: str) -> float:
    """Signed angle from ``upper`` to ``lower``, positive when closer anteriorly.

    Both lines are taken in mm and directed anterior → posterior (``u``, ``v``).
    Their bisector ``d`` is the axis; ``n`` is perpendicular to it and points
    from the upper line toward the lower one. Expressed in the ``(d, n)`` frame
    with dot products only (so no image handedness enters), the lower line
    turning toward ``n`` relative to the upper line means the two lines move
    apart going posteriorly: they are closer anteriorly, a kyphotic angle.
    """
    upper_anterior, upper_posterior = (_scaled(point, spacing) for point in upper)
    lower_anterior, lower_posterior = (_scaled(point, spacing) for point in lower)
    u = _sub(upper_posterior, upper_anterior)
    v = _sub(lower_posterior, lower_anterior)
    u_length = math.hypot(*u)
    v_length = math.hypot(*v)
    for length, which in ((u_length, "upper"), (v_length, "lower")):
        if length <= MIN_LENGTH:
            raise ClinicalValueError(
                field,
                f"the {which} endplate has no length: its anterior and posterior points coincide",
                message_zh=f"{'上' if which == 'upper' else '下'}终板长度为零：前后两点重合",
            )
    if _dot(u, v) <= 0.0:
        raise ClinicalValueError(
            field,
            "endplates point in opposite directions: check the anterior/posterior order",
            message_zh="两终板方向相反：请检查前、后点的顺序",
        )
    d = _add(_scale(u, 1.0 / u_length), _scale(v, 1.0 / v_length))
    d = _scale(d, 1.0 / math.hypot(*d))
    n = (-d[1], d[0])
    upper_mid = _scale(_add(upper_anterior, upper_posterior), 0.5)
    lower_mid = _scale(_add(lower_anterior, lower_posterior), 0.5)
    separation = _dot(_sub(lower_mid, upper_mid), n)
    if abs(separation) <= _LINES_COINCIDE * max(u_length, v_length):
        raise ClinicalValueError(
            field,
            "the two endplate lines coincide (or cross at their midpoints): "
            "check that the upper and lower endplates are different lines",
            message_zh="两条终板线重合（或在中点相交）：请检查上、下终板是否为不同的线",
        )
    if separation < 0.0:
        n = (-n[0], -n[1])
    upper_direction = math.atan2(_dot(u, n), _dot(u, d))
    lower_direction = math.atan2(_dot(v, n), _dot(v, d))
    return math.degrees(lower_direction - upper_direction)


def _point(value: object, field: str) -> Point:
    name = _LANDMARK_NAMES.get(field.rsplit(".", 1)[-1], "point")
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ClinicalValueError(
            field,
            f"the {name} must be a pair (x, y) of pixel coordinates, got {value!r}",
            message_zh=f"{field} 应为像素坐标 (x, y)，实际为 {value!r}",
        )
    items = tuple(value)
    if len(items) != 2:
        raise ClinicalValueError(
            field,
            f"the {name} must be a pair (x, y) of pixel coordinates, "
            f"got {len(items)} values {value!r}",
            message_zh=f"{field} 应为像素坐标 (x, y)，实际有{len(items)}个值",
        )
    coordinates: list[float] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            raise ClinicalValueError(
                field,
                f"the {name} must be a pair of numbers, got {value!r}",
                message_zh=f"{field} 的坐标应为数字，实际为 {value!r}",
            )
        coordinate = float(item)
        if not math.isfinite(coordinate):
            raise ClinicalValueError(
                field,
                f"the {name} must be a pair of finite numbers, got {value!r}",
                message_zh=f"{field} 的坐标应为有限数值，实际为 {value!r}",
            )
        coordinates.append(coordinate)
    return (coordinates[0], coordinates[1])


def _endplate(value: object, field: str) -> Endplate:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ClinicalValueError(
            field,
            f"an endplate must be a pair (anterior_point, posterior_point), got {value!r}",
            message_zh=f"{field} 终板应为 (前点, 后点)，实际为 {value!r}",
        )
    items = tuple(value)
    if len(items) != 2:
        raise ClinicalValueError(
            field,
            f"an endplate must be a pair (anterior_point, posterior_point), "
            f"got {len(items)} values",
            message_zh=f"{field} 终板应为 (前点, 后点)，实际有{len(items)}个值",
        )
    return (_point(items[0], f"{field}.anterior"), _point(items[1], f"{field}.posterior"))


def _spacing(value: object) -> Spacing:
    problem = (
        f"pixel spacing must be a pair (row, column) of positive finite millimetres "
        f"per pixel, got {value!r}"
    )
    problem_zh = f"像素间距应为两个正的有限数值 (行, 列)（毫米/像素），实际为 {value!r}"
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ClinicalValueError("spacing_mm", problem, message_zh=problem_zh)
    items = tuple(value)
    if len(items) != 2:
        raise ClinicalValueError("spacing_mm", problem, message_zh=problem_zh)
    spacing: list[float] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            raise ClinicalValueError("spacing_mm", problem, message_zh=problem_zh)
        number = float(item)
        if not (math.isfinite(number) and number > 0.0):
            raise ClinicalValueError("spacing_mm", problem, message_zh=problem_zh)
        spacing.append(number)
    return (spacing[0], spacing[1])


def _distance(
    first: Point, second: Point, spacing: Spacing, field: str, first_name: str, second_name: str
) -> float:
    distance = math.hypot(*_sub(_scaled(second, spacing), _scaled(first, spacing)))
    if distance <= MIN_LENGTH:
        raise ClinicalValueError(
            field,
            f"zero height: the points {first_name} and {second_name} coincide "
            f"({first!r}); mark the two corners of the vertebral body",
            message_zh=f"高度为零：{first_name} 与 {second_name} 两点重合，请标记椎体的两个角点",
        )
    return distance


def _scaled(point: Point, spacing: Spacing) -> Point:
    row, column = spacing
    return (point[0] * column, point[1] * row)


def _add(a: Point, b: Point) -> Point:
    return (a[0] + b[0], a[1] + b[1])


def _sub(a: Point, b: Point) -> Point:
    return (a[0] - b[0], a[1] - b[1])


def _scale(a: Point, factor: float) -> Point:
    return (a[0] * factor, a[1] * factor)


def _dot(a: Point, b: Point) -> float:
    return a[0] * b[0] + a[1] * b[1]


def _show(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)
