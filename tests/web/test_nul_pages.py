"""A NUL character anywhere a person can type on the pages is refused, never a 500.

PostgreSQL refuses NUL in text (SQLite stores it), so an address, a search or a form field
holding one once reached a query and failed with a 500 on PostgreSQL only.
"""

from __future__ import annotations

import pytest
from web_client import Web

NUL = "%00"


@pytest.mark.parametrize(
    "address",
    [
        f"/patients/OWN{NUL}1",
        f"/patients?q=OWN{NUL}",
        f"/patients?site=MAIN{NUL}",
        f"/patients/OWN-1/visits/new?x={NUL}",
        f"/report?site=MAIN{NUL}",
        f"/audit?patient=OWN{NUL}1",
        f"/forms/odi?odi_1=1{NUL}",
    ],
)
def test_an_address_with_a_nul_is_refused_with_a_page_not_a_500(web: Web, address: str) -> None:
    client = web.sign_in("investigator")
    answer = client.get(address)
    assert answer.status_code in (404, 422), (answer.status_code, answer.text[:300])
    assert "NUL" in answer.text or answer.status_code == 404


def test_a_sign_in_with_a_nul_in_the_user_name_is_refused_and_nothing_breaks(web: Web) -> None:
    client = web.client_for()
    token = web.csrf(client)
    answer = client.post(
        "/signin",
        data={"username": "admin\x00", "password": "whatever-it-is", "csrf_token": token},
    )
    assert answer.status_code in (200, 401, 422), answer.status_code
    assert "Wrong user name or password." in answer.text
    web.sign_in("investigator", client)


def test_a_form_with_a_nul_in_a_field_names_the_field(web: Web) -> None:
    client = web.sign_in("investigator")
    form = client.get("/patients/OWN-1/adverse-events/new")
    assert form.status_code == 200
    token = web.page_csrf(client)
    answer = client.post(
        "/patients/OWN-1/adverse-events/new",
        data={
            "csrf_token": token,
            "event_date": "2024-02-01",
            "type": "other",
            "description": "fell\x00 at home",
        },
    )
    assert answer.status_code == 422, answer.text[:300]
    assert 'id="error-description"' in answer.text
    assert "NUL" in answer.text


@pytest.mark.parametrize(
    ("address", "fields"),
    [
        (
            "/admin/users",
            {
                "username": "new\x00user",
                "password": "a-long-password-1",
                "role": "investigator",
                "sites": "MAIN",
            },
        ),
        ("/admin/sites", {"code": "S\x00", "name": "Somewhere"}),
        ("/patients/new", {"patient_id": "NEW\x001", "sex": "F", "site": "MAIN"}),
        ("/patients/new", {"patient_id": "NEW-2", "sex": "F", "site": "MAIN\x00"}),
    ],
)
def test_an_admin_form_with_a_nul_is_refused_not_a_500(
    web: Web, address: str, fields: dict[str, str]
) -> None:
    client = web.sign_in("admin")
    token = web.page_csrf(client)
    answer = client.post(address, data={"csrf_token": token, **fields})
    assert answer.status_code == 422, (answer.status_code, answer.text[:300])
    assert "NUL" in answer.text or "printable characters" in answer.text
