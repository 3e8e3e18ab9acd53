"""Backup and restore: one archive file with everything kyphos owns.

The archive is a ZIP file (format version 1) holding

* ``manifest.json`` — format and version, the kyphos version, the schema revision
  (the database's ``alembic_version``), the database kind (``sqlite`` or
  ``postgresql``), when it was made, every table with its row count in dependency
  order, and the SHA-256, size (and for files, mode) of every other member;
* ``database/kyphos.db`` — SQLite only: a consistent copy made with SQLite's online
  backup API (:meth:`sqlite3.Connection.backup`), safe while others write;
* ``database/tables/<table>.jsonl`` — every kyphos table (the tables of
  :data:`kyphos.registry.models.Base.metadata`) as JSON lines, one object per row,
  dates and times as ISO 8601 text (aware times in UTC), booleans as JSON booleans.
  kyphos writes this dump itself — ``pg_dump`` on the machine may not match the
  server's version. PostgreSQL reads it in one read-only REPEATABLE READ transaction;
  SQLite writes it from the consistent copy, so every backup carries it and restores
  onto either database (SQLite → PostgreSQL and back);
* ``home/<path>`` — every file under ``KYPHOS_HOME`` (``secret.key``, ``images/`` …)
  except the live database files (``kyphos.db`` and its ``-wal``/``-shm``/``-journal``).

**The archive is sensitive**: it holds identifying patient data, the password hashes and
the registry's secret key, unencrypted. It is created with mode 0600; keep it as you
keep the database itself.

Restore checks the archive before it touches anything (readable, manifest present,
every member's SHA-256, no member outside its folder, a schema revision this kyphos
knows), refuses to replace a registry that holds patients unless forced, and then
replaces the database — SQLite: a new file written next to the old one and moved over
it with :func:`os.replace`; PostgreSQL: one transaction that empties kyphos's tables,
inserts the dumped rows and resets the id sequences — and upgrades it to this kyphos's
schema. Files under ``KYPHOS_HOME`` are replaced one by one; files the backup does not
hold are left in place. Stop ``kyphos serve`` before restoring.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import sqlite3
import stat
import tempfile
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal

from alembic import command
from alembic.runtime.migration import MigrationContext
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Boolean, Connection, Date, DateTime, Integer, MetaData, Table, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from kyphos import __version__
from kyphos.config import DATABASE_FILE, SECRET_FILE, Settings
from kyphos.errors import KyphosError
from kyphos.registry import audit, migrate
from kyphos.registry.db import dispose_engines, engine_for, make_engine, session_scope
from kyphos.registry.models import Base

FORMAT = "kyphos-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE_MEMBER = "database/kyphos.db"
TABLES_FOLDER = "database/tables/"
HOME_FOLDER = "home/"
KYPHOS_TABLES = frozenset(Base.metadata.tables)
"""The tables a backup carries: kyphos's own, whatever else shares the database."""
LIVE_DATABASE_SUFFIXES = ("", "-wal", "-shm", "-journal")
STALE_SQLITE_SUFFIXES = ("-wal", "-shm")
TEMP_PREFIX = ".kyphos-tmp-"
"""Scratch files and folders (skipped by a backup of ``KYPHOS_HOME``)."""
ALREADY_COMPRESSED = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gz", ".zip", ".xlsx"})
CHUNK_BYTES = 1 << 20
INSERT_BATCH_ROWS = 1000
SECRET_MODE = 0o600
ARCHIVE_MODE = 0o600

DatabaseKind = Literal["sqlite", "postgresql"]


@dataclass(frozen=True)
class BackupReport:
    """What :func:`backup` wrote."""

    path: Path
    database: DatabaseKind
    schema_revision: str
    tables: dict[str, int]
    """Rows per table, in dependency order."""
    files: int
    """Files from ``KYPHOS_HOME`` in the archive."""
    size_bytes: int


@dataclass(frozen=True)
class RestoreReport:
    """What :func:`restore` did."""

    path: Path
    backup_database: DatabaseKind
    """The database the backup was taken from."""
    database: DatabaseKind
    """The database it was restored into."""
    schema_revision: str
    """The backup's schema revision."""
    upgraded_to: str
    """The schema revision after the restore (this kyphos's newest)."""
    tables: dict[str, int]
    files: int
    audit: audit.ChainReport


