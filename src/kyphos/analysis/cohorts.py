"""Published cohorts: the file format, its reader and the installed cohorts.

A *published cohort* is what a paper prints about its patients: citation, design, time
points, baseline (n, sex, age), per outcome and time point n / mean / SD, the tests it
reports (t, df, p) and complication counts. The format is JSON (docs/evidence.md has a
full example); :func:`load_cohort` reads a file and refuses it with every problem
located (``cohort.json:outcomes.vas.preop.sd: -1 is below 0``).

Printed statistics are kept as the printed text (``"40.00"``, ``"<0.05"``) — a
:class:`Printed` value knows its decimals, so it stands for the interval it was rounded
from (CLINICAL.md §9); :mod:`kyphos.analysis.consistency` checks them.

Outcomes use kyphos's vocabulary (:data:`OUTCOME_KINDS`): ``vas`` (cm, 0–10), ``odi``
(percent, 0–100), ``anterior_height_mm``, ``middle_height_mm``, ``posterior_height_mm``,
``wedge_angle_deg``, ``kyphotic_angle_deg``, plus ``odi_raw`` — a raw Oswestry sum that
must say how many sections were answered (``sections_answered``).

The built-in cohorts are package data (``analysis/data/``); users add theirs to the
registry with ``kyphos evidence add FILE`` (:func:`add_cohort`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kyphos.clinical import odi
from kyphos.clinical.errors import ClinicalValueError, ClinicalValueErrors
from kyphos.clinical.protocol import parse_key
from kyphos.errors import KyphosError

if TYPE_CHECKING:
    from kyphos.registry.repository import Registry

__all__ = [
    "COMPARED_AS",
    "FORMAT_VERSION",
    "OUTCOME_KINDS",
    "TESTS",
    "Baseline",
    "Cell",
    "Citation",
    "Complication",
    "OutcomeData",
    "OutcomeKind",
    "Printed",
    "PrintedP",
    "PublishedCohort",
    "ReportedTest",
    "Scale",
    "StoredResult",
    "Timepoint",
    "add_cohort",
    "builtin_cohorts",
    "installed_cohorts",
    "load_cohort",
    "parse_cohort",
    "parse_cohort_text",
]

FORMAT_VERSION = 1
BUILTIN_SOURCE = "built-in"
REGISTRY_SOURCE = "registry"
BUILTIN_FILES = ("reference_zhang_2011.json",)
CONFIDENCE = 0.95
ODI_POINTS_PER_SECTION = odi.MAX_ANSWER
ODI_SECTIONS = odi.SECTION_COUNT
MAX_KEY_CHARS = 64
KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
DOI_PATTERN = re.compile(r"10\.[0-9]{4,9}/\S+")
UNITS_OF_ANALYSIS = ("patient", "vertebra")
TESTS = ("paired t",)
"""Reported tests kyphos reads: a paired t-test between two time points of the cohort."""

Interval = tuple[float, float]


# --- outcome vocabulary -------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeKind:
    """An outcome kyphos knows: its unit and the limits of its scale, where it has any."""

    name: str
    unit: str
    low: float | None
    high: float | None
    step: float | None = None


OUTCOME_KINDS: dict[str, OutcomeKind] = {
    "vas": OutcomeKind("vas", "cm", 0.0, 10.0),
    "odi": OutcomeKind("odi", "percent", 0.0, 100.0),
    "odi_raw": OutcomeKind("odi_raw", "points", 0.0, None, 1.0),  # high = 5 × answered
    "anterior_height_mm": OutcomeKind("anterior_height_mm", "mm", 0.0, None),
    "middle_height_mm": OutcomeKind("middle_height_mm", "mm", 0.0, None),
    "posterior_height_mm": OutcomeKind("posterior_height_mm", "mm", 0.0, None),
    "wedge_angle_deg": OutcomeKind("wedge_angle_deg", "deg", None, None),
    "kyphotic_angle_deg": OutcomeKind("kyphotic_angle_deg", "deg", None, None),
}
"""kyphos's outcomes; ``odi_raw`` is compared as ``odi`` (percent)."""

COMPARED_AS = {"odi_raw": "odi"}


# --- printed numbers ----------------------------------------------------------------------------

_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_P_TEXT = re.compile(r"(?:[pP]\s*)?(<|>|=)?\s*(\S.*)")
_RELATIONS: dict[str, Literal["=", "<", ">"]] = {"=": "=", "<": "<", ">": ">"}


