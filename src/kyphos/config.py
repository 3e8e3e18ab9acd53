"""Configuration: environment variables with a ``KYPHOS_`` prefix, read in one place.

* ``KYPHOS_HOME`` — the data folder (default ``./kyphos-data``): the SQLite file
  ``kyphos.db``, ``images/`` and ``secret.key``.
* ``KYPHOS_DATABASE_URL`` — default the SQLite file in ``KYPHOS_HOME``;
  ``postgresql+psycopg://…`` for PostgreSQL.
* ``KYPHOS_SECRET_KEY`` — the registry's secret (keyed pseudonyms, identity hashes in
  the audit trail, session cookies). When unset, ``kyphos init`` writes a random one to
  ``KYPHOS_HOME/secret.key`` (mode 0600) and later runs read it. Known placeholder
  values are refused.
* ``KYPHOS_LANG`` — ``en`` (default) or ``zh``.
* ``KYPHOS_SESSION_IDLE_MINUTES`` — a web session ends after this long without a request
  (default 30).
* ``KYPHOS_TOKEN_MINUTES`` — lifetime of a REST API bearer token (default 60).
* ``KYPHOS_ADJUDICATION_MM`` / ``KYPHOS_ADJUDICATION_DEG`` — two observers' values of a
  radiograph differing by more than this (default 2 mm, 5°) are marked for adjudication.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kyphos.errors import KyphosError

SECRET_FILE = "secret.key"
DATABASE_FILE = "kyphos.db"
MIN_SECRET_LENGTH = 32
MAX_MINUTES = 24 * 60
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "secret",
        "changeme",
        "change-me",
        "change_me",
        "changethis",
        "dev",
        "development",
        "kyphos",
        "password",
        "test",
        "example",
        "your-secret-key",
        "xxx",
    }
)


class Settings(BaseSettings):
    """Everything kyphos reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="KYPHOS_", extra="ignore")

    home: Path = Path("./kyphos-data")
    database_url: str | None = None
    secret_key: SecretStr | None = None
    lang: Literal["en", "zh"] = "en"
    session_idle_minutes: int = Field(default=30, ge=1, le=MAX_MINUTES)
    token_minutes: int = Field(default=60, ge=1, le=MAX_MINUTES)
    adjudication_mm: float = Field(default=2.0, gt=0, le=60)
    """Two primary readings whose heights differ by more than this may be adjudicated."""
    adjudication_deg: float = Field(default=5.0, gt=0, le=90)
    """Two primary readings whose angles differ by more than this may be adjudicated."""

    @field_validator("lang", mode="before")
    @classmethod
    def _lower_lang(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def url(self) -> str:
        """The database URL in force (the SQLite file in ``home`` by default)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / DATABASE_FILE).resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def secret_path(self) -> Path:
        return self.home / SECRET_FILE


def get_settings() -> Settings:
    """The settings as the environment says now (read afresh: tests change it)."""
    try:
        return Settings()
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = "KYPHOS_" + "_".join(str(part) for part in item["loc"]).upper()
            shown = item.get("input")
            if name == "KYPHOS_LANG":
                problems.append(f"{name}: {shown!r} is not a language kyphos speaks (en, zh)")
            else:
                problems.append(f"{name}: {shown!r} is not valid ({item['msg']})")
        raise KyphosError(*problems) from None


def _check_secret(value: str, where: str) -> bytes:
    if value.strip().lower() in PLACEHOLDER_SECRETS:
        raise KyphosError(
            f"{where}: is a placeholder value; set a random secret "
            "(or unset it to let `kyphos init` create one)"
        )
    if len(value.strip()) < MIN_SECRET_LENGTH:
        raise KyphosError(f"{where}: too short, use at least {MIN_SECRET_LENGTH} random characters")
    return value.strip().encode("utf-8")


def read_secret(settings: Settings) -> bytes:
    """The registry's secret: ``KYPHOS_SECRET_KEY``, else ``KYPHOS_HOME/secret.key``."""
    if settings.secret_key is not None:
        return _check_secret(settings.secret_key.get_secret_value(), "KYPHOS_SECRET_KEY")
    try:
        text = settings.secret_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KyphosError(
            f"{settings.secret_path}: no secret key; run `kyphos init` first "
            "or set KYPHOS_SECRET_KEY"
        ) from None
    return _check_secret(text, str(settings.secret_path))


def ensure_secret(settings: Settings) -> bool:
    """Create ``secret.key`` (0600) when no secret is configured; True if created."""
    if settings.secret_key is not None:
        read_secret(settings)
        return False
    if settings.secret_path.exists():
        read_secret(settings)
        return False
    settings.home.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(settings.secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(48))
    return True
