"""The synthetic demo cohort: valid workbook rows, the workbook's cross-row rules, and
calibration against the reference study as published.

Expected values come from ``reference/seed_study.json`` (Zhang et al., Zhongguo Gu
Shang 2011;24:570–3, doi:10.3969/j.issn.1003-0034.2011.07.010), read from its text,
never from the generator's own constants.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import math
import os
import statistics
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from kyphos.clinical import levels
from kyphos.clinical.errors import ClinicalValueError
from kyphos.demo import (
    DEFAULT_PATIENTS,
    DEFAULT_SEED,
    DEMO_SHEETS,
    DemoCohort,
    demo_cohort,
    patient_code,
)
from kyphos.exchange.schema import SHEETS_BY_NAME

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_CANDIDATES = (
    ROOT / "tests" / "data" / "seed_study.json",
    ROOT / "reference" / "seed_study.json",
    ROOT.parent / "shared" / "reference" / "seed_study.json",
)
TIMEPOINTS = ("preop", "postop", "final")
ANSWERED_ODI_SECTIONS = (1, 2, 3, 4, 5, 6, 7, 9, 10)
SIGMAS = 4.0
"""Tolerance of a sample statistic, in standard errors: a sample truly drawn from the
published distribution misses it with probability ≈ 6 in 100,000 (normal tails), so a
failure means miscalibration, not bad luck; and 4 SE at N = 5000 is still tight (VAS
preop ± 0.034 cm, ODI preop ± 0.066 points, kyphotic angle final ± 0.023°)."""


def _reference() -> dict[str, Any]:
    explicit = os.environ.get("KYPHOS_SEED_STUDY")
    candidates = (Path(explicit),) if explicit else REFERENCE_CANDIDATES
    for path in candidates:
        if path.is_file():
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return data
    message = "reference/seed_study.json not found (set KYPHOS_SEED_STUDY to its path)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return _reference()


def _sheet(cohort: DemoCohort, sheet: str) -> list[dict[str, object]]:
    return list(cohort.rows(sheet))


def _parsed(cohort: DemoCohort) -> dict[str, list[dict[str, Any]]]:
    """Every sheet, each cell read by the importer's own column parser."""
    workbook: dict[str, list[dict[str, Any]]] = {}
    for name in DEMO_SHEETS:
        sheet = SHEETS_BY_NAME[name]
        workbook[name] = [
            {column.name: column.parse(row[column.name], column.name) for column in sheet.columns}
            for row in cohort.rows(name)
        ]
    return workbook


@pytest.fixture(scope="module")
def small() -> dict[str, list[dict[str, Any]]]:
    """300 patients in chunks of 128 (the last chunk short), parsed like an import."""
    return _parsed(demo_cohort(300, seed=7, chunk=128))


@pytest.fixture(scope="module")
def default_cohort() -> dict[str, list[dict[str, object]]]:
    cohort = demo_cohort()
    return {name: _sheet(cohort, name) for name in DEMO_SHEETS}


@pytest.fixture(scope="module")
def large() -> dict[str, list[dict[str, object]]]:
    cohort = demo_cohort(5000)
    return {name: _sheet(cohort, name) for name in DEMO_SHEETS}


def _by_patient(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["patient_id"]].append(row)
    return grouped


def _index_dates(workbook: dict[str, list[dict[str, Any]]]) -> dict[str, dt.date]:
    index: dict[str, dt.date] = {}
    for row in workbook["procedures"]:
        date = row["procedure_date"]
        if not isinstance(date, dt.date):
            date = dt.date.fromisoformat(str(date))
        code = str(row["patient_id"])
        index[code] = min(index.get(code, date), date)
    return index


# --- API --------------------------------------------------------------------------------------


def test_patient_codes_are_zero_padded_to_six_digits() -> None:
    assert patient_code(1) == "DEMO-000001"
    assert patient_code(41) == "DEMO-000041"
    assert patient_code(999_999) == "DEMO-999999"
    assert patient_code(1_000_000) == "DEMO-1000000"


@pytest.mark.parametrize("index", [0, -1, 1.0, True])
def test_patient_code_refuses_anything_but_a_whole_number_from_one(index: Any) -> None:
    with pytest.raises(ValueError, match="whole number from 1"):
        patient_code(index)


