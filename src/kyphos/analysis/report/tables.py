"""The study report's tables in one language: title, header, rows of text cells, notes.

The last stage before a file format (tableone's order: … → statistics → tables →
formatting): :func:`build_tables` turns a :class:`~kyphos.analysis.results.StudyReport`
(full precision) into :class:`Table` models whose cells are finished text — rounded here,
half away from zero (:mod:`.i18n`) — and the renderers (Markdown, HTML, Word, CSV) only
lay them out.

Conventions:

* A value that could not be computed prints as "—" and carries a footnote label
  (``a``, ``b`` …); the table's :attr:`Table.footnotes` give each label's reason, taken
  from the ``reasons`` the statistics return. No cell is ever "nan" or "None".
* Significance markers of the outcome table (Table 2) follow the reference study's
  Table 1: a cell is marked ``*`` when it differs from the first time point, ``#`` from
  the second, ``△`` from the third … (paired t-test, Holm-adjusted P < 0.05), and the
  markers are explained under the table.
* Remarks under a table (:attr:`Table.remarks`) explain definitions; Table 1 carries the
  numbered remarks of :attr:`StudyReport.baseline_remarks`.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kyphos.analysis.report import i18n
from kyphos.analysis.report.i18n import MISSING, message
from kyphos.analysis.results import BaselineRow, Comparison, OutcomeResult, StudyReport
from kyphos.analysis.stats import Description, Proportion
from kyphos.analysis.survival import KaplanMeier
from kyphos.clinical.fracture import LeakageSite
from kyphos.clinical.protocol import Protocol

__all__ = [
    "APPROX_MARK",
    "MARKERS",
    "SIGNIFICANCE",
    "Cell",
    "Footnote",
    "Row",
    "Table",
    "build_tables",
    "header_lines",
    "is_demo",
    "methods_paragraph",
    "significance_marks",
]

SIGNIFICANCE = 0.05
"""Holm-adjusted P below which Table 2 marks a time point."""

MARKERS = ("*", "#", "△", "▲", "§", "¶", "☆", "★")
"""Marker of "differs from time point i" for the i-th time point (then repeated)."""

APPROX_MARK = "†"
"""Marks a Wilcoxon P from the normal approximation (the others are exact)."""

OUTCOME_DECIMALS = {"vas": 2, "odi": 2, "anterior_height_mm": 2, "kyphotic_angle_deg": 2}
BASELINE_DECIMALS = {"age": 1, "bmi": 1, "bmd_t_score": 2, "follow_up_months": 1}
DERIVED_DECIMALS = 2
DEFAULT_DECIMALS = 2
TEST_DECIMALS = 2
ICC_DECIMALS = 3
PERCENT_DECIMALS = 1
KM_MONTHS = (12, 24)
"""Follow-up times (months) at which Table 4 reads the Kaplan–Meier curve."""

DERIVED_FIELDS = (
    "height_restoration_mm",
    "height_restoration_relative_to_pre_percent",
    "kyphosis_correction_deg",
    "loss_of_correction_deg",
    "height_loss_at_final_mm",
)


# --- the table model ------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One table cell: finished ``text``, significance ``marks`` and footnote labels."""

    text: str
    marks: str = ""
    notes: tuple[str, ...] = ()

    def plain(self) -> str:
        """The cell as one line of text: ``2.45 ± 0.38*#``, ``—[a]``."""
        return self.text + self.marks + "".join(f"[{label}]" for label in self.notes)


@dataclass(frozen=True)
class Row:
    """A row of cells. ``group``: a heading row (text in the first cell only, spanning
    the table); ``indent``: 1 for the rows under a heading."""

    cells: tuple[Cell, ...]
    indent: int = 0
    group: bool = False


@dataclass(frozen=True)
class Footnote:
    """Why the cells marked ``label`` show "—"."""

    label: str
    text: str


