"""The consistency checks of published statistics (CLINICAL.md §9).

Expected values come from outside kyphos: the [P] and [C] cases of CLINICAL.md §9
verbatim, statcheck's own test suite (MicheleNuijten/statcheck,
tests/testthat/test-decisionerror.R and test-error.R, default settings: α = .05, p = α
significant), SciPy's t distribution, and arithmetic done by hand in the comments. The
reference study (Zhang et al., Zhongguo Gu Shang 2011;24:570–3) is checked with numbers
worked out here independently of kyphos.
"""

from __future__ import annotations

import json
import math

import pytest
from scipy import stats as scipy_stats

from kyphos.analysis.consistency import (
    attainable_paired_t,
    check_cohort,
    checks_dict,
    grim,
    p_from_t,
    sd_bound,
    summarise,
)
from kyphos.analysis.evidence import Printed, PrintedP, builtin_cohorts, parse_cohort


def P(text: str) -> Printed:
    return Printed.of(text)


def pval(text: str) -> PrintedP:
    return PrintedP.of(text)


# --- statcheck: p from t --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t", "df", "p", "verdict"),
    [
        # CLINICAL.md §9 [P] (statcheck's documented cases)
        ("1.02", 48, "<.05", "grossly_inconsistent"),
        ("2.20", 28, "=.06", "grossly_inconsistent"),
        ("1.20", 28, "=.03", "grossly_inconsistent"),
        ("2.20", 28, "=.05", "inconsistent"),  # inconsistent, but p = .05 is significant
        # CLINICAL.md §9 [C]
        ("2.20", 28, "=.04", "consistent"),
        ("2.20", 28, "=.035", "inconsistent"),
    ],
)
def test_statcheck_cases_of_clinical_md(t: str, df: int, p: str, verdict: str) -> None:
    assert p_from_t(P(t), df, pval(p)).verdict == verdict


def test_a_printed_t_of_2_20_stands_for_p_between_0_0358_and_0_0366() -> None:
    # CLINICAL.md §9: "the range 0.0358–0.0366 rounds to .04" for t(28) = 2.20, i.e. the
    # t's rounding interval [2.195, 2.205]; SciPy gives the two ends directly.
    result = p_from_t(P("2.20"), 28, pval("0.04"))
    assert result.p_low == pytest.approx(2 * scipy_stats.t.sf(2.205, 28), rel=1e-12)
    assert result.p_high == pytest.approx(2 * scipy_stats.t.sf(2.195, 28), rel=1e-12)
    assert (round(result.p_low, 4), round(result.p_high, 4)) == (0.0358, 0.0366)


def _critical_t(p: float, df: int = 28) -> float:
    """statcheck's test suite: qt(p/2, 28, lower.tail = FALSE)."""
    return float(scipy_stats.t.isf(p / 2, df))


T04, T05, T06 = _critical_t(0.04), _critical_t(0.05), _critical_t(0.06)


@pytest.mark.parametrize(
    ("t", "p", "decision_error"),
    [
        # "cases where t = ..., p = ... are correctly classified" (pEqualAlphaSig = TRUE)
        (T04, "= .04", False),
        (T05 + 0.0001, "= .04", False),
        (T06, "= .04", True),
        (T04, "= .05", False),
        (T05, "= .05", False),
        (T06, "= .05", True),
        (T04, "= .06", True),
        (T05 + 0.0001, "= .06", True),
        (T06, "= .06", False),
        # "cases where t = ..., p < ..."
        (T04, "< .04", False),
        (T05 + 0.0001, "< .04", False),
        (T06, "< .04", True),
        (T04, "< .05", False),
        (T05 + 0.0001, "< .05", False),
        (T06, "< .05", True),
        (T04, "< .06", False),
        (T05 + 0.0001, "< .06", False),
        (T06, "< .06", False),
        # "cases where t = ..., p > ..."
        (T04, "> .04", False),
        (T05 + 0.0001, "> .04", False),
        (T06, "> .04", False),
        (T04, "> .05", True),
        (T05 + 0.0001, "> .05", True),
        (T06, "> .05", False),
        (T04, "> .06", True),
        (T05 + 0.0001, "> .06", True),
        (T06, "> .06", False),
    ],
)
def test_statchecks_own_decision_error_cases(t: float, p: str, decision_error: bool) -> None:
    # The suite pastes the double into the text, so t carries ~16 decimals.
    result = p_from_t(P(repr(t)), 28, pval(p))
    assert result.gross is decision_error


