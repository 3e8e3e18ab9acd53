"""Writing through the registry: optimistic locking, users and passwords, the protocol."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from kyphos.clinical.protocol import Protocol, load_protocol
from kyphos.errors import ConflictError, KyphosError, NotFoundError
from kyphos.registry.models import Patient, Procedure, Visit
from kyphos.registry.repository import Registry, snapshot

USER_PASSWORD = "wang-password-2024"
INDEX_DATE = dt.date(2024, 1, 10)
# 2024 is a leap year: 21 days to 31 Jan, +29 Feb, +31 Mar, +30 Apr, +31 May, +30 Jun = 172,
# so day 200 is 28 July.
DAY_200 = dt.date(2024, 7, 28)


def add_patient(registry: Registry, study_code: str = "KT-001") -> int:
    with registry.write() as session:
        patient = Patient(
            study_code=study_code,
            site_id=registry.default_site(session).id,
            sex="F",
            age=72,
            weight_kg=55.0,
        )
        session.add(patient)
        session.flush()
        registry.record(
            session,
            action="create",
            entity="patient",
            entity_key=study_code,
            after=snapshot(patient, registry.secret),
        )
        return patient.id


def audit_count(registry: Registry) -> int:
    with registry.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM audit_event")).scalar_one())


def last_event(registry: Registry) -> dict[str, object]:
    with registry.engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT action, entity, entity_key, before, after FROM audit_event "
                "ORDER BY id DESC LIMIT 1"
            )
        ).one()
    return dict(row._mapping)


# --- optimistic locking -------------------------------------------------------------------------


def test_a_stale_update_from_a_second_session_is_refused_and_the_first_change_kept(
    registry: Registry,
) -> None:
    patient_id = add_patient(registry)
    factory = sessionmaker(bind=registry.engine, expire_on_commit=False)
    with factory() as first, factory() as second:
        # Each session ends its reading transaction, as a web request does before the user
        # submits (on SQLite an open transaction would hold the write lock).
        mine = first.get(Patient, patient_id)
        first.commit()
        theirs = second.get(Patient, patient_id)
        second.commit()
        assert mine is not None and theirs is not None

        mine.weight_kg = 60.0
        first.commit()
        theirs.weight_kg = 70.0
        with pytest.raises(StaleDataError):
            second.commit()

    with registry.read() as session:
        kept = session.get(Patient, patient_id)
        assert kept is not None
        assert (kept.weight_kg, kept.version) == (60.0, 2)


def test_a_stale_update_through_registry_write_is_a_conflict_error(registry: Registry) -> None:
    patient_id = add_patient(registry)
    with registry.read() as session:
        stale = session.get(Patient, patient_id)
    assert stale is not None
    with registry.write() as session:
        fresh = session.get(Patient, patient_id)
        assert fresh is not None
        fresh.weight_kg = 60.0
    events_before = audit_count(registry)

    with (
        pytest.raises(ConflictError, match="someone else saved this record first"),
        registry.write() as session,
    ):
        session.add(stale)
        stale.weight_kg = 70.0
        registry.record(session, action="update", entity="patient", entity_key="KT-001")

    with registry.read() as session:
        kept = session.get(Patient, patient_id)
        assert kept is not None
        assert kept.weight_kg == 60.0
    assert audit_count(registry) == events_before
    assert registry.verify_audit().ok


# --- users --------------------------------------------------------------------------------------


def test_add_user_stores_an_argon2id_hash_and_never_the_password(registry: Registry) -> None:
    registry.add_user("wang", role="investigator", password=USER_PASSWORD, sites=["MAIN"])
    with registry.engine.connect() as connection:
        stored = connection.execute(
            text("SELECT password_hash FROM user_account WHERE username = 'wang'")
        ).scalar_one()
    assert stored.startswith("$argon2id$")
    assert USER_PASSWORD not in stored


def test_add_user_gives_the_user_the_sites_asked_for(registry: Registry) -> None:
    registry.add_user("wang", role="investigator", password=USER_PASSWORD, sites=["MAIN"])
    wang = next(user for user in registry.list_users() if user.username == "wang")
    assert [site.code for site in wang.sites] == ["MAIN"]
    assert wang.role == "investigator"


def test_the_audit_event_of_a_new_user_holds_no_password_hash(registry: Registry) -> None:
    registry.add_user("wang", role="investigator", password=USER_PASSWORD)
    event = last_event(registry)
    assert (event["action"], event["entity"], event["entity_key"]) == ("create", "user", "wang")
    after = str(event["after"])
    assert "$argon2" not in after
    assert "password_hash" not in after
    assert USER_PASSWORD not in after
    assert json.loads(after)["role"] == "investigator"


def test_add_user_refuses_a_name_that_exists_already(registry: Registry) -> None:
    with pytest.raises(KyphosError, match="user 'admin' exists already"):
        registry.add_user("admin", role="observer", password=USER_PASSWORD)
    assert [user.role for user in registry.list_users()] == ["admin"]


def test_add_user_refuses_an_unknown_role_and_lists_the_roles(registry: Registry) -> None:
    with pytest.raises(KyphosError, match="role 'surgeon'") as refused:
        registry.add_user("wang", role="surgeon", password=USER_PASSWORD)
    for role in ("admin", "investigator", "observer", "analyst"):
        assert role in str(refused.value)


def test_add_user_refuses_a_password_shorter_than_ten_characters(registry: Registry) -> None:
    with pytest.raises(KyphosError, match="at least 10 characters"):
        registry.add_user("wang", role="observer", password="123456789")


def test_add_user_refuses_an_unknown_site_and_creates_nobody(registry: Registry) -> None:
    events_before = audit_count(registry)
    with pytest.raises(NotFoundError, match="site 'NORTH' does not exist"):
        registry.add_user("wang", role="investigator", password=USER_PASSWORD, sites=["NORTH"])
    assert [user.username for user in registry.list_users()] == ["admin"]
    assert audit_count(registry) == events_before


def test_check_password_accepts_the_right_password_only(registry: Registry) -> None:
    registry.add_user("wang", role="observer", password=USER_PASSWORD)
    accepted = registry.check_password("wang", USER_PASSWORD)
    assert accepted is not None and accepted.username == "wang"
    assert registry.check_password("wang", USER_PASSWORD + "x") is None
    assert registry.check_password("nobody", USER_PASSWORD) is None


def test_check_password_refuses_a_disabled_user(registry: Registry) -> None:
    registry.add_user("wang", role="observer", password=USER_PASSWORD)
    registry.disable_user("wang")
    assert registry.check_password("wang", USER_PASSWORD) is None


def test_disable_user_refuses_an_unknown_user(registry: Registry) -> None:
    with pytest.raises(NotFoundError, match="user 'nobody' does not exist"):
        registry.disable_user("nobody")


# --- the protocol -------------------------------------------------------------------------------

FOLLOW_UP_PROTOCOL = """\
timepoints:
  - preop
  - postop
  - {key: m3, window: [80, 100]}
  - m6
  - final
