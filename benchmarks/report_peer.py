"""The peer route: the study report's statistics as a careful researcher would script them.

No kyphos code is used. The registry's SQLite tables are read with ``pandas.read_sql``;
ODI percent, the ``final`` visit and the per-vertebra value (mean of the two primary
readings, the adjudicator's reading when there is one) are derived with vectorised
pandas, following DATA.md §2 and CLINICAL.md §7–8; then, per outcome:

* each time point: n, mean, SD (n − 1), median, quartiles (pandas);
* each pair of protocol time points: ``pingouin.ttest(b, a, paired=True)`` and the
  Wilcoxon signed-rank test — two-sided, zeros dropped, no continuity correction,
  ``exact`` for n ≤ 50 without zeros or ties in |d|, else the normal approximation
  (the CLINICAL.md §7 rule, passed explicitly). Twice: ``pingouin.wilcoxon(d)`` on the
  differences rounded to 10 decimals (``wilcoxon_p``: the values are recorded to fixed
  decimals, and unrounded b − a carries last-bit noise that SciPy ranks as distinct
  values instead of ties), and the idiomatic paired call ``pingouin.wilcoxon(b, a)``
  (``wilcoxon_p_unrounded``), which also builds an n × n matrix for its CLES effect size;
* the mixed model ``outcome ~ C(timepoint)`` with ``statsmodels`` ``mixedlm`` (REML),
  a random intercept per patient and, for the radiographic outcomes, a variance
  component per vertebra within patient (``vc_formula``). ``re_formula="1"`` must be
  given with ``vc_formula``: without it statsmodels fits no patient intercept at all;

and, for observer agreement, ``pingouin.intraclass_corr`` on every (vertebra, visit)
with exactly two primary readings (ICC(A,1) = ICC(2,1), ICC(C,1) = ICC(3,1)) plus the
Bland–Altman bias and limits.

Usage::

    .venv/bin/python benchmarks/report_peer.py REGISTRY.db OUT.json [--skip STEP ...]

OUT.json holds the numbers, the seconds of each phase (``phases``) and every step that
raised (``failures``: e.g. pingouin's Wilcoxon builds an n × n matrix for its effect
size and runs out of memory for large n). A failed step is recorded and the script
goes on with the next one. ``benchmarks/report.py`` runs this script beside
``kyphos report`` and compares the numbers.
"""

# ruff: noqa: E402 (the clock starts before the imports, which are timed as a phase)
from __future__ import annotations

import time

_STARTED = time.perf_counter()

import argparse
import json
import math
import sqlite3
import sys
import traceback
import warnings
from contextlib import contextmanager
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pingouin as pg
import statsmodels.formula.api as smf

pg.options["round.column.CI95"] = None  # full precision (pingouin rounds CIs to 2 dp)
IMPORT_SECONDS = time.perf_counter() - _STARTED

PATIENT_OUTCOMES = ("vas", "odi")
RADIOGRAPHIC = ("anterior_height_mm", "kyphotic_angle_deg")
ODI_ITEMS = [f"odi_{i}" for i in range(1, 11)]
ODI_MAX_MISSING = 2
STEPS = ("describe", "ttest", "wilcoxon", "icc", "mixedlm")

phases: dict[str, float] = {}
failures: dict[str, str] = {}


