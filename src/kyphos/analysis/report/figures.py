"""The study report's figures (matplotlib), as PNG and SVG bytes.

* per outcome: the mean with its 95 % CI at each time point, over thin lines of the
  individual patients (VAS, ODI) or treated vertebrae (radiographic outcomes), with the
  significance markers of Table 2;
* per radiographic outcome: a Bland–Altman plot of the two observers' readings;
* the treated levels on a spine schematic (C7–L5), one bar per level, cement leakage
  hatched;
* the Kaplan–Meier curve of new-fracture-free survival with its 95 % CI.

Numbers come from the :class:`~kyphos.analysis.results.StudyReport`; the per-patient
lines, the Bland–Altman points and the censoring marks need the
:class:`~kyphos.analysis.dataset.StudyDataset` as well (without it they are left out).

Figures are readable in grayscale: black and greys, distinguished by markers, line
styles and hatching, never by colour alone.

matplotlib is imported inside the functions, so importing this module (and
``kyphos --help``) stays fast. Figures are drawn on :class:`matplotlib.figure.Figure`
objects with the Agg canvas directly, never through ``pyplot``: that is headless like
``matplotlib.use("Agg")`` but does not switch the backend of a notebook that calls it.

Chinese labels need a CJK font: :func:`cjk_font` looks for Noto Sans CJK, Source Han
Sans, WenQuanYi or Droid Sans Fallback (Debian: ``apt-get install fonts-noto-cjk``),
also among font files installed after matplotlib built its font cache. Without one the
labels fall back to English and :attr:`FigureSet.notes` says so (never tofu boxes).
SVG text is written as paths, so an SVG shows the same glyphs without the font.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kyphos.analysis.report import i18n
from kyphos.analysis.report.i18n import message
from kyphos.analysis.report.tables import (
    MARKERS,
    OUTCOME_DECIMALS,
    significance_marks,
)
from kyphos.analysis.results import (
    RADIOGRAPHIC,
    OutcomeResult,
    StudyReport,
    new_fracture_times,
    observer_pairs,
)
from kyphos.clinical import levels

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure

    from kyphos.analysis.dataset import StudyDataset
    from kyphos.clinical.protocol import Protocol

__all__ = [
    "CJK_FAMILIES",
    "Figure",
    "FigureSet",
    "bland_altman_figure",
    "cjk_font",
    "observer_pairs",
    "outcome_figure",
    "render_figures",
    "spine_figure",
    "survival_figure",
]

DPI = 200
MAX_LINES = 2000
"""At most this many individual lines per outcome plot (an evenly spaced sample above)."""

AT_RISK_STEP_MONTHS = 6
POINT_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "Noto Serif CJK SC",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Noto Sans CJK JP",
)
"""Fonts with Chinese glyphs, in order of preference."""

_CJK_FILE_HINTS = (
    "notosanscjk",
    "notoserifcjk",
    "sourcehansans",
    "wqy",
    "droidsansfallback",
    "simhei",
    "msyh",
)

INK = "black"
GREY = "0.45"
LIGHT = "0.78"
PALE = "0.9"


@dataclass(frozen=True)
class Figure:
    """One figure: ``key`` (file name stem), ``caption`` (without "Figure n"), PNG and SVG."""

    key: str
    caption: str
    png: bytes
    svg: bytes


@dataclass(frozen=True)
class FigureSet:
    """The report's figures, the language of their labels, and notes (figures left out
    and why, a missing CJK font)."""

    figures: tuple[Figure, ...]
    lang: str
    notes: tuple[str, ...] = ()


# --- fonts and style ----------------------------------------------------------------------------


@functools.cache
def cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or None.

    Looks in matplotlib's font list first; then registers the CJK font files found on
    the system (a font package installed after matplotlib built its cache is not in
    the list until then).
    """
    from matplotlib import font_manager

    def known() -> str | None:
        names = {entry.name for entry in font_manager.fontManager.ttflist}
        return next((family for family in CJK_FAMILIES if family in names), None)

    found = known()
    if found is not None:
        return found
    for path in font_manager.findSystemFonts():
        stem = Path(path).name.lower().replace("-", "").replace("_", "")
        if any(hint in stem for hint in _CJK_FILE_HINTS):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    return known()


def _labels_lang(lang: str) -> tuple[i18n.Lang, str | None]:
    """The language figure labels can be drawn in, and a note when it is not ``lang``."""
    chosen = i18n.check_lang(lang)
    if chosen == "zh" and cjk_font() is None:
        return "en", message("f_no_font", "zh")
    return chosen, None


