"""kyphos.analysis.survival against published and independently computed values.

Published: the Kaplan–Meier estimate and Greenwood standard errors of the 6-MP arm
of Freireich et al. (Blood 1963;21:699–716), as tabulated in survival textbooks
(e.g. Klein & Moeschberger, Survival Analysis, 2nd ed., Table 4.1A).
Independent: statsmodels' ``SurvfuncRight`` (survival and Greenwood SE). statsmodels
has no pointwise log-log interval, so the test applies the standard transform
exp(−exp(log(−log S) ± z·SE/(S·|log S|))) to statsmodels' Greenwood SE itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats
from statsmodels.duration.survfunc import SurvfuncRight

from kyphos.analysis import survival
from kyphos.analysis.survival import KaplanMeier, kaplan_meier

# 6-MP arm: weeks in remission, 1 = relapse, 0 = censored (still in remission).
SIX_MP_WEEKS = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
SIX_MP_RELAPSE = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]

Z = scipy_stats.norm.ppf(0.975)


def _statsmodels_rows(
    times: Sequence[float], events: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Event times, survival, log-log CI and numbers at risk from statsmodels' Greenwood SE."""
    fit = SurvfuncRight(np.asarray(times, dtype=float), np.asarray(events, dtype=float))
    s = fit.surv_prob
    with np.errstate(divide="ignore", invalid="ignore"):
        se_log_log = fit.surv_prob_se / (s * np.abs(np.log(s)))
        centre = np.log(-np.log(s))
        low = np.exp(-np.exp(centre + Z * se_log_log))
        high = np.exp(-np.exp(centre - Z * se_log_log))
    return fit.surv_times, s, low, high, fit.n_risk


def _assert_matches_statsmodels(
    result: KaplanMeier, times: Sequence[float], events: Sequence[int]
) -> None:
    event_times, s, low, high, at_risk = _statsmodels_rows(times, events)
    assert result.times[0] == 0.0
    assert result.survival[0] == 1.0
    assert list(result.times[1:]) == pytest.approx(list(event_times), abs=0)
    assert list(result.survival[1:]) == pytest.approx(list(s), abs=1e-12)
    assert list(result.at_risk[1:]) == list(at_risk)
    defined = s > 0
    assert np.array(result.ci95_lo[1:])[defined] == pytest.approx(low[defined], abs=1e-9)
    assert np.array(result.ci95_hi[1:])[defined] == pytest.approx(high[defined], abs=1e-9)


def test_the_public_api_is_pinned() -> None:
    assert set(survival.__all__) == {"Z_95", "KaplanMeier", "kaplan_meier"}


def test_kaplan_meier_reproduces_the_published_6mp_estimate_and_greenwood_se() -> None:
    result = kaplan_meier(SIX_MP_WEEKS, SIX_MP_RELAPSE)
    assert result.times == (0.0, 6.0, 7.0, 10.0, 13.0, 16.0, 22.0, 23.0)
    assert result.at_risk == (21, 21, 17, 15, 12, 11, 7, 6)
    assert result.events == (0, 3, 1, 1, 1, 1, 1, 1)
    published_s = [1.0, 0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448]
    assert list(result.survival) == pytest.approx(published_s, abs=5e-4)
    # Greenwood SE, recovered from the log-log half-width: se(S) = S·|log S|·se(L).
    published_se = [0.0764, 0.0869, 0.0963, 0.1068, 0.1141, 0.1282, 0.1346]
    recovered = []
    for s, high in zip(result.survival[1:], result.ci95_hi[1:], strict=True):
        se_log_log = (math.log(-math.log(s)) - math.log(-math.log(high))) / Z
        recovered.append(s * abs(math.log(s)) * se_log_log)
    assert recovered == pytest.approx(published_se, abs=5e-5)


def test_kaplan_meier_matches_statsmodels_on_the_6mp_data() -> None:
    result = kaplan_meier(SIX_MP_WEEKS, SIX_MP_RELAPSE)
    _assert_matches_statsmodels(result, SIX_MP_WEEKS, SIX_MP_RELAPSE)
    # Hand computation at 6 weeks: S = 18/21, Greenwood sum 3/(21·18).
    s = 18 / 21
    se = math.sqrt(3 / (21 * 18)) / abs(math.log(s))
    assert result.ci95_lo[1] == pytest.approx(math.exp(-math.exp(math.log(-math.log(s)) + Z * se)))
    assert result.ci95_lo[1] == pytest.approx(0.620, abs=5e-4)
    assert result.ci95_hi[1] == pytest.approx(0.952, abs=5e-4)


