"""Errors raised by the clinical layer.

Every out-of-range or malformed clinical value raises :class:`ClinicalValueError`,
which names the field and says what is wrong in words a clinician can act on
(``odi_3: 6 is not an ODI answer (0–5)``). Boundaries (import, forms, CLI) add
their own location in front (``visits:14:odi_3: …``) with :meth:`located`.

Where several problems are found at once (an instrument file, a protocol file,
a workbook row), they travel together in :class:`ClinicalValueErrors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class ClinicalValueError(ValueError):
    """A clinical value that cannot be accepted.

    ``field`` names the value (``odi_3``, ``level``, ``spacing_mm``);
    ``message`` says what is wrong, in English; ``message_zh`` the same in
    Chinese when the raiser provides it (boundaries fall back to English).
    """

    def __init__(self, field: str, message: str, *, message_zh: str | None = None) -> None:
        self.field = field
        self.message = message
        self.message_zh = message_zh
        super().__init__(f"{field}: {message}" if field else message)

    def text(self, lang: str = "en") -> str:
        """The message without the field, in ``lang`` (``en`` or ``zh``)."""
        if lang == "zh" and self.message_zh:
            return self.message_zh
        return self.message

    def located(self, prefix: str) -> ClinicalValueError:
        """The same error with ``prefix`` (``visits:14``) put before its field."""
        field = f"{prefix}:{self.field}" if self.field else prefix
        return ClinicalValueError(field, self.message, message_zh=self.message_zh)


class ClinicalValueErrors(ClinicalValueError):
    """Several problems found in one input; ``problems`` lists each one."""

    def __init__(self, problems: Sequence[ClinicalValueError]) -> None:
        if not problems:
            raise ValueError("ClinicalValueErrors needs at least one problem")
        self.problems: tuple[ClinicalValueError, ...] = tuple(problems)
        first = self.problems[0]
        super().__init__(first.field, first.message, message_zh=first.message_zh)
        self.args = ("\n".join(str(problem) for problem in self.problems),)

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)

    @classmethod
    def raise_if_any(cls, problems: Iterable[ClinicalValueError]) -> None:
        """Raise one error carrying ``problems``, if there are any."""
        collected = list(problems)
        if collected:
            raise cls(collected)