def test_statchecks_error_example_is_an_error_and_a_decision_error() -> None:
    # test-error.R: "The effect was very significant (t(48) = 1.02, p < .05)"
    result = p_from_t(P("1.02"), 48, pval("< .05"))
    assert result.inconsistent and result.gross


def test_a_bound_on_the_far_side_of_alpha_claims_no_significance() -> None:
    # "p < .10" claims nothing about α = .05, so a wrong one is inconsistent, not gross:
    # t(28) = 1.20 gives p ≈ 0.24 (SciPy), which is not below .10.
    assert 2 * scipy_stats.t.sf(1.20, 28) > 0.2
    assert p_from_t(P("1.20"), 28, pval("<.10")).verdict == "inconsistent"


def test_the_sign_of_the_printed_t_does_not_matter() -> None:
    assert p_from_t(P("-2.20"), 28, pval("0.04")).verdict == "consistent"


# --- attainable paired t --------------------------------------------------------------------


def test_a_constructed_paired_t_inside_the_attainable_range_is_possible() -> None:
    # m 10.0 → 12.0, SD 2.0 and 1.0, n = 25 (√25 = 5). With the rounding intervals
    # (half a unit 0.05): |Δ| ∈ [1.9, 2.1]; SD₁ + SD₂ ≤ 2.05 + 1.05 = 3.1;
    # |SD₁ − SD₂| ≥ 1.95 − 1.05 = 0.9. So |t| ∈ [1.9·5/3.1, 2.1·5/0.9] = [3.0645, 11.667].
    # At the printed values t = 5.0 needs s_d = 2·5/5 = 2, r = (4 + 1 − 4)/(2·2·1) = 0.25.
    result = attainable_paired_t(P("10.0"), P("2.0"), P("12.0"), P("1.0"), 25, P("5.0"))
    assert result.verdict == "possible"
    assert result.t_min == pytest.approx(1.9 * 5 / 3.1)
    assert result.t_max == pytest.approx(2.1 * 5 / 0.9)
    assert result.implied_r == pytest.approx(0.25)


@pytest.mark.parametrize("t", ["3.0", "12.0"])
def test_a_printed_t_outside_every_attainable_value_is_impossible(t: str) -> None:
    # Same summaries: "3.0" stands for at most 3.05 < 3.0645; "12.0" for at least
    # 11.95 > 11.667.
    result = attainable_paired_t(P("10.0"), P("2.0"), P("12.0"), P("1.0"), 25, P(t))
    assert result.verdict == "impossible"


def test_overlapping_sd_intervals_leave_no_upper_limit() -> None:
    # SDs "1.0" and "1.0": the SD of the differences can be as small as 0.
    result = attainable_paired_t(P("5.0"), P("1.0"), P("6.0"), P("1.0"), 10, P("40.0"))
    assert math.isinf(result.t_max)
    assert result.verdict == "possible"


def test_the_reference_vas_preop_to_postop_t_is_impossible() -> None:
    # Zhang 2011: VAS 8.38 (SD 0.60) → 2.45 (SD 0.38), n = 41, printed t = 2.86.
    # Smallest |Δ| = 5.93 − 0.005 − 0.005 = 5.92; largest SD₁ + SD₂ = 0.605 + 0.385 = 0.99
    # → |t| ≥ 5.92·√41/0.99 = 38.29, far above 2.865.
    t_min = 5.92 * math.sqrt(41) / 0.99
    assert round(t_min, 2) == 38.29
    result = attainable_paired_t(P("8.38"), P("0.60"), P("2.45"), P("0.38"), 41, P("2.86"))
    assert result.verdict == "impossible"
    assert result.t_min == pytest.approx(t_min)
    # r = (0.60² + 0.38² − s_d²)/(2·0.60·0.38), s_d = 5.93·√41/2.86 = 13.277
    s_d = 5.93 * math.sqrt(41) / 2.86
    assert result.implied_r == pytest.approx((0.36 + 0.1444 - s_d**2) / (2 * 0.60 * 0.38))
    assert result.implied_r is not None and result.implied_r < -300


def test_rounding_rescues_the_reference_vas_postop_to_final_t() -> None:
    # VAS 2.45 (0.38) → 2.53 (0.36), n = 41, printed t = 0.67 (at most 0.675).
    # At the printed values: |t| ≥ 0.08·√41/0.74 = 0.6922 > 0.675 — impossible.
    # Over the rounding intervals: |Δ| ≥ 0.07, SD₁ + SD₂ ≤ 0.75 → |t| ≥ 0.5976 — possible.
    assert 0.08 * math.sqrt(41) / 0.74 > 0.675
    assert 0.07 * math.sqrt(41) / 0.75 < 0.665
    result = attainable_paired_t(P("2.45"), P("0.38"), P("2.53"), P("0.36"), 41, P("0.67"))
    assert result.verdict == "possible"
    assert result.implied_r is not None and result.implied_r < -1