# --- the manifest --------------------------------------------------------------------------


class _Member(BaseModel):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    mode: int | None = Field(default=None, ge=0, le=0o777)


class _Table(BaseModel):
    name: str
    rows: int = Field(ge=0)
    member: str
    columns: list[str]


class _Manifest(BaseModel):
    format: Literal["kyphos-backup"]
    format_version: int
    kyphos_version: str
    created_at: str
    database: DatabaseKind
    schema_revision: str
    tables: list[_Table]
    members: dict[str, _Member]


# --- backup ----------------------------------------------------------------------------------


def backup(registry_settings: Settings, path: Path) -> BackupReport:
    """Write everything kyphos owns to one new ZIP archive at ``path`` (mode 0600).

    Refuses an existing ``path``. The archive is written under a scratch name in the
    same folder and appears at ``path`` only when complete.
    """
    settings = registry_settings
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise KyphosError(f"{path}: exists already; a backup never overwrites, choose a new name")
    folder = path.parent.absolute()
    if not folder.is_dir():
        raise KyphosError(f"{folder}: no such folder for the backup")
    kind = _kind(settings)
    try:
        descriptor, scratch_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".zip", dir=folder)
    except OSError as error:
        raise KyphosError(f"{folder}: cannot write a backup here ({error.strerror})") from None
    scratch = Path(scratch_name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), ARCHIVE_MODE)
            writer = _ArchiveWriter(handle)
            if kind == "sqlite":
                revision, tables = _backup_sqlite(settings, writer, folder)
            else:
                revision, tables = _backup_postgresql(settings, writer)
            files = _backup_home(settings, writer, skip={path.absolute(), scratch.absolute()})
            writer.finish(
                {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "kyphos_version": __version__,
                    "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "database": kind,
                    "schema_revision": revision,
                    "tables": tables,
                }
            )
            handle.flush()
            os.fsync(handle.fileno())
        _publish(scratch, path)
    except OSError as error:  # a full disk, a file that vanished while it was read …
        raise KyphosError(f"{path}: cannot write the backup ({error})") from None
    finally:
        scratch.unlink(missing_ok=True)
    return BackupReport(
        path=path,
        database=kind,
        schema_revision=revision,
        tables={table["name"]: table["rows"] for table in tables},
        files=files,
        size_bytes=path.stat().st_size,
    )


