"""The study report's results, computed from a :class:`StudyDataset`.

Stages (tableone's order): dataset → results (this module: plain dataclasses, full
precision) → renderers (rounding and wording). Every statistic comes from
:mod:`kyphos.analysis.stats`, :mod:`.reliability`, :mod:`.survival` and :mod:`.mixed`;
every clinical rule from :mod:`kyphos.clinical`. Where a value cannot be computed it is
``None`` and its reason travels with it (``reasons`` dicts), so the JSON report can list
every ``null`` in ``notes`` (DATA.md §2).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from kyphos import __version__
from kyphos.analysis.cohorts import PublishedCohort
from kyphos.analysis.dataset import DAYS_PER_MONTH, StudyDataset
from kyphos.analysis.evidence import EvidenceComparison, compare, own_summary
from kyphos.analysis.mixed import MixedModelResult, fit_random_intercept
from kyphos.analysis.reliability import BlandAltman, IccEstimate, bland_altman, icc, interpret
from kyphos.analysis.stats import (
    Description,
    FloatArray,
    PairedComparison,
    Proportion,
    describe,
    holm,
    paired_comparison,
    responders,
    wilson,
)
from kyphos.analysis.survival import KaplanMeier, kaplan_meier
from kyphos.clinical import levels, response
from kyphos.clinical.fracture import NEW_FRACTURE_TYPES, AdverseEventType, LeakageSite

OUTCOMES: dict[str, str] = {
    "vas": "patient",
    "odi": "patient",
    "anterior_height_mm": "vertebra",
    "kyphotic_angle_deg": "vertebra",
}
"""The report's outcomes and their unit of analysis (DATA.md §2)."""

RADIOGRAPHIC = ("anterior_height_mm", "kyphotic_angle_deg")
RESPONDER_RULES = {"vas": response.VAS_RULE, "odi": response.ODI_RULE}


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    result: PairedComparison
    p_holm: float | None


@dataclass(frozen=True)
class OutcomeResult:
    name: str
    unit: str
    timepoints: dict[str, Description]
    comparisons: list[Comparison]
    mixed_model: MixedModelResult
    responders: dict[str, Proportion] | None = None


@dataclass(frozen=True)
class Cohort:
    patients: int
    vertebrae_treated: int
    sex: dict[str, int]
    age: Description
    levels: dict[str, int]
    follow_up_months: Description


@dataclass(frozen=True)
class Complications:
    leakage: Proportion
    leakage_by_site: dict[str, int]
    leakage_by_level: dict[str, int]
    leakage_symptomatic: Proportion
    leakage_patients: Proportion
    adjacent_fracture: Proportion
    new_fracture_free: KaplanMeier


@dataclass(frozen=True)
class Reliability:
    outcome: str
    pairs: int
    form: str
    icc: IccEstimate
    icc3: IccEstimate
    interpretation: str | None
    bland_altman: BlandAltman
    observers: tuple[str, str] | None
    reasons: dict[str, str] = field(default_factory=dict)
    adjudicated: int = 0
    """Treated vertebra–time points with an adjudicator reading of this outcome."""


@dataclass(frozen=True)
class BaselineRow:
    """One line of Table 1: a continuous variable or one category of a categorical one."""

    variable: str
    category: str | None
    kind: str  # "continuous" | "categorical"
    description: Description | None = None
    count: int | None = None
    of: int | None = None
    skewed: bool = False


@dataclass(frozen=True)
class BaselineRemark:
    """A caveat under Table 1: a variable recorded for fewer than all patients
    (``recorded``: ``n`` of ``total``), a skewed distribution (``skewed``), or few
    values (``small_n``: ``n``). ``str()`` gives the English sentence."""

    variable: str
    kind: str  # "recorded" | "skewed" | "small_n"
    n: int
    total: int

    def __str__(self) -> str:
        if self.kind == "recorded":
            return f"{self.variable}: recorded for {self.n} of {self.total} patients"
        if self.kind == "skewed":
            return f"{self.variable}: skewed distribution; median [IQR] given as well"
        return f"{self.variable}: small n ({self.n})"


