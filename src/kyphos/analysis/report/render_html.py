"""The study report as one self-contained HTML file, in English or Chinese.

Everything is inside the file: the CSS (with ``@media print`` rules for A4 paper) and
the figures (SVG as base64 data URIs: vector, so they print sharply, and isolated from
the page's CSS and ids). No fonts, scripts or images are fetched from anywhere.

Tables are journal three-line tables (a rule above and below the table and one under
the header, no vertical lines), with the caption above ("表1 …" / "Table 1 …") and the
remarks and footnotes below. The ``lang`` attribute is ``zh-CN`` or ``en`` so browsers
pick fonts and line breaking for the language.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from kyphos.analysis.report import i18n
from kyphos.analysis.report.i18n import message
from kyphos.analysis.report.tables import (
    Table,
    build_tables,
    header_lines,
    is_demo,
    methods_paragraph,
)
from kyphos.analysis.results import StudyReport

if TYPE_CHECKING:
    from kyphos.analysis.dataset import StudyDataset
    from kyphos.analysis.report.figures import FigureSet

__all__ = ["render"]

HTML_LANG = {"en": "en", "zh": "zh-CN"}

_FONTS = {
    "en": '"Times New Roman", Times, "Noto Serif", "Noto Serif CJK SC", serif',
    "zh": '"Times New Roman", "Noto Serif CJK SC", "Source Han Serif SC", "Songti SC", '
    "SimSun, serif",
}

_CSS = """
:root { color: #000; background: #fff; }
body { font-family: {{ fonts }}; font-size: 11pt; line-height: 1.55; max-width: 200mm;
       margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 18pt; text-align: center; margin: 0 0 .4em; }
h2 { font-size: 13pt; margin: 1.8em 0 .6em; border-bottom: 0.5pt solid #888; }
.meta { text-align: center; color: #222; margin: .1em 0; font-size: 10pt; }
.demo { border: 1pt solid #000; padding: .4em .8em; margin: 1em auto; max-width: 40em;
        text-align: center; font-weight: bold; }
p.methods { text-align: justify; }
.table-block { width: fit-content; max-width: 100%; margin: 1.6em auto 2em; }
.table-scroll { overflow-x: auto; }
table.three-line { border-collapse: collapse; margin: 0 auto; font-size: 9.5pt;
                   border-top: 1.5pt solid #000; border-bottom: 1.5pt solid #000; }
table.three-line caption { caption-side: top; font-weight: bold; font-size: 10.5pt;
                           padding-bottom: .5em; }
table.three-line th, table.three-line td { border: none; padding: .22em .7em;
                                           text-align: center; vertical-align: top; }
table.three-line thead th { border-bottom: 0.75pt solid #000; font-weight: bold; }
table.three-line th:first-child, table.three-line td:first-child { text-align: left; }
table.three-line tr.group th { text-align: left; font-weight: bold; padding-top: .4em; }
table.three-line tr.indent td:first-child { padding-left: 2em; }
table.three-line td { white-space: nowrap; }
table.three-line td:first-child { white-space: normal; min-width: 11em; }
.table-notes { font-size: 9pt; margin: .5em 0 0; max-width: 60em; }
.table-notes p { margin: .15em 0; }
sup { font-size: 70%; line-height: 0; }
figure.chart { margin: 1.6em auto; text-align: center; }
figure.chart img { max-width: 100%; height: auto; }
figure.chart figcaption { font-size: 10pt; margin-top: .4em; }
figure.chart figcaption b { margin-right: .5em; }
.figure-grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(85mm, 1fr));
               gap: 0 1.5em; }
ul.notes { font-size: 10pt; }
@page { size: A4; margin: 16mm 15mm; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 10.5pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .table-block, figure.chart { break-inside: avoid; page-break-inside: avoid; }
  .table-scroll { overflow: visible; }
  table.three-line { font-size: 8.5pt; }
  .figure-grid { grid-template-columns: 1fr 1fr; }
}
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="{{ html_lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="kyphos {{ version }}">
<title>{{ title }}</title>
<style>{{ css }}</style>
</head>
<body>
{%- macro cell(c) -%}
{{ c.text }}{{ c.marks }}{% for label in c.notes %}<sup>{{ label }}</sup>{% endfor %}
{%- endmacro %}
<header>
<h1>{{ title }}</h1>
{% for line in meta %}<p class="meta">{{ line }}</p>
{% endfor %}
{% if demo %}<p class="demo">{{ demo }}</p>{% endif %}
</header>
<main>
<section id="methods">
<h2>{{ methods_heading }}</h2>
<p class="methods">{{ methods }}</p>
</section>
<section id="results">
<h2>{{ results_heading }}</h2>
{% for table in tables %}
<div class="table-block" id="table-{{ loop.index }}">
<div class="table-scroll">
<table class="three-line">
<caption>{{ table.caption }}</caption>
<thead><tr>{% for text in table.header %}<th scope="col">{{ text }}</th>{% endfor %}</tr></thead>
<tbody>
{%- for row in table.rows %}
{%- if row.group %}
<tr class="group"><th scope="rowgroup" colspan="{{ table.columns }}">
{{- cell(row.cells[0]) }}</th></tr>
{%- else %}
<tr{% if row.indent %} class="indent"{% endif %}>
{%- for c in row.cells %}<td>{{ cell(c) }}</td>{% endfor %}</tr>
{%- endif %}
{%- endfor %}
</tbody>
</table>
</div>
{% if table.remarks or table.footnotes %}<div class="table-notes">
{% for remark in table.remarks %}<p>{{ remark }}</p>
{% endfor %}{% for note in table.footnotes %}<p><sup>{{ note.label }}</sup> {{ note.text }}</p>
{% endfor %}</div>{% endif %}
</div>
{% endfor %}
</section>
{% if figures %}
<section id="figures">
<h2>{{ figures_heading }}</h2>
<div class="figure-grid">
{% for figure in figures %}
<figure class="chart" id="figure-{{ loop.index }}">
<img src="data:image/svg+xml;base64,{{ figure.data }}" alt="{{ figure.caption }}">
<figcaption><b>{{ figure.label }}</b>{{ figure.caption }}</figcaption>
</figure>
{% endfor %}
</div>
</section>
{% endif %}
{% if notes %}
<section id="notes">
<h2>{{ notes_heading }}</h2>
<ul class="notes">{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>
</section>
{% endif %}
</main>
</body>
</html>
"""


@dataclass(frozen=True)
class _EmbeddedFigure:
    label: str
    caption: str
    data: str


def _environment() -> Environment:
    return Environment(autoescape=select_autoescape(default=True), keep_trailing_newline=True)


def _tables(report: StudyReport, dataset: StudyDataset | None, lang: i18n.Lang) -> list[Table]:
    protocol = dataset.protocol if dataset is not None else None
    return build_tables(report, lang, protocol)


def render(
    report: StudyReport,
    dataset: StudyDataset | None,
    lang: str,
    *,
    figures: FigureSet | None = None,
) -> str:
    """The whole report as one HTML document (text). ``figures``: already rendered
    figures to reuse (else they are drawn here)."""
    chosen = i18n.check_lang(lang)
    if figures is None:
        from kyphos.analysis.report.figures import render_figures

        figures = render_figures(report, dataset, chosen)
    embedded = [
        _EmbeddedFigure(
            label=message("figure_label", chosen, n=number),
            caption=figure.caption,
            data=base64.b64encode(figure.svg).decode("ascii"),
        )
        for number, figure in enumerate(figures.figures, start=1)
    ]
    environment = _environment()
    css = Markup(_CSS.replace("{{ fonts }}", _FONTS[chosen]))  # our own constant text
    lines = header_lines(report, chosen)
    demo_note = message("demo_note", chosen) if is_demo(report) else None
    meta = [line for line in lines if line != demo_note]
    template = environment.from_string(_TEMPLATE)
    return template.render(
        html_lang=HTML_LANG[chosen],
        version=report.kyphos_version,
        title=message("report_title", chosen),
        css=css,
        meta=meta,
        demo=demo_note,
        methods_heading=message("section_methods", chosen),
        methods=methods_paragraph(report, chosen),
        results_heading=message("section_results", chosen),
        tables=_tables(report, dataset, chosen),
        figures_heading=message("section_figures", chosen),
        figures=embedded,
        notes_heading=message("section_notes", chosen),
        notes=list(figures.notes),
    )
