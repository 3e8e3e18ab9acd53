"""Tests for kyphos.clinical.reading (one observer's landmark reading of a vertebra).

Expected values come from CLINICAL.md §4 or from the trigonometry written next to
each case; none is computed with kyphos's own helpers. Bodies are laid out in
millimetres first and then turned into pixels by dividing by the spacing, so the
millimetre answers are the CLINICAL.md ones.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kyphos.clinical.errors import ClinicalValueError, ClinicalValueErrors
from kyphos.clinical.geometry import Heights
from kyphos.clinical.reading import (
    ADJUDICATION_DEG,
    ADJUDICATION_MM,
    KEYS,
    MAX_COORDINATE,
    Readout,
    check_inside,
    complete,
    differences,
    dumps,
    exceeding,
    heights_of,
    parse_landmarks,
    readout,
)

# CLINICAL.md §4 trapezoid: Ha 15, Hp 25, depth 30; wedge angle atan(10/30).
WEDGE_DEG = math.degrees(math.atan(10 / 30))  # 18.434948822922…°
HAN = re.compile(r"[\u4e00-\u9fff]")


def body_mm_to_px(
    corners_mm: dict[str, tuple[float, float]],
    spacing: tuple[float, float],
    origin: tuple[float, float] = (100.0, 100.0),
) -> dict[str, Any]:
    """Points laid out in mm (x, y) as pixel landmarks: x / column, y / row."""
    row, column = spacing
    return {
        key: [origin[0] + x / column, origin[1] + y / row] for key, (x, y) in corners_mm.items()
    }


# Facing left (anterior at x = 0 mm); superior endplate level, inferior endplate
# dropping 10 mm over the 30 mm depth; mid-endplate points at 15 mm depth, where
# the inferior endplate is at 15 + 10/2 = 20 mm: Hm = 20 mm.
TRAPEZOID_MM = {
    "sa": (0.0, 0.0),
    "sp": (30.0, 0.0),
    "ia": (0.0, 15.0),
    "ip": (30.0, 25.0),
    "sm": (15.0, 0.0),
    "im": (15.0, 20.0),
}
CORNERS_MM = {key: TRAPEZOID_MM[key] for key in ("sa", "sp", "ia", "ip")}


def error_fields(error: ClinicalValueError) -> set[str]:
    if isinstance(error, ClinicalValueErrors):
        return {problem.field for problem in error.problems}
    return {error.field}


# ---------------------------------------------------------------------------
# parse_landmarks


@pytest.mark.parametrize(
    ("landmarks", "field"),
    [
        ({"sx": [1, 2]}, "landmarks.sx"),
        ({"sa": [1, 2, 3]}, "landmarks.sa"),
        ({"sa": [1]}, "landmarks.sa"),
        ({"sa": "1,2"}, "landmarks.sa"),
        ({"sa": 5}, "landmarks.sa"),
        ({"sa": [math.nan, 2]}, "landmarks.sa"),
        ({"sp": [1, math.inf]}, "landmarks.sp"),
        ({"ia": [True, 2]}, "landmarks.ia"),
        ({"ip": ["1", 2]}, "landmarks.ip"),
        ({"above": [[0, 0], [1, 1], [2, 2]]}, "landmarks.above"),
        ({"below": [[0, 0]]}, "landmarks.below"),
        ({"above": [[0, 0], [1, math.nan]]}, "landmarks.above.posterior"),
        ({"sm": [MAX_COORDINATE * 2, 5]}, "landmarks.sm"),
        ({"im": [5, MAX_COORDINATE + 1]}, "landmarks.im"),
        ({"below": [[MAX_COORDINATE + 1, 0], [1, 1]]}, "landmarks.below"),
    ],
)
def test_parse_landmarks_refuses_bad_entries_naming_the_key(
    landmarks: dict[str, object], field: str
) -> None:
    with pytest.raises(ClinicalValueError) as caught:
        parse_landmarks(landmarks)
    fields = error_fields(caught.value)
    assert any(name.startswith(field) for name in fields), fields


def test_parse_landmarks_refuses_a_non_mapping() -> None:
    with pytest.raises(ClinicalValueError) as caught:
        parse_landmarks([[1, 2]])
    assert caught.value.field == "landmarks"
    assert caught.value.message_zh


def test_parse_landmarks_reports_every_problem_together() -> None:
    with pytest.raises(ClinicalValueErrors) as caught:
        parse_landmarks(
            {
                "sx": [1, 2],
                "sa": [math.nan, 0],
                "sp": [10, 10],
                "above": [[0, 0]],
                "ip": [False, 3],
            }
        )
    assert error_fields(caught.value) == {
        "landmarks.sx",
        "landmarks.sa",
        "landmarks.above",
        "landmarks.ip",
    }
    # Every problem has an English and a Chinese message.
    for problem in caught.value.problems:
        assert problem.text("en")
        assert HAN.search(problem.text("zh"))


def test_parse_landmarks_prefixes_the_given_field_name() -> None:
    with pytest.raises(ClinicalValueError) as caught:
        parse_landmarks({"sa": [1, 2, 3]}, "levels.L1")
    assert error_fields(caught.value) == {"levels.L1.sa"}


def test_parse_landmarks_skips_none_and_gives_floats() -> None:
    parsed = parse_landmarks({"sa": None, "sp": [1, 2], "above": [[3, 4.5], (5, 6)], "below": None})
    assert parsed == {"sp": [1.0, 2.0], "above": [[3.0, 4.5], [5.0, 6.0]]}
    sp: Any = parsed["sp"]
    assert all(isinstance(c, float) for c in sp)


def test_parse_landmarks_accepts_the_largest_coordinate() -> None:
    parsed = parse_landmarks({"sa": [MAX_COORDINATE, 0]})
    assert parsed == {"sa": [MAX_COORDINATE, 0.0]}


# ---------------------------------------------------------------------------
# check_inside


def test_check_inside_refuses_a_point_outside_the_image() -> None:
    landmarks = parse_landmarks({"sa": [10, 10], "sp": [120, 10], "ia": [10, 81]})
    with pytest.raises(ClinicalValueError) as caught:
        check_inside(landmarks, 100, 80, "reading")
    assert error_fields(caught.value) == {"reading.sp", "reading.ia"}
    assert "100 × 80" in str(caught.value)


def test_check_inside_names_the_endplate_point() -> None:
    landmarks = parse_landmarks({"above": [[10, 10], [101, 10]]})
    with pytest.raises(ClinicalValueError) as caught:
        check_inside(landmarks, 100, 80, "reading")
    assert error_fields(caught.value) == {"reading.above.posterior"}


def test_check_inside_accepts_points_inside_and_on_the_border() -> None:
    landmarks = parse_landmarks(
        {"sa": [0, 0], "sp": [100, 80], "ia": [50, 40], "below": [[1, 1], [99, 79]]}
    )
    check_inside(landmarks, 100, 80, "reading")  # no error


# ---------------------------------------------------------------------------
# readout: heights, ratios, wedge angle


def test_readout_trapezoid_with_isotropic_spacing() -> None:
    spacing = (0.2, 0.2)
    result = readout(body_mm_to_px(TRAPEZOID_MM, spacing), spacing, spacing_source="dicom")
    assert result.calibrated is True
    assert result.spacing_source == "dicom"
    assert result.anterior_height_mm == pytest.approx(15.0, abs=1e-9)
    assert result.posterior_height_mm == pytest.approx(25.0, abs=1e-9)
    assert result.middle_height_mm == pytest.approx(20.0, abs=1e-9)
    assert result.wedge_ratio == pytest.approx(0.6, abs=1e-12)
    assert result.biconcavity_ratio == pytest.approx(20 / 25, abs=1e-12)
    assert result.wedge_angle_deg == pytest.approx(WEDGE_DEG, abs=1e-9)
    assert result.kyphotic_angle_deg is None
    assert result.missing == ["above", "below"]
    assert result.problems == []


def test_readout_trapezoid_with_anisotropic_spacing() -> None:
    # Row (y) spacing 0.1, column (x) spacing 0.2: the body is 150 px deep and
    # 150/250 px tall, but 30 mm deep and 15/25 mm tall.
    spacing = (0.1, 0.2)
    landmarks = body_mm_to_px(TRAPEZOID_MM, spacing)
    assert landmarks["ia"] == [100.0, 250.0] and landmarks["sp"] == [250.0, 100.0]
    result = readout(landmarks, spacing)
    assert result.anterior_height_mm == pytest.approx(15.0, abs=1e-9)
    assert result.posterior_height_mm == pytest.approx(25.0, abs=1e-9)
    assert result.middle_height_mm == pytest.approx(20.0, abs=1e-9)
    assert result.wedge_ratio == pytest.approx(0.6, abs=1e-12)
    assert result.wedge_angle_deg == pytest.approx(WEDGE_DEG, abs=1e-9)


def test_readout_uses_row_spacing_for_y_and_column_spacing_for_x() -> None:
    # Anterior wall leaning: 30 px across and 40 px down. With row 0.3 mm and
    # column 0.1 mm: hypot(30 × 0.1, 40 × 0.3) = hypot(3, 12) = √153 mm.
    landmarks = {"sa": [100, 100], "ia": [130, 140], "sp": [300, 100], "ip": [300, 180]}
    result = readout(landmarks, (0.3, 0.1))
    assert result.anterior_height_mm == pytest.approx(math.sqrt(153), abs=1e-9)
    assert result.posterior_height_mm == pytest.approx(80 * 0.3, abs=1e-9)


def test_readout_uncalibrated_gives_ratios_and_angles_but_no_heights() -> None:
    # Square pixels: the pixel body is the mm trapezoid scaled by 5.
    result = readout(body_mm_to_px(TRAPEZOID_MM, (0.2, 0.2)), None)
    assert result.calibrated is False
    assert result.spacing_source is None
    assert result.anterior_height_mm is None
    assert result.middle_height_mm is None
    assert result.posterior_height_mm is None
    assert result.wedge_ratio == pytest.approx(0.6, abs=1e-12)
    assert result.biconcavity_ratio == pytest.approx(0.8, abs=1e-12)
    assert result.wedge_angle_deg == pytest.approx(WEDGE_DEG, abs=1e-9)
    # Height loss needs no units: 1 − min(75, 100)/125 px = 0.4.
    assert result.height_loss_percent == pytest.approx(40.0, abs=1e-9)
    assert result.restoration is None


def test_readout_values_are_the_stored_measurements() -> None:
    spacing = (0.2, 0.2)
    result = readout(body_mm_to_px(TRAPEZOID_MM, spacing), spacing)
    values = result.values()
    assert set(values) == {
        "anterior_height_mm",
        "middle_height_mm",
        "posterior_height_mm",
        "wedge_angle_deg",
        "kyphotic_angle_deg",
    }
    assert values["anterior_height_mm"] == pytest.approx(15.0, abs=1e-9)
    assert values["kyphotic_angle_deg"] is None


def test_readout_middle_height_needs_both_midpoints() -> None:
    spacing = (0.2, 0.2)
    landmarks = body_mm_to_px({**CORNERS_MM, "sm": (15.0, 0.0)}, spacing)
    result = readout(landmarks, spacing)
    assert result.middle_height_mm is None
    assert result.biconcavity_ratio is None
    assert result.anterior_height_mm == pytest.approx(15.0, abs=1e-9)
    assert result.missing == ["im", "above", "below"]


# ---------------------------------------------------------------------------
# readout: missing and partial placement


def test_readout_of_nothing_lists_every_key_missing() -> None:
    result = readout({}, (0.2, 0.2))
    assert result.missing == list(KEYS)
    assert result.values() == dict.fromkeys(result.values())
    assert result.problems == []


def test_readout_with_three_corners_gives_only_missing() -> None:
    spacing = (0.2, 0.2)
    placed = body_mm_to_px(TRAPEZOID_MM, spacing)
    # Placed in a scrambled order; missing follows placement order sa sp ia ip sm im.
    landmarks = {"ia": placed["ia"], "sa": placed["sa"], "sp": placed["sp"], "ip": None}
    result = readout(landmarks, spacing)
    assert result.missing == ["ip", "sm", "im", "above", "below"]
    empty = Readout(calibrated=True, spacing_source=None, missing=result.missing)
    assert result == empty


def test_readout_endplates_alone_give_the_kyphotic_angle_only() -> None:
    result = readout(cobb_landmarks(facing_left=True), (0.2, 0.2))
    assert result.missing == ["sa", "sp", "ia", "ip", "sm", "im"]
    assert result.kyphotic_angle_deg == pytest.approx(15.0, abs=1e-9)
    assert result.wedge_angle_deg is None
    assert result.anterior_height_mm is None
    assert result.genant_grade is None


def test_readout_one_endplate_gives_no_kyphotic_angle() -> None:
    landmarks = cobb_landmarks(facing_left=True)
    del landmarks["below"]
    result = readout(landmarks, (0.2, 0.2))
    assert result.kyphotic_angle_deg is None
    assert result.missing[-1] == "below"


def test_readout_refuses_malformed_landmarks() -> None:
    with pytest.raises(ClinicalValueError) as caught:
        readout({"sa": [1, 2, 3]}, (0.2, 0.2))
    assert error_fields(caught.value) == {"landmarks.sa"}


# ---------------------------------------------------------------------------
# readout: kyphotic (Cobb) angle

SEGMENT = 150.0  # endplate length in pixels


def cobb_landmarks(*, facing_left: bool) -> dict[str, Any]:
    """``above`` inclined +5° and ``below`` −10° (CLINICAL.md §4): 15° kyphosis.

    Going from anterior to posterior, the upper line rises 5° (y decreases) and
    the lower line falls 10° (y increases), so the lines are 300 px apart at
    their anterior ends and further apart posteriorly: closer anteriorly.
    """
    sign = 1.0 if facing_left else -1.0  # direction from anterior to posterior in x
    x0 = 100.0 if facing_left else 900.0
    up_a = (x0, 100.0)
    up_p = (
        x0 + sign * SEGMENT * math.cos(math.radians(5)),
        100.0 - SEGMENT * math.sin(math.radians(5)),
    )
    low_a = (x0, 400.0)
    low_p = (
        x0 + sign * SEGMENT * math.cos(math.radians(10)),
        400.0 + SEGMENT * math.sin(math.radians(10)),
    )
    return {"above": [list(up_a), list(up_p)], "below": [list(low_a), list(low_p)]}


def mirrored(landmarks: dict[str, Any], width: float) -> dict[str, Any]:
    """Every point with x → width − x (the whole image flipped left-right)."""
    out: dict[str, Any] = {}
    for key, value in landmarks.items():
        if key in ("above", "below"):
            out[key] = [[width - x, y] for x, y in value]
        else:
            x, y = value
            out[key] = [width - x, y]
    return out


def test_kyphotic_angle_from_inclinations_of_plus_5_and_minus_10() -> None:
    result = readout(cobb_landmarks(facing_left=True), (0.2, 0.2))
    assert result.kyphotic_angle_deg == pytest.approx(15.0, abs=1e-9)


def test_kyphotic_angle_sign_survives_mirroring_the_image() -> None:
    result = readout(mirrored(cobb_landmarks(facing_left=True), 1000.0), (0.2, 0.2))
    assert result.kyphotic_angle_deg == pytest.approx(15.0, abs=1e-9)


def test_kyphotic_angle_sign_survives_the_patient_facing_right() -> None:
    result = readout(cobb_landmarks(facing_left=False), None)
    assert result.kyphotic_angle_deg == pytest.approx(15.0, abs=1e-9)


def test_kyphotic_angle_is_negative_for_lordosis() -> None:
    # Swap the tilts: upper falls 10° posteriorly, lower rises 5°: the lines
    # approach each other posteriorly, a 15° lordosis.
    c5, s5 = math.cos(math.radians(5)), math.sin(math.radians(5))
    c10, s10 = math.cos(math.radians(10)), math.sin(math.radians(10))
    landmarks = {
        "above": [[100, 100], [100 + SEGMENT * c10, 100 + SEGMENT * s10]],
        "below": [[100, 400], [100 + SEGMENT * c5, 400 - SEGMENT * s5]],
    }
    assert readout(landmarks, None).kyphotic_angle_deg == pytest.approx(-15.0, abs=1e-9)
    flipped = readout(mirrored(landmarks, 640.0), None)
    assert flipped.kyphotic_angle_deg == pytest.approx(-15.0, abs=1e-9)


def test_kyphotic_angle_with_anisotropic_spacing_is_measured_in_mm() -> None:
    # The +5°/−10° endplates read as mm, then stretched into pixels with row
    # 0.1 and column 0.2 mm (x / 0.2, y / 0.1): the mm angle is still 15°.
    spacing = (0.1, 0.2)
    lines_mm = cobb_landmarks(facing_left=True)
    landmarks = {
        key: [[x / spacing[1], y / spacing[0]] for x, y in line] for key, line in lines_mm.items()
    }
    result = readout(landmarks, spacing)
    assert result.kyphotic_angle_deg == pytest.approx(15.0, abs=1e-9)


def test_wedge_angle_sign_survives_mirroring_the_image() -> None:
    spacing = (0.2, 0.2)
    result = readout(mirrored(body_mm_to_px(TRAPEZOID_MM, spacing), 800.0), spacing)
    assert result.wedge_angle_deg == pytest.approx(WEDGE_DEG, abs=1e-9)
    assert result.anterior_height_mm == pytest.approx(15.0, abs=1e-9)


# ---------------------------------------------------------------------------
# readout: height loss, Genant grade, restoration

NEIGHBOUR_ABOVE = Heights(anterior_mm=26.0, middle_mm=None, posterior_mm=25.0)
NEIGHBOUR_BELOW = Heights(anterior_mm=28.0, middle_mm=None, posterior_mm=25.0)


def test_genant_grade_against_the_neighbours() -> None:
    # CLINICAL.md §4: Ha 15, neighbours' Ha 26 and 28 → Href 27,
    # compression (1 − 15/27) = 44.4 % → grade 3. Hp 25 against 25 and 25: 0 %.
    spacing = (0.2, 0.2)
    result = readout(
        body_mm_to_px(TRAPEZOID_MM, spacing),
        spacing,
        neighbours=(NEIGHBOUR_ABOVE, NEIGHBOUR_BELOW),
    )
    assert result.height_loss_percent == pytest.approx((1 - 15 / 27) * 100, abs=1e-9)
    assert round(result.height_loss_percent or 0, 1) == 44.4
    assert result.height_loss_method == "reference"
    assert result.genant_grade == 3


def test_genant_grade_with_one_neighbour() -> None:
    # Only the vertebra above (Ha 18.75): 1 − 15/18.75 = 0.20 → grade 1.
    spacing = (0.2, 0.2)
    above = Heights(anterior_mm=18.75, middle_mm=None, posterior_mm=25.0)
    result = readout(body_mm_to_px(CORNERS_MM, spacing), spacing, neighbours=(above,))
    assert result.height_loss_percent == pytest.approx(20.0, abs=1e-9)
    assert result.genant_grade == 1


def test_genant_grade_without_neighbours_uses_the_posterior_height() -> None:
    # 1 − min(Ha 15, Hm 20)/Hp 25 = 0.40 → grade 2 (0.40 is still moderate).
    spacing = (0.2, 0.2)
    result = readout(body_mm_to_px(TRAPEZOID_MM, spacing), spacing)
    assert result.height_loss_percent == pytest.approx(40.0, abs=1e-9)
    assert result.height_loss_method == "posterior"
    assert result.genant_grade == 2


def test_genant_grade_without_neighbours_takes_a_lower_middle_height() -> None:
    # Biconcave: Ha 22, Hm 12, Hp 25 → 1 − min(22, 12)/25 = 0.52 → grade 3.
    spacing = (0.2, 0.2)
    body = {
        "sa": (0.0, 0.0),
        "sp": (30.0, 0.0),
        "ia": (0.0, 22.0),
        "ip": (30.0, 25.0),
        "sm": (15.0, 6.0),
        "im": (15.0, 18.0),
    }
    result = readout(body_mm_to_px(body, spacing), spacing)
    assert result.middle_height_mm == pytest.approx(12.0, abs=1e-9)
    assert result.height_loss_percent == pytest.approx(52.0, abs=1e-9)
    assert result.genant_grade == 3


def test_restoration_against_the_pre_operative_reading() -> None:
    # CLINICAL.md §4: pre Ha 15, post Ha 22, Href 27 (neighbours 26, 28):
    # of lost height 7/12 = 58.3 %, relative to pre 7/15 = 46.7 %,
    # relative to Href 7/27 = 25.9 %, post/Href 22/27 = 81.5 %.
    spacing = (0.2, 0.2)
    post = {**CORNERS_MM, "ia": (0.0, 22.0)}
    pre = Heights(anterior_mm=15.0, middle_mm=None, posterior_mm=25.0)
    result = readout(
        body_mm_to_px(post, spacing),
        spacing,
        neighbours=(NEIGHBOUR_ABOVE, NEIGHBOUR_BELOW),
        pre=pre,
    )
    restoration = result.restoration
    assert restoration is not None
    assert restoration["absolute_mm"] == pytest.approx(7.0, abs=1e-9)
    assert restoration["of_lost_height_percent"] == pytest.approx(700 / 12, abs=1e-9)
    assert restoration["relative_to_pre_percent"] == pytest.approx(700 / 15, abs=1e-9)
    assert restoration["relative_to_reference_percent"] == pytest.approx(700 / 27, abs=1e-9)
    assert restoration["post_to_reference_percent"] == pytest.approx(2200 / 27, abs=1e-9)
    rounded = {key: round(value or 0, 1) for key, value in restoration.items()}
    assert rounded == {
        "absolute_mm": 7.0,
        "of_lost_height_percent": 58.3,
        "relative_to_pre_percent": 46.7,
        "relative_to_reference_percent": 25.9,
        "post_to_reference_percent": 81.5,
    }


def test_restoration_without_neighbours_has_no_reference_measures() -> None:
    spacing = (0.2, 0.2)
    post = {**CORNERS_MM, "ia": (0.0, 22.0)}
    pre = Heights(anterior_mm=15.0, middle_mm=None, posterior_mm=25.0)
    result = readout(body_mm_to_px(post, spacing), spacing, pre=pre)
    assert result.restoration == {
        "absolute_mm": pytest.approx(7.0, abs=1e-9),
        "of_lost_height_percent": None,
        "relative_to_pre_percent": pytest.approx(700 / 15, abs=1e-9),
        "relative_to_reference_percent": None,
        "post_to_reference_percent": None,
    }


def test_restoration_is_not_given_when_uncalibrated() -> None:
    post = {**CORNERS_MM, "ia": (0.0, 22.0)}
    pre = Heights(anterior_mm=15.0, middle_mm=None, posterior_mm=25.0)
    result = readout(body_mm_to_px(post, (0.2, 0.2)), None, pre=pre)
    assert result.restoration is None
    assert result.problems == []


# ---------------------------------------------------------------------------
# readout: problems instead of exceptions


def test_coincident_corners_are_a_problem_not_an_exception() -> None:
    landmarks = {"sa": [100, 100], "ia": [100, 100], "sp": [250, 100], "ip": [250, 225]}
    result = readout(landmarks, (0.2, 0.2))
    assert [problem.field for problem in result.problems] == ["anterior_height_mm"]
    assert result.anterior_height_mm is None
    assert result.posterior_height_mm is None
    assert result.wedge_ratio is None
    assert result.genant_grade is None
    assert result.missing == ["sm", "im", "above", "below"]


def test_implausible_height_is_a_problem_on_that_field() -> None:
    # Spacing 0.5 mm: Ha 75 px = 37.5 mm (plausible), Hp 125 px = 62.5 mm (> 60).
    landmarks = {"sa": [100, 100], "sp": [250, 100], "ia": [100, 175], "ip": [250, 225]}
    result = readout(landmarks, (0.5, 0.5))
    assert [problem.field for problem in result.problems] == ["posterior_height_mm"]
    assert result.posterior_height_mm is None
    assert result.anterior_height_mm == pytest.approx(37.5, abs=1e-9)


def test_coincident_endplate_points_are_a_problem() -> None:
    landmarks = {"above": [[100, 100], [100, 100]], "below": [[100, 300], [250, 300]]}
    result = readout(landmarks, None)
    assert result.kyphotic_angle_deg is None
    assert [problem.field for problem in result.problems] == ["kyphotic_angle_deg"]


def test_as_json_without_problems() -> None:
    spacing = (0.2, 0.2)
    out = readout(body_mm_to_px(TRAPEZOID_MM, spacing), spacing).as_json()
    assert out["problems"] == []
    assert out["missing"] == ["above", "below"]
    assert out["anterior_height_mm"] == pytest.approx(15.0, abs=1e-9)


def test_as_json_gives_problem_texts_in_chinese() -> None:
    landmarks = {"sa": [100, 100], "ia": [100, 100], "sp": [250, 100], "ip": [250, 225]}
    result = readout(landmarks, (0.2, 0.2))
    english: dict[str, Any] = result.as_json()
    chinese: dict[str, Any] = result.as_json(lang="zh")
    assert [p["field"] for p in chinese["problems"]] == ["anterior_height_mm"]
    assert HAN.search(chinese["problems"][0]["msg"])
    assert not HAN.search(english["problems"][0]["msg"])


# ---------------------------------------------------------------------------
# complete()

FOUR_CORNERS = {"sa": [100, 100], "sp": [250, 100], "ia": [100, 175], "ip": [250, 225]}


def test_complete_accepts_four_corners_alone() -> None:
    complete(FOUR_CORNERS, "reading")  # no error


def test_complete_accepts_every_key() -> None:
    complete(
        {**FOUR_CORNERS, "sm": [175, 100], "im": [175, 200], **cobb_landmarks(facing_left=True)},
        "r",
    )


def test_complete_refuses_missing_corners_naming_them() -> None:
    with pytest.raises(ClinicalValueError) as caught:
        complete({"sa": [1, 1], "sp": [5, 1], "ia": None}, "reading")
    assert caught.value.field == "reading"
    assert "ia, ip" in caught.value.message
    assert "ia, ip" in (caught.value.message_zh or "")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"sm": [175, 100]}, "reading.im"),
        ({"im": [175, 200]}, "reading.sm"),
        ({"above": [[0, 0], [10, 0]]}, "reading.below"),
        ({"below": [[0, 90], [10, 90]]}, "reading.above"),
    ],
)
def test_complete_refuses_half_a_pair(extra: dict[str, object], field: str) -> None:
    with pytest.raises(ClinicalValueError) as caught:
        complete({**FOUR_CORNERS, **extra}, "reading")
    assert caught.value.field == field
    assert caught.value.message_zh


def test_complete_refuses_malformed_landmarks_under_its_field_name() -> None:
    with pytest.raises(ClinicalValueError) as caught:
        complete({**FOUR_CORNERS, "sa": [1, math.nan]}, "reading")
    assert error_fields(caught.value) == {"reading.sa"}


# ---------------------------------------------------------------------------
# differences() and exceeding()


def test_adjudication_thresholds_are_two_mm_and_five_degrees() -> None:
    assert ADJUDICATION_MM == 2.0
    assert ADJUDICATION_DEG == 5.0


def test_differences_are_second_minus_first_for_shared_values() -> None:
    first = {
        "anterior_height_mm": 15.0,
        "middle_height_mm": None,
        "posterior_height_mm": 25.0,
        "wedge_angle_deg": 18.5,
        "kyphotic_angle_deg": 10.0,
    }
    second = {
        "anterior_height_mm": 17.5,
        "middle_height_mm": 20.0,
        "posterior_height_mm": 24.0,
        "wedge_angle_deg": 12.25,
        "unrelated": 3.0,
    }
    assert differences(first, second) == {
        "anterior_height_mm": 2.5,
        "posterior_height_mm": -1.0,
        "wedge_angle_deg": -6.25,
    }


def test_exceeding_is_strictly_greater_than_the_threshold() -> None:
    diffs = {
        "anterior_height_mm": 2.0,  # exactly 2 mm: not exceeding
        "posterior_height_mm": -2.0,  # exactly −2 mm: not exceeding
        "wedge_angle_deg": 5.0,  # exactly 5°: not exceeding
        "kyphotic_angle_deg": -5.0,
    }
    assert exceeding(diffs) == []
    diffs = {
        "anterior_height_mm": 2.25,
        "posterior_height_mm": -2.5,
        "wedge_angle_deg": 5.5,
        "kyphotic_angle_deg": -6.0,
    }
    assert exceeding(diffs) == list(diffs)


def test_exceeding_does_not_mix_up_height_and_angle_thresholds() -> None:
    # 3 (mm) exceeds 2 mm; 3 (°) does not exceed 5°; 4 mm exceeds, 4° does not.
    diffs = {
        "anterior_height_mm": 3.0,
        "middle_height_mm": 4.0,
        "wedge_angle_deg": 3.0,
        "kyphotic_angle_deg": 4.0,
    }
    assert exceeding(diffs) == ["anterior_height_mm", "middle_height_mm"]


def test_exceeding_with_other_thresholds() -> None:
    diffs = {"posterior_height_mm": 1.5, "wedge_angle_deg": 2.5}
    assert exceeding(diffs, threshold_mm=1.0, threshold_deg=3.0) == ["posterior_height_mm"]
    assert exceeding(diffs, threshold_mm=2.0, threshold_deg=2.0) == ["wedge_angle_deg"]


def test_readings_of_one_body_differing_by_a_shifted_corner() -> None:
    # The second observer puts ia 15 px (3 mm at 0.2 mm) lower: Ha +3 mm,
    # which exceeds 2 mm; the wedge angle changes by atan(10/30) − atan(7/30)
    # = 18.43° − 13.13° = 5.30°, which exceeds 5°.
    spacing = (0.2, 0.2)
    first = readout(body_mm_to_px(CORNERS_MM, spacing), spacing)
    second = readout(body_mm_to_px({**CORNERS_MM, "ia": (0.0, 18.0)}, spacing), spacing)
    diffs = differences(first.values(), second.values())
    assert diffs["anterior_height_mm"] == pytest.approx(3.0, abs=1e-9)
    assert diffs["posterior_height_mm"] == pytest.approx(0.0, abs=1e-9)
    expected_deg = math.degrees(math.atan(7 / 30)) - WEDGE_DEG
    assert diffs["wedge_angle_deg"] == pytest.approx(expected_deg, abs=1e-9)
    assert "kyphotic_angle_deg" not in diffs
    assert exceeding(diffs) == ["anterior_height_mm", "wedge_angle_deg"]


# ---------------------------------------------------------------------------
# heights_of() and dumps()


def test_heights_of_gives_pixels_uncalibrated_and_mm_calibrated() -> None:
    # FOUR_CORNERS: Ha = 175 − 100 = 75 px, Hp = 225 − 100 = 125 px.
    assert heights_of(FOUR_CORNERS, None) == Heights(75.0, None, 125.0)
    mm = heights_of(FOUR_CORNERS, (0.2, 0.2))
    assert mm is not None
    assert mm.anterior_mm == pytest.approx(15.0, abs=1e-9)
    assert mm.posterior_mm == pytest.approx(25.0, abs=1e-9)


def test_heights_of_is_none_without_corners_or_with_coincident_ones() -> None:
    assert heights_of({"sa": [1, 1], "sp": [5, 1], "ia": [1, 9]}, None) is None
    assert heights_of({**FOUR_CORNERS, "ia": FOUR_CORNERS["sa"]}, (0.2, 0.2)) is None


def test_dumps_sorts_keys_and_is_compact() -> None:
    text = dumps({"L2": {"sp": [1.5, 2.0], "sa": [3.0, 4.0]}, "L1": {}})
    assert text == '{"L1":{},"L2":{"sa":[3.0,4.0],"sp":[1.5,2.0]}}'


# ---------------------------------------------------------------------------
# Properties


@st.composite
def quadrilaterals(draw: st.DrawFn) -> dict[str, list[float]]:
    """A convex body facing left: anterior wall near x0, posterior near x0 + depth.

    Tilts and leans are bounded by a tenth of the smallest side, so the corners
    keep their order sa → sp → ip → ia around a convex quadrilateral. With
    −0.25 depth ≤ Hp − Ha ≤ depth, the worst slopes of the inferior endplate
    relative to a superior one tilted ±atan(0.1) are about atan(−0.35/0.8) − 5.7°
    ≈ −29.3° and atan(1.1/0.8) + 5.7° ≈ 59.7° (square pixels): always a plausible
    wedge angle (−30 … 90°).
    """
    x0 = draw(st.floats(0.0, 2000.0))
    y0 = draw(st.floats(0.0, 2000.0))
    depth = draw(st.floats(40.0, 300.0))
    ha = draw(st.floats(40.0, 300.0))
    hp = draw(st.floats(max(40.0, ha - 0.25 * depth), min(300.0, ha + depth)))
    limit = min(depth, ha, hp) / 10
    tilt, lean_a, lean_p = (draw(st.floats(-limit, limit)) for _ in range(3))
    return {
        "sa": [x0, y0],
        "sp": [x0 + depth, y0 + tilt],
        "ia": [x0 + lean_a, y0 + ha],
        "ip": [x0 + depth + lean_p, y0 + tilt + hp],
    }


@settings(deadline=None)
@given(
    quad=quadrilaterals(),
    row=st.floats(0.05, 0.15),
    column=st.floats(0.05, 0.15),
)
def test_heights_follow_the_hand_formula(
    quad: dict[str, list[float]], row: float, column: float
) -> None:
    result = readout(quad, (row, column))

    def height(top: str, bottom: str) -> float:
        dx = quad[bottom][0] - quad[top][0]
        dy = quad[bottom][1] - quad[top][1]
        return math.hypot(dx * column, dy * row)

    # (Anisotropic pixels may stretch the wedge angle out of its plausible
    # range; the heights are always plausible: at most 0.15 × hypot(300, 30) mm.)
    assert not [p for p in result.problems if p.field.endswith("height_mm")]
    assert result.anterior_height_mm == pytest.approx(height("sa", "ia"), abs=1e-9)
    assert result.posterior_height_mm == pytest.approx(height("sp", "ip"), abs=1e-9)
    assert result.wedge_ratio == pytest.approx(height("sa", "ia") / height("sp", "ip"), rel=1e-12)


@settings(deadline=None)
@given(
    quad=quadrilaterals(),
    spacing=st.floats(0.05, 0.5),
    turn=st.floats(-math.pi, math.pi),
    shift=st.tuples(st.floats(-500.0, 500.0), st.floats(-500.0, 500.0)),
)
def test_wedge_angle_survives_rotation_and_translation(
    quad: dict[str, list[float]],
    spacing: float,
    turn: float,
    shift: tuple[float, float],
) -> None:
    before = readout(quad, (spacing, spacing)).wedge_angle_deg
    assert before is not None
    cos, sin = math.cos(turn), math.sin(turn)
    # Rotate about (1000, 1000) and move. Points lie within 2,360 px of x, y = 0,
    # so within hypot(1360, 1360) < 1,925 px of the centre: adding 3000 ± 500
    # keeps every coordinate positive.
    moved = {
        key: [
            3000 + shift[0] + cos * (x - 1000) - sin * (y - 1000),
            3000 + shift[1] + sin * (x - 1000) + cos * (y - 1000),
        ]
        for key, (x, y) in quad.items()
    }
    assert min(min(point) for point in moved.values()) >= 0
    after = readout(moved, (spacing, spacing)).wedge_angle_deg
    assert after == pytest.approx(before, abs=1e-9)