class _HashingSink:
    """Writes to an archive member and keeps its SHA-256 and size."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._out.write(data)
        self.digest.update(data)
        self.size += len(data)


class _ArchiveWriter:
    def __init__(self, handle: IO[bytes]) -> None:
        self._zip = zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        self.members: dict[str, dict[str, Any]] = {}

    @contextmanager
    def member(
        self, name: str, *, mode: int = ARCHIVE_MODE, compress: bool = True
    ) -> Iterator[_HashingSink]:
        info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = (stat.S_IFREG | mode) << 16
        with self._zip.open(info, "w", force_zip64=True) as out:
            sink = _HashingSink(out)
            yield sink
        self.members[name] = {"sha256": sink.digest.hexdigest(), "size": sink.size}

    def copy_file(self, name: str, source: Path, *, mode: int = ARCHIVE_MODE) -> None:
        compress = source.suffix.lower() not in ALREADY_COMPRESSED
        with source.open("rb") as handle, self.member(name, mode=mode, compress=compress) as sink:
            while chunk := handle.read(CHUNK_BYTES):
                sink.write(chunk)

    def finish(self, manifest: dict[str, Any]) -> None:
        manifest["members"] = self.members
        body = json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8")
        info = zipfile.ZipInfo(MANIFEST, date_time=time.localtime()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (stat.S_IFREG | ARCHIVE_MODE) << 16
        self._zip.writestr(info, body)
        self._zip.close()


def _backup_sqlite(
    settings: Settings, writer: _ArchiveWriter, folder: Path
) -> tuple[str, list[dict[str, Any]]]:
    database = _sqlite_path(settings)
    if not database.is_file():
        raise KyphosError(f"{database}: no registry here, nothing to back up (check KYPHOS_HOME)")
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX, dir=folder) as scratch:
        copy = Path(scratch) / DATABASE_FILE
        try:
            source = sqlite3.connect(database, timeout=60)
            try:
                target = sqlite3.connect(copy)
                try:
                    source.backup(target)
                finally:
                    target.close()
            finally:
                source.close()
        except sqlite3.Error as error:
            raise KyphosError(f"{database}: cannot copy the database ({error})") from None
        writer.copy_file(DATABASE_MEMBER, copy)
        engine = make_engine(f"sqlite:///{copy}")
        try:
            with engine.connect() as connection, connection.begin():
                return _dump(connection, writer)
        except SQLAlchemyError as error:
            raise KyphosError(
                f"{database}: cannot read the database ({_first_line(error)})"
            ) from None
        finally:
            engine.dispose()


def _backup_postgresql(
    settings: Settings, writer: _ArchiveWriter
) -> tuple[str, list[dict[str, Any]]]:
    engine = engine_for(settings.url)
    try:
        with engine.connect() as connection:
            connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            with connection.begin():
                return _dump(connection, writer)
    except SQLAlchemyError as error:
        raise KyphosError(
            f"{_where(settings)}: cannot read the database ({_first_line(error)})"
        ) from None


def _dump(connection: Connection, writer: _ArchiveWriter) -> tuple[str, list[dict[str, Any]]]:
    """Every kyphos table as JSON lines, in dependency order; the schema revision."""
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None:
        raise KyphosError("the database has no kyphos registry; nothing to back up")
    if revision not in migrate.known_revisions():
        raise KyphosError(
            f"the database schema ({revision}) comes from a newer kyphos; "
            "back it up with that kyphos"
        )
    tables: list[dict[str, Any]] = []
    for table in _reflect(connection).sorted_tables:
        member = f"{TABLES_FOLDER}{table.name}.jsonl"
        statement = select(table).order_by(*table.primary_key.columns)
        rows = 0
        with writer.member(member) as sink:
            result = connection.execute(statement.execution_options(yield_per=INSERT_BATCH_ROWS))
            for row in result.mappings():
                sink.write(_json_line(row))
                rows += 1
        tables.append(
            {
                "name": table.name,
                "rows": rows,
                "member": member,
                "columns": [column.name for column in table.columns],
            }
        )
    return revision, tables


def _json_line(row: Any) -> bytes:
    values = {key: _to_json(value) for key, value in row.items()}
    return (json.dumps(values, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _to_json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _backup_home(settings: Settings, writer: _ArchiveWriter, *, skip: set[Path]) -> int:
    """Every file under KYPHOS_HOME but the live database files; how many."""
    home = settings.home
    if not home.is_dir():
        return 0
    live = {(home / f"{DATABASE_FILE}{suffix}").resolve() for suffix in LIVE_DATABASE_SUFFIXES}
    if settings.is_sqlite:
        database = _sqlite_path(settings)
        live |= {Path(f"{database}{suffix}").resolve() for suffix in LIVE_DATABASE_SUFFIXES}
    skipped = live | {item.resolve() for item in skip}
    count = 0
    seen_folders: set[Path] = set()
    for root, folders, files in os.walk(home, followlinks=True):
        real = Path(root).resolve()
        if real in seen_folders:  # a symbolic link loop
            folders[:] = []
            continue
        seen_folders.add(real)
        folders[:] = sorted(name for name in folders if not name.startswith(TEMP_PREFIX))
        for name in sorted(files):
            file = Path(root) / name
            if name.startswith(TEMP_PREFIX) or not file.is_file() or file.resolve() in skipped:
                continue
            relative = file.relative_to(home).as_posix()
            mode = stat.S_IMODE(file.stat().st_mode)
            writer.copy_file(f"{HOME_FOLDER}{relative}", file, mode=mode)
            writer.members[f"{HOME_FOLDER}{relative}"]["mode"] = mode
            count += 1
    return count


def _publish(scratch: Path, path: Path) -> None:
    """Give the finished archive its name without ever replacing an existing file."""
    try:
        os.link(scratch, path)
    except FileExistsError:
        raise KyphosError(
            f"{path}: exists already; a backup never overwrites, choose a new name"
        ) from None
    except OSError:  # a file system without hard links
        if path.exists():
            raise KyphosError(
                f"{path}: exists already; a backup never overwrites, choose a new name"
            ) from None
        os.replace(scratch, path)


# --- restore ---------------------------------------------------------------------------------


def restore(registry_settings: Settings, path: Path, *, force: bool = False) -> RestoreReport:
    """Restore a backup written by :func:`backup` into the configured registry.

    Refuses a damaged archive (naming the member), a backup from a newer kyphos, and —
    unless ``force`` — a registry that already holds patients. The restored database is
    upgraded to this kyphos's schema; its audit chain is verified and reported.
    """
    settings = registry_settings
    path = Path(path)
    kind = _kind(settings)
    with _open_archive(path) as archive:
        manifest = _read_manifest(archive, path)
        if manifest.schema_revision not in migrate.known_revisions():
            raise KyphosError(
                f"{path}: the backup comes from a newer kyphos (schema revision "
                f"{manifest.schema_revision}); upgrade kyphos to restore it"
            )
        _check_members(archive, manifest, path)
        _check_checksums(archive, manifest, path)
        if not force:
            _refuse_if_patients(settings)
        staged: list[tuple[Path, Path]] = []
        try:
            _stage_home(archive, manifest, settings, path, staged)
            if kind == "sqlite":
                _restore_sqlite(archive, manifest, settings, path)
            else:
                _restore_postgresql(archive, manifest, settings, path)
            for scratch, target in staged:
                os.replace(scratch, target)
        finally:
            for scratch, _target in staged:
                scratch.unlink(missing_ok=True)
    with session_scope(engine_for(settings.url)) as session:
        chain = audit.verify(session)
    return RestoreReport(
        path=path,
        backup_database=manifest.database,
        database=kind,
        schema_revision=manifest.schema_revision,
        upgraded_to=migrate.head_revision(),
        tables={table.name: table.rows for table in manifest.tables},
        files=len(staged),
        audit=chain,
    )


@contextmanager
def _open_archive(path: Path) -> Iterator[zipfile.ZipFile]:
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise KyphosError(f"{path}: no such file") from None
    except zipfile.BadZipFile:
        raise KyphosError(f"{path}: not a kyphos backup (not a readable ZIP archive)") from None
    except OSError as error:
        raise KyphosError(f"{path}: cannot read it ({error.strerror or error})") from None
    with archive:
        yield archive


def _read_manifest(archive: zipfile.ZipFile, path: Path) -> _Manifest:
    try:
        body = archive.read(MANIFEST)
    except KeyError:
        raise KyphosError(f"{path}: not a kyphos backup (it has no {MANIFEST})") from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as error:
        raise KyphosError(f"{path}: member {MANIFEST} is corrupt ({error})") from None
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise KyphosError(f"{path}: member {MANIFEST} is corrupt (not JSON: {error})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise KyphosError(f"{path}: not a kyphos backup ({MANIFEST} does not say {FORMAT})")
    version = raw.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise KyphosError(
            f"{path}: the backup comes from a newer kyphos (archive format {version}); "
            "upgrade kyphos to restore it"
        )
    try:
        manifest = _Manifest.model_validate(raw)
    except ValidationError as error:
        raise KyphosError(
            *(
                f"{path}: {MANIFEST}: {'.'.join(str(part) for part in problem['loc'])}: "
                f"{problem['msg']}"
                for problem in error.errors()
            )
        ) from None
    if manifest.format_version != FORMAT_VERSION:
        raise KyphosError(
            f"{path}: {MANIFEST}: format_version {manifest.format_version} is not one this "
            f"kyphos reads ({FORMAT_VERSION})"
        )
    return manifest


def _unsafe(name: str) -> bool:
    """True for a member name that is absolute, climbs with ``..`` or is not plain."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return True
    if len(name) > 1 and name[1] == ":":  # a Windows drive
        return True
    return any(part in ("", ".", "..") for part in name.split("/"))


