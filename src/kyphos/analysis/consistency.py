"""Do a paper's printed statistics hang together? (CLINICAL.md §9)

Every printed number is read as the printed text, so it stands for the interval it was
rounded from (``"2.20"`` = [2.195, 2.205]); a check fails only when *no* value the
printed numbers can stand for passes it. Four checks:

* **p from t** — statcheck's rules (Nuijten et al., Behav Res Methods 2016;48:1205–26;
  the R package ``statcheck``): p = 2·P(T_df > |t|) over the printed t's rounding
  interval gives [p_lo, p_hi]. A printed "p = x" with d decimals is *inconsistent* when
  x > round(p_hi, d) or x < round(p_lo, d); "p < x" when x < p_lo; "p > x" when
  x > p_hi. It is *grossly inconsistent* when, in addition, the printed p and the
  computed range lie on opposite sides of α = .05 (p exactly .05 counts as
  significant; a bound such as "p < .10" or "p > .01" claims no side). For a paired t
  without a printed df, df = n − 1 (n = the test's pairs, else the two time points'
  common n).
* **attainable paired t** — with means m₁, m₂, SDs s₁, s₂ and n pairs, the SD of the
  differences lies in [|s₁ − s₂|, s₁ + s₂], so |t| = |m₂ − m₁|·√n / SD_d lies in
  [|m₂ − m₁|√n/(s₁ + s₂), |m₂ − m₁|√n/|s₁ − s₂|]. The range is widened to every value
  the printed means and SDs stand for; the printed t (also an interval) is *impossible*
  only when it lies outside it. The correlation between the time points that the
  printed t would need, at the printed values: r = (s₁² + s₂² − s_d²)/(2 s₁ s₂),
  s_d = |m₂ − m₁|√n/|t|; |r| > 1 cannot be.
* **GRIM** (Brown & Heathers, Soc Psychol Personal Sci 2017;8:363–9): a mean of N values
  on a grid of step g (1 for a raw ODI sum, 0.1 for VAS in cm) printed to D decimals is
  possible only if some whole k gives k·g/N rounding to it (k on either side of
  mean·N/g; ties rounded either way). *Not applicable* when g/N < 10^−D — then every
  printed mean is attainable and the test has no power — or when the scale's step is
  not known.
* **SD bound** for a scale [a, b]: sd ≤ √((m − a)(b − m)·n/(n − 1)), with m anywhere in
  the printed mean's interval. Not applicable without both ends of the scale.

Each :class:`Finding` names the cell (outcome, time points, statistic), the printed
value, what was expected, the verdict and why (English and Chinese). A
:class:`Summary` counts checks run (passed + failed), passed, failed and not
applicable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from scipy import stats as _scipy_stats

from kyphos.analysis.cohorts import (
    Cell,
    OutcomeData,
    Printed,
    PrintedP,
    PublishedCohort,
    ReportedTest,
)
from kyphos.clinical.numbers import round_half_away

__all__ = [
    "ALPHA",
    "AttainableT",
    "CohortCheck",
    "Finding",
    "Grim",
    "PFromT",
    "SdBound",
    "Summary",
    "attainable_paired_t",
    "check_cohort",
    "checks_dict",
    "grim",
    "p_from_t",
    "pairs_of",
    "sd_bound",
    "summarise",
]

ALPHA = 0.05
"""Significance level of the gross-inconsistency rule; p exactly α is significant."""

Verdict = Literal[
    "consistent",
    "inconsistent",
    "grossly_inconsistent",
    "possible",
    "impossible",
    "not_applicable",
]
Status = Literal["passed", "failed", "not_applicable"]
CheckName = Literal["p_from_t", "attainable_t", "grim", "sd_bound"]

PASSED: frozenset[str] = frozenset({"consistent", "possible"})
FAILED: frozenset[str] = frozenset({"inconsistent", "grossly_inconsistent", "impossible"})


def _fmt(value: float, digits: int = 4) -> str:
    if math.isinf(value):
        return "∞"
    if abs(value) >= 10**digits:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


# --- p from t (statcheck) -----------------------------------------------------------------------


@dataclass(frozen=True)
class PFromT:
    """The p range a printed t gives, and what it says of the printed p."""

    p_low: float
    p_high: float
    inconsistent: bool
    gross: bool

    @property
    def verdict(self) -> Verdict:
        if self.gross:
            return "grossly_inconsistent"
        return "inconsistent" if self.inconsistent else "consistent"


def p_from_t(t: Printed, df: float, p: PrintedP, alpha: float = ALPHA) -> PFromT:
    """statcheck's verdict on ``t(df) = t, p …`` (two-sided)."""
    if df <= 0:
        raise ValueError(f"df = {df} must be above 0")
    size = abs(t.value)
    t_low = max(0.0, size - t.half_unit)
    t_high = size + t.half_unit
    p_high = float(2.0 * _scipy_stats.t.sf(t_low, df))
    p_low = float(2.0 * _scipy_stats.t.sf(t_high, df))
    x = p.number.value
    if p.relation == "=":
        decimals = p.number.decimals
        inconsistent = x > round_half_away(p_high, decimals) or x < round_half_away(p_low, decimals)
    elif p.relation == "<":
        inconsistent = x < p_low
    else:
        inconsistent = x > p_high
    claimed = _claimed_significance(p, alpha)
    computed: bool | None = None
    if p_high <= alpha:
        computed = True
    elif p_low > alpha:
        computed = False
    gross = inconsistent and claimed is not None and computed is not None and claimed != computed
    return PFromT(p_low, p_high, inconsistent, gross)


