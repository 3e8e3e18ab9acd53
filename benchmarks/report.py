"""Time the study report, `kyphos report --format json`, end to end and phase by phase,
beside the peer route a careful researcher would script (benchmarks/report_peer.py).

For each size N (demo patients), on an embedded SQLite registry:

1. The registry: `kyphos init` + `kyphos demo --patients N` in a scratch KYPHOS_HOME,
   cached under /tmp/kyphos-report-bench/<N>/home (a `ready` file marks a finished
   load and holds its seconds), so reruns skip the slow demo load.
2. `python -m kyphos report --format json --out FILE` as its own process: wall time
   (interpreter start and registry read included) and peak resident memory (wait4
   maxrss). Small registries run it `--repeat` times (default 3 up to 10k patients)
   and report the median.
3. The phases, in a fresh process that calls kyphos' functions directly: `start`
   (`python -m kyphos --version`: interpreter and CLI), `import` (the analysis
   modules), `read` (opening the registry and its bulk SQL queries), `derive`
   (build_dataset), `frames` (time-point slots, per-vertebra values), `tests`
   (describe, paired t, Wilcoxon, responders and the pivots around them), `mixed`
   (the REML mixed models), `reliab` (ICC, Bland–Altman), `KM` (complications and
   Kaplan–Meier), `other` (cohort, Table 1, derived endpoints) and `render`
   (report_dict + json.dumps). Each function is wrapped with an exclusive timer
   (a nested call's time counts only for the inner phase), so the phases add up.
4. The peer route (pandas + pingouin + statsmodels; no kyphos code) as its own process
   for N ≤ --peer-max (default 100 000), with its wall time and peak memory; a step that
   raises (pingouin's paired Wilcoxon builds an n × n matrix) is recorded, not hidden.
5. The numbers of both routes compared: per outcome the time points' n, mean, SD,
   median and quartiles; per comparison n, mean difference, CI, t, df, p and Wilcoxon
   p; the mixed models' fixed effects and CIs; ICC(2,1), ICC(3,1) and their CIs,
   Bland–Altman bias and limits. The largest absolute difference is printed (and the
   largest relative one for p values), with where it occurs.

Usage:

    .venv/bin/python benchmarks/report.py                 # 41, 10 000, 100 000
    .venv/bin/python benchmarks/report.py 41 10000 100000 1000000
    .venv/bin/python benchmarks/report.py --table 41 10000 100000 1000000   # cached results

Each size's results are also written to /tmp/kyphos-report-bench/<N>/results.json, and
`--table` prints the table from those files. Figures measured on the project machine
are in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_SIZES = (41, 10_000, 100_000)
CACHE = Path("/tmp/kyphos-report-bench")
PEER = Path(__file__).with_name("report_peer.py")
TOLERANCE = 1e-6
PHASES = (
    "start",
    "import",
    "read",
    "derive",
    "frames",
    "tests",
    "mixed",
    "reliab",
    "KM",
    "other",
    "render",
)


# --- processes ---------------------------------------------------------------------------


def environment(home: Path) -> dict[str, str]:
    env = {**os.environ, "KYPHOS_HOME": str(home), "PYTHONHASHSEED": "0"}
    env.pop("KYPHOS_DATABASE_URL", None)
    return env


def run(
    command: list[str],
    env: dict[str, str],
    cwd: Path | None = None,
    stdout: Any = subprocess.DEVNULL,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run a process; return its wall seconds, peak MiB (wait4 maxrss), status, stderr."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=stdout, stderr=errors)
        timer = None
        if timeout is not None:
            import threading

            timer = threading.Timer(timeout, process.kill)
            timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        if timer is not None:
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        tail = errors.read().decode(errors="replace")[-3000:]
    result = {
        "seconds": seconds,
        "mib": usage.ru_maxrss / 1024,
        "code": process.returncode,
        "stderr": tail,
    }
    if process.returncode < 0:
        result["failure"] = f"killed by {signal.Signals(-process.returncode).name}"
        if timeout is not None and seconds >= timeout:
            result["failure"] += f" (timeout {timeout:.0f} s)"
    elif process.returncode != 0:
        last = [line for line in tail.strip().splitlines() if line.strip()]
        result["failure"] = f"exit {process.returncode}: {last[-1] if last else ''}"[:200]
    return result


def kyphos(args: list[str], home: Path, **kwargs: Any) -> dict[str, Any]:
    return run([sys.executable, "-m", "kyphos", *args], environment(home), **kwargs)


def registry(size: int) -> tuple[Path, float | None]:
    """The cached demo registry of `size` patients (built when missing)."""
    folder = CACHE / str(size)
    ready = folder / "ready"
    home = folder / "home"
    if ready.exists():
        return home, float(ready.read_text().strip() or "nan")
    shutil.rmtree(folder, ignore_errors=True)
    home.mkdir(parents=True)
    print(f"building the demo registry of {size:,} patients in {home} ...", flush=True)
    for args in (["init"], ["demo", "--patients", str(size)]):
        result = kyphos(args, home)
        if result["code"] != 0:
            raise SystemExit(f"kyphos {' '.join(args)} failed:\n{result['stderr']}")
    ready.write_text(f"{result['seconds']:.1f}\n")
    return home, result["seconds"]


# --- phases (in a child process) -----------------------------------------------------------


class ExclusiveTimer:
    """Seconds per phase; a wrapped call nested in another counts only for the inner one."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.stack: list[list[float]] = []

    def wrap(self, owner: Any, attribute: str, phase: str) -> None:
        function = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            self.stack.append([time.perf_counter(), 0.0])
            try:
                return function(*args, **kwargs)
            finally:
                start, inner = self.stack.pop()
                elapsed = time.perf_counter() - start
                self.totals[phase] = self.totals.get(phase, 0.0) + elapsed - inner
                if self.stack:
                    self.stack[-1][1] += elapsed

        setattr(owner, attribute, timed)


