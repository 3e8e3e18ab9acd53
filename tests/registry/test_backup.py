"""`backup` and `restore`: one archive with the database and the files of KYPHOS_HOME.

Runs on SQLite and, with ``KYPHOS_TEST_POSTGRES_URL``, on PostgreSQL (the ``backend``
fixtures of ``tests/conftest.py``); a restore into a fresh registry also crosses from one
database to the other. Expected values are the test's own data, read back with plain
SQLAlchemy/sqlite3/zipfile/hashlib, never through kyphos's backup code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import struct
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from kyphos.config import Settings
from kyphos.errors import KyphosError
from kyphos.registry import audit
from kyphos.registry.backup import backup, restore
from kyphos.registry.db import dispose_engines, session_scope
from kyphos.registry.models import (
    AdverseEvent,
    Base,
    Patient,
    PatientIdentity,
    Procedure,
    TreatedLevel,
    Vertebra,
    Visit,
)
from kyphos.registry.repository import Registry, init_registry, snapshot

ADMIN_PASSWORD = "correct-horse-battery-staple"
NEWER_REVISION = "ffffffffffff"
IMAGE_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
DICOM_BYTES = b"\x00" * 128 + b"DICM" + b"not really a dicom file, but bytes to keep" * 10

# The test's own data: three patients, each with two vertebrae, one procedure with one
# treated level, two visits; one adverse event. Three users (admin + two).
PATIENTS: list[dict[str, Any]] = [
    {
        "study_code": "P001",
        "sex": "F",
        "birth_date": dt.date(1948, 3, 4),
        "height_cm": 158.0,
        "weight_kg": 52.5,
        "bmd_t_score": -3.1,
        "injury_mechanism": "fall_walking",
        "injury_date": dt.date(2024, 1, 2),
        "name": "王芳",
        "procedure_date": dt.date(2024, 1, 10),
    },
    {
        "study_code": "P002",
        "sex": "M",
        "age": 81,
        "weight_kg": 70.25,
        "injury_mechanism": "lifting",
        "name": "Li Wei",
        "procedure_date": dt.date(2024, 2, 14),
    },
    {
        "study_code": "P003",
        "sex": "F",
        "age": 74,
        "bmd_t_score": -2.6,
        "name": "Zhang Min",
        "procedure_date": dt.date(2024, 3, 1),
    },
]
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
"""For what only SQLite has (its file, its online backup API): the conftest's backend."""
EXPECTED_ROWS = {
    "patient": 3,
    "patient_identity": 3,
    "vertebra": 6,
    "procedure": 3,
    "treated_level": 3,
    "visit": 6,
    "adverse_event": 1,
    "user_account": 3,
    "site": 1,
    "registry_info": 1,
}


# --- fixtures --------------------------------------------------------------------------------


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


@pytest.fixture
def fresh_settings(tmp_path: Path) -> Iterator[Callable[[str], Settings]]:
    """Make settings for another, empty registry: ``"sqlite"`` or ``"postgresql"``.

    The PostgreSQL one lives in its own schema, dropped afterwards.
    """
    schemas: list[tuple[str, str]] = []

    def make(kind: str) -> Settings:
        home = tmp_path / f"fresh-{kind}-{len(schemas)}-{uuid.uuid4().hex[:6]}"
        if kind == "sqlite":
            return Settings(home=home, database_url=None, secret_key=None, lang="en")
        base = os.environ.get("KYPHOS_TEST_POSTGRES_URL", "").strip()
        if not base:
            message = "KYPHOS_TEST_POSTGRES_URL is not set; cannot restore into PostgreSQL"
            if _in_ci():
                pytest.fail(f"{message} (CI=true: a missing database is a failure)")
            pytest.skip(message)
        schema = f"kb_{uuid.uuid4().hex}"
        admin = create_engine(base, poolclass=NullPool)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        schemas.append((base, schema))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        return Settings(
            home=home,
            database_url=url.render_as_string(hide_password=False),
            secret_key=None,
            lang="en",
        )

    yield make
    dispose_engines()
    for base, schema in schemas:
        admin = create_engine(base, poolclass=NullPool)
        with admin.begin() as connection:
            connection.execute(text("SET LOCAL lock_timeout = '10s'"))
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def filled(registry_settings: Settings) -> Registry:
    """A registry with the test's users, patients, visits and image files."""
    init_registry(registry_settings, admin="admin", password=ADMIN_PASSWORD)
    registry = Registry.open(registry_settings)
    registry.add_user("wang", role="investigator", password="wang-password-2024", sites=["MAIN"])
    registry.add_user("chen", role="observer", password=None, display_name="Chen Jing")
    for patient in PATIENTS:
        _add_patient(registry, patient)
    images = registry_settings.home / "images" / "ab"
    images.mkdir(parents=True)
    (images / "abcdef.png").write_bytes(IMAGE_BYTES)
    (registry_settings.home / "images" / "scan.dcm").write_bytes(DICOM_BYTES)
    return registry


