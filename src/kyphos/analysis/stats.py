"""Descriptive statistics, paired comparisons, multiplicity and proportions (CLINICAL.md §7).

Pure computation: numpy and scipy in, frozen dataclasses out. Nothing is rounded
(rounding is the renderers' job) and nothing is NaN: a value that cannot be computed
is ``None`` and its field name maps to the reason in the result's ``reasons``.
Missing inputs (``None``, NaN, ±inf) are left out; pairs with a missing side are
dropped and counted.

Formulas
--------
* ``describe``: sample SD with n − 1 in the denominator; median and quartiles by
  linear interpolation between order statistics (numpy's default, Hyndman & Fan
  1996 type 7, R's default).
* ``paired_comparison`` on complete pairs, d = b − a, n pairs:
  mean(d); sd(d) with n − 1; t = mean(d) / (sd(d)/√n) with df = n − 1 and
  two-sided p = 2·P(T_df > |t|); 95 % CI mean(d) ± t_{0.975, n−1}·sd(d)/√n;
  Cohen's d_z = mean(d)/sd(d) (Cohen 1988, §2.3.5).
  Wilcoxon signed-rank test (Wilcoxon 1945), two-sided, zeros discarded
  (``zero_method="wilcox"``). kyphos chooses the method and records it: ``exact``
  when n ≤ 50 and the differences have no zeros and no ties in |d|, otherwise
  ``approx`` — the normal approximation with the tie-corrected variance and no
  continuity correction. The choice is passed to :func:`scipy.stats.wilcoxon`
  explicitly, so SciPy's own "auto" rule (which may switch to a permutation
  test) never decides.
  Differences are rounded to 12 significant digits of the largest |value| before
  use, so that 0.3 − 0.1 and 0.2 − 0.0 count as the same difference (binary
  floating point makes them differ in the last bit, which would otherwise turn
  "all differences equal" into a huge t and hide ties from the Wilcoxon rule).
* ``holm``: Holm (1979) step-down. With the m present p-values sorted,
  p_(1) ≤ … ≤ p_(m), the adjusted p_(i) = max_{j ≤ i} min(1, (m − j + 1)·p_(j)).
* ``wilson``: Wilson (1927) score interval for x successes of n, p̂ = x/n:
  (p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n), z = 1.959964.
* ``responders``: the rule of :mod:`kyphos.clinical.response` (CLINICAL.md §3)
  applied to complete pairs, with the Wilson interval of the rate.
* ``welch_difference``: difference of two means from summary statistics,
  m₂ − m₁ ± t_{0.975, ν}·√(s₁²/n₁ + s₂²/n₂), with the Welch–Satterthwaite
  ν = (s₁²/n₁ + s₂²/n₂)² / ((s₁²/n₁)²/(n₁ − 1) + (s₂²/n₂)²/(n₂ − 1))
  (Welch 1947; Satterthwaite 1946).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats as _scipy_stats

from kyphos.clinical.response import (
    DEFAULT_RELATIVE_THRESHOLD,
    ResponderRule,
    responder_mask,
)

__all__ = [
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
]

FloatArray = npt.NDArray[np.float64]
Values = Iterable[float | None]
Interval = tuple[float, float]
WilcoxonMethod = Literal["exact", "approx"]

WILSON_Z = 1.959964
"""The normal quantile of CLINICAL.md §7 for Wilson intervals (two-sided 95 %)."""

CONFIDENCE = 0.95
WILCOXON_EXACT_MAX_N = 50
"""Largest number of pairs for which the exact Wilcoxon distribution is used."""

DIFFERENCE_SIGNIFICANT_DIGITS = 12
"""Differences are rounded to this many significant digits of the largest |value|."""

REASON_NO_VALUES = "no values"
REASON_NO_PAIRS = "no complete pairs"
REASON_N_BELOW_2 = "n < 2"
REASON_NO_VARIATION = "the differences do not vary"
REASON_ALL_ZERO = "all differences are zero"


# --------------------------------------------------------------------------- inputs


def as_floats(values: Values | npt.NDArray[np.generic], name: str) -> FloatArray:
    """A 1-D float array (a copy); ``None`` becomes NaN. A numeric array is taken as is."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return values.astype(np.float64).reshape(-1)
    try:
        array = np.array(
            [np.nan if value is None else float(value) for value in values], dtype=np.float64
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: every value must be a number or None ({error})") from None
    return array


@dataclass(frozen=True)
class CompletePairs:
    """The pairs with both sides present (finite), and how many were dropped."""

    a: FloatArray
    b: FloatArray
    dropped: int


def complete_pairs(a: Values, b: Values) -> CompletePairs:
    """Keep the pairs whose two sides are both finite numbers; count the others.

    ``a`` and ``b`` must have the same length (element i of each belongs to the same
    patient or vertebra); a mismatch is a programming error and raises ``ValueError``.
    """
    first = as_floats(a, "a")
    second = as_floats(b, "b")
    if first.shape != second.shape:
        raise ValueError(
            f"a has {first.size} values and b has {second.size}: pair the values "
            "(one patient or vertebra per position, None where missing) before comparing"
        )
    keep = np.isfinite(first) & np.isfinite(second)
    return CompletePairs(a=first[keep], b=second[keep], dropped=int(first.size - keep.sum()))


def _differences(a: FloatArray, b: FloatArray) -> FloatArray:
    """b − a, rounded to 12 significant digits of the largest |value| (see module notes)."""
    d = b - a
    if d.size == 0:
        return d
    scale = float(max(np.max(np.abs(a)), np.max(np.abs(b))))
    if scale == 0.0:
        return d
    decimals = DIFFERENCE_SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(scale))
    with np.errstate(invalid="ignore", over="ignore"):
        rounded: FloatArray = np.round(d, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    # Values near the float range's ends (subnormal scales) cannot be rounded this way.
    return rounded if np.all(np.isfinite(rounded)) else d


# --------------------------------------------------------------------------- describe


@dataclass(frozen=True)
class Description:
    """Summary of one variable. ``sd`` is the sample SD (n − 1); quartiles are R type 7."""

    n: int
    mean: float | None
    sd: float | None
    median: float | None
    q1: float | None
    q3: float | None
    min: float | None
    max: float | None
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def mean_ci95(self) -> Interval | None:
        """The t-based 95 % CI of the mean, mean ± t_{0.975, n−1}·sd/√n (None when n < 2)."""
        if self.mean is None or self.sd is None or self.n < 2:
            return None
        half = float(_scipy_stats.t.ppf(0.5 + CONFIDENCE / 2, self.n - 1)) * self.sd
        half /= math.sqrt(self.n)
        return (self.mean - half, self.mean + half)


def describe(values: Values) -> Description:
    """n, mean, SD, median, quartiles, minimum and maximum of the finite values."""
    array = as_floats(values, "values")
    x = array[np.isfinite(array)]
    n = int(x.size)
    if n == 0:
        names = ("mean", "sd", "median", "q1", "q3", "min", "max")
        return Description(
            n=0, **dict.fromkeys(names), reasons=dict.fromkeys(names, REASON_NO_VALUES)
        )
    q1, median, q3 = (float(q) for q in np.percentile(x, [25.0, 50.0, 75.0]))
    reasons: dict[str, str] = {}
    sd: float | None = None
    if n >= 2:
        sd = float(np.std(x, ddof=1))
    else:
        reasons["sd"] = REASON_N_BELOW_2
    return Description(
        n=n,
        mean=float(np.mean(x)),
        sd=sd,
        median=median,
        q1=q1,
        q3=q3,
        min=float(np.min(x)),
        max=float(np.max(x)),
        reasons=reasons,
    )


# --------------------------------------------------------------------------- paired


@dataclass(frozen=True)
class PairedComparison:
    """Paired t-test and Wilcoxon signed-rank test of d = b − a on complete pairs.

    ``n`` counts the complete pairs, ``dropped`` the pairs with a missing side.
    ``reasons`` maps the name of every ``None`` field to why it is ``None``.
    """

    n: int
    dropped: int
    mean_diff: float | None
    ci95: Interval | None
    t: float | None
    df: int | None
    p: float | None
    cohen_dz: float | None
    wilcoxon_p: float | None
    wilcoxon_method: WilcoxonMethod | None
    reasons: dict[str, str] = field(default_factory=dict)


_TESTED_FIELDS = ("ci95", "t", "df", "p", "cohen_dz", "wilcoxon_p", "wilcoxon_method")


def paired_comparison(a: Values, b: Values) -> PairedComparison:
    """Compare paired values ``a`` (earlier) and ``b`` (later): d = b − a."""
    pairs = complete_pairs(a, b)
    d = _differences(pairs.a, pairs.b)
    n = int(d.size)
    reasons: dict[str, str] = {}

    if n == 0:
        return PairedComparison(
            n=0,
            dropped=pairs.dropped,
            mean_diff=None,
            **dict.fromkeys(_TESTED_FIELDS),
            reasons=dict.fromkeys(("mean_diff", *_TESTED_FIELDS), REASON_NO_PAIRS),
        )

    mean_diff = float(np.mean(d))
    if n < 2:
        return PairedComparison(
            n=n,
            dropped=pairs.dropped,
            mean_diff=mean_diff,
            **dict.fromkeys(_TESTED_FIELDS),
            reasons=dict.fromkeys(_TESTED_FIELDS, REASON_N_BELOW_2),
        )

    df = n - 1
    ci95: Interval | None = None
    t: float | None = None
    p: float | None = None
    cohen_dz: float | None = None
    # Differences of subnormal size vary but their squares underflow: an SD of 0.
    sd = 0.0 if np.all(d == d[0]) else float(np.std(d, ddof=1))
    if not sd > 0 or not math.isfinite(sd):
        for name in ("ci95", "t", "p", "cohen_dz"):
            reasons[name] = REASON_NO_VARIATION
    else:
        se = sd / math.sqrt(n)
        t = mean_diff / se
        p = float(2.0 * _scipy_stats.t.sf(abs(t), df))
        half_width = float(_scipy_stats.t.ppf(0.5 + CONFIDENCE / 2.0, df)) * se
        ci95 = (mean_diff - half_width, mean_diff + half_width)
        cohen_dz = mean_diff / sd

    wilcoxon_p, wilcoxon_method, wilcoxon_reason = _wilcoxon(d)
    if wilcoxon_reason is not None:
        reasons["wilcoxon_p"] = wilcoxon_reason
        reasons["wilcoxon_method"] = wilcoxon_reason

    return PairedComparison(
        n=n,
        dropped=pairs.dropped,
        mean_diff=mean_diff,
        ci95=ci95,
        t=t,
        df=df,
        p=p,
        cohen_dz=cohen_dz,
        wilcoxon_p=wilcoxon_p,
        wilcoxon_method=wilcoxon_method,
        reasons=reasons,
    )


def wilcoxon_method_for(d: FloatArray) -> WilcoxonMethod:
    """``exact`` for n ≤ 50 differences with no zeros and no ties in |d|, else ``approx``."""
    magnitudes = np.abs(d)
    has_zeros = bool(np.any(magnitudes == 0))
    has_ties = np.unique(magnitudes).size < magnitudes.size
    if d.size <= WILCOXON_EXACT_MAX_N and not has_zeros and not has_ties:
        return "exact"
    return "approx"


def _scipy_wilcoxon_p(d: FloatArray, method: WilcoxonMethod) -> float:
    """Two-sided p of SciPy's signed-rank test with the method named explicitly.

    SciPy ≥ 1.13 calls the normal approximation ``"asymptotic"``; earlier releases
    (the project allows SciPy ≥ 1.11) call it ``"approx"``.
    """
    options = dict(zero_method="wilcox", correction=False, alternative="two-sided")
    if method == "exact":
        return float(_scipy_stats.wilcoxon(d, method="exact", **options).pvalue)
    try:
        result = _scipy_stats.wilcoxon(d, method="asymptotic", **options)
    except ValueError:  # SciPy < 1.13
        result = _scipy_stats.wilcoxon(d, method="approx", **options)
    return float(result.pvalue)


def _wilcoxon(d: FloatArray) -> tuple[float | None, WilcoxonMethod | None, str | None]:
    """(p, method, reason): p and method, or ``None`` twice and why."""
    if d.size < 2:
        return None, None, REASON_N_BELOW_2
    if np.all(d == 0):
        return None, None, REASON_ALL_ZERO
    method = wilcoxon_method_for(d)
    p = _scipy_wilcoxon_p(d, method)
    if not math.isfinite(p):
        return None, None, "SciPy's Wilcoxon test returned no p-value"
    return min(max(p, 0.0), 1.0), method, None


# --------------------------------------------------------------------------- Holm


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values, in the input order.

    ``None`` (or NaN) passes through as ``None`` and does not count in m. Adjusted
    values are capped at 1 and non-decreasing in the order of the raw p-values.
    A p-value outside [0, 1] is a programming error and raises ``ValueError``.
    """
    present: list[tuple[int, float]] = []
    for index, value in enumerate(pvalues):
        if value is None or math.isnan(value):
            continue
        p = float(value)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"pvalues[{index}] = {value!r} is not a p-value (0 to 1)")
        present.append((index, p))
    adjusted: list[float | None] = [None] * len(pvalues)
    m = len(present)
    running = 0.0
    for rank, (index, p) in enumerate(sorted(present, key=lambda item: item[1])):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted


# --------------------------------------------------------------------------- proportions


@dataclass(frozen=True)
class Proportion:
    """``successes`` of ``total``; ``rate`` and its Wilson 95 % interval."""

    successes: int
    total: int
    rate: float | None
    ci95: Interval | None
    reasons: dict[str, str] = field(default_factory=dict)


def wilson(successes: int, total: int, z: float = WILSON_Z) -> Proportion:
    """The rate ``successes/total`` with its Wilson score interval."""
    x = operator.index(successes)
    n = operator.index(total)
    if not 0 <= x <= n:
        raise ValueError(f"successes ({x}) must be between 0 and total ({n})")
    if not (math.isfinite(z) and z > 0):
        raise ValueError(f"z = {z!r} must be a positive number")
    if n == 0:
        reason = "total is 0"
        return Proportion(x, n, None, None, reasons={"rate": reason, "ci95": reason})
    rate = x / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (rate + z2 / (2.0 * n)) / denominator
    half_width = z * math.sqrt(rate * (1.0 - rate) / n + z2 / (4.0 * n * n)) / denominator
    low = 0.0 if x == 0 else max(0.0, centre - half_width)
    high = 1.0 if x == n else min(1.0, centre + half_width)
    return Proportion(x, n, rate, (low, high))


def responders(
    baseline: Values,
    follow_up: Values,
    absolute: float,
    relative: float = DEFAULT_RELATIVE_THRESHOLD,
) -> Proportion:
    """How many complete pairs are responders (CLINICAL.md §3), with the Wilson interval.

    The rule is :class:`kyphos.clinical.response.ResponderRule` (an invalid threshold
    raises its ``ClinicalValueError``); lower values are better.
    """
    rule = ResponderRule(absolute=absolute, relative=relative)
    pairs = complete_pairs(baseline, follow_up)
    count = int(np.count_nonzero(responder_mask(pairs.a, pairs.b, rule)))
    return wilson(count, int(pairs.a.size))


# --------------------------------------------------------------------------- Welch


@dataclass(frozen=True)
class WelchDifference:
    """m₂ − m₁ with its Welch 95 % CI, standard error and Welch–Satterthwaite df."""

    diff: float
    ci95: Interval | None
    se: float | None
    df: float | None
    reasons: dict[str, str] = field(default_factory=dict)


def welch_difference(
    n1: int, m1: float, s1: float, n2: int, m2: float, s2: float
) -> WelchDifference:
    """Difference of means (second − first) from each group's n, mean and SD."""
    sizes = (operator.index(n1), operator.index(n2))
    for name, value in (("m1", m1), ("s1", s1), ("m2", m2), ("s2", s2)):
        if not math.isfinite(value):
            raise ValueError(f"{name} = {value!r} must be a finite number")
    if s1 < 0 or s2 < 0:
        raise ValueError(f"standard deviations must not be negative (s1 = {s1}, s2 = {s2})")
    if min(sizes) < 1:
        raise ValueError(f"group sizes must be at least 1 (n1 = {n1}, n2 = {n2})")
    diff = float(m2) - float(m1)
    if min(sizes) < 2:
        reason = "each group needs n ≥ 2"
        return WelchDifference(diff, None, None, None, dict.fromkeys(("ci95", "se", "df"), reason))
    v1 = s1 * s1 / sizes[0]
    v2 = s2 * s2 / sizes[1]
    if v1 + v2 == 0:
        reason = "neither group varies (both SDs are 0)"
        return WelchDifference(diff, None, 0.0, None, dict.fromkeys(("ci95", "df"), reason))
    se = math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1 * v1 / (sizes[0] - 1) + v2 * v2 / (sizes[1] - 1))
    half_width = float(_scipy_stats.t.ppf(0.5 + CONFIDENCE / 2.0, df)) * se
    return WelchDifference(diff, (diff - half_width, diff + half_width), se, df)
