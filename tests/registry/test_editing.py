"""The record use cases of ``kyphos.registry.editing``: versions, validation, access, audit.

Expected values are written out by hand from the issue and CLINICAL.md §1 (ODI scoring),
field names from DATA.md §1. Every test runs on SQLite and PostgreSQL (``registry``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from kyphos.clinical.errors import ClinicalValueErrors
from kyphos.errors import ConflictError, NotFoundError
from kyphos.registry import editing
from kyphos.registry.access import Principal
from kyphos.registry.editing import AccessDenied, StaleVersion
from kyphos.registry.repository import Registry

FULL_NAME = "Zhang Meilin-Unique"
HOSPITAL_NUMBER = "HN-77441"
PHONE = "13912345678"


# --- helpers ---------------------------------------------------------------------------------


def site_ids(registry: Registry) -> dict[str, int]:
    return {site.code: site.id for site in registry.list_sites()}


def principal(registry: Registry, role: str, *sites: str, user_id: int = 1) -> Principal:
    ids = site_ids(registry)
    return Principal(
        user_id=user_id,
        username=f"{role}-{user_id}",
        role=role,
        site_ids=frozenset(ids[code] for code in sites),
    )


ADMIN = Principal(user_id=0, username="test-admin", role="admin", site_ids=frozenset())


@pytest.fixture
def reg(registry: Registry) -> Registry:
    """The registry with a second site OTHER and a patient at each site."""
    registry.add_site("OTHER", "Other hospital")
    editing.create_patient(
        registry, ADMIN, {"patient_id": "MAIN-1", "site": "MAIN", "sex": "F", "age": 70}
    )
    editing.create_patient(
        registry, ADMIN, {"patient_id": "OTHER-1", "site": "OTHER", "sex": "M", "age": 68}
    )
    return registry


def audit_rows(registry: Registry) -> list[dict[str, Any]]:
    with registry.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT action, entity, entity_key, before, after, reason FROM audit_event "
                "ORDER BY id"
            )
        ).all()
    return [dict(row._mapping) for row in rows]


def audit_count(registry: Registry) -> int:
    with registry.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM audit_event")).scalar_one())


def visit_row(registry: Registry, visit_id: int) -> dict[str, Any] | None:
    with registry.engine.connect() as connection:
        row = connection.execute(
            text("SELECT vas, version FROM visit WHERE id = :id"), {"id": visit_id}
        ).one_or_none()
    return None if row is None else dict(row._mapping)


def problem_fields(error: ClinicalValueErrors) -> set[str]:
    return {problem.field for problem in error.problems}


# --- 1. two sessions, stale update ------------------------------------------------------------


def test_stale_visit_update_is_refused_naming_both_versions(reg: Registry) -> None:
    made = editing.create_item(reg, ADMIN, "MAIN-1", "visits", {"timepoint": "preop", "vas": 7})
    first = principal(reg, "investigator", "MAIN", user_id=11)
    second = principal(reg, "investigator", "MAIN", user_id=12)
    read_first = editing.read_item(reg, first, "MAIN-1", "visits", made["id"])
    read_second = editing.read_item(reg, second, "MAIN-1", "visits", made["id"])
    assert read_first["version"] == read_second["version"] == 1

    saved = editing.update_item(
        reg, first, "MAIN-1", "visits", made["id"], {"vas": 4}, version=read_first["version"]
    )
    assert saved["version"] == 2
    events = audit_count(reg)

    with pytest.raises(StaleVersion) as caught:
        editing.update_item(
            reg, second, "MAIN-1", "visits", made["id"], {"vas": 6}, version=read_second["version"]
        )
    assert isinstance(caught.value, ConflictError)
    assert (caught.value.yours, caught.value.stored) == (1, 2)
    assert "version 1" in str(caught.value) and "version 2" in str(caught.value)

    assert visit_row(reg, made["id"]) == {"vas": 4.0, "version": 2}
    assert editing.read_item(reg, ADMIN, "MAIN-1", "visits", made["id"])["vas"] == 4.0
    assert audit_count(reg) == events
    assert reg.verify_audit().ok


def test_stale_patient_update_is_refused(reg: Registry) -> None:
    editing.update_patient(reg, ADMIN, "MAIN-1", {"age": 71}, version=1)
    with pytest.raises(StaleVersion) as caught:
        editing.update_patient(reg, ADMIN, "MAIN-1", {"age": 75}, version=1)
    assert (caught.value.yours, caught.value.stored) == (1, 2)
    assert editing.read_patient(reg, ADMIN, "MAIN-1")["age"] == 71


def test_update_without_a_version_is_refused_on_field_version(reg: Registry) -> None:
    made = editing.create_item(reg, ADMIN, "MAIN-1", "visits", {"timepoint": "preop", "vas": 7})
    with pytest.raises(ClinicalValueErrors) as caught:
        editing.update_item(reg, ADMIN, "MAIN-1", "visits", made["id"], {"vas": 3}, version=None)
    assert problem_fields(caught.value) == {"version"}
    assert visit_row(reg, made["id"]) == {"vas": 7.0, "version": 1}


# --- 2. nothing written on error --------------------------------------------------------------


def test_invalid_visit_lists_every_problem_and_writes_nothing(reg: Registry) -> None:
    counts = reg.counts()
    events = audit_count(reg)
    with pytest.raises(ClinicalValueErrors) as caught:
        editing.create_item(
            reg,
            ADMIN,
            "MAIN-1",
            "visits",
            {"timepoint": "preop", "vas": 11, "odi_6": 6, "odi_language": "fr", "colour": 1},
        )
    assert problem_fields(caught.value) == {"vas", "odi_6", "odi_language", "colour"}
    assert reg.counts() == counts
    assert audit_count(reg) == events


def test_invalid_patient_lists_every_problem_and_writes_nothing(reg: Registry) -> None:
    counts = reg.counts()
    events = audit_count(reg)
    investigator = principal(reg, "investigator", "MAIN")
    with pytest.raises(ClinicalValueErrors) as caught:
        editing.create_patient(
            reg,
            investigator,
            {
                "patient_id": "MAIN 2",
                "site": "OTHER",
                "sex": "Q",
                "age": 70,
                "weight_kg": 5000,
                "identity": {"full_name": FULL_NAME},
            },
        )
    assert problem_fields(caught.value) == {"patient_id", "site", "sex", "weight_kg"}
    assert reg.counts() == counts
    assert audit_count(reg) == events


def test_invalid_procedure_levels_are_located_and_nothing_is_written(reg: Registry) -> None:
    editing.create_item(reg, ADMIN, "MAIN-1", "vertebrae", {"level": "L1", "treated": True})
    counts = reg.counts()
    events = audit_count(reg)
    with pytest.raises(ClinicalValueErrors) as caught:
        editing.create_item(
            reg,
            ADMIN,
            "MAIN-1",
            "procedures",
            {
                "procedure_date": "2024-03-01",
                "levels": [{"level": "L1", "cement_volume_ml": -2}, {"level": "L2"}],
            },
        )
    assert problem_fields(caught.value) == {"levels[0].cement_volume_ml", "levels[1].level"}
    assert reg.counts() == counts
    assert audit_count(reg) == events


def test_invalid_update_leaves_the_row_and_its_version(reg: Registry) -> None:
    made = editing.create_item(reg, ADMIN, "MAIN-1", "visits", {"timepoint": "preop", "vas": 7})
    events = audit_count(reg)
    with pytest.raises(ClinicalValueErrors) as caught:
        editing.update_item(
            reg, ADMIN, "MAIN-1", "visits", made["id"], {"vas": -1, "odi_2": 9}, version=1
        )
    assert problem_fields(caught.value) == {"vas", "odi_2"}
    assert visit_row(reg, made["id"]) == {"vas": 7.0, "version": 1}
    assert audit_count(reg) == events


# --- 3. ODI scored per CLINICAL.md §1 ---------------------------------------------------------


def odi_values(answers: list[int | None]) -> dict[str, Any]:
    return {f"odi_{n}": answer for n, answer in enumerate(answers, start=1)}


def test_odi_all_sections_answered(reg: Registry) -> None:
    answers: list[int | None] = [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]
    # raw = 25 over 10 answered sections: 25 / 50 × 100 = 50.0 % (≤ 60: severe)
    made = editing.create_item(
        reg, ADMIN, "MAIN-1", "visits", {"timepoint": "preop", **odi_values(answers)}
    )
    assert [made[f"odi_{n}"] for n in range(1, 11)] == answers
    assert made["odi_percent"] == pytest.approx(50.0)
    assert made["odi_band"] == "severe"
    assert made["odi_version"] == "2.1a"


def test_odi_two_sections_missing_lowers_the_denominator(reg: Registry) -> None:
    answers: list[int | None] = [5, 4, 3, 2, 1, 0, 1, None, 3, None]
    # raw = 19 over 8 answered sections: 19 / (5 × 8) × 100 = 47.5 % (severe)
    made = editing.create_item(
        reg, ADMIN, "MAIN-1", "visits", {"timepoint": "preop", **odi_values(answers)}
    )
    assert made["odi_percent"] == pytest.approx(19 / 40 * 100)
    assert made["odi_percent"] == pytest.approx(47.5)
    assert made["odi_band"] == "severe"


def test_odi_clinical_example_with_section_8_missing(reg: Registry) -> None:
    answers: list[int | None] = [1, 2, 2, 1, 2, 1, 2, None, 3, 2]
    # CLINICAL.md §1: 16 / 45 = 35.56 % (moderate)
    made = editing.create_item(
        reg, ADMIN, "MAIN-1", "visits", {"timepoint": "preop", **odi_values(answers)}
    )
    assert made["odi_percent"] == pytest.approx(1600 / 45)
    assert made["odi_band"] == "moderate"


def test_odi_three_sections_missing_is_not_scored(reg: Registry) -> None:
    answers: list[int | None] = [5, 4, 3, 2, 1, 0, None, None, None, 4]
    made = editing.create_item(
        reg, ADMIN, "MAIN-1", "visits", {"timepoint": "preop", **odi_values(answers)}
    )
    assert made["odi_percent"] is None
    assert made["odi_band"] is None


def test_odi_score_follows_an_update(reg: Registry) -> None:
    answers: list[int | None] = [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]
    made = editing.create_item(
        reg, ADMIN, "MAIN-1", "visits", {"timepoint": "preop", **odi_values(answers)}
    )
    # section 1: 5 → 0, raw 20 / 50 = 40.0 % (≤ 40: moderate)
    changed = editing.update_item(
        reg, ADMIN, "MAIN-1", "visits", made["id"], {"odi_1": 0}, version=made["version"]
    )
    assert changed["odi_percent"] == pytest.approx(40.0)
    assert changed["odi_band"] == "moderate"


# --- 4. access ----------------------------------------------------------------------------------


def test_other_site_patient_is_not_found_like_a_missing_one(reg: Registry) -> None:
    investigator = principal(reg, "investigator", "MAIN")
    with pytest.raises(NotFoundError) as hidden:
        editing.update_patient(reg, investigator, "OTHER-1", {"age": 69}, version=1)
    with pytest.raises(NotFoundError) as missing:
        editing.update_patient(reg, investigator, "NOBODY-9", {"age": 69}, version=1)
    assert type(hidden.value) is type(missing.value)
    assert str(hidden.value).replace("OTHER-1", "X") == str(missing.value).replace("NOBODY-9", "X")

    for call in (
        lambda code: editing.delete_patient(reg, investigator, code, version=1),
        lambda code: editing.create_item(reg, investigator, code, "visits", {"timepoint": "preop"}),
        lambda code: editing.list_items(reg, investigator, code, "visits"),
    ):
        with pytest.raises(NotFoundError):
            call("OTHER-1")
    assert editing.read_patient(reg, ADMIN, "OTHER-1")["age"] == 68


@pytest.mark.parametrize("role", ["analyst", "observer"])
def test_read_only_roles_may_not_create_a_visit(reg: Registry, role: str) -> None:
    reader = principal(reg, role, "MAIN")
    counts = reg.counts()
    with pytest.raises(AccessDenied):
        editing.create_item(reg, reader, "MAIN-1", "visits", {"timepoint": "preop", "vas": 3})
    with pytest.raises(AccessDenied):
        editing.update_patient(reg, reader, "MAIN-1", {"age": 71}, version=1)
    with pytest.raises(AccessDenied):
        editing.create_patient(
            reg, reader, {"patient_id": "NEW-1", "site": "MAIN", "sex": "F", "age": 70}
        )
    assert reg.counts() == counts
    assert editing.list_items(reg, reader, "MAIN-1", "visits") == []


@pytest.mark.parametrize("role", ["analyst", "observer"])
def test_read_only_roles_may_not_record_identity(reg: Registry, role: str) -> None:
    reader = principal(reg, role, "MAIN")
    with pytest.raises(AccessDenied):
        editing.create_patient(
            reg,
            reader,
            {
                "patient_id": "NEW-1",
                "site": "MAIN",
                "sex": "F",
                "age": 70,
                "identity": {"full_name": FULL_NAME},
            },
        )
    with pytest.raises(AccessDenied):
        editing.update_patient(
            reg, reader, "MAIN-1", {"identity": {"full_name": FULL_NAME}}, version=1
        )
    assert "identity" not in editing.read_patient(reg, reader, "MAIN-1")


def test_identity_accepted_for_investigator_and_admin_of_the_site(reg: Registry) -> None:
    investigator = principal(reg, "investigator", "MAIN")
    made = editing.create_patient(
        reg,
        investigator,
        {
            "patient_id": "MAIN-2",
            "site": "MAIN",
            "sex": "F",
            "age": 81,
            "identity": {"full_name": FULL_NAME, "hospital_number": HOSPITAL_NUMBER},
        },
    )
    assert made["identity"]["full_name"] == FULL_NAME
    assert made["identity"]["hospital_number"] == HOSPITAL_NUMBER

    changed = editing.update_patient(
        reg, ADMIN, "MAIN-2", {"identity": {"phone": PHONE}}, version=made["version"]
    )
    assert changed["identity"] == {
        "full_name": FULL_NAME,
        "hospital_number": HOSPITAL_NUMBER,
        "phone": PHONE,
        "version": 2,
    }

    # an investigator of MAIN does not see OTHER's patient, identity or not
    with pytest.raises(NotFoundError):
        editing.update_patient(
            reg, investigator, "OTHER-1", {"identity": {"full_name": FULL_NAME}}, version=1
        )
    # nor may it create a patient at OTHER: located on ``site``, nothing written
    counts = reg.counts()
    with pytest.raises(ClinicalValueErrors) as caught:
        editing.create_patient(
            reg,
            investigator,
            {
                "patient_id": "OTHER-2",
                "site": "OTHER",
                "sex": "M",
                "age": 70,
                "identity": {"full_name": FULL_NAME},
            },
        )
    assert problem_fields(caught.value) == {"site"}
    assert reg.counts() == counts


def test_investigator_may_not_move_a_patient_to_a_site_not_theirs(reg: Registry) -> None:
    investigator = principal(reg, "investigator", "MAIN")
    with pytest.raises(ClinicalValueErrors) as caught:
        editing.update_patient(reg, investigator, "MAIN-1", {"site": "OTHER"}, version=1)
    assert problem_fields(caught.value) == {"site"}
    assert editing.read_patient(reg, ADMIN, "MAIN-1")["site"] == "MAIN"


# --- 5. audit -------------------------------------------------------------------------------


def test_update_records_before_and_after_of_the_changed_field(reg: Registry) -> None:
    made = editing.create_item(reg, ADMIN, "MAIN-1", "visits", {"timepoint": "preop", "vas": 7})
    editing.update_item(reg, ADMIN, "MAIN-1", "visits", made["id"], {"vas": 5.5}, version=1)
    last = audit_rows(reg)[-1]
    assert (last["action"], last["entity"], last["entity_key"]) == (
        "update",
        "visit",
        "MAIN-1/preop",
    )
    before, after = json.loads(last["before"]), json.loads(last["after"])
    assert before["vas"] == 7.0
    assert after["vas"] == 5.5
    assert {key for key in after if after[key] != before.get(key)} <= {"vas", "version"}

    editing.update_patient(reg, ADMIN, "MAIN-1", {"age": 71}, version=1)
    last = audit_rows(reg)[-1]
    assert (last["action"], last["entity"], last["entity_key"]) == ("update", "patient", "MAIN-1")
    assert json.loads(last["before"])["age"] == 70
    assert json.loads(last["after"])["age"] == 71
    assert reg.verify_audit().ok


def test_an_update_that_changes_nothing_is_not_audited(reg: Registry) -> None:
    made = editing.create_item(reg, ADMIN, "MAIN-1", "visits", {"timepoint": "preop", "vas": 7})
    events = audit_count(reg)
    same = editing.update_item(reg, ADMIN, "MAIN-1", "visits", made["id"], {"vas": 7}, version=1)
    assert same["vas"] == 7.0
    assert audit_count(reg) == events


def _identity_rows(reg: Registry) -> int:
    with reg.read() as session:
        return int(session.execute(text("SELECT count(*) FROM patient_identity")).scalar_one())


def test_a_blank_identity_is_not_recorded(reg: Registry) -> None:
    """A form sends the identity fields empty when nobody typed them: no empty row."""
    before = _identity_rows(reg)
    blank = {"full_name": "", "hospital_number": " ", "phone": None}
    made = editing.create_patient(
        reg,
        ADMIN,
        {"patient_id": "MAIN-3", "site": "MAIN", "sex": "M", "age": 77, "identity": blank},
    )
    editing.update_patient(reg, ADMIN, "MAIN-3", {"identity": blank}, version=made["version"])
    assert _identity_rows(reg) == before
    assert editing.read_patient(reg, ADMIN, "MAIN-3").get("identity") is None

    editing.update_patient(
        reg, ADMIN, "MAIN-3", {"identity": {"full_name": FULL_NAME}}, version=made["version"]
    )
    assert _identity_rows(reg) == before + 1


def test_identity_never_appears_in_clear_in_the_audit_table(reg: Registry) -> None:
    investigator = principal(reg, "investigator", "MAIN")
    made = editing.create_patient(
        reg,
        investigator,
        {
            "patient_id": "MAIN-2",
            "site": "MAIN",
            "sex": "F",
            "age": 81,
            "identity": {"full_name": FULL_NAME, "hospital_number": HOSPITAL_NUMBER},
        },
    )
    editing.read_patient(reg, investigator, "MAIN-2")
    changed = editing.update_patient(
        reg,
        investigator,
        "MAIN-2",
        {"age": 82, "identity": {"full_name": FULL_NAME + " Jr", "phone": PHONE}},
        version=made["version"],
    )
    editing.delete_patient(reg, investigator, "MAIN-2", version=changed["version"])

    rows = audit_rows(reg)
    identity_events = [
        (row["action"], row["entity"]) for row in rows if row["entity"] == "identity"
    ]
    assert ("create", "identity") in identity_events
    assert ("update", "identity") in identity_events
    assert ("delete", "identity") in identity_events
    with reg.engine.connect() as connection:
        dump = "\n".join(
            " ".join("" if value is None else str(value) for value in row)
            for row in connection.execute(text("SELECT * FROM audit_event")).all()
        )
    for clear in (FULL_NAME, "Zhang Meilin", HOSPITAL_NUMBER, PHONE):
        assert clear not in dump
    update = next(row for row in rows if row["action"] == "update" and row["entity"] == "identity")
    assert json.loads(update["after"])["full_name"].startswith("hmac:")
    assert reg.verify_audit().ok


# --- 6. delete ------------------------------------------------------------------------------


def test_delete_with_the_current_version_removes_and_audits(reg: Registry) -> None:
    made = editing.create_item(reg, ADMIN, "MAIN-1", "visits", {"timepoint": "preop", "vas": 7})
    changed = editing.update_item(reg, ADMIN, "MAIN-1", "visits", made["id"], {"vas": 6}, version=1)
    editing.delete_item(reg, ADMIN, "MAIN-1", "visits", made["id"], version=changed["version"])
    assert visit_row(reg, made["id"]) is None
    with pytest.raises(NotFoundError):
        editing.read_item(reg, ADMIN, "MAIN-1", "visits", made["id"])
    last = audit_rows(reg)[-1]
    assert (last["action"], last["entity"], last["entity_key"]) == (
        "delete",
        "visit",
        "MAIN-1/preop",
    )
    assert json.loads(last["before"])["vas"] == 6.0
    assert last["after"] is None
    assert reg.verify_audit().ok


def test_delete_with_a_stale_version_is_refused_and_the_row_stays(reg: Registry) -> None:
    made = editing.create_item(reg, ADMIN, "MAIN-1", "visits", {"timepoint": "preop", "vas": 7})
    editing.update_item(reg, ADMIN, "MAIN-1", "visits", made["id"], {"vas": 6}, version=1)
    events = audit_count(reg)
    with pytest.raises(StaleVersion) as caught:
        editing.delete_item(reg, ADMIN, "MAIN-1", "visits", made["id"], version=1)
    assert (caught.value.yours, caught.value.stored) == (1, 2)
    assert visit_row(reg, made["id"]) == {"vas": 6.0, "version": 2}
    assert audit_count(reg) == events


def test_patient_delete_stale_then_current(reg: Registry) -> None:
    editing.create_item(reg, ADMIN, "MAIN-1", "visits", {"timepoint": "preop", "vas": 7})
    editing.update_patient(reg, ADMIN, "MAIN-1", {"age": 71}, version=1)
    with pytest.raises(StaleVersion):
        editing.delete_patient(reg, ADMIN, "MAIN-1", version=1)
    assert editing.read_patient(reg, ADMIN, "MAIN-1")["age"] == 71

    editing.delete_patient(reg, ADMIN, "MAIN-1", version=2)
    with pytest.raises(NotFoundError):
        editing.read_patient(reg, ADMIN, "MAIN-1")
    assert reg.counts()["visit"] == 0
    last = audit_rows(reg)[-1]
    assert (last["action"], last["entity"], last["entity_key"]) == ("delete", "patient", "MAIN-1")
    assert json.loads(last["before"])["age"] == 71
    assert reg.verify_audit().ok


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("vertebrae", {"level": "L2", "treated": False}),
        ("adverse-events", {"event_date": "2024-05-01", "type": "other"}),
    ],
)
def test_other_kinds_delete_by_version(reg: Registry, kind: str, values: dict[str, Any]) -> None:
    made = editing.create_item(reg, ADMIN, "MAIN-1", kind, values)
    with pytest.raises(StaleVersion):
        editing.delete_item(reg, ADMIN, "MAIN-1", kind, made["id"], version=made["version"] + 1)
    assert [item["id"] for item in editing.list_items(reg, ADMIN, "MAIN-1", kind)] == [made["id"]]
    editing.delete_item(reg, ADMIN, "MAIN-1", kind, made["id"], version=made["version"])
    assert editing.list_items(reg, ADMIN, "MAIN-1", kind) == []
    assert audit_rows(reg)[-1]["action"] == "delete"


# --- procedures and measurements --------------------------------------------------------------


def test_procedure_levels_update_is_versioned_and_audited(reg: Registry) -> None:
    editing.create_item(reg, ADMIN, "MAIN-1", "vertebrae", {"level": "L1", "treated": True})
    editing.create_item(reg, ADMIN, "MAIN-1", "vertebrae", {"level": "T12", "treated": True})
    made = editing.create_item(
        reg,
        ADMIN,
        "MAIN-1",
        "procedures",
        {"procedure_date": "2024-03-01", "levels": [{"level": "L1", "cement_volume_ml": 3.5}]},
    )
    assert made["version"] == 1
    assert [(item["level"], item["cement_volume_ml"]) for item in made["levels"]] == [("L1", 3.5)]

    changed = editing.update_item(
        reg,
        ADMIN,
        "MAIN-1",
        "procedures",
        made["id"],
        {"levels": [{"level": "L1", "cement_volume_ml": 4.0}, {"level": "T12"}]},
        version=1,
    )
    assert changed["version"] == 2
    # levels in spinal order: T12 above L1
    assert [item["level"] for item in changed["levels"]] == ["T12", "L1"]
    last = audit_rows(reg)[-1]
    assert (last["action"], last["entity"], last["entity_key"]) == (
        "update",
        "procedure",
        "MAIN-1/2024-03-01",
    )
    assert [lv["cement_volume_ml"] for lv in json.loads(last["before"])["levels"]] == [3.5]

    with pytest.raises(StaleVersion):
        editing.update_item(
            reg, ADMIN, "MAIN-1", "procedures", made["id"], {"operator": "Dr Li"}, version=1
        )
    editing.delete_item(reg, ADMIN, "MAIN-1", "procedures", made["id"], version=2)
    assert editing.list_items(reg, ADMIN, "MAIN-1", "procedures") == []
    assert reg.counts()["treated_level"] == 0
    assert reg.verify_audit().ok


def test_measurement_create_update_delete(reg: Registry) -> None:
    editing.create_item(reg, ADMIN, "MAIN-1", "vertebrae", {"level": "L1", "treated": False})
    editing.create_item(reg, ADMIN, "MAIN-1", "visits", {"timepoint": "preop"})
    investigator = principal(reg, "investigator", "MAIN")
    made = editing.create_item(
        reg,
        investigator,
        "MAIN-1",
        "measurements",
        {"level": "L1", "timepoint": "preop", "observer": "obs1", "anterior_height_mm": 20},
    )
    assert (made["level"], made["timepoint"], made["role"]) == ("L1", "preop", "primary")

    with pytest.raises(ClinicalValueErrors) as caught:
        editing.create_item(
            reg,
            investigator,
            "MAIN-1",
            "measurements",
            {"level": "L1", "timepoint": "m3", "observer": "obs 2"},
        )
    assert problem_fields(caught.value) == {"timepoint", "observer"}

    changed = editing.update_item(
        reg,
        investigator,
        "MAIN-1",
        "measurements",
        made["id"],
        {"anterior_height_mm": 18},
        version=made["version"],
    )
    assert changed["anterior_height_mm"] == 18.0
    last = audit_rows(reg)[-1]
    assert json.loads(last["before"])["anterior_height_mm"] == 20.0
    assert json.loads(last["after"])["anterior_height_mm"] == 18.0

    with pytest.raises(StaleVersion):
        editing.delete_item(reg, investigator, "MAIN-1", "measurements", made["id"], version=1)
    editing.delete_item(
        reg, investigator, "MAIN-1", "measurements", made["id"], version=changed["version"]
    )
    assert reg.counts()["measurement"] == 0


def test_item_of_another_patient_is_not_found(reg: Registry) -> None:
    made = editing.create_item(reg, ADMIN, "OTHER-1", "visits", {"timepoint": "preop", "vas": 2})
    editing.create_patient(
        reg, ADMIN, {"patient_id": "MAIN-2", "site": "MAIN", "sex": "F", "age": 70}
    )
    investigator = principal(reg, "investigator", "MAIN")
    with pytest.raises(NotFoundError):
        editing.update_item(
            reg, investigator, "MAIN-2", "visits", made["id"], {"vas": 9}, version=1
        )
    with pytest.raises(NotFoundError):
        editing.delete_item(reg, investigator, "MAIN-2", "visits", made["id"], version=1)
    assert visit_row(reg, made["id"]) == {"vas": 2.0, "version": 1}


# --- what a delete takes with it is audited too -------------------------------------------------


def _one_measurement(reg: Registry) -> tuple[dict[str, Any], dict[str, Any]]:
    vertebra = editing.create_item(
        reg, ADMIN, "MAIN-1", "vertebrae", {"level": "L1", "treated": False}
    )
    visit = editing.create_item(reg, ADMIN, "MAIN-1", "visits", {"timepoint": "preop", "vas": 7})
    editing.create_item(
        reg,
        ADMIN,
        "MAIN-1",
        "measurements",
        {"level": "L1", "timepoint": "preop", "observer": "obs1", "anterior_height_mm": 21.5},
    )
    return vertebra, visit


def test_deleting_a_visit_audits_the_measurements_that_go_with_it(reg: Registry) -> None:
    _, visit = _one_measurement(reg)
    editing.delete_item(reg, ADMIN, "MAIN-1", "visits", visit["id"], version=visit["version"])
    assert reg.counts()["measurement"] == 0
    *_, measurement_event, visit_event = audit_rows(reg)
    assert (measurement_event["action"], measurement_event["entity"]) == ("delete", "measurement")
    assert measurement_event["entity_key"] == "MAIN-1/L1/preop/obs1/primary"
    assert json.loads(measurement_event["before"])["anterior_height_mm"] == 21.5
    assert (visit_event["action"], visit_event["entity"]) == ("delete", "visit")
    assert reg.verify_audit().ok


def test_a_vertebra_with_a_procedure_is_not_deleted_until_its_treated_level_is(
    reg: Registry,
) -> None:
    vertebra = editing.create_item(
        reg, ADMIN, "MAIN-1", "vertebrae", {"level": "L2", "treated": True}
    )
    editing.create_item(
        reg,
        ADMIN,
        "MAIN-1",
        "procedures",
        {"procedure_date": "2024-03-01", "levels": [{"level": "L2"}]},
    )
    counts, events = reg.counts(), len(audit_rows(reg))
    with pytest.raises(ClinicalValueErrors) as caught:
        editing.delete_item(
            reg, ADMIN, "MAIN-1", "vertebrae", vertebra["id"], version=vertebra["version"]
        )
    assert problem_fields(caught.value) == {"level"}
    assert "remove its treated level first" in str(caught.value)
    assert reg.counts() == counts and len(audit_rows(reg)) == events


def test_deleting_a_patient_audits_every_record_it_removes(reg: Registry) -> None:
    _one_measurement(reg)
    editing.delete_patient(reg, ADMIN, "MAIN-1", version=1)
    removed = [
        (row["entity"], row["entity_key"]) for row in audit_rows(reg) if row["action"] == "delete"
    ]
    assert removed == [
        ("measurement", "MAIN-1/L1/preop/obs1/primary"),
        ("visit", "MAIN-1/preop"),
        ("vertebra", "MAIN-1/L1"),
        ("patient", "MAIN-1"),
    ]
    assert reg.verify_audit().ok