@dataclass(frozen=True)
class Table:
    """A journal table: ``label`` ("表1"/"Table 1") and ``title`` above, three rules,
    ``remarks`` and ``footnotes`` below. ``key`` names it in file names (CSV)."""

    key: str
    label: str
    title: str
    header: tuple[str, ...]
    rows: tuple[Row, ...]
    remarks: tuple[str, ...] = ()
    footnotes: tuple[Footnote, ...] = ()

    @property
    def caption(self) -> str:
        return f"{self.label} {self.title}"

    @property
    def columns(self) -> int:
        return len(self.header)

    def notes(self) -> list[str]:
        """Remarks, then each footnote as ``a Not computed: n < 2.``."""
        return [*self.remarks, *(f"{note.label} {note.text}" for note in self.footnotes)]


# --- building blocks --------------------------------------------------------------------------


def _labels() -> Iterable[str]:
    letters = string.ascii_lowercase
    yield from letters
    for first in letters:
        for second in letters:
            yield first + second


class _Notes:
    """Footnote labels for the reasons of one table's "—" cells (same reason, same label)."""

    def __init__(self, lang: i18n.Lang) -> None:
        self.lang = lang
        self._labels = iter(_labels())
        self._by_reason: dict[str, str] = {}

    def label(self, why: str) -> str:
        text = message("not_computed", self.lang, reason=i18n.reason(why, self.lang))
        if text not in self._by_reason:
            self._by_reason[text] = next(self._labels)
        return self._by_reason[text]

    def missing(self, why: str | None, text: str = MISSING) -> Cell:
        return Cell(text, notes=(self.label(why or "not computable"),))

    def footnotes(self) -> tuple[Footnote, ...]:
        return tuple(Footnote(label, text) for text, label in self._by_reason.items())


def _why(reasons: Mapping[str, str], *keys: str) -> str:
    for key in keys:
        if key in reasons:
            return reasons[key]
    return reasons.get("*", "not computable")


def _text(*texts: str) -> tuple[Cell, ...]:
    return tuple(Cell(text) for text in texts)


def _group(label: str, columns: int, notes: tuple[str, ...] = ()) -> Row:
    return Row((Cell(label, notes=notes), *_text(*[""] * (columns - 1))), group=True)


def _parens(inner: str, lang: i18n.Lang) -> str:
    return f"（{inner}）" if lang == "zh" else f" ({inner})"


def _mean_sd_cell(d: Description, decimals: int, notes: _Notes) -> Cell:
    if d.mean is None:
        return notes.missing(_why(d.reasons, "mean"))
    if d.sd is None:
        label = notes.label(_why(d.reasons, "sd"))
        return Cell(i18n.mean_sd(d.mean, None, decimals), notes=(label,))
    return Cell(i18n.mean_sd(d.mean, d.sd, decimals))


def _median_iqr_cell(d: Description, decimals: int, notes: _Notes) -> Cell:
    if d.median is None:
        return notes.missing(_why(d.reasons, "median"))
    return Cell(i18n.median_iqr(d.median, d.q1, d.q3, decimals, notes.lang))


def _estimate_cell(
    value: float | None,
    interval: tuple[float, float] | None,
    reasons: Mapping[str, str],
    keys: tuple[str, str],
    decimals: int,
    notes: _Notes,
) -> Cell:
    """``value (low to high)``; "—" for a missing value or interval, with its reason."""
    if value is None:
        return notes.missing(_why(reasons, keys[0]))
    if interval is None:
        text = i18n.number(value, decimals) + _parens(MISSING, notes.lang)
        return Cell(text, notes=(notes.label(_why(reasons, keys[1])),))
    return Cell(i18n.estimate_ci(value, interval, decimals, notes.lang))