def _check_members(archive: zipfile.ZipFile, manifest: _Manifest, path: Path) -> None:
    """Member names: safe, expected, and the same in the archive and its manifest."""
    problems: list[str] = []
    names = archive.namelist()
    listed = set(manifest.members)
    for name in sorted(set(names) | listed):
        if _unsafe(name):
            problems.append(
                f"{path}: member {name!r} points outside its folder (absolute path or '..'); "
                "refusing the backup"
            )
        elif name not in (MANIFEST, DATABASE_MEMBER) and not name.startswith(
            (TABLES_FOLDER, HOME_FOLDER)
        ):
            problems.append(f"{path}: member {name!r} is not part of a kyphos backup")
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    problems += [f"{path}: member {name} appears more than once" for name in duplicates]
    problems += [
        f"{path}: member {name} is not listed in {MANIFEST}"
        for name in sorted(set(names) - listed - {MANIFEST})
    ]
    problems += [
        f"{path}: member {name} listed in {MANIFEST} is missing"
        for name in sorted(listed - set(names))
    ]
    for table in manifest.tables:
        if table.member not in listed or not table.member.startswith(TABLES_FOLDER):
            problems.append(f"{path}: table {table.name}: its member {table.member} is not listed")
    if problems:
        raise KyphosError(*problems)


