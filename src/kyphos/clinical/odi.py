"""Oswestry Disability Index (ODI), version 2.1a.

Structure and scoring after Fairbank & Pynsent, Spine 2000;25:2940–52: ten
sections, each answered 0–5 (the first statement scores 0, the last 5):

 1 pain intensity · 2 personal care · 3 lifting · 4 walking · 5 sitting ·
 6 standing · 7 sleeping · 8 sex life (if applicable) · 9 social life ·
 10 travelling.

Score: ``raw`` = sum of the answered sections; ``percent`` = raw / (5 × answered)
× 100. A skipped or not-applicable section lowers the denominator by 5.

kyphos decisions (CLINICAL.md §1):

* A score needs all but at most ``max_missing`` sections (default 2, a
  setting); with more missing there is no score and :class:`ClinicalValueError`
  says how many are missing. The Hong Kong Chinese ODI authors suggest skipping
  section 8 for patients over 60; the reference study skipped it for everyone.
* Bands on the percent: ≤ 20 minimal, ≤ 40 moderate, ≤ 60 severe, ≤ 80
  crippled, > 80 bed-bound (or exaggerating).
* ``raw``, ``answered`` and ``percent`` are separate fields; a raw sum is never
  compared with a percent (the reference study's "40.00" is raw over 9 sections,
  = 88.9 %).

Chinese versions: Lue et al., Spine 2008;33:2354–60 (Chinese ODI 2.1);
simplified Chinese ODI 2.1a, Spine 2009 (PMID 19444069). LOINC 97908-8 (panel),
97909-6 (score).

The questionnaire wording is copyrighted (ODI © Jeremy Fairbank, licensed via
Mapi) and is not part of kyphos. The built-in instrument file carries short
neutral descriptions of each answer level written by the kyphos authors and is
marked as not the validated wording; a department loads its licensed text with
:func:`load_instrument`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from kyphos.clinical.errors import ClinicalValueError, ClinicalValueErrors
from kyphos.clinical.numbers import parse_integer

VERSION = "2.1a"
SECTION_COUNT = 10
MAX_ANSWER = 5
DEFAULT_MAX_MISSING = 2
LANGUAGES = ("en", "zh")
LOINC_PANEL = "97908-8"
LOINC_SCORE = "97909-6"
SEX_LIFE_SECTION = 8


@dataclass(frozen=True)
class Section:
    """One ODI section: its number (1–10), key and titles."""

    number: int
    key: str
    title_en: str
    title_zh: str

    def title(self, lang: str = "en") -> str:
        return self.title_zh if lang == "zh" else self.title_en


SECTIONS: tuple[Section, ...] = (
    Section(1, "pain_intensity", "Pain intensity", "疼痛程度"),
    Section(2, "personal_care", "Personal care", "生活自理"),
    Section(3, "lifting", "Lifting", "提物"),
    Section(4, "walking", "Walking", "行走"),
    Section(5, "sitting", "Sitting", "坐"),
    Section(6, "standing", "Standing", "站立"),
    Section(7, "sleeping", "Sleeping", "睡眠"),
    Section(8, "sex_life", "Sex life (if applicable)", "性生活（如适用）"),
    Section(9, "social_life", "Social life", "社会生活"),
    Section(10, "travelling", "Travelling", "旅行（外出）"),
)


@dataclass(frozen=True)
class Band:
    """A disability band: the highest percent it covers and its labels."""

    key: str
    upper_percent: float
    label_en: str
    label_zh: str

    def label(self, lang: str = "en") -> str:
        return self.label_zh if lang == "zh" else self.label_en


BANDS: tuple[Band, ...] = (
    Band("minimal", 20.0, "minimal disability", "轻度功能障碍"),
    Band("moderate", 40.0, "moderate disability", "中度功能障碍"),
    Band("severe", 60.0, "severe disability", "重度功能障碍"),
    Band("crippled", 80.0, "crippled", "极重度功能障碍"),
    Band("bed_bound", 100.0, "bed-bound (or exaggerating)", "卧床（或夸大症状）"),
)


@dataclass(frozen=True)
class OdiScore:
    """An ODI score: keep raw, answered and percent apart."""

    raw: int
    answered: int
    percent: float
    band: str
    missing: tuple[int, ...]
    version: str = VERSION


def band(percent: float) -> str:
    """The band key for a percent score (≤ 20 minimal … > 80 bed_bound)."""
    if not 0.0 <= percent <= 100.0:
        raise ClinicalValueError(
            "odi_percent",
            f"{percent!r} is not an ODI percent (0–100)",
            message_zh=f"{percent!r} 不是有效的ODI百分比（0–100）",
        )
    for candidate in BANDS:
        if percent <= candidate.upper_percent:
            return candidate.key
    raise AssertionError("unreachable: the last band covers 100 %")  # pragma: no cover


def band_label(key: str, lang: str = "en") -> str:
    """The English or Chinese label of a band key."""
    for candidate in BANDS:
        if candidate.key == key:
            return candidate.label(lang)
    raise ClinicalValueError("odi_band", f"{key!r} is not an ODI band")


def answer_field(section: int) -> str:
    """The column name of a section's answer (``odi_3``)."""
    return f"odi_{section}"