def _proportion_cells(p: Proportion, notes: _Notes) -> tuple[Cell, Cell, Cell]:
    count = Cell(i18n.n_of(p.successes, p.total))
    if p.rate is None:
        return count, notes.missing(_why(p.reasons, "rate")), notes.missing(_why(p.reasons, "ci95"))
    if p.ci95 is None:
        return (
            count,
            Cell(i18n.percent(p.rate, PERCENT_DECIMALS)),
            notes.missing(_why(p.reasons, "ci95")),
        )
    return (
        count,
        Cell(i18n.percent(p.rate, PERCENT_DECIMALS)),
        Cell(i18n.ci(p.ci95, PERCENT_DECIMALS, notes.lang, scale=100.0)),
    )


def _table(
    key: str,
    number: int,
    title: str,
    header: Sequence[str],
    rows: Sequence[Row],
    remarks: Sequence[str],
    notes: _Notes,
) -> Table:
    prefixed = list(remarks)
    if prefixed:
        prefixed[0] = message("note_prefix", notes.lang) + prefixed[0]
    return Table(
        key=key,
        label=message("table_label", notes.lang, n=number),
        title=title,
        header=tuple(header),
        rows=tuple(rows),
        remarks=tuple(prefixed),
        footnotes=notes.footnotes(),
    )


class _Labels:
    """Time-point labels of the report's protocol in one language."""

    def __init__(self, report: StudyReport, lang: i18n.Lang, protocol: Protocol | None) -> None:
        self.points = list(report.protocol)
        self.names = {
            point: i18n.timepoint_label(point, lang, protocol) for point in report.protocol
        }

    def __getitem__(self, point: str) -> str:
        return self.names.get(point, point)


def _short(value: float) -> str:
    """A setting as a person writes it: 1.5, 10, 30 (no trailing zeros)."""
    return f"{value:g}"


# --- Table 1: baseline ------------------------------------------------------------------------


def _baseline_rows(rows: Sequence[BaselineRow], lang: i18n.Lang, notes: _Notes) -> list[Row]:
    out: list[Row] = []
    seen: set[str] = set()
    for row in rows:
        if row.kind == "continuous":
            decimals = BASELINE_DECIMALS.get(row.variable, DEFAULT_DECIMALS)
            label = Cell(i18n.variable_label(row.variable, lang))
            if row.description is None:
                out.append(Row((label, notes.missing("no values"))))
                continue
            out.append(Row((label, _mean_sd_cell(row.description, decimals, notes))))
            if row.skewed:
                median = _median_iqr_cell(row.description, decimals, notes)
                out.append(Row((Cell(message("row_median_iqr", lang)), median), indent=1))
            continue
        if row.variable not in seen:
            seen.add(row.variable)
            out.append(_group(i18n.variable_label(row.variable, lang), 2))
        category = row.category or ""
        name = (
            category
            if row.variable == "level"
            else i18n.category_label(row.variable, category, lang)
        )
        count = row.count or 0
        total = row.of or 0
        if total == 0:
            value = notes.missing(message("none_recorded", lang), f"{count} ({MISSING})")
        else:
            value = Cell(i18n.n_percent(count, total, PERCENT_DECIMALS))
        out.append(Row((Cell(name), value), indent=1))
    return out


def baseline_table(
    report: StudyReport, lang: str, number: int = 1, protocol: Protocol | None = None
) -> Table:
    """Table 1: continuous variables mean ± SD (+ median [IQR] when skewed), categorical
    n (%); the numbered remarks of the results under it."""
    chosen = i18n.check_lang(lang)
    notes = _Notes(chosen)
    rows = _baseline_rows(report.baseline, chosen, notes)
    remarks = [message("baseline_remark", chosen)]
    remarks.extend(
        f"{index}. {i18n.translate_remark(remark, chosen)}"
        for index, remark in enumerate(report.baseline_remarks, start=1)
    )
    title = message(
        "t_baseline",
        chosen,
        patients=report.cohort.patients,
        vertebrae=report.cohort.vertebrae_treated,
    )
    header = (message("h_characteristic", chosen), message("h_value", chosen))
    return _table("baseline", number, title, header, rows, remarks, notes)


# --- Table 2: outcomes by time point -------------------------------------------------------


