"""Page texts in English and Chinese: Babel message catalogues read at run time.

The English text is the message id; the ``.po`` files in ``locale/zh/LC_MESSAGES/``
hold the Chinese (``messages.po`` for the pages, one file per further area, merged; a
message id must not be translated twice). Catalogues are parsed with Babel when first
used (no compile step).

Dates and numbers are formatted per language with Babel's CLDR data (``en``: "Mar 1,
2026", ``zh``: "2026年3月1日"); :func:`install` makes the formatters Jinja filters. Machine
places (``<time datetime>``, date inputs, downloads) keep ISO dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.messages.pofile import read_po
from babel.numbers import NumberPattern, parse_pattern
from jinja2 import Environment

from kyphos.clinical.fracture import (
    Acuity,
    AdverseEventType,
    LeakageSite,
    Morphology,
    MriSignal,
)
from kyphos.clinical.patient import Comorbidity, InjuryMechanism, Sex
from kyphos.clinical.procedure import Anaesthesia, Approach, ObserverRole, Technique
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
    "observer_role": ObserverRole,
}
"""The coded clinical values a page shows, by kind: their labels live in kyphos.clinical."""


def N_(message: str) -> str:
    """Mark ``message`` for the catalogues (Babel extracts ``N_``); translated when shown."""
    return message


MESSAGE_CODED: dict[str, dict[str, str]] = {
    "role": {
        "admin": N_("administrator"),
        "investigator": N_("investigator"),
        "observer": N_("observer"),
        "analyst": N_("analyst"),
    },
    "status": {"upcoming": N_("upcoming"), "due": N_("due"), "overdue": N_("overdue")},
    "view": {"lateral": N_("lateral view"), "ap": N_("anteroposterior view")},
    "action": {
        "create": N_("created"),
        "update": N_("changed"),
        "delete": N_("deleted"),
        "read_identity": N_("read identity"),
        "erase_identity": N_("erased identity"),
        "import": N_("imported"),
        "import_summary": N_("import summary"),
        "export": N_("exported"),
        "init": N_("registry created"),
        "login": N_("signed in"),
        "login_failed": N_("sign-in failed"),
        "logout": N_("signed out"),
        "reset_password": N_("password reset"),
        "revoke_token": N_("token revoked"),
    },
    "entity": {
        "registry": N_("registry"),
        "protocol": N_("follow-up protocol"),
        "site": N_("site"),
        "user": N_("user"),
        "login": N_("sign-in"),
        "session": N_("session"),
        "patient": N_("patient"),
        "patients": N_("patients"),
        "identity": N_("identity"),
        "vertebra": N_("vertebra"),
        "vertebrae": N_("vertebrae"),
        "procedure": N_("procedure"),
        "procedures": N_("procedures"),
        "treated_level": N_("treated level"),
        "visit": N_("visit"),
        "visits": N_("visits"),
        "radiograph": N_("radiograph"),
        "measurement": N_("measurement"),
        "measurements": N_("measurements"),
        "adverse_event": N_("adverse event"),
        "adverse_events": N_("adverse events"),
        "evidence_cohort": N_("reference cohort"),
        "workbook": N_("workbook"),
    },
}
"""Coded values that are not clinical (account roles, worklist states, audit actions and
records, radiograph views), by kind: code → English message id of the catalogues."""


def coded_label(kind: str, value: object, lang: str) -> str:
    """The label of a coded ``value`` of ``kind`` in ``lang`` (the code itself when it is
    not one of the kind's codes, e.g. a value from an older vocabulary)."""
    if value is None or value == "":
        return ""
    if kind in MESSAGE_CODED:
        message = MESSAGE_CODED[kind].get(str(value))
        return translator(lang)(message) if message else str(value)
    try:
        return CODED[kind](str(value)).label(language(lang))
    except ValueError:
        return str(value)


CHANGE_KINDS: dict[tuple[str, str], str] = {
    ("patient", "sex"): "sex",
    ("patient", "injury_mechanism"): "injury_mechanism",
    ("vertebra", "mri_t1"): "signal",
    ("vertebra", "mri_t2"): "signal",
    ("vertebra", "mri_stir"): "signal",
    ("vertebra", "morphology"): "morphology",
    ("procedure", "anaesthesia"): "anaesthesia",
    ("measurement", "role"): "observer_role",
    ("adverse_event", "type"): "event",
    ("user", "role"): "role",
}
"""(audited record, field) → the kind of its coded value, for the audit page's changes
(a procedure's treated levels are one nested value, shown as stored)."""


def change_label(entity: str, field: str, value: str, lang: str) -> str:
    """A before or after value of the audit trail: the label of a coded field's value,
    any other value as it stands."""
    kind = CHANGE_KINDS.get((entity, field))
    return coded_label(kind, value, lang) if kind and value else value


# --- dates and numbers per language ------------------------------------------------------------

NOT_RECORDED = "—"
"""What a page shows for a date or number that is not recorded."""


def _as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def format_day(value: dt.date | str | None, lang: str) -> str:
    """A date in Babel's medium format of ``lang`` ("Mar 1, 2026", "2026年3月1日").

    Takes a date, a date-time (its date) or an ISO text; ``None`` or "" is "—", and a text
    that is not an ISO date is shown as it stands.
    """
    if value is None or value == "":
        return NOT_RECORDED
    try:
        day = _as_date(value)
    except ValueError:
        return str(value)
    return format_date(day, "medium", locale=language(lang))


def format_moment(value: dt.datetime | str | None, lang: str) -> str:
    """A date-time as its date per language and a 24-hour time ("Mar 1, 2026 09:05:07").

    The time is written the same way in both languages (the audit trail's UTC times).
    """
    if value is None or value == "":
        return NOT_RECORDED
    try:
        moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    except ValueError:
        return str(value)
    return f"{format_day(moment, lang)} {moment:%H:%M:%S}"


def format_month(value: dt.date | str | None, lang: str) -> str:
    """A calendar month ("Mar 2026", "2026年3月") from a date or a ``YYYY-MM`` text."""
    if value is None or value == "":
        return NOT_RECORDED
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    try:
        month = dt.date.fromisoformat(text[:7] + "-01")
    except ValueError:
        return str(value)
    return format_skeleton("yMMM", month, locale=language(lang))


def format_number(value: float | int | None, lang: str, decimals: int = 0) -> str:
    """``value`` with ``decimals`` decimals and the locale's separators ("1,234.5");
    ``None`` is "—". Rounding is Babel's (half to even on the decimal value)."""
    if value is None:
        return NOT_RECORDED
    formatted: str = _number_pattern(decimals).apply(value, _locale(language(lang)))
    return formatted


@lru_cache(maxsize=16)
def _number_pattern(decimals: int) -> NumberPattern:
    """Parsed once: a page formats hundreds of numbers (what ``format_decimal`` does,
    without parsing the pattern and the locale each time)."""
    return parse_pattern("#,##0" + ("." + "0" * decimals if decimals > 0 else ""))


@lru_cache(maxsize=len(LANGUAGES))
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)


def install(environment: Environment) -> None:
    """Register the formatters as Jinja filters taking the page language:
    ``{{ visit.visit_date|day(lang) }}``, ``{{ row.at|moment(lang) }}``,
    ``{{ month|month(lang) }}``, ``{{ value|num(lang, 1) }}``; and the global
    ``change_label(entity, field, value, lang)`` for the audit trail's values."""
    environment.filters["day"] = format_day
    environment.filters["moment"] = format_moment
    environment.filters["month"] = format_month
    environment.filters["num"] = format_number
    environment.globals["change_label"] = change_label
