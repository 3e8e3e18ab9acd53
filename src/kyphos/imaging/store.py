"""Content-addressed storage of de-identified images and their cached display levels.

Layout under ``root`` (``KYPHOS_HOME/images``)::

    ab/abcdef…          the stored file, named by the SHA-256 of its bytes
    display/abcdef…/0.png, 1.png, …   8-bit display levels, made once

Every write goes to a temporary file in ``root`` and is moved into place with
:func:`os.replace`, so a reader never sees half a file and a crash leaves at most a
stray ``.tmp-*`` file. A SHA-256 string is checked to be 64 lowercase hex digits before
it becomes part of a path.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from kyphos.errors import NotFoundError
from kyphos.imaging import display
from kyphos.imaging.display import Array
from kyphos.imaging.ingest import Ingested, display_pixels

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _checked(sha256: str) -> str:
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise NotFoundError(f"{sha256!r} is not an image hash (64 lowercase hex digits)")
    return sha256


class ImageStore:
    """Files named by their SHA-256 under ``root``, with display levels beside them."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # --- paths -------------------------------------------------------------------------

    def _file(self, sha256: str) -> Path:
        sha256 = _checked(sha256)
        return self.root / sha256[:2] / sha256

    def _display_dir(self, sha256: str) -> Path:
        return self.root / "display" / _checked(sha256)

    def _write(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically (temporary file in root, then replace)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=self.root)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    # --- files -------------------------------------------------------------------------

    def put(self, image: Ingested) -> str:
        """Store ``image`` (once) and make its display levels; returns its SHA-256."""
        sha256 = _checked(image.sha256)
        path = self._file(sha256)
        if not path.exists():
            self._write(path, image.data)
        count = len(display.level_sizes(image.width, image.height))
        folder = self._display_dir(sha256)
        if not all((folder / f"{level}.png").is_file() for level in range(count)):
            self._make_levels(sha256, image.display_pixels)
        return sha256

    def has(self, sha256: str) -> bool:
        try:
            return self._file(sha256).is_file()
        except NotFoundError:
            return False

    def read(self, sha256: str) -> bytes:
        """The stored de-identified file."""
        try:
            return self._file(sha256).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no stored image {sha256}") from None

    def remove(self, sha256: str) -> None:
        """Delete a stored file and its display levels (nothing happens if absent)."""
        with contextlib.suppress(FileNotFoundError):
            self._file(sha256).unlink()
        shutil.rmtree(self._display_dir(sha256), ignore_errors=True)

    # --- display -----------------------------------------------------------------------

    def levels(self, sha256: str) -> list[tuple[int, int]]:
        """``(width, height)`` of each display level; level 0 is the largest."""
        # level 0 is already within the cap, so its size gives the same levels as the file's
        width, height = self._level0_size(sha256)
        return display.level_sizes(width, height)

    def _level0_size(self, sha256: str) -> tuple[int, int]:
        """Width and height of level 0, read from its PNG header (IHDR)."""
        if not self.has(sha256):
            raise NotFoundError(f"no stored image {sha256}")
        level0 = self._display_dir(sha256) / "0.png"
        if not level0.is_file():
            self._make_levels(sha256, None)
        header = level0.read_bytes()[16:24]
        return int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")

    def display(self, sha256: str, level: int = 0) -> bytes:
        """The 8-bit PNG of display ``level``, made once and cached."""
        sizes = self.levels(sha256)
        if not isinstance(level, int) or not 0 <= level < len(sizes):
            raise NotFoundError(
                f"image {sha256} has display levels 0 to {len(sizes) - 1}, not {level!r}"
            )
        path = self._display_dir(sha256) / f"{level}.png"
        try:
            return path.read_bytes()
        except FileNotFoundError:
            self._make_levels(sha256, None)
            return path.read_bytes()

    def _make_levels(self, sha256: str, pixels: Array | None) -> None:
        if pixels is None:
            pixels = display_pixels(self.read(sha256))
        folder = self._display_dir(sha256)
        for level, png in enumerate(display.encode_pngs(display.levels(pixels))):
            self._write(folder / f"{level}.png", png)