def _comparison(outcome: OutcomeResult, a: str, b: str) -> Comparison | None:
    for comparison in outcome.comparisons:
        if comparison.a == a and comparison.b == b:
            return comparison
    return None


def significance_marks(outcome: OutcomeResult, points: Sequence[str], column: int) -> str:
    """The markers of the time points whose difference from ``points[column]`` is
    significant (Holm-adjusted P < 0.05): ``*`` for the first time point, ``#`` for the
    second …"""
    marks = ""
    for index in range(column):
        comparison = _comparison(outcome, points[index], points[column])
        if comparison is None or comparison.p_holm is None:
            continue
        if comparison.p_holm < SIGNIFICANCE:
            marks += MARKERS[index % len(MARKERS)]
    return marks


def outcomes_table(
    report: StudyReport, lang: str, number: int = 2, protocol: Protocol | None = None
) -> Table:
    """Table 2: rows = outcomes, columns = time points (x̄ ± s) and n, with the
    significance markers of the paired comparisons."""
    chosen = i18n.check_lang(lang)
    notes = _Notes(chosen)
    labels = _Labels(report, chosen, protocol)
    points = labels.points
    header = [message("h_outcome", chosen), message("h_n", chosen)]
    header.extend(labels[point] for point in points)
    rows: list[Row] = []
    varying = False
    used: set[int] = set()
    for name, outcome in report.outcomes.items():
        decimals = OUTCOME_DECIMALS.get(name, DEFAULT_DECIMALS)
        descriptions = [outcome.timepoints.get(point) for point in points]
        counts = [0 if d is None else d.n for d in descriptions]
        if len(set(counts)) > 1:
            varying = True
            n_text = "/".join(str(count) for count in counts)
        else:
            n_text = str(counts[0]) if counts else "0"
        cells = [Cell(i18n.outcome_label(name, chosen)), Cell(n_text)]
        for column, d in enumerate(descriptions):
            if d is None:
                cells.append(notes.missing("no values"))
                continue
            cell = _mean_sd_cell(d, decimals, notes)
            marks = significance_marks(outcome, points, column)
            used.update(MARKERS.index(mark) for mark in marks)
            cells.append(Cell(cell.text, marks, cell.notes))
        rows.append(Row(tuple(cells)))
    markers = [
        message("sig_marker", chosen, mark=MARKERS[index], label=labels[points[index]])
        for index in sorted(used)
    ]
    remarks = []
    if markers:
        remarks.append(message("list_sep", chosen).join(markers))
        remarks.append(message("sig_basis", chosen))
    remarks.append(message("n_units", chosen))
    if varying:
        order = message("list_sep", chosen).join(labels[point] for point in points)
        remarks.append(message("n_per_timepoint", chosen, points=order))
    title = message("t_outcomes", chosen)
    return _table("outcomes", number, title, header, rows, remarks, notes)


# --- Table 3: paired comparisons --------------------------------------------------------------