# --- GRIM -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mean", "n", "possible"),
    [  # CLINICAL.md §9 [C] (integer scores, step 1)
        ("5.19", 28, False),
        ("23.45", 20, True),
        ("23.47", 20, False),
        ("6.33", 30, True),
        ("6.35", 30, False),
    ],
)
def test_grim_cases_of_clinical_md(mean: str, n: int, possible: bool) -> None:
    result = grim(P(mean), n, 1)
    assert result.applicable
    assert result.possible is possible


def test_grim_names_the_nearest_attainable_means() -> None:
    # 5.19 × 28 = 145.32: 145/28 = 5.1786 → 5.18, 146/28 = 5.2143 → 5.21.
    assert grim(P("5.19"), 28, 1).nearest == ("5.18", "5.21")


def test_grim_accepts_a_tie_rounded_either_way() -> None:
    # 17/8 = 2.125 exactly: "2.12" (half down/even) and "2.13" (half up) are both
    # possible; 2.14 is not (the next means are 2.125 and 2.25).
    assert grim(P("2.12"), 8, 1).possible
    assert grim(P("2.13"), 8, 1).possible
    assert not grim(P("2.14"), 8, 1).possible


def test_grim_with_a_vas_step_of_a_tenth() -> None:
    # 5 VAS values in 0.1 cm steps: means are multiples of 0.02 → 2.46 yes, 2.45 no.
    assert grim(P("2.46"), 5, 0.1).possible
    assert not grim(P("2.45"), 5, 0.1).possible


def test_grim_has_no_power_when_the_grid_is_finer_than_the_printed_decimals() -> None:
    # VAS 8.38 over 41 patients in 0.1 steps: 0.1/41 = 0.0024 < 0.01.
    assert grim(P("8.38"), 41, 0.1).verdict == "not_applicable"
    # The boundary g/N = 10^−D itself is applicable: 1/100 = 0.01.
    assert grim(P("5.23"), 100, 1).verdict == "possible"
    assert grim(P("5.23"), 101, 1).verdict == "not_applicable"


def test_grim_counts_trailing_zeros() -> None:
    # "5.10" (2 decimals) with N 28: 142/28 = 5.071, 143/28 = 5.107 → impossible;
    # "5.1" (1 decimal): 1/28 = 0.036 < 0.1, no power.
    assert grim(P("5.10"), 28, 1).verdict == "impossible"
    assert grim(P("5.1"), 28, 1).verdict == "not_applicable"


# --- SD bound -------------------------------------------------------------------------------


def test_sd_bound_at_the_middle_of_the_scale() -> None:
    # 0–10, mean 5.00, n = 2: sd ≤ √(5·5·2/1) = 7.0711. "7.07" (≥ 7.065) fits,
    # "7.08" (≥ 7.075) does not.
    assert sd_bound(P("5.00"), P("7.07"), 2, 0, 10).possible
    result = sd_bound(P("5.00"), P("7.08"), 2, 0, 10)
    assert not result.possible
    assert result.bound == pytest.approx(math.sqrt(50))


def test_sd_bound_takes_the_most_lenient_mean_of_its_rounding_interval() -> None:
    # 0–10, mean 9.50, n = 10: at 9.50 exactly √(9.5·0.5·10/9) = 2.2973, but the mean may
    # be 9.495: √(9.495·0.505·10/9) = 2.3082. "2.31" (≥ 2.305) fits; "2.32" does not.
    assert math.sqrt(9.5 * 0.5 * 10 / 9) < 2.305 < math.sqrt(9.495 * 0.505 * 10 / 9)
    assert sd_bound(P("9.50"), P("2.31"), 10, 0, 10).possible
    assert not sd_bound(P("9.50"), P("2.32"), 10, 0, 10).possible


# --- the reference cohort -------------------------------------------------------------------


def _reference_findings() -> dict[tuple[str, str, tuple[str, ...]], str]:
    check = check_cohort(builtin_cohorts()[0])
    return {(f.check, f.outcome, f.timepoints): f.verdict for f in check.findings}


def _hand_attainable(m1: float, s1: float, m2: float, s2: float, n: int, t: float) -> bool:
    """Independent arithmetic: every printed value ± 0.005 (all printed to 2 decimals)."""
    h = 0.005
    diff_low = max(0.0, abs(m2 - m1) - 2 * h)
    diff_high = abs(m2 - m1) + 2 * h
    sum_high = s1 + s2 + 2 * h
    gap = max(0.0, abs(s1 - s2) - 2 * h)
    low = diff_low * math.sqrt(n) / sum_high
    high = math.inf if gap == 0 else diff_high * math.sqrt(n) / gap
    return t + h >= low and t - h <= high


