"""OpenAPI documentation of the bodies the collect routes parse themselves (item by item)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from polku.model import EventIn, IdentifyIn

REF = "#/components/schemas/{model}"


def _batch(model: str, key: str) -> dict[str, Any]:
    item = {"$ref": REF.format(model=model)}
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "object", "properties": {key: {"type": "array", "items": item, "maxItems": 5000}},
                         "required": [key]},
                        {"type": "array", "items": item, "maxItems": 5000},
                        item,
                    ]
                }
            }
        },
    }


BODIES: dict[str, dict[str, Any]] = {
    "/v1/events": _batch("EventIn", "events"),
    "/v1/identify": _batch("IdentifyIn", "identifies"),
}


def install(app: FastAPI) -> None:
    """Generate the schema once, adding the event and identify models and the request bodies."""

    def schema() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        for model in (EventIn, IdentifyIn):
            js = model.model_json_schema(ref_template=REF)
            components.update(js.pop("$defs", {}))
            components[model.__name__] = js
        for path, body in BODIES.items():
            spec["paths"][path]["post"]["requestBody"] = body
        app.openapi_schema = spec
        return spec

    app.openapi = schema  # type: ignore[method-assign]
