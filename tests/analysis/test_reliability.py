"""kyphos.analysis.reliability against published and independently computed values.

Published: Shrout & Fleiss 1979 (Table 2 data and ICCs), the wine example of
pingouin/psych (ICCs and F tests as printed in CLINICAL.md §8), Bland & Altman 1986
(peak-flow data), Koo & Li 2016 (interpretation bands). Independent: pingouin's
``intraclass_corr`` (validated against R ``psych::ICC``) for every value, F, p and CI.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pingouin
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kyphos.analysis import reliability
from kyphos.analysis.reliability import (
    ICC_FORMS,
    INTERPRETATION_LABELS,
    IccResult,
    bland_altman,
    icc,
    interpret,
    interpretation_label,
)

SHROUT_FLEISS = [
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
]
WINE = [
    [1, 2, 0, 1],
    [1, 3, 3, 2],
    [3, 8, 1, 4],
    [6, 4, 3, 3],
    [6, 5, 5, 6],
    [7, 5, 6, 2],
    [8, 7, 7, 9],
    [9, 9, 9, 8],
]
# Bland & Altman, Lancet 1986: peak expiratory flow (l/min), first readings.
WRIGHT = [494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427]
MINI_WRIGHT = [512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451]

PINGOUIN_NAMES = {
    "ICC(1,1)": "ICC(1,1)",
    "ICC(2,1)": "ICC(A,1)",
    "ICC(3,1)": "ICC(C,1)",
    "ICC(1,k)": "ICC(1,k)",
    "ICC(2,k)": "ICC(A,k)",
    "ICC(3,k)": "ICC(C,k)",
}


@pytest.fixture(autouse=True)
def _unrounded_pingouin() -> Iterator[None]:
    """pingouin rounds its CI column to 2 decimals by default; compare unrounded."""
    saved = dict(pingouin.options)
    pingouin.options["round"] = None
    pingouin.options["round.column.CI95"] = None
    yield
    pingouin.options.clear()
    pingouin.options.update(saved)


def _pingouin_icc(matrix: Sequence[Sequence[float | None]]) -> pd.DataFrame:
    rows = [
        (target, rater, np.nan if value is None else value)
        for target, ratings in enumerate(matrix)
        for rater, value in enumerate(ratings)
    ]
    data = pd.DataFrame(rows, columns=["target", "rater", "rating"])
    table = pingouin.intraclass_corr(
        data=data, targets="target", raters="rater", ratings="rating", nan_policy="omit"
    )
    return table.set_index("Type")


def _values(result: IccResult) -> list[float | None]:
    return [estimate.value for estimate in result.estimates]


def _assert_no_nan_anywhere(result: Any) -> None:
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if dataclasses.is_dataclass(value):
            _assert_no_nan_anywhere(value)
            continue
        for item in value if isinstance(value, tuple) else (value,):
            assert not (isinstance(item, float) and not math.isfinite(item)), f.name


def _assert_reasons_explain_exactly_the_nones(result: Any) -> None:
    nones = {
        f.name
        for f in dataclasses.fields(result)
        if getattr(result, f.name) is None and f.name != "reasons"
    }
    assert set(result.reasons) == nones
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            _assert_reasons_explain_exactly_the_nones(value)


def test_the_public_api_is_pinned() -> None:
    assert set(reliability.__all__) == {
        "ICC_FORMS",
        "INTERPRETATION_LABELS",
        "BlandAltman",
        "IccEstimate",
        "IccResult",
        "Interpretation",
        "bland_altman",
        "icc",
        "interpret",
        "interpretation_label",
    }


# --------------------------------------------------------------------------- ICC values


def test_icc_reproduces_the_values_shrout_and_fleiss_published() -> None:
    # Shrout & Fleiss 1979, Table 4: .17 .29 .71 .44 .62 .91.
    result = icc(SHROUT_FLEISS)
    published = [0.17, 0.29, 0.71, 0.44, 0.62, 0.91]
    assert _values(result) == pytest.approx(published, abs=0.005)


def test_icc_reproduces_shrout_and_fleiss_to_six_decimals_with_their_mean_squares() -> None:
    # CLINICAL.md §8 [C].
    result = icc(SHROUT_FLEISS)
    six_dp = [0.165742, 0.289764, 0.714841, 0.442797, 0.620051, 0.909316]
    assert _values(result) == pytest.approx(six_dp, abs=5e-7)
    assert (result.bms, result.wms, result.jms, result.ems) == pytest.approx(
        (11.2417, 6.2639, 32.4861, 1.0194), abs=5e-5
    )
    assert (result.n, result.k, result.dropped) == (6, 4, 0)


def test_icc_reproduces_the_published_wine_example_with_its_f_tests() -> None:
    result = icc(WINE)
    published = [0.728, 0.728, 0.729, 0.914, 0.914, 0.915]
    assert _values(result) == pytest.approx(published, abs=5e-4)
    assert result.f_one_way == pytest.approx(11.680, abs=5e-4)
    assert result.df_one_way == (7, 24)
    assert result.f_two_way == pytest.approx(11.787, abs=5e-4)
    assert result.df_two_way == (7, 21)


@pytest.mark.parametrize("matrix", [SHROUT_FLEISS, WINE], ids=["shrout-fleiss", "wine"])
def test_icc_values_f_tests_and_intervals_match_pingouin(
    matrix: list[list[int]],
) -> None:
    result = icc(matrix)
    reference = _pingouin_icc(matrix)
    for estimate in result.estimates:
        row = reference.loc[PINGOUIN_NAMES[estimate.form]]
        assert estimate.value == pytest.approx(row["ICC"], rel=1e-10), estimate.form
        assert estimate.ci95 == pytest.approx(tuple(row["CI95"]), rel=1e-9), estimate.form
    one_way = reference.loc["ICC(1,1)"]
    two_way = reference.loc["ICC(A,1)"]
    assert result.f_one_way == pytest.approx(one_way["F"], rel=1e-10)
    assert result.p_one_way == pytest.approx(one_way["pval"], rel=1e-9)
    assert result.f_two_way == pytest.approx(two_way["F"], rel=1e-10)
    assert result.p_two_way == pytest.approx(two_way["pval"], rel=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_icc_matches_pingouin_on_random_tables(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(3, 30)), int(rng.integers(2, 6))
    true_value = rng.normal(20.0, 4.0, size=(n, 1))
    rater_bias = rng.normal(0.0, 1.0, size=(1, k))
    matrix = (true_value + rater_bias + rng.normal(0.0, 2.0, size=(n, k))).tolist()
    result = icc(matrix)
    reference = _pingouin_icc(matrix)
    for estimate in result.estimates:
        row = reference.loc[PINGOUIN_NAMES[estimate.form]]
        assert estimate.value == pytest.approx(row["ICC"], rel=1e-9, abs=1e-12)
        assert estimate.ci95 == pytest.approx(tuple(row["CI95"]), rel=1e-8, abs=1e-12)


def test_icc_drops_targets_with_a_missing_rating_like_pingouin() -> None:
    matrix: list[list[float | None]] = [[float(v) for v in row] for row in WINE]
    matrix[2][1] = None
    matrix[5][3] = float("nan")
    result = icc(matrix)
    assert (result.n, result.dropped) == (6, 2)
    reference = _pingouin_icc(matrix)
    assert result.icc2_1.value == pytest.approx(reference.loc["ICC(A,1)", "ICC"], rel=1e-10)
    assert result.icc2_1.ci95 == pytest.approx(tuple(reference.loc["ICC(A,1)", "CI95"]), rel=1e-9)


def test_icc_forms_can_be_looked_up_by_either_naming_convention() -> None:
    result = icc(WINE)
    assert result.form("ICC(2,1)") is result.icc2_1
    assert result.form("ICC(A,1)") is result.icc2_1
    assert result.form("ICC(C,k)") is result.icc3_k
    assert [estimate.form for estimate in result.estimates] == list(ICC_FORMS)
    with pytest.raises(KeyError, match="is not an ICC form"):
        result.form("ICC(4,1)")


# --------------------------------------------------------------------------- ICC edge cases


def test_icc_of_a_single_rater_is_not_computable_and_says_why() -> None:
    result = icc([[1.0], [2.0], [3.0]])
    assert (result.n, result.k) == (3, 1)
    assert all(estimate.value is None for estimate in result.estimates)
    assert result.icc2_1.reasons["value"] == "fewer than 2 raters"
    assert result.bms is None
    _assert_reasons_explain_exactly_the_nones(result)


def test_icc_of_a_single_target_is_not_computable_and_says_why() -> None:
    result = icc([[1.0, 2.0, 3.0], [4.0, None, 5.0]])
    assert (result.n, result.dropped) == (1, 1)
    assert result.icc3_1.value is None
    assert result.icc3_1.reasons["value"] == "fewer than 2 targets with every rating"
    _assert_reasons_explain_exactly_the_nones(result)


def test_icc_of_an_empty_table_is_not_computable_and_says_why() -> None:
    result = icc([])
    assert (result.n, result.k) == (0, 0)
    assert all(estimate.value is None for estimate in result.estimates)
    _assert_reasons_explain_exactly_the_nones(result)


def test_perfect_agreement_gives_icc_1_without_an_interval_or_nan() -> None:
    # Ratings with rounding noise: 0.1 + 0.2 is not exactly 0.3 in binary.
    result = icc([[0.1 + 0.2, 0.3], [1.1, 1.1], [2.7, 2.7], [5.0, 5.0]])
    assert all(estimate.value == 1.0 for estimate in result.estimates)
    assert result.f_one_way is None
    assert result.icc2_1.ci95 is None
    assert "EMS = 0" in result.icc2_1.reasons["ci95"]
    _assert_no_nan_anywhere(result)
    _assert_reasons_explain_exactly_the_nones(result)


def test_constant_ratings_give_no_icc_and_no_nan() -> None:
    result = icc([[3.0, 3.0], [3.0, 3.0], [3.0, 3.0]])
    assert all(estimate.value is None for estimate in result.estimates)
    assert "is 0/0" in result.icc1_1.reasons["value"]
    _assert_no_nan_anywhere(result)
    _assert_reasons_explain_exactly_the_nones(result)


def test_targets_that_do_not_differ_give_no_average_measure_icc() -> None:
    # Both targets read 1 by rater A and 2 by rater B: BMS = 0, EMS = 0.
    result = icc([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    assert result.bms == 0.0
    assert result.icc1_k.value is None
    assert "BMS" in result.icc1_k.reasons["value"]
    assert result.icc1_1.value == pytest.approx(-1.0)
    assert result.icc1_1.ci95 is None
    _assert_no_nan_anywhere(result)
    _assert_reasons_explain_exactly_the_nones(result)


def test_icc_of_an_empty_array_keeps_its_number_of_raters() -> None:
    result = icc(np.empty((0, 2)))
    assert (result.n, result.k) == (0, 2)
    assert result.icc2_1.reasons["value"] == "no ratings"


def test_icc_accepts_a_numpy_array_with_nan_for_missing() -> None:
    matrix = np.array(WINE, dtype=float)
    matrix[0, 0] = np.nan
    assert icc(matrix) == icc([[None, *WINE[0][1:]], *WINE[1:]])


def test_icc_refuses_a_ragged_table_and_says_what_it_needs() -> None:
    with pytest.raises(ValueError, match="one row per target"):
        icc([[1.0, 2.0], [3.0]])


rating = st.one_of(st.integers(0, 10).map(float), st.floats(-50.0, 50.0), st.none())
tables = st.integers(1, 4).flatmap(
    lambda k: st.lists(st.lists(rating, min_size=k, max_size=k), max_size=8)
)


@given(tables)
def test_icc_never_returns_nan_and_explains_every_none(table: list[list[float | None]]) -> None:
    result = icc(table)
    _assert_no_nan_anywhere(result)
    _assert_reasons_explain_exactly_the_nones(result)
    # The exact F intervals of ICC(1,·) and ICC(3,·) contain their estimate; McGraw &
    # Wong's approximate ICC(2,·) interval need not in tiny degenerate tables.
    for estimate in (result.icc1_1, result.icc3_1, result.icc1_k, result.icc3_k):
        if estimate.ci95 is not None and estimate.value is not None:
            assert estimate.ci95[0] <= estimate.value + 1e-12
            assert estimate.value <= estimate.ci95[1] + 1e-12


def test_icc2k_has_no_interval_where_the_spearman_brown_step_up_breaks_down() -> None:
    # n = 2, k = 2: the ICC(2,1) lower limit falls below −1/(k − 1) = −1, and stepping
    # it up gives a "lower" limit above 2 (pingouin prints that); kyphos says why not.
    result = icc([[1.0, 0.0], [1.0, 2.0]])
    assert result.icc2_1.ci95 is not None
    assert result.icc2_1.ci95[0] < -1.0
    assert result.icc2_k.value == 0.0
    assert result.icc2_k.ci95 is None
    assert "Spearman–Brown" in result.icc2_k.reasons["ci95"]


# --------------------------------------------------------------------------- interpretation


@pytest.mark.parametrize(
    ("value", "category"),
    [
        (-0.2, "poor"),
        (0.49, "poor"),
        (0.5, "moderate"),
        (0.74, "moderate"),
        (0.75, "good"),
        (0.9, "good"),
        (0.91, "excellent"),
        (1.0, "excellent"),
    ],
)
def test_icc_interpretation_follows_koo_and_li(value: float, category: str) -> None:
    assert interpret(value) == category


def test_an_icc_that_could_not_be_computed_has_no_interpretation() -> None:
    assert interpret(None) is None


def test_interpretation_labels_exist_in_english_and_chinese() -> None:
    assert interpretation_label("excellent") == "excellent"
    assert interpretation_label("poor", "zh") == "差"
    assert interpretation_label("moderate", "zh") == "中等"
    assert interpretation_label("good", "zh") == "良好"
    assert interpretation_label("excellent", "zh") == "优秀"
    assert set(INTERPRETATION_LABELS) == {"poor", "moderate", "good", "excellent"}
    with pytest.raises(ValueError, match="not a report language"):
        interpretation_label("good", "fr")


# --------------------------------------------------------------------------- Bland–Altman


def test_bland_altman_reproduces_the_1986_peak_flow_example() -> None:
    # CLINICAL.md §8: d = Wright − Mini Wright, d̄ −2.118, sd 38.765,
    # limits −78.10 / 73.86 with 1.96 SD (−79.65 / 75.41 with 2 SD, as published).
    result = bland_altman(first=MINI_WRIGHT, second=WRIGHT)
    assert result.n == 17
    assert result.bias == pytest.approx(-2.118, abs=5e-4)
    assert result.sd == pytest.approx(38.765, abs=5e-4)
    assert result.loa == pytest.approx((-78.10, 73.86), abs=5e-3)
    assert result.bias is not None
    assert result.sd is not None
    assert result.bias - 2 * result.sd == pytest.approx(-79.65, abs=5e-3)
    assert result.bias + 2 * result.sd == pytest.approx(75.41, abs=5e-3)
    assert result.reasons == {}


def test_bland_altman_drops_incomplete_pairs_and_counts_them() -> None:
    result = bland_altman([10.0, None, 12.0, 11.0], [11.0, 9.0, 12.5, float("nan")])
    assert (result.n, result.dropped) == (2, 2)
    assert result.bias == pytest.approx(0.75)


def test_bland_altman_of_one_pair_has_a_bias_but_no_limits() -> None:
    result = bland_altman([10.0], [11.0])
    assert result.bias == 1.0
    assert (result.sd, result.loa) == (None, None)
    assert result.reasons == {"sd": "n < 2", "loa": "n < 2"}


def test_bland_altman_of_no_pairs_says_why_nothing_is_computed() -> None:
    result = bland_altman([], [])
    assert (result.n, result.bias, result.sd, result.loa) == (0, None, None, None)
    _assert_reasons_explain_exactly_the_nones(result)
