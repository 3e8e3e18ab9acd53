"""A registry with two sites, one user per role and one patient per site, behind the app.

* site MAIN: patient OWN-1 (identity "Wang Own", hospital number H-OWN-77); the
  investigator, observer and analyst belong to MAIN.
* site OTHER: patient OTHER-1 (identity "Li Other", hospital number H-OTH-88).
* ``admin`` (from the ``registry`` fixture) belongs to no site and sees both.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from web_client import PASSWORD, ROLE_USERS, Clock, Web

from kyphos.registry.models import Patient, PatientIdentity, Site, Visit
from kyphos.registry.repository import Registry
from kyphos.web import create_app
from kyphos.web.deps import WebState


@pytest.fixture
def web(registry: Registry, admin_password: str) -> Web:
    registry.add_site("OTHER", "Other hospital")
    for role in ROLE_USERS:
        registry.add_user(role, role=role, password=PASSWORD, sites=["MAIN"])
    with registry.write() as session:
        sites = {site.code: site.id for site in session.query(Site)}
        for code, site, name, number in (
            ("OWN-1", "MAIN", "Wang Own", "H-OWN-77"),
            ("OTHER-1", "OTHER", "Li Other", "H-OTH-88"),
        ):
            patient = Patient(study_code=code, site_id=sites[site], sex="F", age=71)
            session.add(patient)
            session.flush()
            session.add(
                PatientIdentity(patient_id=patient.id, full_name=name, hospital_number=number)
            )
            session.add(Visit(patient_id=patient.id, timepoint="preop", vas=7.5))
    app = create_app(registry.settings)
    clock = Clock()
    state: WebState = app.state.kyphos
    state.clock = clock
    passwords = {"admin": admin_password, **dict.fromkeys(ROLE_USERS, PASSWORD)}
    client = TestClient(app, follow_redirects=False)
    return Web(registry=registry, client=client, clock=clock, passwords=passwords)
