"""One observer's landmark reading of one vertebra, and the values it gives.

The annotator places, on a lateral radiograph, in full-resolution image pixels
(x to the right, y down):

* ``sa``, ``sp``, ``ia``, ``ip``: the index vertebra's four corners (superior /
  inferior, anterior / posterior), and ``sm``, ``im``: the mid-points of its
  superior and inferior endplates (CLINICAL.md §4);
* ``above``: the superior endplate of the vertebra above, ``[anterior, posterior]``;
* ``below``: the inferior endplate of the vertebra below, ``[anterior, posterior]``.

:func:`readout` turns whatever is placed so far into the values of CLINICAL.md §4
through :mod:`kyphos.clinical.geometry` and :mod:`kyphos.clinical.fracture`: heights
(millimetres only when the image is calibrated), wedge and biconcavity ratios, the
wedge angle, the segmental kyphotic (Cobb) angle when ``above`` and ``below`` are
placed, the largest height loss and the Genant grade, and the height restoration when
a pre-operative reading of the same vertebra is given.

Without a pixel spacing the ratios and angles are still given, computed on square
pixels (**kyphos**: PNG and JPEG carry no spacing; an image whose rows and columns
differ in spacing must be calibrated for its angles to be right).

Adjudication thresholds (**kyphos** defaults, issue 7): two primary readings whose
heights differ by more than :data:`ADJUDICATION_MM` or whose angles differ by more
than :data:`ADJUDICATION_DEG` may be sent to an adjudicator.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import cast

from kyphos.clinical import fracture, geometry
from kyphos.clinical.errors import ClinicalValueError, ClinicalValueErrors

CORNERS = ("sa", "sp", "ia", "ip")
"""The index vertebra's corners, in the order the annotator asks for them."""

MIDPOINTS = ("sm", "im")
"""The mid-endplate points of the index vertebra (for the middle height)."""

LANDMARKS = (*CORNERS, *MIDPOINTS)
"""Every point of the index vertebra."""

ENDPLATES = ("above", "below")
"""The neighbours' endplates for the segmental kyphotic angle."""

KEYS = (*LANDMARKS, *ENDPLATES)
"""Every key a vertebra's landmark mapping may hold, in placement order."""

ADJUDICATION_MM = 2.0
"""Heights of two primary readings differing by more than this ask for adjudication."""

ADJUDICATION_DEG = 5.0
"""Angles of two primary readings differing by more than this ask for adjudication."""

HEIGHT_FIELDS = ("anterior_height_mm", "middle_height_mm", "posterior_height_mm")
ANGLE_FIELDS = ("wedge_angle_deg", "kyphotic_angle_deg")
VALUE_FIELDS = (*HEIGHT_FIELDS, *ANGLE_FIELDS)
"""The measurement values a reading stores (DATA.md, measurements sheet)."""

MAX_COORDINATE = 1_000_000.0
"""No image is wider or taller than this many pixels; larger coordinates are refused."""


Landmarks = dict[str, object]
"""A vertebra's landmarks as stored: ``{"sa": [x, y], …, "above": [[x, y], [x, y]]}``."""


@dataclass(frozen=True)
class Readout:
    """The values one vertebra's landmarks give (None where they cannot be computed yet).

    Heights are in millimetres and present only when ``calibrated``. ``missing`` lists
    the keys not placed yet (in placement order); ``problems`` says why a value that
    could be computed was not (coincident points, an implausible height …).
    """

    calibrated: bool
    spacing_source: str | None
    anterior_height_mm: float | None = None
    middle_height_mm: float | None = None
    posterior_height_mm: float | None = None
    wedge_ratio: float | None = None
    biconcavity_ratio: float | None = None
    wedge_angle_deg: float | None = None
    kyphotic_angle_deg: float | None = None
    height_loss_percent: float | None = None
    height_loss_method: str | None = None
    genant_grade: int | None = None
    restoration: dict[str, float | None] | None = None
    missing: list[str] = field(default_factory=list)
    problems: list[ClinicalValueError] = field(default_factory=list)

    def values(self) -> dict[str, float | None]:
        """The stored measurement values (DATA.md columns)."""
        return {name: getattr(self, name) for name in VALUE_FIELDS}

    def as_json(self, lang: str = "en") -> dict[str, object]:
        """A JSON-ready mapping; problems as ``{"field", "msg"}`` in ``lang``."""
        out: dict[str, object] = {
            item.name: copy.copy(getattr(self, item.name))
            for item in fields(self)
            if item.name != "problems"
        }
        out["problems"] = [
            {"field": problem.field, "msg": problem.text(lang)} for problem in self.problems
        ]
        return out