def _claimed_significance(p: PrintedP, alpha: float) -> bool | None:
    """Whether the printed p claims significance (None: a bound that claims neither)."""
    x = p.number.value
    if p.relation == "=":
        return x <= alpha
    if p.relation == "<":
        return True if x <= alpha else None
    return False if x >= alpha else None


# --- attainable paired t ------------------------------------------------------------------------


@dataclass(frozen=True)
class AttainableT:
    """The |t| a paired test can reach given the printed summaries, and the verdict."""

    t_min: float
    t_max: float
    """``inf`` when the SDs' intervals overlap (the SD of the differences may be ~0)."""
    implied_r: float | None
    """The correlation the printed t needs at the printed values (None: undefined)."""
    verdict: Literal["possible", "impossible"]
    reasons: dict[str, str] = field(default_factory=dict)

    def describe_range(self) -> str:
        return f"{_fmt(self.t_min)}–{_fmt(self.t_max)}"


def attainable_paired_t(
    m1: Printed, s1: Printed, m2: Printed, s2: Printed, n: int, t: Printed
) -> AttainableT:
    """Whether a paired t printed as ``t`` fits means/SDs at two time points and n pairs."""
    if n < 2:
        raise ValueError(f"n = {n}: a paired t needs at least 2 pairs")
    root_n = math.sqrt(n)
    centre = abs(m2.value - m1.value)
    spread = m1.half_unit + m2.half_unit
    diff_low = max(0.0, centre - spread)
    diff_high = centre + spread
    s1_low, s1_high = max(0.0, s1.low), s1.high
    s2_low, s2_high = max(0.0, s2.low), s2.high
    sd_sum_high = s1_high + s2_high
    gap = max(0.0, s1_low - s2_high, s2_low - s1_high)
    t_min = diff_low * root_n / sd_sum_high
    t_max = math.inf if gap == 0 else diff_high * root_n / gap
    printed_low = max(0.0, abs(t.value) - t.half_unit)
    printed_high = abs(t.value) + t.half_unit
    possible = printed_high >= t_min and printed_low <= t_max
    implied: float | None = None
    reasons: dict[str, str] = {}
    if t.value == 0:
        reasons["implied_r"] = "the printed t is 0"
    elif s1.value == 0 or s2.value == 0:
        reasons["implied_r"] = "a printed SD is 0"
    else:
        sd_diff = centre * root_n / abs(t.value)
        implied = (s1.value**2 + s2.value**2 - sd_diff**2) / (2.0 * s1.value * s2.value)
    return AttainableT(t_min, t_max, implied, "possible" if possible else "impossible", reasons)


def pairs_of(test: ReportedTest, first: Cell | None, second: Cell | None) -> int | None:
    """The number of pairs of a paired test: printed n, else df + 1, else the common n."""
    if test.n is not None:
        return test.n
    if test.df is not None and float(test.df).is_integer():
        return int(test.df) + 1
    if first is not None and second is not None and first.n == second.n:
        return first.n
    return None


# --- GRIM ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grim:
    """GRIM for one mean: ``applicable`` False means the test has no power here."""

    applicable: bool
    possible: bool
    nearest: tuple[str, ...]
    """Attainable means next to the printed one (printed to its decimals)."""

    @property
    def verdict(self) -> Verdict:
        if not self.applicable:
            return "not_applicable"
        return "possible" if self.possible else "impossible"