@dataclass(frozen=True)
class Derived:
    """Endpoints derived per treated vertebra (pre = preop, post = postop)."""

    height_restoration_mm: Description
    height_restoration_relative_to_pre_percent: Description
    kyphosis_correction_deg: Description
    loss_of_correction_deg: Description
    height_loss_at_final_mm: Description


@dataclass(frozen=True)
class StudyReport:
    generated_at: str
    protocol: list[str]
    site: str | None
    cohort: Cohort
    baseline: list[BaselineRow]
    baseline_remarks: list[BaselineRemark]
    outcomes: dict[str, OutcomeResult]
    derived: Derived
    complications: Complications
    reliability: dict[str, Reliability]
    settings: dict[str, Any]
    kyphos_version: str = __version__
    evidence: list[EvidenceComparison] = field(default_factory=list)
    """Your cohort next to each published reference cohort (:mod:`.evidence`)."""


# --- computing ------------------------------------------------------------------------------


def _wide(values: pd.DataFrame, unit: str, outcome: str) -> pd.DataFrame:
    """One row per unit of analysis, one column per time point."""
    key = "patient" if unit == "patient" else "vertebra"
    return values.pivot_table(index=key, columns="timepoint", values=outcome, aggfunc="first")


def _column(wide: pd.DataFrame, timepoint: str) -> FloatArray:
    """The values at ``timepoint``, one per row of ``wide`` (NaN where missing)."""
    if timepoint not in wide.columns:
        return np.full(len(wide), np.nan)
    return np.asarray(wide[timepoint].to_numpy(dtype=np.float64, na_value=np.nan))


def _outcome(dataset: StudyDataset, name: str, unit: str, values: pd.DataFrame) -> OutcomeResult:
    points = dataset.timepoints
    wide = _wide(values, unit, name) if len(values) else pd.DataFrame()
    timepoints = {point: describe(_column(wide, point)) for point in points}
    raw = [
        (a, b, paired_comparison(_column(wide, a), _column(wide, b)))
        for a, b in combinations(points, 2)
    ]
    adjusted = holm([result.p for _, _, result in raw])
    comparisons = [
        Comparison(a, b, result, p) for (a, b, result), p in zip(raw, adjusted, strict=True)
    ]
    present = values.dropna(subset=[name])
    codes = {point: index for index, point in enumerate(points)}
    mixed = fit_random_intercept(
        present[name].to_numpy(dtype=float),
        present["timepoint"].map(codes).to_numpy(dtype=int),
        present["patient"].to_numpy(dtype=int),
        present["vertebra"].to_numpy(dtype=int) if unit == "vertebra" else None,
        levels=points,
    )
    rule = RESPONDER_RULES.get(name)
    responder_rates = None
    if rule is not None and points:
        baseline = points[0]
        responder_rates = {
            point: responders(
                _column(wide, baseline), _column(wide, point), rule.absolute, rule.relative
            )
            for point in points[1:]
        }
    return OutcomeResult(name, unit, timepoints, comparisons, mixed, responder_rates)


def _cohort(dataset: StudyDataset) -> Cohort:
    treated = dataset.vertebrae[dataset.vertebrae["treated"]]
    counted = Counter(treated["level"])
    return Cohort(
        patients=len(dataset.patients),
        vertebrae_treated=len(treated),
        sex={sex: int((dataset.patients["sex"] == sex).sum()) for sex in ("M", "F")},
        age=describe(_floats(dataset.patients["age"])),
        levels={level: counted[level] for level in levels.LEVELS if counted[level]},
        follow_up_months=describe(_floats(dataset.patients["follow_up_days"]) / DAYS_PER_MONTH),
    )


def _floats(series: pd.Series) -> FloatArray:
    return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan))


