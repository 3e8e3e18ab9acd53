"""The registry commands end to end: the real ``kyphos`` command in a subprocess, as a user
would run it, on SQLite and on PostgreSQL.

Each test checks what the user sees (stdout, stderr, exit code) and what the registry
holds afterwards (raw SQL or :class:`Registry`). The contract is DESIGN.md "Interfaces":
exit 0 on success; exit 2 on bad input with one ``error: …`` line per problem on stderr
and never a traceback; ``audit verify`` exits 1 when the chain is broken.

Expected values come from outside kyphos: the reference study's cohort (41 patients,
10 men, 65 treated vertebrae; Zhang et al., Zhongguo Gu Shang 2011;24:570–3) and the
protocol windows of CLINICAL.md §10, worked out by hand where a test needs them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from kyphos.config import Settings
from kyphos.exchange.importer import import_workbook
from kyphos.registry.repository import Registry

ADMIN_PASSWORD = "alice-has-a-long-password"
BOB_PASSWORD = "bob-has-a-long-password"

PATIENT_NAME = "Wang Xiuying"
HOSPITAL_NUMBER = "H0012345"
PHONE = "13800138000"

Result = subprocess.CompletedProcess[str]
KyphosCli = Callable[..., Result]


# --- helpers ---------------------------------------------------------------------------------


def _succeeded(result: Result) -> str:
    """The stdout of a command that must have exited 0."""
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def _refused(result: Result, *fragments: str) -> list[str]:
    """The stderr lines of a user error: exit 2, ``error: …`` lines, no traceback."""
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines, "a refusal says why on stderr"
    assert all(line.startswith("error: ") for line in lines), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in {result.stderr!r}"
    return lines


def _scalar(settings: Settings, sql: str, **params: Any) -> Any:
    """One value read with raw SQL from the registry's own database."""
    with Registry.open(settings).engine.connect() as connection:
        return connection.execute(text(sql), params).scalar_one()


def _has_schema(settings: Settings) -> bool:
    """Whether any kyphos schema was written (without creating a SQLite file to look)."""
    if settings.is_sqlite:
        return (settings.home / "kyphos.db").exists()
    engine = create_engine(settings.url, poolclass=NullPool)
    try:
        return inspect(engine).has_table("alembic_version")
    finally:
        engine.dispose()


def _write_csv_workbook(folder: Path, *, identity: bool = True) -> Path:
    """A two-patient CSV workbook as a site would type it (DATA.md §1)."""
    folder.mkdir()
    (folder / "patients.csv").write_text(
        "patient_id,sex,age\nKT-001,F,72\nKT-002,M,80\n", encoding="utf-8"
    )
    if identity:
        (folder / "identity.csv").write_text(
            "patient_id,full_name,hospital_number,phone\n"
            f"KT-001,{PATIENT_NAME},{HOSPITAL_NUMBER},{PHONE}\n",
            encoding="utf-8",
        )
    return folder


def _users(stdout: str) -> dict[str, list[str]]:
    """``user list`` output: user name → [role, sites, state]."""
    rows = [line.split("\t") for line in stdout.splitlines() if line]
    assert all(len(row) == 4 for row in rows), stdout
    return {row[0]: row[1:] for row in rows}


def _timepoints(stdout: str) -> dict[str, list[str]]:
    """``protocol show`` output: key → [label, target, window]."""
    rows = [line.split("\t") for line in stdout.splitlines() if line]
    assert all(len(row) == 4 for row in rows), stdout
    return {row[0]: row[1:] for row in rows}


# --- init ------------------------------------------------------------------------------------


