from __future__ import annotations

import pytest

from kyphos.clinical import ClinicalValueError, vas


@pytest.mark.parametrize(("value", "cm"), [("8.4", 8.4), (0, 0.0), (10, 10.0), (" 2.5 ", 2.5)])
def test_vas_accepts_centimetres_read_to_the_millimetre(value: object, cm: float) -> None:
    assert vas.parse_cm(value) == cm


def test_vas_empty_cell_is_not_recorded() -> None:
    assert vas.parse_cm("") is None
    assert vas.parse_cm(None) is None


@pytest.mark.parametrize("value", [11, -0.1, "10.1", 100])
def test_vas_refuses_scores_outside_zero_to_ten(value: object) -> None:
    with pytest.raises(ClinicalValueError, match=r"vas: .* is not a VAS score \(0–10 cm\)"):
        vas.parse_cm(value)


def test_vas_refuses_more_than_one_decimal() -> None:
    with pytest.raises(ClinicalValueError, match="more than one decimal"):
        vas.parse_cm(8.35)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), True, "eight", "8,5"])
def test_vas_refuses_values_that_are_not_numbers(value: object) -> None:
    with pytest.raises(ClinicalValueError, match="vas"):
        vas.parse_cm(value)


def test_vas_decimal_comma_gets_a_hint() -> None:
    with pytest.raises(ClinicalValueError, match="use a decimal point"):
        vas.parse_cm("8,5")


def test_vas_millimetres_convert_exactly_to_centimetres() -> None:
    assert vas.mm_to_cm(83) == 8.3
    assert vas.mm_to_cm(0) == 0.0
    assert vas.mm_to_cm(100) == 10.0
    assert vas.cm_to_mm(8.3) == 83.0
    assert vas.cm_to_mm(0.1) == 1.0


def test_vas_millimetres_outside_the_line_or_fractional_are_refused() -> None:
    with pytest.raises(ClinicalValueError, match=r"0–100 mm"):
        vas.mm_to_cm(101)
    with pytest.raises(ClinicalValueError, match="whole millimetre"):
        vas.mm_to_cm(83.5)


def test_vas_every_tenth_round_trips_through_millimetres() -> None:
    for mm in range(101):
        cm = vas.mm_to_cm(mm)
        assert vas.parse_cm(cm) == mm / 10
        assert vas.cm_to_mm(cm) == mm
