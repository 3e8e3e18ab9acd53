"""Observer agreement: intraclass correlation and Bland–Altman limits (CLINICAL.md §8).

Pure computation: numpy and scipy in, frozen dataclasses out, nothing rounded and
nothing NaN — a value that cannot be computed is ``None`` with its reason in
``reasons``.

Intraclass correlation (Shrout & Fleiss 1979, Psychol Bull 86:420–8; McGraw & Wong
1996, Psychol Methods 1:30–46). For n targets (rows) rated by the same k raters
(columns), with grand mean x̄, target means x̄ᵢ. and rater means x̄.ⱼ:

* BMS = k·Σ(x̄ᵢ. − x̄)²/(n − 1)                   between targets
* WMS = ΣΣ(xᵢⱼ − x̄ᵢ.)²/(n(k − 1))               within targets
* JMS = n·Σ(x̄.ⱼ − x̄)²/(k − 1)                   between raters (judges)
* EMS = ΣΣ(xᵢⱼ − x̄ᵢ. − x̄.ⱼ + x̄)²/((n − 1)(k − 1)) residual

* ICC(1,1) = (BMS − WMS)/(BMS + (k − 1)WMS)                    one-way random
* ICC(2,1) = (BMS − EMS)/(BMS + (k − 1)EMS + k(JMS − EMS)/n)   McGraw & Wong ICC(A,1)
* ICC(3,1) = (BMS − EMS)/(BMS + (k − 1)EMS)                    McGraw & Wong ICC(C,1)
* ICC(1,k) = (BMS − WMS)/BMS
* ICC(2,k) = (BMS − EMS)/(BMS + (JMS − EMS)/n)                 ICC(A,k)
* ICC(3,k) = (BMS − EMS)/BMS                                   ICC(C,k)

F tests: one-way F = BMS/WMS on (n − 1, n(k − 1)) df; two-way F = BMS/EMS on
(n − 1, (n − 1)(k − 1)) df; p = P(F_df > F).

95 % confidence intervals, with F_q(a, b) the upper q = 0.975 quantile:

* one-way: F_L = F/F_q(n − 1, n(k − 1)), F_U = F·F_q(n(k − 1), n − 1);
  ICC(1,1) ∈ [(F_L − 1)/(F_L + k − 1), (F_U − 1)/(F_U + k − 1)],
  ICC(1,k) ∈ [1 − 1/F_L, 1 − 1/F_U].
* consistency: the same with F = BMS/EMS and df (n − 1, (n − 1)(k − 1)) for
  ICC(3,1) and ICC(3,k).
* absolute agreement ICC(2,1) (Satterthwaite df ν; Shrout & Fleiss eq. 12–13,
  McGraw & Wong Table 7), ρ = ICC(2,1), F_J = JMS/EMS:
  ν = (k − 1)(n − 1)(kρF_J + n(1 + (k − 1)ρ) − kρ)² /
      ((n − 1)k²ρ²F_J² + (n(1 + (k − 1)ρ) − kρ)²);
  F* = F_q(n − 1, ν), F** = F_q(ν, n − 1);
  lower = n(BMS − F*·EMS)/(F*(k·JMS + (kn − k − n)EMS) + n·BMS),
  upper = n(F**·BMS − EMS)/(k·JMS + (kn − k − n)EMS + n·F**·BMS);
  ICC(2,k) bounds are the ICC(2,1) bounds stepped up by Spearman–Brown,
  L·k/(1 + (k − 1)L); when an ICC(2,1) bound is ≤ −1/(k − 1) (tiny samples) that
  map is not monotone and the ICC(2,k) interval is ``None`` (psych and pingouin
  print a meaningless interval there).

These are the formulas of R's ``psych::ICC`` and of pingouin. Targets with a
missing rating are dropped (listwise, as both do). A mean square smaller than
(1e-9 × the largest |rating|)² is taken as exactly 0, so that rounding noise in
ratings that agree perfectly does not produce an arbitrary ICC; where a ratio then
divides by 0 the value is ``None`` with the reason.

Interpretation (Koo & Li 2016, J Chiropr Med 15:155–63): < 0.5 poor, 0.5–0.75
moderate, 0.75–0.9 good, > 0.9 excellent.

Bland & Altman (Lancet 1986;i:307–10): d = second − first; bias = mean(d); limits of
agreement bias ± 1.96·sd(d), sd with n − 1 (the 1986 paper used 2; kyphos uses 1.96,
CLINICAL.md §8).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, overload

import numpy as np
import numpy.typing as npt
from scipy import stats as _scipy_stats

from kyphos.analysis.stats import complete_pairs

__all__ = [
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
]

FloatArray = npt.NDArray[np.float64]
Interval = tuple[float, float]
Interpretation = Literal["poor", "moderate", "good", "excellent"]

CONFIDENCE = 0.95
LIMITS_OF_AGREEMENT_Z = 1.96
RELATIVE_ZERO_SD = 1e-9
"""A mean square below (this × the largest |rating|)² counts as exactly zero."""

ICC_FORMS = ("ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)", "ICC(3,k)")
_ALIASES = MappingProxyType(
    {"ICC(A,1)": "ICC(2,1)", "ICC(C,1)": "ICC(3,1)", "ICC(A,k)": "ICC(2,k)", "ICC(C,k)": "ICC(3,k)"}
)

KOO_LI_POOR_BELOW = 0.5
KOO_LI_MODERATE_BELOW = 0.75
KOO_LI_GOOD_UP_TO = 0.9

INTERPRETATION_LABELS: Mapping[Interpretation, Mapping[str, str]] = MappingProxyType(
    {
        "poor": MappingProxyType({"en": "poor", "zh": "差"}),
        "moderate": MappingProxyType({"en": "moderate", "zh": "中等"}),
        "good": MappingProxyType({"en": "good", "zh": "良好"}),
        "excellent": MappingProxyType({"en": "excellent", "zh": "优秀"}),
    }
)


# --------------------------------------------------------------------------- ICC


@dataclass(frozen=True)
class IccEstimate:
    """One ICC form: its value and 95 % CI (``None`` with a reason when not defined)."""

    form: str
    value: float | None
    ci95: Interval | None
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IccResult:
    """All six ICC forms of one n × k table, with the ANOVA they come from.

    ``n`` counts the targets analysed, ``dropped`` those left out for a missing rating.
    ``df_one_way``/``df_two_way`` are (numerator, denominator) degrees of freedom.
    """

    n: int
    k: int
    dropped: int
    bms: float | None
    wms: float | None
    jms: float | None
    ems: float | None
    f_one_way: float | None
    df_one_way: tuple[int, int] | None
    p_one_way: float | None
    f_two_way: float | None
    df_two_way: tuple[int, int] | None
    p_two_way: float | None
    icc1_1: IccEstimate
    icc2_1: IccEstimate
    icc3_1: IccEstimate
    icc1_k: IccEstimate
    icc2_k: IccEstimate
    icc3_k: IccEstimate
    reasons: dict[str, str] = field(default_factory=dict)

    def form(self, name: str) -> IccEstimate:
        """The estimate named ``ICC(1,1)`` … ``ICC(3,k)`` (or McGraw & Wong's ``ICC(A,1)``…)."""
        canonical = _ALIASES.get(name, name)
        estimates = {estimate.form: estimate for estimate in self.estimates}
        if canonical not in estimates:
            known = ", ".join((*ICC_FORMS, *_ALIASES))
            raise KeyError(f"{name!r} is not an ICC form: use one of {known}")
        return estimates[canonical]

    @property
    def estimates(self) -> tuple[IccEstimate, ...]:
        """The six forms in the order of :data:`ICC_FORMS`."""
        return (self.icc1_1, self.icc2_1, self.icc3_1, self.icc1_k, self.icc2_k, self.icc3_k)


def _as_matrix(matrix: Iterable[Iterable[float | None]] | FloatArray) -> FloatArray:
    """A 2-D float array; ``None`` becomes NaN. A numeric array keeps its shape (even 0 × k)."""
    if isinstance(matrix, np.ndarray) and matrix.dtype.kind in "biuf":
        if matrix.ndim != 2:
            raise ValueError("ratings must be a table: one row per target, one column per rater")
        return matrix.astype(np.float64)
    try:
        array = np.array(
            [[np.nan if value is None else float(value) for value in row] for row in matrix],
            dtype=np.float64,
        )
    except (TypeError, ValueError) as error:
        raise ValueError(
            "ratings must be a table of numbers (None where missing), one row per target "
            f"and one column per rater, every row as long as the others ({error})"
        ) from None
    if array.size == 0:
        return array.reshape(0, 0)
    if array.ndim != 2:
        raise ValueError("ratings must be a table: one row per target, one column per rater")
    return array


def _ratio(numerator: float, denominator: float) -> float | None:
    if denominator == 0.0:
        return None
    value = numerator / denominator
    return value if math.isfinite(value) else None


_SCALAR_FIELDS = (
    "bms",
    "wms",
    "jms",
    "ems",
    "f_one_way",
    "df_one_way",
    "p_one_way",
    "f_two_way",
    "df_two_way",
    "p_two_way",
)


def _empty_result(n: int, k: int, dropped: int, reason: str) -> IccResult:
    """A result with every statistic ``None`` for the same reason."""

    def nothing(form: str) -> IccEstimate:
        return IccEstimate(form, None, None, {"value": reason, "ci95": reason})

    return IccResult(
        n=n,
        k=k,
        dropped=dropped,
        **dict.fromkeys(_SCALAR_FIELDS),
        icc1_1=nothing("ICC(1,1)"),
        icc2_1=nothing("ICC(2,1)"),
        icc3_1=nothing("ICC(3,1)"),
        icc1_k=nothing("ICC(1,k)"),
        icc2_k=nothing("ICC(2,k)"),
        icc3_k=nothing("ICC(3,k)"),
        reasons=dict.fromkeys(_SCALAR_FIELDS, reason),
    )


def icc(matrix: Iterable[Iterable[float | None]] | FloatArray) -> IccResult:
    """Intraclass correlations of an n targets × k raters table (see the module notes)."""
    x = _as_matrix(matrix)
    if x.size == 0:
        return _empty_result(0, int(x.shape[1]), 0, "no ratings")
    complete = np.all(np.isfinite(x), axis=1)
    dropped = int(x.shape[0] - complete.sum())
    x = x[complete]
    n, k = (int(size) for size in x.shape)
    if k < 2:
        return _empty_result(n, k, dropped, "fewer than 2 raters")
    if n < 2:
        return _empty_result(n, k, dropped, "fewer than 2 targets with every rating")

    grand = float(np.mean(x))
    target_means = np.mean(x, axis=1)
    rater_means = np.mean(x, axis=0)
    residuals = x - target_means[:, None] - rater_means[None, :] + grand
    tolerance = (RELATIVE_ZERO_SD * float(np.max(np.abs(x)))) ** 2

    def mean_square(sum_of_squares: float, df: int) -> float:
        value = sum_of_squares / df
        return value if value > tolerance else 0.0

    bms = mean_square(k * float(np.sum((target_means - grand) ** 2)), n - 1)
    wms = mean_square(float(np.sum((x - target_means[:, None]) ** 2)), n * (k - 1))
    jms = mean_square(n * float(np.sum((rater_means - grand) ** 2)), k - 1)
    ems = mean_square(float(np.sum(residuals**2)), (n - 1) * (k - 1))

    reasons: dict[str, str] = {}
    df_one_way = (n - 1, n * (k - 1))
    df_two_way = (n - 1, (n - 1) * (k - 1))
    f_one_way = _ratio(bms, wms)
    f_two_way = _ratio(bms, ems)
    p_one_way = p_two_way = None
    if f_one_way is None:
        reason = "WMS = 0: every rater gave each target the same rating"
        reasons["f_one_way"] = reasons["p_one_way"] = reason
    else:
        p_one_way = float(_scipy_stats.f.sf(f_one_way, *df_one_way))
    if f_two_way is None:
        reason = "EMS = 0: no residual variation (raters differ by constants at most)"
        reasons["f_two_way"] = reasons["p_two_way"] = reason
    else:
        p_two_way = float(_scipy_stats.f.sf(f_two_way, *df_two_way))

    q = 0.5 + CONFIDENCE / 2.0
    one_way_bounds = _f_bounds(f_one_way, df_one_way, q, reasons.get("f_one_way"))
    two_way_bounds = _f_bounds(f_two_way, df_two_way, q, reasons.get("f_two_way"))

    icc2_1 = _estimate(
        "ICC(2,1)",
        bms - ems,
        bms + (k - 1) * ems + k * (jms - ems) / n,
        "BMS + (k − 1)EMS + k(JMS − EMS)/n",
        _absolute_agreement_ci(n, k, bms, jms, ems),
    )
    icc2_k_ci = _step_up(icc2_1.ci95, k, icc2_1.reasons.get("ci95"))
    return IccResult(
        n=n,
        k=k,
        dropped=dropped,
        bms=bms,
        wms=wms,
        jms=jms,
        ems=ems,
        f_one_way=f_one_way,
        df_one_way=df_one_way,
        p_one_way=p_one_way,
        f_two_way=f_two_way,
        df_two_way=df_two_way,
        p_two_way=p_two_way,
        icc1_1=_estimate(
            "ICC(1,1)",
            bms - wms,
            bms + (k - 1) * wms,
            "BMS + (k − 1)WMS",
            _transform(one_way_bounds, lambda f: (f - 1.0) / (f + k - 1.0)),
        ),
        icc2_1=icc2_1,
        icc3_1=_estimate(
            "ICC(3,1)",
            bms - ems,
            bms + (k - 1) * ems,
            "BMS + (k − 1)EMS",
            _transform(two_way_bounds, lambda f: (f - 1.0) / (f + k - 1.0)),
        ),
        icc1_k=_estimate(
            "ICC(1,k)", bms - wms, bms, "BMS", _transform(one_way_bounds, lambda f: 1.0 - 1.0 / f)
        ),
        icc2_k=_estimate(
            "ICC(2,k)", bms - ems, bms + (jms - ems) / n, "BMS + (JMS − EMS)/n", icc2_k_ci
        ),
        icc3_k=_estimate(
            "ICC(3,k)", bms - ems, bms, "BMS", _transform(two_way_bounds, lambda f: 1.0 - 1.0 / f)
        ),
        reasons=reasons,
    )


_Bounds = tuple[Interval | None, str | None]
"""A (lower, upper) pair, or ``None`` and the reason."""

_NOT_DEFINED = "the confidence interval is not defined for these data"


def _f_bounds(f: float | None, df: tuple[int, int], q: float, reason: str | None) -> _Bounds:
    """(F_L, F_U) = (F / F_q(df1, df2), F · F_q(df2, df1))."""
    if f is None:
        return None, reason or _NOT_DEFINED
    if f <= 0.0:
        return None, "F = 0: the targets do not differ (BMS = 0)"
    lower = f / float(_scipy_stats.f.ppf(q, df[0], df[1]))
    upper = f * float(_scipy_stats.f.ppf(q, df[1], df[0]))
    return (lower, upper), None


def _finite_interval(low: float, high: float) -> _Bounds:
    if math.isfinite(low) and math.isfinite(high):
        return (low, high), None
    return None, _NOT_DEFINED


def _transform(bounds: _Bounds, function: Callable[[float], float]) -> _Bounds:
    interval, reason = bounds
    if interval is None:
        return None, reason
    with np.errstate(all="ignore"):
        try:
            return _finite_interval(function(interval[0]), function(interval[1]))
        except ZeroDivisionError:
            return None, _NOT_DEFINED


def _absolute_agreement_ci(n: int, k: int, bms: float, jms: float, ems: float) -> _Bounds:
    """McGraw & Wong's interval for ICC(A,1) with Satterthwaite's ν (module notes)."""
    if ems == 0.0:
        return None, "EMS = 0: no residual variation, the interval is not defined"
    denominator = bms + (k - 1) * ems + k * (jms - ems) / n
    if denominator <= 0.0:
        return None, _NOT_DEFINED
    rho = (bms - ems) / denominator
    f_j = jms / ems
    base = n * (1.0 + (k - 1) * rho) - k * rho
    nu_numerator = (k - 1) * (n - 1) * (k * rho * f_j + base) ** 2
    nu_denominator = (n - 1) * k**2 * rho**2 * f_j**2 + base**2
    if not nu_denominator > 0.0 or not nu_numerator > 0.0:
        return None, _NOT_DEFINED
    nu = nu_numerator / nu_denominator
    q = 0.5 + CONFIDENCE / 2.0
    f_star = float(_scipy_stats.f.ppf(q, n - 1, nu))
    f_star2 = float(_scipy_stats.f.ppf(q, nu, n - 1))
    shared = k * jms + (k * n - k - n) * ems
    with np.errstate(all="ignore"):
        low_denominator = f_star * shared + n * bms
        high_denominator = shared + n * f_star2 * bms
        if low_denominator == 0.0 or high_denominator == 0.0:
            return None, _NOT_DEFINED
        low = n * (bms - f_star * ems) / low_denominator
        high = n * (f_star2 * bms - ems) / high_denominator
    return _finite_interval(low, high)


def _step_up(interval: Interval | None, k: int, reason: str | None) -> _Bounds:
    """Spearman–Brown: a single-rater bound L becomes L·k/(1 + (k − 1)L) for k raters."""
    if interval is None:
        return None, reason or _NOT_DEFINED
    if min(interval) <= -1.0 / (k - 1):
        return None, (
            "the ICC(2,1) interval reaches below −1/(k − 1), where the Spearman–Brown "
            "step-up to k raters is not defined"
        )
    return _transform((interval, None), lambda bound: bound * k / (1.0 + (k - 1) * bound))


def _estimate(
    form: str, numerator: float, denominator: float, denominator_text: str, bounds: _Bounds
) -> IccEstimate:
    """``numerator/denominator`` when the denominator is positive, else ``None`` and why."""
    reasons: dict[str, str] = {}
    value: float | None = None
    if denominator > 0.0:
        value = numerator / denominator
    elif numerator == 0.0 and denominator == 0.0:
        reasons["value"] = f"{form} is 0/0: its denominator {denominator_text} is 0"
    else:
        reasons["value"] = f"{form} is not defined: its denominator {denominator_text} is not > 0"
    interval, reason = bounds
    if value is None:
        interval = None
    if interval is None:
        reasons["ci95"] = reasons.get("value") or reason or _NOT_DEFINED
    return IccEstimate(form, value, interval, reasons)


# --------------------------------------------------------------------------- interpretation


@overload
def interpret(icc: float) -> Interpretation: ...
@overload
def interpret(icc: None) -> None: ...
def interpret(icc: float | None) -> Interpretation | None:
    """Koo & Li (2016) category of an ICC: poor < 0.5 ≤ moderate < 0.75 ≤ good ≤ 0.9 < excellent.

    ``None`` (an ICC that could not be computed) gives ``None``.
    """
    if icc is None:
        return None
    if not math.isfinite(icc):
        raise ValueError(f"{icc!r} is not an ICC")
    if icc < KOO_LI_POOR_BELOW:
        return "poor"
    if icc < KOO_LI_MODERATE_BELOW:
        return "moderate"
    if icc <= KOO_LI_GOOD_UP_TO:
        return "good"
    return "excellent"


def interpretation_label(category: Interpretation, lang: str = "en") -> str:
    """The category in English (``en``) or Chinese (``zh``)."""
    labels = INTERPRETATION_LABELS[category]
    if lang not in labels:
        raise ValueError(f"{lang!r} is not a report language: use one of {', '.join(labels)}")
    return labels[lang]


# --------------------------------------------------------------------------- Bland–Altman


@dataclass(frozen=True)
class BlandAltman:
    """Bias (mean of second − first), SD of the differences and 95 % limits of agreement."""

    n: int
    dropped: int
    bias: float | None
    sd: float | None
    loa: Interval | None
    reasons: dict[str, str] = field(default_factory=dict)


def bland_altman(
    first: Sequence[float | None] | FloatArray, second: Sequence[float | None] | FloatArray
) -> BlandAltman:
    """Bland–Altman agreement of paired readings; d = second − first, limits bias ± 1.96·SD."""
    pairs = complete_pairs(first, second)
    d = pairs.b - pairs.a
    n = int(d.size)
    if n == 0:
        reason = "no complete pairs"
        return BlandAltman(
            0, pairs.dropped, None, None, None, dict.fromkeys(("bias", "sd", "loa"), reason)
        )
    bias = float(np.mean(d))
    if n < 2:
        reason = "n < 2"
        return BlandAltman(n, pairs.dropped, bias, None, None, dict.fromkeys(("sd", "loa"), reason))
    sd = float(np.std(d, ddof=1))
    half_width = LIMITS_OF_AGREEMENT_Z * sd
    return BlandAltman(n, pairs.dropped, bias, sd, (bias - half_width, bias + half_width))