def grim(mean: Printed, n: int, step: float) -> Grim:
    """Brown & Heathers' GRIM test of ``mean`` for ``n`` values on a grid of ``step``."""
    if n < 1 or step <= 0:
        raise ValueError(f"GRIM needs n ≥ 1 and step > 0 (n = {n}, step = {step})")
    grid = Fraction(repr(float(step)))
    decimals = mean.decimals
    scale = 10**decimals
    applicable = grid / n >= Fraction(1, scale)
    target = Fraction(mean.text) * scale
    if target.denominator != 1:  # pragma: no cover - a printed mean has exactly D decimals
        raise ValueError(f"{mean.text} has more than {decimals} decimals")
    centre = math.floor(Fraction(mean.text) * n / grid)
    possible = False
    nearest: list[str] = []
    for k in range(centre - 1, centre + 3):
        scaled = k * grid / n * scale
        up = math.floor(scaled + Fraction(1, 2))
        down = math.ceil(scaled - Fraction(1, 2))
        if target in (up, down):
            possible = True
        for rounded in {up, down}:
            text = _decimal_text(rounded, decimals)
            if text not in nearest:
                nearest.append(text)
    below = [v for v in nearest if Fraction(v) < Fraction(mean.text)]
    above = [v for v in nearest if Fraction(v) > Fraction(mean.text)]
    neighbours = tuple(
        ([max(below, key=Fraction)] if below else [])
        + ([min(above, key=Fraction)] if above else [])
    )
    return Grim(bool(applicable), possible, neighbours)


def _decimal_text(scaled: int, decimals: int) -> str:
    sign = "-" if scaled < 0 else ""
    digits = str(abs(scaled)).rjust(decimals + 1, "0")
    if decimals == 0:
        return f"{sign}{digits}"
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


# --- SD bound -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SdBound:
    bound: float
    possible: bool

    @property
    def verdict(self) -> Verdict:
        return "possible" if self.possible else "impossible"


def sd_bound(mean: Printed, sd: Printed, n: int, low: float, high: float) -> SdBound:
    """Whether ``sd`` fits ``n`` values on [low, high] with the printed ``mean``."""
    if n < 2 or low >= high:
        raise ValueError(f"the SD bound needs n ≥ 2 and low < high (n = {n})")
    middle = (low + high) / 2.0
    m = min(max(middle, mean.low, low), mean.high, high)
    m = min(max(m, low), high)
    bound = math.sqrt(max(0.0, (m - low) * (high - m)) * n / (n - 1))
    return SdBound(bound, max(0.0, sd.low) <= bound)