def test_init_creates_the_registry_with_an_admin_and_a_second_run_changes_nothing(
    kyphos_cli: KyphosCli, registry_settings: Settings
) -> None:
    out = _succeeded(
        kyphos_cli("init", "--admin", "alice", "--password-stdin", input=ADMIN_PASSWORD + "\n")
    )
    assert out.startswith("created: registry at ")
    assert "admin user 'alice' created" in out
    assert (registry_settings.home / "secret.key").stat().st_mode & 0o777 == 0o600

    registry = Registry.open(registry_settings)
    alice = registry.check_password("alice", ADMIN_PASSWORD)
    assert alice is not None and alice.role == "admin" and alice.active
    assert registry.check_password("alice", "not-alices-password") is None
    counts = registry.counts()

    again = _succeeded(
        kyphos_cli("init", "--admin", "alice", "--password-stdin", input="another-long-password\n")
    )
    assert again.startswith("up to date: registry at ")
    assert "created" not in again and "secret" not in again
    assert registry.counts() == counts, "a second init writes nothing, not even an audit event"
    assert registry.check_password("alice", ADMIN_PASSWORD) is not None, "password kept"
    assert registry.check_password("alice", "another-long-password") is None


def test_init_with_an_admin_but_no_terminal_and_no_password_stdin_is_refused(
    kyphos_cli: KyphosCli, registry_settings: Settings
) -> None:
    # input="" gives the command a pipe, not a terminal, as in a script or CI job.
    lines = _refused(kyphos_cli("init", "--admin", "x", input=""), "--password-stdin")
    assert len(lines) == 1
    assert not _has_schema(registry_settings), "nothing is created when the password is missing"


def test_init_refuses_a_placeholder_secret_key(
    kyphos_cli: KyphosCli, registry_settings: Settings
) -> None:
    result = kyphos_cli("init", env={"KYPHOS_SECRET_KEY": "changeme"})
    lines = _refused(result, "KYPHOS_SECRET_KEY", "placeholder")
    assert len(lines) == 1
    assert not _has_schema(registry_settings)


def test_commands_before_init_say_to_run_init(kyphos_cli: KyphosCli, tmp_path: Path) -> None:
    workbook = _write_csv_workbook(tmp_path / "site-data")
    for args in (("audit", "verify"), ("import", workbook), ("user", "list")):
        lines = _refused(kyphos_cli(*args), "run `kyphos init`")
        assert len(lines) == 1, (args, lines)


# --- users and sites -------------------------------------------------------------------------


def test_user_add_list_and_disable(kyphos_cli: KyphosCli, registry: Registry) -> None:
    added = kyphos_cli(
        "user",
        "add",
        "bob",
        "--role",
        "investigator",
        "--site",
        "MAIN",
        "--password-stdin",
        input=BOB_PASSWORD + "\n",
    )
    assert "bob" in _succeeded(added)
    assert registry.check_password("bob", BOB_PASSWORD) is not None

    users = _users(_succeeded(kyphos_cli("user", "list")))
    assert users["bob"] == ["investigator", "MAIN", "active"]
    assert users["admin"] == ["admin", "-", "active"]

    _succeeded(kyphos_cli("user", "disable", "bob"))
    users = _users(_succeeded(kyphos_cli("user", "list")))
    assert users["bob"] == ["investigator", "MAIN", "disabled"]
    assert registry.check_password("bob", BOB_PASSWORD) is None, "a disabled user cannot sign in"


def test_user_add_refuses_bad_input_with_one_clear_line_each(
    kyphos_cli: KyphosCli, registry: Registry
) -> None:
    cases = [
        (("carol", "--role", "boss"), "carol-long-password", "role 'boss'"),
        (("carol", "--role", "observer"), "short", "at least 10 characters"),
        (("carol", "--role", "observer", "--site", "NOPE"), "carol-long-password", "'NOPE'"),
        (("admin", "--role", "observer"), "carol-long-password", "user 'admin' exists already"),
    ]
    users_before = registry.counts()["user_account"]
    for args, password, fragment in cases:
        result = kyphos_cli("user", "add", *args, "--password-stdin", input=password + "\n")
        lines = _refused(result, fragment)
        assert len(lines) == 1, (args, lines)
    assert registry.counts()["user_account"] == users_before
    assert registry.check_password("carol", "carol-long-password") is None


