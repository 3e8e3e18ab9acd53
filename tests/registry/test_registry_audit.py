"""The audit trail: one hash chain, checked, tamper-evident, safe under concurrent writers,
and free of identity in clear."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, select, text

from kyphos.clinical.protocol import Protocol
from kyphos.registry import audit
from kyphos.registry.models import Base, Patient, PatientIdentity
from kyphos.registry.repository import Registry, snapshot

GENESIS = "0" * 64
FULL_NAME = "Zhao Guilan"
HOSPITAL_NUMBER = "HN-20240117-8842"
PHONE = "+86 139 1047 5521"
CLEAR_IDENTITY = (FULL_NAME, HOSPITAL_NUMBER, PHONE)
THREADS = 6
WRITES_PER_THREAD = 4
EVENTS_PER_WRITE = 2


def events(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, action, entity, entity_key, before, after, prev_hash, hash "
                "FROM audit_event ORDER BY id"
            )
        ).all()
    return [dict(row._mapping) for row in rows]


def add_patient_with_identity(registry: Registry, study_code: str = "KT-001") -> None:
    """A patient and their identity, written and audited as the web form would."""
    with registry.write() as session:
        patient = Patient(
            study_code=study_code, site_id=registry.default_site(session).id, sex="F", age=78
        )
        session.add(patient)
        session.flush()
        identity = PatientIdentity(
            patient_id=patient.id,
            full_name=FULL_NAME,
            hospital_number=HOSPITAL_NUMBER,
            phone=PHONE,
        )
        session.add(identity)
        session.flush()
        registry.record(
            session,
            action="create",
            entity="patient",
            entity_key=study_code,
            after=snapshot(patient, registry.secret),
        )
        registry.record(
            session,
            action="create",
            entity="identity",
            entity_key=study_code,
            after=snapshot(identity, registry.secret),
        )


def clear_identity_found(engine: Engine, tables: list[str]) -> list[str]:
    """``table: value`` for every clear identity string found in any cell of ``tables``."""
    found: list[str] = []
    with engine.connect() as connection:
        for name in tables:
            table = Base.metadata.tables[name]
            for row in connection.execute(select(table)):
                cells = " | ".join(str(value) for value in row)
                found.extend(f"{name}: {clear}" for clear in CLEAR_IDENTITY if clear in cells)
    return found


# --- the chain ----------------------------------------------------------------------------------


def test_the_first_event_links_to_genesis_and_each_next_to_the_one_before(
    registry: Registry,
) -> None:
    chain = events(registry.engine)
    assert chain[0]["prev_hash"] == GENESIS
    for before, event in itertools.pairwise(chain):
        assert event["prev_hash"] == before["hash"]
    assert all(len(str(event["hash"])) == 64 for event in chain)


def test_every_registry_write_appends_events_and_the_chain_verifies(registry: Registry) -> None:
    start = len(events(registry.engine))
    registry.add_user("li", role="observer", password="li-password-123")
    registry.disable_user("li")
    add_patient_with_identity(registry)
    registry.erase_identity("KT-001", reason="patient withdrew consent")
    registry.set_protocol(Protocol.from_dict({"timepoints": ["preop", "postop", "m3", "final"]}))

    added = [
        (event["action"], event["entity"], event["entity_key"])
        for event in events(registry.engine)[start:]
    ]
    assert added == [
        ("create", "user", "li"),
        ("update", "user", "li"),
        ("create", "patient", "KT-001"),
        ("create", "identity", "KT-001"),
        ("erase_identity", "identity", "KT-001"),
        ("update", "protocol", "registry"),
    ]
    report = registry.verify_audit()
    assert report.ok
    assert report.checked == start + len(added)


def test_disabling_a_user_twice_records_one_event(registry: Registry) -> None:
    registry.add_user("li", role="observer", password="li-password-123")
    registry.disable_user("li")
    count = len(events(registry.engine))
    registry.disable_user("li")
    assert len(events(registry.engine)) == count


def test_verify_names_an_event_whose_content_was_edited(registry: Registry) -> None:
    registry.add_user("li", role="observer", password="li-password-123")
    registry.disable_user("li")
    disabled = events(registry.engine)[-1]
    assert disabled["action"] == "update"
    with registry.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_event SET after = :after WHERE id = :id"),
            {"after": '{"active":true}', "id": disabled["id"]},
        )

    report = registry.verify_audit()

    assert report.broken_at == disabled["id"]
    assert report.problem is not None and "edited" in report.problem
    assert not report.ok


def test_verify_names_the_event_after_one_that_was_deleted(registry: Registry) -> None:
    registry.add_user("li", role="observer", password="li-password-123")
    registry.add_user("zhou", role="analyst", password="zhou-password-123")
    chain = events(registry.engine)
    middle, following = chain[len(chain) // 2], chain[len(chain) // 2 + 1]
    with registry.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": middle["id"]})

    report = registry.verify_audit()

    assert report.broken_at == following["id"]
    assert report.problem is not None and "removed" in report.problem


def test_verify_reports_how_many_events_it_checked_before_the_break(registry: Registry) -> None:
    chain = events(registry.engine)
    with registry.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_event SET actor = 'mallory' WHERE id = :id"),
            {"id": chain[1]["id"]},
        )
    report = registry.verify_audit()
    assert (report.checked, report.broken_at) == (1, chain[1]["id"])


def test_concurrent_writers_keep_one_unforked_chain(registry: Registry) -> None:
    """PostgreSQL: the advisory lock; SQLite: BEGIN IMMEDIATE with a busy timeout."""
    start = len(events(registry.engine))
    barrier = threading.Barrier(THREADS)

    def writer(number: int) -> None:
        barrier.wait()
        for write in range(WRITES_PER_THREAD):
            with registry.write() as session:
                for part in range(EVENTS_PER_WRITE):
                    registry.record(
                        session,
                        action="test",
                        entity="thread",
                        entity_key=f"{number}-{write}-{part}",
                    )

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for done in [pool.submit(writer, number) for number in range(THREADS)]:
            done.result()

    chain = events(registry.engine)
    assert len(chain) == start + THREADS * WRITES_PER_THREAD * EVENTS_PER_WRITE
    previous = [event["prev_hash"] for event in chain]
    assert len(set(previous)) == len(previous), "two events claim the same predecessor"
    report = registry.verify_audit()
    assert report.ok, report.problem
    assert report.checked == len(chain)


# --- identity -----------------------------------------------------------------------------------


def test_identity_never_enters_the_audit_trail_in_clear(registry: Registry) -> None:
    add_patient_with_identity(registry)

    assert clear_identity_found(registry.engine, ["audit_event"]) == []
    identity_event = events(registry.engine)[-1]
    assert identity_event["entity"] == "identity"
    assert str(identity_event["after"]).count("hmac:") == 3
    # The identity table itself holds them, in clear, for the people allowed to read it.
    assert len(clear_identity_found(registry.engine, ["patient_identity"])) == 3


def test_erasing_an_identity_removes_it_everywhere_and_keeps_the_chain_valid(
    registry: Registry,
) -> None:
    add_patient_with_identity(registry)

    assert registry.erase_identity("KT-001") is True

    with registry.engine.connect() as connection:
        left = connection.execute(text("SELECT count(*) FROM patient_identity")).scalar_one()
        patients = connection.execute(text("SELECT count(*) FROM patient")).scalar_one()
    assert (left, patients) == (0, 1)
    assert registry.verify_audit().ok
    assert clear_identity_found(registry.engine, sorted(Base.metadata.tables)) == []
    assert registry.erase_identity("KT-001") is False


def test_the_identity_hash_in_the_trail_depends_on_the_registry_secret(
    registry: Registry,
) -> None:
    identity = {"full_name": FULL_NAME, "hospital_number": HOSPITAL_NUMBER, "phone": PHONE}
    ours = audit.mask_identity(identity, registry.secret)
    theirs = audit.mask_identity(identity, b"another registry's secret key, 32+ chars")
    assert ours is not None and theirs is not None
    assert all(ours[field] != theirs[field] for field in identity)
    assert all(value not in str(ours) for value in CLEAR_IDENTITY)
