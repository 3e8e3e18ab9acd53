"""Time the registry's bulk jobs: demo generation, CSV export, CSV import.

For each size N (demo patients) it runs, each as its own `kyphos` process on an
embedded SQLite registry in a scratch folder:

1. `kyphos demo --patients N`   (generate, validate and write the cohort, audited)
2. `kyphos export DIR`           (the canonical workbook as CSV files)
3. `kyphos import DIR`           into a new, empty registry

and prints seconds and peak resident memory (the process's own maxrss, from wait4)
per phase. Usage:

    .venv/bin/python benchmarks/import_export.py            # 1k and 100k
    .venv/bin/python benchmarks/import_export.py 1000 100000 1000000

Figures measured on the project machines are in docs/performance.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_SIZES = (1_000, 100_000)


def run_phase(args: list[str], home: Path) -> tuple[float, float]:
    """Run `kyphos ARGS` with KYPHOS_HOME=home; return (seconds, peak MiB)."""
    env = {**os.environ, "KYPHOS_HOME": str(home)}
    env.pop("KYPHOS_DATABASE_URL", None)
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "kyphos", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        error = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"kyphos {' '.join(args)} failed:\n{error[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def folder_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / (1 << 20)


def main(sizes: list[int]) -> None:
    rows = []
    for size in sizes:
        scratch = Path(tempfile.mkdtemp(prefix=f"kyphos-bench-{size}-"))
        try:
            source, target, export = scratch / "source", scratch / "target", scratch / "csv"
            run_phase(["init"], source)
            demo = run_phase(["demo", "--patients", str(size)], source)
            exported = run_phase(["export", str(export)], source)
            run_phase(["init"], target)
            imported = run_phase(["import", str(export)], target)
            measurement_rows = sum(1 for _ in (export / "measurements.csv").open()) - 1
            rows.append((size, measurement_rows, folder_mib(export), demo, exported, imported))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        print_table(rows)


def print_table(rows: list[tuple[Any, ...]]) -> None:
    header = (
        f"{'patients':>9} {'meas. rows':>11} {'CSV MiB':>8} | "
        f"{'demo s':>8} {'MiB':>6} | {'export s':>8} {'MiB':>6} | {'import s':>8} {'MiB':>6}"
    )
    print(header)
    print("-" * len(header))
    for size, measurement_rows, csv_mib, demo, exported, imported in rows:
        print(
            f"{size:>9} {measurement_rows:>11} {csv_mib:>8.1f} | "
            f"{demo[0]:>8.1f} {demo[1]:>6.0f} | {exported[0]:>8.1f} {exported[1]:>6.0f} | "
            f"{imported[0]:>8.1f} {imported[1]:>6.0f}",
            flush=True,
        )
    print(flush=True)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or list(DEFAULT_SIZES))
