"""What routes declare they need: the registry, the signed-in viewer, page rendering."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from kyphos.clinical.values import NUL, refuse_nul
from kyphos.registry import browse
from kyphos.registry.access import Principal
from kyphos.registry.repository import Registry
from kyphos.web import i18n
from kyphos.web.auth import SessionCodec, SessionData, TokenCodec

TEMPLATES = Path(__file__).parent / "templates"
DEMO_FLAG_SECONDS = 5.0


@dataclass
class WebState:
    """Everything the app holds for its lifetime (``app.state.kyphos``)."""

    registry: Registry
    sessions: SessionCodec
    tokens: TokenCodec
    templates: Jinja2Templates
    clock: Callable[[], float] = time.time
    """Seconds since the epoch; tests move it to check time-outs and the throttle."""
    _demo: tuple[float, bool] | None = field(default=None, repr=False)

    def is_demo(self) -> bool:
        """The registry's demo flag, read again at most every :data:`DEMO_FLAG_SECONDS`.

        Every page shows the banner, so every page would read it; it changes only when
        ``kyphos demo`` loads the registry (in another process), so a page may show the
        change up to that many seconds late.
        """
        now = self.clock()
        if self._demo is None or not 0 <= now - self._demo[0] < DEMO_FLAG_SECONDS:
            self._demo = (now, self.registry.is_demo())
        return self._demo[1]


def page_templates() -> Jinja2Templates:
    """The page templates, compiled once: they ship inside the package and change only
    with it (Jinja's ``auto_reload`` would stat every template file on every page)."""
    templates = Jinja2Templates(directory=TEMPLATES)
    templates.env.auto_reload = False
    return templates


class SignInRequired(Exception):
    """No signed-in session: pages redirect to the sign-in page."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("sign-in required")
        self.expired = expired


class ApiError(Exception):
    """An API error answered as ``{"detail": [{"loc": [...], "msg": "..."}]}``."""

    def __init__(
        self, status: int, msg: str, loc: list[str | int] | None = None, **headers: str
    ) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg
        self.loc = loc or []
        self.headers = headers


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of this request: who, in which language, acting on the registry."""

    principal: Principal
    lang: str
    registry: Registry


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.kyphos
    return state


def session_of(request: Request) -> SessionData:
    session: SessionData = request.state.session
    return session


def request_language(request: Request, preferred: str | None = None) -> str:
    """``?lang=`` when given, else the user's preference, else the registry's default."""
    default = web_state(request).registry.settings.lang
    return i18n.language(request.query_params.get("lang"), i18n.language(preferred, default))


def page_viewer(request: Request) -> Viewer:
    session = session_of(request)
    if session.user_id is None:
        raise SignInRequired(expired=session.expired)
    state = web_state(request)
    found = browse.account(state.registry, session.user_id, generation=session.generation)
    if found is None:  # disabled, or signed out (this is a copy of an ended session)
        request.state.session = SessionData.fresh(state.clock())
        raise SignInRequired()
    principal, preferred = found
    return Viewer(
        principal=principal,
        lang=request_language(request, preferred),
        registry=replace(state.registry, actor=principal.username),
    )


def api_viewer(request: Request) -> Viewer:
    state = web_state(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing bearer token", ["header", "authorization"])
    holder = state.tokens.holder(token.strip(), state.clock())
    found = (
        browse.account(state.registry, holder[0], generation=holder[1])
        if holder is not None
        else None
    )
    if found is None:
        raise ApiError(401, "invalid or expired token", ["header", "authorization"])
    principal, preferred = found
    return Viewer(
        principal=principal,
        lang=i18n.language(preferred),
        registry=replace(state.registry, actor=principal.username),
    )


PageViewer = Annotated[Viewer, Depends(page_viewer)]
ApiViewer = Annotated[Viewer, Depends(api_viewer)]
State = Annotated[WebState, Depends(web_state)]


def render(
    request: Request,
    template: str,
    *,
    lang: str,
    viewer: Viewer | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page in ``lang`` with the shared context (user, CSRF token, demo banner)."""
    state = web_state(request)
    response: HTMLResponse = state.templates.TemplateResponse(
        request,
        template,
        {
            "_": i18n.translator(lang),
            "coded": lambda kind, value: i18n.coded_label(kind, value, lang),
            "lang": lang,
            "viewer": viewer,
            "csrf_token": getattr(getattr(request.state, "session", None), "csrf", ""),
            "demo": state.is_demo(),
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
    )
    return response


def address_without_nul(request: Request) -> None:
    """Pages: a NUL character in the path or the query is refused (422) before any route
    reads the registry (PostgreSQL refuses NUL in text; the API has its own guard)."""
    refuse_nul(request.scope.get("path", ""), "address")
    for name, value in request.query_params.multi_items():
        refuse_nul(name + value, name.replace(NUL, "") or "address")


PAGE_GUARDS = [Depends(address_without_nul)]
"""The dependencies every page router is included with (``create_app``)."""
