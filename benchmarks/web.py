"""Load the web app, `kyphos serve`, on the 10k-patient demo: requests/s and latency.

For each backend (SQLite always; PostgreSQL when `--postgres URL` or
KYPHOS_TEST_POSTGRES_URL names a server, in a fresh schema dropped afterwards):

1. The registry: `kyphos init` + `kyphos demo --patients N`. The SQLite one is cached
   under /tmp/kyphos-web-bench/sqlite-<N>/home (a `ready` file marks a finished load;
   `kyphos init` runs again each time to bring its schema up to date).
2. `kyphos serve --workers W` (uvicorn) as a subprocess on a free loopback port, once per
   `--workers` value; the load generator signs in once as the demo investigator for a
   session cookie and asks for a bearer token.
3. The load generator (this process; httpx, one thread and one keep-alive connection per
   client) runs each cell for `--seconds` after a one-second warm-up that is not counted,
   every client sending its next request as soon as the last one answered:
   * `patients list`: GET /patients (the first page of N patients), signed in;
   * `patient page`: GET /patients/DEMO-…, a random patient each time, signed in;
   * `api patient`: GET /api/v1/patients/DEMO-…, a random patient, bearer token;
   * `visit save`: PATCH /api/v1/patients/DEMO-…/visits/{id} with a new VAS and the
     visit's `version`, read (untimed) just before from the patient's visit list; each
     client keeps to its own patients, so no save is stale (a 409 would count as an error);
   * `api report`: GET /api/v1/report (the JSON study report of all 10k patients, a few
     seconds of work each), under at most REPORT_MAX_CLIENTS clients, with a longer
     time-out and, instead of the warm-up, one report asked for before: more clients
     would only queue for minutes;
   * `bare FastAPI`: GET / of a one-route FastAPI app served by uvicorn the same way, the
     ceiling of this machine and this load generator.
   under 1, 10 and 50 concurrent clients. An error is any answer but 200, or no answer.
   Only the request itself is timed (not the read of a visit's version before a save).

The load generator shares the machine's cores with the server (2 on the project machine),
so the figures are lower bounds for a server with the machine to itself.

Usage:

    .venv/bin/python benchmarks/web.py                          # SQLite (+ PostgreSQL if set)
    .venv/bin/python benchmarks/web.py --postgres postgresql+psycopg://postgres@127.0.0.1/test
    .venv/bin/python benchmarks/web.py --seconds 5 --clients 1 10 --patients 1000
    .venv/bin/python benchmarks/web.py --workers 1 2                # one and two processes

The results are also written to /tmp/kyphos-web-bench/results-<backend>.json. Figures
measured on the project machine are in docs/performance.md ("Web app").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

CACHE = Path("/tmp/kyphos-web-bench")
USERNAME = "investigator"
PASSWORD = "kyphos-demo-password"
CODE_PREFIX = "DEMO-"
CODE_DIGITS = 6
WARM_UP_SECONDS = 1.0
START_TIMEOUT_SECONDS = 60.0
REQUEST_TIMEOUT_SECONDS = 10.0
REPORT_TIMEOUT_SECONDS = 120.0
REPORT_MAX_CLIENTS = 10
VAS_VALUES = (1.0, 2.5, 3.0, 4.5, 6.0)
SEED = 2011
BARE_APP = """
import sys
import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def root() -> dict[str, str]:
    return {"status": "ok"}


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


# --- the servers -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def kyphos(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kyphos", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"`kyphos {' '.join(args)}` failed:\n{done.stdout}{done.stderr}")


def environment(home: Path, database_url: str | None) -> dict[str, str]:
    env = {**os.environ, "KYPHOS_HOME": str(home)}
    for variable in ("KYPHOS_DATABASE_URL", "KYPHOS_SECRET_KEY", "KYPHOS_LANG"):
        env.pop(variable, None)
    if database_url is not None:
        env["KYPHOS_DATABASE_URL"] = database_url
    return env


