"""The closed-form REML random-intercept models against statsmodels' MixedLM.

Reference: ``statsmodels.formula.api.mixedlm("y ~ C(tp)", data, groups="patient",
re_formula="1")`` (nested: ``vc_formula={"vertebra": "0 + C(vertebra)"}``), fitted with
``reml=True``. statsmodels' ``scale`` is σ², ``cov_re`` τ²_p, ``vcomp`` τ²_v; its ``llf`` is
the REML log-likelihood; its fixed-effect SEs come from the observed information, as ours.

statsmodels' default optimiser (BFGS, gtol 1e-5) stops about 1e-5 (relative) short of the
optimum, so the reference fits use ``method=["bfgs"], gtol=1e-8`` (``STATSMODELS_FIT``);
with that, both agree to 1e-7 or better (mostly ~1e-9) on interior optima. Cohorts are
simulated with fixed seeds: 3 time points, 20 % of the visits missing (unbalanced
patients), 1–3 vertebrae per patient for the nested model.
"""

from __future__ import annotations

import ast
import math
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import kyphos.analysis.mixed as mixed
from kyphos.analysis.mixed import MixedModelResult, fit_random_intercept

N_TIMEPOINTS = 3
TIME_MEANS = np.array([7.5, 3.0, 2.5])
LEVELS = ["pre", "1w", "3m"]
STATSMODELS_FIT: dict[str, Any] = {"reml": True, "method": ["bfgs"], "gtol": 1e-8, "maxiter": 2000}
RTOL = 1e-6
ATOL = 1e-6


