"""Importing the canonical workbook (DATA.md §1): typed values, dry runs, idempotent upserts,
the audit trail, encodings and formula-like text.

Every expected value below is read off the fixture in ``exchange_workbooks.py`` by hand,
following DATA.md's rules (defaults, aliases, normalised lists and levels).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from exchange_workbooks import (
    EMBOLISM_NOTE,
    FORMULA,
    HOSPITAL_NUMBER,
    NAME,
    PHONE,
    VALID_COUNTS,
    add_row,
    audit_count,
    audit_events,
    cli_in_process,
    last_audit_id,
    rows,
    second_registry,
    set_cell,
    stored_values,
    table_counts,
    valid_sheets,
    write_csv_folder,
    write_xlsx,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from kyphos.exchange.importer import ImportFailed, import_workbook
from kyphos.registry.models import (
    AdverseEvent,
    Measurement,
    Patient,
    PatientIdentity,
    Procedure,
    Site,
    TreatedLevel,
    Vertebra,
    Visit,
)
from kyphos.registry.repository import Registry

D = dt.date
EMPTY_COUNTS = dict.fromkeys(VALID_COUNTS, 0)


@pytest.fixture
def valid_folder(tmp_path: Path) -> Path:
    return write_csv_folder(tmp_path / "registry-csv", valid_sheets())


# --- a valid workbook ---------------------------------------------------------------------------


def test_a_valid_workbook_fills_every_table_with_the_rows_of_its_sheets(
    registry: Registry, valid_folder: Path
) -> None:
    report = import_workbook(registry, valid_folder)

    assert table_counts(registry) == VALID_COUNTS
    created = {name: counts.created for name, counts in report.counts.items()}
    assert created == {
        "patients": 3,
        "identity": 2,
        "vertebrae": 6,
        "procedures": 5,
        "visits": 8,
        "measurements": 6,
        "adverse_events": 2,
    }
    assert all(c.updated == 0 and c.unchanged == 0 for c in report.counts.values())


def test_a_valid_workbook_stores_patients_with_defaults_aliases_and_sorted_lists(
    registry: Registry, valid_folder: Path
) -> None:
    import_workbook(registry, valid_folder)

    with Session(registry.engine) as session:
        stored = {
            p.study_code: (
                site,
                p.sex,
                p.age,
                p.birth_date,
                p.height_cm,
                p.weight_kg,
                p.bmd_t_score,
                p.comorbidities,
                p.injury_mechanism,
                p.injury_date,
                p.symptom_onset_date,
            )
            for p, site in session.execute(
                select(Patient, Site.code).join(Site, Site.id == Patient.site_id)
            )
        }
    assert stored == {
        # empty site → MAIN; "diabetes; hypertension" → sorted, no spaces
        "KT-001": (
            "MAIN",
            "F",
            72,
            None,
            158.0,
            55.5,
            -3.2,
            "diabetes;hypertension",
            "fall_walking",
            D(2010, 5, 20),
            D(2010, 5, 22),
        ),
        # 男 → M; "none" alone → recorded as no comorbidity (empty set), not "not recorded"
        "KT-002": ("MAIN", "M", 95, None, 170.0, 68.0, -2.5, "", "lifting", None, None),
        # 女 → F; age may be empty when birth_date is given; empty list → not recorded
        "KT-003": ("MAIN", "F", None, D(1940, 6, 15), None, None, None, None, None, None, None),
    }


def test_a_valid_workbook_stores_levels_in_canonical_spelling_and_yes_no_as_booleans(
    registry: Registry, valid_folder: Path
) -> None:
    import_workbook(registry, valid_folder)

    with Session(registry.engine) as session:
        stored = {
            (code, v.level): (
                v.mri_t1,
                v.mri_t2,
                v.mri_stir,
                v.posterior_wall_intact,
                v.morphology,
                v.treated,
            )
            for v, code in session.execute(
                select(Vertebra, Patient.study_code).join(
                    Patient, Patient.id == Vertebra.patient_id
                )
            )
        }
    assert stored == {
        ("KT-001", "T12"): ("low", "high", "high", True, "wedge", True),  # "T 12", "yes"
        ("KT-001", "L1"): ("iso", "high", "high", True, "biconcave", True),  # "l1", "是", "1"
        ("KT-001", "T10"): (None, None, None, None, "crush", False),
        ("KT-002", "T12"): ("low", "high", "high", True, "wedge", True),  # "t12", "y", "true"
        ("KT-002", "L2"): (None, None, None, False, "crush", True),  # "n"
        ("KT-003", "L1"): (None, None, None, None, None, True),  # "Y"
    }


def test_a_valid_workbook_stores_procedures_with_default_technique_and_normalised_leakage(
    registry: Registry, valid_folder: Path
) -> None:
    import_workbook(registry, valid_folder)

    with Session(registry.engine) as session:
        stored = {
            (code, level): (
                proc.procedure_date,
                treated.technique,
                treated.approach,
                proc.anaesthesia,
                treated.cement_volume_ml,
                treated.leakage,
                treated.leakage_symptomatic,
                treated.duration_min,
                proc.operator,
            )
            for treated, proc, level, code in session.execute(
                select(TreatedLevel, Procedure, Vertebra.level, Patient.study_code)
                .join(Procedure, Procedure.id == TreatedLevel.procedure_id)
                .join(Vertebra, Vertebra.id == TreatedLevel.vertebra_id)
                .join(Patient, Patient.id == Vertebra.patient_id)
            )
        }
    assert stored == {
        # technique empty → kyphoplasty; "intradiscal;anterior" → sorted
        ("KT-001", "T12"): (
            D(2010, 6, 1),
            "kyphoplasty",
            "bipedicular",
            "local",
            4.5,
            "anterior;intradiscal",
            False,
            35.0,
            "Dr Li",
        ),
        # "none" → no leakage
        ("KT-001", "L1"): (
            D(2010, 6, 1),
            "vertebroplasty",
            "unipedicular",
            "local",
            3.0,
            "",
            None,
            40.0,
            "Dr Li",
        ),
        # empty leakage → no leakage
        ("KT-002", "T12"): (
            D(2011, 3, 10),
            "kyphoplasty",
            "bipedicular",
            "general",
            5.0,
            "",
            None,
            50.0,
            "Dr Wu",
        ),
        # "venous; epidural" → sorted, spaces dropped
        ("KT-002", "L2"): (
            D(2011, 1, 15),
            "kyphoplasty",
            None,
            "local",
            2.5,
            "epidural;venous",
            True,
            30.0,
            None,
        ),
        # "NONE" → no leakage
        ("KT-003", "L1"): (
            D(2012, 9, 9),
            "kyphoplasty",
            "unipedicular",
            "general",
            6.0,
            "",
            None,
            45.5,
            None,
        ),
    }
    # Two levels on one date are one procedure: 4 procedures for 5 treated levels.
    assert rows(registry, "SELECT count(*) AS n FROM procedure")[0]["n"] == 4


def test_a_valid_workbook_stores_visits_with_the_default_odi_version(
    registry: Registry, valid_folder: Path
) -> None:
    import_workbook(registry, valid_folder)

    with Session(registry.engine) as session:
        stored = {
            (code, v.timepoint): (
                v.visit_date,
                v.vas,
                [getattr(v, f"odi_{n}") for n in range(1, 11)],
                v.odi_version,
                v.odi_language,
            )
            for v, code in session.execute(
                select(Visit, Patient.study_code).join(Patient, Patient.id == Visit.patient_id)
            )
        }
    none10 = [None] * 10
    assert stored == {
        ("KT-001", "preop"): (D(2010, 5, 31), 8.5, [4, 3, 4, 3, 3, 4, 3, None, 3, 4], "2.1a", "zh"),
        ("KT-001", "postop"): (D(2010, 6, 2), 3.0, [2, 1, 2, 2, 1, 2, 1, None, 1, 2], "2.1a", "zh"),
        ("KT-001", "m3"): (D(2010, 9, 1), 2.1, [1, 0, 1, 1, 1, 1, 0, None, 0, 1], "2.1a", "en"),
        ("KT-002", "preop"): (None, 7.0, none10, "2.1a", None),
        ("KT-002", "postop"): (D(2011, 1, 16), 4.0, [2] * 10, "2.1a", None),
        ("KT-002", "m12"): (D(2012, 1, 20), 1.5, [0] * 10, "2.1a", None),
        ("KT-003", "preop"): (D(2012, 9, 8), 9.0, [5, 4, 5, 4, 4, 5, 4, None, 5, 5], "2.1a", None),
        # w2 is not in the default protocol: kept as it is (an unscheduled visit)
        ("KT-003", "w2"): (D(2012, 9, 23), 2.0, [1, 1, 1, 1, 1, 1, 1, None, 1, 1], "2.1a", None),
    }


def test_a_valid_workbook_stores_measurements_with_role_primary_by_default(
    registry: Registry, valid_folder: Path
) -> None:
    import_workbook(registry, valid_folder)

    with Session(registry.engine) as session:
        stored = {
            (code, level, timepoint, m.observer, m.role): (
                m.anterior_height_mm,
                m.middle_height_mm,
                m.posterior_height_mm,
                m.wedge_angle_deg,
                m.kyphotic_angle_deg,
            )
            for m, level, timepoint, code in session.execute(
                select(Measurement, Vertebra.level, Visit.timepoint, Patient.study_code)
                .join(Vertebra, Vertebra.id == Measurement.vertebra_id)
                .join(Visit, Visit.id == Measurement.visit_id)
                .join(Patient, Patient.id == Vertebra.patient_id)
            )
        }
    assert stored == {
        ("KT-001", "T12", "preop", "ZL", "primary"): (18.5, 16.0, 27.0, 17.5, 21.0),
        ("KT-001", "T12", "preop", "WX", "primary"): (19.0, 16.5, 27.5, 16.0, 20.5),
        ("KT-001", "T12", "preop", "HY", "adjudicator"): (18.8, 16.2, 27.2, 16.8, 20.8),
        ("KT-001", "T12", "postop", "ZL", "primary"): (22.0, 21.0, 27.5, 9.5, 12.0),
        ("KT-001", "L1", "postop", "ZL", "primary"): (24.0, 23.5, 28.0, 4.0, -4.5),
        ("KT-002", "T12", "postop", "WX", "primary"): (20.0, 19.0, 26.0, -2.0, 3.0),
    }


def test_a_valid_workbook_stores_adverse_events_and_identity_as_typed(
    registry: Registry, valid_folder: Path
) -> None:
    import_workbook(registry, valid_folder)

    with Session(registry.engine) as session:
        events = {
            (code, e.event_date, e.type, e.level): (e.serious, e.related, e.description)
            for e, code in session.execute(
                select(AdverseEvent, Patient.study_code).join(
                    Patient, Patient.id == AdverseEvent.patient_id
                )
            )
        }
        identities = {
            code: (i.full_name, i.hospital_number, i.phone)
            for i, code in session.execute(
                select(PatientIdentity, Patient.study_code).join(
                    Patient, Patient.id == PatientIdentity.patient_id
                )
            )
        }
    assert events == {
        # T11 is a new fracture: it need not be in the vertebrae sheet
        ("KT-001", D(2010, 9, 15), "adjacent_fracture", "T11"): (True, "yes", FORMULA),
        ("KT-002", D(2011, 2, 1), "cement_embolism", ""): (False, "unknown", EMBOLISM_NOTE),
    }
    assert identities == {
        "KT-001": (NAME, HOSPITAL_NUMBER, PHONE),
        "KT-002": (FORMULA, "H0067890", None),
    }


def test_an_xlsx_workbook_stores_the_same_values_as_the_same_csv_folder(
    registry: Registry, tmp_path: Path
) -> None:
    """The .xlsx file holds numbers as numbers, dates as dates and 1 as a number."""
    import_workbook(registry, write_xlsx(tmp_path / "registry.xlsx", valid_sheets()))
    from_csv = second_registry(tmp_path / "csv-home")
    import_workbook(from_csv, write_csv_folder(tmp_path / "registry-csv", valid_sheets()))

    assert table_counts(registry) == VALID_COUNTS
    assert stored_values(registry) == stored_values(from_csv)


def test_a_workbook_with_only_a_patients_sheet_imports(registry: Registry, tmp_path: Path) -> None:
    sheets = {"patients": valid_sheets()["patients"]}

    import_workbook(registry, write_csv_folder(tmp_path / "only-patients", sheets))

    assert table_counts(registry) == {**EMPTY_COUNTS, "patient": 3}


def test_a_csv_with_a_byte_order_mark_and_windows_line_ends_imports(
    registry: Registry, tmp_path: Path
) -> None:
    folder = write_csv_folder(tmp_path / "bom", {"patients": valid_sheets()["patients"]})
    patients = folder / "patients.csv"
    # Excel's "CSV UTF-8": a byte-order mark and Windows line ends.
    patients.write_bytes(b"\xef\xbb\xbf" + patients.read_bytes().replace(b"\n", b"\r\n"))

    import_workbook(registry, folder)

    assert table_counts(registry)["patient"] == 3


# --- dry run ------------------------------------------------------------------------------------


def test_a_dry_run_writes_nothing_and_a_real_import_then_writes(
    registry: Registry, valid_folder: Path, kyphos_cli
) -> None:
    events_before = audit_count(registry)

    dry = kyphos_cli("import", valid_folder, "--dry-run")

    assert dry.returncode == 0, dry.stderr
    assert "Traceback" not in dry.stderr
    assert "patients: 3 rows — 3 would be created, 0 would be updated, 0 unchanged" in dry.stdout
    assert "dry run: nothing was written" in dry.stdout
    assert table_counts(registry) == EMPTY_COUNTS
    assert audit_count(registry) == events_before

    real = kyphos_cli("import", valid_folder)

    assert real.returncode == 0, real.stderr
    assert "patients: 3 rows — 3 created, 0 updated, 0 unchanged" in real.stdout
    assert table_counts(registry) == VALID_COUNTS
    assert audit_count(registry) > events_before


def test_a_dry_run_of_an_xlsx_file_writes_nothing_in_process(
    registry: Registry, tmp_path: Path
) -> None:
    workbook = write_xlsx(tmp_path / "registry.xlsx", valid_sheets())
    events_before = audit_count(registry)

    report = import_workbook(registry, workbook, dry_run=True)

    assert report.counts["visits"].created == 8
    assert table_counts(registry) == EMPTY_COUNTS
    assert audit_count(registry) == events_before
    # The registry is still writable afterwards (no lock or temporary table left behind),
    # and importing the .xlsx file a second time changes nothing.
    import_workbook(registry, workbook)
    assert table_counts(registry) == VALID_COUNTS
    again = import_workbook(registry, workbook)
    assert all(c.created == 0 and c.updated == 0 for c in again.counts.values())


# --- idempotent re-import, audited updates ------------------------------------------------------


def test_importing_the_same_file_twice_creates_and_updates_nothing_the_second_time(
    registry: Registry, valid_folder: Path
) -> None:
    import_workbook(registry, valid_folder)
    last_event = last_audit_id(registry)

    again = import_workbook(registry, valid_folder)

    assert {name: (c.created, c.updated) for name, c in again.counts.items()} == {
        name: (0, 0) for name in again.counts
    }
    assert {name: c.unchanged for name, c in again.counts.items()} == {
        "patients": 3,
        "identity": 2,
        "vertebrae": 6,
        "procedures": 5,
        "visits": 8,
        "measurements": 6,
        "adverse_events": 2,
    }
    assert table_counts(registry) == VALID_COUNTS
    assert [e["action"] for e in audit_events(registry, last_event)] == ["import_summary"]


def test_changing_one_vas_updates_exactly_that_visit_and_audits_its_before_and_after(
    registry: Registry, tmp_path: Path
) -> None:
    sheets = valid_sheets()
    import_workbook(registry, write_csv_folder(tmp_path / "first", sheets))
    last_event = last_audit_id(registry)
    set_cell(sheets, "visits", 2, "vas", "6")  # KT-001 preop: 8.5 → 6

    report = import_workbook(registry, write_csv_folder(tmp_path / "second", sheets))

    visits = report.counts["visits"]
    assert (visits.created, visits.updated, visits.unchanged) == (0, 1, 7)
    assert all(c.updated == 0 for name, c in report.counts.items() if name != "visits")
    assert table_counts(registry) == VALID_COUNTS
    stored = rows(
        registry,
        "SELECT p.study_code, v.timepoint, v.vas, v.version FROM visit v "
        "JOIN patient p ON p.id = v.patient_id",
    )
    versions = {(r["study_code"], r["timepoint"]): r["version"] for r in stored}
    assert versions.pop(("KT-001", "preop")) == 2
    assert set(versions.values()) == {1}
    assert [
        r["vas"] for r in stored if (r["study_code"], r["timepoint"]) == ("KT-001", "preop")
    ] == [6.0]

    imports = [e for e in audit_events(registry, last_event) if e["action"] == "import"]
    assert len(imports) == 1
    assert imports[0]["entity"] == "visits"
    change = imports[0]["after_json"]
    assert change["created"] == []
    [updated] = change["updated"]
    assert "KT-001" in updated["key"] and "preop" in updated["key"]
    assert updated["before"] == {"vas": 8.5}
    assert updated["after"] == {"vas": 6.0}


def test_moving_a_level_to_another_date_leaves_no_empty_procedure_behind(
    registry: Registry, tmp_path: Path
) -> None:
    sheets = valid_sheets()
    import_workbook(registry, write_csv_folder(tmp_path / "first", sheets))
    set_cell(sheets, "procedures", 4, "procedure_date", "2011-04-01")  # KT-002 T12

    import_workbook(registry, write_csv_folder(tmp_path / "second", sheets))

    dates = rows(
        registry,
        "SELECT pr.procedure_date FROM procedure pr JOIN patient p ON p.id = pr.patient_id "
        "WHERE p.study_code = 'KT-002' ORDER BY pr.procedure_date",
    )
    assert [str(r["procedure_date"]) for r in dates] == ["2011-01-15", "2011-04-01"]
    assert table_counts(registry) == VALID_COUNTS


def test_identity_values_never_appear_in_clear_in_the_audit_trail(
    registry: Registry, tmp_path: Path
) -> None:
    sheets = valid_sheets()
    import_workbook(registry, write_csv_folder(tmp_path / "first", sheets))
    new_phone = "13900139000"
    set_cell(sheets, "identity", 2, "phone", new_phone)  # an update: before and after
    import_workbook(registry, write_csv_folder(tmp_path / "second", sheets))

    events = audit_events(registry)
    identity_events = [e for e in events if e["entity"] == "identity" and e["action"] == "import"]
    assert len(identity_events) == 2  # the test sees the identity rows' audit events
    for event in events:
        trail = " ".join(str(event[k]) for k in ("entity_key", "before", "after"))
        for secret in (NAME, HOSPITAL_NUMBER, PHONE, new_phone, "H0067890"):
            assert secret not in trail, (secret, event["action"], event["entity"])
    [created, updated] = identity_events
    assert {item["key"] for item in created["after_json"]["created"]} == {"KT-001", "KT-002"}
    assert all(item["full_name"] for item in created["after_json"]["created"])
    [change] = updated["after_json"]["updated"]
    assert set(change["before"]) == set(change["after"]) == {"phone"}
    assert change["before"]["phone"] != change["after"]["phone"]


# --- encodings ----------------------------------------------------------------------------------


def test_a_gbk_csv_is_read_as_gb18030_and_the_import_says_so(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "gbk"
    write_csv_folder(
        folder,
        {
            "patients": [["patient_id", "sex", "age"], ["KT-101", "男", "80"]],
            "vertebrae": [["patient_id", "level", "treated"], ["KT-101", "T12", "是"]],
            "procedures": [
                ["patient_id", "level", "procedure_date"],
                ["KT-101", "T12", "2015-03-02"],
            ],
        },
    )
    write_csv_folder(
        folder,
        {
            "identity": [["patient_id", "full_name"], ["KT-101", "张伟"]],
            "adverse_events": [
                ["patient_id", "event_date", "type", "level", "description"],
                ["KT-101", "2015-05-02", "adjacent_fracture", "T11", "骨折"],
            ],
        },
        encoding="gbk",
    )
    assert "骨折".encode("gbk") in (folder / "adverse_events.csv").read_bytes()

    result = cli_in_process(capsys, "import", folder)

    assert result.code == 0, result.err
    assert "identity.csv: not UTF-8; read as GB18030 (GBK) Chinese text" in result.out
    assert "adverse_events.csv: not UTF-8; read as GB18030 (GBK) Chinese text" in result.out
    assert "patients.csv: not UTF-8" not in result.out  # the UTF-8 files need no note
    [event] = rows(registry, "SELECT description FROM adverse_event")
    assert event["description"] == "骨折"
    [identity] = rows(registry, "SELECT full_name FROM patient_identity")
    assert identity["full_name"] == "张伟"
    [patient] = rows(registry, "SELECT sex FROM patient")
    assert patient["sex"] == "M"


# --- formula-like text --------------------------------------------------------------------------


def test_formula_like_text_is_stored_as_the_plain_text(registry: Registry, tmp_path: Path) -> None:
    sheets = valid_sheets()
    set_cell(sheets, "identity", 3, "phone", "+86 139 0000 1111")
    set_cell(sheets, "procedures", 2, "operator", "@Li")
    set_cell(sheets, "procedures", 3, "operator", "@Li")  # one procedure, one operator

    import_workbook(registry, write_csv_folder(tmp_path / "formulas", sheets))

    [identity] = rows(
        registry,
        "SELECT i.full_name, i.phone FROM patient_identity i JOIN patient p "
        "ON p.id = i.patient_id WHERE p.study_code = 'KT-002'",
    )
    assert identity == {"full_name": FORMULA, "phone": "+86 139 0000 1111"}
    descriptions = rows(registry, "SELECT description FROM adverse_event ORDER BY event_date")
    assert descriptions[0]["description"] == FORMULA
    operators = rows(registry, "SELECT operator FROM procedure ORDER BY procedure_date")
    assert operators[0]["operator"] == "@Li"


# --- procedures and adverse events --------------------------------------------------------------


def test_the_index_procedure_is_the_earliest_date_not_the_first_row(
    registry: Registry, tmp_path: Path
) -> None:
    """KT-002's later procedure (2011-03-10) is the first row; its index date is 2011-01-15."""
    sheets = valid_sheets()
    # Between the two procedure dates: fine only if the index is the earlier one.
    set_cell(sheets, "visits", 6, "visit_date", "2011-01-20")
    import_workbook(registry, write_csv_folder(tmp_path / "ok", sheets))
    assert table_counts(registry) == VALID_COUNTS

    set_cell(sheets, "visits", 6, "visit_date", "2011-01-14")
    with pytest.raises(ImportFailed) as failure:
        import_workbook(registry, write_csv_folder(tmp_path / "early", sheets))
    assert failure.value.problems == (
        "visits:6:visit_date: 2011-01-14 is before the index procedure (2011-01-15) of patient "
        "'KT-002' (postop visit)",
    )


