"""Boundary parsing: numbers, yes/no, dates, choices, rounding for display."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from kyphos.clinical import ClinicalValueError, numbers, patient, procedure, response, values
from kyphos.clinical.patient import Comorbidity, Sex


@pytest.mark.parametrize(
    ("value", "expected"),
    [(35.555, 35.56), (16 / 45 * 100, 35.56), (2.5, 3.0), (-2.5, -3.0), (0.125, 0.13)],
)
def test_rounding_for_display_is_half_away_from_zero(value: float, expected: float) -> None:
    decimals = 0 if expected.is_integer() else 2
    assert numbers.round_half_away(value, decimals) == expected


def test_format_fixed_keeps_trailing_zeros_and_no_negative_zero() -> None:
    assert numbers.format_fixed(40.0, 2) == "40.00"
    assert numbers.format_fixed(-0.001, 2) == "0.00"
    assert numbers.format_fixed(16 / 45 * 100, 1) == "35.6"


def test_decimals_of_counts_printed_places() -> None:
    assert numbers.decimals_of(8.5) == 1
    assert numbers.decimals_of(8.0) == 0
    assert numbers.decimals_of(0.035) == 3


def test_parse_integer_refuses_fractions() -> None:
    assert numbers.parse_integer("3.0", "x") == 3
    with pytest.raises(ClinicalValueError, match=r"x: 3\.5 is not a whole number"):
        numbers.parse_integer("3.5", "x")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        *[("yes", True), ("Y", True), ("true", True), ("1", True), ("是", True), (1, True)],
        *[("no", False), ("n", False), ("FALSE", False), ("0", False), ("否", False), (0, False)],
        *[("", None), (None, None)],
    ],
)
def test_yes_no_accepts_the_words_data_md_lists(text: object, expected: bool | None) -> None:
    assert values.parse_yes_no(text, "treated") is expected


def test_yes_no_refuses_anything_else() -> None:
    with pytest.raises(ClinicalValueError, match=r"treated: 'maybe' is not yes or no"):
        values.parse_yes_no("maybe", "treated")


def test_dates_must_be_iso() -> None:
    assert values.parse_date("2010-05-31", "visit_date") == dt.date(2010, 5, 31)
    assert values.parse_date(dt.datetime(2010, 5, 31, 8, 0), "visit_date") == dt.date(2010, 5, 31)
    for bad in ["31/05/2010", "2010-5-31", "2010-02-30", "yesterday"]:
        with pytest.raises(ClinicalValueError, match="YYYY-MM-DD"):
            values.parse_date(bad, "visit_date")


def test_choices_are_case_insensitive_and_list_the_vocabulary_when_wrong() -> None:
    assert values.parse_choice("f", Sex, "sex") is Sex.F
    assert values.parse_choice("女", Sex, "sex", aliases=patient.SEX_ALIASES) is Sex.F
    assert values.parse_choice("男", Sex, "sex", aliases=patient.SEX_ALIASES) is Sex.M
    with pytest.raises(ClinicalValueError, match=r"sex: 'X' is not one of: M, F"):
        values.parse_choice("X", Sex, "sex")


def test_choice_sets_read_semicolon_lists_with_none() -> None:
    parsed = values.parse_choice_set("hypertension; diabetes", Comorbidity, "comorbidities")
    assert parsed == {Comorbidity.hypertension, Comorbidity.diabetes}
    assert values.parse_choice_set("none", Comorbidity, "comorbidities") == frozenset()
    assert values.parse_choice_set("", Comorbidity, "comorbidities") is None
    with pytest.raises(ClinicalValueError, match="cannot be combined"):
        values.parse_choice_set("none;diabetes", Comorbidity, "comorbidities")
    with pytest.raises(ClinicalValueError, match="'gout' is not one of"):
        values.parse_choice_set("diabetes;gout", Comorbidity, "comorbidities")


def test_labelled_vocabularies_carry_chinese_labels() -> None:
    assert Sex.F.label("zh") == "女"
    assert procedure.Technique.kyphoplasty.label("en") == "balloon kyphoplasty"
    assert Comorbidity.coronary_heart_disease.label("zh") == "冠心病"
    assert str(Sex.F) == "F"


def test_patient_ranges_catch_typing_errors() -> None:
    assert patient.check_age("67") == 67
    assert patient.check_height_cm(160.5) == 160.5
    with pytest.raises(ClinicalValueError, match=r"age: 17 is outside .*18–120"):
        patient.check_age(17)
    with pytest.raises(ClinicalValueError, match=r"height_cm: 1\.6 is outside the plausible range"):
        patient.check_height_cm("1.6")
    with pytest.raises(ClinicalValueError, match="weight_kg"):
        patient.check_weight_kg(300)
    with pytest.raises(ClinicalValueError, match="bmd_t_score"):
        patient.check_bmd_t_score(-7.5)


def test_age_on_counts_completed_years_across_leap_days() -> None:
    assert patient.age_on(dt.date(1940, 2, 29), dt.date(2008, 2, 28)) == 67
    assert patient.age_on(dt.date(1940, 2, 29), dt.date(2008, 2, 29)) == 68
    with pytest.raises(ClinicalValueError, match="after"):
        patient.age_on(dt.date(2010, 1, 2), dt.date(2010, 1, 1))


def test_bmi_from_height_and_weight() -> None:
    # 60 kg / 1.60 m² = 23.4375
    assert patient.bmi(160, 60) == pytest.approx(23.4375)


def test_cement_volume_must_be_positive_and_at_most_twenty_ml() -> None:
    assert procedure.check_cement_volume_ml("4.5") == 4.5
    for bad in [0, -1, 20.5]:
        with pytest.raises(ClinicalValueError, match="cement volume"):
            procedure.check_cement_volume_ml(bad)


def test_responders_follow_ostelo_thresholds() -> None:
    # CLINICAL.md §3: VAS 8 → 5 responds (Δ 3, 37.5 %); ODI 60 → 52 does not (Δ 8, 13 %).
    assert response.is_responder(8, 5, response.VAS_RULE)
    assert not response.is_responder(60, 52, response.ODI_RULE)
    # 30 % of baseline alone is enough: VAS 3.0 → 2.0 is Δ 1.0 (< 1.5) but 33 %.
    assert response.is_responder(3.0, 2.0, response.VAS_RULE)
    assert not response.is_responder(3.0, 2.2, response.VAS_RULE)
    with pytest.raises(ClinicalValueError):
        response.ResponderRule(absolute=0)


def test_the_responder_mask_applies_the_same_thresholds_to_arrays() -> None:
    # The CLINICAL.md §3 cases above, plus 0 at baseline (no relative improvement) and a
    # worsening, as arrays: the same verdicts element by element.
    baseline = np.array([8.0, 3.0, 3.0, 0.0, 2.0])
    follow_up = np.array([5.0, 2.0, 2.2, 0.0, 4.0])
    mask = response.responder_mask(baseline, follow_up, response.VAS_RULE)
    assert mask.tolist() == [True, True, False, False, False]
    odi = response.responder_mask(np.array([60.0, 60.0]), np.array([52.0, 50.0]), response.ODI_RULE)
    assert odi.tolist() == [False, True]
