"""A real ``kyphos serve`` on a free loopback port, and Debian's Chromium driven by Playwright.

* ``server`` (once per session; ``serving`` starts another for tests that change
  data): a fresh ``KYPHOS_HOME`` with ``kyphos init`` and ``kyphos demo`` (41 patients;
  demo accounts admin, investigator, observer, analyst, password
  ``kyphos-demo-password``). Patient DEMO-000001 is then given an identity the
  way a site would: ``kyphos export`` to CSV, its patients row and an ``identity.csv``
  imported back with ``kyphos import``. The server runs as a subprocess until the end of
  the session; its output goes to ``serve.log`` beside the data folder.
* ``browser``: ``/usr/bin/chromium`` (Debian's package, never ``playwright install``;
  ``KYPHOS_CHROMIUM`` names another binary), headless, ``--no-sandbox``. Without it the
  browser tests are skipped, except with ``CI=true``, where they fail: in CI nothing may
  be skipped (as for PostgreSQL in tests/conftest.py). ``.ci/run`` installs it.
* ``page``: a fresh browser context (no cookies) per test.
* ``screenshots``: the folder in ``KYPHOS_SCREENSHOTS``, else a pytest temporary folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from browser_demo import IDENTITY_NAME, IDENTITY_NUMBER, IDENTITY_PATIENT
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

CHROMIUM = Path(os.environ.get("KYPHOS_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS_VARIABLE = "KYPHOS_SCREENSHOTS"
CLI_TIMEOUT_SECONDS = 120
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 10
VIEWPORT = {"width": 1280, "height": 900}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _chromium() -> Path:
    """Debian's Chromium; skip (locally) or fail (CI) without it."""
    if CHROMIUM.exists():
        return CHROMIUM
    if _in_ci():
        pytest.fail(
            f"{CHROMIUM} is missing, so the browser tests cannot run, and with CI=true a "
            "missing browser is a failure, not a skip; install it with "
            "`apt-get install -y chromium` (.ci/run does)"
        )
    pytest.skip(f"browser tests: {CHROMIUM} is missing (apt-get install -y chromium)")


@dataclass(frozen=True)
class Server:
    url: str
    home: Path
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _kyphos(env: dict[str, str], *args: str | os.PathLike[str]) -> None:
    command = [sys.executable, "-m", "kyphos", *(os.fspath(arg) for arg in args)]
    done = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"`kyphos {' '.join(map(str, args))}` failed:\n{done.stdout}{done.stderr}")


def _give_identity(env: dict[str, str], work: Path) -> None:
    """Import an identity for IDENTITY_PATIENT: its exported patients row + identity.csv."""
    exported = work / "export"
    _kyphos(env, "export", exported, "--format", "csv")
    header, *rows = (exported / "patients.csv").read_text(encoding="utf-8").splitlines()
    row = next(line for line in rows if line.startswith(f"{IDENTITY_PATIENT},"))
    workbook = work / "identity-workbook"
    workbook.mkdir()
    (workbook / "patients.csv").write_text(f"{header}\n{row}\n", encoding="utf-8")
    (workbook / "identity.csv").write_text(
        "patient_id,full_name,hospital_number,phone\n"
        f"{IDENTITY_PATIENT},{IDENTITY_NAME},{IDENTITY_NUMBER},\n",
        encoding="utf-8",
    )
    _kyphos(env, "import", workbook)


def _wait_until_answering(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"kyphos serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/signin", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"kyphos serve did not answer within {START_TIMEOUT_SECONDS} s:\n{log.read_text()}")


@contextmanager
def serving(work: Path, *, identity: bool = True) -> Iterator[Server]:
    """``kyphos init`` + ``kyphos demo`` in ``work/home``, then ``kyphos serve`` on a free port
    until the block ends. ``identity``: give IDENTITY_PATIENT its identity (see above)."""
    home = work / "home"
    env = {**os.environ, "KYPHOS_HOME": str(home)}
    for variable in ("KYPHOS_DATABASE_URL", "KYPHOS_SECRET_KEY", "KYPHOS_LANG"):
        env.pop(variable, None)
    _kyphos(env, "init")
    _kyphos(env, "demo")
    if identity:
        _give_identity(env, work)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = work / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "kyphos", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_answering(url, process, log)
        yield Server(url=url, home=home, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("kyphos-serve")) as running:
        yield running


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    _chromium()
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(
        executable_path=str(_chromium()), headless=True, args=["--no-sandbox"]
    )
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url, viewport=VIEWPORT)
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own for a module that changes data (the demo, no identity added)."""
    with serving(tmp_path_factory.mktemp("kyphos-clinic"), identity=False) as running:
        yield running


@pytest.fixture
def desk(browser: Browser, clinic: Server) -> Iterator[Page]:
    """A fresh browser context on ``clinic``."""
    context = browser.new_context(base_url=clinic.url, viewport=VIEWPORT)
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    named = os.environ.get(SCREENSHOTS_VARIABLE, "").strip()
    folder = Path(named) if named else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
