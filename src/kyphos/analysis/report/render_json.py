"""The JSON study report (DATA.md §2): the result objects serialised, unrounded.

Keys are a contract — add, never rename or drop. Every ``null`` is listed in ``notes``
with its path and reason.
"""

from __future__ import annotations

import math
from typing import Any

from kyphos.analysis.evidence import evidence_dict
from kyphos.analysis.results import StudyReport
from kyphos.analysis.stats import Description, Proportion


class _Notes:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def value(self, path: str, value: Any, reasons: dict[str, str], key: str) -> Any:
        """``value`` as JSON; a None (or non-finite number) is noted with its reason."""
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        if value is None:
            reason = reasons.get(key) or reasons.get("*") or "not computable"
            self.items.append({"path": path, "reason": reason})
        return value


def _interval(value: tuple[float, float] | None) -> list[float] | None:
    return None if value is None else [float(value[0]), float(value[1])]


def _description(notes: _Notes, path: str, d: Description, keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: notes.value(f"{path}.{key}", getattr(d, key), d.reasons, key) for key in keys}


def _proportion(notes: _Notes, path: str, p: Proportion, count_key: str) -> dict[str, Any]:
    return {
        count_key: p.successes,
        "of": p.total,
        "rate": notes.value(f"{path}.rate", p.rate, p.reasons, "rate"),
        "ci95": notes.value(f"{path}.ci95", _interval(p.ci95), p.reasons, "ci95"),
    }


