"""schemathesis over every operation of ``/api/v1/openapi.json``: never a 5xx, and every
answer (status and body) as the OpenAPI document describes it (issue 6).

The schema is loaded from the ASGI app of the ``web`` fixture (no server). One run
carries an admin's bearer token, one carries none. Each operation gets at most
``MAX_EXAMPLES`` generated requests, valid and invalid ones by the schema (about 35
operations: a few hundred requests per run); the failures of every operation are
collected and reported together. With the token, the records below a patient are
addressed through the existing patient ``OWN-1``, so that generated bodies reach the use
cases and the database rather than stopping at a 404.

(schemathesis's own pytest integration, ``schemathesis.pytest.from_fixture``, does not
run under pytest 9; the operations are driven with Hypothesis directly.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.transport import Response
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select
from web_client import Web

from kyphos.registry.models import User

MAX_EXAMPLES = 8
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
OWN_PATIENT = "OWN-1"
TOKEN_PATH = "/api/v1/auth/token"

BOUNDED = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _schema(web: Web) -> BaseSchema:
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", web.client.app)


def _admin_token(web: Web) -> str:
    """A fresh token of the admin, issued directly: the fuzzed ``/auth/token`` may throttle
    the admin's sign-ins, and the fuzzed ``/auth/revoke`` revokes the token it is sent."""
    state = web.client.app.state.kyphos
    with web.registry.read() as session:
        user_id, generation = session.execute(
            select(User.id, User.session_generation).where(User.username == "admin")
        ).one()
    return str(state.tokens.issue(user_id, state.clock(), generation))


def _cases(operation: APIOperation) -> st.SearchStrategy[Any]:
    """The documented examples, requests valid by the schema and requests that break it."""
    return st.one_of(
        *operation.get_strategies_from_examples(),
        *(
            operation.as_strategy(mode)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        ),
    )


def _driver(
    operation: APIOperation, call: Callable[[Any], Response], answered: set[int]
) -> Callable[[], None]:
    """The bounded Hypothesis test of one operation; it notes each status in ``answered``."""

    @BOUNDED
    @given(case=_cases(operation))
    def drive(case: Any) -> None:
        answered.add(call(case).status_code)

    result: Callable[[], None] = drive
    return result


def _run_every_operation(
    schema: BaseSchema, call: Callable[[Any], Response]
) -> tuple[list[str], dict[str, set[int]]]:
    """Drive each operation: the failures of all (each with its reproduction), and the
    statuses each operation (``POST /api/v1/patients``) answered."""
    failures: list[str] = []
    statuses: dict[str, set[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        name = f"{operation.method.upper()} {operation.path}"
        try:
            _driver(operation, call, statuses.setdefault(name, set()))()
        except (Exception, FailureGroup) as error:  # every operation's failures, reported
            failures.append(f"{name}: {error}")
    assert len(statuses) >= 30, f"only {len(statuses)} operations in the schema"
    return failures, statuses


def _on_own_patient(case: Any) -> None:
    """Address ``OWN-1`` in every operation on a patient except deleting the patient."""
    path = case.operation.path
    if "{patient_id}" not in path:
        return
    if case.method.upper() == "DELETE" and path.endswith("{patient_id}"):
        return
    case.path_parameters = {**(case.path_parameters or {}), "patient_id": OWN_PATIENT}


def test_every_operation_answers_as_documented_with_an_admin_token(web: Web) -> None:
    def call(case: Any) -> Response:
        _on_own_patient(case)
        headers = {"Authorization": f"Bearer {_admin_token(web)}"}
        response: Response = case.call_and_validate(headers=headers, checks=CHECKS)
        return response

    failures, statuses = _run_every_operation(_schema(web), call)
    assert not failures, "\n\n".join(failures)
    # Not only refusals: the documented examples get through to the database.
    created = [name for name, answered in statuses.items() if 201 in answered]
    assert len(created) == 6, statuses  # patients and the five kinds below a patient


def test_every_operation_answers_as_documented_without_a_token(web: Web) -> None:
    def call(case: Any) -> Response:
        if case.headers:
            case.headers.pop("Authorization", None)
        response: Response = case.call_and_validate(checks=CHECKS)
        if case.operation.path != TOKEN_PATH:
            assert response.status_code in (400, 401, 413, 422), response.text
        return response

    failures, statuses = _run_every_operation(_schema(web), call)
    assert not failures, "\n\n".join(failures)
    refused = [name for name, answered in statuses.items() if 401 in answered]
    assert len(refused) >= len(statuses) - 1, statuses  # all but /auth/token
