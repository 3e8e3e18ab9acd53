"""Sign-in, throttle, CSRF, session cookie, idle time-out, identity audit, language, banner."""

from __future__ import annotations

from sqlalchemy import select
from web_client import Web

from kyphos.registry.models import AuditEvent, RegistryInfo
from kyphos.web.deps import DEMO_FLAG_SECONDS


def _events(web: Web, action: str) -> list[AuditEvent]:
    with web.registry.read() as session:
        return list(
            session.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars()
        )


def _post_signin(web: Web, client, username: str, password: str):  # type: ignore[no-untyped-def]
    token = web.csrf(client)
    return client.post(
        "/signin", data={"username": username, "password": password, "csrf_token": token}
    )


def test_sign_in_succeeds_and_is_audited(web: Web) -> None:
    client = web.sign_in("investigator")
    assert client.get("/").status_code == 200
    assert [event.actor for event in _events(web, "login")] == ["investigator"]


def test_sign_in_refuses_a_wrong_password_and_an_unknown_user_alike(web: Web) -> None:
    client = web.client_for()
    wrong = _post_signin(web, client, "investigator", "not-the-password")
    unknown = _post_signin(web, client, "nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong user name or password." in wrong.text
    assert "Wrong user name or password." in unknown.text
    assert sorted(e.entity_key or "" for e in _events(web, "login_failed")) == [
        "investigator",
        "nobody",
    ]


def test_sign_in_is_throttled_after_five_failures_then_allowed_after_the_delay(web: Web) -> None:
    client = web.client_for()
    for _ in range(5):
        assert _post_signin(web, client, "observer", "not-the-password").status_code == 401
    refused = _post_signin(web, client, "observer", web.passwords["observer"])
    assert refused.status_code == 429
    web.clock.now += 16  # the first delay is 15 s
    assert _post_signin(web, client, "observer", web.passwords["observer"]).status_code == 303


def test_the_delay_grows_with_each_further_failure(web: Web) -> None:
    client = web.client_for()
    for _ in range(5):
        _post_signin(web, client, "analyst", "not-the-password")
    web.clock.now += 16
    assert _post_signin(web, client, "analyst", "still-wrong-password").status_code == 401
    web.clock.now += 16  # six failures: 30 s now
    assert _post_signin(web, client, "analyst", web.passwords["analyst"]).status_code == 429
    web.clock.now += 15
    assert _post_signin(web, client, "analyst", web.passwords["analyst"]).status_code == 303


def test_api_token_gives_the_same_401_for_unknown_user_and_wrong_password(web: Web) -> None:
    wrong = web.client.post("/api/v1/auth/token", json={"username": "admin", "password": "x" * 12})
    unknown = web.client.post("/api/v1/auth/token", json={"username": "zz", "password": "x" * 12})
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {"detail": [{"loc": ["body"], "msg": "wrong user name or password"}]}
    )


def test_api_token_expires(web: Web) -> None:
    headers = web.bearer("analyst")
    assert web.client.get("/api/v1/patients", headers=headers).status_code == 200
    web.clock.now += 61 * 60
    assert web.client.get("/api/v1/patients", headers=headers).status_code == 401


def test_a_form_without_the_csrf_token_is_refused(web: Web) -> None:
    client = web.client_for()
    client.get("/signin")
    answer = client.post("/signin", data={"username": "admin", "password": web.passwords["admin"]})
    assert answer.status_code == 403
    signed_in = web.sign_in("investigator")
    forged = signed_in.post("/lang", data={"lang": "zh", "csrf_token": "forged"})
    assert forged.status_code == 403


def test_session_cookie_is_httponly_and_lax_and_secure_only_over_https(web: Web) -> None:
    plain = web.client_for().get("/signin").headers["set-cookie"].lower()
    assert "httponly" in plain and "samesite=lax" in plain and "secure" not in plain
    https = web.client_for("https://testserver").get("/signin").headers["set-cookie"].lower()
    assert "httponly" in https and "samesite=lax" in https and "secure" in https


def test_an_idle_session_ends_after_the_time_out(web: Web) -> None:
    client = web.sign_in("investigator")
    web.clock.now += 29 * 60
    assert client.get("/").status_code == 200  # the request refreshes the session
    web.clock.now += 29 * 60
    assert client.get("/").status_code == 200
    web.clock.now += 31 * 60
    ended = client.get("/")
    assert ended.status_code == 303
    assert ended.headers["location"].startswith("/signin?next=")
    assert "expired=1" in ended.headers["location"]


