"""Tests for kyphos.clinical.fracture.

Expected values come from CLINICAL.md §4–§6 and DATA.md, or from the hand
computation written next to each assertion; none is computed with kyphos's own
helpers.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kyphos.clinical.errors import ClinicalValueError
from kyphos.clinical.fracture import (
    NEW_FRACTURE_TYPES,
    Acuity,
    AdverseEventType,
    HeightLoss,
    LeakageSite,
    Morphology,
    MriSignal,
    genant_grade,
    height_loss,
    morphology,
    mri_acuity,
    parse_leakage,
    parse_signal,
)
from kyphos.clinical.geometry import Heights

# ---------------------------------------------------------------------------
# Genant grade


@pytest.mark.parametrize(
    ("fraction", "grade"),
    [
        (0.15, 0),  # CLINICAL.md §4
        (0.20, 1),  # boundary: 0.20 ≤ x < 0.25
        (0.22, 1),  # CLINICAL.md §4
        (0.25, 2),  # boundary: 0.25 ≤ x ≤ 0.40
        (0.30, 2),  # CLINICAL.md §4
        (0.40, 2),  # boundary, inclusive
        (0.444, 3),  # CLINICAL.md §4
        (0.0, 0),
        (0.1999, 0),
        (0.2499, 1),
        (0.4001, 3),
        (1.0, 3),
    ],
)
def test_genant_grade_follows_the_kyphos_boundaries(fraction: float, grade: int) -> None:
    assert genant_grade(fraction) == grade


def test_a_vertebra_taller_than_its_reference_is_grade_0() -> None:
    assert genant_grade(-0.12) == 0


def test_a_fraction_that_is_0_20_on_paper_is_grade_1_despite_binary_rounding() -> None:
    # 1 − 20/25 is 0.19999999999999996 in binary floating point.
    assert 1 - 20 / 25 < 0.20
    assert genant_grade(1 - 20 / 25) == 1


@pytest.mark.parametrize("bad", [math.nan, math.inf, 1.01, 44.4, "0.3", None, True])
def test_genant_grade_refuses_nan_and_more_than_the_whole_height(bad: Any) -> None:
    with pytest.raises(ClinicalValueError) as raised:
        genant_grade(bad)
    assert raised.value.field == "height_loss"
    assert "height-loss fraction" in raised.value.message


def test_a_percent_given_as_a_grade_input_is_refused_with_a_hint() -> None:
    with pytest.raises(ClinicalValueError, match="give a fraction, not a percent"):
        genant_grade(44.4)


@given(st.floats(-1.0, 1.0), st.floats(-1.0, 1.0))
def test_a_larger_height_loss_never_has_a_lower_grade(first: float, second: float) -> None:
    low, high = sorted((first, second))
    assert genant_grade(low) <= genant_grade(high)


# ---------------------------------------------------------------------------
# Height loss


def test_height_loss_against_neighbours_for_the_clinical_worked_case() -> None:
    # Index Ha 15, Hp 25; neighbours Ha 26 / 28 (Href 27), Hp 27 / 27 (Href 27).
    # anterior: 1 − 15/27 = 12/27 = 0.4444; posterior: 1 − 25/27 = 2/27 = 0.0741.
    loss = height_loss((15.0, None, 25.0), above=(26.0, None, 27.0), below=(28.0, None, 27.0))
    assert loss.fraction == pytest.approx(12 / 27)
    assert loss.height == "anterior"
    assert loss.method == "reference"
    assert loss.anterior == pytest.approx(12 / 27)
    assert loss.posterior == pytest.approx(2 / 27)
    assert loss.middle is None
    assert genant_grade(loss.fraction) == 3
    assert morphology(loss) == Morphology.WEDGE


def test_height_loss_without_neighbours_compares_with_the_posterior_height() -> None:
    # 1 − min(Ha 15, Hm 20)/Hp 25 = 1 − 15/25 = 0.40 → grade 2.
    loss = height_loss(Heights(anterior_mm=15.0, middle_mm=20.0, posterior_mm=25.0))
    assert loss == HeightLoss(
        fraction=pytest.approx(0.40),  # type: ignore[arg-type]
        height="anterior",
        method="posterior",
        anterior=pytest.approx(0.40),  # type: ignore[arg-type]
        middle=pytest.approx(0.20),  # type: ignore[arg-type]
        posterior=None,
    )
    assert genant_grade(loss.fraction) == 2


def test_height_loss_without_neighbours_finds_a_biconcave_middle() -> None:
    # 1 − min(24, 18)/25 = 1 − 18/25 = 0.28: the middle height, grade 2.
    loss = height_loss((24.0, 18.0, 25.0))
    assert loss.fraction == pytest.approx(0.28)
    assert loss.height == "middle"
    assert morphology(loss) == Morphology.BICONCAVE


def test_height_loss_without_neighbours_works_without_the_middle_height() -> None:
    # 1 − 20/25 = 0.20 (on paper) → grade 1.
    loss = height_loss((20.0, None, 25.0))
    assert loss.fraction == pytest.approx(0.20)
    assert genant_grade(loss.fraction) == 1


def test_a_body_collapsed_posteriorly_too_is_a_crush_fracture() -> None:
    # neighbours' mean heights 26 / 25 / 27; index 18 / 19 / 19:
    # anterior 1 − 18/26 = 0.3077, middle 1 − 19/25 = 0.24, posterior 1 − 19/27 = 0.2963.
    loss = height_loss((18.0, 19.0, 19.0), above=(25.0, 24.0, 26.0), below=(27.0, 26.0, 28.0))
    assert loss.fraction == pytest.approx(8 / 26)
    assert loss.height == "anterior"
    assert loss.posterior == pytest.approx(8 / 27)
    assert morphology(loss) == Morphology.CRUSH


def test_one_measured_neighbour_is_enough_for_the_reference_method() -> None:
    # Href of Ha = 30 (above only): 1 − 21/30 = 0.30.
    loss = height_loss((21.0, None, 28.0), above=(30.0, None, None))
    assert loss.method == "reference"
    assert loss.fraction == pytest.approx(0.30)
    assert loss.posterior is None


def test_neighbours_sharing_no_height_with_the_index_fall_back_to_the_posterior_method() -> None:
    # the neighbour has only a middle height; the index has none: 1 − 15/25 = 0.40.
    loss = height_loss((15.0, None, 25.0), above=(None, 24.0, None))
    assert loss.method == "posterior"
    assert loss.fraction == pytest.approx(0.40)


def test_a_taller_vertebra_has_a_negative_height_loss_and_no_morphology() -> None:
    loss = height_loss((28.0, None, 28.0), above=(25.0, None, 25.0), below=(25.0, None, 25.0))
    assert loss.fraction == pytest.approx(-0.12)  # 1 − 28/25
    assert genant_grade(loss.fraction) == 0
    assert morphology(loss) is None


def test_morphology_is_none_below_the_fracture_threshold() -> None:
    # 1 − 22/25 = 0.12
    assert morphology(height_loss((22.0, None, 25.0))) is None


def test_without_neighbours_a_fracture_is_never_called_a_crush() -> None:
    loss = HeightLoss(fraction=0.3, height="anterior", method="posterior", anterior=0.3)
    assert morphology(loss) == Morphology.WEDGE


@given(
    st.floats(5.0, 40.0),
    st.floats(5.0, 40.0),
    st.floats(10.0, 40.0),
    st.floats(20.0, 40.0),
    st.floats(0.1, 10.0),
)
def test_height_loss_does_not_depend_on_the_unit_of_length(
    anterior: float, middle: float, posterior: float, reference: float, factor: float
) -> None:
    plain = height_loss((anterior, middle, posterior), above=(reference, reference, reference))
    scaled = height_loss(
        (anterior * factor, middle * factor, posterior * factor),
        above=(reference * factor, reference * factor, reference * factor),
    )
    assert scaled.fraction == pytest.approx(plain.fraction, abs=1e-12)
    assert scaled.height == plain.height


@pytest.mark.parametrize(
    ("index", "field"),
    [
        ((0.0, None, 25.0), "anterior_height_mm"),
        ((15.0, math.nan, 25.0), "middle_height_mm"),
        ((15.0, None, -25.0), "posterior_height_mm"),
        (("15", None, 25.0), "anterior_height_mm"),
    ],
)
def test_height_loss_refuses_heights_that_are_not_positive_numbers(index: Any, field: str) -> None:
    with pytest.raises(ClinicalValueError) as raised:
        height_loss(index)
    assert raised.value.field == field
    assert "height in mm" in raised.value.message


def test_a_bad_neighbour_height_is_reported_as_the_neighbours() -> None:
    with pytest.raises(ClinicalValueError) as raised:
        height_loss((15.0, None, 25.0), below=(0.0, None, 25.0))
    assert raised.value.field == "below.anterior_height_mm"


def test_height_loss_refuses_too_few_heights_to_compare() -> None:
    with pytest.raises(ClinicalValueError) as raised:
        height_loss((15.0, None, None))
    assert "posterior height" in raised.value.message
    with pytest.raises(ClinicalValueError, match=r"\(anterior_mm, middle_mm, posterior_mm\)"):
        height_loss((15.0, 25.0))  # type: ignore[arg-type]
    with pytest.raises(ClinicalValueError, match="has no anterior_mm"):
        height_loss(object())  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# MRI signal and acuity

SIGNALS: tuple[str | None, ...] = ("low", "iso", "high", None)
NOT_LOW = ("iso", "high")
NOT_HIGH = ("low", "iso")

# CLINICAL.md §6 written out as sets, by enumeration, not by the rule's logic:
# acute/subacute = T1 low and the fluid-sensitive signal (STIR, else T2) high.
ACUTE = {("low", t2, "high") for t2 in SIGNALS} | {("low", "high", None)}
# chronic = T1 present and not low, fluid-sensitive present and not high.
CHRONIC = {(t1, t2, stir) for t1 in NOT_LOW for t2 in SIGNALS for stir in NOT_HIGH} | {
    (t1, t2, None) for t1 in NOT_LOW for t2 in NOT_HIGH
}


def _expected_acuity(t1: str | None, t2: str | None, stir: str | None) -> str:
    if (t1, t2, stir) in ACUTE:
        return "acute_or_subacute"
    if (t1, t2, stir) in CHRONIC:
        return "chronic"
    return "indeterminate"


def test_the_expected_acuity_table_has_the_sizes_counted_by_hand() -> None:
    # acute: 4 (STIR high, any T2) + 1 (no STIR, T2 high) = 5;
    # chronic: 2 T1 × 4 T2 × 2 STIR + 2 T1 × 2 T2 (no STIR) = 20; the other 39 indeterminate.
    table = [_expected_acuity(*row) for row in itertools.product(SIGNALS, repeat=3)]
    assert len(table) == 64
    assert table.count("acute_or_subacute") == 5
    assert table.count("chronic") == 20
    assert table.count("indeterminate") == 39


@pytest.mark.parametrize(("t1", "t2", "stir"), list(itertools.product(SIGNALS, repeat=3)))
def test_mri_acuity_matches_the_clinical_rule_for_every_combination(
    t1: str | None, t2: str | None, stir: str | None
) -> None:
    assert mri_acuity(t1, t2, stir) == _expected_acuity(t1, t2, stir)


@pytest.mark.parametrize(
    ("t1", "t2", "stir", "acuity"),
    [
        ("low", "high", "high", "acute_or_subacute"),
        ("low", None, "high", "acute_or_subacute"),
        ("low", "high", None, "acute_or_subacute"),  # T2 stands in for STIR
        ("low", "high", "iso", "indeterminate"),  # STIR wins over T2
        ("iso", "iso", "iso", "chronic"),
        ("high", "low", None, "chronic"),
        ("iso", "high", "low", "chronic"),  # STIR wins over T2
        ("low", "iso", "iso", "indeterminate"),  # T1 abnormal, fluid not
        ("iso", None, "high", "indeterminate"),  # fluid abnormal, T1 not
        (None, "high", "high", "indeterminate"),  # no T1
        ("low", None, None, "indeterminate"),  # no fluid-sensitive sequence
        (None, None, None, "indeterminate"),
    ],
)
def test_mri_acuity_spot_rows(
    t1: str | None, t2: str | None, stir: str | None, acuity: str
) -> None:
    assert mri_acuity(t1, t2, stir) == acuity


def test_mri_acuity_reads_signal_words_in_any_case_and_enum_members() -> None:
    assert mri_acuity("LOW", " High ", None) is Acuity.ACUTE_OR_SUBACUTE
    assert mri_acuity(MriSignal.ISO, None, MriSignal.LOW) is Acuity.CHRONIC
    assert mri_acuity("", "", "") is Acuity.INDETERMINATE


def test_mri_acuity_refuses_a_signal_word_it_does_not_know() -> None:
    with pytest.raises(ClinicalValueError) as raised:
        mri_acuity("low", "high", "bright")
    assert raised.value.field == "mri_stir"
    assert "low, iso, high" in raised.value.message


@pytest.mark.parametrize(
    ("text", "signal"),
    [("low", MriSignal.LOW), ("ISO", MriSignal.ISO), (" High ", MriSignal.HIGH), ("", None)],
)
def test_parse_signal_reads_the_three_words_case_insensitively(
    text: str, signal: MriSignal | None
) -> None:
    assert parse_signal(text, "mri_t1") == signal
    assert parse_signal(None, "mri_t1") is None


@pytest.mark.parametrize("bad", ["hyper", "hypointense", "l", 3, "low;high"])
def test_parse_signal_refuses_anything_else_listing_the_allowed_words(bad: object) -> None:
    with pytest.raises(ClinicalValueError) as raised:
        parse_signal(bad, "mri_t2")
    assert raised.value.field == "mri_t2"
    assert "is not an MRI signal: use one of low, iso, high" in raised.value.message


def test_acuity_labels_are_english_and_chinese() -> None:
    assert [(a.value, a.label("en"), a.label("zh")) for a in Acuity] == [
        ("acute_or_subacute", "acute/subacute", "急性/亚急性"),
        ("chronic", "chronic", "陈旧性"),
        ("indeterminate", "indeterminate", "不确定"),
    ]


# ---------------------------------------------------------------------------
# Cement leakage


def test_leakage_sites_are_the_data_contract_vocabulary_with_chinese_labels() -> None:
    assert {site.value: site.label("zh") for site in LeakageSite} == {
        "needle_tract": "穿刺针道",
        "intradiscal": "椎间盘内",
        "anterior": "椎体前方",
        "lateral": "椎体侧方",
        "paravertebral": "椎旁",
        "epidural": "椎管内（硬膜外）",
        "venous": "静脉",
        "other": "其他",
    }


@pytest.mark.parametrize("text", ["none", "NONE", " none ", "", None, [], ["none"], "none; none"])
def test_none_alone_or_an_empty_cell_means_no_leakage(text: object) -> None:
    assert parse_leakage(text) == frozenset()


def test_a_leakage_list_is_read_as_a_set_of_sites() -> None:
    assert parse_leakage("intradiscal; Venous;venous ;") == {
        LeakageSite.INTRADISCAL,
        LeakageSite.VENOUS,
    }
    assert parse_leakage(["epidural", LeakageSite.NEEDLE_TRACT]) == {"epidural", "needle_tract"}


def test_none_together_with_a_site_is_refused() -> None:
    with pytest.raises(ClinicalValueError) as raised:
        parse_leakage("none; venous", "procedures:4:leakage")
    assert raised.value.field == "procedures:4:leakage"
    assert "'none' cannot be combined with a leakage site (venous)" in raised.value.message


def test_an_unknown_leakage_site_is_refused_listing_the_vocabulary() -> None:
    with pytest.raises(ClinicalValueError) as raised:
        parse_leakage("venous; disc")
    assert raised.value.field == "leakage"
    message = raised.value.message
    assert "'disc' is not a leakage site" in message
    for word in ("none", "needle_tract", "intradiscal", "epidural", "venous", "other"):
        assert word in message


def test_the_leakage_docstring_maps_sites_to_the_yeom_classification() -> None:
    doc = LeakageSite.__doc__ or ""
    assert "Yeom" in doc
    assert "type B" in doc and "type S" in doc and "type C" in doc and "type D" in doc


# ---------------------------------------------------------------------------
# Adverse events and morphology vocabularies


def test_adverse_event_types_are_the_data_contract_vocabulary_with_chinese_labels() -> None:
    assert {event.value: event.label("zh") for event in AdverseEventType} == {
        "adjacent_fracture": "相邻椎体骨折",
        "remote_fracture": "非相邻椎体骨折",
        "refracture": "原椎体再骨折",
        "cement_embolism": "骨水泥栓塞",
        "infection": "感染",
        "neurologic_deficit": "神经功能损害",
        "death": "死亡",
        "other": "其他",
    }


def test_the_three_fracture_event_types_are_the_new_fractures() -> None:
    assert {"adjacent_fracture", "remote_fracture", "refracture"} == NEW_FRACTURE_TYPES


def test_morphology_vocabulary_is_that_of_the_vertebrae_sheet() -> None:
    assert [shape.value for shape in Morphology] == ["wedge", "biconcave", "crush"]
    assert all(shape.label("zh") != shape.value for shape in Morphology)


def test_signal_vocabulary_is_that_of_the_vertebrae_sheet() -> None:
    assert [signal.value for signal in MriSignal] == ["low", "iso", "high"]
