"""Page texts in English and Chinese: Babel message catalogues read at run time.

The English text is the message id; the ``.po`` files in ``locale/zh/LC_MESSAGES/``
hold the Chinese (``messages.po`` for the pages, one file per further area, merged; a
message id must not be translated twice). Catalogues are parsed with Babel when first
used (no compile step).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po

from kyphos.clinical.fracture import (
    Acuity,
    AdverseEventType,
    LeakageSite,
    Morphology,
    MriSignal,
)
from kyphos.clinical.patient import Comorbidity, InjuryMechanism, Sex
from kyphos.clinical.procedure import Anaesthesia, Approach, Technique
from kyphos.clinical.values import Labelled

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "zh")
DOMAIN = "messages"

Translate = Callable[[str], str]


def catalogue_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def catalogue_paths(lang: str) -> list[Path]:
    """Every catalogue file of ``lang`` (``messages.po`` first, then by name)."""
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    return sorted(folder.glob("*.po"), key=lambda path: (path.name != f"{DOMAIN}.po", path.name))


def read_catalogue(path: Path, lang: str) -> dict[str, str]:
    """Message id → translation of one ``.po`` file (untranslated ids left out)."""
    with path.open("rb") as handle:
        catalogue = read_po(handle, locale=lang)
    return {
        str(message.id): str(message.string)
        for message in catalogue
        if message.id and isinstance(message.id, str) and message.string
    }


@lru_cache(maxsize=len(LANGUAGES))
def _table(lang: str) -> dict[str, str]:
    if lang == "en":
        return {}
    table: dict[str, str] = {}
    for path in catalogue_paths(lang):
        table.update(read_catalogue(path, lang))
    return table


def language(value: str | None, default: str = "en") -> str:
    """``value`` if kyphos speaks it, else ``default``."""
    chosen = (value or "").strip().lower()
    return chosen if chosen in LANGUAGES else default


def translator(lang: str) -> Translate:
    """``_`` for ``lang``: the Chinese text for a message id, English as it stands."""
    table = _table(language(lang))

    def gettext(message: str) -> str:
        return table.get(message, message)

    return gettext


CODED: dict[str, type[Labelled]] = {
    "sex": Sex,
    "comorbidity": Comorbidity,
    "injury_mechanism": InjuryMechanism,
    "morphology": Morphology,
    "signal": MriSignal,
    "acuity": Acuity,
    "leakage": LeakageSite,
    "technique": Technique,
    "approach": Approach,
    "anaesthesia": Anaesthesia,
    "event": AdverseEventType,
}
"""The coded clinical values a page shows, by kind: their labels live in kyphos.clinical."""


def coded_label(kind: str, value: object, lang: str) -> str:
    """The label of a coded ``value`` of ``kind`` in ``lang`` (the code itself when it is
    not one of the kind's codes, e.g. a value from an older vocabulary)."""
    if value is None or value == "":
        return ""
    try:
        return CODED[kind](str(value)).label(language(lang))
    except ValueError:
        return str(value)
