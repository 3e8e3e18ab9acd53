"""Exporting the canonical workbook (DATA.md §1): exact round trips, formula-like text,
the de-identified variant, and the exports kyphos refuses.

The day offsets and ages of the de-identified export are worked out by hand from the
fixture's dates in ``exchange_workbooks.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from exchange_workbooks import (
    FORMULA,
    HOSPITAL_NUMBER,
    NAME,
    PHONE,
    cli_in_process,
    read_csv,
    rows,
    second_registry,
    set_cell,
    table_counts,
    valid_sheets,
    write_csv_folder,
    write_xlsx,
    xlsx_values,
)
from openpyxl import load_workbook

from kyphos.exchange import exporter
from kyphos.exchange.exporter import export_workbook
from kyphos.exchange.importer import import_workbook
from kyphos.registry.repository import Registry

SHEETS = (
    "patients",
    "identity",
    "vertebrae",
    "procedures",
    "visits",
    "measurements",
    "adverse_events",
)
CSV_FILES = sorted(f"{sheet}.csv" for sheet in SHEETS)
PLUS_PHONE = "+86 139 0000 1111"


def import_valid(registry: Registry, tmp_path: Path, fmt: str = "csv") -> None:
    sheets = valid_sheets()
    set_cell(sheets, "identity", 3, "phone", PLUS_PHONE)
    if fmt == "xlsx":
        import_workbook(registry, write_xlsx(tmp_path / "input.xlsx", sheets))
    else:
        import_workbook(registry, write_csv_folder(tmp_path / "input", sheets))


# --- round trips --------------------------------------------------------------------------------


def test_csv_export_import_export_through_an_empty_registry_is_byte_identical(
    registry: Registry, tmp_path: Path, kyphos_cli
) -> None:
    import_valid(registry, tmp_path)
    first = tmp_path / "first"

    exported = kyphos_cli("export", first, "--with-identity")

    assert exported.returncode == 0, exported.stderr
    assert sorted(path.name for path in first.iterdir()) == CSV_FILES
    other = second_registry(tmp_path / "second-home")
    import_workbook(other, first)
    assert table_counts(other) == table_counts(registry)
    second = tmp_path / "second"
    export_workbook(other, second, with_identity=True)

    assert sorted(path.name for path in second.iterdir()) == CSV_FILES
    for name in CSV_FILES:
        assert (second / name).read_bytes() == (first / name).read_bytes(), name


def test_the_exported_csv_holds_the_canonical_values(registry: Registry, tmp_path: Path) -> None:
    import_valid(registry, tmp_path)

    export_workbook(registry, tmp_path / "out")

    procedures = read_csv(tmp_path / "out" / "procedures.csv")
    by_level = {(row["patient_id"], row["level"]): row for row in procedures}
    assert by_level["KT-001", "T12"]["technique"] == "kyphoplasty"  # the default, written out
    assert by_level["KT-001", "T12"]["leakage"] == "anterior;intradiscal"
    assert by_level["KT-001", "L1"]["leakage"] == "none"
    assert by_level["KT-002", "L2"]["leakage"] == "epidural;venous"
    assert by_level["KT-002", "L2"]["leakage_symptomatic"] == "yes"
    patients = {row["patient_id"]: row for row in read_csv(tmp_path / "out" / "patients.csv")}
    assert patients["KT-002"]["sex"] == "M"
    assert patients["KT-002"]["comorbidities"] == "none"
    assert patients["KT-003"]["comorbidities"] == ""
    assert patients["KT-001"]["site"] == "MAIN"
    assert patients["KT-001"]["injury_date"] == "2010-05-20"
    visits = read_csv(tmp_path / "out" / "visits.csv")
    assert {row["odi_version"] for row in visits} == {"2.1a"}
    levels = {row["level"] for row in read_csv(tmp_path / "out" / "vertebrae.csv")}
    assert levels == {"T10", "T12", "L1", "L2"}
    # Without --with-identity there is no identity sheet.
    assert not (tmp_path / "out" / "identity.csv").exists()


def test_xlsx_export_import_export_through_an_empty_registry_keeps_every_cell_value(
    registry: Registry, tmp_path: Path
) -> None:
    import_valid(registry, tmp_path, fmt="xlsx")
    first = tmp_path / "first.xlsx"
    export_workbook(registry, first, format="xlsx", with_identity=True)
    other = second_registry(tmp_path / "second-home")
    import_workbook(other, first)
    second = tmp_path / "second.xlsx"

    export_workbook(other, second, format="xlsx", with_identity=True)

    first_values, second_values = xlsx_values(first), xlsx_values(second)
    assert list(first_values) == list(SHEETS)
    assert second_values == first_values
    header, *patients = first_values["patients"]
    kt001 = dict(zip(header, patients[0], strict=True))
    assert kt001["patient_id"] == "KT-001"
    assert kt001["height_cm"] == 158  # numbers stay numbers
    assert kt001["bmd_t_score"] == -3.2
    assert kt001["injury_date"] == "2010-05-20"


# --- formula-like text --------------------------------------------------------------------------


def test_formula_like_text_is_exported_with_a_leading_quote_and_imported_without_it(
    registry: Registry, tmp_path: Path
) -> None:
    import_valid(registry, tmp_path)
    out = tmp_path / "out"

    export_workbook(registry, out, with_identity=True)

    identity = {row["patient_id"]: row for row in read_csv(out / "identity.csv")}
    assert identity["KT-002"]["full_name"] == "'" + FORMULA
    assert identity["KT-002"]["phone"] == "'" + PLUS_PHONE
    assert identity["KT-001"]["full_name"] == NAME
    assert identity["KT-001"]["hospital_number"] == HOSPITAL_NUMBER
    events = {row["patient_id"]: row for row in read_csv(out / "adverse_events.csv")}
    assert events["KT-001"]["description"] == "'" + FORMULA
    # Numbers are never prefixed, negative ones included.
    patients = {row["patient_id"]: row for row in read_csv(out / "patients.csv")}
    assert patients["KT-001"]["bmd_t_score"] == "-3.2"
    angles = [row["kyphotic_angle_deg"] for row in read_csv(out / "measurements.csv")]
    assert "-4.5" in angles

    # Re-importing strips the quote again: nothing changes in this registry …
    again = import_workbook(registry, out)
    assert all(c.updated == 0 and c.created == 0 for c in again.counts.values())
    # … and a fresh registry stores the plain text.
    other = second_registry(tmp_path / "second-home")
    import_workbook(other, out)
    [stored] = rows(
        other,
        "SELECT i.full_name, i.phone FROM patient_identity i JOIN patient p "
        "ON p.id = i.patient_id WHERE p.study_code = 'KT-002'",
    )
    assert stored == {"full_name": FORMULA, "phone": PLUS_PHONE}
    descriptions = {r["description"] for r in rows(other, "SELECT description FROM adverse_event")}
    assert FORMULA in descriptions


def test_formula_like_text_is_a_plain_string_cell_in_an_xlsx_export(
    registry: Registry, tmp_path: Path
) -> None:
    import_valid(registry, tmp_path)
    target = tmp_path / "out.xlsx"

    export_workbook(registry, target, format="xlsx", with_identity=True)

    book = load_workbook(target)
    identity = book["identity"]
    header = [cell.value for cell in identity[1]]
    kt002 = next(row for row in identity.iter_rows(min_row=2) if row[0].value == "KT-002")
    name = kt002[header.index("full_name")]
    assert name.data_type == "s"
    assert name.value == "'" + FORMULA
    events = book["adverse_events"]
    header = [cell.value for cell in events[1]]
    kt001 = next(row for row in events.iter_rows(min_row=2) if row[0].value == "KT-001")
    description = kt001[header.index("description")]
    assert description.data_type == "s"
    assert description.value == "'" + FORMULA
    patients = book["patients"]
    header = [cell.value for cell in patients[1]]
    bmd = patients.cell(row=2, column=header.index("bmd_t_score") + 1)
    assert bmd.data_type == "n"
    assert bmd.value == -3.2


# --- de-identified export -----------------------------------------------------------------------

# Days from each patient's index procedure (its earliest procedure date), by hand:
# KT-001, index 2010-06-01: injury 2010-05-20 → −12, symptoms 2010-05-22 → −10;
#   visits 2010-05-31 → −1, 2010-06-02 → 1, 2010-09-01 → 30 + 31 + 31 = 92;
#   adverse event 2010-09-15 → 92 + 14 = 106.
# KT-002, index 2011-01-15 (the file lists its 2011-03-10 level first): second procedure
#   2011-03-10 → 31 (to 15 Feb) + 23 (to 10 Mar, February 2011 has 28 days) = 54;
#   visits 2011-01-16 → 1, 2012-01-20 → 365 + 5 = 370; adverse event 2011-02-01 → 17.
# KT-003, index 2012-09-09: visits 2012-09-08 → −1, 2012-09-23 → 14; age from the birth
#   date 1940-06-15 at 2012-09-09 → 72.
EXPECTED_DAYS = {
    "patients": {"KT-001": [("-12", "-10")], "KT-002": [("", "")], "KT-003": [("", "")]},
    "procedures": {"KT-001": ["0", "0"], "KT-002": ["0", "54"], "KT-003": ["0"]},
    "visits": {"KT-001": ["-1", "1", "92"], "KT-002": ["", "1", "370"], "KT-003": ["-1", "14"]},
    "adverse_events": {"KT-001": ["106"], "KT-002": ["17"]},
}
HEIGHTS = {"158": "KT-001", "170": "KT-002", "": "KT-003"}


def deidentified_export(registry: Registry, target: Path) -> dict[str, list[dict[str, str]]]:
    export_workbook(registry, target, deidentify=True)
    return {path.stem: read_csv(path) for path in sorted(target.glob("*.csv"))}


def codes_of(patients: list[dict[str, str]]) -> dict[str, str]:
    """Pseudonym → study code, recognised by each fixture patient's height."""
    return {row["patient_id"]: HEIGHTS[row["height_cm"]] for row in patients}


