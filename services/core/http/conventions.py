"""What every HTTP API of truyvet does the same way, installed once per app so that every
route — those of today and any added later — follows it without a line of its own:

- an unknown query parameter is a 422 (``unknown_parameter``), never silently ignored;
- ``/docs`` (Swagger UI) and ``/redoc`` from assets packaged with the service, no CDN;
- ``GET /version``;
- the OpenAPI document states it: refusals as ``application/problem+json``, a bearer
  ``securitySchemes`` entry required by every operation that can answer 401 (and ``security:
  []`` on the public ones), the 422 of unknown query parameters on every operation.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from importlib import metadata, resources
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from services.core.http.errors import PROBLEM_MEDIA_TYPE, ApiError

DOCS_ASSETS = "/docs/assets"
BEARER = "bearer"
PROBLEM_REF = "#/components/schemas/Problem"
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def app_options() -> dict[str, Any]:
    """Keyword arguments for ``FastAPI(...)``: the app-wide query check, and no CDN docs."""
    return {"docs_url": None, "redoc_url": None, "dependencies": [Depends(refuse_unknown_query)],
            "license_info": {"name": "Apache-2.0", "identifier": "Apache-2.0"}}


async def refuse_unknown_query(request: Request) -> None:
    """422 for a query parameter the route does not take: ``?page=2`` silently answered with
    the first page would look like the second."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params) - _query_names(route))
    if unknown:
        known = ", ".join(sorted(_query_names(route))) or "none"
        raise ApiError(422, f"unknown query parameter(s) {', '.join(unknown)}; this endpoint "
                            f"takes: {known}", error="unknown_parameter")


_QUERY_NAMES: dict[str, frozenset[str]] = {}


def _query_names(route: APIRoute) -> frozenset[str]:
    known = _QUERY_NAMES.get(route.unique_id)
    if known is None:
        names: set[str] = set()
        pending = [route.dependant]
        while pending:
            dependant = pending.pop()
            names.update(param.alias for param in dependant.query_params)
            pending.extend(dependant.dependencies)
        known = _QUERY_NAMES[route.unique_id] = frozenset(names)
    return known


class VersionInfo(BaseModel):
    service: str = Field(description="Which service answered: `ingest` or `alerts`.")
    version: str = Field(description="The truyvet release it runs.")
    api_version: str = Field(description="The version of this HTTP API (its OpenAPI document).")


def release() -> str:
    try:
        return metadata.version("truyvet")
    except metadata.PackageNotFoundError:
        return "unknown"


def install_api_conventions(app: FastAPI, service: str) -> None:
    """Docs pages, ``/version`` and the OpenAPI conventions of the module docstring on ``app``.

    Call it after the routers are included and after any other change of ``app.openapi``.
    """
    assets = resources.files("fastapi_offline") / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")
    title = app.title

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title=f"{title} — Swagger UI",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json", title=f"{title} — ReDoc",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png", with_google_fonts=False,
        )

    info = VersionInfo(service=service, version=release(), api_version=app.version)

    @app.get("/version", response_model=VersionInfo, tags=["health"],
             summary="Which service and release answer, and the API version")
    async def version() -> VersionInfo:
        return info

    build: Callable[[], dict[str, Any]] = app.openapi
    cache: dict[str, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        if "document" not in cache:
            cache["document"] = conventional_openapi(copy.deepcopy(build()))
        return cache["document"]

    app.openapi = openapi  # type: ignore[method-assign]


def conventional_openapi(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with this API's conventions stated on every operation (see the module)."""
    document.setdefault("servers", [{"url": "/", "description": "the service serving this "
                                     "document"}])
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})[BEARER] = {
        "type": "http", "scheme": "bearer",
        "description": "A venue's API key or a token (admin, authority, dashboard, notifier) "
        "as `Authorization: Bearer <secret>`; each operation says which it admits.",
    }
    schemas = components.setdefault("schemas", {})
    if "Problem" not in schemas:
        from schemas.errors import Problem

        schemas["Problem"] = Problem.model_json_schema(
            ref_template="#/components/schemas/{model}")
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            _conventional_operation(operation)
    for name in _FASTAPI_VALIDATION:
        if name in schemas and f'"#/components/schemas/{name}"' not in _text(document):
            del schemas[name]
    return document


def _conventional_operation(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
    for status, response in responses.items():
        if str(status)[0] not in "45":
            continue
        content = response.get("content")
        if not content:
            response["content"] = copy.deepcopy(problem)
            continue
        json_body = content.get("application/json")
        if json_body is not None and _is_problem(json_body.get("schema", {})):
            del content["application/json"]
        content.update(copy.deepcopy(problem))
    if "422" not in responses:
        responses["422"] = {"description": "An unknown query parameter (`unknown_parameter`)",
                            "content": copy.deepcopy(problem)}
    operation["security"] = [{BEARER: []}] if "401" in responses else []


def _is_problem(schema: dict[str, Any]) -> bool:
    ref = str(schema.get("$ref", ""))
    return ref == PROBLEM_REF or ref.rsplit("/", 1)[-1] in _FASTAPI_VALIDATION


def _text(document: dict[str, Any]) -> str:
    import json

    return json.dumps(document)