def test_an_adverse_event_level_need_not_be_a_vertebra_of_the_vertebrae_sheet(
    registry: Registry, tmp_path: Path
) -> None:
    sheets = valid_sheets()
    add_row(
        sheets,
        "adverse_events",
        patient_id="KT-003",
        event_date="2013-01-05",
        type="remote_fracture",
        level="l4",
    )

    import_workbook(registry, write_csv_folder(tmp_path / "new-fracture", sheets))

    stored = rows(
        registry,
        "SELECT e.level FROM adverse_event e JOIN patient p ON p.id = e.patient_id "
        "WHERE p.study_code = 'KT-003'",
    )
    assert stored == [{"level": "L4"}]
    assert rows(registry, "SELECT count(*) AS n FROM vertebra WHERE level = 'L4'")[0]["n"] == 0


def test_an_adjudicator_reading_that_clashes_with_a_stored_one_is_reported_at_its_row(
    registry: Registry, tmp_path: Path
) -> None:
    sheets = valid_sheets()
    import_workbook(registry, write_csv_folder(tmp_path / "first", sheets))
    set_cell(sheets, "measurements", 4, "observer", "ZZ")  # HY's adjudicator row, now ZZ's

    with pytest.raises(ImportFailed) as failure:
        import_workbook(registry, write_csv_folder(tmp_path / "second", sheets))

    assert failure.value.problems == (
        "measurements:4:role: the registry already holds an adjudicator reading by 'HY' for "
        "this vertebra and time point",
    )
    assert table_counts(registry) == VALID_COUNTS
