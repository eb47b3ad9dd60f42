"""Signing in and out: the sign-in form, the session cookie and a brake on password guessing.

No ``from __future__ import annotations``: FastAPI reads the routes' annotations.
"""

import hmac
import secrets
import threading
import time
from collections import deque
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from polku.web import users
from polku.web.site import SESSION_COOKIE, Site, safe_next

LOGIN_CSRF_COOKIE = "polku_login_csrf"
MAX_FAILURES = 10
FAILURE_WINDOW = 600.0  # seconds


class Throttle:
    """Counts failed sign-ins per client address and per user name; too many in a window are refused."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW) -> None:
        self.limit, self.window = limit, window
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        """The key's failures inside the window (an empty, unstored queue when there are none)."""
        q = self._fails.get(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            self._fails.pop(key, None)  # forget keys with no recent failure, so memory stays bounded
        return q

    def blocked(self, *keys: str) -> float:
        """Seconds to wait before any of ``keys`` may try again (0 when none is blocked)."""
        now = time.monotonic()
        with self._lock:
            waits = [q[0] + self.window - now for k in keys if len(q := self._recent(k, now)) >= self.limit]
        return max(waits, default=0.0)

    def fail(self, *keys: str) -> None:
        """Record a failed sign-in for each key."""
        now = time.monotonic()
        with self._lock:
            for k in keys:
                q = self._recent(k, now)
                q.append(now)
                self._fails[k] = q


def router(site: Site) -> APIRouter:
    """GET/POST /login and POST /logout."""
    api = APIRouter(route_class=site.route_class, include_in_schema=False)
    throttle = Throttle()

    def form(request: Request, *, next_path: str, message: str = "", status: int = 200, name: str = "") -> Response:
        token = secrets.token_urlsafe(24)
        response = site.render(
            request, "signin.html", status=status, title="Sign in", csrf=token, next=next_path, message=message, name=name
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict", path="/login",
            secure=request.url.scheme == "https",
        )
        return response

    @api.get("/login")
    def sign_in_form(request: Request, next: str = "/overview") -> Response:
        """The sign-in form (or straight on, for someone already signed in)."""
        if site.user(request) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
        return form(request, next_path=safe_next(next))

    @api.post("/login")
    async def sign_in(
        request: Request,
        name: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=1024)],
        csrf: Annotated[str, Form(max_length=128)],
        next: Annotated[str, Form(max_length=2048)] = "/overview",
    ) -> Response:
        """Check the name and password; on success open a session and go on to ``next``."""
        target = safe_next(next)
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not cookie or not hmac.compare_digest(cookie.encode(), csrf.encode()):
            return form(request, next_path=target, status=403, name=name,
                        message="The sign-in form expired; please try again.")
        keys = (f"ip:{request.client.host if request.client else '?'}", f"user:{name}")
        wait = throttle.blocked(*keys)
        if wait:
            return form(request, next_path=target, status=429, name=name,
                        message=f"Too many failed sign-ins; try again in {int(wait // 60) + 1} minutes.")
        role = await run_in_threadpool(users.check_password, site.ws.store, name, password)
        if role is None:
            throttle.fail(*keys)
            return form(request, next_path=target, status=401, name=name, message="Wrong user name or password.")
        token = await site.write(request, lambda: users.start_session(site.ws.store, name))
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE, token, max_age=users.SESSION_HOURS * 3600, httponly=True, samesite="lax", path="/",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    @api.post("/logout")
    async def sign_out(
        request: Request,
        csrf: Annotated[str, Form(max_length=128)],
        user: Annotated[users.SignedIn, Depends(site.needs("read"))],
    ) -> Response:
        """End the session: its id stops working at once and the cookie is removed."""
        site.check_form(request, user, csrf)
        token = request.cookies.get(SESSION_COOKIE, "")
        await site.write(request, lambda: users.end_session(site.ws.store, token))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return api
