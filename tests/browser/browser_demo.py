"""What the browser tests' demo registry holds beyond ``kyphos demo`` (see conftest.py),
and the steps every browser test takes (sign in, screenshot)."""

from pathlib import Path

from playwright.sync_api import Page, expect

DEMO_PASSWORD = "kyphos-demo-password"
IDENTITY_PATIENT = "DEMO-000001"
IDENTITY_NAME = "Zhang Wei"
IDENTITY_NUMBER = "H-000123"


def sign_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the form, as a person does."""
    page.goto("/signin")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.locator("main form button").click()


def signed_in(page: Page, username: str) -> None:
    """Sign in and wait until the signed-in page is there (a ``goto`` right after the
    click could otherwise overtake the sign-in and land on the sign-in page)."""
    sign_in(page, username)
    expect(page.locator(".account")).to_contain_text(username)


def shoot(page: Page, folder: Path, name: str) -> None:
    """A full-page screenshot ``folder/name.png``."""
    page.screenshot(path=folder / f"{name}.png", full_page=True)
