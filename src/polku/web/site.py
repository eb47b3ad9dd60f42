"""The dashboard's plumbing: templates, the signed-in user, CSRF checks and HTML error pages.

No ``from __future__ import annotations``: FastAPI reads the dependencies' annotations.
"""

import functools
import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from polku import __version__
from polku.errors import Forbidden, PolkuError, Unauthorized
from polku.web import users
from polku.web.pages import registry
from polku.web.tables import cell_text
from polku.workspace import Workspace

SESSION_COOKIE = "polku_session"
HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class SignInRequired(Unauthorized):
    """No valid session: pages send the browser to the sign-in page."""


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _when(value: Any) -> str:
    return "" if value is None else str(value)[:16].replace("T", " ")


def _day(value: Any) -> str:
    return "" if value is None else str(value)[:10]


def _cell(value: Any, kind: str) -> str:
    if kind == "number":
        return _number(value)
    if kind == "when":
        return _when(value)
    if kind == "date":
        return _day(value)
    return cell_text(value)


@functools.cache
def templates() -> jinja2.Environment:
    """The Jinja2 environment over the package's templates (HTML autoescaped)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("polku.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=_number, when=_when, day=_day, cell=_cell, label=lambda s: (s or "").replace("_", " "))
    env.globals.update(version=__version__)
    return env


def safe_next(target: str | None) -> str:
    """A local path to go to after signing in (anything else becomes the overview)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/overview"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/overview"


class Site:
    """What the page routes share: the workspace, the session lookup, rendering and error pages."""

    def __init__(self, ws: Workspace, fresh: Callable[..., Any]) -> None:
        self.ws = ws
        self.fresh = fresh
        self.route_class = self._route_class()

    # ---- who is asking ---------------------------------------------------------------
    def user(self, request: Request) -> users.SignedIn | None:
        """The signed-in user of a request, or None."""
        return users.find_session(self.ws.store, request.cookies.get(SESSION_COOKIE))

    def needs(self, scope: str) -> Callable[[Request], users.SignedIn]:
        """A dependency: the signed-in user, whose role must allow ``scope`` (read, write or admin)."""

        def check(request: Request) -> users.SignedIn:
            user = getattr(request.state, "user", None) or self.user(request)  # looked up once per request
            if user is None:
                raise SignInRequired("sign in to see this page")
            request.state.user = user
            if not user.may(scope):
                raise Forbidden(f"your role ({user.role}) cannot do this; it needs a role with {scope!r} rights")
            return user

        return check

    def check_form(self, request: Request, user: users.SignedIn, token: str) -> None:
        """Refuse a state-changing form without the session's CSRF token or from another origin."""
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
            raise Forbidden("this form was sent from another site")
        if not hmac.compare_digest(token.encode(), user.csrf.encode()):
            raise Forbidden("the form's security token is missing or stale; reload the page and try again")

    @staticmethod
    async def write(request: Request, job: Callable[[], Any]) -> Any:
        """Run a write in the server's single writer thread (as the /v1 routes do)."""
        return await run_in_threadpool(request.app.state.writer.submit, job, group=False)

    # ---- pages -----------------------------------------------------------------------
    def render(self, request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        """A page from a template, with the navigation the signed-in user may see."""
        user: users.SignedIn | None = getattr(request.state, "user", None)
        nav = registry.nav(self.ws, user.scope) if user else []

        def export_url(name: str) -> str:
            return str(request.url.remove_query_params("export").include_query_params(export=name))

        html = templates().get_template(template).render(
            request=request, user=user, nav=nav, path=request.url.path, export_url=export_url, **context
        )
        return HTMLResponse(html, status_code=status)

    def error_page(self, request: Request, status: int, message: str) -> HTMLResponse:
        """An HTML error page saying what went wrong, in the dashboard's frame."""
        titles = {401: "Sign in needed", 403: "Not allowed", 404: "Not found", 422: "Not valid", 429: "Too many tries"}
        return self.render(request, "error.html", status=status, title=titles.get(status, "Error"), message=message)

    def _route_class(self) -> type[APIRoute]:
        site = self

        class PageRoute(APIRoute):
            """A route whose errors become HTML pages (or a sign-in redirect) with security headers."""

            def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
                handler = super().get_route_handler()

                async def run(request: Request) -> Response:
                    try:
                        response = await handler(request)
                    except SignInRequired as exc:
                        if request.method in ("GET", "HEAD"):
                            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                            response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
                        else:
                            response = site.error_page(request, 401, exc.message)
                    except PolkuError as exc:
                        response = site.error_page(request, exc.status, exc.message)
                    except RequestValidationError as exc:
                        fields = "; ".join(
                            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'form'}: {e['msg']}" for e in exc.errors()
                        )
                        response = site.error_page(request, 422, f"the request is not valid: {fields}")
                    for name, value in HEADERS.items():
                        response.headers.setdefault(name, value)
                    return response

                return run

        return PageRoute
