"""Tests for kyphos.clinical.geometry.

Expected values come from CLINICAL.md §4 or from the hand computation written
next to each assertion; none is computed with kyphos's own helpers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from kyphos.clinical.errors import ClinicalValueError
from kyphos.clinical.geometry import (
    MAX_ANGLE_DEG,
    MAX_HEIGHT_MM,
    MIN_ANGLE_DEG,
    HeightRestoration,
    Heights,
    Point,
    VertebraLandmarks,
    biconcavity_ratio,
    cobb_angle,
    compression_percent,
    height_restoration,
    heights,
    reference_height,
    validate_angle_deg,
    validate_height_mm,
    wedge_angle,
    wedge_ratio,
)

# A body facing left (anterior at x = 0), Ha 15, Hp 25, depth 30 (CLINICAL.md §4).
TRAPEZOID = VertebraLandmarks(sa=(0, 0), sp=(30, 0), ia=(0, 15), ip=(30, 25))
# atan(10/30) = atan(1/3) = 18.434948822922010…°
TRAPEZOID_WEDGE_DEG = 18.43494882292201


# ---------------------------------------------------------------------------
# Heights


def test_heights_are_corner_to_corner_distances_in_pixels_by_default() -> None:
    measured = heights(TRAPEZOID)
    assert measured == Heights(anterior_mm=15.0, middle_mm=None, posterior_mm=25.0)


def test_middle_height_needs_both_mid_endplate_points() -> None:
    both = VertebraLandmarks(
        sa=(0, 0), sp=(30, 0), ia=(0, 15), ip=(30, 25), sm=(15, 2), im=(15, 20)
    )
    only_one = VertebraLandmarks(sa=(0, 0), sp=(30, 0), ia=(0, 15), ip=(30, 25), sm=(15, 2))
    assert heights(both).middle_mm == pytest.approx(18.0)  # 20 − 2
    assert heights(only_one).middle_mm is None


def test_row_spacing_scales_y_and_column_spacing_scales_x() -> None:
    # spacing (row 0.5, column 0.25): a vertical run of 40 px is 40 × 0.5 = 20 mm,
    # a horizontal run of 40 px would be 10 mm.
    landmarks = VertebraLandmarks(sa=(0, 0), sp=(120, 0), ia=(0, 40), ip=(120, 50))
    measured = heights(landmarks, spacing_mm=(0.5, 0.25))
    assert measured.anterior_mm == pytest.approx(20.0)  # 40 px × 0.5
    assert measured.posterior_mm == pytest.approx(25.0)  # 50 px × 0.5


def test_a_slanted_height_uses_each_axis_own_spacing() -> None:
    # sa → ia is (dx, dy) = (40, 30) px; with row 0.5, column 0.25 mm/px that is
    # x 40 × 0.25 = 10 mm and y 30 × 0.5 = 15 mm → √(10² + 15²) = √325 = 18.027756…
    landmarks = VertebraLandmarks(sa=(0, 0), sp=(120, 0), ia=(40, 30), ip=(120, 50))
    measured = heights(landmarks, spacing_mm=(0.5, 0.25))
    assert measured.anterior_mm == pytest.approx(18.027756377319946)
    # swapping the spacing order gives x 40 × 0.5 = 20, y 30 × 0.25 = 7.5 → √456.25 = 21.36
    swapped = heights(landmarks, spacing_mm=(0.25, 0.5))
    assert swapped.anterior_mm == pytest.approx(21.360009363293827)


def test_wedge_angle_with_anisotropic_spacing_is_taken_in_millimetres() -> None:
    # row 0.5, column 0.25: (120, 50) px → (30, 25) mm, (0, 30) px → (0, 15) mm, which
    # is the Ha 15 / Hp 25 / depth 30 trapezoid in mm: atan(10/30) = 18.4349°. In
    # pixels the same landmarks give atan(20/120) = 9.4623°.
    landmarks = VertebraLandmarks(sa=(0, 0), sp=(120, 0), ia=(0, 30), ip=(120, 50))
    assert wedge_angle(landmarks, spacing_mm=(0.5, 0.25)) == pytest.approx(TRAPEZOID_WEDGE_DEG)
    assert wedge_angle(landmarks) == pytest.approx(9.462322208025617)


# ---------------------------------------------------------------------------
# Angles: values from CLINICAL.md


def test_trapezoid_with_ha_15_hp_25_depth_30_has_a_wedge_angle_of_18_43_degrees() -> None:
    assert wedge_angle(TRAPEZOID) == pytest.approx(TRAPEZOID_WEDGE_DEG)


def test_endplate_inclinations_of_plus_5_and_minus_10_degrees_give_a_cobb_angle_of_15() -> None:
    # Patient facing left, anterior at x = 0, y down. The upper line rises by 5°
    # toward the back; the lower line, 80 px below, falls by 10° toward the back,
    # so the lines are closer at their anterior ends: kyphosis of 5 + 10 = 15°.
    length = 40.0
    five, ten = math.radians(5), math.radians(10)
    upper = ((0.0, 0.0), (length * math.cos(five), -length * math.sin(five)))
    lower = ((0.0, 80.0), (length * math.cos(ten), 80.0 + length * math.sin(ten)))
    assert cobb_angle(upper, lower) == pytest.approx(15.0)


def test_lines_closer_at_their_posterior_ends_give_a_negative_lordotic_angle() -> None:
    # The same two inclinations the other way round: the upper line falls 5°
    # toward the back, the lower one rises 10°, the lines converge posteriorly.
    length = 40.0
    five, ten = math.radians(5), math.radians(10)
    upper = ((0.0, 0.0), (length * math.cos(five), length * math.sin(five)))
    lower = ((0.0, 80.0), (length * math.cos(ten), 80.0 - length * math.sin(ten)))
    assert cobb_angle(upper, lower) == pytest.approx(-15.0)


def test_parallel_endplates_give_zero() -> None:
    box = VertebraLandmarks(sa=(0, 0), sp=(30, 0), ia=(0, 20), ip=(30, 20))
    assert wedge_angle(box) == pytest.approx(0.0, abs=1e-12)


def test_a_body_taller_in_front_has_a_negative_wedge_angle() -> None:
    reverse = VertebraLandmarks(sa=(0, 0), sp=(30, 0), ia=(0, 25), ip=(30, 15))
    assert wedge_angle(reverse) == pytest.approx(-TRAPEZOID_WEDGE_DEG)


def test_wedge_angle_is_positive_whether_the_patient_faces_left_or_right() -> None:
    facing_right = VertebraLandmarks(sa=(30, 0), sp=(0, 0), ia=(30, 15), ip=(0, 25))
    upside_down = VertebraLandmarks(sa=(30, 25), sp=(0, 25), ia=(30, 10), ip=(0, 0))
    assert wedge_angle(TRAPEZOID) == pytest.approx(TRAPEZOID_WEDGE_DEG)
    assert wedge_angle(facing_right) == pytest.approx(TRAPEZOID_WEDGE_DEG)
    assert wedge_angle(upside_down) == pytest.approx(TRAPEZOID_WEDGE_DEG)


def test_cobb_angle_of_a_single_body_equals_its_wedge_angle() -> None:
    upper = (TRAPEZOID.sa, TRAPEZOID.sp)
    lower = (TRAPEZOID.ia, TRAPEZOID.ip)
    assert cobb_angle(upper, lower) == pytest.approx(TRAPEZOID_WEDGE_DEG)


# ---------------------------------------------------------------------------
# Angles: properties


def _transform(
    point: Point,
    theta: float,
    scale: float,
    shift: tuple[float, float],
    mirror_x: bool,
    mirror_y: bool,
) -> Point:
    x, y = point
    if mirror_x:
        x = -x
    if mirror_y:
        y = -y
    cos, sin = math.cos(theta), math.sin(theta)
    return (
        scale * (x * cos - y * sin) + shift[0],
        scale * (x * sin + y * cos) + shift[1],
    )


Transform = tuple[float, float, tuple[float, float], bool, bool]
"""(rotation in radians, scale, shift, mirror x → −x, mirror y → −y)."""

transforms = st.tuples(
    st.floats(0, 2 * math.pi),
    st.floats(0.1, 10.0),
    st.tuples(st.floats(-2000, 2000), st.floats(-2000, 2000)),
    st.booleans(),
    st.booleans(),
)
jitter = st.floats(-2.0, 2.0)


@st.composite
def vertebrae(draw: st.DrawFn) -> VertebraLandmarks:
    """A plausible body facing left: depth 20–50, heights 5–40, corners jittered."""
    depth = draw(st.floats(20.0, 50.0))
    anterior = draw(st.floats(5.0, 40.0))
    posterior = draw(st.floats(10.0, 40.0))
    top = draw(st.floats(-5.0, 5.0))
    return VertebraLandmarks(
        sa=(draw(jitter), draw(jitter)),
        sp=(depth + draw(jitter), top + draw(jitter)),
        ia=(draw(jitter), anterior + draw(jitter)),
        ip=(depth + draw(jitter), top + posterior + draw(jitter)),
    )


@st.composite
def segments(draw: st.DrawFn) -> tuple[tuple[Point, Point], tuple[Point, Point]]:
    """Two endplate lines (anterior, posterior) 30–120 px apart, each tilted ±35°, not crossing."""
    length = draw(st.floats(20.0, 60.0))
    gap = draw(st.floats(30.0, 120.0))
    upper_tilt = math.radians(draw(st.floats(-35.0, 35.0)))
    lower_tilt = math.radians(draw(st.floats(-35.0, 35.0)))
    upper = ((0.0, 0.0), (length * math.cos(upper_tilt), length * math.sin(upper_tilt)))
    lower = ((0.0, gap), (length * math.cos(lower_tilt), gap + length * math.sin(lower_tilt)))
    # endplates never cross on a spine: keep the posterior ends at least 5 px apart too
    assume(lower[1][1] - upper[1][1] >= 5.0)
    return upper, lower


def _moved(landmarks: VertebraLandmarks, how: Transform) -> VertebraLandmarks:
    return VertebraLandmarks(
        sa=_transform(landmarks.sa, *how),
        sp=_transform(landmarks.sp, *how),
        ia=_transform(landmarks.ia, *how),
        ip=_transform(landmarks.ip, *how),
    )


@given(vertebrae(), transforms)
def test_wedge_angle_survives_rotation_translation_scaling_and_mirroring(
    landmarks: VertebraLandmarks,
    how: Transform,
) -> None:
    assert wedge_angle(_moved(landmarks, how)) == pytest.approx(wedge_angle(landmarks), abs=1e-7)


@given(segments(), transforms)
def test_cobb_angle_survives_rotation_translation_scaling_and_mirroring(
    lines: tuple[tuple[Point, Point], tuple[Point, Point]],
    how: Transform,
) -> None:
    upper, lower = lines
    moved_upper = (_transform(upper[0], *how), _transform(upper[1], *how))
    moved_lower = (_transform(lower[0], *how), _transform(lower[1], *how))
    assert cobb_angle(moved_upper, moved_lower) == pytest.approx(cobb_angle(upper, lower), abs=1e-7)


@given(segments())
def test_cobb_angle_is_the_difference_of_the_inclinations(
    lines: tuple[tuple[Point, Point], tuple[Point, Point]],
) -> None:
    # Facing left with y down, a line tilted by t (toward +y going back) and one
    # below it tilted by s diverge posteriorly by s − t: the angle is s − t.
    upper, lower = lines
    upper_tilt = math.degrees(math.atan2(upper[1][1] - upper[0][1], upper[1][0] - upper[0][0]))
    lower_tilt = math.degrees(math.atan2(lower[1][1] - lower[0][1], lower[1][0] - lower[0][0]))
    assert cobb_angle(upper, lower) == pytest.approx(lower_tilt - upper_tilt, abs=1e-9)


@given(st.floats(20.0, 50.0), st.floats(5.0, 40.0), st.floats(5.0, 40.0), st.booleans(), transforms)
def test_wedge_angle_of_a_trapezoid_is_atan_of_height_difference_over_depth_either_way_it_faces(
    depth: float,
    anterior: float,
    posterior: float,
    facing_right: bool,
    how: Transform,
) -> None:
    front = depth if facing_right else 0.0
    back = 0.0 if facing_right else depth
    body = VertebraLandmarks(
        sa=(front, 0), sp=(back, 0), ia=(front, anterior), ip=(back, posterior)
    )
    expected = math.degrees(math.atan((posterior - anterior) / depth))
    assert wedge_angle(_moved(body, how)) == pytest.approx(expected, abs=1e-7)
    if posterior > anterior:
        assert wedge_angle(body) > 0


@given(vertebrae(), st.floats(0.05, 5.0))
def test_heights_scale_linearly_with_isotropic_spacing(
    landmarks: VertebraLandmarks, spacing: float
) -> None:
    in_pixels = heights(landmarks)
    in_mm = heights(landmarks, spacing_mm=(spacing, spacing))
    assert in_mm.anterior_mm == pytest.approx(in_pixels.anterior_mm * spacing)
    assert in_mm.posterior_mm == pytest.approx(in_pixels.posterior_mm * spacing)
    assert wedge_angle(landmarks, (spacing, spacing)) == pytest.approx(
        wedge_angle(landmarks), abs=1e-7
    )


# ---------------------------------------------------------------------------
# Ratios, reference height, compression, restoration: CLINICAL.md §4 worked case


def test_clinical_worked_case_reference_height_wedge_ratio_and_compression() -> None:
    # Ha 15, Hp 25; neighbours' Ha 26 and 28 → Href (26 + 28)/2 = 27;
    # wedge ratio 15/25 = 0.60; compression (1 − 15/27) × 100 = 1200/27 = 44.44… %.
    assert reference_height(26.0, 28.0) == pytest.approx(27.0)
    assert wedge_ratio(15.0, 25.0) == pytest.approx(0.60)
    assert compression_percent(15.0, 27.0) == pytest.approx(1200 / 27)
    assert compression_percent(15.0, 27.0) == pytest.approx(44.4, abs=0.05)  # as published


def test_clinical_worked_case_height_restoration_in_all_four_ways() -> None:
    # pre 15, post 22, Href 27: gained 7 mm; of lost 7/12 = 58.33 %; post/Href
    # 22/27 = 81.48 %; relative to pre 7/15 = 46.67 %; relative to Href 7/27 = 25.93 %.
    restored = height_restoration(15.0, 22.0, 27.0)
    assert restored.absolute_mm == pytest.approx(7.0)
    assert restored.of_lost_height_percent == pytest.approx(700 / 12)
    assert restored.post_to_reference_percent == pytest.approx(2200 / 27)
    assert restored.relative_to_pre_percent == pytest.approx(700 / 15)
    assert restored.relative_to_reference_percent == pytest.approx(700 / 27)
    # the one-decimal values CLINICAL.md quotes
    assert restored.of_lost_height_percent == pytest.approx(58.3, abs=0.05)
    assert restored.post_to_reference_percent == pytest.approx(81.5, abs=0.05)
    assert restored.relative_to_pre_percent == pytest.approx(46.7, abs=0.05)
    assert restored.relative_to_reference_percent == pytest.approx(25.9, abs=0.05)


def test_restoration_without_a_reference_height_reports_only_absolute_and_relative_to_pre() -> None:
    assert height_restoration(15.0, 22.0) == HeightRestoration(
        absolute_mm=7.0,
        of_lost_height_percent=None,
        relative_to_pre_percent=pytest.approx(700 / 15),  # type: ignore[arg-type]
        relative_to_reference_percent=None,
        post_to_reference_percent=None,
    )


def test_restoration_of_lost_height_is_none_when_no_height_was_lost() -> None:
    # Href 20 is not taller than pre 20: nothing was lost, nothing to restore.
    restored = height_restoration(20.0, 22.0, 20.0)
    assert restored.of_lost_height_percent is None
    assert restored.relative_to_reference_percent == pytest.approx(10.0)  # 2/20
    assert restored.post_to_reference_percent == pytest.approx(110.0)  # 22/20


def test_a_height_lost_after_surgery_is_a_negative_restoration() -> None:
    restored = height_restoration(15.0, 14.0, 27.0)
    assert restored.absolute_mm == pytest.approx(-1.0)
    assert restored.of_lost_height_percent == pytest.approx(-100 / 12)


def test_reference_height_uses_the_one_neighbour_measured() -> None:
    assert reference_height(26.0, None) == 26.0
    assert reference_height(None, 28.0) == 28.0


def test_biconcavity_ratio_is_middle_over_posterior() -> None:
    assert biconcavity_ratio(20.0, 25.0) == pytest.approx(0.8)


# ---------------------------------------------------------------------------
# Recorded values


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12.5", 12.5), (" 60 ", 60.0), (0.5, 0.5), (33, 33.0), ("", None), (None, None)],
)
def test_recorded_heights_are_read_from_text_or_numbers(
    value: object, expected: float | None
) -> None:
    assert validate_height_mm(value, "anterior_height_mm") == expected


@pytest.mark.parametrize("value", ["60.5", 72, 0, "-3", "0"])
def test_recorded_heights_outside_0_to_60_mm_are_refused_with_the_range(value: object) -> None:
    with pytest.raises(ClinicalValueError) as raised:
        validate_height_mm(value, "anterior_height_mm")
    assert raised.value.field == "anterior_height_mm"
    assert "60 mm" in raised.value.message
    assert "plausible vertebral height" in raised.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("-30", -30.0), ("90", 90.0), (12.5, 12.5), ("  ", None), (None, None)],
)
def test_recorded_angles_from_minus_30_to_90_are_accepted(
    value: object, expected: float | None
) -> None:
    assert validate_angle_deg(value, "kyphotic_angle_deg") == expected


@pytest.mark.parametrize("value", ["-30.5", 91, "180"])
def test_recorded_angles_outside_minus_30_to_90_are_refused_with_the_range(value: object) -> None:
    with pytest.raises(ClinicalValueError) as raised:
        validate_angle_deg(value, "wedge_angle_deg")
    assert raised.value.field == "wedge_angle_deg"
    assert "-30 … 90" in raised.value.message


def test_recorded_values_that_are_not_numbers_are_refused() -> None:
    with pytest.raises(ClinicalValueError, match="not a number"):
        validate_height_mm("twelve", "anterior_height_mm")
    with pytest.raises(ClinicalValueError, match="not a finite number"):
        validate_angle_deg(float("nan"), "wedge_angle_deg")


def test_plausibility_limits_are_those_of_the_data_contract() -> None:
    assert (MAX_HEIGHT_MM, MIN_ANGLE_DEG, MAX_ANGLE_DEG) == (60.0, -30.0, 90.0)


# ---------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("name", ["sa", "sp", "ia", "ip", "sm", "im"])
def test_a_landmark_with_nan_is_refused_naming_the_landmark(name: str) -> None:
    points: dict[str, Point] = {"sa": (0, 0), "sp": (30, 0), "ia": (0, 15), "ip": (30, 25)}
    points[name] = (float("nan"), 3.0)
    with pytest.raises(ClinicalValueError) as raised:
        VertebraLandmarks(**points)
    assert raised.value.field == name
    assert "finite" in raised.value.message


@pytest.mark.parametrize("bad", [(1.0,), (1.0, 2.0, 3.0), "12", None, ("a", 2.0), (True, 2.0)])
def test_a_landmark_that_is_not_a_pair_of_numbers_is_refused(bad: object) -> None:
    with pytest.raises(ClinicalValueError) as raised:
        VertebraLandmarks(sa=bad, sp=(30, 0), ia=(0, 15), ip=(30, 25))  # type: ignore[arg-type]
    assert raised.value.field == "sa"
    assert "superior-anterior corner" in raised.value.message


def test_landmarks_given_as_lists_are_stored_as_float_pairs() -> None:
    landmarks = VertebraLandmarks(sa=[0, 0], sp=[30, 0], ia=[0, 15], ip=[30, 25])  # type: ignore[arg-type]
    assert landmarks.sa == (0.0, 0.0)
    assert isinstance(landmarks.ip, tuple)


def test_coincident_corners_are_refused_as_a_zero_height() -> None:
    flat = VertebraLandmarks(sa=(0, 0), sp=(30, 0), ia=(0, 0), ip=(30, 25))
    with pytest.raises(ClinicalValueError) as raised:
        heights(flat)
    assert raised.value.field == "anterior_height_mm"
    assert "zero height" in raised.value.message
    assert "coincide" in raised.value.message


@pytest.mark.parametrize(
    "spacing", [(0.0, 0.3), (0.3, -0.1), (float("nan"), 0.3), (0.3, math.inf), (0.3,), "0.3"]
)
def test_zero_negative_or_nan_pixel_spacing_is_refused(spacing: Any) -> None:
    for measure in (heights, wedge_angle):
        with pytest.raises(ClinicalValueError) as raised:
            measure(TRAPEZOID, spacing)
        assert raised.value.field == "spacing_mm"
        assert "positive finite millimetres per pixel" in raised.value.message


def test_an_endplate_drawn_posterior_to_anterior_is_refused() -> None:
    upper = ((0.0, 0.0), (30.0, 0.0))
    reversed_lower = ((30.0, 25.0), (0.0, 15.0))
    with pytest.raises(ClinicalValueError) as raised:
        cobb_angle(upper, reversed_lower)
    assert raised.value.message == (
        "endplates point in opposite directions: check the anterior/posterior order"
    )
    swapped = VertebraLandmarks(sa=(0, 0), sp=(30, 0), ia=(30, 25), ip=(0, 15))
    with pytest.raises(ClinicalValueError, match="anterior/posterior order"):
        wedge_angle(swapped)


def test_an_endplate_whose_two_points_coincide_is_refused() -> None:
    collapsed = VertebraLandmarks(sa=(0, 0), sp=(0, 0), ia=(0, 15), ip=(30, 25))
    with pytest.raises(ClinicalValueError) as raised:
        wedge_angle(collapsed)
    assert raised.value.field == "wedge_angle_deg"
    assert "upper endplate has no length" in raised.value.message


def test_two_endplates_on_the_same_line_are_refused() -> None:
    line = ((0.0, 0.0), (30.0, 0.0))
    with pytest.raises(ClinicalValueError) as raised:
        cobb_angle(line, line)
    assert raised.value.field == "kyphotic_angle_deg"
    assert "coincide" in raised.value.message


def test_an_endplate_that_is_not_a_pair_of_points_is_refused() -> None:
    with pytest.raises(ClinicalValueError) as raised:
        cobb_angle(((0.0, 0.0),), ((0.0, 20.0), (30.0, 20.0)))  # type: ignore[arg-type]
    assert raised.value.field == "upper"
    assert "(anterior_point, posterior_point)" in raised.value.message
    with pytest.raises(ClinicalValueError) as raised:
        cobb_angle(((0.0, 0.0), (30.0, 0.0)), ((0.0, math.nan), (30.0, 20.0)))
    assert raised.value.field == "lower.anterior"


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, "15", True])
def test_ratio_and_restoration_helpers_refuse_heights_that_are_not_positive_numbers(
    bad: Any,
) -> None:
    calls: list[Callable[[], object]] = [
        lambda: wedge_ratio(bad, 25.0),
        lambda: biconcavity_ratio(20.0, bad),
        lambda: reference_height(bad, 26.0),
        lambda: compression_percent(15.0, bad),
        lambda: height_restoration(bad, 22.0, 27.0),
        lambda: height_restoration(15.0, 22.0, bad),
        lambda: Heights(bad, None, 25.0),
    ]
    for call in calls:
        with pytest.raises(ClinicalValueError) as raised:
            call()
        assert "height in mm" in raised.value.message


def test_reference_height_needs_at_least_one_neighbour() -> None:
    with pytest.raises(ClinicalValueError) as raised:
        reference_height(None, None)
    assert "vertebra above or below" in raised.value.message
