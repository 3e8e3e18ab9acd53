"""Sign-out really signs out: a copy of the session cookie taken before stops working.

The session cookie is signed and stateless, so a copy (a stolen cookie, another tab's
jar, a browser back-up) would outlive a sign-out that only cleared the browser's copy.
Sign-out, a password reset and disabling the user must end it at once.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import text
from web_client import PASSWORD, Web

from kyphos.web.auth import SESSION_COOKIE

NEW_PASSWORD = "another-long-password"


def _copy(web: Web, client: TestClient) -> TestClient:
    """A second client holding a copy of ``client``'s session cookie, as it is now."""
    cookie = client.cookies.get(SESSION_COOKIE)
    assert cookie is not None
    thief = web.client_for()
    thief.cookies.set(SESSION_COOKIE, cookie)
    return thief


def _refused(client: TestClient) -> bool:
    answer = client.get("/patients/OWN-1")
    return answer.status_code == 303 and answer.headers["location"].startswith("/signin?next=")


def _sign_out(web: Web, client: TestClient) -> None:
    answer = client.post("/signout", data={"csrf_token": web.page_csrf(client)})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin"


def _admin_post(web: Web, path: str, **form: str) -> int:
    admin = web.sign_in("admin")
    page = admin.get("/admin/users")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return admin.post(path, data={"csrf_token": found.group(1), **form}).status_code


def _audit_rows(web: Web, action: str) -> list[tuple[str, str, str]]:
    """(actor, entity, entity key) of the audit events of ``action``, in raw SQL."""
    with web.registry.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT actor, entity, entity_key FROM audit_event WHERE action = :a ORDER BY id"),
            {"a": action},
        ).all()
    return [(actor, entity, key) for actor, entity, key in rows]


def test_a_cookie_copied_before_sign_out_is_refused_afterwards(web: Web) -> None:
    client = web.sign_in("investigator")
    thief = _copy(web, client)
    assert thief.get("/patients/OWN-1").status_code == 200  # the copy works before
    _sign_out(web, client)
    assert _refused(thief)
    assert _refused(client)


def test_a_copy_is_refused_even_when_the_clock_has_not_moved(web: Web) -> None:
    # The web fixture's clock stands still: revocation must not rely on a later time.
    client = web.sign_in("observer")
    thief = _copy(web, client)
    _sign_out(web, client)
    assert _refused(thief)
    again = web.sign_in("observer")
    assert again.get("/patients/OWN-1").status_code == 200
    assert _refused(thief)


def test_sign_out_is_audited_once_by_the_user(web: Web) -> None:
    client = web.sign_in("analyst")
    thief = _copy(web, client)
    _sign_out(web, client)
    # The copy still carries the session's CSRF token; signing out with it ends nothing more.
    thief.post("/signout", data={"csrf_token": web.csrf(thief)})
    assert _audit_rows(web, "logout") == [("analyst", "session", "analyst")]


def test_sign_in_works_again_after_sign_out(web: Web) -> None:
    client = web.sign_in("investigator")
    _sign_out(web, client)
    assert _refused(client)
    web.sign_in("investigator", client)
    assert client.get("/patients/OWN-1").status_code == 200


def test_sign_out_ends_the_users_other_sessions_but_not_other_users(web: Web) -> None:
    laptop = web.sign_in("investigator")
    ward = web.sign_in("investigator")
    colleague = web.sign_in("analyst")
    _sign_out(web, laptop)
    assert _refused(ward)
    assert colleague.get("/patients/OWN-1").status_code == 200


def test_a_password_reset_ends_the_users_sessions(web: Web) -> None:
    client = web.sign_in("investigator")
    thief = _copy(web, client)
    status = _admin_post(web, "/admin/users/investigator/password", password=NEW_PASSWORD)
    assert status == 200
    assert _refused(thief)
    assert _refused(client)
    web.passwords["investigator"] = NEW_PASSWORD
    again = web.sign_in("investigator")
    assert again.get("/patients/OWN-1").status_code == 200


def test_disabling_a_user_ends_the_sessions_even_if_enabled_again(web: Web) -> None:
    client = web.sign_in("observer")
    thief = _copy(web, client)
    assert _admin_post(web, "/admin/users/observer/disable") == 200
    assert _refused(thief)
    # Re-enabled by hand (there is no page for it): the old sessions stay ended.
    with web.registry.engine.begin() as connection:
        connection.execute(
            text("UPDATE user_account SET active = :yes WHERE username = 'observer'"),
            {"yes": True},
        )
    assert _refused(thief)
    assert _refused(client)
    assert web.passwords["observer"] == PASSWORD
    again = web.sign_in("observer")
    assert again.get("/patients/OWN-1").status_code == 200


def test_a_signed_out_cookie_cannot_change_anything(web: Web) -> None:
    client = web.sign_in("investigator")
    thief = _copy(web, client)
    _sign_out(web, client)
    # With the session's own CSRF token, so only the ended session can be the reason.
    answer = thief.post("/lang", data={"lang": "zh", "csrf_token": web.csrf(thief), "next": "/"})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin?next=")
    with web.registry.engine.connect() as connection:
        lang = connection.execute(
            text("SELECT lang FROM user_account WHERE username = 'investigator'")
        ).scalar_one()
    assert lang == "en"


def test_a_password_reset_and_a_sign_out_end_the_users_api_tokens(web: Web) -> None:
    token = web.bearer("investigator")
    assert web.client.get("/api/v1/patients/OWN-1", headers=token).status_code == 200
    assert _admin_post(web, "/admin/users/investigator/password", password=NEW_PASSWORD) == 200
    refused = web.client.get("/api/v1/patients/OWN-1", headers=token)
    assert refused.status_code == 401
    web.passwords["investigator"] = NEW_PASSWORD
    web.clock.now += 1  # a new token, not the same string again
    fresh = web.bearer("investigator", fresh=True)
    assert web.client.get("/api/v1/patients/OWN-1", headers=fresh).status_code == 200
    _sign_out(web, web.sign_in("investigator"))
    assert web.client.get("/api/v1/patients/OWN-1", headers=fresh).status_code == 401
    colleague = web.bearer("analyst")
    assert web.client.get("/api/v1/patients/OWN-1", headers=colleague).status_code == 200
