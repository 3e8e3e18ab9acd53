"""Time a radiograph from upload to first view: ingest + put + display.

A 3000 × 3000 16-bit MONOCHROME2 DICOM (12 bits stored; a smooth "body" with noise, so
the compressed sizes are realistic) in three transfer syntaxes: uncompressed (explicit
VR little endian), JPEG 2000 lossless (pylibjpeg-openjpeg) and JPEG-LS lossless
(pyjpegls). For each, ``--runs`` times (default 5) into a fresh store:

* ``ingest``: parse, check, decode the first frame, window to 8 bits, de-identify, write
  the de-identified file to bytes (kyphos.imaging.ingest);
* ``put``: the file and every display level written atomically (ImageStore.put);
* ``display 0`` / ``display N``: the full-size and the smallest display PNG as the page
  asks for them (from the cache that put made).

``total`` is the sum: the time from the uploaded bytes in memory to both display images
in hand. The issue's target is under 1 s on the project machine (2 cores). Medians are
printed per step.

Usage:

    .venv/bin/python benchmarks/imaging.py
    .venv/bin/python benchmarks/imaging.py --runs 9 --size 2000
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
)

from kyphos.imaging import ingest
from kyphos.imaging.store import ImageStore

SYNTAXES = (ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless)


def radiograph(size: int, seed: int = 7) -> np.ndarray:
    """A smooth 12-bit 'body' (a broad bright band with a darker background) plus noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    body = 2600 * np.exp(-(((x - 0.5) / 0.22) ** 2)) + 400 * y + 300
    noise = rng.normal(0, 25, (size, size)).astype(np.float32)
    return np.clip(body + noise, 0, 4095).astype(np.uint16)


def dicom_bytes(pixels: np.ndarray, syntax: UID) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = pydicom.uid.generate_uid()
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.PatientName = "Benchmark^Patient"
    ds.PatientID = "BENCH-1"
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.ImagerPixelSpacing = [0.148, 0.148]
    ds.WindowCenter, ds.WindowWidth = 1800, 3000
    ds.PixelData = pixels.tobytes()
    if syntax != ExplicitVRLittleEndian:
        ds.compress(syntax)
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def run(data: bytes, runs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {"ingest": [], "put": [], "display 0": [], "display N": []}
    totals: list[float] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="kyphos-imaging-bench-") as folder:
            store = ImageStore(Path(folder) / "images")
            t0 = time.perf_counter()
            image = ingest(data, uid_key=b"benchmark key")
            t1 = time.perf_counter()
            sha = store.put(image)
            t2 = time.perf_counter()
            store.display(sha, 0)
            t3 = time.perf_counter()
            store.display(sha, len(store.levels(sha)) - 1)
            t4 = time.perf_counter()
        times["ingest"].append(t1 - t0)
        times["put"].append(t2 - t1)
        times["display 0"].append(t3 - t2)
        times["display N"].append(t4 - t3)
        totals.append(t4 - t0)
    medians = {step: statistics.median(values) for step, values in times.items()}
    medians["total"] = statistics.median(totals)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=3000)
    args = parser.parse_args()
    pixels = radiograph(args.size)
    print(f"{args.size} × {args.size} 16-bit (12 stored) MONOCHROME2, median of {args.runs} runs")
    header = f"{'transfer syntax':<44} {'MB':>6} {'ingest':>8} {'put':>8} "
    header += f"{'display 0':>10} {'display N':>10} {'total':>8}"
    print(header)
    for syntax in SYNTAXES:
        data = dicom_bytes(pixels, syntax)
        medians = run(data, args.runs)
        print(
            f"{syntax.name:<44} {len(data) / 2**20:>6.1f} "
            + " ".join(
                f"{medians[step]:>{width}.3f}"
                for step, width in (
                    ("ingest", 8),
                    ("put", 8),
                    ("display 0", 10),
                    ("display N", 10),
                    ("total", 8),
                )
            )
            + " s"
        )


if __name__ == "__main__":
    main()
