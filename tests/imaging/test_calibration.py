"""Manual calibration from two clicks on an object of known length."""

from __future__ import annotations

import math

import pytest

from kyphos.clinical.errors import ClinicalValueError
from kyphos.imaging.calibration import manual_spacing


def test_two_points_100_pixels_apart_on_50_mm_give_half_a_millimetre_per_pixel() -> None:
    assert manual_spacing((10.0, 20.0), (110.0, 20.0), 50.0) == (0.5, 0.5)


def test_the_distance_is_euclidean() -> None:
    # a 3-4-5 triangle: 60 and 80 pixels apart along the axes are 100 pixels apart
    row, column = manual_spacing((0.0, 0.0), (60.0, 80.0), 25.0)
    assert row == column == pytest.approx(0.25)


@pytest.mark.parametrize("known_mm", [0, -5.0, math.nan, math.inf, "50", None, True])
def test_a_length_that_is_not_a_positive_number_is_refused(known_mm: object) -> None:
    with pytest.raises(ClinicalValueError) as caught:
        manual_spacing((0.0, 0.0), (100.0, 0.0), known_mm)  # type: ignore[arg-type]
    assert caught.value.field == "calibration"
    assert "millimetres" in caught.value.message
    assert caught.value.message_zh


def test_coincident_points_are_refused() -> None:
    with pytest.raises(ClinicalValueError) as caught:
        manual_spacing((12.5, 40.0), (12.5, 40.0), 50.0)
    assert caught.value.field == "calibration"
    assert "same point" in caught.value.message
    assert caught.value.text("zh") == "两个标定点重合；请点击已知长度物体的两端"


@pytest.mark.parametrize("point", [(1.0,), (1.0, math.nan), ("a", 2.0), None, (1.0, 2.0, 3.0)])
def test_a_point_that_is_not_two_numbers_is_refused(point: object) -> None:
    with pytest.raises(ClinicalValueError) as caught:
        manual_spacing(point, (100.0, 0.0), 50.0)  # type: ignore[arg-type]
    assert caught.value.field == "calibration"
