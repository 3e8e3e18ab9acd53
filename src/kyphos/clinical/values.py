"""Reading coded values at a boundary: yes/no, dates, choices from a vocabulary.

Spreadsheets and forms hand kyphos text; these functions turn it into typed
values or raise :class:`ClinicalValueError` naming the field and the words that
are accepted. An empty cell is "not recorded" (``None``), never a default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar

from kyphos.clinical.errors import ClinicalValueError

YES_WORDS = frozenset({"yes", "y", "true", "1", "是"})
NO_WORDS = frozenset({"no", "n", "false", "0", "否"})

Choice = TypeVar("Choice", bound=StrEnum)


def parse_yes_no(value: object, field: str) -> bool | None:
    """``yes``/``no`` (also ``y/n``, ``true/false``, ``1/0``, ``是/否``); None if empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if not text:
        return None
    if text in YES_WORDS:
        return True
    if text in NO_WORDS:
        return False
    raise ClinicalValueError(
        field,
        f"{str(value).strip()!r} is not yes or no (also y/n, true/false, 1/0, 是/否)",
        message_zh=f"{str(value).strip()!r} 不是“是/否”",
    )


def parse_date(value: object, field: str) -> dt.date | None:
    """An ISO date ``YYYY-MM-DD`` (a date or datetime is taken as is); None if empty."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ClinicalValueError(
            field,
            f"{text!r} is not a date in the form YYYY-MM-DD",
            message_zh=f"{text!r} 不是 YYYY-MM-DD 格式的日期",
        ) from None


def parse_choice(
    value: object,
    choices: type[Choice],
    field: str,
    aliases: dict[str, Choice] | None = None,
    *,
    what: tuple[str, str] | None = None,
) -> Choice | None:
    """A member of ``choices`` from its value, case-insensitively; None if empty.

    ``what`` names the kind of value in English and Chinese (``("an MRI signal",
    "MRI信号")``) for the message when the value is not one of the choices.
    """
    if value is None:
        return None
    if isinstance(value, choices):
        return value
    text = str(value).strip()
    if not text:
        return None
    folded = text.lower()
    for member in choices:
        if member.value.lower() == folded:
            return member
    if aliases:
        for alias, member in aliases.items():
            if alias.lower() == folded:
                return member
    allowed = ", ".join(member.value for member in choices)
    if what is not None:
        raise ClinicalValueError(
            field,
            f"{text!r} is not {what[0]}: use one of {allowed} (or leave empty)",
            message_zh=f"{text!r} 不是{what[1]}：请用 {allowed} 之一（或留空）",
        )
    raise ClinicalValueError(
        field,
        f"{text!r} is not one of: {allowed}",
        message_zh=f"{text!r} 不在可选值中：{allowed}",
    )


def parse_choice_set(
    value: object,
    choices: type[Choice],
    field: str,
    *,
    none_word: str = "none",
    separator: str = ";",
) -> frozenset[Choice] | None:
    """A ``;``-list of members of ``choices``.

    ``none`` alone means the empty set; an empty cell means "not recorded"
    (``None``); ``none`` together with anything else is an error.
    """
    if value is None:
        return None
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(separator)]
        parts = [part for part in parts if part]
    elif isinstance(value, Iterable):
        parts = [str(part).strip() for part in value if str(part).strip()]
    else:
        parts = [str(value).strip()]
    if not parts:
        return None
    if any(part.lower() == none_word for part in parts):
        if len({part.lower() for part in parts}) > 1:
            raise ClinicalValueError(
                field,
                f"{none_word!r} cannot be combined with other entries",
                message_zh=f"“{none_word}”不能与其他选项同时使用",
            )
        return frozenset()
    members = [parse_choice(part, choices, field) for part in parts]
    return frozenset(member for member in members if member is not None)


NUL = "\x00"
"""The one character no text can hold: PostgreSQL refuses it in text columns."""


def nul_problem(field: str) -> ClinicalValueError:
    """``field`` holds a NUL character (refused at every boundary, before any query)."""
    return ClinicalValueError(
        field,
        "contains a NUL character (\\x00), which cannot be stored; remove it",
        message_zh="含有 NUL 字符（\\x00），无法保存；请删除该字符",
    )


def refuse_nul(value: object, field: str) -> None:
    """Raise :func:`nul_problem` when ``value`` is text holding a NUL character."""
    if isinstance(value, str) and NUL in value:
        raise nul_problem(field)


def parse_text(value: object, field: str, *, max_length: int = 2000) -> str | None:
    """Free text, stripped; None if empty; refused beyond ``max_length`` characters or
    with a NUL character."""
    if value is None:
        return None
    refuse_nul(value, field)
    text = str(value).strip()
    if not text:
        return None
    if len(text) > max_length:
        raise ClinicalValueError(
            field,
            f"text of {len(text)} characters is longer than {max_length}",
            message_zh=f"文本长度{len(text)}超过上限{max_length}",
        )
    return text


class Labelled(StrEnum):
    """A coded value with an English and a Chinese label.

    Members are declared as ``code = ("code", "English label", "中文标签")``; the
    member's value is the code, which is what files and the database hold.
    """

    label_en: str
    label_zh: str

    def __new__(cls, value: str, label_en: str = "", label_zh: str = "") -> Labelled:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label_en = label_en or value
        member.label_zh = label_zh or label_en or value
        return member

    def label(self, lang: str = "en") -> str:
        """The member's label in ``lang`` (``en`` or ``zh``)."""
        return self.label_zh if lang == "zh" else self.label_en