def test_defaults_are_the_reference_cohort_size_and_year() -> None:
    cohort = demo_cohort()
    assert (cohort.patients, cohort.seed) == (DEFAULT_PATIENTS, DEFAULT_SEED) == (41, 2011)


@pytest.mark.parametrize(
    ("arguments", "name"),
    [({"patients": 0}, "patients"), ({"chunk": 0}, "chunk"), ({"seed": -1}, "seed")],
)
def test_demo_cohort_refuses_impossible_sizes(arguments: dict[str, int], name: str) -> None:
    with pytest.raises(ValueError, match=f"demo {name} must be a whole number"):
        demo_cohort(**arguments)


def test_identity_sheet_is_refused_because_demo_data_carry_no_identity() -> None:
    with pytest.raises(ValueError, match="no identity"):
        demo_cohort().rows("identity")
    with pytest.raises(ValueError, match="not a demo sheet"):
        demo_cohort().rows("patient")


@pytest.mark.parametrize("sheet", DEMO_SHEETS)
def test_rows_have_exactly_the_schema_columns_in_schema_order(sheet: str) -> None:
    expected = SHEETS_BY_NAME[sheet].column_names
    rows = _sheet(demo_cohort(200, chunk=64), sheet)
    assert rows, sheet
    assert all(tuple(row) == expected for row in rows)


def test_cells_are_plain_python_values_as_a_csv_cell_holds_them() -> None:
    cohort = demo_cohort(100)
    for sheet in DEMO_SHEETS:
        for row in cohort.rows(sheet):
            for value in row.values():
                assert value is None or type(value) in (str, int, float), (sheet, row)


def test_rows_is_a_lazy_generator_that_needs_only_the_first_chunk() -> None:
    rows = demo_cohort(1_000_000).rows("measurements")
    first = next(rows)
    assert first["patient_id"] == "DEMO-000001"
    assert inspect.isgenerator(rows)


def _peak_bytes(patients: int, chunk: int) -> int:
    tracemalloc.start()
    try:
        for _ in demo_cohort(patients, chunk=chunk).rows("measurements"):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_patients() -> None:
    _peak_bytes(200, chunk=200)  # warm up: one-time allocations are not the cohort's
    one_chunk = _peak_bytes(200, chunk=200)
    ten_chunks = _peak_bytes(2000, chunk=200)
    assert ten_chunks < 1.1 * one_chunk + 64 * 1024


def test_row_counts_generate_every_sheet() -> None:
    counts = demo_cohort().row_counts()
    assert set(counts) == set(DEMO_SHEETS)
    assert counts["patients"] == 41
    assert counts["visits"] == 41 * 3


# --- determinism ------------------------------------------------------------------------------


def test_the_same_patients_and_seed_give_the_same_rows() -> None:
    first = demo_cohort(300, seed=5, chunk=128)
    second = demo_cohort(300, seed=5, chunk=128)
    for sheet in DEMO_SHEETS:
        assert _sheet(first, sheet) == _sheet(second, sheet), sheet


def test_another_seed_gives_another_cohort() -> None:
    assert _sheet(demo_cohort(seed=1), "visits") != _sheet(demo_cohort(seed=2), "visits")


def test_exact_counts_do_not_depend_on_the_chunk_size(reference: dict[str, Any]) -> None:
    cohort = demo_cohort(chunk=7)
    patients = _sheet(cohort, "patients")
    procedures = _sheet(cohort, "procedures")
    assert Counter(row["sex"] for row in patients) == {
        "M": reference["cohort"]["male"],
        "F": reference["cohort"]["female"],
    }
    assert len(procedures) == reference["cohort"]["vertebrae_treated"]
    leaking = [row for row in procedures if row["leakage"] != "none"]
    assert len(leaking) == reference["complications"]["cement_leakage_vertebrae"]


# --- every cell and every cross-row rule ------------------------------------------------------


def test_every_cell_passes_the_importers_parsers() -> None:
    cohort = demo_cohort(300, seed=11, chunk=128)
    problems: list[str] = []
    for name in DEMO_SHEETS:
        sheet = SHEETS_BY_NAME[name]
        for number, row in enumerate(cohort.rows(name), start=2):
            for column in sheet.columns:
                value = row[column.name]
                if column.required and value is None:
                    problems.append(f"{name}:{number}:{column.name}: required")
                try:
                    column.parse(value, column.name)
                except ClinicalValueError as error:
                    problems.append(f"{name}:{number}:{error}")
    assert problems == []


