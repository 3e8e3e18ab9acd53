"""Visual analogue scale (VAS) for pain.

The patient marks a 100 mm line from "no pain" to "worst imaginable pain"; the
score is the distance of the mark from the no-pain end (CLINICAL.md §2;
LOINC 38214-3, SNOMED CT 225908003). kyphos stores centimetres 0–10 with one
decimal, i.e. the line read to the millimetre; millimetre readings convert
exactly (mm ÷ 10).
"""

from __future__ import annotations

from kyphos.clinical.errors import ClinicalValueError
from kyphos.clinical.numbers import parse_number

VAS_MAX_CM = 10.0
VAS_MAX_MM = 100.0
LOINC = "38214-3"
SNOMED_CT = "225908003"

_TOLERANCE = 1e-9


def parse_cm(value: object, field: str = "vas") -> float | None:
    """A VAS in cm (0–10, read to 0.1 cm) from a number or text; None if empty."""
    number = parse_number(value, field)
    if number is None:
        return None
    if not 0.0 <= number <= VAS_MAX_CM:
        raise ClinicalValueError(
            field,
            f"{_show(number)} is not a VAS score (0–10 cm)",
            message_zh=f"{_show(number)} 不是有效的VAS评分（0–10 cm）",
        )
    tenths = number * 10
    if abs(tenths - round(tenths)) > _TOLERANCE:
        raise ClinicalValueError(
            field,
            f"{_show(number)} has more than one decimal (VAS is read to the millimetre: 0.1 cm)",
            message_zh=f"{_show(number)} 小数位超过一位（VAS精确到毫米，即0.1 cm）",
        )
    return round(tenths) / 10


def parse_mm(value: object, field: str = "vas_mm") -> float | None:
    """A VAS in mm (0–100, whole millimetres) from a number or text; None if empty."""
    number = parse_number(value, field)
    if number is None:
        return None
    if not 0.0 <= number <= VAS_MAX_MM:
        raise ClinicalValueError(
            field,
            f"{_show(number)} is not a VAS reading (0–100 mm)",
            message_zh=f"{_show(number)} 不是有效的VAS读数（0–100 mm）",
        )
    if abs(number - round(number)) > _TOLERANCE:
        raise ClinicalValueError(
            field,
            f"{_show(number)} is not a whole millimetre",
            message_zh=f"{_show(number)} 不是整毫米数",
        )
    return float(round(number))


def mm_to_cm(mm: float) -> float:
    """A millimetre reading in centimetres (83 mm → 8.3 cm)."""
    checked = parse_mm(mm)
    if checked is None:
        raise ClinicalValueError("vas_mm", "a VAS reading is required", message_zh="VAS读数为必填")
    return round(checked) / 10


def cm_to_mm(cm: float) -> float:
    """A centimetre score in millimetres (8.3 cm → 83 mm)."""
    checked = parse_cm(cm)
    if checked is None:
        raise ClinicalValueError("vas", "a VAS score is required", message_zh="VAS评分为必填")
    return float(round(checked * 10))


def _show(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)
