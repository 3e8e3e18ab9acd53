"""The names the registry and web layers code against, pinned."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import kyphos.imaging as imaging
from kyphos.errors import KyphosError


def test_package_exports_exactly_the_agreed_names() -> None:
    assert sorted(imaging.__all__) == sorted(
        ["MAX_PIXELS", "MAX_UPLOAD_BYTES", "ImageRefused", "Ingested", "ingest"]
    )
    assert imaging.MAX_UPLOAD_BYTES == 50 * 1024 * 1024
    assert imaging.MAX_PIXELS == 60_000_000
    assert issubclass(imaging.ImageRefused, KyphosError)


def test_ingested_has_the_agreed_fields_and_is_frozen() -> None:
    names = [f.name for f in dataclasses.fields(imaging.Ingested)]
    assert names[:10] == [
        "sha256",
        "kind",
        "data",
        "width",
        "height",
        "spacing_mm",
        "spacing_source",
        "burned_in_annotation",
        "photometric",
        "transfer_syntax",
    ]
    assert imaging.Ingested.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_imaging_does_not_import_the_registry_web_or_analysis_layers() -> None:
    code = (
        "import sys, kyphos.imaging, kyphos.imaging.store, kyphos.imaging.calibration; "
        "print(','.join(m for m in sys.modules if m.split('.')[:2] in "
        "(['kyphos','registry'], ['kyphos','web'], ['kyphos','analysis'])))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
