"""Registry commands of the ``kyphos`` CLI: init, demo, import, export, users, protocol,
patients, sites, audit, backup and restore.

Each command parses its input, calls one use case and prints the result. The CLI acts as
the local administrator (DATA.md: identity is imported and exported by an admin).
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from kyphos.errors import KyphosError

user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
protocol_app = typer.Typer(help="The study's visit protocol.", no_args_is_help=True)
patient_app = typer.Typer(help="Patient records.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
site_app = typer.Typer(help="Sites (centres) of a multi-centre registry.", no_args_is_help=True)


def _password(from_stdin: bool, purpose: str) -> str:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise KyphosError("--password-stdin: no password on standard input")
        return line
    if not sys.stdin.isatty():
        raise KyphosError(f"{purpose}: no terminal to ask for a password; use --password-stdin")
    first = getpass.getpass(f"Password for {purpose}: ")
    second = getpass.getpass("Repeat it: ")
    if first != second:
        raise KyphosError("the two passwords differ")
    return first


def _progress(sheet: str, rows: int) -> None:
    print(f"progress: {sheet} {rows} rows", file=sys.stderr, flush=True)


def init(
    admin: Annotated[str | None, typer.Option(help="Create this first admin user.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the admin's password from stdin.")
    ] = False,
) -> None:
    """Create or upgrade the registry in KYPHOS_HOME (idempotent)."""
    from kyphos.config import get_settings
    from kyphos.registry.repository import init_registry

    settings = get_settings()
    password = _password(password_stdin, admin) if admin else None
    result = init_registry(settings, admin=admin, password=password)
    where = settings.home if settings.is_sqlite else settings.url.split("@")[-1]
    typer.echo(("created" if result.created_registry else "up to date") + f": registry at {where}")
    if result.created_secret:
        typer.echo(f"wrote a new secret key to {settings.secret_path} (keep it with your backups)")
    if result.admin:
        typer.echo(f"admin user {result.admin!r} created")


def demo(
    patients: Annotated[int, typer.Option(min=1, max=1_000_000, help="How many patients.")] = 41,
    seed: Annotated[int, typer.Option(help="Random seed (the same seed, the same cohort).")] = 2011,
    progress: Annotated[
        bool, typer.Option("--progress", help="Report each written batch on stderr.")
    ] = False,
) -> None:
    """Load the synthetic demo cohort (calibrated to the reference study)."""
    from kyphos.demo import DEMO_PASSWORD, ensure_demo_accounts, load_demo
    from kyphos.registry.repository import Registry

    registry = Registry.open()
    report = load_demo(
        registry, patients=patients, seed=seed, progress=_progress if progress else None
    )
    for line in report.lines():
        typer.echo(line)
    created = ensure_demo_accounts(registry)
    if created:
        typer.echo(f"demo accounts created: {', '.join(created)} (password {DEMO_PASSWORD!r})")


def import_(
    path: Annotated[Path, typer.Argument(help="An .xlsx workbook or a folder of CSV files.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only.")] = False,
    progress: Annotated[
        bool, typer.Option("--progress", help="Report each written batch on stderr.")
    ] = False,
) -> None:
    """Import the canonical workbook: all or nothing."""
    from kyphos.exchange.importer import import_workbook
    from kyphos.registry.repository import Registry

    registry = Registry.open()
    report = import_workbook(
        registry, path, dry_run=dry_run, progress=_progress if progress else None
    )
    for line in report.lines():
        typer.echo(line)
    typer.echo("dry run: nothing was written" if dry_run else "imported")


def export(
    path: Annotated[Path, typer.Argument(help="An .xlsx file or a folder for CSV files.")],
    format: Annotated[
        str | None, typer.Option("--format", help="csv or xlsx (default: from the suffix).")
    ] = None,
    deidentify: Annotated[
        bool, typer.Option("--deidentify", help="De-identified variant for analysts.")
    ] = False,
    with_identity: Annotated[
        bool, typer.Option("--with-identity", help="Include the identity sheet (admins only).")
    ] = False,
) -> None:
    """Export the registry as the canonical workbook."""
    from kyphos.exchange.exporter import export_workbook
    from kyphos.registry.repository import Registry

    chosen = (format or ("xlsx" if path.suffix.lower() == ".xlsx" else "csv")).lower()
    if chosen not in ("csv", "xlsx"):
        raise KyphosError(f"--format: {chosen!r} is not csv or xlsx")
    if deidentify and with_identity:
        raise KyphosError("--deidentify and --with-identity exclude each other")
    registry = Registry.open()
    report = export_workbook(
        registry, path, format=chosen, deidentify=deidentify, with_identity=with_identity
    )
    for line in report.lines():
        typer.echo(line)


def backup(path: Annotated[Path, typer.Argument(help="The backup file to write.")]) -> None:
    """Back up everything kyphos owns: the database and the files in KYPHOS_HOME."""
    from kyphos.config import get_settings
    from kyphos.registry.backup import backup as run_backup

    report = run_backup(get_settings(), path)
    rows = sum(report.tables.values())
    typer.echo(
        f"backup written to {report.path}: {report.database} database at schema "
        f"{report.schema_revision}, {rows} rows in {len(report.tables)} tables, "
        f"{report.files} files, {report.size_bytes} bytes (keep it safe: it holds identity "
        "data and the registry's secret)"
    )


def restore(
    path: Annotated[Path, typer.Argument(help="A backup file written by `kyphos backup`.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a registry that already holds patients.")
    ] = False,
) -> None:
    """Restore a backup into KYPHOS_HOME / KYPHOS_DATABASE_URL."""
    from kyphos.config import get_settings
    from kyphos.registry.backup import restore as run_restore

    report = run_restore(get_settings(), path, force=force)
    rows = sum(report.tables.values())
    typer.echo(
        f"restored {rows} rows in {len(report.tables)} tables and {report.files} files from "
        f"{report.path} ({report.backup_database} backup at schema {report.schema_revision}, "
        f"now at {report.upgraded_to})"
    )
    if report.audit.ok:
        typer.echo(f"audit trail intact: {report.audit.checked} events")
    else:
        typer.echo(
            f"warning: the restored audit trail is broken at event {report.audit.broken_at}: "
            f"{report.audit.problem}",
            err=True,
        )


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name (no spaces).")],
    role: Annotated[str, typer.Option(help="admin, investigator, observer or analyst.")],
    site: Annotated[list[str] | None, typer.Option(help="Site code (repeatable).")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the app.")] = None,
) -> None:
    """Add a user."""
    from kyphos.registry.repository import Registry

    registry = Registry.open()
    password = _password(password_stdin, name)
    registry.add_user(
        name, role=role, password=password, sites=site or [], display_name=display_name
    )
    typer.echo(f"user {name!r} added ({role})")


@user_app.command("list")
def user_list() -> None:
    """List users."""
    from kyphos.registry.repository import Registry

    for user in Registry.open().list_users():
        sites = ",".join(sorted(site.code for site in user.sites)) or "-"
        state = "active" if user.active else "disabled"
        typer.echo(f"{user.username}\t{user.role}\t{sites}\t{state}")


@user_app.command("disable")
def user_disable(name: Annotated[str, typer.Argument()]) -> None:
    """Disable a user (the account stays for the audit trail)."""
    from kyphos.registry.repository import Registry

    Registry.open().disable_user(name)
    typer.echo(f"user {name!r} disabled")


@site_app.command("add")
def site_add(
    code: Annotated[str, typer.Argument(help="Short code, e.g. BJ01.")],
    name: Annotated[str, typer.Option(help="The site's name.")],
) -> None:
    """Add a site."""
    from kyphos.registry.repository import Registry

    Registry.open().add_site(code, name)
    typer.echo(f"site {code!r} added")


@site_app.command("list")
def site_list() -> None:
    """List sites."""
    from kyphos.registry.repository import Registry

    for site in Registry.open().list_sites():
        typer.echo(f"{site.code}\t{site.name}")


@protocol_app.command("show")
def protocol_show(
    lang: Annotated[str, typer.Option("--lang", help="en or zh.")] = "",
) -> None:
    """Show the study's time points and windows."""
    from kyphos.cli import output_language
    from kyphos.registry.repository import Registry

    chosen = output_language(lang)
    protocol = Registry.open().protocol()
    for point in protocol.timepoints:
        if point.window_end is None:
            window = f"day {point.window_start}+ (overdue from day {protocol.final_overdue_day})"
        else:
            window = f"day {point.window_start} to {point.window_end}"
        target = "-" if point.target_day is None else str(point.target_day)
        typer.echo(f"{point.key}\t{point.label(chosen)}\ttarget {target}\t{window}")


