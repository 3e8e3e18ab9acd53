"""The study report as a Word document (python-docx), in English or Chinese.

Journal conventions:

* Tables are three-line tables: a 1.5 pt rule above and below the table
  (``w:tblBorders`` top/bottom), a 0.75 pt rule under the header row (``w:tcBorders``
  bottom of each header cell), no vertical or inner horizontal lines (left, right,
  insideH and insideV are ``nil``). The header row repeats on each page. The caption
  ("表1 …" / "Table 1 …") is above the table, remarks and footnotes below, in 9 pt.
* Every run carries its fonts in ``w:rPr/w:rFonts``: ``w:ascii``/``w:hAnsi`` Times New
  Roman and ``w:eastAsia`` SimSun (宋体) — without ``w:eastAsia`` Word renders Chinese
  in a fallback font or, on a system without one, as boxes. The styles used (Normal,
  Title, headings) get the same fonts, with their theme fonts removed, and black text.
* Figures are PNG pictures, 15 cm wide, captioned below ("图1 …" / "Figure 1 …").
* A4 paper, 2 cm margins.
"""

from __future__ import annotations

import io
import math
import unicodedata
from typing import TYPE_CHECKING

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt, RGBColor

from kyphos.analysis.report import i18n
from kyphos.analysis.report.i18n import message
from kyphos.analysis.report.tables import (
    Cell,
    Table,
    build_tables,
    header_lines,
    methods_paragraph,
)
from kyphos.analysis.results import StudyReport

if TYPE_CHECKING:
    from docx.document import Document as DocumentObject
    from docx.oxml.xmlchemy import BaseOxmlElement
    from docx.table import _Cell
    from docx.text.paragraph import Paragraph
    from docx.text.run import Run

    from kyphos.analysis.dataset import StudyDataset
    from kyphos.analysis.report.figures import FigureSet

__all__ = ["EAST_ASIAN_FONT", "LATIN_FONT", "column_widths", "render"]

LATIN_FONT = "Times New Roman"
EAST_ASIAN_FONT = "SimSun"
"""宋体: the body font of Chinese journals (Word maps the name on every system)."""

BODY_PT = 10.5
TABLE_PT = 9.0
WIDE_TABLE_PT = 8.0
"""Font size of a table too wide for the page at :data:`TABLE_PT`."""
NOTE_PT = 9.0
OUTER_RULE_EIGHTHS = 12
"""Top and bottom rules of a table: 12 eighths of a point = 1.5 pt."""
HEADER_RULE_EIGHTHS = 6
"""The rule under the header row: 0.75 pt."""
FIGURE_WIDTH_CM = 15.0
INDENT_PT = 12
TEXT_WIDTH_CM = 17.0
"""A4 (21 cm) less two 2 cm margins: the widest a table may be."""
CHAR_CM = 0.19
"""Width of a digit or an average Latin character at 9 pt, with room to spare; a
full-width (CJK) character counts double."""
CELL_PADDING_CM = 0.5
"""Left and right cell margins (0.19 cm each in Word) and a little air."""

_TBL_PR_AFTER_BORDERS = ("w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption")
_TC_PR_AFTER_BORDERS = (
    "w:shd",
    "w:noWrap",
    "w:tcMar",
    "w:textDirection",
    "w:tcFitText",
    "w:vAlign",
    "w:hideMark",
)


# --- fonts ------------------------------------------------------------------------------------


def _set_fonts(r_pr: object) -> None:
    """Set ascii/hAnsi/cs to the Latin font and eastAsia to the East Asian font."""
    fonts = r_pr.get_or_add_rFonts()  # type: ignore[attr-defined]
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(theme), None)
    fonts.set(qn("w:ascii"), LATIN_FONT)
    fonts.set(qn("w:hAnsi"), LATIN_FONT)
    fonts.set(qn("w:cs"), LATIN_FONT)
    fonts.set(qn("w:eastAsia"), EAST_ASIAN_FONT)


