"""Imports restricted to the importer's sites; pending uploads of the import page.

The registry of ``tests/web/conftest.py``: site MAIN (patient OWN-1; the investigator,
observer and analyst belong to it) and site OTHER (patient OTHER-1); the admin sees both.
Row counts are taken with plain SQL, not through kyphos. The expected messages are
written out from the brief of issue 6: a row of another site is refused at
``patients:<row>:site``; a study code held at another site is "not available"; a row of
another sheet naming another site's patient reads exactly like one naming nobody.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import text
from web_client import Web

from kyphos.exchange.importer import ImportFailed, import_workbook

PATIENT_HEADER = ["patient_id", "site", "sex", "age"]
IDENTITY_HEADER = ["patient_id", "full_name", "hospital_number"]
VISIT_HEADER = ["patient_id", "timepoint", "vas"]
REFUSED_OTHER_SITE = (
    "patients:3:site: site 'OTHER' is not one of your sites (MAIN); only an administrator "
    "may import the patients of other sites"
)
REFUSED_OTHER_SITE_ZH = "站点 'OTHER' 不是您所属的站点（MAIN）；只有管理员可以导入其他站点的患者"
DAY_SECONDS = 24 * 60 * 60


def _book(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """An .xlsx file with ``sheets`` (name → header row and data rows)."""
    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def _count(web: Web, table: str) -> int:
    with web.registry.read() as session:
        return int(session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _identity_of(web: Web, code: str) -> tuple[str, str] | None:
    with web.registry.read() as session:
        row = session.execute(
            text(
                "SELECT i.full_name, i.hospital_number FROM patient_identity i "
                "JOIN patient p ON p.id = i.patient_id WHERE p.study_code = :code"
            ),
            {"code": code},
        ).one_or_none()
    return None if row is None else (row[0], row[1])


def _uploads(web: Web) -> list[str]:
    folder = web.registry.settings.home / "uploads"
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def _mixed(tmp_path: Path) -> Path:
    """One patient of the investigator's site (row 2) and one of another (row 3)."""
    return _book(
        tmp_path / "mixed.xlsx",
        {"patients": [PATIENT_HEADER, ["NEW-1", "MAIN", "F", 70], ["NEW-2", "OTHER", "M", 81]]},
    )


def _own(tmp_path: Path) -> Path:
    """A new patient of MAIN with identity, and a visit of the existing OWN-1."""
    return _book(
        tmp_path / "own.xlsx",
        {
            "patients": [PATIENT_HEADER, ["NEW-1", "MAIN", "F", 70]],
            "identity": [IDENTITY_HEADER, ["NEW-1", "Zhao New", "H-NEW-1"]],
            "visits": [VISIT_HEADER, ["OWN-1", "postop", 2.5]],
        },
    )


# --- the importer ------------------------------------------------------------------------------


def test_import_refuses_a_patient_of_another_site_and_writes_nothing(
    web: Web, tmp_path: Path
) -> None:
    with pytest.raises(ImportFailed) as failed:
        import_workbook(web.registry, _mixed(tmp_path), sites=frozenset({"MAIN"}))
    assert failed.value.problems == (REFUSED_OTHER_SITE,)
    assert failed.value.lines("zh") == (f"patients:3:site: {REFUSED_OTHER_SITE_ZH}",)
    assert _count(web, "patient") == 2


def test_import_without_a_site_restriction_writes_every_site(web: Web, tmp_path: Path) -> None:
    report = import_workbook(web.registry, _mixed(tmp_path))
    assert report.counts["patients"].created == 2
    assert _count(web, "patient") == 4


def test_import_treats_another_sites_patient_like_a_missing_one(web: Web, tmp_path: Path) -> None:
    path = _book(
        tmp_path / "hidden.xlsx",
        {
            "patients": [PATIENT_HEADER, ["OTHER-1", "MAIN", "F", 70]],
            "identity": [IDENTITY_HEADER, ["OTHER-1", "Changed Name", "H-1"]],
            "visits": [VISIT_HEADER, ["OTHER-1", "postop", 1.0]],
        },
    )
    with pytest.raises(ImportFailed) as failed:
        import_workbook(web.registry, path, sites=frozenset({"MAIN"}))
    assert failed.value.problems == (
        "patients:2:patient_id: study code 'OTHER-1' is not available; choose another study code",
    )
    # (Its identity and visit rows are not reported again: their patients row was refused.)
    # Without a patients row, a row naming OTHER-1 reads as one naming nobody does.
    path = _book(
        tmp_path / "hidden-refs.xlsx",
        {
            "patients": [PATIENT_HEADER, ["NEW-1", "MAIN", "F", 70]],
            "visits": [VISIT_HEADER, ["OTHER-1", "postop", 1.0], ["NOBODY-9", "postop", 1.0]],
        },
    )
    with pytest.raises(ImportFailed) as failed:
        import_workbook(web.registry, path, sites=frozenset({"MAIN"}))
    assert failed.value.problems == (
        "visits:2:patient_id: patient 'OTHER-1' does not exist (patients sheet)",
        "visits:3:patient_id: patient 'NOBODY-9' does not exist (patients sheet)",
    )
    assert _count(web, "visit") == 2
    assert _identity_of(web, "OTHER-1") == ("Li Other", "H-OTH-88")