def _check_checksums(archive: zipfile.ZipFile, manifest: _Manifest, path: Path) -> None:
    problems: list[str] = []
    for name, expected in sorted(manifest.members.items()):
        digest = hashlib.sha256()
        try:
            with archive.open(name) as member:
                while chunk := member.read(CHUNK_BYTES):
                    digest.update(chunk)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as error:
            problems.append(f"{path}: member {name} is corrupt ({error})")
            continue
        if digest.hexdigest() != expected.sha256:
            problems.append(
                f"{path}: member {name} is corrupt (its SHA-256 does not match the manifest)"
            )
    if problems:
        raise KyphosError(*problems)


def _refuse_if_patients(settings: Settings) -> None:
    if settings.is_sqlite and not _sqlite_path(settings).exists():
        return
    engine = make_engine(settings.url)
    try:
        with engine.connect() as connection:
            patients = 0
            if connection.dialect.has_table(connection, "patient"):
                patients = connection.execute(text("SELECT count(*) FROM patient")).scalar_one()
    except SQLAlchemyError as error:
        raise KyphosError(
            f"{_where(settings)}: cannot read the registry to restore over ({_first_line(error)}); "
            "restore with --force to replace it"
        ) from None
    finally:
        engine.dispose()
    if patients:
        raise KyphosError(
            f"{_where(settings)}: the registry already holds {patients} patient(s); restoring "
            "would replace them — restore with --force to do so"
        )


def _stage_home(
    archive: zipfile.ZipFile,
    manifest: _Manifest,
    settings: Settings,
    path: Path,
    staged: list[tuple[Path, Path]],
) -> None:
    """Write the backup's home files beside their targets under scratch names."""
    home = settings.home
    for name, member in sorted(manifest.members.items()):
        if not name.startswith(HOME_FOLDER):
            continue
        relative = PurePosixPath(name[len(HOME_FOLDER) :])
        target = home.joinpath(*relative.parts)
        mode = SECRET_MODE if relative == PurePosixPath(SECRET_FILE) else member.mode
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            descriptor, scratch_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
        except OSError as error:
            raise KyphosError(f"{target}: cannot write it ({error.strerror or error})") from None
        scratch = Path(scratch_name)
        staged.append((scratch, target))
        with os.fdopen(descriptor, "wb") as handle:
            _extract(archive, name, member, handle, path)
            os.fchmod(handle.fileno(), SECRET_MODE if mode is None else mode)


def _extract(
    archive: zipfile.ZipFile, name: str, member: _Member, handle: IO[bytes], path: Path
) -> None:
    """Copy one member to ``handle``, checking its SHA-256 again on the way."""
    digest = hashlib.sha256()
    try:
        with archive.open(name) as source:
            while chunk := source.read(CHUNK_BYTES):
                digest.update(chunk)
                handle.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise KyphosError(f"{path}: member {name} is corrupt ({error})") from None
    if digest.hexdigest() != member.sha256:
        raise KyphosError(f"{path}: member {name} is corrupt (its SHA-256 changed while reading)")


