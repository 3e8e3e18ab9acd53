"""Fixtures shared by the whole suite: a registry on each database backend, and the CLI.

Every test that asks for ``registry_settings`` (or anything built on it: ``registry``,
``kyphos_cli``) runs twice, as ``test_…[sqlite]`` and ``test_…[postgresql]``:

* SQLite: a fresh ``KYPHOS_HOME`` under the test's ``tmp_path``.
* PostgreSQL: the server named by ``KYPHOS_TEST_POSTGRES_URL``; each test gets its own
  schema ``kt_<uuid hex>`` (the URL carries ``options=-csearch_path=<schema>``, so
  Alembic's version table and every kyphos table live in it), dropped afterwards.
  Without that variable the PostgreSQL variant is skipped, except with ``CI=true``,
  where it fails: in CI nothing may be skipped (DESIGN.md "Tests").

The PostgreSQL variant carries the ``postgres`` marker (``-m "not postgres"`` leaves it
out on purpose).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from kyphos.config import Settings
from kyphos.registry.db import dispose_engines
from kyphos.registry.repository import Registry, init_registry

POSTGRES_URL_VARIABLE = "KYPHOS_TEST_POSTGRES_URL"
ADMIN_NAME = "admin"
ADMIN_PASSWORD = "correct-horse-battery-staple"
CLI_TIMEOUT_SECONDS = 120
DROP_LOCK_TIMEOUT = "10s"

KyphosCli = Callable[..., "subprocess.CompletedProcess[str]"]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _postgres_base_url() -> str:
    """The PostgreSQL URL to test against; skip (locally) or fail (CI) without one."""
    url = os.environ.get(POSTGRES_URL_VARIABLE, "").strip()
    if url:
        return url
    if _in_ci():
        pytest.fail(
            f"{POSTGRES_URL_VARIABLE} is not set, so the PostgreSQL variant of this test "
            "cannot run, and with CI=true a missing database is a failure, not a skip; set "
            f"{POSTGRES_URL_VARIABLE}=postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
    pytest.skip(f"PostgreSQL variant: {POSTGRES_URL_VARIABLE} is not set")


@pytest.fixture(scope="session")
def _postgres_admin_engine() -> Iterator[Engine]:
    """An engine on the test database itself, for creating and dropping test schemas."""
    engine = create_engine(_postgres_base_url(), poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test variant: ``"sqlite"`` or ``"postgresql"``."""
    if request.param == "postgresql":
        _postgres_base_url()
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` for SQLite (the file in KYPHOS_HOME), else a URL into a fresh PG schema."""
    if backend == "sqlite":
        yield None
        dispose_engines()
        return
    admin: Engine = request.getfixturevalue("_postgres_admin_engine")
    schema = f"kt_{uuid.uuid4().hex}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(_postgres_base_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        dispose_engines()
        with admin.begin() as connection:
            connection.execute(text(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'"))
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def registry_settings(
    database_url: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings for an empty registry on this test's backend (not initialised yet).

    ``home`` is ``tmp_path / "home"``; no ``KYPHOS_SECRET_KEY``, so ``init`` writes
    ``home / "secret.key"``. The ``KYPHOS_`` variables are set to match, so a CLI
    subprocess (``kyphos_cli``) opens the same registry.
    """
    home = tmp_path / "home"
    monkeypatch.setenv("KYPHOS_HOME", str(home))
    monkeypatch.delenv("KYPHOS_SECRET_KEY", raising=False)
    monkeypatch.delenv("KYPHOS_LANG", raising=False)
    if database_url is None:
        monkeypatch.delenv("KYPHOS_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("KYPHOS_DATABASE_URL", database_url)
    return Settings(home=home, database_url=database_url, secret_key=None, lang="en")


@pytest.fixture
def admin_password() -> str:
    """The password of the ``admin`` account that the ``registry`` fixture creates."""
    return ADMIN_PASSWORD


@pytest.fixture
def registry(registry_settings: Settings, admin_password: str) -> Registry:
    """An initialised registry (default site MAIN, default protocol, user ``admin``)."""
    init_registry(registry_settings, admin=ADMIN_NAME, password=admin_password)
    return Registry.open(registry_settings)


@pytest.fixture
def kyphos_cli(registry_settings: Settings, tmp_path: Path) -> KyphosCli:
    """Run ``python -m kyphos ARGS…`` against this test's registry; return the result.

    ``kyphos_cli("audit", "verify")``; ``kyphos_cli("init", "--password-stdin",
    input="…\\n")``; ``env={"KYPHOS_LANG": "zh"}`` adds variables. Text mode, output
    captured, never raises on a non-zero exit: check ``returncode`` yourself. Runs in
    ``tmp_path`` so relative default outputs land there.
    """

    def run(
        *args: str | os.PathLike[str],
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "kyphos", *(os.fspath(arg) for arg in args)],
            input=input,
            capture_output=True,
            text=True,
            env=environment,
            cwd=tmp_path,
            timeout=CLI_TIMEOUT_SECONDS,
            check=False,
        )

    return run