@dataclass(frozen=True)
class Printed:
    """A number as a paper printed it: ``text`` ("40.00"), its value and its decimals.

    A printed value stands for every value that rounds to it: [value − h, value + h]
    with h = 0.5·10^−decimals.
    """

    text: str
    value: float
    decimals: int

    @classmethod
    def of(cls, text: str, field: str = "value") -> Printed:
        """Read ``"8.38"``, ``"-1"``, ``".04"``; refuse anything else (exponents too)."""
        cleaned = text.strip().replace("\u2212", "-")
        if not _NUMBER_TEXT.fullmatch(cleaned):
            raise ClinicalValueError(
                field,
                f"{text!r} is not a printed number",
                message_zh=f"{text!r} 不是印刷的数字",
            )
        exponent = Decimal(cleaned).as_tuple().exponent
        decimals = max(0, -exponent) if isinstance(exponent, int) else 0
        return cls(cleaned, float(cleaned), decimals)

    @property
    def half_unit(self) -> float:
        """Half of the last printed digit: 0.005 for ``"8.38"``."""
        return 0.5 * 10.0**-self.decimals

    @property
    def low(self) -> float:
        return self.value - self.half_unit

    @property
    def high(self) -> float:
        return self.value + self.half_unit


@dataclass(frozen=True)
class PrintedP:
    """A printed p: ``relation`` is ``=``, ``<`` or ``>`` and ``number`` the printed bound."""

    text: str
    relation: Literal["=", "<", ">"]
    number: Printed

    @classmethod
    def of(cls, text: str, field: str = "p") -> PrintedP:
        """Read ``"0.04"``, ``"=.04"``, ``"<0.05"``, ``"p > .05"``."""
        cleaned = text.strip()
        match = _P_TEXT.fullmatch(cleaned)
        number: Printed | None = None
        if match is not None:
            try:
                number = Printed.of(match.group(2), field)
            except ClinicalValueError:
                number = None
        if match is None or number is None or number.value < 0:
            raise ClinicalValueError(
                field,
                f'{text!r} is neither a number nor a bound such as "<0.05" or ">0.05"',
                message_zh=f'{text!r} 既不是数字，也不是 "<0.05"、">0.05" 这样的界值',
            )
        if number.value > 1:
            raise ClinicalValueError(
                field,
                f"{text!r}: a p value lies between 0 and 1",
                message_zh=f"{text!r}：p 值应在 0 与 1 之间",
            )
        return cls(cleaned, _RELATIONS[match.group(1) or "="], number)


# --- the published cohort -----------------------------------------------------------------------


@dataclass(frozen=True)
class Citation:
    authors: tuple[str, ...]
    title: str
    journal: str
    year: int
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    doi: str | None = None
    title_zh: str | None = None
    short_form: str | None = None

    @property
    def short(self) -> str:
        """``Zhang et al. 2011`` (the file's ``short`` when it gives one)."""
        if self.short_form:
            return self.short_form
        first = self.authors[0] if self.authors else "?"
        return f"{first} et al. {self.year}" if len(self.authors) > 1 else f"{first} {self.year}"


@dataclass(frozen=True)
class Timepoint:
    key: str
    label_en: str
    label_zh: str

    def label(self, lang: str = "en") -> str:
        return self.label_zh if lang == "zh" else self.label_en


@dataclass(frozen=True)
class Baseline:
    """The cohort as printed: patients, men, women, age (years, printed text)."""

    n: int
    male: int | None = None
    female: int | None = None
    age_mean: Printed | None = None
    age_sd: Printed | None = None
    age_min: Printed | None = None
    age_max: Printed | None = None
    vertebrae_treated: int | None = None


@dataclass(frozen=True)
class Scale:
    """The range and grid of an outcome's values (each may be unknown)."""

    min: float | None = None
    max: float | None = None
    step: float | None = None


@dataclass(frozen=True)
class Cell:
    """One outcome at one time point: n, mean and SD as printed."""

    n: int
    mean: Printed
    sd: Printed


@dataclass(frozen=True)
class OutcomeData:
    name: str
    scale: Scale
    cells: dict[str, Cell]
    unit_of_analysis: str | None = None
    sections_answered: int | None = None
    note: str | None = None

    @property
    def percent_factor(self) -> float | None:
        """The factor turning a raw ODI into a percent (100 / (5 × answered)); else None."""
        if self.name != "odi_raw" or not self.sections_answered:
            return None
        return odi.raw_to_percent(1.0, self.sections_answered)  # the ODI rule, per point


@dataclass(frozen=True)
class ReportedTest:
    """A test the paper reports, as printed. ``index`` is its place in ``reported_tests``."""

    index: int
    outcome: str
    a: str
    b: str
    test: str
    t: Printed
    p: PrintedP
    df: float | None = None
    n: int | None = None


@dataclass(frozen=True)
class Complication:
    events: int
    of: int | None = None
    unit: str | None = None
    sites: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublishedCohort:
    """A published cohort, validated. ``source`` says where it came from."""

    key: str
    citation: Citation
    timepoints: tuple[Timepoint, ...]
    baseline: Baseline
    outcomes: dict[str, OutcomeData]
    tests: tuple[ReportedTest, ...]
    complications: dict[str, Complication]
    design: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    data: dict[str, Any] = field(default_factory=dict, repr=False)
    """The file's JSON object, as read (what the registry stores)."""

    @property
    def timepoint_keys(self) -> tuple[str, ...]:
        return tuple(point.key for point in self.timepoints)

    def timepoint(self, key: str) -> Timepoint | None:
        return next((point for point in self.timepoints if point.key == key), None)


