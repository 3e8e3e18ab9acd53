"""The report's Evidence section: one table and one forest-style figure per published
reference cohort (:attr:`StudyReport.evidence`, computed by :mod:`kyphos.analysis.evidence`).

The table sets this cohort beside the reference: baseline (patients, men / women, age),
each outcome at each shared time point (n, mean ± SD of each cohort, the difference in
means with its Welch 95 % CI), then each cohort's change from the baseline time point.
The figure draws the differences with their CIs, one panel per outcome (the outcomes
have different units, so they never share an axis). Renderers only format: every number
comes from the results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kyphos.analysis.evidence import CellSummary, Change, EvidenceComparison, OutcomeEvidence
from kyphos.analysis.report import i18n
from kyphos.analysis.report.i18n import message
from kyphos.analysis.report.tables import (
    OUTCOME_DECIMALS,
    Cell,
    Row,
    Table,
    _group,
    _Notes,
    _table,
    _why,
)

if TYPE_CHECKING:
    from kyphos.analysis.report.figures import Figure
    from kyphos.analysis.results import StudyReport
    from kyphos.clinical.protocol import Protocol

__all__ = ["evidence_figures", "evidence_tables"]

DEFAULT_DECIMALS = 2
AGE_DECIMALS = 1
COLUMNS = 6


def _decimals(outcome: str) -> int:
    return OUTCOME_DECIMALS.get(outcome, DEFAULT_DECIMALS)


def _timepoint(
    comparison: EvidenceComparison, key: str, lang: i18n.Lang, protocol: Protocol | None
) -> str:
    labels = comparison.timepoint_labels.get(key)
    if protocol is not None and key in protocol.keys:
        return i18n.timepoint_label(key, lang, protocol)
    if labels is not None:
        return labels[0] if lang == "en" else labels[1]
    return i18n.timepoint_label(key, lang)


def _count(value: int | None, reasons: dict[str, str], key: str, notes: _Notes) -> Cell:
    if value is None:
        return notes.missing(_why(reasons, key))
    return Cell(str(value))


def _summary_cells(cell: CellSummary, decimals: int, notes: _Notes) -> tuple[Cell, Cell]:
    n = _count(cell.n, cell.reasons, "n", notes)
    if cell.mean is None:
        return n, notes.missing(_why(cell.reasons, "mean"))
    if cell.sd is None:
        label = notes.label(_why(cell.reasons, "sd"))
        return n, Cell(i18n.mean_sd(cell.mean, None, decimals), notes=(label,))
    return n, Cell(i18n.mean_sd(cell.mean, cell.sd, decimals))


def _change_cells(
    change: Change | None, decimals: int, lang: i18n.Lang, notes: _Notes
) -> tuple[Cell, Cell]:
    if change is None:
        missing = notes.missing("not reported")
        return missing, missing
    n = _count(change.n, change.reasons, "n", notes)
    if change.estimate is None:
        return n, notes.missing(_why(change.reasons, "estimate"))
    if change.ci95 is None:
        label = notes.label(_why(change.reasons, "ci95"))
        return n, Cell(i18n.number(change.estimate, decimals), notes=(label,))
    return n, Cell(i18n.estimate_ci(change.estimate, change.ci95, decimals, lang))


def _baseline_rows(comparison: EvidenceComparison, lang: i18n.Lang, notes: _Notes) -> list[Row]:
    own, reference = comparison.baseline.own, comparison.baseline.reference
    rows = [_group(message("g_evidence_baseline", lang), COLUMNS)]
    rows.append(
        Row(
            (
                Cell(message("row_evidence_patients", lang)),
                _count(own.patients, own.reasons, "patients", notes),
                Cell(""),
                _count(reference.patients, reference.reasons, "patients", notes),
                Cell(""),
                Cell(""),
            ),
            indent=1,
        )
    )

    def sex(side_male: int | None, side_female: int | None, reasons: dict[str, str]) -> Cell:
        if side_male is None or side_female is None:
            return notes.missing(_why(reasons, "male", "female"))
        return Cell(f"{side_male}/{side_female}")

    rows.append(
        Row(
            (
                Cell(message("row_evidence_sex", lang)),
                Cell(""),
                sex(own.male, own.female, own.reasons),
                Cell(""),
                sex(reference.male, reference.female, reference.reasons),
                Cell(""),
            ),
            indent=1,
        )
    )

    def age(mean: float | None, sd: float | None, reasons: dict[str, str]) -> Cell:
        if mean is None:
            return notes.missing(_why(reasons, "age_mean"))
        if sd is None:
            label = notes.label(_why(reasons, "age_sd"))
            return Cell(i18n.mean_sd(mean, None, AGE_DECIMALS), notes=(label,))
        return Cell(i18n.mean_sd(mean, sd, AGE_DECIMALS))

    rows.append(
        Row(
            (
                Cell(message("row_evidence_age", lang)),
                Cell(""),
                age(own.age_mean, own.age_sd, own.reasons),
                Cell(""),
                age(reference.age_mean, reference.age_sd, reference.reasons),
                Cell(""),
            ),
            indent=1,
        )
    )
    return rows


def _outcome_rows(
    comparison: EvidenceComparison,
    outcome: OutcomeEvidence,
    lang: i18n.Lang,
    protocol: Protocol | None,
    notes: _Notes,
) -> list[Row]:
    decimals = _decimals(outcome.outcome)
    rows = [_group(i18n.outcome_label(outcome.outcome, lang), COLUMNS)]
    for cell in outcome.timepoints:
        own_n, own_value = _summary_cells(cell.own, decimals, notes)
        reference_n, reference_value = _summary_cells(cell.reference, decimals, notes)
        if cell.difference is None:
            difference = notes.missing(_why(cell.reasons, "difference"))
        elif cell.ci95 is None:
            note = notes.label(_why(cell.reasons, "ci95"))
            difference = Cell(i18n.number(cell.difference, decimals), notes=(note,))
        else:
            difference = Cell(i18n.estimate_ci(cell.difference, cell.ci95, decimals, lang))
        label = Cell(_timepoint(comparison, cell.timepoint, lang, protocol))
        rows.append(
            Row((label, own_n, own_value, reference_n, reference_value, difference), indent=1)
        )
    return rows


def _change_rows(
    comparison: EvidenceComparison, lang: i18n.Lang, protocol: Protocol | None, notes: _Notes
) -> list[Row]:
    baseline = comparison.baseline_timepoint
    if baseline is None:
        return []
    rows = [
        _group(
            message(
                "g_evidence_change",
                lang,
                timepoint=_timepoint(comparison, baseline, lang, protocol),
            ),
            COLUMNS,
        )
    ]
    for outcome in comparison.outcomes:
        decimals = _decimals(outcome.outcome)
        own = {change.b: change for change in outcome.own_change}
        reference = {change.b: change for change in outcome.reference_change}
        for point in [key for key in comparison.shared_timepoints if key != baseline]:
            if point not in own and point not in reference:
                continue
            text = message(
                "row_evidence_change",
                lang,
                outcome=i18n.outcome_label(outcome.outcome, lang),
                a=_timepoint(comparison, baseline, lang, protocol),
                b=_timepoint(comparison, point, lang, protocol),
            )
            own_n, own_value = _change_cells(own.get(point), decimals, lang, notes)
            reference_n, reference_value = _change_cells(
                reference.get(point), decimals, lang, notes
            )
            rows.append(
                Row(
                    (Cell(text), own_n, own_value, reference_n, reference_value, Cell("")), indent=1
                )
            )
    return rows


def evidence_table(
    report: StudyReport,
    comparison: EvidenceComparison,
    lang: str,
    number: int,
    protocol: Protocol | None = None,
) -> Table:
    """This cohort beside one published cohort (see the module notes)."""
    chosen = i18n.check_lang(lang)
    notes = _Notes(chosen)
    header = [
        message(key, chosen)
        for key in (
            "h_outcome",
            "h_own_n",
            "h_own_value",
            "h_reference_n",
            "h_reference_value",
            "h_difference",
        )
    ]
    rows = _baseline_rows(comparison, chosen, notes)
    for outcome in comparison.outcomes:
        rows.extend(_outcome_rows(comparison, outcome, chosen, protocol, notes))
    rows.extend(_change_rows(comparison, chosen, protocol, notes))
    remarks = [message("evidence_remark", chosen)]
    for outcome in comparison.outcomes:
        for remark in ([outcome.conversion] if outcome.conversion else []) + outcome.remarks:
            text = remark.en if chosen == "en" else remark.zh
            if text not in remarks:
                remarks.append(text)
    for name, why in comparison.not_compared.items():
        remarks.append(
            message(
                "evidence_not_compared",
                chosen,
                outcome=i18n.outcome_label(name, chosen),
                reason=i18n.reason(why, chosen),
            )
        )
    source = comparison.citation + (f", {comparison.title}" if comparison.title else "")
    if comparison.doi:
        source += f", doi:{comparison.doi}"
    remarks.append(message("evidence_source", chosen, reference=source))
    title = message("t_evidence", chosen, citation=comparison.citation)
    return _table(f"evidence_{comparison.key}", number, title, header, rows, remarks, notes)


def evidence_tables(
    report: StudyReport, lang: str, number: int, protocol: Protocol | None = None
) -> list[Table]:
    """One table per reference cohort, numbered from ``number``."""
    return [
        evidence_table(report, comparison, lang, number + index, protocol)
        for index, comparison in enumerate(report.evidence)
    ]


# --- the forest-style figure ------------------------------------------------------------------


def forest_figure(
    comparison: EvidenceComparison, lang: str, protocol: Protocol | None = None
) -> Figure | str:
    """Differences in means (this cohort − reference) with 95 % CIs: one panel per
    outcome, one line per shared time point, a dotted line at no difference."""
    from kyphos.analysis.report import figures

    report_lang = i18n.check_lang(lang)
    panels = []
    for outcome in comparison.outcomes:
        drawn = [
            (cell, cell.difference) for cell in outcome.timepoints if cell.difference is not None
        ]
        if drawn:
            panels.append((outcome, drawn))
    if not panels:
        return message("f_forest_empty", report_lang)
    chosen, _ = figures._labels_lang(lang)
    with figures._style(chosen):
        height = 0.9 + sum(0.45 * len(cells) + 0.55 for _, cells in panels)
        figure = figures._new_figure(5.6, height)
        axes = figure.subplots(
            len(panels),
            1,
            squeeze=False,
            gridspec_kw={"height_ratios": [len(cells) + 1 for _, cells in panels]},
        )[:, 0]
        for ax, (outcome, cells) in zip(axes, panels, strict=True):
            ys = np.arange(len(cells), dtype=float)[::-1]
            for y, (cell, difference) in zip(ys, cells, strict=True):
                if cell.ci95 is not None:
                    ax.plot(cell.ci95, (y, y), color=figures.INK, lw=1.2)
                ax.plot(
                    [difference],
                    [y],
                    marker="s",
                    ms=5,
                    color=figures.INK,
                    ls="none",
                )
            ax.axvline(0.0, color=figures.LIGHT, lw=0.9, ls=":")
            ax.set_yticks(
                ys,
                [_timepoint(comparison, cell.timepoint, chosen, protocol) for cell, _ in cells],
            )
            ax.set_ylim(-0.7, len(cells) - 0.3)
            ax.set_title(i18n.outcome_label(outcome.outcome, chosen), fontsize=9, loc="left")
        axes[-1].set_xlabel(message("f_forest_x", chosen))
        caption = message("f_forest", report_lang, citation=comparison.citation)
        return figures._export(figure, f"evidence_{comparison.key}", caption)


def evidence_figures(
    report: StudyReport, lang: str, protocol: Protocol | None = None
) -> list[tuple[str, Figure | str]]:
    """(name, figure or the reason it was not drawn) per reference cohort."""
    report_lang = i18n.check_lang(lang)
    return [
        (
            message("f_forest_name", report_lang, citation=comparison.citation),
            forest_figure(comparison, lang, protocol),
        )
        for comparison in report.evidence
    ]