@pytest.mark.parametrize("seed", range(6))
def test_kaplan_meier_matches_statsmodels_on_random_follow_up(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(5, 80))
    times = rng.integers(1, 400, size=size).astype(float).tolist()  # days, with ties
    events = (rng.random(size) < 0.4).astype(int).tolist()
    if not any(events):
        events[0] = 1
    _assert_matches_statsmodels(kaplan_meier(times, events), times, events)


def test_kaplan_meier_accepts_fractional_months() -> None:
    days = [30, 91, 91, 200, 365, 400]
    months = [d / 30.4375 for d in days]
    events = [0, 1, 0, 1, 0, 1]
    result = kaplan_meier(months, events)
    _assert_matches_statsmodels(result, months, events)
    assert result.times[1] == pytest.approx(91 / 30.4375)


def test_kaplan_meier_of_no_subjects_is_empty() -> None:
    result = kaplan_meier([], [])
    assert result.times == result.survival == result.ci95_lo == result.ci95_hi == ()
    assert result.at_risk == result.events == ()
    assert result.n == 0


def test_kaplan_meier_without_events_is_one_row_at_time_0() -> None:
    result = kaplan_meier([100.0, 200.0, 300.0], [0, 0, 0])
    assert result.times == (0.0,)
    assert (result.survival, result.ci95_lo, result.ci95_hi) == ((1.0,), (1.0,), (1.0,))
    assert result.at_risk == (3,)


def test_kaplan_meier_that_reaches_zero_has_the_interval_0_to_0() -> None:
    result = kaplan_meier([10.0, 20.0, 30.0], [1, 0, 1])
    assert result.survival == pytest.approx((1.0, 2 / 3, 0.0))
    assert (result.ci95_lo[-1], result.ci95_hi[-1]) == (0.0, 0.0)
    assert result.times[-1] == 30.0
    for value in (*result.survival, *result.ci95_lo, *result.ci95_hi):
        assert math.isfinite(value)


def test_kaplan_meier_with_events_at_time_0_drops_at_once() -> None:
    result = kaplan_meier([0.0, 0.0, 5.0, 9.0], [1, 0, 1, 0])
    assert result.times == (0.0, 0.0, 5.0)
    assert result.survival == pytest.approx((1.0, 0.75, 0.375))
    assert result.at_risk == (4, 4, 2)


def test_kaplan_meier_leaves_out_subjects_with_a_missing_time_or_event() -> None:
    result = kaplan_meier([10.0, None, 20.0, float("nan"), 30.0], [1, 1, None, 0, 0])
    assert (result.n, result.dropped) == (2, 3)
    assert result.survival == pytest.approx((1.0, 0.5))


def test_kaplan_meier_refuses_negative_times_and_says_what_they_should_be() -> None:
    with pytest.raises(ValueError, match="≥ 0"):
        kaplan_meier([-1.0, 5.0], [1, 0])


def test_kaplan_meier_refuses_event_flags_other_than_0_and_1() -> None:
    with pytest.raises(ValueError, match="events must be 1"):
        kaplan_meier([1.0, 5.0], [2, 0])


def test_kaplan_meier_refuses_unpaired_times_and_events() -> None:
    with pytest.raises(ValueError, match="one time and one event flag per subject"):
        kaplan_meier([1.0, 5.0], [1])


subjects = st.lists(st.tuples(st.integers(0, 60).map(float), st.integers(0, 1)), max_size=40)


@given(subjects)
def test_kaplan_meier_survival_falls_and_its_interval_contains_it_within_0_and_1(
    data: list[tuple[float, int]],
) -> None:
    result = kaplan_meier([t for t, _ in data], [e for _, e in data])
    assert len(set(map(len, (result.times, result.survival, result.at_risk)))) <= 1
    assert list(result.survival) == sorted(result.survival, reverse=True)
    for s, low, high in zip(result.survival, result.ci95_lo, result.ci95_hi, strict=True):
        assert 0.0 <= low <= s <= high <= 1.0