def test_user_add_with_a_site_named_twice_or_a_long_display_name_gives_no_database_error(
    kyphos_cli: KyphosCli, registry: Registry
) -> None:
    twice = kyphos_cli(
        "user",
        "add",
        "dave",
        "--role",
        "observer",
        "--site",
        "MAIN",
        "--site",
        "MAIN",
        "--password-stdin",
        input="dave-long-password\n",
    )
    _succeeded(twice)
    (dave,) = [user for user in registry.list_users() if user.username == "dave"]
    assert [site.code for site in dave.sites] == ["MAIN"], "one membership, not two"

    long_name = kyphos_cli(
        "user",
        "add",
        "erin",
        "--role",
        "observer",
        "--display-name",
        "E" * 201,
        "--password-stdin",
        input="erin-long-password\n",
    )
    assert len(_refused(long_name, "display name", "200")) == 1
    assert "erin" not in [user.username for user in registry.list_users()]


def test_site_add_and_list_and_a_duplicate_or_overlong_site_is_refused(
    kyphos_cli: KyphosCli, registry: Registry
) -> None:
    assert "BJ01" in _succeeded(kyphos_cli("site", "add", "BJ01", "--name", "Beijing"))
    listed = _succeeded(kyphos_cli("site", "list")).splitlines()
    assert "BJ01\tBeijing" in listed
    assert any(line.startswith("MAIN\t") for line in listed), "init made the default site"

    assert len(_refused(kyphos_cli("site", "add", "BJ01", "--name", "Other"), "'BJ01'")) == 1
    assert len(_refused(kyphos_cli("site", "add", "SH01", "--name", "S" * 201), "200")) == 1
    assert [site.code for site in registry.list_sites()] == ["BJ01", "MAIN"]
    assert registry.list_sites()[0].name == "Beijing"


# --- protocol --------------------------------------------------------------------------------


def test_protocol_show_lists_the_default_time_points_in_english_and_chinese(
    kyphos_cli: KyphosCli, registry: Registry
) -> None:
    english = _timepoints(_succeeded(kyphos_cli("protocol", "show")))
    assert list(english) == ["preop", "postop", "final"]
    # CLINICAL.md §10: preop day −30 to 0 (target 0), postop day 1–14 (target 7),
    # final from day 180, overdue from day 365.
    assert english["preop"][1:] == ["target 0", "day -30 to 0"]
    assert english["postop"][1:] == ["target 7", "day 1 to 14"]
    assert english["final"][1] == "target -"
    assert "180" in english["final"][2] and "365" in english["final"][2]

    chinese = _timepoints(_succeeded(kyphos_cli("protocol", "show", "--lang", "zh")))
    assert chinese["preop"][0] == "术前"
    assert chinese["postop"][0] == "术后1周"
    assert chinese["final"][0].startswith("末次随访")


def test_protocol_set_adds_month_3_and_month_12(
    kyphos_cli: KyphosCli, registry: Registry, tmp_path: Path
) -> None:
    file = tmp_path / "protocol.yaml"
    file.write_text("timepoints: [preop, postop, m3, m12, final]\n", encoding="utf-8")
    _succeeded(kyphos_cli("protocol", "set", file))

    shown = _timepoints(_succeeded(kyphos_cli("protocol", "show")))
    assert list(shown) == ["preop", "postop", "m3", "m12", "final"]
    # By hand: m3 = 3 × 30.4375 = 91.3 → day 91, half window max(7, 0.15 × 91 = 13.65 → 14);
    # m12 = 365.25 → day 365, half window 0.15 × 365 = 54.75 → 55.
    assert shown["m3"][1:] == ["target 91", "day 77 to 105"]
    assert shown["m12"][1:] == ["target 365", "day 310 to 420"]
    stored = Registry.open(registry.settings).protocol()
    assert [point.key for point in stored.timepoints] == list(shown)


