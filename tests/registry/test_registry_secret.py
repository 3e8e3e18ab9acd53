"""The registry's secret: refused when it is a placeholder or too short, kept in a 0600 file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from kyphos.config import Settings, get_settings, read_secret
from kyphos.errors import KyphosError, SchemaError
from kyphos.registry.repository import Registry, init_registry

A_GOOD_SECRET = "q7Vx2LmP9sKe4TnB8wRz6YhC3uJd5GaF1oNi0XtW"  # 40 characters, no pattern


@pytest.mark.parametrize("placeholder", ["changeme", "secret", "  ChangeMe  ", "SECRET"])
def test_a_placeholder_secret_key_from_the_environment_is_refused(
    placeholder: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KYPHOS_HOME", str(tmp_path))
    monkeypatch.setenv("KYPHOS_SECRET_KEY", placeholder)

    with pytest.raises(KyphosError, match="KYPHOS_SECRET_KEY: is a placeholder value"):
        read_secret(get_settings())


@pytest.mark.parametrize("short", ["x", "Xk3-9fQ2", "q7Vx2LmP9sKe4TnB"])
def test_a_short_secret_key_is_refused(short: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, secret_key=SecretStr(short))
    with pytest.raises(KyphosError, match="KYPHOS_SECRET_KEY: too short"):
        read_secret(settings)


def test_a_long_random_secret_key_is_accepted(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, secret_key=SecretStr(A_GOOD_SECRET))
    assert read_secret(settings) == A_GOOD_SECRET.encode("utf-8")


def test_a_secret_file_holding_a_placeholder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text("changeme\n", encoding="utf-8")
    with pytest.raises(KyphosError, match=r"secret\.key: is a placeholder value"):
        read_secret(Settings(home=tmp_path, secret_key=None))


def test_init_writes_a_secret_key_only_its_owner_can_read(registry_settings: Settings) -> None:
    init_registry(registry_settings)
    secret_file = registry_settings.home / "secret.key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert len(secret_file.read_text(encoding="utf-8").strip()) >= 32


def test_init_with_a_placeholder_secret_key_creates_nothing(registry_settings: Settings) -> None:
    placeholder = registry_settings.model_copy(update={"secret_key": SecretStr("changeme")})

    with pytest.raises(KyphosError, match="placeholder"):
        init_registry(placeholder)

    assert not (registry_settings.home / "secret.key").exists()
    with pytest.raises(SchemaError, match="run `kyphos init`"):
        Registry.open(registry_settings)


def test_init_with_a_secret_key_in_the_environment_writes_no_secret_file(
    registry_settings: Settings,
) -> None:
    configured = registry_settings.model_copy(update={"secret_key": SecretStr(A_GOOD_SECRET)})

    result = init_registry(configured)

    assert result.created_secret is False
    assert not (registry_settings.home / "secret.key").exists()
    assert Registry.open(configured).secret == A_GOOD_SECRET.encode("utf-8")