def test_a_deidentified_export_drops_identity_birth_date_and_description(
    registry: Registry, tmp_path: Path
) -> None:
    import_valid(registry, tmp_path)
    out = tmp_path / "deidentified"

    sheets = deidentified_export(registry, out)

    assert sorted(path.name for path in out.iterdir()) == sorted(
        [*(name for name in CSV_FILES if name != "identity.csv"), "manifest.json"]
    )
    assert list(sheets["patients"][0]) == [
        "patient_id",
        "site",
        "sex",
        "age",
        "height_cm",
        "weight_kg",
        "bmd_t_score",
        "comorbidities",
        "injury_mechanism",
        "injury_date_day",
        "symptom_onset_date_day",
    ]
    assert list(sheets["adverse_events"][0]) == [
        "patient_id",
        "event_date_day",
        "type",
        "level",
        "serious",
        "related",
    ]
    assert "procedure_date_day" in sheets["procedures"][0]
    assert "procedure_date" not in sheets["procedures"][0]
    assert "visit_date_day" in sheets["visits"][0]
    assert "visit_date" not in sheets["visits"][0]
    everything = "\n".join(path.read_text(encoding="utf-8") for path in out.iterdir())
    for clear in ("KT-00", "1940-06-15", "2010-06-01", NAME, HOSPITAL_NUMBER, PHONE, "HYPERLINK"):
        assert clear not in everything, clear


