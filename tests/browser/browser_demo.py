"""What the browser tests' demo registry holds beyond ``kyphos demo`` (see conftest.py),
and the steps every browser test takes (sign in, screenshot)."""

from pathlib import Path

from playwright.sync_api import Page

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


def shoot(page: Page, folder: Path, name: str) -> None:
    """A full-page screenshot ``folder/name.png``."""
    page.screenshot(path=folder / f"{name}.png", full_page=True)