def comparisons_table(
    report: StudyReport, lang: str, number: int = 3, protocol: Protocol | None = None
) -> Table:
    """Table 3: each pair of time points per outcome — mean difference (95 % CI), t (df),
    P, Holm P, Cohen's dz, Wilcoxon P."""
    chosen = i18n.check_lang(lang)
    notes = _Notes(chosen)
    labels = _Labels(report, chosen, protocol)
    header = [
        message(key, chosen)
        for key in ("h_comparison", "h_n", "h_mean_diff", "h_t", "h_p", "h_p_holm")
    ]
    header.extend((message("h_dz", chosen), message("h_wilcoxon", chosen)))
    rows: list[Row] = []
    dropped: list[str] = []
    for name, outcome in report.outcomes.items():
        decimals = OUTCOME_DECIMALS.get(name, DEFAULT_DECIMALS)
        rows.append(_group(i18n.outcome_label(name, chosen), len(header)))
        for comparison in outcome.comparisons:
            r = comparison.result
            why = r.reasons
            pair = message("versus", chosen, a=labels[comparison.a], b=labels[comparison.b])
            if r.dropped:
                dropped.append(f"{i18n.outcome_label(name, chosen)} {pair}: {r.dropped}")
            difference = _estimate_cell(
                r.mean_diff, r.ci95, why, ("mean_diff", "ci95"), decimals, notes
            )
            if r.t is None or r.df is None:
                t_cell = notes.missing(_why(why, "t", "df"))
            else:
                t_cell = Cell(i18n.number(r.t, TEST_DECIMALS) + _parens(str(r.df), chosen))
            p_cell = (
                notes.missing(_why(why, "p")) if r.p is None else Cell(i18n.p_value(r.p, chosen))
            )
            holm_cell = (
                notes.missing(_why(why, "p"))
                if comparison.p_holm is None
                else Cell(i18n.p_value(comparison.p_holm, chosen))
            )
            dz_cell = (
                notes.missing(_why(why, "cohen_dz"))
                if r.cohen_dz is None
                else Cell(i18n.number(r.cohen_dz, TEST_DECIMALS))
            )
            if r.wilcoxon_p is None:
                wilcoxon_cell = notes.missing(_why(why, "wilcoxon_p"))
            else:
                mark = APPROX_MARK if r.wilcoxon_method == "approx" else ""
                wilcoxon_cell = Cell(i18n.p_value(r.wilcoxon_p, chosen), mark)
            rows.append(
                Row(
                    (
                        Cell(pair),
                        Cell(str(r.n)),
                        difference,
                        t_cell,
                        p_cell,
                        holm_cell,
                        dz_cell,
                        wilcoxon_cell,
                    ),
                    indent=1,
                )
            )
    remarks = [
        message("comparison_remark", chosen),
        message("wilcoxon_remark", chosen, mark=APPROX_MARK),
    ]
    if dropped:
        items = message("list_sep", chosen).join(dropped)
        remarks.append(message("dropped_remark", chosen, items=items))
    title = message("t_comparisons", chosen)
    return _table("comparisons", number, title, header, rows, remarks, notes)


# --- Table 4: complications ---------------------------------------------------------------------


def _km_at(
    km: KaplanMeier, months: float, followed: float | None, lang: i18n.Lang
) -> tuple[float, tuple[float, float]] | str:
    """S(months) with its CI read off the curve, or why it cannot be."""
    if km.n == 0 or not km.times:
        return message("km_empty", lang)
    if followed is None or months > followed:
        return message("km_beyond", lang, months=_short(months))
    index = max(i for i, time in enumerate(km.times) if time <= months)
    return km.survival[index], (km.ci95_lo[index], km.ci95_hi[index])


def complications_table(
    report: StudyReport, lang: str, number: int = 4, protocol: Protocol | None = None
) -> Table:
    """Table 4: cement leakage (Wilson CI) by site, symptomatic share, patients with
    leakage, adjacent fractures, and new-fracture-free survival (Kaplan–Meier)."""
    chosen = i18n.check_lang(lang)
    notes = _Notes(chosen)
    c = report.complications
    header = [message(key, chosen) for key in ("h_item", "h_count", "h_rate", "h_ci")]
    rows = [Row((Cell(message("row_leakage", chosen)), *_proportion_cells(c.leakage, notes)))]
    order = [site.value for site in LeakageSite]
    sites = sorted(
        c.leakage_by_site.items(),
        key=lambda item: order.index(item[0]) if item[0] in order else len(order),
    )
    for site, count in sites:
        total = c.leakage.total
        rate = Cell(i18n.percent(count / total, PERCENT_DECIMALS)) if total else Cell(MISSING)
        label = message("row_leakage_site", chosen, site=i18n.leakage_site_label(site, chosen))
        rows.append(Row((Cell(label), Cell(i18n.n_of(count, total)), rate, Cell("")), indent=1))
    for key, proportion in (
        ("row_leakage_symptomatic", c.leakage_symptomatic),
        ("row_leakage_patients", c.leakage_patients),
        ("row_adjacent", c.adjacent_fracture),
    ):
        rows.append(Row((Cell(message(key, chosen)), *_proportion_cells(proportion, notes))))
    km = c.new_fracture_free
    followed = report.cohort.follow_up_months.max
    events = Cell(i18n.n_of(sum(km.events), km.n))
    for months in KM_MONTHS:
        km_label = Cell(message("row_new_fracture_free", chosen, months=_short(months)))
        read = _km_at(km, months, followed, chosen)
        if isinstance(read, str):
            rows.append(Row((km_label, events, notes.missing(read), notes.missing(read))))
            continue
        survival, interval = read
        rows.append(
            Row(
                (
                    km_label,
                    events,
                    Cell(i18n.percent(survival, PERCENT_DECIMALS)),
                    Cell(i18n.ci(interval, PERCENT_DECIMALS, chosen, scale=100.0)),
                )
            )
        )
    remarks = [message("complications_remark", chosen), message("km_remark", chosen)]
    title = message("t_complications", chosen)
    return _table("complications", number, title, header, rows, remarks, notes)