def test_sign_out_ends_the_session(web: Web) -> None:
    client = web.sign_in("analyst")
    client.post("/signout", data={"csrf_token": web.page_csrf(client)})
    assert client.get("/").status_code == 303


def test_identity_reads_are_audited_and_only_for_allowed_roles(web: Web) -> None:
    investigator = web.sign_in("investigator")
    assert "H-OWN-77" in investigator.get("/patients/OWN-1").text
    observer = web.sign_in("observer")
    assert "H-OWN-77" not in observer.get("/patients/OWN-1").text
    reads = _events(web, "read_identity")
    assert [(e.actor, e.entity_key) for e in reads] == [("investigator", "OWN-1")]
    assert all("H-OWN-77" not in (e.after or "") + (e.before or "") for e in reads)


def test_another_sites_patient_looks_exactly_like_a_missing_one(web: Web) -> None:
    client = web.sign_in("investigator")
    hidden = client.get("/patients/OTHER-1")
    missing = client.get("/patients/NOPE-1")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text == missing.text
    headers = web.bearer("investigator")
    api_hidden = web.client.get("/api/v1/patients/OTHER-1", headers=headers).json()
    api_missing = web.client.get("/api/v1/patients/NOPE-1", headers=headers).json()
    assert str(api_hidden).replace("OTHER-1", "X") == str(api_missing).replace("NOPE-1", "X")


def test_search_by_name_only_for_roles_that_read_identity(web: Web) -> None:
    investigator = web.sign_in("investigator")
    assert "OWN-1" in investigator.get("/patients", params={"q": "wang"}).text
    assert "OWN-1" in investigator.get("/patients", params={"q": "h-own"}).text
    observer = web.sign_in("observer")
    assert "OWN-1" not in observer.get("/patients", params={"q": "wang"}).text
    assert "OWN-1" in observer.get("/patients", params={"q": "own-"}).text


def test_bad_query_values_get_a_clear_message_not_a_500(web: Web) -> None:
    client = web.sign_in("admin")
    page = client.get("/patients", params={"page": "abc"})
    assert page.status_code == 422 and "page" in page.text
    headers = web.bearer("admin")
    answer = web.client.get("/api/v1/patients", params={"page": "0"}, headers=headers)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "page"]


def test_language_switch_is_kept_for_the_user(web: Web) -> None:
    client = web.sign_in("analyst")
    client.post("/lang", data={"lang": "zh", "csrf_token": web.page_csrf(client), "next": "/"})
    assert "概览" in client.get("/").text
    again = web.sign_in("analyst")
    assert "概览" in again.get("/").text
    assert "Dashboard" in again.get("/?lang=en").text


def test_demo_banner_shows_only_in_a_demo_registry(web: Web) -> None:
    client = web.sign_in("admin")
    assert "Demo data" not in client.get("/").text
    with web.registry.write() as session:
        info = session.get(RegistryInfo, 1)
        assert info is not None
        info.demo = True
    web.clock.now += DEMO_FLAG_SECONDS  # the app reads the flag again after this long
    assert "Demo data" in client.get("/").text
    assert "Demo data" in web.client_for().get("/signin").text


def test_coded_values_show_their_labels_in_the_page_language(web: Web) -> None:
    from kyphos.web.i18n import coded_label

    # The clinical vocabularies' own labels (kyphos.clinical), not the stored codes.
    assert coded_label("technique", "kyphoplasty", "zh") == "经皮椎体后凸成形术（PKP）"
    assert coded_label("acuity", "acute_or_subacute", "en") == "acute/subacute"
    assert coded_label("sex", "not-a-code", "zh") == "not-a-code"
    client = web.sign_in("admin")
    chinese = client.get("/patients/OWN-1", params={"lang": "zh"}).text
    english = client.get("/patients/OWN-1", params={"lang": "en"}).text
    assert "<dd>女</dd>" in chinese and "<dd>female</dd>" in english


def test_one_patient_is_one_patient_not_one_patients(web: Web) -> None:
    client = web.sign_in("investigator")  # sees OWN-1 only
    listing = client.get("/patients").text
    assert "<p>1 patient</p>" in listing and "1 patients" not in listing
    assert "<p>2 patients</p>" in web.sign_in("admin").get("/patients").text