def test_protocol_set_refuses_an_invalid_file_with_located_messages(
    kyphos_cli: KyphosCli, registry: Registry, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "timepoints:\n  - preop\n  - m0\n  - {key: m6, window: [200, 150]}\n  - final\n",
        encoding="utf-8",
    )
    lines = _refused(kyphos_cli("protocol", "set", bad))
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"error: {bad}:timepoints[1].key: ") and "m0" in lines[0]
    assert lines[1].startswith(f"error: {bad}:timepoints[2].window: ")

    broken = tmp_path / "broken.yaml"
    broken.write_text("timepoints: [preop, final\n", encoding="utf-8")
    (line,) = _refused(kyphos_cli("protocol", "set", broken), "not valid YAML", "line ")
    assert line.startswith(f"error: {broken}: ")

    missing = tmp_path / "missing.yaml"
    (line,) = _refused(kyphos_cli("protocol", "set", missing), "no such")
    assert line.startswith(f"error: {missing}: ")

    keys = [point.key for point in Registry.open(registry.settings).protocol().timepoints]
    assert keys == ["preop", "postop", "final"], "a refused file leaves the protocol as it was"


# --- demo ------------------------------------------------------------------------------------


def test_demo_loads_the_reference_cohort_once_and_marks_the_registry(
    kyphos_cli: KyphosCli, registry: Registry, registry_settings: Settings
) -> None:
    first = _succeeded(kyphos_cli("demo"))
    assert "patients: 41 rows — 41 created" in first
    assert _scalar(registry_settings, "SELECT count(*) FROM patient") == 41
    assert _scalar(registry_settings, "SELECT count(*) FROM patient WHERE sex = 'M'") == 10
    treated = "SELECT count(*) FROM vertebra WHERE treated = :yes"
    assert _scalar(registry_settings, treated, yes=True) == 65
    assert bool(_scalar(registry_settings, "SELECT demo FROM registry_info WHERE id = 1"))
    counts = registry.counts()

    second = _succeeded(kyphos_cli("demo"))
    assert "patients: 41 rows — 0 created, 0 updated, 41 unchanged" in second
    for line in second.splitlines():
        assert " 0 created, 0 updated," in line, line
    after = registry.counts()
    assert {k: v for k, v in after.items() if k != "audit_event"} == {
        k: v for k, v in counts.items() if k != "audit_event"
    }

    zero = kyphos_cli("demo", "--patients", "0")
    assert zero.returncode == 2
    assert "--patients" in zero.stderr and "Traceback" not in zero.stderr
    assert registry.counts() == after
    _succeeded(kyphos_cli("audit", "verify"))


def test_demo_refuses_a_registry_that_holds_real_patients(
    kyphos_cli: KyphosCli, registry: Registry, registry_settings: Settings, tmp_path: Path
) -> None:
    workbook = _write_csv_workbook(tmp_path / "site-data", identity=False)
    assert "imported" in _succeeded(kyphos_cli("import", workbook))
    counts = registry.counts()

    lines = _refused(kyphos_cli("demo"), "holds 2 real patients")
    assert len(lines) == 1
    assert registry.counts() == counts, "nothing added, not even an audit event"
    assert not bool(_scalar(registry_settings, "SELECT demo FROM registry_info WHERE id = 1"))


# --- identity and audit ----------------------------------------------------------------------


def test_erase_identity_removes_the_identity_row_and_keeps_the_audit_chain(
    kyphos_cli: KyphosCli, registry: Registry, registry_settings: Settings, tmp_path: Path
) -> None:
    workbook = _write_csv_workbook(tmp_path / "site-data")
    _succeeded(kyphos_cli("import", workbook))
    identities = (
        "SELECT count(*) FROM patient_identity i JOIN patient p ON p.id = i.patient_id "
        "WHERE p.study_code = :code"
    )
    assert _scalar(registry_settings, identities, code="KT-001") == 1

    out = _succeeded(kyphos_cli("patient", "erase-identity", "KT-001", "--reason", "request"))
    assert "erased" in out
    assert _scalar(registry_settings, identities, code="KT-001") == 0
    assert _scalar(registry_settings, "SELECT count(*) FROM patient") == 2, "patient kept"
    for secret in (PATIENT_NAME, HOSPITAL_NUMBER, PHONE):
        leaked = (
            "SELECT count(*) FROM audit_event "
            "WHERE coalesce(before, '') LIKE :s OR coalesce(after, '') LIKE :s"
        )
        assert _scalar(registry_settings, leaked, s=f"%{secret}%") == 0, secret
    assert "intact" in _succeeded(kyphos_cli("audit", "verify"))

    lines = _refused(kyphos_cli("patient", "erase-identity", "NOPE"), "'NOPE'", "does not exist")
    assert len(lines) == 1