def measure_phases() -> dict[str, float]:
    """Run the report's steps in this process (KYPHOS_HOME set) and time each phase."""
    start = time.perf_counter()
    from kyphos.analysis import dataset, results
    from kyphos.analysis.report import render_json
    from kyphos.registry import frames

    imported = time.perf_counter() - start
    timer = ExclusiveTimer()
    timer.wrap(dataset, "load_dataset", "read")
    for name in (
        "patients",
        "vertebrae",
        "procedures",
        "visits",
        "measurements",
        "adverse_events",
        "site_exists",
    ):
        timer.wrap(frames, name, "read")
    timer.wrap(dataset, "build_dataset", "derive")
    timer.wrap(dataset.StudyDataset, "patient_outcomes", "frames")
    timer.wrap(dataset.StudyDataset, "vertebra_outcomes", "frames")
    timer.wrap(results, "compute_report", "other")
    timer.wrap(results, "_outcome", "tests")
    timer.wrap(results, "fit_random_intercept", "mixed")
    timer.wrap(results, "_reliability", "reliab")
    timer.wrap(results, "_complications", "KM")
    timer.wrap(render_json, "report_dict", "render")

    data = dataset.load_dataset()
    report = results.compute_report(data)
    content = render_json.report_dict(report)
    start = time.perf_counter()
    text = json.dumps(content, ensure_ascii=False, indent=2)  # as `kyphos report` does
    timer.totals["render"] += time.perf_counter() - start
    assert text
    return {"import": imported, **timer.totals}


def phases(home: Path) -> dict[str, Any]:
    with tempfile.TemporaryFile() as out:
        result = run([sys.executable, __file__, "--phases-child"], environment(home), stdout=out)
        out.seek(0)
        text = out.read().decode()
    if result["code"] != 0:
        raise SystemExit(f"phase timing failed:\n{result['stderr']}")
    return json.loads(text)


# --- comparison --------------------------------------------------------------------------