def test_a_deidentified_export_lists_what_it_removed_and_transformed_in_a_manifest(
    registry: Registry, tmp_path: Path
) -> None:
    import_valid(registry, tmp_path)
    out = tmp_path / "deidentified"

    deidentified_export(registry, out)

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    removed = json.dumps(manifest["removed"])
    for name in ("identity", "birth_date", "description"):
        assert name in removed, name
    transformed = json.dumps(manifest["transformed"])
    for name in (
        "patient_id",
        "age",
        "injury_date_day",
        "symptom_onset_date_day",
        "procedure_date_day",
        "visit_date_day",
        "event_date_day",
    ):
        assert name in transformed, name


def test_a_deidentified_export_replaces_patient_id_by_a_stable_keyed_pseudonym(
    registry: Registry, tmp_path: Path
) -> None:
    import_valid(registry, tmp_path)

    first = deidentified_export(registry, tmp_path / "first")
    second = deidentified_export(registry, tmp_path / "second")

    assert second == first  # the same registry gives the same pseudonyms every time
    codes = codes_of(first["patients"])
    assert sorted(codes.values()) == ["KT-001", "KT-002", "KT-003"]
    assert not set(codes) & {"KT-001", "KT-002", "KT-003"}
    # One patient, one pseudonym, in every sheet.
    per_sheet = {
        sheet: sorted(codes[row["patient_id"]] for row in first[sheet])
        for sheet in ("vertebrae", "procedures", "visits", "measurements", "adverse_events")
    }
    assert per_sheet == {
        "vertebrae": ["KT-001"] * 3 + ["KT-002"] * 2 + ["KT-003"],
        "procedures": ["KT-001"] * 2 + ["KT-002"] * 2 + ["KT-003"],
        "visits": ["KT-001"] * 3 + ["KT-002"] * 3 + ["KT-003"] * 2,
        "measurements": ["KT-001"] * 5 + ["KT-002"],
        "adverse_events": ["KT-001", "KT-002"],
    }
    # Keyed: another registry (another secret) gives other pseudonyms for the same codes.
    other = second_registry(tmp_path / "other-home")
    import_valid(other, tmp_path / "other-input")
    elsewhere = codes_of(deidentified_export(other, tmp_path / "elsewhere")["patients"])
    assert sorted(elsewhere.values()) == sorted(codes.values())
    assert not set(elsewhere) & set(codes)