def _restore_sqlite(
    archive: zipfile.ZipFile, manifest: _Manifest, settings: Settings, path: Path
) -> None:
    """Build the new database in a scratch file beside the old one, then swap them."""
    database = _sqlite_path(settings)
    database.parent.mkdir(parents=True, exist_ok=True)
    descriptor, scratch_name = tempfile.mkstemp(
        prefix=TEMP_PREFIX, suffix=".db", dir=database.parent
    )
    scratch = Path(scratch_name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if manifest.database == "sqlite" and DATABASE_MEMBER in manifest.members:
                _extract(archive, DATABASE_MEMBER, manifest.members[DATABASE_MEMBER], handle, path)
            handle.flush()
            os.fsync(handle.fileno())
        engine = make_engine(f"sqlite:///{scratch}")
        try:
            with engine.begin() as connection:
                if manifest.database == "sqlite" and DATABASE_MEMBER in manifest.members:
                    _check_copied_database(connection, manifest, path)
                    _migrate(connection, "head")
                else:
                    _load(connection, archive, manifest, path)
        except SQLAlchemyError as error:
            raise KyphosError(
                f"{path}: cannot restore the database ({_first_line(error)})"
            ) from None
        finally:
            engine.dispose()
        dispose_engines()
        for suffix in STALE_SQLITE_SUFFIXES:
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        os.replace(scratch, database)
    finally:
        for suffix in ("", *STALE_SQLITE_SUFFIXES):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)


def _check_copied_database(connection: Connection, manifest: _Manifest, path: Path) -> None:
    problem = connection.execute(text("PRAGMA quick_check")).scalar_one()
    if problem != "ok":
        raise KyphosError(f"{path}: member {DATABASE_MEMBER} is corrupt ({problem})")
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision != manifest.schema_revision:
        raise KyphosError(
            f"{path}: member {DATABASE_MEMBER} is at schema revision {revision}, "
            f"the manifest says {manifest.schema_revision}"
        )


def _restore_postgresql(
    archive: zipfile.ZipFile, manifest: _Manifest, settings: Settings, path: Path
) -> None:
    """One transaction: schema at the backup's revision, rows replaced, then upgraded."""
    try:
        with engine_for(settings.url).begin() as connection:
            _load(connection, archive, manifest, path)
    except SQLAlchemyError as error:
        raise KyphosError(
            f"{_where(settings)}: cannot restore the database ({_first_line(error)})"
        ) from None
    finally:
        dispose_engines()  # pooled connections may hold plans for the old tables


def _load(
    connection: Connection, archive: zipfile.ZipFile, manifest: _Manifest, path: Path
) -> None:
    """Replace kyphos's rows with the backup's JSON lines (caller's transaction)."""
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is not None and revision not in migrate.known_revisions():
        raise KyphosError(
            f"the database schema ({revision}) comes from a newer kyphos; restore with that "
            "kyphos, or into an empty database"
        )
    existing = _reflect(connection)
    if revision is None and existing.tables:
        raise KyphosError(
            "the database holds kyphos tables but no schema revision; restore into an empty "
            "database"
        )
    _empty(connection, existing)
    if revision != manifest.schema_revision:
        if revision is not None:
            _migrate(connection, "base", downgrade=True)
        _migrate(connection, manifest.schema_revision)
    schema = _reflect(connection)
    backed_up = {table.name: table for table in manifest.tables}
    if set(backed_up) != set(schema.tables):
        raise KyphosError(
            f"{path}: {MANIFEST}: its tables ({', '.join(sorted(backed_up))}) are not those of "
            f"schema revision {manifest.schema_revision} ({', '.join(sorted(schema.tables))})"
        )
    for table in schema.sorted_tables:
        _insert(connection, table, archive, backed_up[table.name], path)
    if connection.dialect.name == "postgresql":
        _reset_sequences(connection, schema)
    _migrate(connection, "head")


