"""``kyphos serve``: the web app and REST API over the registry (uvicorn)."""

from __future__ import annotations

from typing import Annotated

import typer

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = DEFAULT_PORT,
) -> None:
    """Serve the registry in the browser and the REST API under /api/v1."""
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
    uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