@contextmanager
def phase(name: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - start


def attempt(step: str, where: str, function, *args, **kwargs) -> Any:
    """Run one step; record (once per step) and swallow its exception."""
    try:
        return function(*args, **kwargs)
    except Exception as error:  # a benchmark records failures and goes on
        failures.setdefault(step, f"{type(error).__name__} ({where}): {str(error)[:200]}")
        return None


def number(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


# --- data --------------------------------------------------------------------------------


def read_tables(db: Path) -> dict[str, Any]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        protocol = json.loads(pd.read_sql("SELECT protocol FROM registry_info", con).iloc[0, 0])
        return {
            "protocol": protocol,
            "procedures": pd.read_sql(
                "SELECT patient_id, procedure_date FROM procedure",
                con,
                parse_dates=["procedure_date"],
            ),
            "visits": pd.read_sql(
                f"SELECT id, patient_id, timepoint, visit_date, vas, {', '.join(ODI_ITEMS)} "
                "FROM visit",
                con,
                parse_dates=["visit_date"],
            ),
            "vertebrae": pd.read_sql("SELECT id, patient_id, treated FROM vertebra", con),
            "measurements": pd.read_sql(
                "SELECT vertebra_id, visit_id, observer, role, "
                f"{', '.join(RADIOGRAPHIC)} FROM measurement",
                con,
            ),
        }


def derive(tables: dict[str, Any]) -> dict[str, Any]:
    protocol = tables["protocol"]
    points = [tp["key"] for tp in protocol["timepoints"]]
    final_start = protocol.get("final_start_day", 180)

    # day from the index procedure (the patient's first procedure)
    index_date = tables["procedures"].groupby("patient_id")["procedure_date"].min()
    visits = tables["visits"]
    visits["day"] = (visits["visit_date"] - visits["patient_id"].map(index_date)).dt.days

    # ODI percent: raw / (5 × answered) × 100, with at most 2 sections missing
    items = visits[ODI_ITEMS].astype(float)  # a section nobody answered reads as object
    answered = items.notna().sum(axis=1)
    visits["odi"] = (items.sum(axis=1) / (5 * answered) * 100).where(
        answered >= len(ODI_ITEMS) - ODI_MAX_MISSING
    )

    # which visit stands for each time point; final = keyed final, else the latest
    # visit on or after final_start
    slots = [
        visits.loc[visits["timepoint"] == p, ["id", "patient_id"]].assign(timepoint=p)
        for p in points
        if p != "final"
    ]
    if "final" in points:
        keyed = visits.loc[visits["timepoint"] == "final", ["id", "patient_id"]]
        late = visits[
            (visits["timepoint"] != "final")
            & (visits["day"] >= final_start)
            & ~visits["patient_id"].isin(keyed["patient_id"])
        ]
        late = late.sort_values("day").groupby("patient_id").tail(1)[["id", "patient_id"]]
        slots.append(pd.concat([keyed, late]).assign(timepoint="final"))
    slots = pd.concat(slots, ignore_index=True).rename(
        columns={"id": "visit_id", "patient_id": "patient"}
    )

    patient_values = slots.merge(
        visits[["id", "vas", "odi"]], left_on="visit_id", right_on="id"
    ).drop(columns="id")

    # radiographic value per treated vertebra and time point
    vertebrae = tables["vertebrae"]
    treated = vertebrae.loc[vertebrae["treated"].astype(bool), "id"]
    readings = tables["measurements"]
    readings = readings[readings["vertebra_id"].isin(treated)]
    slotted = readings.merge(slots, on="visit_id")
    keys = ["vertebra_id", "patient", "timepoint"]
    primary = (
        slotted[slotted["role"] == "primary"]
        .groupby(keys, as_index=False)[list(RADIOGRAPHIC)]
        .mean()
    )
    adjudicated = slotted.loc[slotted["role"] == "adjudicator", keys + list(RADIOGRAPHIC)]
    vertebra_values = (
        pd.concat([adjudicated, primary])
        .drop_duplicates(keys)
        .rename(columns={"vertebra_id": "vertebra"})
    )

    # observer agreement: every (vertebra, visit) with exactly two primary readings
    primary_readings = readings[readings["role"] == "primary"].merge(
        visits[["id", "timepoint"]], left_on="visit_id", right_on="id"
    )
    return {
        "points": points,
        "patient_values": patient_values,
        "vertebra_values": vertebra_values,
        "primary_readings": primary_readings,
    }


# --- statistics --------------------------------------------------------------------------


def describe(values: pd.Series) -> dict[str, Any]:
    x = values.dropna()
    return {
        "n": int(x.size),
        "mean": number(x.mean()) if x.size else None,
        "sd": number(x.std()) if x.size > 1 else None,
        "median": number(x.median()) if x.size else None,
        "q1": number(x.quantile(0.25)) if x.size else None,
        "q3": number(x.quantile(0.75)) if x.size else None,
    }


def ttest(a: pd.Series, b: pd.Series) -> dict[str, Any]:
    result = pg.ttest(b, a, paired=True).iloc[0]
    return {
        "t": number(result["T"]),
        "df": int(result["dof"]),
        "p": number(result["p_val"]),
        "ci95": [number(v) for v in result["CI95"]],
    }


def wilcoxon(a: pd.Series, b: pd.Series, out: dict[str, Any]) -> None:
    # The values are recorded to fixed decimals, but b − a in binary floating point is
    # not: 2.5 − 8.4 and 2.1 − 8.0 differ in the last bit, and SciPy then ranks them
    # apart instead of as a tie. The careful p uses the differences rounded to 10
    # decimals (pingouin's one-sample form); the idiomatic paired call is kept as well,
    # and it is the one that needs an n × n matrix (its CLES effect size).
    d = (b - a).dropna().round(10)
    magnitudes = d.abs()
    exact = len(d) <= 50 and not (magnitudes == 0).any() and magnitudes.is_unique
    method = "exact" if exact else "asymptotic"
    out["wilcoxon_method"] = "exact" if exact else "approx"
    careful = pg.wilcoxon(d, alternative="two-sided", correction=False, method=method)
    out["wilcoxon_p"] = number(careful["p_val"].iloc[0])
    idiomatic = pg.wilcoxon(b, a, alternative="two-sided", correction=False, method=method)
    out["wilcoxon_p_unrounded"] = number(idiomatic["p_val"].iloc[0])


def mixed_model(data: pd.DataFrame, outcome: str, points: list[str], nested: bool):
    data = data.dropna(subset=[outcome]).copy()
    data["timepoint"] = pd.Categorical(data["timepoint"], categories=points)
    model = smf.mixedlm(
        f"{outcome} ~ C(timepoint)",
        data,
        groups=data["patient"],
        re_formula="1",
        vc_formula={"vertebra": "0 + C(vertebra)"} if nested else None,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # statsmodels' default (BFGS, gtol 1e-5) stops about 1e-5 short of the REML
        # optimum (tests/analysis/test_mixed.py); tightened from the start, BFGS can stall
        # far from it on the nested model of large cohorts. A careful researcher fits with
        # the default, refines from there with tightened settings, and keeps the fit with
        # the higher REML log-likelihood.
        default = model.fit(reml=True)
        try:
            refined = model.fit(
                reml=True,
                method=["bfgs"],
                gtol=1e-8,
                maxiter=2000,
                start_params=default.params_object,
            )
        except (ValueError, np.linalg.LinAlgError):
            refined = default
        fit = refined if refined.llf >= default.llf else default
    ci = fit.conf_int()
    fixed = {}
    for name in fit.fe_params.index:
        level = points[0] if name == "Intercept" else name.split("[T.")[1].rstrip("]")
        fixed[level] = {
            "estimate": number(fit.fe_params[name]),
            "ci95": [number(ci.loc[name, 0]), number(ci.loc[name, 1])],
        }
    variance = {"residual": number(fit.scale), "patient": number(fit.cov_re.iloc[0, 0])}
    if nested:
        variance["vertebra"] = number(fit.vcomp[0])
    return {
        "fixed": fixed,
        "variance": variance,
        "reml_loglik": number(fit.llf),
        "converged": bool(fit.converged),
        "n_obs": int(fit.nobs),
    }


def reliability(primary: pd.DataFrame, outcome: str) -> dict[str, Any]:
    data = primary.dropna(subset=[outcome])
    data = data[data.groupby(["vertebra_id", "timepoint"])[outcome].transform("size") == 2]
    data = data.assign(folded=data["observer"].str.casefold()).sort_values(
        ["vertebra_id", "timepoint", "folded", "observer"]
    )
    data["rater"] = (
        data.groupby(["vertebra_id", "timepoint"]).cumcount().map({0: "first", 1: "second"})
    )
    data["target"] = data["vertebra_id"].astype(str) + "/" + data["timepoint"]
    out: dict[str, Any] = {"pairs": int(data["target"].nunique())}
    table = attempt(
        "icc", outcome, pg.intraclass_corr, data, targets="target", raters="rater", ratings=outcome
    )
    if table is not None:
        table = table.set_index("Type")
        for key, form in (("icc2", "ICC(A,1)"), ("icc3", "ICC(C,1)"), ("icc1", "ICC(1,1)")):
            out[key] = number(table.loc[form, "ICC"])
            out[f"{key}_ci95"] = [number(v) for v in table.loc[form, "CI95"]]
    wide = data.pivot(index="target", columns="rater", values=outcome)
    d = wide["second"] - wide["first"]
    out["bias"] = number(d.mean())
    out["loa"] = [number(d.mean() - 1.96 * d.std()), number(d.mean() + 1.96 * d.std())]
    out["observers"] = sorted(data["observer"].unique().tolist())
    return out


def analyse(derived: dict[str, Any], skip: set[str]) -> dict[str, Any]:
    points = derived["points"]
    outcomes: dict[str, Any] = {}
    for name in (*PATIENT_OUTCOMES, *RADIOGRAPHIC):
        nested = name in RADIOGRAPHIC
        values = derived["vertebra_values" if nested else "patient_values"]
        unit = "vertebra" if nested else "patient"
        wide = values.pivot(index=unit, columns="timepoint", values=name)
        entry: dict[str, Any] = {"timepoints": {}, "comparisons": []}
        if "describe" not in skip:
            with phase("describe"):
                for point in points:
                    entry["timepoints"][point] = describe(wide[point])
        for a, b in combinations(points, 2):
            pair = wide[[a, b]].dropna()
            comparison: dict[str, Any] = {
                "a": a,
                "b": b,
                "n": len(pair),
                "mean_diff": number((pair[b] - pair[a]).mean()),
            }
            if "ttest" not in skip:
                with phase("ttest"):
                    comparison.update(
                        attempt("ttest", f"{name} {a}-{b}", ttest, wide[a], wide[b]) or {}
                    )
            if "wilcoxon" not in skip:
                with phase("wilcoxon"):
                    attempt(
                        "wilcoxon",
                        f"{name} {a}-{b} n={len(pair)}",
                        wilcoxon,
                        wide[a],
                        wide[b],
                        comparison,
                    )
            entry["comparisons"].append(comparison)
        if "mixedlm" not in skip:
            with phase("mixedlm"):
                entry["mixed_model"] = attempt(
                    "mixedlm", name, mixed_model, values, name, points, nested
                )
        outcomes[name] = entry
    agreement = {}
    if "icc" not in skip:
        with phase("icc"):
            for name in RADIOGRAPHIC:
                agreement[name] = reliability(derived["primary_readings"], name)
    return {"outcomes": outcomes, "reliability": agreement}


def main() -> None:
    phases["import"] = IMPORT_SECONDS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path, help="the registry's SQLite file (kyphos.db)")
    parser.add_argument("out", type=Path, help="where to write the JSON results")
    parser.add_argument("--skip", action="append", default=[], choices=STEPS)
    args = parser.parse_args()
    with phase("read"):
        tables = read_tables(args.db)
    with phase("derive"):
        derived = derive(tables)
    result = analyse(derived, set(args.skip))
    result["patients"] = int(tables["visits"]["patient_id"].nunique())
    result["phases"] = phases
    result["failures"] = failures
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        traceback.print_exc()
        sys.exit(1)