def _rc(lang: i18n.Lang) -> dict[Any, Any]:
    fonts = ["DejaVu Sans"]
    if lang == "zh":
        family = cjk_font()
        if family is not None:
            fonts = [family, "DejaVu Sans"]
    return {
        "font.family": "sans-serif",
        "font.sans-serif": fonts,
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.edgecolor": INK,
        "axes.labelcolor": INK,
        "xtick.color": INK,
        "ytick.color": INK,
        "legend.frameon": False,
        "legend.fontsize": 8,
        "svg.fonttype": "path",
        "svg.hashsalt": "kyphos",
        "path.simplify": True,
    }


@contextmanager
def _style(lang: i18n.Lang) -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context(_rc(lang)):
        yield


def _new_figure(width: float, height: float) -> MplFigure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    figure = MplFigure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _export(figure: MplFigure, key: str, caption: str) -> Figure:
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
    svg = io.BytesIO()
    figure.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return Figure(key=key, caption=caption, png=png.getvalue(), svg=svg.getvalue())


def _protocol(dataset: StudyDataset | None) -> Protocol | None:
    return None if dataset is None else dataset.protocol


# --- per outcome: mean with 95 % CI over individual lines ---------------------------------


def _individual_lines(
    dataset: StudyDataset, outcome: str, unit: str, points: Sequence[str]
) -> pd.DataFrame:
    values = dataset.patient_outcomes() if unit == "patient" else dataset.vertebra_outcomes()
    if outcome not in values.columns or values.empty:
        return pd.DataFrame(columns=list(points))
    key = "patient" if unit == "patient" else "vertebra"
    wide = values.pivot_table(index=key, columns="timepoint", values=outcome, aggfunc="first")
    return wide.reindex(columns=list(points)).astype(float)


def _segments(wide: pd.DataFrame) -> list[list[tuple[float, float]]]:
    """Line segments joining each unit's values at consecutive time points with a value
    (a missing visit is bridged: preoperative to final when the postoperative is missing)."""
    values = wide.to_numpy(dtype=float)
    segments: list[list[tuple[float, float]]] = []
    for row in values:
        present = np.flatnonzero(np.isfinite(row))
        segments.extend(
            [(float(a), float(row[a])), (float(b), float(row[b]))] for a, b in pairwise(present)
        )
    return segments


