"""Every number of the JSON report, recomputed independently from the raw registry rows
with SciPy / pingouin / statsmodels (never kyphos's own helpers)."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
import pingouin
import pytest
from scipy import stats
from sqlalchemy import text
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from kyphos.analysis import load_dataset
from kyphos.analysis.report.render_json import report_dict
from kyphos.analysis.results import compute_report
from kyphos.demo import load_demo
from kyphos.registry.repository import Registry

POINTS = ["preop", "postop", "final"]
TIGHT = 1e-9


def _rows(registry: Registry, sql: str) -> pd.DataFrame:
    with registry.engine.connect() as connection:
        result = connection.execute(text(sql))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


@pytest.fixture
def report(registry: Registry) -> dict[str, Any]:
    load_demo(registry, patients=41)
    document = report_dict(compute_report(load_dataset()))
    return json.loads(json.dumps(document))  # exactly what `kyphos report --format json` prints


def _patient_values(registry: Registry) -> dict[str, pd.DataFrame]:
    """VAS and ODI percent per patient and time point, from raw visit rows.

    The default protocol's final = the visit keyed final, else the latest visit on or
    after day 180 — the demo cohort keys its final visits, so the keyed visit is used."""
    visits = _rows(
        registry,
        "SELECT patient_id, timepoint, vas, "
        + ", ".join(f"odi_{n}" for n in range(1, 11))
        + " FROM visit",
    )
    answers = visits[[f"odi_{n}" for n in range(1, 11)]].astype(float)
    answered = answers.notna().sum(axis=1)
    percent = answers.sum(axis=1) / (5 * answered) * 100
    visits["odi"] = percent.where(answered >= 8)
    return {
        name: visits.pivot(index="patient_id", columns="timepoint", values=name)[POINTS]
        for name in ("vas", "odi")
    }


def _vertebra_values(registry: Registry) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    readings = _rows(
        registry,
        "SELECT m.vertebra_id, v.timepoint, m.observer, m.role, m.anterior_height_mm, "
        "m.kyphotic_angle_deg FROM measurement m JOIN visit v ON v.id = m.visit_id "
        "JOIN vertebra b ON b.id = m.vertebra_id WHERE b.treated",
    )
    assert set(readings["role"]) == {"primary"}  # the demo has no adjudicator readings
    means = readings.groupby(["vertebra_id", "timepoint"])[
        ["anterior_height_mm", "kyphotic_angle_deg"]
    ].mean()
    wide = {
        name: means[name].unstack("timepoint")[POINTS]
        for name in ("anterior_height_mm", "kyphotic_angle_deg")
    }
    return wide, readings


def _check_outcome(entry: dict[str, Any], wide: pd.DataFrame) -> None:
    for point in POINTS:
        values = wide[point].dropna().to_numpy(float)
        got = entry["timepoints"][point]
        assert got["n"] == len(values)
        assert got["mean"] == pytest.approx(values.mean(), abs=TIGHT)
        assert got["sd"] == pytest.approx(values.std(ddof=1), abs=TIGHT)
        assert got["median"] == pytest.approx(np.median(values), abs=TIGHT)
        assert got["q1"] == pytest.approx(np.percentile(values, 25), abs=TIGHT)
        assert got["q3"] == pytest.approx(np.percentile(values, 75), abs=TIGHT)
    raw_p = []
    for comparison, (a, b) in zip(entry["comparisons"], combinations(POINTS, 2), strict=True):
        assert (comparison["a"], comparison["b"]) == (a, b)
        pairs = wide[[a, b]].dropna()
        d = (pairs[b] - pairs[a]).to_numpy(float)
        test = stats.ttest_rel(pairs[b], pairs[a])
        assert comparison["n"] == len(d)
        assert comparison["mean_diff"] == pytest.approx(d.mean(), abs=TIGHT)
        assert comparison["t"] == pytest.approx(test.statistic, rel=TIGHT)
        assert comparison["df"] == len(d) - 1
        assert comparison["p"] == pytest.approx(test.pvalue, rel=1e-6, abs=1e-300)
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
        assert comparison["ci95"] == pytest.approx([d.mean() - half, d.mean() + half], abs=TIGHT)
        assert comparison["cohen_dz"] == pytest.approx(d.mean() / d.std(ddof=1), rel=TIGHT)
        # method by CLINICAL.md §7: exact when n <= 50 with no zeros and no ties in |d|
        rounded = np.round(np.abs(d), 9)
        exact = len(d) <= 50 and not (rounded == 0).any() and len(set(rounded)) == len(d)
        method = "exact" if exact else "approx"
        assert comparison["wilcoxon_method"] == method
        # Differences of one-decimal readings tie exactly on paper (8.4 − 2.4 = 8.5 − 2.5):
        # remove the binary noise before ranking, as a hand calculation would.
        tied = np.round(d, 9)
        wilcoxon = stats.wilcoxon(tied, zero_method="wilcox", method=method)
        assert comparison["wilcoxon_p"] == pytest.approx(wilcoxon.pvalue, rel=1e-9)
        raw_p.append(test.pvalue)
    adjusted = multipletests(raw_p, method="holm")[1]
    for comparison, expected in zip(entry["comparisons"], adjusted, strict=True):
        assert comparison["p_holm"] == pytest.approx(expected, rel=1e-6, abs=1e-300)


def test_patient_outcomes_match_scipy_on_the_raw_visits(
    registry: Registry, report: dict[str, Any]
) -> None:
    values = _patient_values(registry)
    for name in ("vas", "odi"):
        assert report["outcomes"][name]["unit"] == "patient"
        _check_outcome(report["outcomes"][name], values[name])


def test_radiographic_outcomes_match_scipy_on_the_mean_of_two_readings(
    registry: Registry, report: dict[str, Any]
) -> None:
    wide, _ = _vertebra_values(registry)
    for name, values in wide.items():
        assert report["outcomes"][name]["unit"] == "vertebra"
        _check_outcome(report["outcomes"][name], values)


def test_observer_agreement_matches_pingouin_and_bland_altman(
    registry: Registry, report: dict[str, Any]
) -> None:
    _, readings = _vertebra_values(registry)
    for name in ("anterior_height_mm", "kyphotic_angle_deg"):
        entry = report["reliability"][name]
        readings["target"] = readings["vertebra_id"].astype(str) + "/" + readings["timepoint"]
        table = pingouin.intraclass_corr(
            data=readings, targets="target", raters="observer", ratings=name
        ).set_index("Type")
        assert entry["pairs"] == readings["target"].nunique()
        assert entry["icc_form"] == "ICC(2,1)"  # the same two observers read every pair
        assert entry["icc"] == pytest.approx(table.loc["ICC(A,1)", "ICC"], abs=1e-9)
        assert entry["icc3"] == pytest.approx(table.loc["ICC(C,1)", "ICC"], abs=1e-9)
        assert entry["ci95"] == pytest.approx(list(table.loc["ICC(A,1)", "CI95"]), abs=0.01)
        wide = readings.pivot(index="target", columns="observer", values=name)
        d = (wide["obs_b"] - wide["obs_a"]).to_numpy(float)  # obs_a < obs_b case-folded
        assert entry["bias"] == pytest.approx(d.mean(), abs=TIGHT)
        sd = d.std(ddof=1)
        assert entry["loa"] == pytest.approx(
            [d.mean() - 1.96 * sd, d.mean() + 1.96 * sd], abs=TIGHT
        )


def test_complications_match_the_raw_procedure_rows(
    registry: Registry, report: dict[str, Any]
) -> None:
    levels = _rows(registry, "SELECT leakage, leakage_symptomatic FROM treated_level")
    leaked = levels["leakage"] != ""
    entry = report["complications"]["cement_leakage"]
    assert (entry["vertebrae"], entry["of"]) == (7, 65)  # the reference study's 7 / 65
    assert entry["vertebrae"] == int(leaked.sum())
    assert entry["rate"] == pytest.approx(7 / 65, abs=TIGHT)
    low, high = proportion_confint(7, 65, alpha=0.05, method="wilson")
    assert entry["ci95"] == pytest.approx([low, high], abs=1e-6)
    by_site: dict[str, int] = defaultdict(int)
    for text_value in levels.loc[leaked, "leakage"]:
        for site in text_value.split(";"):
            by_site[site] += 1
    assert entry["by_site"] == dict(by_site)
    per_level = _rows(
        registry,
        "SELECT v.level, COUNT(*) AS n FROM treated_level t JOIN vertebra v ON v.id = "
        "t.vertebra_id WHERE t.leakage <> '' GROUP BY v.level",
    )
    assert entry["by_level"] == dict(zip(per_level["level"], per_level["n"], strict=True))
    assert report["complications"]["adjacent_fracture"]["patients"] == 0
    assert report["complications"]["adjacent_fracture"]["of"] == 41


def test_cohort_and_responders_match_the_raw_rows(
    registry: Registry, report: dict[str, Any]
) -> None:
    cohort = report["cohort"]
    assert cohort["patients"] == 41
    assert cohort["sex"] == {"M": 10, "F": 31}
    assert cohort["vertebrae_treated"] == 65
    ages = _rows(registry, "SELECT age FROM patient")["age"].to_numpy(float)
    assert cohort["age"]["mean"] == pytest.approx(ages.mean(), abs=TIGHT)
    assert cohort["age"]["min"] == ages.min()
    values = _patient_values(registry)["vas"]
    for point in ("postop", "final"):
        pairs = values[["preop", point]].dropna()
        change = pairs["preop"] - pairs[point]
        hits = ((change >= 1.5) | (change >= 0.30 * pairs["preop"])).sum()
        got = report["outcomes"]["vas"]["responders"][point]
        assert (got["n"], got["responders"]) == (len(pairs), int(hits))


def test_the_mixed_model_matches_statsmodels(registry: Registry, report: dict[str, Any]) -> None:
    import statsmodels.formula.api as smf

    values = _patient_values(registry)["vas"].stack().rename("y").reset_index()
    values["tp"] = pd.Categorical(values["timepoint"], categories=POINTS)
    fit = smf.mixedlm("y ~ C(tp)", values, groups=values["patient_id"]).fit(reml=True)
    fixed = report["outcomes"]["vas"]["mixed_model"]["fixed"]
    assert report["outcomes"]["vas"]["mixed_model"]["method"] == "REML"
    assert fixed["preop"]["estimate"] == pytest.approx(fit.params["Intercept"], abs=1e-6)
    assert fixed["postop"]["estimate"] == pytest.approx(fit.params["C(tp)[T.postop]"], abs=1e-6)
    assert fixed["final"]["estimate"] == pytest.approx(fit.params["C(tp)[T.final]"], abs=1e-6)


def test_every_null_in_the_report_is_listed_with_a_reason(report: dict[str, Any]) -> None:
    nulls: list[str] = []

    def walk(value: Any, path: str) -> None:
        if value is None:
            nulls.append(path)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")

    walk({k: v for k, v in report.items() if k not in ("notes", "site")}, "")
    noted = {note["path"] for note in report["notes"]}
    assert set(nulls) <= noted
    assert all(note["reason"] for note in report["notes"])


def test_the_evidence_section_sets_the_cohort_beside_the_published_one(
    registry: Registry,
) -> None:
    """Differences against the reference study's printed summaries (tests/data/
    seed_study.json), with the Welch interval written out here."""
    from pathlib import Path

    from kyphos.analysis.cohorts import installed_cohorts

    load_demo(registry, patients=41)
    result = compute_report(load_dataset(), references=installed_cohorts(registry))
    document = json.loads(json.dumps(report_dict(result)))
    seed = json.loads((Path(__file__).parents[1] / "data" / "seed_study.json").read_text())
    (cohort,) = document["evidence"]["cohorts"]
    assert cohort["doi"] == seed["citation"]["doi"]
    assert cohort["baseline"]["reference"]["patients"] == seed["cohort"]["patients"]
    assert cohort["baseline"]["own"]["patients"] == 41
    patient_values = _patient_values(registry)
    # The paper printed the ODI as a raw sum of 9 answered sections (sex life not asked):
    # percent = raw / 45 × 100, the SD alike.
    scale = {"vas": 1.0, "odi": 100 / 45}
    printed_name = {"vas": "vas", "odi": "odi_raw"}
    for name in ("vas", "odi"):
        for point in POINTS:
            own = patient_values[name][point].dropna().to_numpy(float)
            printed = seed["outcomes"][printed_name[name]][point]
            ref_mean = float(printed["mean"]) * scale[name]
            ref_sd = float(printed["sd"]) * scale[name]
            ref_n = printed["n"]
            entry = cohort["outcomes"][name]["timepoints"][point]
            assert entry["own"]["mean"] == pytest.approx(own.mean(), abs=TIGHT)
            assert entry["reference"]["mean"] == pytest.approx(ref_mean, abs=TIGHT)
            v1, v2 = own.var(ddof=1) / len(own), ref_sd**2 / ref_n
            df = (v1 + v2) ** 2 / (v1**2 / (len(own) - 1) + v2**2 / (ref_n - 1))
            half = stats.t.ppf(0.975, df) * math.sqrt(v1 + v2)
            difference = own.mean() - ref_mean
            assert entry["difference"] == pytest.approx(difference, abs=TIGHT)
            assert entry["ci95"] == pytest.approx([difference - half, difference + half], abs=1e-9)
            assert entry["df"] == pytest.approx(df, rel=1e-9)
        pairs = patient_values[name][["preop", "final"]].dropna()
        d = (pairs["final"] - pairs["preop"]).to_numpy(float)
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
        change = cohort["outcomes"][name]["change_from_baseline"]["own"]["final"]
        assert change["estimate"] == pytest.approx(d.mean(), abs=TIGHT)
        assert change["ci95"] == pytest.approx([d.mean() - half, d.mean() + half], abs=TIGHT)
    # Every null of the section is in the notes with its reason.
    evidence_notes = [note for note in document["notes"] if note["path"].startswith("evidence.")]
    assert evidence_notes
    assert all(note["reason"] for note in evidence_notes)