def parse_landmarks(value: object, field_name: str = "landmarks") -> Landmarks:
    """A vertebra's landmarks, checked: known keys only, points as finite ``[x, y]``.

    Any key may be missing (a reading in progress). Coordinates must be finite and
    within ``±MAX_COORDINATE`` (the formulas do not care where the origin is);
    :func:`check_inside` checks a stored reading against its image's size.
    """
    if not isinstance(value, Mapping):
        raise ClinicalValueError(
            field_name,
            "landmarks must be a mapping of point names to [x, y]",
            message_zh="标志点应为“点名 → [x, y]”的映射",
        )
    problems: list[ClinicalValueError] = []
    parsed: Landmarks = {}
    for key, raw in value.items():
        where = f"{field_name}.{key}"
        if key not in KEYS:
            problems.append(
                ClinicalValueError(
                    where,
                    f"{key!r} is not a landmark (expected one of {', '.join(KEYS)})",
                    message_zh=f"{key!r} 不是标志点（应为 {', '.join(KEYS)} 之一）",
                )
            )
            continue
        if raw is None:
            continue
        try:
            if key in ENDPLATES:
                anterior, posterior = geometry.parse_endplate(raw, where)
                parsed[key] = [_checked(anterior, where), _checked(posterior, where)]
            else:
                parsed[key] = _checked(geometry.parse_point(raw, where), where)
        except ClinicalValueError as problem:
            problems.append(problem)
    ClinicalValueErrors.raise_if_any(problems)
    return parsed


def check_inside(landmarks: Landmarks, width: int, height: int, field_name: str) -> None:
    """Refuse a point outside a ``width`` × ``height`` image."""
    problems = []
    for key, point in _points(landmarks):
        x, y = point
        if not (0.0 <= x <= width and 0.0 <= y <= height):
            problems.append(
                ClinicalValueError(
                    f"{field_name}.{key}",
                    f"({x:g}, {y:g}) lies outside the image ({width} × {height} pixels)",
                    message_zh=f"({x:g}, {y:g}) 位于图像之外（{width} × {height} 像素）",
                )
            )
    ClinicalValueErrors.raise_if_any(problems)


