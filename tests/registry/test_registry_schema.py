"""The schema: the shipped migration matches the models, and constraints guard the data.

The constraint tests write with SQLAlchemy Core ``insert()`` straight into the tables,
past every kyphos validator, to show that the database itself refuses bad values.
"""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Engine, Table, insert, inspect
from sqlalchemy.exc import IntegrityError

from kyphos.config import Settings
from kyphos.registry import migrate
from kyphos.registry.db import engine_for
from kyphos.registry.models import Base, Measurement, Patient, Vertebra, Visit
from kyphos.registry.repository import Registry

PATIENT = Patient.__table__
VERTEBRA = Vertebra.__table__
VISIT = Visit.__table__
MEASUREMENT = Measurement.__table__


@pytest.fixture
def migrated_engine(registry_settings: Settings) -> Engine:
    """A database brought to the newest revision by the migrations alone (no init)."""
    registry_settings.home.mkdir(parents=True, exist_ok=True)
    engine = engine_for(registry_settings.url)
    migrate.upgrade(engine)
    return engine


def test_migrations_build_exactly_the_schema_the_models_describe(migrated_engine: Engine) -> None:
    with migrated_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_migrations_create_every_check_constraint_of_the_models(migrated_engine: Engine) -> None:
    # Alembic's comparison does not look at CHECK constraints, so compare their names here.
    inspector = inspect(migrated_engine)
    missing: list[str] = []
    for table in Base.metadata.sorted_tables:
        in_models = {
            str(constraint.name)
            for constraint in table.constraints
            if isinstance(constraint, CheckConstraint)
        }
        in_database = {found["name"] for found in inspector.get_check_constraints(table.name)}
        missing.extend(sorted(f"{table.name}.{name}" for name in in_models - in_database))
    assert missing == []


def test_the_vertebra_visit_and_measurement_checks_exist_by_name(migrated_engine: Engine) -> None:
    inspector = inspect(migrated_engine)
    vertebra = {found["name"] for found in inspector.get_check_constraints("vertebra")}
    visit = {found["name"] for found in inspector.get_check_constraints("visit")}
    assert "ck_vertebra_level" in vertebra
    assert {"ck_visit_vas", "ck_visit_odi_1", "ck_visit_odi_3", "ck_visit_odi_10"} <= visit
    indexes = {index["name"]: index for index in inspector.get_indexes("measurement")}
    assert indexes["uq_measurement_one_adjudicator"]["unique"]


# --- constraints, bypassing kyphos ------------------------------------------------------------


def insert_row(engine: Engine, table: Table, **values: Any) -> int:
    with engine.begin() as connection:
        result = connection.execute(insert(table).values(**values))
        return int(result.inserted_primary_key[0])


@pytest.fixture
def rows(registry: Registry) -> dict[str, int]:
    """A patient with one vertebra (L1) and one visit (preop), all valid."""
    with registry.read() as session:
        site_id = registry.default_site(session).id
    patient_id = insert_row(
        registry.engine, PATIENT, study_code="KT-001", site_id=site_id, sex="F", age=72
    )
    vertebra_id = insert_row(
        registry.engine, VERTEBRA, patient_id=patient_id, level="L1", treated=True
    )
    visit_id = insert_row(registry.engine, VISIT, patient_id=patient_id, timepoint="preop")
    return {"site": site_id, "patient": patient_id, "vertebra": vertebra_id, "visit": visit_id}


def test_database_accepts_valid_boundary_values_written_directly(
    registry: Registry, rows: dict[str, int]
) -> None:
    insert_row(registry.engine, VERTEBRA, patient_id=rows["patient"], level="T12", treated=False)
    insert_row(
        registry.engine, VISIT, patient_id=rows["patient"], timepoint="postop", vas=10.0, odi_3=5
    )
    insert_row(registry.engine, VISIT, patient_id=rows["patient"], timepoint="final", vas=0.0)
    for observer in ("reader-a", "reader-b"):
        insert_row(
            registry.engine,
            MEASUREMENT,
            vertebra_id=rows["vertebra"],
            visit_id=rows["visit"],
            observer=observer,
            role="primary",
        )


def test_database_refuses_a_vertebra_at_level_t13(registry: Registry, rows: dict[str, int]) -> None:
    with pytest.raises(IntegrityError):
        insert_row(registry.engine, VERTEBRA, patient_id=rows["patient"], level="T13", treated=True)


def test_database_refuses_a_vas_of_11(registry: Registry, rows: dict[str, int]) -> None:
    with pytest.raises(IntegrityError):
        insert_row(registry.engine, VISIT, patient_id=rows["patient"], timepoint="m3", vas=11.0)


def test_database_refuses_an_odi_answer_of_6(registry: Registry, rows: dict[str, int]) -> None:
    with pytest.raises(IntegrityError):
        insert_row(registry.engine, VISIT, patient_id=rows["patient"], timepoint="m3", odi_3=6)


def test_database_refuses_a_second_patient_with_the_same_study_code(
    registry: Registry, rows: dict[str, int]
) -> None:
    with pytest.raises(IntegrityError):
        insert_row(
            registry.engine, PATIENT, study_code="KT-001", site_id=rows["site"], sex="M", age=80
        )


def test_database_refuses_a_second_adjudicator_for_the_same_vertebra_and_visit(
    registry: Registry, rows: dict[str, int]
) -> None:
    adjudication = {"vertebra_id": rows["vertebra"], "visit_id": rows["visit"]}
    insert_row(registry.engine, MEASUREMENT, **adjudication, observer="chief", role="adjudicator")
    with pytest.raises(IntegrityError):
        insert_row(
            registry.engine, MEASUREMENT, **adjudication, observer="deputy", role="adjudicator"
        )