"""


def test_set_protocol_stores_the_new_protocol_and_audits_it(
    registry: Registry, tmp_path: Path
) -> None:
    protocol_file = tmp_path / "protocol.yaml"
    protocol_file.write_text(FOLLOW_UP_PROTOCOL, encoding="utf-8")

    registry.set_protocol(load_protocol(protocol_file))

    reopened = Registry.open(registry.settings).protocol()
    assert reopened.keys == ("preop", "postop", "m3", "m6", "final")
    m3 = reopened.get("m3")
    assert m3 is not None and (m3.window_start, m3.window_end) == (80, 100)
    event = last_event(registry)
    assert (event["action"], event["entity"]) == ("update", "protocol")
    before = json.loads(str(event["before"]))
    after = json.loads(str(event["after"]))
    assert [point["key"] for point in before["timepoints"]] == ["preop", "postop", "final"]
    assert [point["key"] for point in after["timepoints"]] == [
        "preop",
        "postop",
        "m3",
        "m6",
        "final",
    ]
    assert registry.verify_audit().ok


def add_visit_on_day_200(registry: Registry) -> None:
    """Patient KT-001 treated on 10 Jan 2024, seen on day 200 (final, by the default)."""
    patient_id = add_patient(registry)
    with registry.write() as session:
        session.add(Procedure(patient_id=patient_id, procedure_date=INDEX_DATE))
        session.add(Visit(patient_id=patient_id, timepoint="final", visit_date=DAY_200, vas=2.0))


def test_set_protocol_refuses_one_that_leaves_a_dated_visit_outside_every_time_point(
    registry: Registry,
) -> None:
    add_visit_on_day_200(registry)
    events_before = audit_count(registry)
    # m3 is held from day 80 to 100 and there is no final: day 200 would be unscheduled.
    shorter = Protocol.from_dict({"timepoints": ["preop", "postop", {"key": "m3"}]})

    with pytest.raises(KyphosError) as refused:
        registry.set_protocol(shorter)

    assert refused.value.problems == (
        "visit KT-001/final on 2024-07-28 falls outside every time point of the new protocol",
    )
    assert Registry.open(registry.settings).protocol().keys == ("preop", "postop", "final")
    assert audit_count(registry) == events_before


def test_set_protocol_accepts_one_whose_window_still_holds_the_visit(registry: Registry) -> None:
    add_visit_on_day_200(registry)
    covering = Protocol.from_dict(
        {"timepoints": ["preop", "postop", {"key": "m6", "window": [150, 210]}]}
    )

    registry.set_protocol(covering)

    assert Registry.open(registry.settings).protocol().keys == ("preop", "postop", "m6")