def _listed_counts(texts: pd.Series) -> tuple[Counter[str], int]:
    """For ``;``-separated lists (one per row): how many rows name each item (an item
    named twice in one row counts once), and how many rows name any item."""
    items = texts.dropna().astype(str).str.split(";").explode()
    items = items[items != ""]
    pairs = items.rename("item").reset_index().drop_duplicates()
    return Counter(pairs["item"].tolist()), int(items.index.nunique())


def _skewed(values: FloatArray) -> bool:
    data = values[np.isfinite(values)]
    if len(data) < 3 or data.std(ddof=1) == 0:
        return False
    centred = data - data.mean()
    skew = float(np.mean(centred**3) / np.mean(centred**2) ** 1.5)
    return abs(skew) > 1.0


def _baseline(dataset: StudyDataset) -> tuple[list[BaselineRow], list[BaselineRemark]]:
    patients = dataset.patients
    vertebrae = dataset.vertebrae
    treated = vertebrae[vertebrae["treated"]]
    rows: list[BaselineRow] = []
    remarks: list[BaselineRemark] = []
    total = len(patients)
    for variable, series in (
        ("age", patients["age"]),
        ("bmi", patients["bmi"]),
        ("bmd_t_score", patients["bmd_t_score"]),
        ("follow_up_months", patients["follow_up_days"] / DAYS_PER_MONTH),
    ):
        values = _floats(series)
        description = describe(values)
        skewed = _skewed(values)
        rows.append(BaselineRow(variable, None, "continuous", description, skewed=skewed))
        n = description.n
        if n < total:
            remarks.append(BaselineRemark(variable, "recorded", n, total))
        if skewed:
            remarks.append(BaselineRemark(variable, "skewed", n, total))
        if 0 < n < 10:
            remarks.append(BaselineRemark(variable, "small_n", n, total))
    for sex in ("M", "F"):
        rows.append(
            BaselineRow(
                "sex", sex, "categorical", count=int((patients["sex"] == sex).sum()), of=total
            )
        )
    recorded = int(patients["comorbidities"].notna().sum())
    counted, naming = _listed_counts(patients["comorbidities"])
    without = recorded - naming
    rows.append(BaselineRow("comorbidities", "none", "categorical", count=without, of=recorded))
    for name, count in sorted(counted.items(), key=lambda item: (-item[1], item[0])):
        rows.append(BaselineRow("comorbidities", name, "categorical", count=count, of=recorded))
    if recorded < total:
        remarks.append(BaselineRemark("comorbidities", "recorded", recorded, total))
    mechanisms = Counter(patients["injury_mechanism"].dropna())
    for name, count in sorted(mechanisms.items(), key=lambda item: (-item[1], item[0])):
        rows.append(BaselineRow("injury_mechanism", name, "categorical", count=count, of=total))
    for level in levels.LEVELS:
        count = int((treated["level"] == level).sum())
        if count:
            rows.append(BaselineRow("level", level, "categorical", count=count, of=len(treated)))
    for acuity in ("acute_or_subacute", "chronic", "indeterminate"):
        count = int((treated["acuity"] == acuity).sum())
        rows.append(BaselineRow("mri_acuity", acuity, "categorical", count=count, of=len(treated)))
    wall = treated["posterior_wall_intact"]
    for value, label in ((True, "intact"), (False, "not_intact")):
        rows.append(
            BaselineRow(
                "posterior_wall",
                label,
                "categorical",
                count=int((wall == value).sum()),
                of=int(wall.notna().sum()),
            )
        )
    return rows, remarks


