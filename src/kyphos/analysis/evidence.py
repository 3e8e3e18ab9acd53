"""Your cohort side by side with published cohorts.

A *published cohort* (:mod:`kyphos.analysis.cohorts`: the file format, its reader and
the installed cohorts, whose names this module re-exports) is what a paper prints
about its patients: citation, design, time points, baseline, per outcome and time
point n / mean / SD, the tests it reports and complication counts.

Printed statistics are kept as the printed text (``"40.00"``, ``"<0.05"``) — a
:class:`Printed` value knows its decimals, so it stands for the interval it was rounded
from (CLINICAL.md §9); :mod:`kyphos.analysis.consistency` checks them.

Outcomes use kyphos's vocabulary (:data:`OUTCOME_KINDS`): ``vas`` (cm, 0–10), ``odi``
(percent, 0–100), ``anterior_height_mm``, ``middle_height_mm``, ``posterior_height_mm``,
``wedge_angle_deg``, ``kyphotic_angle_deg``, plus ``odi_raw`` — a raw Oswestry sum that
must say how many sections were answered (``sections_answered``). For comparison a raw
ODI becomes a percent, percent = raw / (5 × answered) × 100, its SD scaled alike
(CLINICAL.md §1); a raw score is never compared with a percent.

Side by side
------------
:func:`own_summary` reads kyphos's :class:`~kyphos.analysis.results.StudyReport`;
:func:`compare` puts it next to one published cohort:

* baseline: patients, men, women, age (mean, SD, min, max) of each cohort;
* per outcome and shared time point: each cohort's n / mean / SD, the difference in
  means (yours − reference) with its Welch 95 % CI from the summary statistics
  (:func:`kyphos.analysis.stats.welch_difference`);
* the change from the baseline time point (the first shared one) per cohort: a point
  estimate, and a 95 % CI only where the SD of the change is known — for your cohort
  from the paired comparison of complete pairs; for the reference only when it prints a
  paired t for that change that its own means and SDs allow (CLINICAL.md §9), whence
  SD(change) = |Δ|·√n/|t| and CI = Δ ± t₀.₉₇₅,df·|Δ|/|t|. A printed t that cannot be
  right gives no CI, and the reason says so.

Values that cannot be computed are ``None`` with a reason in the owning object's
``reasons`` (as in :mod:`kyphos.analysis.results`).

:func:`evidence_dict` is the JSON form, for the report's ``evidence`` key (DATA.md §2)::

    {
      "cohorts": [
        {
          "key": "zhang-2011", "citation": "Zhang et al. 2011", "title": "…",
          "doi": "10.3969/…" | null, "source": "built-in" | "registry" | "<file>",
          "baseline_timepoint": "preop" | null,
          "shared_timepoints": ["preop", "postop", "final"],
          "timepoint_labels": {"preop": {"en": "Preoperative", "zh": "术前"}, …},
          "baseline": {
            "own":       {"patients", "male", "female", "age_mean", "age_sd",
                          "age_min", "age_max"},
            "reference": {… the same keys …}
          },
          "outcomes": {
            "<outcome>": {                      # own vocabulary: vas, odi, …
              "unit": "cm" | "percent" | "mm" | "deg",
              "reference_outcome": "odi_raw",   # what the paper printed
              "conversion": {"en": …, "zh": …} | null,
              "units_of_analysis": {"own": "patient" | "vertebra",
                                    "reference": "patient" | "vertebra" | null},
              "timepoints": {
                "<timepoint>": {
                  "own":       {"n", "mean", "sd"},
                  "reference": {"n", "mean", "sd"},
                  "difference": own − reference, "ci95": [lo, hi], "df": Welch df
                }, …
              },
              "change_from_baseline": {
                "own":       {"<timepoint>": {"a", "b", "n", "estimate", "ci95", "basis"}},
                "reference": {"<timepoint>": {… the same keys …}}
              },
              "remarks": [{"en": …, "zh": …}, …]
            }, …
          },
          "not_compared": {"<outcome>": "why", …}
        }, …
      ],
      "notes": [{"path": "evidence.cohorts[0].outcomes.vas.…ci95", "reason": "…"}, …]
    }

Every ``null`` in ``cohorts`` is listed in ``notes`` with its path (starting with
``evidence.``) and reason, as the report's own ``notes`` are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scipy import stats as _scipy_stats

from kyphos.analysis.stats import welch_difference
from kyphos.clinical import odi

if TYPE_CHECKING:
    from kyphos.analysis.results import StudyReport

from kyphos.analysis.cohorts import (
    COMPARED_AS,
    FORMAT_VERSION,
    OUTCOME_KINDS,
    TESTS,
    Baseline,
    Cell,
    Citation,
    Complication,
    OutcomeData,
    OutcomeKind,
    Printed,
    PrintedP,
    PublishedCohort,
    ReportedTest,
    Scale,
    StoredResult,
    Timepoint,
    add_cohort,
    builtin_cohorts,
    installed_cohorts,
    load_cohort,
    parse_cohort,
    parse_cohort_text,
)

__all__ = [
    "FORMAT_VERSION",
    "OUTCOME_KINDS",
    "TESTS",
    "Baseline",
    "BaselineComparison",
    "BaselineSide",
    "CellSummary",
    "Change",
    "Citation",
    "Complication",
    "EvidenceComparison",
    "OutcomeData",
    "OutcomeEvidence",
    "OutcomeKind",
    "OwnCell",
    "OwnChange",
    "OwnCohortSummary",
    "OwnOutcome",
    "Printed",
    "PrintedP",
    "PublishedCohort",
    "Remark",
    "ReportedTest",
    "Scale",
    "StoredResult",
    "Timepoint",
    "TimepointComparison",
    "add_cohort",
    "builtin_cohorts",
    "compare",
    "evidence_dict",
    "installed_cohorts",
    "load_cohort",
    "own_summary",
    "parse_cohort",
    "parse_cohort_text",
]


CONFIDENCE = 0.95
ODI_POINTS_PER_SECTION = odi.MAX_ANSWER
ODI_SECTIONS = odi.SECTION_COUNT

Interval = tuple[float, float]


# --- your cohort --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnCell:
    n: int
    mean: float | None
    sd: float | None
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OwnChange:
    """Paired change b − a on complete pairs (from the report's paired comparison)."""

    a: str
    b: str
    n: int
    mean_diff: float | None
    ci95: Interval | None
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OwnOutcome:
    unit_of_analysis: str
    cells: dict[str, OwnCell]
    changes: dict[tuple[str, str], OwnChange]


@dataclass(frozen=True)
class OwnCohortSummary:
    """What :func:`compare` needs of your cohort: baseline and per-outcome summaries."""

    timepoints: tuple[str, ...]
    patients: int
    male: int | None
    female: int | None
    age: OwnCell
    age_min: float | None
    age_max: float | None
    outcomes: dict[str, OwnOutcome]


def own_summary(report: StudyReport) -> OwnCohortSummary:
    """Your cohort's summaries from kyphos's study report (nothing recomputed)."""
    cohort = report.cohort
    age = cohort.age
    outcomes: dict[str, OwnOutcome] = {}
    for name, result in report.outcomes.items():
        cells = {
            point: OwnCell(d.n, d.mean, d.sd, dict(d.reasons))
            for point, d in result.timepoints.items()
        }
        changes = {
            (c.a, c.b): OwnChange(
                c.a, c.b, c.result.n, c.result.mean_diff, c.result.ci95, dict(c.result.reasons)
            )
            for c in result.comparisons
        }
        outcomes[name] = OwnOutcome(result.unit, cells, changes)
    return OwnCohortSummary(
        timepoints=tuple(report.protocol),
        patients=cohort.patients,
        male=cohort.sex.get("M"),
        female=cohort.sex.get("F"),
        age=OwnCell(age.n, age.mean, age.sd, dict(age.reasons)),
        age_min=age.min,
        age_max=age.max,
        outcomes=outcomes,
    )


# --- side by side -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Remark:
    en: str
    zh: str


@dataclass(frozen=True)
class BaselineSide:
    patients: int | None
    male: int | None
    female: int | None
    age_mean: float | None
    age_sd: float | None
    age_min: float | None
    age_max: float | None
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BaselineComparison:
    own: BaselineSide
    reference: BaselineSide


@dataclass(frozen=True)
class CellSummary:
    n: int | None
    mean: float | None
    sd: float | None
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TimepointComparison:
    """One outcome at one shared time point: difference = own − reference (Welch CI)."""

    timepoint: str
    own: CellSummary
    reference: CellSummary
    difference: float | None
    ci95: Interval | None
    df: float | None
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """Change from ``a`` (baseline) to ``b`` in one cohort: estimate = b − a."""

    a: str
    b: str
    n: int | None
    estimate: float | None
    ci95: Interval | None
    basis: str | None
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutcomeEvidence:
    outcome: str
    unit: str
    reference_outcome: str
    conversion: Remark | None
    own_unit_of_analysis: str
    reference_unit_of_analysis: str | None
    timepoints: list[TimepointComparison]
    own_change: list[Change]
    reference_change: list[Change]
    remarks: list[Remark]


@dataclass(frozen=True)
class EvidenceComparison:
    key: str
    citation: str
    title: str
    doi: str | None
    source: str
    timepoint_labels: dict[str, tuple[str, str]]
    shared_timepoints: list[str]
    baseline_timepoint: str | None
    baseline: BaselineComparison
    outcomes: list[OutcomeEvidence]
    not_compared: dict[str, str]
    reasons: dict[str, str] = field(default_factory=dict)


NOT_PRINTED = "not printed by the reference"
NOT_PRINTED_AT_TIMEPOINT = "not printed by the reference at this time point"
N_DIFFER = "the two time points' n differ and the number of pairs is not printed"
IMPOSSIBLE_T = (
    "the printed paired t is impossible given the printed means and SDs (kyphos evidence "
    "check shows the attainable range), so the SD of the change cannot be derived from it"
)
BASIS_OWN = "paired t on complete pairs"
BASIS_REFERENCE = "SD of the change derived from the printed paired t"


def compare(own: OwnCohortSummary, reference: PublishedCohort) -> EvidenceComparison:
    """Your cohort next to one published cohort (see the module docstring)."""
    reference_points = set(reference.timepoint_keys)
    shared = [point for point in own.timepoints if point in reference_points]
    baseline_point = shared[0] if shared else None
    reasons: dict[str, str] = {}
    if not shared:
        reasons["shared_timepoints"] = (
            f"no time point in common (yours: {', '.join(own.timepoints) or 'none'}; "
            f"{reference.citation.short}: {', '.join(reference.timepoint_keys)})"
        )
        reasons["baseline_timepoint"] = reasons["shared_timepoints"]
    chosen = _reference_outcomes(reference)
    outcomes: list[OutcomeEvidence] = []
    not_compared: dict[str, str] = {}
    for name, own_outcome in own.outcomes.items():
        data = chosen.get(name)
        if data is None:
            not_compared[name] = "not reported by the reference"
            continue
        outcomes.append(_compare_outcome(name, own_outcome, data, reference, shared))
    for name, data in chosen.items():
        if name not in own.outcomes:
            not_compared[data.name] = "not an outcome of your report"
    for name in reference.outcomes:
        if name not in not_compared and all(o.reference_outcome != name for o in outcomes):
            not_compared[name] = "another form of this outcome is compared instead"
    return EvidenceComparison(
        key=reference.key,
        citation=reference.citation.short,
        title=reference.citation.title,
        doi=reference.citation.doi,
        source=reference.source,
        timepoint_labels={p.key: (p.label_en, p.label_zh) for p in reference.timepoints},
        shared_timepoints=shared,
        baseline_timepoint=baseline_point,
        baseline=BaselineComparison(_own_baseline(own), _reference_baseline(reference)),
        outcomes=outcomes,
        not_compared=not_compared,
        reasons=reasons,
    )


def _reference_outcomes(reference: PublishedCohort) -> dict[str, OutcomeData]:
    """The reference's outcomes under kyphos's report names; a printed percent wins."""
    chosen: dict[str, OutcomeData] = {}
    for name, data in reference.outcomes.items():
        compared = COMPARED_AS.get(name, name)
        if compared in chosen and compared == name:
            chosen[compared] = data  # odi (percent) printed as well as odi_raw
        elif compared not in chosen:
            chosen[compared] = data
    return chosen


def _own_baseline(own: OwnCohortSummary) -> BaselineSide:
    reasons = {
        key: own.age.reasons.get(source, "no ages recorded")
        for key, value, source in (
            ("age_mean", own.age.mean, "mean"),
            ("age_sd", own.age.sd, "sd"),
            ("age_min", own.age_min, "min"),
            ("age_max", own.age_max, "max"),
        )
        if value is None
    }
    return BaselineSide(
        patients=own.patients,
        male=own.male,
        female=own.female,
        age_mean=own.age.mean,
        age_sd=own.age.sd,
        age_min=own.age_min,
        age_max=own.age_max,
        reasons=reasons,
    )


def _reference_baseline(reference: PublishedCohort) -> BaselineSide:
    b = reference.baseline
    values = {
        "male": b.male,
        "female": b.female,
        "age_mean": None if b.age_mean is None else b.age_mean.value,
        "age_sd": None if b.age_sd is None else b.age_sd.value,
        "age_min": None if b.age_min is None else b.age_min.value,
        "age_max": None if b.age_max is None else b.age_max.value,
    }
    reasons = {key: NOT_PRINTED for key, value in values.items() if value is None}
    return BaselineSide(
        patients=b.n,
        male=b.male,
        female=b.female,
        age_mean=values["age_mean"],
        age_sd=values["age_sd"],
        age_min=values["age_min"],
        age_max=values["age_max"],
        reasons=reasons,
    )


def _compare_outcome(
    name: str,
    own: OwnOutcome,
    data: OutcomeData,
    reference: PublishedCohort,
    shared: list[str],
) -> OutcomeEvidence:
    factor = data.percent_factor or 1.0
    short = reference.citation.short
    conversion: Remark | None = None
    remarks: list[Remark] = []
    if data.percent_factor is not None:
        points = ODI_POINTS_PER_SECTION * (data.sections_answered or 0)
        conversion = Remark(
            f"{short} printed the ODI as a raw sum over {data.sections_answered} sections; "
            f"converted to percent (× 100/{points}), SDs alike",
            f"{short} 以 {data.sections_answered} 个条目的原始总分报告 ODI；"
            f"已换算为百分比（× 100/{points}），标准差同样换算",
        )
    if data.unit_of_analysis != own.unit_of_analysis:
        theirs = data.unit_of_analysis or "not stated"
        remarks.append(
            Remark(
                f"units of analysis differ (yours: {own.unit_of_analysis}; {short}: {theirs}); "
                "the Welch CI treats each n as independent units",
                f"分析单位不同（本研究：{_unit_zh(own.unit_of_analysis)}；{short}：{_unit_zh(theirs)}），"
                "Welch 置信区间将各自的 n 视为独立单位",
            )
        )
    timepoints = [
        _compare_cell(point, own.cells.get(point), data.cells.get(point), factor)
        for point in shared
    ]
    own_change: list[Change] = []
    reference_change: list[Change] = []
    if shared:
        base = shared[0]
        for point in shared[1:]:
            own_change.append(_own_change(own, base, point))
            reference_change.append(_reference_change(reference, data, base, point, factor))
    return OutcomeEvidence(
        outcome=name,
        unit=OUTCOME_KINDS[name].unit,
        reference_outcome=data.name,
        conversion=conversion,
        own_unit_of_analysis=own.unit_of_analysis,
        reference_unit_of_analysis=data.unit_of_analysis,
        timepoints=timepoints,
        own_change=own_change,
        reference_change=reference_change,
        remarks=remarks,
    )


def _unit_zh(unit: str) -> str:
    return {"patient": "患者", "vertebra": "椎体", "not stated": "未说明"}.get(unit, unit)


def _compare_cell(
    point: str, own: OwnCell | None, printed: Cell | None, factor: float
) -> TimepointComparison:
    if own is None:
        own_side = CellSummary(None, None, None, dict.fromkeys(("n", "mean", "sd"), "no values"))
    else:
        own_side = CellSummary(own.n, own.mean, own.sd, dict(own.reasons))
    if printed is None:
        reference_side = CellSummary(
            None, None, None, dict.fromkeys(("n", "mean", "sd"), NOT_PRINTED)
        )
    else:
        reference_side = CellSummary(
            printed.n, printed.mean.value * factor, printed.sd.value * factor
        )
    reasons: dict[str, str] = {}
    difference: float | None = None
    ci95: Interval | None = None
    df: float | None = None
    if printed is None:
        reasons = dict.fromkeys(("difference", "ci95", "df"), NOT_PRINTED_AT_TIMEPOINT)
    elif own is None or own.n == 0 or own.mean is None:
        reasons = dict.fromkeys(("difference", "ci95", "df"), "no values in your cohort")
    elif own.sd is None:
        difference = own.mean - printed.mean.value * factor
        reason = own.reasons.get("sd", "your cohort's SD is not known")
        reasons = {"ci95": f"your SD: {reason}", "df": f"your SD: {reason}"}
    else:
        welch = welch_difference(
            printed.n,
            printed.mean.value * factor,
            printed.sd.value * factor,
            own.n,
            own.mean,
            own.sd,
        )
        difference, ci95, df = welch.diff, welch.ci95, welch.df
        reasons = dict(welch.reasons)
    return TimepointComparison(point, own_side, reference_side, difference, ci95, df, reasons)


def _own_change(own: OwnOutcome, a: str, b: str) -> Change:
    change = own.changes.get((a, b))
    if change is None:
        reasons = dict.fromkeys(("n", "estimate", "ci95", "basis"), "no paired comparison")
        return Change(a, b, None, None, None, None, reasons)
    reasons = {key: value for key, value in change.reasons.items() if key in ("ci95",)}
    if change.mean_diff is None:
        reasons["estimate"] = change.reasons.get("mean_diff", "no complete pairs")
    if change.ci95 is None:
        reasons.setdefault("ci95", "not computable")
        reasons["basis"] = reasons["ci95"]
    return Change(
        a,
        b,
        change.n,
        change.mean_diff,
        change.ci95,
        BASIS_OWN if change.ci95 is not None else None,
        reasons,
    )


def _reference_change(
    reference: PublishedCohort, data: OutcomeData, a: str, b: str, factor: float
) -> Change:
    first, second = data.cells.get(a), data.cells.get(b)
    if first is None or second is None:
        absent = dict.fromkeys(("n", "estimate", "ci95", "basis"), NOT_PRINTED_AT_TIMEPOINT)
        return Change(a, b, None, None, None, None, absent)
    estimate = (second.mean.value - first.mean.value) * factor
    reasons: dict[str, str] = {}
    n: int | None = first.n if first.n == second.n else None
    if n is None:
        reasons["n"] = N_DIFFER
    test = next(
        (
            t
            for t in reference.tests
            if t.outcome == data.name and {t.a, t.b} == {a, b} and t.test == "paired t"
        ),
        None,
    )
    ci95: Interval | None = None
    if test is None:
        reasons["ci95"] = (
            "the SD of the change is not known: the reference prints no paired t for this change"
        )
    else:
        from kyphos.analysis.consistency import attainable_paired_t, pairs_of

        pairs = pairs_of(test, first, second)
        if pairs is None:
            reasons["ci95"] = (
                "the SD of the change is not known: the number of pairs is not printed"
            )
        else:
            attainable = attainable_paired_t(
                first.mean, first.sd, second.mean, second.sd, pairs, test.t
            )
            df = test.df if test.df is not None else float(pairs - 1)
            if attainable.verdict == "impossible":
                reasons["ci95"] = IMPOSSIBLE_T
            elif test.t.value == 0 or estimate == 0:
                reasons["ci95"] = "the printed t is 0: the SD of the change cannot be derived"
            else:
                critical = float(_scipy_stats.t.ppf(0.5 + CONFIDENCE / 2.0, df))
                half = critical * abs(estimate) / abs(test.t.value)
                ci95 = (estimate - half, estimate + half)
                n = pairs
                reasons.pop("n", None)
    if ci95 is None:
        reasons["basis"] = reasons["ci95"]
    return Change(a, b, n, estimate, ci95, BASIS_REFERENCE if ci95 is not None else None, reasons)


# --- JSON ---------------------------------------------------------------------------------------


class _Notes:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def value(self, path: str, value: Any, reasons: Mapping[str, str], key: str) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        if value is None:
            reason = reasons.get(key) or "not computable"
            self.items.append({"path": path, "reason": reason})
        return value

    def values(
        self, path: str, source: object, reasons: Mapping[str, str], keys: Iterable[str]
    ) -> dict[str, Any]:
        return {
            key: self.value(f"{path}.{key}", getattr(source, key), reasons, key) for key in keys
        }


def _interval(value: Interval | None) -> list[float] | None:
    return None if value is None else [float(value[0]), float(value[1])]


_BASELINE_KEYS = ("patients", "male", "female", "age_mean", "age_sd", "age_min", "age_max")
_CELL_KEYS = ("n", "mean", "sd")


def evidence_dict(comparisons: Sequence[EvidenceComparison]) -> dict[str, Any]:
    """The comparisons as JSON-safe plain data (shape in the module docstring)."""
    notes = _Notes()
    cohorts: list[dict[str, Any]] = []
    for index, comparison in enumerate(comparisons):
        base = f"evidence.cohorts[{index}]"
        entry: dict[str, Any] = {
            "key": comparison.key,
            "citation": comparison.citation,
            "title": comparison.title,
            "doi": comparison.doi,
            "source": comparison.source,
            "baseline_timepoint": notes.value(
                f"{base}.baseline_timepoint",
                comparison.baseline_timepoint,
                comparison.reasons,
                "baseline_timepoint",
            ),
            "shared_timepoints": list(comparison.shared_timepoints),
            "timepoint_labels": {
                key: {"en": en, "zh": zh} for key, (en, zh) in comparison.timepoint_labels.items()
            },
            "baseline": {
                side: notes.values(
                    f"{base}.baseline.{side}",
                    getattr(comparison.baseline, side),
                    getattr(comparison.baseline, side).reasons,
                    _BASELINE_KEYS,
                )
                for side in ("own", "reference")
            },
            "outcomes": {},
            "not_compared": dict(comparison.not_compared),
        }
        for outcome in comparison.outcomes:
            path = f"{base}.outcomes.{outcome.outcome}"
            entry["outcomes"][outcome.outcome] = {
                "unit": outcome.unit,
                "reference_outcome": outcome.reference_outcome,
                "conversion": None
                if outcome.conversion is None
                else {"en": outcome.conversion.en, "zh": outcome.conversion.zh},
                "units_of_analysis": {
                    "own": outcome.own_unit_of_analysis,
                    "reference": outcome.reference_unit_of_analysis,
                },
                "timepoints": {
                    cell.timepoint: _cell_dict(notes, f"{path}.timepoints.{cell.timepoint}", cell)
                    for cell in outcome.timepoints
                },
                "change_from_baseline": {
                    side: {
                        change.b: _change_dict(
                            notes, f"{path}.change_from_baseline.{side}.{change.b}", change
                        )
                        for change in changes
                    }
                    for side, changes in (
                        ("own", outcome.own_change),
                        ("reference", outcome.reference_change),
                    )
                },
                "remarks": [{"en": r.en, "zh": r.zh} for r in outcome.remarks],
            }
        cohorts.append(entry)
    return {"cohorts": cohorts, "notes": notes.items}


def _cell_dict(notes: _Notes, path: str, cell: TimepointComparison) -> dict[str, Any]:
    return {
        "own": notes.values(f"{path}.own", cell.own, cell.own.reasons, _CELL_KEYS),
        "reference": notes.values(
            f"{path}.reference", cell.reference, cell.reference.reasons, _CELL_KEYS
        ),
        "difference": notes.value(
            f"{path}.difference", cell.difference, cell.reasons, "difference"
        ),
        "ci95": notes.value(f"{path}.ci95", _interval(cell.ci95), cell.reasons, "ci95"),
        "df": notes.value(f"{path}.df", cell.df, cell.reasons, "df"),
    }


def _change_dict(notes: _Notes, path: str, change: Change) -> dict[str, Any]:
    return {
        "a": change.a,
        "b": change.b,
        "n": notes.value(f"{path}.n", change.n, change.reasons, "n"),
        "estimate": notes.value(f"{path}.estimate", change.estimate, change.reasons, "estimate"),
        "ci95": notes.value(f"{path}.ci95", _interval(change.ci95), change.reasons, "ci95"),
        "basis": notes.value(f"{path}.basis", change.basis, change.reasons, "basis"),
    }