def readout(
    landmarks: Mapping[str, object],
    spacing_mm: geometry.Spacing | None,
    *,
    spacing_source: str | None = None,
    neighbours: Sequence[geometry.Heights] = (),
    pre: geometry.Heights | None = None,
) -> Readout:
    """The values ``landmarks`` give so far (see the module docstring).

    ``spacing_mm`` is ``(row, column)`` mm per pixel, None when the image is not
    calibrated. ``neighbours`` are the heights of the vertebrae directly above and
    below read by the same observer on the same image, in the same units as this
    reading (mm when calibrated, else pixels): with them, height loss is measured
    against their mean (Genant). ``pre`` is this vertebra's pre-operative heights in
    mm; with it (and a calibrated image) the anterior height restoration is given.
    """
    points = parse_landmarks(landmarks)
    calibrated = spacing_mm is not None
    spacing = spacing_mm if spacing_mm is not None else geometry.PIXELS
    missing = [key for key in KEYS if key not in points]
    problems: list[ClinicalValueError] = []
    values: dict[str, object] = {}

    heights: geometry.Heights | None = None
    if all(key in points for key in CORNERS):
        corners = _corners(points)
        heights = _attempt(problems, geometry.heights, corners, spacing)
        angle = _attempt(problems, geometry.wedge_angle, corners, spacing)
        if angle is not None:
            values["wedge_angle_deg"] = _plausible_angle(problems, angle, "wedge_angle_deg")
    if heights is not None:
        values["wedge_ratio"] = heights.anterior_mm / heights.posterior_mm
        if heights.middle_mm is not None:
            values["biconcavity_ratio"] = heights.middle_mm / heights.posterior_mm
        if calibrated:
            values["anterior_height_mm"] = _plausible_height(
                problems, heights.anterior_mm, "anterior_height_mm"
            )
            values["posterior_height_mm"] = _plausible_height(
                problems, heights.posterior_mm, "posterior_height_mm"
            )
            if heights.middle_mm is not None:
                values["middle_height_mm"] = _plausible_height(
                    problems, heights.middle_mm, "middle_height_mm"
                )
        values.update(_loss(problems, heights, neighbours))
        if pre is not None and calibrated:
            values["restoration"] = _restoration(problems, pre, heights, neighbours)
    if all(key in points for key in ENDPLATES):
        upper = geometry.parse_endplate(points["above"], "above")
        lower = geometry.parse_endplate(points["below"], "below")
        angle = _attempt(problems, geometry.cobb_angle, upper, lower, spacing)
        if angle is not None:
            values["kyphotic_angle_deg"] = _plausible_angle(problems, angle, "kyphotic_angle_deg")
    return Readout(
        calibrated=calibrated,
        spacing_source=spacing_source,
        missing=missing,
        problems=problems,
        **values,  # type: ignore[arg-type]
    )


def _corners(points: Landmarks) -> geometry.VertebraLandmarks:
    """The geometry landmarks of a vertebra whose four corners are placed."""
    return geometry.VertebraLandmarks(
        sa=_pair(points["sa"]),
        sp=_pair(points["sp"]),
        ia=_pair(points["ia"]),
        ip=_pair(points["ip"]),
        sm=_pair(points["sm"]) if "sm" in points else None,
        im=_pair(points["im"]) if "im" in points else None,
    )


def heights_of(
    landmarks: Mapping[str, object], spacing_mm: geometry.Spacing | None
) -> geometry.Heights | None:
    """The heights a complete set of corners gives (pixels when not calibrated), or None."""
    points = parse_landmarks(landmarks)
    if not all(key in points for key in CORNERS):
        return None
    corners = _corners(points)
    try:
        return geometry.heights(corners, spacing_mm or geometry.PIXELS)
    except ClinicalValueError:
        return None


def complete(landmarks: Mapping[str, object], field_name: str) -> None:
    """Refuse a reading to be submitted without the four corners of the index vertebra."""
    points = parse_landmarks(landmarks, field_name)
    absent = [key for key in CORNERS if key not in points]
    if absent:
        raise ClinicalValueError(
            field_name,
            f"place the four corners before submitting (missing: {', '.join(absent)})",
            message_zh=f"提交前请标出四个角点（缺少：{', '.join(absent)}）",
        )
    for pair in (("sm", "im"), ENDPLATES):
        placed = [key for key in pair if key in points]
        if len(placed) == 1:
            other = pair[1] if placed[0] == pair[0] else pair[0]
            raise ClinicalValueError(
                f"{field_name}.{other}",
                f"{placed[0]} is placed but {other} is not: place both or neither",
                message_zh=f"已标出 {placed[0]} 但未标出 {other}：请两者都标出或都不标",
            )


def typed_over(field_name: str) -> ClinicalValueError:
    """The refusal of a typed or imported change to a measurement read from landmarks:
    its values change only by reading the image again, so that the stored landmarks
    still give the stored values (and :func:`readout` can recompute them)."""
    return ClinicalValueError(
        field_name,
        "this value comes from landmarks on a radiograph: change it by reading the image "
        "again, not by typing or importing",
        message_zh="该值由影像上的标志点计算得出：请重新阅片修改，而不是直接输入或导入",
    )


