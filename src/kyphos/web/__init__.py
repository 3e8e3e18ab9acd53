"""The web app: server-rendered pages and the REST API over the registry (``kyphos serve``)."""

from kyphos.web.app import create_app

__all__ = ["create_app"]