# --- reading ------------------------------------------------------------------------------------

_TOP_FIELDS = (
    "format_version",
    "key",
    "citation",
    "design",
    "timepoints",
    "cohort",
    "outcomes",
    "reported_tests",
    "complications",
)
_CITATION_FIELDS = (
    "short",
    "authors",
    "title",
    "title_zh",
    "journal",
    "year",
    "volume",
    "issue",
    "pages",
    "doi",
    "pmid",
    "url",
)
_TIMEPOINT_FIELDS = ("key", "label_en", "label_zh")
_COHORT_FIELDS = ("n", "male", "female", "age_years", "vertebrae_treated")
_AGE_FIELDS = ("mean", "sd", "min", "max")
_OUTCOME_FIELDS = ("unit_of_analysis", "scale", "sections_answered", "note")
_SCALE_FIELDS = ("min", "max", "step", "unit", "note")
_CELL_FIELDS = ("n", "mean", "sd")
_TEST_FIELDS = ("outcome", "a", "b", "test", "t", "df", "n", "p", "note")
_COMPLICATION_FIELDS = ("events", "of", "unit", "sites", "note")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _shown(value: object) -> str:
    if isinstance(value, str):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


class _Reader:
    """Reads the file's JSON, collecting every problem with its location."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[ClinicalValueError] = []

    def problem(self, path: str, message: str, message_zh: str) -> None:
        where = f"{self.source}:{path}" if self.source and path else self.source or path
        self.problems.append(ClinicalValueError(where, message, message_zh=message_zh))

    def relocate(self, path: str, error: ClinicalValueError) -> None:
        self.problem(path, error.message, error.message_zh or error.message)

    def missing(self, path: str, what: str = "", what_zh: str = "") -> None:
        hint = f" ({what})" if what else ""
        hint_zh = f"（{what_zh}）" if what_zh else ""
        self.problem(path, f"is required{hint}", f"缺少必填项{hint_zh}")

    def mapping(self, value: object, path: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.problem(
            path, f"{_shown(value)} is not an object {{…}}", f"{_shown(value)} 不是对象 {{…}}"
        )
        return None

    def fields(self, data: Mapping[str, Any], allowed: Sequence[str], path: str) -> None:
        for key in data:
            if key not in allowed:
                self.problem(
                    _join(path, key),
                    f"unknown field; use {', '.join(allowed)}",
                    f"未知字段；可用 {', '.join(allowed)}",
                )

    def text(
        self, data: Mapping[str, Any], key: str, path: str, *, required: bool = False
    ) -> str | None:
        where = _join(path, key)
        value = data.get(key)
        if value is None:
            if required:
                self.missing(where)
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(where, f"{_shown(value)} is not text", f"{_shown(value)} 不是文本")
            return None
        return value.strip()

    def integer(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        *,
        required: bool = False,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        where = _join(path, key)
        value = data.get(key)
        if value is None:
            if required:
                self.missing(where, "a whole number", "整数")
            return None
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
            number = int(value)
        if number is None:
            self.problem(
                where, f"{_shown(value)} is not a whole number", f"{_shown(value)} 不是整数"
            )
            return None
        if minimum is not None and number < minimum:
            self.problem(where, f"{number} is below {minimum}", f"{number} 小于 {minimum}")
            return None
        if maximum is not None and number > maximum:
            self.problem(where, f"{number} is above {maximum}", f"{number} 大于 {maximum}")
            return None
        return number

    def number(
        self, data: Mapping[str, Any], key: str, path: str, *, required: bool = False
    ) -> float | None:
        """A plain number (a scale limit or step): JSON number or numeric text."""
        where = _join(path, key)
        value = data.get(key)
        if value is None:
            if required:
                self.missing(where)
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value):
                return float(value)
        elif isinstance(value, str):
            try:
                return Printed.of(value, where).value
            except ClinicalValueError:
                pass
        self.problem(where, f"{_shown(value)} is not a number", f"{_shown(value)} 不是数字")
        return None

    def printed(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        *,
        required: bool = False,
        minimum: float | None = None,
        example: str = "8.38",
    ) -> Printed | None:
        where = _join(path, key)
        value = data.get(key)
        if value is None:
            if required:
                self.missing(
                    where,
                    f'the printed value as text, e.g. "{example}"',
                    f'以文本填写印刷值，如 "{example}"',
                )
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.problem(
                where,
                f'{_shown(value)}: write the printed value as text ("{value}") so its decimals '
                "are kept",
                f'{_shown(value)}：请以文本形式（"{value}"）填写印刷值，以保留小数位数',
            )
            return None
        if not isinstance(value, str):
            self.problem(
                where, f"{_shown(value)} is not a printed number", f"{_shown(value)} 不是印刷的数字"
            )
            return None
        try:
            printed = Printed.of(value, where)
        except ClinicalValueError as error:
            self.relocate(where, error)
            return None
        if minimum is not None and printed.value < minimum:
            self.problem(
                where, f"{printed.text} is below {minimum:g}", f"{printed.text} 小于 {minimum:g}"
            )
            return None
        return printed


def load_cohort(path: str | Path) -> PublishedCohort:
    """Read and validate a published-cohort file; every problem located in one error."""
    file = Path(path)
    source = str(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ClinicalValueError(source, "no such file", message_zh="找不到该文件") from None
    except IsADirectoryError:
        raise ClinicalValueError(
            source, "is a folder, not a cohort file", message_zh="是文件夹，不是队列文件"
        ) from None
    except UnicodeDecodeError:
        raise ClinicalValueError(
            source, "the file is not UTF-8 text", message_zh="文件不是 UTF-8 文本"
        ) from None
    except OSError as error:
        raise ClinicalValueError(
            source,
            f"cannot read the file ({error.strerror})",
            message_zh=f"无法读取文件（{error.strerror}）",
        ) from None
    return parse_cohort_text(text, source)


def parse_cohort_text(text: str, source: str) -> PublishedCohort:
    """Parse the JSON ``text`` of a cohort file; ``source`` names it in errors."""
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                duplicates.append(key)
            result[key] = value
        return result

    try:
        data = json.loads(text.lstrip("\ufeff"), object_pairs_hook=pairs)
    except json.JSONDecodeError as error:
        detail = f"line {error.lineno}, column {error.colno}: {error.msg}"
        raise ClinicalValueError(
            source, f"not valid JSON: {detail}", message_zh=f"不是有效的 JSON：{detail}"
        ) from None
    if duplicates:
        raise ClinicalValueErrors(
            [
                ClinicalValueError(
                    source,
                    f"the key {key!r} appears twice in one object (the second would win silently)",
                    message_zh=f"同一对象中键 {key!r} 出现两次",
                )
                for key in dict.fromkeys(duplicates)
            ]
        )
    return parse_cohort(data, source=source)


def parse_cohort(data: object, *, source: str = "") -> PublishedCohort:
    """Validate a cohort already read from JSON; raise every problem at once."""
    reader = _Reader(source)
    top = reader.mapping(data, "")
    if top is None:
        ClinicalValueErrors.raise_if_any(reader.problems)
        raise AssertionError("unreachable")  # pragma: no cover
    reader.fields(top, _TOP_FIELDS, "")
    version = top.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        reader.problem(
            "format_version",
            f"{_shown(version)}: this kyphos reads format_version {FORMAT_VERSION}",
            f"{_shown(version)}：本版本 kyphos 只读取 format_version {FORMAT_VERSION}",
        )
    key = _read_key(reader, top)
    citation = _read_citation(reader, top.get("citation"))
    design = top.get("design", {})
    if not isinstance(design, dict):
        reader.mapping(design, "design")
        design = {}
    timepoints = _read_timepoints(reader, top.get("timepoints"))
    known_points = {point.key for point in timepoints}
    baseline = _read_baseline(reader, top.get("cohort"))
    outcomes = _read_outcomes(reader, top.get("outcomes"), known_points)
    tests = _read_tests(reader, top.get("reported_tests", []), outcomes, known_points)
    complications = _read_complications(reader, top.get("complications", {}))
    ClinicalValueErrors.raise_if_any(reader.problems)
    if key is None or citation is None or baseline is None:  # pragma: no cover - reported above
        raise ClinicalValueError(source, "incomplete cohort file")
    return PublishedCohort(
        key=key,
        citation=citation,
        timepoints=timepoints,
        baseline=baseline,
        outcomes=outcomes,
        tests=tests,
        complications=complications,
        design=dict(design),
        source=source,
        data=dict(top),
    )


def _read_key(reader: _Reader, top: Mapping[str, Any]) -> str | None:
    key = reader.text(top, "key", "", required=True)
    if key is None:
        return None
    if len(key) > MAX_KEY_CHARS or not KEY_PATTERN.fullmatch(key):
        reader.problem(
            "key",
            f"{key!r}: use 1–{MAX_KEY_CHARS} lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. smith-2019)",
            f"{key!r}：请用 1–{MAX_KEY_CHARS} 个小写字母、数字、'.'、'_' 或 '-'，"
            "以字母或数字开头（如 smith-2019）",
        )
        return None
    return key


def _read_citation(reader: _Reader, value: object) -> Citation | None:
    path = "citation"
    if value is None:
        reader.missing(path, "authors, title, journal, year, doi", "作者、题目、期刊、年份、DOI")
        return None
    data = reader.mapping(value, path)
    if data is None:
        return None
    reader.fields(data, _CITATION_FIELDS, path)
    authors_value = data.get("authors")
    authors: tuple[str, ...] = ()
    if authors_value is None:
        reader.missing(_join(path, "authors"), "a list of names", "作者名单")
    elif (
        not isinstance(authors_value, list)
        or not authors_value
        or not all(isinstance(name, str) and name.strip() for name in authors_value)
    ):
        reader.problem(
            _join(path, "authors"),
            f"{_shown(authors_value)} is not a list of names",
            f"{_shown(authors_value)} 不是作者名单",
        )
    else:
        authors = tuple(name.strip() for name in authors_value)
    title = reader.text(data, "title", path, required=True)
    journal = reader.text(data, "journal", path, required=True)
    year = reader.integer(data, "year", path, required=True, minimum=1800, maximum=2200)
    doi = reader.text(data, "doi", path)
    if doi is not None:
        doi = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:\s*)", "", doi, flags=re.IGNORECASE)
        if not DOI_PATTERN.fullmatch(doi):
            reader.problem(
                _join(path, "doi"),
                f"{doi!r} is not a DOI (10.<registrant>/<suffix>)",
                f"{doi!r} 不是 DOI（10.<注册号>/<后缀>）",
            )
            doi = None
    texts = {
        name: _text_or_number(reader, data, name, path) for name in ("volume", "issue", "pages")
    }
    title_zh = reader.text(data, "title_zh", path)
    short = reader.text(data, "short", path)
    for name in ("pmid", "url"):
        _text_or_number(reader, data, name, path)
    if not authors or title is None or journal is None or year is None:
        return None
    return Citation(
        authors=authors,
        title=title,
        journal=journal,
        year=year,
        volume=texts["volume"],
        issue=texts["issue"],
        pages=texts["pages"],
        doi=doi,
        title_zh=title_zh,
        short_form=short,
    )


def _text_or_number(reader: _Reader, data: Mapping[str, Any], key: str, path: str) -> str | None:
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return reader.text(data, key, path)


def _read_timepoints(reader: _Reader, value: object) -> tuple[Timepoint, ...]:
    path = "timepoints"
    if value is None:
        reader.missing(
            path, 'a list such as [{"key": "preop"}, {"key": "final"}]', '如 [{"key": "preop"}]'
        )
        return ()
    if not isinstance(value, list) or not value:
        reader.problem(
            path, f"{_shown(value)} is not a list of time points", f"{_shown(value)} 不是时间点列表"
        )
        return ()
    points: list[Timepoint] = []
    for index, entry in enumerate(value):
        where = _join(path, index)
        data = reader.mapping(entry, where)
        if data is None:
            continue
        reader.fields(data, _TIMEPOINT_FIELDS, where)
        raw = reader.text(data, "key", where, required=True)
        if raw is None:
            continue
        try:
            default = parse_key(raw)
        except ClinicalValueErrors as errors:  # pragma: no cover - parse_key raises one
            reader.relocate(_join(where, "key"), errors.problems[0])
            continue
        except ClinicalValueError as error:
            reader.relocate(_join(where, "key"), error)
            continue
        if any(point.key == default.key for point in points):
            reader.problem(
                _join(where, "key"),
                f"{default.key!r} is listed twice",
                f"{default.key!r} 重复出现",
            )
            continue
        label_en = reader.text(data, "label_en", where) or default.label_en
        label_zh = reader.text(data, "label_zh", where) or default.label_zh
        points.append(Timepoint(default.key, label_en, label_zh))
    return tuple(points)


def _read_baseline(reader: _Reader, value: object) -> Baseline | None:
    path = "cohort"
    if value is None:
        reader.missing(
            path, '{"n": …, "male": …, "female": …, "age_years": {…}}', "患者数、性别、年龄"
        )
        return None
    data = reader.mapping(value, path)
    if data is None:
        return None
    reader.fields(data, _COHORT_FIELDS, path)
    n = reader.integer(data, "n", path, required=True, minimum=1)
    male = reader.integer(data, "male", path, minimum=0)
    female = reader.integer(data, "female", path, minimum=0)
    vertebrae = reader.integer(data, "vertebrae_treated", path, minimum=1)
    if n is not None and male is not None and female is not None and male + female > n:
        reader.problem(
            _join(path, "female"),
            f"{male} men + {female} women is more than the {n} patients",
            f"男 {male} + 女 {female} 多于患者总数 {n}",
        )
    age: dict[str, Printed | None] = dict.fromkeys(_AGE_FIELDS)
    age_value = data.get("age_years")
    if age_value is not None:
        where = _join(path, "age_years")
        age_data = reader.mapping(age_value, where)
        if age_data is not None:
            reader.fields(age_data, _AGE_FIELDS, where)
            for name in _AGE_FIELDS:
                age[name] = reader.printed(age_data, name, where, minimum=0, example="67.5")
            low, mean, high = age["min"], age["mean"], age["max"]
            if low is not None and high is not None and low.value > high.value:
                reader.problem(
                    _join(where, "min"),
                    f"{low.text} is above the maximum {high.text}",
                    f"{low.text} 大于最大值 {high.text}",
                )
            elif mean is not None and (
                (low is not None and mean.value < low.value)
                or (high is not None and mean.value > high.value)
            ):
                reader.problem(
                    _join(where, "mean"),
                    f"{mean.text} is outside the printed range",
                    f"{mean.text} 超出印刷的年龄范围",
                )
    if n is None:
        return None
    return Baseline(
        n=n,
        male=male,
        female=female,
        age_mean=age["mean"],
        age_sd=age["sd"],
        age_min=age["min"],
        age_max=age["max"],
        vertebrae_treated=vertebrae,
    )


def _read_outcomes(
    reader: _Reader, value: object, known_points: set[str]
) -> dict[str, OutcomeData]:
    path = "outcomes"
    if value is None:
        reader.missing(
            path, '{"vas": {"preop": {"n": …, "mean": "…", "sd": "…"}}, …}', "各结局指标"
        )
        return {}
    data = reader.mapping(value, path)
    if data is None:
        return {}
    if not data:
        reader.problem(path, "lists no outcome", "没有任何结局指标")
    outcomes: dict[str, OutcomeData] = {}
    for name, entry in data.items():
        where = _join(path, name)
        kind = OUTCOME_KINDS.get(name)
        if kind is None:
            reader.problem(
                where,
                f"{name!r} is not an outcome kyphos knows; use {', '.join(OUTCOME_KINDS)}",
                f"{name!r} 不是 kyphos 的结局指标；可用 {', '.join(OUTCOME_KINDS)}",
            )
            continue
        outcome_data = reader.mapping(entry, where)
        if outcome_data is None:
            continue
        read = _read_outcome(reader, kind, outcome_data, where, known_points)
        if read is not None:
            outcomes[name] = read
    return outcomes


def _read_outcome(
    reader: _Reader,
    kind: OutcomeKind,
    data: Mapping[str, Any],
    path: str,
    known_points: set[str],
) -> OutcomeData | None:
    unit = reader.text(data, "unit_of_analysis", path)
    if unit is not None and unit not in UNITS_OF_ANALYSIS:
        reader.problem(
            _join(path, "unit_of_analysis"),
            f"{unit!r}: use patient or vertebra (put other words in note)",
            f"{unit!r}：请用 patient 或 vertebra（其他说明写入 note）",
        )
        unit = None
    note = reader.text(data, "note", path)
    sections: int | None = None
    high = kind.high
    if kind.name == "odi_raw":
        sections = reader.integer(
            data,
            "sections_answered",
            path,
            required=True,
            minimum=1,
            maximum=ODI_SECTIONS,
        )
        if sections is None:
            return None
        high = float(ODI_POINTS_PER_SECTION * sections)
    elif "sections_answered" in data:
        reader.problem(
            _join(path, "sections_answered"),
            "only odi_raw says how many ODI sections were answered",
            "只有 odi_raw 需要填写已回答的 ODI 条目数",
        )
    scale = _read_scale(reader, kind, data.get("scale"), _join(path, "scale"), high)
    cells: dict[str, Cell] = {}
    for key, value in data.items():
        if key in _OUTCOME_FIELDS:
            continue
        where = _join(path, key)
        if key not in known_points:
            shown = ", ".join(sorted(known_points)) or "none"
            reader.problem(
                where,
                f"{key!r} is not one of this file's time points ({shown}) nor an outcome field "
                f"({', '.join(_OUTCOME_FIELDS)})",
                f"{key!r} 既不是本文件的时间点（{shown}），也不是结局字段",
            )
            continue
        cell = _read_cell(reader, value, where, scale)
        if cell is not None:
            cells[key] = cell
    if not cells and not any(key not in _OUTCOME_FIELDS for key in data):
        reader.problem(path, "gives no time point", "没有任何时间点的数据")
    return OutcomeData(
        name=kind.name,
        scale=scale,
        cells=cells,
        unit_of_analysis=unit,
        sections_answered=sections,
        note=note,
    )


def _read_scale(
    reader: _Reader, kind: OutcomeKind, value: object, path: str, high: float | None
) -> Scale:
    default = Scale(kind.low, high, kind.step)
    if value is None:
        return default
    data = reader.mapping(value, path)
    if data is None:
        return default
    reader.fields(data, _SCALE_FIELDS, path)
    low_given = reader.number(data, "min", path)
    high_given = reader.number(data, "max", path)
    step = reader.number(data, "step", path)
    if step is not None and step <= 0:
        reader.problem(_join(path, "step"), f"{step:g} is not above 0", f"{step:g} 不大于 0")
        step = None
    low = default.min if low_given is None else low_given
    top = default.max if high_given is None else high_given
    limits = f"{_limit(kind.low)}–{_limit(high)} {kind.unit}"
    if low_given is not None and kind.low is not None and low_given < kind.low:
        reader.problem(
            _join(path, "min"),
            f"{low_given:g} is below {kind.name}'s range ({limits})",
            f"{low_given:g} 低于 {kind.name} 的范围（{limits}）",
        )
    if high_given is not None and high is not None and high_given > high:
        hint = "; give a 100 mm VAS in cm (÷ 10)" if kind.name == "vas" else ""
        hint_zh = "；100 mm VAS 请换算为厘米（÷10）" if kind.name == "vas" else ""
        reader.problem(
            _join(path, "max"),
            f"{high_given:g} is above {kind.name}'s range ({limits}){hint}",
            f"{high_given:g} 高于 {kind.name} 的范围（{limits}）{hint_zh}",
        )
    if low is not None and top is not None and low >= top:
        reader.problem(
            path, f"min {low:g} is not below max {top:g}", f"最小值 {low:g} 不小于最大值 {top:g}"
        )
    return Scale(low, top, step if step is not None else default.step)


def _limit(value: float | None) -> str:
    return "…" if value is None else f"{value:g}"


def _read_cell(reader: _Reader, value: object, path: str, scale: Scale) -> Cell | None:
    data = reader.mapping(value, path)
    if data is None:
        return None
    reader.fields(data, _CELL_FIELDS, path)
    n = reader.integer(data, "n", path, required=True, minimum=1)
    mean = reader.printed(data, "mean", path, required=True)
    sd = reader.printed(data, "sd", path, required=True, minimum=0, example="0.60")
    if mean is not None and (
        (scale.min is not None and mean.value < scale.min)
        or (scale.max is not None and mean.value > scale.max)
    ):
        shown = f"{_limit(scale.min)}–{_limit(scale.max)}"
        reader.problem(
            _join(path, "mean"),
            f"{mean.text} is outside the scale {shown}",
            f"{mean.text} 超出量表范围 {shown}",
        )
        mean = None
    if n is None or mean is None or sd is None:
        return None
    return Cell(n, mean, sd)


def _read_tests(
    reader: _Reader,
    value: object,
    outcomes: Mapping[str, OutcomeData],
    known_points: set[str],
) -> tuple[ReportedTest, ...]:
    path = "reported_tests"
    if not isinstance(value, list):
        reader.problem(
            path, f"{_shown(value)} is not a list of tests", f"{_shown(value)} 不是检验列表"
        )
        return ()
    tests: list[ReportedTest] = []
    for index, entry in enumerate(value):
        where = _join(path, index)
        data = reader.mapping(entry, where)
        if data is None:
            continue
        reader.fields(data, _TEST_FIELDS, where)
        before = len(reader.problems)
        outcome = reader.text(data, "outcome", where, required=True)
        if outcome is not None and outcome not in outcomes:
            in_file = ", ".join(outcomes) or "none"
            reader.problem(
                _join(where, "outcome"),
                f"{outcome!r} is not an outcome of this file ({in_file})",
                f"{outcome!r} 不是本文件的结局指标（{in_file}）",
            )
        points: dict[str, str | None] = {}
        for side in ("a", "b"):
            point = reader.text(data, side, where, required=True)
            if point is not None and point not in known_points:
                shown = ", ".join(sorted(known_points)) or "none"
                reader.problem(
                    _join(where, side),
                    f"{point!r} is not one of this file's time points ({shown})",
                    f"{point!r} 不是本文件的时间点（{shown}）",
                )
            points[side] = point
        if points["a"] is not None and points["a"] == points["b"]:
            reader.problem(_join(where, "b"), "compares a time point with itself", "与自身比较")
        test = reader.text(data, "test", where, required=True)
        if test is not None and test not in TESTS:
            reader.problem(
                _join(where, "test"),
                f"{test!r}: kyphos reads {', '.join(TESTS)} tests",
                f"{test!r}：kyphos 只读取 {', '.join(TESTS)} 检验",
            )
        t = reader.printed(data, "t", where, required=True, example="2.86")
        df = reader.number(data, "df", where)
        if df is not None and df <= 0:
            reader.problem(_join(where, "df"), f"{df:g} is not above 0", f"{df:g} 不大于 0")
        n = reader.integer(data, "n", where, minimum=2)
        p_value = data.get("p")
        p: PrintedP | None = None
        if p_value is None:
            reader.missing(
                _join(where, "p"),
                'as printed, e.g. "0.04" or "<0.05"',
                '按印刷填写，如 "0.04" 或 "<0.05"',
            )
        elif not isinstance(p_value, str):
            reader.problem(
                _join(where, "p"),
                f'{_shown(p_value)}: write p as printed text, e.g. "0.04" or "<0.05"',
                f'{_shown(p_value)}：请以印刷文本填写 p，如 "0.04" 或 "<0.05"',
            )
        else:
            try:
                p = PrintedP.of(p_value, _join(where, "p"))
            except ClinicalValueError as error:
                reader.relocate(_join(where, "p"), error)
        reader.text(data, "note", where)
        if len(reader.problems) > before:
            continue
        if outcome is None or t is None or p is None or test is None:  # pragma: no cover
            continue
        tests.append(
            ReportedTest(
                index=index,
                outcome=outcome,
                a=str(points["a"]),
                b=str(points["b"]),
                test=test,
                t=t,
                p=p,
                df=df,
                n=n,
            )
        )
    return tuple(tests)


def _read_complications(reader: _Reader, value: object) -> dict[str, Complication]:
    path = "complications"
    data = reader.mapping(value, path)
    if data is None:
        return {}
    found: dict[str, Complication] = {}
    for name, entry in data.items():
        where = _join(path, name)
        if not NAME_PATTERN.fullmatch(name):
            reader.problem(
                where,
                "name it in snake_case (e.g. cement_leakage)",
                "请用 snake_case 命名（如 cement_leakage）",
            )
            continue
        item = reader.mapping(entry, where)
        if item is None:
            continue
        reader.fields(item, _COMPLICATION_FIELDS, where)
        events = reader.integer(item, "events", where, required=True, minimum=0)
        of = reader.integer(item, "of", where, minimum=1)
        unit = reader.text(item, "unit", where)
        if unit is not None and unit not in UNITS_OF_ANALYSIS:
            reader.problem(
                _join(where, "unit"),
                f"{unit!r}: use patient or vertebra",
                f"{unit!r}：请用 patient 或 vertebra",
            )
        if events is not None and of is not None and events > of:
            reader.problem(
                _join(where, "events"), f"{events} is more than {of}", f"{events} 多于 {of}"
            )
        sites = item.get("sites", [])
        if not isinstance(sites, list) or not all(isinstance(site, str) for site in sites):
            reader.problem(
                _join(where, "sites"),
                f"{_shown(sites)} is not a list of names",
                f"{_shown(sites)} 不是名称列表",
            )
            sites = []
        reader.text(item, "note", where)
        if events is not None:
            found[name] = Complication(events, of, unit, tuple(sites))
    return found


# --- installed cohorts --------------------------------------------------------------------------


def builtin_cohorts() -> list[PublishedCohort]:
    """The cohorts shipped with kyphos (the reference study)."""
    folder = resources.files("kyphos.analysis") / "data"
    cohorts = []
    for name in BUILTIN_FILES:
        text = (folder / name).read_text(encoding="utf-8")
        cohort = parse_cohort_text(text, f"{BUILTIN_SOURCE}:{name}")
        cohorts.append(_with_source(cohort, BUILTIN_SOURCE))
    return cohorts


def _with_source(cohort: PublishedCohort, source: str) -> PublishedCohort:
    return replace(cohort, source=source)


def installed_cohorts(registry: Registry | None) -> list[PublishedCohort]:
    """The built-in cohorts, then those stored in ``registry`` (by key)."""
    cohorts = builtin_cohorts()
    if registry is None:
        return cohorts
    from kyphos.registry import evidence_store

    for stored in evidence_store.get_all(registry):
        cohort = parse_cohort_text(stored.content, f"{REGISTRY_SOURCE}:{stored.key}")
        cohorts.append(_with_source(cohort, REGISTRY_SOURCE))
    return cohorts


@dataclass(frozen=True)
class StoredResult:
    """What :func:`add_cohort` did: ``created``, ``replaced`` or ``unchanged``."""

    cohort: PublishedCohort
    outcome: Literal["created", "replaced", "unchanged"]


def add_cohort(registry: Registry, path: str | Path) -> StoredResult:
    """Validate the file at ``path`` and store it in the registry (audited).

    Re-adding a key replaces the stored cohort; a built-in cohort's key is refused.
    """
    from kyphos.registry import evidence_store

    cohort = load_cohort(path)
    if cohort.key in {builtin.key for builtin in builtin_cohorts()}:
        raise KyphosError(
            f"{path}:key: {cohort.key!r} is the key of a built-in cohort; choose another key"
        )
    content = json.dumps(cohort.data, ensure_ascii=False, indent=2) + "\n"
    outcome = evidence_store.add(
        registry,
        key=cohort.key,
        citation=cohort.citation.short,
        content=content,
        source_name=Path(path).name,
    )
    return StoredResult(_with_source(cohort, REGISTRY_SOURCE), outcome)
