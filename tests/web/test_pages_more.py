"""Worklist, patient diagrams, report, import, audit and administration pages.

Worklist dates are worked by hand from CLINICAL.md §10 for an index procedure on
2024-01-01 (day 0; 2024 is a leap year):

* postop: window day 1–14 = 2024-01-02 … 2024-01-15; upcoming from 14 days before it
  opens (day −13 = 2023-12-19); overdue from day 15 = 2024-01-16.
* final: due from day 180 = 2024-06-29, upcoming from day 166 = 2024-06-15, overdue
  from day 365 = 2024-12-31 (day 364 = 2024-12-30 is still due).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import func, select
from web_client import Web

from kyphos.registry.models import (
    AuditEvent,
    Patient,
    Procedure,
    Site,
    TreatedLevel,
    User,
    Vertebra,
    Visit,
)

INDEX = dt.date(2024, 1, 1)


def _at(web: Web, day: dt.date) -> None:
    """Move the app's clock to noon UTC of ``day``."""
    web.clock.now = dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC).timestamp()


def _procedure(
    web: Web, code: str, when: dt.date, levels: list[str], leaked: tuple[str, ...] = ()
) -> None:
    with web.registry.write() as session:
        patient = session.execute(select(Patient).where(Patient.study_code == code)).scalar_one()
        procedure = Procedure(patient_id=patient.id, procedure_date=when)
        session.add(procedure)
        session.flush()
        for level in levels:
            vertebra = Vertebra(patient_id=patient.id, level=level, treated=True)
            session.add(vertebra)
            session.flush()
            session.add(
                TreatedLevel(
                    procedure_id=procedure.id,
                    vertebra_id=vertebra.id,
                    technique="kyphoplasty",
                    leakage="paravertebral" if level in leaked else "",
                )
            )


def _visit(web: Web, code: str, timepoint: str, when: dt.date, **values: object) -> None:
    with web.registry.write() as session:
        patient = session.execute(select(Patient).where(Patient.study_code == code)).scalar_one()
        session.add(Visit(patient_id=patient.id, timepoint=timepoint, visit_date=when, **values))


def _worklist(page: str) -> list[tuple[str, str, str]]:
    """(status, study code, time point) of every worklist row, in page order."""
    return re.findall(
        r'data-status="([a-z]+)" data-patient="([^"]+)" data-timepoint="([a-z0-9]+)"', page
    )


def _form_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


# --- worklist ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (dt.date(2023, 12, 18), []),
        (dt.date(2023, 12, 19), [("upcoming", "OWN-1", "postop")]),
        (dt.date(2024, 1, 2), [("due", "OWN-1", "postop")]),
        (dt.date(2024, 1, 15), [("due", "OWN-1", "postop")]),
        (dt.date(2024, 1, 16), [("overdue", "OWN-1", "postop")]),
        (
            dt.date(2024, 6, 15),
            [("overdue", "OWN-1", "postop"), ("upcoming", "OWN-1", "final")],
        ),
        (dt.date(2024, 6, 29), [("overdue", "OWN-1", "postop"), ("due", "OWN-1", "final")]),
        (dt.date(2024, 12, 30), [("overdue", "OWN-1", "postop"), ("due", "OWN-1", "final")]),
        (
            dt.date(2024, 12, 31),
            [("overdue", "OWN-1", "postop"), ("overdue", "OWN-1", "final")],
        ),
    ],
)
def test_the_dashboard_worklist_shows_the_states_of_clinical_section_10(
    web: Web, today: dt.date, expected: list[tuple[str, str, str]]
) -> None:
    _procedure(web, "OWN-1", INDEX, ["T12"])  # the fixture's preop visit makes preop done
    _at(web, today)
    client = web.sign_in("investigator")
    page = client.get("/")
    assert page.status_code == 200
    assert _worklist(page.text) == expected