def _run(
    paragraph: Paragraph,
    text: str,
    *,
    bold: bool | None = None,
    superscript: bool = False,
    size: float | None = None,
) -> Run:
    run = paragraph.add_run(text)
    if bold is not None:
        run.bold = bold
    if superscript:
        run.font.superscript = True
    if size is not None:
        run.font.size = Pt(size)
    _set_fonts(run._element.get_or_add_rPr())
    return run


def _style_fonts(document: DocumentObject) -> None:
    for name in ("Normal", "Title", "Heading 1", "Heading 2", "Caption"):
        try:
            style = document.styles[name]
        except KeyError:
            continue
        _set_fonts(style.element.get_or_add_rPr())
        font = style.font
        font.color.rgb = RGBColor(0, 0, 0)
    normal = document.styles["Normal"]
    normal.font.size = Pt(BODY_PT)
    title = document.styles["Title"]
    for border in title.element.findall(f"{qn('w:pPr')}/{qn('w:pBdr')}"):
        border.getparent().remove(border)
    title.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER


# --- borders ----------------------------------------------------------------------------------


def _border(tag: str, value: str, size: int | None = None) -> BaseOxmlElement:
    element = OxmlElement(tag)
    element.set(qn("w:val"), value)
    if size is not None:
        element.set(qn("w:sz"), str(size))
        element.set(qn("w:space"), "0")
        element.set(qn("w:color"), "000000")
    return element


def _insert_before(parent: object, child: object, successors: tuple[str, ...]) -> None:
    """Put ``child`` before the first of ``successors`` present (schema order), else last."""
    for tag in successors:
        found = parent.find(qn(tag))  # type: ignore[attr-defined]
        if found is not None:
            found.addprevious(child)
            return
    parent.append(child)  # type: ignore[attr-defined]


def _three_line_borders(table: object) -> None:
    """Top and bottom rules of the table; no left, right or inner lines."""
    tbl_pr = table._tbl.tblPr  # type: ignore[attr-defined]
    for old in tbl_pr.findall(qn("w:tblBorders")):
        tbl_pr.remove(old)
    borders = OxmlElement("w:tblBorders")
    borders.append(_border("w:top", "single", OUTER_RULE_EIGHTHS))
    borders.append(_border("w:left", "nil"))
    borders.append(_border("w:bottom", "single", OUTER_RULE_EIGHTHS))
    borders.append(_border("w:right", "nil"))
    borders.append(_border("w:insideH", "nil"))
    borders.append(_border("w:insideV", "nil"))
    _insert_before(tbl_pr, borders, _TBL_PR_AFTER_BORDERS)


def _rule_below(cell: _Cell) -> None:
    tc_pr = cell._tc.get_or_add_tcPr()
    borders = OxmlElement("w:tcBorders")
    borders.append(_border("w:bottom", "single", HEADER_RULE_EIGHTHS))
    _insert_before(tc_pr, borders, _TC_PR_AFTER_BORDERS)


def _keep_row_whole(row: object, *, header: bool = False) -> None:
    """A row never splits across pages (``w:cantSplit``); the header row repeats on
    every page (``w:tblHeader``)."""
    tr_pr = row._tr.get_or_add_trPr()  # type: ignore[attr-defined]
    tr_pr.append(OxmlElement("w:cantSplit"))
    if header:
        tr_pr.append(OxmlElement("w:tblHeader"))


# --- column widths ----------------------------------------------------------------------------


