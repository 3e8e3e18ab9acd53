"""An import killed half-way leaves the registry exactly as it was (one transaction)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

from kyphos.config import Settings
from kyphos.demo import DEMO_SHEETS, demo_cohort
from kyphos.exchange.schema import SHEETS_BY_NAME
from kyphos.registry.repository import Registry

PATIENTS = 6000
"""Three batches of patients and about 57,000 measurement rows: seconds of work to kill."""


def write_csv_folder(folder: Path, patients: int) -> None:
    """The demo cohort as a CSV workbook, written without any registry."""
    folder.mkdir()
    cohort = demo_cohort(patients=patients, seed=7)
    for sheet in DEMO_SHEETS:
        columns = list(SHEETS_BY_NAME[sheet].column_names)
        with (folder / f"{sheet}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(cohort.rows(sheet))


def test_an_import_killed_mid_way_writes_nothing_and_keeps_the_audit_chain(
    registry: Registry, registry_settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "large"
    write_csv_folder(folder, PATIENTS)
    before = registry.counts()
    events_before = registry.verify_audit().checked

    process = subprocess.Popen(
        [sys.executable, "-m", "kyphos", "import", str(folder), "--progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert process.stderr is not None
    seen: list[str] = []
    for line in process.stderr:
        seen.append(line)
        # A vertebrae batch is reported after it was written, so every patient batch
        # and at least one vertebrae batch are in the (uncommitted) transaction now.
        if line.startswith("progress: vertebrae"):
            break
    else:
        raise AssertionError(f"the import ended before it was killed: {''.join(seen)}")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    reopened = Registry.open(registry_settings)
    assert reopened.counts() == before
    report = reopened.verify_audit()
    assert report.ok
    assert report.checked == events_before

    # The registry is usable afterwards: the same file imports completely.
    finished = subprocess.run(
        [sys.executable, "-m", "kyphos", "import", str(folder)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    after = reopened.counts()
    assert after["patient"] == before["patient"] + PATIENTS
    assert reopened.verify_audit().ok