def _empty(connection: Connection, metadata: MetaData) -> None:
    if not metadata.tables:
        return
    if connection.dialect.name == "postgresql":
        quote = connection.dialect.identifier_preparer.quote
        names = ", ".join(quote(table.name) for table in metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE TABLE {names}"))
        return
    for table in reversed(metadata.sorted_tables):
        connection.execute(table.delete())


def _insert(
    connection: Connection, table: Table, archive: zipfile.ZipFile, backed_up: _Table, path: Path
) -> None:
    convert = {column.name: _from_json(column.type, connection) for column in table.columns}
    batch: list[dict[str, Any]] = []
    rows = 0
    with archive.open(backed_up.member) as raw:
        for number, line in enumerate(io.TextIOWrapper(raw, encoding="utf-8"), start=1):
            where = f"{path}: member {backed_up.member}:{number}"
            try:
                values = json.loads(line)
            except json.JSONDecodeError as error:
                raise KyphosError(f"{where}: not a JSON row ({error})") from None
            if not isinstance(values, dict) or not set(values) <= set(convert):
                raise KyphosError(f"{where}: not a row of table {table.name}")
            try:
                batch.append(
                    {
                        key: None if value is None else convert[key](value)
                        for key, value in values.items()
                    }
                )
            except (TypeError, ValueError) as error:
                raise KyphosError(f"{where}: {error}") from None
            rows += 1
            if len(batch) >= INSERT_BATCH_ROWS:
                connection.execute(table.insert(), batch)
                batch = []
    if batch:
        connection.execute(table.insert(), batch)
    if rows != backed_up.rows:
        raise KyphosError(
            f"{path}: member {backed_up.member} holds {rows} rows, {MANIFEST} says {backed_up.rows}"
        )


def _from_json(column_type: Any, connection: Connection) -> Callable[[Any], Any]:
    """How to turn a JSON value back into a value of ``column_type``."""
    if isinstance(column_type, DateTime):
        aware = connection.dialect.name == "postgresql" and bool(column_type.timezone)

        def to_datetime(value: Any) -> dt.datetime:
            moment = dt.datetime.fromisoformat(value)
            if aware and moment.tzinfo is None:
                return moment.replace(tzinfo=dt.UTC)  # SQLite keeps UTC times without zone
            if not aware and moment.tzinfo is not None:
                return moment.astimezone(dt.UTC)
            return moment

        return to_datetime
    if isinstance(column_type, Date):
        return dt.date.fromisoformat
    if isinstance(column_type, Boolean):
        return bool
    return _same


def _same(value: Any) -> Any:
    return value


def _reset_sequences(connection: Connection, metadata: MetaData) -> None:
    """Point every id sequence past the restored rows so later inserts work."""
    quote = connection.dialect.identifier_preparer.quote
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            if not isinstance(column.type, Integer):
                continue
            sequence = connection.execute(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": quote(table.name), "column": column.name},
            ).scalar_one_or_none()
            if sequence is None:
                continue
            largest = f"(SELECT max({quote(column.name)}) FROM {quote(table.name)})"
            connection.execute(
                text(
                    f"SELECT setval(CAST(:sequence AS regclass), coalesce({largest}, 1), "
                    f"{largest} IS NOT NULL)"
                ),
                {"sequence": sequence},
            )


def _migrate(connection: Connection, revision: str, *, downgrade: bool = False) -> None:
    """Move the schema to ``revision`` inside the caller's transaction."""
    config = migrate.alembic_config()
    config.attributes["connection"] = connection
    if downgrade:
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)


# --- shared ----------------------------------------------------------------------------------


def _kind(settings: Settings) -> DatabaseKind:
    backend = make_url(settings.url).get_backend_name()
    if backend == "sqlite":
        return "sqlite"
    if backend == "postgresql":
        return "postgresql"
    raise KyphosError(f"KYPHOS_DATABASE_URL: {backend} databases cannot be backed up by kyphos")


def _sqlite_path(settings: Settings) -> Path:
    database = make_url(settings.url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise KyphosError("KYPHOS_DATABASE_URL: an in-memory SQLite database has no file to copy")
    return Path(database)


def _reflect(connection: Connection) -> MetaData:
    """kyphos's tables as the database holds them now (any schema revision)."""
    metadata = MetaData()
    metadata.reflect(connection, only=lambda name, _metadata: name in KYPHOS_TABLES)
    return metadata


def _where(settings: Settings) -> str:
    if settings.is_sqlite:
        return str(_sqlite_path(settings))
    return make_url(settings.url).render_as_string(hide_password=True)


def _first_line(error: SQLAlchemyError) -> str:
    original = getattr(error, "orig", None)
    return str(original or error).strip().splitlines()[0]