def parse_answer(value: object, section: int) -> int | None:
    """One section's answer (0–5) from a number or text; None when not answered."""
    field = answer_field(section)
    number = parse_integer(value, field)
    if number is None:
        return None
    if not 0 <= number <= MAX_ANSWER:
        raise ClinicalValueError(
            field,
            f"{number} is not an ODI answer (0–5)",
            message_zh=f"{number} 不是有效的ODI答案（0–5）",
        )
    return number


def parse_answers(values: Sequence[object]) -> list[int | None]:
    """Ten answers read with :func:`parse_answer`; every bad one is reported."""
    _check_length(values)
    answers: list[int | None] = []
    problems: list[ClinicalValueError] = []
    for section, value in enumerate(values, start=1):
        try:
            answers.append(parse_answer(value, section))
        except ClinicalValueError as problem:
            problems.append(problem)
            answers.append(None)
    ClinicalValueErrors.raise_if_any(problems)
    return answers


def score(answers: Sequence[int | None], *, max_missing: int = DEFAULT_MAX_MISSING) -> OdiScore:
    """Score ten ODI answers (``None`` = section skipped or not applicable).

    >>> score([1, 2, 2, 1, 2, 1, 2, 1, 2, 2]).percent
    32.0
    """
    if not 0 <= max_missing < SECTION_COUNT:
        raise ClinicalValueError(
            "max_missing", f"{max_missing!r} must be between 0 and {SECTION_COUNT - 1}"
        )
    _check_length(answers)
    problems: list[ClinicalValueError] = []
    for section, answer in enumerate(answers, start=1):
        if answer is None:
            continue
        if isinstance(answer, bool) or not isinstance(answer, int):
            problems.append(
                ClinicalValueError(
                    answer_field(section),
                    f"{answer!r} is not an ODI answer (a whole number 0–5)",
                    message_zh=f"{answer!r} 不是有效的ODI答案（0–5的整数）",
                )
            )
        elif not 0 <= answer <= MAX_ANSWER:
            problems.append(
                ClinicalValueError(
                    answer_field(section),
                    f"{answer} is not an ODI answer (0–5)",
                    message_zh=f"{answer} 不是有效的ODI答案（0–5）",
                )
            )
    ClinicalValueErrors.raise_if_any(problems)
    missing = tuple(section for section, answer in enumerate(answers, start=1) if answer is None)
    if len(missing) > max_missing:
        listed = ", ".join(str(section) for section in missing)
        raise ClinicalValueError(
            "odi",
            f"{len(missing)} sections are missing ({listed}); at most {max_missing} may be "
            "missing for an ODI score",
            message_zh=f"缺失{len(missing)}项（{listed}），最多允许缺失{max_missing}项才能计算ODI",
        )
    answered_values = [answer for answer in answers if answer is not None]
    raw = sum(answered_values)
    answered = len(answered_values)
    percent = raw / (MAX_ANSWER * answered) * 100.0
    return OdiScore(
        raw=raw, answered=answered, percent=percent, band=band(percent), missing=missing
    )