def test_patient_codes_are_unique_and_in_patient_order(small: dict[str, Any]) -> None:
    codes = [row["patient_id"] for row in small["patients"]]
    assert codes == [patient_code(number) for number in range(1, 301)]
    for sheet in DEMO_SHEETS:
        order = [codes.index(row["patient_id"]) for row in small[sheet]]
        assert order == sorted(order), sheet


def test_levels_are_unique_per_patient_and_procedures_only_treat_treated_vertebrae(
    small: dict[str, Any],
) -> None:
    vertebrae = {(row["patient_id"], row["level"]): row for row in small["vertebrae"]}
    assert len(vertebrae) == len(small["vertebrae"])
    procedures = {(row["patient_id"], row["level"]) for row in small["procedures"]}
    assert len(procedures) == len(small["procedures"])
    treated = {key for key, row in vertebrae.items() if row["treated"]}
    assert procedures == treated
    assert {row["patient_id"] for row in small["procedures"]} == {
        row["patient_id"] for row in small["patients"]
    }


def test_treated_vertebrae_are_acute_and_untreated_ones_chronic_on_mri(
    small: dict[str, Any],
) -> None:
    for row in small["vertebrae"]:
        signals = (row["mri_t1"], row["mri_stir"])
        assert signals == (("low", "high") if row["treated"] else ("iso", "iso"))


def test_visits_fall_in_their_windows_around_the_index_procedure(small: dict[str, Any]) -> None:
    index = _index_dates(small)
    visits = _by_patient(small["visits"])
    assert set(visits) == set(index)
    for code, rows in visits.items():
        assert [row["timepoint"] for row in rows] == list(TIMEPOINTS)
        day = {row["timepoint"]: (row["visit_date"] - index[code]).days for row in rows}
        assert -30 <= day["preop"] <= 0
        assert 1 <= day["postop"] <= 14
        assert day["final"] >= 213
        assert 7 <= day["final"] / 30.4375 <= 26


def test_procedure_dates_lie_in_the_enrolment_period(small: dict[str, Any]) -> None:
    for date in _index_dates(small).values():
        assert dt.date(2008, 10, 1) <= date <= dt.date(2010, 5, 31)


def test_one_procedure_date_has_one_anaesthesia_and_one_operator(small: dict[str, Any]) -> None:
    seen: dict[tuple[str, dt.date], set[tuple[str, str]]] = defaultdict(set)
    for row in small["procedures"]:
        key = (row["patient_id"], row["procedure_date"])
        seen[key].add((row["anaesthesia"], row["operator"]))
    assert all(len(values) == 1 for values in seen.values())


def test_injury_and_symptom_onset_are_not_after_the_procedure(small: dict[str, Any]) -> None:
    index = _index_dates(small)
    for row in small["patients"]:
        assert row["injury_date"] <= index[row["patient_id"]]
        assert row["injury_date"] <= row["symptom_onset_date"] <= index[row["patient_id"]]


def test_measurements_refer_to_treated_vertebrae_and_existing_visits(
    small: dict[str, Any],
) -> None:
    treated = {(row["patient_id"], row["level"]) for row in small["vertebrae"] if row["treated"]}
    visits = {(row["patient_id"], row["timepoint"]) for row in small["visits"]}
    readings: Counter[tuple[str, str, str]] = Counter()
    adjudicators: Counter[tuple[str, str, str]] = Counter()
    keys = set()
    for row in small["measurements"]:
        assert (row["patient_id"], row["level"]) in treated
        assert (row["patient_id"], row["timepoint"]) in visits
        key = (row["patient_id"], row["level"], row["timepoint"])
        readings[key] += 1
        adjudicators[key] += row["role"] == "adjudicator"
        keys.add((*key, row["observer"], row["role"]))
    assert len(keys) == len(small["measurements"])
    assert max(adjudicators.values()) <= 1
    assert len(readings) == len(treated) * len(TIMEPOINTS)
    assert set(readings.values()) == {2}