def test_a_deidentified_export_caps_ages_at_90_and_writes_days_from_the_index_procedure(
    registry: Registry, tmp_path: Path
) -> None:
    import_valid(registry, tmp_path)

    sheets = deidentified_export(registry, tmp_path / "deidentified")

    codes = codes_of(sheets["patients"])
    ages = {codes[row["patient_id"]]: row["age"] for row in sheets["patients"]}
    assert ages == {"KT-001": "72", "KT-002": "90", "KT-003": "72"}

    def days(sheet: str, *columns: str) -> dict[str, list[object]]:
        found: dict[str, list[object]] = {}
        for row in sheets[sheet]:
            values = tuple(row[name] for name in columns)
            found.setdefault(codes[row["patient_id"]], []).append(
                values if len(values) > 1 else values[0]
            )
        return {code: sorted(values, key=_number) for code, values in found.items()}

    assert (
        days("patients", "injury_date_day", "symptom_onset_date_day") == (EXPECTED_DAYS["patients"])
    )
    assert days("procedures", "procedure_date_day") == EXPECTED_DAYS["procedures"]
    assert days("visits", "visit_date_day") == EXPECTED_DAYS["visits"]
    assert days("adverse_events", "event_date_day") == EXPECTED_DAYS["adverse_events"]


def _number(value: object) -> float:
    if isinstance(value, tuple):
        value = value[0]
    return float("-inf") if value == "" else float(str(value))


def test_a_deidentified_xlsx_export_has_the_same_sheets_and_a_manifest_sheet(
    registry: Registry, tmp_path: Path
) -> None:
    import_valid(registry, tmp_path)
    target = tmp_path / "deidentified.xlsx"

    export_workbook(registry, target, format="xlsx", deidentify=True)

    values = xlsx_values(target)
    assert list(values) == [name for name in SHEETS if name != "identity"] + ["manifest"]
    assert "birth_date" not in values["patients"][0]
    assert "description" not in values["adverse_events"][0]
    assert "event_date_day" in values["adverse_events"][0]
    header, *patients = values["patients"]
    # A write-only workbook leaves trailing empty cells out of a row: pad with zip.
    ages = sorted(dict(zip(header, row, strict=False))["age"] for row in patients)
    assert ages == [72, 72, 90]
    cells = repr(values)
    for clear in ("KT-00", "1940-06-15", "2010-06-01", NAME, "HYPERLINK"):
        assert clear not in cells, clear


def test_deidentify_together_with_identity_is_refused_with_exit_2(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_valid(registry, tmp_path)
    out = tmp_path / "out"

    result = cli_in_process(capsys, "export", out, "--deidentify", "--with-identity")

    assert result.code == 2
    assert result.errors == ["--deidentify and --with-identity exclude each other"]
    assert "Traceback" not in result.err
    assert not out.exists()


# --- exports that are refused -------------------------------------------------------------------


def test_export_refuses_a_folder_that_is_not_empty_and_an_existing_file(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_valid(registry, tmp_path)
    folder = tmp_path / "busy"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me\n", encoding="utf-8")
    existing = tmp_path / "old.xlsx"
    existing.write_bytes(b"an older export")

    into_folder = cli_in_process(capsys, "export", folder)
    onto_file = cli_in_process(capsys, "export", existing)

    assert into_folder.code == 2
    assert into_folder.errors == [
        f"{folder}: exists already; export to a new file or an empty folder"
    ]
    assert [path.name for path in folder.iterdir()] == ["notes.txt"]
    assert onto_file.code == 2
    assert onto_file.errors == [
        f"{existing}: exists already; export to a new file or an empty folder"
    ]
    assert existing.read_bytes() == b"an older export"
    # An empty folder is a fine target.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli_in_process(capsys, "export", empty).code == 0
    assert sorted(path.name for path in empty.iterdir()) == [
        name for name in CSV_FILES if name != "identity.csv"
    ]


def test_xlsx_export_beyond_the_sheet_row_limit_is_refused_with_a_hint_to_export_csv(
    registry: Registry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import_valid(registry, tmp_path)
    # Four rows per sheet, the header included: patients (3 rows) and adverse_events (2)
    # fit; vertebrae (6), procedures (5), visits (8) and measurements (6) do not.
    monkeypatch.setattr(exporter, "XLSX_MAX_ROWS", 4)
    target = tmp_path / "big.xlsx"

    result = cli_in_process(capsys, "export", target)

    assert result.code == 2
    assert sorted(result.errors) == sorted(
        f"{sheet}: {count} rows do not fit an xlsx sheet (3 at most); export CSV instead "
        "(--format csv)"
        for sheet, count in (
            ("vertebrae", 6),
            ("procedures", 5),
            ("visits", 8),
            ("measurements", 6),
        )
    )
    assert not target.exists()
    # CSV has no such limit.
    assert cli_in_process(capsys, "export", tmp_path / "big-csv").code == 0