def _add_patient(registry: Registry, data: dict[str, Any]) -> None:
    columns = {
        key: value
        for key, value in data.items()
        if key not in ("name", "procedure_date", "study_code")
    }
    code = data["study_code"]
    with registry.write() as session:
        patient = Patient(study_code=code, site_id=registry.default_site(session).id, **columns)
        session.add(patient)
        session.flush()
        identity = PatientIdentity(
            patient_id=patient.id, full_name=data.get("name"), hospital_number=f"H-{code}"
        )
        treated = Vertebra(
            patient_id=patient.id,
            level="L1",
            mri_stir="high",
            posterior_wall_intact=True,
            morphology="wedge",
            treated=True,
        )
        untreated = Vertebra(
            patient_id=patient.id, level="T12", posterior_wall_intact=None, treated=False
        )
        procedure = Procedure(
            patient_id=patient.id,
            procedure_date=data.get("procedure_date", dt.date(2024, 5, 1)),
            anaesthesia="local",
            operator="Dr Sun",
        )
        session.add_all([identity, treated, untreated, procedure])
        session.flush()
        level = TreatedLevel(
            procedure_id=procedure.id,
            vertebra_id=treated.id,
            technique="kyphoplasty",
            approach="bipedicular",
            cement_volume_ml=4.5,
            leakage="",
            leakage_symptomatic=False,
            duration_min=35.0,
        )
        preop = Visit(
            patient_id=patient.id,
            timepoint="preop",
            visit_date=procedure.procedure_date - dt.timedelta(days=1),
            vas=7.5,
            **{f"odi_{n}": 3 for n in range(1, 11)},
            odi_language="zh",
        )
        postop = Visit(
            patient_id=patient.id,
            timepoint="postop",
            visit_date=procedure.procedure_date + dt.timedelta(days=7),
            vas=2.0,
            **{f"odi_{n}": 1 for n in range(1, 11)},
            odi_language="en",
        )
        session.add_all([level, preop, postop])
        if code == "P002":
            session.add(
                AdverseEvent(
                    patient_id=patient.id,
                    event_date=dt.date(2024, 6, 1),
                    type="adjacent_fracture",
                    level="L2",
                    serious=True,
                    related="no",
                    description="new fracture below the treated level",
                )
            )
        session.flush()
        for row, entity, key in (
            (patient, "patient", code),
            (identity, "identity", code),
            (treated, "vertebra", f"{code}/L1"),
            (untreated, "vertebra", f"{code}/T12"),
            (procedure, "procedure", code),
            (level, "treated_level", f"{code}/L1"),
            (preop, "visit", f"{code}/preop"),
            (postop, "visit", f"{code}/postop"),
        ):
            registry.record(
                session,
                action="create",
                entity=entity,
                entity_key=key,
                after=snapshot(row, registry.secret),
            )


# --- helpers: read what is there, with plain SQLAlchemy / zipfile / hashlib ------------------


