"""Who may see and change what: the role and site rules, in one place.

Pure functions over a :class:`Principal` (the signed-in user: id, name, role, sites).
The web pages, the REST API and (later) exports ask these; none re-states a rule.

* admin — every site, identity included, may edit.
* investigator — the patients of own sites, identity included, may edit them.
* observer — the patients of own sites without identity; no clinical edits; reads the
  radiographs assigned to them, blinded to the other readings until they submit
  (:func:`blinded_visits`).
* analyst — the patients of the sites granted, read-only and de-identified.

A patient of a site the principal cannot see is treated exactly like a missing one:
:func:`visible_patient` raises the same :class:`~kyphos.errors.NotFoundError` for both,
so the web layer answers 404 either way and never confirms that the patient exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.orm import Session

from kyphos.errors import NotFoundError
from kyphos.registry.models import ROLES, Patient, Radiograph, Reading, Site, User

ADMIN = "admin"
INVESTIGATOR = "investigator"
OBSERVER = "observer"
ANALYST = "analyst"

_IDENTITY_ROLES = frozenset({ADMIN, INVESTIGATOR})
_CLINICAL_EDIT_ROLES = frozenset({ADMIN, INVESTIGATOR})


@dataclass(frozen=True)
class Principal:
    """The acting user as the access rules need it."""

    user_id: int
    username: str
    role: str
    site_ids: frozenset[int]

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role {self.role!r}: must be one of {', '.join(ROLES)}")

    @classmethod
    def of(cls, user: User) -> Principal:
        return cls(
            user_id=user.id,
            username=user.username,
            role=user.role,
            site_ids=frozenset(site.id for site in user.sites),
        )


def sees_every_site(principal: Principal) -> bool:
    """Admins see every site; everyone else only the sites they belong to."""
    return principal.role == ADMIN


def may_see_site(principal: Principal, site_id: int) -> bool:
    return sees_every_site(principal) or site_id in principal.site_ids


def patient_filter(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on :class:`Patient` keeping the patients ``principal`` may see."""
    if sees_every_site(principal):
        return true()
    if not principal.site_ids:
        return false()
    return Patient.site_id.in_(sorted(principal.site_ids))


def site_filter(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on :class:`Site` keeping the sites ``principal`` may see."""
    if sees_every_site(principal):
        return true()
    if not principal.site_ids:
        return false()
    return Site.id.in_(sorted(principal.site_ids))


def may_see_patient(principal: Principal, patient: Patient) -> bool:
    return may_see_site(principal, patient.site_id)


def may_edit_clinical(principal: Principal, patient: Patient) -> bool:
    """Admins, and investigators of the patient's site; never observers or analysts."""
    return principal.role in _CLINICAL_EDIT_ROLES and may_see_patient(principal, patient)


def may_read_identity(principal: Principal, patient: Patient) -> bool:
    """Admins, and investigators of the patient's site."""
    return principal.role in _IDENTITY_ROLES and may_see_patient(principal, patient)


def may_search_identity(principal: Principal) -> bool:
    """Whether a patient search may match names and hospital numbers (within visible sites)."""
    return principal.role in _IDENTITY_ROLES


def not_found(study_code: str) -> NotFoundError:
    """The one answer for a patient that is missing *or* hidden from this principal."""
    return NotFoundError(f"patient {study_code!r} does not exist")


def visible_patient(session: Session, principal: Principal, study_code: str) -> Patient:
    """The patient with ``study_code`` if ``principal`` may see it, else :func:`not_found`."""
    patient = session.execute(
        select(Patient).where(Patient.study_code == study_code, patient_filter(principal))
    ).scalar_one_or_none()
    if patient is None:
        raise not_found(study_code)
    return patient


def blinded_visits(session: Session, principal: Principal) -> frozenset[int]:
    """Visits whose other observers' measurements ``principal`` may not see yet.

    Blinding (issue 7): an observer holding an unsubmitted reading of a radiograph must
    not see what anyone else measured at that radiograph's visit until they submit.
    """
    found = session.execute(
        select(Radiograph.visit_id)
        .join(Reading, Reading.radiograph_id == Radiograph.id)
        .where(
            Reading.observer_id == principal.user_id,
            Reading.submitted_at.is_(None),
            Radiograph.visit_id.is_not(None),
        )
    ).scalars()
    return frozenset(visit_id for visit_id in found if visit_id is not None)


def blinded(blinded_at: frozenset[int], principal: Principal, visit_id: int, observer: str) -> bool:
    """Whether ``observer``'s measurement at ``visit_id`` is hidden from ``principal``."""
    return visit_id in blinded_at and observer != principal.username
