"""Opening and initialising a registry: idempotent init, refusals that name the fix."""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from kyphos.config import Settings
from kyphos.errors import SchemaError
from kyphos.registry.db import engine_for
from kyphos.registry.repository import Registry, init_registry

PASSWORD = "a-long-enough-password"


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def test_init_twice_leaves_one_registry_one_main_site_and_one_secret(
    registry_settings: Settings,
) -> None:
    first = init_registry(registry_settings, admin="admin", password=PASSWORD)
    secret_file = registry_settings.home / "secret.key"
    secret_after_first = secret_file.read_text(encoding="utf-8")
    engine = engine_for(registry_settings.url)
    events_after_first = count(engine, "SELECT count(*) FROM audit_event")

    second = init_registry(registry_settings, admin="admin", password=PASSWORD)

    assert (first.created_registry, first.created_secret, first.admin) == (True, True, "admin")
    assert (second.created_registry, second.created_secret, second.admin) == (False, False, None)
    assert secret_file.read_text(encoding="utf-8") == secret_after_first
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert count(engine, "SELECT count(*) FROM registry_info") == 1
    assert count(engine, "SELECT count(*) FROM site WHERE code = 'MAIN'") == 1
    assert count(engine, "SELECT count(*) FROM site") == 1
    assert count(engine, "SELECT count(*) FROM user_account WHERE username = 'admin'") == 1
    assert count(engine, "SELECT count(*) FROM audit_event") == events_after_first


def test_init_records_the_registry_the_main_site_and_the_admin_in_the_audit_trail(
    registry: Registry,
) -> None:
    with registry.engine.connect() as connection:
        events = connection.execute(
            text("SELECT action, entity, entity_key FROM audit_event ORDER BY id")
        ).all()
    assert [tuple(event) for event in events] == [
        ("init", "registry", None),
        ("create", "site", "MAIN"),
        ("create", "user", "admin"),
    ]


def test_open_refuses_an_uninitialised_registry_and_says_to_run_init(
    registry_settings: Settings,
) -> None:
    with pytest.raises(SchemaError, match="run `kyphos init`"):
        Registry.open(registry_settings)


def test_open_refuses_a_database_from_a_newer_kyphos(registry: Registry) -> None:
    with registry.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))

    with pytest.raises(SchemaError, match="comes from a newer kyphos") as refused:
        Registry.open(registry.settings)
    assert "9999_future" in str(refused.value)


def test_init_refuses_to_touch_a_database_from_a_newer_kyphos(registry: Registry) -> None:
    with registry.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))

    with pytest.raises(SchemaError, match="comes from a newer kyphos"):
        init_registry(registry.settings)
    with registry.engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version == "9999_future"


def test_the_registry_fixture_opens_an_initialised_registry_with_its_admin(
    registry: Registry, admin_password: str
) -> None:
    assert registry.check_password("admin", admin_password) is not None
    assert not registry.is_demo()


def test_the_cli_helper_runs_kyphos_in_a_subprocess(
    kyphos_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = kyphos_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("kyphos ")


def test_each_test_gets_a_registry_of_its_own(registry: Registry, backend: str) -> None:
    if backend == "sqlite":
        database = Path(str(registry.engine.url.database))
        assert database == (registry.settings.home / "kyphos.db").resolve()
        return
    with registry.engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        tables = set(
            connection.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                {"s": schema},
            ).scalars()
        )
    assert schema.startswith("kt_")
    assert {"alembic_version", "audit_event", "patient"} <= tables
