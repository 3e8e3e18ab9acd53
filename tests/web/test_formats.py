"""Dates, numbers and coded values on the pages, per language.

The expected strings are written out by hand: Babel's CLDR medium date is "Mar 1, 2026"
in English and "2026年3月1日" in Chinese; both languages group thousands with "," and
write decimals with "."; the Chinese labels are those of CLINICAL.md's vocabularies
(technique, observer role) and of the page catalogues.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from jinja2 import Environment
from sqlalchemy import select
from web_client import Web

from kyphos.registry.models import (
    Measurement,
    Patient,
    Procedure,
    TreatedLevel,
    Vertebra,
    Visit,
)
from kyphos.web import i18n

# --- the formatters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "day", "month", "moment"),
    [
        ("en", "Mar 1, 2026", "Mar 2026", "Mar 1, 2026 09:05:07"),
        ("zh", "2026年3月1日", "2026年3月", "2026年3月1日 09:05:07"),
    ],
)
def test_dates_are_written_the_way_each_language_writes_them(
    lang: str, day: str, month: str, moment: str
) -> None:
    assert i18n.format_day(dt.date(2026, 3, 1), lang) == day
    assert i18n.format_day("2026-03-01", lang) == day
    assert i18n.format_day(dt.datetime(2026, 3, 1, 23, 59), lang) == day
    assert i18n.format_month("2026-03", lang) == month
    assert i18n.format_moment("2026-03-01T09:05:07", lang) == moment


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_numbers_have_fixed_decimals_and_grouped_thousands(lang: str) -> None:
    assert i18n.format_number(1234.5, lang, 1) == "1,234.5"
    assert i18n.format_number(1234567.891, lang, 2) == "1,234,567.89"
    assert i18n.format_number(12, lang, 1) == "12.0"
    assert i18n.format_number(7.25, lang, 0) == "7"
    assert i18n.format_number(10500, lang) == "10,500"
    assert i18n.format_number(-0.5, lang, 1) == "-0.5"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_value_not_recorded_is_a_dash(lang: str) -> None:
    assert i18n.format_day(None, lang) == "—"
    assert i18n.format_day("", lang) == "—"
    assert i18n.format_moment(None, lang) == "—"
    assert i18n.format_month(None, lang) == "—"
    assert i18n.format_number(None, lang, 1) == "—"


def test_a_text_that_is_not_a_date_is_shown_as_it_stands() -> None:
    assert i18n.format_day("unknown", "zh") == "unknown"
    assert i18n.format_moment("not a time", "en") == "not a time"


def test_the_filters_take_the_page_language() -> None:
    environment = Environment(autoescape=True)
    i18n.install(environment)
    template = environment.from_string(
        "{{ d|day(lang) }} | {{ m|month(lang) }} | {{ t|moment(lang) }} | {{ x|num(lang, 1) }}"
    )
    values = {"d": dt.date(2024, 1, 8), "m": "2024-01", "t": "2024-01-08T17:30:00", "x": 2345.67}
    assert template.render(lang="en", **values) == (
        "Jan 8, 2024 | Jan 2024 | Jan 8, 2024 17:30:00 | 2,345.7"
    )
    assert template.render(lang="zh", **values) == (
        "2024年1月8日 | 2024年1月 | 2024年1月8日 17:30:00 | 2,345.7"
    )


@pytest.mark.parametrize(
    ("kind", "code", "english", "chinese"),
    [
        ("technique", "kyphoplasty", "balloon kyphoplasty", "经皮椎体后凸成形术（PKP）"),
        ("observer_role", "primary", "primary reader", "主测量者"),
        ("observer_role", "adjudicator", "adjudicator", "仲裁者"),
        ("role", "admin", "administrator", "管理员"),
        ("status", "due", "due", "到期"),
        ("action", "update", "changed", "修改"),
        ("action", "read_identity", "read identity", "查看身份信息"),
        ("entity", "identity", "identity", "身份信息"),
        ("view", "lateral", "lateral view", "侧位"),
    ],
)
def test_coded_values_are_shown_as_labels_in_the_page_language(
    kind: str, code: str, english: str, chinese: str
) -> None:
    assert i18n.coded_label(kind, code, "en") == english
    assert i18n.coded_label(kind, code, "zh") == chinese


def test_a_code_outside_the_vocabulary_is_shown_as_it_stands() -> None:
    assert i18n.coded_label("action", "older_action", "zh") == "older_action"
    assert i18n.coded_label("technique", "sacroplasty", "zh") == "sacroplasty"
    assert i18n.coded_label("action", None, "zh") == ""


# --- the pages ---------------------------------------------------------------------------------


def _record_a_treated_and_measured_patient(web: Web) -> None:
    """OWN-1: kyphoplasty of T12 on 2024-01-01, a postop visit on 2024-01-08 (VAS 2.5) and
    a primary reader's measurement of T12 at it (anterior height 21.25 mm)."""
    with web.registry.write() as session:
        patient = session.execute(select(Patient).where(Patient.study_code == "OWN-1")).scalar_one()
        procedure = Procedure(patient_id=patient.id, procedure_date=dt.date(2024, 1, 1))
        vertebra = Vertebra(patient_id=patient.id, level="T12", treated=True)
        visit = Visit(
            patient_id=patient.id, timepoint="postop", visit_date=dt.date(2024, 1, 8), vas=2.5
        )
        session.add_all([procedure, vertebra, visit])
        session.flush()
        session.add(
            TreatedLevel(
                procedure_id=procedure.id,
                vertebra_id=vertebra.id,
                technique="kyphoplasty",
                leakage="",
            )
        )
        session.add(
            Measurement(
                vertebra_id=vertebra.id,
                visit_id=visit.id,
                observer="observer",
                role="primary",
                anterior_height_mm=21.25,
            )
        )