REFERENCE = {  # Zhang 2011 (seed_study.json): mean, SD per time point, n = 41
    "vas": {"preop": (8.38, 0.60), "postop": (2.45, 0.38), "final": (2.53, 0.36)},
    "anterior_height_mm": {
        "preop": (14.64, 1.30),
        "postop": (25.11, 1.12),
        "final": (23.16, 1.14),
    },
    "kyphotic_angle_deg": {
        "preop": (30.17, 1.45),
        "postop": (12.10, 1.37),
        "final": (14.31, 0.51),
    },
}
REFERENCE_TESTS = [  # outcome, a, b, t, printed p
    ("vas", "preop", "postop", 2.86, "<0.01"),
    ("vas", "preop", "final", 2.98, "<0.01"),
    ("anterior_height_mm", "preop", "postop", 1.26, "<0.05"),
    ("anterior_height_mm", "preop", "final", 1.06, "<0.05"),
    ("kyphotic_angle_deg", "preop", "postop", 1.13, "<0.05"),
    ("kyphotic_angle_deg", "preop", "final", 1.65, "<0.05"),
    ("vas", "postop", "final", 0.67, ">0.05"),
    ("anterior_height_mm", "postop", "final", 0.86, ">0.05"),
    ("kyphotic_angle_deg", "postop", "final", 0.77, ">0.05"),
]


@pytest.mark.parametrize(("outcome", "a", "b", "t", "p"), REFERENCE_TESTS)
def test_the_reference_studys_printed_t_values_checked_by_hand(
    outcome: str, a: str, b: str, t: float, p: str
) -> None:
    findings = _reference_findings()
    (m1, s1), (m2, s2) = REFERENCE[outcome][a], REFERENCE[outcome][b]
    expected_t = "possible" if _hand_attainable(m1, s1, m2, s2, 41, t) else "impossible"
    assert findings[("attainable_t", outcome, (a, b))] == expected_t
    # df = 41 − 1 = 40 (not printed); p over t ± 0.005, from SciPy.
    p_low = 2 * scipy_stats.t.sf(t + 0.005, 40)
    p_high = 2 * scipy_stats.t.sf(t - 0.005, 40)
    bound = float(p[1:])
    wrong = bound < p_low if p[0] == "<" else bound > p_high
    claims_significance = p[0] == "<"
    computed_significance = p_high <= 0.05
    expected_p = (
        "grossly_inconsistent"
        if wrong and claims_significance != computed_significance
        else "inconsistent"
        if wrong
        else "consistent"
    )
    assert findings[("p_from_t", outcome, (a, b))] == expected_p


def test_the_reference_study_in_numbers() -> None:
    # By hand (above): 8 of 9 printed t's are impossible (all but VAS postop→final);
    # the four radiographic baseline comparisons print "<0.05" for p ≈ 0.11–0.30.
    findings = _reference_findings()
    t_verdicts = [v for (check, _, _), v in findings.items() if check == "attainable_t"]
    assert t_verdicts.count("impossible") == 8
    p_verdicts = [v for (check, _, _), v in findings.items() if check == "p_from_t"]
    assert p_verdicts.count("grossly_inconsistent") == 4
    assert p_verdicts.count("consistent") == 5
    # GRIM: the raw ODI means (step 1, N 41: 1/41 ≥ 0.01) are whole numbers → possible;
    # VAS (0.1/41 < 0.01) and the radiographic means (no step) are not applicable.
    assert findings[("grim", "odi_raw", ("preop",))] == "possible"
    assert findings[("grim", "vas", ("preop",))] == "not_applicable"
    assert findings[("grim", "kyphotic_angle_deg", ("final",))] == "not_applicable"
    # SD bound on VAS 0–10 at 8.38, n 41: √(8.385·1.615·41/40) = 3.7 ≥ 0.60.
    assert findings[("sd_bound", "vas", ("preop",))] == "possible"
    summary = check_cohort(builtin_cohorts()[0]).summary
    # 12 cells × (GRIM, SD) + 9 tests × (p, t) = 42 checks:
    # passed: GRIM 3 + SD 6 + p 5 + t 1 = 15; failed: p 4 + t 8 = 12; n/a: 9 + 6 = 15.
    assert (summary.run, summary.passed, summary.failed, summary.not_applicable) == (
        27,
        15,
        12,
        15,
    )


