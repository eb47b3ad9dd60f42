"""One shape for every error body: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from polku.api.responses import JSON
from polku.errors import PolkuError


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON body of every error response."""
    return {"error": {"code": code, "message": message, "details": details or []}}


def install(app: FastAPI) -> None:
    """Register handlers that turn exceptions into error bodies."""

    @app.exception_handler(PolkuError)
    async def _polku(_: Request, exc: PolkuError) -> JSON:
        return JSON(error_body(exc.code, exc.message, exc.details), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSON:
        details = [
            {"field": ".".join(str(p) for p in e["loc"][1:]) or "body", "reason": e["msg"]} for e in exc.errors()
        ]
        return JSON(error_body("invalid_input", "the request is not valid", details), status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSON:
        return JSON(error_body("http_error", str(exc.detail)), status_code=exc.status_code)
