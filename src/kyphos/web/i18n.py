"""Page texts in English and Chinese: Babel message catalogues read at run time.

The English text is the message id; ``locale/zh/LC_MESSAGES/messages.po`` holds the
Chinese. Catalogues are parsed with Babel when first used (no compile step).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "zh")
DOMAIN = "messages"

Translate = Callable[[str], str]


def catalogue_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=len(LANGUAGES))
def _table(lang: str) -> dict[str, str]:
    if lang == "en":
        return {}
    with catalogue_path(lang).open("rb") as handle:
        catalogue = read_po(handle, locale=lang)
    return {
        str(message.id): str(message.string)
        for message in catalogue
        if message.id and isinstance(message.id, str) and message.string
    }


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
