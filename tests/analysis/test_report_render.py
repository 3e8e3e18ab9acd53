"""The study report rendered: tables, Markdown, HTML, Word, CSV and figures, in both languages.

Most tests use a small hand-made cohort (built with ``build_dataset``, no database) whose
edge cases are known: only one patient has a postoperative visit (so that column's SD
and every comparison with it cannot be computed: n < 2), one vertebra leaks at two
sites, one patient has an adjacent fracture, and the preoperative-to-final changes are
so consistent that their P values are below 0.001. Expected wording and rounding come
from the brief and CLINICAL.md (half away from zero; "<0.001"; "x̄ ± s"), not from
running the code.
"""

from __future__ import annotations

import csv
import html
import io
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pandas as pd
import pytest
from docx import Document
from docx.oxml.ns import qn

from kyphos.analysis.dataset import StudyDataset, build_dataset
from kyphos.analysis.report import (
    figures,
    i18n,
    render_csv,
    render_docx,
    render_html,
    render_md,
    tables,
)
from kyphos.analysis.report.figures import FigureSet
from kyphos.analysis.report.render_json import report_dict
from kyphos.analysis.results import BaselineRemark, StudyReport, compute_report
from kyphos.clinical.protocol import DEFAULT_PROTOCOL
from kyphos.registry.frames import ODI_COLUMNS
from kyphos.registry.repository import Registry

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
UTF8_BOM = b"\xef\xbb\xbf"
SVG_ROOT = "{http://www.w3.org/2000/svg}svg"
LEAKED = re.compile(r"\b(nan|NaN|None|inf)\b")


# --- a small cohort with known edge cases ------------------------------------------------------

PatientRow = tuple[int, str, int, float | None, float | None, float | None, str | None, str]
VertebraRow = tuple[int, int, str, bool, str | None, bool | None]
VisitRow = tuple[int, str, str, float, list[int | None]]
EventRow = tuple[int, str, str, str]

PATIENTS: list[PatientRow] = [
    # patient, sex, age, height, weight, T-score, comorbidities, injury
    (1, "F", 70, 160.0, 64.0, -3.1, "hypertension", "fall_walking"),
    (2, "M", 66, 170.0, 70.0, -2.8, "", "lifting"),
    (3, "F", 81, None, None, -3.6, "diabetes;hypertension", "twist_or_sit"),
    (4, "F", 74, 155.0, 50.0, None, None, "fall_walking"),
]
VERTEBRAE: list[VertebraRow] = [
    # vertebra, patient, level, treated, leakage, symptomatic
    (1, 1, "T12", True, "", False),
    (2, 1, "L1", True, "intradiscal;anterior", False),
    (3, 2, "L2", True, "", False),
    (4, 3, "T11", True, "", False),
    (5, 4, "L1", True, "", False),
    (6, 4, "L3", False, None, None),
]
# (patient, timepoint, date, vas, odi answers); patient 1 alone has a postop visit
VISITS: list[VisitRow] = [
    (1, "preop", "2010-01-08", 8.0, [4, 4, 5, 4, 4, 5, 4, None, 5, 5]),
    (1, "postop", "2010-01-17", 3.0, [2, 2, 2, 2, 2, 2, 2, None, 1, 2]),
    (1, "final", "2010-09-10", 2.0, [1, 1, 1, 1, 1, 1, 1, None, 1, 1]),
    (2, "preop", "2010-01-30", 9.0, [5, 5, 5, 5, 5, 5, 5, None, 5, 5]),
    (2, "final", "2010-09-01", 3.9, [2, 1, 1, 1, 2, 1, 1, None, 1, 1]),
    (3, "preop", "2010-02-27", 7.0, [4, 3, 4, 3, 3, 3, 4, None, 3, 3]),
    (3, "final", "2010-10-01", 2.1, [1, 0, 1, 0, 0, 0, 1, None, 0, 0]),
    (4, "preop", "2010-03-01", 6.0, [3, 3, 3, 3, 3, 3, 3, None, 3, 3]),
]
INDEX_DATES = {1: "2010-01-10", 2: "2010-02-01", 3: "2010-03-01", 4: "2010-03-02"}
EVENT: EventRow = (2, "2010-08-20", "adjacent_fracture", "L3")
MEASUREMENT_COLUMNS = [
    "vertebra",
    "patient",
    "timepoint",
    "observer",
    "role",
    "anterior_height_mm",
    "middle_height_mm",
    "posterior_height_mm",
    "wedge_angle_deg",
    "kyphotic_angle_deg",
]


