"""``kyphos serve``: the web app and REST API over the registry (uvicorn)."""

from __future__ import annotations

from typing import Annotated

import typer

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_WORKERS = 64
APP_FACTORY = "kyphos.web.app:create_app"
"""What each worker process imports and calls (the settings come from the environment)."""


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = DEFAULT_PORT,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_WORKERS,
            help="Server processes (about one per core; SQLite still writes one at a time).",
        ),
    ] = 1,
) -> None:
    """Serve the registry in the browser and the REST API under /api/v1.

    With ``--workers N`` uvicorn runs N processes, each with its own app over the same
    registry. That is safe on SQLite too: it runs in WAL mode with a busy time-out, every
    write takes the database's write lock first (``BEGIN IMMEDIATE``), and everything a
    request depends on (accounts, sessions ended at sign-out, the sign-in throttle, the
    audit chain) lives in the database, not in a process. Reads then run in parallel;
    writes still queue for SQLite's single writer.
    """
    import uvicorn
    from sqlalchemy import select

    from kyphos.demo import DEMO_ACCOUNTS, DEMO_PASSWORD
    from kyphos.registry.models import User
    from kyphos.web import create_app

    app = create_app()
    registry = app.state.kyphos.registry
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"kyphos is serving {registry.settings.home} at http://{shown}:{port}/")
    if registry.is_demo():
        with registry.read() as session:
            names = set(session.execute(select(User.username)).scalars())
        accounts = [name for name in DEMO_ACCOUNTS if name in names]
        if accounts:
            typer.echo(
                f"demo accounts: {', '.join(accounts)} — password {DEMO_PASSWORD!r} "
                "(each named after its role)"
            )
    if workers == 1:
        uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="warning")
        return
    typer.echo(f"{workers} worker processes")
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        workers=workers,
        host=host,
        port=port,
        proxy_headers=True,
        log_level="warning",
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
