"""Vertebral levels: names, order, neighbours and ranges.

kyphos records fractures from C7 to L5 (the range vertebral augmentation is
done in, with C7 as the upper neighbour of T1). Levels are written as in a
radiology report: ``C7``, ``T1`` … ``T12``, ``L1`` … ``L5``. Input is read
leniently (``t12``, ``T 12``, ``T12 `` are T12) and strictly (``T13``, ``L6``,
``S1``, ``T0`` are refused: they do not exist, or lie outside the range).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kyphos.clinical.errors import ClinicalValueError

LEVELS: tuple[str, ...] = ("C7", *(f"T{n}" for n in range(1, 13)), *(f"L{n}" for n in range(1, 6)))
"""Every level kyphos records, head to tail."""

_INDEX = {level: position for position, level in enumerate(LEVELS)}
_PATTERN = re.compile(r"^([CTL])\s*(\d{1,2})$")
_RANGE_SEPARATORS = re.compile(r"\s*(?:-|–|—|~|～|to)\s*")

REGIONS = {"C": "cervical", "T": "thoracic", "L": "lumbar"}
REGION_LABELS = {
    "cervical": {"en": "cervical", "zh": "颈椎"},
    "thoracic": {"en": "thoracic", "zh": "胸椎"},
    "lumbar": {"en": "lumbar", "zh": "腰椎"},
}


def parse_level(text: object, field: str = "level") -> str:
    """The canonical name of a level (``"t 12"`` → ``"T12"``)."""
    if not isinstance(text, str) or not text.strip():
        raise ClinicalValueError(
            field,
            f"{text!r} is not a vertebral level (C7, T1–T12, L1–L5)",
            message_zh=f"{text!r} 不是椎体节段（C7、T1–T12、L1–L5）",
        )
    cleaned = text.strip().upper()
    match = _PATTERN.match(cleaned)
    level = f"{match.group(1)}{int(match.group(2))}" if match else cleaned
    if level not in _INDEX:
        raise ClinicalValueError(
            field,
            f"{text.strip()} is not a vertebral level kyphos records (C7, T1–T12, L1–L5)",
            message_zh=f"{text.strip()} 不是可记录的椎体节段（C7、T1–T12、L1–L5）",
        )
    return level


def level_index(level: str) -> int:
    """Position of ``level`` from the head (C7 = 0, L5 = 17)."""
    return _INDEX[parse_level(level)]


def sort_levels(levels: Iterable[str]) -> list[str]:
    """``levels`` parsed and ordered head to tail, duplicates removed."""
    return sorted({parse_level(level) for level in levels}, key=_INDEX.__getitem__)


def region(level: str) -> str:
    """``cervical``, ``thoracic`` or ``lumbar``."""
    return REGIONS[parse_level(level)[0]]


def above(level: str) -> str | None:
    """The level above (toward the head), or None for C7."""
    position = level_index(level)
    return LEVELS[position - 1] if position > 0 else None


def below(level: str) -> str | None:
    """The level below (toward the sacrum), or None for L5."""
    position = level_index(level)
    return LEVELS[position + 1] if position + 1 < len(LEVELS) else None


def adjacent(level: str) -> tuple[str | None, str | None]:
    """The neighbours ``(above, below)``; None where the range ends."""
    return above(level), below(level)


def are_adjacent(first: str, second: str) -> bool:
    """Whether two levels are next to each other."""
    return abs(level_index(first) - level_index(second)) == 1


def expand_range(text: str, field: str = "levels") -> list[str]:
    """Every level of a range, head to tail: ``"T9-L2"`` → T9, T10, T11, T12, L1, L2.

    A single level is a range of one. ``-``, en/em dashes, ``~`` and ``to`` separate
    the ends; ``"L2-T9"`` is read as the same range.
    """
    if not isinstance(text, str) or not text.strip():
        raise ClinicalValueError(
            field,
            "a level range is empty (write it as T9-L2)",
            message_zh="节段范围为空（如 T9-L2）",
        )
    parts = _RANGE_SEPARATORS.split(text.strip())
    if len(parts) == 1:
        return [parse_level(parts[0], field)]
    if len(parts) != 2 or not all(parts):
        raise ClinicalValueError(
            field,
            f"{text!r} is not a level range (write it as T9-L2)",
            message_zh=f"{text!r} 不是节段范围（如 T9-L2）",
        )
    first, last = sorted(level_index(parse_level(part, field)) for part in parts)
    return list(LEVELS[first : last + 1])