Reading = tuple[int, int, str, str, float, float]


def _readings() -> list[Reading]:
    """Two observers read every treated vertebra before surgery and at final follow-up;
    one observer reads the postoperative film of patient 1."""
    rows = []
    base = {1: (14.0, 30.0), 2: (15.0, 28.0), 3: (13.0, 31.0), 4: (16.0, 27.0), 5: (12.0, 33.0)}
    patient_of = {vertebra: patient for vertebra, patient, *_ in VERTEBRAE}
    for vertebra, (height, angle) in base.items():
        patient = patient_of[vertebra]
        if patient == 4:
            continue
        for observer, offset in (("obs_a", 0.0), ("Obs_B", 0.3 + 0.1 * vertebra)):
            rows.append((vertebra, patient, "preop", observer, height + offset, angle - offset))
            final = (height + 9.0 + 0.05 * vertebra + offset, angle - 15.0 + 0.05 * vertebra)
            rows.append((vertebra, patient, "final", observer, *final))
        if patient == 1:
            rows.append((vertebra, patient, "postop", "obs_a", height + 10.0, angle - 17.0))
    return rows


def small_dataset(
    *,
    patients_rows: list[PatientRow] = PATIENTS,
    vertebrae_rows: list[VertebraRow] = VERTEBRAE,
    visits_rows: list[VisitRow] = VISITS,
    readings: list[Reading] | None = None,
    events_rows: list[EventRow] | None = None,
) -> StudyDataset:
    """The cohort above, or a part of it."""
    readings = _readings() if readings is None else readings
    events_rows = [EVENT] if events_rows is None else events_rows
    index_dates = {row[0]: INDEX_DATES[row[0]] for row in patients_rows}
    patients = pd.DataFrame(
        [
            {
                "patient": p,
                "site": "MAIN",
                "sex": sex,
                "age": age,
                "birth_date": None,
                "height_cm": height,
                "weight_kg": weight,
                "bmd_t_score": t_score,
                "comorbidities": comorbidities,
                "injury_mechanism": injury,
            }
            for p, sex, age, height, weight, t_score, comorbidities, injury in patients_rows
        ]
    )
    vertebrae = pd.DataFrame(
        [
            {
                "vertebra": v,
                "patient": p,
                "level": level,
                "mri_t1": "low",
                "mri_t2": None,
                "mri_stir": "high",
                "posterior_wall_intact": True,
                "morphology": "wedge",
                "treated": treated,
                "procedure_date": index_dates[p] if treated else None,
                "technique": "kyphoplasty" if treated else None,
                "approach": "bipedicular" if treated else None,
                "cement_volume_ml": 4.5 if treated else None,
                "leakage": leakage,
                "leakage_symptomatic": symptomatic,
            }
            for v, p, level, treated, leakage, symptomatic in vertebrae_rows
        ]
    )
    procedures = pd.DataFrame(
        [
            {"patient": p, "procedure_date": d, "anaesthesia": "local"}
            for p, d in index_dates.items()
        ]
    )
    visit_rows = []
    for number, (p, point, date, vas, answers) in enumerate(visits_rows, start=1):
        row = {"visit": number, "patient": p, "timepoint": point, "visit_date": date, "vas": vas}
        row.update(zip(ODI_COLUMNS, answers, strict=True))
        row["odi_version"] = "2.1a"
        visit_rows.append(row)
    visits = pd.DataFrame(visit_rows)
    measurements = pd.DataFrame(
        [
            {
                "vertebra": v,
                "patient": p,
                "timepoint": point,
                "observer": observer,
                "role": "primary",
                "anterior_height_mm": height,
                "middle_height_mm": None,
                "posterior_height_mm": None,
                "wedge_angle_deg": None,
                "kyphotic_angle_deg": angle,
            }
            for v, p, point, observer, height, angle in readings
        ],
        columns=MEASUREMENT_COLUMNS,
    )
    events = pd.DataFrame(
        [
            {
                "patient": p,
                "event_date": date,
                "type": kind,
                "level": level,
                "serious": False,
                "related": False,
            }
            for p, date, kind, level in events_rows
        ],
        columns=["patient", "event_date", "type", "level", "serious", "related"],
    )
    return build_dataset(
        DEFAULT_PROTOCOL, patients, vertebrae, procedures, visits, measurements, events
    )


