"""Kaplan–Meier estimate with Greenwood log-log confidence intervals (CLINICAL.md §7).

Pure computation: numpy and scipy in, a frozen dataclass out, nothing rounded and
nothing NaN.

Each subject has a time (days or months from the index procedure, as the caller
chooses; ≥ 0) and an event flag (1 = the event, e.g. a new fracture; 0 = censored
at that time, e.g. the last visit). At each distinct event time tⱼ, with nⱼ subjects
at risk (time ≥ tⱼ) and dⱼ events (Kaplan & Meier 1958):

* S(tⱼ) = Π_{i ≤ j} (1 − dᵢ/nᵢ)
* Greenwood (1926): Var S(tⱼ) = S(tⱼ)² · Gⱼ, Gⱼ = Σ_{i ≤ j} dᵢ/(nᵢ(nᵢ − dᵢ))
* 95 % CI on the log-log scale (Kalbfleisch & Prentice 1980; R ``survfit``
  ``conf.type = "log-log"``): with L = log(−log S) and se(L) = √Gⱼ/|log S|,
  lower = exp(−exp(L + z·se(L))), upper = exp(−exp(L − z·se(L))),
  z = Φ⁻¹(0.975). The interval always lies in [0, 1].

Rows: the first row is time 0 with survival 1, CI [1, 1] and every subject at risk;
then one row per distinct event time, in order. Censoring-only times give no row
(they lower the number at risk of later rows). If events happen at time 0 the curve
drops at once: a second row at time 0 carries the drop. Where S = 0 (every subject
still at risk has the event) log(−log S) is not finite and the CI is [0, 0]; no
rows follow, as nobody is left at risk.

Subjects whose time or event is missing (``None`` or NaN) are left out and counted
in ``dropped``. Negative times and event flags other than 0/1 are refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as _scipy_stats

from kyphos.analysis.stats import as_floats

__all__ = ["Z_95", "KaplanMeier", "kaplan_meier"]

Z_95 = float(_scipy_stats.norm.ppf(0.975))
"""Two-sided 95 % normal quantile, 1.959963984540054."""


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan–Meier curve: parallel tuples, one entry per row (see the module notes).

    ``at_risk`` is the number at risk just before each time, ``events`` the number of
    events at it; ``n`` counts the subjects used, ``dropped`` those left out. With no
    subjects every tuple is empty. Nothing here is ever ``None``, so ``reasons`` stays
    empty; it is kept for the same shape as the other results.
    """

    times: tuple[float, ...]
    survival: tuple[float, ...]
    ci95_lo: tuple[float, ...]
    ci95_hi: tuple[float, ...]
    at_risk: tuple[int, ...]
    events: tuple[int, ...]
    n: int
    dropped: int
    reasons: dict[str, str] = field(default_factory=dict)


def _log_log_interval(survival: float, greenwood: float, z: float) -> tuple[float, float]:
    if survival >= 1.0:
        return 1.0, 1.0
    if survival <= 0.0:
        return 0.0, 0.0
    log_s = math.log(survival)
    centre = math.log(-log_s)
    se = math.sqrt(greenwood) / abs(log_s)
    return math.exp(-math.exp(centre + z * se)), math.exp(-math.exp(centre - z * se))


def kaplan_meier(
    times: Iterable[float | None], events: Iterable[float | bool | None]
) -> KaplanMeier:
    """Kaplan–Meier survival with Greenwood log-log 95 % CIs (event 1, censored 0)."""
    time = as_floats(times, "times")
    event = as_floats(events, "events")
    if time.shape != event.shape:
        raise ValueError(
            f"times has {time.size} values and events has {event.size}: give one time and "
            "one event flag per subject"
        )
    present = ~(np.isnan(time) | np.isnan(event))
    dropped = int(time.size - present.sum())
    time, event = time[present], event[present]
    if np.any(~np.isfinite(time)) or np.any(time < 0):
        raise ValueError(
            "times must be finite and ≥ 0 (time from the index procedure); "
            f"got {sorted(set(time[~np.isfinite(time) | (time < 0)].tolist()))}"
        )
    if np.any((event != 0) & (event != 1)):
        raise ValueError(
            "events must be 1 (the event happened) or 0 (censored); "
            f"got {sorted(set(event[(event != 0) & (event != 1)].tolist()))}"
        )
    n = int(time.size)
    if n == 0:
        return KaplanMeier((), (), (), (), (), (), 0, dropped)

    rows_time = [0.0]
    rows_survival = [1.0]
    rows_lo = [1.0]
    rows_hi = [1.0]
    rows_at_risk = [n]
    rows_events = [0]
    survival = 1.0
    greenwood = 0.0
    for t in np.unique(time[event == 1]):
        at_risk = int(np.count_nonzero(time >= t))
        deaths = int(np.count_nonzero((time == t) & (event == 1)))
        survival *= 1.0 - deaths / at_risk
        if deaths < at_risk:
            greenwood += deaths / (at_risk * (at_risk - deaths))
        else:
            survival = 0.0
        low, high = _log_log_interval(survival, greenwood, Z_95)
        rows_time.append(float(t))
        rows_survival.append(survival)
        rows_lo.append(low)
        rows_hi.append(high)
        rows_at_risk.append(at_risk)
        rows_events.append(deaths)

    return KaplanMeier(
        times=tuple(rows_time),
        survival=tuple(rows_survival),
        ci95_lo=tuple(rows_lo),
        ci95_hi=tuple(rows_hi),
        at_risk=tuple(rows_at_risk),
        events=tuple(rows_events),
        n=n,
        dropped=dropped,
    )
