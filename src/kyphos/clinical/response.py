"""Minimal clinically important change: who counts as a responder.

Ostelo et al., Spine 2008;33:90–4 (consensus for low back pain): an improvement
of 15 on a 0–100 VAS (1.5 cm), 2 on a 0–10 numeric rating scale, 10 points on the
ODI, or 30 % of the baseline value.

kyphos decision (CLINICAL.md §3): a responder improves by at least the absolute
threshold OR by at least 30 % of baseline. Both are settings; the defaults are
VAS 1.5 cm and ODI 10 points. For VAS and ODI lower is better, so improvement =
baseline − follow-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kyphos.clinical.errors import ClinicalValueError

DEFAULT_VAS_THRESHOLD_CM = 1.5
DEFAULT_ODI_THRESHOLD_POINTS = 10.0
DEFAULT_RELATIVE_THRESHOLD = 0.30


@dataclass(frozen=True)
class ResponderRule:
    """An absolute threshold (in the outcome's unit) and a relative one (fraction of baseline)."""

    absolute: float
    relative: float = DEFAULT_RELATIVE_THRESHOLD

    def __post_init__(self) -> None:
        if not self.absolute > 0:
            raise ClinicalValueError("absolute", f"{self.absolute!r} must be more than 0")
        if not 0 < self.relative <= 1:
            raise ClinicalValueError("relative", f"{self.relative!r} must be in (0, 1]")


VAS_RULE = ResponderRule(absolute=DEFAULT_VAS_THRESHOLD_CM)
ODI_RULE = ResponderRule(absolute=DEFAULT_ODI_THRESHOLD_POINTS)


def is_responder(baseline: float, follow_up: float, rule: ResponderRule) -> bool:
    """Whether the change from ``baseline`` to ``follow_up`` (lower is better) is important."""
    improvement = baseline - follow_up
    if improvement >= rule.absolute:
        return True
    return baseline > 0 and improvement >= rule.relative * baseline


def responder_mask(
    baseline: npt.NDArray[np.float64], follow_up: npt.NDArray[np.float64], rule: ResponderRule
) -> npt.NDArray[np.bool_]:
    """:func:`is_responder` for arrays of complete pairs, element by element."""
    improvement = baseline - follow_up
    relative = (baseline > 0) & (improvement >= rule.relative * baseline)
    return np.asarray((improvement >= rule.absolute) | relative, dtype=np.bool_)
