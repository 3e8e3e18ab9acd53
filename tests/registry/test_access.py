"""The role and site rules (issue 6 "Accounts, roles, sites"), as pure functions."""

from __future__ import annotations

import pytest

from kyphos.errors import NotFoundError
from kyphos.registry import access
from kyphos.registry.access import Principal
from kyphos.registry.models import Patient, Site
from kyphos.registry.repository import Registry

OWN_SITE, OTHER_SITE = 1, 2


def _who(role: str) -> Principal:
    return Principal(user_id=7, username=role, role=role, site_ids=frozenset({OWN_SITE}))


# role, may see own / other, read identity own / other, edit clinical own / other
RULES = [
    ("admin", True, True, True, True, True, True),
    ("investigator", True, False, True, False, True, False),
    ("observer", True, False, False, False, False, False),
    ("analyst", True, False, False, False, False, False),
]


@pytest.mark.parametrize(
    ("role", "see_own", "see_other", "id_own", "id_other", "ed_own", "ed_other"), RULES
)
def test_role_and_site_rules(
    role: str,
    see_own: bool,
    see_other: bool,
    id_own: bool,
    id_other: bool,
    ed_own: bool,
    ed_other: bool,
) -> None:
    who = _who(role)
    own, other = Patient(site_id=OWN_SITE), Patient(site_id=OTHER_SITE)
    assert (access.may_see_patient(who, own), access.may_see_patient(who, other)) == (
        see_own,
        see_other,
    )
    assert (access.may_read_identity(who, own), access.may_read_identity(who, other)) == (
        id_own,
        id_other,
    )
    assert (access.may_edit_clinical(who, own), access.may_edit_clinical(who, other)) == (
        ed_own,
        ed_other,
    )


def test_only_admins_and_investigators_search_identity() -> None:
    assert [
        access.may_search_identity(_who(r))
        for r in ("admin", "investigator", "observer", "analyst")
    ] == [
        True,
        True,
        False,
        False,
    ]


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="role 'root'"):
        Principal(user_id=1, username="x", role="root", site_ids=frozenset())


def test_a_hidden_patient_is_refused_like_a_missing_one(registry: Registry) -> None:
    registry.add_site("OTHER", "Other")
    with registry.write() as session:
        other = session.query(Site).filter_by(code="OTHER").one()
        main = session.query(Site).filter_by(code="MAIN").one()
        session.add(Patient(study_code="P-OTHER", site_id=other.id, sex="M", age=80))
        session.add(Patient(study_code="P-MAIN", site_id=main.id, sex="F", age=75))
        main_id = main.id
    who = Principal(user_id=1, username="i", role="investigator", site_ids=frozenset({main_id}))
    nobody = Principal(user_id=2, username="n", role="analyst", site_ids=frozenset())
    with registry.read() as session:
        assert access.visible_patient(session, who, "P-MAIN").study_code == "P-MAIN"
        with pytest.raises(NotFoundError) as hidden:
            access.visible_patient(session, who, "P-OTHER")
        with pytest.raises(NotFoundError) as missing:
            access.visible_patient(session, who, "P-NONE")
        with pytest.raises(NotFoundError):
            access.visible_patient(session, nobody, "P-MAIN")
    assert str(hidden.value).replace("P-OTHER", "X") == str(missing.value).replace("P-NONE", "X")