def test_a_recorded_postop_visit_takes_postop_off_the_worklist(web: Web) -> None:
    _procedure(web, "OWN-1", INDEX, ["T12"])
    _visit(web, "OWN-1", "postop", dt.date(2024, 1, 8))
    _at(web, dt.date(2024, 1, 20))
    page = web.sign_in("investigator").get("/")
    assert _worklist(page.text) == []


def test_the_worklist_sorts_and_keeps_to_the_users_sites(web: Web) -> None:
    _procedure(web, "OWN-1", INDEX, ["T12"])
    _procedure(web, "OTHER-1", dt.date(2024, 1, 5), ["L1"])
    _at(web, dt.date(2024, 1, 10))
    admin = web.sign_in("admin")
    by_patient = _worklist(admin.get("/?sort=patient").text)
    assert by_patient == [("due", "OTHER-1", "postop"), ("due", "OWN-1", "postop")]
    by_opening = _worklist(admin.get("/?sort=opens").text)
    assert by_opening == [("due", "OWN-1", "postop"), ("due", "OTHER-1", "postop")]
    assert _worklist(web.sign_in("investigator").get("/").text) == [("due", "OWN-1", "postop")]


# --- patients list filters ---------------------------------------------------------------------


def _listed(page: str) -> list[str]:
    return re.findall(r'<a href="/patients/[^"]+">([^<]+)</a>', page)


def test_the_patients_list_filters_by_level_leakage_and_overdue(web: Web) -> None:
    _procedure(web, "OWN-1", INDEX, ["T12", "L1"], leaked=("L1",))
    _procedure(web, "OTHER-1", dt.date(2024, 3, 1), ["T8"])
    _at(web, dt.date(2024, 1, 20))  # OWN-1's postop overdue; OTHER-1's not yet
    admin = web.sign_in("admin")
    assert _listed(admin.get("/patients?level=T12").text) == ["OWN-1"]
    assert _listed(admin.get("/patients?level=T8").text) == ["OTHER-1"]
    assert _listed(admin.get("/patients?level=C7").text) == []
    assert _listed(admin.get("/patients?leakage=yes").text) == ["OWN-1"]
    assert _listed(admin.get("/patients?leakage=no").text) == ["OTHER-1"]
    assert _listed(admin.get("/patients?overdue=true").text) == ["OWN-1"]
    investigator = web.sign_in("investigator")
    assert _listed(investigator.get("/patients?level=T8").text) == []


# --- patient page ------------------------------------------------------------------------------


def test_the_spine_diagram_marks_fractured_treated_and_leaked_levels(web: Web) -> None:
    _procedure(web, "OWN-1", INDEX, ["T12", "L1"], leaked=("L1",))
    with web.registry.write() as session:
        patient = session.execute(select(Patient).where(Patient.study_code == "OWN-1")).scalar_one()
        session.add(Vertebra(patient_id=patient.id, level="L3", treated=False))
    page = web.sign_in("investigator").get("/patients/OWN-1").text
    states = dict(re.findall(r'data-level="([A-Z0-9]+)" data-state="([a-z ]+)"', page))
    assert len(states) == 18  # C7, T1–T12, L1–L5
    assert states["T12"] == "fractured treated"
    assert states["L1"] == "fractured treated leaked"
    assert states["L3"] == "fractured"
    assert states["C7"] == states["T11"] == states["L5"] == "intact"


def test_the_patient_page_shows_a_timeline_and_trends(web: Web) -> None:
    _procedure(web, "OWN-1", INDEX, ["T12"])
    _visit(web, "OWN-1", "postop", dt.date(2024, 1, 8), vas=2.0)
    page = web.sign_in("observer").get("/patients/OWN-1").text
    assert '<time datetime="2024-01-01">Jan 1, 2024</time> <strong>Procedure</strong> T12' in page
    assert '<time datetime="2024-01-08">Jan 8, 2024</time> <strong>Visit</strong>' in page
    assert 'data-trend="VAS"' in page and "<polyline" in page
    assert "Wang Own" not in page


