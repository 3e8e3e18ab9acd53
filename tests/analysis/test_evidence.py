"""Published cohorts: the file format, the built-in reference cohort, storage in the registry,
and your cohort side by side with a published one.

Expected values come from outside kyphos: the reference study's facts in
``tests/data/seed_study.json`` (Zhang et al., Zhongguo Gu Shang 2011;24:570–3), SciPy's
Welch t-test on data built to have the given summaries, SciPy's t quantiles, and
arithmetic written out in the comments.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic import command
from scipy import stats as scipy_stats
from sqlalchemy import select, text

from kyphos.analysis import load_dataset
from kyphos.analysis.consistency import check_cohort
from kyphos.analysis.evidence import (
    OwnCell,
    OwnChange,
    OwnCohortSummary,
    OwnOutcome,
    Printed,
    PrintedP,
    add_cohort,
    builtin_cohorts,
    compare,
    evidence_dict,
    installed_cohorts,
    load_cohort,
    own_summary,
    parse_cohort,
    parse_cohort_text,
)
from kyphos.analysis.results import compute_report
from kyphos.clinical.errors import ClinicalValueError, ClinicalValueErrors
from kyphos.config import Settings
from kyphos.errors import KyphosError, NotFoundError
from kyphos.exchange.importer import import_workbook
from kyphos.registry import evidence_store, migrate
from kyphos.registry.backup import backup, restore
from kyphos.registry.db import engine_for
from kyphos.registry.models import AuditEvent, EvidenceCohort
from kyphos.registry.repository import Registry, init_registry

SEED = Path(__file__).resolve().parents[1] / "data" / "seed_study.json"


def _seed() -> dict[str, Any]:
    return json.loads(SEED.read_text(encoding="utf-8"))


def _reference():
    return builtin_cohorts()[0]


# --- a minimal valid file, to break one field at a time ----------------------------------------

MINIMAL: dict[str, Any] = {
    "key": "smith-2019",
    "citation": {
        "authors": ["Smith J", "Lee K"],
        "title": "Kyphoplasty outcomes",
        "journal": "Spine",
        "year": 2019,
        "doi": "10.1097/BRS.0000000000000001",
    },
    "timepoints": [{"key": "preop"}, {"key": "postop"}],
    "cohort": {"n": 30, "male": 8, "female": 22, "age_years": {"mean": "71.2", "sd": "6.5"}},
    "outcomes": {
        "vas": {
            "scale": {"min": 0, "max": 10, "step": 0.1},
            "preop": {"n": 30, "mean": "7.90", "sd": "1.10"},
            "postop": {"n": 30, "mean": "3.10", "sd": "1.30"},
        }
    },
    "reported_tests": [
        {"outcome": "vas", "a": "preop", "b": "postop", "test": "paired t", "t": "15.2",
         "p": "<0.001"}
    ],
    "complications": {"cement_leakage": {"events": 4, "of": 35, "unit": "vertebra"}},
}  # fmt: skip


def _write(tmp_path: Path, data: Any, name: str = "cohort.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _problems(tmp_path: Path, data: Any) -> list[str]:
    """The located error lines a bad file gives (``cohort.json:…: …``)."""
    with pytest.raises(ClinicalValueError) as caught:
        load_cohort(_write(tmp_path, data))
    failure = caught.value
    problems = failure.problems if isinstance(failure, ClinicalValueErrors) else (failure,)
    return [str(problem).replace(str(tmp_path) + "/", "") for problem in problems]


def _broken(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    for path, value in changes.items():
        target = data
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return data


_DELETE = object()


# --- the public API -------------------------------------------------------------------------


def test_the_public_api_of_the_evidence_module() -> None:
    import kyphos.analysis.evidence as evidence

    assert {
        "compare",
        "evidence_dict",
        "own_summary",
        "load_cohort",
        "parse_cohort",
        "builtin_cohorts",
        "installed_cohorts",
        "add_cohort",
    } <= set(evidence.__all__)
    assert all(hasattr(evidence, name) for name in evidence.__all__)


# --- printed numbers ------------------------------------------------------------------------


def test_a_printed_number_keeps_its_text_and_decimals() -> None:
    forty = Printed.of("40.00")
    assert (forty.text, forty.value, forty.decimals) == ("40.00", 40.0, 2)
    assert (forty.low, forty.high) == pytest.approx((39.995, 40.005))
    assert Printed.of(".04").decimals == 2
    assert Printed.of("\u22121.5").value == -1.5  # a typeset minus sign
    assert Printed.of("83").decimals == 0


@pytest.mark.parametrize("text", ["1e3", "nan", "8,38", "", "≈5"])
def test_a_printed_number_refuses_what_a_paper_does_not_print(text: str) -> None:
    with pytest.raises(ClinicalValueError):
        Printed.of(text)


@pytest.mark.parametrize(
    ("text", "relation", "value", "decimals"),
    [("<0.05", "<", 0.05, 2), ("p > .05", ">", 0.05, 2), ("=.035", "=", 0.035, 3),
     ("0.04", "=", 0.04, 2), ("P<0.001", "<", 0.001, 3)],
)  # fmt: skip
def test_a_printed_p_is_a_number_or_a_bound(
    text: str, relation: str, value: float, decimals: int
) -> None:
    p = PrintedP.of(text)
    assert (p.relation, p.number.value, p.number.decimals) == (relation, value, decimals)


@pytest.mark.parametrize("text", ["ns", "<", "1.2", "≤0.05", "p"])
def test_a_printed_p_refuses_anything_else(text: str) -> None:
    with pytest.raises(ClinicalValueError):
        PrintedP.of(text)


# --- the built-in reference cohort ------------------------------------------------------------


def test_the_built_in_reference_cohort_carries_the_seed_studys_facts() -> None:
    seed = _seed()
    cohort = _reference()
    assert cohort.key == "zhang-2011"
    assert cohort.source == "built-in"
    assert cohort.citation.doi == seed["citation"]["doi"]
    assert cohort.citation.year == seed["citation"]["year"]
    assert list(cohort.citation.authors) == seed["citation"]["authors"]
    assert cohort.citation.short == "Zhang et al. 2011"
    assert [(p.key, p.label_en, p.label_zh) for p in cohort.timepoints] == [
        (p["key"], p["label_en"], p["label_zh"]) for p in seed["design"]["timepoints"]
    ]
    b = cohort.baseline
    assert (b.n, b.male, b.female, b.vertebrae_treated) == (41, 10, 31, 65)
    assert b.age_mean is not None and b.age_mean.text == "67.5"
    assert b.age_min is not None and b.age_max is not None
    assert (b.age_min.value, b.age_max.value) == (61, 83)
    assert b.age_sd is None  # not printed
    for name, outcome in seed["outcomes"].items():
        cells = cohort.outcomes[name].cells
        for point in ("preop", "postop", "final"):
            printed = outcome[point]
            cell = cells[point]
            assert (cell.n, cell.mean.text, cell.sd.text) == (
                printed["n"],
                printed["mean"],
                printed["sd"],
            ), (name, point)
    tests = [(t.outcome, t.a, t.b, t.t.text, t.p.text, t.test) for t in cohort.tests]
    assert tests == [
        (t["outcome"], t["a"], t["b"], t["t"], t["p"], t["test"]) for t in seed["reported_tests"]
    ]
    leakage = cohort.complications["cement_leakage"]
    assert (leakage.events, leakage.of) == (7, 65)


def test_the_reference_odi_is_raw_over_nine_sections_and_converts_to_percent() -> None:
    # seed_study.json: "sex-life item not asked … reported as a raw score", max 45.
    # CLINICAL.md §1: the reference's "40.00" is raw over 9 sections = 88.9 %.
    odi = _reference().outcomes["odi_raw"]
    assert odi.sections_answered == 9
    assert odi.scale.max == 45 and odi.scale.step == 1
    assert odi.percent_factor == pytest.approx(100 / 45)
    assert odi.cells["preop"].mean.value * odi.percent_factor == pytest.approx(88.888889)
    assert "odi" not in _reference().outcomes  # never a percent column filled with raw sums


# --- bad files: every problem, located ------------------------------------------------------


def test_a_negative_sd_is_located_to_its_cell(tmp_path: Path) -> None:
    lines = _problems(tmp_path, _broken(outcomes__vas__preop__sd="-1"))
    assert lines == ["cohort.json:outcomes.vas.preop.sd: -1 is below 0"]


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    lines = _problems(tmp_path, '{\n  "key": "x",\n  "citation": {\n}')
    assert len(lines) == 1
    assert lines[0].startswith("cohort.json: not valid JSON: line 4, column 2:")


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    data = _broken(
        outcomes__vas__preop__n=0,
        outcomes__vas__postop__mean="12.5",
        outcomes__vas__m6={"n": 30, "mean": "2.0", "sd": "1.0"},
        reported_tests__0__p="ns",
        citation__year=_DELETE,
    )
    data["outcomes"]["pain"] = {"preop": {"n": 30, "mean": "5.0", "sd": "1.0"}}
    data["reported_tests"].append(
        {"outcome": "odi", "a": "preop", "b": "final", "test": "paired t", "t": "2.0",
         "p": "0.05"}
    )  # fmt: skip
    lines = _problems(tmp_path, data)
    assert lines == [
        "cohort.json:citation.year: is required (a whole number)",
        "cohort.json:outcomes.vas.preop.n: 0 is below 1",
        "cohort.json:outcomes.vas.postop.mean: 12.5 is outside the scale 0–10",
        "cohort.json:outcomes.vas.m6: 'm6' is not one of this file's time points "
        "(postop, preop) nor an outcome field (unit_of_analysis, scale, sections_answered, "
        "note)",
        "cohort.json:outcomes.pain: 'pain' is not an outcome kyphos knows; use vas, odi, "
        "odi_raw, anterior_height_mm, middle_height_mm, posterior_height_mm, "
        "wedge_angle_deg, kyphotic_angle_deg",
        "cohort.json:reported_tests[0].p: 'ns' is neither a number nor a bound such as "
        '"<0.05" or ">0.05"',
        "cohort.json:reported_tests[1].outcome: 'odi' is not an outcome of this file (vas)",
        "cohort.json:reported_tests[1].b: 'final' is not one of this file's time points "
        "(postop, preop)",
    ]


def test_missing_fields_are_named(tmp_path: Path) -> None:
    data = _broken(outcomes__vas__preop__sd=_DELETE, cohort=_DELETE)
    lines = _problems(tmp_path, data)
    assert any(line.startswith("cohort.json:cohort: is required") for line in lines)
    assert (
        'cohort.json:outcomes.vas.preop.sd: is required (the printed value as text, e.g. "0.60")'
        in lines
    )


def test_a_statistic_given_as_a_json_number_asks_for_the_printed_text(tmp_path: Path) -> None:
    lines = _problems(tmp_path, _broken(outcomes__vas__preop__mean=7.9))
    assert lines == [
        'cohort.json:outcomes.vas.preop.mean: 7.9: write the printed value as text ("7.9") so '
        "its decimals are kept"
    ]


def test_a_raw_odi_must_say_how_many_sections_were_answered(tmp_path: Path) -> None:
    data = copy.deepcopy(MINIMAL)
    data["outcomes"]["odi_raw"] = {"preop": {"n": 30, "mean": "30.00", "sd": "5.00"}}
    lines = _problems(tmp_path, data)
    assert lines == ["cohort.json:outcomes.odi_raw.sections_answered: is required (a whole number)"]


def test_a_raw_odi_mean_above_five_points_per_answered_section_is_outside_the_scale(
    tmp_path: Path,
) -> None:
    data = copy.deepcopy(MINIMAL)
    data["outcomes"]["odi_raw"] = {
        "sections_answered": 9,
        "preop": {"n": 30, "mean": "46.00", "sd": "2.00"},
    }
    assert _problems(tmp_path, data) == [
        "cohort.json:outcomes.odi_raw.preop.mean: 46.00 is outside the scale 0–45"
    ]


def test_a_vas_scale_in_millimetres_is_refused_with_the_fix(tmp_path: Path) -> None:
    lines = _problems(tmp_path, _broken(outcomes__vas__scale={"min": 0, "max": 100}))
    assert lines == [
        "cohort.json:outcomes.vas.scale.max: 100 is above vas's range (0–10 cm); give a "
        "100 mm VAS in cm (÷ 10)"
    ]


def test_unknown_fields_and_duplicate_keys_are_refused(tmp_path: Path) -> None:
    lines = _problems(tmp_path, _broken(outcomes__vas__preop__meann="7.9"))
    assert lines == ["cohort.json:outcomes.vas.preop.meann: unknown field; use n, mean, sd"]
    text = json.dumps(MINIMAL).replace('"sd": "1.10"', '"sd": "1.10", "sd": "9.10"')
    lines = _problems(tmp_path, text)
    assert lines == [
        "cohort.json: the key 'sd' appears twice in one object (the second would win silently)"
    ]


def test_more_men_and_women_than_patients_is_refused(tmp_path: Path) -> None:
    lines = _problems(tmp_path, _broken(cohort__male=10))
    assert lines == ["cohort.json:cohort.female: 10 men + 22 women is more than the 30 patients"]


def test_errors_carry_chinese_messages(tmp_path: Path) -> None:
    with pytest.raises(ClinicalValueError) as caught:
        load_cohort(_write(tmp_path, _broken(outcomes__vas__preop__sd="-1")))
    assert caught.value.text("zh") == "-1 小于 0"


def test_a_missing_file_and_a_folder_are_located(tmp_path: Path) -> None:
    with pytest.raises(ClinicalValueError, match="no such file"):
        load_cohort(tmp_path / "absent.json")
    with pytest.raises(ClinicalValueError, match="is a folder"):
        load_cohort(tmp_path)


def test_the_minimal_file_reads_back_its_facts(tmp_path: Path) -> None:
    cohort = load_cohort(_write(tmp_path, MINIMAL))
    assert cohort.citation.short == "Smith J et al. 2019"
    assert cohort.timepoint_keys == ("preop", "postop")
    assert cohort.timepoint("postop") is not None
    assert cohort.timepoint("postop").label_en == "Postoperative 1 week"  # type: ignore[union-attr]
    assert cohort.outcomes["vas"].cells["postop"].sd.text == "1.30"
    assert cohort.tests[0].p.relation == "<"
    assert cohort.complications["cement_leakage"].of == 35


# --- side by side ---------------------------------------------------------------------------


def _sample(n: int, mean: float, sd: float, seed: int) -> np.ndarray:
    """n values with exactly this mean and sample SD (for SciPy's raw-data Welch test)."""
    z = np.random.default_rng(seed).normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sd * z


def _scipy_welch_ci(own: tuple[int, float, float], ref: tuple[int, float, float]) -> Any:
    first = _sample(*own, seed=1)
    second = _sample(*ref, seed=2)
    return scipy_stats.ttest_ind(first, second, equal_var=False).confidence_interval(0.95)


def _own(**outcomes: OwnOutcome) -> OwnCohortSummary:
    return OwnCohortSummary(
        timepoints=("preop", "postop", "final"),
        patients=50,
        male=12,
        female=38,
        age=OwnCell(50, 72.4, 7.1),
        age_min=58.0,
        age_max=90.0,
        outcomes=dict(outcomes),
    )


def _own_vas() -> OwnOutcome:
    return OwnOutcome(
        "patient",
        {
            "preop": OwnCell(50, 7.6, 1.2),
            "postop": OwnCell(48, 3.0, 1.5),
            "final": OwnCell(45, 2.2, 1.4),
        },
        {
            ("preop", "postop"): OwnChange("preop", "postop", 48, -4.5, (-5.0, -4.0)),
            ("preop", "final"): OwnChange("preop", "final", 45, -5.3, (-5.8, -4.8)),
            ("postop", "final"): OwnChange("postop", "final", 44, -0.8, (-1.1, -0.5)),
        },
    )


def test_the_difference_in_means_is_own_minus_reference_with_scipys_welch_ci() -> None:
    comparison = compare(_own(vas=_own_vas()), _reference())
    vas = comparison.outcomes[0]
    assert vas.outcome == "vas" and vas.unit == "cm"
    preop = vas.timepoints[0]
    # own 7.6 (1.2, n 50) − reference 8.38 (0.60, n 41) = −0.78
    assert preop.difference == pytest.approx(7.6 - 8.38)
    expected = _scipy_welch_ci((50, 7.6, 1.2), (41, 8.38, 0.60))
    assert preop.ci95 == pytest.approx((expected.low, expected.high), rel=1e-9)
    assert (preop.own.n, preop.reference.n, preop.reference.sd) == (50, 41, 0.60)


def test_a_raw_reference_odi_is_compared_as_a_percent() -> None:
    odi = OwnOutcome(
        "patient",
        {"preop": OwnCell(50, 70.0, 12.0), "postop": OwnCell(50, 30.0, 10.0)},
        {("preop", "postop"): OwnChange("preop", "postop", 50, -40.0, (-43.0, -37.0))},
    )
    comparison = compare(_own(odi=odi), _reference())
    entry = next(o for o in comparison.outcomes if o.outcome == "odi")
    assert entry.reference_outcome == "odi_raw" and entry.unit == "percent"
    assert entry.conversion is not None and "9 sections" in entry.conversion.en
    preop = entry.timepoints[0]
    # 40.00/45 × 100 = 88.889 %, SD 1.16/45 × 100 = 2.578 %
    assert preop.reference.mean == pytest.approx(4000 / 45)
    assert preop.reference.sd == pytest.approx(116 / 45)
    expected = _scipy_welch_ci((50, 70.0, 12.0), (41, 4000 / 45, 116 / 45))
    assert preop.ci95 == pytest.approx((expected.low, expected.high), rel=1e-9)
    # The change 40.00 → 17.00 raw = −23 points = −51.11 %.
    change = entry.reference_change[0]
    assert change.estimate == pytest.approx(-23 * 100 / 45)
    # The reference prints no ODI test: no SD of the change, and it says so.
    assert change.ci95 is None and "no paired t" in change.reasons["ci95"]


def test_the_reference_change_has_no_ci_when_its_printed_t_is_impossible() -> None:
    vas = compare(_own(vas=_own_vas()), _reference()).outcomes[0]
    own_change, reference_change = vas.own_change[0], vas.reference_change[0]
    assert (own_change.a, own_change.b, own_change.ci95) == ("preop", "postop", (-5.0, -4.0))
    assert reference_change.estimate == pytest.approx(2.45 - 8.38)
    assert reference_change.ci95 is None
    assert "printed paired t is impossible" in reference_change.reasons["ci95"]


def test_the_reference_change_ci_comes_from_a_printed_t_that_fits() -> None:
    data = copy.deepcopy(MINIMAL)
    data["outcomes"]["vas"]["preop"] = {"n": 25, "mean": "5.00", "sd": "1.00"}
    data["outcomes"]["vas"]["postop"] = {"n": 25, "mean": "3.00", "sd": "1.00"}
    data["reported_tests"][0].update(t="10.0", p="<0.001")
    own = _own(vas=_own_vas())
    vas = compare(own, parse_cohort(data)).outcomes[0]
    change = vas.reference_change[0]
    # Δ = 3.00 − 5.00 = −2; s_d = |Δ|·√25/t = 2·5/10 = 1; se = 1/5 = 0.2;
    # CI = −2 ± t₀.₉₇₅,₂₄ · 0.2 (t quantile from SciPy).
    half = scipy_stats.t.ppf(0.975, 24) * 0.2
    assert change.estimate == pytest.approx(-2.0)
    assert change.ci95 == pytest.approx((-2.0 - half, -2.0 + half))
    assert change.n == 25 and change.basis is not None


def test_outcomes_in_only_one_cohort_are_listed_with_a_reason() -> None:
    heights = OwnOutcome("vertebra", {"preop": OwnCell(60, 15.0, 2.0)}, {})
    comparison = compare(_own(vas=_own_vas(), anterior_height_mm=heights), _reference())
    assert comparison.not_compared == {
        "odi_raw": "not an outcome of your report",
        "kyphotic_angle_deg": "not an outcome of your report",
    }
    height = next(o for o in comparison.outcomes if o.outcome == "anterior_height_mm")
    assert any("units of analysis differ" in remark.en for remark in height.remarks)
    assert height.timepoints[1].difference is None  # no own postop
    assert height.timepoints[1].reasons["ci95"] == "no values in your cohort"


def test_the_baseline_sits_side_by_side() -> None:
    baseline = compare(_own(vas=_own_vas()), _reference()).baseline
    assert (baseline.own.patients, baseline.own.male, baseline.own.age_mean) == (50, 12, 72.4)
    reference = baseline.reference
    assert (reference.patients, reference.male, reference.female) == (41, 10, 31)
    assert (reference.age_mean, reference.age_min, reference.age_max) == (67.5, 61, 83)
    assert (
        reference.age_sd is None and reference.reasons["age_sd"] == "not printed by the reference"
    )


def test_no_shared_time_point_says_so() -> None:
    own = dataclasses.replace(_own(vas=_own_vas()), timepoints=("m3", "m12"))
    comparison = compare(own, _reference())
    assert comparison.shared_timepoints == [] and comparison.baseline_timepoint is None
    assert "no time point in common" in comparison.reasons["shared_timepoints"]


def _paths(value: Any, prefix: str = "evidence") -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found |= _paths(item, f"{prefix}.{key}")
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for index, item in enumerate(value):
            found |= _paths(item, f"{prefix}[{index}]")
    elif value is None:
        found.add(prefix)
    return found


def test_evidence_dict_is_json_and_every_null_is_noted_with_a_reason() -> None:
    heights = OwnOutcome("vertebra", {"preop": OwnCell(60, 15.0, 2.0)}, {})
    comparisons = [compare(_own(vas=_own_vas(), anterior_height_mm=heights), _reference())]
    document = json.loads(json.dumps(evidence_dict(comparisons), allow_nan=False))
    cohort = document["cohorts"][0]
    assert cohort["key"] == "zhang-2011" and cohort["doi"].startswith("10.3969/")
    assert cohort["shared_timepoints"] == ["preop", "postop", "final"]
    assert cohort["timepoint_labels"]["postop"] == {"en": "Postoperative 1 week", "zh": "术后1周"}
    vas = cohort["outcomes"]["vas"]
    assert vas["timepoints"]["preop"]["difference"] == pytest.approx(7.6 - 8.38)
    assert vas["change_from_baseline"]["own"]["postop"]["ci95"] == [-5.0, -4.0]
    assert vas["change_from_baseline"]["reference"]["final"]["ci95"] is None
    noted = {note["path"]: note["reason"] for note in document["notes"]}
    nulls = {
        path
        for path in _paths(document["cohorts"], "evidence.cohorts")
        if not path.endswith((".conversion", ".doi"))  # optional text, not a statistic
    }
    assert nulls == set(noted)
    assert all(reason for reason in noted.values())


# --- your cohort from the study report ----------------------------------------------------------


def test_own_summary_reads_the_study_report(registry: Registry, tmp_path: Path) -> None:
    folder = tmp_path / "workbook"
    folder.mkdir()
    vas = {"P1": (8.0, 3.0), "P2": (7.0, 2.5), "P3": (9.0, 4.5), "P4": (6.5, 2.0)}
    files = {
        "patients.csv": "patient_id,sex,age\nP1,F,70\nP2,M,75\nP3,F,81\nP4,F,66\n",
        "vertebrae.csv": "patient_id,level,treated\n" + "".join(f"{p},L1,yes\n" for p in vas),
        "procedures.csv": "patient_id,level,procedure_date\n"
        + "".join(f"{p},L1,2010-01-10\n" for p in vas),
        "visits.csv": "patient_id,timepoint,visit_date,vas\n"
        + "".join(
            f"{p},preop,2010-01-09,{pre}\n{p},postop,2010-01-17,{post}\n"
            for p, (pre, post) in vas.items()
        ),
    }
    for name, content in files.items():
        (folder / name).write_text(content, encoding="utf-8")
    import_workbook(registry, folder)
    summary = own_summary(compute_report(load_dataset()))
    assert summary.timepoints == ("preop", "postop", "final")
    assert (summary.patients, summary.male, summary.female) == (4, 1, 3)
    assert summary.age.mean == pytest.approx(statistics.mean([70, 75, 81, 66]))
    assert (summary.age_min, summary.age_max) == (66, 81)
    pre = [v[0] for v in vas.values()]
    post = [v[1] for v in vas.values()]
    cell = summary.outcomes["vas"].cells["postop"]
    assert (cell.n, cell.mean, cell.sd) == (
        4,
        pytest.approx(statistics.mean(post)),
        pytest.approx(statistics.stdev(post)),
    )
    change = summary.outcomes["vas"].changes[("preop", "postop")]
    differences = np.subtract(post, pre)
    expected = scipy_stats.ttest_rel(post, pre).confidence_interval(0.95)
    assert change.mean_diff == pytest.approx(differences.mean())
    assert change.ci95 == pytest.approx((expected.low, expected.high))
    assert summary.outcomes["vas"].cells["final"].n == 0
    assert summary.outcomes["anterior_height_mm"].unit_of_analysis == "vertebra"


# --- storage in the registry ----------------------------------------------------------------


def _events(registry: Registry, entity: str) -> list[AuditEvent]:
    with registry.read() as session:
        return list(
            session.execute(
                select(AuditEvent).where(AuditEvent.entity == entity).order_by(AuditEvent.id)
            ).scalars()
        )


def test_added_cohorts_are_stored_listed_and_audited(registry: Registry, tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL, "smith.json")
    result = add_cohort(registry, path)
    assert result.outcome == "created"
    stored = evidence_store.get(registry, "smith-2019")
    assert stored.citation == "Smith J et al. 2019" and stored.source_name == "smith.json"
    assert json.loads(stored.content) == MINIMAL
    keys = [(c.key, c.source) for c in installed_cohorts(registry)]
    assert keys == [("zhang-2011", "built-in"), ("smith-2019", "registry")]
    again = add_cohort(registry, path)
    assert again.outcome == "unchanged"
    changed = _broken(outcomes__vas__postop__mean="3.20")
    assert add_cohort(registry, _write(tmp_path, changed, "smith.json")).outcome == "replaced"
    assert json.loads(evidence_store.get(registry, "smith-2019").content) == changed
    events = _events(registry, "evidence_cohort")
    assert [(e.action, e.entity_key) for e in events] == [
        ("create", "smith-2019"),
        ("update", "smith-2019"),
    ]
    before, after = json.loads(events[1].before or ""), json.loads(events[1].after or "")
    assert json.loads(before["content"]) == MINIMAL
    assert json.loads(after["content"]) == changed
    assert registry.verify_audit().ok
    assert len(evidence_store.get_all(registry)) == 1


def test_a_built_in_key_and_an_unknown_key_are_refused(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(KyphosError, match="built-in cohort"):
        add_cohort(registry, _write(tmp_path, {**MINIMAL, "key": "zhang-2011"}))
    with pytest.raises(NotFoundError):
        evidence_store.get(registry, "nobody-1999")
    assert evidence_store.get_all(registry) == []


def test_a_0001_registry_is_upgraded_and_then_stores_cohorts(
    registry_settings: Settings, tmp_path: Path
) -> None:
    registry_settings.home.mkdir(parents=True, exist_ok=True)
    engine = engine_for(registry_settings.url)
    config = migrate.alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(text("INSERT INTO site (code, name, version) VALUES ('OLD', 'x', 1)"))
    assert migrate.current_revision(engine) == "0001"
    init_registry(registry_settings)  # `kyphos init` upgrades
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert int(migrate.head_revision()) >= 2  # 0002 made evidence_cohort
    registry = Registry.open(registry_settings)
    assert [site.code for site in registry.list_sites()] == ["MAIN", "OLD"]
    add_cohort(registry, _write(tmp_path, MINIMAL))
    with registry.engine.connect() as connection:
        keys = connection.execute(text("SELECT key FROM evidence_cohort")).scalars().all()
    assert keys == ["smith-2019"]


def test_backup_and_restore_keep_stored_cohorts(registry: Registry, tmp_path: Path) -> None:
    add_cohort(registry, _write(tmp_path, MINIMAL))
    archive = tmp_path / "backup.zip"
    report = backup(registry.settings, archive)
    assert report.tables["evidence_cohort"] == 1
    with registry.write() as session:
        session.query(EvidenceCohort).delete()
    assert evidence_store.get_all(registry) == []
    restored = restore(registry.settings, archive, force=True)
    assert restored.audit.ok
    again = Registry.open(registry.settings)
    assert [c.key for c in evidence_store.get_all(again)] == ["smith-2019"]
    assert json.loads(evidence_store.get(again, "smith-2019").content) == MINIMAL


def test_a_stored_cohort_is_read_with_the_same_validation(registry: Registry) -> None:
    evidence_store.add(
        registry, key="broken-1", citation="x", content='{"key": "broken-1"}', source_name=None
    )
    with pytest.raises(ClinicalValueError) as caught:
        installed_cohorts(registry)
    assert str(caught.value).startswith("registry:broken-1:citation: is required")


def test_parse_cohort_text_names_its_source() -> None:
    with pytest.raises(ClinicalValueError) as caught:
        parse_cohort_text("[]", "paper.json")
    assert str(caught.value) == "paper.json: [] is not an object {…}"
    assert math.isclose(_reference().outcomes["vas"].cells["preop"].mean.value, 8.38)


def test_the_example_in_docs_evidence_md_is_a_valid_file_whose_numbers_hang_together() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "evidence.md"
    block = re.search(r"```json\n(.*?)```", docs.read_text(encoding="utf-8"), re.DOTALL)
    assert block is not None
    cohort = parse_cohort_text(block.group(1), "docs/evidence.md")
    assert cohort.key == "smith-2019" and cohort.outcomes["odi_raw"].sections_answered == 9
    check = check_cohort(cohort)
    # 14.21 × 28 = 397.9 → 398/28 = 14.214 (GRIM possible); t(27) = 14.83 → p ≈ 1.7e-14.
    assert check.summary.failed == 0