# --- Table 5: observer agreement -------------------------------------------------------------


def agreement_table(
    report: StudyReport, lang: str, number: int = 5, protocol: Protocol | None = None
) -> Table:
    """Table 5: pairs, ICC form, ICC (95 % CI), ICC(3,1), Koo & Li label, Bland–Altman
    bias and limits of agreement, per radiographic outcome."""
    chosen = i18n.check_lang(lang)
    notes = _Notes(chosen)
    header = [
        message(key, chosen)
        for key in (
            "h_outcome",
            "h_pairs",
            "h_icc_form",
            "h_icc",
            "h_icc3",
            "h_interpretation",
            "h_bias",
            "h_loa",
        )
    ]
    rows: list[Row] = []
    observers: list[str] = []
    for name, agreement in report.reliability.items():
        decimals = OUTCOME_DECIMALS.get(name, DEFAULT_DECIMALS)
        reasons = {**agreement.icc.reasons, **agreement.reasons}
        icc = _estimate_cell(
            agreement.icc.value, agreement.icc.ci95, reasons, ("value", "ci95"), ICC_DECIMALS, notes
        )
        icc3 = _estimate_cell(
            agreement.icc3.value,
            agreement.icc3.ci95,
            {**agreement.icc3.reasons, **agreement.reasons},
            ("value", "ci95"),
            ICC_DECIMALS,
            notes,
        )
        label = i18n.interpretation_label(agreement.interpretation, chosen)
        interpretation = notes.missing(_why(reasons, "value")) if label is None else Cell(label)
        ba = agreement.bland_altman
        bias = (
            notes.missing(_why(ba.reasons, "bias"))
            if ba.bias is None
            else Cell(i18n.number(ba.bias, decimals))
        )
        loa = (
            notes.missing(_why(ba.reasons, "loa"))
            if ba.loa is None
            else Cell(i18n.ci(ba.loa, decimals, chosen))
        )
        outcome = i18n.outcome_label(name, chosen)
        rows.append(
            Row(
                (
                    Cell(outcome),
                    Cell(str(agreement.pairs)),
                    Cell(agreement.form),
                    icc,
                    icc3,
                    interpretation,
                    bias,
                    loa,
                )
            )
        )
        if agreement.observers is not None:
            first, second = agreement.observers
            observers.append(
                message("observers_remark", chosen, outcome=outcome, first=first, second=second)
            )
        if agreement.adjudicated:
            observers.append(
                message("adjudicated_remark", chosen, outcome=outcome, count=agreement.adjudicated)
            )
    remarks = [message("agreement_remark", chosen), *observers]
    title = message("t_agreement", chosen)
    return _table("agreement", number, title, header, rows, remarks, notes)


# --- Table 6: derived endpoints ---------------------------------------------------------------