def _derived(values: pd.DataFrame) -> Derived:
    """``values``: :meth:`StudyDataset.vertebra_outcomes`."""
    height = _wide(values, "vertebra", "anterior_height_mm") if len(values) else pd.DataFrame()
    angle = _wide(values, "vertebra", "kyphotic_angle_deg") if len(values) else pd.DataFrame()

    def column(frame: pd.DataFrame, point: str) -> FloatArray:
        return _column(frame, point) if len(frame) else np.array([])

    pre_h, post_h, final_h = (column(height, p) for p in ("preop", "postop", "final"))
    pre_a, post_a, final_a = (column(angle, p) for p in ("preop", "postop", "final"))
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = (post_h - pre_h) / pre_h * 100.0

    return Derived(
        height_restoration_mm=describe(post_h - pre_h),
        height_restoration_relative_to_pre_percent=describe(relative),
        kyphosis_correction_deg=describe(pre_a - post_a),
        loss_of_correction_deg=describe(final_a - post_a),
        height_loss_at_final_mm=describe(post_h - final_h),
    )


def new_fracture_times(dataset: StudyDataset) -> tuple[FloatArray, FloatArray]:
    """Months to the first new fracture (event 1), else to the last visit (censored, 0),
    per patient; patients with neither (no follow-up after the index day) are left out."""
    events = dataset.events
    new = events[events["type"].isin([t.value for t in NEW_FRACTURE_TYPES])]
    first_new = new.groupby("patient")["day"].min()
    patients = dataset.patients["patient"]
    fracture_day = patients.map(first_new).to_numpy(dtype=np.float64, na_value=np.nan)
    last_day = _floats(dataset.patients["follow_up_days"])
    observed = np.isfinite(fracture_day)
    censored = ~observed & np.isfinite(last_day) & (np.nan_to_num(last_day) > 0)
    keep = observed | censored
    times = np.where(observed, fracture_day, last_day)[keep] / DAYS_PER_MONTH
    return times, observed[keep].astype(np.float64)


def _complications(dataset: StudyDataset) -> Complications:
    treated = dataset.vertebrae[dataset.vertebrae["treated"]]
    leakage = treated["leakage"].fillna("")
    leaked = leakage != ""
    counted, _ = _listed_counts(leakage[leaked])
    by_site = {site.value: counted[site.value] for site in LeakageSite}
    by_level = Counter(treated.loc[leaked, "level"].astype(str))
    symptomatic = treated.loc[leaked, "leakage_symptomatic"]
    patients_leaked = treated.loc[leaked, "patient"].nunique()
    events = dataset.events
    adjacent = events.loc[events["type"] == AdverseEventType.ADJACENT_FRACTURE.value, "patient"]
    return Complications(
        leakage=wilson(int(leaked.sum()), len(treated)),
        leakage_by_site={site: count for site, count in by_site.items() if count},
        leakage_by_level={
            level: by_level[level] for level in levels.LEVELS if by_level.get(level, 0)
        },
        leakage_symptomatic=wilson(int((symptomatic == True).sum()), int(leaked.sum())),  # noqa: E712
        leakage_patients=wilson(int(patients_leaked), len(dataset.patients)),
        adjacent_fracture=wilson(int(adjacent.nunique()), len(dataset.patients)),
        new_fracture_free=kaplan_meier(*new_fracture_times(dataset)),
    )


def observer_pairs(dataset: StudyDataset, outcome: str) -> pd.DataFrame:
    """The vertebrae and time points with exactly two primary readings of ``outcome``:
    one row each, ``first``/``second`` readings and observers, the observers in
    case-insensitive name order (DATA.md §2)."""
    readings = dataset.measurements
    treated = dataset.vertebrae.loc[dataset.vertebrae["treated"], "vertebra"]
    primary = readings[(readings["role"] == "primary") & readings["vertebra"].isin(treated)]
    primary = primary.dropna(subset=[outcome])
    columns = ["vertebra", "timepoint", "observer", "first", "second"]
    if primary.empty:
        return pd.DataFrame(columns=[*columns, "second_observer"])
    timepoint = pd.factorize(primary["timepoint"], sort=True)[0]
    observer, names = pd.factorize(primary["observer"])
    ranked = sorted(range(len(names)), key=lambda i: (str(names[i]).casefold(), str(names[i])))
    rank = np.empty(len(names), dtype=np.int64)
    rank[ranked] = np.arange(len(names))
    vertebra = primary["vertebra"].to_numpy(dtype=np.int64)
    order = np.lexsort((rank[observer], timepoint, vertebra))
    cell = pd.factorize(vertebra[order] * (int(timepoint.max()) + 1) + timepoint[order])[0]
    size = np.bincount(cell)[cell]
    kept = order[size == 2]
    first, second = kept[0::2], kept[1::2]
    values = primary[outcome].to_numpy(dtype=np.float64)
    return pd.DataFrame(
        {
            "vertebra": vertebra[first],
            "timepoint": primary["timepoint"].to_numpy()[first],
            "observer": names.take(observer[first]),
            "first": values[first],
            "second": values[second],
            "second_observer": names.take(observer[second]),
        }
    )


