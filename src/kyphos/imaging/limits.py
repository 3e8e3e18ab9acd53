"""Size limits for uploads, named once for the imaging layer and its callers."""

from __future__ import annotations

#: The largest upload accepted, in bytes (50 MiB).
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

#: The most pixels (rows × columns × frames) an image may declare: a guard against
#: decompression bombs, checked from the header before any pixel is decoded.
MAX_PIXELS = 60_000_000