def test_adverse_events_follow_the_procedure_next_to_a_treated_level() -> None:
    workbook = _parsed(demo_cohort(2000, seed=3, chunk=500))
    events = workbook["adverse_events"]
    assert len(events) == 20  # one per 100 patients
    index = _index_dates(workbook)
    fractured = defaultdict(set)
    treated = defaultdict(set)
    for row in workbook["vertebrae"]:
        fractured[row["patient_id"]].add(row["level"])
        if row["treated"]:
            treated[row["patient_id"]].add(row["level"])
    for event in events:
        code = event["patient_id"]
        assert event["event_date"] >= index[code]
        assert event["type"] == "adjacent_fracture"
        assert event["level"] is not None
        assert event["level"] not in fractured[code]
        assert any(levels.are_adjacent(event["level"], level) for level in treated[code])


def test_odi_answers_skip_sex_life_and_stay_within_nine_sections(small: dict[str, Any]) -> None:
    for row in small["visits"]:
        assert row["odi_8"] is None
        answers = [row[f"odi_{section}"] for section in ANSWERED_ODI_SECTIONS]
        assert all(0 <= answer <= 5 for answer in answers)
        assert (row["odi_version"], row["odi_language"]) == ("2.1a", "zh")


def test_leakage_is_never_symptomatic_and_uses_the_published_sites(
    small: dict[str, Any], reference: dict[str, Any]
) -> None:
    sites = set(reference["complications"]["cement_leakage_sites"])
    for row in small["procedures"]:
        assert row["leakage_symptomatic"] is False
        assert row["leakage"] == "" or set(row["leakage"].split(";")) <= sites
        assert (row["technique"], row["anaesthesia"]) == ("kyphoplasty", "local")
        assert 3.0 <= row["cement_volume_ml"] <= 6.0


# --- calibration: the default cohort is the reference cohort --------------------------------


def test_default_cohort_has_the_reference_counts(
    default_cohort: dict[str, list[dict[str, object]]], reference: dict[str, Any]
) -> None:
    published = reference["cohort"]
    patients = default_cohort["patients"]
    assert len(patients) == published["patients"]
    assert Counter(row["sex"] for row in patients) == {
        "M": published["male"],
        "F": published["female"],
    }
    assert len(default_cohort["procedures"]) == published["vertebrae_treated"]
    treated = [row for row in default_cohort["vertebrae"] if row["treated"] == "yes"]
    assert len(treated) == published["vertebrae_treated"]
    assert default_cohort["adverse_events"] == []


def test_default_cohort_has_the_reference_ages_levels_and_leakage(
    default_cohort: dict[str, list[dict[str, object]]], reference: dict[str, Any]
) -> None:
    published = reference["cohort"]
    ages = [int(str(row["age"])) for row in default_cohort["patients"]]
    assert published["age_years"]["min"] <= min(ages)
    assert max(ages) <= published["age_years"]["max"]
    standard_error = statistics.stdev(ages) / math.sqrt(len(ages))
    assert abs(statistics.mean(ages) - published["age_years"]["mean"]) < SIGMAS * standard_error
    allowed = set(levels.expand_range("-".join(published["levels_range"])))
    assert {row["level"] for row in default_cohort["procedures"]} <= allowed
    junction = {"T11", "T12", "L1", "L2"}
    at_junction = sum(row["level"] in junction for row in default_cohort["procedures"])
    assert at_junction > len(default_cohort["procedures"]) / 2
    leaking = [row for row in default_cohort["procedures"] if row["leakage"] != "none"]
    assert len(leaking) == reference["complications"]["cement_leakage_vertebrae"]
    assert all(row["leakage_symptomatic"] == "no" for row in leaking)


def test_default_cohort_comorbidities_and_mechanisms_are_the_named_ones(
    default_cohort: dict[str, list[dict[str, object]]], reference: dict[str, Any]
) -> None:
    named = set(reference["cohort"]["comorbidities_named"]) | {"none"}
    mechanisms = set(reference["cohort"]["injury_mechanisms_named"])
    for row in default_cohort["patients"]:
        assert set(str(row["comorbidities"]).split(";")) <= named
        assert row["injury_mechanism"] in mechanisms


# --- calibration: outcome means and SDs at N = 5000 -----------------------------------------