def _reliability(dataset: StudyDataset, outcome: str) -> Reliability:
    paired = observer_pairs(dataset, outcome)
    pairs = len(paired)
    observers = paired[["observer", "second_observer"]].drop_duplicates()
    named_pairs = {(str(a), str(b)) for a, b in observers.itertuples(index=False)}
    same_two = len(named_pairs) == 1
    first = paired["first"].to_numpy(dtype=np.float64)
    second = paired["second"].to_numpy(dtype=np.float64)
    result = icc(np.column_stack([first, second]) if pairs else np.empty((0, 2)))
    chosen = result.icc2_1 if same_two else result.icc1_1
    form = "ICC(2,1)" if same_two else "ICC(1,1)"
    reasons = {} if pairs else {"icc": "no vertebra and time point has two primary readings"}
    return Reliability(
        outcome=outcome,
        pairs=pairs,
        form=form,
        icc=chosen,
        icc3=result.icc3_1,
        interpretation=interpret(chosen.value) if chosen.value is not None else None,
        bland_altman=bland_altman(first, second),
        observers=next(iter(named_pairs)) if same_two else None,
        reasons=reasons,
        adjudicated=_adjudicated(dataset, outcome),
    )


def _adjudicated(dataset: StudyDataset, outcome: str) -> int:
    """Treated vertebra–time points whose analysed ``outcome`` is an adjudicator's."""
    readings = dataset.measurements
    treated = dataset.vertebrae.loc[dataset.vertebrae["treated"], "vertebra"]
    chosen = readings[(readings["role"] == "adjudicator") & readings["vertebra"].isin(treated)]
    chosen = chosen.dropna(subset=[outcome])
    return len(chosen.drop_duplicates(subset=["vertebra", "timepoint"]))


def compute_report(
    dataset: StudyDataset,
    *,
    site: str | None = None,
    demo: bool = False,
    references: Sequence[PublishedCohort] = (),
) -> StudyReport:
    """Every result of the study report, at full precision; ``references`` are the
    published cohorts the Evidence section sets your cohort beside."""
    patient_values = dataset.patient_outcomes()
    vertebra_values = dataset.vertebra_outcomes()
    outcomes = {
        name: _outcome(
            dataset, name, unit, patient_values if unit == "patient" else vertebra_values
        )
        for name, unit in OUTCOMES.items()
    }
    baseline, remarks = _baseline(dataset)
    report = StudyReport(
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        protocol=dataset.timepoints,
        site=site,
        cohort=_cohort(dataset),
        baseline=baseline,
        baseline_remarks=remarks,
        outcomes=outcomes,
        derived=_derived(vertebra_values),
        complications=_complications(dataset),
        reliability={name: _reliability(dataset, name) for name in RADIOGRAPHIC},
        settings={
            "odi_max_missing": dataset.odi_max_missing,
            "responder_vas_cm": response.VAS_RULE.absolute,
            "responder_odi_points": response.ODI_RULE.absolute,
            "responder_relative": response.VAS_RULE.relative,
            "final_start_day": dataset.protocol.final_start_day,
            "demo": demo,
        },
    )
    if not references:
        return report
    own = own_summary(report)
    return replace(report, evidence=[compare(own, reference) for reference in references])
