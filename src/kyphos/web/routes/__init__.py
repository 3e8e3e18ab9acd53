"""Routers: ``pages`` (server-rendered HTML) and ``api`` (REST, ``/api/v1``)."""