def test_audit_verify_passes_a_fresh_registry_and_names_the_edited_event(
    kyphos_cli: KyphosCli, registry: Registry, registry_settings: Settings
) -> None:
    events = _scalar(registry_settings, "SELECT count(*) FROM audit_event")
    assert events >= 3, "init, the default site and the admin user are audited"
    out = _succeeded(kyphos_cli("audit", "verify"))
    assert f"{events} events" in out

    edited = _scalar(registry_settings, "SELECT min(id) FROM audit_event WHERE entity = 'site'")
    with registry.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_event SET after = :after WHERE id = :id"),
            {"after": '{"code": "MAIN", "name": "Forged site"}', "id": edited},
        )
    broken = kyphos_cli("audit", "verify")
    assert broken.returncode == 1, broken
    assert "Traceback" not in broken.stderr
    assert f"event {edited}" in broken.stderr
    assert broken.stdout == ""


# --- backup and restore ----------------------------------------------------------------------


def test_backup_then_restore_into_a_fresh_home_brings_everything_back(
    kyphos_cli: KyphosCli,
    registry: Registry,
    registry_settings: Settings,
    admin_password: str,
    tmp_path: Path,
) -> None:
    import_workbook(registry, _write_csv_workbook(tmp_path / "site-data"))
    events = _scalar(registry_settings, "SELECT count(*) FROM audit_event")
    archive = tmp_path / "registry.backup"
    _succeeded(kyphos_cli("backup", archive))
    assert archive.is_file()

    written = archive.read_bytes()
    lines = _refused(kyphos_cli("backup", archive), "exists already")
    assert len(lines) == 1
    assert archive.read_bytes() == written, "a backup never overwrites"

    # Restore into a new SQLite home (an empty KYPHOS_DATABASE_URL means the SQLite file).
    fresh = tmp_path / "fresh-home"
    elsewhere = {"KYPHOS_HOME": str(fresh), "KYPHOS_DATABASE_URL": ""}
    _succeeded(kyphos_cli("restore", archive, env=elsewhere))
    assert f"{events} events" in _succeeded(kyphos_cli("audit", "verify", env=elsewhere))
    restored = Registry.open(Settings(home=fresh, database_url=None, secret_key=None, lang="en"))
    assert restored.counts()["patient"] == 2
    assert restored.counts()["patient_identity"] == 1
    assert restored.check_password("admin", admin_password) is not None

    lines = _refused(kyphos_cli("restore", archive), "--force")
    assert len(lines) == 1
    assert registry.counts()["audit_event"] == events, "the refused restore changed nothing"


# --- option checks ---------------------------------------------------------------------------


def test_export_and_import_refuse_impossible_requests(
    kyphos_cli: KyphosCli, registry: Registry, tmp_path: Path
) -> None:
    pdf = kyphos_cli("export", tmp_path / "out.pdf", "--format", "pdf")
    assert len(_refused(pdf, "'pdf'")) == 1
    both = kyphos_cli("export", tmp_path / "out", "--deidentify", "--with-identity")
    assert len(_refused(both, "--deidentify", "--with-identity")) == 1
    missing = kyphos_cli("import", tmp_path / "nowhere")
    assert len(_refused(missing, "no such file or folder")) == 1
    assert not (tmp_path / "out.pdf").exists() and not (tmp_path / "out").exists()


def test_an_unknown_language_is_refused_in_one_line(
    kyphos_cli: KyphosCli, registry: Registry
) -> None:
    assert len(_refused(kyphos_cli("tour", env={"KYPHOS_LANG": "fr"}), "'fr'")) == 1
    assert len(_refused(kyphos_cli("protocol", "show", "--lang", "fr"), "'fr'")) == 1


def test_an_unknown_kyphos_lang_is_one_line_for_registry_commands_too(
    kyphos_cli: KyphosCli, registry: Registry
) -> None:
    assert len(_refused(kyphos_cli("user", "list", env={"KYPHOS_LANG": "fr"}), "fr")) == 1
