"""The record forms (issue 6): create, edit and delete through the pages, as a person would.

Expected numbers come from CLINICAL.md (ODI §1, MRI acuity §6); what a form saved is read
back with raw SQL, not through the code under test.
"""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from web_client import Web

from kyphos.registry import editing
from kyphos.registry.access import Principal

_READER = Principal(user_id=0, username="test-reader", role="admin", site_ids=frozenset())
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def _signed_in(web: Web, role: str) -> tuple[TestClient, str]:
    client = web.sign_in(role)
    return client, web.page_csrf(client)


def _element(page: str, element_id: str) -> str:
    """The text inside the element with ``element_id`` (no nested tags expected)."""
    found = re.search(rf'id="{re.escape(element_id)}"[^>]*>([^<]*)<', page)
    assert found is not None, f"no element {element_id!r}"
    return html.unescape(found.group(1)).strip()


def _selected(page: str, select_id: str) -> str:
    block = re.search(rf'<select name="[^"]+" id="{re.escape(select_id)}".*?</select>', page, re.S)
    assert block is not None, f"no select {select_id!r}"
    chosen = re.search(r'<option value="([^"]*)" selected>', block.group(0))
    return chosen.group(1) if chosen else ""


def _rows(web: Web, sql: str, **params: object) -> list[tuple[object, ...]]:
    with web.registry.read() as session:
        return [tuple(row) for row in session.execute(text(sql), params)]


def _visit_form(answers: list[int | None], **fields: str) -> dict[str, str]:
    data = {f"odi_{n}": "" if a is None else str(a) for n, a in enumerate(answers, start=1)}
    return {**data, **fields}


# --- patients --------------------------------------------------------------------------------