def outcome_figure(
    report: StudyReport, dataset: StudyDataset | None, outcome: str, lang: str
) -> Figure | None:
    """Mean with 95 % CI per time point over the individual lines; None without means."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    result = report.outcomes[outcome]
    chosen, _ = _labels_lang(lang)
    points = list(report.protocol)
    descriptions = [result.timepoints.get(point) for point in points]
    if not any(d is not None and d.mean is not None for d in descriptions):
        return None
    protocol = _protocol(dataset)
    names = [i18n.timepoint_label(point, chosen, protocol) for point in points]
    units = message(f"f_units_{result.unit}", chosen)
    label = i18n.outcome_label(outcome, chosen)
    with _style(chosen):
        figure = _new_figure(5.2, 3.8)
        ax: Axes = figure.add_subplot()
        total = shown = 0
        if dataset is not None:
            wide = _individual_lines(dataset, outcome, result.unit, points).dropna(how="all")
            total = len(wide)
            step = max(1, math.ceil(total / MAX_LINES))
            wide = wide.iloc[::step]
            shown = len(wide)
            ax.add_collection(
                LineCollection(_segments(wide), colors=LIGHT, linewidths=0.6, zorder=1)
            )
            single = wide.to_numpy(dtype=float)
            xs = np.broadcast_to(np.arange(len(points), dtype=float), single.shape)
            ax.plot(xs.ravel(), single.ravel(), ls="none", marker=".", ms=1.5, color=LIGHT)
        xs_mean, means, halves = [], [], []
        for index, d in enumerate(descriptions):
            if d is None or d.mean is None:
                continue
            xs_mean.append(float(index))
            means.append(d.mean)
            ci = d.mean_ci95
            halves.append(np.nan if ci is None else ci[1] - d.mean)
        ax.plot(xs_mean, means, color=INK, lw=1.8, zorder=3)
        errors = np.array(halves, dtype=float)
        with_ci = np.isfinite(errors)
        ax.errorbar(
            np.array(xs_mean)[with_ci],
            np.array(means)[with_ci],
            yerr=errors[with_ci],
            fmt="none",
            ecolor=INK,
            elinewidth=1.4,
            capsize=4,
            zorder=3,
        )
        ax.plot(
            xs_mean, means, ls="none", marker="o", ms=6, mfc="white", mec=INK, mew=1.5, zorder=4
        )
        for x, mean, half in zip(xs_mean, means, halves, strict=True):
            marks = significance_marks(result, points, int(x))
            if marks:
                top = mean + (half if math.isfinite(half) else 0.0)
                ax.annotate(
                    marks,
                    (x, top),
                    xytext=(0, 3),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=10,
                    zorder=5,
                )
        ax.set_xticks(range(len(points)), names)
        ax.set_xlim(-0.35, len(points) - 0.65)
        ax.set_ylabel(label)
        ax.autoscale(axis="y")
        ax.margins(y=0.08)
        handles = [
            Line2D([], [], color=INK, lw=1.8, marker="o", mfc="white", mec=INK, mew=1.5),
        ]
        legend_labels = [message("f_mean_ci", chosen)]
        if shown:
            handles.append(Line2D([], [], color=LIGHT, lw=0.8))
            legend_labels.append(message("f_individual", chosen, units=units))
        ax.legend(handles, legend_labels, loc="best")
        report_lang = i18n.check_lang(lang)
        report_units = message(f"f_units_{result.unit}", report_lang)
        report_label = i18n.outcome_label(outcome, report_lang)
        if shown < total:
            caption = message(
                "f_sampled",
                report_lang,
                outcome=report_label,
                shown=shown,
                total=total,
                units=report_units,
            )
        else:
            caption = message("f_outcome", report_lang, outcome=report_label, units=report_units)
        markers = _marker_legend(result, points, report_lang, protocol)
        if markers:
            caption = f"{caption}{message('list_sep', report_lang)}{markers}"
        return _export(figure, f"outcome_{outcome}", caption)


def _marker_legend(
    result: OutcomeResult, points: Sequence[str], lang: i18n.Lang, protocol: Protocol | None
) -> str:
    used = {
        MARKERS.index(mark)
        for column in range(len(points))
        for mark in significance_marks(result, points, column)
    }
    parts = [
        message(
            "sig_marker",
            lang,
            mark=MARKERS[index],
            label=i18n.timepoint_label(points[index], lang, protocol),
        )
        for index in sorted(used)
    ]
    return message("list_sep", lang).join(parts)


# --- Bland–Altman ---------------------------------------------------------------------------


def bland_altman_figure(
    report: StudyReport, dataset: StudyDataset | None, outcome: str, lang: str
) -> Figure | str:
    """Difference (second − first observer) against the mean of the two, with the bias
    and 95 % limits of agreement of the report; a reason (str) when it cannot be drawn."""
    agreement = report.reliability.get(outcome)
    report_lang = i18n.check_lang(lang)
    if agreement is None or agreement.pairs == 0:
        return message("f_no_pairs", report_lang)
    if dataset is None:
        return message("f_no_values", report_lang)
    pairs = observer_pairs(dataset, outcome)
    if pairs.empty:
        return message("f_no_pairs", report_lang)
    chosen, _ = _labels_lang(lang)
    unit = i18n.outcome_unit(outcome, chosen)
    decimals = OUTCOME_DECIMALS.get(outcome, 2)
    protocol = _protocol(dataset)
    with _style(chosen):
        figure = _new_figure(5.6, 3.8)
        ax: Axes = figure.add_subplot()
        mean = (pairs["first"] + pairs["second"]) / 2.0
        difference = pairs["second"] - pairs["first"]
        order = {point: index for index, point in enumerate(report.protocol)}
        keys = sorted(pairs["timepoint"].unique(), key=lambda key: (order.get(key, 99), key))
        for index, key in enumerate(keys):
            rows = (pairs["timepoint"] == key).to_numpy()
            ax.scatter(
                mean[rows],
                difference[rows],
                s=16,
                marker=POINT_MARKERS[index % len(POINT_MARKERS)],
                facecolors="none",
                edgecolors=INK,
                linewidths=0.7,
                label=i18n.timepoint_label(str(key), chosen, protocol),
            )
        ax.axhline(0.0, color=LIGHT, lw=0.8, ls=":", zorder=0)
        ba = agreement.bland_altman
        lines: list[tuple[float, str, str]] = []
        if ba.bias is not None:
            lines.append(
                (ba.bias, "-", message("f_bias", chosen, value=i18n.number(ba.bias, decimals)))
            )
        if ba.loa is not None:
            low, high = ba.loa
            lines.append(
                (high, "--", message("f_upper", chosen, value=i18n.number(high, decimals)))
            )
            lines.append((low, "--", message("f_lower", chosen, value=i18n.number(low, decimals))))
        for value, style, text in lines:
            ax.axhline(value, color=INK, lw=1.1, ls=style)
            ax.annotate(
                text,
                (1.0, value),
                xycoords=("axes fraction", "data"),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
        ax.set_xlabel(message("f_ba_x", chosen, unit=unit))
        ax.set_ylabel(message("f_ba_y", chosen, unit=unit))
        ax.legend(loc="upper left", ncols=min(len(keys), 3))
        ax.margins(y=0.25)
        caption = message(
            "f_bland_altman", report_lang, outcome=i18n.outcome_label(outcome, report_lang)
        )
        return _export(figure, f"bland_altman_{outcome}", caption)


# --- spine schematic --------------------------------------------------------------------------


def spine_figure(report: StudyReport, lang: str) -> Figure | str:
    """Treated vertebrae per level on a C7–L5 column, cement leakage hatched."""
    from matplotlib.patches import FancyBboxPatch, Patch

    report_lang = i18n.check_lang(lang)
    counts = report.cohort.levels
    if not counts:
        return message("f_no_treated", report_lang)
    chosen, _ = _labels_lang(lang)
    leakage = report.complications.leakage_by_level
    names = list(levels.LEVELS)
    largest = max(counts.values())
    with _style(chosen):
        figure = _new_figure(4.6, 6.2)
        ax: Axes = figure.add_subplot()
        box_left, box_width = -0.42 * max(largest, 4), 0.3 * max(largest, 4)
        for y, level in enumerate(names):
            treated = counts.get(level, 0) > 0
            ax.add_patch(
                FancyBboxPatch(
                    (box_left, y - 0.33),
                    box_width,
                    0.66,
                    boxstyle="round,pad=0,rounding_size=0.15",
                    facecolor=GREY if treated else PALE,
                    edgecolor=INK,
                    linewidth=0.7,
                )
            )
            ax.text(
                box_left + box_width / 2,
                y,
                level,
                ha="center",
                va="center",
                fontsize=7.5,
                color="white" if treated else INK,
                fontweight="bold" if treated else "normal",
            )
        values = [counts.get(level, 0) for level in names]
        rows = [y for y, value in enumerate(values) if value]
        ax.barh(rows, [values[y] for y in rows], height=0.62, color=LIGHT, edgecolor=INK, lw=0.6)
        leaks = [leakage.get(level, 0) for level in names]
        leaking = [y for y, leak in enumerate(leaks) if leak]
        if leaking:
            ax.barh(
                leaking,
                [leaks[y] for y in leaking],
                height=0.62,
                color="white",
                edgecolor=INK,
                hatch="////",
                lw=0.6,
            )
        for y, (value, leak) in enumerate(zip(values, leaks, strict=True)):
            if value:
                text = f"{value} ({leak})" if leak else str(value)
                ax.text(value + largest * 0.03, y, text, va="center", fontsize=7.5)
        ax.set_ylim(len(names) - 0.4, -0.6)
        ax.set_xlim(box_left - 0.05 * largest, largest * 1.25 + 0.5)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ticks = [tick for tick in ax.get_xticks() if tick >= 0 and float(tick).is_integer()]
        ax.set_xticks(ticks)
        ax.set_xlabel(message("f_count", chosen))
        handles = [Patch(facecolor=LIGHT, edgecolor=INK, label=message("f_treated", chosen))]
        if any(leaks):
            handles.append(
                Patch(
                    facecolor="white",
                    edgecolor=INK,
                    hatch="////",
                    label=message("f_leakage", chosen),
                )
            )
        ax.legend(handles=handles, loc="lower right")
        return _export(figure, "spine_levels", message("f_spine", report_lang))


# --- Kaplan–Meier -----------------------------------------------------------------------------


def survival_figure(report: StudyReport, dataset: StudyDataset | None, lang: str) -> Figure | str:
    """Kaplan–Meier new-fracture-free survival, 95 % CI, censoring marks, numbers at risk."""
    report_lang = i18n.check_lang(lang)
    km = report.complications.new_fracture_free
    if km.n == 0 or not km.times:
        return message("km_empty", report_lang)
    chosen, _ = _labels_lang(lang)
    end = max(km.times[-1], report.cohort.follow_up_months.max or 0.0)
    times = [*km.times, end]
    survival = [*km.survival, km.survival[-1]]
    low = [*km.ci95_lo, km.ci95_lo[-1]]
    high = [*km.ci95_hi, km.ci95_hi[-1]]
    subjects = new_fracture_times(dataset) if dataset is not None else None
    with _style(chosen):
        figure = _new_figure(5.6, 4.2)
        if subjects is not None and subjects[0].size:
            ax, table = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [6, 1]})
        else:
            ax, table = figure.add_subplot(), None
        percent = 100.0
        ax.fill_between(
            times,
            [v * percent for v in low],
            [v * percent for v in high],
            step="post",
            color=PALE,
            lw=0,
            label=message("f_ci", chosen),
        )
        for bound in (low, high):
            ax.step(times, [v * percent for v in bound], where="post", color=GREY, lw=0.8, ls="--")
        ax.step(
            times,
            [v * percent for v in survival],
            where="post",
            color=INK,
            lw=1.6,
            label=message("f_km_survival", chosen),
        )
        if subjects is not None:
            censored = subjects[0][subjects[1] == 0]
            if censored.size:
                steps = np.searchsorted(np.array(km.times), censored, side="right") - 1
                heights = np.array(km.survival)[np.clip(steps, 0, None)] * percent
                ax.plot(
                    censored,
                    heights,
                    ls="none",
                    marker="+",
                    ms=7,
                    mew=1.0,
                    color=INK,
                    label=message("f_censored", chosen),
                )
        ax.set_ylim(0, 105)
        ax.set_xlim(0, end * 1.02 if end > 0 else 1)
        ax.set_ylabel(message("f_km_y", chosen))
        ax.legend(loc="lower left")
        marks = np.arange(0.0, end + 1e-9, AT_RISK_STEP_MONTHS)
        ax.set_xticks(marks)
        if table is None or subjects is None:
            ax.set_xlabel(message("f_km_x", chosen))
        else:
            ax.tick_params(labelbottom=True)
            ax.set_xlabel(message("f_km_x", chosen))
            for t in marks:
                count = int(np.count_nonzero(subjects[0] >= t))
                table.text(float(t), 0.5, str(count), ha="center", va="center", fontsize=8)
            table.set_ylim(0, 1)
            table.set_yticks([0.5], [message("f_km_at_risk", chosen)])
            table.tick_params(axis="y", length=0, pad=14)
            table.tick_params(axis="x", bottom=False, labelbottom=False)
            for side in ("top", "right", "bottom", "left"):
                table.spines[side].set_visible(False)
        return _export(figure, "new_fracture_free", message("f_km", report_lang))


# --- the whole set ---------------------------------------------------------------------------


def render_figures(report: StudyReport, dataset: StudyDataset | None, lang: str) -> FigureSet:
    """Every figure of the report, with labels in ``lang`` (English when no CJK font is
    installed, said in :attr:`FigureSet.notes`), and a note for each one left out."""
    report_lang = i18n.check_lang(lang)
    chosen, font_note = _labels_lang(lang)
    notes: list[str] = [font_note] if font_note else []
    figures: list[Figure] = []
    for outcome in report.outcomes:
        drawn = outcome_figure(report, dataset, outcome, report_lang)
        name = message(
            "f_outcome_name", report_lang, outcome=i18n.outcome_label(outcome, report_lang)
        )
        if drawn is None:
            notes.append(
                message(
                    "f_not_drawn",
                    report_lang,
                    figure=name,
                    reason=message("f_no_values", report_lang),
                )
            )
        else:
            figures.append(drawn)
    for outcome in RADIOGRAPHIC:
        if outcome not in report.reliability:
            continue
        result = bland_altman_figure(report, dataset, outcome, report_lang)
        name = message("f_ba_name", report_lang, outcome=i18n.outcome_label(outcome, report_lang))
        _collect(result, name, report_lang, figures, notes)
    _collect(
        spine_figure(report, report_lang),
        message("f_spine_name", report_lang),
        report_lang,
        figures,
        notes,
    )
    _collect(
        survival_figure(report, dataset, report_lang),
        message("f_km_name", report_lang),
        report_lang,
        figures,
        notes,
    )
    from kyphos.analysis.report.evidence_section import evidence_figures

    for name, result in evidence_figures(report, report_lang, _protocol(dataset)):
        _collect(result, name, report_lang, figures, notes)
    return FigureSet(figures=tuple(figures), lang=chosen, notes=tuple(notes))


def _collect(
    result: Figure | str, name: str, lang: i18n.Lang, figures: list[Figure], notes: list[str]
) -> None:
    if isinstance(result, Figure):
        figures.append(result)
    else:
        notes.append(message("f_not_drawn", lang, figure=name, reason=result))