# --- report ------------------------------------------------------------------------------------


def test_the_report_page_renders_in_place_and_downloads(web: Web) -> None:
    _procedure(web, "OWN-1", INDEX, ["T12"])
    analyst = web.sign_in("analyst")
    page = analyst.get("/report")
    assert page.status_code == 200
    assert 'src="/report/document?site=&amp;report_lang=en"' in page.text
    document = analyst.get("/report/document?report_lang=zh")
    assert document.status_code == 200
    assert '<html lang="zh-CN"' in document.text
    assert "Wang Own" not in document.text
    docx = analyst.get("/report/download/docx")
    assert docx.status_code == 200
    assert docx.content[:2] == b"PK"
    assert "attachment" in docx.headers["content-disposition"]
    tables = zipfile.ZipFile(io.BytesIO(analyst.get("/report/download/csv").content))
    assert any(name.endswith(".csv") for name in tables.namelist())
    assert "kyphos_version" in analyst.get("/report/download/json").text
    assert analyst.get("/report/download/pdf").status_code == 404
    assert analyst.get("/report?site=OTHER").status_code == 404


# --- import ------------------------------------------------------------------------------------


def _workbook(tmp_path: Path, rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "patients"
    sheet.append(["patient_id", "site", "sex", "age"])
    for row in rows:
        sheet.append(row)
    path = tmp_path / "upload.xlsx"
    book.save(path)
    return path.read_bytes()


def _patients(web: Web) -> int:
    with web.registry.read() as session:
        return int(session.execute(select(func.count()).select_from(Patient)).scalar_one())


def test_an_import_with_errors_shows_each_located_error_and_writes_nothing(
    web: Web, tmp_path: Path
) -> None:
    admin = web.sign_in("admin")
    token = _form_token(admin.get("/import").text)
    content = _workbook(tmp_path, [["NEW-1", "MAIN", "F", 70], ["NEW-2", "NOWHERE", "F", 70]])
    answer = admin.post(
        "/import",
        data={"csrf_token": token},
        files={"workbook": ("upload.xlsx", content, "application/octet-stream")},
    )
    assert answer.status_code == 422
    assert '<td>patients</td><td class="num">3</td><td>site</td>' in answer.text
    assert _patients(web) == 2


def test_an_import_is_a_dry_run_until_confirmed(web: Web, tmp_path: Path) -> None:
    admin = web.sign_in("admin")
    token = _form_token(admin.get("/import").text)
    content = _workbook(tmp_path, [["NEW-1", "MAIN", "F", 70]])
    files = {"workbook": ("upload.xlsx", content, "application/octet-stream")}
    refused = admin.post("/import", files=files)  # no CSRF token
    assert refused.status_code == 403
    dry = admin.post("/import", data={"csrf_token": token}, files=files)
    assert dry.status_code == 200, dry.text
    assert _patients(web) == 2
    upload = re.search(r'name="token" value="([0-9a-f]+)"', dry.text)
    assert upload is not None
    done = admin.post(
        "/import/confirm", data={"csrf_token": token, "token": upload.group(1), "label": "x"}
    )
    assert done.status_code == 200, done.text
    assert _patients(web) == 3


def test_observers_and_analysts_may_not_import(web: Web) -> None:
    assert web.sign_in("observer").get("/import").status_code == 403
    assert web.sign_in("analyst").get("/import").status_code == 403


# --- audit -------------------------------------------------------------------------------------


def test_the_audit_page_filters_by_patient_user_and_date_and_keeps_to_own_sites(
    web: Web,
) -> None:
    web.sign_in("admin").get("/patients/OTHER-1")  # an identity read by admin, audited
    web.sign_in("investigator").get("/patients/OWN-1")
    admin = web.sign_in("admin")
    page = admin.get("/audit?patient=OWN-1").text
    assert "OWN-1" in page and "OTHER-1" not in page
    page = admin.get("/audit?user=investigator").text
    assert "read_identity" in page and "OTHER-1" not in page
    assert "read_identity" not in admin.get("/audit?to=2000-01-01").text
    assert "read_identity" in admin.get(f"/audit?from={dt.date.today().isoformat()}").text
    investigator_page = web.sign_in("investigator").get("/audit").text
    assert "OWN-1" in investigator_page and "OTHER-1" not in investigator_page
    assert "site" not in re.findall(r"<td>(site) ", investigator_page)


def test_the_audit_page_shows_identity_values_only_as_masked(web: Web) -> None:
    with web.registry.write() as session:
        web.registry.record(
            session,
            action="update",
            entity="identity",
            entity_key="OWN-1",
            before={"full_name": "hmac:abc", "phone": None},
            after={"full_name": "hmac:def"},
        )
    page = web.sign_in("admin").get("/audit?patient=OWN-1").text
    assert "hmac:abc" in page and "Wang Own" not in page


# --- administration ----------------------------------------------------------------------------


def test_an_admin_creates_a_user_and_a_refusal_keeps_the_values(web: Web) -> None:
    admin = web.sign_in("admin")
    token = _form_token(admin.get("/admin/users").text)
    refused = admin.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "username": "newbie",
            "display_name": "Dr New",
            "password": "short",
            "role": "observer",
            "sites": "MAIN",
        },
    )
    assert refused.status_code == 422
    assert 'value="Dr New"' in refused.text
    assert "password: use at least 10 characters" in refused.text
    created = admin.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "username": "newbie",
            "password": "a-long-enough-password",
            "role": "observer",
            "sites": "MAIN",
        },
    )
    assert created.status_code == 200
    with web.registry.read() as session:
        user = session.execute(select(User).where(User.username == "newbie")).scalar_one()
        assert (user.role, [s.code for s in user.sites]) == ("observer", ["MAIN"])
    changed = admin.post(
        "/admin/users/newbie/access",
        data={"csrf_token": token, "role": "analyst", "sites": ["MAIN", "OTHER"]},
    )
    assert changed.status_code == 200
    reset = admin.post(
        "/admin/users/newbie/password", data={"csrf_token": token, "password": "another-password"}
    )
    assert reset.status_code == 200
    assert web.registry.check_password("newbie", "another-password") is not None
    assert admin.post("/admin/users/newbie/disable", data={"csrf_token": token}).status_code == 200
    with web.registry.read() as session:
        user = session.execute(select(User).where(User.username == "newbie")).scalar_one()
        assert (user.role, sorted(s.code for s in user.sites), user.active) == (
            "analyst",
            ["MAIN", "OTHER"],
            False,
        )
        actions = session.execute(
            select(AuditEvent.action).where(AuditEvent.entity_key == "newbie")
        ).scalars()
        assert sorted(actions) == ["create", "reset_password", "update", "update"]


def test_an_admin_creates_a_site_and_a_duplicate_is_refused_next_to_the_field(web: Web) -> None:
    admin = web.sign_in("admin")
    token = _form_token(admin.get("/admin/sites").text)
    created = admin.post("/admin/sites", data={"csrf_token": token, "code": "EAST", "name": "East"})
    assert created.status_code == 200
    again = admin.post("/admin/sites", data={"csrf_token": token, "code": "EAST", "name": "Again"})
    assert again.status_code == 422
    assert "site &#39;EAST&#39; exists already" in again.text
    assert 'value="Again"' in again.text
    with web.registry.read() as session:
        assert session.execute(select(Site.name).where(Site.code == "EAST")).scalar_one() == "East"


def _client(web: Web, role: str) -> TestClient:
    return web.sign_in(role)


@pytest.mark.parametrize("role", ["investigator", "observer", "analyst"])
def test_only_admins_reach_the_administration_pages(web: Web, role: str) -> None:
    assert _client(web, role).get("/admin/users").status_code == 403