@dataclass(frozen=True)
class OdiScores:
    """Scores of many answer sets at once (arrays, one entry per set).

    ``percent`` and ``raw`` are NaN where more than ``max_missing`` sections are missing
    (no score), ``answered`` counts the answered sections of every set.
    """

    raw: npt.NDArray[np.float64]
    answered: npt.NDArray[np.int64]
    percent: npt.NDArray[np.float64]


def score_array(answers: npt.ArrayLike, *, max_missing: int = DEFAULT_MAX_MISSING) -> OdiScores:
    """Score an (n × 10) array of answers, NaN for a missing section: :func:`score`'s rule,
    vectorised for whole cohorts.

    Refuses (ClinicalValueError) an array of another width or any answer outside 0–5 or
    not a whole number.
    """
    if not 0 <= max_missing < SECTION_COUNT:
        raise ClinicalValueError(
            "max_missing", f"{max_missing!r} must be between 0 and {SECTION_COUNT - 1}"
        )
    values = np.asarray(answers, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != SECTION_COUNT:
        raise ClinicalValueError(
            "odi", f"an ODI answer array has {SECTION_COUNT} columns, not shape {values.shape}"
        )
    given = ~np.isnan(values)
    bad = given & ((values < 0) | (values > MAX_ANSWER) | (values != np.round(values)))
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise ClinicalValueError(
            answer_field(column + 1),
            f"{values[row, column]:g} is not an ODI answer (0–5) (answer set {row + 1})",
            message_zh=f"{values[row, column]:g} 不是有效的ODI答案（0–5）（第{row + 1}组）",
        )
    answered = given.sum(axis=1).astype(np.int64)
    raw = np.where(given, values, 0.0).sum(axis=1)
    scored = answered >= SECTION_COUNT - max_missing
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = np.where(scored, raw / (MAX_ANSWER * answered) * 100.0, np.nan)
    return OdiScores(raw=np.where(scored, raw, np.nan), answered=answered, percent=percent)


def raw_to_percent(raw: float, answered: int) -> float:
    """A raw sum over ``answered`` sections as a percent (40 over 9 → 88.9 %)."""
    if not 1 <= answered <= SECTION_COUNT:
        raise ClinicalValueError(
            "answered", f"{answered!r} is not a number of ODI sections (1–{SECTION_COUNT})"
        )
    if not 0 <= raw <= MAX_ANSWER * answered:
        raise ClinicalValueError(
            "raw",
            f"{raw!r} is not a raw ODI sum over {answered} sections (0–{MAX_ANSWER * answered})",
        )
    return raw / (MAX_ANSWER * answered) * 100.0


def _check_length(values: Sequence[object]) -> None:
    if isinstance(values, str | bytes) or len(values) != SECTION_COUNT:
        count = len(values)
        raise ClinicalValueError(
            "odi",
            f"an ODI answer set has {SECTION_COUNT} entries (one per section, None for a "
            f"skipped one), not {count}",
            message_zh=f"ODI答案应有{SECTION_COUNT}项（每节一项，未答为空），而不是{count}项",
        )


# --- instrument files ------------------------------------------------------------------------


@dataclass(frozen=True)
class InstrumentSection:
    """A section of a loaded instrument: its titles and six answer texts per language."""

    number: int
    key: str
    title: Mapping[str, str]
    answers: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Instrument:
    """An ODI instrument file: the texts a form shows for each section and answer."""

    name: str
    version: str
    languages: tuple[str, ...]
    validated_wording: bool
    notice: Mapping[str, str]
    sections: tuple[InstrumentSection, ...]

    def answer_text(self, section: int, answer: int, lang: str = "en") -> str:
        """The text shown for ``answer`` (0–5) of ``section`` (1–10)."""
        chosen = lang if lang in self.languages else self.languages[0]
        return self.sections[section - 1].answers[chosen][answer]


BUILTIN_INSTRUMENT = "odi_neutral.yaml"


def builtin_instrument() -> Instrument:
    """kyphos's own neutral descriptions (not the validated wording)."""
    text = (
        resources.files("kyphos.clinical")
        .joinpath("data", BUILTIN_INSTRUMENT)
        .read_text(encoding="utf-8")
    )
    return _parse_instrument(yaml.safe_load(text), source=BUILTIN_INSTRUMENT)


def load_instrument(path: str | Path) -> Instrument:
    """Read and validate an instrument file (YAML or JSON).

    Every problem is reported with its place in the file
    (``sections[3].answers.zh[5]: missing``), all at once.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ClinicalValueError(str(file), "no such instrument file") from None
    except UnicodeDecodeError:
        raise ClinicalValueError(str(file), "the instrument file is not UTF-8 text") from None
    except OSError as error:
        raise ClinicalValueError(str(file), f"cannot read the file ({error.strerror})") from None
    try:
        data = json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ClinicalValueError(
            str(file), f"not valid {'JSON' if file.suffix.lower() == '.json' else 'YAML'}: {error}"
        ) from None
    return _parse_instrument(data, source=str(file))


def _parse_instrument(data: Any, *, source: str) -> Instrument:
    problems: list[ClinicalValueError] = []

    def problem(where: str, message: str) -> None:
        problems.append(ClinicalValueError(f"{source}:{where}" if where else source, message))

    if not isinstance(data, dict):
        raise ClinicalValueError(source, "an instrument file holds a mapping (name, sections, …)")
    name = data.get("instrument")
    if name != "odi":
        problem("instrument", f"{name!r} is not an instrument kyphos knows (expected 'odi')")
    version = data.get("version")
    if version != VERSION:
        problem("version", f"{version!r} is not ODI version {VERSION}")
    languages = data.get("languages")
    if (
        not isinstance(languages, list)
        or not languages
        or any(lang not in LANGUAGES for lang in languages)
    ):
        problem("languages", f"{languages!r} must be a list drawn from {', '.join(LANGUAGES)}")
        languages = [lang for lang in LANGUAGES]
    validated = data.get("validated_wording")
    if not isinstance(validated, bool):
        problem("validated_wording", "say true (licensed wording) or false (not validated)")
        validated = False
    notice = data.get("notice", {})
    if not isinstance(notice, dict) or any(not isinstance(v, str) for v in notice.values()):
        problem("notice", "must map a language to a text")
        notice = {}
    sections_data = data.get("sections")
    sections: list[InstrumentSection] = []
    if not isinstance(sections_data, list) or len(sections_data) != SECTION_COUNT:
        count = len(sections_data) if isinstance(sections_data, list) else "no"
        problem(
            "sections", f"an ODI instrument has {SECTION_COUNT} sections, this file has {count}"
        )
        sections_data = sections_data if isinstance(sections_data, list) else []
    for position, entry in enumerate(sections_data[:SECTION_COUNT]):
        where = f"sections[{position + 1}]"
        expected = SECTIONS[position]
        if not isinstance(entry, dict):
            problem(where, "must be a mapping with key, title and answers")
            continue
        if entry.get("key") != expected.key:
            problem(f"{where}.key", f"{entry.get('key')!r} should be {expected.key!r}")
        titles = entry.get("title")
        answers = entry.get("answers")
        title_map: dict[str, str] = {}
        answer_map: dict[str, tuple[str, ...]] = {}
        for lang in languages:
            title = titles.get(lang) if isinstance(titles, dict) else None
            if not isinstance(title, str) or not title.strip():
                problem(f"{where}.title.{lang}", "missing")
            else:
                title_map[lang] = title.strip()
            texts = answers.get(lang) if isinstance(answers, dict) else None
            if not isinstance(texts, list) or len(texts) != MAX_ANSWER + 1:
                count = len(texts) if isinstance(texts, list) else "no"
                problem(
                    f"{where}.answers.{lang}",
                    f"needs {MAX_ANSWER + 1} answer texts (scores 0–5), found {count}",
                )
                continue
            for answer, text in enumerate(texts):
                if not isinstance(text, str) or not text.strip():
                    problem(f"{where}.answers.{lang}[{answer}]", "missing")
            answer_map[lang] = tuple(str(text).strip() for text in texts)
        sections.append(InstrumentSection(expected.number, expected.key, title_map, answer_map))
    ClinicalValueErrors.raise_if_any(problems)
    return Instrument(
        name="odi",
        version=VERSION,
        languages=tuple(languages),
        validated_wording=validated,
        notice=dict(notice),
        sections=tuple(sections),
    )