def derived_table(
    report: StudyReport, lang: str, number: int = 6, protocol: Protocol | None = None
) -> Table:
    """Table 6: height restoration, kyphosis correction and their loss, per vertebra."""
    chosen = i18n.check_lang(lang)
    notes = _Notes(chosen)
    header = [
        message(key, chosen)
        for key in ("h_endpoint", "h_n", "h_mean_sd", "h_median_iqr", "h_range")
    ]
    rows: list[Row] = []
    for name in DERIVED_FIELDS:
        d: Description = getattr(report.derived, name)
        if d.min is None or d.max is None:
            spread = notes.missing(_why(d.reasons, "min", "max"))
        else:
            spread = Cell(i18n.ci((d.min, d.max), DERIVED_DECIMALS, chosen))
        rows.append(
            Row(
                (
                    Cell(i18n.outcome_label(name, chosen)),
                    Cell(str(d.n)),
                    _mean_sd_cell(d, DERIVED_DECIMALS, notes),
                    _median_iqr_cell(d, DERIVED_DECIMALS, notes),
                    spread,
                )
            )
        )
    title = message("t_derived", chosen)
    return _table(
        "derived", number, title, header, rows, [message("derived_remark", chosen)], notes
    )


# --- Table 7: responders ----------------------------------------------------------------------


def responders_table(
    report: StudyReport, lang: str, number: int = 7, protocol: Protocol | None = None
) -> Table | None:
    """Table 7: responders (CLINICAL.md §3) per follow-up time point; None when no outcome
    has a responder rule."""
    chosen = i18n.check_lang(lang)
    notes = _Notes(chosen)
    labels = _Labels(report, chosen, protocol)
    header = [
        message(key, chosen) for key in ("h_timepoint", "h_responders", "h_responder_rate", "h_ci")
    ]
    rows: list[Row] = []
    for name, outcome in report.outcomes.items():
        if outcome.responders is None:
            continue
        rows.append(_group(i18n.outcome_label(name, chosen), len(header)))
        for point, proportion in outcome.responders.items():
            rows.append(Row((Cell(labels[point]), *_proportion_cells(proportion, notes)), indent=1))
    if not rows:
        return None
    settings = report.settings
    remark = message(
        "responders_remark",
        chosen,
        vas=_short(float(settings.get("responder_vas_cm", 1.5))),
        odi=_short(float(settings.get("responder_odi_points", 10.0))),
        relative=_short(float(settings.get("responder_relative", 0.3)) * 100.0),
    )
    title = message("t_responders", chosen)
    return _table("responders", number, title, header, rows, [remark], notes)


# --- Table 8: mixed model ----------------------------------------------------------------------


def mixed_model_table(
    report: StudyReport, lang: str, number: int = 8, protocol: Protocol | None = None
) -> Table:
    """Table 8: the mixed model's mean per time point and difference from the first
    time point, each with its 95 % CI."""
    chosen = i18n.check_lang(lang)
    notes = _Notes(chosen)
    labels = _Labels(report, chosen, protocol)
    points = labels.points
    reference = labels[points[0]] if points else ""
    header = [
        message("h_timepoint", chosen),
        message("h_model_mean", chosen),
        message("h_model_diff", chosen, reference=reference),
    ]
    rows: list[Row] = []
    remarks = [message("mixed_remark", chosen)]
    for name, outcome in report.outcomes.items():
        model = outcome.mixed_model
        outcome_name = i18n.outcome_label(name, chosen)
        decimals = OUTCOME_DECIMALS.get(name, DEFAULT_DECIMALS)
        if not model.fitted:
            rows.append(_group(outcome_name, len(header)))
            why = model.reason or message("no_model", chosen)
            rows.append(Row((Cell(""), notes.missing(why), notes.missing(why)), indent=1))
            continue
        group = message(
            "model_group",
            chosen,
            outcome=outcome_name,
            observations=model.n_obs,
            groups=model.n_groups,
        )
        rows.append(_group(group, len(header)))
        if not model.converged:
            remarks.append(f"{outcome_name}: {message('not_converged', chosen)}")
        remarks.extend(f"{outcome_name}: {note}" for note in model.notes)
        for index, point in enumerate(points):
            mean = model.level_means.get(point)
            mean_cell = (
                notes.missing("no values")
                if mean is None
                else Cell(i18n.estimate_ci(mean.estimate, mean.ci95, decimals, chosen))
            )
            if index == 0:
                difference = Cell(message("reference_level", chosen))
            else:
                fixed = model.fixed.get(point)
                difference = (
                    notes.missing("no values")
                    if fixed is None
                    else Cell(i18n.estimate_ci(fixed.estimate, fixed.ci95, decimals, chosen))
                )
            rows.append(Row((Cell(labels[point]), mean_cell, difference), indent=1))
    title = message("t_mixed", chosen)
    return _table("mixed_model", number, title, header, rows, remarks, notes)


