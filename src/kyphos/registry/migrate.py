"""Schema migrations (Alembic, shipped inside the package)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest schema revision this kyphos knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a revision
        raise RuntimeError("no migrations shipped")
    return head


def known_revisions() -> set[str]:
    return {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision, None for a database kyphos never initialised."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def autogenerate(engine: Engine, message: str) -> None:  # pragma: no cover - developer tool
    """Write a new revision from the models (developers: `python -m kyphos.registry.migrate`)."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


if __name__ == "__main__":  # pragma: no cover
    import sys
    import tempfile

    from kyphos.registry.db import make_engine

    with tempfile.TemporaryDirectory() as folder:
        scratch = make_engine(f"sqlite:///{folder}/scratch.db")
        upgrade(scratch)
        autogenerate(scratch, sys.argv[1] if len(sys.argv) > 1 else "schema change")