@pytest.fixture(scope="module")
def dataset() -> StudyDataset:
    return small_dataset()


@pytest.fixture(scope="module")
def report(dataset: StudyDataset) -> StudyReport:
    return compute_report(dataset)


@pytest.fixture(scope="module")
def drawn(report: StudyReport, dataset: StudyDataset) -> dict[str, FigureSet]:
    """The figures in each language, drawn once for the module."""
    return {lang: figures.render_figures(report, dataset, lang) for lang in i18n.LANGS}


def _visible(text: str) -> str:
    """HTML as a reader sees it: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


# --- number formatting (journal conventions from the brief and CLINICAL.md) --------------------


def test_p_values_print_three_decimals_and_below_0_001_as_less_than() -> None:
    assert i18n.p_value(0.0004, "zh") == "<0.001"
    assert i18n.p_value(0.0004, "en") == "<0.001"
    assert i18n.p_value(0.0015, "en") == "0.002"  # half away from zero
    assert i18n.p_value(0.04999, "zh") == "0.050"
    assert i18n.p_value(None, "en") == "—"
    assert i18n.p_statement(0.0004, "en") == "P < 0.001"
    assert i18n.p_statement(0.0004, "zh") == "P<0.001"
    assert i18n.p_statement(0.032, "en") == "P = 0.032"


def test_means_percentages_and_intervals_round_half_away_from_zero() -> None:
    assert i18n.mean_sd(8.375, 0.6, 2) == "8.38 ± 0.60"
    assert i18n.mean_sd(2.5, None, 2) == "2.50 ± —"
    assert i18n.n_percent(10, 41) == "10 (24.4)"
    assert i18n.n_percent(0, 0) == "0 (—)"
    assert i18n.ci((0.0531542, 0.2060131), 1, "en", scale=100.0) == "5.3 to 20.6"
    assert i18n.ci((-2.266, -1.672), 2, "zh") == "-2.27～-1.67"
    assert i18n.estimate_ci(10.639, (10.248, 11.031), 2, "zh") == "10.64（10.25～11.03）"


def test_labels_follow_the_protocol_and_the_chinese_journal_wording() -> None:
    assert i18n.timepoint_label("preop", "zh", DEFAULT_PROTOCOL) == "术前"
    assert i18n.timepoint_label("postop", "zh", DEFAULT_PROTOCOL) == "术后1周"
    assert i18n.timepoint_label("final", "zh", DEFAULT_PROTOCOL).startswith("末次随访")
    assert i18n.timepoint_label("m12", "en") == "Month 12"  # the default label of m12
    assert i18n.timepoint_label("x9", "en") == "x9"  # not a key: printed as it is
    assert i18n.outcome_label("vas", "zh") == "VAS评分(cm)"
    assert i18n.outcome_label("odi", "en") == "ODI (%)"
    assert i18n.outcome_label("anterior_height_mm", "zh") == "伤椎前缘高度(mm)"
    assert i18n.outcome_label("kyphotic_angle_deg", "zh") == "后凸Cobb角(°)"
    with pytest.raises(ValueError, match="en, zh"):
        i18n.check_lang("fr")


# --- table models ------------------------------------------------------------------------------


def test_a_value_that_cannot_be_computed_is_a_dash_with_its_reason_as_footnote(
    report: StudyReport, dataset: StudyDataset
) -> None:
    outcomes = tables.outcomes_table(report, "en", 2, dataset.protocol)
    vas = next(row for row in outcomes.rows if row.cells[0].text == "VAS (cm)")
    postop = vas.cells[3]  # columns: outcome, n, preop, postop, final
    assert postop.text == "3.00 ± —"
    assert postop.notes
    reasons = {note.label: note.text for note in outcomes.footnotes}
    assert reasons[postop.notes[0]] == "Not computed: n < 2."
    comparisons = tables.comparisons_table(report, "zh", 3, dataset.protocol)
    dashed = [cell for row in comparisons.rows for cell in row.cells if cell.text == "—"]
    assert dashed and all(cell.notes for cell in dashed)
    texts = {note.text for note in comparisons.footnotes}
    assert "未计算：样本量 n < 2。" in texts


def test_table_two_marks_significant_differences_like_the_reference_study(
    report: StudyReport, dataset: StudyDataset
) -> None:
    table = tables.outcomes_table(report, "zh", 2, dataset.protocol)
    assert table.caption == "表2 手术前后各时间点临床及影像学指标比较（x̄ ± s）"
    assert table.header[2:] == ("术前", "术后1周", "末次随访时")
    height = next(row for row in table.rows if row.cells[0].text == "伤椎前缘高度(mm)")
    holm = {(c.a, c.b): c.p_holm for c in report.outcomes["anterior_height_mm"].comparisons}
    early = holm[("preop", "final")]
    assert early is not None and early < 0.001  # every vertebra gained about 9 mm
    late = holm[("postop", "final")]
    expected = "*" + ("#" if late is not None and late < 0.05 else "")
    assert height.cells[4].marks == expected
    assert height.cells[2].marks == ""  # the first column is never marked
    vas = next(row for row in table.rows if row.cells[0].text == "VAS评分(cm)")
    assert vas.cells[3].marks == ""  # one postoperative patient: no test, no marker
    assert any(remark.startswith("注：与术前比较，*P<0.05") for remark in table.remarks)


def test_every_table_is_numbered_and_has_no_leaked_missing_values(report: StudyReport) -> None:
    for lang, prefix in (("en", "Table "), ("zh", "表")):
        built = tables.build_tables(report, lang)
        assert [table.label for table in built] == [
            f"{prefix}{n}" for n in range(1, len(built) + 1)
        ]
        for table in built:
            for row in table.rows:
                assert len(row.cells) == table.columns
                for cell in row.cells:
                    assert not LEAKED.search(cell.plain()), (table.key, cell)


def test_baseline_remarks_are_numbered_and_translated(report: StudyReport) -> None:
    table = tables.baseline_table(report, "zh")
    numbered = [remark for remark in table.remarks if re.match(r"\d+\. ", remark)]
    assert len(numbered) == len(report.baseline_remarks) > 0
    assert any("体质量指数" in remark for remark in numbered)  # BMI missing for patient 3
    # Four patients, patient 3 without height/weight: BMI recorded for 3 of 4.
    assert BaselineRemark("bmi", "recorded", 3, 4) in report.baseline_remarks
    assert any("体质量指数：4例中3例有记录。" in remark for remark in numbered)
    english = tables.baseline_table(report, "en").remarks
    assert any("BMI: recorded for 3 of 4 patients." in remark for remark in english)


def test_methods_paragraph_names_tests_missing_data_odi_rule_and_icc_form(
    report: StudyReport,
) -> None:
    english = tables.methods_paragraph(report, "en")
    for words in ("paired t-test", "Holm", "Wilcoxon", "at most 2 sections missing", "ICC(2,1)"):
        assert words in english
    assert "complete pairs" in english and "missing at random" in english
    chinese = tables.methods_paragraph(report, "zh")
    for words in ("配对t检验", "缺失条目不超过2项", "ICC(2,1)", "P<0.05"):
        assert words in chinese


# --- Markdown and HTML --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "zh",
            ["表1", "表2", "术前", "术后1周", "末次随访", "x̄ ± s", "P值", "<0.001", "统计学方法"],
        ),
        ("en", ["Table 1", "Table 2", "Preoperative", "Postoperative 1 week", "mean ± SD"]),
    ],
)
def test_markdown_has_the_journal_headings(
    report: StudyReport, dataset: StudyDataset, lang: str, expected: list[str]
) -> None:
    text = render_md.render(report, dataset, lang)
    for words in expected:
        assert words in text, words
    assert "<0.001" in text
    assert not LEAKED.search(text)
    assert "—<sup>a</sup>" in text
    assert re.search(r"^<sup>a</sup> (Not computed|未计算)", text, re.MULTILINE)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_html_is_self_contained_with_embedded_figures(
    report: StudyReport, dataset: StudyDataset, drawn: dict[str, FigureSet], lang: str
) -> None:
    page = render_html.render(report, dataset, lang, figures=drawn[lang])
    assert f'<html lang="{render_html.HTML_LANG[lang]}">' in page
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<script" not in page and "@import" not in page
    assert page.count('src="data:image/svg+xml;base64,') == len(drawn[lang].figures) > 0
    assert "@media print" in page
    visible = _visible(page)
    assert not LEAKED.search(visible)
    assert "<0.001" in visible
    if lang == "zh":
        for words in ("表1", "术前", "术后1周", "末次随访", "x̄ ± s", "P值", "图1"):
            assert words in visible, words
    else:
        assert "Table 1" in visible and "Figure 1" in visible


def test_html_uses_three_line_tables_with_footnotes_for_dashes(
    report: StudyReport, dataset: StudyDataset, drawn: dict[str, FigureSet]
) -> None:
    page = render_html.render(report, dataset, "en", figures=drawn["en"])
    assert page.count('<table class="three-line">') == len(tables.build_tables(report, "en"))
    assert "border-top: 1.5pt solid #000" in page and "border-bottom: 1.5pt solid #000" in page
    assert "—<sup>a</sup>" in page
    assert "<sup>a</sup> Not computed: n &lt; 2." in page


def test_a_demo_report_says_so_on_the_page(
    report: StudyReport, dataset: StudyDataset, drawn: dict[str, FigureSet]
) -> None:
    from dataclasses import replace

    demo = replace(report, settings={**report.settings, "demo": True}, site="BJ")
    page = _visible(render_html.render(demo, dataset, "zh", figures=drawn["zh"]))
    assert "演示数据" in page and "中心：BJ" in page


# --- Word -------------------------------------------------------------------------------------


def test_docx_has_three_line_tables_east_asian_fonts_and_pictures(
    report: StudyReport, dataset: StudyDataset, drawn: dict[str, FigureSet]
) -> None:
    content = render_docx.render(report, dataset, "zh", figures=drawn["zh"])
    document = Document(io.BytesIO(content))
    assert len(document.tables) == len(tables.build_tables(report, "zh"))
    for table in document.tables:
        borders = table._tbl.tblPr.find(qn("w:tblBorders"))
        assert borders is not None
        values = {child.tag.split("}")[1]: child.get(qn("w:val")) for child in borders}
        assert values == {
            "top": "single",
            "bottom": "single",
            "left": "nil",
            "right": "nil",
            "insideH": "nil",
            "insideV": "nil",
        }
        header_rules = [
            cell._tc.find(f"{qn('w:tcPr')}/{qn('w:tcBorders')}/{qn('w:bottom')}")
            for cell in table.rows[0].cells
        ]
        assert all(rule is not None and rule.get(qn("w:val")) == "single" for rule in header_rules)
        for row in table.rows[1:]:
            for cell in row.cells:
                assert cell._tc.find(f"{qn('w:tcPr')}/{qn('w:tcBorders')}") is None
    runs = document.element.body.iter(qn("w:r"))
    missing = [
        run
        for run in runs
        if run.find(f"{qn('w:rPr')}/{qn('w:rFonts')}") is None
        or run.find(f"{qn('w:rPr')}/{qn('w:rFonts')}").get(qn("w:eastAsia")) is None
    ]
    assert missing == []
    assert len(document.inline_shapes) == len(drawn["zh"].figures)
    text = "\n".join(paragraph.text for paragraph in document.paragraphs)
    cells = "\n".join(
        cell.text for table in document.tables for row in table.rows for cell in row.cells
    )
    assert "表1" in text and "<0.001" in cells and not LEAKED.search(text + cells)


# --- CSV --------------------------------------------------------------------------------------


def test_csv_writes_one_utf8_bom_file_per_table(
    report: StudyReport, dataset: StudyDataset, tmp_path: Path
) -> None:
    folder = tmp_path / "tables"
    written = render_csv.write(report, dataset, "zh", folder)
    built = tables.build_tables(report, "zh", dataset.protocol)
    assert sorted(path.name for path in folder.iterdir()) == sorted(p.name for p in written)
    assert len(written) == len(built)
    for path, table in zip(written, built, strict=True):
        raw = path.read_bytes()
        assert raw.startswith(UTF8_BOM)
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert rows[0] == [table.caption]
        assert tuple(rows[1]) == table.header
        assert not LEAKED.search(raw.decode("utf-8-sig"))
    assert written[0].name == "table1_baseline.csv"


# --- figures ------------------------------------------------------------------------------------


def test_figures_are_valid_png_and_svg(drawn: dict[str, FigureSet]) -> None:
    for figure_set in drawn.values():
        keys = [figure.key for figure in figure_set.figures]
        assert keys == [
            "outcome_vas",
            "outcome_odi",
            "outcome_anterior_height_mm",
            "outcome_kyphotic_angle_deg",
            "bland_altman_anterior_height_mm",
            "bland_altman_kyphotic_angle_deg",
            "spine_levels",
            "new_fracture_free",
        ]
        for figure in figure_set.figures:
            assert figure.png.startswith(PNG_MAGIC)
            assert ElementTree.fromstring(figure.svg).tag == SVG_ROOT
            assert figure.caption and not LEAKED.search(figure.caption)


def test_chinese_figure_labels_use_a_font_that_has_the_glyphs(
    drawn: dict[str, FigureSet],
) -> None:
    family = figures.cjk_font()
    if family is None:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail("no CJK font: install the Debian package fonts-noto-cjk")
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk)")
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    path = font_manager.findfont(
        font_manager.FontProperties(family=family), fallback_to_default=False
    )
    font = FT2Font(path)
    for character in "术前后周末次随访均数伤椎":
        assert font.get_char_index(ord(character)) != 0, character
    assert drawn["zh"].lang == "zh" and drawn["zh"].notes == ()


def test_without_a_cjk_font_figures_fall_back_to_english_with_a_note(
    report: StudyReport, dataset: StudyDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(figures, "cjk_font", lambda: None)
    figure = figures.spine_figure(report, "zh")
    assert isinstance(figure, figures.Figure)
    assert figures._labels_lang("zh") == ("en", i18n.message("f_no_font", "zh"))
    assert "fonts-noto-cjk" in i18n.message("f_no_font", "zh")


def test_bland_altman_points_are_the_pairs_the_report_measured_agreement_on(
    report: StudyReport, dataset: StudyDataset
) -> None:
    for outcome, agreement in report.reliability.items():
        pairs = figures.observer_pairs(dataset, outcome)
        assert len(pairs) == agreement.pairs == 8
        bias = float((pairs["second"] - pairs["first"]).mean())
        assert bias == pytest.approx(agreement.bland_altman.bias)


def test_figures_that_cannot_be_drawn_are_named_in_the_notes(report: StudyReport) -> None:
    without_data = figures.render_figures(report, None, "en")
    keys = {figure.key for figure in without_data.figures}
    assert "bland_altman_anterior_height_mm" not in keys
    assert any("Bland–Altman" in note for note in without_data.notes)
    assert "spine_levels" in keys and "new_fracture_free" in keys


def test_a_cohort_with_only_a_preoperative_visit_renders_every_format(tmp_path: Path) -> None:
    lonely = small_dataset(
        patients_rows=PATIENTS[:1],
        vertebrae_rows=VERTEBRAE[:1],
        visits_rows=VISITS[:1],
        readings=[],
        events_rows=[],
    )
    result = compute_report(lonely)
    for lang in i18n.LANGS:
        drawn_set = figures.render_figures(result, lonely, lang)
        assert {f.key for f in drawn_set.figures} == {"outcome_vas", "outcome_odi", "spine_levels"}
        assert len(drawn_set.notes) == 5  # two outcome plots, two Bland–Altman, Kaplan–Meier
        text = render_md.render(result, lonely, lang)
        page = _visible(render_html.render(result, lonely, lang, figures=drawn_set))
        document = Document(io.BytesIO(render_docx.render(result, lonely, lang, figures=drawn_set)))
        written = render_csv.write(result, lonely, lang, tmp_path / lang)
        assert len(document.tables) == len(written)
        for output in (text, page):
            assert not LEAKED.search(output)
            assert "—" in output
    table = tables.outcomes_table(result, "en", 2, lonely.protocol)
    assert [cell.text for cell in table.rows[0].cells] == [
        "VAS (cm)",
        "1/0/0",
        "8.00 ± —",
        "—",
        "—",
    ]
    assert not any("P < 0.05 vs" in remark for remark in table.remarks)  # nothing marked


def test_importing_the_renderers_does_not_import_matplotlib() -> None:
    code = (
        "import sys\n"
        "import kyphos.analysis.report.figures, kyphos.analysis.report.render_html\n"
        "import kyphos.analysis.report.render_docx, kyphos.analysis.report.render_md\n"
        "print('matplotlib' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


# --- the demo cohort ---------------------------------------------------------------------------


def test_the_demo_cohort_renders_in_both_languages(registry: Registry, tmp_path: Path) -> None:
    from kyphos.analysis import load_dataset
    from kyphos.demo import load_demo

    load_demo(registry, patients=41)
    data = load_dataset()
    result = compute_report(data)
    chinese = render_md.render(result, data, "zh")
    assert "表1 41例患者（65个伤椎）基线资料" in chinese
    assert "<0.001" in chinese and "末次随访时" in chinese
    english = render_md.render(result, data, "en")
    assert "Table 1 Baseline characteristics of 41 patients (65 treated vertebrae)" in english
    for text in (chinese, english):
        assert not LEAKED.search(text)
    written = render_csv.write(result, data, "en", tmp_path / "csv")
    assert all(path.read_bytes().startswith(UTF8_BOM) for path in written)


def test_the_evidence_section_is_in_every_format_and_both_languages(tmp_path: Path) -> None:
    from kyphos.analysis.cohorts import builtin_cohorts

    data = small_dataset()
    result = compute_report(data, references=builtin_cohorts())
    assert [comparison.citation for comparison in result.evidence] == ["Zhang et al. 2011"]
    titles = {
        "en": "This cohort beside a published cohort: Zhang et al. 2011",
        "zh": "本组与已发表病例组比较：Zhang et al. 2011",
    }
    for lang, title in titles.items():
        drawn_set = figures.render_figures(result, data, lang)
        assert "evidence_zhang-2011" in {figure.key for figure in drawn_set.figures}
        text = render_md.render(result, data, lang, figures=drawn_set)
        page = _visible(render_html.render(result, data, lang, figures=drawn_set))
        document = Document(io.BytesIO(render_docx.render(result, data, lang, figures=drawn_set)))
        written = render_csv.write(result, data, lang, tmp_path / lang)
        docx_text = "\n".join(paragraph.text for paragraph in document.paragraphs)
        for output in (text, page, docx_text):
            assert title in output
            assert "10.3969/j.issn.1003-0034.2011.07.010" in output
        assert any("evidence" in path.name for path in written)
        # The reference's impossible printed t explains its missing change CIs, in Chinese
        # in the Chinese report.
        if lang == "zh":
            assert "文献报告的配对t值与其报告的均数和标准差不相容" in text
        for output in (text, page):
            assert not LEAKED.search(output)
    json_document = report_dict(result)
    assert json_document["evidence"]["cohorts"][0]["key"] == "zhang-2011"