def test_create_patient_with_identity_through_the_form_stores_it(web: Web) -> None:
    client, token = _signed_in(web, "investigator")
    form = client.get("/patients/new")
    assert form.status_code == 200
    for name in ("patient_id", "site", "sex", "age", "full_name", "hospital_number", "phone"):
        assert f'name="{name}" id="{name}"' in form.text or f'id="{name}"' in form.text, name
    answer = client.post(
        "/patients/new",
        data={
            "csrf_token": token,
            "patient_id": "NEW-7",
            "site": "MAIN",
            "sex": "M",
            "age": "68",
            "comorbidities": ["hypertension", "diabetes"],
            "full_name": "Zhao Liu",
            "hospital_number": "H-NEW-7",
            "phone": "555-0107",
        },
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/patients/NEW-7"
    stored = _rows(
        web,
        "SELECT p.sex, p.age, p.comorbidities, s.code, i.full_name, i.hospital_number, i.phone "
        "FROM patient p JOIN site s ON s.id = p.site_id "
        "JOIN patient_identity i ON i.patient_id = p.id WHERE p.study_code = 'NEW-7'",
    )
    assert stored == [("M", 68, "diabetes;hypertension", "MAIN", "Zhao Liu", "H-NEW-7", "555-0107")]


def test_refused_form_keeps_the_values_and_locates_the_message_in_english_and_chinese(
    web: Web,
) -> None:
    client, token = _signed_in(web, "investigator")
    data = {
        "csrf_token": token,
        "patient_id": "NEW-8",
        "site": "MAIN",
        "sex": "F",
        "age": "150",
        "full_name": "Kept Name",
    }
    english = client.post("/patients/new", data=data)
    assert english.status_code == 422
    assert 'value="150"' in english.text and 'value="Kept Name"' in english.text
    assert _selected(english.text, "sex") == "F"
    message = _element(english.text, "error-age")
    assert "150" in message and "age" in message and not CJK.search(message)
    assert 'class="form-errors" role="alert"' in english.text
    chinese = client.post("/patients/new?lang=zh", data=data)
    assert chinese.status_code == 422
    message_zh = _element(chinese.text, "error-age")
    assert "150" in message_zh and CJK.search(message_zh)
    assert 'value="Kept Name"' in chinese.text
    assert _rows(web, "SELECT id FROM patient WHERE study_code = 'NEW-8'") == []


def test_edit_form_shows_identity_and_audits_that_read(web: Web) -> None:
    client, _ = _signed_in(web, "investigator")
    page = client.get("/patients/OWN-1/edit")
    assert page.status_code == 200
    assert 'value="Wang Own"' in page.text and 'value="H-OWN-77"' in page.text
    reads = _rows(
        web,
        "SELECT reason FROM audit_event WHERE action = 'read_identity' AND entity_key = 'OWN-1'",
    )
    assert ("edit form",) in reads


# --- visits and ODI --------------------------------------------------------------------------


def test_visit_form_stores_the_odi_answers_and_shows_the_clinical_md_percent(web: Web) -> None:
    client, token = _signed_in(web, "investigator")
    # CLINICAL.md §1 [C]: [1,2,2,1,2,1,2,1,2,2] → raw 16, 32.0 %.
    answer = client.post(
        "/patients/OWN-1/visits/new",
        data=_visit_form([1, 2, 2, 1, 2, 1, 2, 1, 2, 2], csrf_token=token, timepoint="postop"),
    )
    assert answer.status_code == 303, answer.text
    ((visit_id, *answers),) = _rows(
        web,
        "SELECT v.id, odi_1, odi_2, odi_3, odi_4, odi_5, odi_6, odi_7, odi_8, odi_9, odi_10 "
        "FROM visit v JOIN patient p ON p.id = v.patient_id "
        "WHERE p.study_code = 'OWN-1' AND v.timepoint = 'postop'",
    )
    assert answers == [1, 2, 2, 1, 2, 1, 2, 1, 2, 2]
    page = client.get(f"/patients/OWN-1/visits/{visit_id}/edit")
    assert _element(page.text, "odi-percent") == "32.0 %"
    assert _element(page.text, "odi-band") == "moderate disability"  # ≤ 40: moderate
    # The same with section 8 missing and section 9 = 3 → 16/45 = 35.56 %.
    version = _element_value(page.text, "version")
    answer = client.post(
        f"/patients/OWN-1/visits/{visit_id}/edit",
        data=_visit_form(
            [1, 2, 2, 1, 2, 1, 2, None, 3, 2],
            csrf_token=token,
            timepoint="postop",
            version=version,
        ),
    )
    assert answer.status_code == 303, answer.text
    record = editing.read_item(web.registry, _READER, "OWN-1", "visits", visit_id)
    assert record["odi_percent"] == pytest.approx(16 / 45 * 100)
    assert record["odi_unscored_reason"] is None
    page = client.get(f"/patients/OWN-1/visits/{visit_id}/edit")
    assert _element(page.text, "odi-percent") == "35.6 %"


def _element_value(page: str, element_id: str) -> str:
    found = re.search(rf'id="{re.escape(element_id)}" value="([^"]*)"', page)
    assert found is not None, f"no value of {element_id!r}"
    return found.group(1)


def test_visit_with_three_sections_missing_is_unscored_and_says_why(web: Web) -> None:
    client, token = _signed_in(web, "investigator")
    answer = client.post(
        "/patients/OWN-1/visits/new",
        data=_visit_form([1, 2, None, 1, None, 1, 2, None, 2, 2], csrf_token=token, timepoint="m1"),
    )
    assert answer.status_code == 303, answer.text
    visits = editing.list_items(web.registry, _READER, "OWN-1", "visits")
    (m1,) = [visit for visit in visits if visit["timepoint"] == "m1"]
    assert m1["odi_percent"] is None
    assert "3 sections are missing" in m1["odi_unscored_reason"]
    page = client.get(f"/patients/OWN-1/visits/{m1['id']}/edit")
    assert _element(page.text, "odi-percent") == "—"
    assert "3 sections are missing" in _element(page.text, "odi-reason")


@pytest.mark.parametrize(
    ("answers", "percent", "shown", "band"),
    [
        ([1, 2, 2, 1, 2, 1, 2, 1, 2, 2], 32.0, "32.0", "moderate"),
        ([1, 2, 2, 1, 2, 1, 2, None, 3, 2], 16 / 45 * 100, "35.6", "moderate"),
        ([3, 2, 4, 3, 3, 2, 2, None, 3, 2], 24 / 45 * 100, "53.3", "severe"),
    ],
)
def test_odi_endpoint_scores_the_clinical_md_examples(
    web: Web, answers: list[int | None], percent: float, shown: str, band: str
) -> None:
    client, _ = _signed_in(web, "observer")
    query = {f"odi_{n}": str(a) for n, a in enumerate(answers, start=1) if a is not None}
    body = client.get("/forms/odi", params=query).json()
    assert body["percent"] == pytest.approx(percent)
    assert body["percent_text"] == shown
    assert body["band"] == band
    assert body["answered"] == sum(a is not None for a in answers)
    assert body["reason"] is None


def test_odi_endpoint_gives_no_score_with_three_sections_missing_and_says_why(web: Web) -> None:
    client, _ = _signed_in(web, "investigator")
    query = {f"odi_{n}": "2" for n in range(1, 8)}
    english = client.get("/forms/odi", params=query).json()
    assert english["percent"] is None and english["answered"] == 7
    assert "3 sections are missing (8, 9, 10)" in english["reason"]
    chinese = client.get("/forms/odi", params={**query, "lang": "zh"}).json()
    assert CJK.search(chinese["reason"])
    every = {f"odi_{n}": "5" for n in range(1, 11)}
    full = client.get("/forms/odi", params={**every, "lang": "zh"}).json()
    assert full["percent"] == 100.0 and full["band"] == "bed_bound"  # > 80: bed-bound
    assert CJK.search(full["band_label"])


def test_odi_endpoint_refuses_an_answer_outside_0_to_5_with_its_field(web: Web) -> None:
    client, _ = _signed_in(web, "investigator")
    answer = client.get("/forms/odi", params={"odi_1": "1", "odi_3": "6"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "odi_3"]


@pytest.mark.parametrize(
    ("signals", "verdict"),
    [
        # CLINICAL.md §6: acute = T1 low AND fluid-sensitive (STIR, else T2) high.
        ({"mri_t1": "low", "mri_stir": "high"}, "acute_or_subacute"),
        ({"mri_t1": "low", "mri_t2": "high"}, "acute_or_subacute"),
        ({"mri_t1": "iso", "mri_t2": "high", "mri_stir": "iso"}, "chronic"),
        ({"mri_t1": "low", "mri_stir": "iso"}, "indeterminate"),
        ({"mri_t2": "high", "mri_stir": "high"}, "indeterminate"),
        ({"mri_t1": "low"}, "indeterminate"),
    ],
)
def test_acuity_endpoint_follows_clinical_md(
    web: Web, signals: dict[str, str], verdict: str
) -> None:
    client, _ = _signed_in(web, "analyst")
    body = client.get("/forms/acuity", params=signals).json()
    assert body["acuity"] == verdict


def test_acuity_endpoint_labels_in_chinese_and_refuses_an_unknown_signal(web: Web) -> None:
    client, _ = _signed_in(web, "investigator")
    body = client.get(
        "/forms/acuity", params={"mri_t1": "low", "mri_stir": "high", "lang": "zh"}
    ).json()
    assert CJK.search(body["label"])
    refused = client.get("/forms/acuity", params={"mri_t1": "bright"})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["query", "mri_t1"]


def test_readouts_need_a_signed_in_session(web: Web) -> None:
    answer = web.client_for().get("/forms/odi?odi_1=2")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")


# --- vertebrae and procedures ----------------------------------------------------------------


def _add_vertebra(client: TestClient, token: str, level: str, treated: str = "yes") -> None:
    answer = client.post(
        "/patients/OWN-1/vertebrae/new",
        data={
            "csrf_token": token,
            "level": level,
            "mri_t1": "low",
            "mri_stir": "high",
            "treated": treated,
        },
    )
    assert answer.status_code == 303, answer.text


def test_procedure_form_records_two_levels_with_leakage(web: Web) -> None:
    client, token = _signed_in(web, "investigator")
    _add_vertebra(client, token, "T12")
    _add_vertebra(client, token, "L1")
    _add_vertebra(client, token, "L3", treated="no")
    form = client.get("/patients/OWN-1/procedures/new")
    # pre-filled with the vertebrae recorded treated that no procedure has yet
    assert _selected(form.text, "levels-0-level") == "T12"
    assert _selected(form.text, "levels-1-level") == "L1"
    assert 'id="levels-2-level"' not in form.text
    assert 'id="add-level"' in form.text and 'id="level-row-template"' in form.text
    answer = client.post(
        "/patients/OWN-1/procedures/new",
        data={
            "csrf_token": token,
            "procedure_date": "2026-03-02",
            "anaesthesia": "local",
            "levels-0-level": "T12",
            "levels-0-technique": "kyphoplasty",
            "levels-0-cement_volume_ml": "4.5",
            "levels-0-leakage": ["venous", "intradiscal"],
            "levels-1-level": "L1",
            "levels-1-technique": "vertebroplasty",
            "levels-1-cement_volume_ml": "3",
            "levels-2-level": "",  # an added row left blank is not a level
        },
    )
    assert answer.status_code == 303, answer.text
    stored = _rows(
        web,
        "SELECT v.level, t.technique, t.cement_volume_ml, t.leakage FROM treated_level t "
        "JOIN vertebra v ON v.id = t.vertebra_id ORDER BY v.level DESC",
    )
    assert stored == [
        ("T12", "kyphoplasty", 4.5, "intradiscal;venous"),
        ("L1", "vertebroplasty", 3.0, ""),
    ]


def test_procedure_form_locates_a_level_problem_in_its_row(web: Web) -> None:
    client, token = _signed_in(web, "investigator")
    _add_vertebra(client, token, "L2")
    answer = client.post(
        "/patients/OWN-1/procedures/new",
        data={
            "csrf_token": token,
            "procedure_date": "2026-03-02",
            "levels-0-level": "L2",
            "levels-0-cement_volume_ml": "4",
            "levels-1-level": "L4",  # not recorded treated
            "levels-1-leakage": ["venous"],
        },
    )
    assert answer.status_code == 422
    assert "L4" in _element(answer.text, "error-levels-1-level")
    assert 'id="levels-1-leakage-venous" value="venous" checked' in answer.text
    assert _rows(web, "SELECT id FROM procedure") == []


def test_vertebra_form_shows_the_acuity_verdict(web: Web) -> None:
    client, token = _signed_in(web, "investigator")
    _add_vertebra(client, token, "T11")
    (vertebra_id,) = _rows(web, "SELECT id FROM vertebra WHERE level = 'T11'")[0]
    page = client.get(f"/patients/OWN-1/vertebrae/{vertebra_id}/edit")
    assert _element(page.text, "acuity-verdict") == "acute/subacute"  # T1 low, STIR high


def test_deleting_a_vertebra_with_a_procedure_is_refused_with_the_message(web: Web) -> None:
    client, token = _signed_in(web, "investigator")
    _add_vertebra(client, token, "L1")
    client.post(
        "/patients/OWN-1/procedures/new",
        data={"csrf_token": token, "procedure_date": "2026-03-02", "levels-0-level": "L1"},
    )
    ((vertebra_id, version),) = _rows(web, "SELECT id, version FROM vertebra")
    refused = client.post(
        f"/patients/OWN-1/vertebrae/{vertebra_id}/delete",
        data={"csrf_token": token, "version": str(version)},
    )
    assert refused.status_code == 422
    assert "remove its treated level first" in refused.text
    assert _rows(web, "SELECT id FROM vertebra") == [(vertebra_id,)]


def test_delete_button_removes_a_visit_and_goes_back_to_the_patient(web: Web) -> None:
    client, token = _signed_in(web, "investigator")
    ((visit_id, version),) = _rows(
        web,
        "SELECT v.id, v.version FROM visit v JOIN patient p ON p.id = v.patient_id "
        "WHERE p.study_code = 'OWN-1'",
    )
    page = client.get(f"/patients/OWN-1/visits/{visit_id}/edit")
    assert 'class="delete-form" data-confirm=' in page.text
    answer = client.post(
        f"/patients/OWN-1/visits/{visit_id}/delete",
        data={"csrf_token": token, "version": str(version)},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/patients/OWN-1"
    assert _rows(web, "SELECT id FROM visit WHERE id = :id", id=visit_id) == []


# --- stale edits ------------------------------------------------------------------------------


def test_stale_edit_shows_both_versions_and_overwrites_nothing(web: Web) -> None:
    first, token_first = _signed_in(web, "investigator")
    second, token_second = _signed_in(web, "admin")
    ((visit_id, version),) = _rows(
        web,
        "SELECT v.id, v.version FROM visit v JOIN patient p ON p.id = v.patient_id "
        "WHERE p.study_code = 'OWN-1'",
    )
    read = str(version)
    saved = first.post(
        f"/patients/OWN-1/visits/{visit_id}/edit",
        data={"csrf_token": token_first, "version": read, "timepoint": "preop", "vas": "5.5"},
    )
    assert saved.status_code == 303
    stale = second.post(
        f"/patients/OWN-1/visits/{visit_id}/edit",
        data={"csrf_token": token_second, "version": read, "timepoint": "preop", "vas": "6"},
    )
    assert stale.status_code == 409
    assert 'id="vas" value="6"' in stale.text  # what the user typed
    assert _element(stale.text, "stored-vas").endswith("5.5")  # what is stored now
    assert _element_value(stale.text, "version") == str(version + 1)
    assert _rows(web, "SELECT vas FROM visit WHERE id = :id", id=visit_id) == [(5.5,)]
    # saving again with the stored version overwrites on purpose
    again = second.post(
        f"/patients/OWN-1/visits/{visit_id}/edit",
        data={
            "csrf_token": token_second,
            "version": str(version + 1),
            "timepoint": "preop",
            "vas": "6",
        },
    )
    assert again.status_code == 303
    assert _rows(web, "SELECT vas FROM visit WHERE id = :id", id=visit_id) == [(6.0,)]


# --- roles, sites, CSRF -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["observer", "analyst"])
def test_observers_and_analysts_get_403_and_write_nothing(web: Web, role: str) -> None:
    client, token = _signed_in(web, role)
    assert client.get("/patients/new").status_code == 403
    assert client.get("/patients/OWN-1/edit").status_code == 403
    assert client.get("/patients/OWN-1/visits/new").status_code == 403
    assert client.get("/patients/OWN-1/measurements/new").status_code == 403
    posted = client.post(
        "/patients/OWN-1/visits/new",
        data={"csrf_token": token, "timepoint": "postop", "vas": "3"},
    )
    assert posted.status_code == 403
    assert "Wang Own" not in posted.text
    assert _rows(web, "SELECT id FROM visit WHERE timepoint = 'postop'") == []


def test_another_sites_patient_is_404_on_every_form(web: Web) -> None:
    client, token = _signed_in(web, "investigator")
    assert client.get("/patients/OTHER-1/edit").status_code == 404
    assert client.get("/patients/OTHER-1/visits/new").status_code == 404
    ((visit_id,),) = _rows(
        web,
        "SELECT v.id FROM visit v JOIN patient p ON p.id = v.patient_id "
        "WHERE p.study_code = 'OTHER-1'",
    )
    assert client.get(f"/patients/OTHER-1/visits/{visit_id}/edit").status_code == 404
    assert client.get(f"/patients/OWN-1/visits/{visit_id}/edit").status_code == 404
    posted = client.post(
        f"/patients/OTHER-1/visits/{visit_id}/delete", data={"csrf_token": token, "version": "1"}
    )
    assert posted.status_code == 404
    assert "Li Other" not in posted.text


def test_a_form_without_the_csrf_token_is_refused_and_writes_nothing(web: Web) -> None:
    client, _ = _signed_in(web, "investigator")
    answer = client.post(
        "/patients/new", data={"patient_id": "NEW-9", "site": "MAIN", "sex": "F", "age": "70"}
    )
    assert answer.status_code == 403
    forged = client.post(
        "/patients/new",
        data={"csrf_token": "forged", "patient_id": "NEW-9", "sex": "F", "age": "70"},
    )
    assert forged.status_code == 403
    assert _rows(web, "SELECT id FROM patient WHERE study_code = 'NEW-9'") == []


def test_patient_pages_link_to_the_forms_only_for_editors(web: Web) -> None:
    editor, _ = _signed_in(web, "investigator")
    page = editor.get("/patients/OWN-1").text
    ids = ["edit-patient"] + [
        f"add-{kind}"
        for kind in ("vertebrae", "procedures", "visits", "measurements", "adverse-events")
    ]
    for element_id in ids:
        assert f'id="{element_id}"' in page, element_id
    assert 'class="edit" href="/patients/OWN-1/visits/' in page
    assert 'id="new-patient" href="/patients/new"' in editor.get("/patients").text
    observer, _ = _signed_in(web, "observer")
    page = observer.get("/patients/OWN-1").text
    assert not any(f'id="{element_id}"' in page for element_id in ids)
    assert 'class="edit"' not in page
    assert 'id="new-patient"' not in observer.get("/patients").text