# --- the import page ---------------------------------------------------------------------------


def _page_token(client: TestClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/import").text)
    assert found is not None
    return found.group(1)


def _dry_run(client: TestClient, path: Path) -> Any:
    files = {"workbook": (path.name, path.read_bytes(), "application/octet-stream")}
    return client.post("/import", data={"csrf_token": _page_token(client)}, files=files)


def _pending(answer: Any) -> str:
    found = re.search(r'name="token" value="([0-9a-f]{32})"', answer.text)
    assert found is not None, answer.text
    return found.group(1)


def _confirm(client: TestClient, token: str) -> Any:
    data = {"csrf_token": _page_token(client), "token": token, "label": "book.xlsx"}
    return client.post("/import/confirm", data=data)


def test_investigator_import_of_another_site_is_refused_with_its_location(
    web: Web, tmp_path: Path
) -> None:
    investigator = web.sign_in("investigator")
    answer = _dry_run(investigator, _mixed(tmp_path))
    assert answer.status_code == 422
    assert '<td>patients</td><td class="num">3</td><td>site</td>' in answer.text
    assert "site &#39;OTHER&#39; is not one of your sites (MAIN)" in answer.text
    assert _count(web, "patient") == 2
    assert _uploads(web) == []


def test_investigator_sees_the_refusal_in_chinese(web: Web, tmp_path: Path) -> None:
    investigator = web.sign_in("investigator")
    switched = investigator.post(
        "/lang", data={"csrf_token": _page_token(investigator), "lang": "zh", "next": "/import"}
    )
    assert switched.status_code == 303
    answer = _dry_run(investigator, _mixed(tmp_path))
    assert answer.status_code == 422
    assert REFUSED_OTHER_SITE_ZH.replace("'", "&#39;") in answer.text


def test_investigator_imports_own_site_rows_with_identity(web: Web, tmp_path: Path) -> None:
    investigator = web.sign_in("investigator")
    dry = _dry_run(investigator, _own(tmp_path))
    assert dry.status_code == 200, dry.text
    token = _pending(dry)
    assert 'action="/import/cancel"' in dry.text
    assert _uploads(web) == [f"{_user_id(web, 'investigator')}-{token}.xlsx"]
    assert _count(web, "patient") == 2
    done = _confirm(investigator, token)
    assert done.status_code == 200, done.text
    assert _count(web, "patient") == 3
    assert _count(web, "visit") == 3
    assert _identity_of(web, "NEW-1") == ("Zhao New", "H-NEW-1")
    assert _uploads(web) == []


def test_admin_imports_the_patients_of_every_site(web: Web, tmp_path: Path) -> None:
    admin = web.sign_in("admin")
    dry = _dry_run(admin, _mixed(tmp_path))
    assert dry.status_code == 200, dry.text
    assert _confirm(admin, _pending(dry)).status_code == 200
    with web.registry.read() as session:
        placed = session.execute(
            text(
                "SELECT p.study_code, s.code FROM patient p JOIN site s ON s.id = p.site_id "
                "WHERE p.study_code LIKE 'NEW-%' ORDER BY p.study_code"
            )
        ).all()
    assert [tuple(row) for row in placed] == [("NEW-1", "MAIN"), ("NEW-2", "OTHER")]
    assert _uploads(web) == []


@pytest.mark.parametrize("role", ["observer", "analyst"])
def test_observers_and_analysts_may_not_import_on_the_page(
    web: Web, tmp_path: Path, role: str
) -> None:
    client = web.sign_in(role)
    assert client.get("/import").status_code == 403
    token = web.page_csrf(client)
    path = _own(tmp_path)
    files = {"workbook": (path.name, path.read_bytes(), "application/octet-stream")}
    assert client.post("/import", data={"csrf_token": token}, files=files).status_code == 403
    assert _count(web, "patient") == 2
    assert _uploads(web) == []


def test_a_cancelled_upload_is_removed_and_cannot_be_confirmed(web: Web, tmp_path: Path) -> None:
    investigator = web.sign_in("investigator")
    token = _pending(_dry_run(investigator, _own(tmp_path)))
    assert len(_uploads(web)) == 1
    cancelled = investigator.post(
        "/import/cancel", data={"csrf_token": _page_token(investigator), "token": token}
    )
    assert cancelled.status_code == 303
    assert cancelled.headers["location"] == "/import"
    assert _uploads(web) == []
    assert _confirm(investigator, token).status_code == 404
    assert _count(web, "patient") == 2


def test_another_users_pending_upload_is_a_404(web: Web, tmp_path: Path) -> None:
    admin = web.sign_in("admin")
    token = _pending(_dry_run(admin, _own(tmp_path)))
    investigator = web.sign_in("investigator")
    assert _confirm(investigator, token).status_code == 404
    cancel = {"csrf_token": _page_token(investigator), "token": token}
    assert investigator.post("/import/cancel", data=cancel).status_code == 404
    assert len(_uploads(web)) == 1  # still the admin's, untouched
    assert _count(web, "patient") == 2
    assert _confirm(admin, token).status_code == 200
    assert _count(web, "patient") == 3


def test_an_upload_purges_pending_workbooks_older_than_a_day(web: Web, tmp_path: Path) -> None:
    folder = web.registry.settings.home / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    stale = folder / f"999-{'a' * 32}.xlsx"
    recent = folder / f"999-{'b' * 32}.xlsx"
    for path in (stale, recent):
        path.write_bytes(b"pending")
    modified = recent.stat().st_mtime
    os.utime(stale, (modified - 2 * DAY_SECONDS, modified - 2 * DAY_SECONDS))
    investigator = web.sign_in("investigator")
    token = _pending(_dry_run(investigator, _own(tmp_path)))
    assert _uploads(web) == sorted([recent.name, f"{_user_id(web, 'investigator')}-{token}.xlsx"])


def _user_id(web: Web, username: str) -> int:
    with web.registry.read() as session:
        found = session.execute(
            text("SELECT id FROM user_account WHERE username = :name"), {"name": username}
        ).scalar_one()
    return int(found)


# --- the REST API ------------------------------------------------------------------------------


def _zip(path: Path) -> dict[str, Any]:
    """The sheets of an .xlsx file as a .zip of CSV files (the API takes both)."""
    from openpyxl import load_workbook

    buffer = io.BytesIO()
    book = load_workbook(path)
    with zipfile.ZipFile(buffer, "w") as archive:
        for sheet in book.worksheets:
            lines = [
                ",".join("" if cell is None else str(cell) for cell in row)
                for row in sheet.iter_rows(values_only=True)
            ]
            archive.writestr(f"{sheet.title}.csv", "\n".join(lines) + "\n")
    return {"file": ("book.zip", buffer.getvalue(), "application/zip")}


def test_api_refuses_an_investigators_row_of_another_site(web: Web, tmp_path: Path) -> None:
    answer = web.client.post(
        "/api/v1/import?dry_run=false",
        files=_zip(_mixed(tmp_path)),
        headers=web.bearer("investigator"),
    )
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert [item["loc"] for item in detail] == [["body", "file", "patients", 3, "site"]]
    assert detail[0]["msg"] == REFUSED_OTHER_SITE
    assert _count(web, "patient") == 2


def test_api_imports_an_investigators_own_site_rows(web: Web, tmp_path: Path) -> None:
    answer = web.client.post(
        "/api/v1/import?dry_run=false",
        files=_zip(_own(tmp_path)),
        headers=web.bearer("investigator"),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["counts"]["patients"]["created"] == 1
    assert _count(web, "patient") == 3
    assert _identity_of(web, "NEW-1") == ("Zhao New", "H-NEW-1")


@pytest.mark.parametrize("role", ["observer", "analyst"])
def test_observers_and_analysts_may_not_import_through_the_api(
    web: Web, tmp_path: Path, role: str
) -> None:
    answer = web.client.post(
        "/api/v1/import?dry_run=false", files=_zip(_own(tmp_path)), headers=web.bearer(role)
    )
    assert answer.status_code == 403
    assert _count(web, "patient") == 2
