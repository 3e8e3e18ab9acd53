"""Reading numbers at a boundary, and rounding for display.

Values typed into a form or read from a spreadsheet arrive as text, int or
float. :func:`parse_number` turns them into a finite float or says why it cannot
(booleans, NaN and infinities are refused: they are never a clinical value).

kyphos keeps full precision in results and rounds only for display, half away
from zero (CLINICAL.md §1: 16/45 = 35.555… prints as 35.56, not the truncated
35.5 a source printed).
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

from kyphos.clinical.errors import ClinicalValueError

Number = int | float


def parse_number(value: object, field: str) -> float | None:
    """A finite float from ``value``; ``None`` for an empty cell or ``None``.

    Accepts int, float and text such as ``" 8.5 "`` or ``"8,5"`` is refused (a
    decimal comma is ambiguous in a comma-separated file: say so instead).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ClinicalValueError(
            field, f"{value!r} is not a number", message_zh=f"{value!r} 不是数字"
        )
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            hint = " (use a decimal point, not a comma)" if "," in text else ""
            raise ClinicalValueError(
                field,
                f"{text!r} is not a number{hint}",
                message_zh=f"{text!r} 不是数字" + ("（请用小数点而非逗号）" if hint else ""),
            ) from None
    else:
        raise ClinicalValueError(
            field,
            f"{value!r} is not a number",
            message_zh=f"{value!r} 不是数字",
        )
    if not math.isfinite(number):
        raise ClinicalValueError(
            field, f"{value!r} is not a finite number", message_zh=f"{value!r} 不是有限数值"
        )
    return number


def parse_integer(value: object, field: str) -> int | None:
    """A whole number from ``value`` (``3``, ``3.0`` or ``"3"``); ``None`` if empty."""
    number = parse_number(value, field)
    if number is None:
        return None
    if not number.is_integer():
        raise ClinicalValueError(
            field,
            f"{_show(value)} is not a whole number",
            message_zh=f"{_show(value)} 不是整数",
        )
    return int(number)


def check_range(value: object, field: str, low: float, high: float, unit: str = "") -> float | None:
    """A number within ``low``–``high`` (inclusive) from a number or text; None if empty."""
    number = parse_number(value, field)
    if number is not None and not low <= number <= high:
        shown = f"{number:g}"
        raise ClinicalValueError(
            field,
            f"{shown} is outside the plausible range {low:g}–{high:g} {unit}".rstrip(),
            message_zh=f"{shown} 超出合理范围 {low:g}–{high:g} {unit}".rstrip(),
        )
    return number


def round_half_away(value: float, decimals: int = 0) -> float:
    """``value`` rounded to ``decimals`` places, halves away from zero.

    Works on the shortest decimal text of the float, so 35.555 (typed) rounds to
    35.56 as a person expects, while Python's ``round`` gives 35.55 or 35.56
    depending on the binary representation.
    """
    if not math.isfinite(value):
        raise ClinicalValueError("value", f"{value!r} cannot be rounded")
    quantum = Decimal(1).scaleb(-decimals)
    rounded = Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP)
    return float(rounded)


def format_fixed(value: float, decimals: int) -> str:
    """``value`` as text with exactly ``decimals`` places, halves away from zero."""
    rounded = round_half_away(value, decimals)
    text = f"{rounded:.{decimals}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def decimals_of(value: float) -> int:
    """How many decimals the shortest text of ``value`` has (8.5 → 1, 8.0 → 0)."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        return max(0, -Decimal(text).as_tuple().exponent)  # type: ignore[operator]
    _, _, tail = text.partition(".")
    tail = tail.rstrip("0")
    return len(tail)


def _show(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip() if isinstance(value, str) else repr(value)
