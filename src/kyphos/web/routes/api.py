"""The REST API (``/api/v1``): bearer tokens and patients, under the same access rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from kyphos.clinical.values import NUL, nul_problem
from kyphos.registry import browse, signin
from kyphos.web.deps import ApiError, ApiViewer, State

router = APIRouter()

WRONG_CREDENTIALS = "wrong user name or password"


class TokenRequest(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str


class ErrorBody(BaseModel):
    detail: list[ErrorItem]


class PatientSummary(BaseModel):
    patient_id: str
    site: str
    sex: str
    age: int | None
    levels: list[str]


class PatientList(BaseModel):
    items: list[PatientSummary]
    total: int
    page: int
    page_size: int


class IdentityOut(BaseModel):
    full_name: str | None
    hospital_number: str | None
    phone: str | None


class VertebraOut(BaseModel):
    level: str
    mri_t1: str | None
    mri_t2: str | None
    mri_stir: str | None
    acuity: str
    posterior_wall_intact: bool | None
    morphology: str | None
    treated: bool


class TreatedLevelOut(BaseModel):
    level: str
    technique: str
    approach: str | None
    cement_volume_ml: float | None
    leakage: list[str]
    leakage_symptomatic: bool | None


class ProcedureOut(BaseModel):
    procedure_date: dt.date
    anaesthesia: str | None
    operator: str | None
    levels: list[TreatedLevelOut]


class VisitOut(BaseModel):
    timepoint: str
    visit_date: dt.date | None
    vas: float | None
    odi_percent: float | None
    odi_band: str | None


class PatientOut(BaseModel):
    patient_id: str
    site: str
    sex: str
    age: int | None
    birth_date: dt.date | None
    height_cm: float | None
    weight_kg: float | None
    bmd_t_score: float | None
    comorbidities: list[str]
    injury_mechanism: str | None
    injury_date: dt.date | None
    symptom_onset_date: dt.date | None
    vertebrae: list[VertebraOut]
    procedures: list[ProcedureOut]
    visits: list[VisitOut]
    identity: IdentityOut | None = Field(
        default=None, description="Only for admins and the investigators of the patient's site."
    )


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 404, 413, 422, 429)
}
"""The errors these operations may answer (400: a body that is not JSON at all; 413: a
body over the limit, refused before any route)."""


@router.post("/auth/token", response_model=Token, responses=ERRORS)
def token(body: TokenRequest, state: State) -> Token:
    if NUL in body.username:  # no account has one, and the failure is audited
        raise ApiError(422, nul_problem("username").text("en"), ["body", "username"])
    now = dt.datetime.fromtimestamp(state.clock(), dt.UTC)
    outcome = signin.sign_in(state.registry, body.username, body.password, now=now, via="api")
    if outcome.throttled_for:
        raise ApiError(
            429,
            f"too many failed sign-ins; try again in {outcome.throttled_for} seconds",
            ["body"],
            **{"Retry-After": str(outcome.throttled_for)},
        )
    if outcome.principal is None:
        raise ApiError(401, WRONG_CREDENTIALS, ["body"])
    return Token(
        access_token=state.tokens.issue(
            outcome.principal.user_id,
            state.clock(),
            browse.session_generation(state.registry, outcome.principal.user_id),
        ),
        expires_in=state.tokens.lifetime_seconds,
    )


@router.get("/patients", response_model=PatientList, responses=ERRORS)
def list_patients(
    viewer: ApiViewer,
    q: Annotated[str, Query(max_length=browse.MAX_SEARCH_CHARS)] = "",
    site: Annotated[str, Query(max_length=32)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=browse.MAX_PAGE_SIZE)] = browse.PAGE_SIZE,
) -> PatientList:
    listing = browse.list_patients(
        viewer.registry, viewer.principal, search=q, site=site, page=page, page_size=page_size
    )
    return PatientList(
        items=[
            PatientSummary(
                patient_id=row.study_code,
                site=row.site,
                sex=row.sex,
                age=row.age,
                levels=row.levels,
            )
            for row in listing.rows
        ],
        total=listing.total,
        page=listing.page,
        page_size=listing.page_size,
    )


@router.get("/patients/{patient_id}", response_model=PatientOut, responses=ERRORS)
def get_patient(viewer: ApiViewer, patient_id: str) -> PatientOut:
    detail = browse.patient_detail(viewer.registry, viewer.principal, patient_id)
    values = asdict(detail)
    values["patient_id"] = values.pop("study_code")
    values.pop("identity_allowed")
    return PatientOut.model_validate(values)