def report_dict(report: StudyReport) -> dict[str, Any]:
    """The JSON report as a dict (``json.dumps`` it)."""
    notes = _Notes()
    cohort = report.cohort
    out: dict[str, Any] = {
        "kyphos_version": report.kyphos_version,
        "generated_at": report.generated_at,
        "protocol": list(report.protocol),
        "site": report.site,
        "cohort": {
            "patients": cohort.patients,
            "vertebrae_treated": cohort.vertebrae_treated,
            "sex": dict(cohort.sex),
            "age": _description(
                notes, "cohort.age", cohort.age, ("n", "mean", "sd", "median", "min", "max")
            ),
            "levels": dict(cohort.levels),
            "follow_up_months": _description(
                notes,
                "cohort.follow_up_months",
                cohort.follow_up_months,
                ("n", "mean", "sd", "min", "max"),
            ),
        },
        "outcomes": {},
    }
    for name, outcome in report.outcomes.items():
        base = f"outcomes.{name}"
        entry: dict[str, Any] = {
            "unit": outcome.unit,
            "timepoints": {
                point: _description(
                    notes,
                    f"{base}.timepoints.{point}",
                    d,
                    ("n", "mean", "sd", "median", "q1", "q3"),
                )
                for point, d in outcome.timepoints.items()
            },
            "comparisons": [],
        }
        for index, comparison in enumerate(outcome.comparisons):
            r = comparison.result
            path = f"{base}.comparisons[{index}]"
            reasons = r.reasons
            entry["comparisons"].append(
                {
                    "a": comparison.a,
                    "b": comparison.b,
                    "n": r.n,
                    "dropped": r.dropped,
                    "mean_diff": notes.value(
                        f"{path}.mean_diff", r.mean_diff, reasons, "mean_diff"
                    ),
                    "ci95": notes.value(f"{path}.ci95", _interval(r.ci95), reasons, "ci95"),
                    "t": notes.value(f"{path}.t", r.t, reasons, "t"),
                    "df": notes.value(f"{path}.df", r.df, reasons, "df"),
                    "p": notes.value(f"{path}.p", r.p, reasons, "p"),
                    "p_holm": notes.value(f"{path}.p_holm", comparison.p_holm, reasons, "p"),
                    "cohen_dz": notes.value(f"{path}.cohen_dz", r.cohen_dz, reasons, "cohen_dz"),
                    "wilcoxon_p": notes.value(
                        f"{path}.wilcoxon_p", r.wilcoxon_p, reasons, "wilcoxon_p"
                    ),
                    "wilcoxon_method": notes.value(
                        f"{path}.wilcoxon_method", r.wilcoxon_method, reasons, "wilcoxon_method"
                    ),
                }
            )
        model = outcome.mixed_model
        model_reasons = {"*": model.reason or "not fitted"}
        entry["mixed_model"] = {
            "fixed": {
                level: {"estimate": e.estimate, "se": e.se, "ci95": _interval(e.ci95)}
                for level, e in model.fixed.items()
            },
            "level_means": {
                level: {"estimate": e.estimate, "ci95": _interval(e.ci95)}
                for level, e in model.level_means.items()
            },
            "variance": dict(model.variance),
            "method": model.method,
            "converged": model.converged,
            "n_obs": model.n_obs,
            "reml_loglik": notes.value(
                f"{base}.mixed_model.reml_loglik", model.reml_loglik, model_reasons, "*"
            ),
        }
        if outcome.responders is not None:
            entry["responders"] = {
                point: {
                    "n": p.total,
                    "responders": p.successes,
                    "rate": notes.value(
                        f"{base}.responders.{point}.rate", p.rate, p.reasons, "rate"
                    ),
                    "ci95": notes.value(
                        f"{base}.responders.{point}.ci95", _interval(p.ci95), p.reasons, "ci95"
                    ),
                }
                for point, p in outcome.responders.items()
            }
        out["outcomes"][name] = entry
    c = report.complications
    km = c.new_fracture_free
    out["complications"] = {
        "cement_leakage": {
            **_proportion(notes, "complications.cement_leakage", c.leakage, "vertebrae"),
            "by_site": dict(c.leakage_by_site),
            "by_level": dict(c.leakage_by_level),
            "symptomatic": _proportion(
                notes,
                "complications.cement_leakage.symptomatic",
                c.leakage_symptomatic,
                "vertebrae",
            ),
            "patients": _proportion(
                notes, "complications.cement_leakage.patients", c.leakage_patients, "patients"
            ),
        },
        "adjacent_fracture": _proportion(
            notes, "complications.adjacent_fracture", c.adjacent_fracture, "patients"
        ),
        "new_fracture_free": {
            "times": list(km.times),
            "survival": list(km.survival),
            "ci95_lo": list(km.ci95_lo),
            "ci95_hi": list(km.ci95_hi),
            "at_risk": list(km.at_risk),
            "unit": "months",
        },
    }
    out["derived"] = {
        name: _description(
            notes,
            f"derived.{name}",
            getattr(report.derived, name),
            ("n", "mean", "sd", "median", "q1", "q3"),
        )
        for name in (
            "height_restoration_mm",
            "height_restoration_relative_to_pre_percent",
            "kyphosis_correction_deg",
            "loss_of_correction_deg",
            "height_loss_at_final_mm",
        )
    }
    out["reliability"] = {}
    for name, agreement in report.reliability.items():
        path = f"reliability.{name}"
        reasons = {**agreement.icc.reasons, **agreement.reasons}
        out["reliability"][name] = {
            "pairs": agreement.pairs,
            "adjudicated": agreement.adjudicated,
            "icc": notes.value(f"{path}.icc", agreement.icc.value, reasons, "value"),
            "icc_form": agreement.form,
            "ci95": notes.value(f"{path}.ci95", _interval(agreement.icc.ci95), reasons, "ci95"),
            "icc3": notes.value(
                f"{path}.icc3", agreement.icc3.value, agreement.icc3.reasons, "value"
            ),
            "icc3_ci95": notes.value(
                f"{path}.icc3_ci95", _interval(agreement.icc3.ci95), agreement.icc3.reasons, "ci95"
            ),
            "interpretation": agreement.interpretation,
            "bias": notes.value(
                f"{path}.bias", agreement.bland_altman.bias, agreement.bland_altman.reasons, "bias"
            ),
            "loa": notes.value(
                f"{path}.loa",
                _interval(agreement.bland_altman.loa),
                agreement.bland_altman.reasons,
                "loa",
            ),
        }
    out["baseline_remarks"] = [str(remark) for remark in report.baseline_remarks]
    out["settings"] = dict(report.settings)
    evidence = evidence_dict(report.evidence)
    out["evidence"] = {"cohorts": evidence["cohorts"]}
    out["notes"] = notes.items + evidence["notes"]
    return out