def test_every_finding_names_its_cell_and_says_why_in_both_languages() -> None:
    check = check_cohort(builtin_cohorts()[0])
    for finding in check.findings:
        assert finding.outcome and finding.timepoints and finding.statistic
        assert finding.printed
        assert finding.why_en and finding.why_zh and finding.why_en != finding.why_zh
        assert (finding.expected is None) == (finding.verdict == "not_applicable")
    gross = next(f for f in check.findings if f.verdict == "grossly_inconsistent")
    assert gross.printed == "<0.05"
    assert "opposite sides of α = 0.05" in gross.why_en
    assert "显著性结论相反" in gross.why_zh


# --- constructed files ----------------------------------------------------------------------


def _cohort(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "key": "constructed-2020",
        "citation": {"authors": ["A", "B"], "title": "T", "journal": "J", "year": 2020},
        "timepoints": [{"key": "preop"}, {"key": "m6"}],
        "cohort": {"n": 20},
        "outcomes": {
            "odi_raw": {
                "sections_answered": 10,
                "preop": {"n": 20, "mean": "23.47", "sd": "4.10"},
                "m6": {"n": 18, "mean": "12.50", "sd": "3.00"},
            }
        },
        "reported_tests": [
            {
                "outcome": "odi_raw",
                "a": "preop",
                "b": "m6",
                "test": "paired t",
                "t": "9.00",
                "p": "<0.001",
            }
        ],
    }
    data.update(overrides)
    return data


def test_a_test_without_df_between_time_points_of_different_n_is_not_applicable() -> None:
    check = check_cohort(parse_cohort(_cohort()))
    by_check = {f.check: f for f in check.findings if f.timepoints == ("preop", "m6")}
    assert by_check["p_from_t"].verdict == "not_applicable"
    assert by_check["attainable_t"].verdict == "not_applicable"
    assert "df or n" in by_check["p_from_t"].why_en
    # GRIM: 23.47 with N 20 is impossible (CLINICAL.md §9); 12.50 × 18 = 225 → possible.
    grim_verdicts = {f.timepoints: f.verdict for f in check.findings if f.check == "grim"}
    assert grim_verdicts == {("preop",): "impossible", ("m6",): "possible"}


def test_a_printed_n_of_pairs_makes_the_paired_checks_run() -> None:
    data = _cohort()
    data["reported_tests"] = [
        {
            "outcome": "odi_raw",
            "a": "preop",
            "b": "m6",
            "test": "paired t",
            "t": "9.00",
            "n": 18,
            "p": "<0.001",
        }
    ]
    check = check_cohort(parse_cohort(data))
    verdicts = {f.check: f.verdict for f in check.findings if f.timepoints == ("preop", "m6")}
    # t(17) = 9.00 → p = 6.8e-8 (SciPy) < .001
    assert 2 * scipy_stats.t.sf(8.995, 17) < 0.001
    assert verdicts["p_from_t"] == "consistent"
    # |Δ| ∈ [10.96, 10.98]; SD₁ + SD₂ ≤ 7.11; |SD₁ − SD₂| ≥ 1.09:
    # |t| ∈ [10.96·√18/7.11, 10.98·√18/1.09] = [6.54, 42.7] ∋ 9.00
    assert verdicts["attainable_t"] == "possible"


def test_summaries_count_run_as_passed_plus_failed() -> None:
    check = check_cohort(parse_cohort(_cohort()))
    summary = summarise(check.findings)
    assert summary.run == summary.passed + summary.failed
    assert summary.run + summary.not_applicable == len(check.findings)


def test_the_json_form_is_plain_data_with_both_languages() -> None:
    checks = [check_cohort(builtin_cohorts()[0]), check_cohort(parse_cohort(_cohort()))]
    document = json.loads(json.dumps(checks_dict(checks), allow_nan=False))
    assert [cohort["key"] for cohort in document["cohorts"]] == ["zhang-2011", "constructed-2020"]
    first = document["cohorts"][0]
    assert first["doi"] == "10.3969/j.issn.1003-0034.2011.07.010"
    finding = first["findings"][-1]
    assert set(finding) == {
        "check", "outcome", "timepoints", "statistic", "printed", "expected", "verdict",
        "status", "why", "values",
    }  # fmt: skip
    assert set(finding["why"]) == {"en", "zh"}
    total = document["summary"]
    assert total["run"] == sum(c["summary"]["run"] for c in document["cohorts"])
    assert first["summary"] == {"run": 27, "passed": 15, "failed": 12, "not_applicable": 15}