# --- the whole set ---------------------------------------------------------------------------


def build_tables(report: StudyReport, lang: str, protocol: Protocol | None = None) -> list[Table]:
    """Every table of the report in ``lang``, numbered in order (表1 … / Table 1 …).

    ``protocol`` (the dataset's) gives the time-point labels; without it the default
    label of each key is used.
    """
    chosen = i18n.check_lang(lang)
    builders = (
        baseline_table,
        outcomes_table,
        comparisons_table,
        complications_table,
        agreement_table,
        derived_table,
        responders_table,
        mixed_model_table,
    )
    tables: list[Table] = []
    for builder in builders:
        table = builder(report, chosen, len(tables) + 1, protocol)
        if table is not None:
            tables.append(table)
    from kyphos.analysis.report.evidence_section import evidence_tables

    tables.extend(evidence_tables(report, chosen, len(tables) + 1, protocol))
    return tables


def is_demo(report: StudyReport) -> bool:
    """Whether the report is on demo data (``settings["demo"]``, set by the caller)."""
    return bool(report.settings.get("demo"))


def header_lines(report: StudyReport, lang: str) -> list[str]:
    """The lines under the report's title: when and by what, site, demo note, cohort."""
    chosen = i18n.check_lang(lang)
    lines = [message("generated", chosen, when=report.generated_at, version=report.kyphos_version)]
    if report.site:
        lines.append(message("site", chosen, site=report.site))
    else:
        lines.append(message("all_sites", chosen))
    if is_demo(report):
        lines.append(message("demo_note", chosen))
    lines.append(
        message(
            "cohort_line",
            chosen,
            patients=report.cohort.patients,
            vertebrae=report.cohort.vertebrae_treated,
        )
    )
    return lines


def methods_paragraph(report: StudyReport, lang: str) -> str:
    """The statistical-methods paragraph: tests, missing data, the ODI missing-section
    rule, the agreement form used, with the report's settings filled in."""
    chosen = i18n.check_lang(lang)
    settings = report.settings
    forms = sorted({r.form for r in report.reliability.values() if r.pairs > 0})
    parts = [
        message("m_descriptive", chosen),
        message("m_units", chosen, final_day=settings.get("final_start_day", 180)),
        message("m_odi", chosen, max_missing=settings.get("odi_max_missing", 2)),
        message("m_paired", chosen),
        message("m_mixed", chosen),
        message(
            "m_responders",
            chosen,
            vas=_short(float(settings.get("responder_vas_cm", 1.5))),
            odi=_short(float(settings.get("responder_odi_points", 10.0))),
            relative=_short(float(settings.get("responder_relative", 0.3)) * 100.0),
        ),
        message("m_rates", chosen),
    ]
    if forms:
        described = [
            message(f"m_form_{form}", chosen) if f"m_form_{form}" in i18n.MESSAGES else form
            for form in forms
        ]
        joined = message("m_forms_join", chosen).join(described)
        parts.append(message("m_agreement", chosen, forms=joined))
    else:
        parts.append(message("m_agreement_none", chosen))
    parts.append(message("m_alpha", chosen, version=report.kyphos_version))
    return ("" if chosen == "zh" else " ").join(parts)
