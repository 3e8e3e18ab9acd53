"""``create_app``: the FastAPI app over one registry (pages, REST API, static files)."""

from __future__ import annotations

from dataclasses import replace
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kyphos.clinical.errors import ClinicalValueError, ClinicalValueErrors
from kyphos.config import Settings, get_settings
from kyphos.errors import KyphosError, NotFoundError
from kyphos.registry import browse
from kyphos.registry.repository import Registry
from kyphos.web import deps, i18n
from kyphos.web.auth import SESSION_COOKIE, SessionCodec, TokenCodec
from kyphos.web.csrf import CsrfRefused
from kyphos.web.deps import ApiError, SignInRequired, WebState
from kyphos.web.routes import (
    api,
    api_radiographs,
    api_resources,
    forms,
    pages,
    pages_more,
    radiographs,
)

STATIC = Path(__file__).parent / "static"
API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The web app over the registry that ``settings`` name (the environment by default)."""
    settings = settings or get_settings()
    registry = Registry.open(settings)
    registry.protocol()  # read once: each request's copy of the registry inherits it
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
        templates=deps.page_templates(),
    )
    i18n.install(app.state.kyphos.templates.env)  # |day, |moment, |month, |num filters
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for pages_router in (forms.router, pages.router, pages_more.router, radiographs.router):
        # forms first: /patients/new before /patients/{study_code}
        app.include_router(pages_router, dependencies=deps.PAGE_GUARDS)
    app.include_router(api.router, prefix=API_PREFIX)
    app.include_router(api_radiographs.router, prefix=API_PREFIX)
    api_resources.install(app, API_PREFIX)  # REST records, report, export, import
    app.add_middleware(_SessionCookie)
    _add_error_handlers(app)
    return app


def _is_api(request: Request) -> bool:
    return _is_api_path(request.url.path)


def _is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIX + "/") or path == API_PREFIX


class _SessionCookie:
    """Pages: read the signed session, and send it back refreshed with every answer.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` (``app.middleware("http")``)
    costs an extra task and a copy of the response stream on every request. The session
    lives in ``scope["state"]``, which is ``request.state`` for the routes.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or _is_api_path(path) or path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        state: WebState = scope["app"].state.kyphos
        now = state.clock()
        cookie = Request(scope).cookies.get(SESSION_COOKIE)
        shared = scope.setdefault("state", {})
        shared["session"] = state.sessions.loads(cookie, now)
        secure = scope.get("scheme") == "https"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                session = replace(shared["session"], seen=now)
                headers = MutableHeaders(scope=message)
                headers.append("set-cookie", _cookie(state.sessions.dumps(session), secure))
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _cookie(value: str, secure: bool) -> str:
    """The session cookie: HttpOnly, SameSite=Lax, Secure over https (as Starlette sets it)."""
    jar: SimpleCookie = SimpleCookie()
    jar[SESSION_COOKIE] = value
    morsel = jar[SESSION_COOKIE]
    morsel["path"] = "/"
    morsel["httponly"] = True
    morsel["samesite"] = "lax"
    if secure:
        morsel["secure"] = True
    return morsel.OutputString()


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