# --- findings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Where:
    """The cell a finding is about."""

    check: CheckName
    outcome: str
    timepoints: tuple[str, ...]
    statistic: str
    printed: str

    def finding(
        self,
        *,
        verdict: Verdict,
        why_en: str,
        why_zh: str,
        expected: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> Finding:
        return Finding(
            self.check,
            self.outcome,
            self.timepoints,
            self.statistic,
            self.printed,
            expected,
            verdict,
            why_en,
            why_zh,
            dict(values or {}),
        )


@dataclass(frozen=True)
class Finding:
    """One check of one printed statistic."""

    check: CheckName
    outcome: str
    timepoints: tuple[str, ...]
    statistic: str
    printed: str
    expected: str | None
    verdict: Verdict
    why_en: str
    why_zh: str
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        if self.verdict in PASSED:
            return "passed"
        if self.verdict in FAILED:
            return "failed"
        return "not_applicable"

    def why(self, lang: str = "en") -> str:
        return self.why_zh if lang == "zh" else self.why_en


@dataclass(frozen=True)
class Summary:
    run: int
    passed: int
    failed: int
    not_applicable: int

    def __add__(self, other: Summary) -> Summary:
        return Summary(
            self.run + other.run,
            self.passed + other.passed,
            self.failed + other.failed,
            self.not_applicable + other.not_applicable,
        )


def summarise(findings: Iterable[Finding]) -> Summary:
    """Checks run (passed + failed), passed, failed, not applicable."""
    statuses = [finding.status for finding in findings]
    passed = statuses.count("passed")
    failed = statuses.count("failed")
    return Summary(passed + failed, passed, failed, statuses.count("not_applicable"))


@dataclass(frozen=True)
class CohortCheck:
    key: str
    citation: str
    doi: str | None
    source: str
    findings: list[Finding]

    @property
    def summary(self) -> Summary:
        return summarise(self.findings)


def check_cohort(cohort: PublishedCohort, alpha: float = ALPHA) -> CohortCheck:
    """Every check kyphos can run on a published cohort, in file order."""
    findings: list[Finding] = []
    for outcome in cohort.outcomes.values():
        for point in cohort.timepoint_keys:
            cell = outcome.cells.get(point)
            if cell is None:
                continue
            findings.append(_grim_finding(outcome, point, cell))
            findings.append(_sd_finding(outcome, point, cell))
    for test in cohort.tests:
        outcome = cohort.outcomes[test.outcome]
        first, second = outcome.cells.get(test.a), outcome.cells.get(test.b)
        pairs = pairs_of(test, first, second)
        findings.append(_p_finding(test, pairs, alpha))
        findings.append(_t_finding(test, first, second, pairs))
    return CohortCheck(
        cohort.key, cohort.citation.short, cohort.citation.doi, cohort.source, findings
    )


def _grim_finding(outcome: OutcomeData, point: str, cell: Cell) -> Finding:
    base = _Where(
        "grim",
        outcome.name,
        (point,),
        "mean",
        cell.mean.text,
    )
    step = outcome.scale.step
    values: dict[str, Any] = {"n": cell.n, "step": step, "decimals": cell.mean.decimals}
    if step is None:
        return base.finding(
            expected=None,
            verdict="not_applicable",
            why_en="the scale's step is not known (give scale.step, e.g. 1 for whole scores)",
            why_zh="未给出量表的最小刻度（请填写 scale.step，如整数评分为 1）",
            values=values,
        )
    result = grim(cell.mean, cell.n, step)
    granularity = step / cell.n
    unit = 10.0**-cell.mean.decimals
    values.update({"granularity": granularity, "nearest": list(result.nearest)})
    if not result.applicable:
        return base.finding(
            expected=None,
            verdict="not_applicable",
            why_en=(
                f"step/N = {_fmt(step)}/{cell.n} = {_fmt(granularity, 3)} is below "
                f"{_fmt(unit)}: every mean printed to {cell.mean.decimals} decimals is "
                "attainable, so GRIM has no power here"
            ),
            why_zh=(
                f"刻度/N = {_fmt(step)}/{cell.n} = {_fmt(granularity, 3)} 小于 {_fmt(unit)}："
                f"保留 {cell.mean.decimals} 位小数的任何均值都可达到，GRIM 在此无检验效力"
            ),
            values=values,
        )
    if result.possible:
        return base.finding(
            expected=f"k × {_fmt(step)}/{cell.n}",
            verdict="possible",
            why_en=(
                f"{cell.n} values on a grid of {_fmt(step)} can have a mean that rounds to "
                f"{cell.mean.text}"
            ),
            why_zh=f"{cell.n} 个刻度为 {_fmt(step)} 的数值，其均值可以舍入为 {cell.mean.text}",
            values=values,
        )
    near = " or ".join(result.nearest)
    near_zh = " 或 ".join(result.nearest)
    return base.finding(
        expected=" / ".join(result.nearest),
        verdict="impossible",
        why_en=(
            f"no {cell.n} values on a grid of {_fmt(step)} have a mean that rounds to "
            f"{cell.mean.text}; the nearest attainable means are {near}"
        ),
        why_zh=(
            f"{cell.n} 个刻度为 {_fmt(step)} 的数值，其均值不可能舍入为 {cell.mean.text}；"
            f"最接近的可达均值为 {near_zh}"
        ),
        values=values,
    )


def _sd_finding(outcome: OutcomeData, point: str, cell: Cell) -> Finding:
    base = _Where(
        "sd_bound",
        outcome.name,
        (point,),
        "sd",
        cell.sd.text,
    )
    low, high = outcome.scale.min, outcome.scale.max
    values: dict[str, Any] = {"n": cell.n, "scale_min": low, "scale_max": high}
    if low is None or high is None:
        return base.finding(
            expected=None,
            verdict="not_applicable",
            why_en="the scale has no known "
            + (
                "lower and upper bound"
                if low is None and high is None
                else "lower bound"
                if low is None
                else "upper bound"
            ),
            why_zh="量表没有已知的"
            + ("上下限" if low is None and high is None else "下限" if low is None else "上限"),
            values=values,
        )
    if cell.n < 2:
        return base.finding(
            expected=None,
            verdict="not_applicable",
            why_en="n < 2: an SD needs two values",
            why_zh="n < 2：标准差至少需要两个数值",
            values=values,
        )
    result = sd_bound(cell.mean, cell.sd, cell.n, low, high)
    values["bound"] = result.bound
    scale = f"{_fmt(low)}–{_fmt(high)}"
    if result.possible:
        return base.finding(
            expected=f"≤ {_fmt(result.bound)}",
            verdict="possible",
            why_en=(
                f"on the scale {scale} with mean {cell.mean.text} and n = {cell.n} the SD can "
                f"be at most {_fmt(result.bound)}"
            ),
            why_zh=(
                f"量表 {scale}、均值 {cell.mean.text}、n = {cell.n} 时，标准差最大为 "
                f"{_fmt(result.bound)}"
            ),
            values=values,
        )
    return base.finding(
        expected=f"≤ {_fmt(result.bound)}",
        verdict="impossible",
        why_en=(
            f"on the scale {scale} with mean {cell.mean.text} and n = {cell.n} the SD can be "
            f"at most {_fmt(result.bound)}; the printed {cell.sd.text} exceeds it"
        ),
        why_zh=(
            f"量表 {scale}、均值 {cell.mean.text}、n = {cell.n} 时，标准差最大为 "
            f"{_fmt(result.bound)}；印刷值 {cell.sd.text} 超出此上限"
        ),
        values=values,
    )


def _p_finding(test: ReportedTest, pairs: int | None, alpha: float) -> Finding:
    base = _Where(
        "p_from_t",
        test.outcome,
        (test.a, test.b),
        "p",
        test.p.text,
    )
    if test.df is not None:
        df = test.df
        df_en = df_zh = f"df = {_fmt(df, 6)}"
    elif pairs is not None:
        df = float(pairs - 1)
        df_en = f"df = n − 1 = {pairs - 1}, not printed"
        df_zh = f"df = n − 1 = {pairs - 1}，未印刷"
    else:
        return base.finding(
            expected=None,
            verdict="not_applicable",
            why_en=(
                "no df printed and the number of pairs is unknown (the two time points' n "
                "differ): give df or n in the test"
            ),
            why_zh="未印刷 df，且配对数未知（两个时间点的 n 不同）：请在检验中填写 df 或 n",
            values={"t": test.t.text},
        )
    result = p_from_t(test.t, df, test.p, alpha)
    computed = f"{_fmt(result.p_low, 3)}–{_fmt(result.p_high, 3)}"
    values = {"t": test.t.text, "df": df, "p_low": result.p_low, "p_high": result.p_high}
    stated = f"t({_fmt(df, 6)}) = {test.t.text}"
    expected = f"p {computed} ({stated})"
    relation = {"=": "=", "<": "<", ">": ">"}[test.p.relation]
    printed = f"p {relation} {test.p.number.text}"
    if result.verdict == "consistent":
        why_en = f"{stated} ({df_en}) gives p = {computed}, which agrees with {printed}"
        why_zh = f"{stated}（{df_zh}）对应 p = {computed}，与 {printed} 一致"
    else:
        mismatch = {
            "=": ("does not round to", "舍入后不等于"),
            "<": ("is not below", "不小于"),
            ">": ("is not above", "不大于"),
        }[test.p.relation]
        why_en = (
            f"{stated} ({df_en}) gives p = {computed}, which {mismatch[0]} {test.p.number.text}"
        )
        why_zh = f"{stated}（{df_zh}）对应 p = {computed}，{mismatch[1]} {test.p.number.text}"
        if result.gross:
            why_en += f"; the printed p and the computed p fall on opposite sides of α = {alpha:g}"
            why_zh += f"；印刷的 p 与计算的 p 分处 α = {alpha:g} 两侧（显著性结论相反）"
    return base.finding(
        expected=expected,
        verdict=result.verdict,
        why_en=why_en,
        why_zh=why_zh,
        values=values,
    )


def _t_finding(
    test: ReportedTest, first: Cell | None, second: Cell | None, pairs: int | None
) -> Finding:
    base = _Where(
        "attainable_t",
        test.outcome,
        (test.a, test.b),
        "t",
        test.t.text,
    )
    if first is None or second is None:
        missing = test.a if first is None else test.b
        return base.finding(
            expected=None,
            verdict="not_applicable",
            why_en=f"the file gives no mean and SD of {test.outcome} at {missing}",
            why_zh=f"文件未给出 {test.outcome} 在 {missing} 的均值和标准差",
        )
    if pairs is None or pairs < 2:
        return base.finding(
            expected=None,
            verdict="not_applicable",
            why_en=(
                f"the number of pairs is unknown (n {first.n} and {second.n} differ): give n "
                "or df in the test"
            ),
            why_zh=f"配对数未知（n 分别为 {first.n} 和 {second.n}）：请在检验中填写 n 或 df",
        )
    result = attainable_paired_t(first.mean, first.sd, second.mean, second.sd, pairs, test.t)
    values = {
        "n": pairs,
        "t_min": result.t_min,
        "t_max": None if math.isinf(result.t_max) else result.t_max,
        "implied_r": result.implied_r,
    }
    span = result.describe_range()
    between = f"{_fmt(result.t_min)} and {_fmt(result.t_max)}"
    between_zh = f"{_fmt(result.t_min)} 与 {_fmt(result.t_max)}"
    expected = f"|t| {span}"
    r = result.implied_r
    r_text = "" if r is None else _fmt(r, 3)
    setting = (
        f"means {first.mean.text} and {second.mean.text}, SDs {first.sd.text} and "
        f"{second.sd.text}, n = {pairs} pairs"
    )
    setting_zh = (
        f"均值 {first.mean.text} 与 {second.mean.text}、标准差 {first.sd.text} 与 "
        f"{second.sd.text}、n = {pairs} 对"
    )
    if result.verdict == "possible":
        why_en = (
            f"with {setting}, |t| can lie between {between} (the SD of the differences lies "
            "between |SD₁ − SD₂| and SD₁ + SD₂); the printed t fits"
        )
        why_zh = (
            f"{setting_zh}时，|t| 可在 {between_zh} 之间（差值标准差介于 |SD₁ − SD₂| 与 "
            "SD₁ + SD₂ 之间）；印刷的 t 在此范围内"
        )
        if r is not None and abs(r) > 1:
            why_en += (
                f"; at the printed values it would need r = {r_text}, beyond ±1, so only the "
                "rounding of the printed numbers allows it"
            )
            why_zh += f"；按印刷值需要 r = {r_text}，超出 ±1，仅因印刷数字的舍入而可能成立"
        elif r is not None:
            why_en += f" and implies a correlation r = {r_text} between the time points"
            why_zh += f"，对应两时间点间相关系数 r = {r_text}"
    else:
        why_en = (
            f"with {setting}, |t| must lie between {between} whatever the correlation between "
            f"the time points; the printed {test.t.text} cannot be right"
        )
        why_zh = (
            f"{setting_zh}时，无论两时间点相关如何，|t| 都必须在 {between_zh} 之间；"
            f"印刷的 {test.t.text} 不可能成立"
        )
        if r is not None:
            why_en += f" (it would need r = {r_text})"
            why_zh += f"（需要 r = {r_text}）"
    return base.finding(
        expected=expected,
        verdict=result.verdict,
        why_en=why_en,
        why_zh=why_zh,
        values=values,
    )


# --- JSON ---------------------------------------------------------------------------------------


def _summary_dict(summary: Summary) -> dict[str, int]:
    return {
        "run": summary.run,
        "passed": summary.passed,
        "failed": summary.failed,
        "not_applicable": summary.not_applicable,
    }


def checks_dict(checks: Sequence[CohortCheck]) -> dict[str, Any]:
    """The checks as JSON-safe plain data (``kyphos evidence check --format json``)."""
    total = Summary(0, 0, 0, 0)
    cohorts = []
    for check in checks:
        total = total + check.summary
        cohorts.append(
            {
                "key": check.key,
                "citation": check.citation,
                "doi": check.doi,
                "source": check.source,
                "findings": [
                    {
                        "check": finding.check,
                        "outcome": finding.outcome,
                        "timepoints": list(finding.timepoints),
                        "statistic": finding.statistic,
                        "printed": finding.printed,
                        "expected": finding.expected,
                        "verdict": finding.verdict,
                        "status": finding.status,
                        "why": {"en": finding.why_en, "zh": finding.why_zh},
                        "values": {key: _json_safe(value) for key, value in finding.values.items()},
                    }
                    for finding in check.findings
                ],
                "summary": _summary_dict(check.summary),
            }
        )
    return {"cohorts": cohorts, "summary": _summary_dict(total)}


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
