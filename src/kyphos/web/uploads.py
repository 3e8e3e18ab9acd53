"""Uploads read into memory with a size cap, never spooled to a temporary file.

Radiographs must be de-identified before anything is written anywhere (issue 7), so
their uploads do not go through Starlette's ``UploadFile`` (which spools a part larger
than 1 MB to a temporary file). :func:`read_body` streams the request body into memory
and stops at the cap; :func:`form_parts` splits a ``multipart/form-data`` body in
memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.parser import HeaderParser
from email.policy import HTTP

from fastapi import Request


class TooLarge(Exception):
    """The body is over the cap; nothing of it was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the upload is larger than {limit // 2**20} MB")
        self.limit = limit


class BadForm(Exception):
    """The body is not the multipart form it claims to be."""


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request body, in memory; :class:`TooLarge` past ``limit`` bytes."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise TooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            body.clear()
            raise TooLarge(limit)
    return bytes(body)


def form_parts(body: bytes, content_type: str) -> dict[str, Part]:
    """The parts of a ``multipart/form-data`` body by field name (the first of each).

    The body is split at its boundary (RFC 7578: the boundary does not occur in the
    data); only each part's few header lines go through the MIME header parser.
    """
    header = HeaderParser(policy=HTTP).parsestr(f"Content-Type: {content_type}\r\n\r\n")
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        raise BadForm("the form must be sent as multipart/form-data")
    delimiter = b"--" + boundary.encode("latin-1")
    start = body.find(delimiter)
    if start < 0:
        raise BadForm("the form has no parts")
    parts: dict[str, Part] = {}
    for chunk in body[start + len(delimiter) :].split(b"\r\n" + delimiter):
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, separator, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            raise BadForm("a part of the form has no header")
        headers = HeaderParser(policy=HTTP).parsestr(head.decode("utf-8", errors="replace"))
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str) or name in parts:
            continue
        filename = headers.get_param("filename", header="content-disposition")
        parts[name] = Part(
            name=name, filename=filename if isinstance(filename, str) else None, data=data
        )
    return parts
