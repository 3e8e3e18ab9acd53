"""Visit protocol: time points, their windows, and the follow-up worklist.

Rules (CLINICAL.md §10; keys as in DATA.md, visits sheet; the default protocol is
the reference study's, Zhang et al., Zhongguo Gu Shang 2011;24:570–3,
doi:10.3969/j.issn.1003-0034.2011.07.010, whose time points are "preoperative",
"postoperative 1 week" and "final follow-up"):

* Days count from the index procedure (day 0): ``day = visit date − index date``.
* ``preop``: window day −30 to 0.
* ``postop``: target day 7, window day 1–14 (the reference study's "1 week").
* ``d<N>``: target day N; ``w<N>``: day 7N; ``m<N>``: day round(30.4375 · N),
  30.4375 = 365.25 / 12 days in a mean month; N is a whole number from 1.
* ``d``/``w``/``m`` windows: target ± max(7, round(0.15 × target)) days.
  Every rounding here is half up (m6: 182.625 → 183; d90: 13.5 → 14).
* ``final``: the visit explicitly keyed ``final``, which wins; or else the last
  visit at or after day 180 (6 months).
* Worklist: a time point is *upcoming* from 14 days before its window opens,
  *due* inside its window, *overdue* after it closes without a visit. ``final``
  is due from day 180 and overdue from day 365 without a visit on or after day
  180. Exactly, with ``day`` = today − index date::

      not_yet   day <  start − 14
      upcoming  start − 14 ≤ day < start
      due       start ≤ day ≤ end            (final: 180 ≤ day < 365)
      overdue   day >  end                   (final: day ≥ 365)

kyphos decisions (not in the rules above; said here so nobody has to guess):

* Windows of postoperative time points never open before day 1, because day 0
  is the procedure and belongs to ``preop`` (DATA.md: a postoperative visit is
  not before the procedure). So ``d3`` is day 1–10, not −4–10, and ``w1``'s
  window (1–14) is the same as ``postop``'s.
* ``preop`` has target day 0 (the baseline is as close to surgery as possible);
  it sorts first. ``final`` has no target day and sorts last.
* When windows overlap, a visit belongs to the time point with the nearest
  target day; on a tie, the earlier one. A scheduled time point whose window
  holds the day wins over ``final``.
* Keys are read case- and space-insensitively, full-width characters too
  (``"M 12"``, ``"Ｍ１２"`` → ``m12``); leading zeros are dropped (``m03`` →
  ``m3``). Targets beyond ten years (day 3653, = m120) are refused as
  implausible.
* Two time points of one protocol may not share a target day (``m1`` and
  ``d30`` are both day 30; ``postop`` and ``w1`` both day 7).

Protocol files (YAML or JSON, :func:`load_protocol`)::

    timepoints:
      - key: preop
      - {key: m3, label_en: "3 months", label_zh: "术后3个月", window: [80, 100]}
      - final
    final_start_day: 180      # optional
    final_overdue_day: 365    # optional

Labels and windows are optional and default from :func:`parse_key`; a bare key
stands for ``{key: …}``. ``final`` takes no window: its start and overdue days
are ``final_start_day`` and ``final_overdue_day``. Every problem is reported at
once with its place in the file, counting entries from 0
(``timepoints[2].window: …``).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import yaml

from kyphos.clinical.errors import ClinicalValueError, ClinicalValueErrors
from kyphos.clinical.numbers import parse_integer

__all__ = [
    "DAYS_PER_MONTH",
    "DEFAULT_PROTOCOL",
    "DONE",
    "DUE",
    "FINAL_OVERDUE_DAY",
    "FINAL_START_DAY",
    "FIRST_POSTOPERATIVE_DAY",
    "MAX_TARGET_DAY",
    "MIN_HALF_WINDOW_DAYS",
    "NOT_YET",
    "OVERDUE",
    "POSTOP_TARGET_DAY",
    "POSTOP_WINDOW",
    "PREOP_TARGET_DAY",
    "PREOP_WINDOW",
    "UPCOMING",
    "UPCOMING_LEAD_DAYS",
    "WINDOW_FRACTION",
    "WORKLIST_STATES",
    "Protocol",
    "TimePoint",
    "classify",
    "classify_day",
    "day_offset",
    "load_protocol",
    "normalise_key",
    "parse_key",
    "select_final",
    "select_final_visit",
    "worklist_state",
]

# --- the rules as named constants (CLINICAL.md §10) -------------------------------------------

DAYS_PER_MONTH = Decimal("30.4375")  # 365.25 / 12
WINDOW_FRACTION = Decimal("0.15")
MIN_HALF_WINDOW_DAYS = 7
PREOP_TARGET_DAY = 0
PREOP_WINDOW = (-30, 0)
POSTOP_TARGET_DAY = 7
POSTOP_WINDOW = (1, 14)
FIRST_POSTOPERATIVE_DAY = 1
FINAL_START_DAY = 180
FINAL_OVERDUE_DAY = 365
UPCOMING_LEAD_DAYS = 14
MAX_TARGET_DAY = 3653  # ten years: m120 = round(30.4375 × 120) = 3653

NOT_YET = "not_yet"
UPCOMING = "upcoming"
DUE = "due"
OVERDUE = "overdue"
DONE = "done"
WORKLIST_STATES = (NOT_YET, UPCOMING, DUE, OVERDUE, DONE)

PREOP = "preop"
POSTOP = "postop"
FINAL = "final"

_COUNTED_KEY = re.compile(r"([dwm])([0-9]{1,6})")
_ACCEPTED_FORMS = (
    "use preop, postop, final, d<N> (day N), w<N> (week N) or m<N> (month N) "
    "with N a whole number from 1, e.g. d3, w6, m12"
)
_ACCEPTED_FORMS_ZH = (
    "可用 preop（术前）、postop（术后1周）、final（末次随访）、d<N>（术后第N天）、"
    "w<N>（术后N周）或 m<N>（术后N个月），N为从1起的整数，如 d3、w6、m12"
)
_ENTRY_PLACE = re.compile(r"timepoints\[([0-9]+)\]")
_ENTRY_FIELDS = ("key", "label_en", "label_zh", "target_day", "window")
_FILE_FIELDS = ("timepoints", "final_start_day", "final_overdue_day")


# --- time points --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimePoint:
    """One time point of a protocol: key, labels, target day and window (days from day 0).

    ``final`` has no target day (``None``), a window opening on day 180 by default
    and no end (``window_end`` ``None``). Built by :func:`parse_key`; a window
    other than the default comes from a protocol file.
    """

    key: str
    label_en: str
    label_zh: str
    target_day: int | None
    window_start: int
    window_end: int | None

    def __post_init__(self) -> None:
        problems = _timepoint_problems(self)
        ClinicalValueErrors.raise_if_any(problems)

    @property
    def is_final(self) -> bool:
        return self.key == FINAL

    def label(self, lang: str = "en") -> str:
        """The English or Chinese label."""
        return self.label_zh if lang == "zh" else self.label_en

    def contains(self, day: int) -> bool:
        """Whether ``day`` falls inside the window (both ends included; final: open end)."""
        if day < self.window_start:
            return False
        return self.window_end is None or day <= self.window_end


def normalise_key(key: str) -> str:
    """``key`` as written in kyphos: NFKC, no whitespace, lower case (``" M 12"`` → ``m12``).

    Does not check the key; :func:`parse_key` does.
    """
    folded = unicodedata.normalize("NFKC", key)
    return "".join(folded.split()).lower()


def parse_key(key: str) -> TimePoint:
    """The time point a key names, with default labels, target day and window.

    >>> parse_key("M12")
    TimePoint(key='m12', label_en='Month 12', label_zh='术后12个月', target_day=365, \
window_start=310, window_end=420)
    """
    kind, count = _read_key(key)
    return _default_timepoint(kind, count)


def _read_key(key: object) -> tuple[str, int]:
    """(kind, N) for a key: kind is preop/postop/final (N = 0) or d/w/m (N ≥ 1)."""
    text = normalise_key(key) if isinstance(key, str) else None
    if text in (PREOP, POSTOP, FINAL):
        return text, 0
    match = _COUNTED_KEY.fullmatch(text) if text is not None else None
    if match is None or int(match.group(2)) < 1:
        shown = repr(key.strip()) if isinstance(key, str) else repr(key)
        raise ClinicalValueError(
            "timepoint",
            f"{shown} is not a time point; {_ACCEPTED_FORMS}",
            message_zh=f"{shown} 不是有效的时间点；{_ACCEPTED_FORMS_ZH}",
        )
    kind, count = match.group(1), int(match.group(2))
    target = _counted_target(kind, count)
    if target > MAX_TARGET_DAY:
        raise ClinicalValueError(
            "timepoint",
            f"{kind}{count} is day {target}, after ten years (day {MAX_TARGET_DAY}), "
            "the latest follow-up kyphos schedules",
            message_zh=f"{kind}{count} 为术后第{target}天，超过十年（第{MAX_TARGET_DAY}天），"
            "超出可安排的随访范围",
        )
    return kind, count


def _round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _counted_target(kind: str, count: int) -> int:
    if kind == "d":
        return count
    if kind == "w":
        return 7 * count
    return _round_half_up(DAYS_PER_MONTH * count)


def _default_target(kind: str, count: int) -> int | None:
    if kind == FINAL:
        return None
    if kind == PREOP:
        return PREOP_TARGET_DAY
    if kind == POSTOP:
        return POSTOP_TARGET_DAY
    return _counted_target(kind, count)


def _half_window(target: int) -> int:
    return max(MIN_HALF_WINDOW_DAYS, _round_half_up(WINDOW_FRACTION * target))


def _default_timepoint(kind: str, count: int) -> TimePoint:
    if kind == PREOP:
        return TimePoint(PREOP, "Preoperative", "术前", PREOP_TARGET_DAY, *PREOP_WINDOW)
    if kind == POSTOP:
        return TimePoint(
            POSTOP, "Postoperative 1 week", "术后1周", POSTOP_TARGET_DAY, *POSTOP_WINDOW
        )
    if kind == FINAL:
        return TimePoint(FINAL, "Final follow-up", "末次随访", None, FINAL_START_DAY, None)
    labels = {
        "d": (f"Day {count}", f"术后第{count}天"),
        "w": (f"Week {count}", f"术后{count}周"),
        "m": (f"Month {count}", f"术后{count}个月"),
    }
    label_en, label_zh = labels[kind]
    target = _counted_target(kind, count)
    half = _half_window(target)
    start = max(FIRST_POSTOPERATIVE_DAY, target - half)
    return TimePoint(f"{kind}{count}", label_en, label_zh, target, start, target + half)


def _timepoint_problems(point: TimePoint) -> list[ClinicalValueError]:
    """Everything wrong with a time point, each as an error naming its field."""
    try:
        kind, count = _read_key(point.key)
    except ClinicalValueError as error:
        return [error]
    canonical = f"{kind}{count}" if count else kind
    if point.key != canonical:
        return [ClinicalValueError("timepoint", f"write {point.key!r} as {canonical!r}")]
    key = point.key
    problems: list[ClinicalValueError] = []
    for name in ("label_en", "label_zh"):
        value = getattr(point, name)
        if not isinstance(value, str) or not value.strip():
            problems.append(ClinicalValueError(f"{key}.{name}", "a label must be non-empty text"))
    expected = _default_target(kind, count)
    if point.target_day != expected or isinstance(point.target_day, bool):
        problems.append(
            ClinicalValueError(
                f"{key}.target_day",
                f"{point.target_day!r} is not the target of {key}: the key sets it ({expected})",
            )
        )
    problems.extend(
        ClinicalValueError(f"{key}.window", message, message_zh=message_zh)
        for message, message_zh in _window_problems(
            key, expected, point.window_start, point.window_end
        )
    )
    return problems


def _window_problems(
    key: str, target: int | None, start: object, end: object
) -> list[tuple[str, str]]:
    """(English, Chinese) messages for a window that cannot belong to ``key``."""
    if key == FINAL:
        if not _is_int(start) or end is not None:
            return [
                (
                    f"final opens on a whole day and stays open, not [{start!r}, {end!r}]",
                    "末次随访应从某一整数天开始且没有终点",
                )
            ]
        if not isinstance(start, int) or start < FIRST_POSTOPERATIVE_DAY:
            return [
                (
                    f"final starts on day {start}; it must start after the procedure (day 1+)",
                    f"末次随访起始于第{start}天；应在术后（第1天及以后）",
                )
            ]
        return []
    if not (_is_int(start) and _is_int(end)) or not (
        isinstance(start, int) and isinstance(end, int)
    ):
        return [(f"[{start!r}, {end!r}] is not a window of whole days", "时间窗应为整数天")]
    shown = f"[{start}, {end}]"
    if start > end:
        return [(f"{shown}: the window starts after it ends", f"{shown}：时间窗起点晚于终点")]
    if key == PREOP:
        if end > 0:
            return [
                (
                    f"{shown}: the preoperative window ends on day 0 (the procedure) or earlier",
                    f"{shown}：术前时间窗应在第0天（手术日）或之前结束",
                )
            ]
        return []
    problems: list[tuple[str, str]] = []
    if start < FIRST_POSTOPERATIVE_DAY:
        problems.append(
            (
                f"{shown}: a postoperative window opens on day 1 or later "
                "(day 0 is the procedure, which belongs to preop)",
                f"{shown}：术后时间窗应从第1天或之后开始（第0天为手术日，属于术前）",
            )
        )
    if target is not None and not start <= target <= end:
        problems.append(
            (
                f"{shown} does not include the target day of {key} ({target})",
                f"{shown} 不包含 {key} 的目标日（第{target}天）",
            )
        )
    return problems


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _order(point: TimePoint) -> float:
    return math.inf if point.target_day is None else point.target_day


# --- protocols ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Protocol:
    """The time points of a registry's study, in order: preop first, final last.

    Keys are unique, no two time points share a target day, and the final time
    point (if any) opens on ``final_start_day``; ``final`` is overdue from
    ``final_overdue_day`` without a visit on or after ``final_start_day``.
    """

    timepoints: tuple[TimePoint, ...]
    final_start_day: int = FINAL_START_DAY
    final_overdue_day: int = FINAL_OVERDUE_DAY

    def __post_init__(self) -> None:
        if not isinstance(self.timepoints, tuple):
            object.__setattr__(self, "timepoints", tuple(self.timepoints))
        problems: list[ClinicalValueError] = []
        problems.extend(_final_day_problems(self.final_start_day, self.final_overdue_day, None))
        placed: list[tuple[str, TimePoint]] = []
        for position, point in enumerate(self.timepoints):
            where = f"timepoints[{position}]"
            if not isinstance(point, TimePoint):
                problems.append(ClinicalValueError(where, f"{point!r} is not a TimePoint"))
            else:
                placed.append((where, point))
        if not self.timepoints:
            problems.append(ClinicalValueError("timepoints", "a protocol needs a time point"))
        problems.extend(_set_problems(placed, None))
        for where, point in placed:
            if point.is_final and point.window_start != self.final_start_day:
                problems.append(
                    ClinicalValueError(
                        f"{where}.window_start",
                        f"final opens on day {point.window_start} but final_start_day is "
                        f"{self.final_start_day}; make them the same",
                    )
                )
        if not problems:
            ordered = sorted(self.timepoints, key=_order)
            if list(self.timepoints) != ordered:
                expected = ", ".join(point.key for point in ordered)
                problems.append(
                    ClinicalValueError(
                        "timepoints",
                        f"time points must be in order of target day (preop first, final "
                        f"last): {expected}",
                    )
                )
        ClinicalValueErrors.raise_if_any(problems)

    @property
    def keys(self) -> tuple[str, ...]:
        """The time-point keys in protocol order."""
        return tuple(point.key for point in self.timepoints)

    @property
    def final(self) -> TimePoint | None:
        """The final time point, or None when the protocol has none."""
        return next((point for point in self.timepoints if point.is_final), None)

    def get(self, key: str) -> TimePoint | None:
        """The time point keyed ``key`` (any case and spacing), or None."""
        wanted = normalise_key(key)
        return next((point for point in self.timepoints if point.key == wanted), None)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def to_dict(self) -> dict[str, Any]:
        """The protocol as plain data; :meth:`from_dict` reads it back unchanged."""
        entries: list[dict[str, Any]] = []
        for point in self.timepoints:
            entry: dict[str, Any] = {
                "key": point.key,
                "label_en": point.label_en,
                "label_zh": point.label_zh,
                "target_day": point.target_day,
            }
            if not point.is_final:
                entry["window"] = [point.window_start, point.window_end]
            entries.append(entry)
        return {
            "timepoints": entries,
            "final_start_day": self.final_start_day,
            "final_overdue_day": self.final_overdue_day,
        }

    @classmethod
    def from_dict(cls, data: object, *, source: str | None = None) -> Protocol:
        """Read and validate a protocol; every problem is reported with its place.

        ``source`` (a file name) is put in front of each place
        (``protocol.yaml:timepoints[2].window``). Entries may come in any order;
        the protocol sorts them.
        """
        return _parse_protocol(data, source)


def load_protocol(path: str | Path) -> Protocol:
    """Read a protocol file: JSON when it ends in ``.json``, else YAML."""
    file = Path(path)
    is_json = file.suffix.lower() == ".json"
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ClinicalValueError(
            str(file), "no such protocol file", message_zh="找不到随访方案文件"
        ) from None
    except IsADirectoryError:
        raise ClinicalValueError(str(file), "is a folder, not a protocol file") from None
    except UnicodeDecodeError:
        raise ClinicalValueError(str(file), "the protocol file is not UTF-8 text") from None
    except OSError as error:
        raise ClinicalValueError(str(file), f"cannot read the file ({error.strerror})") from None
    try:
        data = json.loads(text) if is_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        kind = "JSON" if is_json else "YAML"
        detail = _syntax_error_detail(error)
        raise ClinicalValueError(
            str(file), f"not valid {kind}: {detail}", message_zh=f"不是有效的{kind}：{detail}"
        ) from None
    return _parse_protocol(data, str(file))


def _syntax_error_detail(error: Exception) -> str:
    """Where a YAML or JSON file breaks and why, on one line."""
    if isinstance(error, json.JSONDecodeError):
        return f"line {error.lineno}, column {error.colno}: {error.msg}"
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {error.problem}"
    return " ".join(str(error).split())


def _at(source: str | None, where: str) -> str:
    if source and where:
        return f"{source}:{where}"
    return source or where


def _final_day_problems(
    start: object, overdue: object, source: str | None
) -> list[ClinicalValueError]:
    problems: list[ClinicalValueError] = []
    for name, value in (("final_start_day", start), ("final_overdue_day", overdue)):
        if not _is_int(value):
            problems.append(ClinicalValueError(_at(source, name), f"{value!r} is not a whole day"))
    if problems or not (isinstance(start, int) and isinstance(overdue, int)):
        return problems
    if start < FIRST_POSTOPERATIVE_DAY:
        problems.append(
            ClinicalValueError(
                _at(source, "final_start_day"),
                f"{start}: final follow-up starts after the procedure (day 1 or later)",
            )
        )
    if overdue <= start:
        problems.append(
            ClinicalValueError(
                _at(source, "final_overdue_day"),
                f"{overdue}: final must become overdue after it opens (day {start})",
            )
        )
    return problems


def _set_problems(
    placed: Sequence[tuple[str, TimePoint]], source: str | None
) -> list[ClinicalValueError]:
    """Duplicate keys and shared target days, located at the later entry."""
    problems: list[ClinicalValueError] = []
    by_key: dict[str, str] = {}
    by_day: dict[int, tuple[str, str]] = {}
    for where, point in placed:
        if point.key in by_key:
            problems.append(
                ClinicalValueError(
                    _at(source, f"{where}.key"),
                    f"{point.key} is listed twice (also {by_key[point.key]}); keep one",
                    message_zh=f"{point.key} 重复出现（另见 {by_key[point.key]}）；请保留一个",
                )
            )
            continue
        by_key[point.key] = where
        if point.target_day is None:
            continue
        if point.target_day in by_day:
            other_key, other_where = by_day[point.target_day]
            problems.append(
                ClinicalValueError(
                    _at(source, f"{where}.key"),
                    f"{point.key} falls on day {point.target_day}, as {other_key} does "
                    f"({other_where}); keep one of them",
                    message_zh=f"{point.key} 与 {other_key}（{other_where}）同为第"
                    f"{point.target_day}天；请保留其一",
                )
            )
        else:
            by_day[point.target_day] = (point.key, where)
    return problems


def _parse_protocol(data: object, source: str | None) -> Protocol:
    problems: list[ClinicalValueError] = []

    def problem(where: str, message: str, message_zh: str | None = None) -> None:
        problems.append(ClinicalValueError(_at(source, where), message, message_zh=message_zh))

    if data is None:
        raise ClinicalValueError(
            _at(source, ""),
            "the protocol is empty; it needs a timepoints list, e.g. timepoints: [preop, "
            "postop, final]",
        )
    if not isinstance(data, Mapping):
        raise ClinicalValueError(
            _at(source, ""),
            "a protocol is a mapping with a timepoints list, e.g. timepoints: [preop, postop, "
            "final]",
        )
    for name in data:
        if name not in _FILE_FIELDS:
            problem(str(name), f"unknown field; a protocol holds {', '.join(_FILE_FIELDS)}")
    final_start = _read_day(data, "final_start_day", FINAL_START_DAY, problem)
    final_overdue = _read_day(data, "final_overdue_day", FINAL_OVERDUE_DAY, problem)
    if final_start is not None and final_overdue is not None:
        problems.extend(_final_day_problems(final_start, final_overdue, source))
    entries = data.get("timepoints")
    if not isinstance(entries, list) or not entries:
        problem(
            "timepoints",
            "needs a list of time points, e.g. [preop, postop, final]",
            "需要时间点列表，如 [preop, postop, final]",
        )
        entries = []
    keyed: list[tuple[str, TimePoint]] = []  # every entry whose key reads, for the set checks
    placed: list[tuple[str, TimePoint]] = []
    for position, entry in enumerate(entries):
        where = f"timepoints[{position}]"
        base, point = _parse_entry(entry, where, final_start or FINAL_START_DAY, problem)
        if base is not None:
            keyed.append((where, base))
        if point is not None:
            placed.append((where, point))
    problems.extend(_set_problems(keyed, source))
    ClinicalValueErrors.raise_if_any(sorted(problems, key=_file_order))
    ordered = tuple(sorted((point for _, point in placed), key=_order))
    return Protocol(
        ordered,
        FINAL_START_DAY if final_start is None else final_start,
        FINAL_OVERDUE_DAY if final_overdue is None else final_overdue,
    )


def _file_order(problem: ClinicalValueError) -> tuple[int, int]:
    """Top-level fields first, then time points in the order of the file."""
    found = _ENTRY_PLACE.search(problem.field)
    return (0, 0) if found is None else (1, int(found.group(1)))


def _read_day(
    data: Mapping[Any, Any],
    name: str,
    default: int,
    problem: Callable[[str, str], None],
) -> int | None:
    if name not in data:
        return default
    try:
        value = parse_integer(data[name], name)
    except ClinicalValueError as error:
        problem(name, error.message)
        return None
    if value is None or isinstance(data[name], str):
        problem(name, f"{data[name]!r} is not a whole day; write a number, e.g. {default}")
        return None
    return value


def _parse_entry(
    entry: object,
    where: str,
    final_start: int,
    problem: Callable[..., None],
) -> tuple[TimePoint | None, TimePoint | None]:
    """(the key's default time point, the entry's time point); None where unreadable."""
    if isinstance(entry, str):
        entry = {"key": entry}
    if not isinstance(entry, Mapping):
        problem(where, "must be a key or a mapping with key (and label_en, label_zh, window)")
        return None, None
    for name in entry:
        if name not in _ENTRY_FIELDS:
            problem(
                f"{where}.{name}",
                f"unknown field; a time point holds {', '.join(_ENTRY_FIELDS)}",
            )
    if "key" not in entry:
        problem(f"{where}.key", f"missing; {_ACCEPTED_FORMS}", f"缺失；{_ACCEPTED_FORMS_ZH}")
        return None, None
    try:
        base = parse_key(entry["key"])
    except ClinicalValueError as error:
        problem(f"{where}.key", error.message, error.message_zh)
        return None, None
    found = False

    def fail(field: str, message: str, message_zh: str | None = None) -> None:
        nonlocal found
        found = True
        problem(f"{where}.{field}", message, message_zh)

    labels = {"label_en": base.label_en, "label_zh": base.label_zh}
    for name in labels:
        if name in entry:
            value = entry[name]
            if not isinstance(value, str) or not value.strip():
                fail(name, f"{value!r}: a label must be non-empty text", "标签不能为空")
            else:
                labels[name] = value.strip()
    if "target_day" in entry and (
        entry["target_day"] != base.target_day or isinstance(entry["target_day"], bool)
    ):
        fail(
            "target_day",
            f"{entry['target_day']!r} is not the target day of {base.key} "
            f"({base.target_day}); the key sets it, so leave target_day out or change the key",
        )
    start: int | None = base.window_start
    end: int | None = base.window_end
    if base.is_final:
        start = final_start
        if "window" in entry:
            fail(
                "window",
                "final takes no window here: set final_start_day (default 180) and "
                "final_overdue_day (default 365) at the top level",
            )
    elif "window" in entry:
        start, end = _read_window(entry["window"], f"{where}.window", fail)
        if start is not None and end is not None:
            for message, message_zh in _window_problems(base.key, base.target_day, start, end):
                fail("window", message, message_zh)
    if found or start is None:
        return base, None
    labels_en, labels_zh = labels["label_en"], labels["label_zh"]
    return base, TimePoint(base.key, labels_en, labels_zh, base.target_day, start, end)


def _read_window(
    value: object, field: str, fail: Callable[..., None]
) -> tuple[int | None, int | None]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        fail(
            "window",
            f"{value!r} is not a window; write [first day, last day], e.g. [77, 105]",
            f"{value!r} 不是时间窗；请写作 [起始日, 结束日]，如 [77, 105]",
        )
        return None, None
    days: list[int | None] = []
    for place, raw in enumerate(value):
        name = f"window[{place}]"
        try:
            day = parse_integer(raw, f"{field}[{place}]")
        except ClinicalValueError as error:
            fail(name, f"{error.message} of days", error.message_zh)
            days.append(None)
            continue
        if day is None or isinstance(raw, str):
            fail(name, f"{raw!r} is not a whole number of days", f"{raw!r} 不是整数天")
            days.append(None)
        else:
            days.append(day)
    return days[0], days[1]


DEFAULT_PROTOCOL = Protocol(
    (
        # Labels as in the reference study (reference/seed_study.json, design.timepoints).
        TimePoint("preop", "Preoperative", "术前", PREOP_TARGET_DAY, *PREOP_WINDOW),
        TimePoint("postop", "Postoperative 1 week", "术后1周", POSTOP_TARGET_DAY, *POSTOP_WINDOW),
        TimePoint("final", "Final follow-up", "末次随访时", None, FINAL_START_DAY, None),
    )
)


# --- dates, classification and the worklist ----------------------------------------------------


def day_offset(visit_date: date, index_date: date) -> int:
    """Days from the index procedure (day 0) to ``visit_date``; negative before it."""
    return (_as_date(visit_date, "visit_date") - _as_date(index_date, "index_date")).days


def _as_date(value: object, field: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise ClinicalValueError(field, f"{value!r} is not a date", message_zh=f"{value!r} 不是日期")


def classify_day(day: int, protocol: Protocol = DEFAULT_PROTOCOL) -> str | None:
    """The key of the time point a visit on ``day`` belongs to, or None (unscheduled).

    A scheduled time point whose window holds the day (nearest target on overlap,
    the earlier on a tie); else ``final`` when the protocol has it and ``day`` ≥
    ``final_start_day``; else None.
    """
    best: TimePoint | None = None
    for point in protocol.timepoints:
        if point.is_final or point.target_day is None or not point.contains(day):
            continue
        if best is None or abs(day - point.target_day) < abs(day - _target(best)):
            best = point
    if best is not None:
        return best.key
    if protocol.final is not None and day >= protocol.final_start_day:
        return FINAL
    return None


def _target(point: TimePoint) -> int:
    return point.target_day if point.target_day is not None else 0


def classify(
    visit_date: date, index_date: date, protocol: Protocol = DEFAULT_PROTOCOL
) -> str | None:
    """The time point a visit on ``visit_date`` belongs to (see :func:`classify_day`)."""
    return classify_day(day_offset(visit_date, index_date), protocol)


def select_final_visit(
    visits: Iterable[tuple[str, date | None]],
    index_date: date,
    protocol: Protocol = DEFAULT_PROTOCOL,
) -> tuple[str, date] | None:
    """The (key, date) of a patient's final visit, or None.

    The visit keyed ``final`` wins wherever it falls; or else the latest visit on
    or after ``final_start_day`` (on equal dates, the first given). None when
    there is neither, or when the protocol has no final time point. Visits
    without a date cannot be placed and are passed over, except that a visit
    keyed ``final`` must have one.
    """
    if protocol.final is None:
        return None
    keyed: tuple[str, date] | None = None
    latest: tuple[str, date] | None = None
    for key, when in visits:
        is_final = isinstance(key, str) and normalise_key(key) == FINAL
        if when is None:
            if is_final:
                raise ClinicalValueError(
                    "visit_date",
                    "the visit keyed final has no date; enter its date",
                    message_zh="末次随访缺少日期；请填写日期",
                )
            continue
        visit_date = _as_date(when, "visit_date")
        if is_final:
            if keyed is None or visit_date > keyed[1]:
                keyed = (key, visit_date)
        elif day_offset(visit_date, index_date) >= protocol.final_start_day and (
            latest is None or visit_date > latest[1]
        ):
            latest = (key, visit_date)
    return keyed if keyed is not None else latest


def select_final(
    visits: Iterable[tuple[str, date | None]],
    index_date: date,
    protocol: Protocol = DEFAULT_PROTOCOL,
) -> date | None:
    """The date of the final visit (see :func:`select_final_visit`), or None."""
    chosen = select_final_visit(visits, index_date, protocol)
    return None if chosen is None else chosen[1]


def worklist_state(
    index_date: date,
    done: Mapping[str, date | None] | Collection[str],
    today: date,
    protocol: Protocol = DEFAULT_PROTOCOL,
) -> dict[str, str]:
    """Each time point's state on ``today``: done, not_yet, upcoming, due or overdue.

    ``done`` maps the keys of the patient's visits to their dates (a collection
    of keys will do when dates are unknown). ``final`` is done by a visit keyed
    final or by any visit dated on or after ``final_start_day``.
    """
    if isinstance(done, str):
        raise ClinicalValueError(
            "done",
            f"give the visits as a mapping of key to date or a collection of keys, not the "
            f"text {done!r}",
        )
    if isinstance(done, Mapping):
        visits: dict[str, date | None] = {normalise_key(k): v for k, v in done.items()}
    else:
        visits = dict.fromkeys((normalise_key(key) for key in done), None)
    day = day_offset(today, index_date)
    states: dict[str, str] = {}
    for point in protocol.timepoints:
        if point.is_final:
            reached = any(
                when is not None and day_offset(when, index_date) >= protocol.final_start_day
                for when in visits.values()
            )
            if FINAL in visits or reached:
                states[point.key] = DONE
            else:
                states[point.key] = _state(
                    day, protocol.final_start_day, protocol.final_overdue_day - 1
                )
        elif point.key in visits:
            states[point.key] = DONE
        else:
            last_due_day = point.window_end if point.window_end is not None else math.inf
            states[point.key] = _state(day, point.window_start, last_due_day)
    return states


def _state(day: int, first_due_day: int, last_due_day: float) -> str:
    if day < first_due_day - UPCOMING_LEAD_DAYS:
        return NOT_YET
    if day < first_due_day:
        return UPCOMING
    if day <= last_due_day:
        return DUE
    return OVERDUE