def differences(
    first: Mapping[str, float | None], second: Mapping[str, float | None]
) -> dict[str, float]:
    """``second − first`` for every value both readings have."""
    out: dict[str, float] = {}
    for name in VALUE_FIELDS:
        a, b = first.get(name), second.get(name)
        if a is not None and b is not None:
            out[name] = b - a
    return out


def exceeding(
    diffs: Mapping[str, float],
    *,
    threshold_mm: float = ADJUDICATION_MM,
    threshold_deg: float = ADJUDICATION_DEG,
) -> list[str]:
    """The values whose difference is beyond the adjudication threshold."""
    return [
        name
        for name, diff in diffs.items()
        if abs(diff) > (threshold_mm if name in HEIGHT_FIELDS else threshold_deg)
    ]


def dumps(landmarks: Mapping[str, Landmarks]) -> str:
    """Landmarks per level as the JSON text stored in the registry (sorted keys)."""
    return json.dumps(landmarks, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------
# Internals


def _checked(point: geometry.Point, where: str) -> list[float]:
    x, y = point
    if not (-MAX_COORDINATE <= x <= MAX_COORDINATE and -MAX_COORDINATE <= y <= MAX_COORDINATE):
        raise ClinicalValueError(
            where,
            f"({x:g}, {y:g}) is not a pixel position of any image",
            message_zh=f"({x:g}, {y:g}) 不是图像中的像素位置",
        )
    return [x, y]


def _pair(value: object) -> geometry.Point:
    x, y = cast("Sequence[float]", value)
    return (float(x), float(y))


def _points(landmarks: Landmarks) -> list[tuple[str, geometry.Point]]:
    out: list[tuple[str, geometry.Point]] = []
    for key, value in landmarks.items():
        if key in ENDPLATES:
            anterior, posterior = cast("Sequence[object]", value)
            out.append((f"{key}.anterior", _pair(anterior)))
            out.append((f"{key}.posterior", _pair(posterior)))
        else:
            out.append((key, _pair(value)))
    return out


def _attempt(problems: list[ClinicalValueError], compute, *args):  # type: ignore[no-untyped-def]
    try:
        return compute(*args)
    except ClinicalValueError as problem:
        problems.append(problem)
        return None


def _plausible_height(problems: list[ClinicalValueError], value: float, name: str) -> float | None:
    return _attempt(problems, geometry.validate_height_mm, value, name)  # type: ignore[no-any-return]


def _plausible_angle(problems: list[ClinicalValueError], value: float, name: str) -> float | None:
    return _attempt(problems, geometry.validate_angle_deg, value, name)  # type: ignore[no-any-return]


def _loss(
    problems: list[ClinicalValueError],
    heights: geometry.Heights,
    neighbours: Sequence[geometry.Heights],
) -> dict[str, object]:
    above = neighbours[0] if neighbours else None
    below = neighbours[1] if len(neighbours) > 1 else None
    loss = _attempt(problems, fracture.height_loss, heights, above, below)
    if loss is None or not math.isfinite(loss.fraction) or loss.fraction > 1.0:
        return {}
    return {
        "height_loss_percent": loss.fraction * 100.0,
        "height_loss_method": loss.method,
        "genant_grade": fracture.genant_grade(loss.fraction),
    }


def _restoration(
    problems: list[ClinicalValueError],
    pre: geometry.Heights,
    post: geometry.Heights,
    neighbours: Sequence[geometry.Heights],
) -> dict[str, float | None] | None:
    reference = None
    if neighbours:
        reference = sum(n.anterior_mm for n in neighbours) / len(neighbours)
    restored = _attempt(
        problems, geometry.height_restoration, pre.anterior_mm, post.anterior_mm, reference
    )
    return asdict(restored) if restored is not None else None
