"""The pages as a person uses them: Chromium against a real ``kyphos serve`` (conftest.py).

Each test starts without cookies, signs in through the form and clicks its way on; it
saves screenshots of what it checked (``KYPHOS_SCREENSHOTS``, else a pytest temporary
folder). Forms, report, import and audit pages are tested where they are built.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_demo import IDENTITY_NAME, IDENTITY_NUMBER, IDENTITY_PATIENT, shoot, sign_in, signed_in
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

CJK = re.compile(r"[\u4e00-\u9fff]")


def nav(page: Page) -> str:
    return page.locator("header nav").inner_text()


def test_investigator_signs_in_and_sees_the_dashboard(page: Page, screenshots: Path) -> None:
    sign_in(page, "investigator")

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator(".demo-banner")).to_contain_text("Demo data")
    expect(page.locator(".account")).to_contain_text("investigator (investigator)")
    expect(page.locator("p.figure strong")).to_have_text("41")
    expect(page.get_by_role("heading", name="Enrolment by month")).to_be_visible()
    shoot(page, screenshots, "dashboard-en")


def test_investigator_finds_a_patient_by_study_code_and_opens_the_page(
    page: Page, screenshots: Path
) -> None:
    sign_in(page, "investigator")
    page.locator("header nav").get_by_role("link", name="Patients").click()
    expect(page.locator("h1")).to_have_text("Patients")
    expect(page.get_by_text("41 patients")).to_be_visible()
    shoot(page, screenshots, "patients-en")

    page.get_by_label("Search").fill("DEMO-000007")
    page.locator("form.filters button").click()
    expect(page.get_by_text("1 patient", exact=True)).to_be_visible()
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(1)
    rows.get_by_role("link", name="DEMO-000007").click()

    expect(page).to_have_url(re.compile(r"/patients/DEMO-000007$"))
    expect(page.locator("h1")).to_have_text("DEMO-000007")
    for heading in ("Vertebrae", "Procedures", "Visits"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="Preoperative").first).to_be_visible()
    shoot(page, screenshots, "patient-en")


def test_switching_to_chinese_shows_the_pages_in_chinese(page: Page, screenshots: Path) -> None:
    sign_in(page, "admin")
    try:
        page.get_by_role("button", name="中文").click()
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(page.locator("h1")).to_have_text("概览")
        links = nav(page).split()
        assert links[:2] == ["概览", "患者"]
        assert all(CJK.search(link) for link in links), links
        assert CJK.search(page.locator(".demo-banner").inner_text())
        shoot(page, screenshots, "dashboard-zh")

        page.locator("header nav").get_by_role("link", name="患者").click()
        expect(page.locator("h1")).to_have_text("患者")
        shoot(page, screenshots, "patients-zh")

        page.get_by_role("link", name=IDENTITY_PATIENT).click()
        expect(page.get_by_role("heading", name="身份信息")).to_be_visible()
        assert CJK.search(page.locator("main section.summary").inner_text())
        shoot(page, screenshots, "patient-zh")

        # The choice is kept for the user: a new sign-in opens in Chinese.
        page.context.clear_cookies()
        sign_in(page, "admin")
        expect(page.locator("h1")).to_have_text("概览")
    finally:
        english = page.get_by_role("button", name="English")
        if english.count():
            english.click()
    expect(page.locator("h1")).to_have_text("Dashboard")


def test_observer_does_not_see_identity_fields(page: Page, screenshots: Path) -> None:
    signed_in(page, "investigator")
    page.goto(f"/patients/{IDENTITY_PATIENT}")
    expect(page.get_by_role("heading", name="Identity")).to_be_visible()
    expect(page.locator("section.identity")).to_contain_text(IDENTITY_NAME)
    expect(page.locator("section.identity")).to_contain_text(IDENTITY_NUMBER)

    page.context.clear_cookies()
    sign_in(page, "observer")
    expect(page.locator(".account")).to_contain_text("observer (observer)")
    page.goto(f"/patients/{IDENTITY_PATIENT}")
    expect(page.locator("h1")).to_have_text(IDENTITY_PATIENT)
    expect(page.locator("section.identity")).to_have_count(0)
    expect(page.get_by_role("heading", name="Identity")).to_have_count(0)
    body = page.locator("body").inner_text()
    assert IDENTITY_NAME not in body
    assert IDENTITY_NUMBER not in body
    shoot(page, screenshots, "patient-observer-en")

    # Nor can an observer find the patient by name or hospital number.
    for term in ("Zhang", IDENTITY_NUMBER):
        page.goto("/patients")
        page.get_by_label("Search").fill(term)
        page.locator("form.filters button").click()
        expect(page.get_by_text("No patients match.")).to_be_visible()


def test_wrong_password_shows_the_error_and_no_session(page: Page) -> None:
    sign_in(page, "investigator", password="not-the-password")

    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    expect(page).to_have_url(re.compile(r"/signin"))
    expect(page.locator("header nav")).to_have_count(0)
    expect(page.get_by_label("User name")).to_have_value("investigator")

    page.goto("/patients")
    expect(page).to_have_url(re.compile(r"/signin"))
    expect(page.locator("h1")).to_have_text("Sign in")