@protocol_app.command("set")
def protocol_set(
    file: Annotated[Path, typer.Argument(help="YAML or JSON protocol file.")],
) -> None:
    """Replace the study's protocol (refused if dated visits would lose their time point)."""
    from kyphos.clinical.protocol import load_protocol
    from kyphos.registry.repository import Registry

    protocol = load_protocol(file)
    Registry.open().set_protocol(protocol)
    typer.echo(f"protocol set: {', '.join(protocol.keys)}")


@patient_app.command("erase-identity")
def patient_erase_identity(
    code: Annotated[str, typer.Argument(help="The patient's study code.")],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit trail).")] = None,
) -> None:
    """Erase a patient's identifying data; the audit chain stays verifiable."""
    from kyphos.registry.repository import Registry

    erased = Registry.open().erase_identity(code, reason)
    typer.echo(f"identity of {code!r} " + ("erased" if erased else "was not recorded"))


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit chain; exit 1 at the first broken link."""
    from kyphos.registry.repository import Registry

    report = Registry.open().verify_audit()
    if report.ok:
        typer.echo(f"audit trail intact: {report.checked} events, head {report.head}")
        return
    typer.echo(
        f"audit trail BROKEN at event {report.broken_at}: {report.problem} "
        f"({report.checked} events before it are intact)",
        err=True,
    )
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach the registry commands to the root app."""
    app.command("init")(init)
    app.command("demo")(demo)
    app.command("import")(import_)
    app.command("export")(export)
    app.command("backup")(backup)
    app.command("restore")(restore)
    app.add_typer(user_app, name="user")
    app.add_typer(site_app, name="site")
    app.add_typer(protocol_app, name="protocol")
    app.add_typer(patient_app, name="patient")
    app.add_typer(audit_app, name="audit")