def _section(page: str, start: str, end: str) -> str:
    found = re.search(re.escape(start) + r"(.*?)" + re.escape(end), page, re.S)
    assert found is not None, start
    return found.group(1)


@pytest.mark.parametrize(
    ("lang", "procedure_day", "visit_day", "technique", "reader", "height"),
    [
        ("en", "Jan 1, 2024", "Jan 8, 2024", "balloon kyphoplasty", "primary reader", "21.2"),
        ("zh", "2024年1月1日", "2024年1月8日", "经皮椎体后凸成形术（PKP）", "主测量者", "21.2"),
    ],
)
def test_the_patient_page_writes_dates_numbers_and_codes_in_its_language(
    web: Web,
    lang: str,
    procedure_day: str,
    visit_day: str,
    technique: str,
    reader: str,
    height: str,
) -> None:
    _record_a_treated_and_measured_patient(web)
    page = web.sign_in("investigator").get(f"/patients/OWN-1?lang={lang}").text
    timeline = _section(page, '<ol class="timeline">', "</ol>")
    assert f'<time datetime="2024-01-01">{procedure_day}</time>' in timeline
    assert f'<time datetime="2024-01-08">{visit_day}</time>' in timeline
    assert f"T12 · {technique}" in timeline
    assert "kyphoplasty<" not in timeline.replace(technique, "")
    assert "2024-01-01<" not in page  # ISO dates only in attributes
    found = re.search(r'<tr><td>T12</td>(?:(?!</tr>).)*data-role="primary".*?</tr>', page, re.S)
    assert found is not None
    measured = found.group(0)
    assert f"({reader})" in measured and ">primary<" not in measured
    assert f'<td class="num">{height}</td>' in measured  # 21.25 rounded half to even
    assert '<td class="num">2.5</td>' in page  # the postop VAS


@pytest.mark.parametrize(
    ("lang", "when", "action", "record"),
    [
        ("en", "Mar 1, 2024 09:05:07", "changed", "identity"),
        ("zh", "2024年3月1日 09:05:07", "修改", "身份信息"),
    ],
)
def test_the_audit_page_writes_times_actions_and_records_in_its_language(
    web: Web, lang: str, when: str, action: str, record: str
) -> None:
    with web.registry.write() as session:
        web.registry.record(
            session,
            action="update",
            entity="identity",
            entity_key="OWN-1",
            before={"full_name": "hmac:abc"},
            after={"full_name": "hmac:def"},
            at=dt.datetime(2024, 3, 1, 9, 5, 7, tzinfo=dt.UTC),
        )
    page = web.sign_in("admin").get(f"/audit?patient=OWN-1&lang={lang}").text
    row = _section(page, '<time datetime="2024-03-01T09:05:07Z">', "</tr>")
    assert row.startswith(f"{when}</time>")
    assert f'<td data-action="update">{action}</td>' in row
    assert f'<td data-entity="identity">{record} OWN-1</td>' in row


@pytest.mark.parametrize(
    ("lang", "status", "opens", "closes"),
    [
        ("en", "due", "Jan 2, 2024", "Jan 15, 2024"),
        ("zh", "到期", "2024年1月2日", "2024年1月15日"),
    ],
)
def test_the_worklist_writes_states_and_window_dates_in_its_language(
    web: Web, lang: str, status: str, opens: str, closes: str
) -> None:
    # CLINICAL.md §10: index 2024-01-01, postop window day 1–14 = 2024-01-02 … 2024-01-15.
    with web.registry.write() as session:
        patient = session.execute(select(Patient).where(Patient.study_code == "OWN-1")).scalar_one()
        session.add(Procedure(patient_id=patient.id, procedure_date=dt.date(2024, 1, 1)))
    web.clock.now = dt.datetime(2024, 1, 5, 12, tzinfo=dt.UTC).timestamp()
    page = web.sign_in("investigator").get(f"/?lang={lang}").text
    row = _section(page, 'data-patient="OWN-1" data-timepoint="postop">', "</tr>")
    assert f'<span class="status status-due">{status}</span>' in row
    assert f'<time datetime="2024-01-02">{opens}</time>' in row
    assert f'<time datetime="2024-01-15">{closes}</time>' in row


def test_the_user_administration_shows_roles_as_labels(web: Web) -> None:
    page = web.sign_in("admin").get("/admin/users?lang=zh").text
    assert '<option value="observer" selected>阅片者</option>' in page
    assert ">observer</option>" not in page


@pytest.mark.parametrize(
    ("lang", "before", "after", "role"),
    [("en", "female", "male", "primary reader"), ("zh", "女", "男", "主测量者")],
)
def test_the_audit_page_shows_coded_changes_as_labels(
    web: Web, lang: str, before: str, after: str, role: str
) -> None:
    with web.registry.write() as session:
        web.registry.record(
            session,
            action="update",
            entity="patient",
            entity_key="OWN-1",
            before={"sex": "F", "age": 71},
            after={"sex": "M", "age": 72},
        )
        web.registry.record(
            session,
            action="create",
            entity="measurement",
            entity_key="OWN-1/T12/postop/observer",
            after={"role": "primary"},
        )
    page = web.sign_in("admin").get(f"/audit?patient=OWN-1&lang={lang}").text
    assert f"<dt>sex</dt><dd><del>{before}</del> → <ins>{after}</ins></dd>" in page
    assert "<dt>age</dt><dd><del>71</del> → <ins>72</ins></dd>" in page
    assert f"<dt>role</dt><dd><ins>{role}</ins></dd>" in page
