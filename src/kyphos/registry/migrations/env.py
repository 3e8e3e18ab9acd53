"""Alembic environment: kyphos passes the connection in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from kyphos.registry.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - kyphos always passes a connection
    raise RuntimeError("kyphos runs its migrations through kyphos.registry.migrate")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
