"""The study report as Markdown (GitHub-flavoured tables), in English or Chinese.

Tables come from :mod:`.tables` (finished text); cells are escaped for Markdown, footnote
labels of "—" cells are ``<sup>`` tags, remarks and footnotes follow each table. Figures
are left out by default (a Markdown file cannot carry them without bloating it, and
``kyphos report --format md --out -`` prints to a terminal); ``embed_figures=True``
embeds them as PNG data URIs.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from kyphos.analysis.report import i18n
from kyphos.analysis.report.i18n import message
from kyphos.analysis.report.tables import (
    Cell,
    Row,
    Table,
    build_tables,
    header_lines,
    methods_paragraph,
)
from kyphos.analysis.results import StudyReport

if TYPE_CHECKING:
    from kyphos.analysis.dataset import StudyDataset
    from kyphos.analysis.report.figures import FigureSet

__all__ = ["render", "table_markdown"]

INDENT = "\u00a0\u00a0\u00a0\u00a0"
"""Four no-break spaces: the indent of rows under a heading row."""

_SPECIAL = str.maketrans({"\\": "\\\\", "*": "\\*", "_": "\\_", "|": "\\|", "`": "\\`"})


def _escape(text: str) -> str:
    return text.translate(_SPECIAL).replace("\n", " ")


def _cell(cell: Cell) -> str:
    notes = "".join(f"<sup>{label}</sup>" for label in cell.notes)
    return _escape(cell.text) + _escape(cell.marks) + notes


def _row(row: Row) -> str:
    cells = [_cell(cell) for cell in row.cells]
    if row.group:
        cells[0] = f"**{cells[0]}**" if cells[0] else cells[0]
    elif row.indent:
        cells[0] = INDENT * row.indent + cells[0]
    return "| " + " | ".join(cells) + " |"


def table_markdown(table: Table) -> str:
    """One table: bold caption, the table, its remarks and footnotes."""
    lines = [f"**{_escape(table.caption)}**", ""]
    lines.append("| " + " | ".join(_escape(text) for text in table.header) + " |")
    lines.append("|" + "|".join([":---", *[":---:"] * (table.columns - 1)]) + "|")
    lines.extend(_row(row) for row in table.rows)
    lines.append("")
    for remark in table.remarks:
        lines.extend((_escape(remark), ""))
    for note in table.footnotes:
        lines.extend((f"<sup>{note.label}</sup> {_escape(note.text)}", ""))
    return "\n".join(lines)


def render(
    report: StudyReport,
    dataset: StudyDataset | None,
    lang: str,
    *,
    embed_figures: bool = False,
    figures: FigureSet | None = None,
) -> str:
    """The whole report as Markdown text."""
    chosen = i18n.check_lang(lang)
    protocol = dataset.protocol if dataset is not None else None
    parts = [f"# {message('report_title', chosen)}", ""]
    for line in header_lines(report, chosen):
        parts.extend((_escape(line), ""))
    parts.extend((f"## {message('section_methods', chosen)}", ""))
    parts.extend((_escape(methods_paragraph(report, chosen)), ""))
    parts.extend((f"## {message('section_results', chosen)}", ""))
    for table in build_tables(report, chosen, protocol):
        parts.extend((table_markdown(table), ""))
    notes: list[str] = []
    parts.extend((f"## {message('section_figures', chosen)}", ""))
    if embed_figures or figures is not None:
        if figures is None:
            from kyphos.analysis.report.figures import render_figures

            figures = render_figures(report, dataset, chosen)
        for number, figure in enumerate(figures.figures, start=1):
            label = message("figure_label", chosen, n=number)
            data = base64.b64encode(figure.png).decode("ascii")
            caption = _escape(f"{label} {figure.caption}")
            parts.extend((f"![{caption}](data:image/png;base64,{data})", "", caption, ""))
        notes.extend(figures.notes)
    else:
        parts.extend((message("figures_only_in", chosen), ""))
    if notes:
        parts.extend((f"## {message('section_notes', chosen)}", ""))
        parts.extend(f"* {_escape(note)}" for note in notes)
        parts.append("")
    return "\n".join(parts).rstrip("\n") + "\n"
