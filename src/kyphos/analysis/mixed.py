"""Linear mixed model with random intercepts, fitted by REML (sensitivity analysis).

CLINICAL.md §7: outcome ~ C(timepoint), a random intercept per patient (and per vertebra
within patient for radiographic outcomes), REML on all available data, fixed effects
with 95 % CI. The fit is computed here in closed form, vectorised over patients, because
``statsmodels.MixedLM`` loops over patients in Python (≈ 45–70 µs per patient per
likelihood evaluation: a minute or more at 100 000 patients, against well under a second
for the patient-only model here). The results agree with
``statsmodels.formula.api.mixedlm(...).fit(reml=True)`` to 1e-6 or better
(``tests/analysis/test_mixed.py``).

Model
-----
Rows i with time point t(i) ∈ {0, …, T−1}; level 0 is the reference, so the fixed-effects
design X has an intercept and one treatment dummy per other observed level (the design
of the formula ``y ~ C(tp)``). Patient g has n_g rows; for the nested model they fall in
vertebra clusters c of m_c rows each (a vertebra code is taken within its patient, as
statsmodels' ``vc_formula`` does). With b_g ~ N(0, τ²_p), b_c ~ N(0, τ²_v) and
ε ~ N(0, σ² I), all independent::

    y_g = X_g β + 1 b_g + Σ_c 1_c b_c + ε_g,   Var(y_g) = σ² H_g,
    H_g = I + γ_v Σ_c 1_c 1_cᵀ + γ_p 1 1ᵀ,     γ_p = τ²_p / σ²,  γ_v = τ²_v / σ².

The patient-only model is γ_v = 0 (one cluster per patient).

Closed forms per patient (Sherman–Morrison twice, i.e. Woodbury). With A_g = I + γ_v Σ_c
1_c 1_cᵀ (block diagonal)::

    w_c = 1 / (1 + γ_v m_c),  d_c = γ_v w_c,   A⁻¹ on cluster c = I − d_c 1_c 1_cᵀ,
    A⁻¹ 1_c = w_c 1_c,        q_g = 1ᵀ A_g⁻¹ 1 = Σ_c w_c m_c,
    H_g⁻¹ = A_g⁻¹ − e_g A_g⁻¹ 1 1ᵀ A_g⁻¹,   e_g = γ_p / (1 + γ_p q_g),
    log|H_g| = Σ_c log(1 + γ_v m_c) + log(1 + γ_p q_g).

For row vectors a, b with cluster sums a_c, b_c (so only cluster sums are needed)::

    aᵀ H⁻¹ b = aᵀ b − Σ_c d_c a_c b_c − Σ_g e_g (Σ_{c∈g} w_c a_c)(Σ_{c∈g} w_c b_c),

which gives M = Xᵀ H⁻¹ X, Xᵀ H⁻¹ y and rᵀ H⁻¹ r (r = y − Xβ) from the cluster sums S_c
of the rows of X and u_c of y. The GLS estimate is β̂ = M⁻¹ Xᵀ H⁻¹ y. Profiling out σ²
(σ̂² = Q / f with Q = r̂ᵀ H⁻¹ r̂ and f = n − p, p = columns of X), the REML
log-likelihood is (the same expression as statsmodels' ``MixedLM.loglike``)::

    ℓ(γ) = −½ Σ_g log|H_g| − ½ log|M| − (f/2) log Q − (f/2) log(2π) + (f/2) log f − f/2,

the full REML log-likelihood −½[f log 2π + log|V| + log|Xᵀ V⁻¹ X| + r̂ᵀ V⁻¹ r̂] at
V = σ̂² H. Its gradient, with H_p = blockdiag_g(1 1ᵀ) and H_v = blockdiag_c(1_c 1_cᵀ),
sums over units u (patients for γ_p, clusters for γ_v)::

    ∂ℓ/∂γ_k = −½ Σ_u 1_uᵀH⁻¹1_u + ½ Σ_u z_uᵀ M⁻¹ z_u + (f / 2Q) Σ_u ρ_u²,
    z_u = Xᵀ H⁻¹ 1_u,   ρ_u = rᵀ H⁻¹ 1_u,
    patient g:  1ᵀH⁻¹1 = q_g / (1 + γ_p q_g),  z_g = T_g / (1 + γ_p q_g),
                ρ_g = R_g / (1 + γ_p q_g),  T_g = Σ_{c∈g} w_c S_c,  R_g = Σ_{c∈g} w_c r_c,
    cluster c:  1_cᵀH⁻¹1_c = w_c m_c (1 − e_g w_c m_c),  z_c = w_c (S_c − e_g m_c T_g),
                ρ_c = w_c (r_c − e_g m_c R_g).

Every quantity is a segment sum over clusters and patients (``np.bincount``): one
evaluation costs O(clusters · p²) after one O(rows) pass, with no Python loop over
patients. y is first centred by the time-point means (its least-squares fit on X); that
shifts β̂ by those means and leaves ℓ unchanged, and keeps Q free of cancellation.

Not fitted (``reason`` set, no estimates): no observations; fewer than 2 patients; no
observation at the reference time point; a single time point; no variance left after the
time-point means; no patient with two observations; for the nested model no vertebra
with two observations or no patient with two vertebrae; no degrees of freedom within
patients (vertebrae) beyond the time points, or a zero residual sum of squares there
(σ̂² = 0: ℓ grows without bound); a variance ratio reaching 1e10.

Estimation
----------
ℓ is maximised over φ = log γ by L-BFGS-B with the analytic gradient, started from
one-way/nested ANOVA moment estimates, then polished by Newton steps (Hessian by central
differences of the analytic gradient).

Boundary (τ² = 0): on the log scale the optimiser can only creep towards γ_k = 0. After
each L-BFGS-B run, a component is set to exactly 0 when ∂ℓ/∂γ_k ≤ 0 at γ_k = 0 (ℓ does
not rise off the boundary) and ℓ there is no lower than where the optimiser stopped; the
other components are refitted, and a zeroed component is released again if its slope at
0 turns positive. statsmodels optimises √γ and cannot reach 0: it reports a tiny positive
value (≈ 1e-10) there, and its likelihood loses precision as it inverts that value, so
near the boundary it agrees to ~1e-6 (fixed effects) and ~1e-5 (variances) only, with
a REML log-likelihood no higher than ours. ``converged`` is true when the last Newton
step on the free components is below 1e-8 (log scale) and every zeroed component keeps
a non-positive slope.

Standard errors
---------------
Like statsmodels, the covariance of β̂ is the fixed-effects block of the inverse of the
observed information of ℓ(β, γ) (σ² profiled, γ on the variance-ratio scale) at the
estimate::

    −∂²ℓ/∂β∂βᵀ = M / σ̂²,   −∂²ℓ/∂γ_k∂β = Σ_u z_u ρ_u / σ̂²,   −∂²ℓ/∂γ∂γᵀ (numerically).

The cross term vanishes in balanced complete data; with missing visits it makes the
standard errors slightly larger (~1e-4 relative in simulated cohorts with 20 % of visits
missing) than the expected-information σ̂² M⁻¹ = (Xᵀ V̂⁻¹ X)⁻¹ that R's lme4/nlme
report. A component estimated at 0 stays in
the information matrix (ℓ is smooth through γ_k = 0, since H remains positive definite
for small negative γ_k), which keeps the standard errors continuous as an estimate
reaches the boundary and matches statsmodels there. If the observed information is not
positive definite, σ̂² M⁻¹ is used and a note says so. CIs are estimate ± 1.959964 · SE
(normal, like statsmodels' ``conf_int``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import linalg, optimize

__all__ = ["Z_95", "Estimate", "MixedModelResult", "fit_random_intercept"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

Z_95 = 1.959964
"""Two-sided 95 % normal quantile (CLINICAL.md §7)."""
METHOD = "REML"
GAMMA_MIN = 1e-10
"""Lower end of the log-scale search for a variance ratio τ²/σ² (0 is tested separately)."""
GAMMA_MAX = 1e10
"""Largest variance ratio searched; reaching it means the residual variance is ≈ 0."""
START_GAMMA_RANGE = (1e-2, 1e2)
BOUNDARY_SLOPE_TOL = 1e-8
"""∂ℓ/∂γ_k at γ_k = 0 up to this times n counts as not positive (γ_k = 0 is the maximum)."""
NEWTON_STEP_TOL = 1e-8
NEWTON_MAX_ITER = 30
FD_STEP = 1e-4
"""Relative step of the central differences for second derivatives."""
FD_FLOOR = 1e-3
"""Variance ratio below which the difference step stops shrinking (FD_STEP · FD_FLOOR)."""
NO_VARIANCE_RTOL = 1e-12
"""Residuals smaller than this times max |y| count as no variance at all."""
NO_WITHIN_VARIANCE_RTOL = 1e-10
"""Within-cluster residual sum of squares below this share of the total counts as zero."""


@dataclass(frozen=True)
class Estimate:
    """A point estimate, its standard error and 95 % confidence interval."""

    estimate: float
    se: float
    ci95: tuple[float, float]


@dataclass(frozen=True)
class MixedModelResult:
    """Fitted random-intercept model; ``reason`` says why not, when it was not fitted.

    ``fixed`` is keyed by time-point level: the reference level's entry is the intercept
    (the reference mean), every other entry the difference from the reference.
    ``level_means`` holds each level's mean. ``variance`` has ``residual`` (σ²),
    ``patient`` (τ²_p) and, for the nested model, ``vertebra`` (τ²_v). Levels without
    observations are left out of ``fixed`` and listed in ``notes``.
    """

    fixed: dict[str, Estimate]
    level_means: dict[str, Estimate]
    variance: dict[str, float]
    reml_loglik: float | None
    converged: bool
    n_obs: int
    n_groups: int
    n_vertebrae: int | None = None
    method: str = METHOD
    reason: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def fitted(self) -> bool:
        """True when there are estimates (check ``converged`` as well)."""
        return bool(self.fixed)


def _gram(a: FloatArray, b: FloatArray) -> FloatArray:
    """a bᵀ for wide (p, N) arrays: contiguous dot products, no multi-threaded BLAS."""
    return np.asarray(np.einsum("ic,jc->ij", a, b), dtype=np.float64)


def _dot(a: FloatArray, v: FloatArray) -> FloatArray:
    """a v for a wide (p, N) array and an (N,) vector."""
    return np.asarray(np.einsum("ic,c->i", a, v), dtype=np.float64)


@dataclass(frozen=True)
class _Design:
    """Cluster-level sufficient statistics, stored wide: one row per column of X.

    Long arrays are reduced with einsum and bincount rather than BLAS: OpenBLAS threads on
    (clusters × p) products slowed a fit several-fold on a busy machine.
    """

    n: int
    p: int
    n_groups: int
    m: FloatArray  # (C,) rows per cluster
    s: FloatArray  # (p, C) column sums of X per cluster
    u: FloatArray  # (C,) sums of the centred response per cluster
    cluster_group: IntArray  # (C,) patient of each cluster
    xtx: FloatArray
    xte: FloatArray
    ete: float
    nested: bool

    def segment_sum(self, values: FloatArray) -> FloatArray:
        """Sum (C,) or (p, C) cluster values into their patients: (G,) or (p, G)."""
        if values.ndim == 1:
            sums = np.bincount(self.cluster_group, weights=values, minlength=self.n_groups)
            return np.asarray(sums, dtype=np.float64)
        return np.stack([self.segment_sum(row) for row in values])


@dataclass(frozen=True)
class _Evaluation:
    loglik: float
    beta: FloatArray
    qf: float
    m_inv: FloatArray
    grad: FloatArray  # (2,) ∂ℓ/∂(γ_p, γ_v); γ_v entry 0 for the patient-only model
    cross: FloatArray  # (2, p) Σ_u z_u ρ_u


class _SingularDesignError(Exception):
    pass


def _evaluate(design: _Design, gamma: FloatArray, beta: FloatArray | None = None) -> _Evaluation:
    """ℓ, β̂ and the gradient at γ = (γ_p, γ_v); at a given β instead of β̂ if passed."""
    gamma_p, gamma_v = float(gamma[0]), float(gamma[1])
    m, s, u, nested = design.m, design.s, design.u, design.nested
    if nested:
        w = 1.0 / (1.0 + gamma_v * m)
        d = gamma_v * w
        logdet_a = float(np.log1p(gamma_v * m).sum())
        ws = s * w
    else:
        w = np.ones_like(m)
        d = np.zeros_like(m)
        logdet_a = 0.0
        ws = s
    wm = w * m
    q = design.segment_sum(wm)
    den = 1.0 + gamma_p * q
    e = gamma_p / den
    t = design.segment_sum(ws)
    mat = design.xtx - _gram(t * e, t)
    if nested:
        mat -= _gram(s * d, s)
    try:
        chol = linalg.cho_factor(mat, lower=True)
    except linalg.LinAlgError as exc:
        raise _SingularDesignError from exc
    logdet_m = 2.0 * float(np.log(np.diag(chol[0])).sum())
    if beta is None:
        uu = design.segment_sum(w * u)
        xhy = design.xte - _dot(t, e * uu) - (_dot(s, d * u) if nested else 0.0)
        beta = np.asarray(linalg.cho_solve(chol, xhy), dtype=np.float64)
    r = u - np.einsum("i,ic->c", beta, s)
    big_r = design.segment_sum(w * r)
    rr = design.ete - 2.0 * float(beta @ design.xte) + float(beta @ design.xtx @ beta)
    qf = rr - float((e * big_r * big_r).sum()) - (float((d * r * r).sum()) if nested else 0.0)
    f = design.n - design.p
    if not qf > 0.0:
        raise _SingularDesignError
    logdet_h = logdet_a + float(np.log1p(gamma_p * q).sum())
    loglik = (
        -0.5 * logdet_h
        - 0.5 * logdet_m
        - 0.5 * f * math.log(qf)
        - 0.5 * f * math.log(2.0 * math.pi)
        + 0.5 * f * math.log(f)
        - 0.5 * f
    )
    m_inv = np.asarray(linalg.cho_solve(chol, np.eye(design.p)), dtype=np.float64)
    grad = np.zeros(2)
    cross = np.zeros((2, design.p))
    z = t / den
    rho = big_r / den
    grad[0] = (
        -0.5 * float((q / den).sum())
        + 0.5 * float((m_inv * _gram(z, z)).sum())
        + f / (2.0 * qf) * float((rho * rho).sum())
    )
    cross[0] = _dot(z, rho)
    if nested:
        e_c = e[design.cluster_group]
        z = w * (s - (e_c * m) * t[:, design.cluster_group])
        rho = w * (r - e_c * m * big_r[design.cluster_group])
        grad[1] = (
            -0.5 * float((wm * (1.0 - e_c * wm)).sum())
            + 0.5 * float((m_inv * _gram(z, z)).sum())
            + f / (2.0 * qf) * float((rho * rho).sum())
        )
        cross[1] = _dot(z, rho)
    return _Evaluation(loglik, beta, qf, m_inv, grad, cross)


@dataclass
class _Fit:
    gamma: FloatArray
    free: list[int]
    converged: bool
    message: str


def _with(gamma: FloatArray, free: list[int], phi: FloatArray) -> FloatArray:
    out = gamma.copy()
    out[free] = np.exp(phi)
    return out


def _phi_gradient(design: _Design, gamma: FloatArray, free: list[int]) -> FloatArray:
    ev = _evaluate(design, gamma)
    return np.asarray(gamma[free] * ev.grad[free], dtype=np.float64)


def _lbfgs(design: _Design, gamma: FloatArray, free: list[int]) -> FloatArray:
    scale = float(design.n)

    def objective(phi: FloatArray) -> tuple[float, FloatArray]:
        g = _with(gamma, free, phi)
        ev = _evaluate(design, g)
        return -ev.loglik / scale, -(g[free] * ev.grad[free]) / scale

    bounds = [(math.log(GAMMA_MIN), math.log(GAMMA_MAX))] * len(free)
    res = optimize.minimize(
        objective,
        np.log(gamma[free]),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 500, "ftol": 1e-15, "gtol": 1e-11},
    )
    return _with(gamma, free, np.asarray(res.x, dtype=np.float64))


def _newton(design: _Design, gamma: FloatArray, free: list[int]) -> tuple[FloatArray, bool]:
    """Polish the free components by Newton steps on log γ; True when the step is tiny."""
    phi = np.log(gamma[free])
    current = _evaluate(design, gamma).loglik
    lo, hi = math.log(GAMMA_MIN), math.log(GAMMA_MAX)
    for _ in range(NEWTON_MAX_ITER):
        g0 = _with(gamma, free, phi)
        grad = _phi_gradient(design, g0, free)
        hess = np.empty((len(free), len(free)))
        for j in range(len(free)):
            step = np.zeros(len(free))
            step[j] = FD_STEP
            hess[:, j] = (
                _phi_gradient(design, _with(gamma, free, phi + step), free)
                - _phi_gradient(design, _with(gamma, free, phi - step), free)
            ) / (2.0 * FD_STEP)
        hess = 0.5 * (hess + hess.T)
        if np.any(np.linalg.eigvalsh(hess) >= 0.0):
            return g0, False
        delta = -np.linalg.solve(hess, grad)
        delta = np.clip(delta, -1.0, 1.0)
        if float(np.max(np.abs(delta))) < NEWTON_STEP_TOL:
            return g0, True
        accepted = False
        for _halving in range(20):
            trial = np.clip(phi + delta, lo, hi)
            value = _evaluate(design, _with(gamma, free, trial)).loglik
            if value >= current - 1e-12 * abs(current):
                phi, current, accepted = trial, max(value, current), True
                break
            delta = delta / 2.0
        if not accepted:
            return g0, False
    return _with(gamma, free, phi), False


def _slope_at_zero(design: _Design, gamma: FloatArray, k: int) -> tuple[float, float]:
    """∂ℓ/∂γ_k and ℓ at γ_k = 0, the other components as they are."""
    at_zero = gamma.copy()
    at_zero[k] = 0.0
    ev = _evaluate(design, at_zero)
    return float(ev.grad[k]), ev.loglik


def _to_boundary(design: _Design, gamma: FloatArray, free: list[int]) -> list[int]:
    """Free components whose maximum over γ_k ≥ 0 is at γ_k = 0.

    That is the case when ℓ does not rise off the boundary (∂ℓ/∂γ_k ≤ 0 at γ_k = 0) and
    γ_k = 0 is no worse than where the optimiser stopped (on the log scale it can only
    creep towards 0, and stops once the steps no longer change ℓ).
    """
    current = _evaluate(design, gamma).loglik
    slack = 1e-12 * max(1.0, abs(current))
    out = []
    for k in free:
        slope, at_zero = _slope_at_zero(design, gamma, k)
        if slope <= BOUNDARY_SLOPE_TOL * design.n and at_zero >= current - slack:
            out.append(k)
    return out


def _maximise(design: _Design, start: FloatArray) -> _Fit:
    components = [0, 1] if design.nested else [0]
    gamma = start.copy()
    free = list(components)
    for _round in range(2 * len(components) + 1):
        if free:
            gamma = _lbfgs(design, gamma, free)
            zeroed = _to_boundary(design, gamma, free)
            if zeroed:
                gamma[zeroed] = 0.0
                free = [k for k in free if k not in zeroed]
                continue
        converged = True
        if free:
            gamma, converged = _newton(design, gamma, free)
        released = [
            k
            for k in components
            if k not in free and _slope_at_zero(design, gamma, k)[0] > BOUNDARY_SLOPE_TOL * design.n
        ]
        if not released:
            message = "" if converged else "the Newton polish did not reach a tiny step"
            return _Fit(gamma, free, converged, message)
        gamma[released] = START_GAMMA_RANGE[0]
        free = sorted([*free, *released])
    return _Fit(gamma, free, False, "the search for components on the boundary did not settle")


def _gamma_hessian(
    design: _Design, gamma: FloatArray, components: list[int], beta: FloatArray
) -> FloatArray:
    """∂²ℓ(β, γ)/∂γ∂γᵀ at fixed β over the given components, by central differences.

    ℓ is smooth through γ_k = 0 (H stays positive definite for small negative γ_k), so
    the differences are central on the boundary too.
    """
    k = len(components)
    hess = np.empty((k, k))
    for j, comp in enumerate(components):
        h = FD_STEP * max(float(gamma[comp]), FD_FLOOR)
        up, down = gamma.copy(), gamma.copy()
        up[comp] += h
        down[comp] -= h
        diff = _evaluate(design, up, beta).grad - _evaluate(design, down, beta).grad
        hess[:, j] = diff[components] / (2.0 * h)
    return np.asarray(0.5 * (hess + hess.T), dtype=np.float64)


def _fixed_covariance(
    design: _Design, gamma: FloatArray, ev: _Evaluation
) -> tuple[FloatArray, str | None]:
    sigma2 = ev.qf / (design.n - design.p)
    expected = sigma2 * ev.m_inv
    components = [0, 1] if design.nested else [0]
    p, k = design.p, len(components)
    info = np.empty((p + k, p + k))
    info[:p, :p] = np.linalg.inv(expected)
    info[p:, :p] = ev.cross[components] / sigma2
    info[:p, p:] = info[p:, :p].T
    info[p:, p:] = -_gamma_hessian(design, gamma, components, ev.beta)
    try:
        chol = linalg.cho_factor(info, lower=True)
    except linalg.LinAlgError:
        return expected, (
            "the observed information is not positive definite; the standard errors "
            "use the expected information (Xᵀ V⁻¹ X)⁻¹"
        )
    cov = np.asarray(linalg.cho_solve(chol, np.eye(p + k)), dtype=np.float64)[:p, :p]
    return np.asarray(0.5 * (cov + cov.T), dtype=np.float64), None


def _estimate(value: float, variance: float) -> Estimate:
    se = math.sqrt(max(variance, 0.0))
    return Estimate(value, se, (value - Z_95 * se, value + Z_95 * se))


def _within_fit(design: _Design) -> tuple[float, int]:
    """Residual sum of squares and degrees of freedom of y ~ C(timepoint) + cluster effects.

    Frisch–Waugh: centre the time-point dummies and the response within clusters (the
    γ_v → ∞ limit of the formulas above, d_c → 1/m_c). With degrees of freedom left but
    a zero sum of squares, the REML likelihood grows without bound as σ² → 0: as γ → ∞,
    ℓ ≈ ½ df log γ − (f/2) log(sum of squares). Without degrees of freedom, σ² is not
    separated from the cluster variance (ℓ tends to a constant as γ → ∞).
    """
    xs, m, u = design.s[1:], design.m, design.u
    xtx = design.xtx[1:, 1:] - _gram(xs / m, xs)
    xty = design.xte[1:] - _dot(xs, u / m)
    yty = design.ete - float((u * u / m).sum())
    coef, _, rank, _ = np.linalg.lstsq(xtx, xty, rcond=None)
    return max(yty - float(coef @ xty), 0.0), design.n - len(m) - int(rank)


def _moment_start(design: _Design, n_groups: int) -> FloatArray:
    """Variance ratios from one-way (nested) ANOVA mean squares, clipped to a sane range."""
    n, m, u = design.n, design.m, design.u
    n_clusters = len(m)
    n_g = design.segment_sum(m)
    u_g = design.segment_sum(u)
    ss_clusters = float((u * u / m).sum())
    ss_groups = float((u_g * u_g / n_g).sum())
    total = float(u.sum())
    ss_within = max(design.ete - ss_clusters, 0.0)
    sigma2 = ss_within / (n - n_clusters) if n > n_clusters else design.ete / n
    sigma2 = sigma2 if sigma2 > 0.0 else 1.0
    ms_groups = (ss_groups - total * total / n) / max(n_groups - 1, 1)
    n0 = (n - float((n_g * n_g).sum()) / n) / max(n_groups - 1, 1)
    lo, hi = START_GAMMA_RANGE
    if design.nested:
        ms_clusters = (ss_clusters - ss_groups) / max(n_clusters - n_groups, 1)
        tau_v = (ms_clusters - sigma2) / (n / n_clusters)
        tau_p = (ms_groups - ms_clusters) / max(n0, 1.0)
        return np.array([np.clip(tau_p / sigma2, lo, hi), np.clip(tau_v / sigma2, lo, hi)])
    tau_p = (ms_groups - sigma2) / max(n0, 1.0)
    return np.array([float(np.clip(tau_p / sigma2, lo, hi)), 0.0])


def _as_codes(name: str, values: Any) -> npt.NDArray[np.int64]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a one-dimensional array, got shape {arr.shape}")
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f" and bool(np.all(np.isfinite(arr))) and bool(np.all(arr % 1 == 0)):
        return arr.astype(np.int64)
    raise ValueError(f"{name}: expected integer codes, got dtype {arr.dtype}; map labels to 0..k−1")


def _not_fitted(
    reason: str,
    n_obs: int,
    n_groups: int,
    n_vertebrae: int | None,
    notes: tuple[str, ...] = (),
) -> MixedModelResult:
    return MixedModelResult(
        fixed={},
        level_means={},
        variance={},
        reml_loglik=None,
        converged=False,
        n_obs=n_obs,
        n_groups=n_groups,
        n_vertebrae=n_vertebrae,
        reason=reason,
        notes=notes,
    )


def _build_design(
    tp: npt.NDArray[np.int64],
    resid: FloatArray,
    observed: npt.NDArray[np.int64],
    counts: FloatArray,
    c_idx: npt.NDArray[np.intp],
    cluster_group: IntArray,
    n_groups: int,
    nested: bool,
) -> _Design:
    """Cluster sums of X = [1, dummies of the observed non-reference levels] and of resid."""
    n, p, n_clusters = int(tp.size), int(observed.size), int(cluster_group.size)
    column = np.zeros(int(tp.max()) + 1, dtype=np.intp)
    column[observed] = np.arange(p)
    row_column = column[tp]
    level_counts = counts[observed]
    xtx = np.diag(level_counts)
    xtx[0, :] = xtx[:, 0] = level_counts
    xtx[0, 0] = n
    xte = np.asarray(np.bincount(row_column, weights=resid, minlength=p), dtype=np.float64)
    xte[0] = resid.sum()
    m = np.bincount(c_idx, minlength=n_clusters).astype(np.float64)
    cells = np.bincount(c_idx * p + row_column, minlength=n_clusters * p)
    s = np.ascontiguousarray(cells.reshape(n_clusters, p).T, dtype=np.float64)
    s[0] = m  # the intercept column; the reference level's cells counted there too
    return _Design(
        n=n,
        p=p,
        n_groups=n_groups,
        m=m,
        s=s,
        u=np.bincount(c_idx, weights=resid, minlength=n_clusters).astype(np.float64),
        cluster_group=cluster_group,
        xtx=xtx,
        xte=xte,
        ete=float(resid @ resid),
        nested=nested,
    )


def _result(
    design: _Design,
    fit: _Fit,
    ev: _Evaluation,
    cov: FloatArray,
    beta_ols: FloatArray,
    names: list[str],
    notes: tuple[str, ...],
) -> MixedModelResult:
    beta = beta_ols + ev.beta
    fixed = {name: _estimate(float(beta[j]), float(cov[j, j])) for j, name in enumerate(names)}
    level_means = {names[0]: fixed[names[0]]}
    for j in range(1, len(names)):
        variance = float(cov[0, 0] + cov[j, j] + 2.0 * cov[0, j])
        level_means[names[j]] = _estimate(float(beta[0] + beta[j]), variance)
    sigma2 = ev.qf / (design.n - design.p)
    components = {"residual": sigma2, "patient": float(fit.gamma[0]) * sigma2}
    if design.nested:
        components["vertebra"] = float(fit.gamma[1]) * sigma2
    if not fit.converged:
        notes = (*notes, f"not converged: {fit.message}")
    return MixedModelResult(
        fixed=fixed,
        level_means=level_means,
        variance=components,
        reml_loglik=ev.loglik,
        converged=fit.converged,
        n_obs=design.n,
        n_groups=design.n_groups,
        n_vertebrae=len(design.m) if design.nested else None,
        reason=None,
        notes=notes,
    )


def fit_random_intercept(
    y: npt.ArrayLike,
    timepoint_codes: npt.ArrayLike,
    patient_codes: npt.ArrayLike,
    vertebra_codes: npt.ArrayLike | None = None,
    levels: Sequence[str] | None = None,
) -> MixedModelResult:
    """Fit y ~ C(timepoint) with a random intercept per patient (and per vertebra) by REML.

    ``timepoint_codes`` are 0..T−1 with 0 the reference level; ``levels`` names them
    (default ``"0"``, ``"1"``, …). ``vertebra_codes``, if given, nest a random intercept
    per vertebra within patient (codes need only be unique within a patient). Rows whose
    y is NaN are dropped. Degenerate data (fewer than two patients, one time point, no
    variance, components that cannot be separated) give a result with ``reason`` set and
    no estimates; malformed arguments raise ``ValueError``.
    """
    y_arr = np.asarray(y, dtype=np.float64)
    if y_arr.ndim != 1:
        raise ValueError(f"y: expected a one-dimensional array, got shape {y_arr.shape}")
    tp = _as_codes("timepoint_codes", timepoint_codes)
    patients = np.asarray(patient_codes)
    arrays = {"timepoint_codes": tp, "patient_codes": patients}
    vertebrae = None if vertebra_codes is None else np.asarray(vertebra_codes)
    if vertebrae is not None:
        arrays["vertebra_codes"] = vertebrae
    for name, arr in arrays.items():
        if arr.shape != y_arr.shape:
            raise ValueError(f"{name}: length {len(arr)} differs from y's {len(y_arr)}")
    if np.any(np.isinf(y_arr)):
        raise ValueError("y: infinite values; use NaN for a missing observation")
    if tp.size and int(tp.min()) < 0:
        raise ValueError("timepoint_codes: codes must be 0..T−1 (0 = reference level)")
    if levels is None:
        levels = [str(i) for i in range(int(tp.max()) + 1 if tp.size else 0)]
    level_names = [str(level) for level in levels]
    if tp.size and int(tp.max()) >= len(level_names):
        raise ValueError(
            f"timepoint_codes: code {int(tp.max())} has no name in levels "
            f"({len(level_names)} given)"
        )

    keep = ~np.isnan(y_arr)
    y_arr, tp, patients = y_arr[keep], tp[keep], patients[keep]
    vertebrae = None if vertebrae is None else vertebrae[keep]
    nested = vertebrae is not None
    n = int(y_arr.size)
    group_ids, g_idx = np.unique(patients, return_inverse=True)
    n_groups = int(group_ids.size)
    if nested and vertebrae is not None:
        _, v_idx = np.unique(vertebrae, return_inverse=True)
        key = g_idx.astype(np.int64) * (int(v_idx.max(initial=0)) + 1) + v_idx
        cluster_keys, c_idx = np.unique(key, return_inverse=True)
        cluster_group = np.asarray(cluster_keys // (int(v_idx.max(initial=0)) + 1), np.intp)
    else:
        c_idx = g_idx
        cluster_group = np.arange(n_groups, dtype=np.intp)
    n_clusters = int(cluster_group.size)
    n_vertebrae = n_clusters if nested else None

    def refuse(reason: str, notes: tuple[str, ...] = ()) -> MixedModelResult:
        return _not_fitted(reason, n, n_groups, n_vertebrae, notes)

    observed = np.unique(tp)
    notes = tuple(
        f"no observations at time point {name}: left out of the model"
        for code, name in enumerate(level_names)
        if code not in set(observed.tolist())
    )
    if n == 0:
        return refuse("no observations")
    if n_groups < 2:
        return refuse("fewer than 2 patients")
    if 0 not in set(observed.tolist()):
        return refuse(f"no observations at the reference time point {level_names[0]}", notes)
    if observed.size < 2:
        return refuse("a single time point: there is nothing to compare", notes)

    counts = np.bincount(tp, minlength=len(level_names)).astype(np.float64)
    sums = np.bincount(tp, weights=y_arr, minlength=len(level_names))
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    resid = y_arr - means[tp]
    scale = float(np.max(np.abs(y_arr)))
    if float(resid @ resid) <= n * (NO_VARIANCE_RTOL * scale) ** 2:
        return refuse("no variance left after the time-point means", notes)
    group_sizes = np.bincount(g_idx)
    if int(group_sizes.max()) < 2:
        return refuse("no patient has more than one observation", notes)
    if nested:
        if int(np.bincount(c_idx).max()) < 2:
            return refuse(
                "no vertebra has more than one observation: the vertebra and residual "
                "variances cannot be separated",
                notes,
            )
        if int(np.bincount(cluster_group).max()) < 2:
            return refuse(
                "no patient has more than one vertebra: the patient and vertebra variances "
                "cannot be separated; fit the patient-only model",
                notes,
            )
    p = int(observed.size)
    if n <= p:
        return refuse("no more observations than fixed effects", notes)

    beta_ols = np.concatenate(([means[0]], means[observed[1:]] - means[0]))
    design = _build_design(tp, resid, observed, counts, c_idx, cluster_group, n_groups, nested)

    within_ss, within_df = _within_fit(design)
    unit, units = ("vertebra", "vertebrae") if nested else ("patient", "patients")
    if within_df == 0:
        return refuse(
            f"no degrees of freedom within {units} beyond the time points: the residual "
            f"variance cannot be separated from the {unit} variance",
            notes,
        )
    if within_ss <= NO_WITHIN_VARIANCE_RTOL * design.ete:
        return refuse(
            f"the residual variance is zero: within each {unit} the time points explain the "
            "data exactly",
            notes,
        )
    try:
        fit = _maximise(design, _moment_start(design, n_groups))
        if any(math.log(fit.gamma[k]) >= math.log(GAMMA_MAX) - 2.0 for k in fit.free):
            return refuse(
                "the residual variance is estimated as zero: the data are explained by the "
                "time points and the random intercepts alone",
                notes,
            )
        ev = _evaluate(design, fit.gamma)
        cov, cov_note = _fixed_covariance(design, fit.gamma, ev)
    except _SingularDesignError:
        return refuse("the likelihood is degenerate (singular design or zero residual)", notes)
    if cov_note is not None:
        notes = (*notes, cov_note)

    return _result(design, fit, ev, cov, beta_ols, [level_names[c] for c in observed], notes)