def load_demo(env: dict[str, str], patients: int) -> float:
    start = time.perf_counter()
    kyphos(env, "init")
    kyphos(env, "demo", "--patients", str(patients))
    return time.perf_counter() - start


def sqlite_registry(patients: int) -> dict[str, str]:
    folder = CACHE / f"sqlite-{patients}"
    home, ready = folder / "home", folder / "ready"
    env = environment(home, None)
    if not ready.exists():
        if home.exists():
            subprocess.run(["rm", "-rf", str(home)], check=True)
        seconds = load_demo(env, patients)
        ready.write_text(f"{seconds:.1f}\n")
        print(f"sqlite: loaded {patients} demo patients in {seconds:.1f} s", file=sys.stderr)
    else:
        kyphos(env, "init")  # a cached registry from an older kyphos: bring its schema up
    return env


@contextmanager
def postgres_registry(url: str, patients: int) -> Iterator[dict[str, str]]:
    """A fresh schema on the server at `url`, loaded with the demo, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    admin = create_engine(url, poolclass=NullPool)
    schema = f"kb_{uuid.uuid4().hex}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    home = CACHE / f"postgresql-{schema}"
    home.mkdir(parents=True)
    env = environment(home, scoped.render_as_string(hide_password=False))
    try:
        seconds = load_demo(env, patients)
        print(f"postgresql: loaded {patients} demo patients in {seconds:.1f} s", file=sys.stderr)
        yield env
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        subprocess.run(["rm", "-rf", str(home)], check=False)


@contextmanager
def served(command: list[str], env: dict[str, str], probe: str) -> Iterator[str]:
    """Run a server subprocess until the block ends; yield its base URL once it answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [*command, str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                assert process.stderr is not None
                raise SystemExit(f"{command[:4]} exited: {process.stderr.read().decode()}")
            try:
                if httpx.get(url + probe, timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{command[:4]} did not answer in {START_TIMEOUT_SECONDS} s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def kyphos_serve(env: dict[str, str], workers: int) -> AbstractContextManager[str]:
    command = [sys.executable, "-m", "kyphos", "serve", "--workers", str(workers)]
    return served([*command, "--host", "127.0.0.1", "--port"], env, "/signin")


def bare_fastapi() -> AbstractContextManager[str]:
    return served([sys.executable, "-c", BARE_APP], dict(os.environ), "/")


# --- the load generator ------------------------------------------------------------------


@dataclass
class Cell:
    backend: str
    target: str
    clients: int
    seconds: float = 0.0
    requests: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    first_error: str = ""

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[
            round(share * 100) - 1
        ]

    def summary(self) -> dict[str, object]:
        values = asdict(self)
        del values["latencies_ms"]
        values.update(
            per_second=self.per_second,
            p50_ms=self.percentile(0.50),
            p95_ms=self.percentile(0.95),
            p99_ms=self.percentile(0.99),
        )
        return values


Prepare = Callable[[httpx.Client, random.Random, int], httpx.Request]
"""The next request of client number `index` (anything it must read first is untimed)."""


def get(path: Callable[[random.Random], str]) -> Prepare:
    return lambda http, rng, index: http.build_request("GET", path(rng))


def load(
    cell: Cell,
    base_url: str,
    prepare: Prepare,
    seconds: float,
    cookies: httpx.Cookies | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
    warm_up: float = WARM_UP_SECONDS,
) -> Cell:
    """`cell.clients` threads, each a keep-alive client sending requests back to back."""
    lock = threading.Lock()
    start_barrier = threading.Barrier(cell.clients + 1)
    times: dict[str, float] = {}

    def client(index: int) -> None:
        rng = random.Random(SEED + index)
        latencies: list[float] = []
        errors, first_error = 0, ""
        with httpx.Client(
            base_url=base_url,
            cookies=httpx.Cookies(cookies) if cookies is not None else None,
            headers=headers,
            timeout=timeout,
        ) as http:
            start_barrier.wait()
            while time.perf_counter() < times["end"]:
                target, began = "?", time.perf_counter()
                try:
                    request = prepare(http, rng, index)
                    target = f"{request.method} {request.url.path}"
                    began = time.perf_counter()
                    answer = http.send(request)
                    ok = answer.status_code == 200
                    problem = "" if ok else f"{target}: {answer.status_code} {answer.text[:200]}"
                except httpx.HTTPError as error:
                    ok, problem = False, f"{target}: {type(error).__name__}: {error}"
                ended = time.perf_counter()
                if began < times["counted"]:
                    continue  # warm-up
                latencies.append((ended - began) * 1000)
                if not ok:
                    errors += 1
                    first_error = first_error or problem
        with lock:
            cell.latencies_ms.extend(latencies)
            cell.errors += errors
            cell.first_error = cell.first_error or first_error

    threads = [threading.Thread(target=client, args=(i,)) for i in range(cell.clients)]
    for thread in threads:
        thread.start()
    now = time.perf_counter()
    times["counted"] = now + warm_up
    times["end"] = times["counted"] + seconds
    start_barrier.wait()
    for thread in threads:
        thread.join()
    # Answers still in flight when the time was up are counted: so is the time they took.
    cell.seconds = max(seconds, time.perf_counter() - times["counted"])
    cell.requests = len(cell.latencies_ms)
    return cell


def sign_in(base_url: str) -> tuple[httpx.Cookies, dict[str, str]]:
    """A signed-in session cookie (through the sign-in form) and a bearer header."""
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
        page = http.get("/signin")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if found is None:
            raise SystemExit("no CSRF token on the sign-in page")
        answer = http.post(
            "/signin",
            data={"username": USERNAME, "password": PASSWORD, "csrf_token": found.group(1)},
        )
        if answer.status_code != 303:
            raise SystemExit(f"sign-in as {USERNAME} failed: {answer.status_code}")
        token = http.post("/api/v1/auth/token", json={"username": USERNAME, "password": PASSWORD})
        if token.status_code != 200:
            raise SystemExit(f"token for {USERNAME} failed: {token.status_code} {token.text}")
        cookies = httpx.Cookies(http.cookies)
    return cookies, {"Authorization": f"Bearer {token.json()['access_token']}"}


def patient_code(rng: random.Random, patients: int) -> str:
    return f"{CODE_PREFIX}{rng.randint(1, patients):0{CODE_DIGITS}d}"


def visit_save(patients: int, clients: int) -> Prepare:
    """A PATCH of one visit's VAS with the version just read; client `index` keeps to the
    patients numbered `index + 1`, `index + 1 + clients`, … (no two clients save one visit)."""

    def prepare(http: httpx.Client, rng: random.Random, index: int) -> httpx.Request:
        number = rng.randrange(index, patients, clients) + 1
        base = f"/api/v1/patients/{CODE_PREFIX}{number:0{CODE_DIGITS}d}/visits"
        visits = http.get(base)
        visits.raise_for_status()
        if not visits.json():
            return http.build_request("GET", base)  # no visit to save: a plain read instead
        visit = rng.choice(visits.json())
        body = {"vas": rng.choice(VAS_VALUES), "version": visit["version"]}
        return http.build_request("PATCH", f"{base}/{visit['id']}", json=body)

    return prepare


def bench_kyphos(
    backend: str, env: dict[str, str], patients: int, clients: list[int], seconds: float
) -> list[Cell]:
    cells: list[Cell] = []
    workers = int(backend.rpartition("×")[2]) if "×" in backend else 1
    with kyphos_serve(env, workers) as url:
        cookies, bearer = sign_in(url)

        def code(rng: random.Random) -> str:
            return patient_code(rng, patients)

        targets: list[
            tuple[str, Callable[[int], Prepare], httpx.Cookies | None, dict[str, str] | None]
        ] = [
            ("patients list", lambda count: get(lambda rng: "/patients"), cookies, None),
            (
                "patient page",
                lambda count: get(lambda rng: f"/patients/{code(rng)}"),
                cookies,
                None,
            ),
            (
                "api patient",
                lambda count: get(lambda rng: f"/api/v1/patients/{code(rng)}"),
                None,
                bearer,
            ),
            ("visit save", lambda count: visit_save(patients, count), None, bearer),
        ]
        for target, prepare, jar, headers in targets:
            for count in clients:
                cell = load(
                    Cell(backend, target, count), url, prepare(count), seconds, jar, headers
                )
                print(row(cell), file=sys.stderr)
                cells.append(cell)
        report = get(lambda rng: "/api/v1/report")
        httpx.get(url + "/api/v1/report", headers=bearer, timeout=REPORT_TIMEOUT_SECONDS)
        for count in sorted({min(count, REPORT_MAX_CLIENTS) for count in clients}):
            # Warmed up by the report above: a report takes longer than the usual warm-up.
            cell = Cell(backend, "api report", count)
            load(cell, url, report, seconds, None, bearer, REPORT_TIMEOUT_SECONDS, warm_up=0)
            print(row(cell), file=sys.stderr)
            cells.append(cell)
    return cells


def bench_bare(clients: list[int], seconds: float) -> list[Cell]:
    cells: list[Cell] = []
    with bare_fastapi() as url:
        for count in clients:
            cell = load(Cell("—", "bare FastAPI", count), url, get(lambda rng: "/"), seconds)
            print(row(cell), file=sys.stderr)
            cells.append(cell)
    return cells


def backend_name(database: str, workers: int) -> str:
    return database if workers == 1 else f"{database} ×{workers}"


# --- the table ---------------------------------------------------------------------------

HEADER = "| backend | target | clients | req/s | p50 ms | p95 ms | p99 ms | errors |"
RULE = "|---|---|---:|---:|---:|---:|---:|---:|"


def rate(per_second: float) -> str:
    """Requests a second: whole numbers, but 0.2 for a report every five seconds."""
    return f"{per_second:,.0f}" if per_second >= 10 else f"{per_second:.1f}"


def row(cell: Cell) -> str:
    return (
        f"| {cell.backend} | {cell.target} | {cell.clients} | {rate(cell.per_second)} | "
        f"{cell.percentile(0.50):.1f} | {cell.percentile(0.95):.1f} | "
        f"{cell.percentile(0.99):.1f} | {cell.errors} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per cell, after warm-up")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument(
        "--postgres",
        default=os.environ.get("KYPHOS_TEST_POSTGRES_URL", ""),
        help="PostgreSQL URL (default: KYPHOS_TEST_POSTGRES_URL); empty: SQLite only",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1], help="`kyphos serve --workers` values"
    )
    options = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)

    cells: list[Cell] = []
    run = (options.patients, options.clients, options.seconds)
    if not options.no_sqlite:
        env = sqlite_registry(options.patients)
        for workers in options.workers:
            cells += bench_kyphos(backend_name("SQLite", workers), env, *run)
    if options.postgres:
        with postgres_registry(options.postgres, options.patients) as env:
            for workers in options.workers:
                cells += bench_kyphos(backend_name("PostgreSQL", workers), env, *run)
    cells += bench_bare(options.clients, options.seconds)

    for backend in sorted({cell.backend for cell in cells}):
        results = [cell.summary() for cell in cells if cell.backend == backend]
        name = {"—": "bare"}.get(backend, backend.lower().replace(" ×", "-"))
        (CACHE / f"results-{name}.json").write_text(json.dumps(results, indent=2))
    print(
        f"\n{options.patients:,} demo patients, {options.seconds:g} s per cell after a "
        f"{WARM_UP_SECONDS:g} s warm-up; load generator on the same {os.cpu_count()} cores\n"
    )
    print(HEADER)
    print(RULE)
    for cell in cells:
        print(row(cell))
    failures = [cell for cell in cells if cell.errors]
    for cell in failures:
        print(f"\n{cell.target} × {cell.clients}: first error {cell.first_error}")


if __name__ == "__main__":
    main()