def simulate(
    seed: int,
    n_patients: int,
    *,
    nested: bool,
    tau_p: float = 1.0,
    tau_v: float = 0.5,
    sigma: float = 0.8,
    missing: float = 0.2,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    per_patient = rng.integers(1, 4, n_patients) if nested else np.ones(n_patients, dtype=int)
    n_vertebrae = int(per_patient.sum())
    vertebra = np.repeat(np.arange(n_vertebrae), N_TIMEPOINTS)
    patient = np.repeat(np.repeat(np.arange(n_patients), per_patient), N_TIMEPOINTS)
    tp = np.tile(np.arange(N_TIMEPOINTS), n_vertebrae)
    y = (
        TIME_MEANS[tp]
        + rng.normal(0.0, tau_p, n_patients)[patient]
        + (rng.normal(0.0, tau_v, n_vertebrae)[vertebra] if nested else 0.0)
        + rng.normal(0.0, sigma, tp.size)
    )
    keep = rng.random(tp.size) >= missing
    frame = pd.DataFrame({"y": y, "tp": tp, "patient": patient, "vertebra": vertebra})
    return frame[keep].reset_index(drop=True)


def fit_ours(data: pd.DataFrame, *, nested: bool) -> MixedModelResult:
    return fit_random_intercept(
        data["y"].to_numpy(),
        data["tp"].to_numpy(),
        data["patient"].to_numpy(),
        data["vertebra"].to_numpy() if nested else None,
        levels=LEVELS,
    )


def statsmodels_model(data: pd.DataFrame, *, nested: bool) -> Any:
    vc_formula = {"vertebra": "0 + C(vertebra)"} if nested else None
    return smf.mixedlm("y ~ C(tp)", data, groups="patient", re_formula="1", vc_formula=vc_formula)


def fit_statsmodels(model: Any, **overrides: Any) -> Any:
    with warnings.catch_warnings():
        # Convergence and boundary warnings are judged by the comparisons instead.
        warnings.simplefilter("ignore")
        return model.fit(**{**STATSMODELS_FIT, **overrides})


def assert_fixed_effects_match(ours: MixedModelResult, reference: Any, rtol: float = RTOL) -> None:
    estimates = list(ours.fixed.values())
    assert list(ours.fixed) == LEVELS
    p = len(estimates)
    np.testing.assert_allclose(
        [e.estimate for e in estimates], reference.fe_params, rtol=rtol, atol=ATOL
    )
    np.testing.assert_allclose([e.se for e in estimates], reference.bse_fe, rtol=rtol)
    np.testing.assert_allclose(
        [e.ci95 for e in estimates], reference.conf_int().iloc[:p], rtol=rtol, atol=ATOL
    )


def assert_matches_statsmodels(
    ours: MixedModelResult, reference: Any, *, nested: bool, rtol: float = RTOL
) -> None:
    assert ours.converged
    assert ours.reason is None
    assert_fixed_effects_match(ours, reference, rtol)
    assert ours.variance["residual"] == pytest.approx(reference.scale, rel=rtol)
    assert ours.variance["patient"] == pytest.approx(reference.cov_re.iloc[0, 0], rel=rtol)
    if nested:
        assert ours.variance["vertebra"] == pytest.approx(reference.vcomp[0], rel=rtol)
    else:
        assert "vertebra" not in ours.variance
    assert ours.reml_loglik == pytest.approx(reference.llf, abs=ATOL)


@pytest.mark.parametrize("n_patients", [50, 500, 3000])
def test_patient_model_matches_statsmodels(n_patients: int) -> None:
    data = simulate(n_patients, n_patients, nested=False)
    ours = fit_ours(data, nested=False)
    reference = fit_statsmodels(statsmodels_model(data, nested=False))
    assert_matches_statsmodels(ours, reference, nested=False)
    assert ours.n_obs == len(data)
    assert ours.n_groups == data["patient"].nunique()
    assert ours.n_vertebrae is None
    assert ours.method == "REML"


@pytest.mark.parametrize("n_patients", [50, 400])
def test_nested_model_matches_statsmodels(n_patients: int) -> None:
    # statsmodels builds the vertebra design patient by patient with patsy (≈ 1 ms each)
    # and fits at ≈ 70 µs per patient per evaluation, hence the smaller cohorts here.
    data = simulate(n_patients, n_patients, nested=True)
    ours = fit_ours(data, nested=True)
    reference = fit_statsmodels(statsmodels_model(data, nested=True))
    assert_matches_statsmodels(ours, reference, nested=True)
    assert ours.n_vertebrae == data["vertebra"].nunique()


def test_reml_loglik_equals_statsmodels_likelihood_at_our_estimates() -> None:
    # Checks the likelihood itself, independent of either optimiser: statsmodels' profiled
    # REML log-likelihood at our variance ratios (packed as √γ) equals ours.
    data = simulate(7, 120, nested=True)
    ours = fit_ours(data, nested=True)
    model = statsmodels_model(data, nested=True)
    # loglike() reads settings that fit() normally sets.
    model.reml, model.cov_pen, model.fe_pen = True, None, None
    residual = ours.variance["residual"]
    packed = np.sqrt([ours.variance["patient"] / residual, ours.variance["vertebra"] / residual])
    assert model.loglike(packed) == pytest.approx(ours.reml_loglik, abs=1e-8)


def test_level_means_add_the_differences_to_the_reference_mean() -> None:
    ours = fit_ours(simulate(3, 200, nested=False), nested=False)
    reference = ours.fixed["pre"].estimate
    assert ours.level_means["pre"] == ours.fixed["pre"]
    for level in ("1w", "3m"):
        mean = ours.level_means[level]
        assert mean.estimate == pytest.approx(reference + ours.fixed[level].estimate, abs=1e-12)
        assert mean.ci95[0] < mean.estimate < mean.ci95[1]
        assert mean.ci95[1] - mean.estimate == pytest.approx(mixed.Z_95 * mean.se)


def test_patient_variance_on_the_boundary_is_exactly_zero() -> None:
    # No patient effect (τ_p = 0): the REML estimate of τ²_p is 0. statsmodels optimises
    # √γ and stops at a tiny positive value (≈ 1e-10); everything else agrees to 1e-6.
    data = simulate(2, 100, nested=False, tau_p=0.0)
    ours = fit_ours(data, nested=False)
    reference = fit_statsmodels(statsmodels_model(data, nested=False))
    assert ours.converged
    assert ours.variance["patient"] == 0.0
    assert reference.cov_re.iloc[0, 0] < 1e-8
    assert_fixed_effects_match(ours, reference)
    assert ours.variance["residual"] == pytest.approx(reference.scale, rel=RTOL)
    assert ours.reml_loglik == pytest.approx(reference.llf, abs=ATOL)


def test_nested_patient_variance_on_the_boundary_is_exactly_zero() -> None:
    # Near τ²_p = 0 statsmodels' own likelihood is only good to ~1e-10 (its SMW solver
    # inverts cov_re ≈ 1e-10), which leaves its optimum ~sqrt(1e-10 / curvature) ≈ 4e-6
    # (relative) uncertain along the flat vertebra/residual direction; restarting it with
    # L-BFGS or Nelder–Mead does not move it. Our REML log-likelihood is the higher one;
    # variance components are compared to 1e-5 here, the fixed effects to 1e-6.
    data = simulate(3, 100, nested=True, tau_p=0.0, tau_v=0.7)
    ours = fit_ours(data, nested=True)
    reference = fit_statsmodels(statsmodels_model(data, nested=True))
    assert ours.converged
    assert ours.variance["patient"] == 0.0
    assert reference.cov_re.iloc[0, 0] < 1e-8
    assert_fixed_effects_match(ours, reference)
    assert ours.variance["residual"] == pytest.approx(reference.scale, rel=1e-5)
    assert ours.variance["vertebra"] == pytest.approx(reference.vcomp[0], rel=1e-5)
    assert ours.reml_loglik >= reference.llf - 1e-9


def test_nested_vertebra_variance_on_the_boundary_reduces_to_the_patient_model() -> None:
    # No vertebra effect: τ²_v = 0, and the nested fit is the patient-only fit (checked
    # against statsmodels' patient-only model). statsmodels' nested fit from its default
    # start (vcomp = 1) stops at a clearly lower REML log-likelihood on this cohort;
    # restarted from our solution (τ²_v/σ² = 1e-9: it cannot start at 0) it stays there
    # and agrees, standard errors included.
    data = simulate(3, 100, nested=True, tau_p=1.0, tau_v=0.0)
    ours = fit_ours(data, nested=True)
    assert ours.converged
    assert ours.variance["vertebra"] == 0.0

    patient_only = fit_statsmodels(statsmodels_model(data, nested=False))
    estimates = [e.estimate for e in ours.fixed.values()]
    np.testing.assert_allclose(estimates, patient_only.fe_params, rtol=RTOL, atol=ATOL)
    assert ours.variance["residual"] == pytest.approx(patient_only.scale, rel=RTOL)
    assert ours.variance["patient"] == pytest.approx(patient_only.cov_re.iloc[0, 0], rel=RTOL)
    assert ours.reml_loglik == pytest.approx(patient_only.llf, abs=ATOL)

    model = statsmodels_model(data, nested=True)
    default_start = fit_statsmodels(model)
    assert ours.reml_loglik >= default_start.llf - 1e-9
    gamma_p = ours.variance["patient"] / ours.variance["residual"]
    restarted = fit_statsmodels(model, start_params=np.sqrt([gamma_p, 1e-9]))
    assert restarted.vcomp[0] < 1e-8
    assert_fixed_effects_match(ours, restarted)
    assert ours.reml_loglik == pytest.approx(restarted.llf, abs=ATOL)


def test_vertebra_codes_need_only_be_unique_within_a_patient() -> None:
    data = simulate(11, 80, nested=True)
    unique = fit_ours(data, nested=True)
    local = data.assign(
        vertebra=data.groupby("patient")["vertebra"].rank(method="dense").astype(int)
    )
    within = fit_ours(local, nested=True)
    assert within.n_vertebrae == unique.n_vertebrae
    assert within.variance == pytest.approx(unique.variance, rel=1e-12)
    assert within.reml_loglik == pytest.approx(unique.reml_loglik, rel=1e-12)


def test_rows_with_missing_outcome_are_dropped() -> None:
    data = simulate(5, 60, nested=False)
    holes = data.copy()
    holes.loc[::7, "y"] = np.nan
    with_nan = fit_ours(holes, nested=False)
    without = fit_ours(holes.dropna(), nested=False)
    assert with_nan.n_obs == len(holes.dropna())
    assert with_nan.fixed == without.fixed
    assert with_nan.variance == without.variance


def test_shifting_the_outcome_moves_only_the_intercept() -> None:
    data = simulate(6, 150, nested=True)
    base = fit_ours(data, nested=True)
    shifted = fit_ours(data.assign(y=data["y"] + 100.0), nested=True)
    assert shifted.fixed["pre"].estimate == pytest.approx(base.fixed["pre"].estimate + 100.0)
    for level in ("1w", "3m"):
        assert shifted.fixed[level].estimate == pytest.approx(base.fixed[level].estimate, abs=1e-9)
    assert shifted.variance == pytest.approx(base.variance, rel=1e-8)


def test_time_point_without_observations_is_left_out_with_a_note() -> None:
    data = simulate(8, 60, nested=False)
    data = data[data["tp"] != 1]
    result = fit_random_intercept(
        data["y"], data["tp"], data["patient"], levels=["pre", "1w", "3m"]
    )
    assert result.fitted
    assert list(result.fixed) == ["pre", "3m"]
    assert any("time point 1w" in note for note in result.notes)


def _assert_not_fitted(result: MixedModelResult, reason: str) -> None:
    assert not result.fitted
    assert not result.converged
    assert result.reason is not None
    assert reason in result.reason
    assert result.fixed == {}
    assert result.variance == {}
    assert result.reml_loglik is None


def test_single_patient_is_not_fitted() -> None:
    result = fit_random_intercept([1.0, 2.0, 4.0], [0, 1, 2], [7, 7, 7])
    _assert_not_fitted(result, "fewer than 2 patients")


def test_single_time_point_is_not_fitted() -> None:
    result = fit_random_intercept([1.0, 2.0, 4.0, 3.0], [0, 0, 0, 0], [1, 1, 2, 2])
    _assert_not_fitted(result, "single time point")


def test_missing_reference_time_point_is_not_fitted() -> None:
    result = fit_random_intercept(
        [1.0, 2.0, 4.0, 3.0], [1, 2, 1, 2], [1, 1, 2, 2], levels=["pre", "1w", "3m"]
    )
    _assert_not_fitted(result, "reference time point pre")


def test_no_variance_is_not_fitted() -> None:
    result = fit_random_intercept([5.0, 3.0, 5.0, 3.0, 5.0], [0, 1, 0, 1, 0], [1, 1, 2, 2, 3])
    _assert_not_fitted(result, "no variance")


def test_all_missing_is_not_fitted() -> None:
    result = fit_random_intercept([np.nan, np.nan], [0, 1], [1, 2])
    _assert_not_fitted(result, "no observations")
    assert result.n_obs == 0


def test_one_observation_per_patient_is_not_fitted() -> None:
    result = fit_random_intercept([1.0, 2.0, 4.0, 3.0], [0, 1, 0, 1], [1, 2, 3, 4])
    _assert_not_fitted(result, "more than one observation")


def test_no_within_patient_degrees_of_freedom_is_not_fitted() -> None:
    # Patient 1's two visits are the only within-patient contrast, and the time-point
    # effect uses it up: σ² cannot be told apart from τ²_p.
    result = fit_random_intercept([0.7, -0.6, 0.2, 1.1], [0, 2, 0, 0], [1, 1, 2, 3])
    _assert_not_fitted(result, "no degrees of freedom within patients")


def test_zero_residual_variance_is_not_fitted() -> None:
    # y = time-point mean + patient effect exactly: σ² = 0, the likelihood is unbounded.
    patient = np.repeat(np.arange(20), 3)
    tp = np.tile(np.arange(3), 20)
    y = TIME_MEANS[tp] + np.linspace(-1.0, 1.0, 20)[patient]
    result = fit_random_intercept(y, tp, patient)
    _assert_not_fitted(result, "residual variance")
    assert result.n_obs == 60
    assert result.n_groups == 20


def test_nested_model_needs_a_patient_with_two_vertebrae() -> None:
    data = simulate(9, 40, nested=False)
    result = fit_random_intercept(data["y"], data["tp"], data["patient"], data["patient"])
    _assert_not_fitted(result, "more than one vertebra")
    assert result.n_vertebrae == 40


def test_nested_model_needs_a_vertebra_with_two_observations() -> None:
    data = simulate(10, 40, nested=True)
    result = fit_random_intercept(data["y"], data["tp"], data["patient"], np.arange(len(data)))
    _assert_not_fitted(result, "no vertebra has more than one observation")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (([1.0, 2.0], [0, 1, 1], [1, 2]), "length 3 differs"),
        (([1.0, math.inf], [0, 1], [1, 2]), "use NaN"),
        (([1.0, 2.0], [0, 2], [1, 2], None, ["pre", "post"]), "code 2 has no name"),
        (([1.0, 2.0], [0.0, 0.5], [1, 2]), "integer codes"),
        (([1.0, 2.0], [-1, 0], [1, 2]), "0..T−1"),
    ],
)
def test_malformed_arguments_raise_an_error_that_names_the_fix(
    arguments: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fit_random_intercept(*arguments)


def test_module_imports_only_the_standard_library_numpy_and_scipy() -> None:
    tree = ast.parse(Path(mixed.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"numpy", "scipy"}


def test_public_api() -> None:
    assert set(mixed.__all__) == {"Z_95", "Estimate", "MixedModelResult", "fit_random_intercept"}
