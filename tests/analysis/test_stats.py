"""kyphos.analysis.stats against numbers computed outside kyphos.

Expected values come from publications (R's documented ``sleep`` example, Newcombe
1998, CLINICAL.md §3) or from independent implementations run inside the test:
Python's ``statistics``, ``scipy.stats.ttest_rel``/``wilcoxon``/``ttest_ind``,
``statsmodels`` ``multipletests(method="holm")`` and ``proportion_confint(method="wilson")``.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from kyphos.analysis import stats
from kyphos.analysis.stats import (
    describe,
    holm,
    paired_comparison,
    responders,
    welch_difference,
    wilson,
)
from kyphos.clinical.errors import ClinicalValueError

# Student's sleep data (Cushny & Peebles 1905), R ``datasets::sleep``: extra hours of
# sleep with drug 1 (group 1) and drug 2 (group 2) in the same ten patients.
SLEEP_DRUG_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_DRUG_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]

WILSON_ALPHA = 2 * scipy_stats.norm.sf(1.959964)  # the alpha whose quantile is 1.959964


def _none_fields(result: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(result) if getattr(result, f.name) is None}


def _assert_reasons_explain_exactly_the_nones(result: Any) -> None:
    assert set(result.reasons) == _none_fields(result)
    assert all(isinstance(reason, str) and reason for reason in result.reasons.values())


def _assert_no_nan(result: Any) -> None:
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        values = value if isinstance(value, tuple) else (value,)
        for item in values:
            assert not (isinstance(item, float) and math.isnan(item)), f.name


def test_the_public_api_is_pinned() -> None:
    assert set(stats.__all__) == {
        "WILSON_Z",
        "CompletePairs",
        "Description",
        "PairedComparison",
        "Proportion",
        "WelchDifference",
        "WilcoxonMethod",
        "as_floats",
        "complete_pairs",
        "describe",
        "holm",
        "paired_comparison",
        "responders",
        "welch_difference",
        "wilcoxon_method_for",
        "wilson",
    }


# --------------------------------------------------------------------------- describe


def test_describe_gives_sample_sd_and_type_7_quartiles_like_python_statistics() -> None:
    values = [12.0, 7.5, 3.25, 9.0, 14.5, 7.5, 1.0, 22.0]
    result = describe(values)
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")  # R type 7
    assert result.n == 8
    assert result.mean == pytest.approx(statistics.fmean(values), rel=1e-12)
    assert result.sd == pytest.approx(statistics.stdev(values), rel=1e-12)
    assert result.median == pytest.approx(statistics.median(values), rel=1e-12)
    assert (result.q1, result.q3) == pytest.approx((q1, q3), rel=1e-12)
    assert (result.min, result.max) == (1.0, 22.0)
    assert result.reasons == {}


def test_the_confidence_interval_of_a_mean_is_scipys_t_interval() -> None:
    values = [8.1, 7.4, 9.0, 8.8, 6.9, 7.7]
    expected = scipy_stats.t.interval(
        0.95, len(values) - 1, loc=statistics.mean(values), scale=scipy_stats.sem(values)
    )
    assert describe(values).mean_ci95 == pytest.approx(expected, abs=1e-12)
    assert describe([4.0]).mean_ci95 is None
    assert describe([]).mean_ci95 is None


def test_a_numeric_array_and_a_list_with_none_describe_the_same() -> None:
    as_list = describe([1.0, None, 3.5, 2.0])
    as_array = describe(np.array([1.0, np.nan, 3.5, 2.0]))
    assert as_list == as_array
    assert describe(np.array([1, 2, 3])).mean == 2.0


def test_describe_quartiles_of_one_to_four_are_r_type_7() -> None:
    # R: quantile(1:4) gives 25% 1.75 and 75% 3.25 (type 7, the default).
    result = describe([4, 2, 1, 3])
    assert (result.q1, result.median, result.q3) == (1.75, 2.5, 3.25)


def test_describe_ignores_none_and_nan() -> None:
    result = describe([1.0, None, float("nan"), 3.0])
    assert result.n == 2
    assert result.mean == 2.0
    assert result.sd == pytest.approx(math.sqrt(2.0))


def test_describe_of_nothing_has_n_zero_and_says_why_everything_else_is_missing() -> None:
    result = describe([])
    assert result.n == 0
    assert _none_fields(result) == {"mean", "sd", "median", "q1", "q3", "min", "max"}
    _assert_reasons_explain_exactly_the_nones(result)


def test_describe_of_one_value_has_no_sd_because_n_is_below_2() -> None:
    result = describe([5.0, None])
    assert result.n == 1
    assert (result.mean, result.median, result.q1, result.q3) == (5.0, 5.0, 5.0, 5.0)
    assert result.sd is None
    assert result.reasons == {"sd": "n < 2"}


def test_describe_returns_plain_python_numbers() -> None:
    result = describe(np.array([1.0, 2.0, 4.0]))
    for name in ("mean", "sd", "median", "q1", "q3", "min", "max"):
        assert type(getattr(result, name)) is float


# --------------------------------------------------------------------------- paired comparison


def test_paired_t_test_reproduces_r_on_the_sleep_data() -> None:
    # R: t.test(extra ~ group, data = sleep, paired = TRUE) prints t = -4.0621, df = 9,
    # p-value = 0.002833, 95 % CI -2.4598858 -0.7001142, mean difference -1.58
    # (group 1 - group 2; kyphos's d = b - a has the opposite sign).
    result = paired_comparison(SLEEP_DRUG_1, SLEEP_DRUG_2)
    assert result.n == 10
    assert result.dropped == 0
    assert result.df == 9
    assert result.mean_diff == pytest.approx(1.58, abs=1e-12)
    assert result.t == pytest.approx(4.0621, abs=5e-5)
    assert result.p == pytest.approx(0.002833, abs=5e-7)
    assert result.ci95 == pytest.approx((0.7001142, 2.4598858), abs=5e-8)


def test_paired_comparison_matches_scipy_ttest_rel_and_wilcoxon() -> None:
    rng = np.random.default_rng(20240611)
    a = rng.normal(6.5, 1.8, size=30)
    b = a - rng.normal(2.0, 1.5, size=30)
    result = paired_comparison(a.tolist(), b.tolist())
    reference = scipy_stats.ttest_rel(b, a)
    interval = reference.confidence_interval(0.95)
    d = b - a
    assert result.t == pytest.approx(reference.statistic, rel=1e-9)
    assert result.p == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.df == reference.df
    assert result.ci95 == pytest.approx((interval.low, interval.high), rel=1e-9)
    assert result.cohen_dz == pytest.approx(statistics.fmean(d) / statistics.stdev(d), rel=1e-9)
    assert result.wilcoxon_method == "exact"
    wilcoxon = scipy_stats.wilcoxon(d, zero_method="wilcox", method="exact")
    assert result.wilcoxon_p == pytest.approx(wilcoxon.pvalue, rel=1e-12)
    _assert_reasons_explain_exactly_the_nones(result)


def test_wilcoxon_uses_the_normal_approximation_without_continuity_correction_for_zeros() -> None:
    # The sleep data have one zero difference (patient 5) and tied |d|.
    result = paired_comparison(SLEEP_DRUG_1, SLEEP_DRUG_2)
    assert result.wilcoxon_method == "approx"
    d = np.round(np.array(SLEEP_DRUG_2) - np.array(SLEEP_DRUG_1), 10)
    reference = scipy_stats.wilcoxon(d, zero_method="wilcox", correction=False, method="asymptotic")
    assert result.wilcoxon_p == pytest.approx(reference.pvalue, rel=1e-12)


def test_wilcoxon_approximation_is_the_tie_corrected_normal_formula() -> None:
    # Computed by hand: d = 1, 2, 2, 3, -1 (no zeros; ties at |d| = 1 and 2), n = 5.
    # Ranks of |d|: 1.5, 3.5, 3.5, 5, 1.5; W+ = 13.5; E = n(n+1)/4 = 7.5;
    # Var = [n(n+1)(2n+1) - Σ(t³ - t)/2]/24 = (330 - 6)/24 = 13.5.
    z = (13.5 - 7.5) / math.sqrt(13.5)
    expected = math.erfc(abs(z) / math.sqrt(2.0))
    result = paired_comparison([0, 0, 0, 0, 0], [1, 2, 2, 3, -1])
    assert result.wilcoxon_method == "approx"
    assert result.wilcoxon_p == pytest.approx(expected, rel=1e-12)


def test_wilcoxon_is_exact_up_to_50_untied_pairs_and_approximate_beyond() -> None:
    d50 = np.arange(1, 51, dtype=float) * np.where(np.arange(50) % 3 == 0, -1.0, 1.0)
    at_50 = paired_comparison(np.zeros(50).tolist(), d50.tolist())
    assert at_50.wilcoxon_method == "exact"
    exact = scipy_stats.wilcoxon(d50, method="exact")
    assert at_50.wilcoxon_p == pytest.approx(exact.pvalue, rel=1e-12)

    d51 = np.append(d50, 51.0)
    at_51 = paired_comparison(np.zeros(51).tolist(), d51.tolist())
    assert at_51.wilcoxon_method == "approx"
    approx = scipy_stats.wilcoxon(d51, correction=False, method="asymptotic")
    assert at_51.wilcoxon_p == pytest.approx(approx.pvalue, rel=1e-12)


def test_differences_equal_up_to_floating_point_noise_count_as_ties() -> None:
    # 0.3 - 0.1 = 0.19999999999999998 and 1.3 - 1.1 = 0.19999999999999996 in binary
    # floating point, but they are the same change of 0.2.
    a = [0.1, 0.0, 1.1, 2.0]
    b = [0.3, 0.2, 1.3, 2.5]
    assert len({y - x for x, y in zip(a, b, strict=True)}) == 4  # noise, as claimed
    assert paired_comparison(a, b).wilcoxon_method == "approx"


def test_differences_that_do_not_vary_give_no_t_but_keep_the_mean_difference() -> None:
    # Every VAS drops by 0.2 cm; binary floating point alone would give sd(d) ~ 1e-17
    # and an absurd t.
    result = paired_comparison([0.1, 0.0, 1.1, 7.3], [0.3, 0.2, 1.3, 7.5])
    assert result.mean_diff == pytest.approx(0.2, abs=1e-12)
    assert result.df == 3
    for name in ("t", "p", "cohen_dz", "ci95"):
        assert getattr(result, name) is None
        assert result.reasons[name] == "the differences do not vary"
    assert result.wilcoxon_method == "approx"  # all |d| tied
    assert result.wilcoxon_p is not None
    _assert_reasons_explain_exactly_the_nones(result)


def test_all_zero_differences_give_no_wilcoxon_test_and_say_why() -> None:
    result = paired_comparison([3, 4, 5], [3, 4, 5])
    assert result.mean_diff == 0.0
    assert result.wilcoxon_p is None
    assert result.wilcoxon_method is None
    assert result.reasons["wilcoxon_p"] == "all differences are zero"
    assert result.reasons["t"] == "the differences do not vary"
    _assert_reasons_explain_exactly_the_nones(result)


def test_one_complete_pair_gives_only_the_mean_difference_because_n_is_below_2() -> None:
    result = paired_comparison([8.0, None], [5.0, 4.0])
    assert (result.n, result.dropped, result.mean_diff) == (1, 1, -3.0)
    for name in ("ci95", "t", "df", "p", "cohen_dz", "wilcoxon_p", "wilcoxon_method"):
        assert getattr(result, name) is None
        assert result.reasons[name] == "n < 2"
    _assert_reasons_explain_exactly_the_nones(result)


def test_no_complete_pairs_gives_nothing_but_the_counts() -> None:
    result = paired_comparison([None, 2.0], [1.0, float("nan")])
    assert (result.n, result.dropped) == (0, 2)
    assert result.mean_diff is None
    _assert_reasons_explain_exactly_the_nones(result)


def test_pairs_with_a_missing_side_are_dropped_and_counted() -> None:
    a = [8.0, 7.0, None, 6.0, 9.0, 5.5, float("nan")]
    b = [5.0, 4.5, 3.0, None, 4.0, 3.0, 2.0]
    result = paired_comparison(a, b)
    assert (result.n, result.dropped) == (4, 3)
    reference = scipy_stats.ttest_rel([5.0, 4.5, 4.0, 3.0], [8.0, 7.0, 9.0, 5.5])
    assert result.t == pytest.approx(reference.statistic, rel=1e-9)


def test_paired_comparison_refuses_unpaired_lengths_and_says_how_to_fix_it() -> None:
    with pytest.raises(ValueError, match="pair the values"):
        paired_comparison([1.0, 2.0, 3.0], [1.0, 2.0])


measurement = st.one_of(
    st.none(),
    st.integers(0, 100).map(float),
    st.floats(-1000.0, 1000.0, allow_nan=False),
    st.just(float("nan")),
)
paired_values = st.lists(st.tuples(measurement, measurement), max_size=25)


def test_differences_too_small_to_square_count_as_not_varying() -> None:
    # Found by hypothesis: the SD of (0, 1.36e-213) underflows to 0 in binary floating
    # point (its square is below the smallest subnormal), so t is undefined.
    result = paired_comparison([0.0, 0.0], [0.0, 1.3554693664957698e-213])
    assert result.t is None and result.reasons["t"] == "the differences do not vary"


@given(paired_values)
def test_paired_comparison_never_returns_nan_and_explains_every_none(
    pairs: list[tuple[float | None, float | None]],
) -> None:
    a = [x for x, _ in pairs]
    b = [y for _, y in pairs]
    result = paired_comparison(a, b)
    assert result.n + result.dropped == len(pairs)
    _assert_no_nan(result)
    _assert_reasons_explain_exactly_the_nones(result)
    if result.ci95 is not None:
        assert result.mean_diff is not None
        assert result.ci95[0] <= result.mean_diff <= result.ci95[1]
    for p in (result.p, result.wilcoxon_p):
        assert p is None or 0.0 <= p <= 1.0


# --------------------------------------------------------------------------- Holm


def test_holm_matches_statsmodels() -> None:
    raw = [0.01, 0.04, 0.03, 0.005, 0.2, 0.04]
    expected = multipletests(raw, method="holm")[1]
    assert holm(raw) == pytest.approx(list(expected), rel=1e-12)


def test_holm_step_down_worked_by_hand() -> None:
    # Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04;
    # made monotone: 0.02, 0.03, 0.06, 0.06.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_passes_none_through_without_counting_it_in_m() -> None:
    adjusted = holm([0.01, None, 0.04, float("nan")])
    assert adjusted[1] is None
    assert adjusted[3] is None
    expected = multipletests([0.01, 0.04], method="holm")[1]
    assert [adjusted[0], adjusted[2]] == pytest.approx(list(expected), rel=1e-12)


def test_holm_of_nothing_is_nothing() -> None:
    assert holm([]) == []
    assert holm([None]) == [None]


def test_holm_caps_adjusted_p_values_at_1() -> None:
    assert holm([0.6, 0.7]) == [1.0, 1.0]


def test_holm_refuses_a_number_that_is_not_a_p_value() -> None:
    with pytest.raises(ValueError, match=r"pvalues\[1\]"):
        holm([0.5, 1.5])


p_values = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=12)


@given(p_values)
def test_holm_adjusted_p_values_are_at_least_the_raw_ones_at_most_1_and_monotone(
    raw: list[float],
) -> None:
    adjusted = holm(raw)
    present = [p for p in adjusted if p is not None]
    assert len(present) == len(raw)
    for p, q in zip(raw, present, strict=True):
        assert p <= q <= 1.0
    ordered = [q for _, q in sorted(zip(raw, present, strict=True))]
    assert ordered == sorted(ordered)
    assert present == pytest.approx(list(multipletests(raw, method="holm")[1]), abs=1e-12)


# --------------------------------------------------------------------------- Wilson


@pytest.mark.parametrize(
    ("successes", "total", "published"),
    [
        # Newcombe, Stat Med 1998;17:857–72, Table I, method 3 (score, no correction).
        (81, 263, (0.2553, 0.3662)),
        (15, 148, (0.0624, 0.1605)),
        (0, 20, (0.0, 0.1611)),
        (1, 29, (0.0061, 0.1718)),
    ],
)
def test_wilson_interval_reproduces_newcombe_1998(
    successes: int, total: int, published: tuple[float, float]
) -> None:
    result = wilson(successes, total)
    assert result.ci95 == pytest.approx(published, abs=5e-5)
    assert result.rate == successes / total


@pytest.mark.parametrize(("successes", "total"), [(7, 65), (0, 1), (3, 3), (1, 2), (40, 41)])
def test_wilson_interval_matches_statsmodels(successes: int, total: int) -> None:
    low, high = proportion_confint(successes, total, alpha=WILSON_ALPHA, method="wilson")
    result = wilson(successes, total)
    assert result.ci95 == pytest.approx((low, high), abs=1e-12)
    assert (result.successes, result.total) == (successes, total)


def test_wilson_of_zero_total_has_no_rate_and_says_why() -> None:
    result = wilson(0, 0)
    assert result.rate is None
    assert result.ci95 is None
    _assert_reasons_explain_exactly_the_nones(result)


def test_wilson_refuses_more_successes_than_trials() -> None:
    with pytest.raises(ValueError, match="between 0 and total"):
        wilson(5, 4)


@given(st.integers(0, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_contains_the_rate_and_stays_within_0_and_1(
    case: tuple[int, int],
) -> None:
    successes, total = case
    result = wilson(successes, total)
    if total == 0:
        assert result.rate is None
        return
    assert result.ci95 is not None
    assert result.rate is not None
    low, high = result.ci95
    assert 0.0 <= low <= result.rate <= high <= 1.0


# --------------------------------------------------------------------------- responders


def test_vas_8_to_5_is_a_responder_and_odi_60_to_52_is_not() -> None:
    # CLINICAL.md §3 (Ostelo 2008): VAS Δ 3 cm ≥ 1.5; ODI Δ 8 < 10 and 13 % < 30 %.
    assert responders([8.0], [5.0], absolute=1.5).successes == 1
    assert responders([60.0], [52.0], absolute=10.0).successes == 0


def test_a_30_percent_improvement_makes_a_responder_below_the_absolute_threshold() -> None:
    # VAS 3.0 -> 2.0: Δ 1.0 cm < 1.5 cm, but 33 % of baseline ≥ 30 %.
    assert responders([3.0], [2.0], absolute=1.5).successes == 1


def test_responders_count_complete_pairs_with_a_wilson_interval() -> None:
    baseline = [8.0, 7.0, 6.0, None, 9.0, 5.0, 3.0]
    follow_up = [5.0, 6.5, 2.0, 1.0, None, 4.8, 2.0]
    result = responders(baseline, follow_up, absolute=1.5)
    # 8→5 yes, 7→6.5 no, 6→2 yes, 5→4.8 no, 3→2 yes (33 %); two pairs incomplete.
    assert (result.successes, result.total) == (3, 5)
    low, high = proportion_confint(3, 5, alpha=WILSON_ALPHA, method="wilson")
    assert result.ci95 == pytest.approx((low, high), abs=1e-12)


def test_responders_without_complete_pairs_have_no_rate() -> None:
    result = responders([None], [4.0], absolute=10.0)
    assert (result.successes, result.total, result.rate) == (0, 0, None)
    _assert_reasons_explain_exactly_the_nones(result)


def test_responders_refuse_a_threshold_that_is_not_positive() -> None:
    with pytest.raises(ClinicalValueError):
        responders([8.0], [5.0], absolute=0.0)


# --------------------------------------------------------------------------- Welch


def test_welch_difference_matches_scipy_on_the_raw_data() -> None:
    rng = np.random.default_rng(7)
    first = rng.normal(40.0, 12.0, size=23)
    second = rng.normal(31.0, 6.0, size=41)
    result = welch_difference(
        23, float(first.mean()), float(first.std(ddof=1)),
        41, float(second.mean()), float(second.std(ddof=1)),
    )  # fmt: skip
    reference = scipy_stats.ttest_ind(second, first, equal_var=False)
    interval = reference.confidence_interval(0.95)
    assert result.diff == pytest.approx(second.mean() - first.mean(), rel=1e-12)
    assert result.df == pytest.approx(reference.df, rel=1e-9)
    assert result.ci95 == pytest.approx((interval.low, interval.high), rel=1e-9)
    assert result.reasons == {}


def test_welch_difference_needs_two_values_per_group_for_an_interval() -> None:
    result = welch_difference(1, 5.0, 0.0, 10, 4.0, 1.0)
    assert result.diff == -1.0
    assert result.ci95 is None
    _assert_reasons_explain_exactly_the_nones(result)


def test_welch_difference_of_groups_that_do_not_vary_has_no_interval() -> None:
    result = welch_difference(5, 5.0, 0.0, 6, 4.0, 0.0)
    assert (result.diff, result.ci95, result.se) == (-1.0, None, 0.0)
    _assert_reasons_explain_exactly_the_nones(result)


def test_welch_difference_refuses_a_negative_sd() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        welch_difference(5, 5.0, -1.0, 6, 4.0, 1.0)
