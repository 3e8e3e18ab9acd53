"""The augmentation procedure per treated level: technique, approach, cement.

Vocabularies and plausibility limits of the ``procedures`` sheet (DATA.md §1).
Leakage sites live in :mod:`kyphos.clinical.fracture` with the other fracture
vocabularies.
"""

from __future__ import annotations

from kyphos.clinical.errors import ClinicalValueError
from kyphos.clinical.numbers import parse_number
from kyphos.clinical.values import Labelled

MAX_CEMENT_VOLUME_ML = 20.0
MAX_DURATION_MIN = 600.0


class Technique(Labelled):
    kyphoplasty = ("kyphoplasty", "balloon kyphoplasty", "经皮椎体后凸成形术（PKP）")
    vertebroplasty = ("vertebroplasty", "vertebroplasty", "经皮椎体成形术（PVP）")


class Approach(Labelled):
    unipedicular = ("unipedicular", "unipedicular", "单侧椎弓根")
    bipedicular = ("bipedicular", "bipedicular", "双侧椎弓根")


class Anaesthesia(Labelled):
    local = ("local", "local", "局部麻醉")
    general = ("general", "general", "全身麻醉")


class ObserverRole(Labelled):
    primary = ("primary", "primary reader", "主测量者")
    adjudicator = ("adjudicator", "adjudicator", "仲裁者")


class Related(Labelled):
    yes = ("yes", "related", "相关")
    no = ("no", "not related", "无关")
    unknown = ("unknown", "unknown", "不确定")


RELATED_ALIASES = {"y": Related.yes, "n": Related.no, "是": Related.yes, "否": Related.no}


def check_cement_volume_ml(value: object, field: str = "cement_volume_ml") -> float | None:
    """Cement volume per level in mL: more than 0, at most 20."""
    volume = parse_number(value, field)
    if volume is not None and not 0.0 < volume <= MAX_CEMENT_VOLUME_ML:
        raise ClinicalValueError(
            field,
            f"{volume:g} mL is not a plausible cement volume (more than 0, at most "
            f"{MAX_CEMENT_VOLUME_ML:g} mL per level)",
            message_zh=f"{volume:g} mL 不是合理的骨水泥量（每节段大于0且不超过"
            f"{MAX_CEMENT_VOLUME_ML:g} mL）",
        )
    return volume


def check_duration_min(value: object, field: str = "duration_min") -> float | None:
    """Operating time per level in minutes: more than 0, at most 600."""
    minutes = parse_number(value, field)
    if minutes is not None and not 0.0 < minutes <= MAX_DURATION_MIN:
        raise ClinicalValueError(
            field,
            f"{minutes:g} min is not a plausible duration (more than 0, at most "
            f"{MAX_DURATION_MIN:g} min)",
            message_zh=(
                f"{minutes:g} 分钟不是合理的手术时间（大于0且不超过{MAX_DURATION_MIN:g}分钟）"
            ),
        )
    return minutes