def _observed(
    large: dict[str, list[dict[str, object]]], outcome: str, timepoint: str
) -> list[float]:
    """One value per unit: per patient (VAS, ODI raw), per vertebra (mean of two readers)."""
    if outcome == "vas":
        return [float(str(r["vas"])) for r in large["visits"] if r["timepoint"] == timepoint]
    if outcome == "odi_raw":
        return [
            float(sum(int(str(r[f"odi_{section}"])) for section in ANSWERED_ODI_SECTIONS))
            for r in large["visits"]
            if r["timepoint"] == timepoint
        ]
    readings: dict[tuple[object, object], list[float]] = defaultdict(list)
    for row in large["measurements"]:
        if row["timepoint"] == timepoint and row["role"] == "primary":
            readings[(row["patient_id"], row["level"])].append(float(str(row[outcome])))
    return [statistics.mean(values) for values in readings.values()]


OUTCOMES = ("vas", "odi_raw", "anterior_height_mm", "kyphotic_angle_deg")


@pytest.mark.parametrize("timepoint", TIMEPOINTS)
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_large_cohort_mean_is_within_four_standard_errors_of_the_published_mean(
    large: dict[str, list[dict[str, object]]],
    reference: dict[str, Any],
    outcome: str,
    timepoint: str,
) -> None:
    published = reference["outcomes"][outcome][timepoint]
    mean, sd = float(published["mean"]), float(published["sd"])
    values = _observed(large, outcome, timepoint)
    assert len(values) >= 5000
    standard_error = sd / math.sqrt(len(values))
    assert abs(statistics.fmean(values) - mean) < SIGMAS * standard_error


@pytest.mark.parametrize("timepoint", TIMEPOINTS)
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_large_cohort_sd_is_within_four_standard_errors_of_the_published_sd(
    large: dict[str, list[dict[str, object]]],
    reference: dict[str, Any],
    outcome: str,
    timepoint: str,
) -> None:
    published_sd = float(reference["outcomes"][outcome][timepoint]["sd"])
    values = _observed(large, outcome, timepoint)
    standard_error = published_sd / math.sqrt(2 * (len(values) - 1))  # SE of a normal SD
    assert abs(statistics.stdev(values) - published_sd) < SIGMAS * standard_error


def test_large_cohort_leakage_rate_matches_the_published_rate(
    large: dict[str, list[dict[str, object]]], reference: dict[str, Any]
) -> None:
    complications = reference["complications"]
    rate = complications["cement_leakage_vertebrae"] / complications["cement_leakage_of_vertebrae"]
    procedures = large["procedures"]
    observed = sum(row["leakage"] != "none" for row in procedures) / len(procedures)
    standard_error = math.sqrt(rate * (1 - rate) / len(procedures))
    assert abs(observed - rate) < SIGMAS * standard_error


def test_large_cohort_sex_ratio_vertebrae_per_patient_and_follow_up_match(
    large: dict[str, list[dict[str, object]]], reference: dict[str, Any]
) -> None:
    published = reference["cohort"]
    patients = large["patients"]
    men = sum(row["sex"] == "M" for row in patients)
    assert men == round(len(patients) * published["male"] / published["patients"])
    per_patient = len(large["procedures"]) / len(patients)
    assert per_patient == pytest.approx(
        published["vertebrae_treated"] / published["patients"], abs=0.01
    )
    index = _index_dates(large)
    months = [
        (dt.date.fromisoformat(str(row["visit_date"])) - index[str(row["patient_id"])]).days
        / 30.4375
        for row in large["visits"]
        if row["timepoint"] == "final"
    ]
    follow_up = reference["design"]["follow_up_months"]
    assert follow_up["min"] <= min(months) and max(months) <= follow_up["max"]
    standard_error = statistics.stdev(months) / math.sqrt(len(months))
    assert abs(statistics.fmean(months) - follow_up["mean"]) < SIGMAS * standard_error


@pytest.mark.parametrize("outcome", ["anterior_height_mm", "kyphotic_angle_deg"])
def test_two_observers_agree_closely_but_not_perfectly(
    large: dict[str, list[dict[str, object]]], outcome: str
) -> None:
    pairs: dict[tuple[object, object, object], dict[object, float]] = defaultdict(dict)
    for row in large["measurements"]:
        key = (row["patient_id"], row["level"], row["timepoint"])
        pairs[key][row["observer"]] = float(str(row[outcome]))
    first = [pair["obs_a"] for pair in pairs.values()]
    second = [pair["obs_b"] for pair in pairs.values()]
    assert 0.95 < statistics.correlation(first, second) < 0.999
    assert any(a != b for a, b in zip(first, second, strict=True))