def _text_units(text: str) -> int:
    """Width of ``text`` in half-em units: 2 for a full-width character, else 1."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _breakable(word: str) -> bool:
    """Whether a line may break inside ``word``: it holds Chinese characters (numbers
    with full-width brackets, "-64.89（40）", must stay whole)."""
    return any(
        unicodedata.category(ch) == "Lo" and unicodedata.east_asian_width(ch) in "WF" for ch in word
    )


def _longest_word(text: str) -> int:
    """Units of the longest part of ``text`` a line cannot break inside."""
    longest = 0
    for word in text.split():
        units = _text_units(word)
        longest = max(longest, math.ceil(units / 2) if _breakable(word) else units)
    return longest


def _widths(table: Table, size: float) -> tuple[list[float], list[float]]:
    """(natural, minimum) width of each column in cm at font ``size``: its longest cell,
    and its longest word (a line can break between words, not inside one)."""
    char = CHAR_CM * size / TABLE_PT
    natural: list[float] = []
    minimum: list[float] = []
    for column in range(table.columns):
        longest = word = 0
        for row in table.rows:
            if row.group:
                continue
            indent = 3 * row.indent if column == 0 else 0
            text = row.cells[column].plain()
            longest = max(longest, _text_units(text) + indent)
            word = max(word, _longest_word(text) + indent)
        header = _longest_word(table.header[column])
        natural.append(max(longest, header, 3) * char + CELL_PADDING_CM)
        minimum.append(max(word, header, 3) * char + CELL_PADDING_CM)
    return natural, minimum


def column_widths(table: Table, size: float = TABLE_PT) -> list[float]:
    """Column widths (cm) at font ``size``: each column as wide as its longest cell
    (headers wrap between words). A table wider than the page takes the excess from the
    columns that can wrap, in proportion to how much each can give up without breaking
    a word; only if even that is too wide does every column shrink alike."""
    natural, minimum = _widths(table, size)
    excess = sum(natural) - TEXT_WIDTH_CM
    if excess <= 0:
        return natural
    slack = [wide - narrow for wide, narrow in zip(natural, minimum, strict=True)]
    if sum(minimum) >= TEXT_WIDTH_CM or sum(slack) <= 0:
        factor = TEXT_WIDTH_CM / sum(minimum)
        return [width * factor for width in minimum]
    share = excess / sum(slack)
    return [wide - give * share for wide, give in zip(natural, slack, strict=True)]


def table_font_size(table: Table) -> float:
    """:data:`TABLE_PT`, or :data:`WIDE_TABLE_PT` when the table would not fit the page."""
    fits = sum(_widths(table, TABLE_PT)[0]) <= TEXT_WIDTH_CM
    return TABLE_PT if fits else WIDE_TABLE_PT


# --- content ----------------------------------------------------------------------------------


def _paragraph(
    document: DocumentObject,
    text: str,
    *,
    style: str | None = None,
    bold: bool | None = None,
    size: float | None = None,
    align: WD_ALIGN_PARAGRAPH | None = None,
) -> Paragraph:
    paragraph = document.add_paragraph(style=style)
    if align is not None:
        paragraph.alignment = align
    _run(paragraph, text, bold=bold, size=size)
    return paragraph


def _write_cell(
    target: _Cell, cell: Cell, *, bold: bool = False, indent: int = 0, size: float = TABLE_PT
) -> None:
    paragraph = target.paragraphs[0]
    paragraph.paragraph_format.space_before = Pt(1)
    paragraph.paragraph_format.space_after = Pt(1)
    if indent:
        paragraph.paragraph_format.left_indent = Pt(INDENT_PT * indent)
    _run(paragraph, cell.text, bold=bold, size=size)
    if cell.marks:
        _run(paragraph, cell.marks, size=size)
    for label in cell.notes:
        _run(paragraph, label, superscript=True, size=size)


def _add_table(document: DocumentObject, table: Table) -> None:
    caption = _paragraph(document, table.caption, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    caption.paragraph_format.keep_with_next = True
    caption.paragraph_format.space_before = Pt(12)
    grid = document.add_table(rows=1 + len(table.rows), cols=table.columns)
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    grid.autofit = False
    size = table_font_size(table)
    for index, width in enumerate(column_widths(table, size)):
        grid.columns[index].width = Cm(width)
        for target in grid.columns[index].cells:
            target.width = Cm(width)
    _three_line_borders(grid)
    header = grid.rows[0]
    _keep_row_whole(header, header=True)
    for index, text in enumerate(table.header):
        target = header.cells[index]
        _write_cell(target, Cell(text), bold=True, size=size)
        target.paragraphs[0].alignment = (
            WD_ALIGN_PARAGRAPH.LEFT if index == 0 else WD_ALIGN_PARAGRAPH.CENTER
        )
        _rule_below(target)
    for row, body in zip(table.rows, grid.rows[1:], strict=True):
        _keep_row_whole(body)
        if row.group:
            merged = body.cells[0].merge(body.cells[-1]) if table.columns > 1 else body.cells[0]
            _write_cell(merged, row.cells[0], bold=True, size=size)
            continue
        for index, cell in enumerate(row.cells):
            target = body.cells[index]
            _write_cell(target, cell, indent=row.indent if index == 0 else 0, size=size)
            target.paragraphs[0].alignment = (
                WD_ALIGN_PARAGRAPH.LEFT if index == 0 else WD_ALIGN_PARAGRAPH.CENTER
            )
    for remark in table.remarks:
        _paragraph(document, remark, size=NOTE_PT).paragraph_format.space_after = Pt(0)
    for note in table.footnotes:
        paragraph = document.add_paragraph()
        paragraph.paragraph_format.space_after = Pt(0)
        _run(paragraph, note.label, superscript=True, size=NOTE_PT)
        _run(paragraph, " " + note.text, size=NOTE_PT)


def _page(document: DocumentObject) -> None:
    for section in document.sections:
        section.page_width = Mm(210)
        section.page_height = Mm(297)
        for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
            setattr(section, side, Cm(2))


def render(
    report: StudyReport,
    dataset: StudyDataset | None,
    lang: str,
    *,
    figures: FigureSet | None = None,
) -> bytes:
    """The whole report as a .docx file (bytes). ``figures``: already rendered figures
    to reuse (else they are drawn here)."""
    chosen = i18n.check_lang(lang)
    if figures is None:
        from kyphos.analysis.report.figures import render_figures

        figures = render_figures(report, dataset, chosen)
    document = Document()
    _page(document)
    _style_fonts(document)
    document.core_properties.title = message("report_title", chosen)
    document.core_properties.author = f"kyphos {report.kyphos_version}"
    if chosen == "zh":
        document.core_properties.language = "zh-CN"
    _paragraph(document, message("report_title", chosen), style="Title")
    for line in header_lines(report, chosen):
        _paragraph(document, line, align=WD_ALIGN_PARAGRAPH.CENTER)
    _paragraph(document, message("section_methods", chosen), style="Heading 1")
    _paragraph(document, methods_paragraph(report, chosen), align=WD_ALIGN_PARAGRAPH.JUSTIFY)
    _paragraph(document, message("section_results", chosen), style="Heading 1")
    protocol = dataset.protocol if dataset is not None else None
    for table in build_tables(report, chosen, protocol):
        _add_table(document, table)
    if figures.figures:
        _paragraph(document, message("section_figures", chosen), style="Heading 1")
    for number, figure in enumerate(figures.figures, start=1):
        picture = document.add_paragraph()
        picture.alignment = WD_ALIGN_PARAGRAPH.CENTER
        picture.paragraph_format.keep_with_next = True
        run = _run(picture, "")
        run.add_picture(io.BytesIO(figure.png), width=Cm(FIGURE_WIDTH_CM))
        caption = document.add_paragraph()
        caption.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _run(caption, message("figure_label", chosen, n=number) + " ", bold=True, size=NOTE_PT)
        _run(caption, figure.caption, size=NOTE_PT)
    if figures.notes:
        _paragraph(document, message("section_notes", chosen), style="Heading 1")
        for note in figures.notes:
            _paragraph(document, note)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
