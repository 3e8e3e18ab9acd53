"""Radiograph images: ingest (refuse, de-identify, find spacing), storage and display.

Layering: this package uses :mod:`kyphos.clinical`, :mod:`kyphos.errors`, numpy,
pydicom (with the pylibjpeg and pyjpegls decoder plugins) and Pillow; it never imports
the registry, web or analysis layers, and it has no database. The registry calls
:func:`ingest` and :class:`~kyphos.imaging.store.ImageStore`.
"""

from __future__ import annotations

from kyphos.imaging.errors import ImageRefused
from kyphos.imaging.ingest import Ingested, ingest
from kyphos.imaging.limits import MAX_PIXELS, MAX_UPLOAD_BYTES

__all__ = ["MAX_PIXELS", "MAX_UPLOAD_BYTES", "ImageRefused", "Ingested", "ingest"]