def _plain(value: Any) -> Any:
    """Times as naive UTC (SQLite keeps UTC times without a zone, PostgreSQL with one)."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _rows(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    engine = create_engine(settings.url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return {
                name: [
                    {key: _plain(value) for key, value in row.items()}
                    for row in connection.execute(
                        select(table).order_by(*table.primary_key.columns)
                    ).mappings()
                ]
                for name, table in Base.metadata.tables.items()
            }
    finally:
        engine.dispose()


def _schema_revision(settings: Settings) -> str:
    engine = create_engine(settings.url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return str(
                connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            )
    finally:
        engine.dispose()


def _audit_ok(settings: Settings) -> bool:
    engine = create_engine(settings.url, poolclass=NullPool)
    try:
        with session_scope(engine) as session:
            report = audit.verify(session)
    finally:
        engine.dispose()
    return report.ok and report.checked > 0


def _home_files(home: Path) -> dict[str, bytes]:
    return {
        path.relative_to(home).as_posix(): path.read_bytes()
        for path in sorted(home.rglob("*"))
        if path.is_file() and not path.name.startswith("kyphos.db")
    }


def _manifest(archive: Path) -> dict[str, Any]:
    with zipfile.ZipFile(archive) as opened:
        manifest: dict[str, Any] = json.loads(opened.read("manifest.json"))
    return manifest


def _rewrite(
    source: Path,
    target: Path,
    *,
    manifest_changes: dict[str, Any] | None = None,
    replace: dict[str, bytes] | None = None,
    add: dict[str, bytes] | None = None,
) -> Path:
    """A copy of ``source`` with members replaced or added (and listed, hashes right)."""
    replace = replace or {}
    add = add or {}
    with zipfile.ZipFile(source) as old:
        manifest = json.loads(old.read("manifest.json"))
        members = {name: old.read(name) for name in old.namelist() if name != "manifest.json"}
    members.update(replace)
    members.update(add)
    for name, body in add.items():
        manifest["members"][name] = {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
    manifest.update(manifest_changes or {})
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as new:
        for name, body in members.items():
            new.writestr(name, body)
        new.writestr("manifest.json", json.dumps(manifest))
    return target


def _member_data_offset(archive: Path, name: str) -> int:
    """Where the (compressed) bytes of ``name`` start in the archive file."""
    with zipfile.ZipFile(archive) as opened:
        info = opened.getinfo(name)
    with archive.open("rb") as handle:
        handle.seek(info.header_offset)
        header = handle.read(30)
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return int(info.header_offset) + 30 + int(name_length) + int(extra_length)


# --- backup ----------------------------------------------------------------------------------


def test_backup_writes_a_0600_archive_with_manifest_tables_and_home_files(
    filled: Registry, registry_settings: Settings, backend: str, tmp_path: Path
) -> None:
    archive = tmp_path / "kyphos-backup.zip"
    backup(registry_settings, archive)

    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    manifest = _manifest(archive)
    assert manifest["database"] == backend
    assert manifest["schema_revision"] == _schema_revision(registry_settings)
    counts = {table["name"]: table["rows"] for table in manifest["tables"]}
    for table, rows in EXPECTED_ROWS.items():
        assert counts[table] == rows, table
    assert set(counts) == set(Base.metadata.tables)
    order = [table["name"] for table in manifest["tables"]]
    assert order.index("patient") < order.index("vertebra") < order.index("treated_level")

    with zipfile.ZipFile(archive) as opened:
        names = set(opened.namelist())
        for name, member in manifest["members"].items():
            assert hashlib.sha256(opened.read(name)).hexdigest() == member["sha256"], name
        assert names - {"manifest.json"} == set(manifest["members"])
        assert opened.read("home/images/ab/abcdef.png") == IMAGE_BYTES
        assert opened.read("home/images/scan.dcm") == DICOM_BYTES
        assert opened.read("home/secret.key") == registry_settings.secret_path.read_bytes()
        patients = [
            json.loads(line)
            for line in opened.read("database/tables/patient.jsonl").decode().splitlines()
        ]
        vertebrae = [
            json.loads(line)
            for line in opened.read("database/tables/vertebra.jsonl").decode().splitlines()
        ]
    assert not names & {"home/kyphos.db", "home/kyphos.db-wal", "home/kyphos.db-shm"}
    first = next(patient for patient in patients if patient["study_code"] == "P001")
    assert first["birth_date"] == "1948-03-04"
    assert first["weight_kg"] == 52.5
    assert [vertebra["posterior_wall_intact"] for vertebra in vertebrae[:2]] == [True, None]
    assert ("database/kyphos.db" in names) == (backend == "sqlite")


@SQLITE_ONLY
def test_a_sqlite_backup_holds_a_database_copy_sqlite_can_open(
    filled: Registry, registry_settings: Settings, tmp_path: Path
) -> None:
    archive = tmp_path / "kyphos-backup.zip"
    backup(registry_settings, archive)
    copy = tmp_path / "copy.db"
    with zipfile.ZipFile(archive) as opened:
        copy.write_bytes(opened.read("database/kyphos.db"))
    connection = sqlite3.connect(copy)
    try:
        codes = [row[0] for row in connection.execute("SELECT study_code FROM patient ORDER BY 1")]
        check = connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()
    assert codes == ["P001", "P002", "P003"]
    assert check == "ok"


@SQLITE_ONLY
def test_a_sqlite_backup_while_a_writer_holds_the_lock_has_only_committed_rows(
    filled: Registry, registry_settings: Settings, tmp_path: Path
) -> None:
    writer = sqlite3.connect(registry_settings.home / "kyphos.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO site (code, name, version) VALUES ('UNCOMMITTED', 'x', 1)")
        archive = tmp_path / "kyphos-backup.zip"
        backup(registry_settings, archive)
        writer.execute("ROLLBACK")
    finally:
        writer.close()
    counts = {table["name"]: table["rows"] for table in _manifest(archive)["tables"]}
    assert counts["site"] == 1
    assert counts["patient"] == 3


def test_backup_refuses_to_overwrite_an_existing_file(
    filled: Registry, registry_settings: Settings, tmp_path: Path
) -> None:
    archive = tmp_path / "kyphos-backup.zip"
    archive.write_bytes(b"keep me")
    with pytest.raises(KyphosError, match="exists already"):
        backup(registry_settings, archive)
    assert archive.read_bytes() == b"keep me"
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".kyphos")] == []


# --- restore ---------------------------------------------------------------------------------


def test_restore_brings_back_every_row_and_file_after_the_data_changed(
    filled: Registry, registry_settings: Settings, tmp_path: Path
) -> None:
    home = registry_settings.home
    before = _rows(registry_settings)
    files_before = _home_files(home)
    assert [row["study_code"] for row in before["patient"]] == ["P001", "P002", "P003"]
    archive = tmp_path / "kyphos-backup.zip"
    backup(registry_settings, archive)

    _add_patient(filled, {"study_code": "P999", "sex": "M", "age": 66})
    with filled.engine.begin() as connection:
        connection.execute(text("DELETE FROM visit WHERE timepoint = 'postop'"))
        connection.execute(text("UPDATE patient SET weight_kg = 99.0"))
    registry_settings.secret_path.write_text("another-secret-" * 4, encoding="utf-8")
    registry_settings.secret_path.chmod(0o644)
    shutil.rmtree(home / "images")
    assert _rows(registry_settings) != before

    report = restore(registry_settings, archive, force=True)

    assert _rows(registry_settings) == before
    assert _home_files(home) == files_before
    assert stat.S_IMODE(registry_settings.secret_path.stat().st_mode) == 0o600
    assert _audit_ok(registry_settings)
    assert report.audit.ok
    assert report.tables["patient"] == 3


def test_restore_into_a_fresh_registry_on_either_database(
    filled: Registry,
    registry_settings: Settings,
    fresh_settings: Callable[[str], Settings],
    target: str,
    tmp_path: Path,
) -> None:
    before = _rows(registry_settings)
    files_before = _home_files(registry_settings.home)
    archive = tmp_path / "kyphos-backup.zip"
    backup(registry_settings, archive)
    settings = fresh_settings(target)

    report = restore(settings, archive)

    assert report.database == target
    assert _rows(settings) == before
    assert _home_files(settings.home) == files_before
    assert stat.S_IMODE(settings.secret_path.stat().st_mode) == 0o600
    assert _audit_ok(settings)
    # The id sequences follow the restored rows: the next patient is number 4.
    restored = Registry.open(settings)
    _add_patient(restored, {"study_code": "P004", "sex": "F", "age": 70})
    assert [row["id"] for row in _rows(settings)["patient"]] == [1, 2, 3, 4]
    assert _audit_ok(settings)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest) -> str:
    """The database a fresh registry is restored into."""
    return str(request.param)


def test_restore_refuses_a_registry_that_holds_patients_unless_forced(
    filled: Registry, registry_settings: Settings, tmp_path: Path
) -> None:
    archive = tmp_path / "kyphos-backup.zip"
    backup(registry_settings, archive)
    _add_patient(filled, {"study_code": "P999", "sex": "M", "age": 66})

    with pytest.raises(KyphosError) as refused:
        restore(registry_settings, archive)

    assert "already holds 4 patient(s)" in str(refused.value)
    assert "--force" in str(refused.value)
    assert len(refused.value.problems) == 1
    codes = [row["study_code"] for row in _rows(registry_settings)["patient"]]
    assert codes == ["P001", "P002", "P003", "P999"]


@pytest.mark.parametrize("member", ["home/images/ab/abcdef.png", "database/tables/visit.jsonl"])
def test_restore_refuses_an_archive_with_a_flipped_byte_naming_the_member(
    filled: Registry, registry_settings: Settings, tmp_path: Path, member: str
) -> None:
    archive = tmp_path / "kyphos-backup.zip"
    backup(registry_settings, archive)
    offset = _member_data_offset(archive, member) + 5
    raw = bytearray(archive.read_bytes())
    raw[offset] ^= 0xFF
    archive.write_bytes(bytes(raw))
    secret = registry_settings.secret_path.read_bytes()

    with pytest.raises(KyphosError) as refused:
        restore(registry_settings, archive, force=True)

    assert f"member {member} is corrupt" in str(refused.value)
    assert registry_settings.secret_path.read_bytes() == secret
    assert len(_rows(registry_settings)["patient"]) == 3


def test_restore_refuses_a_member_whose_checksum_does_not_match(
    filled: Registry, registry_settings: Settings, tmp_path: Path
) -> None:
    archive = tmp_path / "kyphos-backup.zip"
    backup(registry_settings, archive)
    changed = _rewrite(archive, tmp_path / "changed.zip", replace={"home/secret.key": b"x" * 64})

    with pytest.raises(KyphosError) as refused:
        restore(registry_settings, changed, force=True)

    assert refused.value.problems == (
        f"{changed}: member home/secret.key is corrupt (its SHA-256 does not match the manifest)",
    )


def test_restore_refuses_a_backup_from_a_newer_schema(
    filled: Registry, registry_settings: Settings, tmp_path: Path
) -> None:
    archive = tmp_path / "kyphos-backup.zip"
    backup(registry_settings, archive)
    newer = _rewrite(
        archive, tmp_path / "newer.zip", manifest_changes={"schema_revision": NEWER_REVISION}
    )

    with pytest.raises(KyphosError) as refused:
        restore(registry_settings, newer, force=True)

    message = str(refused.value)
    assert "newer" in message
    assert NEWER_REVISION in message
    assert "upgrade kyphos" in message


@pytest.mark.parametrize("evil", ["home/../escaped.txt", "/tmp/kyphos-absolute.txt"])
def test_restore_refuses_members_that_point_outside_their_folder(
    filled: Registry, registry_settings: Settings, tmp_path: Path, evil: str
) -> None:
    archive = tmp_path / "kyphos-backup.zip"
    backup(registry_settings, archive)
    hostile = _rewrite(archive, tmp_path / "hostile.zip", add={evil: b"owned"})

    with pytest.raises(KyphosError) as refused:
        restore(registry_settings, hostile, force=True)

    assert f"member {evil!r} points outside its folder" in str(refused.value)
    assert not (registry_settings.home.parent / "escaped.txt").exists()
    assert not Path("/tmp/kyphos-absolute.txt").exists()


def test_restore_refuses_a_file_that_is_not_a_kyphos_backup(
    registry_settings: Settings, tmp_path: Path
) -> None:
    not_zip = tmp_path / "notes.zip"
    not_zip.write_text("hello", encoding="utf-8")
    no_manifest = tmp_path / "plain.zip"
    with zipfile.ZipFile(no_manifest, "w") as opened:
        opened.writestr("readme.txt", "hello")

    with pytest.raises(KyphosError, match="not a readable ZIP archive"):
        restore(registry_settings, not_zip)
    with pytest.raises(KyphosError, match=r"no manifest\.json"):
        restore(registry_settings, no_manifest)
    with pytest.raises(KyphosError, match="no such file"):
        restore(registry_settings, tmp_path / "missing.zip")