def compare(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    """Every number both routes report: the largest differences, per kind and overall."""
    rows: list[tuple[str, str, float, float]] = []  # (kind, path, kyphos, peer)
    mismatched: list[str] = []
    loglik_gain: dict[str, float] = {}  # REML log-likelihood, kyphos − statsmodels

    def add(kind: str, path: str, a: Any, b: Any) -> None:
        if a is None and b is None:
            return
        if a is None or b is None:
            mismatched.append(f"{path}: kyphos {a}, peer {b}")
            return
        if isinstance(a, list):
            for index, (x, y) in enumerate(zip(a, b, strict=True)):
                add(kind, f"{path}[{index}]", x, y)
            return
        if kind == "count":
            if a != b:
                mismatched.append(f"{path}: kyphos {a}, peer {b}")
            return
        rows.append((kind, path, float(a), float(b)))

    for name, peer_outcome in peer.get("outcomes", {}).items():
        outcome = ours["outcomes"][name]
        base = f"{name}"
        for point, d in peer_outcome.get("timepoints", {}).items():
            for key in ("n",):
                add("count", f"{base}.{point}.{key}", outcome["timepoints"][point][key], d[key])
            for key in ("mean", "sd", "median", "q1", "q3"):
                add("describe", f"{base}.{point}.{key}", outcome["timepoints"][point][key], d[key])
        for c, pc in zip(outcome["comparisons"], peer_outcome.get("comparisons", []), strict=True):
            path = f"{base}.{c['a']}-{c['b']}"
            add("count", f"{path}.n", c["n"], pc["n"])
            add("describe", f"{path}.mean_diff", c["mean_diff"], pc["mean_diff"])
            if "t" in pc:
                add("count", f"{path}.df", c["df"], pc["df"])
                add("ttest", f"{path}.t", c["t"], pc["t"])
                add("ttest", f"{path}.ci95", c["ci95"], pc["ci95"])
                add("p", f"{path}.p", c["p"], pc["p"])
            if "wilcoxon_p" in pc:
                add("p", f"{path}.wilcoxon_p", c["wilcoxon_p"], pc["wilcoxon_p"])
                if pc.get("wilcoxon_method") != c.get("wilcoxon_method"):
                    mismatched.append(
                        f"{path}.wilcoxon_method: kyphos "
                        f"{c.get('wilcoxon_method')}, peer {pc['wilcoxon_method']}"
                    )
            if "wilcoxon_p_unrounded" in pc:
                add(
                    "p unrounded", f"{path}.wilcoxon_p", c["wilcoxon_p"], pc["wilcoxon_p_unrounded"]
                )
        model = peer_outcome.get("mixed_model")
        if model:
            fixed = outcome["mixed_model"]["fixed"]
            for level, e in model["fixed"].items():
                add(
                    "mixed",
                    f"{base}.mixed.{level}.estimate",
                    fixed[level]["estimate"],
                    e["estimate"],
                )
                add("mixed ci95", f"{base}.mixed.{level}.ci95", fixed[level]["ci95"], e["ci95"])
            add("count", f"{base}.mixed.n_obs", outcome["mixed_model"]["n_obs"], model["n_obs"])
            ours_ll, peer_ll = outcome["mixed_model"]["reml_loglik"], model.get("reml_loglik")
            if ours_ll is not None and peer_ll is not None:
                loglik_gain[name] = ours_ll - peer_ll
    for name, agreement in peer.get("reliability", {}).items():
        ours_r = ours["reliability"][name]
        path = f"reliability.{name}"
        add("count", f"{path}.pairs", ours_r["pairs"], agreement["pairs"])
        if "icc2" in agreement:
            form = {"ICC(2,1)": "icc2", "ICC(1,1)": "icc1"}[ours_r["icc_form"]]
            add("icc", f"{path}.icc", ours_r["icc"], agreement[form])
            add("icc", f"{path}.ci95", ours_r["ci95"], agreement[f"{form}_ci95"])
            add("icc", f"{path}.icc3", ours_r["icc3"], agreement["icc3"])
            add("icc", f"{path}.icc3_ci95", ours_r["icc3_ci95"], agreement["icc3_ci95"])
        add("describe", f"{path}.bias", ours_r["bias"], agreement["bias"])
        add("describe", f"{path}.loa", ours_r["loa"], agreement["loa"])

    def relative(a: float, b: float) -> float:
        scale = max(abs(a), abs(b))
        return 0.0 if scale < 1e-290 else abs(a - b) / scale  # both underflow to ~0

    kinds: dict[str, dict[str, Any]] = {}
    for kind, path, a, b in rows:
        entry = kinds.setdefault(
            kind, {"values": 0, "abs": 0.0, "abs_at": "", "rel": 0.0, "rel_at": ""}
        )
        entry["values"] += 1
        if abs(a - b) > entry["abs"] or not entry["abs_at"]:
            entry["abs"], entry["abs_at"] = abs(a - b), path
        if relative(a, b) > entry["rel"] or not entry["rel_at"]:
            entry["rel"], entry["rel_at"] = relative(a, b), path
    compared = [row for row in rows if row[0] != "p unrounded"]  # shown, not counted
    worst = max(compared, key=lambda row: abs(row[2] - row[3]), default=None)
    worst_p = max(
        (row for row in compared if row[0] == "p"),
        key=lambda row: relative(row[2], row[3]),
        default=None,
    )
    return {
        "values": len(compared),
        "max_abs": abs(worst[2] - worst[3]) if worst else None,
        "max_abs_at": worst[1] if worst else None,
        "max_rel_p": relative(worst_p[2], worst_p[3]) if worst_p else None,
        "max_rel_p_at": worst_p[1] if worst_p else None,
        "kinds": kinds,
        "mismatched": mismatched,
        "loglik_gain": loglik_gain,
    }


# --- one size ----------------------------------------------------------------------------


def bench(
    size: int, repeat: int | None, peer_max: int, peer_timeout: float | None, skip_peer: list[str]
) -> dict[str, Any]:
    home, demo_seconds = registry(size)
    scratch = Path(tempfile.mkdtemp(prefix="kyphos-report-"))
    try:
        repeat = repeat or (3 if size <= 10_000 else 1)
        runs = []
        for _ in range(repeat):
            runs.append(
                kyphos(
                    ["report", "--format", "json", "--out", str(scratch / "r.json")],
                    home,
                    cwd=scratch,
                )
            )
            if runs[-1]["code"] != 0:
                raise SystemExit(f"kyphos report failed:\n{runs[-1]['stderr']}")
        ours = json.loads((scratch / "r.json").read_text())
        start = statistics.median(
            kyphos(["--version"], home)["seconds"] for _ in range(max(repeat, 3))
        )
        timed = [phases(home) for _ in range(repeat)]
        phase_seconds = {key: statistics.median(t.get(key, 0.0) for t in timed) for key in timed[0]}
        phase_seconds["start"] = start
        result: dict[str, Any] = {
            "patients": size,
            "demo_seconds": demo_seconds,
            "vertebrae_treated": ours["cohort"]["vertebrae_treated"],
            "wall": statistics.median(r["seconds"] for r in runs),
            "walls": [r["seconds"] for r in runs],
            "mib": max(r["mib"] for r in runs),
            "phases": phase_seconds,
        }
        print(
            f"  {size:,} patients: kyphos report {result['wall']:.2f} s, {result['mib']:.0f} MiB",
            flush=True,
        )
        if size <= peer_max:
            out = scratch / "peer.json"
            command = [sys.executable, str(PEER), str(home / "kyphos.db"), str(out)]
            for step in skip_peer:
                command += ["--skip", step]
            peer_run = run(command, environment(home), cwd=scratch, timeout=peer_timeout)
            peer: dict[str, Any] = {
                "wall": peer_run["seconds"],
                "mib": peer_run["mib"],
                "failure": peer_run.get("failure"),
                "skipped": skip_peer,
            }
            if out.exists():
                numbers = json.loads(out.read_text())
                peer["phases"] = numbers["phases"]
                peer["failures"] = numbers["failures"]
                peer["comparison"] = compare(ours, numbers)
            elif peer_run["stderr"]:
                peer["stderr"] = peer_run["stderr"][-1500:]
            result["peer"] = peer
            print(
                f"  {size:,} patients: peer route {peer['wall']:.1f} s, {peer['mib']:.0f} MiB"
                f"{'; ' + peer['failure'] if peer['failure'] else ''}"
                f"{'; ' + str(peer.get('failures')) if peer.get('failures') else ''}",
                flush=True,
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    (CACHE / str(size) / "results.json").write_text(json.dumps(result, indent=1))
    return result


# --- output ------------------------------------------------------------------------------


def cell(value: float | None, width: int, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{'—':>{width}}"
    return f"{value:>{width}.{digits}f}"


def print_table(results: list[dict[str, Any]]) -> None:
    header = (
        f"{'patients':>9} | {'wall s':>7} {'MiB':>5} | "
        + " ".join(f"{p:>6}" for p in PHASES)
        + f" | {'peer s':>7} {'MiB':>6} | {'ratio':>6} | {'max diff':>8}"
    )
    print(header)
    print("-" * len(header))
    notes = []
    for r in results:
        ph = r["phases"]
        peer = r.get("peer")
        if peer:
            failed = peer.get("failure") or peer.get("failures")
            ratio = f"{peer['wall'] / r['wall']:>5.1f}{'*' if failed else ' '}"
            comparison = peer.get("comparison") or {}
            diff = comparison.get("max_abs")
            diff_text = f"{diff:>8.1e}" if diff is not None else f"{'—':>8}"
            peer_text = f"{peer['wall']:>7.1f} {peer['mib']:>6.0f}"
        else:
            ratio, diff_text, peer_text = f"{'—':>6}", f"{'—':>8}", f"{'not run':>14}"
        print(
            f"{r['patients']:>9,} | {r['wall']:>7.2f} {r['mib']:>5.0f} | "
            + " ".join(cell(ph.get(p), 6) for p in PHASES)
            + f" | {peer_text} | {ratio} | {diff_text}"
        )
        if peer:
            notes.append(describe_peer(r["patients"], peer))
    print()
    for note in notes:
        print(note)
    print(flush=True)


def describe_peer(size: int, peer: dict[str, Any]) -> str:
    lines = [f"{size:,} patients, peer route:"]
    if peer.get("failure"):
        lines.append(f"  process failed: {peer['failure']}")
    for step, error in (peer.get("failures") or {}).items():
        lines.append(f"  {step} failed: {error}")
    if peer.get("skipped"):
        lines.append(f"  skipped: {', '.join(peer['skipped'])}")
    if peer.get("phases"):
        lines.append("  phases s: " + ", ".join(f"{k} {v:.2f}" for k, v in peer["phases"].items()))
    comparison = peer.get("comparison")
    if comparison:
        lines.append(
            f"  {comparison['values']} numbers compared; max |diff| "
            f"{comparison['max_abs']:.1e} at {comparison['max_abs_at']}; "
            f"max relative diff of a p value {comparison['max_rel_p']:.1e} "
            f"at {comparison['max_rel_p_at']}"
        )
        for kind, entry in comparison["kinds"].items():
            lines.append(
                f"    {kind:<12} {entry['values']:>4} values: max |diff| "
                f"{entry['abs']:.1e} ({entry['abs_at']}), max rel {entry['rel']:.1e}"
            )
        if comparison.get("loglik_gain"):
            lines.append(
                "    REML log-likelihood at the optimum, kyphos − statsmodels: "
                + ", ".join(f"{k} {v:+.1e}" for k, v in comparison["loglik_gain"].items())
            )
        for item in comparison["mismatched"]:
            lines.append(f"    MISMATCH {item}")
        if comparison["max_abs"] is not None and comparison["max_abs"] >= TOLERANCE:
            lines.append(f"    !! largest difference is not below {TOLERANCE:g}")
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:] == ["--phases-child"]:
        print(json.dumps(measure_phases()))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=list(DEFAULT_SIZES))
    parser.add_argument("--repeat", type=int, help="runs per size (default 3 up to 10k, else 1)")
    parser.add_argument(
        "--peer-max",
        type=int,
        default=100_000,
        help="largest N for the peer route (default 100 000)",
    )
    parser.add_argument("--peer-timeout", type=float, help="seconds before the peer is killed")
    parser.add_argument(
        "--peer-skip",
        action="append",
        default=[],
        help="a step the peer route leaves out (see report_peer.py)",
    )
    parser.add_argument(
        "--table",
        action="store_true",
        help="print the table from the cached results of earlier runs",
    )
    args = parser.parse_args()
    results = []
    for size in args.sizes:
        if args.table:
            path = CACHE / str(size) / "results.json"
            if path.exists():
                results.append(json.loads(path.read_text()))
            continue
        results.append(bench(size, args.repeat, args.peer_max, args.peer_timeout, args.peer_skip))
        print_table(results)
    if args.table:
        print_table(results)


if __name__ == "__main__":
    main()
