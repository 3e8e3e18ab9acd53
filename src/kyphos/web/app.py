"""``create_app``: the FastAPI app over one registry (pages, REST API, static files)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from kyphos.clinical.errors import ClinicalValueError, ClinicalValueErrors
from kyphos.config import Settings, get_settings
from kyphos.errors import KyphosError, NotFoundError
from kyphos.registry import browse
from kyphos.registry.repository import Registry
from kyphos.web import deps, i18n
from kyphos.web.auth import SESSION_COOKIE, SessionCodec, TokenCodec
from kyphos.web.csrf import CsrfRefused
from kyphos.web.deps import ApiError, SignInRequired, WebState
from kyphos.web.routes import api, api_resources, pages, pages_more

STATIC = Path(__file__).parent / "static"
API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The web app over the registry that ``settings`` name (the environment by default)."""
    settings = settings or get_settings()
    registry = Registry.open(settings)
    app = FastAPI(
        title="kyphos",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.kyphos = WebState(
        registry=registry,
        sessions=SessionCodec(registry.secret, settings.session_idle_minutes * 60),
        tokens=TokenCodec(registry.secret, settings.token_minutes * 60),
        templates=Jinja2Templates(directory=deps.TEMPLATES),
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(pages.router)
    app.include_router(pages_more.router)
    app.include_router(api.router, prefix=API_PREFIX)
    api_resources.install(app, API_PREFIX)  # REST records, report, export, import
    app.middleware("http")(_session_cookie)
    _add_error_handlers(app)
    return app


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX + "/") or request.url.path == API_PREFIX


async def _session_cookie(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Pages: read the signed session, and send it back refreshed with every answer."""
    if _is_api(request) or request.url.path.startswith("/static/"):
        return await call_next(request)
    state: WebState = request.app.state.kyphos
    now = state.clock()
    request.state.session = state.sessions.loads(request.cookies.get(SESSION_COOKIE), now)
    response = await call_next(request)
    session = request.state.session
    session = type(session)(user_id=session.user_id, csrf=session.csrf, seen=now)
    response.set_cookie(
        SESSION_COOKIE,
        state.sessions.dumps(session),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


def _api_error(
    status: int, problems: list[tuple[list[str | int], str]], **headers: str
) -> Response:
    return JSONResponse(
        {"detail": [{"loc": loc, "msg": msg} for loc, msg in problems]},
        status_code=status,
        headers=headers or None,
    )


def _page_error(request: Request, status: int, messages: list[str]) -> Response:
    session = getattr(request.state, "session", None)
    preferred = None
    if session is not None and session.user_id is not None:
        found = browse.account(deps.web_state(request).registry, session.user_id)
        preferred = found[1] if found else None
    lang = deps.request_language(request, preferred)
    return deps.render(request, "error.html", lang=lang, status_code=status, messages=messages)


def _clinical_problems(error: ClinicalValueError) -> list[ClinicalValueError]:
    return list(error.problems) if isinstance(error, ClinicalValueErrors) else [error]


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, error: SignInRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = f"next={quote(target, safe='')}" + ("&expired=1" if error.expired else "")
        return RedirectResponse(f"/signin?{query}", status_code=303)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        return _api_error(error.status, [(error.loc, error.msg)], **error.headers)

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, error: CsrfRefused) -> Response:
        _ = i18n.translator(deps.request_language(request))
        return _page_error(
            request, 403, [_("The form has expired or did not come from this site; try again.")]
        )

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, error: NotFoundError) -> Response:
        if _is_api(request):
            return _api_error(404, [(["path"], line) for line in error.problems])
        _ = i18n.translator(deps.request_language(request))
        return _page_error(request, 404, [_("Not found.")])

    @app.exception_handler(KyphosError)
    async def kyphos_error(request: Request, error: KyphosError) -> Response:
        if _is_api(request):
            return _api_error(400, [([], line) for line in error.problems])
        return _page_error(request, 400, list(error.problems))

    @app.exception_handler(ClinicalValueError)
    async def clinical_error(request: Request, error: ClinicalValueError) -> Response:
        problems = _clinical_problems(error)
        if _is_api(request):
            return _api_error(422, [(["query", p.field], p.text("en")) for p in problems])
        lang = deps.request_language(request)
        return _page_error(request, 422, [f"{p.field}: {p.text(lang)}" for p in problems])

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        problems = [
            (
                [str(part) if not isinstance(part, int) else part for part in item.get("loc", ())],
                str(item.get("msg", "invalid value")),
            )
            for item in error.errors()
        ]
        if _is_api(request):
            return _api_error(422, problems)
        return _page_error(
            request, 422, [f"{'.'.join(str(p) for p in loc)}: {msg}" for loc, msg in problems]
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if _is_api(request):
            return _api_error(error.status_code, [([], str(error.detail))])
        _ = i18n.translator(deps.request_language(request))
        message = _("Not found.") if error.status_code == 404 else str(error.detail)
        return _page_error(request, error.status_code, [message])
