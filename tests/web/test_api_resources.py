"""The REST API's records, report, export and import, as an API client uses them."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from web_client import Web


def _h(web: Web, role: str = "investigator") -> dict[str, str]:
    return web.bearer(role)


def test_create_read_update_delete_a_vertebra_round_trips(web: Web) -> None:
    headers = _h(web)
    base = "/api/v1/patients/OWN-1/vertebrae"
    created = web.client.post(base, json={"level": "t12", "treated": "yes"}, headers=headers)
    assert created.status_code == 201, created.text
    item = created.json()
    assert (item["level"], item["treated"], item["version"]) == ("T12", True, 1)
    listed = web.client.get(base, headers=headers).json()
    assert [row["level"] for row in listed] == ["T12"]
    changed = web.client.patch(
        f"{base}/{item['id']}", json={"morphology": "wedge", "version": 1}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["morphology"], changed.json()["version"]) == ("wedge", 2)
    gone = web.client.delete(f"{base}/{item['id']}?version=2", headers=headers)
    assert gone.status_code == 204
    assert web.client.get(f"{base}/{item['id']}", headers=headers).status_code == 404


def test_update_with_a_stale_version_is_a_409(web: Web) -> None:
    headers = _h(web)
    base = "/api/v1/patients/OWN-1/vertebrae"
    item = web.client.post(base, json={"level": "L1", "treated": True}, headers=headers).json()
    first = web.client.patch(
        f"{base}/{item['id']}", json={"mri_t1": "low", "version": 1}, headers=headers
    )
    assert first.status_code == 200
    second = web.client.patch(
        f"{base}/{item['id']}", json={"mri_t1": "high", "version": 1}, headers=headers
    )
    assert second.status_code == 409
    assert "your version 1, stored version 2" in second.json()["detail"][0]["msg"]


def test_invalid_values_are_a_422_naming_each_field(web: Web) -> None:
    answer = web.client.post(
        "/api/v1/patients/OWN-1/visits",
        json={"timepoint": "postop", "vas": 11, "odi_3": 6},
        headers=_h(web),
    )
    assert answer.status_code == 422
    locs = {tuple(item["loc"]) for item in answer.json()["detail"]}
    assert {("body", "vas"), ("body", "odi_3")} <= locs


def test_a_visit_with_odi_answers_comes_back_scored(web: Web) -> None:
    answers = {f"odi_{n}": 2 for n in range(1, 11)}
    answer = web.client.post(
        "/api/v1/patients/OWN-1/visits", json={"timepoint": "postop", **answers}, headers=_h(web)
    )
    assert answer.status_code == 201, answer.text
    # 10 sections × 2 points of 50 possible = 40 %.
    assert answer.json()["odi_percent"] == 40.0
    assert answer.json()["odi_unscored_reason"] is None


def test_a_visit_with_three_sections_missing_says_why_it_has_no_score(web: Web) -> None:
    # CLINICAL.md §1: a score with at most 2 sections missing; here 3 are (8, 9, 10).
    answers = {f"odi_{n}": 2 for n in range(1, 8)}
    answer = web.client.post(
        "/api/v1/patients/OWN-1/visits", json={"timepoint": "postop", **answers}, headers=_h(web)
    )
    assert answer.status_code == 201, answer.text
    visit = answer.json()
    assert visit["odi_percent"] is None
    assert visit["odi_band"] is None
    assert "3" in visit["odi_unscored_reason"]
    again = web.client.get(f"/api/v1/patients/OWN-1/visits/{visit['id']}", headers=_h(web))
    assert again.json()["odi_unscored_reason"] == visit["odi_unscored_reason"]


def test_another_sites_patient_is_a_404_and_an_analyst_write_is_a_403(web: Web) -> None:
    other = web.client.get("/api/v1/patients/OTHER-1/visits", headers=_h(web))
    assert other.status_code == 404
    refused = web.client.post(
        "/api/v1/patients/OWN-1/vertebrae",
        json={"level": "T8", "treated": False},
        headers=_h(web, "analyst"),
    )
    assert refused.status_code == 403


def test_a_json_body_over_one_megabyte_is_a_413(web: Web) -> None:
    answer = web.client.post(
        "/api/v1/patients",
        content=b'{"x": "' + b"a" * (1024 * 1024 + 10) + b'"}',
        headers={**_h(web), "Content-Type": "application/json"},
    )
    assert answer.status_code == 413


def test_a_patient_is_created_with_identity_and_updated(web: Web) -> None:
    headers = _h(web)
    created = web.client.post(
        "/api/v1/patients",
        json={"patient_id": "NEW-7", "sex": "F", "age": 80, "identity": {"full_name": "Zhao"}},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["identity"]["full_name"] == "Zhao"
    changed = web.client.patch(
        "/api/v1/patients/NEW-7", json={"age": 81, "version": 1}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["age"] == 81
    assert web.client.delete("/api/v1/patients/NEW-7?version=2", headers=headers).status_code == 204


def test_a_revoked_token_is_refused(web: Web) -> None:
    headers = _h(web)
    assert web.client.get("/api/v1/patients", headers=headers).status_code == 200
    assert web.client.post("/api/v1/auth/revoke", headers=headers).status_code == 204
    assert web.client.get("/api/v1/patients", headers=headers).status_code == 401


def test_report_export_and_import_answer(web: Web) -> None:
    report = web.client.get("/api/v1/report", headers=_h(web, "analyst"))
    assert report.status_code == 200, report.text
    assert report.json()["cohort"]["patients"] == 1
    export = web.client.get("/api/v1/export?format=csv", headers=_h(web, "analyst"))
    assert export.status_code == 200, export.text
    names = zipfile.ZipFile(io.BytesIO(export.content)).namelist()
    assert "patients.csv" in names and "identity.csv" not in names
    patients = zipfile.ZipFile(io.BytesIO(export.content)).read("patients.csv").decode()
    assert "OWN-1" not in patients and len(patients.strip().splitlines()) == 2
    bad = "patient_id,sex,age\nNEW-9,X,70\n"
    upload = io.BytesIO()
    with zipfile.ZipFile(upload, "w") as archive:
        archive.writestr("patients.csv", bad)
    answer = web.client.post(
        "/api/v1/import?dry_run=true",
        files={"file": ("book.zip", upload.getvalue(), "application/zip")},
        headers=_h(web, "admin"),
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"][:5] == ["body", "file", "patients", 2, "sex"]


def test_an_item_id_beyond_a_database_integer_is_a_422_not_a_crash(web: Web) -> None:
    # Found by schemathesis: an id of 2**63 reached the database and overflowed SQLite's
    # 64-bit INTEGER (OverflowError, a 500). Ids are 32-bit integers from 1 on.
    headers = _h(web, "admin")
    base = "/api/v1/patients/OWN-1/vertebrae"
    for method, url, body in (
        ("GET", f"{base}/{2**63}", None),
        ("PATCH", f"{base}/{2**63}", {"morphology": "wedge", "version": 1}),
        ("DELETE", f"{base}/{2**63}?version=1", None),
        ("GET", f"{base}/0", None),
    ):
        answer = web.client.request(method, url, json=body, headers=headers)
        assert answer.status_code == 422, (method, url, answer.text)
        assert answer.json()["detail"][0]["loc"] == ["path", "item_id"]


def test_a_typed_body_still_refuses_an_unknown_field_by_name(web: Web) -> None:
    answer = web.client.post(
        "/api/v1/patients/OWN-1/vertebrae",
        json={"level": "T9", "treated": "yes", "colour": "red"},
        headers=_h(web),
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == [
        {"loc": ["body", "colour"], "msg": "is not a field of this record"}
    ]


def test_the_openapi_document_describes_each_request_body(web: Web) -> None:
    document = web.client.get("/api/v1/openapi.json").json()

    def body(path: str, method: str) -> dict[str, Any]:
        ref = document["paths"][path][method]["requestBody"]["content"]["application/json"]
        name = ref["schema"]["$ref"].rsplit("/", 1)[-1]
        schema: dict[str, Any] = document["components"]["schemas"][name]
        return schema

    # The field names of DATA.md §1, visits and procedures; unknown fields not allowed.
    visit = body("/api/v1/patients/{patient_id}/visits", "post")
    expected = {"timepoint", "visit_date", "vas", "odi_version", "odi_language"}
    assert set(visit["properties"]) == expected | {f"odi_{n}" for n in range(1, 11)}
    assert visit["additionalProperties"] is False
    change = body("/api/v1/patients/{patient_id}/procedures/{item_id}", "patch")
    assert {"procedure_date", "levels", "version"} <= set(change["properties"])
    token = body("/api/v1/auth/token", "post")
    assert set(token["properties"]) == {"username", "password"}


def test_a_nul_character_anywhere_is_a_located_422_not_a_crash(web: Web) -> None:
    # Found by schemathesis on PostgreSQL, which refuses NUL (0x00) in text: a search
    # for "\x00" was a 500. Body, query, path and sign-in are all refused before the database.
    headers = _h(web, "admin")
    refused = (
        web.client.get("/api/v1/patients", params={"q": "a\x00"}, headers=headers),
        web.client.get("/api/v1/patients/OWN%00-1/visits", headers=headers),
        web.client.post(
            "/api/v1/patients/OWN-1/procedures",
            json={"procedure_date": "2024-03-01", "levels": [{"level": "T12", "approach": "\x00"}]},
            headers=headers,
        ),
        web.client.post("/api/v1/auth/token", json={"username": "ad\x00min", "password": "x"}),
    )
    locations = [answer.json()["detail"][0]["loc"] for answer in refused]
    assert [answer.status_code for answer in refused] == [422] * 4
    assert locations == [
        ["query", "q"],
        ["path"],
        ["body", "levels[0]", "approach"],
        ["body", "username"],
    ]
    assert all("NUL character" in answer.json()["detail"][0]["msg"] for answer in refused)
    assert web.client.get("/api/v1/patients/OWN-1/procedures", headers=headers).json() == []
